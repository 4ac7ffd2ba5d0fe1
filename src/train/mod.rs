//! `fraud train`: read labelled rows, split them (stratified, seeded), fit the chosen family on
//! the training part (a logistic regression here, trees in [`crate::train::gbdt`]), choose the
//! decision threshold on training data only, measure on the held-out part, save the model.

pub mod evaluate;
pub mod explain;
pub mod gbdt;
pub mod logistic;
pub mod report;
pub mod split;

use std::path::PathBuf;
use std::time::Instant;

use ndarray::{Array2, Axis, ShapeBuilder};

use crate::dataset::{self, DatasetError, Labelled};
use crate::decision::policy::decline_threshold;
use crate::metrics::{Confusion, Evaluation, best_f1_threshold};
use crate::model::{Bands, DeclineRule, FraudModel, LogisticParams, ModelError, Provenance, Scaler};
use crate::schema::N_FEATURES;
use crate::train::report::Report;
use gbdt::{BoostError, BoostOptions};
use logistic::{FitError, FitOptions, Fitted};
use split::{stratified_folds, stratified_split};

/// Everything `fraud train` needs, validated.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub csv: PathBuf,
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
    let data = dataset::read_labelled(&cfg.csv, cfg.progress)?;
    let read_seconds = started.elapsed().as_secs_f64();
    phase("read", started);
    let t = Instant::now();
    let (train_idx, test_idx) = stratified_split(&data.labels, cfg.test_size, cfg.seed);
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
        Trainer::Logistic(fit) => fit_logistic(&data.features, &train_idx, &train_labels, fit, cfg, provenance)?,
        Trainer::Trees(opts) => fit_trees(&data.features, &train_idx, &train_labels, opts, cfg, provenance)?,
    };
    let model = fitted.model;
    let t = Instant::now();

    // With nothing held out, report on the training rows, as the model file does.
    let (evaluated, on): (Labelled, &str) =
        if test_idx.is_empty() { (data, "train") } else { (data.select(&test_idx), "test") };
    let probabilities = model.probabilities(&evaluated.features);
    let evaluation = Evaluation::new(&probabilities, &evaluated.labels, model.threshold());
    phase("evaluate", t);
    if let Some(dir) = &cfg.report {
        let title = format!("fraud train: {} ({} rows held out)", cfg.csv.display(), evaluated.labels.len());
        crate::train::evaluate::write_report(dir, title, &model, &probabilities, &evaluated, &evaluation)?;
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
    })
}

/// One fold's outcome: its held-out rows and their scores.
type FoldScores = Result<(Vec<usize>, Vec<f64>), FitError>;

fn phase(name: &str, since: Instant) {
    tracing::debug!(phase = name, seconds = since.elapsed().as_secs_f64(), "train phase");
}

/// The logistic regression: standardise on the training part, fit, threshold.
fn fit_logistic(
    features: &Array2<f64>,
    train_idx: &[usize],
    train_labels: &[bool],
    fit_opts: &FitOptions,
    cfg: &TrainConfig,
    provenance: impl Fn(f64, Option<f64>, &[f64], f64) -> Provenance,
) -> Result<FamilyFit, TrainError> {
    let fit_err = |source| TrainError::Fit { path: cfg.csv.clone(), source };
    let fit_started = Instant::now();
    // One pass gathers the training rows, standardised, in the column-major layout the fit
    // wants: no intermediate copies of the feature matrix.
    let scaler = scaler_of_rows(features, train_idx);
    let x = standardised_columns(features, train_idx, &scaler);
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
    let oof = out_of_fold(&x, train_labels, &fitted, fit_opts, cfg).map_err(fit_err)?;
    let threshold = best_f1_threshold(&oof, train_labels);
    let on = if cfg.threshold_folds >= 2 { "out-of-fold predictions" } else { "training predictions" };
    let bands = bands(&oof, train_labels, threshold, cfg.decline_precision, on);
    phase("threshold", t);
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let provenance = provenance(fit_seconds, Some(fitted.gradient_max), &oof, threshold);
    let params = LogisticParams { scaler, weights: fitted.weights, intercept: fitted.intercept };
    Ok(FamilyFit { model: FraudModel::logistic(params, bands, provenance)?, fit_seconds })
}

/// Gradient-boosted trees: trees and threshold from K-fold out-of-fold predictions.
fn fit_trees(
    features: &Array2<f64>,
    train_idx: &[usize],
    train_labels: &[bool],
    opts: &BoostOptions,
    cfg: &TrainConfig,
    provenance: impl Fn(f64, Option<f64>, &[f64], f64) -> Provenance,
) -> Result<FamilyFit, TrainError> {
    let started = Instant::now();
    // Every feature numeric until the schema names categorical ones.
    let categorical = vec![false; features.ncols()];
    let boosted = gbdt::fit(features, &categorical, train_idx, train_labels, opts, cfg.seed)
        .map_err(|source| TrainError::Boost { path: cfg.csv.clone(), source })?;
    let threshold = best_f1_threshold(&boosted.oof, train_labels);
    let bands = bands(&boosted.oof, train_labels, threshold, cfg.decline_precision, "out-of-fold predictions");
    let fit_seconds = started.elapsed().as_secs_f64();
    phase("fit", started);
    let provenance = provenance(fit_seconds, None, &boosted.oof, threshold);
    Ok(FamilyFit { model: FraudModel::trees(boosted.params, bands, provenance)?, fit_seconds })
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

/// Population mean and standard deviation per column (scikit-learn's `StandardScaler`); a
/// constant column gets 1, so it passes through centred.
pub fn fit_scaler(x: &Array2<f64>) -> Scaler {
    let n = x.nrows() as f64;
    let mean = x.sum_axis(Axis(0)) / n;
    let mut var = vec![0.0; N_FEATURES];
    for row in x.rows() {
        for j in 0..N_FEATURES {
            let d = row[j] - mean[j];
            var[j] += d * d;
        }
    }
    let std = var.iter().map(|v| (v / n).sqrt()).map(|s| if s > 0.0 { s } else { 1.0 }).collect();
    Scaler { mean: mean.to_vec(), std }
}

/// [`fit_scaler`] over the rows at `rows`, without gathering them.
pub fn scaler_of_rows(x: &Array2<f64>, rows: &[usize]) -> Scaler {
    let n = rows.len() as f64;
    let mut mean = [0.0; N_FEATURES];
    for &i in rows {
        for (m, v) in mean.iter_mut().zip(x.row(i)) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = [0.0; N_FEATURES];
    for &i in rows {
        for ((s, v), m) in var.iter_mut().zip(x.row(i)).zip(&mean) {
            *s += (v - m) * (v - m);
        }
    }
    let std = var.iter().map(|v| (v / n).sqrt()).map(|s| if s > 0.0 { s } else { 1.0 }).collect();
    Scaler { mean: mean.to_vec(), std }
}

/// The rows at `rows`, standardised, in column-major order.
pub fn standardised_columns(x: &Array2<f64>, rows: &[usize], scaler: &Scaler) -> Array2<f64> {
    let n = rows.len();
    let mut data = vec![0.0; n * N_FEATURES];
    let inv: Vec<f64> = scaler.std.iter().map(|s| 1.0 / s).collect();
    // Read each source row once, contiguously; write one element into each column.
    for (r, &i) in rows.iter().enumerate() {
        for (j, v) in x.row(i).iter().enumerate() {
            data[j * n + r] = (v - scaler.mean[j]) * inv[j];
        }
    }
    Array2::from_shape_vec((n, N_FEATURES).f(), data).expect("n x N_FEATURES values")
}

pub fn standardise(x: &Array2<f64>, scaler: &Scaler) -> Array2<f64> {
    let mut out = x.clone();
    for mut row in out.rows_mut() {
        for j in 0..N_FEATURES {
            row[j] = (row[j] - scaler.mean[j]) / scaler.std[j];
        }
    }
    out
}

/// Each training row's probability from a model that did not see it (stratified folds, each
/// fit warm-started from the full fit, two at a time). With no folds, the full fit's own.
fn out_of_fold(
    x: &Array2<f64>,
    y: &[bool],
    full: &Fitted,
    fit_opts: &FitOptions,
    cfg: &TrainConfig,
) -> Result<Vec<f64>, FitError> {
    let k = cfg.threshold_folds;
    if k < 2 {
        return Ok(logistic::predict(x.view(), full));
    }
    let fold = stratified_folds(y, k, cfg.seed);
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

    #[test]
    fn the_fused_pass_equals_select_then_standardise() {
        let x = Array2::from_shape_fn((50, N_FEATURES), |(i, j)| ((i * 31 + j * 7) % 13) as f64 * 0.5 - j as f64);
        let rows: Vec<usize> = (0..50).filter(|i| i % 3 != 0).collect();
        let picked = x.select(Axis(0), &rows);
        let s = fit_scaler(&picked);
        let fused = scaler_of_rows(&x, &rows);
        for j in 0..N_FEATURES {
            assert!((s.mean[j] - fused.mean[j]).abs() < 1e-12 && (s.std[j] - fused.std[j]).abs() < 1e-12);
        }
        let columns = standardised_columns(&x, &rows, &fused);
        assert!(columns.t().is_standard_layout(), "column-major");
        let expected = standardise(&picked, &fused);
        assert!(columns.iter().zip(expected.iter()).all(|(a, b)| (a - b).abs() < 1e-12));
    }

    #[test]
    fn scaler_is_population_std_and_guards_constants() {
        let mut x = Array2::zeros((4, N_FEATURES));
        for (i, v) in [1.0, 2.0, 3.0, 4.0].iter().enumerate() {
            x[[i, 0]] = *v;
            x[[i, 1]] = 5.0;
        }
        let s = fit_scaler(&x);
        assert!((s.mean[0] - 2.5).abs() < 1e-12);
        assert!((s.std[0] - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.std[1], 1.0);
        let z = standardise(&x, &s);
        assert!((z[[0, 0]] + 1.5 / 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(z[[0, 1]], 0.0);
    }
}
