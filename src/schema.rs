//! A model's input schema: its features in order, each numeric or categorical (with its
//! categories), and the columns that are not features (the label, the id, the event time). It
//! is part of the model; every reader (CSV, Parquet, Kafka message, HTTP body) maps its columns
//! onto it by name, and turns values into rows of numbers:
//!
//! - a numeric feature's value is the number; missing is NaN;
//! - a categorical feature's value is its category's code, the category's position in the
//!   feature's list (as LightGBM's Python package codes a pandas category); missing is NaN, and
//!   a category the list does not hold is [`UNSEEN`] (a negative code, which every categorical
//!   split sends right, as LightGBM does).
//!
//! The ULB/Kaggle schema (V1..V28 and Amount, all numeric, label `Class`) is the default, and a
//! model file that names no schema has it.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Number of features of the ULB/Kaggle schema.
pub const N_FEATURES: usize = 29;

/// The ULB/Kaggle schema's features, in order. `Time` is deliberately absent: it is seconds
/// since the start of the data set, not a property of a transaction.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "V10", "V11", "V12", "V13", "V14", "V15", "V16", "V17",
    "V18", "V19", "V20", "V21", "V22", "V23", "V24", "V25", "V26", "V27", "V28", "Amount",
];

/// The label column unless told otherwise.
pub const LABEL_NAME: &str = "Class";

/// The code of a category a feature's list does not hold.
pub const UNSEEN: f64 = -1.0;

/// One feature row of the ULB/Kaggle schema.
pub type FeatureRow = [f64; N_FEATURES];

/// What a feature's values are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Numeric,
    /// Categories by code: the code of `categories[c]` is `c`.
    Categorical(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub name: String,
    pub kind: Kind,
}

impl Feature {
    pub fn numeric(name: &str) -> Feature {
        Feature { name: name.to_string(), kind: Kind::Numeric }
    }

    pub fn categorical(name: &str, categories: Vec<String>) -> Feature {
        Feature { name: name.to_string(), kind: Kind::Categorical(categories) }
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, Kind::Categorical(_))
    }

    /// The categories, for a categorical feature.
    pub fn categories(&self) -> &[String] {
        match &self.kind {
            Kind::Categorical(c) => c,
            Kind::Numeric => &[],
        }
    }
}

/// The features, and the columns that are not features.
#[derive(Debug, Clone)]
pub struct Schema {
    features: Vec<Feature>,
    pub label: String,
    /// Carried into the outputs, so a result can be joined to its transaction; never a feature.
    pub id: Option<String>,
    /// The event time; never a feature.
    pub time: Option<String>,
    /// Feature position by name.
    index: HashMap<String, usize>,
    /// Per feature, a category's code by its text (empty for a numeric feature).
    codes: Vec<HashMap<String, u32>>,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        (&self.features, &self.label, &self.id, &self.time) == (&other.features, &other.label, &other.id, &other.time)
    }
}

/// A schema that cannot be: two features of one name, a feature named as the label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(pub String);

impl Schema {
    pub fn new(
        features: Vec<Feature>,
        label: &str,
        id: Option<String>,
        time: Option<String>,
    ) -> Result<Schema, SchemaError> {
        if features.is_empty() {
            return Err(SchemaError("a model needs at least one feature".into()));
        }
        let mut index = HashMap::with_capacity(features.len());
        for (j, f) in features.iter().enumerate() {
            if f.name.is_empty() {
                return Err(SchemaError(format!("feature {j} has no name")));
            }
            if index.insert(f.name.clone(), j).is_some() {
                return Err(SchemaError(format!("two features are named {:?}", f.name)));
            }
            for other in [Some(label), id.as_deref(), time.as_deref()].into_iter().flatten() {
                if f.name == other {
                    return Err(SchemaError(format!("{other:?} is a feature and also the label, id or time column")));
                }
            }
        }
        let mut codes = Vec::with_capacity(features.len());
        for f in &features {
            let mut map = HashMap::with_capacity(f.categories().len());
            for (c, name) in f.categories().iter().enumerate() {
                if map.insert(category_text(name).into_owned(), c as u32).is_some() {
                    return Err(SchemaError(format!("{:?} lists the category {name:?} twice", f.name)));
                }
            }
            codes.push(map);
        }
        Ok(Schema { features, label: label.to_string(), id, time, index, codes })
    }

    /// The ULB/Kaggle schema: V1..V28 and Amount, numeric; label `Class`.
    pub fn kaggle() -> Schema {
        let features = FEATURE_NAMES.iter().map(|n| Feature::numeric(n)).collect();
        Schema::new(features, LABEL_NAME, None, None).unwrap_or_else(|e| unreachable!("the Kaggle schema: {e}"))
    }

    /// Whether this is the ULB/Kaggle schema (a model file then names none).
    pub fn is_kaggle(&self) -> bool {
        *self == Schema::kaggle()
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    pub fn width(&self) -> usize {
        self.features.len()
    }

    pub fn name(&self, j: usize) -> &str {
        &self.features[j].name
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// The position of the feature called `name`.
    #[inline]
    pub fn index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn is_categorical(&self, j: usize) -> bool {
        self.features[j].is_categorical()
    }

    /// Per feature, whether it is categorical.
    pub fn categorical_flags(&self) -> Vec<bool> {
        self.features.iter().map(Feature::is_categorical).collect()
    }

    /// Whether any feature is categorical.
    pub fn has_categorical(&self) -> bool {
        self.features.iter().any(Feature::is_categorical)
    }

    /// The code of category `text` of feature `j`: its position, or [`UNSEEN`]. The text is
    /// taken in its canonical form ([`category_text`]).
    #[inline]
    pub fn code(&self, j: usize, text: &str) -> f64 {
        self.codes[j].get(&*category_text(text)).map_or(UNSEEN, |&c| f64::from(c))
    }

    /// The code of a category given as a number: the category whose text is the number's
    /// (`5411` and `5411.0` are both category `"5411"`).
    pub fn code_of_number(&self, j: usize, v: f64) -> f64 {
        self.code(j, &number_text(v))
    }

    /// The category a code stands for, if it is one of feature `j`'s.
    pub fn category(&self, j: usize, code: f64) -> Option<&str> {
        let categories = self.features[j].categories();
        (code >= 0.0 && code.fract() == 0.0)
            .then_some(code as usize)
            .and_then(|c| categories.get(c))
            .map(String::as_str)
    }

    /// Where each feature sits among `columns`, by name; Err names every feature missing.
    pub fn columns(&self, columns: &[&str]) -> Result<ColumnMap, MissingColumns> {
        let mut source = vec![usize::MAX; self.width()];
        for (col, name) in columns.iter().enumerate() {
            if let Some(j) = self.index(name.trim())
                && source[j] == usize::MAX
            {
                source[j] = col;
            }
        }
        let missing: Vec<String> = source
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == usize::MAX)
            .map(|(j, _)| self.name(j).to_string())
            .collect();
        if missing.is_empty() { Ok(ColumnMap { source, width: columns.len() }) } else { Err(MissingColumns(missing)) }
    }
}

/// A category's text as every reader gives it, so that one category has one text whichever way
/// it was written: trimmed, and a number written as [`number_text`] writes it (`5411`,
/// `5411.0`, ` 5411` and `05411` are all `"5411"`, as a JSON number 5411 is). Other text is as
/// it is (`"FR"`, `"true"`).
pub fn category_text(text: &str) -> std::borrow::Cow<'_, str> {
    let t = text.trim();
    let b = t.as_bytes();
    // Already canonical, the common case: digits without a leading zero.
    let plain_integer =
        !b.is_empty() && b.len() < 16 && b.iter().all(u8::is_ascii_digit) && (b[0] != b'0' || b.len() == 1);
    if plain_integer || !matches!(b.first(), Some(b'0'..=b'9' | b'-' | b'+' | b'.')) {
        return std::borrow::Cow::Borrowed(t);
    }
    match crate::decimal::parse_cell(b) {
        Ok(v) => std::borrow::Cow::Owned(number_text(v)),
        Err(_) => std::borrow::Cow::Borrowed(t),
    }
}

/// A number as a category's text: an integer without a fraction (`5411`, not `5411.0`).
pub fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// The schema as a model file keeps it: the feature names (every model file has them), and what
/// the default leaves out: the categories of categorical features, and a label, id or time
/// column other than the default. A ULB/Kaggle model's file is as it always was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaFile {
    pub features: Vec<String>,
    /// Categorical features by name, each with its categories in code order.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub categories: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default = "default_label", skip_serializing_if = "is_default_label")]
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

fn default_label() -> String {
    LABEL_NAME.to_string()
}

fn is_default_label(label: &str) -> bool {
    label == LABEL_NAME
}

impl From<&Schema> for SchemaFile {
    fn from(s: &Schema) -> SchemaFile {
        SchemaFile {
            features: s.names().map(String::from).collect(),
            categories: s
                .features
                .iter()
                .filter(|f| f.is_categorical())
                .map(|f| (f.name.clone(), f.categories().to_vec()))
                .collect(),
            label: s.label.clone(),
            id: s.id.clone(),
            time: s.time.clone(),
        }
    }
}

impl TryFrom<&SchemaFile> for Schema {
    type Error = SchemaError;
    fn try_from(f: &SchemaFile) -> Result<Schema, SchemaError> {
        if let Some(name) = f.categories.keys().find(|n| !f.features.contains(n)) {
            return Err(SchemaError(format!("categories are given for {name:?}, which is not a feature")));
        }
        let features = f
            .features
            .iter()
            .map(|n| match f.categories.get(n) {
                Some(c) => Feature::categorical(n, c.clone()),
                None => Feature::numeric(n),
            })
            .collect();
        Schema::new(features, &f.label, f.id.clone(), f.time.clone())
    }
}

/// Rows of feature values, one after another in one buffer, reused from one input to the next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    width: usize,
    values: Vec<f64>,
}

impl Rows {
    pub fn new(width: usize) -> Rows {
        Rows { width, values: Vec::new() }
    }

    pub fn with_capacity(width: usize, rows: usize) -> Rows {
        Rows { width, values: Vec::with_capacity(width * rows) }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn clear(&mut self) {
        self.values.clear();
    }

    /// A new row, every value missing, to fill in.
    pub fn push_missing(&mut self) -> &mut [f64] {
        let start = self.values.len();
        self.values.resize(start + self.width, f64::NAN);
        &mut self.values[start..]
    }

    pub fn push(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.width);
        self.values.extend_from_slice(row);
    }

    /// Drops the last row (one that turned out bad while it was filled in).
    pub fn pop(&mut self) {
        let len = self.values.len().saturating_sub(self.width);
        self.values.truncate(len);
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.values[i * self.width..(i + 1) * self.width]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[f64]> {
        self.values.chunks_exact(self.width.max(1))
    }

    /// The rows of a matrix whose columns are the features in order.
    pub fn from_matrix(m: &ndarray::Array2<f64>) -> Rows {
        let mut rows = Rows::with_capacity(m.ncols(), m.nrows());
        for r in m.rows() {
            rows.values.extend(r.iter());
        }
        rows
    }
}

/// Features an input did not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingColumns(pub Vec<String>);

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
    source: Vec<usize>,
    width: usize,
}

impl ColumnMap {
    /// The identity map: the input columns are exactly the features, in order.
    pub fn identity(width: usize) -> Self {
        Self { source: (0..width).collect(), width }
    }

    /// How many columns the input has.
    pub fn width(&self) -> usize {
        self.width
    }

    /// How many features it maps.
    pub fn features(&self) -> usize {
        self.source.len()
    }

    /// The input column that holds feature `j`.
    #[inline]
    pub fn source(&self, j: usize) -> usize {
        self.source[j]
    }

    /// `target[col]` = the feature held by input column `col`, if any.
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

    fn example() -> Schema {
        let features = vec![
            Feature::numeric("amount"),
            Feature::categorical("merchant_category", vec!["4829".into(), "5411".into()]),
            Feature::numeric("hour"),
        ];
        Schema::new(features, "label", Some("tx_id".into()), Some("time".into())).unwrap()
    }

    #[test]
    fn maps_columns_by_name_in_any_order() {
        let k = Schema::kaggle();
        let mut names: Vec<&str> = FEATURE_NAMES.iter().rev().copied().collect();
        names.insert(3, "Time");
        let map = k.columns(&names).unwrap();
        assert_eq!(map.width(), 30);
        assert_eq!(map.source(N_FEATURES - 1), 0); // Amount came first
        assert_eq!(map.source(0), 29); // V1 came last
        assert_eq!(map.inverse()[3], None);
        assert_eq!(k.columns(&FEATURE_NAMES).unwrap(), ColumnMap::identity(N_FEATURES));
    }

    #[test]
    fn names_every_missing_column() {
        let err = Schema::kaggle().columns(&["V1", "V2"]).unwrap_err();
        assert_eq!(err.0.len(), N_FEATURES - 2);
        assert!(err.to_string().contains("V3, V4"));
        assert!(err.to_string().ends_with("Amount"));
        assert_eq!(example().columns(&["hour", "amount"]).unwrap_err().0, ["merchant_category"]);
    }

    #[test]
    fn categories_code_by_position_and_the_rest_are_unseen() {
        let s = example();
        assert_eq!((s.code(1, "4829"), s.code(1, "5411"), s.code(1, "7995")), (0.0, 1.0, UNSEEN));
        assert_eq!((s.category(1, 1.0), s.category(1, UNSEEN), s.category(1, f64::NAN)), (Some("5411"), None, None));
        assert!(s.is_categorical(1) && !s.is_categorical(0) && s.has_categorical());
        assert_eq!(s.index("hour"), Some(2));
        assert_eq!(s.index("tx_id"), None, "the id is not a feature");
    }

    #[test]
    fn a_model_file_keeps_what_the_default_leaves_out() {
        let kaggle = SchemaFile::from(&Schema::kaggle());
        assert_eq!(
            serde_json::to_value(&kaggle).unwrap(),
            serde_json::json!({ "features": FEATURE_NAMES }),
            "a Kaggle model's file names its features only, as it always did"
        );
        let s = example();
        let file = SchemaFile::from(&s);
        let back =
            Schema::try_from(&serde_json::from_value::<SchemaFile>(serde_json::to_value(&file).unwrap()).unwrap());
        assert_eq!(back.unwrap(), s);
    }

    #[test]
    fn impossible_schemas_are_refused() {
        let two = vec![Feature::numeric("a"), Feature::numeric("a")];
        assert!(Schema::new(two, "label", None, None).unwrap_err().0.contains("two features"));
        let label = vec![Feature::numeric("label")];
        assert!(Schema::new(label, "label", None, None).is_err());
        let twice = vec![Feature::categorical("c", vec!["x".into(), "x".into()])];
        assert!(Schema::new(twice, "label", None, None).unwrap_err().0.contains("twice"));
        assert!(Schema::new(vec![], "label", None, None).is_err());
    }

    #[test]
    fn rows_share_one_buffer() {
        let mut rows = Rows::new(3);
        rows.push(&[1.0, 2.0, 3.0]);
        let r = rows.push_missing();
        r[1] = 5.0;
        assert_eq!(rows.len(), 2);
        assert!(rows.row(1)[0].is_nan() && rows.row(1)[1] == 5.0);
        rows.pop();
        assert_eq!(rows.iter().collect::<Vec<_>>(), [[1.0, 2.0, 3.0]]);
    }
}
