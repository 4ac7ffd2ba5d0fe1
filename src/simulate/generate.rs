//! The handbook's steps 1 to 4 (notes §1.1–1.4): customer and terminal profiles, the terminals
//! within reach of each customer, and the transactions before any fraud.

use std::ops::Range;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use super::config::SimulateConfig;

pub(super) const SECONDS_PER_DAY: u64 = 86_400;

/// ChaCha stream ids under the seed. Every purpose has its own stream, and every customer its
/// own from `CUSTOMER_STREAMS` on: a customer's profile and transactions depend only on the seed
/// and its id (not on the other customers, the thread that made them or how many there are).
const TERMINAL_STREAM: u64 = 0;
pub(super) const SCENARIO_2_STREAM: u64 = 1;
pub(super) const SCENARIO_3_STREAM: u64 = 2;
pub(super) const CUSTOMER_STREAMS: u64 = 1 << 32;

/// Time of day: N(noon, 20,000 s), kept only strictly inside the day.
const TIME_MEAN: f64 = 43_200.0;
const TIME_STD: f64 = 20_000.0;

pub(super) fn rng(seed: u64, stream: u64) -> ChaCha12Rng {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Customer {
    pub x: f64,
    pub y: f64,
    /// The amounts are N(mean_amount, mean_amount / 2).
    pub mean_amount: f64,
    pub mean_tx_per_day: f64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Terminal {
    pub x: f64,
    pub y: f64,
}

/// One transaction. Amounts are whole cents, so the ×5 of scenario 3 stays exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tx {
    /// From 00:00 of the start date.
    pub seconds: u64,
    pub customer: u32,
    pub terminal: u32,
    pub cents: u64,
    /// 0 for a genuine transaction, else the fraud scenario (1 to 3) that wrote last.
    pub scenario: u8,
}

impl Tx {
    pub fn day(&self) -> u64 {
        self.seconds / SECONDS_PER_DAY
    }
}

/// Everything drawn before the frauds; `txs` sorted by time, ties by customer then generation.
#[cfg_attr(not(test), expect(dead_code, reason = "the profiles are kept for the tests"))]
pub(super) struct World {
    pub customers: Vec<Customer>,
    pub terminals: Vec<Terminal>,
    pub txs: Vec<Tx>,
}

pub(super) fn generate(cfg: &SimulateConfig) -> World {
    let terminals = terminals(cfg.seed, cfg.terminals);
    let grid = Grid::new(&terminals, cfg.radius);
    // Contiguous blocks of customers, one per thread, joined in customer order: the output does
    // not depend on the number of threads.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, cfg.customers.max(1));
    let per_thread = cfg.customers.div_ceil(threads);
    let blocks: Vec<(Vec<Customer>, Vec<Tx>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let ids = (t * per_thread).min(cfg.customers)..((t + 1) * per_thread).min(cfg.customers);
                let (terminals, grid) = (&terminals, &grid);
                s.spawn(move || customer_block(cfg, ids, terminals, grid))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    let mut customers = Vec::with_capacity(cfg.customers);
    let mut txs = Vec::with_capacity(blocks.iter().map(|b| b.1.len()).sum());
    for (c, t) in blocks {
        customers.extend(c);
        txs.extend(t);
    }
    // Stable: equal times stay in customer order, then in the order they were drawn.
    txs.sort_by_key(|t| t.seconds);
    World { customers, terminals, txs }
}

fn customer_block(
    cfg: &SimulateConfig,
    ids: Range<usize>,
    terminals: &[Terminal],
    grid: &Grid,
) -> (Vec<Customer>, Vec<Tx>) {
    let mut customers = Vec::with_capacity(ids.len());
    let mut txs = Vec::new();
    for id in ids {
        let mut rng = rng(cfg.seed, CUSTOMER_STREAMS + id as u64);
        let c = customer_profile(&mut rng);
        let available = grid.within(terminals, c.x, c.y, cfg.radius);
        // ids fit in u32: SimulateConfig::check.
        transactions(&mut rng, &c, id as u32, &available, cfg.days, &mut txs);
        customers.push(c);
    }
    (customers, txs)
}

/// Draw order as the handbook's: x, y, mean amount, mean transactions per day.
pub(super) fn customer_profile(rng: &mut impl Rng) -> Customer {
    Customer {
        x: rng.gen_range(0.0..100.0),
        y: rng.gen_range(0.0..100.0),
        mean_amount: rng.gen_range(5.0..100.0),
        mean_tx_per_day: rng.gen_range(0.0..4.0),
    }
}

/// All terminals from one stream, in id order, so terminal i is the same whatever their number.
pub(super) fn terminals(seed: u64, n: usize) -> Vec<Terminal> {
    let mut rng = rng(seed, TERMINAL_STREAM);
    (0..n).map(|_| Terminal { x: rng.gen_range(0.0..100.0), y: rng.gen_range(0.0..100.0) }).collect()
}

/// One customer's transactions, appended to `out` in the order drawn.
pub(super) fn transactions(rng: &mut impl Rng, c: &Customer, id: u32, available: &[u32], days: u32, out: &mut Vec<Tx>) {
    // The handbook still draws for such a customer and then drops every transaction; with a
    // stream of its own, skipping the draws changes nothing for anyone else.
    if available.is_empty() {
        return;
    }
    for day in 0..u64::from(days) {
        for _ in 0..poisson(rng, c.mean_tx_per_day) {
            // `as` truncates toward zero, as Python's int(); a time outside the day loses the
            // transaction (no redraw), as in the handbook: about 3 % of them.
            let time = (TIME_MEAN + TIME_STD * standard_normal(rng)) as i64;
            if !(0 < time && time < SECONDS_PER_DAY as i64) {
                continue;
            }
            // numpy's round(x, 2) is rint(x * 100) / 100: half to even.
            let cents = (amount(rng, c.mean_amount) * 100.0).round_ties_even() as u64;
            let terminal = available[rng.gen_range(0..available.len())];
            out.push(Tx { seconds: day * SECONDS_PER_DAY + time as u64, customer: id, terminal, cents, scenario: 0 });
        }
    }
}

/// N(mean, mean / 2); a negative draw is replaced once by U(0, 2 mean), so never negative.
pub(super) fn amount(rng: &mut impl Rng, mean: f64) -> f64 {
    let a = mean + mean / 2.0 * standard_normal(rng);
    if a < 0.0 { rng.gen_range(0.0..2.0 * mean) } else { a }
}

/// Marsaglia's polar method. Only one of the pair is used, so that every draw is one call and
/// no state is carried between draws.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    loop {
        let u: f64 = rng.gen_range(-1.0..1.0);
        let v: f64 = rng.gen_range(-1.0..1.0);
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * s.ln() / s).sqrt();
        }
    }
}

/// Knuth's product of uniforms: exact, and cheap for the small means of the design (below 4;
/// e^-λ would underflow only past λ ≈ 745).
fn poisson(rng: &mut impl Rng, lambda: f64) -> u32 {
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p: f64 = rng.r#gen();
    while p > limit {
        k += 1;
        p *= rng.r#gen::<f64>();
    }
    k
}

/// Terminals bucketed in square cells at least `radius` wide, so that the terminals within reach
/// of a point are all in its cell and the 8 around it: 9 cells looked at instead of every
/// terminal (5,000 × 10,000 distances otherwise).
pub(super) struct Grid {
    cell: f64,
    side: usize,
    /// Cell c holds ids[starts[c]..starts[c + 1]], ascending.
    starts: Vec<usize>,
    ids: Vec<u32>,
}

impl Grid {
    /// At most 256 × 256 cells, whatever the radius.
    const MAX_SIDE: usize = 256;

    pub fn new(terminals: &[Terminal], radius: f64) -> Grid {
        let cell = radius.max(100.0 / Self::MAX_SIDE as f64);
        let side = ((100.0 / cell).ceil() as usize).clamp(1, Self::MAX_SIDE);
        let mut grid = Grid { cell, side, starts: vec![0; side * side + 1], ids: vec![0; terminals.len()] };
        let cells: Vec<usize> = terminals.iter().map(|t| grid.cell_of(t.x, t.y)).collect();
        for &c in &cells {
            grid.starts[c + 1] += 1;
        }
        for c in 0..side * side {
            grid.starts[c + 1] += grid.starts[c];
        }
        let mut next = grid.starts.clone();
        for (id, &c) in cells.iter().enumerate() {
            grid.ids[next[c]] = id as u32;
            next[c] += 1;
        }
        grid
    }

    fn index(&self, v: f64) -> usize {
        ((v / self.cell) as usize).min(self.side - 1)
    }

    fn cell_of(&self, x: f64, y: f64) -> usize {
        self.index(y) * self.side + self.index(x)
    }

    /// The terminals at Euclidean distance strictly below `radius`, ascending ids.
    pub fn within(&self, terminals: &[Terminal], x: f64, y: f64, radius: f64) -> Vec<u32> {
        let (cx, cy) = (self.index(x), self.index(y));
        let mut found = Vec::new();
        for gy in cy.saturating_sub(1)..=(cy + 1).min(self.side - 1) {
            for gx in cx.saturating_sub(1)..=(cx + 1).min(self.side - 1) {
                let c = gy * self.side + gx;
                for &id in &self.ids[self.starts[c]..self.starts[c + 1]] {
                    let t = terminals[id as usize];
                    if ((t.x - x).powi(2) + (t.y - y).powi(2)).sqrt() < radius {
                        found.push(id);
                    }
                }
            }
        }
        found.sort_unstable();
        found
    }
}
