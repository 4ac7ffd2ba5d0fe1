//! `fraud explain`: the decision and the reasons behind it for every row of a CSV, labelled or
//! not: what a score record says of each transaction, for an analyst at a terminal (a table)
//! or a program (`--json`, one object per row).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::dataset::{self, DatasetError, Need};
use crate::decision::{Decision, Judgments, ModelDir, Overrides, ReasonsFor};
use crate::schema::Rows;

#[derive(Debug, Clone)]
pub struct ExplainConfig {
    pub csv: PathBuf,
    pub model_dir: PathBuf,
    /// Band thresholds given as flags.
    pub overrides: Overrides,
    pub json: bool,
    /// The column that identifies a transaction, shown with each row; else the model's id
    /// column, when the file has it.
    pub id: Option<String>,
    /// Only rows sent to review or declined.
    pub flagged_only: bool,
    /// For a model with a feature spec: the rows explained.
    pub range: crate::train::pit::Range,
}

/// Rows judged at a time: the reasons of a batch are kept until it is written.
const BATCH: usize = 4096;

/// Writes every row's probability, decision and reasons to `out`; returns the rows written.
/// Each row is judged as a score record judges it, with reasons for every row.
pub fn explain(cfg: &ExplainConfig, dir: &ModelDir, out: &mut impl Write) -> Result<usize, ExplainError> {
    let schema = dir.model.schema_arc();
    let id = match (&cfg.id, &schema.id) {
        (Some(id), _) => Some((id.as_str(), Need::Required)),
        (None, Some(id)) => Some((id.as_str(), Need::IfPresent)),
        (None, None) => None,
    };
    let table = match dir.model.spec() {
        Some(spec) => crate::train::pit::read_table(&cfg.csv, &cfg.range.point_in_time(spec.clone()), false)?.0,
        None => dataset::read_table(&cfg.csv, schema, Need::IfPresent, id, false)?,
    };
    let (labels, ids) = (table.labels, table.ids);
    let mut rows = Rows::with_capacity(schema.width(), BATCH);
    let mut judgments = Judgments::default();
    let mut line = String::new();
    let mut written = 0;
    if !cfg.json {
        let id = ids.as_ref().map_or(String::new(), |ids| format!("  {:<w$}", "id", w = id_width(ids)));
        let label = if labels.is_some() { "  label" } else { "" };
        writeln!(
            out,
            "{:>7}{id}{label}  {:>11}  {:<8}  reasons (feature=value: contribution to the log-odds)",
            "row", "probability", "decision"
        )?;
    }
    let id_width = ids.as_ref().map_or(0, |ids| id_width(ids));
    for (b, batch) in table.features.axis_chunks_iter(ndarray::Axis(0), BATCH).enumerate() {
        rows.clear();
        for r in batch.rows() {
            rows.push_missing().iter_mut().zip(r).for_each(|(v, x)| *v = *x);
        }
        judgments.judge(&dir.model, &dir.policy, ReasonsFor::Every, &rows);
        let mut start = 0;
        for (k, &end) in judgments.ends.iter().enumerate() {
            let (i, probability, decision) = (b * BATCH + k, judgments.probabilities[k], judgments.decisions[k]);
            let reasons = &judgments.reasons[start..end];
            start = end;
            if cfg.flagged_only && decision == Decision::Approve {
                continue;
            }
            let label = labels.as_ref().map(|l| u8::from(l[i]));
            let id = ids.as_ref().map(|ids| ids[i].as_str());
            line.clear();
            if cfg.json {
                let reasons: Vec<_> = reasons.iter().map(|r| r.in_schema(schema)).collect();
                let mut v = json!({ "row": i, "probability": probability, "decision": decision, "reasons": reasons });
                if let Some(id) = id {
                    v["id"] = id.into();
                }
                if let Some(l) = label {
                    v["label"] = l.into();
                }
                line.push_str(&v.to_string());
            } else {
                let _ = write!(line, "{i:>7}");
                if let Some(id) = id {
                    let _ = write!(line, "  {id:<id_width$}");
                }
                if let Some(l) = label {
                    let _ = write!(line, "  {l:>5}");
                }
                let _ = write!(line, "  {probability:>11.6}  {:<8}  ", decision.as_str());
                let parts: Vec<String> = reasons
                    .iter()
                    .map(|r| {
                        format!("{}={}: {:+.3}", schema.name(r.feature as usize), r.value_text(schema), r.contribution)
                    })
                    .collect();
                line.push_str(&parts.join(", "));
            }
            writeln!(out, "{line}")?;
            written += 1;
        }
    }
    Ok(written)
}

/// The width of the id column: its longest id, at most 36 characters (a UUID).
fn id_width(ids: &[String]) -> usize {
    ids.iter().map(|id| id.chars().count()).max().unwrap_or(0).clamp(2, 36)
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("writing the explanation")]
    Write(#[from] std::io::Error),
}
