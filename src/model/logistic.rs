//! The logistic-regression family: numeric features standardised, categorical ones one-hot
//! encoded, weights and intercept, as stored; and the scorer they fold into (one dot product on
//! raw numeric values, one look-up per categorical feature).
//!
//! Missing values: a missing numeric value counts as the training mean (its standardised value
//! is 0, so it adds nothing); a missing category activates no column. A category the model has
//! no column for (infrequent in training, or unseen) activates the feature's "other" column
//! when it has one, and nothing otherwise, as scikit-learn's `OneHotEncoder(handle_unknown=
//! "infrequent_if_exist")` does.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::schema::Schema;

/// Identifies the file kind, and its version.
pub const FORMAT: &str = "fraud-logistic-regression";
pub const FORMAT_VERSION: u32 = 1;

/// Mean and standard deviation of each numeric feature on the training rows, in schema order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// One categorical feature's columns of the design: each column stands for one category, or,
/// the last when `other` is set, for every category without a column of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneHot {
    /// The feature, by name.
    pub feature: String,
    /// The category each column stands for.
    pub categories: Vec<String>,
    /// Whether there is a last column for every other category.
    pub other: bool,
    /// One weight per column (`categories.len()`, plus one with `other`).
    pub weights: Vec<f64>,
}

/// The parameters as stored in `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticParams {
    /// Of the numeric features, in schema order.
    pub scaler: Scaler,
    /// Weights on the standardised numeric features, for the fraud class.
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// Of the categorical features, in schema order; none for an all-numeric schema.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onehot: Vec<OneHot>,
}

/// How one feature enters the score.
#[derive(Debug, Clone)]
enum Term {
    /// `coef · x` (`coef` = weight / std), with the value a missing one stands for (the mean).
    Numeric { coef: f64, mean: f64, weight: f64, std: f64 },
    /// The weight of the category's column, by code; `other` for a code with no column of its
    /// own (unseen included).
    Categorical { weights: Vec<f64>, other: f64 },
}

/// The scorer: weights folded with the scaler, z = bias + Σ terms on raw values.
#[derive(Debug, Clone)]
pub struct Logistic {
    /// With every feature numeric: each one's `coef`, in order. z = bias + Σ coef·x in one pass;
    /// a missing value makes z NaN and sends the row to the general path.
    dense: Option<Vec<f64>>,
    /// Numeric features only, in order.
    numeric: Vec<(usize, f64, f64)>,
    /// Every feature's term, for the contributions and the categorical look-ups.
    terms: Vec<Term>,
    categorical: Vec<usize>,
    bias: f64,
    intercept: f64,
}

impl LogisticParams {
    /// Checks every number against the schema; `Err` says what is wrong.
    pub fn check(&self, schema: &Schema) -> Result<(), String> {
        let numeric = schema.features().iter().filter(|f| !f.is_categorical()).count();
        for (name, v) in
            [("weights", &self.weights), ("scaler.mean", &self.scaler.mean), ("scaler.std", &self.scaler.std)]
        {
            if v.len() != numeric {
                return Err(format!("{name} has {} values, expected {numeric}", v.len()));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(format!("{name} holds a non-finite value"));
            }
        }
        if self.scaler.std.iter().any(|s| *s <= 0.0) {
            return Err("scaler.std holds a value <= 0".into());
        }
        if !self.intercept.is_finite() {
            return Err("intercept is not finite".into());
        }
        let categorical: Vec<&str> =
            schema.features().iter().filter(|f| f.is_categorical()).map(|f| f.name.as_str()).collect();
        let encoded: Vec<&str> = self.onehot.iter().map(|o| o.feature.as_str()).collect();
        if categorical != encoded {
            return Err(format!("one-hot blocks for {encoded:?}, but the categorical features are {categorical:?}"));
        }
        for o in &self.onehot {
            let columns = o.categories.len() + usize::from(o.other);
            if o.weights.len() != columns || o.weights.iter().any(|w| !w.is_finite()) {
                return Err(format!(
                    "{}: {} weights for {columns} columns, or one not finite",
                    o.feature,
                    o.weights.len()
                ));
            }
        }
        Ok(())
    }

    /// What determines the output, for the model's content hash.
    pub fn digest_input(&self) -> serde_json::Value {
        let mut v = json!({ "scaler": self.scaler, "weights": self.weights, "intercept": self.intercept });
        if !self.onehot.is_empty() {
            v["onehot"] = json!(self.onehot);
        }
        v
    }

    /// The scorer, from parameters checked against `schema`.
    pub fn compile(&self, schema: &Schema) -> Logistic {
        let mut bias = self.intercept;
        let (mut k, mut blocks) = (0, self.onehot.iter());
        let mut terms = Vec::with_capacity(schema.width());
        for f in schema.features() {
            if f.is_categorical() {
                let Some(o) = blocks.next() else { unreachable!("checked: a block per categorical feature") };
                let other = if o.other { o.weights[o.categories.len()] } else { 0.0 };
                let mut weights = vec![other; f.categories().len()];
                for (column, category) in o.categories.iter().enumerate() {
                    if let Some(c) = f.categories().iter().position(|x| x == category) {
                        weights[c] = o.weights[column];
                    }
                }
                terms.push(Term::Categorical { weights, other });
            } else {
                let (weight, mean, std) = (self.weights[k], self.scaler.mean[k], self.scaler.std[k]);
                let coef = weight / std;
                bias -= coef * mean;
                terms.push(Term::Numeric { coef, mean, weight, std });
                k += 1;
            }
        }
        let numeric = terms
            .iter()
            .enumerate()
            .filter_map(|(j, t)| match t {
                Term::Numeric { coef, mean, .. } => Some((j, *coef, *mean)),
                Term::Categorical { .. } => None,
            })
            .collect();
        let categorical: Vec<usize> = (0..terms.len()).filter(|&j| schema.is_categorical(j)).collect();
        let dense = categorical.is_empty().then(|| {
            terms
                .iter()
                .map(|t| match t {
                    Term::Numeric { coef, .. } => *coef,
                    Term::Categorical { .. } => unreachable!("no categorical feature"),
                })
                .collect()
        });
        Logistic { dense, numeric, terms, categorical, bias, intercept: self.intercept }
    }
}

impl Logistic {
    /// The log-odds of fraud for one row of raw values.
    #[inline]
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        if let Some(coef) = &self.dense {
            let mut z = self.bias;
            for (c, x) in coef.iter().zip(row) {
                z += c * x;
            }
            if !z.is_nan() {
                return z;
            }
        }
        self.general_log_odds(row)
    }

    /// Any row: numeric values with the mean for a missing one, categories by look-up.
    #[inline(never)]
    fn general_log_odds(&self, row: &[f64]) -> f64 {
        let mut z = self.bias;
        for &(j, coef, mean) in &self.numeric {
            let x = row[j];
            // A missing value counts as the mean: its term cancels the bias's.
            z += coef * if x.is_nan() { mean } else { x };
        }
        for &j in &self.categorical {
            z += self.term(j, row[j]);
        }
        z
    }

    /// Feature `j`'s term at value `x`, beyond the bias.
    #[inline]
    fn term(&self, j: usize, x: f64) -> f64 {
        match &self.terms[j] {
            Term::Numeric { coef, mean, .. } => coef * if x.is_nan() { *mean } else { x },
            Term::Categorical { weights, other } => {
                if x.is_nan() {
                    0.0
                } else if x >= 0.0 && (x as usize) < weights.len() {
                    weights[x as usize]
                } else {
                    *other
                }
            }
        }
    }

    /// Each feature's contribution to the log-odds into `phi` (numeric: weight × standardised
    /// value; categorical: the weight of its column); returns the intercept.
    pub fn contributions(&self, row: &[f64], phi: &mut [f64]) -> f64 {
        for (j, t) in self.terms.iter().enumerate() {
            phi[j] += match t {
                // As written: weight × standardised value (0 for a missing one).
                Term::Numeric { mean, weight, std, .. } if !row[j].is_nan() => weight * (row[j] - mean) / std,
                Term::Numeric { .. } => 0.0,
                Term::Categorical { .. } => self.term(j, row[j]),
            };
        }
        self.intercept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Feature;

    fn example() -> (Schema, LogisticParams) {
        let schema = Schema::new(
            vec![
                Feature::numeric("amount"),
                Feature::categorical("mcc", vec!["4829".into(), "5411".into(), "7995".into()]),
                Feature::numeric("hour"),
            ],
            "label",
            None,
            None,
        )
        .unwrap();
        let params = LogisticParams {
            scaler: Scaler { mean: vec![50.0, 12.0], std: vec![25.0, 6.0] },
            weights: vec![1.0, -0.5],
            intercept: -3.0,
            // 5411 has a column of its own; 7995 (infrequent) and anything unseen go to other.
            onehot: vec![OneHot {
                feature: "mcc".into(),
                categories: vec!["4829".into(), "5411".into()],
                other: true,
                weights: vec![0.25, -1.0, 2.0],
            }],
        };
        params.check(&schema).unwrap();
        (schema, params)
    }

    #[test]
    fn numeric_terms_are_standardised_and_categories_look_up_their_column() {
        let (schema, params) = example();
        let s = params.compile(&schema);
        let z = |row: [f64; 3]| s.log_odds(&row);
        let base = -3.0 + 1.0 * (100.0 - 50.0) / 25.0 - 0.5 * (18.0 - 12.0) / 6.0;
        assert!((z([100.0, 0.0, 18.0]) - (base + 0.25)).abs() < 1e-12);
        assert!((z([100.0, 1.0, 18.0]) - (base - 1.0)).abs() < 1e-12);
        assert!((z([100.0, 2.0, 18.0]) - (base + 2.0)).abs() < 1e-12, "infrequent: other");
        assert!((z([100.0, -1.0, 18.0]) - (base + 2.0)).abs() < 1e-12, "unseen: other");
        assert!((z([100.0, f64::NAN, 18.0]) - base).abs() < 1e-12, "missing: no column");
        assert!((z([f64::NAN, f64::NAN, 18.0]) - (-3.0 - 0.5)).abs() < 1e-12, "missing amount: the mean");
    }

    #[test]
    fn contributions_add_up_to_the_log_odds() {
        let (schema, params) = example();
        let s = params.compile(&schema);
        for row in [[100.0, 1.0, 18.0], [3.0, f64::NAN, 2.0], [f64::NAN, -1.0, f64::NAN]] {
            let mut phi = [0.0; 3];
            let base = s.contributions(&row, &mut phi);
            assert!((base - params.intercept).abs() < 1e-12);
            assert!((base + phi.iter().sum::<f64>() - s.log_odds(&row)).abs() < 1e-12, "{row:?}");
        }
        let mut phi = [0.0; 3];
        s.contributions(&[f64::NAN, 1.0, 12.0], &mut phi);
        assert_eq!(phi, [0.0, -1.0, 0.0]);
    }

    #[test]
    fn blocks_must_match_the_schema() {
        let (schema, mut params) = example();
        params.onehot[0].weights.pop();
        assert!(params.check(&schema).unwrap_err().contains("2 weights for 3 columns"));
        let (schema, mut params) = example();
        params.onehot.clear();
        assert!(params.check(&schema).unwrap_err().contains("categorical features are [\"mcc\"]"));
        let (schema, mut params) = example();
        params.weights.push(1.0);
        assert!(params.check(&schema).unwrap_err().contains("expected 2"));
    }
}
