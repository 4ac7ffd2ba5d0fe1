//! A rebalance mid-stream, for both guarantees: two consumers of a group share a topic, and one
//! leaves (SIGTERM) while the stream flows, so its partitions go to the other. At least once:
//! every input scored and every score counted by one consumer; exactly once: each input's one
//! output.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;

/// `name`'s summary (`--json` on stdout, written at exit).
fn summary(dir: &std::path::Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&read(dir, &format!("{name}.out")))
        .unwrap_or_else(|e| panic!("{name}'s summary: {e}: {}", read(dir, &format!("{name}.err"))))
}

#[test]
fn two_consumers_share_a_topic_and_one_stops_midway() {
    let Stream { dir, model_dir, topic, group } = Stream::new("scale", Some(4));
    let addrs = [metrics_addr(), metrics_addr()];
    let mut members: Vec<_> = ["a", "b"]
        .iter()
        .zip(&addrs)
        .map(|(name, addr)| {
            let mut args = consume_args(&topic, &group, &model_dir);
            args.extend(["--json", "--quiet", "--metrics-addr", addr].iter().map(|s| s.to_string()));
            spawn_consumer(dir.path(), name, args)
        })
        .collect();
    // A paced stream (12 s), so both consumers work on it and B stops with the stream still
    // flowing.
    let total = 12_000u64;
    let producer = producer_thread(&topic, total, 1_000, brokers());
    for (addr, name) in addrs.iter().zip(["a", "b"]) {
        wait_for_work(addr, dir.path(), name);
    }
    assert!(!producer.is_finished(), "the stream ended before B stopped");
    sigterm_and_wait(&mut members[1], dir.path(), "b");
    producer.join().unwrap();

    let inputs = read_topic(&topic);
    assert_eq!(inputs.len() as u64, total);
    let scores_topic = format!("{topic}-scores");
    let caught_up = wait_for_records(&scores_topic, total as usize, Duration::from_secs(90)).len();
    assert!(caught_up >= total as usize, "A did not catch up: {caught_up} score records");
    sigterm_and_wait(&mut members[0], dir.path(), "a");
    let (a_summary, b_summary) = (summary(dir.path(), "a"), summary(dir.path(), "b"));
    // Read after A's exit, to count against the summaries.
    let scores = read_topic(&scores_topic);

    let scored: HashSet<_> = scores.iter().map(|r| r.key.clone()).collect();
    let missing = inputs.iter().filter(|r| !scored.contains(&r.key)).count();
    assert_eq!(missing, 0, "inputs without a score record");
    assert!(b_summary["inputs"].as_u64().unwrap() > 0, "B took part: {b_summary}");
    let handled = a_summary["inputs"].as_u64().unwrap() + b_summary["inputs"].as_u64().unwrap();
    assert_eq!(handled as usize, scores.len(), "every score record was counted by one consumer");
    assert_eq!(committed(&topic, &group, 4), end_offsets(&inputs));
    Explained::sample(&model_dir).assert_scores(&inputs, &scores, ReasonsFor::Flagged);
}

#[test]
#[ignore = "slow (about 40 s); scripts/test.sh runs it"]
fn a_rebalance_from_two_consumers_to_one_keeps_exactly_once() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-rebalance", Some(4));
    let addrs = [metrics_addr(), metrics_addr()];
    let mut members: Vec<_> = ["a", "b"]
        .iter()
        .zip(&addrs)
        .map(|(name, addr)| {
            spawn_consumer(
                dir.path(),
                name,
                eos_args(&topic, &group, &model_dir, name, &["--json", "--metrics-addr", addr]),
            )
        })
        .collect();
    let total = 12_000;
    let producer = producer_thread(&topic, total as u64, 600, brokers());
    // Both at work: each has committed a transaction on its partitions.
    for (addr, name) in addrs.iter().zip(["a", "b"]) {
        wait_for_work(addr, dir.path(), name);
    }
    assert!(!producer.is_finished(), "the stream ended before the rebalance");
    // B leaves mid-stream: its open transaction is committed before its partitions go to A.
    sigterm_and_wait(&mut members[1], dir.path(), "b");
    producer.join().unwrap();
    wait_for_every_output(&brokers(), &topic, Duration::from_secs(60));
    sigterm_and_wait(&mut members[0], dir.path(), "a");
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!((out.inputs, out.scores), (total, total));
    let handled = |name: &str| summary(dir.path(), name)["inputs"].as_u64().unwrap();
    let (ha, hb) = (handled("a"), handled("b"));
    assert!(hb > 0, "B did no work before it left");
    assert_eq!(ha + hb, total as u64, "each input counted by exactly one consumer (A {ha}, B {hb})");
    let scores = visible_records(&brokers(), &format!("{topic}-scores"));
    Explained::sample(&model_dir).assert_scores(&read_topic(&topic), &scores, ReasonsFor::Flagged);
}
