//! Behavioural features by hand: window bounds, ties, the label delay, the calendar, and the
//! two ways of computing them (a whole file by key, a stream event by event) giving the same
//! bits.

mod common;

use std::io::Write;
use std::sync::Arc;

use fraud::features::state::text_hash;
use fraud::features::{Computer, Event, EventStore, Label, LabelStore, Spec, compute};
use rand::{Rng, SeedableRng};

const SPEC: &str = r#"
[columns]
time = "when"
id = "tx"
label = "fraud"
entities = ["card", "terminal"]

[labels]
delay = "2d"

[[features]]
name = "amount"
raw = "amount"

[[features]]
name = "weekday"
calendar = "weekday"

[[features]]
name = "card_count_1d"
entity = "card"
aggregate = "count"
window = "1d"

[[features]]
name = "card_mean_1d"
entity = "card"
aggregate = "mean"
of = "amount"
window = "1d"

[[features]]
name = "card_mean_before_1d"
entity = "card"
aggregate = "mean"
of = "amount"
window = "1d"
current = false

[[features]]
name = "card_since_previous"
entity = "card"
aggregate = "since_previous"
window = "7d"

[[features]]
name = "card_terminals_1d"
entity = "card"
aggregate = "distinct"
of = "terminal"
window = "1d"

[[features]]
name = "card_std_1d"
entity = "card"
aggregate = "std"
of = "amount"
window = "1d"

[[features]]
name = "terminal_labelled_1d"
entity = "terminal"
aggregate = "label_count"
window = "1d"

[[features]]
name = "terminal_risk_1d"
entity = "terminal"
aggregate = "label_rate"
window = "1d"
"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    path
}

/// The features of each row by id.
fn features_by_id(csv: &str, spec: &str) -> std::collections::HashMap<String, Vec<f64>> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "events.csv", csv);
    let spec = Arc::new(Spec::parse(spec, "spec").unwrap());
    let computed = compute(&path, &spec, true, false).unwrap();
    let ids = computed.ids.clone().unwrap();
    ids.into_iter().enumerate().map(|(i, id)| (id, computed.features.row(i).to_vec())).collect()
}

#[test]
fn window_bounds_ties_and_the_label_delay_by_hand() {
    // Rows out of time order on purpose (r5 before r4 in time); r2 and r3 at the same instant.
    let csv = "tx,when,card,terminal,amount,fraud\n\
               r0,2020-01-01 00:00:00,c1,t1,10,0\n\
               r1,2020-01-01 12:00:00,c1,t1,20,1\n\
               r2,2020-01-02 00:00:00,c1,t2,30,0\n\
               r3,2020-01-02 00:00:00,c1,t1,40,0\n\
               r4,2020-01-03 12:00:00,c2,t1,5,0\n\
               r5,2020-01-03 11:59:59,c3,t1,7,0\n";
    let f = features_by_id(csv, SPEC);
    let nan = f64::NAN;
    // amount, weekday, count, mean, mean before, since previous, distinct terminals, std,
    // terminal labelled, terminal risk.
    let expect: [(&str, [f64; 10]); 6] = [
        // 2020-01-01 was a Wednesday (2).
        ("r0", [10.0, 2.0, 1.0, 10.0, nan, nan, 1.0, nan, 0.0, 0.0]),
        ("r1", [20.0, 2.0, 2.0, 15.0, 10.0, 43_200.0, 1.0, 50f64.sqrt(), 0.0, 0.0]),
        // (t - 1d, t]: r0, exactly one day earlier, is out.
        ("r2", [30.0, 3.0, 2.0, 25.0, 20.0, 43_200.0, 2.0, 50f64.sqrt(), 0.0, 0.0]),
        // A tie sees the earlier row of its instant (file order), not the later one.
        ("r3", [40.0, 3.0, 3.0, 30.0, 25.0, 0.0, 2.0, 10.0, 0.0, 0.0]),
        // Labels of t1 in (t - 3d, t - 2d] known by t: r0 and r1 (exactly t - 2d, known at t).
        ("r4", [5.0, 4.0, 1.0, 5.0, nan, nan, 1.0, nan, 2.0, 0.5]),
        // One second earlier, r1 is not yet known: only r0.
        ("r5", [7.0, 4.0, 1.0, 7.0, nan, nan, 1.0, nan, 1.0, 0.0]),
    ];
    for (id, want) in expect {
        let got = &f[id];
        for (j, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g.is_nan() && w.is_nan()) || (g - w).abs() < 1e-12, "{id} feature {j}: got {g}, want {w}");
        }
    }
}

#[test]
fn the_handbook_spec_on_a_small_file_matches_its_definitions() {
    // Two days of one customer and one terminal; the handbook's windows by hand.
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/handbook.toml")).unwrap();
    let csv = "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD\n\
               0,2018-04-01 07:19:05,0,3156,123.59,0\n\
               1,2018-04-01 18:00:16,0,3156,77.34,0\n\
               2,2018-04-01 19:02:02,0,3156,46.51,1\n\
               3,2018-04-08 19:02:02,1,3156,10.00,0\n\
               4,2018-04-08 19:02:03,1,3156,20.00,0\n";
    let f = features_by_id(csv, &spec);
    // The handbook's own example: customer 0's 1-day means 123.59, 100.465, 82.48.
    assert_eq!(f["0"][4], 123.59);
    assert!((f["1"][4] - 100.465).abs() < 1e-12);
    assert!((f["2"][4] - 82.48).abs() < 1e-12);
    // 2018-04-01 was a Sunday: weekend; 07:19 is not night (hour <= 6), 18:00 is not either.
    assert_eq!((f["0"][1], f["0"][2]), (1.0, 0.0));
    // Terminal 3156 a week later: (t - 8d, t - 7d] holds rows 0, 1 and 2 for row 3 (row 2 is
    // exactly 7 days earlier, so known just now): 3 labelled, 1 fraud.
    assert_eq!(f["3"][9], 3.0);
    assert!((f["3"][10] - 1.0 / 3.0).abs() < 1e-15);
    // One second later row 0 is still in (t - 8d, t - 7d].
    assert_eq!(f["4"][9], 3.0);
    // Its own label and those of the last 7 days never count.
    assert_eq!(f["0"][9], 0.0);
}

/// Random events: a few cards and terminals, times with ties, labels.
fn random_csv(rows: usize, seed: u64) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = String::from("tx,when,card,terminal,amount,fraud\n");
    let mut t: i64 = 1_577_836_800; // 2020-01-01
    for i in 0..rows {
        // Several events at one instant now and then.
        if rng.gen_bool(0.8) {
            t += rng.gen_range(0..20_000);
        }
        let when = chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%d %H:%M:%S");
        let amount = (rng.gen_range(0.0..300.0f64) * 100.0).round() / 100.0;
        let card = rng.gen_range(0..40);
        let terminal = rng.gen_range(0..25);
        let fraud = u8::from(rng.gen_bool(0.1));
        out.push_str(&format!("r{i},{when},c{card},t{terminal},{amount},{fraud}\n"));
    }
    out
}

#[test]
fn a_stream_of_events_and_labels_gives_the_files_features_to_the_bit() {
    let csv = random_csv(4000, 7);
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "events.csv", &csv);
    let spec = Arc::new(Spec::parse(SPEC, "spec").unwrap());
    let offline = compute(&path, &spec, true, false).unwrap();

    // The stream: events in time order; each label arrives once known, before the events it
    // may count for; state expired now and then, as the stream does.
    let computer = Computer::new(Arc::clone(&spec));
    let (mut events, mut labels) = (EventStore::new(&spec), LabelStore::new(&spec));
    let delay = spec.delay.ms();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let time = |r: &[&str]| spec.zone.parse_time(r[1]).unwrap();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| time(&rows[i]));
    let mut next_label = 0;
    let mut out = vec![0.0; spec.width()];
    for (n, &i) in order.iter().enumerate() {
        let r = &rows[i];
        let t = time(r);
        while next_label < order.len() && time(&rows[order[next_label]]) + delay <= t {
            let l = &rows[order[next_label]];
            let keys = [Some(l[2]), Some(l[3])];
            computer.label(
                &mut labels,
                &Label { time: time(l), known_at: time(l) + delay, keys: &keys, fraud: l[5] == "1" },
            );
            next_label += 1;
        }
        if n % 97 == 0 {
            events.expire(&spec, t);
            labels.expire(&spec, t);
        }
        let keys = [Some(r[2]), Some(r[3])];
        let numbers = [r[4].parse::<f64>().unwrap()];
        let texts = [text_hash(r[3])];
        computer.event(
            &mut events,
            &labels,
            &Event { time: t, keys: &keys, numbers: &numbers, texts: &texts },
            &mut out,
        );
        let want = offline.features.row(i);
        for (j, (a, b)) in out.iter().zip(want.iter()).enumerate() {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "row {i} feature {j}: stream {a}, file {b}"
            );
        }
    }
    // State holds no more than the windows: the card's 7 days and the terminal's delay + 1 day.
    assert!(events.entries() < rows.len() / 2, "{} events held", events.entries());
}

/// Simulated transactions, a model trained on them with the handbook's spec.
fn simulated_model(dir: &tempfile::TempDir) -> (String, String) {
    let data = dir.path().join("tx.csv.gz").display().to_string();
    let model = dir.path().join("model").display().to_string();
    let out = common::run(&["simulate", "--customers", "300", "--terminals", "600", "--days", "60", "--out", &data]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/handbook.toml");
    let out = common::run(&[
        "train",
        "--model",
        "gbdt",
        "--data",
        &data,
        "--spec",
        spec,
        "--from",
        "2018-05-10",
        "--to",
        "2018-05-24",
        "--model-dir",
        &model,
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    // The latest 30 % of the two weeks are held out, and card precision is reported.
    assert!(report["rows_test"].as_u64().unwrap() > 0);
    assert!(report["card_precision"].as_f64().is_some_and(|c| (0.0..=1.0).contains(&c)));
    (data, model)
}

#[test]
fn a_model_trained_with_a_spec_keeps_it_and_is_evaluated_and_explained_on_raw_events() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = simulated_model(&dir);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{model}/model.json")).unwrap()).unwrap();
    assert_eq!(saved["spec"]["columns"]["entities"], serde_json::json!(["CUSTOMER_ID", "TERMINAL_ID"]));
    let out = common::run(&[
        "evaluate",
        "--data",
        &data,
        "--model-dir",
        &model,
        "--from",
        "2018-05-24",
        "--to",
        "2018-05-31",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert!(report["auprc"].as_f64().unwrap() > 0.3, "{report}");
    assert_eq!(report["card_precision_k"], 100);
    // One day explained: every row of that day, each with its id.
    let out = common::run(&[
        "explain",
        "--data",
        &data,
        "--model-dir",
        &model,
        "--from",
        "2018-05-25",
        "--to",
        "2018-05-26",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut file = csv::Reader::from_reader(flate2::read::GzDecoder::new(std::fs::File::open(&data).unwrap()));
    let that_day = file.records().filter(|r| r.as_ref().unwrap()[1].starts_with("2018-05-25")).count();
    assert_eq!(rows.len(), that_day);
    assert!(rows.iter().all(|r| r["id"].is_string()));
}

#[test]
fn serve_refuses_a_model_that_needs_history_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = simulated_model(&dir);
    let out = common::run(&["serve", "--model-dir", &model, "--port", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(err.contains("keeps no per-entity state") && err.contains("fraud features"), "{err}");
    // --from without a spec is a mistake, said before any file is read.
    let out = common::run(&["train", "--data", "nothing.csv", "--from", "2018-01-01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("--from and --to need --spec"));
}
