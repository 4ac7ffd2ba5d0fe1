//! What `fraud train` and `fraud evaluate` print: a table for people, one JSON object for
//! programs. Both commands share the keys.

pub mod html;

use std::fmt;

use serde_json::{Value, json};

use crate::metrics::{AtThreshold, CardPrecision, Evaluation};

#[derive(Debug, Clone)]
pub struct Report {
    pub evaluation: Evaluation,
    /// "test" (held-out rows), "train" (nothing held out) or the evaluated file.
    pub evaluated_on: String,
    pub rows_train: usize,
    pub rows_test: usize,
    pub fit_seconds: f64,
    pub read_seconds: f64,
    pub total_seconds: f64,
    pub model_version: String,
    pub model_path: String,
    pub gradient_max: Option<f64>,
    /// The model family: "logistic" or "gbdt".
    pub family: String,
    /// The decline band on the evaluated rows, when the model has one.
    pub decline: Option<AtThreshold>,
    /// Card precision top-k, for a model with a feature spec (cards are its first entity).
    pub card_precision: Option<CardPrecision>,
}

impl Report {
    /// One object; the threshold-dependent keys are at the model's chosen threshold.
    pub fn to_json(&self) -> Value {
        let e = &self.evaluation;
        let c = &e.chosen;
        json!({
            "accuracy": c.accuracy,
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
            "auprc": e.auprc,
            "roc_auc": e.roc_auc,
            "threshold": c.threshold,
            "tp": c.confusion.tp,
            "fp": c.confusion.fp,
            "tn": c.confusion.tn,
            "fn": c.confusion.fn_,
            "rows_train": self.rows_train,
            "rows_test": self.rows_test,
            "frauds_evaluated": e.frauds,
            "evaluated_on": self.evaluated_on,
            "fit_seconds": self.fit_seconds,
            "read_seconds": self.read_seconds,
            "total_seconds": self.total_seconds,
            "at_0_5": e.at_half,
            "model_version": self.model_version,
            "model_path": self.model_path,
            "gradient_max": self.gradient_max,
            "family": self.family,
            "decline": self.decline,
            "card_precision": self.card_precision.as_ref().map(|c| c.value),
            "card_precision_k": self.card_precision.as_ref().map(|c| c.k),
        })
    }
}

fn row(f: &mut fmt::Formatter<'_>, name: &str, t: &AtThreshold) -> fmt::Result {
    writeln!(
        f,
        "  {name:<18} {:>9.6} {:>9.4} {:>9.4} {:>9.4} {:>9.4}   tp {} fp {} tn {} fn {}",
        t.threshold,
        t.accuracy,
        t.precision,
        t.recall,
        t.f1,
        t.confusion.tp,
        t.confusion.fp,
        t.confusion.tn,
        t.confusion.fn_
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.evaluation;
        writeln!(f, "model {} ({}, {})", self.model_version, self.family, self.model_path)?;
        writeln!(
            f,
            "rows: {} train, {} test; evaluated on {}: {} rows, {} frauds",
            self.rows_train, self.rows_test, self.evaluated_on, e.rows, e.frauds
        )?;
        writeln!(f, "  AUPRC (average precision) {:.4}   ROC-AUC {:.4}", e.auprc, e.roc_auc)?;
        if let Some(cp) = &self.card_precision {
            writeln!(f, "  card precision top-{} {:.4} (mean over {} days)", cp.k, cp.value, cp.days)?;
        }
        writeln!(
            f,
            "  {:<18} {:>9} {:>9} {:>9} {:>9} {:>9}   confusion matrix",
            "", "threshold", "accuracy", "precision", "recall", "F1"
        )?;
        row(f, "chosen threshold", &e.chosen)?;
        match &self.decline {
            Some(d) => row(f, "decline band", d)?,
            None => writeln!(
                f,
                "  {:<18} none: no threshold reached the precision target on the training data",
                "decline band"
            )?,
        }
        row(f, "at 0.5", &e.at_half)?;
        write!(
            f,
            "time: read {:.2}s, fit {:.2}s, total {:.2}s",
            self.read_seconds, self.fit_seconds, self.total_seconds
        )
    }
}
