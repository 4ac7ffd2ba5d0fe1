//! No broker at the address given: the consumer waits for one and says so, and the producer
//! reports what it could not deliver and exits non-zero.

mod common;

use std::fs::File;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

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
    // Refused, again and again (librdkafka logs each attempt, some folded into the next line):
    // still running after that is waiting, not giving up.
    wait_for_log(dir.path(), "c.err", "librdkafka: FAIL", 4, Duration::from_secs(30));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the consumer gave up instead of retrying: {}",
        read(dir.path(), "c.err")
    );
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
    let csv = sample_csv();
    let out = run(&[
        "produce",
        "--brokers",
        &nowhere,
        "--count",
        "5",
        "--delivery-timeout-ms",
        "2000",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(stdout(&out).contains("we've sent 0 messages"), "{}", stdout(&out));
    assert!(stderr(&out).contains("5 of 5 messages were not delivered"), "{}", stderr(&out));
}
