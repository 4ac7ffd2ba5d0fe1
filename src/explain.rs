//! `fraud explain`: the decision and the reasons behind it for every row of a CSV, labelled or
//! not: what a score record says of each transaction, for an analyst at a terminal (a table)
//! or a program (`--json`, one object per row).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::dataset::{self, DatasetError};
use crate::decision::{Explainer, Policy, Reason};
use crate::model::FraudModel;
use crate::schema::{FeatureRow, LABEL_NAME};

#[derive(Debug, Clone)]
pub struct ExplainConfig {
    pub csv: PathBuf,
    pub json: bool,
    /// Only rows sent to review or declined.
    pub flagged_only: bool,
}

/// Writes every row's probability, decision and reasons to `out`; returns the rows written.
pub fn explain(cfg: &ExplainConfig, model: &FraudModel, policy: &Policy, out: &mut impl Write) -> Result<usize, ExplainError> {
    let (features, labels) = match dataset::read_labelled(&cfg.csv, false) {
        Ok(t) => (t.features, Some(t.labels)),
        // Unlabelled: the same file without its Class column.
        Err(DatasetError::MissingColumns { missing, .. }) if missing.contains(LABEL_NAME) && !missing.contains("V") && !missing.contains("Amount") => {
            (dataset::read_features(&cfg.csv)?, None)
        }
        Err(e) => return Err(e.into()),
    };
    let mut explainer = Explainer::default();
    let mut reasons: Vec<Reason> = Vec::with_capacity(3);
    let mut line = String::new();
    let mut written = 0;
    if !cfg.json {
        let label = if labels.is_some() { "  label" } else { "" };
        writeln!(out, "{:>7}{label}  {:>11}  {:<8}  reasons (feature=value: contribution to the log-odds)", "row", "probability", "decision")?;
    }
    for (i, r) in features.rows().into_iter().enumerate() {
        let row: FeatureRow = std::array::from_fn(|j| r[j]);
        let probability = model.score(&row).probability;
        let decision = policy.decide(probability);
        if cfg.flagged_only && decision == crate::decision::Decision::Approve {
            continue;
        }
        reasons.clear();
        explainer.reasons(model, &row, &mut reasons);
        let label = labels.as_ref().map(|l| u8::from(l[i]));
        line.clear();
        if cfg.json {
            let mut v = json!({ "row": i, "probability": probability, "decision": decision, "reasons": reasons });
            if let Some(l) = label {
                v["label"] = l.into();
            }
            line.push_str(&v.to_string());
        } else {
            let _ = write!(line, "{i:>7}");
            if let Some(l) = label {
                let _ = write!(line, "  {l:>5}");
            }
            let _ = write!(line, "  {probability:>11.6}  {:<8}  ", decision.as_str());
            let parts: Vec<String> = reasons.iter().map(|r| format!("{}={}: {:+.3}", r.feature, short(r.value), r.contribution)).collect();
            line.push_str(&parts.join(", "));
        }
        writeln!(out, "{line}")?;
        written += 1;
    }
    Ok(written)
}

/// A value as an analyst reads it: four significant figures.
fn short(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("writing the explanation: {0}")]
    Write(#[from] std::io::Error),
}
