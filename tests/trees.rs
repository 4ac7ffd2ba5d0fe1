//! Gradient-boosted trees through the binary: `fraud train --model gbdt`, `fraud import` of
//! LightGBM models trained in Python (fixtures written by scripts/lightgbm_fixtures.py, with
//! LightGBM's own predictions), `fraud export`, and every malformed input refused with exit 2.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::*;
use fraud::dataset::Need;
use fraud::model::FraudModel;

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/lightgbm").join(name)
}

fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut s).unwrap();
        s
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

fn train_gbdt(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let csv = sample_csv();
    let mut args = vec![
        "train",
        "--model",
        "gbdt",
        "--csv",
        csv.to_str().unwrap(),
        "--model-dir",
        dir.to_str().unwrap(),
        "--json",
    ];
    args.extend(extra);
    let out = run(&args);
    assert!(out.status.success(), "train --model gbdt failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rows of `path` as `model` reads them: its features by name, in its order.
fn rows_for(model: &FraudModel, path: &Path) -> Vec<Vec<f64>> {
    let table = fraud::dataset::read_table(path, model.schema_arc(), Need::IfPresent, None, false).unwrap();
    table.features.rows().into_iter().map(|r| r.to_vec()).collect()
}

/// The LightGBM model trained on the full data (`full.txt.gz`), imported.
fn import_full_fixture() -> FraudModel {
    let dir = tempfile::tempdir().unwrap();
    let model_txt = dir.path().join("full.txt");
    std::fs::write(&model_txt, read_text(&fixture("full.txt.gz"))).unwrap();
    let out = import(&model_txt, &dir.path().join("m"));
    assert!(out.status.success(), "{}", stderr(&out));
    FraudModel::load(&dir.path().join("m")).unwrap()
}

fn import(model_txt: &Path, dir: &Path) -> std::process::Output {
    run(&["import", "--lightgbm", model_txt.to_str().unwrap(), "--model-dir", dir.to_str().unwrap()])
}

#[test]
fn gbdt_trains_evaluates_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    let report = train_gbdt(&a, &[]);
    assert_eq!(report["family"], "gbdt");
    assert!(report["auprc"].as_f64().unwrap() > 0.85, "{report}");
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("model.json")).unwrap()).unwrap();
    assert_eq!(file["format"], "fraud-gradient-boosted-trees");
    let origin = &file["origin"];
    assert!(
        origin["trees"].as_u64().unwrap() <= 300 && origin["trees"].as_u64().unwrap().is_multiple_of(10),
        "{origin}"
    );
    assert_eq!(file["trees"].as_array().unwrap().len() as u64, origin["trees"].as_u64().unwrap());
    // Covers are the training rows that reach each node: the root of every tree sees them all.
    // (A tree of one leaf has no internal node to check; most trees here have several.)
    let rows_train = file["provenance"]["rows_train"].as_f64().unwrap();
    let mut roots = 0;
    for tree in file["trees"].as_array().unwrap() {
        if let Some(root) = tree["internal_count"].as_array().unwrap().first() {
            assert_eq!(root.as_f64().unwrap(), rows_train);
            roots += 1;
        }
    }
    assert!(roots * 2 > file["trees"].as_array().unwrap().len(), "{roots} trees with a root node to check");
    // Same seed, same model; another seed, another.
    assert_eq!(train_gbdt(&b, &[])["model_version"], report["model_version"]);
    assert_ne!(train_gbdt(&c, &["--seed", "7"])["model_version"], report["model_version"]);
    // evaluate scores the test part as train did (same split: same seed and test size).
    let csv = sample_csv();
    let out = run(&["evaluate", "--csv", csv.to_str().unwrap(), "--model-dir", a.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(eval["family"], "gbdt");
    assert_eq!(eval["threshold"], report["threshold"]);
}

/// The fixture's own predictions against ours, row by row.
fn assert_matches_lightgbm(model: &Path, predictions: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let out = import(model, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let ours = FraudModel::load(dir.path()).unwrap();
    let theirs: Vec<f64> = read_text(predictions).lines().map(|l| l.parse().unwrap()).collect();
    let rows = rows_for(&ours, &sample_csv());
    assert_eq!(theirs.len(), rows.len());
    let mut worst: f64 = 0.0;
    for (row, p) in rows.iter().zip(&theirs) {
        worst = worst.max((ours.score(row).probability - p).abs());
    }
    eprintln!("{}: {} rows, largest difference from LightGBM {worst:e}", model.display(), rows.len());
    assert!(worst <= 1e-12, "largest difference from LightGBM: {worst:e}");
}

#[test]
fn an_imported_lightgbm_model_predicts_as_lightgbm_does() {
    assert_matches_lightgbm(&fixture("sample.txt"), &fixture("sample_predictions.txt.gz"));
}

#[test]
fn zero_as_missing_nodes_decide_as_lightgbm_does() {
    assert!(
        read_text(&fixture("sample_zero.txt")).lines().any(|l| l.starts_with("decision_type=")
            && l.split([' ', '=']).any(|d| d.parse::<u8>().is_ok_and(|d| (d >> 2) & 3 == 1))),
        "the fixture has no zero-as-missing node"
    );
    assert_matches_lightgbm(&fixture("sample_zero.txt"), &fixture("sample_zero_predictions.txt.gz"));
}

#[test]
fn on_the_full_test_split_when_present() {
    let Some(full) = full_dataset() else {
        eprintln!("skipped: ../shared/data/creditcard.csv.gz is not here");
        return;
    };
    let ours = import_full_fixture();
    let test: Vec<Vec<f64>> =
        rows_for(&ours, &full).into_iter().enumerate().filter(|(i, _)| i % 10 < 3).map(|(_, r)| r).collect();
    let reference = read_text(&fixture("full_predictions.txt.gz"));
    let mut lines = reference.lines().filter(|l| !l.starts_with('#'));
    let sum_hex = lines.next().and_then(|l| l.strip_prefix("sum ")).expect("the sum line");
    let theirs: Vec<f64> = lines.map(|l| l.parse().unwrap()).collect();
    let ours_all: Vec<f64> = test.iter().map(|r| ours.score(r).probability).collect();
    let mut worst: f64 = 0.0;
    for (k, p) in theirs.iter().enumerate() {
        worst = worst.max((ours_all[k * 10] - p).abs());
    }
    let their_sum = parse_hex_float(sum_hex);
    let our_sum: f64 = ours_all.iter().sum();
    eprintln!(
        "full test split: {} rows; every 10th ({}) within {worst:e} of LightGBM; sums {our_sum} against {their_sum}",
        test.len(),
        theirs.len()
    );
    assert_eq!(theirs.len(), test.len().div_ceil(10));
    assert!(worst <= 1e-12, "largest difference from LightGBM: {worst:e}");
    assert!((our_sum - their_sum).abs() <= test.len() as f64 * 1e-12, "{our_sum} vs {their_sum}");
}

/// Python's float.hex(): "0x1.8p+1" and the like.
fn parse_hex_float(s: &str) -> f64 {
    let (sign, s) = s.strip_prefix('-').map_or((1.0, s), |r| (-1.0, r));
    let s = s.strip_prefix("0x").expect("hex float");
    let (mantissa, exp) = s.split_once('p').expect("exponent");
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut m = u64::from_str_radix(int, 16).unwrap() as f64;
    for (i, d) in frac.chars().enumerate() {
        m += d.to_digit(16).unwrap() as f64 / 16f64.powi(i as i32 + 1);
    }
    sign * m * 2f64.powi(exp.parse().unwrap())
}

#[test]
fn export_then_import_keeps_every_decision() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, txt) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("m.txt"));
    train_gbdt(&a, &[]);
    let out = run(&["export", "--model-dir", a.to_str().unwrap(), "--lightgbm", txt.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = import(&txt, &b);
    assert!(out.status.success(), "{}", stderr(&out));
    let (ma, mb) = (FraudModel::load(&a).unwrap(), FraudModel::load(&b).unwrap());
    // The export moves the base score into the first tree's leaves, so the sum of full-precision
    // leaf values rounds differently: a few units in the last place, not a decision.
    for row in rows_for(&ma, &sample_csv()).iter().take(2000) {
        assert!((ma.score(row).probability - mb.score(row).probability).abs() < 1e-13);
    }
    // A logistic model has no trees to export.
    let l = dir.path().join("l");
    train_sample(&l);
    let out = run(&["export", "--model-dir", l.to_str().unwrap(), "--lightgbm", txt.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("only gradient-boosted trees export"), "{}", stderr(&out));
}

/// A trained gbdt model's file, edited, then loaded by `fraud evaluate`: exit 2 and `needle`.
fn refused(dir: &Path, needle: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let m = dir.join(format!("m-{}", needle.len()));
    let _ = std::fs::remove_dir_all(&m);
    std::fs::create_dir_all(&m).unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("good/model.json")).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(m.join("model.json"), v.to_string()).unwrap();
    let csv = sample_csv();
    let out = run(&["evaluate", "--csv", csv.to_str().unwrap(), "--model-dir", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{needle}: {}", stderr(&out));
    assert!(stderr(&out).contains(needle), "expected {needle:?} in: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn malformed_tree_models_exit_2_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    train_gbdt(&dir.path().join("good"), &["--trees", "20"]);
    refused(dir.path(), "two features are named \"V1\"", |v| v["features"][3] = "V1".into());
    refused(dir.path(), "is not one of the 28 features", |v| {
        v["features"].as_array_mut().unwrap().remove(3);
    });
    refused(dir.path(), "is not a valid model", |v| v["trees"][0]["leaf_value"][0] = "NaN".into());
    refused(dir.path(), "is not a valid model", |v| v["trees"][0]["leaf_value"][0] = serde_json::Value::Null);
    refused(dir.path(), "reached twice", |v| v["trees"][1]["right_child"][0] = 0.into());
    refused(dir.path(), "past the", |v| v["trees"][2]["left_child"][0] = 900.into());
    refused(dir.path(), "leaf 9999", |v| v["trees"][2]["left_child"][0] = (-10000).into());
    refused(dir.path(), "not one of the 29 features", |v| v["trees"][0]["split_feature"][0] = 40.into());
    refused(dir.path(), "no trees", |v| v["trees"] = serde_json::json!([]));
}

#[test]
fn gbdt_on_one_class_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("one.csv");
    let text = std::fs::read_to_string(sample_csv()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let legit: Vec<&str> = lines.filter(|l| l.ends_with(",\"0\"") || l.ends_with(",0")).take(500).collect();
    std::fs::write(&csv, format!("{header}\n{}\n", legit.join("\n"))).unwrap();
    let out = run(&[
        "train",
        "--model",
        "gbdt",
        "--csv",
        csv.to_str().unwrap(),
        "--model-dir",
        dir.path().join("m").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("only one class"), "{}", stderr(&out));
}

#[test]
fn imported_models_keep_their_own_feature_names() {
    let dir = tempfile::tempdir().unwrap();
    let text = read_text(&fixture("sample.txt"));
    // A name list that disagrees with the feature count is refused.
    let other = dir.path().join("other.txt");
    std::fs::write(&other, text.replacen("feature_names=", "feature_names=Time ", 1)).unwrap();
    let out = import(&other, &dir.path().join("m"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("feature_names has 30"), "{}", stderr(&out));
    // Other names are the model's own: it scores data that has them, and says which are missing.
    let renamed = dir.path().join("renamed.txt");
    std::fs::write(&renamed, text.replacen(" V14 ", " V14_scaled ", 1)).unwrap();
    let out = import(&renamed, &dir.path().join("renamed"));
    assert!(out.status.success(), "{}", stderr(&out));
    let model = FraudModel::load(&dir.path().join("renamed")).unwrap();
    assert!(model.schema().index("V14_scaled").is_some());
    let csv = sample_csv();
    let explain = ["explain", "--csv", csv.to_str().unwrap(), "--model-dir"];
    let out = run(&[&explain[..], &[dir.path().join("renamed").to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no column(s) V14_scaled"), "{}", stderr(&out));
    let regression = dir.path().join("regression.txt");
    std::fs::write(&regression, text.replace("objective=binary", "objective=regression")).unwrap();
    let out = import(&regression, &dir.path().join("m"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!dir.path().join("m").exists(), "a model was written for a refused import");
}

/// LightGBM's pred_contrib for some rows (`*_contrib.txt.gz`): per row its index and, by feature
/// name, the SHAP values, then the expected value.
fn contributions_fixture(name: &str) -> Vec<(usize, std::collections::HashMap<String, f64>)> {
    let text = read_text(&fixture(name));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(' ').collect();
    lines
        .map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let row = fields[0].parse().unwrap();
            (row, header[1..].iter().zip(&fields[1..]).map(|(n, v)| (n.to_string(), v.parse().unwrap())).collect())
        })
        .collect()
}

/// Our TreeSHAP values against LightGBM's on the fixture's rows: every feature and the base.
fn assert_contributions_match(model: &FraudModel, rows: &[Vec<f64>], fixture_name: &str) -> f64 {
    let mut worst: f64 = 0.0;
    let reference = contributions_fixture(fixture_name);
    assert!(!reference.is_empty());
    for (r, theirs) in &reference {
        let mut phi = vec![0.0; model.schema().width()];
        let bias = model.contributions(&rows[*r], &mut phi);
        worst = worst.max((bias - theirs["bias"]).abs());
        for (j, name) in model.schema().names().enumerate() {
            worst = worst.max((phi[j] - theirs[name]).abs());
        }
        // Local accuracy: base plus contributions is the raw score.
        let raw = model.log_odds(&rows[*r]);
        assert!((bias + phi.iter().sum::<f64>() - raw).abs() < 1e-9);
    }
    eprintln!("{fixture_name}: {} rows, largest difference from LightGBM's pred_contrib {worst:e}", reference.len());
    assert!(worst <= 1e-9, "TreeSHAP differs from LightGBM's pred_contrib by {worst:e}");
    worst
}

#[test]
fn treeshap_equals_lightgbms_pred_contrib_on_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    for (model, contrib) in [("sample.txt", "sample_contrib.txt.gz"), ("sample_zero.txt", "sample_zero_contrib.txt.gz")]
    {
        let out = import(&fixture(model), &dir.path().join(model));
        assert!(out.status.success(), "{}", stderr(&out));
        let model = FraudModel::load(&dir.path().join(model)).unwrap();
        assert_contributions_match(&model, &rows_for(&model, &sample_csv()), contrib);
    }
}

#[test]
fn treeshap_equals_lightgbms_pred_contrib_on_the_full_test_split_when_present() {
    let Some(full) = full_dataset() else {
        eprintln!("skipped: ../shared/data/creditcard.csv.gz is not here");
        return;
    };
    let model = import_full_fixture();
    assert_contributions_match(&model, &rows_for(&model, &full), "full_contrib.txt.gz");
}
