//! An output topic that cannot be written (it does not exist and may not be created), for both
//! guarantees: nothing is committed for unwritten outputs and the consumer keeps running; once
//! the topic exists it catches up by itself.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn outputs_that_cannot_be_written_hold_offsets_back_until_they_can() {
    let Stream { dir, model_dir, topic, group } = Stream::new("blocked", Some(2));
    let output = unique("missing-output");
    produce(&topic, 200, &[]);
    let addr = metrics_addr();
    let mut args = consume_args(&topic, &group, &model_dir);
    let extra = ["--quiet", "--json", "--output-topic", &output, "-X", "allow.auto.create.topics=false"];
    args.extend(extra.iter().chain(&["--delivery-timeout-ms", "2000", "--metrics-addr", &addr]).map(|s| s.to_string()));
    let mut child = spawn_consumer(dir.path(), "c", args);
    let blocked =
        wait_for_metric(&addr, "fraud_consumer_delivery_errors_total", 1.0, Duration::from_secs(40), "blocked");
    assert_eq!(blocked["fraud_consumer_messages_total"], 0.0, "{blocked:?}");
    assert!(committed(&topic, &group, 2).is_empty(), "offsets were committed for unwritten outputs");
    assert!(read(dir.path(), "c.err").contains("delivery_failed"), "{}", read(dir.path(), "c.err"));
    assert!(topic_partitions(&brokers(), &output).is_none(), "the output topic was created after all");
    assert!(child.try_wait().unwrap().is_none(), "the consumer stopped: {}", read(dir.path(), "c.err"));

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
    sigterm_and_wait(&mut child, dir.path(), "c");
    Explained::sample(&model_dir).assert_scores(&inputs, &read_topic(&output), ReasonsFor::Flagged);
}

/// Exactly once: every transaction fails and is aborted, no offset is committed, the consumer
/// keeps running; once the topic exists the work is redone and committed exactly once.
#[test]
fn an_output_topic_that_cannot_be_written_aborts_until_it_can() {
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-blocked", Some(2));
    produce(&topic, 200, &[]);
    let addr = metrics_addr();
    let extra =
        ["--json", "-X", "allow.auto.create.topics=false", "--delivery-timeout-ms", "2000", "--metrics-addr", &addr];
    let mut child = spawn_consumer(dir.path(), "c", eos_args(&topic, &group, &model_dir, "c", &extra));
    let aborted = r#"fraud_consumer_transactions_total{outcome="aborted"}"#;
    let blocked = wait_for_metric(&addr, aborted, 2.0, Duration::from_secs(60), "blocked");
    assert_eq!(blocked.get("fraud_consumer_messages_total").copied().unwrap_or(0.0), 0.0, "{blocked:?}");
    assert!(committed(&topic, &group, 2).is_empty(), "offsets were committed for unwritten outputs");
    assert!(child.try_wait().unwrap().is_none(), "the consumer stopped: {}", read(dir.path(), "c.err"));

    // The cause goes away: the consumer catches up by itself.
    create_topic(&format!("{topic}-scores"), 2);
    create_topic(&format!("{topic}-dlq"), 1);
    wait_for_every_output(&brokers(), &topic, Duration::from_secs(90));
    sigterm_and_wait(&mut child, dir.path(), "c");
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!((out.inputs, out.scores), (200, 200));
    let inputs = read_topic(&topic);
    assert_eq!(committed(&topic, &group, 2), end_offsets(&inputs));
    let scores = visible_records(&brokers(), &format!("{topic}-scores"));
    Explained::sample(&model_dir).assert_scores(&inputs, &scores, ReasonsFor::Flagged);
}

/// Regression: under exactly once, `--drain-timeout-secs` was ignored at shutdown; a consumer
/// whose outputs could not be delivered waited out the transactional call's bound (30 s) or the
/// outputs' own timeout before it exited. Now it waits the drain timeout, then aborts.
#[test]
fn exactly_once_shutdown_waits_no_longer_than_the_drain_timeout() {
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-drain", Some(1));
    let addr = metrics_addr();
    // Outputs that can never be delivered: the output topic is missing and cannot be created.
    let extra = [
        "-X",
        "allow.auto.create.topics=false",
        "--delivery-timeout-ms",
        "60000",
        "--commit-interval-ms",
        "3000",
        "--drain-timeout-secs",
        "1",
        "--metrics-addr",
        &addr,
        "--log",
        "info",
    ];
    let mut args = eos_args(&topic, &group, &model_dir, "c", &extra);
    args.retain(|a| a != "--quiet");
    let mut child = spawn_consumer(dir.path(), "c", args);
    wait_for_log(dir.path(), "c.err", "partitions assigned", 1, Duration::from_secs(60));
    produce(&topic, 50, &[]);
    // The transaction holds undeliverable outputs: stop it before it can commit or abort.
    wait_for_log(dir.path(), "c.err", "Input data", 50, Duration::from_secs(30));
    let stopped = Instant::now();
    terminate(&child);
    let status = child.wait().unwrap();
    let took = stopped.elapsed();
    let log = read(dir.path(), "c.err");
    eprintln!("exactly once, outputs undeliverable: exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "{log}");
    assert!(log.contains("--drain-timeout-secs"), "the open transaction was not given up at the drain timeout: {log}");
    // Far below the outputs' own timeout (10 s, the transaction's) and the call bound (30 s).
    assert!(took < Duration::from_secs(8), "shutdown took {took:?}: {log}");
    assert!(committed(&topic, &group, 1).is_empty(), "offsets committed for undelivered outputs");
}
