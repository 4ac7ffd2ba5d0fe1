//! The consumer's closing summary: counts, throughput and end-to-end latency, split where the
//! consumer received each message.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde_json::json;

use crate::decision::Decision;
use crate::wire::ErrorCode;

#[derive(Debug)]
pub struct Summary {
    pub inputs: u64,
    pub rows_scored: u64,
    /// Rows approved, sent to review and declined ([`Decision`] order).
    pub decisions: [u64; 3],
    pub dead_letters: BTreeMap<ErrorCode, u64>,
    pub delivery_retries: u64,
    /// Exactly once: transactions committed and aborted.
    pub transactions_committed: u64,
    pub transactions_aborted: u64,
    first_message: Option<Instant>,
    last_commit: Option<Instant>,
    /// Microseconds from message timestamp to output delivered (at least once) or committed
    /// (exactly once) ...
    latency_us: Histogram<u64>,
    /// ... split at the moment the consumer received the message: the wait before it (the
    /// producer's batching, the broker, the fetch) and what follows (parse, score, the output
    /// producer's batching, the broker's acknowledgement).
    wait_us: Histogram<u64>,
    output_us: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

impl Default for Summary {
    fn default() -> Self {
        Self {
            inputs: 0,
            rows_scored: 0,
            decisions: [0; 3],
            dead_letters: BTreeMap::new(),
            delivery_retries: 0,
            transactions_committed: 0,
            transactions_aborted: 0,
            first_message: None,
            last_commit: None,
            latency_us: histogram(),
            wait_us: histogram(),
            output_us: histogram(),
        }
    }
}

impl Summary {
    pub fn message_received(&mut self) {
        self.first_message.get_or_insert_with(Instant::now);
    }

    pub fn committed(&mut self) {
        self.last_commit = Some(Instant::now());
    }

    /// One scored message: microseconds from its timestamp to its output acknowledged (none
    /// without a timestamp), from its timestamp to its receipt, and from receipt to the ack.
    pub fn latency(&mut self, total_us: Option<u64>, wait_us: Option<u64>, output_us: u64) {
        if let Some(t) = total_us {
            let _ = self.latency_us.record(t.max(1));
        }
        if let Some(w) = wait_us {
            let _ = self.wait_us.record(w.max(1));
        }
        let _ = self.output_us.record(output_us.max(1));
    }

    pub fn dead_letters_total(&self) -> u64 {
        self.dead_letters.values().sum()
    }

    /// From the first message received (the group join excluded) to the last commit.
    pub fn elapsed_seconds(&self) -> f64 {
        match (self.first_message, self.last_commit) {
            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
            (Some(a), _) => a.elapsed().as_secs_f64(),
            _ => 0.0,
        }
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        ms(&self.latency_us, q)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let elapsed = self.elapsed_seconds();
        let by_code: BTreeMap<&str, u64> = self.dead_letters.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        json!({
            "inputs": self.inputs,
            "rows_scored": self.rows_scored,
            "decisions": Decision::ALL.iter().map(|d| (d.as_str(), self.decisions[*d as usize])).collect::<BTreeMap<_, _>>(),
            "dead_letters": self.dead_letters_total(),
            "dead_letters_by_code": by_code,
            "delivery_retries": self.delivery_retries,
            "transactions_committed": self.transactions_committed,
            "transactions_aborted": self.transactions_aborted,
            "elapsed_seconds": elapsed,
            "messages_per_second": if elapsed > 0.0 { self.inputs as f64 / elapsed } else { 0.0 },
            "latency_p50_ms": self.quantile_ms(0.5),
            "latency_p99_ms": self.quantile_ms(0.99),
            "latency_max_ms": self.quantile_ms(1.0),
            "wait_p50_ms": ms(&self.wait_us, 0.5),
            "wait_p99_ms": ms(&self.wait_us, 0.99),
            "output_p50_ms": ms(&self.output_us, 0.5),
            "output_p99_ms": ms(&self.output_us, 0.99),
        })
    }
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let elapsed = self.elapsed_seconds();
        let rate = if elapsed > 0.0 { self.inputs as f64 / elapsed } else { 0.0 };
        write!(
            f,
            "inputs {} (rows scored {}), dead letters {}",
            self.inputs,
            self.rows_scored,
            self.dead_letters_total()
        )?;
        let [approve, review, decline] = self.decisions;
        write!(f, "; approved {approve}, review {review}, declined {decline}")?;
        if !self.dead_letters.is_empty() {
            let parts: Vec<String> = self.dead_letters.iter().map(|(c, n)| format!("{c} {n}")).collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        if self.transactions_committed + self.transactions_aborted > 0 {
            write!(
                f,
                "; transactions committed {}, aborted {}",
                self.transactions_committed, self.transactions_aborted
            )?;
        }
        write!(
            f,
            "; {elapsed:.2}s, {rate:.0} messages/s; latency p50 {:.2} ms, p99 {:.2} ms \
             (before receipt p99 {:.2} ms, receipt to output acknowledged p99 {:.2} ms)",
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            ms(&self.wait_us, 0.99),
            ms(&self.output_us, 0.99)
        )
    }
}
