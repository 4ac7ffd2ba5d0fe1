//! `fraud consume --exactly-once` on a clean run against a real broker: what a `read_committed`
//! reader of the outputs sees, checked by input record (each (partition, offset) of the input
//! topic has exactly one output, a score record or a dead letter, keyed as its input), each
//! score record as `fraud explain` scores its row, and the offsets committed with the outputs.
//! The faults live in a file each: crash.rs, broker_restart.rs, zombie.rs, rebalance.rs,
//! model_reload.rs, blocked_outputs.rs, and instance_ids.rs for the transactional identity.

mod common;

use common::*;

/// Runs one exactly-once consumer of the group to the end of the topic; returns its summary.
fn finish_to_end(dir: &std::path::Path, topic: &str, group: &str, model_dir: &std::path::Path) -> serde_json::Value {
    let args = eos_args(topic, group, model_dir, "a", &["-e", "--json"]);
    let mut last = spawn_consumer(dir, "a", args);
    assert!(last.wait().unwrap().success(), "{}", read(dir, "a.err"));
    serde_json::from_str(&read(dir, "a.out")).unwrap()
}

#[test]
fn every_input_once_in_transactions_with_offsets_committed() {
    let Stream { dir, model_dir, topic, group } = Stream::new("eos", Some(2));
    produce(&topic, 300, &[]);
    send_raw(&topic, &bad_inputs(3));
    let summary = finish_to_end(dir.path(), &topic, &group, &model_dir);
    assert_eq!(summary["inputs"], 303, "{summary}");
    assert_eq!(summary["dead_letters"], 3);
    assert!(summary["transactions_committed"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["transactions_aborted"], 0);
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!((out.inputs, out.scores, out.dead_letters), (303, 300, 3));
    // What the transactions made visible is what explain says of each input's row.
    let scores = visible_records(&brokers(), &format!("{topic}-scores"));
    let inputs = read_topic(&topic);
    let decided = Explained::sample(&model_dir).assert_scores(&inputs, &scores, ReasonsFor::Flagged);
    assert_eq!(decided.values().sum::<u64>(), 300);
    // The offsets went in with the outputs: the group resumes at the end.
    assert_eq!(committed(&topic, &group, 2), end_offsets(&inputs));
    let again = finish_to_end(dir.path(), &topic, &group, &model_dir);
    assert_eq!(again["inputs"], 0, "{again}");
}
