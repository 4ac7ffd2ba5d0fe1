//! Exact explanations for trees: path-dependent TreeSHAP (Lundberg et al. 2018, Algorithm 2),
//! as LightGBM's `pred_contrib` computes it (`Tree::TreeSHAP` in its `src/io/tree.cpp`), so
//! each feature's contribution to the log-odds equals LightGBM's. The contributions and the
//! expected value add up to the raw score.
//!
//! Why by hand: the SHAP implementations are LightGBM's and XGBoost's C++ and the `shap`
//! package; none runs on our trees in Rust.
//!
//! Two ways to the same numbers:
//! - The recursion ([`shap`]) follows every branch of a tree (the branch the row does not take
//!   weighs in by its share of the training rows, the node's cover), carrying the "unique path"
//!   of features met so far; a feature met twice is unwound and extended again. O(leaves ×
//!   depth²) per tree and row, with divisions: too slow for a stream (docs/design.md).
//! - Tables, as Fast TreeSHAP v2 (Yang 2021) does: a leaf's contribution to feature k depends on
//!   the row only through which of the leaf's path conditions it meets. With the m distinct
//!   features on a leaf's path, their cover ratios z and the set A of features whose conditions
//!   the row meets, feature k gets
//!   `v · (1[k ∈ A] − z_k) · Σ_{S ⊆ A∖{k}} |S|!(m−|S|−1)!/m! · Π_{j ∉ S, j ≠ k} z_j`,
//!   precomputed for every A when the model loads (m · 2^m numbers per leaf). Per row, each
//!   node is decided once and each leaf adds m numbers from its table; two sibling leaves share
//!   one table, indexed by A above their node and the way the row goes there. Used for trees whose
//!   leaves have at most [`TABLE_FEATURES`] distinct features on their path (every tree of
//!   depth 6 or less); deeper trees take the recursion.

use super::trees::{Tree, TreeParams};

#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    feature: i32,
    zero_fraction: f64,
    one_fraction: f64,
    pweight: f64,
}

/// Leaves with at most this many distinct features on their path get a table.
pub const TABLE_FEATURES: usize = 6;

/// Per-tree constants: the expected value (the cover-weighted mean leaf), and each tree's
/// tables or, for a deep tree, the scratch space of its recursion.
#[derive(Debug, Clone)]
pub struct TreeShap {
    expected: Vec<f64>,
    tables: Vec<Option<TreeTables>>,
    /// Deepest tree + 1: a unique path is at most that long.
    max_path: usize,
}

/// One tree's tables: the slot each internal node's feature takes on the paths through it (a
/// feature's slot is its place among the distinct features of the path, in path order, so it
/// is the same for every leaf below the node), and a table per unit: a leaf, or a node whose
/// children are both leaves (a pair).
#[derive(Debug, Clone)]
struct TreeTables {
    slot: Vec<u8>,
    /// Whether every node compares plainly (no value counts as missing, no node splits on
    /// categories): then a finite row's way is `x <= threshold`, without [`Tree::goes_left`]'s
    /// rules.
    plain: bool,
    /// Per internal node, its pair's unit, or [`NO_PAIR`].
    pair: Vec<u32>,
    /// Per leaf, its unit (unused for a leaf of a pair).
    leaf: Vec<u32>,
    units: Vec<Unit>,
    /// Each unit's distinct features, in slot order.
    features: Vec<u16>,
    /// Each unit's table: a leaf's `[a * m + k]` is slot k's contribution when the row meets the
    /// conditions of the slots in the bit set `a`; a pair's `[(2a + left) * m + k]` is the sum
    /// of its two leaves' entries for the row that meets `a` above the node and goes left or
    /// right there. One look-up instead of two: the tables are read at random, so a look-up
    /// costs about a cache miss.
    table: Vec<f64>,
}

/// Where a unit's features and table start, and its number m of distinct features.
#[derive(Debug, Clone, Copy, Default)]
struct Unit {
    features: u32,
    table: u32,
    m: u8,
}

const NO_PAIR: u32 = u32::MAX;

impl TreeShap {
    pub fn new(params: &TreeParams) -> Self {
        let expected = params.trees.iter().map(expected_value).collect();
        let max_path = params.trees.iter().map(Tree::depth).max().unwrap_or(0) + 1;
        let tables = params.trees.iter().map(TreeTables::new).collect();
        TreeShap { expected, tables, max_path }
    }

    /// Adds each feature's contribution to the raw score into `phi`, and returns the expected
    /// value (the base the contributions start from, `base_score` included).
    pub fn contributions(&self, params: &TreeParams, row: &[f64], phi: &mut [f64]) -> f64 {
        let mut scratch = Vec::new();
        let mut bias = params.base_score;
        for ((tree, expected), tables) in params.trees.iter().zip(&self.expected).zip(&self.tables) {
            bias += expected;
            if tree.split_feature.is_empty() {
                continue;
            }
            match tables {
                Some(t) => t.visit(tree, 0, u32::MAX, row, phi),
                None => {
                    if scratch.is_empty() {
                        scratch = vec![PathElement::default(); self.max_path * (self.max_path + 1) / 2];
                    }
                    shap(tree, row, phi, 0, 0, &mut scratch, 1.0, 1.0, -1);
                }
            }
        }
        bias
    }
}

impl TreeTables {
    /// The tables of a tree, or None when a leaf has too many distinct features for one.
    fn new(tree: &Tree) -> Option<TreeTables> {
        let mut t = TreeTables {
            slot: vec![0; tree.split_feature.len()],
            plain: tree.missing.iter().all(|m| *m != super::trees::Missing::Zero) && !tree.has_categorical(),
            pair: vec![NO_PAIR; tree.split_feature.len()],
            leaf: vec![0; tree.num_leaves()],
            units: Vec::new(),
            features: Vec::new(),
            table: Vec::new(),
        };
        if tree.split_feature.is_empty() {
            return Some(t);
        }
        // Depth first, carrying the distinct features met and their cover ratios so far.
        let mut paths: Vec<(Vec<u16>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); tree.num_leaves()];
        let mut stack: Vec<(i32, Vec<u16>, Vec<f64>)> = vec![(0, Vec::new(), Vec::new())];
        while let Some((node, features, zero)) = stack.pop() {
            if node < 0 {
                if features.len() > TABLE_FEATURES {
                    return None;
                }
                paths[!node as usize] = (features, zero);
                continue;
            }
            let i = node as usize;
            let f = tree.split_feature[i];
            let slot = features.iter().position(|&g| g == f).unwrap_or(features.len());
            if slot >= 32 {
                return None;
            }
            t.slot[i] = slot as u8;
            for child in [tree.left_child[i], tree.right_child[i]] {
                let ratio = cover(tree, child) / tree.internal_count[i];
                let (mut features, mut zero) = (features.clone(), zero.clone());
                if slot == features.len() {
                    features.push(f);
                    zero.push(ratio);
                } else {
                    zero[slot] *= ratio;
                }
                stack.push((child, features, zero));
            }
        }
        let mut paired = vec![false; tree.num_leaves()];
        for i in 0..tree.split_feature.len() {
            let (l, r) = (tree.left_child[i], tree.right_child[i]);
            if l >= 0 || r >= 0 {
                continue;
            }
            let (l, r) = (!l as usize, !r as usize);
            // Siblings share their path, so their features (not their cover ratios) are equal.
            let (features, m) = (&paths[l].0, paths[l].0.len());
            let left = leaf_table(tree.leaf_value[l], &paths[l].1);
            let right = leaf_table(tree.leaf_value[r], &paths[r].1);
            let bit = 1usize << t.slot[i];
            let mut table = vec![0.0; 2 * (m << m)];
            for a in 0..(1usize << m) {
                // Going left meets the node's condition for the left leaf, not the right one.
                for (way, (al, ar)) in [(1, (a, a & !bit)), (0, (a & !bit, a))] {
                    for k in 0..m {
                        table[(2 * a + way) * m + k] = left[al * m + k] + right[ar * m + k];
                    }
                }
            }
            t.pair[i] = t.push_unit(features, table);
            paired[l] = true;
            paired[r] = true;
        }
        for (leaf, (features, zero)) in paths.iter().enumerate() {
            if !paired[leaf] {
                t.leaf[leaf] = t.push_unit(features, leaf_table(tree.leaf_value[leaf], zero));
            }
        }
        Some(t)
    }

    fn push_unit(&mut self, features: &[u16], table: Vec<f64>) -> u32 {
        self.units.push(Unit {
            features: self.features.len() as u32,
            table: self.table.len() as u32,
            m: features.len() as u8,
        });
        self.features.extend_from_slice(features);
        self.table.extend(table);
        (self.units.len() - 1) as u32
    }

    /// Adds row `row` of unit `unit`'s table.
    #[inline]
    fn add(&self, unit: u32, row: usize, phi: &mut [f64]) {
        let Unit { features, table, m } = self.units[unit as usize];
        let (f, t, m) = (features as usize, table as usize, usize::from(m));
        for (feature, c) in self.features[f..f + m].iter().zip(&self.table[t + row * m..t + (row + 1) * m]) {
            phi[*feature as usize] += c;
        }
    }

    /// Walks every branch, clearing a slot's bit where the row goes the other way; each leaf,
    /// or pair of sibling leaves, then adds its table's row for the conditions met.
    fn visit(&self, tree: &Tree, node: i32, met: u32, row: &[f64], phi: &mut [f64]) {
        if node < 0 {
            let unit = self.leaf[!node as usize];
            let m = self.units[unit as usize].m;
            return self.add(unit, (met as usize) & ((1 << m) - 1), phi);
        }
        let i = node as usize;
        let x = row[tree.split_feature[i] as usize];
        let left = if self.plain && x.is_finite() { x <= tree.threshold[i] } else { tree.goes_left(i, x) };
        let unit = self.pair[i];
        if unit != NO_PAIR {
            let m = self.units[unit as usize].m;
            return self.add(unit, 2 * ((met as usize) & ((1 << m) - 1)) + usize::from(left), phi);
        }
        let other = met & !(1 << self.slot[i]);
        let (l, r) = if left { (met, other) } else { (other, met) };
        self.visit(tree, tree.left_child[i], l, row, phi);
        self.visit(tree, tree.right_child[i], r, row, phi);
    }
}

/// A leaf's table (see the module's doc): for every set `a` of met conditions and slot k,
/// `v · (1[k ∈ a] − z_k) · Σ_{S ⊆ a∖{k}} |S|!(m−|S|−1)!/m! · Π_{j ∉ S, j ≠ k} z_j`.
fn leaf_table(value: f64, zero: &[f64]) -> Vec<f64> {
    let m = zero.len();
    // |S|!(m−|S|−1)!/m! for |S| = 0..m-1.
    let factorial = |n: usize| (1..=n).map(|v| v as f64).product::<f64>();
    let weight: Vec<f64> = (0..m).map(|s| factorial(s) * factorial(m - s - 1) / factorial(m)).collect();
    let mut table = vec![0.0; m << m];
    for a in 0..(1usize << m) {
        for k in 0..m {
            let others = a & !(1 << k);
            let mut sum = 0.0;
            // Every subset S of `others`, the empty one included.
            let mut s = others;
            loop {
                let mut product = weight[s.count_ones() as usize];
                for (j, z) in zero.iter().enumerate() {
                    if j != k && s & (1 << j) == 0 {
                        product *= z;
                    }
                }
                sum += product;
                if s == 0 {
                    break;
                }
                s = (s - 1) & others;
            }
            let met = if a & (1 << k) != 0 { 1.0 } else { 0.0 };
            table[a * m + k] = value * (met - zero[k]) * sum;
        }
    }
    table
}

fn cover(tree: &Tree, node: i32) -> f64 {
    if node >= 0 { tree.internal_count[node as usize] } else { tree.leaf_count[!node as usize] }
}

fn expected_value(tree: &Tree) -> f64 {
    if tree.num_leaves() == 1 {
        return tree.leaf_value[0];
    }
    let total = tree.internal_count[0];
    tree.leaf_value.iter().zip(&tree.leaf_count).map(|(v, c)| c / total * v).sum()
}

fn extend(path: &mut [PathElement], depth: usize, zero_fraction: f64, one_fraction: f64, feature: i32) {
    path[depth] = PathElement { feature, zero_fraction, one_fraction, pweight: if depth == 0 { 1.0 } else { 0.0 } };
    for i in (0..depth).rev() {
        path[i + 1].pweight += one_fraction * path[i].pweight * (i + 1) as f64 / (depth + 1) as f64;
        path[i].pweight = zero_fraction * path[i].pweight * (depth - i) as f64 / (depth + 1) as f64;
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let one_fraction = path[index].one_fraction;
    let zero_fraction = path[index].zero_fraction;
    let mut next_one_portion = path[depth].pweight;
    for i in (0..depth).rev() {
        if one_fraction != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next_one_portion * (depth + 1) as f64 / ((i + 1) as f64 * one_fraction);
            next_one_portion = tmp - path[i].pweight * zero_fraction * (depth - i) as f64 / (depth + 1) as f64;
        } else {
            path[i].pweight = (path[i].pweight * (depth + 1) as f64) / (zero_fraction * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let one_fraction = path[index].one_fraction;
    let zero_fraction = path[index].zero_fraction;
    let mut next_one_portion = path[depth].pweight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one_fraction != 0.0 {
            let tmp = next_one_portion * (depth + 1) as f64 / ((i + 1) as f64 * one_fraction);
            total += tmp;
            next_one_portion = path[i].pweight - tmp * zero_fraction * ((depth - i) as f64 / (depth + 1) as f64);
        } else {
            total += (path[i].pweight / zero_fraction) / ((depth - i) as f64 / (depth + 1) as f64);
        }
    }
    total
}

/// `scratch` holds the parent's unique path at its start; this node's path is built right
/// after it, so each level of the recursion has its own copy.
#[allow(clippy::too_many_arguments)]
fn shap(
    tree: &Tree,
    row: &[f64],
    phi: &mut [f64],
    node: i32,
    depth: usize,
    scratch: &mut [PathElement],
    parent_zero_fraction: f64,
    parent_one_fraction: f64,
    parent_feature: i32,
) {
    let (parent, path) = scratch.split_at_mut(depth);
    path[..depth].copy_from_slice(&parent[..depth]);
    extend(path, depth, parent_zero_fraction, parent_one_fraction, parent_feature);
    let mut depth = depth;
    if node < 0 {
        let value = tree.leaf_value[!node as usize];
        for i in 1..=depth {
            let w = unwound_sum(path, depth, i);
            let el = path[i];
            phi[el.feature as usize] += w * (el.one_fraction - el.zero_fraction) * value;
        }
        return;
    }
    let i = node as usize;
    let feature = i32::from(tree.split_feature[i]);
    let (left, right) = (tree.left_child[i], tree.right_child[i]);
    let hot = if tree.goes_left(i, row[feature as usize]) { left } else { right };
    let cold = if hot == left { right } else { left };
    let w = cover(tree, node);
    let hot_zero_fraction = cover(tree, hot) / w;
    let cold_zero_fraction = cover(tree, cold) / w;
    let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
    // A feature split on before: undo that split, to redo it here.
    if let Some(k) = (0..=depth).find(|&k| path[k].feature == feature) {
        incoming_zero = path[k].zero_fraction;
        incoming_one = path[k].one_fraction;
        unwind(path, depth, k);
        depth -= 1;
    }
    shap(tree, row, phi, hot, depth + 1, path, hot_zero_fraction * incoming_zero, incoming_one, feature);
    shap(tree, row, phi, cold, depth + 1, path, cold_zero_fraction * incoming_zero, 0.0, feature);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trees::tests::example_params;
    use crate::schema::{FeatureRow, N_FEATURES};

    #[test]
    fn contributions_add_up_to_the_raw_score() {
        let p = example_params();
        let shap = TreeShap::new(&p);
        for v in [-3.0, -2.5, 0.0, 0.5, 2.0] {
            let mut row = [0.0; N_FEATURES];
            row[13] = v;
            row[3] = -v;
            row[11] = v / 2.0;
            let mut phi = [0.0; N_FEATURES];
            let bias = shap.contributions(&p, &row, &mut phi);
            let total: f64 = bias + phi.iter().sum::<f64>();
            assert!((total - p.raw_reference(&row)).abs() < 1e-12, "{total} vs {}", p.raw_reference(&row));
        }
    }

    /// The tables against the recursion, on random trees (deep ones take the recursion anyway).
    #[test]
    fn tables_equal_the_recursion() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let p = crate::model::tree_eval::tests::random_params(&mut rng, 40);
        let shap = TreeShap::new(&p);
        assert!(shap.tables.iter().filter(|t| t.is_some()).count() > 10, "too few tables to test");
        for _ in 0..200 {
            let row: FeatureRow = std::array::from_fn(|_| rng.gen_range(-2.5..2.5));
            let mut fast = [0.0; N_FEATURES];
            let mut slow = [0.0; N_FEATURES];
            shap.contributions(&p, &row, &mut fast);
            let mut scratch = vec![PathElement::default(); shap.max_path * (shap.max_path + 1) / 2];
            for tree in p.trees.iter().filter(|t| !t.split_feature.is_empty()) {
                super::shap(tree, &row, &mut slow, 0, 0, &mut scratch, 1.0, 1.0, -1);
            }
            for j in 0..N_FEATURES {
                assert!((fast[j] - slow[j]).abs() < 1e-12, "feature {j}: {} vs {}", fast[j], slow[j]);
            }
        }
    }

    /// The same on LightGBM's categorical splits (the fixture of tests/categorical_lightgbm.rs,
    /// which checks the tables against LightGBM itself), with codes in and out of the sets,
    /// unseen (-1), past every set, and missing.
    #[test]
    fn tables_equal_the_recursion_on_categorical_splits() {
        use rand::{Rng, SeedableRng};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/categorical/lightgbm.txt");
        let (schema, p) = crate::model::lightgbm::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        p.check(&schema).unwrap();
        assert!(p.has_categorical());
        let shap = TreeShap::new(&p);
        assert!(shap.tables.iter().all(Option::is_some), "six features: every leaf has a table");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let width = schema.width();
        for _ in 0..500 {
            let row: Vec<f64> = (0..width)
                .map(|j| match rng.gen_range(0..10) {
                    0 => f64::NAN,
                    1 if schema.is_categorical(j) => crate::schema::UNSEEN,
                    2 if schema.is_categorical(j) => 64.0,
                    _ if schema.is_categorical(j) => rng.gen_range(0..schema.features()[j].categories().len()) as f64,
                    _ => match schema.name(j) {
                        "is_night" => f64::from(rng.gen_range(0..2u8)),
                        "hour" => f64::from(rng.gen_range(0..24u8)),
                        _ => rng.gen_range(0.0..1500.0),
                    },
                })
                .collect();
            let mut fast = vec![0.0; width];
            let mut slow = vec![0.0; width];
            let bias = shap.contributions(&p, &row, &mut fast);
            let mut scratch = vec![PathElement::default(); shap.max_path * (shap.max_path + 1) / 2];
            for tree in p.trees.iter().filter(|t| !t.split_feature.is_empty()) {
                super::shap(tree, &row, &mut slow, 0, 0, &mut scratch, 1.0, 1.0, -1);
            }
            for j in 0..width {
                assert!((fast[j] - slow[j]).abs() < 1e-12, "{row:?}, feature {j}: {} vs {}", fast[j], slow[j]);
            }
            let total = bias + fast.iter().sum::<f64>();
            assert!((total - p.raw_reference(&row)).abs() < 1e-12, "{row:?}");
        }
    }

    #[test]
    fn a_stump_gives_its_feature_the_whole_difference() {
        // One split on V14: the row's leaf minus the cover-weighted mean goes to V14 alone.
        let p = example_params();
        let stump = TreeParams { trees: vec![p.trees[0].clone()], ..p };
        let shap = TreeShap::new(&stump);
        let mut row = [0.0; N_FEATURES];
        row[13] = -3.0; // left leaf: 1.5; mean: 0.1 * 1.5 + 0.9 * -0.5 = -0.3
        let mut phi = [0.0; N_FEATURES];
        let bias = shap.contributions(&stump, &row, &mut phi);
        assert!((bias - (-1.0 - 0.3)).abs() < 1e-12);
        assert!((phi[13] - 1.8).abs() < 1e-12);
        assert_eq!(phi.iter().filter(|v| **v != 0.0).count(), 1);
    }
}
