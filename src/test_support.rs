//! Helpers shared by the unit tests.

use rand::Rng;

/// One or two random edits of `m` (replace, remove or insert a byte from `junk`): the inputs
/// the differential tests of the fast parsers are fed.
pub fn mutate(rng: &mut impl Rng, m: &mut Vec<u8>, junk: &[u8]) {
    for _ in 0..rng.gen_range(1..3) {
        let i = rng.gen_range(0..m.len());
        match rng.gen_range(0..3) {
            0 => m[i] = junk[rng.gen_range(0..junk.len())],
            1 => {
                m.remove(i);
            }
            _ => m.insert(i, junk[rng.gen_range(0..junk.len())]),
        }
    }
}
