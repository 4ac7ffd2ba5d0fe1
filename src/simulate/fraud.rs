//! The handbook's step 5 (notes §1.5): fraud labels from three scenarios, applied in order so
//! that a later scenario overwrites an earlier one's label.

use std::collections::HashMap;

use rand::seq::index;

use super::generate::{SCENARIO_2_STREAM, SCENARIO_3_STREAM, Tx, rng};

/// Scenario 1: amounts strictly above this many cents, before scenario 3's ×5.
pub(super) const SCENARIO_1_CENTS: u64 = 22_000;
/// Scenario 2: terminals drawn per day and the days their transactions stay fraudulent.
pub(super) const TERMINALS_PER_DAY: usize = 2;
pub(super) const TERMINAL_DAYS: u64 = 28;
/// Scenario 3: customers drawn per day, the days looked at, and the ×5 of the share picked.
pub(super) const CUSTOMERS_PER_DAY: usize = 3;
pub(super) const CUSTOMER_DAYS: u64 = 14;
pub(super) const SCENARIO_3_FACTOR: u64 = 5;

/// What the scenarios drew; the tests check the labels against it.
#[derive(Debug, Default)]
pub(super) struct Draws {
    /// Scenario 2: per draw day, the compromised terminals.
    pub terminals: Vec<(u64, Vec<u32>)>,
    pub customers: Vec<CustomerDraw>,
}

/// Scenario 3 on one draw day.
#[derive(Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "kept for the tests, which check the labels against them"))]
pub(super) struct CustomerDraw {
    pub day: u64,
    pub customers: Vec<u32>,
    /// The rows of those customers in the window, ascending.
    pub pool: Vec<usize>,
    /// The rows multiplied by 5 and labelled 3: a third of the pool, rounded down.
    pub picked: Vec<usize>,
}

/// Labels `txs` (sorted by time) in place; `customers` and `terminals` are how many were
/// simulated, including those without transactions, which can be drawn too.
pub(super) fn add_frauds(seed: u64, customers: usize, terminals: usize, txs: &mut [Tx]) -> Draws {
    for t in txs.iter_mut() {
        t.scenario = u8::from(t.cents > SCENARIO_1_CENTS);
    }
    // As the handbook's range(max TX_TIME_DAYS): nothing is drawn on the last day with data.
    let Some(draw_days) = txs.iter().map(Tx::day).max() else {
        return Draws::default();
    };
    let mut draws = Draws::default();

    let mut rng2 = rng(seed, SCENARIO_2_STREAM);
    let mut windows: HashMap<u32, Vec<u64>> = HashMap::new();
    for day in 0..draw_days {
        let drawn: Vec<u32> =
            index::sample(&mut rng2, terminals, TERMINALS_PER_DAY.min(terminals)).iter().map(|i| i as u32).collect();
        for &t in &drawn {
            windows.entry(t).or_default().push(day);
        }
        draws.terminals.push((day, drawn));
    }
    for t in txs.iter_mut() {
        if let Some(starts) = windows.get(&t.terminal) {
            let day = t.day();
            if starts.iter().any(|&d| d <= day && day < d + TERMINAL_DAYS) {
                t.scenario = 2;
            }
        }
    }

    // Each customer's rows in time order (CSR), to cut a window out of them by binary search.
    let mut starts = vec![0usize; customers + 1];
    for t in txs.iter() {
        starts[t.customer as usize + 1] += 1;
    }
    for c in 0..customers {
        starts[c + 1] += starts[c];
    }
    let mut rows = vec![0usize; txs.len()];
    let mut next = starts.clone();
    for (row, t) in txs.iter().enumerate() {
        rows[next[t.customer as usize]] = row;
        next[t.customer as usize] += 1;
    }

    let mut rng3 = rng(seed, SCENARIO_3_STREAM);
    for day in 0..draw_days {
        let drawn: Vec<u32> =
            index::sample(&mut rng3, customers, CUSTOMERS_PER_DAY.min(customers)).iter().map(|i| i as u32).collect();
        let mut pool = Vec::new();
        for &c in &drawn {
            let own = &rows[starts[c as usize]..starts[c as usize + 1]];
            let from = own.partition_point(|&r| txs[r].day() < day);
            let to = own.partition_point(|&r| txs[r].day() < day + CUSTOMER_DAYS);
            pool.extend_from_slice(&own[from..to]);
        }
        // The handbook samples from the rows in data-frame order, which is time order.
        pool.sort_unstable();
        // The pool includes earlier frauds: a row picked on two draw days ends up ×25.
        let picked: Vec<usize> = index::sample(&mut rng3, pool.len(), pool.len() / 3).iter().map(|i| pool[i]).collect();
        for &row in &picked {
            let t = &mut txs[row];
            t.cents = t.cents.saturating_mul(SCENARIO_3_FACTOR);
            t.scenario = 3;
        }
        draws.customers.push(CustomerDraw { day, customers: drawn, pool, picked });
    }
    draws
}
