//! Reasons: the features that drove a score, as exact contributions to its log-odds.

use serde::Serialize;

use crate::model::FraudModel;
use crate::schema::{FEATURE_NAMES, FeatureRow, N_FEATURES};

/// How many features a reason list names.
pub const REASONS: usize = 3;

/// One feature's part in a score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reason {
    pub feature: &'static str,
    /// The raw input value.
    pub value: f64,
    /// Its contribution to the log-odds of fraud.
    pub contribution: f64,
}

/// Reusable buffers for explaining rows.
#[derive(Debug)]
pub struct Explainer {
    contributions: [f64; N_FEATURES],
}

impl Default for Explainer {
    fn default() -> Self {
        Explainer { contributions: [0.0; N_FEATURES] }
    }
}

impl Explainer {
    /// The [`REASONS`] features with the largest contributions, largest first, into `out`.
    pub fn reasons(&mut self, model: &FraudModel, row: &FeatureRow, out: &mut Vec<Reason>) {
        self.contributions = [0.0; N_FEATURES];
        model.contributions(row, &mut self.contributions);
        let mut top: [usize; REASONS] = [usize::MAX; REASONS];
        for j in 0..N_FEATURES {
            // Insertion into the short sorted list; ties keep feature order.
            let c = self.contributions[j];
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
            feature: FEATURE_NAMES[j],
            value: row[j],
            contribution: self.contributions[j],
        }));
    }

    /// Every feature's contribution and the base they start from (the expected log-odds).
    pub fn all(&mut self, model: &FraudModel, row: &FeatureRow) -> (f64, [f64; N_FEATURES]) {
        let mut phi = [0.0; N_FEATURES];
        let bias = model.contributions(row, &mut phi);
        (bias, phi)
    }
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
