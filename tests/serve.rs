//! `fraud serve` over real HTTP: every MLflow layout, every error status, random bodies, the
//! tutorial's own request, agreement with `fraud evaluate`, metrics, graceful shutdown.

mod common;

use common::*;
use fraud::schema::FEATURE_NAMES;
use rand::{Rng, SeedableRng};

fn trained() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("fraud_model");
    train_sample(&model_dir);
    (dir, model_dir)
}

/// The tutorial's curl body: the first row of creditcard.csv, top-level columns + data.
const TUTORIAL_BODY: &str = r#"{"columns":["V1","V2","V3","V4","V5","V6","V7","V8","V9","V10","V11","V12","V13","V14","V15","V16","V17","V18","V19","V20","V21","V22","V23","V24","V25","V26","V27","V28","Amount"],"data":[[-1.3598071336738,-0.0727811733098497,2.53634673796914,1.37815522427443,-0.338320769942518,0.462387777762292,0.239598554061257,0.0986979012610507,0.363786969611213,0.0907941719789316,-0.551599533260813,-0.617800855762348,-0.991389847235408,-0.311169353699879,1.46817697209427,-0.470400525259478,0.207971241929242,0.0257905801985591,0.403992960255733,0.251412098239705,-0.018306777944153,0.277837575558899,-0.110473910188767,0.0669280749146731,0.128539358273528,-0.189114843888824,0.133558376740387,-0.0210530534538215,149.62]]}"#;

#[test]
fn the_tutorials_request_gets_predictions() {
    let (_dir, model_dir) = trained();
    let server = Server::start(&model_dir, &[]);
    let (status, body) = server.post("/invocations", "application/json", TUTORIAL_BODY.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"predictions":[0]}"#);
}

/// Rows of the sample, as JSON numbers, and what the model says of them.
fn sample_rows(n: usize) -> Vec<[f64; 29]> {
    let x = fraud::dataset::read_labelled(&sample_csv(), false).unwrap().features;
    x.rows().into_iter().take(n).map(|r| std::array::from_fn(|j| r[j])).collect()
}

#[test]
fn every_layout_gives_the_models_predictions() {
    let (_dir, model_dir) = trained();
    let model = fraud::model::FraudModel::load(&model_dir).unwrap();
    let server = Server::start(&model_dir, &[]);
    // Frauds are rows 0.. of none in particular; take rows until both classes are predicted.
    let rows = sample_rows(400);
    let expected: Vec<u8> = rows.iter().map(|r| u8::from(model.score(r).fraud)).collect();
    assert!(expected.contains(&1) && expected.contains(&0), "the rows should include flagged ones");
    let probs: Vec<f64> = rows.iter().map(|r| model.score(r).probability).collect();

    let records: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::Value::Object(FEATURE_NAMES.iter().zip(r).map(|(n, v)| (n.to_string(), (*v).into())).collect())
        })
        .collect();
    let columns: serde_json::Map<String, serde_json::Value> = FEATURE_NAMES
        .iter()
        .enumerate()
        .map(|(j, n)| (n.to_string(), rows.iter().map(|r| r[j]).collect::<Vec<_>>().into()))
        .collect();
    let split = serde_json::json!({"columns": FEATURE_NAMES, "data": rows});
    let bodies = [
        split.to_string(),
        serde_json::json!({"dataframe_split": split}).to_string(),
        serde_json::json!({"dataframe_split": split, "params": {"anything": 1}}).to_string(),
        serde_json::json!({"dataframe_records": records}).to_string(),
        serde_json::json!({"instances": records}).to_string(),
        serde_json::json!({"instances": rows}).to_string(),
        serde_json::json!({"inputs": records}).to_string(),
        serde_json::json!({"inputs": columns}).to_string(),
    ];
    for body in &bodies {
        let (status, v) = server.json(body);
        assert_eq!(status, 200, "{v} for {}", &body[..60]);
        let got: Vec<u8> = serde_json::from_value(v["predictions"].clone()).unwrap();
        assert_eq!(got, expected, "layout {}", &body[..40]);
        assert!(v.get("probabilities").is_none());
    }
    let (status, text) = server.post("/invocations?probabilities=true", "application/json", bodies[0].as_bytes());
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let got: Vec<f64> = serde_json::from_value(v["probabilities"].clone()).unwrap();
    assert_eq!(got, probs);

    // Columns by name: reversed order plus an extra column changes nothing.
    let mut names: Vec<&str> = FEATURE_NAMES.iter().rev().copied().collect();
    names.push("Time");
    let data: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().rev().copied().chain([0.0]).collect()).collect();
    let (status, v) =
        server.json(&serde_json::json!({"dataframe_split": {"columns": names, "data": data}}).to_string());
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_value::<Vec<u8>>(v["predictions"].clone()).unwrap(), expected);
}

#[test]
fn csv_body_of_the_whole_sample_agrees_with_fraud_evaluate() {
    let (_dir, model_dir) = trained();
    let server = Server::start(&model_dir, &[]);
    let csv = std::fs::read(sample_csv()).unwrap();
    let (status, text) = server.post("/invocations", "text/csv", &csv);
    assert_eq!(status, 200, "{text}");
    let predictions: Vec<u8> =
        serde_json::from_value(serde_json::from_str::<serde_json::Value>(&text).unwrap()["predictions"].clone())
            .unwrap();
    assert_eq!(predictions.len(), 8000);
    let labels = fraud::dataset::read_labelled(&sample_csv(), false).unwrap().labels;
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (p, l) in predictions.iter().zip(&labels) {
        match (*p == 1, *l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let out = run(&[
        "evaluate",
        "--csv",
        sample_csv().to_str().unwrap(),
        "--model-dir",
        model_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (e["tp"].as_u64().unwrap(), e["fp"].as_u64().unwrap(), e["tn"].as_u64().unwrap(), e["fn"].as_u64().unwrap()),
        (tp, fp, tn, fn_)
    );
}

#[test]
fn errors_are_shaped_as_mlflow_shapes_them() {
    let (_dir, model_dir) = trained();
    let server = Server::start(&model_dir, &["--max-body-bytes", "20000"]);
    let good = TUTORIAL_BODY.to_string();
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "invalid_json"),
        ("{\"rows\": []}".into(), "unknown_layout"),
        (good.replace("\"V14\",", ""), "missing_column"),
        (good.replace("149.62", "\"149.62\""), "not_numeric"),
        (good.replace("149.62", "NaN"), "non_finite"),
        (good.replace(",149.62", ""), "wrong_width"),
        (serde_json::json!({"dataframe_split": {"columns": FEATURE_NAMES, "data": []}}).to_string(), "empty_data"),
    ];
    for (body, code) in &cases {
        let (status, v) = server.json(body);
        assert_eq!(status, 400, "{code}: {v}");
        assert_eq!(v["error_code"], "BAD_REQUEST");
        assert!(v["message"].as_str().unwrap().starts_with(code), "{code}: {v}");
    }
    let (status, text) = server.post("/invocations", "text/plain", good.as_bytes());
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("BAD_REQUEST"));
    let big = format!("{{\"columns\": [], \"data\": [], \"x\": \"{}\"}}", "y".repeat(30_000));
    let (status, text) = server.post("/invocations", "application/json", big.as_bytes());
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("over the limit of 20000 bytes"), "{text}");
    let (status, _) = server.post("/invocations?probabilities=perhaps", "application/json", good.as_bytes());
    assert_eq!(status, 400);
}

#[test]
fn random_and_truncated_bodies_get_only_4xx() {
    let (_dir, model_dir) = trained();
    let server = Server::start(&model_dir, &[]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let good = serde_json::json!({"dataframe_split": {"columns": FEATURE_NAMES, "data": sample_rows(3)}}).to_string();
    let mut bodies: Vec<Vec<u8>> = (1..good.len()).step_by(7).map(|n| good.as_bytes()[..n].to_vec()).collect();
    for _ in 0..200 {
        let len = rng.gen_range(0..600);
        bodies.push((0..len).map(|_| rng.r#gen::<u8>()).collect());
    }
    for _ in 0..200 {
        // Valid JSON shapes with junk in them.
        let mut b = good.clone().into_bytes();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..b.len());
            let junk = b"{}[],:\"0-eE.x \\";
            b[i] = junk[rng.gen_range(0..junk.len())];
        }
        bodies.push(b);
    }
    for body in &bodies {
        for ct in ["application/json", "text/csv"] {
            let (status, text) = server.post("/invocations", ct, body);
            assert!((400..500).contains(&status) || (status == 200 && text.contains("predictions")), "{status} {text}");
        }
    }
    // Still serving.
    assert_eq!(server.post("/invocations", "application/json", TUTORIAL_BODY.as_bytes()).0, 200);
}

#[test]
fn health_version_metrics_and_graceful_shutdown() {
    let (_dir, model_dir) = trained();
    let mut server = Server::start(&model_dir, &[]);
    assert_eq!(server.get("/ping").0, 200);
    assert_eq!(server.get("/health").0, 200);
    let (status, text) = server.get("/version");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["model_version"].as_str().unwrap().len(), 12);

    let metric = |server: &Server, name: &str| -> f64 {
        let (_, text) = server.get("/metrics");
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert_eq!(metric(&server, "fraud_http_requests_total{status=\"200\"}"), 0.0);
    for _ in 0..3 {
        server.post("/invocations", "application/json", TUTORIAL_BODY.as_bytes());
    }
    server.post("/invocations", "application/json", b"{");
    assert_eq!(metric(&server, "fraud_http_requests_total{status=\"200\"}"), 3.0);
    assert_eq!(metric(&server, "fraud_http_requests_total{status=\"400\"}"), 1.0);
    assert_eq!(metric(&server, "fraud_http_rows_scored_total"), 3.0);
    assert_eq!(metric(&server, "fraud_http_request_duration_seconds_count"), 4.0);

    terminate(&server.child);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "SIGTERM should exit 0, got {status}");
}

#[test]
fn a_missing_model_exits_2() {
    let out = run(&["serve", "--model-dir", "/nonexistent/model", "--port", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does not exist"));
}

/// Sample rows with their labels: the first frauds and the first legitimate ones.
fn labelled_rows(frauds: usize, legit: usize) -> Vec<([f64; 29], bool)> {
    let data = fraud::dataset::read_labelled(&sample_csv(), false).unwrap();
    let rows = data.features.rows().into_iter().map(|r| std::array::from_fn(|j| r[j])).zip(data.labels.iter().copied());
    let (mut f, mut l) = (Vec::new(), Vec::new());
    for (row, label) in rows {
        if label && f.len() < frauds {
            f.push((row, true));
        } else if !label && l.len() < legit {
            l.push((row, false));
        }
    }
    f.into_iter().chain(l).collect()
}

#[test]
fn decisions_and_reasons_on_request_for_both_families() {
    let dir = tempfile::tempdir().unwrap();
    let csv = sample_csv();
    let rows = labelled_rows(20, 20);
    let body =
        serde_json::json!({"columns": FEATURE_NAMES, "data": rows.iter().map(|r| r.0.to_vec()).collect::<Vec<_>>()})
            .to_string();
    for family in ["logistic", "gbdt"] {
        let model_dir = dir.path().join(family);
        let out = run(&[
            "train",
            "--model",
            family,
            "--csv",
            csv.to_str().unwrap(),
            "--model-dir",
            model_dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let model = fraud::model::FraudModel::load(&model_dir).unwrap();
        let server = Server::start(&model_dir, &[]);
        // MLflow's shape unless asked.
        let (_, plain) = server.json(&body);
        assert_eq!(plain.as_object().unwrap().keys().collect::<Vec<_>>(), ["predictions"]);
        let (status, v) = server.post("/invocations?decisions=true", "application/json", body.as_bytes());
        assert_eq!(status, 200, "{v}");
        let v: serde_json::Value = serde_json::from_str(&v).unwrap();
        let (decisions, reasons) = (v["decisions"].as_array().unwrap(), v["reasons"].as_array().unwrap());
        assert_eq!(
            (decisions.len(), reasons.len(), v["probabilities"].as_array().unwrap().len()),
            (rows.len(), rows.len(), rows.len())
        );
        let bands = model.bands();
        for (k, (row, _)) in rows.iter().enumerate() {
            let p = v["probabilities"][k].as_f64().unwrap();
            let expected = if bands.decline.is_some_and(|d| p >= d) {
                "decline"
            } else if p >= bands.review {
                "review"
            } else {
                "approve"
            };
            assert_eq!(decisions[k], expected, "row {k}, p {p}, bands {bands:?}");
            assert_eq!(v["predictions"][k], u8::from(expected != "approve"));
            let r = reasons[k].as_array().unwrap();
            if expected == "approve" {
                assert!(r.is_empty(), "an approved row carries no reasons");
                continue;
            }
            assert_eq!(r.len(), 3);
            let contributions: Vec<f64> = r.iter().map(|x| x["contribution"].as_f64().unwrap()).collect();
            assert!(contributions.windows(2).all(|w| w[0] >= w[1]), "largest first: {contributions:?}");
            for reason in r {
                let j = FEATURE_NAMES.iter().position(|n| *n == reason["feature"]).expect("a feature name");
                assert_eq!(reason["value"].as_f64().unwrap(), row[j], "the raw input value");
            }
            // They are the model's own: the three largest of its contributions.
            let mut phi = [0.0; 29];
            model.contributions(row, &mut phi);
            let mut sorted = phi;
            sorted.sort_by(|a, b| b.total_cmp(a));
            assert_eq!(contributions, sorted[..3].to_vec());
        }
        assert!(
            decisions.iter().any(|d| d != "approve") && decisions.iter().any(|d| d == "approve"),
            "{family}: {decisions:?}"
        );
        let (_, metrics) = server.get("/metrics");
        assert!(metrics.contains("fraud_http_decisions_total{decision=\"approve\"}"), "{metrics}");
        assert!(metrics.contains("fraud_http_score_bucket"), "{metrics}");
    }
}

#[test]
fn decision_thresholds_can_be_overridden_by_flag_and_policy_file() {
    let (_dir, model_dir) = trained();
    let rows = labelled_rows(10, 10);
    let body =
        serde_json::json!({"columns": FEATURE_NAMES, "data": rows.iter().map(|r| r.0.to_vec()).collect::<Vec<_>>()})
            .to_string();
    let decisions = |server: &Server| {
        let (_, v) = server.post("/invocations?decisions=true", "application/json", body.as_bytes());
        let v: serde_json::Value = serde_json::from_str(&v).unwrap();
        v["decisions"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    // Everything at or above 1e-9 is declined: every row.
    let all = decisions(&Server::start(
        &model_dir,
        &["--review-threshold", "0.000000001", "--decline-threshold", "0.000000001"],
    ));
    assert!(all.iter().all(|d| d == "decline"), "{all:?}");
    std::fs::write(model_dir.join("policy.json"), r#"{"review_threshold": 1.0, "decline_threshold": 1.0}"#).unwrap();
    let none = decisions(&Server::start(&model_dir, &[]));
    assert!(none.iter().all(|d| d == "approve"), "{none:?}");
    // A decline below review is refused at the start: exit 2.
    std::fs::write(model_dir.join("policy.json"), r#"{"review_threshold": 0.9, "decline_threshold": 0.5}"#).unwrap();
    let out = run(&["serve", "--port", "0", "--model-dir", model_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("below the review threshold"), "{}", stderr(&out));
}
