//! The gradient-boosted trees family, as stored: every tree in LightGBM's own layout, so that a
//! model imported from LightGBM keeps its exact decisions, and a model trained here is written
//! the same way. Checked once when loaded; [`super::tree_eval`] turns it into the scorer.
//!
//! A tree's internal node `i` sends a row left when `row[split_feature[i]] <= threshold[i]`,
//! except that a value its `missing` rule calls missing goes the default way. A categorical node
//! (LightGBM's `decision_type` bit 0) sends a row left when its value, a category's code, is in
//! the node's set of codes, and everything else right: NaN, negative codes, codes past the set.
//! A child `c >= 0` is internal node `c`; `c < 0` is leaf `!c`. The raw score is `base_score` plus the chosen
//! leaf of every tree, and the fraud probability `1 / (1 + exp(-sigmoid · raw))`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::schema::Schema;

pub const FORMAT: &str = "fraud-gradient-boosted-trees";
pub const FORMAT_VERSION: u32 = 1;

/// LightGBM's zero threshold: with `Missing::Zero`, |x| below it counts as missing.
pub const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// Which values a node treats as missing (LightGBM's missing types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Nothing is missing; a NaN counts as 0.
    None,
    /// Values within ±1e-35, both bounds included (and NaN), are missing.
    Zero,
    /// NaN is missing.
    Nan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub split_feature: Vec<u16>,
    pub threshold: Vec<f64>,
    pub missing: Vec<Missing>,
    pub default_left: Vec<bool>,
    pub left_child: Vec<i32>,
    pub right_child: Vec<i32>,
    /// Training rows that reached each internal node and each leaf (TreeSHAP's cover).
    pub internal_count: Vec<f64>,
    pub leaf_value: Vec<f64>,
    pub leaf_count: Vec<f64>,
    /// Per internal node, whether it splits on categories; empty when none does (so a model
    /// without categorical splits is written as before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categorical: Vec<bool>,
    /// LightGBM's category sets: categorical node `i` owns the 32-bit words
    /// `cat_threshold[cat_boundaries[c]..cat_boundaries[c + 1]]`, `c = threshold[i]`; code `v` is
    /// in the set when bit `v % 32` of word `v / 32` is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cat_boundaries: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cat_threshold: Vec<u32>,
}

/// The parameters as stored in `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeParams {
    /// Added to the sum of the trees' leaves.
    pub base_score: f64,
    /// The raw score's scale in the probability (LightGBM's binary `sigmoid`, 1 by default).
    pub sigmoid: f64,
    pub trees: Vec<Tree>,
    /// How the trees were made: the trainer's settings, or where they were imported from.
    /// Informational, not used for scoring.
    pub origin: serde_json::Value,
}

impl Tree {
    pub fn num_leaves(&self) -> usize {
        self.leaf_value.len()
    }

    /// Sets each internal node's count to the sum of the leaf counts below it.
    pub fn sum_internal_counts(&mut self) {
        fn total(t: &mut Tree, node: i32) -> f64 {
            if node < 0 {
                return t.leaf_count[!node as usize];
            }
            let i = node as usize;
            let sum = total(t, t.left_child[i]) + total(t, t.right_child[i]);
            t.internal_count[i] = sum;
            sum
        }
        if !self.split_feature.is_empty() {
            total(self, 0);
        }
    }

    /// A tree of one leaf.
    pub fn constant(value: f64, count: f64) -> Tree {
        Tree {
            split_feature: vec![],
            threshold: vec![],
            missing: vec![],
            default_left: vec![],
            left_child: vec![],
            right_child: vec![],
            internal_count: vec![],
            leaf_value: vec![value],
            leaf_count: vec![count],
            categorical: vec![],
            cat_boundaries: vec![],
            cat_threshold: vec![],
        }
    }

    /// Whether internal node `i` splits on categories.
    #[inline]
    pub fn is_categorical(&self, i: usize) -> bool {
        self.categorical.get(i).copied().unwrap_or(false)
    }

    /// Whether any node splits on categories.
    pub fn has_categorical(&self) -> bool {
        self.categorical.contains(&true)
    }

    /// The set of categorical node `i`, as 32-bit words.
    pub fn category_set(&self, i: usize) -> &[u32] {
        let c = self.threshold[i] as usize;
        &self.cat_threshold[self.cat_boundaries[c] as usize..self.cat_boundaries[c + 1] as usize]
    }

    /// Whether internal node `i` sends `value` left, exactly as LightGBM decides.
    #[inline]
    pub fn goes_left(&self, i: usize, value: f64) -> bool {
        if self.is_categorical(i) {
            return in_set(self.category_set(i), value);
        }
        let missing = self.missing[i];
        let value = if value.is_nan() && missing != Missing::Nan { 0.0 } else { value };
        let is_missing = match missing {
            Missing::None => false,
            // LightGBM 4's `Tree::IsZero`: `fval >= -kZeroThreshold && fval <= kZeroThreshold`
            // (3.x left the lower bound out).
            Missing::Zero => (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&value),
            Missing::Nan => value.is_nan(),
        };
        if is_missing { self.default_left[i] } else { value <= self.threshold[i] }
    }

    /// The leaf a row reaches.
    pub fn leaf(&self, row: &[f64]) -> usize {
        if self.split_feature.is_empty() {
            return 0;
        }
        let mut node = 0i32;
        while node >= 0 {
            let i = node as usize;
            node = if self.goes_left(i, row[self.split_feature[i] as usize]) {
                self.left_child[i]
            } else {
                self.right_child[i]
            };
        }
        !node as usize
    }

    /// The codes a categorical node sends left, in order.
    pub fn left_codes(&self, i: usize) -> Vec<u32> {
        let mut codes = Vec::new();
        for (w, word) in self.category_set(i).iter().enumerate() {
            for b in 0..32 {
                if word >> b & 1 == 1 {
                    codes.push(w as u32 * 32 + b);
                }
            }
        }
        codes
    }

    /// Depth of the deepest leaf (a one-leaf tree has depth 0).
    pub fn depth(&self) -> usize {
        fn walk(t: &Tree, node: i32) -> usize {
            if node < 0 {
                0
            } else {
                1 + walk(t, t.left_child[node as usize]).max(walk(t, t.right_child[node as usize]))
            }
        }
        if self.split_feature.is_empty() { 0 } else { walk(self, 0) }
    }

    /// Every index in range, every node and leaf reached exactly once from the root (so no
    /// cycles and no shared subtrees), every number finite, every categorical split on a
    /// categorical feature of `schema` and every other on a numeric one.
    fn check(&self, schema: &Schema) -> Result<(), String> {
        let n = self.split_feature.len();
        for (name, len) in [
            ("threshold", self.threshold.len()),
            ("missing", self.missing.len()),
            ("default_left", self.default_left.len()),
            ("left_child", self.left_child.len()),
            ("right_child", self.right_child.len()),
            ("internal_count", self.internal_count.len()),
        ] {
            if len != n {
                return Err(format!("{name} has {len} entries for {n} internal nodes"));
            }
        }
        let leaves = self.leaf_value.len();
        if leaves != n + 1 || self.leaf_count.len() != leaves {
            return Err(format!(
                "{n} internal nodes need {} leaves; leaf_value has {leaves}, leaf_count {}",
                n + 1,
                self.leaf_count.len()
            ));
        }
        let width = schema.width();
        if let Some(f) = self.split_feature.iter().find(|f| **f as usize >= width) {
            return Err(format!("split_feature {f} is not one of the {width} features"));
        }
        if self.threshold.iter().any(|t| t.is_nan()) {
            return Err("a threshold is NaN".into());
        }
        if self.leaf_value.iter().any(|v| !v.is_finite()) {
            return Err("a leaf value is not finite".into());
        }
        if self.internal_count.iter().chain(&self.leaf_count).any(|c| !(c.is_finite() && *c >= 0.0)) {
            return Err("a count is negative or not finite".into());
        }
        self.check_categories()?;
        for (i, &f) in self.split_feature.iter().enumerate() {
            let f = f as usize;
            if self.is_categorical(i) != schema.is_categorical(f) {
                let (node, feature) =
                    if self.is_categorical(i) { ("categorical", "numeric") } else { ("numeric", "categorical") };
                return Err(format!("node {i} is a {node} split on {:?}, a {feature} feature", schema.name(f)));
            }
        }
        if n == 0 {
            return Ok(());
        }
        let mut seen_node = vec![false; n];
        let mut seen_leaf = vec![false; leaves];
        let mut stack = vec![0i32];
        while let Some(node) = stack.pop() {
            if node >= 0 {
                let i = node as usize;
                if i >= n {
                    return Err(format!("child {node} is past the {n} internal nodes"));
                }
                if std::mem::replace(&mut seen_node[i], true) {
                    return Err(format!("node {i} is reached twice (a cycle or a shared subtree)"));
                }
                stack.push(self.left_child[i]);
                stack.push(self.right_child[i]);
            } else {
                let l = !node as usize;
                if l >= leaves {
                    return Err(format!("child {node} names leaf {l}, past the {leaves} leaves"));
                }
                if std::mem::replace(&mut seen_leaf[l], true) {
                    return Err(format!("leaf {l} is reached twice"));
                }
            }
        }
        if let Some(i) = seen_node.iter().position(|s| !s) {
            return Err(format!("node {i} is not reachable from the root"));
        }
        Ok(())
    }
}

impl Tree {
    /// The category sets: one per categorical node, in order, each a range of words.
    fn check_categories(&self) -> Result<(), String> {
        let n = self.split_feature.len();
        if self.categorical.is_empty() {
            return if self.cat_boundaries.is_empty() && self.cat_threshold.is_empty() {
                Ok(())
            } else {
                Err("category sets without categorical nodes".into())
            };
        }
        if self.categorical.len() != n {
            return Err(format!("categorical has {} entries for {n} internal nodes", self.categorical.len()));
        }
        let sets = self.categorical.iter().filter(|c| **c).count();
        if self.cat_boundaries.len() != sets + 1 || self.cat_boundaries.first() != Some(&0) {
            return Err(format!("cat_boundaries must hold {} offsets from 0 for {sets} categorical nodes", sets + 1));
        }
        if self.cat_boundaries.windows(2).any(|w| w[0] > w[1])
            || self.cat_boundaries.last().is_some_and(|&b| b as usize != self.cat_threshold.len())
        {
            return Err("cat_boundaries must rise to the length of cat_threshold".into());
        }
        for i in (0..n).filter(|&i| self.categorical[i]) {
            let t = self.threshold[i];
            if !(t >= 0.0 && t.fract() == 0.0 && (t as usize) < sets) {
                return Err(format!("categorical node {i} names set {t}, not one of the {sets}"));
            }
        }
        Ok(())
    }
}

/// Whether `value`, a category's code, is in `set` (LightGBM's `CategoricalDecision`): NaN, a
/// negative code and a code past the set's words are not. A code is truncated toward zero, as
/// C++ converts it.
#[inline]
pub fn in_set(set: &[u32], value: f64) -> bool {
    // Also false for NaN; the bounds keep the conversion exact.
    if !(value > -1.0 && value < 2_147_483_648.0) {
        return false;
    }
    let code = value as u32;
    set.get((code / 32) as usize).is_some_and(|w| w >> (code % 32) & 1 == 1)
}

impl TreeParams {
    pub fn check(&self, schema: &Schema) -> Result<(), String> {
        if self.trees.is_empty() {
            return Err("the model has no trees".into());
        }
        if !self.base_score.is_finite() {
            return Err("base_score is not finite".into());
        }
        if !(self.sigmoid.is_finite() && self.sigmoid > 0.0) {
            return Err(format!("sigmoid {} is not a positive number", self.sigmoid));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            tree.check(schema).map_err(|e| format!("tree {t}: {e}"))?;
        }
        Ok(())
    }

    pub fn digest_input(&self) -> serde_json::Value {
        json!({ "base_score": self.base_score, "sigmoid": self.sigmoid, "trees": self.trees })
    }

    /// The raw score of one row, tree by tree as LightGBM sums it: the reference the fast
    /// scorer is tested against.
    pub fn raw_reference(&self, row: &[f64]) -> f64 {
        let mut sum = 0.0;
        for tree in &self.trees {
            sum += tree.leaf_value[tree.leaf(row)];
        }
        self.base_score + sum
    }

    /// Whether any node treats values near zero as missing (the fast scorer compares only).
    pub fn has_zero_missing(&self) -> bool {
        self.trees.iter().any(|t| t.missing.contains(&Missing::Zero))
    }

    /// Whether any node splits on categories.
    pub fn has_categorical(&self) -> bool {
        self.trees.iter().any(Tree::has_categorical)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::schema::{Feature, N_FEATURES};

    /// The Kaggle schema with feature 0 (V1) categorical: codes 0..=40.
    pub(crate) fn with_categorical_v1() -> Schema {
        let mut features: Vec<Feature> = Schema::kaggle().features().to_vec();
        features[0] = Feature::categorical("V1", (0..=40).map(|c| c.to_string()).collect());
        Schema::new(features, "Class", None, None).unwrap()
    }

    /// A stump on V14 (index 13) and a two-level tree on V4 then V12.
    pub(crate) fn example_params() -> TreeParams {
        let stump = Tree {
            split_feature: vec![13],
            threshold: vec![-2.5],
            missing: vec![Missing::None],
            default_left: vec![true],
            left_child: vec![-1],
            right_child: vec![-2],
            internal_count: vec![100.0],
            leaf_value: vec![1.5, -0.5],
            leaf_count: vec![10.0, 90.0],
            categorical: vec![],
            cat_boundaries: vec![],
            cat_threshold: vec![],
        };
        let two = Tree {
            split_feature: vec![3, 11],
            threshold: vec![1.0, -1.0],
            missing: vec![Missing::None, Missing::Nan],
            default_left: vec![false, true],
            left_child: vec![-1, -2],
            right_child: vec![1, -3],
            internal_count: vec![100.0, 40.0],
            leaf_value: vec![-0.25, 0.75, 0.1],
            leaf_count: vec![60.0, 15.0, 25.0],
            categorical: vec![],
            cat_boundaries: vec![],
            cat_threshold: vec![],
        };
        TreeParams { base_score: -1.0, sigmoid: 1.0, trees: vec![stump, two], origin: json!({"test": true}) }
    }

    #[test]
    fn decisions_follow_lightgbm() {
        let p = example_params();
        let mut row = [0.0; N_FEATURES];
        row[13] = -3.0; // stump left: 1.5
        row[3] = 2.0; // right, then V12 0.0 > -1 → right: 0.1
        assert_eq!(p.raw_reference(&row), -1.0 + (1.5 + 0.1));
        row[13] = -2.5; // <= threshold goes left
        assert_eq!(p.trees[0].leaf(&row), 0);
        row[11] = f64::NAN; // NaN-missing node: default left → 0.75
        assert_eq!(p.trees[1].leaf(&row), 1);
        row[3] = f64::NAN; // None-missing node: NaN counts as 0 → 0 <= 1 left
        assert_eq!(p.trees[1].leaf(&row), 0);
    }

    #[test]
    fn zero_as_missing_uses_lightgbms_bounds() {
        let mut t = example_params().trees[0].clone();
        t.missing[0] = Missing::Zero;
        t.default_left[0] = false;
        t.threshold[0] = 5.0;
        let mut row = [0.0; N_FEATURES];
        assert_eq!(t.leaf(&row), 1, "0 is missing: default right");
        row[13] = ZERO_THRESHOLD;
        assert_eq!(t.leaf(&row), 1, "the upper bound is inside");
        row[13] = -ZERO_THRESHOLD;
        assert_eq!(t.leaf(&row), 1, "the lower bound is inside too, as in LightGBM 4");
        for v in [ZERO_THRESHOLD.next_up(), (-ZERO_THRESHOLD).next_down(), 1e-30, -1e-30] {
            row[13] = v;
            assert_eq!(t.leaf(&row), 0, "{v:e} is outside: <= 5 goes left");
        }
    }

    /// Regression: LightGBM 4.7.0 (the fixtures' version) takes -1e-35 (as f32) for zero, so
    /// the default way; we sent it by the threshold, as LightGBM 3 did.
    #[test]
    fn zero_as_missing_includes_the_lower_bound() {
        let mut t = example_params().trees[0].clone();
        t.missing[0] = Missing::Zero;
        t.default_left[0] = false;
        t.threshold[0] = 5.0;
        let mut row = [0.0; N_FEATURES];
        row[13] = -1.0000000180025095e-35;
        assert_eq!(-ZERO_THRESHOLD, row[13]);
        assert!(!t.goes_left(0, row[13]));
    }

    #[test]
    fn malformed_trees_are_refused() {
        let check = |edit: &dyn Fn(&mut TreeParams)| {
            let mut p = example_params();
            edit(&mut p);
            p.check(&Schema::kaggle()).unwrap_err()
        };
        assert!(check(&|p| p.trees[1].right_child[0] = 0).contains("reached twice"), "a cycle");
        assert!(check(&|p| p.trees[1].right_child[0] = 7).contains("past the 2 internal"));
        assert!(check(&|p| p.trees[1].left_child[1] = -9).contains("past the 3 leaves"));
        assert!(check(&|p| p.trees[0].leaf_value[1] = f64::NAN).contains("leaf value"));
        assert!(check(&|p| p.trees[0].split_feature[0] = 29).contains("not one of the 29"));
        assert!(
            check(&|p| {
                p.trees[1].leaf_value.pop();
            })
            .contains("need 3 leaves")
        );
        assert!(check(&|p| p.trees.clear()).contains("no trees"));
        assert!(check(&|p| p.sigmoid = 0.0).contains("sigmoid"));
        assert!(check(&|p| p.trees[1].left_child[1] = -3).contains("leaf 2 is reached twice"));
        example_params().check(&Schema::kaggle()).unwrap();
    }

    /// A categorical stump on feature 0: codes {1, 2, 3, 7} left (LightGBM's word 142), the
    /// rest right; and the same with a second word, code 40 left too.
    fn categorical_stump(words: Vec<u32>) -> Tree {
        let mut t = example_params().trees[0].clone();
        t.split_feature[0] = 0;
        t.threshold[0] = 0.0;
        t.categorical = vec![true];
        t.cat_boundaries = vec![0, words.len() as u32];
        t.cat_threshold = words;
        t
    }

    #[test]
    fn categorical_nodes_decide_as_lightgbm() {
        let t = categorical_stump(vec![142]);
        t.check(&with_categorical_v1()).unwrap();
        let at = |v: f64| {
            let mut row = [0.0; N_FEATURES];
            row[0] = v;
            t.leaf(&row)
        };
        for (v, leaf) in [(1.0, 0), (2.0, 0), (3.0, 0), (7.0, 0), (0.0, 1), (4.0, 1), (31.0, 1), (32.0, 1)] {
            assert_eq!(at(v), leaf, "code {v}");
        }
        assert_eq!(at(2.7), 0, "truncated toward zero, as C++ does");
        assert_eq!(at(-0.5), 1, "-0.5 truncates to 0, not in the set");
        for v in [f64::NAN, -1.0, 1e10, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(at(v), 1, "{v} goes right");
        }
        assert_eq!(t.left_codes(0), [1, 2, 3, 7]);
        let two = categorical_stump(vec![142, 1 << 8]);
        assert_eq!(two.left_codes(0), [1, 2, 3, 7, 40]);
        assert!(in_set(two.category_set(0), 40.0) && !in_set(two.category_set(0), 41.0));
    }

    #[test]
    fn malformed_category_sets_are_refused() {
        let bad = |edit: &dyn Fn(&mut Tree)| {
            let mut t = categorical_stump(vec![142]);
            edit(&mut t);
            t.check(&with_categorical_v1()).unwrap_err()
        };
        assert!(bad(&|t| t.threshold[0] = 1.0).contains("names set 1"));
        assert!(bad(&|t| t.threshold[0] = 0.5).contains("names set 0.5"));
        assert!(bad(&|t| t.cat_boundaries = vec![0, 2]).contains("rise to the length"));
        assert!(bad(&|t| t.cat_boundaries = vec![1, 1]).contains("offsets from 0"));
        assert!(bad(&|t| t.categorical = vec![true, false]).contains("2 entries for 1"));
        assert!(
            bad(&|t| {
                t.categorical.clear();
            })
            .contains("without categorical nodes")
        );
        let t = categorical_stump(vec![142]);
        assert!(t.check(&Schema::kaggle()).unwrap_err().contains("categorical split on \"V1\", a numeric feature"));
        let numeric = example_params().trees[0].clone();
        let mut on_v1 = numeric.clone();
        on_v1.split_feature[0] = 0;
        assert!(on_v1.check(&with_categorical_v1()).unwrap_err().contains("numeric split on \"V1\", a categorical"));
    }
}
