//! The bands on the fraud probability: review from one threshold, decline from another. They
//! come from the model (chosen on training data, [`crate::model::Bands`]); the model directory's
//! `policy.json` may override them, and the flags override both.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Decision;
use crate::model::FraudModel;

/// The file in a model directory that overrides the model's bands.
pub const POLICY_FILE: &str = "policy.json";

/// Thresholds on the fraud probability: review from `review`, decline from `decline`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub review: f64,
    pub decline: Option<f64>,
}

/// Overrides of the model's bands, as `policy.json` holds them (and the flags give them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub review_threshold: Option<f64>,
    pub decline_threshold: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read {path}")]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("{path} is not a policy ({{\"review_threshold\": p, \"decline_threshold\": p}})")]
    Parse { path: std::path::PathBuf, source: serde_json::Error },
    #[error("{0}")]
    Invalid(String),
}

impl Overrides {
    /// The policy file of a model directory, if there is one.
    pub fn from_dir(dir: &Path) -> Result<Overrides, PolicyError> {
        let path = dir.join(POLICY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| PolicyError::Parse { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Overrides::default()),
            Err(source) => Err(PolicyError::Read { path, source }),
        }
    }

    /// `self` where set, else `under`.
    pub fn or(self, under: Overrides) -> Overrides {
        Overrides {
            review_threshold: self.review_threshold.or(under.review_threshold),
            decline_threshold: self.decline_threshold.or(under.decline_threshold),
        }
    }
}

impl Policy {
    /// The model's bands with `overrides` applied, checked.
    pub fn new(model: &FraudModel, overrides: Overrides) -> Result<Policy, PolicyError> {
        let bands = model.bands();
        let policy = Policy {
            review: overrides.review_threshold.unwrap_or(bands.review),
            decline: overrides.decline_threshold.or(bands.decline),
        };
        let in_range = |p: f64| p > 0.0 && p <= 1.0;
        if !in_range(policy.review) || policy.decline.is_some_and(|d| !in_range(d)) {
            return Err(PolicyError::Invalid(format!("thresholds must be in (0, 1]: {policy:?}")));
        }
        if policy.decline.is_some_and(|d| d < policy.review) {
            return Err(PolicyError::Invalid(format!(
                "the decline threshold {} is below the review threshold {}",
                policy.decline.unwrap_or_default(),
                policy.review
            )));
        }
        Ok(policy)
    }

    #[inline]
    pub fn decide(&self, probability: f64) -> Decision {
        if self.decline.is_some_and(|d| probability >= d) {
            Decision::Decline
        } else if probability >= self.review {
            Decision::Review
        } else {
            Decision::Approve
        }
    }
}

/// The decline threshold for a precision target: the lowest score at which the rows scored at
/// least that are frauds at `target` precision or better (most recall for the precision), not
/// below `review`. None when no score reaches it.
pub fn decline_threshold(scores: &[f64], labels: &[bool], target: f64, review: f64) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut best = None;
    for (k, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1
        } else {
            fp += 1
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie && tp as f64 >= target * (tp + fp) as f64 && tp > 0 {
            best = Some(scores[i]);
        }
    }
    best.map(|t| t.max(review))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_decide() {
        let p = Policy { review: 0.3, decline: Some(0.9) };
        assert_eq!(p.decide(0.1), Decision::Approve);
        assert_eq!(p.decide(0.3), Decision::Review);
        assert_eq!(p.decide(0.9), Decision::Decline);
        let no_decline = Policy { review: 0.3, decline: None };
        assert_eq!(no_decline.decide(1.0), Decision::Review);
    }

    #[test]
    fn the_decline_threshold_is_the_lowest_at_the_precision() {
        // Scores high to low: F F F L F L L ...: precision 1, 1, 1, .75, .8, .67
        let scores = [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.1];
        let labels = [true, true, true, false, true, false, false, false];
        assert_eq!(decline_threshold(&scores, &labels, 0.8, 0.0), Some(0.95));
        assert_eq!(decline_threshold(&scores, &labels, 0.95, 0.0), Some(0.97));
        assert_eq!(decline_threshold(&scores, &labels, 0.95, 0.98), Some(0.98), "never below review");
        assert_eq!(decline_threshold(&[0.9, 0.8], &[false, true], 0.95, 0.0), None);
        // Tied scores count together.
        assert_eq!(decline_threshold(&[0.9, 0.9, 0.5], &[true, false, true], 0.9, 0.0), None);
    }
}
