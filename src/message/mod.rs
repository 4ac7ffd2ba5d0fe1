//! The wire format, in and out: every MLflow scoring layout a message or request body may use,
//! parsed into feature rows, and the score record written back. The Kafka consumer and the
//! HTTP server both go through [`RowParser`] and nothing else.
//!
//! Accepted inputs (columns matched by name, in any order; extra columns ignored; a missing
//! feature column is an error, as MLflow's schema enforcement does):
//! - legacy top level `{"columns": [...], "data": [[...]], "index"?: [...]}` (the tutorial's)
//! - `{"dataframe_split": {"columns", "data", "index"?}}`
//! - `{"dataframe_records": [{"V1": ..., ...}, ...]}`
//! - `{"instances": ...}` and `{"inputs": ...}`: a list of records, a list of positional rows in
//!   feature order, or an object of columns `{"V1": [...], ...}`
//!
//! `params` may accompany any of them and is ignored.

mod fast;
mod layouts;

use std::fmt;

use serde::Serialize;
use serde::de;

use crate::decision::{Decision, Reason};
use crate::schema::{ColumnMap, FEATURE_NAMES, FeatureRow, N_FEATURES};
use layouts::Envelope;

/// Largest input accepted by default (a Kafka message's default maximum).
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// Why an input could not be scored. The code is stable: logs, metrics, dead-letter headers
/// and HTTP errors use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    TooLarge,
    InvalidUtf8,
    InvalidJson,
    UnknownLayout,
    MissingColumn,
    NotNumeric,
    NonFinite,
    WrongWidth,
    EmptyData,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::TooLarge,
        ErrorCode::InvalidUtf8,
        ErrorCode::InvalidJson,
        ErrorCode::UnknownLayout,
        ErrorCode::MissingColumn,
        ErrorCode::NotNumeric,
        ErrorCode::NonFinite,
        ErrorCode::WrongWidth,
        ErrorCode::EmptyData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::TooLarge => "too_large",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnknownLayout => "unknown_layout",
            ErrorCode::MissingColumn => "missing_column",
            ErrorCode::NotNumeric => "not_numeric",
            ErrorCode::NonFinite => "non_finite",
            ErrorCode::WrongWidth => "wrong_width",
            ErrorCode::EmptyData => "empty_data",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
}

impl WireError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Parses inputs into feature rows, reusing its buffers from one input to the next.
#[derive(Debug)]
pub struct RowParser {
    max_bytes: usize,
    rows: Vec<FeatureRow>,
    columns: fast::ColumnCache,
}

impl RowParser {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, rows: Vec::with_capacity(16), columns: fast::ColumnCache::default() }
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
        if fast::split_layout(bytes, &mut self.columns, &mut self.rows).is_some() {
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
            return Err(WireError::new(ErrorCode::TooLarge, format!("{} bytes, the limit is {}", bytes.len(), self.max_bytes)));
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
        let headers = reader
            .headers()
            .map_err(|e| WireError::new(ErrorCode::InvalidUtf8, format!("CSV header: {e}")))?
            .clone();
        let map = ColumnMap::from_names(headers.iter()).map_err(|m| WireError::new(ErrorCode::MissingColumn, m.to_string()))?;
        self.rows.clear();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| WireError::new(ErrorCode::InvalidUtf8, format!("CSV row {i}: {e}")))?;
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

pub(super) fn width_error(row: usize, found: usize, expected: usize) -> WireError {
    WireError::new(ErrorCode::WrongWidth, format!("row {row} has {found} values, expected {expected}"))
}

pub(super) fn not_numeric(row: usize, feature: usize, what: &str) -> WireError {
    WireError::new(ErrorCode::NotNumeric, format!("row {row}, column {}: {what} is not a number", FEATURE_NAMES[feature]))
}

pub(super) fn non_finite(row: usize, feature: usize) -> WireError {
    WireError::new(ErrorCode::NonFinite, format!("row {row}, column {}: not a finite number", FEATURE_NAMES[feature]))
}

/// serde_json rejects `NaN` and `Infinity` as syntax errors; those get their own code.
fn json_error(text: &str, e: serde_json::Error) -> WireError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax => {
            let offset = byte_offset(text, e.line(), e.column());
            let near = &text[offset.min(text.len())..];
            let at = |tok: &str| near.starts_with(tok) || text[..offset.min(text.len())].ends_with(tok);
            if ["NaN", "Infinity", "-Infinity"].iter().any(|t| at(t) || near.trim_start_matches(['-', '+']).starts_with(t)) {
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

/// Raises one of our own errors from inside a visitor, carrying its code.
pub(super) fn fail<E: de::Error>(code: ErrorCode, message: impl fmt::Display) -> E {
    E::custom(format_args!("{}: {message}", code.as_str()))
}

/// Where a scored input came from (Kafka only).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// The score record written for one input: per row its prediction (1: review or decline),
/// probability, decision and reasons (empty for an approved row unless every row is
/// explained), all lists parallel to each other.
#[derive(Debug, Serialize)]
pub struct ScoreRecord<'a> {
    pub predictions: &'a [u8],
    pub probabilities: &'a [f64],
    pub decisions: &'a [Decision],
    pub reasons: RowReasons<'a>,
    pub model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source<'a>>,
}

/// Each row's reasons, kept flat: row `i`'s are `flat[ends[i - 1]..ends[i]]`. Written as one
/// list per row.
#[derive(Debug, Clone, Copy)]
pub struct RowReasons<'a> {
    pub flat: &'a [Reason],
    pub ends: &'a [usize],
}

impl Serialize for RowReasons<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.ends.len()))?;
        let mut start = 0;
        for &end in self.ends {
            seq.serialize_element(&self.flat[start..end])?;
            start = end;
        }
        seq.end()
    }
}

impl ScoreRecord<'_> {
    /// Serialises into `buf` (cleared first), reusing its allocation.
    pub fn write_into(&self, buf: &mut Vec<u8>) {
        buf.clear();
        // Serialising plain numbers and strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, self);
    }
}

/// The tutorial's layout for rows of features: `{"columns": FEATURE_NAMES, "data": rows}`.
pub fn split_json(rows: &[FeatureRow]) -> String {
    serde_json::json!({ "columns": FEATURE_NAMES, "data": rows }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(base: f64) -> FeatureRow {
        std::array::from_fn(|j| base + j as f64)
    }

    fn parse(text: &str) -> Result<Vec<FeatureRow>, WireError> {
        RowParser::new(DEFAULT_MAX_BYTES).parse_json(text.as_bytes()).map(<[FeatureRow]>::to_vec)
    }

    fn code(text: &str) -> ErrorCode {
        parse(text).unwrap_err().code
    }

    fn records(rows: &[FeatureRow]) -> String {
        let recs: Vec<serde_json::Map<String, serde_json::Value>> = rows
            .iter()
            .map(|r| FEATURE_NAMES.iter().zip(r).map(|(n, v)| (n.to_string(), (*v).into())).collect())
            .collect();
        serde_json::to_string(&recs).unwrap()
    }

    #[test]
    fn the_tutorials_legacy_split_layout() {
        let rows = vec![row(1.0), row(100.0)];
        assert_eq!(parse(&split_json(&rows)).unwrap(), rows);
    }

    #[test]
    fn dataframe_split_with_reordered_and_extra_columns() {
        let mut cols: Vec<&str> = FEATURE_NAMES.iter().rev().copied().collect();
        cols.push("Time");
        let r = row(0.5);
        let mut data: Vec<serde_json::Value> = r.iter().rev().map(|v| (*v).into()).collect();
        data.push("not used".into());
        let body = serde_json::json!({"dataframe_split": {"columns": cols, "data": [data], "index": [7]}, "params": {"x": 1}});
        assert_eq!(parse(&body.to_string()).unwrap(), vec![r]);
    }

    #[test]
    fn dataframe_records_and_instances_and_inputs() {
        let rows = vec![row(2.0), row(3.0)];
        let recs = records(&rows);
        assert_eq!(parse(&format!("{{\"dataframe_records\": {recs}}}")).unwrap(), rows);
        assert_eq!(parse(&format!("{{\"instances\": {recs}}}")).unwrap(), rows);
        assert_eq!(parse(&format!("{{\"inputs\": {recs}}}")).unwrap(), rows);
        let positional = serde_json::to_string(&rows).unwrap();
        assert_eq!(parse(&format!("{{\"instances\": {positional}}}")).unwrap(), rows);
        let columns: serde_json::Map<String, serde_json::Value> = FEATURE_NAMES
            .iter()
            .enumerate()
            .map(|(j, n)| (n.to_string(), serde_json::json!([rows[0][j], rows[1][j]])))
            .collect();
        let body = serde_json::json!({"inputs": columns}).to_string();
        assert_eq!(parse(&body).unwrap(), rows);
    }

    #[test]
    fn integers_are_numbers() {
        let body = split_json(&[row(0.0)]).replace("0.0", "0");
        assert_eq!(parse(&body).unwrap(), vec![row(0.0)]);
    }

    #[test]
    fn every_bad_input_has_its_code() {
        let good = split_json(&[row(1.0)]);
        assert_eq!(code("{\"columns\": [\"V1\","), ErrorCode::InvalidJson);
        assert_eq!(code(&good[..good.len() / 2]), ErrorCode::InvalidJson);
        assert_eq!(code("hello"), ErrorCode::InvalidJson);
        assert_eq!(code(""), ErrorCode::InvalidJson);
        assert_eq!(RowParser::new(10).parse_json(good.as_bytes()).unwrap_err().code, ErrorCode::TooLarge);
        assert_eq!(RowParser::new(100).parse_json(b"{\"a\":\"\xff\"}").unwrap_err().code, ErrorCode::InvalidUtf8);
        assert_eq!(code("{\"rows\": []}"), ErrorCode::UnknownLayout);
        assert_eq!(code("[1, 2, 3]"), ErrorCode::UnknownLayout);
        assert_eq!(code("{}"), ErrorCode::UnknownLayout);
        let both = "{\"instances\": [], \"inputs\": []}".to_string();
        assert_eq!(code(&both), ErrorCode::UnknownLayout);
        assert_eq!(code(&good.replace("\"V7\",", "")), ErrorCode::MissingColumn);
        assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "\"8\""))), ErrorCode::NotNumeric);
        assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "null"))), ErrorCode::NotNumeric);
        assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "NaN"))), ErrorCode::NonFinite);
        assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "Infinity"))), ErrorCode::NonFinite);
        assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "-Infinity"))), ErrorCode::NonFinite);
        assert_eq!(code(&good.replace(",8.0,", ",")), ErrorCode::WrongWidth);
        assert_eq!(code("{\"columns\": [], \"data\": []}"), ErrorCode::MissingColumn);
        let empty = serde_json::json!({"columns": FEATURE_NAMES, "data": []}).to_string();
        assert_eq!(code(&empty), ErrorCode::EmptyData);
        assert_eq!(code("{\"dataframe_records\": []}"), ErrorCode::EmptyData);
        assert_eq!(code("{\"dataframe_records\": [{\"V1\": 1}]}"), ErrorCode::MissingColumn);
        assert_eq!(code("{\"instances\": [[1, 2]]}"), ErrorCode::WrongWidth);
        let rec = records(&[row(1.0)]).replace(":8.0,", ":true,");
        assert_eq!(code(&format!("{{\"dataframe_records\": {rec}}}")), ErrorCode::NotNumeric);
    }

    #[test]
    fn messages_name_the_row_and_column() {
        let bad = split_json(&[row(1.0), row(10.0)]).replace("37.0", "\"x\"");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotNumeric);
        assert!(e.message.contains("row 1, column V28"), "{e}");
    }

    #[test]
    fn csv_bodies() {
        let mut p = RowParser::new(DEFAULT_MAX_BYTES);
        let r = row(1.0);
        let body = format!(
            "Time,{}\n0,{}\n",
            FEATURE_NAMES.join(","),
            r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
        );
        assert_eq!(p.parse_csv(body.as_bytes()).unwrap(), &[r]);
        assert_eq!(p.parse_csv(b"V1,V2\n1,2\n").unwrap_err().code, ErrorCode::MissingColumn);
        assert_eq!(p.parse_csv(body.replace(",8,", ",x,").as_bytes()).unwrap_err().code, ErrorCode::NotNumeric);
        assert_eq!(p.parse_csv(body.replace(",8,", ",inf,").as_bytes()).unwrap_err().code, ErrorCode::NonFinite);
        assert_eq!(p.parse_csv(format!("Time,{}\n", FEATURE_NAMES.join(",")).as_bytes()).unwrap_err().code, ErrorCode::EmptyData);
    }

    /// Regression: serde_json's default float parser is not always correctly rounded, so a JSON
    /// row could score differently from the same CSV row (seen as last-bit differences in
    /// probabilities between `fraud serve` and `fraud evaluate`).
    #[test]
    fn json_numbers_parse_to_the_exact_double() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut parser = RowParser::new(DEFAULT_MAX_BYTES);
        for _ in 0..2000 {
            let rows: Vec<FeatureRow> = vec![std::array::from_fn(|_| rng.gen_range(-50.0..50.0) * 10f64.powi(rng.gen_range(-8..8)))];
            let text: String = format!(
                "{{\"columns\": {:?}, \"data\": [[{}]]}}",
                FEATURE_NAMES,
                rows[0].iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",")
            );
            let parsed = parser.parse_json(text.as_bytes()).unwrap();
            for (a, b) in parsed[0].iter().zip(&rows[0]) {
                assert_eq!(a.to_bits(), b.to_bits(), "{b:?} parsed as {a:?}");
            }
        }
    }

    #[test]
    fn score_record_shape() {
        let mut buf = Vec::new();
        let reasons = [Reason { feature: "V14", value: -9.5, contribution: 2.25 }, Reason { feature: "V4", value: 4.0, contribution: 1.5 }];
        ScoreRecord {
            predictions: &[0, 1],
            probabilities: &[0.0012, 0.97],
            decisions: &[Decision::Approve, Decision::Decline],
            reasons: RowReasons { flat: &reasons, ends: &[0, 2] },
            model_version: "abc",
            source: Some(Source { topic: "test", partition: 0, offset: 41 }),
        }
        .write_into(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            r#"{"predictions":[0,1],"probabilities":[0.0012,0.97],"decisions":["approve","decline"],"reasons":[[],[{"feature":"V14","value":-9.5,"contribution":2.25},{"feature":"V4","value":4.0,"contribution":1.5}]],"model_version":"abc","source":{"topic":"test","partition":0,"offset":41}}"#
        );
    }
}
