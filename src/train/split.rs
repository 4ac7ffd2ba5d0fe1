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

#[cfg(test)]
mod tests {
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
