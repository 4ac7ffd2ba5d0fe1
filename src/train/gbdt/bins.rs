//! Binning: every feature of the training rows as at most `bins` one-byte bins, bin 0 holding
//! the rows a split cannot order (missing values; for a categorical feature also unseen, rare
//! and out-of-range codes), and the map back from bins to the values our trees store.
//!
//! A numeric feature's bins are cut between values: `x <= cut[b]` exactly when `x`'s bin is at
//! most `b`, for every value, so a threshold written into a tree decides on real rows as the
//! binned split decided on the training rows. The bins are computed once on all the training
//! rows and shared by the fold models: they see the held-out rows' values, never their labels,
//! as LightGBM's own cross-validation does.

use ndarray::Array2;

/// The most bins a feature can have: bins are bytes.
pub const MAX_BINS: usize = 256;

/// A category seen on fewer training rows than this shares bin 0 with missing values (LightGBM's
/// `min_data_in_bin`): too few rows to learn anything of its own.
pub const MIN_CATEGORY_ROWS: usize = 3;

/// Codes above this count as unseen: a split's set is a bitset up to its largest code, so a
/// huge code would make a huge set.
pub const MAX_CODE: u32 = (1 << 20) - 1;

/// How one feature's bins map back to values.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `cut[b]` for `b >= 1`: a row in bin `1..=b` has a value `<= cut[b]`, a row in a later
    /// bin a larger one. `cut[0]` is unused.
    Numeric { cut: Vec<f64> },
    /// `code[b]` for `b >= 1`: the category of bin `b`. `code[0]` is unused.
    Categorical { code: Vec<u32> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBins {
    /// Bins in use, bin 0 included.
    pub bins: usize,
    pub kind: Kind,
}

impl FeatureBins {
    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, Kind::Categorical { .. })
    }
}

/// Rows of bins, row-major: a row's bins share a cache line, which is what building a histogram
/// over a node's scattered rows reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Binned {
    pub rows: usize,
    /// Bytes per row: the features, padded so rows start on aligned addresses.
    pub stride: usize,
    pub data: Vec<u8>,
}

impl Binned {
    #[inline]
    pub fn row(&self, r: usize) -> &[u8] {
        &self.data[r * self.stride..(r + 1) * self.stride]
    }

    /// The rows `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Binned {
        let mut data = Vec::with_capacity(rows.len() * self.stride);
        for &r in rows {
            data.extend_from_slice(self.row(r));
        }
        Binned { rows: rows.len(), stride: self.stride, data }
    }
}

/// A category's code as the trees read it ([`crate::model::trees::in_set`]): truncated toward
/// zero; NaN, negative, and codes past [`MAX_CODE`] have none.
#[inline]
pub fn code_of(value: f64) -> Option<u32> {
    if value > -1.0 && value <= f64::from(MAX_CODE) { Some(value as u32) } else { None }
}

/// Bins the rows `rows` of `x`, each feature on its own, `threads` features at a time.
pub fn bin(
    x: &Array2<f64>,
    categorical: &[bool],
    rows: &[usize],
    max_bins: usize,
    threads: usize,
) -> (Vec<FeatureBins>, Binned) {
    let (n, width) = (rows.len(), x.ncols());
    // The training rows, column-major: each feature's values are then read contiguously.
    let mut columns = vec![0.0; n * width];
    for (r, &i) in rows.iter().enumerate() {
        for (j, v) in x.row(i).iter().enumerate() {
            columns[j * n + r] = *v;
        }
    }
    let threads = threads.clamp(1, width.max(1));
    let per_feature: Vec<(FeatureBins, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let columns = &columns;
                s.spawn(move || {
                    (t..width)
                        .step_by(threads)
                        .map(|j| {
                            let column = &columns[j * n..(j + 1) * n];
                            if categorical[j] {
                                categorical_bins(column, max_bins)
                            } else {
                                numeric_bins(column, max_bins)
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut done: Vec<std::vec::IntoIter<(FeatureBins, Vec<u8>)>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)).into_iter())
            .collect();
        (0..width).map(|j| done[j % threads].next().expect("every feature binned")).collect()
    });
    let stride = width.next_multiple_of(8).max(8);
    let mut data = vec![0u8; n * stride];
    let mut features = Vec::with_capacity(width);
    for (j, (feature, column)) in per_feature.into_iter().enumerate() {
        for (r, b) in column.into_iter().enumerate() {
            data[r * stride + j] = b;
        }
        features.push(feature);
    }
    (features, Binned { rows: n, stride, data })
}

/// One bin per distinct value when they fit, else bins of about equal counts; cuts halfway
/// between the largest value of a bin and the smallest of the next (LightGBM's choice), so
/// unseen values between them split evenly.
fn numeric_bins(column: &[f64], max_bins: usize) -> (FeatureBins, Vec<u8>) {
    // -0.0 and 0.0 are one value to a comparison, so one value here.
    let mut values: Vec<f64> = column.iter().filter(|v| !v.is_nan()).map(|v| v + 0.0).collect();
    values.sort_unstable_by(f64::total_cmp);
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &v in &values {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    // Each value bin as (smallest, largest) value in it.
    let value_bins = max_bins - 1;
    let ranges: Vec<(f64, f64)> = if distinct.len() <= value_bins {
        distinct.iter().map(|&(v, _)| (v, v)).collect()
    } else {
        equal_counts(&distinct, values.len(), value_bins)
    };
    let mut cut = vec![f64::NAN];
    for w in ranges.windows(2) {
        let (upper, next) = (w[0].1, w[1].0);
        let mid = 0.5 * upper + 0.5 * next;
        cut.push(if mid >= upper && mid < next { mid } else { upper });
    }
    // The last bin's cut sends every value left, unseen larger ones too: the split "all values
    // against the missing ones". (An infinite cut only for an infinite value, which the
    // readers refuse.)
    if let Some(&(_, largest)) = ranges.last() {
        cut.push(largest.max(f64::MAX));
    }
    let bins =
        column.iter().map(|&v| if v.is_nan() { 0 } else { (1 + cut[1..].partition_point(|&c| c < v)) as u8 }).collect();
    (FeatureBins { bins: cut.len(), kind: Kind::Numeric { cut } }, bins)
}

/// Greedy equal-count bins over distinct values and their counts: a bin closes once it holds its
/// share of the rows still to place, and a value heavier than that share gets a bin of its own.
fn equal_counts(distinct: &[(f64, usize)], total: usize, bins: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(bins);
    let (mut rest, mut bins_left) = (total as f64, bins as f64);
    let mut open: Option<(f64, f64, usize)> = None;
    for (i, &(v, c)) in distinct.iter().enumerate() {
        if let Some((lo, hi, n)) = open
            && bins_left > 1.0
            && c as f64 >= rest / bins_left
        {
            out.push((lo, hi));
            rest -= n as f64;
            bins_left -= 1.0;
            open = None;
        }
        let (lo, _, n) = open.unwrap_or((v, v, 0));
        let n = n + c;
        open = Some((lo, v, n));
        let last = i + 1 == distinct.len();
        if last || (bins_left > 1.0 && n as f64 >= rest / bins_left) {
            out.push((lo, v));
            rest -= n as f64;
            bins_left -= 1.0;
            open = None;
        }
    }
    out
}

/// One bin per category with at least [`MIN_CATEGORY_ROWS`] rows, the most frequent first (ties
/// to the smaller code), at most `max_bins - 1` of them; the rest share bin 0.
fn categorical_bins(column: &[f64], max_bins: usize) -> (FeatureBins, Vec<u8>) {
    let mut counts: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for &v in column {
        if let Some(c) = code_of(v) {
            *counts.entry(c).or_default() += 1;
        }
    }
    let mut by_count: Vec<(u32, usize)> = counts.into_iter().filter(|&(_, n)| n >= MIN_CATEGORY_ROWS).collect();
    by_count.sort_unstable_by_key(|&(c, n)| (std::cmp::Reverse(n), c));
    by_count.truncate(max_bins - 1);
    let mut code = vec![0];
    let mut bin_of: std::collections::HashMap<u32, u8> = std::collections::HashMap::new();
    for (b, &(c, _)) in by_count.iter().enumerate() {
        code.push(c);
        bin_of.insert(c, (b + 1) as u8);
    }
    let bins = column.iter().map(|&v| code_of(v).and_then(|c| bin_of.get(&c).copied()).unwrap_or(0)).collect();
    (FeatureBins { bins: code.len(), kind: Kind::Categorical { code } }, bins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn one_column(values: &[f64], categorical: bool, max_bins: usize) -> (FeatureBins, Vec<u8>) {
        let x = Array2::from_shape_vec((values.len(), 1), values.to_vec()).unwrap();
        let rows: Vec<usize> = (0..values.len()).collect();
        let (mut f, b) = bin(&x, &[categorical], &rows, max_bins, 1);
        (f.remove(0), (0..values.len()).map(|r| b.row(r)[0]).collect())
    }

    /// The contract the trees rely on: `x <= cut[b]` exactly when x's bin is at most `b`, for
    /// every training value and every cut, with ties, heavy values and missing ones.
    #[test]
    fn cuts_reproduce_the_bins() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut values: Vec<f64> = (0..5000).map(|_| rng.gen_range(-3.0..3.0)).collect();
        values.extend(std::iter::repeat_n(0.0, 800));
        values.extend(std::iter::repeat_n(-0.0, 10));
        values.extend(std::iter::repeat_n(1.5, 300));
        values.extend(std::iter::repeat_n(f64::NAN, 40));
        values.extend((0..50).map(|i| (i as f64).exp()));
        for max_bins in [2, 3, 16, 256] {
            let (f, bins) = one_column(&values, false, max_bins);
            let Kind::Numeric { cut } = &f.kind else { panic!("numeric") };
            assert!(f.bins <= max_bins && f.bins == cut.len());
            for (&v, &b) in values.iter().zip(&bins) {
                assert_eq!(v.is_nan(), b == 0, "{v}");
                if v.is_nan() {
                    continue;
                }
                for (c, &t) in cut.iter().enumerate().skip(1) {
                    assert_eq!(v <= t, usize::from(b) <= c, "value {v} bin {b} cut {c} = {t}");
                }
            }
            if max_bins == 256 {
                // The heavy values have bins of their own.
                let bin_of = |x: f64| bins[values.iter().position(|v| *v == x).unwrap()];
                assert!(values.iter().zip(&bins).all(|(v, b)| (*b == bin_of(0.0)) == (*v == 0.0)));
                assert!(values.iter().zip(&bins).all(|(v, b)| (*b == bin_of(1.5)) == (*v == 1.5)));
                let mut sizes = vec![0; f.bins];
                bins.iter().for_each(|&b| sizes[b as usize] += 1);
                let largest_plain = sizes[1..].iter().filter(|&&s| s < 300).max().unwrap();
                assert!(*largest_plain < 3 * values.len() / 255, "bins of about equal counts: {sizes:?}");
            }
        }
    }

    #[test]
    fn few_distinct_values_get_a_bin_each_with_cuts_halfway() {
        let (f, bins) = one_column(&[3.0, 1.0, 2.0, 1.0, f64::NAN, 10.0], false, 256);
        let Kind::Numeric { cut } = &f.kind else { panic!("numeric") };
        assert_eq!(cut[1..], [1.5, 2.5, 6.5, f64::MAX]);
        assert_eq!(bins, [3, 1, 2, 1, 0, 4]);
    }

    #[test]
    fn categories_by_frequency_with_rare_missing_and_unseen_in_bin_zero() {
        let mut values = vec![7.0; 5];
        values.extend([2.0; 9]);
        values.extend([40.0; 5]);
        values.extend([5.0, 5.0, f64::NAN, -1.0, -3.0, 1e9, 2.9]);
        let (f, bins) = one_column(&values, true, 256);
        // 2 (10 rows with 2.9 truncated), then 7 and 40 (5 each, the smaller code first); 5 is rare.
        assert_eq!(f.kind, Kind::Categorical { code: vec![0, 2, 7, 40] });
        assert_eq!(&bins[..5], [2; 5]);
        assert_eq!(&bins[19..], [0, 0, 0, 0, 0, 0, 1]);
        // Capped: only the most frequent category keeps a bin.
        let (f, _) = one_column(&values, true, 2);
        assert_eq!(f.kind, Kind::Categorical { code: vec![0, 2] });
    }
}
