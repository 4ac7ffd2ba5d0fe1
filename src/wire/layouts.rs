//! The MLflow layouts, read with serde into a borrowed, schema-free form (the general path,
//! which accepts every layout), then turned into rows by the model's schema, every rejection
//! with its code.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{ErrorCode, WireError, non_finite, not_numeric, width_error};
use crate::schema::{Rows, Schema};

/// The top level of an input. Exactly one layout must be present.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Envelope<'a> {
    #[serde(borrow, default)]
    columns: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    data: Option<Vec<Vec<Cell<'a>>>>,
    #[serde(default)]
    index: Option<IgnoredAny>,
    #[serde(borrow, default)]
    dataframe_split: Option<Split<'a>>,
    #[serde(borrow, default)]
    dataframe_records: Option<Vec<Record<'a>>>,
    #[serde(borrow, default)]
    instances: Option<Tensor<'a>>,
    #[serde(borrow, default)]
    inputs: Option<Tensor<'a>>,
    #[serde(default)]
    params: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Split<'a> {
    #[serde(borrow)]
    columns: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    data: Vec<Vec<Cell<'a>>>,
    #[serde(default, rename = "index")]
    _index: Option<IgnoredAny>,
}

/// Where rows go: the schema that turns values into numbers, the rows, and each row's id.
pub(super) struct Sink<'s> {
    pub schema: &'s Schema,
    /// The id column, when ids are carried.
    pub id: Option<&'s str>,
    pub rows: &'s mut Rows,
    pub ids: &'s mut Vec<Option<String>>,
}

impl Envelope<'_> {
    pub(super) fn into_rows(self, sink: &mut Sink<'_>) -> Result<(), WireError> {
        let _ = (self.index, self.params);
        let legacy = self.columns.is_some() || self.data.is_some();
        let given = [
            legacy,
            self.dataframe_split.is_some(),
            self.dataframe_records.is_some(),
            self.instances.is_some(),
            self.inputs.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(WireError::new(
                ErrorCode::UnknownLayout,
                "expected exactly one of dataframe_split, dataframe_records, instances, inputs, or top-level columns + data",
            ));
        }
        if legacy {
            let (Some(columns), Some(data)) = (self.columns, self.data) else {
                return Err(WireError::new(ErrorCode::UnknownLayout, "top-level columns and data go together"));
            };
            sink.split(&columns, &data)
        } else if let Some(split) = self.dataframe_split {
            sink.split(&split.columns, &split.data)
        } else if let Some(records) = self.dataframe_records {
            records.iter().enumerate().try_for_each(|(i, r)| sink.record(i, r))
        } else if let Some(tensor) = self.instances.or(self.inputs) {
            sink.tensor(tensor)
        } else {
            Err(WireError::new(ErrorCode::UnknownLayout, "no layout"))
        }
    }
}

impl Sink<'_> {
    /// Feature `j` of row `row` from `cell`.
    fn value(&self, row: usize, j: usize, cell: &Cell<'_>) -> Result<f64, WireError> {
        let categorical = self.schema.is_categorical(j);
        match cell {
            Cell::Null => Ok(f64::NAN),
            Cell::Integer(i) if categorical => Ok(self.schema.code(j, &i.to_string())),
            Cell::Integer(i) => Ok(*i as f64),
            Cell::Number(v) if categorical => Ok(self.schema.code_of_number(j, *v)),
            Cell::Number(v) if v.is_finite() => Ok(*v),
            Cell::Number(_) => Err(non_finite(self.schema, row, j)),
            Cell::Text(s) if categorical => Ok(self.schema.code(j, s)),
            Cell::Text(_) => Err(not_numeric(self.schema, row, j, "a string")),
            Cell::Bool(b) if categorical => Ok(self.schema.code(j, if *b { "true" } else { "false" })),
            Cell::Bool(b) => Ok(f64::from(u8::from(*b))),
            Cell::Other(kind) => Err(not_numeric(self.schema, row, j, kind)),
        }
    }

    /// Row `i`, feature `j`'s value from `cell(j)`.
    fn push_row<'c, 'd: 'c>(&mut self, i: usize, cell: impl Fn(usize) -> &'c Cell<'d>) -> Result<(), WireError> {
        let r = self.rows.len();
        self.rows.push_missing();
        for j in 0..self.schema.width() {
            let v = self.value(i, j, cell(j))?;
            self.rows.row_mut(r)[j] = v;
        }
        Ok(())
    }

    fn id(cell: &Cell<'_>) -> Option<String> {
        match cell {
            Cell::Text(s) => Some(s.to_string()),
            // An integer id keeps every digit (one past 2^53 is not rounded).
            Cell::Integer(i) => Some(i.to_string()),
            Cell::Number(v) => Some(crate::schema::number_text(*v)),
            Cell::Bool(b) => Some(b.to_string()),
            Cell::Null | Cell::Other(_) => None,
        }
    }

    fn split(&mut self, columns: &[Cow<'_, str>], data: &[Vec<Cell<'_>>]) -> Result<(), WireError> {
        let names: Vec<&str> = columns.iter().map(|c| c.as_ref()).collect();
        let map = self.schema.columns(&names).map_err(|m| WireError::new(ErrorCode::MissingColumn, m.to_string()))?;
        let id_col = self.id.and_then(|id| names.iter().position(|n| *n == id));
        for (i, cells) in data.iter().enumerate() {
            if cells.len() != columns.len() {
                return Err(width_error(i, cells.len(), columns.len()));
            }
            self.push_row(i, |j| &cells[map.source(j)])?;
            if self.id.is_some() {
                self.ids.push(id_col.and_then(|c| Self::id(&cells[c])));
            }
        }
        Ok(())
    }

    fn record(&mut self, i: usize, record: &Record<'_>) -> Result<(), WireError> {
        let width = self.schema.width();
        let mut seen = vec![false; width];
        let mut values = vec![f64::NAN; width];
        let mut id = None;
        for (key, cell) in &record.0 {
            if let Some(j) = self.schema.index(key) {
                values[j] = self.value(i, j, cell)?;
                seen[j] = true;
            } else if self.id == Some(key.as_ref()) {
                id = Self::id(cell);
            }
        }
        let missing: Vec<&str> = (0..width).filter(|&j| !seen[j]).map(|j| self.schema.name(j)).collect();
        if !missing.is_empty() {
            return Err(WireError::new(
                ErrorCode::MissingColumn,
                format!("record {i}: missing column(s) {}", missing.join(", ")),
            ));
        }
        self.rows.push(&values);
        if self.id.is_some() {
            self.ids.push(id);
        }
        Ok(())
    }

    fn tensor(&mut self, tensor: Tensor<'_>) -> Result<(), WireError> {
        match tensor {
            Tensor::Rows(rows) => {
                for (i, row) in rows.iter().enumerate() {
                    match row {
                        TensorRow::Record(r) => self.record(i, r)?,
                        TensorRow::Positional(cells) => {
                            let width = self.schema.width();
                            if cells.len() != width {
                                let names: Vec<&str> = self.schema.names().collect();
                                return Err(WireError::new(
                                    ErrorCode::WrongWidth,
                                    format!(
                                        "row {i} has {} values, expected {width} ({})",
                                        cells.len(),
                                        names.join(",")
                                    ),
                                ));
                            }
                            self.push_row(i, |j| &cells[j])?;
                            if self.id.is_some() {
                                self.ids.push(None);
                            }
                        }
                    }
                }
                Ok(())
            }
            Tensor::Columns(columns) => {
                let width = self.schema.width();
                let mut by_feature: Vec<Option<&Vec<Cell<'_>>>> = vec![None; width];
                let mut id_column = None;
                for (name, values) in &columns {
                    if let Some(j) = self.schema.index(name) {
                        by_feature[j] = Some(values);
                    } else if self.id == Some(name.as_ref()) {
                        id_column = Some(values);
                    }
                }
                let missing: Vec<&str> =
                    (0..width).filter(|&j| by_feature[j].is_none()).map(|j| self.schema.name(j)).collect();
                if !missing.is_empty() {
                    return Err(WireError::new(
                        ErrorCode::MissingColumn,
                        format!("missing column(s) {}", missing.join(", ")),
                    ));
                }
                let len = by_feature[0].map_or(0, Vec::len);
                for (j, col) in by_feature.iter().enumerate() {
                    let col = col.map_or(0, |c| c.len());
                    if col != len {
                        return Err(WireError::new(
                            ErrorCode::WrongWidth,
                            format!(
                                "column {} has {col} values, column {} has {len}",
                                self.schema.name(j),
                                self.schema.name(0)
                            ),
                        ));
                    }
                }
                for i in 0..len {
                    self.push_row(i, |j| by_feature[j].map_or(&Cell::Null, |c| &c[i]))?;
                    if self.id.is_some() {
                        self.ids.push(id_column.and_then(|c| c.get(i)).and_then(Self::id));
                    }
                }
                Ok(())
            }
        }
    }
}

/// One JSON value where a feature's value is expected; anything unusable is remembered, not
/// rejected, since it may sit in a column the model ignores.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell<'a> {
    /// A JSON integer that fits 64 bits, exactly.
    Integer(i128),
    Number(f64),
    Text(Cow<'a, str>),
    Bool(bool),
    Null,
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Cell<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CellVisitor(std::marker::PhantomData))
    }
}

struct CellVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for CellVisitor<'a> {
    type Value = Cell<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell<'a>, E> {
        Ok(Cell::Number(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell<'a>, E> {
        Ok(Cell::Integer(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell<'a>, E> {
        Ok(Cell::Integer(i128::from(v)))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'a>, E> {
        Ok(Cell::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cell<'a>, E> {
        Ok(Cell::Text(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cell<'a>, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Cell<'a>, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> Result<Cell<'a>, E> {
        Ok(Cell::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an object"))
    }
}

/// One record `{"V1": 1.0, ...}`: its keys and values in order.
pub(super) struct Record<'a>(Vec<(Cow<'a, str>, Cell<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Record<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RecordVisitor(std::marker::PhantomData))
    }
}

struct RecordVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for RecordVisitor<'a> {
    type Value = Record<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record<'a>, A::Error> {
        let mut pairs = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            pairs.push((key, map.next_value::<Cell<'a>>()?));
        }
        Ok(Record(pairs))
    }
}

/// `instances` / `inputs`: records, positional rows in feature order, or columns.
pub(super) enum Tensor<'a> {
    Rows(Vec<TensorRow<'a>>),
    Columns(Vec<(Cow<'a, str>, Vec<Cell<'a>>)>),
}

pub(super) enum TensorRow<'a> {
    Record(Record<'a>),
    Positional(Vec<Cell<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Tensor<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Tensor<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of records, a list of rows, or an object of columns")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tensor<'a>, A::Error> {
                let mut rows = Vec::new();
                while let Some(row) = seq.next_element::<TensorRow<'a>>()? {
                    rows.push(row);
                }
                Ok(Tensor::Rows(rows))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tensor<'a>, A::Error> {
                let mut columns = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    columns.push((key, map.next_value::<Vec<Cell<'a>>>()?));
                }
                Ok(Tensor::Columns(columns))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TensorRow<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = TensorRow<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a record or a row of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TensorRow<'a>, A::Error> {
                RecordVisitor(std::marker::PhantomData).visit_map(map).map(TensorRow::Record)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TensorRow<'a>, A::Error> {
                let mut cells = Vec::new();
                while let Some(cell) = seq.next_element::<Cell<'a>>()? {
                    cells.push(cell);
                }
                Ok(TensorRow::Positional(cells))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}
