//! `fraud simulate` then `fraud produce --spec`, read back by a real client: every event once,
//! in event-time order within each card's partition, carrying only what the spec reads; one
//! label per event, known a week later, equal to the file's.

mod common;

use std::collections::HashMap;

use common::broker::{brokers, create_topic, read_topic, unique};
use common::{run, stderr};

fn spec() -> String {
    format!("{}/examples/handbook.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_simulated_file_is_replayed_in_event_time_with_its_labels_a_week_later() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sim.csv");
    let data = data.to_str().unwrap();
    let out =
        run(&["simulate", "--customers", "60", "--terminals", "120", "--days", "20", "--seed", "3", "--out", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    let topic = unique("replay");
    create_topic(&topic, 3);
    create_topic(&format!("{topic}-labels"), 2);
    let out = run(&["produce", "-b", &brokers(), "--topic", &topic, "--data", data, "--spec", &spec()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let mut file = csv::Reader::from_path(data).unwrap();
    let rows: Vec<HashMap<String, String>> = file.deserialize().map(|r| r.unwrap()).collect();
    let by_id: HashMap<&str, &HashMap<String, String>> =
        rows.iter().map(|r| (r["TRANSACTION_ID"].as_str(), r)).collect();

    let events = read_topic(&topic);
    assert_eq!(events.len(), rows.len(), "every event once");
    let mut last_time: HashMap<i32, String> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for e in &events {
        let v = e.json();
        let id = v["TRANSACTION_ID"].to_string();
        assert!(seen.insert(id.clone()), "event {id} twice");
        let row = by_id[id.as_str()];
        // Keyed by the card, carrying what the spec reads and never the answer.
        assert_eq!(e.key.as_deref(), Some(row["CUSTOMER_ID"].as_str()));
        let fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields.len(), 5, "{fields:?}");
        assert!(v.get("TX_FRAUD").is_none() && v.get("TX_FRAUD_SCENARIO").is_none());
        assert_eq!(v["TX_AMOUNT"].as_f64().unwrap(), row["TX_AMOUNT"].parse::<f64>().unwrap());
        // Event time never goes back within a partition (the datetime text sorts as time).
        let when = v["TX_DATETIME"].as_str().unwrap().to_string();
        if let Some(prev) = last_time.get(&e.partition) {
            assert!(*prev <= when, "partition {} went back from {prev} to {when}", e.partition);
        }
        last_time.insert(e.partition, when);
    }

    let labels = read_topic(&format!("{topic}-labels"));
    assert_eq!(labels.len(), rows.len(), "one label per event");
    for l in &labels {
        let v = l.json();
        let row = by_id[v["TRANSACTION_ID"].to_string().as_str()];
        assert_eq!(v["TX_FRAUD"].as_i64().unwrap().to_string(), row["TX_FRAUD"]);
        assert_eq!(v["TERMINAL_ID"].to_string(), row["TERMINAL_ID"]);
        let time = chrono::NaiveDateTime::parse_from_str(&row["TX_DATETIME"], "%Y-%m-%d %H:%M:%S").unwrap().and_utc();
        let known = chrono::DateTime::parse_from_rfc3339(v["known_at"].as_str().unwrap()).unwrap();
        assert_eq!(known.signed_duration_since(time), chrono::Duration::days(7));
    }
}
