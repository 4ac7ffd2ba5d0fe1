//! Fitting gradient-boosted trees (`fraud train --model gbdt`) with forust-ml, XGBoost's
//! histogram algorithm in Rust, and turning the result into our trees (LightGBM's layout).
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
//! Deterministic for a given seed: the folds and forust's row and column sampling are seeded,
//! and forust builds each feature's histogram on one thread.

use std::time::Instant;

use forust_ml::Matrix;
use forust_ml::gradientbooster::GradientBooster;
use forust_ml::objective::ObjectiveType;
use forust_ml::sampler::SampleMethod;
use ndarray::Array2;
use serde_json::json;

use crate::metrics::average_precision;
use crate::model::sigmoid;
use crate::model::tree_eval::Compiled;
use crate::model::trees::{Missing, Tree, TreeParams};
#[cfg(test)]
use crate::schema::N_FEATURES;
use crate::train::split::stratified_folds;

/// Trees between two early-stopping checkpoints.
pub const CHECKPOINT: usize = 10;

/// The trainer's settings. The defaults were chosen on the ULB data set, on splits kept apart
/// from the benchmark's (docs/design.md). `min_hessian` 1 and `l2` 1: with the libraries'
/// default minimum hessian (1e-3) and so few positives, leaves with tiny hessians take huge
/// values.
#[derive(Debug, Clone, PartialEq)]
pub struct BoostOptions {
    /// The most trees; early stopping may keep fewer.
    pub max_trees: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    /// Smallest sum of hessians in a leaf (XGBoost's min_child_weight).
    pub min_hessian: f64,
    /// L2 regularisation of leaf values (XGBoost's lambda).
    pub l2: f64,
    /// Share of rows sampled for each tree.
    pub subsample: f64,
    /// Share of features sampled for each tree.
    pub colsample: f64,
    /// Histogram bins per feature.
    pub bins: u16,
    /// Folds for early stopping and the threshold.
    pub folds: usize,
    pub threads: usize,
}

impl Default for BoostOptions {
    fn default() -> Self {
        Self {
            max_trees: 300,
            learning_rate: 0.05,
            max_depth: 5,
            min_hessian: 1.0,
            l2: 1.0,
            subsample: 0.7,
            colsample: 0.5,
            bins: 256,
            folds: 3,
            threads: 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BoostError {
    #[error("forust-ml: {0}")]
    Forust(#[from] forust_ml::errors::ForustError),
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

/// One fold's outcome: its held-out rows and their raw scores at each checkpoint.
type FoldFit = Result<(Vec<usize>, Vec<Vec<f64>>), BoostError>;

/// Fits on the rows `rows` of `x` (n × N_FEATURES), labels aligned with `rows`.
pub fn fit(
    x: &Array2<f64>,
    rows: &[usize],
    labels: &[bool],
    opts: &BoostOptions,
    seed: u64,
) -> Result<Boosted, BoostError> {
    if opts.folds < 2 {
        return Err(BoostError::Settings("gbdt needs at least 2 folds (--threshold-folds) for early stopping".into()));
    }
    let started = Instant::now();
    let fold = stratified_folds(labels, opts.folds, seed);
    let checkpoints: Vec<usize> =
        (1..=opts.max_trees.div_ceil(CHECKPOINT)).map(|c| (c * CHECKPOINT).min(opts.max_trees)).collect();
    // raw[c][i]: training row i's out-of-fold raw score with the first checkpoints[c] trees.
    let mut raw = vec![vec![0.0; rows.len()]; checkpoints.len()];
    // Folds run side by side, one thread each, as many at once as there are threads: forust
    // gains little from a second thread on one fold.
    let fold_ids: Vec<usize> = (0..opts.folds).collect();
    for batch in fold_ids.chunks(opts.threads.max(1)) {
        let threads = (opts.threads / batch.len()).max(1);
        let fitted: Vec<FoldFit> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&f| {
                    let fold = &fold;
                    let checkpoints = &checkpoints;
                    s.spawn(move || {
                        let (inside, held): (Vec<usize>, Vec<usize>) = (0..rows.len()).partition(|&i| fold[i] != f);
                        let opts = BoostOptions { threads, ..opts.clone() };
                        let trees = fit_forust(
                            x,
                            &pick(rows, &inside),
                            &pick(labels, &inside),
                            &opts,
                            opts.max_trees,
                            seed.wrapping_add(f as u64 + 1),
                        )?;
                        Ok((held.clone(), checkpoint_scores(&trees, x, &pick(rows, &held), checkpoints)))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        });
        for result in fitted {
            let (held, scores) = result?;
            for (c, p) in scores.into_iter().enumerate() {
                for (i, v) in held.iter().zip(p) {
                    raw[c][*i] = v;
                }
            }
        }
        tracing::debug!(folds = ?batch, seconds = started.elapsed().as_secs_f64(), "gbdt folds fitted");
    }
    let ap: Vec<f64> = raw.iter().map(|r| average_precision(r, labels)).collect();
    // The best checkpoint; a tie goes to fewer trees.
    let best = (0..ap.len()).fold(0, |b, c| if ap[c] > ap[b] { c } else { b });
    let trees = checkpoints[best];
    tracing::debug!(
        trees,
        out_of_fold_auprc = ap[best],
        seconds = started.elapsed().as_secs_f64(),
        "gbdt early stopping"
    );
    let oof: Vec<f64> = raw[best].iter().map(|r| sigmoid(*r)).collect();

    let mut params = fit_forust(x, rows, labels, opts, trees, seed)?;
    count_cover(&mut params, x, rows);
    params.origin = json!({
        "trainer": "forust-ml 0.8",
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
        "out_of_fold_auprc_by_trees": checkpoints.iter().zip(&ap).map(|(t, a)| json!([t, a])).collect::<Vec<_>>(),
    });
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "gbdt fitted");
    Ok(Boosted { params, oof, trees })
}

fn pick<T: Copy>(values: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| values[i]).collect()
}

/// One forust fit of `trees` trees on the rows `rows` of `x`, as our trees.
fn fit_forust(
    x: &Array2<f64>,
    rows: &[usize],
    labels: &[bool],
    opts: &BoostOptions,
    trees: usize,
    seed: u64,
) -> Result<TreeParams, BoostError> {
    // forust takes the features column-major.
    let (n, width) = (rows.len(), x.ncols());
    let mut data = vec![0.0; n * width];
    for (r, &i) in rows.iter().enumerate() {
        for (j, v) in x.row(i).iter().enumerate() {
            data[j * n + r] = *v;
        }
    }
    let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
    let weights = vec![1.0; n];
    let sample = if opts.subsample < 1.0 { SampleMethod::Random } else { SampleMethod::None };
    let mut booster = GradientBooster::default()
        .set_objective_type(ObjectiveType::LogLoss)
        .set_iterations(trees)
        .set_learning_rate(opts.learning_rate as f32)
        .set_max_depth(opts.max_depth)
        .set_min_leaf_weight(opts.min_hessian as f32)
        .set_l2(opts.l2 as f32)
        .set_subsample(opts.subsample as f32)
        .set_sample_method(sample)
        .set_colsample_bytree(opts.colsample)
        .set_nbins(opts.bins)
        .set_seed(seed)
        .set_num_threads(Some(opts.threads))
        .set_initialize_base_score(true);
    booster.fit(&Matrix::new(&data, n, width), &y, &weights, None)?;
    as_tree_params(&booster)
}

/// A fitted forust booster as our trees.
fn as_tree_params(booster: &GradientBooster) -> Result<TreeParams, BoostError> {
    let trees = booster.trees.iter().map(convert).collect::<Result<Vec<_>, _>>()?;
    Ok(TreeParams { base_score: booster.base_score, sigmoid: 1.0, trees, origin: serde_json::Value::Null })
}

/// A forust tree in LightGBM's layout. forust sends a row left when `x < split_value`;
/// `x <= prev(split_value)`, the largest double below it, decides the same for every `x`.
fn convert(tree: &forust_ml::tree::Tree) -> Result<Tree, BoostError> {
    let nodes = &tree.nodes;
    if nodes.first().is_none_or(|n| n.is_leaf) {
        let value = nodes.first().map_or(0.0, |n| f64::from(n.weight_value));
        return Ok(Tree::constant(value, 0.0));
    }
    let mut out = Tree::constant(0.0, 0.0);
    out.leaf_value.clear();
    out.leaf_count.clear();
    // Depth first from the root, numbering internal nodes and leaves as they are met.
    fn visit(tree: &forust_ml::tree::Tree, i: usize, out: &mut Tree) -> Result<i32, BoostError> {
        let node = tree
            .nodes
            .get(i)
            .ok_or_else(|| BoostError::Settings(format!("forust tree names node {i}, which it lacks")))?;
        if node.is_leaf {
            out.leaf_value.push(f64::from(node.weight_value));
            out.leaf_count.push(0.0);
            return Ok(!(out.leaf_value.len() as i32 - 1));
        }
        let me = out.split_feature.len();
        out.split_feature.push(node.split_feature as u16);
        out.threshold.push(node.split_value.next_down());
        out.missing.push(Missing::Nan);
        out.default_left.push(node.missing_node == node.left_child);
        out.left_child.push(0);
        out.right_child.push(0);
        out.internal_count.push(0.0);
        let left = visit(tree, node.left_child, out)?;
        let right = visit(tree, node.right_child, out)?;
        out.left_child[me] = left;
        out.right_child[me] = right;
        Ok(me as i32)
    }
    visit(tree, 0, &mut out)?;
    Ok(out)
}

/// The raw scores of `rows` with the first `n` trees, for each `n` in `checkpoints`.
fn checkpoint_scores(params: &TreeParams, x: &Array2<f64>, rows: &[usize], checkpoints: &[usize]) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(checkpoints.len());
    let mut running = vec![params.base_score; rows.len()];
    let mut from = 0;
    for &to in checkpoints {
        let chunk = TreeParams {
            base_score: 0.0,
            sigmoid: 1.0,
            trees: params.trees[from..to].to_vec(),
            origin: serde_json::Value::Null,
        };
        let scorer = Compiled::new(&chunk, x.ncols());
        for (r, &i) in running.iter_mut().zip(rows) {
            *r += scorer.raw(&row_of(x, i));
        }
        out.push(running.clone());
        from = to;
    }
    out
}

fn row_of(x: &Array2<f64>, i: usize) -> Vec<f64> {
    x.row(i).to_vec()
}

/// Counts the training rows reaching each leaf and node: TreeSHAP's cover.
fn count_cover(params: &mut TreeParams, x: &Array2<f64>, rows: &[usize]) {
    let scorer = Compiled::new(params, x.ncols());
    for &i in rows {
        scorer.for_each_leaf(&row_of(x, i), |t, l| params.trees[t].leaf_count[l] += 1.0);
    }
    for tree in &mut params.trees {
        tree.sum_internal_counts();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Regression guard for the conversion: our trees, from forust's, score every row as forust
    /// itself does (raw log-odds): by the reference walk with missing values too, by the fast
    /// scorer on the finite rows it takes.
    #[test]
    fn converted_trees_score_every_row_as_forust_does() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let n = 800;
        let mut x = Array2::<f64>::zeros((n, N_FEATURES));
        for v in x.iter_mut() {
            *v = rng.gen_range(-2.0..2.0);
        }
        // Missing values in two of the features the label depends on.
        for i in (0..n).step_by(13) {
            x[[i, 1]] = f64::NAN;
        }
        for i in (0..n).step_by(17) {
            x[[i, 2]] = f64::NAN;
        }
        let labels: Vec<bool> = (0..n)
            .map(|i| {
                let (a, b, c) = (x[[i, 0]], x[[i, 1]], x[[i, 2]]);
                a + 0.5 * if b.is_nan() { 1.0 } else { b } - c.max(-1.0) + rng.gen_range(-0.5..0.5) > 1.5
            })
            .collect();
        let opts = BoostOptions {
            max_trees: 40,
            max_depth: 4,
            subsample: 0.8,
            colsample: 0.8,
            threads: 1,
            ..Default::default()
        };
        let mut data = vec![0.0; n * N_FEATURES];
        for i in 0..n {
            for j in 0..N_FEATURES {
                data[j * n + i] = x[[i, j]];
            }
        }
        let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
        let mut booster = GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(opts.max_trees)
            .set_learning_rate(0.1)
            .set_max_depth(opts.max_depth)
            .set_min_leaf_weight(opts.min_hessian as f32)
            .set_subsample(opts.subsample as f32)
            .set_sample_method(SampleMethod::Random)
            .set_colsample_bytree(opts.colsample)
            .set_seed(3)
            .set_num_threads(Some(1))
            .set_initialize_base_score(true);
        let matrix = Matrix::new(&data, n, N_FEATURES);
        booster.fit(&matrix, &y, &vec![1.0; n], None).unwrap();
        let theirs = booster.predict(&matrix, false);
        let params = as_tree_params(&booster).unwrap();
        let fast = Compiled::new(&params, N_FEATURES);
        let (mut worst, mut finite) = (0.0f64, 0);
        for (i, theirs) in theirs.iter().enumerate() {
            let row: Vec<f64> = x.row(i).to_vec();
            worst = worst.max((params.raw_reference(&row) - theirs).abs());
            // The fast scorer takes finite rows only: the readers reject the rest.
            if row.iter().all(|v| v.is_finite()) {
                worst = worst.max((fast.raw(&row) - theirs).abs());
                finite += 1;
            }
        }
        // forust adds its f32 leaf weights in f64 in the same order as we do.
        assert!(worst < 1e-12, "largest difference from forust's own predictions: {worst:e}");
        assert!(finite > n / 2 && finite < n, "{finite} finite rows of {n}");
        assert!(params.trees.len() >= 10, "{} trees: too few to test much", params.trees.len());
    }

    #[test]
    fn the_forust_split_rule_becomes_lightgbms() {
        for t in [0.5f64, -0.5, 0.0, -0.0, 1e-300, 3.0, f64::MIN_POSITIVE] {
            for x in [t.next_down().next_down(), t.next_down(), t, t.next_up(), -1.0, 1.0] {
                assert_eq!(x < t, x <= t.next_down(), "x {x:e}, split {t:e}");
            }
        }
    }
}
