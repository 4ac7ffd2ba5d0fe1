//! A schema that is not the Kaggle one, end to end through the binary: transactions with an
//! amount, a merchant category, a country, a channel, an id and a time
//! (`tests/fixtures/categorical`, README beside it). Trained (a one-hot logistic regression,
//! against scikit-learn's numbers), evaluated, explained, imported from LightGBM (against its
//! own predictions), exported, served, and streamed under both guarantees, every output joined
//! back to its transaction by id.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/categorical").join(name)
}

fn sklearn() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture("sklearn.json")).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// The columns of the fixture as a user names them to `fraud train`.
const COLUMNS: [&str; 10] = [
    "--label",
    "label",
    "--id",
    "tx_id",
    "--time",
    "time",
    "--exclude",
    "card_id",
    "--categorical",
    "merchant_category",
];

/// `fraud train` on every row of the fixture with scikit-learn's encoding (8 columns per
/// categorical feature at most), fitted to the optimum.
fn train_logistic(dir: &Path) -> PathBuf {
    let model_dir = dir.join("logistic");
    let data = fixture("transactions.csv");
    let mut args = vec!["train", "--data", data.to_str().unwrap(), "--model-dir", model_dir.to_str().unwrap()];
    args.extend(COLUMNS);
    args.extend(["--max-categories", "8", "--test-size", "0", "--tol", "1e-8", "--json"]);
    let out = run(&args);
    assert!(out.status.success(), "train: {}", stderr(&out));
    // The user hears which columns were taken as categories without being named.
    let err = stderr(&out);
    assert!(err.contains("country: not numbers, read as categorical"), "{err}");
    assert!(err.contains("channel: not numbers, read as categorical"), "{err}");
    model_dir
}

/// `fraud explain --json` rows of `data`: (id, probability, the row).
fn explain(model_dir: &Path, data: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args =
        vec!["explain", "--json", "--model-dir", model_dir.to_str().unwrap(), "--data", data.to_str().unwrap()];
    args.extend(extra);
    let out = run(&args);
    assert!(out.status.success(), "explain: {}", stderr(&out));
    stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn probabilities(rows: &[serde_json::Value]) -> Vec<f64> {
    rows.iter().map(|r| r["probability"].as_f64().unwrap()).collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn one_hot_logistic_regression_matches_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = train_logistic(dir.path());
    let reference = sklearn();
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model_dir.join("model.json")).unwrap()).unwrap();
    let params = &model;
    assert_eq!((&model["label"], &model["id"], &model["time"]), (&"label".into(), &"tx_id".into(), &"time".into()));
    // The encoding: scikit-learn's imputed means and population standard deviations...
    for (k, numeric) in reference["numeric"].as_array().unwrap().iter().enumerate() {
        let (mean, std) = (numeric["mean"].as_f64().unwrap(), numeric["std"].as_f64().unwrap());
        assert!((params["scaler"]["mean"][k].as_f64().unwrap() - mean).abs() < 1e-9 * mean.abs().max(1.0));
        assert!((params["scaler"]["std"][k].as_f64().unwrap() - std).abs() < 1e-9 * std.max(1.0));
    }
    // ... and its one-hot columns: the 7 most frequent categories and "other", or all of them.
    let blocks = params["onehot"].as_array().unwrap();
    for (block, theirs) in blocks.iter().zip(reference["categorical"].as_array().unwrap()) {
        assert_eq!(block["feature"], theirs["name"]);
        let kept: Vec<&serde_json::Value> =
            theirs["columns"].as_array().unwrap().iter().filter_map(|c| c.get("category")).collect();
        assert_eq!(block["categories"].as_array().unwrap().iter().collect::<Vec<_>>(), kept);
        let other = theirs["columns"].as_array().unwrap().iter().any(|c| c.get("infrequent").is_some());
        assert_eq!(block["other"].as_bool().unwrap_or(false), other);
    }
    // The coefficients, in the design's order (numeric, then the blocks), at the optimum.
    let mut ours = floats(&params["weights"]);
    for block in blocks {
        ours.extend(floats(&block["weights"]));
    }
    let converged = &reference["converged"];
    let d = max_diff(&ours, &floats(&converged["coef"]));
    assert!(d < 1e-4, "coefficients differ from scikit-learn's by {d:e}");
    let d = (params["intercept"].as_f64().unwrap() - converged["intercept"].as_f64().unwrap()).abs();
    assert!(d < 1e-4, "intercept differs by {d:e}");

    // The scores, through the binary, of the training rows and of the unseen and missing ones.
    let rows = explain(&model_dir, &fixture("transactions.csv"), &[]);
    let d = max_diff(&probabilities(&rows), &floats(&reference["converged_proba_transactions"]));
    assert!(d < 1e-4, "probabilities differ from scikit-learn's by {d:e}");
    let unseen = explain(&model_dir, &fixture("unseen.csv"), &[]);
    let d = max_diff(&probabilities(&unseen), &floats(&reference["converged_proba_unseen"]));
    assert!(d < 1e-4, "probabilities of unseen.csv differ from scikit-learn's by {d:e}");

    // Every row carries its id (the model's id column) and its label.
    assert_eq!(rows[0]["id"], "tx-000001");
    assert_eq!(rows[3999]["id"], "tx-004000");
    assert_eq!(unseen[9]["id"], "tx-900010");
    assert!(rows.iter().all(|r| r["label"].is_u64()));
    // Reasons name the category; an unseen one says so, a missing one is null.
    let reasons: Vec<&serde_json::Value> =
        unseen.iter().flat_map(|r| r["reasons"].as_array().unwrap().iter()).collect();
    let values: Vec<(String, String)> =
        reasons.iter().map(|r| (r["feature"].as_str().unwrap().to_string(), r["value"].to_string())).collect();
    assert!(values.iter().any(|(f, v)| f == "merchant_category" && v.starts_with('"')), "{values:?}");
    assert!(values.iter().all(|(f, v)| f != "country" || v != "\"JP\""), "JP was never seen: {values:?}");
}

#[test]
fn evaluate_and_the_analysts_table_on_any_schema() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = train_logistic(dir.path());
    let data = fixture("transactions.csv");
    let out =
        run(&["evaluate", "--json", "--model-dir", model_dir.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "evaluate: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["roc_auc"].as_f64().unwrap() > 0.7, "{report}");
    // The table names each row's transaction and the categories behind its score.
    let out = run(&["explain", "--model-dir", model_dir.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success());
    let table = stdout(&out);
    let header = table.lines().next().unwrap();
    assert!(header.contains("id") && header.contains("label"), "{header}");
    assert!(table.lines().nth(1).unwrap().contains("tx-000001"), "{table:.400}");
    assert!(table.contains("merchant_category=") || table.contains("country="), "{table:.2000}");
    // A file without a feature the model needs is refused, naming it.
    let short = dir.path().join("short.csv");
    let text = std::fs::read_to_string(&data).unwrap().replace(",country,", ",land,");
    std::fs::write(&short, text).unwrap();
    let out = run(&["explain", "--model-dir", model_dir.to_str().unwrap(), "--data", short.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no column(s) country"), "{}", stderr(&out));
}

/// LightGBM's raw scores of the fixture rows (transactions.csv then unseen.csv), as
/// probabilities.
fn lightgbm_probabilities() -> Vec<f64> {
    std::fs::read_to_string(fixture("lightgbm_predictions.txt"))
        .unwrap()
        .lines()
        .map(|l| 1.0 / (1.0 + (-l.trim().parse::<f64>().unwrap()).exp()))
        .collect()
}

/// `fraud import` of the LightGBM text model `model` into `model_dir`, with the fixture's label
/// and id columns.
fn import_lightgbm(model: &Path, model_dir: &Path) -> PathBuf {
    let args = ["import", "--lightgbm", model.to_str().unwrap(), "--label", "label", "--id", "tx_id"];
    let out = run(&[&args[..], &["--model-dir", model_dir.to_str().unwrap()]].concat());
    assert!(out.status.success(), "import of {}: {}", model.display(), stderr(&out));
    model_dir.to_path_buf()
}

#[test]
fn a_lightgbm_model_with_categories_is_imported_explained_exported_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = import_lightgbm(&fixture("lightgbm.txt"), &dir.path().join("lightgbm"));
    let expected = lightgbm_probabilities();
    let mut ours = probabilities(&explain(&model_dir, &fixture("transactions.csv"), &[]));
    ours.extend(probabilities(&explain(&model_dir, &fixture("unseen.csv"), &[])));
    let d = max_diff(&ours, &expected);
    assert!(d < 1e-12, "probabilities differ from LightGBM's by {d:e}");

    // Exported and imported again: the same model, the same scores.
    let exported = dir.path().join("exported.txt");
    let out = run(&["export", "--model-dir", model_dir.to_str().unwrap(), "--lightgbm", exported.to_str().unwrap()]);
    assert!(out.status.success(), "export: {}", stderr(&out));
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.contains("[categorical_feature: 1,2,3]") && text.contains("pandas_categorical:"), "{text:.300}");
    let again = import_lightgbm(&exported, &dir.path().join("again"));
    assert_eq!(model_version(&again), model_version(&model_dir));

    // Served: records of mixed types, codes as numbers or strings, extra fields ignored; the
    // answer carries each row's id.
    let server = Server::start(&model_dir, &[]);
    let body = r#"{"dataframe_records": [
        {"tx_id": "tx-000001", "amount": 2.5, "merchant_category": 5411, "country": "US", "channel": "pos",
         "is_night": 0, "hour": 12, "note": "ignored"},
        {"tx_id": 17, "amount": null, "merchant_category": "7297", "country": "JP", "channel": "moto",
         "is_night": true, "hour": 3}]}"#;
    let (status, answer) = server.json(body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ids"], serde_json::json!(["tx-000001", "17"]));
    assert_eq!(answer["predictions"].as_array().unwrap().len(), 2);
    // A string in a numeric column is refused with its code; an unknown category is not.
    let (status, answer) =
        server.json(r#"{"dataframe_records": [{"amount": "cheap", "merchant_category": "5411", "country": "US", "channel": "pos", "is_night": 0, "hour": 1}]}"#);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().starts_with("not_numeric: row 0, column amount"), "{answer}");
    let (status, answer) = server
        .json(r#"{"dataframe_records": [{"amount": 1, "country": "US", "channel": "pos", "is_night": 0, "hour": 1}]}"#);
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().starts_with("missing_column"), "{answer}");
}

/// Sends the fixture's transactions with `fraud produce` (every column but the label and the
/// time, strings as strings), scores them with `fraud consume -e` and joins each score record
/// to `fraud explain`'s row by the transaction id it carries.
fn stream_and_join(model_dir: &Path, dir: &Path, exactly_once: bool) {
    let topic = unique("any-schema");
    create_topic(&topic, 3);
    let (b, data) = (brokers(), fixture("transactions.csv"));
    let out = run(&[
        "produce",
        "--brokers",
        &b,
        "--topic",
        &topic,
        "--count",
        "4000",
        "--data",
        data.to_str().unwrap(),
        "--label",
        "label",
        "--exclude",
        "time",
    ]);
    assert!(out.status.success(), "produce: {}", stderr(&out));
    let group = unique("g");
    let mut args = consume_args(&topic, &group, model_dir);
    if exactly_once {
        args.extend(["--exactly-once", "--instance-id", "a"].map(String::from));
    }
    args.extend(["-e", "--json", "--reasons", "all"].map(String::from));
    let mut child = spawn_consumer(dir, "c", args);
    assert!(child.wait().unwrap().success(), "consume -e: {}", read(dir, "c.err"));
    let expected: HashMap<String, serde_json::Value> =
        explain(model_dir, &data, &[]).into_iter().map(|r| (r["id"].as_str().unwrap().to_string(), r)).collect();
    let scores = if exactly_once {
        let outputs = assert_exactly_once(&b, &topic);
        assert_eq!((outputs.inputs, outputs.scores), (4000, 4000));
        visible_records(&b, &format!("{topic}-scores"))
    } else {
        read_topic(&format!("{topic}-scores"))
    };
    let mut joined = 0;
    for record in &scores {
        let v = record.json();
        let id = v["ids"][0].as_str().unwrap_or_else(|| panic!("a score record without its id: {v}"));
        let row = &expected[id];
        assert_eq!(v["probabilities"][0], row["probability"], "{id}");
        assert_eq!(v["decisions"][0], row["decision"], "{id}");
        assert_eq!(v["reasons"][0], row["reasons"], "{id}");
        joined += 1;
    }
    assert!(joined >= 4000, "{joined} score records");
}

#[test]
fn any_schema_streams_at_least_once_and_exactly_once() {
    let _alone = heavy();
    let dir = tempfile::tempdir().unwrap();
    let logistic = train_logistic(dir.path());
    stream_and_join(&logistic, dir.path(), false);
    let lightgbm = import_lightgbm(&fixture("lightgbm.txt"), &dir.path().join("lightgbm"));
    stream_and_join(&lightgbm, dir.path(), true);
}

#[test]
fn gradient_boosted_trees_split_on_categories_natively() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("gbdt");
    let data = fixture("transactions.csv");
    let mut args = vec!["train", "--model", "gbdt", "--data", data.to_str().unwrap()];
    args.extend(COLUMNS);
    args.extend(["--model-dir", model_dir.to_str().unwrap(), "--json"]);
    let out = run(&args);
    assert!(out.status.success(), "train --model gbdt: {}", stderr(&out));
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model_dir.join("model.json")).unwrap()).unwrap();
    // Splits on category sets, not on codes as numbers, for each categorical feature.
    let features = model["features"].as_array().unwrap();
    let mut split_on = std::collections::HashSet::new();
    for tree in model["trees"].as_array().unwrap() {
        let categorical = tree["categorical"].as_array().unwrap();
        for (node, feature) in tree["split_feature"].as_array().unwrap().iter().enumerate() {
            let name = features[feature.as_u64().unwrap() as usize].as_str().unwrap();
            let is_set = categorical[node].as_bool().unwrap();
            let is_categorical = ["merchant_category", "country", "channel"].contains(&name);
            assert_eq!(is_set, is_categorical, "{name} split by a {}", if is_set { "set" } else { "threshold" });
            split_on.insert(name.to_string());
        }
    }
    assert!(split_on.contains("merchant_category") && split_on.contains("country"), "{split_on:?}");
    // TreeSHAP reasons name categories, unseen ones included.
    let rows = explain(&model_dir, &fixture("unseen.csv"), &[]);
    let named: Vec<String> = rows
        .iter()
        .flat_map(|r| r["reasons"].as_array().unwrap().iter())
        .filter(|r| r["feature"] == "merchant_category" || r["feature"] == "country")
        .map(|r| r["value"].to_string())
        .collect();
    assert!(named.iter().any(|v| v.starts_with('"')), "{named:?}");
    // Exported with its category sets and names, and read back with the same scores.
    let exported = dir.path().join("gbdt.txt");
    let out = run(&["export", "--model-dir", model_dir.to_str().unwrap(), "--lightgbm", exported.to_str().unwrap()]);
    assert!(out.status.success(), "export: {}", stderr(&out));
    let again = import_lightgbm(&exported, &dir.path().join("again"));
    let before = probabilities(&explain(&model_dir, &data, &[]));
    let after = probabilities(&explain(&again, &data, &[]));
    let d = max_diff(&before, &after);
    assert!(d < 1e-13, "an export and import moved scores by {d:e}");
}
