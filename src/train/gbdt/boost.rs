//! The boosting loop on binned rows: log-loss gradients, each tree on its own seeded sample of
//! rows and features, every row's raw score carried from tree to tree, and the raw scores of
//! held-out rows at each checkpoint for early stopping.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::bins::{Binned, FeatureBins};
use super::grow::Grower;
use super::options::BoostOptions;
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

/// How many trees a fit makes, and on how many threads, both of which may change while it runs
/// (neither changes a tree).
pub struct Pace {
    trees: AtomicUsize,
    threads: AtomicUsize,
}

impl Pace {
    pub fn new(trees: usize, threads: usize) -> Self {
        Pace { trees: AtomicUsize::new(trees), threads: AtomicUsize::new(threads.max(1)) }
    }

    /// Stop at `trees` (or now, if past them), and use `threads` from the next tree on.
    pub fn finish(&self, trees: usize, threads: usize) {
        self.trees.store(trees, Ordering::Relaxed);
        self.threads.store(threads.max(1), Ordering::Relaxed);
    }
}

/// Fits trees on `binned` (labels aligned) until `pace` says stop, scoring `held` at each
/// checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn boost(
    binned: &Binned,
    labels: &[bool],
    features: &[FeatureBins],
    held: Option<&Binned>,
    checkpoints: &[usize],
    opts: &BoostOptions,
    pace: &Pace,
    seed: u64,
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
    let mut grower = Grower::new(binned, features, Rules::from(opts), opts.max_depth, opts.learning_rate);
    let mut gh: Vec<Gh> = vec![[0.0, 0.0]; n];
    let mut rows: Vec<u32> = vec![0; n];
    let mut unsampled: Vec<u32> = vec![0; n];
    let mut delta: Vec<f64> = vec![0.0; n];
    let width = features.len();
    // Rounded down, as forust did when the defaults were tuned.
    let take = ((opts.colsample * width as f64).floor() as usize).clamp(1, width.max(1));
    // A row is sampled when a uniform 32-bit draw falls below this.
    let below = (opts.subsample * 4_294_967_296.0) as u64;
    let mut out = Vec::new();
    for t in 0.. {
        if t >= pace.trees.load(Ordering::Relaxed) {
            break;
        }
        let threads = pace.threads.load(Ordering::Relaxed);
        // Each row is written to both lists and only its list's length moves: no branch on
        // the draw, which would be mispredicted about as often as rows are left out.
        let (mut kept, mut left_out) = (0, 0);
        for r in 0..n as u32 {
            let keep = usize::from(opts.subsample >= 1.0 || u64::from(rng.next_u32()) < below);
            rows[kept] = r;
            unsampled[left_out] = r;
            kept += keep;
            left_out += 1 - keep;
        }
        let mut columns = if take < width {
            rand::seq::index::sample(&mut rng, width, take).into_vec()
        } else {
            (0..width).collect()
        };
        columns.sort_unstable();
        for &r in &rows[..kept] {
            let r = r as usize;
            let p = 1.0 / (1.0 + (-raw[r]).exp());
            gh[r] = [p - y[r], (p * (1.0 - p)).max(MIN_ROW_HESSIAN)];
        }
        let (rows, unsampled) = (&mut rows[..kept], &unsampled[..left_out]);
        let grown = grower.grow(rows, &gh, &columns, threads);
        let tree = grown.tree;
        for (range, leaf) in grown.leaves {
            let value = tree.leaf_value[leaf];
            for &r in &rows[range] {
                raw[r as usize] += value;
            }
        }
        // The rows the tree did not see are walked, side by side in contiguous shares.
        let walk = tree.walk();
        let values = &tree.leaf_value;
        let delta = &mut delta[..unsampled.len()];
        in_shares(delta, threads, PARALLEL_ROWS, |start, out| {
            walk.for_each(binned, out.len(), |i| unsampled[start + i] as usize, |i, leaf| out[i] = values[leaf]);
        });
        for (&r, d) in unsampled.iter().zip(delta.iter()) {
            raw[r as usize] += d;
        }
        if let Some(held) = held {
            in_shares(&mut held_raw, threads, PARALLEL_ROWS, |start, out| {
                walk.for_each(held, out.len(), |i| start + i, |i, leaf| out[i] += values[leaf]);
            });
            if checkpoints.contains(&(t + 1)) {
                held_at.push(held_raw.clone());
            }
        }
        out.push(tree);
    }
    BinModel { base_score, trees: out, held: held_at, raw }
}

/// Fewer rows than this are not worth starting threads for.
const PARALLEL_ROWS: usize = 8192;

/// Runs `f(start, share)` on `threads` contiguous shares of `out` side by side (one share when
/// `out` is shorter than `least`), `start` being where the share begins. Each element is
/// computed on its own, so the result does not depend on the number of threads.
pub fn in_shares<T: Send>(out: &mut [T], threads: usize, least: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if threads <= 1 || out.len() < least {
        f(0, out);
        return;
    }
    let size = out.len().div_ceil(threads);
    std::thread::scope(|s| {
        let mut shares = out.chunks_mut(size);
        let first = shares.next().expect("a share");
        let f = &f;
        let handles: Vec<_> = shares.enumerate().map(|(k, share)| s.spawn(move || f((k + 1) * size, share))).collect();
        f(0, first);
        for h in handles {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
    });
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
