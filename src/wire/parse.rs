//! Inputs in: JSON in every MLflow layout, and CSV bodies with a header row, turned into rows
//! by the model's schema.

use std::sync::Arc;

use super::layouts::{Envelope, Sink};
use super::{ErrorCode, WireError, non_finite, not_numeric, scan, width_error};
use crate::schema::{Rows, Schema};

/// Parses inputs into rows, reusing its buffers from one input to the next.
#[derive(Debug)]
pub struct RowParser {
    schema: Arc<Schema>,
    /// The id column asked for (`--id`); without it, the schema's.
    asked_id: Option<String>,
    /// The column whose values are carried as each row's id, if any.
    id: Option<String>,
    /// When that column is also a feature: its position. The ids are then the rows' values,
    /// the same whatever the layout.
    id_feature: Option<usize>,
    max_bytes: usize,
    rows: Rows,
    ids: Vec<Option<String>>,
    columns: scan::ColumnCache,
}

/// What an input held: its rows, and, with an id column, each row's id (None where the row has
/// none).
#[derive(Debug, Clone, Copy)]
pub struct Parsed<'a> {
    pub rows: &'a Rows,
    pub ids: Option<&'a [Option<String>]>,
}

impl RowParser {
    /// Reads rows of `schema`'s features; each row's id from column `id`, or else the schema's
    /// id column, if either.
    pub fn new(schema: Arc<Schema>, id: Option<String>, max_bytes: usize) -> Self {
        let width = schema.width();
        let carried = id.clone().or_else(|| schema.id.clone());
        Self {
            id_feature: carried.as_deref().and_then(|name| schema.index(name)),
            id: carried,
            asked_id: id,
            schema,
            max_bytes,
            rows: Rows::with_capacity(width, 16),
            ids: Vec::new(),
            columns: scan::ColumnCache::default(),
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Reads by `schema` from now on, if it is not the one it reads by (a model was reloaded).
    pub fn follow(&mut self, schema: &Arc<Schema>) {
        if !Arc::ptr_eq(&self.schema, schema) {
            *self = Self::new(Arc::clone(schema), self.asked_id.clone(), self.max_bytes);
        }
    }

    fn parsed(&mut self) -> Parsed<'_> {
        if let Some(j) = self.id_feature {
            self.ids.clear();
            for row in self.rows.iter() {
                let v = row[j];
                self.ids.push(if v.is_nan() {
                    None
                } else if self.schema.is_categorical(j) {
                    self.schema.category(j, v).map(String::from)
                } else {
                    Some(crate::schema::number_text(v))
                });
            }
        }
        Parsed { rows: &self.rows, ids: self.id.is_some().then_some(&self.ids[..]) }
    }

    /// The id column to read beside the features: none when the id is a feature itself.
    fn id_column(&self) -> Option<&str> {
        if self.id_feature.is_some() { None } else { self.id.as_deref() }
    }

    fn check_size(&self, bytes: &[u8]) -> Result<(), WireError> {
        if bytes.len() > self.max_bytes {
            return Err(WireError::new(
                ErrorCode::TooLarge,
                format!("{} bytes, the limit is {}", bytes.len(), self.max_bytes),
            ));
        }
        Ok(())
    }

    /// The rows of one JSON input, in the schema's feature order.
    pub fn parse_json(&mut self, bytes: &[u8]) -> Result<Parsed<'_>, WireError> {
        self.check_size(bytes)?;
        self.rows.clear();
        self.ids.clear();
        let id = if self.id_feature.is_some() { None } else { self.id.as_deref() };
        if scan::split_layout(bytes, &self.schema, id, &mut self.columns, &mut self.rows, &mut self.ids).is_some() {
            return Ok(self.parsed());
        }
        self.rows.clear();
        self.ids.clear();
        let text = std::str::from_utf8(bytes).map_err(|e| {
            WireError::new(ErrorCode::InvalidUtf8, format!("invalid UTF-8 at byte {}", e.valid_up_to()))
        })?;
        let envelope: Envelope = serde_json::from_str(text).map_err(|e| json_error(text, e))?;
        let mut sink = Sink { schema: &self.schema, id, rows: &mut self.rows, ids: &mut self.ids };
        envelope.into_rows(&mut sink)?;
        if self.rows.is_empty() {
            return Err(WireError::new(ErrorCode::EmptyData, "the input holds no rows"));
        }
        Ok(self.parsed())
    }

    /// The rows of a CSV body with a header row (MLflow's `text/csv`). An empty cell is a
    /// missing value.
    pub fn parse_csv(&mut self, bytes: &[u8]) -> Result<Parsed<'_>, WireError> {
        self.check_size(bytes)?;
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
        let headers = reader.headers().map_err(|e| csv_error(&e, "the header"))?.clone();
        let names: Vec<&str> = headers.iter().collect();
        let map = self.schema.columns(&names).map_err(|m| WireError::new(ErrorCode::MissingColumn, m.to_string()))?;
        let id_col = self.id_column().and_then(|id| names.iter().position(|n| *n == id));
        self.rows.clear();
        self.ids.clear();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| csv_error(&e, &format!("row {i}")))?;
            if record.len() != map.width() {
                return Err(width_error(i, record.len(), map.width()));
            }
            let row = self.rows.push_missing();
            for (j, value) in row.iter_mut().enumerate() {
                let cell = &record[map.source(j)];
                *value = if cell.is_empty() {
                    f64::NAN
                } else if self.schema.is_categorical(j) {
                    self.schema.code(j, cell)
                } else {
                    match crate::decimal::parse_cell(cell.as_bytes()) {
                        Ok(v) => v,
                        Err(crate::decimal::BadCell::NotFinite) => return Err(non_finite(&self.schema, i, j)),
                        Err(crate::decimal::BadCell::NotANumber) => {
                            return Err(not_numeric(&self.schema, i, j, &format!("{cell:?}")));
                        }
                    }
                };
            }
            if self.id_column().is_some() {
                self.ids.push(id_col.map(|c| record[c].to_string()).filter(|s| !s.is_empty()));
            }
        }
        if self.rows.is_empty() {
            return Err(WireError::new(ErrorCode::EmptyData, "the input holds no rows"));
        }
        Ok(self.parsed())
    }
}

/// A CSV body the csv crate could not read: bytes that are not UTF-8, or anything else it
/// refuses. (On bytes in memory it reports little else: it accepts any quoting, and a row of
/// the wrong length is ours to find.)
fn csv_error(e: &csv::Error, at: &str) -> WireError {
    let code = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => ErrorCode::InvalidUtf8,
        _ => ErrorCode::InvalidCsv,
    };
    WireError::new(code, format!("CSV {at}: {e}"))
}

/// serde_json rejects `NaN` and `Infinity` as syntax errors; those get their own code.
fn json_error(text: &str, e: serde_json::Error) -> WireError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax => {
            let offset = byte_offset(text, e.line(), e.column());
            let near = &text[offset.min(text.len())..];
            let at = |tok: &str| near.starts_with(tok) || text[..offset.min(text.len())].ends_with(tok);
            if ["NaN", "Infinity", "-Infinity"]
                .iter()
                .any(|t| at(t) || near.trim_start_matches(['-', '+']).starts_with(t))
            {
                WireError::new(ErrorCode::NonFinite, format!("NaN or Infinity in the input ({e})"))
            } else {
                WireError::new(ErrorCode::InvalidJson, e.to_string())
            }
        }
        // serde's own shape checks (an unknown field, a wrong type): not a layout we know.
        Category::Data => WireError::new(ErrorCode::UnknownLayout, e.to_string()),
        Category::Eof | Category::Io => WireError::new(ErrorCode::InvalidJson, e.to_string()),
    }
}

/// Byte offset of serde_json's 1-based line and column (the column of the failing character).
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (line_start + column).saturating_sub(1)
}
