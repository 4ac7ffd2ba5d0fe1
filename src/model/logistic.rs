//! The logistic-regression family: standardisation, weights and intercept, as stored, and the
//! scorer they fold into (one dot product on raw features).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::schema::{FeatureRow, N_FEATURES};

/// Identifies the file kind, and its version.
pub const FORMAT: &str = "fraud-logistic-regression";
pub const FORMAT_VERSION: u32 = 1;

/// Mean and standard deviation of each feature on the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// The parameters as stored in `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticParams {
    pub scaler: Scaler,
    /// Weights on standardised features, for the fraud class.
    pub weights: Vec<f64>,
    pub intercept: f64,
}

/// The scorer: weights folded with the scaler, z = bias + Σ coef_j · x_j on raw features.
#[derive(Debug, Clone)]
pub struct Logistic {
    coef: FeatureRow,
    bias: f64,
}

impl LogisticParams {
    /// Checks every number; `Err` says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in
            [("weights", &self.weights), ("scaler.mean", &self.scaler.mean), ("scaler.std", &self.scaler.std)]
        {
            if v.len() != N_FEATURES {
                return Err(format!("{name} has {} values, expected {N_FEATURES}", v.len()));
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
        Ok(())
    }

    /// What determines the output, for the model's content hash.
    pub fn digest_input(&self) -> serde_json::Value {
        json!({ "scaler": self.scaler, "weights": self.weights, "intercept": self.intercept })
    }

    /// The scorer, from checked parameters.
    pub fn compile(&self) -> Logistic {
        let mut coef = [0.0; N_FEATURES];
        let mut bias = self.intercept;
        for (j, c) in coef.iter_mut().enumerate() {
            *c = self.weights[j] / self.scaler.std[j];
            bias -= *c * self.scaler.mean[j];
        }
        Logistic { coef, bias }
    }
}

impl LogisticParams {
    /// Each feature's contribution to the log-odds: weight × standardised value, into `phi`;
    /// returns the intercept.
    pub fn contributions(&self, row: &FeatureRow, phi: &mut [f64; N_FEATURES]) -> f64 {
        for j in 0..N_FEATURES {
            phi[j] += self.weights[j] * (row[j] - self.scaler.mean[j]) / self.scaler.std[j];
        }
        self.intercept
    }
}

impl Logistic {
    /// The log-odds of fraud for one row of raw features.
    #[inline]
    pub fn log_odds(&self, row: &FeatureRow) -> f64 {
        let mut z = self.bias;
        for (c, x) in self.coef.iter().zip(row) {
            z += c * x;
        }
        z
    }
}
