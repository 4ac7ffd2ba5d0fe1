//! Fault tolerance of the streaming path against a real broker: kill -9 mid-stream, a broker
//! that is away at start, outputs that cannot be written, model swaps, a soak, and a broker
//! restart on durable storage. The slow ones are `#[ignore]`d; scripts/test.sh runs them all.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// Every input key has at least one score record; returns (inputs, score records, duplicates).
fn assert_all_scored(topic: &str) -> (usize, usize, usize) {
    let inputs = read_topic(topic);
    let scores = read_topic(&format!("{topic}-scores"));
    let scored: HashSet<_> = scores.iter().map(|r| r.key.clone()).collect();
    let missing: Vec<_> = inputs.iter().filter(|r| !scored.contains(&r.key)).map(|r| (r.partition, r.offset)).collect();
    assert!(missing.is_empty(), "{} inputs without a score record, e.g. {:?}", missing.len(), &missing[..missing.len().min(5)]);
    (inputs.len(), scores.len(), scores.len() - scored.len())
}

#[test]
#[ignore = "slow (about 3 minutes); scripts/test.sh runs it"]
fn kill_9_at_random_points_loses_nothing() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("crash", Some(4));
    let total = 50_000;
    // Slow enough to outlast the rounds: each new member waits for the killed one's session to
    // expire before it gets partitions (about 11 s on the local broker).
    let producer = producer_thread(&topic, total, 300, brokers());
    // scripts/bench-crash.sh measures the duplicates at other commit intervals through this.
    let interval = std::env::var("FRAUD_TEST_COMMIT_INTERVAL_MS").unwrap_or_else(|_| "100".into());
    let durable = kill_9_rounds(dir.path(), 10, 9, |_| {
        let mut args = consume_args(&topic, &group, &model_dir);
        args.extend(["--quiet".into(), "--commit-interval-ms".into(), interval.clone()]);
        args
    });
    eprintln!("inputs committed by each round when it was killed: {durable:?}");
    producer.join().unwrap();
    // Right after the last kill: -e waits for the killed member's partitions.
    let mut args = consume_args(&topic, &group, &model_dir);
    args.extend(["-e", "--quiet", "--json"].iter().map(|s| s.to_string()));
    let mut last = spawn_consumer(dir.path(), "final", args);
    assert!(last.wait().unwrap().success(), "{}", read(dir.path(), "final.err"));
    assert_group_at_end(&topic, &group);
    let (inputs, scores, duplicates) = assert_all_scored(&topic);
    assert_eq!(inputs, total as usize);
    eprintln!("kill -9 x10 over {total} messages, commits every {interval} ms: {scores} score records, {duplicates} duplicates");
}

#[test]
fn consumer_waits_for_an_absent_broker_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = trained_model(&dir);
    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut child = fraud()
        .args(["consume", "--brokers", &nowhere, "--topic", "t", "--model-dir", model_dir.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(File::create(dir.path().join("c.err")).unwrap()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert!(child.try_wait().unwrap().is_none(), "the consumer gave up instead of retrying");
    terminate(&child);
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(15), "shutdown hung without a broker");
    let log = read(dir.path(), "c.err");
    assert!(log.contains("Connection refused") || log.contains("AllBrokersDown"), "no word of the broker: {log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn producer_reports_undelivered_messages_and_exits_non_zero() {
    let nowhere = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = run(&["produce", "--brokers", &nowhere, "--count", "5", "--delivery-timeout-ms", "2000", "--csv", sample_csv().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(stdout(&out).contains("we've sent 0 messages"), "{}", stdout(&out));
    assert!(stderr(&out).contains("5 of 5 messages were not delivered"), "{}", stderr(&out));
}

#[test]
fn outputs_that_cannot_be_written_hold_offsets_back_until_they_can() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = trained_model(&dir);
    let topic = unique("blocked");
    let output = unique("missing-output");
    let group = unique("g");
    create_topic(&topic, 2);
    produce(&topic, 200, &[]);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = consume_args(&topic, &group, &model_dir);
    args.extend(
        ["--quiet", "--json", "--output-topic", &output, "-X", "allow.auto.create.topics=false", "--delivery-timeout-ms", "2000", "--metrics-addr", &addr]
            .iter()
            .map(|s| s.to_string()),
    );
    let child = spawn_consumer(dir.path(), "c", args);
    let deadline = Instant::now() + Duration::from_secs(40);
    let blocked = loop {
        let m = scrape(&addr);
        if m.get("fraud_consumer_delivery_errors_total").copied().unwrap_or(0.0) > 0.0 || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(blocked["fraud_consumer_delivery_errors_total"] > 0.0, "{blocked:?}");
    assert_eq!(blocked["fraud_consumer_messages_total"], 0.0);
    assert!(committed(&topic, &group, 2).is_empty(), "offsets were committed for unwritten outputs");
    assert!(read(dir.path(), "c.err").contains("delivery_failed"));

    // The cause goes away: the consumer catches up by itself.
    create_topic(&output, 2);
    let scores = wait_for_records(&output, 200, Duration::from_secs(90));
    assert_eq!(scores.len(), 200, "{}", read(dir.path(), "c.err"));
    let inputs = read_topic(&topic);
    let deadline = Instant::now() + Duration::from_secs(10);
    while committed(&topic, &group, 2) != end_offsets(&inputs) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(committed(&topic, &group, 2), end_offsets(&inputs));
    terminate(&child);
    let mut child = child;
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_metrics_address_in_use_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = trained_model(&dir);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["consume", "--brokers", "127.0.0.1:1", "--model-dir", model_dir.to_str().unwrap(), "--metrics-addr", &addr]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("--metrics-addr {addr}")), "{}", stderr(&out));
}

#[test]
fn missing_or_corrupt_model_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["consume", "--brokers", "127.0.0.1:1", "--model-dir", dir.path().join("none").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    std::fs::write(dir.path().join("model.json"), "{ not a model").unwrap();
    let out = run(&["consume", "--brokers", "127.0.0.1:1", "--model-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a valid model"), "{}", stderr(&out));
}

fn versions_by_key(topic: &str) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for r in read_topic(topic) {
        m.entry(r.key.clone().unwrap()).or_default().push(r.json()["model_version"].as_str().unwrap().to_string());
    }
    m
}


#[test]
fn a_retrained_model_is_swapped_in_without_dropping_or_rescoring() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = trained_model(&dir);
    let v1 = model_version(&model_dir);
    let topic = unique("swap");
    let group = unique("g");
    create_topic(&topic, 2);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = consume_args(&topic, &group, &model_dir);
    args.extend(["--watch-model", "--metrics-addr", &addr].iter().map(|s| s.to_string()));
    let mut child = spawn_consumer(dir.path(), "c", args);
    let scores = format!("{topic}-scores");

    produce(&topic, 100, &[]);
    assert_eq!(wait_for_records(&scores, 100, Duration::from_secs(60)).len(), 100);
    let before: HashSet<String> = versions_by_key(&scores).into_keys().collect();

    // Retrain into the same directory (written atomically) with other settings.
    let out = run(&["train", "--csv", sample_csv().to_str().unwrap(), "--model-dir", model_dir.to_str().unwrap(), "--c", "0.01", "--json"]);
    assert!(out.status.success());
    let v2 = model_version(&model_dir);
    assert_ne!(v1, v2);
    let deadline = Instant::now() + Duration::from_secs(15);
    while scrape(&addr).get("fraud_consumer_model_reloads_total").copied().unwrap_or(0.0) < 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    produce(&topic, 100, &[]);
    assert_eq!(wait_for_records(&scores, 200, Duration::from_secs(60)).len(), 200);

    // A corrupt model on SIGHUP is refused; the running one keeps scoring.
    std::fs::write(model_dir.join("model.json"), "{ broken").unwrap();
    let hup = std::process::Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while scrape(&addr).get("fraud_consumer_model_reload_errors_total").copied().unwrap_or(0.0) < 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    produce(&topic, 50, &[]);
    let all = wait_for_records(&scores, 250, Duration::from_secs(60));
    terminate(&child);
    assert!(child.wait().unwrap().success(), "{}", read(dir.path(), "c.err"));

    assert_eq!(all.len(), 250, "one score record per input: none dropped, none scored twice");
    let by_key = versions_by_key(&scores);
    assert_eq!(by_key.len(), 250);
    for (key, versions) in &by_key {
        assert_eq!(versions.len(), 1);
        let expected = if before.contains(key) { &v1 } else { &v2 };
        assert_eq!(&versions[0], expected, "{key}");
    }
    let log = read(dir.path(), "c.err");
    assert!(log.contains("swapped in a new model") && log.contains("model_reload_failed"), "{log}");
}

#[test]
#[ignore = "slow (about 90 s); scripts/test.sh runs it"]
fn soak_one_million_messages_at_20k_per_second() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("soak", Some(4));
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = consume_args(&topic, &group, &model_dir);
    // With the consumer's own defaults (an 8 MB prefetch): what a user runs.
    args.extend(["--quiet", "--json", "--metrics-addr", &addr].iter().map(|s| s.to_string()));
    let mut child = spawn_consumer(dir.path(), "soak", args);
    std::thread::sleep(Duration::from_secs(5)); // group join
    let total = 1_000_000u64;
    let producer = producer_thread(&topic, total, 20_000, brokers());
    let started = Instant::now();
    let mut samples = Vec::new(); // (seconds, rss MiB, total lag, handled)
    while !producer.is_finished() || scrape(&addr).get("fraud_consumer_messages_total").copied().unwrap_or(0.0) < total as f64 {
        std::thread::sleep(Duration::from_secs(5));
        let m = scrape(&addr);
        let lag: f64 = m.iter().filter(|(k, _)| k.starts_with("fraud_consumer_lag_messages{")).map(|(_, v)| v).sum();
        samples.push((started.elapsed().as_secs(), rss_kib(child.id()) / 1024, lag, m.get("fraud_consumer_messages_total").copied().unwrap_or(0.0)));
        assert!(started.elapsed() < Duration::from_secs(240), "soak did not finish: {samples:?}");
    }
    producer.join().unwrap();
    terminate(&child);
    assert!(child.wait().unwrap().success());
    let summary: serde_json::Value = serde_json::from_str(&read(dir.path(), "soak.out")).unwrap();
    assert_eq!(summary["inputs"], total);
    eprintln!("soak samples (s, RSS MiB, lag, handled): {samples:?}");
    // Memory flat. It was not, before the allocator's trim threshold was fixed (src/memory.rs):
    // RSS climbed from 13 to 23-32 MiB with each lag burst as glibc kept freed fetch buffers.
    // Since then: 13 → 16, 16 and 18 MiB (warm-up to end) over three runs. A growth of 10 MiB
    // fails the old behaviour and a leak of 10 bytes a message; the ceiling is the 50 MB target.
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
    eprintln!("soak: RSS {warm} MiB after warm-up, {end} MiB at the end; max lag {max_lag}; summary {summary}");
}

#[test]
#[ignore = "needs Tansu with SQLite storage (FRAUD_DURABLE_TANSU); scripts/test.sh runs it"]
fn broker_restart_mid_stream_is_ridden_out() {
    let _alone = heavy();
    let dir = tempfile::tempdir().unwrap();
    let model_dir = trained_model(&dir);
    let mut stream = DurableStream::start(dir.path(), "restart");
    let (addr, topic) = (stream.addr.clone(), stream.topic.clone());

    let args: Vec<String> = [
        "consume", "--brokers", &addr, "--topic", &topic, "--group", &unique("g"), "--model-dir",
        model_dir.to_str().unwrap(), "--quiet", "--json",
        "--delivery-timeout-ms", "60000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut consumer = spawn_consumer(dir.path(), "c", args);
    let total = 20_000u64;
    // Crash the broker mid-stream, then bring it back on the same storage.
    stream.produce_through_a_restart(dir.path(), total);
    let scores = format!("{topic}-scores");
    let deadline = Instant::now() + Duration::from_secs(120);
    let (inputs, scored) = loop {
        let inputs = read_topic_at(&addr, &topic);
        let scored: HashSet<_> = read_topic_at(&addr, &scores).into_iter().map(|r| r.key).collect();
        if inputs.iter().all(|r| scored.contains(&r.key)) || Instant::now() > deadline {
            break (inputs, scored);
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(consumer.try_wait().unwrap().is_none(), "the consumer exited: {}", read(dir.path(), "c.err"));
    // A batch the broker wrote just before it died, unacknowledged, is sent again: the producer
    // is at least once, so inputs may repeat (20,002 once). None may be missing.
    let keys: HashSet<_> = inputs.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys.len() as u64, total, "acknowledged inputs were lost by the broker");
    eprintln!("broker restart: {} inputs for {total} keys", inputs.len());
    let missing = inputs.iter().filter(|r| !scored.contains(&r.key)).count();
    assert_eq!(missing, 0, "inputs without a score record after the restart");
    terminate(&consumer);
    assert!(consumer.wait().unwrap().success(), "{}", read(dir.path(), "c.err"));
    eprintln!("broker restart 8 s into a 20 s stream: all {total} inputs scored; consumer and producer never restarted");
}
