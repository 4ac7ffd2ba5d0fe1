//! Decisions with reasons: what to do with a transaction (approve, send to review, decline)
//! and the features that drove its score.
//!
//! - [`policy`]: the bands on the fraud probability, from the model (chosen on training data)
//!   under the model directory's `policy.json` under the flags;
//! - [`reasons`]: each feature's exact contribution to the log-odds (the logistic regression's
//!   weight × standardised value, the trees' TreeSHAP values), the three largest first;
//! - [`ModelDir`]: a model directory, the model and the policy it decides with, loaded and
//!   checked as one;
//! - [`Judgments`]: a batch of rows scored, decided and explained, what every output is
//!   written from.

mod model_dir;
pub mod policy;
pub mod reasons;

use serde::{Deserialize, Serialize};

use crate::model::FraudModel;
use crate::schema::Rows;

pub use model_dir::{ModelDir, ModelDirError};
pub use policy::{Overrides, POLICY_FILE, Policy, PolicyError};
pub use reasons::{Explainer, REASONS, Reason, RowReasons};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Review,
    Decline,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Approve, Decision::Review, Decision::Decline];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Review => "review",
            Decision::Decline => "decline",
        }
    }
}

/// Which rows get reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReasonsFor {
    /// Rows sent to review or declined: the 99.8 % approved cost nothing.
    Flagged,
    /// Every row.
    #[value(name = "all")]
    Every,
    /// No row: decisions only.
    #[value(name = "none")]
    Nothing,
}

/// A batch of rows scored and decided, as parallel lists, with buffers reused from one batch
/// to the next: what a score record or a response is written from.
#[derive(Debug, Default)]
pub struct Judgments {
    pub predictions: Vec<u8>,
    pub probabilities: Vec<f64>,
    pub decisions: Vec<Decision>,
    /// Every row's reasons back to back; row `i`'s end at `ends[i]`.
    pub reasons: Vec<Reason>,
    pub ends: Vec<usize>,
    explainer: Explainer,
}

impl Judgments {
    pub fn judge(&mut self, model: &FraudModel, policy: &Policy, reasons_for: ReasonsFor, rows: &Rows) {
        self.predictions.clear();
        self.probabilities.clear();
        self.decisions.clear();
        self.reasons.clear();
        self.ends.clear();
        for row in rows.iter() {
            let probability = model.score(row).probability;
            let decision = policy.decide(probability);
            self.predictions.push(u8::from(decision != Decision::Approve));
            self.probabilities.push(probability);
            self.decisions.push(decision);
            let explain = match reasons_for {
                ReasonsFor::Nothing => false,
                ReasonsFor::Flagged => decision != Decision::Approve,
                ReasonsFor::Every => true,
            };
            if explain {
                self.explainer.reasons(model, row, &mut self.reasons);
            }
            self.ends.push(self.reasons.len());
        }
    }

    /// Each row's reasons, named by `model`'s schema.
    pub fn row_reasons<'a>(&'a self, model: &'a FraudModel) -> RowReasons<'a> {
        RowReasons { flat: &self.reasons, ends: &self.ends, schema: model.schema() }
    }
}
