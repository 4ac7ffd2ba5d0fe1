//! A soak: one million messages at 20,000 a second through one consumer, with its memory and
//! lag sampled as it goes. Slow: `#[ignore]`d, and scripts/test.sh runs it.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
#[ignore = "slow (about 90 s); scripts/test.sh runs it"]
fn soak_one_million_messages_at_20k_per_second() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("soak", Some(4));
    let addr = metrics_addr();
    let mut args = consume_args(&topic, &group, &model_dir);
    // With the consumer's own defaults (an 8 MB prefetch): what a user runs. Its group events
    // are logged, not its messages.
    args.extend(GROUP_EVENTS_LOG.iter().chain(&["--json", "--metrics-addr", &addr]).map(|s| s.to_string()));
    let mut child = spawn_consumer(dir.path(), "soak", args);
    // The stream starts once the consumer holds the partitions, so the lag measured is the
    // consumer's, not its join's.
    wait_for_log(dir.path(), "soak.err", "partitions assigned", 1, Duration::from_secs(30));
    let total = 1_000_000u64;
    let producer = producer_thread(&topic, total, 20_000, brokers());
    let started = Instant::now();
    let mut samples = Vec::new(); // (seconds, rss MiB, total lag, handled)
    while !producer.is_finished() || metric(&addr, "fraud_consumer_messages_total") < total as f64 {
        // A sampling period, not a wait for a condition.
        std::thread::sleep(Duration::from_secs(5));
        let m = scrape(&addr);
        let lag: f64 = m.iter().filter(|(k, _)| k.starts_with("fraud_consumer_lag_messages{")).map(|(_, v)| v).sum();
        let handled = m.get("fraud_consumer_messages_total").copied().unwrap_or(0.0);
        samples.push((started.elapsed().as_secs(), rss_kib(child.id()) / 1024, lag, handled));
        assert!(started.elapsed() < Duration::from_secs(240), "soak did not finish: {samples:?}");
    }
    producer.join().unwrap();
    sigterm_and_wait(&mut child, dir.path(), "soak");
    let summary: serde_json::Value = serde_json::from_str(&read(dir.path(), "soak.out")).unwrap();
    assert_eq!(summary["inputs"], total);
    eprintln!("soak samples (s, RSS MiB, lag, handled): {samples:?}");
    // Memory flat. It was not, before the allocator's trim threshold was fixed (src/memory.rs):
    // RSS climbed from 13 to 23-32 MiB with each lag burst as glibc kept freed fetch buffers.
    // Since then: 13 → 16, 16 and 18 MiB (warm-up to end) over three runs. A growth of 10 MiB
    // fails the old behaviour and a leak of 10 bytes a message; the ceiling is the 50 MB target.
    assert!(samples.len() >= 3, "too few samples to judge memory: {samples:?}");
    let warm = samples[1].1;
    let end = samples.last().unwrap().1;
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    assert!(end <= warm + 10, "RSS grew from {warm} to {end} MiB: {samples:?}");
    assert!(peak < 48, "RSS reached {peak} MiB: {samples:?}");
    // Lag bounded: the consumer keeps up with 20,000/s.
    let max_lag = samples.iter().map(|s| s.2).fold(0.0, f64::max);
    assert!(max_lag < 100_000.0, "lag reached {max_lag}");
    let scores = read_topic(&format!("{topic}-scores"));
    assert_eq!(scores.len() as u64, total);
    // Every 100th record against explain: a long run scores as a short one.
    let sampled: Vec<Record> = scores.iter().step_by(100).cloned().collect();
    Explained::sample(&model_dir).assert_scores(&read_topic(&topic), &sampled, ReasonsFor::Flagged);
    eprintln!("soak: RSS {warm} MiB after warm-up, {end} MiB at the end; max lag {max_lag}; summary {summary}");
}
