//! The tree scorer: the stored trees laid out for the hot path.
//!
//! Why by hand: no crate scores LightGBM-layout trees in-process at this speed (LightGBM's own
//! single-row call is ~9 times slower here; lleaves compiles with LLVM from Python). The layout
//! follows the tree compilers (treelite, lleaves) and QuickScorer's lesson that the cost is
//! dependent loads, not arithmetic:
//! - every tree is a flat array of 16-byte nodes (threshold, feature, first child), its two
//!   children side by side and its leaves included as nodes that lead to themselves, so a walk
//!   takes a fixed number of steps with no branch on the data:
//!   `next = first + (x > threshold)`;
//! - thresholds and the row's values are compared as ordered integers ([`key`]);
//! - trees are walked sixteen at a time, one step of each in turn, so the CPU overlaps sixteen
//!   independent chains of loads; a group of trees of similar depth takes as many steps as
//!   its deepest tree (trees are grouped by depth, and the last group is padded with trees of
//!   one zero leaf, which add exactly 0).
//!
//! Decisions are LightGBM's: a row goes left when `x <= threshold`. What that compare cannot
//! decide goes through the reference walk ([`Tree::goes_left`](super::trees::Tree::goes_left)):
//! a row with a missing value, and every row of a model whose nodes treat values near zero as
//! missing or split on categories.

use super::trees::TreeParams;

/// Rows this wide or narrower have their keys on the stack.
const STACK_KEYS: usize = 64;

/// Trees walked together: enough independent chains of loads to keep the CPU busy, few enough
/// to stay in registers (chosen by measurement, docs/design.md).
const LANES: usize = 16;

/// A node of the walk. Its two children sit side by side at `first` (taken when the value is
/// `<= threshold`) and `first + 1`, so the next node is `first + (value > threshold)`: no
/// branch and no further load. A leaf has threshold +inf and `first` = itself.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
struct Node {
    /// The threshold as an ordered key (see [`key`]).
    threshold: u64,
    /// The feature's byte offset in the row (index × 8), so the walk adds it to a pointer.
    feature: u32,
    first: u32,
}

#[derive(Debug, Clone)]
struct Group {
    /// Steps to take: the depth of the deepest tree of the group.
    steps: u32,
    /// Each tree's root in `nodes`.
    root: [u32; LANES],
}

#[derive(Debug, Clone)]
pub struct Compiled {
    nodes: Vec<Node>,
    /// The leaf value of every leaf node (0 for internal nodes), aligned with `nodes`.
    values: Vec<f64>,
    /// For every leaf node, (stored tree, leaf index in it); for internal nodes, unused.
    leaf_of: Vec<(u32, u32)>,
    groups: Vec<Group>,
    base_score: f64,
    sigmoid: f64,
    /// The features a row has.
    width: usize,
    /// The stored trees, for what the fast walk cannot decide.
    reference: Box<TreeParams>,
    /// Whether no row can take the fast walk (zero-as-missing nodes, categorical splits).
    always_reference: bool,
}

/// A double as an integer that orders as the double does (for non-NaN values): comparisons
/// run on the integer units, which sustain more of them per cycle than the floating-point
/// ones (docs/design.md). Both zeros map to the key of +0, as
/// IEEE comparison treats them alike.
#[inline(always)]
fn key(v: f64) -> u64 {
    let bits = (v + 0.0).to_bits(); // -0.0 + 0.0 is +0.0
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

/// No tree or leaf: the padding tree.
const PADDING: (u32, u32) = (u32::MAX, u32::MAX);

impl Compiled {
    /// Lays out checked trees for rows of `width` features.
    pub fn new(params: &TreeParams, width: usize) -> Self {
        let mut c = Compiled {
            nodes: Vec::new(),
            values: Vec::new(),
            leaf_of: Vec::new(),
            groups: Vec::new(),
            base_score: params.base_score,
            sigmoid: params.sigmoid,
            width,
            reference: Box::new(params.clone()),
            // Nodes that treat zero as missing, or split on categories, are not plain compares.
            always_reference: params.has_zero_missing() || params.has_categorical(),
        };
        // The padding tree: one leaf of value 0.
        let pad = c.push_leaf(0.0, PADDING);
        let mut order: Vec<(usize, usize)> = params.trees.iter().map(|t| t.depth()).enumerate().collect();
        order.sort_by_key(|&(i, depth)| (std::cmp::Reverse(depth), i));
        let roots: Vec<(u32, u32)> = order.iter().map(|&(i, depth)| (c.push_tree(params, i), depth as u32)).collect();
        c.groups = roots
            .chunks(LANES)
            .map(|chunk| {
                let mut root = [pad; LANES];
                for (r, (first, _)) in root.iter_mut().zip(chunk) {
                    *r = *first;
                }
                Group { steps: chunk.iter().map(|c| c.1).max().unwrap_or(0), root }
            })
            .collect();
        // What the walk's unchecked indexing relies on.
        assert_eq!(c.nodes.len(), c.values.len());
        let n = c.nodes.len() as u32;
        assert!(
            c.nodes.iter().all(|node| node.first + 1 < n || (node.threshold == key(f64::INFINITY) && node.first < n))
        );
        assert!(c.nodes.iter().all(|node| (node.feature as usize) < 8 * width));
        assert!(c.groups.iter().all(|g| g.root.iter().all(|r| *r < n)));
        c
    }

    fn push_leaf(&mut self, value: f64, of: (u32, u32)) -> u32 {
        let me = self.nodes.len() as u32;
        self.nodes.push(Node { threshold: key(f64::INFINITY), feature: 0, first: me });
        self.values.push(value);
        self.leaf_of.push(of);
        me
    }

    /// Lays out stored tree `t` breadth first, each node's children side by side; returns
    /// its root.
    fn push_tree(&mut self, params: &TreeParams, t: usize) -> u32 {
        let tree = &params.trees[t];
        if tree.split_feature.is_empty() {
            return self.push_leaf(tree.leaf_value[0], (t as u32, 0));
        }
        let root = self.nodes.len() as u32;
        self.nodes.push(Node { threshold: 0, feature: 0, first: 0 });
        self.values.push(0.0);
        self.leaf_of.push(PADDING);
        // (slot, stored child): slots already reserved, to be filled.
        let mut queue = std::collections::VecDeque::from([(root, 0i32)]);
        while let Some((slot, child)) = queue.pop_front() {
            if child < 0 {
                let l = !child as usize;
                let s = slot as usize;
                self.nodes[s] = Node { threshold: key(f64::INFINITY), feature: 0, first: slot };
                self.values[s] = tree.leaf_value[l];
                self.leaf_of[s] = (t as u32, l as u32);
                continue;
            }
            let i = child as usize;
            let first = self.nodes.len() as u32;
            for _ in 0..2 {
                self.nodes.push(Node { threshold: 0, feature: 0, first: 0 });
                self.values.push(0.0);
                self.leaf_of.push(PADDING);
            }
            self.nodes[slot as usize] =
                Node { threshold: key(tree.threshold[i]), feature: 8 * u32::from(tree.split_feature[i]), first };
            queue.push_back((first, tree.left_child[i]));
            queue.push_back((first + 1, tree.right_child[i]));
        }
        root
    }

    /// The raw score (log-odds) of one row.
    #[inline]
    pub fn raw(&self, row: &[f64]) -> f64 {
        let mut sum = 0.0;
        let values = &self.values[..];
        let fast = self.walk(row, |at| {
            for a in at {
                // SAFETY: the walk ends on nodes of `nodes`, and `values` is aligned with it.
                sum += unsafe { values.get_unchecked(a as usize) };
            }
        });
        if fast { self.base_score + sum } else { self.reference.raw_reference(row) }
    }

    /// Calls `f(tree, leaf)` with the leaf each stored tree sends `row` to.
    pub fn for_each_leaf(&self, row: &[f64], mut f: impl FnMut(usize, usize)) {
        let fast = self.walk(row, |at| {
            for a in at {
                let (t, l) = self.leaf_of[a as usize];
                if (t, l) != PADDING {
                    f(t as usize, l as usize);
                }
            }
        });
        if !fast {
            for (t, tree) in self.reference.trees.iter().enumerate() {
                f(t, tree.leaf(row));
            }
        }
    }

    /// Walks every group to its leaves, `done` getting the node each lane ended on; false,
    /// with nothing walked, when the row needs the reference walk.
    #[inline(always)]
    fn walk(&self, row: &[f64], done: impl FnMut([u32; LANES])) -> bool {
        assert_eq!(row.len(), self.width, "a row of the model's width");
        if self.always_reference {
            return false;
        }
        if self.width <= STACK_KEYS {
            let mut keys = [0u64; STACK_KEYS];
            self.walk_keys(row, &mut keys[..self.width], done)
        } else {
            self.walk_keys(row, &mut vec![0; self.width], done)
        }
    }

    #[inline(always)]
    fn walk_keys(&self, row: &[f64], keys: &mut [u64], mut done: impl FnMut([u32; LANES])) -> bool {
        let mut missing = false;
        for (k, &v) in keys.iter_mut().zip(row) {
            missing |= v.is_nan();
            *k = key(v);
        }
        if missing {
            return false;
        }
        let x = keys.as_ptr().cast::<u8>();
        let nodes = self.nodes.as_ptr();
        for g in &self.groups {
            let mut at = g.root;
            for _ in 0..g.steps {
                for a in at.iter_mut() {
                    // SAFETY: every root and every `first` (+1) indexes `nodes`, and every
                    // feature offset lies within a row of `width` keys: `new` lays them out so
                    // and checks it, nothing changes them afterwards, and `walk` checks the
                    // row's width.
                    let (n, value) = unsafe {
                        let n = &*nodes.add(*a as usize);
                        (n, x.add(n.feature as usize).cast::<u64>().read())
                    };
                    *a = n.first + u32::from(value > n.threshold);
                }
            }
            done(at);
        }
        true
    }

    #[inline]
    pub fn probability(&self, row: &[f64]) -> f64 {
        1.0 / (1.0 + (-self.sigmoid * self.raw(row)).exp())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::trees::tests::example_params;
    use crate::model::trees::{Missing, Tree};
    use crate::schema::{FeatureRow, N_FEATURES, Schema};
    use rand::{Rng, SeedableRng};

    /// Random trees of random shapes, against the reference walk.
    pub(crate) fn random_params(rng: &mut impl Rng, trees: usize) -> TreeParams {
        let mut out = Vec::new();
        for _ in 0..trees {
            let leaves = rng.gen_range(1..20);
            // Grow by splitting a random leaf, as leaf-wise trainers do.
            let mut t = Tree::constant(rng.gen_range(-1.0..1.0), 1.0);
            while t.num_leaves() < leaves {
                let leaf = rng.gen_range(0..t.num_leaves());
                let node = t.split_feature.len() as i32;
                // Point the parent of `leaf` at the new node.
                for c in t.left_child.iter_mut().chain(t.right_child.iter_mut()) {
                    if *c == !(leaf as i32) {
                        *c = node;
                    }
                }
                let new_leaf = t.num_leaves() as i32;
                t.split_feature.push(rng.gen_range(0..N_FEATURES as u16));
                t.threshold.push(rng.gen_range(-2.0..2.0));
                t.missing.push(Missing::None);
                t.default_left.push(rng.r#gen());
                t.left_child.push(!(leaf as i32));
                t.right_child.push(!new_leaf);
                t.internal_count.push(1.0);
                t.leaf_value.push(rng.gen_range(-1.0..1.0));
                t.leaf_count.push(1.0);
                // Covers that add up: every node counts the leaves under it (a unit each).
                t.sum_internal_counts();
            }
            out.push(t);
        }
        TreeParams { base_score: rng.gen_range(-3.0..0.0), sigmoid: 1.0, trees: out, origin: serde_json::Value::Null }
    }

    #[test]
    fn fast_walk_equals_the_reference() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for trees in [1, 7, 8, 9, 61] {
            let p = random_params(&mut rng, trees);
            p.check(&Schema::kaggle()).unwrap();
            let c = Compiled::new(&p, N_FEATURES);
            assert!(!c.always_reference);
            assert_eq!(c.nodes.len(), 1 + p.trees.iter().map(|t| 2 * t.split_feature.len() + 1).sum::<usize>());
            for _ in 0..500 {
                let mut row: FeatureRow = std::array::from_fn(|_| rng.gen_range(-2.5..2.5));
                // Values on a threshold exercise `<=`.
                let t = &p.trees[rng.gen_range(0..trees)];
                if let Some(&f) = t.split_feature.first() {
                    row[f as usize] = t.threshold[0];
                }
                let (fast, slow) = (c.raw(&row), p.raw_reference(&row));
                assert!((fast - slow).abs() <= 1e-12 * slow.abs().max(1.0), "{fast} vs {slow}");
                let mut leaves = vec![usize::MAX; trees];
                c.for_each_leaf(&row, |t, l| leaves[t] = l);
                let expected: Vec<usize> = p.trees.iter().map(|t| t.leaf(&row)).collect();
                assert_eq!(leaves, expected);
            }
        }
    }

    #[test]
    fn keys_order_as_the_doubles_do() {
        let values = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -f64::MIN_POSITIVE,
            -5e-324,
            -0.0,
            0.0,
            5e-324,
            f64::MIN_POSITIVE,
            1e-35,
            1.0,
            1.0000000000000002,
            3e300,
            f64::INFINITY,
        ];
        for a in values {
            for b in values {
                assert_eq!(a > b, key(a) > key(b), "{a:e} > {b:e}");
            }
        }
    }

    #[test]
    fn zero_as_missing_models_take_the_reference_walk() {
        let mut p = example_params();
        p.trees[0].missing[0] = Missing::Zero;
        p.trees[0].default_left[0] = false;
        p.trees[0].threshold[0] = 5.0;
        let c = Compiled::new(&p, N_FEATURES);
        let row = [0.0; N_FEATURES];
        assert_eq!(p.trees[0].leaf(&row), 1, "zero is missing and goes right, though 0 <= 5");
        assert_eq!(c.raw(&row), p.raw_reference(&row));
    }

    #[test]
    fn a_row_with_a_missing_value_takes_the_reference_walk() {
        let p = example_params();
        let c = Compiled::new(&p, N_FEATURES);
        let mut row = [0.0; N_FEATURES];
        row[3] = 2.0;
        row[11] = f64::NAN; // the second tree's NaN-missing node: default left
        assert_eq!(c.raw(&row), p.raw_reference(&row));
        assert_eq!(p.trees[1].leaf(&row), 1);
        let mut leaves = vec![];
        c.for_each_leaf(&row, |t, l| leaves.push((t, l)));
        assert_eq!(leaves, [(0, 1), (1, 1)]);
    }

    #[test]
    fn rows_wider_than_the_stack_keys() {
        let mut p = example_params();
        p.trees[0].split_feature[0] = 99;
        let c = Compiled::new(&p, 100);
        let mut row = vec![0.0; 100];
        row[99] = -3.0;
        assert_eq!(c.raw(&row), p.raw_reference(&row));
        assert_eq!(p.trees[0].leaf(&row), 0);
    }
}
