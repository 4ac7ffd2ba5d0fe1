//! Why a file could not be read: every error names the file, and the line (or row) and column
//! where there is one.

use std::io;
use std::path::PathBuf;

use super::layout::MAX_INFERRED_CATEGORIES;
use crate::schema::SchemaError;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot open {path}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: cannot read line {line}")]
    Read { path: PathBuf, line: u64, source: csv::Error },
    #[error("{path}: cannot decompress")]
    Decode { path: PathBuf, source: io::Error },
    #[error("{path}: the file is empty (no header row)")]
    Empty { path: PathBuf },
    #[error("{path}: header has {missing}; {expected}")]
    MissingColumns { path: PathBuf, missing: String, expected: String },
    #[error("{path}: {what}")]
    Columns { path: PathBuf, what: String },
    #[error("{path} line {line}: row has {found} fields, the header has {expected}")]
    Width { path: PathBuf, line: u64, expected: usize, found: usize },
    #[error("{path} line {line}, column {column}: {value:?} is not a number{hint}")]
    NotANumber { path: PathBuf, line: u64, column: String, value: String, hint: &'static str },
    #[error("{path} line {line}, column {column}: {value} is not a finite number (leave a missing value empty)")]
    NotFinite { path: PathBuf, line: u64, column: String, value: String },
    #[error("{path} line {line}, column {column}: {value:?} is not a class (expected 0 or 1)")]
    BadClass { path: PathBuf, line: u64, column: String, value: String },
    #[error("{path}: no data rows after the header")]
    NoRows { path: PathBuf },
    #[error(
        "{path}: column {column} is not numbers and has {count} distinct values, too many for a category \
         (more than {MAX_INFERRED_CATEGORIES}); it looks like an id or a time: name it with --id or --time, \
         --exclude it, or name it in --categorical to keep it as a feature"
    )]
    TooManyCategories { path: PathBuf, column: String, count: usize },
    #[error("{path}: {source}")]
    Schema { path: PathBuf, source: SchemaError },
    #[error("{path}: cannot read it as Parquet{at}")]
    Parquet { path: PathBuf, at: String, source: ::parquet::errors::ParquetError },
    /// `row` and `row_group` count from 1, `row` over the whole file.
    #[error("{path} row {row} (row group {row_group}), column {column}: {what}")]
    ParquetValue { path: PathBuf, row: u64, row_group: usize, column: String, what: String },
}
