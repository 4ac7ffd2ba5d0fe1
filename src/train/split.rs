//! How rows are held out, the same way for every family: a stratified, seeded split into
//! training and test rows, and stratified, seeded folds for out-of-fold predictions. Both keep
//! the fraud rate of the whole in every part.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Indices of the training and test rows: each class is shuffled with the seed and the first
/// `round(test_size · count)` of it held out, so both parts keep the fraud rate.
pub fn stratified_split(labels: &[bool], test_size: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_test = (test_size * idx.len() as f64).round() as usize;
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Stratified folds: each row's fold in `0..k`, each class shuffled with the seed and dealt
/// round-robin. (The seed is offset by one from the split's, so folds and split are drawn
/// independently.)
pub fn stratified_folds(labels: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut fold = vec![0; labels.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(1));
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        for (r, i) in idx.into_iter().enumerate() {
            fold[i] = r % k;
        }
    }
    fold
}

/// A time-ordered split: the latest `round(test_size · n)` rows (by `times`, ties in index
/// order) are held out. Rows come from a stream in time; a model is judged on the rows after
/// the ones it learnt from, as it will be used.
pub fn time_split(times: &[i64], test_size: f64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&i| times[i]);
    let n_test = (test_size * times.len() as f64).round() as usize;
    let mut test = order.split_off(times.len() - n_test);
    order.sort_unstable();
    test.sort_unstable();
    (order, test)
}

/// Time-ordered folds: each row's fold in `0..k`, the k folds consecutive blocks of time with
/// as many rows each. Shuffled folds put a card's transactions of one day in every fold, so
/// each fold's predictions have seen that card's frauds and early stopping is optimistic;
/// blocks of time keep most of a card's burst together.
pub fn time_folds(times: &[i64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&i| times[i]);
    let mut fold = vec![0; times.len()];
    for (r, i) in order.into_iter().enumerate() {
        fold[i] = r * k / times.len().max(1);
    }
    fold
}

#[cfg(test)]
mod tests {

    #[test]
    fn time_split_holds_out_the_latest_rows_and_folds_are_blocks_of_time() {
        let times = [50, 10, 40, 20, 30, 60];
        let (train, test) = time_split(&times, 1.0 / 3.0);
        assert_eq!((train, test), (vec![1, 2, 3, 4], vec![0, 5]));
        assert_eq!(time_folds(&times, 3), vec![2, 0, 1, 0, 1, 2]);
    }

    use super::*;

    #[test]
    fn split_is_stratified_disjoint_and_reproducible() {
        let labels: Vec<bool> = (0..1000).map(|i| i % 50 == 0).collect(); // 20 frauds
        let (train, test) = stratified_split(&labels, 0.3, 7);
        assert_eq!(train.len() + test.len(), 1000);
        assert_eq!(test.iter().filter(|&&i| labels[i]).count(), 6);
        assert_eq!(test.len(), 300);
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1000);
        assert_eq!(stratified_split(&labels, 0.3, 7), (train.clone(), test.clone()));
        assert_ne!(stratified_split(&labels, 0.3, 8).1, test);
    }

    #[test]
    fn folds_are_stratified_and_seeded() {
        let labels: Vec<bool> = (0..300).map(|i| i % 10 == 0).collect();
        let f = stratified_folds(&labels, 3, 7);
        for k in 0..3 {
            assert_eq!(f.iter().zip(&labels).filter(|(fk, l)| **fk == k && **l).count(), 10);
        }
        assert_eq!(f, stratified_folds(&labels, 3, 7));
        assert_ne!(f, stratified_folds(&labels, 3, 8));
    }
}
