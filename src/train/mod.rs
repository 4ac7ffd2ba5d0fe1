//! `fraud train`: read labelled rows, split them (stratified, seeded), fit the chosen family on
//! the training part (a logistic regression here, trees in [`crate::train::gbdt`]), choose the
//! decision threshold on training data only, measure on the held-out part, save the model.

pub mod design;
pub mod evaluate;
pub mod explain;
pub mod gbdt;
pub mod logistic;
pub mod pit;
pub mod report;
pub mod split;

use std::path::PathBuf;
use std::time::Instant;

use ndarray::{Array2, Axis};

use crate::dataset::{self, DatasetError, Labelled, Selection};
use crate::decision::policy::decline_threshold;
use crate::metrics::{Confusion, Evaluation, best_f1_threshold};
use crate::model::{Bands, DeclineRule, FraudModel, LogisticParams, ModelError, Provenance};
use crate::schema::Schema;
use crate::train::report::Report;
use design::Encoding;
use gbdt::{BoostError, BoostOptions};
use logistic::{FitError, FitOptions, Fitted};
use split::{stratified_folds, stratified_split, time_folds, time_split};

use crate::features::Spec;

/// Everything `fraud train` needs, validated.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub csv: PathBuf,
    /// Which columns are the label, the id, the time and the features.
    pub selection: Selection,
    /// Logistic: one-hot columns per categorical feature, "other" included.
    pub max_categories: usize,
    pub model_dir: PathBuf,
    /// Share of rows held out for testing, in [0, 1). 0 trains on every row.
    pub test_size: f64,
    pub seed: u64,
    /// Folds for the out-of-fold predictions that choose the threshold (and, for trees, the
    /// number of trees); 0 uses a logistic regression's own training predictions.
    pub threshold_folds: usize,
    /// The precision the decline band must reach on those same predictions.
    pub decline_precision: f64,
    pub trainer: Trainer,
    pub progress: bool,
    /// Where to write the HTML report of the held-out rows.
    pub report: Option<PathBuf>,
    /// Raw events with a feature spec: features computed point in time, rows in a time range,
    /// held-out rows and folds ordered in time.
    pub point_in_time: Option<pit::PointInTime>,
    /// k of the card precision top-k reported with a spec.
    pub top_k: usize,
}

/// Which family to fit, with its settings.
#[derive(Debug, Clone)]
pub enum Trainer {
    Logistic(FitOptions),
    Trees(BoostOptions),
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{path}")]
    Fit { path: PathBuf, source: FitError },
    #[error("{path}")]
    Boost { path: PathBuf, source: BoostError },
    /// The data cannot train a model: the user must bring other data (exit 2).
    #[error("{path}: {what}")]
    Unusable { path: PathBuf, what: String },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Report(#[from] crate::train::evaluate::EvaluateError),
}

/// What a family's fit hands back: the model, and the seconds its fitting took.
struct FamilyFit {
    model: FraudModel,
    fit_seconds: f64,
}

/// Reads, fits, evaluates and saves; returns what to print.
pub fn train(cfg: &TrainConfig) -> Result<Report, TrainError> {
    let started = Instant::now();
    let (data, selected) = match &cfg.point_in_time {
        Some(pit) => {
            let selected = pit::read(&cfg.csv, pit, true, cfg.progress)?;
            (selected.labelled(), Some(selected))
        }
        None => (dataset::read_training(&cfg.csv, &cfg.selection, cfg.progress)?, None),
    };
    for note in &data.notes {
        tracing::warn!("{}: {note}", cfg.csv.display());
    }
    let read_seconds = started.elapsed().as_secs_f64();
    phase("read", started);
    let t = Instant::now();
    let times = selected.as_ref().map(pit::Selected::times);
    let (train_idx, test_idx) = match &times {
        Some(times) => time_split(times, cfg.test_size),
        None => stratified_split(&data.labels, cfg.test_size, cfg.seed),
    };
    let train_times: Option<Vec<i64>> = times.as_ref().map(|t| train_idx.iter().map(|&i| t[i]).collect());
    let train_labels: Vec<bool> = train_idx.iter().map(|&i| data.labels[i]).collect();
    phase("split", t);
    let frauds_train = train_labels.iter().filter(|l| **l).count();
    if frauds_train == 0 || frauds_train == train_labels.len() {
        return Err(TrainError::Unusable {
            path: cfg.csv.clone(),
            what: format!(
                "the training part ({} rows) holds only one class; the file has {} frauds in {} rows",
                train_labels.len(),
                data.frauds(),
                data.len()
            ),
        });
    }
    let provenance = |fit_seconds: f64, gradient_max: Option<f64>, oof: &[f64], threshold: f64| Provenance {
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        input_file: cfg.csv.display().to_string(),
        input_sha256: data.sha256.clone(),
        rows_train: train_labels.len(),
        frauds_train,
        seed: cfg.seed,
        test_size: cfg.test_size,
        fit_seconds,
        gradient_max,
        training_metrics: Some(Evaluation::new(oof, &train_labels, threshold)),
    };
    let fitted = match &cfg.trainer {
        Trainer::Logistic(fit) => fit_logistic(
            &data.schema,
            &data.features,
            &train_idx,
            &train_labels,
            train_times.as_deref(),
            fit,
            cfg,
            provenance,
        )?,
        Trainer::Trees(opts) => fit_trees(
            &data.schema,
            &data.features,
            &train_idx,
            &train_labels,
            train_times.as_deref(),
            opts,
            cfg,
            provenance,
        )?,
    };
    let model = match &cfg.point_in_time {
        Some(pit) => fitted.model.with_spec(Spec::clone(&pit.spec))?,
        None => fitted.model,
    };
    let t = Instant::now();

    // With nothing held out, report on the training rows, as the model file does.
    let positions = if test_idx.is_empty() { train_idx.clone() } else { test_idx.clone() };
    let (evaluated, on): (Labelled, &str) =
        if test_idx.is_empty() { (data, "train") } else { (data.select(&test_idx), "test") };
    let probabilities = model.probabilities(&evaluated.features);
    let evaluation = Evaluation::new(&probabilities, &evaluated.labels, model.threshold());
    let card_precision = match (&selected, &cfg.point_in_time) {
        (Some(sel), Some(pit)) => {
            sel.card_precision(&pit.spec, &positions, &probabilities, &evaluated.labels, cfg.top_k)
        }
        _ => None,
    };
    phase("evaluate", t);
    if let Some(dir) = &cfg.report {
        let title = format!("fraud train: {} ({} rows held out)", cfg.csv.display(), evaluated.labels.len());
        crate::train::evaluate::write_report(
            dir,
            title,
            &model,
            &probabilities,
            &evaluated.features,
            &evaluated.labels,
            &evaluation,
        )?;
    }
    let t = Instant::now();
    let model_path = model.save(&cfg.model_dir)?;
    phase("save", t);
    Ok(Report {
        evaluation,
        evaluated_on: on.to_string(),
        rows_train: train_idx.len(),
        rows_test: test_idx.len(),
        fit_seconds: fitted.fit_seconds,
        read_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        model_version: model.version().to_string(),
        model_path: model_path.display().to_string(),
        gradient_max: model.provenance().gradient_max,
        family: model.family().as_str().to_string(),
        decline: model.bands().decline.map(|d| crate::metrics::AtThreshold::new(&probabilities, &evaluated.labels, d)),
        card_precision,
    })
}

/// One fold's outcome: its held-out rows and their scores.
type FoldScores = Result<(Vec<usize>, Vec<f64>), FitError>;

fn phase(name: &str, since: Instant) {
    tracing::debug!(phase = name, seconds = since.elapsed().as_secs_f64(), "train phase");
}

/// The logistic regression: encode on the training part ([`design`]), fit, threshold.
#[allow(clippy::too_many_arguments)]
fn fit_logistic(
    schema: &Schema,
    features: &Array2<f64>,
    train_idx: &[usize],
    train_labels: &[bool],
    train_times: Option<&[i64]>,
    fit_opts: &FitOptions,
    cfg: &TrainConfig,
    provenance: impl Fn(f64, Option<f64>, &[f64], f64) -> Provenance,
) -> Result<FamilyFit, TrainError> {
    let fit_err = |source| TrainError::Fit { path: cfg.csv.clone(), source };
    let fit_started = Instant::now();
    // One pass gathers the training rows, standardised, in the column-major layout the fit
    // wants: no intermediate copies of the feature matrix.
    let encoding = Encoding::fit(schema, features, train_idx, cfg.max_categories);
    let x = encoding.design(features, train_idx);
    phase("standardise", fit_started);
    let t = Instant::now();
    let fitted = logistic::fit(x.view(), train_labels, fit_opts).map_err(fit_err)?;
    phase("fit", t);
    if fitted.gradient_max > fit_opts.tol {
        tracing::warn!(
            gradient = fitted.gradient_max,
            tol = fit_opts.tol,
            "the fit stopped at max_iterations before converging"
        );
    }
    let t = Instant::now();
    let oof = out_of_fold(&x, train_labels, train_times, &fitted, fit_opts, cfg).map_err(fit_err)?;
    let threshold = best_f1_threshold(&oof, train_labels);
    let on = if cfg.threshold_folds >= 2 { "out-of-fold predictions" } else { "training predictions" };
    let bands = bands(&oof, train_labels, threshold, cfg.decline_precision, on);
    phase("threshold", t);
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let provenance = provenance(fit_seconds, Some(fitted.gradient_max), &oof, threshold);
    let (weights, onehot) = encoding.split_weights(&fitted.weights);
    let params = LogisticParams { scaler: encoding.scaler, weights, intercept: fitted.intercept, onehot };
    Ok(FamilyFit { model: FraudModel::logistic(schema, params, bands, provenance)?, fit_seconds })
}

/// Gradient-boosted trees: trees and threshold from K-fold out-of-fold predictions.
#[allow(clippy::too_many_arguments)]
fn fit_trees(
    schema: &Schema,
    features: &Array2<f64>,
    train_idx: &[usize],
    train_labels: &[bool],
    train_times: Option<&[i64]>,
    opts: &BoostOptions,
    cfg: &TrainConfig,
    provenance: impl Fn(f64, Option<f64>, &[f64], f64) -> Provenance,
) -> Result<FamilyFit, TrainError> {
    let started = Instant::now();
    let categorical = schema.categorical_flags();
    let fold = folds(train_labels, train_times, opts.folds, cfg.seed);
    let boosted = gbdt::fit_with_folds(features, &categorical, train_idx, train_labels, opts, cfg.seed, &fold)
        .map_err(|source| TrainError::Boost { path: cfg.csv.clone(), source })?;
    let threshold = best_f1_threshold(&boosted.oof, train_labels);
    let bands = bands(&boosted.oof, train_labels, threshold, cfg.decline_precision, "out-of-fold predictions");
    let fit_seconds = started.elapsed().as_secs_f64();
    phase("fit", started);
    let provenance = provenance(fit_seconds, None, &boosted.oof, threshold);
    Ok(FamilyFit { model: FraudModel::trees(schema, boosted.params, bands, provenance)?, fit_seconds })
}

/// The training rows' folds: blocks of time when the rows have times, else stratified.
fn folds(labels: &[bool], times: Option<&[i64]>, k: usize, seed: u64) -> Vec<usize> {
    match times {
        Some(times) => time_folds(times, k),
        None => stratified_folds(labels, k, seed),
    }
}

/// Review at the threshold; decline at the precision target, chosen on the same training
/// predictions, with what it is worth there.
fn bands(scores: &[f64], labels: &[bool], threshold: f64, target: f64, on: &str) -> Bands {
    let decline = decline_threshold(scores, labels, target, threshold);
    let (precision, recall) = match decline {
        Some(d) => {
            let c = Confusion::at(scores, labels, d);
            (Some(c.precision()), Some(c.recall()))
        }
        None => (None, None),
    };
    match decline {
        Some(d) => tracing::info!(
            decline = d,
            precision = precision.unwrap_or_default(),
            recall = recall.unwrap_or_default(),
            "decline band at {target} precision on {on}"
        ),
        None => tracing::warn!("no threshold reaches {target} precision on the {on}: the model has no decline band"),
    }
    Bands {
        review: threshold,
        decline,
        decline_rule: Some(DeclineRule {
            precision_target: Some(target),
            chosen_on: on.to_string(),
            precision,
            recall,
        }),
    }
}

/// Each training row's probability from a model that did not see it (stratified folds, each
/// fit warm-started from the full fit, two at a time). With no folds, the full fit's own.
fn out_of_fold(
    x: &Array2<f64>,
    y: &[bool],
    times: Option<&[i64]>,
    full: &Fitted,
    fit_opts: &FitOptions,
    cfg: &TrainConfig,
) -> Result<Vec<f64>, FitError> {
    let k = cfg.threshold_folds;
    if k < 2 {
        return Ok(logistic::predict(x.view(), full));
    }
    let fold = folds(y, times, k, cfg.seed);
    let run_fold = |f: usize| -> Result<(Vec<usize>, Vec<f64>), FitError> {
        let (inside, held): (Vec<usize>, Vec<usize>) = (0..y.len()).partition(|&i| fold[i] != f);
        let xi = x.select(Axis(0), &inside);
        let yi: Vec<bool> = inside.iter().map(|&i| y[i]).collect();
        let fitted = logistic::fit_warm(xi.view(), &yi, fit_opts, full)?;
        Ok((held.clone(), logistic::predict(x.select(Axis(0), &held).view(), &fitted)))
    };
    let mut oof = vec![f64::NAN; y.len()];
    let folds: Vec<usize> = (0..k).collect();
    for pair in folds.chunks(2) {
        let results: Vec<FoldScores> = std::thread::scope(|s| {
            let handles: Vec<_> = pair.iter().map(|&f| s.spawn(move || run_fold(f))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        });
        for r in results {
            let (held, p) = r?;
            for (i, p) in held.into_iter().zip(p) {
                oof[i] = p;
            }
        }
    }
    Ok(oof)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_test_size_keeps_every_row() {
        let labels = vec![true, false, false];
        let (train, test) = stratified_split(&labels, 0.0, 1);
        assert_eq!(train, vec![0, 1, 2]);
        assert!(test.is_empty());
    }
}
