//! A tree as the trainer grows it, deciding on bins, and its conversion into our stored trees
//! (LightGBM's layout), which decide on the values themselves and send every training row to the
//! same leaf.

use super::bins::{Binned, FeatureBins, Kind};
use super::split::{BinSet, Rule, set_has};
use crate::model::trees::{Missing, Tree};

#[derive(Debug, Clone, PartialEq)]
pub struct BinNode {
    pub feature: usize,
    pub rule: Rule,
    /// As in [`Tree`]: `c >= 0` is internal node `c`, `c < 0` leaf `!c`.
    pub left: i32,
    pub right: i32,
}

/// Internal nodes in the order they were made (the root first), leaves likewise.
#[derive(Debug, Clone, PartialEq)]
pub struct BinTree {
    pub nodes: Vec<BinNode>,
    /// Each leaf's value, the learning rate applied.
    pub leaf_value: Vec<f64>,
}

/// A step of [`Walk`]: the bins that go left, and the next step for a row going right
/// (`next[0]`) or left (`next[1]`). A leaf is a step that sends every row back to itself.
#[derive(Debug, Clone)]
struct Step {
    left: BinSet,
    feature: usize,
    next: [u32; 2],
}

/// A tree laid out for walking many binned rows: every walk takes the tree's depth in steps,
/// with no branch on the data, and rows are walked [`LANES`] at a time so that the CPU
/// overlaps their chains of loads (as the scorer in `model::tree_eval` does with trees).
#[derive(Debug, Clone)]
pub struct Walk {
    steps: Vec<Step>,
    depth: usize,
    /// Where the leaves' steps start: leaf `l` is step `leaves + l`.
    leaves: usize,
}

const LANES: usize = 8;

impl Walk {
    /// Calls `f(i, leaf)` for `i` in `0..count`, with the leaf that row `row(i)` of `binned`
    /// reaches.
    #[inline]
    pub fn for_each(
        &self,
        binned: &Binned,
        count: usize,
        row: impl Fn(usize) -> usize,
        mut f: impl FnMut(usize, usize),
    ) {
        let (data, stride, steps) = (&binned.data[..], binned.stride, &self.steps[..]);
        let mut i = 0;
        while i < count {
            let lanes = LANES.min(count - i);
            let mut base = [0usize; LANES];
            for (k, b) in base.iter_mut().enumerate().take(lanes) {
                *b = row(i + k) * stride;
            }
            let mut at = [0u32; LANES];
            for _ in 0..self.depth {
                for k in 0..lanes {
                    let step = &steps[at[k] as usize];
                    let bin = data[base[k] + step.feature];
                    let go = step.left[usize::from(bin >> 6)] >> (bin & 63) & 1;
                    at[k] = step.next[go as usize];
                }
            }
            for (k, &a) in at.iter().enumerate().take(lanes) {
                f(i + k, a as usize - self.leaves);
            }
            i += lanes;
        }
    }
}

impl BinTree {
    /// The tree as a [`Walk`].
    pub fn walk(&self) -> Walk {
        let leaves = self.nodes.len();
        let to = |c: i32| if c >= 0 { c as u32 } else { (leaves + !c as usize) as u32 };
        let mut steps: Vec<Step> = self
            .nodes
            .iter()
            .map(|n| Step { left: n.rule.left_bins(), feature: n.feature, next: [to(n.right), to(n.left)] })
            .collect();
        for l in 0..self.leaf_value.len() {
            let me = (leaves + l) as u32;
            steps.push(Step { left: [0; 4], feature: 0, next: [me, me] });
        }
        Walk { steps, depth: self.depth(), leaves }
    }

    /// Depth of the deepest leaf (0 for a single leaf).
    pub fn depth(&self) -> usize {
        fn below(t: &BinTree, c: i32) -> usize {
            if c < 0 { 0 } else { 1 + below(t, t.nodes[c as usize].left).max(below(t, t.nodes[c as usize].right)) }
        }
        if self.nodes.is_empty() { 0 } else { below(self, 0) }
    }

    /// The leaf a binned row reaches, one step at a time: the reference [`Walk`] is tested
    /// against.
    #[cfg(test)]
    pub fn leaf(&self, row: &[u8]) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut at = 0i32;
        while at >= 0 {
            let node = &self.nodes[at as usize];
            at = if node.rule.goes_left(row[node.feature]) { node.left } else { node.right };
        }
        !at as usize
    }

    /// The same tree on values: a numeric node's bin cut becomes its value cut, with NaN the
    /// missing value going the learned way; a categorical node's left bins become the set of
    /// their categories' codes (LightGBM's bitset words), and everything else goes right as bin
    /// 0 did. Counts are left at 0.
    pub fn to_tree(&self, features: &[FeatureBins]) -> Tree {
        let mut out = Tree::constant(self.leaf_value[0], 0.0);
        if self.nodes.is_empty() {
            return out;
        }
        out.leaf_value.clone_from(&self.leaf_value);
        out.leaf_count = vec![0.0; self.leaf_value.len()];
        let categorical = self.nodes.iter().any(|n| matches!(n.rule, Rule::Categorical { .. }));
        if categorical {
            out.cat_boundaries.push(0);
        }
        for node in &self.nodes {
            out.split_feature.push(node.feature as u16);
            out.left_child.push(node.left);
            out.right_child.push(node.right);
            out.internal_count.push(0.0);
            out.missing.push(Missing::Nan);
            match (&node.rule, &features[node.feature].kind) {
                (Rule::Numeric { bin, missing_left }, Kind::Numeric { cut }) => {
                    out.threshold.push(cut[usize::from(*bin)]);
                    out.default_left.push(*missing_left);
                    out.categorical.extend(categorical.then_some(false));
                }
                (Rule::Categorical { left }, Kind::Categorical { code }) => {
                    let codes: Vec<u32> =
                        (1..code.len()).filter(|&b| set_has(left, b as u8)).map(|b| code[b]).collect();
                    let words = codes.iter().max().map_or(1, |m| m / 32 + 1) as usize;
                    let mut set = vec![0u32; words];
                    for c in codes {
                        set[(c / 32) as usize] |= 1 << (c % 32);
                    }
                    out.threshold.push((out.cat_boundaries.len() - 1) as f64);
                    out.cat_threshold.extend(set);
                    out.cat_boundaries.push(out.cat_threshold.len() as u32);
                    out.default_left.push(false);
                    out.categorical.push(true);
                }
                _ => unreachable!("a node's rule matches its feature's kind"),
            }
        }
        out
    }
}
