//! `fraud produce` and `fraud consume` against a real Kafka-protocol broker (FRAUD_TEST_BROKERS),
//! at least once, when nothing goes wrong: the tutorial's flow, exact counts and committed
//! offsets, every score record as `fraud explain` scores its row, bad messages, a SIGTERM
//! mid-stream, metrics. Each test uses its own topics and group. Faults live in a file each.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Runs `fraud consume ... -e --json` to completion and returns its summary.
fn consume_to_end(topic: &str, group: &str, model_dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = consume_args(topic, group, model_dir);
    args.extend(["-e", "--json", "--quiet"].iter().map(|s| s.to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = fraud().args(&args).output().unwrap();
    assert!(out.status.success(), "consume failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("summary JSON: {e}: {}", stdout(&out)))
}

#[test]
fn the_tutorials_flow_six_messages_six_scores() {
    let Stream { dir: _dir, model_dir, topic, group } = Stream::new("tutorial", None);
    let out = run(&[
        "produce",
        "--brokers",
        &brokers(),
        "--topic",
        &topic,
        "--count",
        "6",
        "--csv",
        sample_csv().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("we've sent 6 messages to {}", brokers()));

    // Run as the tutorial did: per-message logs at info.
    let mut args = consume_args(&topic, &group, &model_dir);
    args.push("-e".into());
    let out = fraud().args(&args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let logs = stderr(&out);
    assert_eq!(logs.matches("Input data: {\"columns\":[\"V1\"").count(), 6, "{logs}");
    assert_eq!(logs.matches("Fraud detection result: [").count(), 6, "{logs}");

    let inputs = read_topic(&topic);
    let scores = read_topic(&format!("{topic}-scores"));
    assert_eq!(inputs.len(), 6);
    assert_eq!(scores.len(), 6);
    let input_keys: HashSet<_> = inputs.iter().map(|r| r.key.clone().unwrap()).collect();
    let score_keys: HashSet<_> = scores.iter().map(|r| r.key.clone().unwrap()).collect();
    assert_eq!(input_keys.len(), 6);
    assert_eq!(input_keys, score_keys);
    for k in &input_keys {
        assert!(uuid::Uuid::parse_str(k).is_ok(), "{k} is not a UUID");
    }
    let version = model_version(&model_dir);
    let by_source: HashMap<(i32, i64), &Record> = inputs.iter().map(|r| ((r.partition, r.offset), r)).collect();
    for s in &scores {
        let v = s.json();
        assert_eq!(v["model_version"], version.as_str());
        assert_eq!(v["predictions"].as_array().unwrap().len(), 1);
        assert_eq!(v["source"]["topic"], topic.as_str());
        let src = (v["source"]["partition"].as_i64().unwrap() as i32, v["source"]["offset"].as_i64().unwrap());
        assert_eq!(by_source[&src].key, s.key, "the score record names its input");
        // Decisions and reasons, parallel to the predictions: an approved row has no reasons.
        let decision = v["decisions"][0].as_str().unwrap();
        assert!(["approve", "review", "decline"].contains(&decision), "{v}");
        assert_eq!(v["predictions"][0], u8::from(decision != "approve"));
        let reasons = v["reasons"][0].as_array().unwrap();
        assert_eq!(reasons.len(), if decision == "approve" { 0 } else { 3 }, "{v}");
    }
    // And each says of its row what explain says, to the bit.
    let explained = Explained::sample(&model_dir);
    explained.assert_sample_cycled(&inputs);
    explained.assert_scores(&inputs, &scores, ReasonsFor::Flagged);
}

#[test]
fn ten_thousand_messages_exact_counts_and_committed_offsets() {
    let Stream { dir: _dir, model_dir, topic, group } = Stream::new("volume", Some(3));
    produce(&topic, 10_000, &[]);
    let summary = consume_to_end(&topic, &group, &model_dir, &[]);
    assert_eq!(summary["inputs"], 10_000, "{summary}");
    assert_eq!(summary["rows_scored"], 10_000);
    assert_eq!(summary["dead_letters"], 0);
    for key in
        ["elapsed_seconds", "messages_per_second", "latency_p50_ms", "latency_p99_ms", "wait_p99_ms", "output_p99_ms"]
    {
        assert!(summary[key].as_f64().unwrap() > 0.0, "{key} in {summary}");
    }
    // The two legs of each message's latency add up to it; their p99s cannot exceed its max.
    let ms = |k: &str| summary[k].as_f64().unwrap();
    assert!(
        ms("wait_p99_ms") <= ms("latency_max_ms") + 1.0 && ms("output_p99_ms") <= ms("latency_max_ms") + 1.0,
        "{summary}"
    );

    let inputs = read_topic(&topic);
    assert_eq!(inputs.len(), 10_000);
    let scores = read_topic(&format!("{topic}-scores"));
    assert_eq!(scores.len(), 10_000, "one score record per input, no more");
    let keys: HashSet<_> = scores.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys.len(), 10_000);
    assert_eq!(committed(&topic, &group, 3), end_offsets(&inputs), "committed offsets are the end offsets");
    // The summary's decisions are the score records' (the sample cycles: 5 % frauds, so all
    // bands but possibly review are there).
    let mut decided: HashMap<String, u64> = HashMap::new();
    for s in &scores {
        *decided.entry(s.json()["decisions"][0].as_str().unwrap().to_string()).or_default() += 1;
    }
    for band in ["approve", "review", "decline"] {
        assert_eq!(
            summary["decisions"][band].as_u64(),
            Some(decided.get(band).copied().unwrap_or(0)),
            "{band}: {summary}"
        );
    }
    assert!(decided["approve"] > 9_000 && decided["approve"] < 10_000, "{decided:?}");
    // The inputs are the sample's rows in order, cycling; each score record says of its row
    // what explain says, probability to the bit, decision and reasons.
    let explained = Explained::sample(&model_dir);
    explained.assert_sample_cycled(&inputs);
    let by_explain = explained.assert_scores(&inputs, &scores, ReasonsFor::Flagged);
    assert_eq!(by_explain, decided);
}

#[test]
fn reasons_for_every_row_are_explains() {
    let Stream { dir: _dir, model_dir, topic, group } = Stream::new("reasons", Some(2));
    produce(&topic, 500, &[]);
    let summary = consume_to_end(&topic, &group, &model_dir, &["--reasons", "all"]);
    assert_eq!(summary["inputs"], 500, "{summary}");
    let (inputs, scores) = (read_topic(&topic), read_topic(&format!("{topic}-scores")));
    assert_eq!(scores.len(), 500);
    let decided = Explained::sample(&model_dir).assert_scores(&inputs, &scores, ReasonsFor::All);
    // The sample's first 500 rows include flagged ones: both kinds of row are compared.
    assert!(decided["approve"] > 0 && decided["approve"] < 500, "{decided:?}");
}

/// One bad message of every kind, with the code it must be dead-lettered with.
fn bad_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let good = fraud::wire::split_json(&fraud::schema::Schema::kaggle(), [&[0.5; 29][..]]);
    vec![
        ("invalid_utf8", b"{\"columns\": [\"\xff\xfe\"]}".to_vec()),
        ("invalid_json", b"{\"columns\": [\"V1\", ".to_vec()),
        ("invalid_json", b"".to_vec()),
        ("unknown_layout", br#"{"rows": [[1, 2, 3]]}"#.to_vec()),
        ("missing_column", good.replace("\"V14\",", "").replace("0.5,", "").into_bytes()),
        ("not_numeric", good.replacen("0.5", "\"abc\"", 1).into_bytes()),
        ("non_finite", good.replacen("0.5", "NaN", 1).into_bytes()),
        ("wrong_width", good.replacen("0.5,", "", 1).into_bytes()),
        (
            "empty_data",
            serde_json::json!({"dataframe_split": {"columns": fraud::schema::FEATURE_NAMES, "data": []}})
                .to_string()
                .into_bytes(),
        ),
        ("too_large", format!("{{\"columns\": [], \"data\": [], \"pad\": \"{}\"}}", "x".repeat(20_000)).into_bytes()),
    ]
}

#[test]
fn bad_messages_go_to_the_dead_letter_topic_and_good_ones_are_scored() {
    let Stream { dir: _dir, model_dir, topic, group } = Stream::new("poison", Some(2));
    // good, bad, good, bad, ... so every bad message sits between good ones.
    let mut messages = Vec::new();
    let mut expected_code = HashMap::new();
    let good = fraud::wire::split_json(&fraud::schema::Schema::kaggle(), [&[0.1; 29][..]]);
    for round in 0..3 {
        for (i, (code, payload)) in bad_corpus().into_iter().enumerate() {
            let key = format!("bad-{round}-{i}");
            expected_code.insert(key.clone(), code);
            messages.push((format!("good-{round}-{i}"), good.clone().into_bytes()));
            messages.push((key, payload));
        }
    }
    send_raw(&topic, &messages);
    let summary = consume_to_end(&topic, &group, &model_dir, &["--max-message-bytes", "10000"]);
    assert_eq!(summary["inputs"], messages.len(), "{summary}");
    assert_eq!(summary["dead_letters"], expected_code.len(), "{summary}");
    assert_eq!(summary["rows_scored"], messages.len() - expected_code.len());

    let dlq = read_topic(&format!("{topic}-dlq"));
    assert_eq!(dlq.len(), expected_code.len());
    let inputs = read_topic(&topic);
    let inputs_at: HashMap<(i32, i64), &String> =
        inputs.iter().map(|r| ((r.partition, r.offset), r.key.as_ref().unwrap())).collect();
    let originals: HashMap<String, Vec<u8>> = messages.into_iter().collect();
    for r in &dlq {
        let key = r.key.clone().unwrap();
        assert_eq!(r.headers["fraud.error.code"], expected_code[&key], "{key}: {:?}", r.headers);
        assert!(!r.headers["fraud.error.message"].is_empty());
        assert_eq!(r.headers["fraud.source.topic"], topic);
        let source =
            (r.headers["fraud.source.partition"].parse().unwrap(), r.headers["fraud.source.offset"].parse().unwrap());
        assert_eq!(inputs_at.get(&source).copied(), Some(&key), "the dead letter names its input: {:?}", r.headers);
        assert_eq!(r.payload, originals[&key], "the original bytes are kept");
    }
    let scores = read_topic(&format!("{topic}-scores"));
    assert_eq!(scores.len(), 30);
    assert!(scores.iter().all(|r| r.key.as_ref().unwrap().starts_with("good-")));
    let by_code = &summary["dead_letters_by_code"];
    assert_eq!(by_code["invalid_json"], 6);
    assert_eq!(by_code["too_large"], 3);
    // Everything, bad messages included, is committed.
    assert_eq!(committed(&topic, &group, 2), end_offsets(&inputs));
}

#[test]
fn sigterm_mid_stream_then_restart_loses_nothing() {
    let Stream { dir: _dir, model_dir, topic, group } = Stream::new("sigterm", Some(2));
    let total = 20_000usize;
    produce(&topic, total as u64, &[]);
    let mut args = consume_args(&topic, &group, &model_dir);
    // Slow it down with a small in-flight window so the signal lands mid-stream.
    args.extend(["--json", "--quiet", "--max-in-flight", "1"].iter().map(|s| s.to_string()));
    let first = fraud().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let scores_topic = format!("{topic}-scores");
    let partial = wait_for_records(&scores_topic, 200, Duration::from_secs(60));
    assert!(partial.len() >= 200 && partial.len() < total, "not mid-stream: {}", partial.len());
    terminate(&first);
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "SIGTERM must exit 0: {}", stderr(&out));
    let first_summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first_inputs = first_summary["inputs"].as_u64().unwrap() as usize;
    assert!(first_inputs > 0 && first_inputs < total, "{first_summary}");
    // What it committed is exactly what it handled: no more (at least once), no less (drained).
    let committed_first: i64 = committed(&topic, &group, 2).values().sum();
    assert_eq!(committed_first as usize, first_inputs);

    let second = consume_to_end(&topic, &group, &model_dir, &[]);
    let second_inputs = second["inputs"].as_u64().unwrap() as usize;
    let scores = read_topic(&scores_topic);
    let inputs = read_topic(&topic);
    assert_eq!(inputs.len(), total);
    assert_eq!(scores.len(), first_inputs + second_inputs, "the summaries count every score record");
    let scored: HashSet<_> = scores.iter().map(|r| r.key.clone()).collect();
    assert!(inputs.iter().all(|r| scored.contains(&r.key)), "an input has no score record");
    assert_eq!(first_inputs + second_inputs, total, "a drained shutdown repeats nothing");
    assert_eq!(committed(&topic, &group, 2), end_offsets(&inputs));
    Explained::sample(&model_dir).assert_scores(&inputs, &scores, ReasonsFor::Flagged);
}

#[test]
fn consumer_metrics_move_with_consumed_messages() {
    let Stream { dir: _dir, model_dir, topic, group } = Stream::new("metrics", Some(2));
    let addr = metrics_addr();
    let mut args = consume_args(&topic, &group, &model_dir);
    args.extend(["--quiet", "--json", "--metrics-addr", &addr].iter().map(|s| s.to_string()));
    let child = fraud().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();

    produce(&topic, 500, &[]);
    send_raw(&topic, &[("bad-1".into(), b"{nope".to_vec()), ("bad-2".into(), b"{\"rows\": 1}".to_vec())]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let m = scrape(&addr);
        if m.get("fraud_consumer_messages_total").copied().unwrap_or(0.0) >= 502.0
            || std::time::Instant::now() > deadline
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    // Lag comes from librdkafka statistics, once a second here.
    let lag_gauges = |m: &HashMap<String, f64>| -> Vec<f64> {
        m.iter().filter(|(k, _)| k.starts_with("fraud_consumer_lag_messages{")).map(|(_, v)| *v).collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let later = loop {
        let m = scrape(&addr);
        let lags = lag_gauges(&m);
        if (lags.len() == 2 && lags.iter().all(|l| *l == 0.0)) || std::time::Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    assert_eq!(metrics["fraud_consumer_messages_total"], 502.0, "{metrics:?}");
    assert_eq!(metrics["fraud_consumer_rows_scored_total"], 500.0);
    assert_eq!(metrics["fraud_consumer_dead_letters_total{code=\"invalid_json\"}"], 1.0);
    assert_eq!(metrics["fraud_consumer_dead_letters_total{code=\"unknown_layout\"}"], 1.0);
    assert_eq!(metrics["fraud_consumer_latency_seconds_count"], 500.0);
    let decided: f64 = ["approve", "review", "decline"]
        .iter()
        .map(|d| metrics.get(&format!("fraud_consumer_decisions_total{{decision=\"{d}\"}}")).copied().unwrap_or(0.0))
        .sum();
    assert_eq!(decided, 500.0, "a decision per row scored: {metrics:?}");
    let lags = lag_gauges(&later);
    assert_eq!(lags.len(), 2, "a lag gauge per partition: {later:?}");
    assert!(lags.iter().all(|l| *l == 0.0), "caught up: {lags:?}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["inputs"], 502);
}
