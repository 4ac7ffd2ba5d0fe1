//! Reasons: the features that drove a score, as exact contributions to its log-odds, each with
//! the row's value (a category by name).

use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct};

use crate::model::FraudModel;
use crate::schema::Schema;

/// How many features a reason list names.
pub const REASONS: usize = 3;

/// One feature's part in a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reason {
    /// The feature's position in the schema.
    pub feature: u32,
    /// The row's value: a number, or a categorical feature's code.
    pub value: f64,
    /// Its contribution to the log-odds of fraud.
    pub contribution: f64,
}

impl Reason {
    /// As written: `{"feature": name, "value": v, "contribution": c}`, the value of a
    /// categorical feature its category (`"unseen"` for one the model does not know), a
    /// missing value null.
    pub fn in_schema<'a>(&'a self, schema: &'a Schema) -> Named<'a> {
        Named { reason: self, schema }
    }

    /// The value as a person reads it: `5411`, `2.2886`, `missing`.
    pub fn value_text(&self, schema: &Schema) -> String {
        let j = self.feature as usize;
        if self.value.is_nan() {
            "missing".into()
        } else if schema.is_categorical(j) {
            schema.category(j, self.value).unwrap_or("unseen").to_string()
        } else {
            let s = format!("{:.4}", self.value);
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" { "0".into() } else { s.to_string() }
        }
    }
}

/// A reason with its schema, for writing.
pub struct Named<'a> {
    reason: &'a Reason,
    schema: &'a Schema,
}

impl Serialize for Named<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (r, j) = (self.reason, self.reason.feature as usize);
        let mut s = serializer.serialize_struct("Reason", 3)?;
        s.serialize_field("feature", self.schema.name(j))?;
        if r.value.is_nan() {
            s.serialize_field("value", &None::<f64>)?;
        } else if self.schema.is_categorical(j) {
            s.serialize_field("value", self.schema.category(j, r.value).unwrap_or("unseen"))?;
        } else {
            s.serialize_field("value", &r.value)?;
        }
        s.serialize_field("contribution", &r.contribution)?;
        s.end()
    }
}

/// Reusable buffers for explaining rows.
#[derive(Debug, Default)]
pub struct Explainer {
    contributions: Vec<f64>,
}

impl Explainer {
    /// The [`REASONS`] features with the largest contributions, largest first, into `out`.
    pub fn reasons(&mut self, model: &FraudModel, row: &[f64], out: &mut Vec<Reason>) {
        self.contributions.clear();
        self.contributions.resize(row.len(), 0.0);
        model.contributions(row, &mut self.contributions);
        let mut top: [usize; REASONS] = [usize::MAX; REASONS];
        for (j, &c) in self.contributions.iter().enumerate() {
            // Insertion into the short sorted list; ties keep feature order.
            let mut k = REASONS;
            while k > 0 && (top[k - 1] == usize::MAX || self.contributions[top[k - 1]] < c) {
                k -= 1;
            }
            if k < REASONS {
                top.copy_within(k..REASONS - 1, k + 1);
                top[k] = j;
            }
        }
        out.extend(top.iter().filter(|&&j| j != usize::MAX).map(|&j| Reason {
            feature: j as u32,
            value: row[j],
            contribution: self.contributions[j],
        }));
    }

    /// Every feature's contribution and the base they start from (the expected log-odds).
    pub fn all(&mut self, model: &FraudModel, row: &[f64]) -> (f64, Vec<f64>) {
        let mut phi = vec![0.0; row.len()];
        let bias = model.contributions(row, &mut phi);
        (bias, phi)
    }
}

/// Each row's reasons, kept flat: row `i`'s are `flat[ends[i - 1]..ends[i]]`. Written as one
/// list per row, named by the schema.
#[derive(Debug, Clone, Copy)]
pub struct RowReasons<'a> {
    pub flat: &'a [Reason],
    pub ends: &'a [usize],
    pub schema: &'a Schema,
}

impl Serialize for RowReasons<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.ends.len()))?;
        let mut start = 0;
        for &end in self.ends {
            let named: Vec<Named<'_>> = self.flat[start..end].iter().map(|r| r.in_schema(self.schema)).collect();
            seq.serialize_element(&named)?;
            start = end;
        }
        seq.end()
    }
}
