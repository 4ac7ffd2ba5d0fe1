//! `fraud simulate`: synthetic card transactions with fraud labels, written as CSV.
//!
//! The design is the *Fraud Detection Handbook*'s simulator (Le Borgne et al., ULB MLG /
//! Worldline; Ch. 3 "Transaction data simulator"): customers and terminals placed on a 100×100
//! grid, each customer paying at the terminals within a radius, a Poisson number of transactions
//! a day at normal times and amounts, and frauds from three scenarios (amounts above 220; two
//! terminals compromised for 28 days, drawn every day; three customers' cards compromised for
//! 14 days, drawn every day, a third of their transactions ×5). The distributions are the
//! handbook's, the rows are not: the random numbers come from our own seeded ChaCha streams, one
//! per customer, so a seed gives the same file whatever the number of threads.
//!
//! One difference in the output: amounts are whole cents throughout, so scenario 3's ×5 prints
//! with at most 2 decimals (the handbook multiplied floats and printed noise such as
//! 85.64999999999999).
//!
//! [`generate`] draws the profiles and transactions, [`fraud`] labels them, [`write`] writes them.

mod config;
mod fraud;
mod generate;
mod write;

use std::fmt;

use serde_json::json;

pub use config::{SimulateConfig, SimulateError};
use generate::{Tx, World};

/// What a simulation wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub frauds: u64,
    /// Frauds by final label: scenarios 1, 2 and 3.
    pub scenarios: [u64; 3],
    /// Customers and terminals with at least one transaction.
    pub customers: u64,
    pub terminals: u64,
}

impl Summary {
    fn of(txs: &[Tx], customers: usize, terminals: usize) -> Summary {
        let mut scenarios = [0u64; 3];
        let mut seen_customers = vec![false; customers];
        let mut seen_terminals = vec![false; terminals];
        for t in txs {
            if t.scenario > 0 {
                scenarios[usize::from(t.scenario) - 1] += 1;
            }
            seen_customers[t.customer as usize] = true;
            seen_terminals[t.terminal as usize] = true;
        }
        let count = |seen: Vec<bool>| seen.into_iter().filter(|&s| s).count() as u64;
        Summary {
            rows: txs.len() as u64,
            frauds: scenarios.iter().sum(),
            scenarios,
            customers: count(seen_customers),
            terminals: count(seen_terminals),
        }
    }

    pub fn fraud_rate(&self) -> f64 {
        if self.rows == 0 { 0.0 } else { self.frauds as f64 / self.rows as f64 }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let [s1, s2, s3] = self.scenarios;
        json!({
            "rows": self.rows,
            "frauds": self.frauds,
            "fraud_rate": self.fraud_rate(),
            "scenarios": {"1": s1, "2": s2, "3": s3},
            "customers": self.customers,
            "terminals": self.terminals,
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [s1, s2, s3] = self.scenarios;
        write!(
            f,
            "{} transactions, {} frauds ({:.2} %; scenarios 1/2/3: {s1}/{s2}/{s3}), {} customers, {} terminals",
            self.rows,
            self.frauds,
            100.0 * self.fraud_rate(),
            self.customers,
            self.terminals
        )
    }
}

/// Simulates and writes the CSV.
pub fn simulate(cfg: &SimulateConfig) -> Result<Summary, SimulateError> {
    cfg.check().map_err(SimulateError::Invalid)?;
    let (world, _) = build(cfg);
    let summary = Summary::of(&world.txs, cfg.customers, cfg.terminals);
    tracing::debug!(%summary, out = %cfg.out.display(), "simulated");
    write::write(&cfg.out, cfg.start, &world.txs)?;
    Ok(summary)
}

fn build(cfg: &SimulateConfig) -> (World, fraud::Draws) {
    let mut world = generate::generate(cfg);
    let draws = fraud::add_frauds(cfg.seed, cfg.customers, cfg.terminals, &mut world.txs);
    (world, draws)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::NaiveDate;

    use std::collections::{HashMap, HashSet};

    use super::fraud::{CUSTOMER_DAYS, SCENARIO_1_CENTS, TERMINAL_DAYS};
    use super::generate::{CUSTOMER_STREAMS, Grid, customer_profile, rng};
    use super::*;

    fn config(customers: usize, terminals: usize, days: u32, seed: u64) -> SimulateConfig {
        SimulateConfig {
            customers,
            terminals,
            days,
            start: NaiveDate::from_ymd_opt(2018, 4, 1).unwrap(),
            radius: 5.0,
            seed,
            out: PathBuf::from("unused.csv"),
        }
    }

    /// The transactions before the frauds (same rows, same order) and after, with the draws.
    fn before_after(cfg: &SimulateConfig) -> (World, Vec<Tx>, fraud::Draws) {
        let mut world = generate::generate(cfg);
        let before = world.txs.clone();
        let draws = fraud::add_frauds(cfg.seed, cfg.customers, cfg.terminals, &mut world.txs);
        (world, before, draws)
    }

    fn distance(c: &generate::Customer, t: &generate::Terminal) -> f64 {
        ((c.x - t.x).powi(2) + (c.y - t.y).powi(2)).sqrt()
    }

    /// Standard normal CDF (Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7).
    fn phi(z: f64) -> f64 {
        let x = z.abs() / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * x);
        let poly =
            t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        let erf = 1.0 - poly * (-x * x).exp();
        if z >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
    }

    #[test]
    fn same_seed_same_file_other_seed_other_file_gzip_same_text() {
        let dir = tempfile::tempdir().unwrap();
        let run = |seed: u64, name: &str| {
            let mut cfg = config(60, 300, 20, seed);
            cfg.out = dir.path().join(name);
            let summary = simulate(&cfg).unwrap();
            (summary, std::fs::read(&cfg.out).unwrap())
        };
        let (s1, a) = run(7, "a.csv");
        let (s2, b) = run(7, "b.csv");
        let (_, c) = run(8, "c.csv");
        let (s4, gz) = run(7, "d.csv.gz");
        assert!(s1.rows > 1000, "{s1}");
        assert_eq!((&s1, &a), (&s2, &b));
        assert_ne!(a, c);
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
        assert_eq!((&s4, &text), (&s1, &a));
    }

    #[test]
    fn csv_columns_ids_dates_and_amounts() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(40, 200, 10, 3);
        cfg.out = dir.path().join("t.csv");
        let summary = simulate(&cfg).unwrap();
        let (world, _) = build(&cfg);
        let text = std::fs::read_to_string(&cfg.out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), write::HEADER.trim_end());
        let mut n = 0;
        for (i, (line, t)) in lines.zip(&world.txs).enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f[0], i.to_string());
            let at = cfg.start.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::seconds(t.seconds as i64);
            assert_eq!(f[1], at.format("%Y-%m-%d %H:%M:%S").to_string());
            assert_eq!((f[2], f[3]), (t.customer.to_string().as_str(), t.terminal.to_string().as_str()));
            // At most 2 decimals, and the value of the cents.
            let (_, decimals) = f[4].split_once('.').unwrap();
            assert!((1..=2).contains(&decimals.len()), "{}", f[4]);
            assert_eq!((f[4].parse::<f64>().unwrap() * 100.0).round() as u64, t.cents);
            assert_eq!(
                f[5..],
                [
                    t.seconds.to_string(),
                    t.day().to_string(),
                    u8::from(t.scenario > 0).to_string(),
                    t.scenario.to_string()
                ]
            );
            n += 1;
        }
        assert_eq!(n as u64, summary.rows);
        // Sorted by time.
        assert!(world.txs.windows(2).all(|w| w[0].seconds <= w[1].seconds));
    }

    #[test]
    fn amount_format() {
        let mut buf = Vec::new();
        for c in [0, 5, 10, 100, 14600, 8750, 5716, 123_456_789] {
            write::rows(
                &mut buf,
                NaiveDate::from_ymd_opt(2018, 4, 1).unwrap(),
                &[Tx { seconds: 1, customer: 0, terminal: 0, cents: c, scenario: 0 }],
            )
            .unwrap();
        }
        let amounts: Vec<&str> = std::str::from_utf8(&buf)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('T'))
            .map(|l| l.split(',').nth(4).unwrap())
            .collect();
        assert_eq!(amounts, ["0.0", "0.05", "0.1", "1.0", "146.0", "87.5", "57.16", "1234567.89"]);
    }

    #[test]
    fn scenario_1_is_amount_above_220_before_the_x5_unless_overwritten() {
        let cfg = config(300, 300, 60, 1);
        let (world, before, _) = before_after(&cfg);
        let mut s1 = 0;
        for (b, a) in before.iter().zip(&world.txs) {
            let over = b.cents > SCENARIO_1_CENTS;
            assert_eq!(a.scenario == 1, over && a.scenario != 2 && a.scenario != 3, "{b:?} {a:?}");
            // Scenario 3 may push an amount over 220 without making it scenario 1.
            if !over {
                assert_ne!(a.scenario, 1);
            }
            s1 += usize::from(a.scenario == 1);
        }
        assert!(s1 > 0, "no scenario-1 fraud to check");
    }

    #[test]
    fn scenario_2_labels_every_transaction_of_a_drawn_terminal_for_28_days() {
        let cfg = config(300, 400, 70, 2);
        let (world, _, draws) = before_after(&cfg);
        let last_day = world.txs.iter().map(Tx::day).max().unwrap();
        assert_eq!(draws.terminals.iter().map(|d| d.0).collect::<Vec<_>>(), (0..last_day).collect::<Vec<_>>());
        let mut compromised = HashSet::new();
        for (day, terminals) in &draws.terminals {
            assert_eq!(terminals.len(), 2);
            assert_ne!(terminals[0], terminals[1]);
            for &t in terminals {
                for d in *day..day + TERMINAL_DAYS {
                    compromised.insert((t, d));
                }
            }
        }
        let (mut in_window, mut labelled) = (0, 0);
        for t in &world.txs {
            let hit = compromised.contains(&(t.terminal, t.day()));
            assert_eq!(t.scenario == 2, hit && t.scenario != 3, "{t:?}");
            in_window += usize::from(hit);
            labelled += usize::from(t.scenario == 2);
        }
        assert!(labelled > 100 && labelled <= in_window, "{labelled} of {in_window}");
    }

    #[test]
    fn scenario_3_multiplies_a_third_of_the_drawn_customers_14_days() {
        let cfg = config(100, 400, 70, 4);
        let (world, before, draws) = before_after(&cfg);
        let mut times_picked: HashMap<usize, u32> = HashMap::new();
        for draw in &draws.customers {
            assert_eq!(draw.customers.len(), 3);
            assert_eq!(draw.customers.iter().collect::<HashSet<_>>().len(), 3);
            let pool: Vec<usize> = (0..before.len())
                .filter(|&r| {
                    let t = &before[r];
                    draw.customers.contains(&t.customer) && (draw.day..draw.day + CUSTOMER_DAYS).contains(&t.day())
                })
                .collect();
            assert_eq!(draw.pool, pool, "day {}", draw.day);
            assert_eq!(draw.picked.len(), pool.len() / 3);
            assert_eq!(draw.picked.iter().collect::<HashSet<_>>().len(), draw.picked.len());
            for &r in &draw.picked {
                assert!(pool.binary_search(&r).is_ok());
                *times_picked.entry(r).or_default() += 1;
            }
        }
        assert!(times_picked.len() > 200);
        for (r, (b, a)) in before.iter().zip(&world.txs).enumerate() {
            match times_picked.get(&r) {
                Some(&k) => {
                    assert_eq!(a.scenario, 3);
                    assert_eq!(a.cents, b.cents * 5u64.pow(k));
                }
                None => {
                    assert_ne!(a.scenario, 3);
                    assert_eq!(a.cents, b.cents);
                }
            }
        }
    }

    #[test]
    fn customers_pay_only_at_terminals_within_the_radius() {
        for radius in [0.3, 5.0, 37.0, 150.0] {
            let mut cfg = config(200, 2000, 5, 5);
            cfg.radius = radius;
            let world = generate::generate(&cfg);
            let grid = Grid::new(&world.terminals, radius);
            for c in &world.customers {
                let brute: Vec<u32> = (0..world.terminals.len() as u32)
                    .filter(|&t| distance(c, &world.terminals[t as usize]) < radius)
                    .collect();
                assert_eq!(grid.within(&world.terminals, c.x, c.y, radius), brute);
            }
            for t in &world.txs {
                assert!(
                    distance(&world.customers[t.customer as usize], &world.terminals[t.terminal as usize]) < radius
                );
            }
        }
    }

    #[test]
    fn amounts_are_never_negative_and_average_as_designed() {
        let mut rng = rng(9, 99);
        for mean in [5.0, 40.0, 100.0] {
            let n = 200_000;
            let mut sum = 0.0;
            for _ in 0..n {
                let a = generate::amount(&mut rng, mean);
                assert!(a >= 0.0, "{a}");
                sum += a;
            }
            // E = m Φ(2) + (m/2) φ(2) for the kept normal draws, + m Φ(-2) for the redraws.
            let expected = mean * (phi(2.0) + 0.5 * (-2.0f64).exp() / (2.0 * std::f64::consts::PI).sqrt() + phi(-2.0));
            assert!((sum / n as f64 / expected - 1.0).abs() < 0.01, "{} vs {expected}", sum / n as f64);
        }
    }

    #[test]
    fn summary_counts_and_json() {
        let cfg = config(80, 50, 30, 6);
        let (world, _) = build(&cfg);
        let s = Summary::of(&world.txs, cfg.customers, cfg.terminals);
        assert_eq!(s.rows, world.txs.len() as u64);
        assert_eq!(s.frauds, world.txs.iter().filter(|t| t.scenario > 0).count() as u64);
        assert_eq!(s.customers, world.txs.iter().map(|t| t.customer).collect::<HashSet<_>>().len() as u64);
        assert_eq!(s.terminals, world.txs.iter().map(|t| t.terminal).collect::<HashSet<_>>().len() as u64);
        let j = s.to_json();
        assert_eq!(j["rows"], s.rows);
        assert_eq!(j["scenarios"]["2"], s.scenarios[1]);
        assert!(s.to_string().starts_with(&format!("{} transactions, {} frauds", s.rows, s.frauds)));
    }

    #[test]
    fn invalid_settings_are_refused() {
        let ok = config(1, 1, 1, 0);
        assert!(ok.check().is_ok());
        for bad in [
            SimulateConfig { customers: 0, ..ok.clone() },
            SimulateConfig { terminals: 0, ..ok.clone() },
            SimulateConfig { days: 0, ..ok.clone() },
            SimulateConfig { radius: 0.0, ..ok.clone() },
            SimulateConfig { radius: f64::NAN, ..ok.clone() },
            SimulateConfig { radius: f64::INFINITY, ..ok.clone() },
            SimulateConfig { start: NaiveDate::MAX, ..ok.clone() },
        ] {
            assert!(matches!(simulate(&bad), Err(SimulateError::Invalid(_))), "{bad:?}");
        }
        // One customer, one terminal: draws of 2 terminals or 3 customers take what there is.
        let tiny = SimulateConfig { radius: 200.0, days: 40, ..ok };
        let (world, draws) = build(&tiny);
        assert!(!world.txs.is_empty() || world.customers[0].mean_tx_per_day < 0.1);
        assert!(draws.terminals.iter().all(|d| d.1 == [0]));
    }

    /// A mid-size run against the values the design implies, given the drawn profiles.
    #[test]
    fn counts_fraud_rate_and_amounts_match_the_design() {
        let cfg = config(500, 1000, 60, 11);
        let (world, before, draws) = before_after(&cfg);
        let grid = Grid::new(&world.terminals, cfg.radius);
        let days = f64::from(cfg.days);

        // The profiles: U(0, 4) transactions a day, U(5, 100) mean amounts.
        let n = world.customers.len() as f64;
        let mean_rate = world.customers.iter().map(|c| c.mean_tx_per_day).sum::<f64>() / n;
        let mean_amount = world.customers.iter().map(|c| c.mean_amount).sum::<f64>() / n;
        assert!((mean_rate - 2.0).abs() < 0.25, "{mean_rate}");
        assert!((mean_amount - 52.5).abs() < 5.0, "{mean_amount}");

        // Transactions a day: Poisson(λ) draws, kept if int(N(43200, 20000)) is in 1..=86399.
        let keep = phi((86_400.0 - 43_200.0) / 20_000.0) - phi((1.0 - 43_200.0) / 20_000.0);
        let active: Vec<bool> =
            world.customers.iter().map(|c| !grid.within(&world.terminals, c.x, c.y, cfg.radius).is_empty()).collect();
        let rate: f64 =
            world.customers.iter().zip(&active).filter(|a| *a.1).map(|(c, _)| c.mean_tx_per_day).sum::<f64>() * keep;
        let rows = world.txs.len() as f64;
        assert!((rows / (rate * days) - 1.0).abs() < 0.02, "{rows} rows, expected {}", rate * days);
        let mut per_day = vec![0.0; cfg.days as usize];
        for t in &world.txs {
            per_day[t.day() as usize] += 1.0;
        }
        for (d, &count) in per_day.iter().enumerate() {
            assert!((count / rate - 1.0).abs() < 0.15, "day {d}: {count}, expected {rate}");
        }

        // Amounts before the ×5: mean 1.027 m for a customer of mean m, weighted by its rate.
        let factor = phi(2.0) + 0.5 * (-2.0f64).exp() / (2.0 * std::f64::consts::PI).sqrt() + phi(-2.0);
        let weighted: f64 = world
            .customers
            .iter()
            .zip(&active)
            .filter(|a| *a.1)
            .map(|(c, _)| c.mean_tx_per_day * c.mean_amount)
            .sum::<f64>();
        let expected_amount = factor * weighted * keep / rate;
        let amount = before.iter().map(|t| t.cents as f64).sum::<f64>() / rows / 100.0;
        assert!((amount / expected_amount - 1.0).abs() < 0.03, "{amount} vs {expected_amount}");

        // Frauds. Scenario 1: P(N(m, m/2) > 220) per transaction.
        let e1: f64 = world
            .customers
            .iter()
            .zip(&active)
            .filter(|a| *a.1)
            .map(|(c, _)| {
                c.mean_tx_per_day * keep * days * (1.0 - phi((220.0 - c.mean_amount) / (c.mean_amount / 2.0)))
            })
            .sum();
        // Scenario 2: on day t, the terminals drawn on the draw days of the last 28 are compromised,
        // 2 of 1000 a draw day, among terminals about equally used.
        let draw_days = per_day.len() as u64 - 1;
        let e2: f64 = per_day
            .iter()
            .enumerate()
            .map(|(t, &count)| {
                let t = t as u64;
                let drawn = (t.saturating_sub(TERMINAL_DAYS - 1)..=t).filter(|&d| d < draw_days).count();
                count * (1.0 - (1.0 - 2.0 / cfg.terminals as f64).powi(drawn as i32))
            })
            .sum();
        // Scenario 3: a third of 3 average customers' transactions over the days left of 14.
        let e3: f64 =
            (0..draw_days).map(|d| rate / n * 3.0 * (CUSTOMER_DAYS.min(u64::from(cfg.days) - d)) as f64 / 3.0).sum();
        let s = Summary::of(&world.txs, cfg.customers, cfg.terminals);
        let [s1, s2, s3] = s.scenarios.map(|c| c as f64);
        let within = |got: f64, want: f64, tolerance: f64| (got / want - 1.0).abs() < tolerance;
        assert!(s1 > 0.0 && (s1 - e1).abs() < 4.0 * e1.sqrt() + 0.2 * e1, "scenario 1: {s1} vs {e1}");
        assert!(within(s2, e2, 0.3), "scenario 2: {s2} vs {e2}");
        assert!(within(s3, e3, 0.2), "scenario 3: {s3} vs {e3}");
        let (rate_got, rate_want) = (s.fraud_rate(), (e1 + e2 + e3) / rows);
        assert!(within(rate_got, rate_want, 0.2), "fraud rate {rate_got} vs {rate_want}");
        assert_eq!(draws.customers.len() as u64, draw_days);
    }

    /// The defaults of `fraud simulate` into the temporary directory, timed, to compare with the
    /// handbook's published file: `cargo test --release --lib simulate::tests::default_size --
    /// --ignored --nocapture`.
    #[test]
    #[ignore = "writes about 30 MB and takes seconds"]
    fn default_size() {
        let mut cfg = config(5000, 10_000, 183, 0);
        cfg.out = std::env::temp_dir().join("sim.csv.gz");
        let started = std::time::Instant::now();
        let summary = simulate(&cfg).unwrap();
        println!("{summary}\n{} in {:.2} s", cfg.out.display(), started.elapsed().as_secs_f64());
    }

    #[test]
    fn a_customer_stream_does_not_depend_on_the_others() {
        let small = generate::generate(&config(10, 500, 30, 12));
        let large = generate::generate(&config(40, 500, 30, 12));
        let first = |w: &World| w.txs.iter().filter(|t| t.customer < 10).copied().collect::<Vec<_>>();
        assert_eq!(first(&small), first(&large));
        let c = customer_profile(&mut rng(12, CUSTOMER_STREAMS + 3));
        assert_eq!(c.x, small.customers[3].x);
    }
}
