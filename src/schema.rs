//! The model's input schema: which columns are features, in which order, and how a table's own
//! column order maps onto it. Every reader (CSV, Kafka message, HTTP body) goes through here.

use std::fmt;

/// Number of model features.
pub const N_FEATURES: usize = 29;

/// Feature columns, in the order the model's weights use. `Time` is deliberately absent: it is
/// seconds since the start of the data set, not a property of a transaction.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "V10", "V11", "V12", "V13", "V14", "V15", "V16", "V17",
    "V18", "V19", "V20", "V21", "V22", "V23", "V24", "V25", "V26", "V27", "V28", "Amount",
];

/// The label column of the labelled CSV files.
pub const LABEL_NAME: &str = "Class";

/// One feature row, in `FEATURE_NAMES` order.
pub type FeatureRow = [f64; N_FEATURES];

/// The feature rows of a table whose columns are in feature order.
pub fn feature_rows(features: &ndarray::Array2<f64>) -> Vec<FeatureRow> {
    features.rows().into_iter().map(|r| std::array::from_fn(|j| r[j])).collect()
}

/// The position of `name` in the feature order, in constant time (it runs for every column of
/// every message).
pub fn feature_index(name: &str) -> Option<usize> {
    match name.as_bytes() {
        b"Amount" => Some(N_FEATURES - 1),
        [b'V', digits @ ..] if !digits.is_empty() && digits.len() <= 2 && digits[0] != b'0' => {
            let n =
                digits.iter().try_fold(0usize, |n, d| d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0')))?;
            (1..=28).contains(&n).then(|| n - 1)
        }
        _ => None,
    }
}

/// A feature column the input did not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingColumns(pub Vec<&'static str>);

impl fmt::Display for MissingColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "missing column(s) {}", self.0.join(", "))
    }
}

impl std::error::Error for MissingColumns {}

/// Where each feature sits among a table's columns. Columns are matched by name, in any order;
/// columns that are not features are ignored, as MLflow's schema enforcement does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    /// `source[j]` is the input column holding feature `j`.
    source: [usize; N_FEATURES],
    width: usize,
}

impl ColumnMap {
    /// Maps column names onto the feature order. A duplicated feature name takes its first
    /// occurrence.
    pub fn from_names<'a, I>(names: I) -> Result<Self, MissingColumns>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut source = [usize::MAX; N_FEATURES];
        let mut width = 0;
        for (col, name) in names.into_iter().enumerate() {
            width = col + 1;
            if let Some(j) = feature_index(name.trim())
                && source[j] == usize::MAX
            {
                source[j] = col;
            }
        }
        let missing: Vec<&'static str> =
            FEATURE_NAMES.iter().zip(source.iter()).filter(|(_, s)| **s == usize::MAX).map(|(name, _)| *name).collect();
        if missing.is_empty() { Ok(Self { source, width }) } else { Err(MissingColumns(missing)) }
    }

    /// The identity map: the input columns are exactly the features, in order.
    pub fn identity() -> Self {
        let mut source = [0; N_FEATURES];
        for (j, s) in source.iter_mut().enumerate() {
            *s = j;
        }
        Self { source, width: N_FEATURES }
    }

    /// How many columns the input has.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The input column that holds feature `j`.
    pub fn source(&self, j: usize) -> usize {
        self.source[j]
    }

    /// `target[col]` = the feature index held by input column `col`, if any.
    pub fn inverse(&self) -> Vec<Option<usize>> {
        let mut inverse = vec![None; self.width];
        for (j, &col) in self.source.iter().enumerate() {
            inverse[col] = Some(j);
        }
        inverse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_columns_by_name_in_any_order() {
        let mut names: Vec<&str> = FEATURE_NAMES.iter().rev().copied().collect();
        names.insert(3, "Time");
        let map = ColumnMap::from_names(names.iter().copied()).unwrap();
        assert_eq!(map.width(), 30);
        assert_eq!(map.source(N_FEATURES - 1), 0); // Amount came first
        assert_eq!(map.source(0), 29); // V1 came last
        assert_eq!(map.inverse()[3], None);
    }

    #[test]
    fn names_every_missing_column() {
        let err = ColumnMap::from_names(["V1", "V2"]).unwrap_err();
        assert_eq!(err.0.len(), N_FEATURES - 2);
        assert!(err.to_string().contains("V3, V4"));
        assert!(err.to_string().ends_with("Amount"));
    }

    #[test]
    fn feature_index_agrees_with_the_names() {
        for (j, name) in FEATURE_NAMES.iter().enumerate() {
            assert_eq!(feature_index(name), Some(j));
        }
        for other in ["V0", "V29", "V01", "V", "v1", "Time", "Class", "amount", "V1 ", "V1x"] {
            assert_eq!(feature_index(other), None, "{other}");
        }
    }

    #[test]
    fn identity_is_the_feature_order() {
        assert_eq!(ColumnMap::identity(), ColumnMap::from_names(FEATURE_NAMES).unwrap());
    }
}
