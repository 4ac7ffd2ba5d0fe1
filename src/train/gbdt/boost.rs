//! The boosting loop on binned rows: log-loss gradients, each tree on its own seeded sample of
//! rows and features, every row's raw score carried from tree to tree, and the raw scores of
//! held-out rows at each checkpoint for early stopping.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::BoostOptions;
use super::bins::{Binned, FeatureBins};
use super::grow::Grower;
use super::split::{Gh, Rules};
use super::tree::BinTree;

/// A hessian is never below this: a row the model is sure of must not divide by zero.
const MIN_ROW_HESSIAN: f64 = 1e-16;

/// A fit on binned rows.
pub struct BinModel {
    pub base_score: f64,
    pub trees: Vec<BinTree>,
    /// The held-out rows' raw scores after `checkpoints[c]` trees, for each `c`.
    pub held: Vec<Vec<f64>>,
    /// The training rows' raw scores with every tree.
    #[cfg_attr(not(test), allow(dead_code))]
    pub raw: Vec<f64>,
}

/// Fits `trees` trees on `binned` (labels aligned), scoring `held` at each checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn boost(
    binned: &Binned,
    labels: &[bool],
    features: &[FeatureBins],
    held: Option<&Binned>,
    checkpoints: &[usize],
    opts: &BoostOptions,
    trees: usize,
    seed: u64,
    threads: usize,
) -> BinModel {
    let n = binned.rows;
    let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
    // The training prior's log-odds, kept finite if a class is absent.
    let prior = (y.iter().sum::<f64>() / n.max(1) as f64).clamp(1e-15, 1.0 - 1e-15);
    let base_score = (prior / (1.0 - prior)).ln();
    let mut raw = vec![base_score; n];
    let mut held_raw = vec![base_score; held.map_or(0, |h| h.rows)];
    let mut held_at = Vec::with_capacity(checkpoints.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut grower = Grower::new(binned, features, Rules::from(opts), opts.max_depth, opts.learning_rate, threads);
    let mut gh: Vec<Gh> = vec![[0.0, 0.0]; n];
    let mut rows: Vec<u32> = Vec::with_capacity(n);
    let mut unsampled: Vec<u32> = Vec::with_capacity(n);
    let width = features.len();
    // Rounded down, as forust did when the defaults were tuned.
    let take = ((opts.colsample * width as f64).floor() as usize).clamp(1, width.max(1));
    // A row is sampled when a uniform 32-bit draw falls below this.
    let below = (opts.subsample * 4_294_967_296.0) as u64;
    let mut out = Vec::with_capacity(trees);
    for t in 0..trees {
        rows.clear();
        unsampled.clear();
        for r in 0..n as u32 {
            if opts.subsample >= 1.0 || u64::from(rng.next_u32()) < below {
                rows.push(r);
            } else {
                unsampled.push(r);
            }
        }
        let mut columns = if take < width {
            rand::seq::index::sample(&mut rng, width, take).into_vec()
        } else {
            (0..width).collect()
        };
        columns.sort_unstable();
        for &r in &rows {
            let r = r as usize;
            let p = 1.0 / (1.0 + (-raw[r]).exp());
            gh[r] = [p - y[r], (p * (1.0 - p)).max(MIN_ROW_HESSIAN)];
        }
        let grown = grower.grow(&mut rows, &gh, &columns);
        let tree = grown.tree;
        for (range, leaf) in grown.leaves {
            let value = tree.leaf_value[leaf];
            for &r in &rows[range] {
                raw[r as usize] += value;
            }
        }
        let walk = tree.walk();
        walk.for_each(
            binned,
            unsampled.len(),
            |i| unsampled[i] as usize,
            |i, leaf| {
                raw[unsampled[i] as usize] += tree.leaf_value[leaf];
            },
        );
        if let Some(held) = held {
            walk.for_each(held, held.rows, |i| i, |i, leaf| held_raw[i] += tree.leaf_value[leaf]);
            if checkpoints.contains(&(t + 1)) {
                held_at.push(held_raw.clone());
            }
        }
        out.push(tree);
    }
    BinModel { base_score, trees: out, held: held_at, raw }
}

impl From<&BoostOptions> for Rules {
    fn from(o: &BoostOptions) -> Self {
        Rules {
            l2: o.l2,
            min_hessian: o.min_hessian,
            max_cat_to_onehot: o.max_cat_to_onehot,
            max_cat_threshold: o.max_cat_threshold,
            cat_l2: o.cat_l2,
            cat_smooth: o.cat_smooth,
            min_data_per_group: o.min_data_per_group,
            min_data_in_leaf: o.cat_min_data_in_leaf,
        }
    }
}
