//! `fraud explain`: the decision and the reasons behind it for every row of a CSV, labelled or
//! not: what a score record says of each transaction, for an analyst at a terminal (a table)
//! or a program (`--json`, one object per row).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::dataset::{self, DatasetError};
use crate::decision::{Decision, Judgments, ModelDir, Overrides, ReasonsFor};
use crate::schema::feature_rows;

#[derive(Debug, Clone)]
pub struct ExplainConfig {
    pub csv: PathBuf,
    pub model_dir: PathBuf,
    /// Band thresholds given as flags.
    pub overrides: Overrides,
    pub json: bool,
    /// Only rows sent to review or declined.
    pub flagged_only: bool,
}

/// Rows judged at a time: the reasons of a batch are kept until it is written.
const BATCH: usize = 4096;

/// Writes every row's probability, decision and reasons to `out`; returns the rows written.
/// Each row is judged as a score record judges it, with reasons for every row.
pub fn explain(cfg: &ExplainConfig, dir: &ModelDir, out: &mut impl Write) -> Result<usize, ExplainError> {
    let (features, labels) = dataset::read_maybe_labelled(&cfg.csv)?;
    let rows = feature_rows(&features);
    let mut judgments = Judgments::default();
    let mut line = String::new();
    let mut written = 0;
    if !cfg.json {
        let label = if labels.is_some() { "  label" } else { "" };
        writeln!(
            out,
            "{:>7}{label}  {:>11}  {:<8}  reasons (feature=value: contribution to the log-odds)",
            "row", "probability", "decision"
        )?;
    }
    for (b, batch) in rows.chunks(BATCH).enumerate() {
        judgments.judge(&dir.model, &dir.policy, ReasonsFor::Every, batch);
        let mut start = 0;
        for (k, &end) in judgments.ends.iter().enumerate() {
            let (i, probability, decision) = (b * BATCH + k, judgments.probabilities[k], judgments.decisions[k]);
            let reasons = &judgments.reasons[start..end];
            start = end;
            if cfg.flagged_only && decision == Decision::Approve {
                continue;
            }
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
                let parts: Vec<String> = reasons
                    .iter()
                    .map(|r| format!("{}={}: {:+.3}", r.feature, short(r.value), r.contribution))
                    .collect();
                line.push_str(&parts.join(", "));
            }
            writeln!(out, "{line}")?;
            written += 1;
        }
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
    #[error("writing the explanation")]
    Write(#[from] std::io::Error),
}
