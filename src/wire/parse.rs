//! Inputs in: JSON in every MLflow layout, and CSV bodies with a header row.

use super::layouts::Envelope;
use super::{ErrorCode, WireError, non_finite, not_numeric, scan, width_error};
use crate::schema::{ColumnMap, FeatureRow, N_FEATURES};

/// Parses inputs into feature rows, reusing its buffers from one input to the next.
#[derive(Debug)]
pub struct RowParser {
    max_bytes: usize,
    rows: Vec<FeatureRow>,
    columns: scan::ColumnCache,
}

impl RowParser {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, rows: Vec::with_capacity(16), columns: scan::ColumnCache::default() }
    }

    /// The rows of one JSON input, in feature order.
    pub fn parse_json(&mut self, bytes: &[u8]) -> Result<&[FeatureRow], WireError> {
        if bytes.len() > self.max_bytes {
            return Err(WireError::new(
                ErrorCode::TooLarge,
                format!("{} bytes, the limit is {}", bytes.len(), self.max_bytes),
            ));
        }
        self.rows.clear();
        if scan::split_layout(bytes, &mut self.columns, &mut self.rows).is_some() {
            return Ok(&self.rows);
        }
        self.rows.clear();
        let text = std::str::from_utf8(bytes).map_err(|e| {
            WireError::new(ErrorCode::InvalidUtf8, format!("invalid UTF-8 at byte {}", e.valid_up_to()))
        })?;
        let envelope: Envelope = serde_json::from_str(text).map_err(|e| json_error(text, e))?;
        envelope.into_rows(&mut self.rows)?;
        if self.rows.is_empty() {
            return Err(WireError::new(ErrorCode::EmptyData, "the input holds no rows"));
        }
        Ok(&self.rows)
    }

    /// The rows of a CSV body with a header row (MLflow's `text/csv`).
    pub fn parse_csv(&mut self, bytes: &[u8]) -> Result<&[FeatureRow], WireError> {
        if bytes.len() > self.max_bytes {
            return Err(WireError::new(
                ErrorCode::TooLarge,
                format!("{} bytes, the limit is {}", bytes.len(), self.max_bytes),
            ));
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
        let headers = reader.headers().map_err(|e| csv_error(&e, "the header"))?.clone();
        let map = ColumnMap::from_names(headers.iter())
            .map_err(|m| WireError::new(ErrorCode::MissingColumn, m.to_string()))?;
        self.rows.clear();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| csv_error(&e, &format!("row {i}")))?;
            if record.len() != map.width() {
                return Err(width_error(i, record.len(), map.width()));
            }
            let mut row = [0.0; N_FEATURES];
            for (j, value) in row.iter_mut().enumerate() {
                let cell = &record[map.source(j)];
                *value = match crate::dataset::parse_cell(cell.as_bytes()) {
                    Ok(v) => v,
                    Err(crate::dataset::BadCell::NotFinite) => return Err(non_finite(i, j)),
                    Err(crate::dataset::BadCell::NotANumber) => return Err(not_numeric(i, j, &format!("{cell:?}"))),
                };
            }
            self.rows.push(row);
        }
        if self.rows.is_empty() {
            return Err(WireError::new(ErrorCode::EmptyData, "the input holds no rows"));
        }
        Ok(&self.rows)
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
        Category::Data => {
            // Only our own checks and serde's unknown-field check raise data errors; ours carry
            // their code as a prefix.
            let msg = e.to_string();
            for code in ErrorCode::ALL {
                if let Some(rest) = msg.strip_prefix(&format!("{}: ", code.as_str())) {
                    let rest = rest.split(" at line ").next().unwrap_or(rest);
                    return WireError::new(code, rest);
                }
            }
            WireError::new(ErrorCode::UnknownLayout, msg)
        }
        Category::Eof | Category::Io => WireError::new(ErrorCode::InvalidJson, e.to_string()),
    }
}

/// Byte offset of serde_json's 1-based line and column (the column of the failing character).
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (line_start + column).saturating_sub(1)
}
