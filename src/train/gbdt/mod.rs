//! Fitting gradient-boosted trees (`fraud train --model gbdt`): our own histogram trainer,
//! XGBoost's hist algorithm (depth-wise trees on binned features) with LightGBM's categorical
//! splits, written out as our trees (LightGBM's layout).
//!
//! How many trees, and the decision threshold, both come from K-fold out-of-fold predictions on
//! the training part, never from the rows a model was fitted on (a tree model's in-sample
//! scores are overconfident):
//! 1. K models, each fitted on K-1 folds with the maximum number of trees; each scores its
//!    held-out fold at every checkpoint (every [`CHECKPOINT`] trees).
//! 2. Early stopping on those validation slices: the checkpoint with the best out-of-fold
//!    average precision (the metric the model is judged by; on a few tenths of a per cent of
//!    positives, log-loss stops too early and costs test AUPRC).
//! 3. The threshold: best F1 on the out-of-fold predictions at that checkpoint.
//! 4. The model: fitted on the whole training part with that many trees. Each node's cover
//!    (the training rows that reach it, for TreeSHAP) is counted by routing those rows.
//!
//! The files: [`bins`] (features into bins), [`boost`] (the boosting loop), [`grow`] (one
//! tree), [`split`] (the split searches), [`tree`] (a binned tree into our layout).
//!
//! Deterministic for a given seed: the folds and each tree's row and feature samples are
//! seeded, and no sum depends on the number of threads.

mod bins;
mod boost;
mod grow;
mod options;
mod split;
mod tree;

use std::time::Instant;

use ndarray::Array2;
use serde_json::json;

use crate::metrics::average_precision;
use crate::model::sigmoid;
use crate::model::trees::TreeParams;
use crate::train::split::stratified_folds;
use bins::{Binned, FeatureBins};
use boost::{BinModel, Pace, boost};
pub use options::BoostOptions;

/// Trees between two early-stopping checkpoints.
pub const CHECKPOINT: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum BoostError {
    #[error("{0}")]
    Settings(String),
}

/// What the fit gives `fraud train`.
pub struct Boosted {
    pub params: TreeParams,
    /// Out-of-fold fraud probabilities of the training rows, at the chosen number of trees.
    pub oof: Vec<f64>,
    pub trees: usize,
}

/// Fits on the rows `rows` of `x` (rows × features, NaN missing), labels aligned with `rows`.
/// A feature with `categorical[j]` holds category codes: non-negative integers, a negative
/// value an unseen category, treated as missing.
pub fn fit(
    x: &Array2<f64>,
    categorical: &[bool],
    rows: &[usize],
    labels: &[bool],
    opts: &BoostOptions,
    seed: u64,
) -> Result<Boosted, BoostError> {
    fit_with_folds(x, categorical, rows, labels, opts, seed, &stratified_folds(labels, opts.folds, seed))
}

/// As [`fit`], with each training row's fold given (`fold[i]` in `0..opts.folds`, aligned with
/// `rows`): time-ordered blocks for rows that come from a stream.
pub fn fit_with_folds(
    x: &Array2<f64>,
    categorical: &[bool],
    rows: &[usize],
    labels: &[bool],
    opts: &BoostOptions,
    seed: u64,
    fold: &[usize],
) -> Result<Boosted, BoostError> {
    check(x, categorical, rows, labels, opts)?;
    let started = Instant::now();
    let (features, binned) = bins::bin(x, categorical, rows, usize::from(opts.bins), opts.threads);
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "gbdt features binned");
    let checkpoints: Vec<usize> =
        (1..=opts.max_trees.div_ceil(CHECKPOINT)).map(|c| (c * CHECKPOINT).min(opts.max_trees)).collect();
    // raw[c][i]: training row i's out-of-fold raw score with the first checkpoints[c] trees.
    let mut raw = vec![vec![0.0; rows.len()]; checkpoints.len()];
    // The jobs, the K folds then the final model, go to the threads in turn. The final model
    // does not wait for early stopping: its first n trees are the n-tree model whenever it is
    // told n, so it starts on the thread the folds leave free and stops at n (or keeps the
    // first n of those it has). Its thread count grows once the folds are done; its trees do
    // not depend on it.
    let jobs: std::sync::Mutex<std::collections::VecDeque<Option<usize>>> =
        std::sync::Mutex::new((0..opts.folds).map(Some).chain([None]).collect());
    let per_job = (opts.threads / (opts.folds + 1)).max(1);
    let pace = Pace::new(opts.max_trees, per_job);
    let final_model: std::sync::Mutex<Option<BinModel>> = std::sync::Mutex::new(None);
    let (sender, results) = std::sync::mpsc::channel::<(Vec<usize>, Vec<Vec<f64>>)>();
    let (ap, trees) = std::thread::scope(|s| {
        for _ in 0..opts.threads.clamp(1, opts.folds + 1) {
            let (jobs, fold, checkpoints, features, binned, pace, final_model, sender) =
                (&jobs, &fold, &checkpoints, &features, &binned, &pace, &final_model, sender.clone());
            s.spawn(move || {
                // The lock is released before the job runs.
                let next = || jobs.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                while let Some(job) = next() {
                    let Some(f) = job else {
                        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "gbdt final starts");
                        let model = boost(binned, labels, features, None, &[], opts, pace, seed);
                        *final_model.lock().unwrap_or_else(|e| e.into_inner()) = Some(model);
                        continue;
                    };
                    tracing::debug!(fold = f, seconds = started.elapsed().as_secs_f64(), "gbdt fold starts");
                    let (inside, held): (Vec<usize>, Vec<usize>) = (0..rows.len()).partition(|&i| fold[i] != f);
                    let model = boost(
                        &binned.select(&inside),
                        &pick(labels, &inside),
                        features,
                        Some(&binned.select(&held)),
                        checkpoints,
                        opts,
                        &Pace::new(opts.max_trees, per_job),
                        seed.wrapping_add(f as u64 + 1),
                    );
                    // The receiver outlives the jobs.
                    let _ = sender.send((held, model.held));
                }
            });
        }
        drop(sender);
        for f in 0..opts.folds {
            let (held, scores) = results.recv().expect("every fold reports, or its panic ends the scope");
            for (c, p) in scores.into_iter().enumerate() {
                for (i, v) in held.iter().zip(p) {
                    raw[c][*i] = v;
                }
            }
            tracing::debug!(folds = f + 1, seconds = started.elapsed().as_secs_f64(), "gbdt fold fitted");
        }
        let ap: Vec<f64> = raw.iter().map(|r| average_precision(r, labels)).collect();
        // The best checkpoint; a tie goes to fewer trees.
        let best = (0..ap.len()).fold(0, |b, c| if ap[c] > ap[b] { c } else { b });
        pace.finish(checkpoints[best], opts.threads);
        tracing::debug!(
            trees = checkpoints[best],
            out_of_fold_auprc = ap[best],
            seconds = started.elapsed().as_secs_f64(),
            "gbdt early stopping"
        );
        (ap, best)
    });
    let best = trees;
    let trees = checkpoints[best];
    let oof: Vec<f64> = raw[best].iter().map(|r| sigmoid(*r)).collect();
    let mut model = final_model.into_inner().unwrap_or_else(|e| e.into_inner()).expect("the final model was fitted");
    model.trees.truncate(trees);
    let mut params = tree_params(&model, &features, &binned, opts.threads);
    params.origin = json!({
        "trainer": "fraud histogram gbdt",
        "max_trees": opts.max_trees,
        "trees": trees,
        "learning_rate": opts.learning_rate,
        "max_depth": opts.max_depth,
        "min_hessian": opts.min_hessian,
        "l2": opts.l2,
        "subsample": opts.subsample,
        "colsample": opts.colsample,
        "bins": opts.bins,
        "folds": opts.folds,
        "seed": seed,
        "categorical_features": (0..categorical.len()).filter(|&j| categorical[j]).collect::<Vec<_>>(),
        "max_cat_to_onehot": opts.max_cat_to_onehot,
        "max_cat_threshold": opts.max_cat_threshold,
        "cat_l2": opts.cat_l2,
        "cat_smooth": opts.cat_smooth,
        "min_data_per_group": opts.min_data_per_group,
        "cat_min_data_in_leaf": opts.cat_min_data_in_leaf,
        "out_of_fold_auprc_by_trees": checkpoints.iter().zip(&ap).map(|(t, a)| json!([t, a])).collect::<Vec<_>>(),
    });
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "gbdt fitted");
    Ok(Boosted { params, oof, trees })
}

/// Settings the fit cannot work with, and inputs that do not line up.
fn check(
    x: &Array2<f64>,
    categorical: &[bool],
    rows: &[usize],
    labels: &[bool],
    opts: &BoostOptions,
) -> Result<(), BoostError> {
    let fail = |what: String| Err(BoostError::Settings(what));
    if opts.folds < 2 {
        return fail("gbdt needs at least 2 folds (--threshold-folds) for early stopping".into());
    }
    if categorical.len() != x.ncols() {
        return fail(format!("{} categorical flags for {} features", categorical.len(), x.ncols()));
    }
    if rows.len() != labels.len() || rows.iter().any(|&r| r >= x.nrows()) {
        return fail(format!("{} rows and {} labels, of {} rows", rows.len(), labels.len(), x.nrows()));
    }
    if x.ncols() == 0 || x.ncols() > usize::from(u16::MAX) {
        return fail(format!("{} features: trees take 1 to {}", x.ncols(), u16::MAX));
    }
    if !(2..=bins::MAX_BINS).contains(&usize::from(opts.bins)) {
        return fail(format!("{} bins: features are binned into 2 to {}", opts.bins, bins::MAX_BINS));
    }
    let share = |v: f64| v > 0.0 && v <= 1.0;
    if !(share(opts.subsample) && share(opts.colsample)) {
        return fail("subsample and colsample must be in (0, 1]".into());
    }
    if !(opts.learning_rate > 0.0 && opts.learning_rate.is_finite()) || opts.max_trees == 0 {
        return fail("gbdt needs a positive learning rate and at least one tree".into());
    }
    let non_negative = |v: f64| v.is_finite() && v >= 0.0;
    if ![opts.l2, opts.min_hessian, opts.cat_l2, opts.cat_smooth].into_iter().all(non_negative) {
        return fail("l2, min_hessian, cat_l2 and cat_smooth must be numbers >= 0".into());
    }
    Ok(())
}

fn pick<T: Copy>(values: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| values[i]).collect()
}

/// A fit on binned rows as our trees, each node's cover counted by routing `binned`, the rows it
/// was fitted on, through it (the binned trees and ours send every training row the same way).
fn tree_params(model: &BinModel, features: &[FeatureBins], binned: &Binned, threads: usize) -> TreeParams {
    let mut trees: Vec<_> = model.trees.iter().map(|t| t.to_tree(features)).collect();
    // Trees are counted side by side, each on one thread.
    boost::in_shares(&mut trees, threads, 2, |start, share| {
        for (bin_tree, tree) in model.trees[start..].iter().zip(share) {
            bin_tree.walk().for_each(binned, binned.rows, |r| r, |_, leaf| tree.leaf_count[leaf] += 1.0);
            tree.sum_internal_counts();
        }
    });
    TreeParams { base_score: model.base_score, sigmoid: 1.0, trees, origin: serde_json::Value::Null }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trees::Tree;
    use crate::schema::{Feature, Schema};
    use rand::{Rng, SeedableRng};

    /// Rows of four numeric features (two with missing values) and one categorical (30 codes,
    /// some missing, negative or rare), the label depending on all of them.
    fn mixed(n: usize, seed: u64) -> (Array2<f64>, Vec<bool>, Vec<bool>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut x = Array2::<f64>::zeros((n, 5));
        let risky = [3.0, 11.0, 17.0, 29.0];
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            for j in 0..4 {
                x[[i, j]] = rng.gen_range(-2.0..2.0);
            }
            x[[i, 3]] = (x[[i, 3]] * 4.0).round() / 4.0; // ties
            if i % 11 == 0 {
                x[[i, 1]] = f64::NAN;
            }
            if i % 7 == 0 {
                x[[i, 2]] = f64::NAN;
            }
            x[[i, 4]] = match i % 97 {
                0 => f64::NAN,
                1 => -1.0,
                2 => 1000.0 + i as f64, // seen once: rare
                _ => f64::from(rng.gen_range(0..30)),
            };
            let b = if x[[i, 1]].is_nan() { 1.0 } else { x[[i, 1]] };
            let c = if risky.contains(&x[[i, 4]]) { 1.5 } else { 0.0 };
            labels.push(x[[i, 0]] + 0.5 * b - x[[i, 2]].max(-1.0) + c + rng.gen_range(-0.7..0.7) > 1.8);
        }
        (x, labels, vec![false, false, false, false, true])
    }

    fn small_opts() -> BoostOptions {
        BoostOptions {
            max_trees: 30,
            max_depth: 4,
            learning_rate: 0.2,
            subsample: 0.8,
            colsample: 0.8,
            min_data_per_group: 20,
            ..Default::default()
        }
    }

    /// The conversion is exact: every tree sends every training row to the same leaf on the
    /// values as the binned tree did on the bins, so the stored model scores the training rows
    /// exactly as the boosting loop did; and the covers are those rows' counts.
    #[test]
    fn converted_trees_score_training_rows_as_the_binned_model() {
        let (x, labels, categorical) = mixed(3000, 1);
        let rows: Vec<usize> = (0..x.nrows()).collect();
        let opts = small_opts();
        let (features, binned) = bins::bin(&x, &categorical, &rows, 256, 2);
        let model = boost(&binned, &labels, &features, None, &[], &opts, &Pace::new(opts.max_trees, 2), 9);
        let params = tree_params(&model, &features, &binned, 1);
        assert!(params.trees.iter().any(Tree::has_categorical), "some categorical splits");
        assert!(params.trees.iter().any(|t| t.categorical.contains(&false)), "and numeric ones");
        let mut worst: f64 = 0.0;
        for r in rows {
            let row = x.row(r).to_vec();
            for (bin_tree, tree) in model.trees.iter().zip(&params.trees) {
                assert_eq!(tree.leaf(&row), bin_tree.leaf(binned.row(r)), "row {r}");
            }
            worst = worst.max((params.raw_reference(&row) - model.raw[r]).abs());
        }
        assert!(worst < 1e-12, "largest difference from the binned model's scores: {worst:e}");
        for tree in &params.trees {
            assert_eq!(tree.leaf_count.iter().sum::<f64>(), x.nrows() as f64);
            assert!(tree.internal_count.first().is_none_or(|&c| c == x.nrows() as f64));
        }
    }

    /// A stump on one feature whose missing rows behave like its high values learns to send
    /// missing values right, and left when they behave like its low values.
    #[test]
    fn missing_values_go_the_learned_way() {
        for missing_like_high in [true, false] {
            let n = 2000;
            let x = Array2::from_shape_fn((n, 1), |(i, _)| if i % 5 == 0 { f64::NAN } else { (i % 100) as f64 });
            let labels: Vec<bool> =
                (0..n).map(|i| if i % 5 == 0 { missing_like_high } else { i % 100 >= 70 }).collect();
            let rows: Vec<usize> = (0..n).collect();
            let opts = BoostOptions { max_depth: 1, subsample: 1.0, colsample: 1.0, ..Default::default() };
            let (features, binned) = bins::bin(&x, &[false], &rows, 256, 1);
            let model = boost(&binned, &labels, &features, None, &[], &opts, &Pace::new(1, 1), 1);
            let tree = &tree_params(&model, &features, &binned, 1).trees[0];
            // 70 itself is missing (a multiple of 5): the cut lies halfway between 69 and 71.
            assert_eq!(tree.threshold[0], 70.0);
            assert_eq!(tree.default_left[0], !missing_like_high);
            let high = tree.leaf(&[99.0]);
            assert_eq!(tree.leaf(&[f64::NAN]) == high, missing_like_high);
        }
    }

    /// The same seed gives the same model, trees, threshold scores and all, whatever the number
    /// of threads (which changes how folds run and how histograms are shared out); another seed
    /// gives another model.
    #[test]
    fn same_seed_same_model_whatever_the_threads() {
        let (x, labels, categorical) = mixed(3000, 2);
        let rows: Vec<usize> = (0..x.nrows()).collect();
        let fit_with = |threads: usize, seed: u64| {
            let opts = BoostOptions { threads, ..small_opts() };
            fit(&x, &categorical, &rows, &labels, &opts, seed).unwrap()
        };
        let one = fit_with(1, 5);
        for threads in [2, 3] {
            let other = fit_with(threads, 5);
            assert_eq!(one.trees, other.trees);
            assert_eq!(one.oof, other.oof);
            assert_eq!(one.params.trees, other.params.trees, "{threads} threads");
            assert_eq!(one.params.base_score, other.params.base_score);
        }
        assert_ne!(one.params.trees, fit_with(2, 6).params.trees);
        let codes = (0..1000 + x.nrows()).map(|c| c.to_string()).collect();
        let mut features: Vec<Feature> = (0..4).map(|j| Feature::numeric(&format!("x{j}"))).collect();
        features.push(Feature::categorical("c", codes));
        one.params.check(&Schema::new(features, "label", None, None).unwrap()).unwrap();
    }

    /// The categorical search reproduces LightGBM 4.7.0's own root split: 12 categories of
    /// distinct frequencies with NaN in some rows, the data built by the same formulas in
    /// `lgb.train({"objective": "binary", "num_leaves": 2, "learning_rate": 0.1,
    /// "lambda_l2": 0})` (its other settings default), which wrote `cat_threshold=2662`
    /// (categories {1, 2, 5, 6, 9, 11} left) and the leaf values below (the first tree's leaves
    /// include the starting log-odds). The leaf values include `cat_l2`, as LightGBM's do;
    /// LightGBM's single-precision gradients limit the agreement to about 1e-7.
    #[test]
    fn categorical_root_split_is_lightgbms() {
        let n = 3000u64;
        let weights: Vec<u64> = (0..12).map(|c| 30 + 7 * c).collect();
        let rate = [50, 400, 300, 100, 20, 250, 600, 80, 150, 350, 10, 500];
        let cum: Vec<u64> = weights
            .iter()
            .scan(0, |s, w| {
                *s += w;
                Some(*s)
            })
            .collect();
        let (mut x, mut labels) = (Array2::<f64>::zeros((n as usize, 1)), Vec::new());
        for i in 0..n {
            let v = (i * 40503 + 12345) % 65536 % cum[11];
            let c = cum.iter().position(|&s| s > v).unwrap();
            let u = (i * 2654435761) % (1 << 32) % 1000;
            labels.push(u < rate[c]);
            x[[i as usize, 0]] = if i % 17 == 0 { f64::NAN } else { c as f64 };
        }
        assert_eq!(labels.iter().filter(|l| **l).count(), 743, "the data LightGBM saw");
        let rows: Vec<usize> = (0..n as usize).collect();
        let opts = BoostOptions {
            max_depth: 1,
            learning_rate: 0.1,
            l2: 0.0,
            min_hessian: 1e-3,
            subsample: 1.0,
            colsample: 1.0,
            ..Default::default()
        };
        let (features, binned) = bins::bin(&x, &[true], &rows, 256, 1);
        let model = boost(&binned, &labels, &features, None, &[], &opts, &Pace::new(1, 1), 1);
        let params = tree_params(&model, &features, &binned, 1);
        let tree = &params.trees[0];
        assert_eq!(tree.categorical, [true]);
        assert_eq!(tree.cat_threshold, [2662]);
        assert_eq!(tree.left_codes(0), [1, 2, 5, 6, 9, 11]);
        assert_eq!(tree.leaf_count, [1437.0, 1563.0]);
        for (ours, theirs) in tree.leaf_value.iter().zip([-1.0214107088873154, -1.1937908818950638]) {
            let ours = params.base_score + ours;
            assert!((ours - theirs).abs() < 1e-6 * theirs.abs(), "{ours} vs LightGBM's {theirs}");
        }
    }

    /// The point of categorical splits: when the fraud rate depends on the category (codes
    /// 0..49, the risky fifth scattered among them), the trees split on categories and score
    /// held-out rows better than the same trainer reading the codes as numbers, with as many
    /// trees. Means over four draws of the data: one draw alone is noisy.
    #[test]
    fn categorical_splits_beat_codes_read_as_numbers() {
        let draws = 4;
        let (mut auprc, mut log_loss, mut nodes) = ([0.0; 2], [0.0; 2], 0);
        for seed in 0..draws {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let rate: Vec<f64> =
                (0..50).map(|_| if rng.gen_bool(0.2) { rng.gen_range(0.05..0.3) } else { 0.005 }).collect();
            let n = 20_000;
            let mut x = Array2::<f64>::zeros((n, 3));
            let mut labels = Vec::with_capacity(n);
            for i in 0..n {
                let c = rng.gen_range(0..50);
                x[[i, 0]] = c as f64;
                x[[i, 1]] = rng.gen_range(-1.0..1.0);
                x[[i, 2]] = rng.gen_range(-1.0..1.0);
                labels.push(rng.gen_bool(rate[c] * (1.0 + x[[i, 1]]).max(0.2)));
            }
            let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 3 != 0);
            let (train_labels, test_labels) = (pick(&labels, &train), pick(&labels, &test));
            // Every feature in every tree: with three features, sampling would leave the
            // category out of most trees.
            let opts = BoostOptions { max_depth: 3, colsample: 1.0, ..Default::default() };
            for (k, categorical) in [true, false].into_iter().enumerate() {
                let (features, binned) = bins::bin(&x, &[categorical, false, false], &train, 256, 1);
                let model = boost(&binned, &train_labels, &features, None, &[], &opts, &Pace::new(60, 1), 1);
                let params = tree_params(&model, &features, &binned, 1);
                let raw: Vec<f64> = test.iter().map(|&i| params.raw_reference(&x.row(i).to_vec())).collect();
                auprc[k] += average_precision(&raw, &test_labels) / draws as f64;
                let loss: f64 =
                    raw.iter().zip(&test_labels).map(|(r, &y)| (1.0 + (if y { -r } else { *r }).exp()).ln()).sum();
                log_loss[k] += loss / raw.len() as f64 / draws as f64;
                if categorical {
                    nodes += params.trees.iter().map(|t| t.categorical.iter().filter(|c| **c).count()).sum::<usize>();
                }
            }
        }
        println!(
            "held-out AUPRC {:.4} as categories, {:.4} as numbers; log loss {:.5} and {:.5}; {nodes} categorical nodes in {} trees",
            auprc[0],
            auprc[1],
            log_loss[0],
            log_loss[1],
            60 * draws
        );
        assert!(nodes > 60 * draws as usize, "categorical splits in most trees: {nodes}");
        assert!(auprc[0] > auprc[1] && log_loss[0] < log_loss[1], "{auprc:?} {log_loss:?}");
    }
}
