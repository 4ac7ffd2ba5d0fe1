//! `fraud evaluate`: score every row of a labelled CSV with a saved model and measure it.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::Array2;

use crate::dataset::{self, DatasetError, Need};
use crate::decision::{Overrides, Policy, PolicyError};
use crate::metrics::Evaluation;
use crate::model::{FraudModel, MODEL_FILE};
use crate::train::report::Report;

#[derive(Debug, Clone)]
pub struct EvaluateConfig {
    pub csv: PathBuf,
    /// Where `model` was loaded from, for the report.
    pub model_dir: PathBuf,
    pub progress: bool,
    /// Where to write the HTML report.
    pub report: Option<PathBuf>,
    /// For a model with a feature spec: the rows evaluated, and k of card precision.
    pub range: crate::train::pit::Range,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{path}: all {rows} rows are {class}; metrics need frauds and non-frauds")]
    OneClass { path: PathBuf, rows: usize, class: &'static str },
    #[error("writing the report to {path}")]
    Report { path: PathBuf, source: std::io::Error },
    #[error("the model's own bands")]
    Bands(#[source] PolicyError),
}

/// Writes the HTML report of scored, labelled rows with the model's own bands.
pub fn write_report(
    dir: &std::path::Path,
    title: String,
    model: &FraudModel,
    probabilities: &[f64],
    rows: &Array2<f64>,
    labels: &[bool],
    evaluation: &Evaluation,
) -> Result<PathBuf, EvaluateError> {
    let policy = Policy::new(model, Overrides::default()).map_err(EvaluateError::Bands)?;
    let input =
        crate::train::report::html::ReportInput { title, model, policy, probabilities, labels, rows, evaluation };
    let path = crate::train::report::html::write(dir, &input)
        .map_err(|source| EvaluateError::Report { path: dir.to_path_buf(), source })?;
    tracing::info!("report written to {}", path.display());
    Ok(path)
}

pub fn evaluate(cfg: &EvaluateConfig, model: &FraudModel) -> Result<Report, EvaluateError> {
    let started = Instant::now();
    let (table, selected) = match model.spec() {
        Some(spec) => {
            let (table, selected) =
                crate::train::pit::read_table(&cfg.csv, &cfg.range.point_in_time(spec.clone()), true)?;
            (table, Some(selected))
        }
        None => (dataset::read_table(&cfg.csv, model.schema_arc(), Need::Required, None, cfg.progress)?, None),
    };
    let read_seconds = started.elapsed().as_secs_f64();
    let Some(labels) = table.labels else { unreachable!("the label column is required") };
    let frauds = labels.iter().filter(|l| **l).count();
    if frauds == 0 || frauds == labels.len() {
        let class = if frauds == 0 { "non-fraud" } else { "fraud" };
        return Err(EvaluateError::OneClass { path: cfg.csv.clone(), rows: labels.len(), class });
    }
    let probabilities = model.probabilities(&table.features);
    let evaluation = Evaluation::new(&probabilities, &labels, model.threshold());
    if let Some(dir) = &cfg.report {
        let title = format!("fraud evaluate: {} on {}", cfg.model_dir.display(), cfg.csv.display());
        write_report(dir, title, model, &probabilities, &table.features, &labels, &evaluation)?;
    }
    Ok(Report {
        evaluation,
        evaluated_on: cfg.csv.display().to_string(),
        rows_train: 0,
        rows_test: labels.len(),
        fit_seconds: 0.0,
        read_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        model_version: model.version().to_string(),
        model_path: cfg.model_dir.join(MODEL_FILE).display().to_string(),
        gradient_max: None,
        family: model.family().as_str().to_string(),
        decline: model.bands().decline.map(|d| crate::metrics::AtThreshold::new(&probabilities, &labels, d)),
        card_precision: match (&selected, model.spec()) {
            (Some(sel), Some(spec)) => {
                let positions: Vec<usize> = (0..labels.len()).collect();
                sel.card_precision(spec, &positions, &probabilities, &labels, cfg.range.top_k)
            }
            _ => None,
        },
    })
}
