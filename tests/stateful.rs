//! A model with behavioural features on the stream: simulated transactions replayed with their
//! labels, scored by `fraud consume` with per-card state and every terminal's labels. Every
//! event's probability must equal the one `fraud explain` gives it from the file (point in
//! time), to the bit: with one consumer, with three in a group, and after `kill -9` under
//! exactly once, where each process rebuilds its partitions' state from the input topic.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::log::committed_view;
use common::*;

struct Raw {
    dir: tempfile::TempDir,
    data: String,
    model: PathBuf,
    /// Each transaction's probability, as `fraud explain` computes it from the file.
    offline: HashMap<String, f64>,
    topic: String,
}

fn spec() -> String {
    format!("{}/examples/handbook.toml", env!("CARGO_MANIFEST_DIR"))
}

/// Simulated transactions, a model trained on three weeks of them, and a topic of 3
/// partitions (and a labels topic of 2) to replay them into.
fn raw(prefix: &str) -> Raw {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tx.csv").display().to_string();
    let model = dir.path().join("model");
    let out =
        run(&["simulate", "--customers", "300", "--terminals", "600", "--days", "50", "--seed", "5", "--out", &data]);
    assert!(out.status.success(), "{}", stderr(&out));
    let m = model.to_str().unwrap();
    let out = run(&[
        "train",
        "--model",
        "gbdt",
        "--data",
        &data,
        "--spec",
        &spec(),
        "--from",
        "2018-04-20",
        "--to",
        "2018-05-10",
        "--model-dir",
        m,
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let offline = explained(&data, m);
    let topic = unique(prefix);
    create_topic(&topic, 3);
    create_topic(&format!("{topic}-labels"), 2);
    Raw { dir, data, model, offline, topic }
}

/// Each transaction's probability, as `fraud explain` computes it from the file.
fn explained(data: &str, model: &str) -> HashMap<String, f64> {
    let out = run(&["explain", "--json", "--data", data, "--model-dir", model]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["probability"].as_f64().unwrap())
        })
        .collect()
}

fn replay(raw: &Raw, extra: &[&str]) -> std::process::Child {
    fraud()
        .args(["produce", "--brokers", &brokers(), "--topic", &raw.topic, "--data", &raw.data, "--spec", &spec()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Every event scored, each with the file's probability; returns how many records there were.
fn assert_as_offline(raw: &Raw, records: &[Record]) -> usize {
    let mut seen: HashMap<String, f64> = HashMap::new();
    for r in records {
        let v = r.json();
        let id = v["ids"][0].as_str().unwrap().to_string();
        let p = v["probabilities"][0].as_f64().unwrap();
        let want = raw.offline[&id];
        assert_eq!(p.to_bits(), want.to_bits(), "transaction {id}: streamed {p}, from the file {want}");
        seen.insert(id, p);
    }
    assert_eq!(seen.len(), raw.offline.len(), "every transaction scored");
    records.len()
}

fn consume(raw: &Raw, group: &str, extra: &[&str]) -> Vec<String> {
    let mut args = consume_args(&raw.topic, group, &raw.model);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn wait_ok(dir: &Path, name: &str, child: &mut Spawned) {
    assert!(child.wait().unwrap().success(), "{name}: {}", read(dir, &format!("{name}.err")));
}

#[test]
fn one_consumer_or_three_give_every_event_the_features_of_the_file() {
    let raw = raw("stateful");
    assert!(replay(&raw, &[]).wait().unwrap().success());
    let dir = raw.dir.path();

    let output = format!("{}-one", raw.topic);
    let mut one =
        spawn_consumer(dir, "one", consume(&raw, &unique("g"), &["-e", "--output-topic", &output, "--quiet"]));
    wait_ok(dir, "one", &mut one);
    assert_as_offline(&raw, &read_topic(&output));

    // Three members share the partitions; each rebuilds what it is given.
    let (group, output) = (unique("g"), format!("{}-three", raw.topic));
    let mut members: Vec<Spawned> = (0..3)
        .map(|i| {
            spawn_consumer(dir, &format!("m{i}"), consume(&raw, &group, &["-e", "--output-topic", &output, "--quiet"]))
        })
        .collect();
    for (i, m) in members.iter_mut().enumerate() {
        wait_ok(dir, &format!("m{i}"), m);
    }
    assert_as_offline(&raw, &read_topic(&output));
}

#[test]
#[ignore = "slow (about 2 minutes); scripts/test.sh runs it"]
fn kill_9_under_exactly_once_leaves_state_and_outputs_exact() {
    let _alone = heavy();
    let raw = raw("stateful-crash");
    let dir = raw.dir.path();
    // Paced, so that the kills land mid-stream.
    let mut producer = replay(&raw, &["--rate", "600"]);
    let group = unique("g");
    // Each restart takes the same instance id, as a restarted pod does: it fences its previous
    // life and aborts what that left open. (The local broker has no transaction timeout, so an
    // open transaction of a process never restarted would hold the group's offsets forever.)
    let durable = kill_9_rounds(dir, 5, 19, |_| eos_args(&raw.topic, &group, &raw.model, "pod", &[]));
    eprintln!("inputs committed by each round when it was killed: {durable:?}");
    assert!(producer.wait().unwrap().success());
    let mut last = spawn_consumer(dir, "final", eos_args(&raw.topic, &group, &raw.model, "pod", &["-e"]));
    wait_ok(dir, "final", &mut last);
    let scores = format!("{}-scores", raw.topic);
    let view = committed_view(&brokers(), &scores, partition_count(&brokers(), &scores));
    let n = assert_as_offline(&raw, &view.visible);
    assert_eq!(n, raw.offline.len(), "each event's score once, as a read_committed reader sees it");
    eprintln!("kill -9 x5: {} aborted records, every one of {n} events scored once as from the file", view.aborted);
}

#[test]
fn a_window_over_another_entitys_events_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tx.csv").display().to_string();
    let out = run(&["simulate", "--customers", "100", "--terminals", "200", "--days", "20", "--out", &data]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The terminal's own transactions of the last day: not in one partition of a card-keyed input.
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "[columns]\ntime = \"TX_DATETIME\"\nid = \"TRANSACTION_ID\"\nlabel = \"TX_FRAUD\"\n\
         entities = [\"CUSTOMER_ID\", \"TERMINAL_ID\"]\n\
         [[features]]\nname = \"amount\"\nraw = \"TX_AMOUNT\"\n\
         [[features]]\nname = \"terminal_count\"\nentity = \"TERMINAL_ID\"\naggregate = \"count\"\nwindow = \"1d\"\n",
    )
    .unwrap();
    let model = dir.path().join("model");
    let out =
        run(&["train", "--data", &data, "--spec", spec.to_str().unwrap(), "--model-dir", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let topic = unique("refused");
    create_topic(&topic, 1);
    let mut args = consume_args(&topic, &unique("g"), &model);
    args.push("-e".into());
    let out = fraud().args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("a partition holds only some of TERMINAL_ID's events"), "{}", stderr(&out));
}

#[test]
#[ignore = "slow (about 3 minutes); scripts/test.sh runs it"]
fn six_weeks_of_the_handbooks_transactions_stream_as_the_file_computes_them() {
    let Some(full) = handbook_dataset() else {
        eprintln!("skipped: ../shared/data/handbook-transactions.csv.gz is not here");
        return;
    };
    let _alone = heavy();
    let dir = tempfile::tempdir().unwrap();
    // 2018-07-01 to 2018-08-14: the handbook's training week, its delay and its test week, with
    // 24 days of history before them.
    let cut = dir.path().join("cut.csv");
    let mut reader = csv::Reader::from_reader(flate2::read::GzDecoder::new(std::fs::File::open(&full).unwrap()));
    let mut writer = csv::Writer::from_path(&cut).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    for r in reader.records() {
        let r = r.unwrap();
        if ("2018-07-01".."2018-08-15").contains(&&r[1][..10]) {
            writer.write_record(&r).unwrap();
        }
    }
    writer.flush().unwrap();
    let (data, model) = (cut.to_str().unwrap(), dir.path().join("model"));
    let m = model.to_str().unwrap();
    let out = run(&[
        "train",
        "--model",
        "gbdt",
        "--data",
        data,
        "--spec",
        &spec(),
        "--from",
        "2018-07-25",
        "--to",
        "2018-08-01",
        "--model-dir",
        m,
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let offline = explained(data, m);
    let topic = unique("handbook");
    create_topic(&topic, 4);
    create_topic(&format!("{topic}-labels"), 2);
    let raw = Raw { dir, data: data.to_string(), model, offline, topic };
    assert!(replay(&raw, &[]).wait().unwrap().success());
    // Two members share the partitions.
    let group = unique("g");
    let mut members: Vec<Spawned> = (0..2)
        .map(|i| spawn_consumer(raw.dir.path(), &format!("m{i}"), consume(&raw, &group, &["-e", "--quiet"])))
        .collect();
    for (i, m) in members.iter_mut().enumerate() {
        wait_ok(raw.dir.path(), &format!("m{i}"), m);
    }
    let n = assert_as_offline(&raw, &read_topic(&format!("{}-scores", raw.topic)));
    eprintln!("{n} score records, every one of {} transactions as from the file", raw.offline.len());
}
