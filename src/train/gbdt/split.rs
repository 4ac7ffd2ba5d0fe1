//! The best split of one feature at one node, from the node's histogram of that feature.
//!
//! Numeric features as XGBoost's hist: every cut between bins, the missing bin (bin 0) tried on
//! either side, each child with at least `min_hessian`; gain `GL²/(HL+λ) + GR²/(HR+λ) − G²/(H+λ)`.
//! Categorical features as LightGBM's `FindBestThresholdCategoricalInner`, step for step (its
//! defaults: no L1, no output clamp, no path smoothing): one category against the rest for
//! features of few bins, else the categories sorted by `g / (h + cat_smooth)` and scanned from
//! both ends. Two differences: row counts are the node's real counts, where LightGBM estimates
//! them from hessians (the same at a node whose rows have equal hessians); and a category's bin
//! is never empty here, as bins hold only categories seen in training.

/// A gradient-hessian pair: one histogram bin, or a node's totals.
pub type Gh = [f64; 2];

/// LightGBM's `kEpsilon`, added to hessian sums where LightGBM adds it, so that its choices are
/// reproduced exactly.
const EPSILON: f64 = 1e-15;

/// The split settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub l2: f64,
    pub min_hessian: f64,
    pub max_cat_to_onehot: usize,
    pub max_cat_threshold: usize,
    pub cat_l2: f64,
    pub cat_smooth: f64,
    pub min_data_per_group: u32,
    pub min_data_in_leaf: u32,
}

/// 256 bits: which bins of a categorical feature go left.
pub type BinSet = [u64; 4];

pub fn set_has(set: &BinSet, bin: u8) -> bool {
    set[usize::from(bin >> 6)] >> (bin & 63) & 1 == 1
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Left: bins `1..=bin`, and bin 0 (missing) when `missing_left`.
    Numeric { bin: u8, missing_left: bool },
    /// Left: the bins in the set; bin 0 never is.
    Categorical { left: BinSet },
}

impl Rule {
    /// The bins that go left, as a set.
    pub fn left_bins(&self) -> BinSet {
        match self {
            Rule::Numeric { .. } => {
                let mut set = [0; 4];
                for b in 0..=255u8 {
                    if self.goes_left(b) {
                        set[usize::from(b >> 6)] |= 1 << (b & 63);
                    }
                }
                set
            }
            Rule::Categorical { left } => *left,
        }
    }

    #[inline]
    pub fn goes_left(&self, bin: u8) -> bool {
        match self {
            Rule::Numeric { bin: last, missing_left } => {
                if bin == 0 {
                    *missing_left
                } else {
                    bin <= *last
                }
            }
            Rule::Categorical { left } => set_has(left, bin),
        }
    }
}

/// A split found: its gain over not splitting, its rule, the left child's sums, and the L2 its
/// children's leaf values take (LightGBM adds `cat_l2` to the leaf values of a many-vs-many
/// categorical split's children, as to their gains).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub gain: f64,
    pub rule: Rule,
    pub left: Gh,
    pub child_l2: f64,
}

#[inline]
fn leaf_gain(g: f64, h: f64, l2: f64) -> f64 {
    g * g / (h + l2)
}

/// The best numeric split of a feature whose histogram is `hist` (bin 0 the missing values), at
/// a node with sums `total`: missing values right first (XGBoost's first direction, and the
/// default when a node has no missing values), then left; the first of equal gains wins.
pub fn numeric(hist: &[Gh], total: Gh, rules: &Rules) -> Option<Found> {
    let [g, h] = total;
    let parent = leaf_gain(g, h, rules.l2);
    let [gm, hm] = hist[0];
    let mut best: Option<Found> = None;
    let mut best_gain = 0.0;
    for missing_left in [false, true] {
        if missing_left && hm <= 0.0 {
            break;
        }
        let (mut gl, mut hl) = if missing_left { (gm, hm) } else { (0.0, 0.0) };
        for (b, &[gb, hb]) in hist.iter().enumerate().skip(1) {
            gl += gb;
            hl += hb;
            let (gr, hr) = (g - gl, h - hl);
            if hl < rules.min_hessian || hl <= 0.0 {
                continue;
            }
            if hr < rules.min_hessian || hr <= 0.0 {
                break;
            }
            let gain = leaf_gain(gl, hl, rules.l2) + leaf_gain(gr, hr, rules.l2) - parent;
            if gain > best_gain {
                best_gain = gain;
                best = Some(Found {
                    gain,
                    rule: Rule::Numeric { bin: b as u8, missing_left },
                    left: [gl, hl],
                    child_l2: rules.l2,
                });
            }
        }
    }
    best
}

/// The best categorical split of a feature of `bins` bins (bin 0 included) whose histogram is
/// `hist` with row counts `count`, at a node with sums `total` over `rows` rows; LightGBM's
/// search (see the module's comment).
pub fn categorical(hist: &[Gh], count: &[u32], total: Gh, rows: u32, rules: &Rules) -> Option<Found> {
    let [g, h] = total;
    let n = i64::from(rows);
    let min_data = i64::from(rules.min_data_in_leaf);
    // The parent's gain with the plain L2, in both branches, as LightGBM has it.
    let parent = leaf_gain(g, h, rules.l2);
    let mut best_gain = f64::NEG_INFINITY;
    let mut best: Option<(BinSet, Gh)> = None;
    let mut l2 = rules.l2;
    if hist.len() <= rules.max_cat_to_onehot {
        for b in 1..hist.len() {
            let [gb, hb] = hist[b];
            let c = i64::from(count[b]);
            if c < min_data || hb < rules.min_hessian {
                continue;
            }
            if n - c < min_data {
                continue;
            }
            let h_other = h - hb - EPSILON;
            if h_other < rules.min_hessian {
                continue;
            }
            let gain = leaf_gain(g - gb, h_other, l2) + leaf_gain(gb, hb + EPSILON, l2);
            if gain <= parent {
                continue;
            }
            if gain > best_gain {
                best_gain = gain;
                let mut set = [0; 4];
                set[b >> 6] |= 1 << (b & 63);
                best = Some((set, [gb, hb + EPSILON]));
            }
        }
    } else {
        let mut used: Vec<usize> = (1..hist.len()).filter(|&b| f64::from(count[b]) >= rules.cat_smooth).collect();
        l2 += rules.cat_l2;
        let ctr = |b: usize| hist[b][0] / (hist[b][1] + rules.cat_smooth);
        // Stable: equal ratios keep the bins' order, the categories' global frequency.
        used.sort_by(|&a, &b| ctr(a).partial_cmp(&ctr(b)).unwrap_or(std::cmp::Ordering::Equal));
        // The left side holds at most half of the categories.
        let max_cats = rules.max_cat_threshold.min(used.len().div_ceil(2));
        let mut best_at: Option<(usize, bool)> = None;
        for reverse in [false, true] {
            let (mut gl, mut hl, mut cl, mut group) = (0.0, EPSILON, 0i64, 0i64);
            for i in 0..used.len().min(max_cats) {
                let b = if reverse { used[used.len() - 1 - i] } else { used[i] };
                gl += hist[b][0];
                hl += hist[b][1];
                let c = i64::from(count[b]);
                cl += c;
                group += c;
                if cl < min_data || hl < rules.min_hessian {
                    continue;
                }
                if n - cl < min_data || n - cl < i64::from(rules.min_data_per_group) {
                    break;
                }
                if h - hl < rules.min_hessian {
                    break;
                }
                if group < i64::from(rules.min_data_per_group) {
                    continue;
                }
                group = 0;
                let gain = leaf_gain(gl, hl, l2) + leaf_gain(g - gl, h - hl, l2);
                if gain <= parent {
                    continue;
                }
                if gain > best_gain {
                    best_gain = gain;
                    best_at = Some((i, reverse));
                    best = Some(([0; 4], [gl, hl]));
                }
            }
        }
        if let (Some((i, reverse)), Some((set, _))) = (best_at, best.as_mut()) {
            for k in 0..=i {
                let b = if reverse { used[used.len() - 1 - k] } else { used[k] };
                set[b >> 6] |= 1 << (b & 63);
            }
        }
    }
    best.map(|(left, [gl, hl])| Found {
        gain: best_gain - parent,
        rule: Rule::Categorical { left },
        // LightGBM keeps the epsilon out of the child's sums it reports.
        left: [gl, hl - EPSILON],
        child_l2: l2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rules() -> Rules {
        Rules {
            l2: 1.0,
            min_hessian: 1.0,
            max_cat_to_onehot: 4,
            max_cat_threshold: 32,
            cat_l2: 10.0,
            cat_smooth: 10.0,
            min_data_per_group: 100,
            min_data_in_leaf: 20,
        }
    }

    fn total(hist: &[Gh]) -> Gh {
        hist.iter().fold([0.0, 0.0], |a, b| [a[0] + b[0], a[1] + b[1]])
    }

    /// Four bins of values and a missing bin, worked out by hand (λ = 1; the parent's G is 0, so
    /// its score is 0): the missing rows and bins 1..=2 on the left win.
    #[test]
    fn numeric_split_is_the_best_cut_and_side_for_missing() {
        // (g, h) per bin: missing, then four value bins.
        let hist: [Gh; 5] = [[-3.0, 2.0], [-4.0, 2.0], [-2.0, 2.0], [4.0, 2.0], [5.0, 2.0]];
        let t = total(&hist);
        assert_eq!(t, [0.0, 10.0]);
        let found = numeric(&hist, t, &rules()).unwrap();
        // Missing left with bins 1..=2: GL = −9, HL = 6 → 81/7; GR = 9, HR = 4 → 81/5.
        let expected = 81.0 / 7.0 + 81.0 / 5.0;
        assert_eq!(found.rule, Rule::Numeric { bin: 2, missing_left: true });
        assert!((found.gain - expected).abs() < 1e-12, "{} vs {expected}", found.gain);
        assert_eq!(found.left, [-9.0, 6.0]);
        // Brute force over every cut and side agrees.
        let mut brute: f64 = 0.0;
        for b in 1..5 {
            for ml in [false, true] {
                let (gl, hl) = (1..=b)
                    .fold(if ml { (-3.0, 2.0) } else { (0.0, 0.0) }, |(g, h), k| (g + hist[k][0], h + hist[k][1]));
                if hl >= 1.0 && 10.0 - hl >= 1.0 {
                    brute = brute.max(gl * gl / (hl + 1.0) + (-gl) * (-gl) / (10.0 - hl + 1.0));
                }
            }
        }
        assert!((brute - expected).abs() < 1e-12);
        // Missing rows that look like the right side go right.
        let hist: [Gh; 5] = [[3.0, 2.0], [-4.0, 2.0], [-2.0, 2.0], [4.0, 2.0], [5.0, 2.0]];
        let found = numeric(&hist, total(&hist), &rules()).unwrap();
        assert_eq!(found.rule, Rule::Numeric { bin: 2, missing_left: false });
        // With no missing rows, right is the default.
        let hist: [Gh; 3] = [[0.0, 0.0], [-4.0, 2.0], [4.0, 2.0]];
        let found = numeric(&hist, total(&hist), &rules()).unwrap();
        assert_eq!(found.rule, Rule::Numeric { bin: 1, missing_left: false });
        // min_hessian: a child of hessian below it is refused.
        let strict = Rules { min_hessian: 2.5, ..rules() };
        assert_eq!(numeric(&hist, total(&hist), &strict), None);
    }

    /// One category against the rest (3 categories + bin 0 ≤ max_cat_to_onehot = 4): the
    /// category whose rows differ most from the others, with LightGBM's plain L2, and the count
    /// rule `min_data_in_leaf` on both sides.
    #[test]
    fn few_categories_split_one_against_the_rest() {
        let hist: [Gh; 4] = [[0.5, 1.0], [-20.0, 10.0], [6.0, 10.0], [14.0, 15.0]];
        let count = [4, 40, 40, 60];
        let t = total(&hist);
        let r = rules();
        let found = categorical(&hist, &count, t, 144, &r).unwrap();
        let gain = |b: usize| {
            let [gb, hb] = hist[b];
            (t[0] - gb).powi(2) / (t[1] - hb - EPSILON + 1.0) + gb * gb / (hb + EPSILON + 1.0)
                - t[0] * t[0] / (t[1] + 1.0)
        };
        assert_eq!(found.rule, Rule::Categorical { left: [0b10, 0, 0, 0] });
        assert!((found.gain - gain(1)).abs() < 1e-12);
        assert!(gain(1) > gain(2) && gain(1) > gain(3));
        assert_eq!(found.child_l2, 1.0, "no cat_l2 one against the rest");
        // Too few rows in category 1: the next best.
        let found = categorical(&hist, &[4, 19, 40, 60], t, 123, &r).unwrap();
        assert_eq!(found.rule, Rule::Categorical { left: [1 << if gain(2) > gain(3) { 2 } else { 3 }, 0, 0, 0] });
    }

    /// Many against many, by hand: six categories (+ bin 0), sorted by g / (h + 10), scanned from
    /// both ends; left sets are evaluated only once 100 more rows joined them, the right side
    /// keeps at least 100 rows, and the left holds at most half of the categories.
    #[test]
    fn many_categories_split_by_sorted_ratio() {
        // Bins 1..=6 with 200 rows each (h = 0.25 a row), and bin 0.
        let g = [5.0, -30.0, 12.0, -8.0, 25.0, 2.0, -40.0];
        let hist: Vec<Gh> = g.iter().map(|&g| [g, 50.0]).collect();
        let count = vec![200; 7];
        let t = total(&hist);
        let r = rules();
        let found = categorical(&hist, &count, t, 1400, &r).unwrap();
        // Sorted ascending by g/(h+10): bins 6 (−40), 1 (−30), 3 (−8), 5 (2), 2 (12), 4 (25).
        // At most (6+1)/2 = 3 on the left. From the low end: {6}, {6,1}, {6,1,3}; from the high
        // end: {4}, {4,2}, {4,2,5}. Each adds 200 ≥ 100 rows, so each is evaluated.
        let l2 = 11.0;
        let score = |set: &[usize]| {
            let gl: f64 = set.iter().map(|&b| g[b]).sum();
            let hl = EPSILON + 50.0 * set.len() as f64;
            gl * gl / (hl + l2) + (t[0] - gl).powi(2) / (t[1] - hl + l2) - t[0] * t[0] / (t[1] + 1.0)
        };
        let candidates: [&[usize]; 6] = [&[6], &[6, 1], &[6, 1, 3], &[4], &[4, 2], &[4, 2, 5]];
        let best = candidates.iter().max_by(|a, b| score(a).total_cmp(&score(b))).unwrap();
        let mut set = [0u64; 4];
        best.iter().for_each(|&b| set[0] |= 1 << b);
        assert_eq!(found.rule, Rule::Categorical { left: set });
        assert!((found.gain - score(best)).abs() < 1e-12);
        assert_eq!(*best, &[6, 1][..], "the two most negative");
        assert_eq!(found.child_l2, 11.0);
        // With cat_smooth above a category's rows, it never goes left.
        let found = categorical(&hist, &[200, 200, 200, 200, 200, 200, 5], t, 1205, &r).unwrap();
        let Rule::Categorical { left } = found.rule else { panic!() };
        assert!(!set_has(&left, 6) && !set_has(&left, 0));
    }
}
