//! The MLflow layouts, parsed with serde: the general path, which accepts every layout and
//! gives every rejection its code.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{ErrorCode, WireError, fail, non_finite, not_numeric, width_error};
use crate::schema::{ColumnMap, FEATURE_NAMES, FeatureRow, N_FEATURES};

/// The top level of an input. Exactly one layout must be present.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Envelope<'a> {
    #[serde(borrow, default)]
    columns: Option<Vec<Cow<'a, str>>>,
    #[serde(default)]
    data: Option<Vec<Vec<Cell>>>,
    #[serde(default)]
    index: Option<IgnoredAny>,
    #[serde(borrow, default)]
    dataframe_split: Option<Split<'a>>,
    #[serde(default)]
    dataframe_records: Option<Records>,
    #[serde(default)]
    instances: Option<Tensor>,
    #[serde(default)]
    inputs: Option<Tensor>,
    #[serde(default)]
    params: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Split<'a> {
    #[serde(borrow)]
    columns: Vec<Cow<'a, str>>,
    data: Vec<Vec<Cell>>,
    #[serde(default, rename = "index")]
    _index: Option<IgnoredAny>,
}

impl Envelope<'_> {
    pub(super) fn into_rows(self, out: &mut Vec<FeatureRow>) -> Result<(), WireError> {
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
            split_rows(&columns, data, out)
        } else if let Some(split) = self.dataframe_split {
            split_rows(&split.columns, split.data, out)
        } else if let Some(Records(rows)) = self.dataframe_records {
            out.extend(rows);
            Ok(())
        } else if let Some(Tensor(rows)) = self.instances.or(self.inputs) {
            out.extend(rows);
            Ok(())
        } else {
            Err(WireError::new(ErrorCode::UnknownLayout, "no layout"))
        }
    }
}

fn split_rows(columns: &[Cow<'_, str>], data: Vec<Vec<Cell>>, out: &mut Vec<FeatureRow>) -> Result<(), WireError> {
    let map = ColumnMap::from_names(columns.iter().map(|c| c.as_ref()))
        .map_err(|m| WireError::new(ErrorCode::MissingColumn, m.to_string()))?;
    for (i, cells) in data.iter().enumerate() {
        if cells.len() != columns.len() {
            return Err(width_error(i, cells.len(), columns.len()));
        }
        let mut row = [0.0; N_FEATURES];
        for (j, value) in row.iter_mut().enumerate() {
            *value = cells[map.source(j)].number(i, j)?;
        }
        out.push(row);
    }
    Ok(())
}

/// One JSON value where a number is expected; anything else is remembered, not rejected, since
/// it may sit in a column the model ignores.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Number(f64),
    Other(&'static str),
}

impl Cell {
    fn number(self, row: usize, feature: usize) -> Result<f64, WireError> {
        match self {
            Cell::Number(v) if v.is_finite() => Ok(v),
            Cell::Number(_) => Err(non_finite(row, feature)),
            Cell::Other(kind) => Err(not_numeric(row, feature, kind)),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CellVisitor)
    }
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::Number(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell, E> {
        Ok(Cell::Number(v as f64))
    }
    fn visit_str<E>(self, _: &str) -> Result<Cell, E> {
        Ok(Cell::Other("a string"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Cell, E> {
        Ok(Cell::Other("a boolean"))
    }
    fn visit_unit<E>(self) -> Result<Cell, E> {
        Ok(Cell::Other("null"))
    }
    fn visit_none<E>(self) -> Result<Cell, E> {
        Ok(Cell::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an object"))
    }
}

/// Reads one record `{"V1": 1.0, ...}` straight into a feature row.
struct RecordSeed(usize);

impl<'de> de::DeserializeSeed<'de> for RecordSeed {
    type Value = FeatureRow;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FeatureRow, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed {
    type Value = FeatureRow;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FeatureRow, A::Error> {
        let row_index = self.0;
        let mut row = [0.0; N_FEATURES];
        let mut seen = [false; N_FEATURES];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match crate::schema::feature_index(&key) {
                Some(j) => {
                    let cell: Cell = map.next_value()?;
                    row[j] = cell.number(row_index, j).map_err(|e| fail::<A::Error>(e.code, e.message))?;
                    seen[j] = true;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing: Vec<&str> = (0..N_FEATURES).filter(|&j| !seen[j]).map(|j| FEATURE_NAMES[j]).collect();
        if !missing.is_empty() {
            return Err(fail(
                ErrorCode::MissingColumn,
                format_args!("record {row_index}: missing column(s) {}", missing.join(", ")),
            ));
        }
        Ok(row)
    }
}

/// `dataframe_records`: a list of records.
struct Records(Vec<FeatureRow>);

impl<'de> Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Records;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of records")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Records, A::Error> {
                let mut rows = Vec::new();
                while let Some(row) = seq.next_element_seed(RecordSeed(rows.len()))? {
                    rows.push(row);
                }
                Ok(Records(rows))
            }
        }
        d.deserialize_seq(V).map_err(|e: D::Error| e)
    }
}

/// `instances` / `inputs`: records, positional rows in feature order, or columns.
struct Tensor(Vec<FeatureRow>);

impl<'de> Deserialize<'de> for Tensor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tensor;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of records, a list of rows, or an object of columns")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tensor, A::Error> {
                let mut rows = Vec::new();
                while let Some(row) = seq.next_element_seed(RowSeed(rows.len()))? {
                    rows.push(row);
                }
                Ok(Tensor(rows))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tensor, A::Error> {
                let mut columns: [Option<Vec<Cell>>; N_FEATURES] = std::array::from_fn(|_| None);
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match crate::schema::feature_index(&key) {
                        Some(j) => columns[j] = Some(map.next_value()?),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let missing: Vec<&str> =
                    (0..N_FEATURES).filter(|&j| columns[j].is_none()).map(|j| FEATURE_NAMES[j]).collect();
                if !missing.is_empty() {
                    return Err(fail(
                        ErrorCode::MissingColumn,
                        format_args!("missing column(s) {}", missing.join(", ")),
                    ));
                }
                let len = columns[0].as_ref().map_or(0, Vec::len);
                let mut rows = vec![[0.0; N_FEATURES]; len];
                for (j, col) in columns.iter().enumerate() {
                    let col = col.as_deref().unwrap_or_default();
                    if col.len() != len {
                        return Err(fail(
                            ErrorCode::WrongWidth,
                            format_args!("column {} has {} values, column V1 has {len}", FEATURE_NAMES[j], col.len()),
                        ));
                    }
                    for (i, cell) in col.iter().enumerate() {
                        rows[i][j] = cell.number(i, j).map_err(|e| fail::<A::Error>(e.code, e.message))?;
                    }
                }
                Ok(Tensor(rows))
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of an `instances`/`inputs` list: a record or a positional row.
struct RowSeed(usize);

impl<'de> de::DeserializeSeed<'de> for RowSeed {
    type Value = FeatureRow;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FeatureRow, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed {
    type Value = FeatureRow;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record or a row of numbers")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FeatureRow, A::Error> {
        RecordSeed(self.0).visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FeatureRow, A::Error> {
        let mut row = [0.0; N_FEATURES];
        let mut n = 0;
        while let Some(cell) = seq.next_element::<Cell>()? {
            if n < N_FEATURES {
                row[n] = cell.number(self.0, n).map_err(|e| fail::<A::Error>(e.code, e.message))?;
            }
            n += 1;
        }
        if n != N_FEATURES {
            return Err(fail(
                ErrorCode::WrongWidth,
                format_args!("row {} has {n} values, expected {N_FEATURES} ({})", self.0, FEATURE_NAMES.join(",")),
            ));
        }
        Ok(row)
    }
}
