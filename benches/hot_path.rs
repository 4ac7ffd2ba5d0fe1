//! The consumer's hot path without the broker: parse one JSON message and score its rows, and
//! the same plus writing the score record; with a baseline measured in the same run (the general
//! serde path on the same rows). For both model families: the logistic regression fitted on the
//! shipped sample, and gradient-boosted trees from `FRAUD_BENCH_GBDT_MODEL` (a model directory;
//! `scripts/bench/trees.sh` trains the default model on the full data set) or, without it,
//! fitted with the defaults on the sample. Run with `cargo bench --bench hot_path`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fraud::decision::{Explainer, Judgments, Overrides, Policy, ReasonsFor};
use fraud::model::{Bands, FraudModel, LogisticParams};
use fraud::schema::FeatureRow;
use fraud::wire::{DEFAULT_MAX_BYTES, RowParser, ScoreRecord, Source, split_json};

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

fn models_and_rows() -> (FraudModel, FraudModel, Vec<FeatureRow>) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.csv");
    let data = fraud::dataset::read_labelled(&sample, false).expect("data/sample.csv");
    let scaler = fraud::train::fit_scaler(&data.features);
    let x = fraud::train::standardise(&data.features, &scaler);
    let fitted = fraud::train::logistic::fit(x.view(), &data.labels, &Default::default()).expect("fit");
    let params = LogisticParams { scaler, weights: fitted.weights, intercept: fitted.intercept };
    let logistic =
        FraudModel::logistic(params, Bands::review_only(0.5), provenance(data.len(), data.frauds())).expect("model");
    let trees = match std::env::var_os("FRAUD_BENCH_GBDT_MODEL") {
        Some(dir) => FraudModel::load(Path::new(&dir)).expect("FRAUD_BENCH_GBDT_MODEL: a model directory"),
        None => {
            let all: Vec<usize> = (0..data.len()).collect();
            let boosted = fraud::train::gbdt::fit(
                &data.features,
                &vec![false; data.features.ncols()],
                &all,
                &data.labels,
                &Default::default(),
                42,
            )
            .expect("gbdt");
            FraudModel::trees(boosted.params, Bands::review_only(0.5), provenance(data.len(), data.frauds()))
                .expect("model")
        }
    };
    // A stream as real traffic brings it: 998 legitimate rows and 2 frauds (0.2 %; the sample is
    // enriched to 5 %). Frauds are what get reasons, so their share sets what reasons cost.
    let mut rows: Vec<FeatureRow> = Vec::with_capacity(1000);
    let (mut frauds, mut legit) = (0, 0);
    for (r, &fraud) in data.features.rows().into_iter().zip(&data.labels) {
        let take = if fraud { frauds < 2 } else { legit < 998 };
        if take {
            rows.push(std::array::from_fn(|j| r[j]));
            if fraud { frauds += 1 } else { legit += 1 }
        }
    }
    // The frauds spread out, not bunched at one end.
    rows.sort_by_key(|r| (r[0] * 1e6) as i64);
    (logistic, trees, rows)
}

fn bench_model(c: &mut Criterion, family: &str, model: &FraudModel, rows: &[FeatureRow], frauds: &[FeatureRow]) {
    // The tutorial's messages: one row each, as `fraud produce` writes them.
    let messages: Vec<String> = rows.iter().map(|r| split_json(std::slice::from_ref(r))).collect();
    let mut parser = RowParser::new(DEFAULT_MAX_BYTES);
    let mut group = c.benchmark_group(format!("hot_path/{family}"));
    group.throughput(Throughput::Elements(1));

    // Parse one message and score its rows: how many are flagged.
    let parse_and_score = |parser: &mut RowParser, msg: &str| -> u32 {
        let rows = parser.parse_json(black_box(msg.as_bytes())).expect("valid");
        rows.iter().map(|row| u32::from(model.score(row).fraud)).sum()
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
                let rows = parser.parse_json(black_box(msg.as_bytes())).expect("valid");
                judgments.judge(model, &policy, reasons_for, rows);
                ScoreRecord {
                    predictions: &judgments.predictions,
                    probabilities: &judgments.probabilities,
                    decisions: &judgments.decisions,
                    reasons: judgments.row_reasons(),
                    model_version: model.version(),
                    source: Some(Source { topic: "test", partition: 0, offset: i as i64 }),
                }
                .write_into(&mut out);
                black_box(out.len())
            })
        });
    }

    // Reasons for one flagged row: the three largest contributions.
    let flagged: Vec<&FeatureRow> = frauds.iter().filter(|r| model.score(r).fraud).collect();
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

/// Every fraud of the sample: the rows whose reasons are timed.
fn fraud_rows() -> Vec<FeatureRow> {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.csv");
    let data = fraud::dataset::read_labelled(&sample, false).expect("data/sample.csv");
    data.features
        .rows()
        .into_iter()
        .zip(&data.labels)
        .filter(|(_, l)| **l)
        .map(|(r, _)| std::array::from_fn(|j| r[j]))
        .collect()
}

fn hot_path(c: &mut Criterion) {
    let (logistic, trees, rows) = models_and_rows();
    let frauds = fraud_rows();
    eprintln!("gbdt model {}: {} trees", trees.version(), trees.tree_params().map_or(0, |p| p.trees.len()));
    bench_model(c, "logistic", &logistic, &rows, &frauds);
    bench_model(c, "gbdt", &trees, &rows, &frauds);
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
