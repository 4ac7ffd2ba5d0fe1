//! What a parser of a block of lines needs to know about the columns, and what it gives back:
//! shared by the numeric fast path and the csv crate's path.

use std::sync::Arc;

use crate::schema::Schema;

/// Inferred categorical features with more categories than this are refused: such a column is
/// almost always an id or a timestamp that the user meant to exclude.
pub(super) const MAX_INFERRED_CATEGORIES: usize = 1000;

/// What one input column is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Feature `j`, a number.
    Numeric(usize),
    /// Feature `j`, a category.
    Categorical(usize),
    Label,
    Id,
    /// The event time: checked to be there, not read yet.
    Time,
    Skip,
}

#[derive(Debug, Clone)]
pub(super) struct Layout {
    /// Per input column.
    pub roles: Vec<Role>,
    /// The label column's name, for messages.
    pub label: String,
    /// The features' names, in feature order.
    pub names: Vec<String>,
    /// Per feature: its kind was inferred from the first rows, not named by the user or a model.
    pub inferred: Vec<bool>,
    /// The most categories an inferred categorical feature may have.
    pub max_categories: Option<usize>,
    /// When reading against a model's schema: categories coded by its lists. Otherwise each
    /// block codes its categories in the order it meets them, and the blocks are merged after.
    pub schema: Option<Arc<Schema>>,
}

impl Layout {
    /// Features a row has.
    pub fn features(&self) -> usize {
        self.names.len()
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether every feature is numeric and no column needs text kept: the fast path's case.
    pub fn all_numeric(&self) -> bool {
        self.roles.iter().all(|r| matches!(r, Role::Numeric(_) | Role::Label | Role::Time | Role::Skip))
    }
}

/// Parsed rows of one block.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    /// Feature values, row after row, in feature order; a categorical feature's value is its
    /// code: the schema's, or the block's own (see `categories`).
    pub values: Vec<f64>,
    pub labels: Vec<bool>,
    pub ids: Vec<String>,
    pub rows: usize,
    /// Without a schema: per feature, the categories in the order of the block's own codes
    /// (empty for a numeric feature).
    pub categories: Vec<Vec<String>>,
}
