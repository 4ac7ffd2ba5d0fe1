//! The trainer's settings, with their defaults.

/// The trainer's settings. The defaults were chosen on the ULB data set, on splits kept apart
/// from the benchmark's (docs/design.md). `min_hessian` 1 and `l2` 1: with the libraries'
/// default minimum hessian (1e-3) and so few positives, leaves with tiny hessians take huge
/// values. The categorical settings are LightGBM's, with its defaults.
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
    /// Histogram bins per feature, 2 to 256, the missing values' bin included.
    pub bins: u16,
    /// Folds for early stopping and the threshold.
    pub folds: usize,
    pub threads: usize,
    /// A categorical feature of at most this many bins (the missing values' included) splits
    /// one category against the rest.
    pub max_cat_to_onehot: usize,
    /// The most categories on the left of a categorical split.
    pub max_cat_threshold: usize,
    /// L2 added in categorical splits of many categories (gains and the children's values).
    pub cat_l2: f64,
    /// Added to a category's hessian when ordering categories, and the fewest rows a category
    /// needs in a node to be ordered at all.
    pub cat_smooth: f64,
    /// Rows a categorical split's left side gains between two evaluations, and the fewest rows
    /// on its right.
    pub min_data_per_group: u32,
    /// The fewest rows in either child of a categorical split.
    pub cat_min_data_in_leaf: u32,
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
            max_cat_to_onehot: 4,
            max_cat_threshold: 32,
            cat_l2: 10.0,
            cat_smooth: 10.0,
            min_data_per_group: 100,
            cat_min_data_in_leaf: 20,
        }
    }
}
