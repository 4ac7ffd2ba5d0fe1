//! What a parser of a block of lines needs to know about the columns, and what it gives back:
//! shared by the numeric fast path and the csv crate's path.

use crate::schema::ColumnMap;

pub(super) struct Layout {
    pub map: ColumnMap,
    /// Where the label is, when there is one.
    pub label_col: Option<usize>,
    /// Fields in a row.
    pub width: usize,
}

/// Parsed rows of one block.
#[derive(Default)]
pub(super) struct Parsed {
    /// Feature values, row after row, in feature order.
    pub values: Vec<f64>,
    pub labels: Vec<bool>,
    pub rows: usize,
}
