//! Growing one tree, level by level as XGBoost's hist does (the depth the defaults were tuned
//! for): each node's histogram of (sum g, sum h) per bin of every sampled feature, row counts
//! too for categorical features; the best split of every node of a level; its rows partitioned
//! in place.
//!
//! Where the time goes, and what keeps it down:
//! - a node's rows are a contiguous range of one index array, kept in row order by a stable
//!   partition, so a histogram reads rows forward and each row's bins are one cache line;
//! - only the smaller child's histogram is built from its rows; the larger one's is the parent's
//!   minus it, in the parent's buffer; nodes that cannot split (the deepest level, too little
//!   hessian) get none;
//! - threads build a histogram's features side by side, each feature wholly on one thread and in
//!   row order, so the sums, and the model, do not depend on the number of threads.

use std::ops::Range;

use super::bins::{Binned, FeatureBins};
use super::split::{self, Found, Gh, Rule, Rules};
use super::tree::{BinNode, BinTree};

/// Fewer rows than this in a level's histograms are built on one thread: starting threads
/// would cost more than it saves.
const PARALLEL_ROWS: usize = 4096;

/// Where a sampled feature's histogram lives in a node's buffers.
#[derive(Debug, Clone)]
struct Slot {
    feature: usize,
    bins: usize,
    offset: usize,
    /// For categorical features, where its row counts live.
    count_offset: Option<usize>,
}

/// A thread's part of one histogram job: the rows, and its features' parts of the buffers.
type Share<'a> = (&'a [u32], &'a mut [Gh], &'a mut [u32]);

/// A node's histograms, every sampled feature's bins end to end.
#[derive(Debug, Default)]
struct Hist {
    gh: Vec<Gh>,
    count: Vec<u32>,
}

/// A node waiting to be split or made a leaf.
struct Open {
    /// Its parent and side; none for the root.
    parent: Option<(usize, bool)>,
    rows: Range<usize>,
    total: Gh,
    /// The L2 of its leaf value (see [`Found::child_l2`]).
    l2: f64,
    hist: Option<Hist>,
}

/// Grows trees over one binned set of rows, keeping its buffers from tree to tree.
pub struct Grower<'a> {
    binned: &'a Binned,
    features: &'a [FeatureBins],
    rules: Rules,
    max_depth: usize,
    learning_rate: f64,
    threads: usize,
    scratch: Vec<u32>,
    pool: Vec<Hist>,
}

/// A grown tree, and which range of the sampled rows (as partitioned) reached each leaf.
pub struct Grown {
    pub tree: BinTree,
    pub leaves: Vec<(Range<usize>, usize)>,
}

impl<'a> Grower<'a> {
    pub fn new(
        binned: &'a Binned,
        features: &'a [FeatureBins],
        rules: Rules,
        max_depth: usize,
        learning_rate: f64,
    ) -> Self {
        // The histograms read bins unchecked: each must be below its feature's bin count.
        for r in 0..binned.rows {
            let row = binned.row(r);
            assert!(features.iter().zip(row).all(|(f, &b)| usize::from(b) < f.bins), "row {r} has a bin out of range");
        }
        Grower {
            binned,
            features,
            rules,
            max_depth,
            learning_rate,
            threads: 1,
            scratch: vec![0; binned.rows],
            pool: Vec::new(),
        }
    }

    /// Grows a tree on the rows `rows` (ascending; partitioned in place) with gradients `gh`
    /// (indexed by row), splitting on the features `sampled` (ascending), building histograms
    /// on `threads` threads.
    pub fn grow(&mut self, rows: &mut [u32], gh: &[Gh], sampled: &[usize], threads: usize) -> Grown {
        self.threads = threads.max(1);
        let (slots, bins, counts) = self.layout(sampled);
        let mut tree = BinTree { nodes: Vec::new(), leaf_value: Vec::new() };
        let mut leaves = Vec::new();
        let total = rows.iter().fold([0.0, 0.0], |[g, h], &r| {
            let [gr, hr] = gh[r as usize];
            [g + gr, h + hr]
        });
        let mut root = Open { parent: None, rows: 0..rows.len(), total, l2: self.rules.l2, hist: None };
        if self.max_depth > 0 && self.splittable(&root) {
            let mut hist = self.take(bins, counts);
            self.build(&mut [(&rows[..], &mut hist)], gh, &slots);
            root.hist = Some(hist);
        }
        let mut level = vec![root];
        for depth in 0..=self.max_depth {
            let mut next: Vec<Open> = Vec::new();
            // (smaller, larger) children in `next`, with their parent's histogram.
            let mut pairs: Vec<(usize, usize, Hist)> = Vec::new();
            for mut open in level {
                let found = open.hist.as_ref().and_then(|hist| self.best(hist, &slots, &open));
                let Some((feature, found)) = found else {
                    if let Some(hist) = open.hist.take() {
                        self.pool.push(hist);
                    }
                    let leaf = tree.leaf_value.len();
                    let [g, h] = open.total;
                    let value = if h + open.l2 > 0.0 { -g / (h + open.l2) * self.learning_rate } else { 0.0 };
                    tree.leaf_value.push(value);
                    attach(&mut tree, open.parent, !(leaf as i32));
                    leaves.push((open.rows, leaf));
                    continue;
                };
                let id = tree.nodes.len();
                attach(&mut tree, open.parent, id as i32);
                let mid = self.partition(rows, open.rows.clone(), feature, &found.rule);
                tree.nodes.push(BinNode { feature, rule: found.rule, left: 0, right: 0 });
                let [g, h] = open.total;
                let [gl, hl] = found.left;
                let left = Open {
                    parent: Some((id, true)),
                    rows: open.rows.start..mid,
                    total: [gl, hl],
                    l2: found.child_l2,
                    hist: None,
                };
                let right = Open {
                    parent: Some((id, false)),
                    rows: mid..open.rows.end,
                    total: [g - gl, h - hl],
                    l2: found.child_l2,
                    hist: None,
                };
                let parent_hist = open.hist.take().expect("a split node has a histogram");
                let (l, r) = (next.len(), next.len() + 1);
                let wanted = depth + 1 < self.max_depth && (self.splittable(&left) || self.splittable(&right));
                next.push(left);
                next.push(right);
                if wanted {
                    let (small, large) = if next[l].rows.len() <= next[r].rows.len() { (l, r) } else { (r, l) };
                    pairs.push((small, large, parent_hist));
                } else {
                    self.pool.push(parent_hist);
                }
            }
            if !pairs.is_empty() {
                let mut built: Vec<Hist> = pairs.iter().map(|_| self.take(bins, counts)).collect();
                let mut jobs: Vec<(&[u32], &mut Hist)> = pairs
                    .iter()
                    .zip(built.iter_mut())
                    .map(|((small, _, _), h)| (&rows[next[*small].rows.clone()], h))
                    .collect();
                self.build(&mut jobs, gh, &slots);
                for ((small, large, mut parent), small_hist) in pairs.into_iter().zip(built) {
                    subtract(&mut parent, &small_hist);
                    for (child, hist) in [(small, small_hist), (large, parent)] {
                        if self.splittable(&next[child]) {
                            next[child].hist = Some(hist);
                        } else {
                            self.pool.push(hist);
                        }
                    }
                }
            }
            level = next;
            if level.is_empty() {
                break;
            }
        }
        Grown { tree, leaves }
    }

    /// Whether a node could split at all: two rows, and hessian for two children.
    fn splittable(&self, open: &Open) -> bool {
        open.rows.len() >= 2 && open.total[1] >= 2.0 * self.rules.min_hessian && open.total[1] > 0.0
    }

    /// Each sampled feature's place in a node's histogram buffers, and the buffers' sizes.
    fn layout(&self, sampled: &[usize]) -> (Vec<Slot>, usize, usize) {
        let (mut bins, mut counts) = (0, 0);
        let slots = sampled
            .iter()
            .map(|&feature| {
                let f = &self.features[feature];
                let slot =
                    Slot { feature, bins: f.bins, offset: bins, count_offset: f.is_categorical().then_some(counts) };
                bins += f.bins;
                if f.is_categorical() {
                    counts += f.bins;
                }
                slot
            })
            .collect();
        (slots, bins, counts)
    }

    fn take(&mut self, bins: usize, counts: usize) -> Hist {
        let mut hist = self.pool.pop().unwrap_or_default();
        hist.gh.resize(bins, [0.0, 0.0]);
        hist.count.resize(counts, 0);
        hist
    }

    /// The best split of a node over the sampled features; the first feature wins ties.
    fn best(&self, hist: &Hist, slots: &[Slot], open: &Open) -> Option<(usize, Found)> {
        let mut best: Option<(usize, Found)> = None;
        for slot in slots {
            let gh = &hist.gh[slot.offset..slot.offset + slot.bins];
            let found = match slot.count_offset {
                None => split::numeric(gh, open.total, &self.rules),
                Some(c) => {
                    let count = &hist.count[c..c + slot.bins];
                    split::categorical(gh, count, open.total, open.rows.len() as u32, &self.rules)
                }
            };
            if let Some(found) = found
                && best.as_ref().is_none_or(|(_, b)| found.gain > b.gain)
            {
                best = Some((slot.feature, found));
            }
        }
        best
    }

    /// Stable partition of `rows[range]`: the rows going left first. Returns where the right
    /// ones start.
    fn partition(&mut self, rows: &mut [u32], range: Range<usize>, feature: usize, rule: &Rule) -> usize {
        let (stride, data) = (self.binned.stride, &self.binned.data);
        let set = rule.left_bins();
        let (mut left, mut right) = (range.start, 0);
        // Each row is written to both sides and only its side's cursor moves: no branch on
        // the data, which a random split would mispredict half of the time. (`left` never
        // passes `i`, so no row is overwritten before it is read.)
        for i in range.clone() {
            let r = rows[i];
            let bin = data[r as usize * stride + feature];
            let go = (set[usize::from(bin >> 6)] >> (bin & 63) & 1) as usize;
            rows[left] = r;
            self.scratch[right] = r;
            left += go;
            right += 1 - go;
        }
        rows[left..range.end].copy_from_slice(&self.scratch[..right]);
        left
    }

    /// Fills each job's histogram from its rows: the features split between the threads in
    /// contiguous groups of about equal bins, each group's part of every buffer its own.
    fn build(&self, jobs: &mut [(&[u32], &mut Hist)], gh: &[Gh], slots: &[Slot]) {
        let rows: usize = jobs.iter().map(|(r, _)| r.len()).sum();
        let threads = if rows < PARALLEL_ROWS { 1 } else { self.threads.min(slots.len()).max(1) };
        if threads == 1 {
            for (r, hist) in jobs.iter_mut() {
                accumulate(r, gh, self.binned, slots, &mut hist.gh, &mut hist.count);
            }
            return;
        }
        // Group boundaries by cumulative bins.
        let total: usize = slots.iter().map(|s| s.bins).sum();
        let mut groups: Vec<Range<usize>> = Vec::with_capacity(threads);
        let mut start = 0;
        for t in 1..=threads {
            let goal = total * t / threads;
            let mut end = start;
            while end < slots.len() && (slots[end].offset + slots[end].bins <= goal || end == start) {
                end += 1;
            }
            if t == threads {
                end = slots.len();
            }
            groups.push(start..end);
            start = end;
        }
        // Each thread's share of every job's buffers.
        let mut shares: Vec<Vec<Share>> = (0..threads).map(|_| Vec::new()).collect();
        for (r, hist) in jobs.iter_mut() {
            let (mut gh_rest, mut count_rest) = (&mut hist.gh[..], &mut hist.count[..]);
            for (t, group) in groups.iter().enumerate() {
                let bins: usize = slots[group.clone()].iter().map(|s| s.bins).sum();
                let counts: usize =
                    slots[group.clone()].iter().filter(|s| s.count_offset.is_some()).map(|s| s.bins).sum();
                let (gh_mine, gh_more) = std::mem::take(&mut gh_rest).split_at_mut(bins);
                let (count_mine, count_more) = std::mem::take(&mut count_rest).split_at_mut(counts);
                gh_rest = gh_more;
                count_rest = count_more;
                shares[t].push((*r, gh_mine, count_mine));
            }
        }
        std::thread::scope(|s| {
            let mut shares = shares.into_iter();
            let mine = shares.next().expect("one share per thread");
            let handles: Vec<_> = shares
                .zip(&groups[1..])
                .map(|(share, group)| {
                    let slots = &slots[group.clone()];
                    s.spawn(move || {
                        for (r, out, count) in share {
                            accumulate(r, gh, self.binned, slots, out, count);
                        }
                    })
                })
                .collect();
            for (r, out, count) in mine {
                accumulate(r, gh, self.binned, &slots[groups[0].clone()], out, count);
            }
            for h in handles {
                h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            }
        });
    }
}

fn attach(tree: &mut BinTree, parent: Option<(usize, bool)>, child: i32) {
    if let Some((p, left)) = parent {
        if left {
            tree.nodes[p].left = child;
        } else {
            tree.nodes[p].right = child;
        }
    }
}

/// `parent -= small`: the parent's buffers become the larger child's histogram.
fn subtract(parent: &mut Hist, small: &Hist) {
    for (p, s) in parent.gh.iter_mut().zip(&small.gh) {
        p[0] -= s[0];
        p[1] -= s[1];
    }
    for (p, s) in parent.count.iter_mut().zip(&small.count) {
        *p -= s;
    }
}

/// The histograms of `slots` (a contiguous run of a node's features, whose buffers start at
/// `out[0]` and `count[0]`) over `rows`, in row order.
fn accumulate(rows: &[u32], gh: &[Gh], binned: &Binned, slots: &[Slot], out: &mut [Gh], count: &mut [u32]) {
    out.fill([0.0, 0.0]);
    count.fill(0);
    let base = slots.first().map_or(0, |s| s.offset);
    let count_base = slots.iter().find_map(|s| s.count_offset).unwrap_or(0);
    let numeric: Vec<(usize, usize)> =
        slots.iter().filter(|s| s.count_offset.is_none()).map(|s| (s.feature, s.offset - base)).collect();
    let categorical: Vec<(usize, usize, usize)> =
        slots.iter().filter_map(|s| s.count_offset.map(|c| (s.feature, s.offset - base, c - count_base))).collect();
    // What the unchecked reads below rely on, besides the bins themselves being below their
    // feature's bin count ([`Grower::new`] checks it): every row and every feature in range,
    // every slot's bins inside the buffers.
    let stride = binned.stride;
    assert!(gh.len() == binned.rows && rows.iter().all(|&r| (r as usize) < binned.rows));
    assert!(slots.iter().all(|s| s.feature < stride && s.offset - base + s.bins <= out.len()));
    assert!(slots.iter().all(|s| s.count_offset.is_none_or(|c| c - count_base + s.bins <= count.len())));
    let (data, gh_at, out_at, count_at) = (binned.data.as_ptr(), gh.as_ptr(), out.as_mut_ptr(), count.as_mut_ptr());
    for &r in rows {
        let r = r as usize;
        // SAFETY: see the assertions above; a bin of feature f is below the bins of f's slot.
        unsafe {
            let [g, h] = *gh_at.add(r);
            let row = data.add(r * stride);
            for &(f, off) in &numeric {
                let cell = &mut *out_at.add(off + usize::from(*row.add(f)));
                cell[0] += g;
                cell[1] += h;
            }
            for &(f, off, c) in &categorical {
                let b = usize::from(*row.add(f));
                let cell = &mut *out_at.add(off + b);
                cell[0] += g;
                cell[1] += h;
                *count_at.add(c + b) += 1;
            }
        }
    }
}
