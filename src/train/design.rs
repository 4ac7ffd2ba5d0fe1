//! The logistic regression's design matrix, as scikit-learn's
//! `make_column_transformer((make_pipeline(SimpleImputer(), StandardScaler()), numeric),
//! (OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=k), categorical))` builds
//! it, fitted on the training rows only:
//!
//! - numeric features, in schema order: a missing value counts as the mean of the present
//!   values; the scale is the population standard deviation of the column so imputed (the
//!   imputed rows count in the denominator), 1 for a constant column;
//! - then one block per categorical feature, in schema order: a column per kept category, in
//!   the categories' order, and, when some were left out, one last "other" column. A feature
//!   with `max_categories` or more categories seen in training keeps its `max_categories - 1`
//!   most frequent (ties: the categories last in order are kept), and "other" takes the rest, as
//!   scikit-learn's `max_categories` counts the infrequent column; categories not seen in
//!   training activate "other" too. A missing value activates no column.
//!
//! The fixture `tests/fixtures/categorical` holds scikit-learn's numbers for this.

use ndarray::{Array2, ShapeBuilder};

use crate::model::{OneHot, Scaler};
use crate::schema::Schema;

/// The encoding fitted on the training rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// The numeric features' positions in the schema, in order.
    numeric: Vec<usize>,
    pub scaler: Scaler,
    blocks: Vec<Block>,
}

/// One categorical feature's columns.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    /// The feature's position in the schema.
    feature: usize,
    name: String,
    /// The column of each of the feature's codes, `None` for "other" (or nothing, without it).
    column: Vec<Option<usize>>,
    /// The kept categories, in order.
    kept: Vec<String>,
    other: bool,
}

impl Block {
    fn width(&self) -> usize {
        self.kept.len() + usize::from(self.other)
    }
}

impl Encoding {
    /// Fits the encoding on the rows of `x` at `rows` (features in `schema`'s order; codes for
    /// the categorical ones).
    pub fn fit(schema: &Schema, x: &Array2<f64>, rows: &[usize], max_categories: usize) -> Encoding {
        let numeric: Vec<usize> = (0..schema.width()).filter(|&j| !schema.is_categorical(j)).collect();
        let scaler = scaler_of_rows(x, rows, &numeric);
        let blocks = (0..schema.width())
            .filter(|&j| schema.is_categorical(j))
            .map(|j| {
                let categories = schema.features()[j].categories();
                let mut counts = vec![0usize; categories.len()];
                for &i in rows {
                    let v = x[[i, j]];
                    if v >= 0.0 && (v as usize) < counts.len() {
                        counts[v as usize] += 1;
                    }
                }
                let seen: Vec<usize> = (0..categories.len()).filter(|&c| counts[c] > 0).collect();
                let (kept, other) = if seen.len() < max_categories {
                    (seen, false)
                } else {
                    // scikit-learn's rule: a stable ascending sort of the counts over the
                    // categories in order; the first ones become infrequent.
                    let mut by_count = seen.clone();
                    by_count.sort_by_key(|&c| counts[c]);
                    let mut kept = by_count.split_off(seen.len() - (max_categories - 1));
                    kept.sort_unstable();
                    (kept, true)
                };
                let mut column = vec![other.then_some(kept.len()); categories.len()];
                for (k, &c) in kept.iter().enumerate() {
                    column[c] = Some(k);
                }
                Block {
                    feature: j,
                    name: schema.name(j).to_string(),
                    column,
                    kept: kept.iter().map(|&c| categories[c].clone()).collect(),
                    other,
                }
            })
            .collect();
        Encoding { numeric, scaler, blocks }
    }

    /// Columns of the design.
    pub fn width(&self) -> usize {
        self.numeric.len() + self.blocks.iter().map(Block::width).sum::<usize>()
    }

    /// The rows at `rows`, encoded, in column-major order (the layout the fit reads).
    pub fn design(&self, x: &Array2<f64>, rows: &[usize]) -> Array2<f64> {
        let n = rows.len();
        let width = self.width();
        let mut data = vec![0.0; n * width];
        let inv: Vec<f64> = self.scaler.std.iter().map(|s| 1.0 / s).collect();
        // Read each source row once, contiguously; write one element into each column.
        for (r, &i) in rows.iter().enumerate() {
            let row = x.row(i);
            for (k, &j) in self.numeric.iter().enumerate() {
                let v = row[j];
                // A missing value is the mean: standardised, 0.
                data[k * n + r] = if v.is_nan() { 0.0 } else { (v - self.scaler.mean[k]) * inv[k] };
            }
            let mut start = self.numeric.len();
            for b in &self.blocks {
                let v = row[b.feature];
                if v >= 0.0
                    && let Some(Some(c)) = b.column.get(v as usize)
                {
                    data[(start + c) * n + r] = 1.0;
                } else if v < 0.0 && b.other {
                    // A category unseen when the file was read.
                    data[(start + b.kept.len()) * n + r] = 1.0;
                }
                start += b.width();
            }
        }
        Array2::from_shape_vec((n, width).f(), data).unwrap_or_else(|_| unreachable!("n x width values"))
    }

    /// The fitted weights (one per design column) as a model stores them: the numeric
    /// features' weights, and each categorical feature's one-hot block.
    pub fn split_weights(&self, weights: &[f64]) -> (Vec<f64>, Vec<OneHot>) {
        let (numeric, mut rest) = weights.split_at(self.numeric.len());
        let onehot = self
            .blocks
            .iter()
            .map(|b| {
                let (w, tail) = rest.split_at(b.width());
                rest = tail;
                OneHot { feature: b.name.clone(), categories: b.kept.clone(), other: b.other, weights: w.to_vec() }
            })
            .collect();
        (numeric.to_vec(), onehot)
    }
}

/// Mean of the present values and population standard deviation of the imputed column, per
/// numeric feature at `numeric`, over the rows at `rows`, without gathering them; a constant
/// column gets 1, so it passes through centred.
pub fn scaler_of_rows(x: &Array2<f64>, rows: &[usize], numeric: &[usize]) -> Scaler {
    let width = numeric.len();
    let mut sum = vec![0.0; width];
    let mut present = vec![0usize; width];
    for &i in rows {
        let row = x.row(i);
        for ((s, p), &j) in sum.iter_mut().zip(&mut present).zip(numeric) {
            let v = row[j];
            if !v.is_nan() {
                *s += v;
                *p += 1;
            }
        }
    }
    let mean: Vec<f64> = sum.iter().zip(&present).map(|(s, &p)| if p > 0 { s / p as f64 } else { 0.0 }).collect();
    let mut var = vec![0.0; width];
    for &i in rows {
        let row = x.row(i);
        for ((s, m), &j) in var.iter_mut().zip(&mean).zip(numeric) {
            let v = row[j];
            if !v.is_nan() {
                *s += (v - m) * (v - m);
            }
        }
    }
    let n = rows.len() as f64;
    let std = var.iter().map(|v| (v / n).sqrt()).map(|s| if s > 0.0 { s } else { 1.0 }).collect();
    Scaler { mean, std }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Feature;

    fn schema() -> Schema {
        let colours = ["blue", "green", "red", "white"].iter().map(|s| s.to_string()).collect();
        Schema::new(
            vec![Feature::numeric("amount"), Feature::categorical("colour", colours), Feature::numeric("hour")],
            "label",
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn numeric_missing_is_the_mean_and_counts_in_the_std() {
        let x = ndarray::array![[1.0, 0.0, 5.0], [f64::NAN, 0.0, 5.0], [3.0, 0.0, 5.0]];
        let e = Encoding::fit(&schema(), &x, &[0, 1, 2], 8);
        assert_eq!(e.scaler.mean, vec![2.0, 5.0]);
        // Present deviations 1 and 1, over 3 rows; the constant column gets 1.
        assert!((e.scaler.std[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(e.scaler.std[1], 1.0);
        let d = e.design(&x, &[0, 1, 2]);
        assert_eq!(d[[1, 0]], 0.0);
        assert!(d.t().is_standard_layout(), "column-major");
    }

    #[test]
    fn infrequent_categories_share_other_and_missing_is_no_column() {
        // blue 1, green 3, red 2, white 2; 3 columns keep 2 categories. Of the tied red and
        // white, the first in order (red) becomes infrequent, as in scikit-learn.
        let codes = [0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, f64::NAN, -1.0];
        let x = Array2::from_shape_fn((codes.len(), 3), |(i, j)| if j == 1 { codes[i] } else { i as f64 });
        let rows: Vec<usize> = (0..codes.len()).collect();
        let e = Encoding::fit(&schema(), &x, &rows, 3);
        assert_eq!(e.blocks[0].kept, vec!["green", "white"]);
        assert!(e.blocks[0].other);
        assert_eq!(e.width(), 2 + 3);
        let d = e.design(&x, &rows);
        let block = |i: usize| [d[[i, 2]], d[[i, 3]], d[[i, 4]]];
        assert_eq!(block(0), [0.0, 0.0, 1.0], "blue: infrequent");
        assert_eq!(block(1), [1.0, 0.0, 0.0], "green");
        assert_eq!(block(4), [0.0, 0.0, 1.0], "red: infrequent");
        assert_eq!(block(6), [0.0, 1.0, 0.0], "white");
        assert_eq!(block(8), [0.0, 0.0, 0.0], "missing");
        assert_eq!(block(9), [0.0, 0.0, 1.0], "unseen");
        let (numeric, onehot) = e.split_weights(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(numeric, vec![1.0, 2.0]);
        assert_eq!(onehot[0].weights, vec![3.0, 4.0, 5.0]);
    }

    #[test]
    fn as_many_categories_as_columns_still_make_other() {
        // 4 categories seen, 4 columns: 3 kept and "other", as scikit-learn does.
        let codes = [0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0];
        let x = Array2::from_shape_fn((codes.len(), 3), |(i, j)| if j == 1 { codes[i] } else { 0.0 });
        let rows: Vec<usize> = (0..codes.len()).collect();
        let e = Encoding::fit(&schema(), &x, &rows, 4);
        assert_eq!(e.blocks[0].kept, vec!["green", "red", "white"]);
        assert!(e.blocks[0].other);
        let e = Encoding::fit(&schema(), &x, &rows, 5);
        assert_eq!(e.blocks[0].kept.len(), 4);
        assert!(!e.blocks[0].other);
    }

    #[test]
    fn few_categories_keep_all_seen_and_no_other() {
        let codes = [0.0, 1.0, 2.0, 2.0];
        let x = Array2::from_shape_fn((4, 3), |(i, j)| if j == 1 { codes[i] } else { 0.0 });
        let e = Encoding::fit(&schema(), &x, &[0, 1, 2, 3], 8);
        // "white" never occurs in the training rows: it has no column, and no "other" exists.
        assert_eq!(e.blocks[0].kept, vec!["blue", "green", "red"]);
        assert!(!e.blocks[0].other);
    }
}
