//! The wire format, in and out: every MLflow scoring layout a message or request body may use,
//! parsed into feature rows, and the score record written back. The Kafka consumer and the
//! HTTP server both go through [`RowParser`] and nothing else.
//!
//! Accepted inputs (columns matched by the model's feature names, in any order; extra columns
//! ignored; a missing feature column is an error, as MLflow's schema enforcement does):
//! - legacy top level `{"columns": [...], "data": [[...]], "index"?: [...]}` (the tutorial's)
//! - `{"dataframe_split": {"columns", "data", "index"?}}`
//! - `{"dataframe_records": [{"V1": ..., ...}, ...]}`
//! - `{"instances": ...}` and `{"inputs": ...}`: a list of records, a list of positional rows in
//!   feature order, or an object of columns `{"V1": [...], ...}`
//!
//! `params` may accompany any of them and is ignored. A value is a number for a numeric
//! feature (`true`/`false` are 1/0), a category for a categorical one (a string, or a number
//! read as its text: `5411`), or null for a missing value. With an id column, each row's id is
//! carried too.
//!
//! [`parse`] reads them ([`RowParser`], with [`scan`] the fast path for the tutorial's layout and
//! `layouts` the rest); [`record`] writes what goes out: score records, and the tutorial's
//! messages for `fraud produce`.

pub mod event;
mod layouts;
mod parse;
mod record;
mod scan;

use std::fmt;

use serde::Serialize;

use crate::schema::Schema;

pub use parse::{Parsed, RowParser};
pub use record::{ScoreRecord, Source, split_json};

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
    InvalidCsv,
    UnknownLayout,
    MissingColumn,
    NotNumeric,
    NonFinite,
    WrongWidth,
    EmptyData,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::TooLarge,
        ErrorCode::InvalidUtf8,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidCsv,
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
            ErrorCode::InvalidCsv => "invalid_csv",
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

pub(crate) fn width_error(row: usize, found: usize, expected: usize) -> WireError {
    WireError::new(ErrorCode::WrongWidth, format!("row {row} has {found} values, expected {expected}"))
}

pub(crate) fn not_numeric(schema: &Schema, row: usize, feature: usize, what: &str) -> WireError {
    WireError::new(ErrorCode::NotNumeric, format!("row {row}, column {}: {what} is not a number", schema.name(feature)))
}

pub(crate) fn non_finite(schema: &Schema, row: usize, feature: usize) -> WireError {
    WireError::new(ErrorCode::NonFinite, format!("row {row}, column {}: not a finite number", schema.name(feature)))
}

#[cfg(test)]
mod tests;
