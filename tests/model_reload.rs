//! A model swapped in while the consumer runs (`--watch-model`, SIGHUP), for both guarantees:
//! each input scored once, by the model its record names, exactly as `fraud explain` scores its
//! row with that model; a corrupt model is refused and the running one kept.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;

fn versions_by_key(topic: &str) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for r in read_topic(topic) {
        m.entry(r.key.clone().unwrap()).or_default().push(r.json()["model_version"].as_str().unwrap().to_string());
    }
    m
}

/// Asserts each score record against `fraud explain` by the model version it names.
fn assert_scored_by_their_models(inputs: &[Record], scores: &[Record], models: &[(&str, &Explained)]) {
    for (version, explained) in models {
        let by_it: Vec<Record> = scores.iter().filter(|s| s.json()["model_version"] == *version).cloned().collect();
        assert!(!by_it.is_empty(), "no score record by model {version}");
        explained.assert_scores(inputs, &by_it, ReasonsFor::Flagged);
    }
}

#[test]
fn a_retrained_model_is_swapped_in_without_dropping_or_rescoring() {
    let Stream { dir, model_dir, topic, group } = Stream::new("swap", Some(2));
    let v1 = model_version(&model_dir);
    let explained_v1 = Explained::sample(&model_dir);
    let addr = metrics_addr();
    let mut args = consume_args(&topic, &group, &model_dir);
    args.extend(["--watch-model", "--metrics-addr", &addr].iter().map(|s| s.to_string()));
    let mut child = spawn_consumer(dir.path(), "c", args);
    let scores = format!("{topic}-scores");

    produce(&topic, 100, &[]);
    assert_eq!(wait_for_records(&scores, 100, Duration::from_secs(60)).len(), 100);
    let before: HashSet<String> = versions_by_key(&scores).into_keys().collect();

    // Retrain into the same directory (written atomically) with other settings.
    let csv = sample_csv();
    let out = run(&[
        "train",
        "--csv",
        csv.to_str().unwrap(),
        "--model-dir",
        model_dir.to_str().unwrap(),
        "--c",
        "0.01",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v2 = model_version(&model_dir);
    assert_ne!(v1, v2);
    let explained_v2 = Explained::sample(&model_dir);
    let reloads = wait_for_metric(&addr, "fraud_consumer_model_reloads_total", 1.0, Duration::from_secs(15), "watch");
    assert_eq!(reloads["fraud_consumer_model_reloads_total"], 1.0, "{reloads:?}");
    produce(&topic, 100, &[]);
    assert_eq!(wait_for_records(&scores, 200, Duration::from_secs(60)).len(), 200);

    // A corrupt model on SIGHUP is refused; the running one keeps scoring.
    std::fs::write(model_dir.join("model.json"), "{ broken").unwrap();
    signal(&child, "-HUP");
    wait_for_metric(&addr, "fraud_consumer_model_reload_errors_total", 1.0, Duration::from_secs(15), "SIGHUP");
    produce(&topic, 50, &[]);
    let all = wait_for_records(&scores, 250, Duration::from_secs(60));
    let m = scrape(&addr);
    sigterm_and_wait(&mut child, dir.path(), "c");

    assert_eq!(m["fraud_consumer_model_reloads_total"], 1.0, "the corrupt model was not swapped in: {m:?}");
    assert_eq!(all.len(), 250, "one score record per input: none dropped, none scored twice");
    let by_key = versions_by_key(&scores);
    assert_eq!(by_key.len(), 250);
    for (key, versions) in &by_key {
        assert_eq!(versions.len(), 1);
        let expected = if before.contains(key) { &v1 } else { &v2 };
        assert_eq!(&versions[0], expected, "{key}");
    }
    assert_scored_by_their_models(&read_topic(&topic), &all, &[(&v1, &explained_v1), (&v2, &explained_v2)]);
    let log = read(dir.path(), "c.err");
    assert!(log.contains("swapped in a new model") && log.contains("model_reload_failed"), "{log}");
}

#[test]
fn a_reload_switches_families_between_transactions() {
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-swap", Some(2));
    let v1 = model_version(&model_dir);
    let explained_v1 = Explained::sample(&model_dir);
    let addr = metrics_addr();
    let args = eos_args(&topic, &group, &model_dir, "a", &["--watch-model", "--metrics-addr", &addr]);
    let mut c = spawn_consumer(dir.path(), "c", args);
    produce(&topic, 100, &[]);
    wait_for_visible_scores(&brokers(), &topic, 100, Duration::from_secs(60));
    // Retrain as trees into the same directory: the consumer swaps families by itself.
    let csv = sample_csv();
    let out =
        run(&["train", "--model", "gbdt", "--csv", csv.to_str().unwrap(), "--model-dir", model_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v2 = model_version(&model_dir);
    let explained_v2 = Explained::sample(&model_dir);
    let reloads = wait_for_metric(&addr, "fraud_consumer_model_reloads_total", 1.0, Duration::from_secs(15), "watch");
    assert_eq!(reloads["fraud_consumer_model_reloads_total"], 1.0, "the trees were not swapped in once: {reloads:?}");
    produce(&topic, 100, &[]);
    wait_for_visible_scores(&brokers(), &topic, 200, Duration::from_secs(60));
    sigterm_and_wait(&mut c, dir.path(), "c");
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!((out.inputs, out.scores), (200, 200), "{out:?}");
    let scores = visible_records(&brokers(), &format!("{topic}-scores"));
    let versions: Vec<String> =
        scores.iter().map(|r| r.json()["model_version"].as_str().unwrap().to_string()).collect();
    assert_eq!(versions.iter().filter(|v| **v == v1).count(), 100, "the first hundred by the logistic model");
    assert_eq!(versions.iter().filter(|v| **v == v2).count(), 100, "the next hundred by the trees");
    assert_scored_by_their_models(&read_topic(&topic), &scores, &[(&v1, &explained_v1), (&v2, &explained_v2)]);
}
