//! The consumer's hot path without the broker: parse one JSON message and score its rows, and
//! the same plus writing the score record; with a baseline measured in the same run (the general
//! serde path on the same rows). For both model families on two schemas:
//!
//! - the ULB/Kaggle one: the logistic regression fitted on the shipped sample, and
//!   gradient-boosted trees from `FRAUD_BENCH_GBDT_MODEL` (a model directory;
//!   `scripts/bench/trees.sh` trains the default model on the full data set) or, without it,
//!   fitted with the defaults on the sample;
//! - one with categorical features (`tests/fixtures/categorical`): an amount, a merchant
//!   category, a country, a channel, two numbers; the logistic regression fitted on it (one-hot),
//!   and the LightGBM model of the fixture (native categorical splits), imported.
//!
//! Run with `cargo bench --bench hot_path`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fraud::dataset::{Labelled, Selection};
use fraud::decision::{Explainer, Judgments, Overrides, Policy, ReasonsFor};
use fraud::model::{Bands, FraudModel, LogisticParams};
use fraud::train::design::Encoding;
use fraud::wire::{DEFAULT_MAX_BYTES, RowParser, ScoreRecord, Source, split_json};

type Row = Vec<f64>;

fn provenance(rows: usize, frauds: usize) -> fraud::model::Provenance {
    fraud::model::Provenance {
        crate_version: "bench".into(),
        created_at: String::new(),
        input_file: "data/sample.csv".into(),
        input_sha256: String::new(),
        rows_train: rows,
        frauds_train: frauds,
        seed: 0,
        test_size: 0.0,
        fit_seconds: 0.0,
        gradient_max: None,
        training_metrics: None,
    }
}

fn file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A logistic regression fitted on every row, as `fraud train` fits it.
fn logistic(data: &Labelled) -> FraudModel {
    let all: Vec<usize> = (0..data.len()).collect();
    let encoding = Encoding::fit(&data.schema, &data.features, &all, 32);
    let x = encoding.design(&data.features, &all);
    let fitted = fraud::train::logistic::fit(x.view(), &data.labels, &Default::default()).expect("fit");
    let (weights, onehot) = encoding.split_weights(&fitted.weights);
    let params = LogisticParams { scaler: encoding.scaler.clone(), weights, intercept: fitted.intercept, onehot };
    FraudModel::logistic(&data.schema, params, Bands::review_only(0.5), provenance(data.len(), data.frauds()))
        .expect("model")
}

/// A stream as real traffic brings it: 998 legitimate rows and 2 frauds (0.2 %; the samples
/// are enriched). Frauds are what get reasons, so their share sets what reasons cost. And every
/// fraud, for timing reasons.
fn stream_rows(data: &Labelled) -> (Vec<Row>, Vec<Row>) {
    let mut rows: Vec<(usize, Row)> = Vec::with_capacity(1000);
    let (mut frauds, mut legit) = (0, 0);
    for (i, (r, &fraud)) in data.features.rows().into_iter().zip(&data.labels).enumerate() {
        let take = if fraud { frauds < 2 } else { legit < 998 };
        if take {
            // The frauds spread out, not bunched at one end.
            rows.push(((i * 7919) % data.len(), r.to_vec()));
            if fraud { frauds += 1 } else { legit += 1 }
        }
    }
    rows.sort_by_key(|(k, _)| *k);
    let all_frauds =
        data.features.rows().into_iter().zip(&data.labels).filter(|(_, l)| **l).map(|(r, _)| r.to_vec()).collect();
    (rows.into_iter().map(|(_, r)| r).collect(), all_frauds)
}

fn bench_model(c: &mut Criterion, family: &str, model: &FraudModel, rows: &[Row], frauds: &[Row]) {
    // The tutorial's messages: one row each, as `fraud produce` writes them.
    let messages: Vec<String> = rows.iter().map(|r| split_json(model.schema(), [r.as_slice()])).collect();
    let mut parser = RowParser::new(model.schema_arc().clone(), None, DEFAULT_MAX_BYTES);
    let mut group = c.benchmark_group(format!("hot_path/{family}"));
    group.throughput(Throughput::Elements(1));

    // Parse one message and score its rows: how many are flagged.
    let parse_and_score = |parser: &mut RowParser, msg: &str| -> u32 {
        let parsed = parser.parse_json(black_box(msg.as_bytes())).expect("valid");
        parsed.rows.iter().map(|row| u32::from(model.score(row).fraud)).sum()
    };

    let mut i = 0;
    group.bench_function("parse_and_score_one_message", |b| {
        b.iter(|| {
            i += 1;
            black_box(parse_and_score(&mut parser, &messages[i % messages.len()]))
        })
    });

    // Baseline, same run: the same rows with pandas' `index` key, which the fast path leaves to
    // the general serde path. Compare medians as a ratio; the machine's speed varies by day.
    let with_index: Vec<String> = messages.iter().map(|m| m.replacen('{', "{\"index\":[0],", 1)).collect();
    group.bench_function("baseline_serde_path_one_message", |b| {
        b.iter(|| {
            i += 1;
            black_box(parse_and_score(&mut parser, &with_index[i % with_index.len()]))
        })
    });

    // The consumer's path: parse, score, decide (reasons for flagged rows, or every row), and
    // write the score record.
    let policy = Policy::new(model, Overrides::default()).expect("policy");
    let mut judgments = Judgments::default();
    let mut out = Vec::new();
    for (name, reasons_for) in [
        ("parse_score_and_write_record", ReasonsFor::Flagged),
        ("parse_score_and_write_record_no_reasons", ReasonsFor::Nothing),
        ("parse_score_and_write_record_reasons_all", ReasonsFor::Every),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let msg = &messages[i % messages.len()];
                i += 1;
                let parsed = parser.parse_json(black_box(msg.as_bytes())).expect("valid");
                judgments.judge(model, &policy, reasons_for, parsed.rows);
                ScoreRecord {
                    predictions: &judgments.predictions,
                    probabilities: &judgments.probabilities,
                    decisions: &judgments.decisions,
                    reasons: judgments.row_reasons(model),
                    ids: parsed.ids,
                    model_version: model.version(),
                    source: Some(Source { topic: "test", partition: 0, offset: i as i64 }),
                }
                .write_into(&mut out);
                black_box(out.len())
            })
        });
    }

    // Reasons for one flagged row: the three largest contributions.
    let flagged: Vec<&Row> = frauds.iter().filter(|r| model.score(r).fraud).collect();
    if !flagged.is_empty() {
        let mut explainer = Explainer::default();
        let mut reasons = Vec::with_capacity(3);
        group.bench_function("reasons_one_flagged_row", |b| {
            b.iter(|| {
                reasons.clear();
                explainer.reasons(model, black_box(flagged[i % flagged.len()]), &mut reasons);
                i += 1;
                black_box(reasons.len())
            })
        });
    }

    group.bench_function("score_one_row", |b| {
        b.iter(|| {
            let row = &rows[i % rows.len()];
            i += 1;
            black_box(model.score(black_box(row)))
        })
    });
    group.finish();
}

fn hot_path(c: &mut Criterion) {
    let sample = fraud::dataset::read_labelled(&file("data/sample.csv"), false).expect("data/sample.csv");
    let trees = match std::env::var_os("FRAUD_BENCH_GBDT_MODEL") {
        Some(dir) => FraudModel::load(Path::new(&dir)).expect("FRAUD_BENCH_GBDT_MODEL: a model directory"),
        None => {
            let all: Vec<usize> = (0..sample.len()).collect();
            let boosted = {
                let categorical = sample.schema.categorical_flags();
                fraud::train::gbdt::fit(&sample.features, &categorical, &all, &sample.labels, &Default::default(), 42)
                    .expect("gbdt")
            };
            FraudModel::trees(
                &sample.schema,
                boosted.params,
                Bands::review_only(0.5),
                provenance(sample.len(), sample.frauds()),
            )
            .expect("model")
        }
    };
    eprintln!("gbdt model {}: {} trees", trees.version(), trees.tree_params().map_or(0, |p| p.trees.len()));
    let (rows, frauds) = stream_rows(&sample);
    bench_model(c, "logistic", &logistic(&sample), &rows, &frauds);
    bench_model(c, "gbdt", &trees, &rows, &frauds);

    // The categorical schema: the fixture's columns, as `fraud train` is told them.
    let selection = Selection {
        label: "label".into(),
        id: Some("tx_id".into()),
        time: Some("time".into()),
        features: None,
        exclude: vec!["card_id".into()],
        categorical: vec!["merchant_category".into()],
    };
    let shop = fraud::dataset::read_training(&file("tests/fixtures/categorical/transactions.csv"), &selection, false)
        .expect("the categorical fixture");
    let text = std::fs::read_to_string(file("tests/fixtures/categorical/lightgbm.txt")).expect("lightgbm.txt");
    let (schema, params) = fraud::model::lightgbm::parse(&text).expect("the fixture's LightGBM model");
    // The label column of the data it scores, as `fraud import --label label` names it.
    let schema = fraud::schema::Schema::new(schema.features().to_vec(), "label", None, None).expect("schema");
    let lightgbm = FraudModel::trees(&schema, params, Bands::review_only(0.5), provenance(shop.len(), shop.frauds()))
        .expect("model");
    // The imported model reads the columns in its own order.
    let imported = fraud::dataset::read_table(
        &file("tests/fixtures/categorical/transactions.csv"),
        lightgbm.schema_arc(),
        fraud::dataset::Need::Required,
        None,
        false,
    )
    .expect("the fixture, by the imported schema");
    let imported = Labelled {
        schema: lightgbm.schema_arc().clone(),
        features: imported.features,
        labels: imported.labels.unwrap_or_default(),
        ids: None,
        sha256: String::new(),
        notes: Vec::new(),
    };
    let (rows, frauds) = stream_rows(&shop);
    bench_model(c, "categorical_logistic", &logistic(&shop), &rows, &frauds);
    let (rows, frauds) = stream_rows(&imported);
    bench_model(c, "categorical_lightgbm", &lightgbm, &rows, &frauds);
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
