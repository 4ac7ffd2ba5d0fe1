//! A LightGBM model with categorical features, trained in Python on a pandas DataFrame
//! (`tests/fixtures/categorical/`, whose README states the semantics checked here): its schema
//! as imported, its raw scores and TreeSHAP contributions against LightGBM's own to 1e-12, and
//! its export read back bit for bit.
//!
//! Rows are coded as LightGBM's Python package codes a DataFrame: a category's code is its
//! position in the model's `pandas_categorical` list; an empty cell is NaN. A category the list
//! does not hold is our UNSEEN (-1), where LightGBM has NaN: both go right at every categorical
//! node, which the scores of `unseen.csv` check.

use std::path::PathBuf;

use fraud::model::lightgbm::{parse, to_text};
use fraud::model::shap::TreeShap;
use fraud::model::tree_eval::Compiled;
use fraud::model::{Bands, FraudModel, Provenance, TreeParams};
use fraud::schema::{Schema, UNSEEN};

/// Raw scores agree to this (absolute); the README promises it.
const SCORE_TOLERANCE: f64 = 1e-12;
/// And so do the contributions (see `treeshap_equals_lightgbms_pred_contrib`).
const CONTRIB_TOLERANCE: f64 = 1e-12;

const FEATURES: [&str; 6] = ["amount", "merchant_category", "country", "channel", "is_night", "hour"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/categorical").join(name)
}

fn read(name: &str) -> String {
    let path = fixture(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn model() -> (Schema, TreeParams) {
    let (schema, params) = parse(&read("lightgbm.txt")).unwrap();
    params.check(&schema).unwrap();
    (schema, params)
}

/// A CSV file of the fixture: its header and its cells (no quoting, no comma in a field).
fn table(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = read(name);
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect::<Vec<_>>();
    let cells = lines.map(|l| l.split(',').map(String::from).collect::<Vec<_>>()).collect::<Vec<_>>();
    assert!(cells.iter().all(|r| r.len() == header.len()), "{name}: a row of another width");
    (header, cells)
}

/// The rows of a fixture file in the schema's order, each feature's column found by name.
fn rows(schema: &Schema, name: &str) -> Vec<Vec<f64>> {
    let (header, cells) = table(name);
    let columns: Vec<&str> = header.iter().map(String::as_str).collect();
    let map = schema.columns(&columns).unwrap();
    cells
        .iter()
        .map(|cells| {
            (0..schema.width())
                .map(|j| {
                    let text = cells[map.source(j)].as_str();
                    if text.is_empty() {
                        f64::NAN
                    } else if schema.is_categorical(j) {
                        schema.code(j, text)
                    } else {
                        text.parse::<f64>().unwrap_or_else(|e| panic!("{name}: {text:?}: {e}"))
                    }
                })
                .collect()
        })
        .collect()
}

/// Every row of `transactions.csv`, then those of `unseen.csv`: the fixtures' row order.
fn all_rows(schema: &Schema) -> Vec<Vec<f64>> {
    let mut all = rows(schema, "transactions.csv");
    assert_eq!(all.len(), 4000);
    all.extend(rows(schema, "unseen.csv"));
    assert_eq!(all.len(), 4010);
    all
}

fn numbers(line: &str) -> Vec<f64> {
    line.split(' ').map(|v| v.parse().unwrap()).collect()
}

fn lightgbm_scores() -> Vec<f64> {
    read("lightgbm_predictions.txt").lines().map(|l| l.parse().unwrap()).collect()
}

fn lightgbm_contributions() -> Vec<Vec<f64>> {
    read("lightgbm_contrib.txt").lines().map(numbers).collect()
}

fn provenance() -> Provenance {
    Provenance {
        crate_version: "test".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        input_file: "lightgbm.txt".into(),
        input_sha256: "00".into(),
        rows_train: 0,
        frauds_train: 0,
        seed: 0,
        test_size: 0.0,
        fit_seconds: 0.0,
        gradient_max: None,
        training_metrics: None,
    }
}

/// The distinct present values of a column, in code-point order: pandas' categories.
fn distinct(name: &str, column: &str) -> Vec<String> {
    let (header, cells) = table(name);
    let c = header.iter().position(|h| h == column).unwrap();
    let mut values: Vec<String> = cells.iter().map(|r| r[c].clone()).filter(|v| !v.is_empty()).collect();
    values.sort();
    values.dedup();
    values
}

#[test]
fn the_schema_is_the_models_features_with_the_pandas_categories() {
    let (schema, params) = model();
    assert_eq!(schema.names().collect::<Vec<_>>(), FEATURES);
    let categorical = schema.categorical_flags();
    assert_eq!(categorical, [false, true, true, true, false, false]);
    // The `pandas_categorical` lists, in order, one per categorical feature.
    let lists = pandas_lists(&read("lightgbm.txt"));
    let lists: Vec<Vec<&str>> = lists
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect())
        .collect();
    let ours: Vec<&[String]> =
        schema.features().iter().filter(|f| f.is_categorical()).map(|f| f.categories()).collect();
    assert_eq!(ours, lists);
    // pandas' categories are the training column's distinct values, sorted by string.
    for f in schema.features().iter().filter(|f| f.is_categorical()) {
        assert_eq!(f.categories(), distinct("transactions.csv", &f.name), "{}", f.name);
    }
    let countries = ["BR", "CA", "DE", "ES", "FR", "GB", "IT", "MX", "NG", "NL", "RO", "US"];
    assert_eq!(schema.features()[1].categories().len(), 40);
    assert_eq!(schema.features()[2].categories(), countries);
    assert_eq!(schema.features()[3].categories(), ["atm", "pos", "web"]);
    assert_eq!((schema.code(1, "4111"), schema.code(1, "5300"), schema.code(1, "8062")), (0.0, 8.0, 39.0));
    assert_eq!((schema.code(1, "7297"), schema.code(2, "JP"), schema.code(3, "moto")), (UNSEEN, UNSEEN, UNSEEN));
    // A number's text is canonical: however a merchant category is written, it is one category.
    assert_eq!(schema.code(1, "05411"), schema.code(1, "5411"));
    assert_eq!(schema.code(1, "5411.0"), schema.code(1, "5411"));

    // The README's census of the trees.
    assert_eq!(params.trees.len(), 60);
    assert!(params.trees.iter().all(|t| t.has_categorical()));
    let mut nodes = [0; 6];
    for t in &params.trees {
        for i in 0..t.split_feature.len() {
            if t.is_categorical(i) {
                nodes[usize::from(t.split_feature[i])] += 1;
            }
        }
    }
    assert_eq!(nodes, [0, 112, 55, 50, 0, 0]);
    // 5300 (code 8) was binned with NaN: in no set, so it always goes right.
    let sets_with_8 = params
        .trees
        .iter()
        .flat_map(|t| (0..t.split_feature.len()).filter(|&i| t.split_feature[i] == 1).map(move |i| t.left_codes(i)))
        .filter(|codes| codes.contains(&8))
        .count();
    let mcc = rows(&schema, "transactions.csv").iter().filter(|r| r[1] == 8.0).count();
    assert_eq!((sets_with_8, mcc), (0, 18));
}

#[test]
fn raw_scores_equal_lightgbms_with_missing_and_unseen_categories() {
    let (schema, params) = model();
    let rows = all_rows(&schema);
    let theirs = lightgbm_scores();
    assert_eq!(theirs.len(), rows.len());

    // unseen.csv as its README table describes it.
    let unseen = &rows[4000..];
    assert_eq!(unseen[0][1], UNSEEN, "MCC 7297");
    assert_eq!(unseen[1][2], UNSEEN, "country JP");
    assert_eq!(unseen[2][3], UNSEEN, "channel moto");
    assert!(unseen[3][0].is_nan() && unseen[4][2].is_nan() && unseen[5][1].is_nan() && unseen[6][3].is_nan());
    assert!(unseen[8][..4].iter().all(|v| v.is_nan()));
    assert_eq!(&unseen[9][1..4], [UNSEEN; 3]);
    assert_eq!((unseen[7][1], unseen[7][2]), (schema.code(1, "6051"), schema.code(2, "NG")));
    assert!(unseen[7][1] >= 0.0 && unseen[7][2] >= 0.0);

    let fast = Compiled::new(&params, schema.width());
    let model = FraudModel::trees(&schema, params.clone(), Bands::review_only(0.5), provenance()).unwrap();
    let mut worst = 0.0f64;
    for (r, (row, theirs)) in rows.iter().zip(&theirs).enumerate() {
        let ours = fast.raw(row);
        worst = worst.max((ours - theirs).abs());
        assert_eq!(ours.to_bits(), params.raw_reference(row).to_bits(), "row {r}: the reference walk");
        assert_eq!(ours.to_bits(), model.log_odds(row).to_bits(), "row {r}: the loaded model");
        // LightGBM codes an unseen category as NaN; ours is -1. Both go right everywhere.
        let as_lightgbm: Vec<f64> = row.iter().map(|&v| if v == UNSEEN { f64::NAN } else { v }).collect();
        assert_eq!(fast.raw(&as_lightgbm).to_bits(), ours.to_bits(), "row {r}: unseen as NaN");
        let p = model.score(row).probability;
        assert!((p - 1.0 / (1.0 + (-theirs).exp())).abs() < 1e-12, "row {r}: probability {p}");
    }
    eprintln!("raw scores: largest difference from LightGBM's {worst:e}");
    assert!(worst <= SCORE_TOLERANCE, "raw scores differ from LightGBM's by {worst:e}");
}

/// The contributions are summed tree by tree in another order than LightGBM's recursion (each
/// leaf's share comes from a table, see src/model/shap.rs), so they are equal to rounding only.
#[test]
fn treeshap_equals_lightgbms_pred_contrib() {
    let (schema, params) = model();
    let rows = all_rows(&schema);
    let theirs = lightgbm_contributions();
    assert_eq!(theirs.len(), rows.len());
    let shap = TreeShap::new(&params);
    let model = FraudModel::trees(&schema, params.clone(), Bands::review_only(0.5), provenance()).unwrap();
    let (mut worst, mut worst_bias) = (0.0f64, 0.0f64);
    for (r, (row, theirs)) in rows.iter().zip(&theirs).enumerate() {
        assert_eq!(theirs.len(), schema.width() + 1, "row {r}: the features, then the expected value");
        let mut phi = vec![0.0; schema.width()];
        let bias = shap.contributions(&params, row, &mut phi);
        worst_bias = worst_bias.max((bias - theirs[6]).abs());
        for (j, (ours, theirs)) in phi.iter().zip(theirs).enumerate() {
            let d = (ours - theirs).abs();
            assert!(d <= CONTRIB_TOLERANCE, "row {r}, {}: {ours} vs {theirs}", FEATURES[j]);
            worst = worst.max(d);
        }
        let mut again = vec![0.0; schema.width()];
        assert_eq!(model.contributions(row, &mut again).to_bits(), bias.to_bits());
        assert_eq!(again, phi, "row {r}: the loaded model");
        // Local accuracy: they add up to the raw score.
        let total = bias + phi.iter().sum::<f64>();
        assert!((total - params.raw_reference(row)).abs() < 1e-12, "row {r}: {total}");
    }
    eprintln!("contributions: largest difference from LightGBM's {worst:e}, expected value {worst_bias:e}");
    assert!(worst_bias <= CONTRIB_TOLERANCE, "expected value differs by {worst_bias:e}");
}

/// The `pandas_categorical:` line's lists.
fn pandas_lists(text: &str) -> serde_json::Value {
    let line = text.lines().find_map(|l| l.strip_prefix("pandas_categorical:")).expect("a pandas_categorical line");
    serde_json::from_str(line).unwrap()
}

#[test]
fn the_export_reads_back_to_the_same_schema_and_scores_bit_for_bit() {
    let (schema, params) = model();
    let text = to_text(&params, &schema);
    assert!(text.lines().any(|l| l == "[categorical_feature: 1,2,3]"), "the parameters name the categorical features");
    assert_eq!(pandas_lists(&text), pandas_lists(&read("lightgbm.txt")), "the same lists as LightGBM wrote");
    assert!(text.contains("\nfeature_names=amount merchant_category country channel is_night hour\n"));

    let (back_schema, back) = parse(&text).unwrap();
    back.check(&back_schema).unwrap();
    assert_eq!(back_schema, schema);
    assert_eq!(back.trees, params.trees, "every node, threshold, count and set");
    assert_eq!((back.base_score, back.sigmoid), (params.base_score, params.sigmoid));
    assert_eq!(to_text(&back, &back_schema), text, "a second export writes the same text");

    let rows = all_rows(&schema);
    let (ours, theirs) = (Compiled::new(&params, schema.width()), Compiled::new(&back, back_schema.width()));
    let (shap, back_shap) = (TreeShap::new(&params), TreeShap::new(&back));
    for (r, row) in rows.iter().enumerate() {
        assert_eq!(ours.raw(row).to_bits(), theirs.raw(row).to_bits(), "row {r}");
        let (mut a, mut b) = (vec![0.0; 6], vec![0.0; 6]);
        assert_eq!(
            shap.contributions(&params, row, &mut a).to_bits(),
            back_shap.contributions(&back, row, &mut b).to_bits()
        );
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn without_the_pandas_lists_the_categories_are_the_codes() {
    // A model trained on the codes themselves (the README's second check) has no lists: the
    // `[categorical_feature: ...]` line still names the features, and a category is its code.
    let text = read("lightgbm.txt");
    let start = text.find("pandas_categorical:").unwrap();
    let (schema, params) = parse(&format!("{}pandas_categorical:null\n", &text[..start])).unwrap();
    params.check(&schema).unwrap();
    let codes = |n: usize| (0..n).map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(schema.features()[1].categories(), codes(40));
    assert_eq!(schema.features()[2].categories(), codes(12));
    assert_eq!(schema.features()[3].categories(), codes(3));
    assert_eq!(params.trees, model().1.trees);
    // The same trees, so the same scores on the same codes.
    let rows = all_rows(&model().0);
    let theirs = lightgbm_scores();
    let fast = Compiled::new(&params, schema.width());
    for (row, theirs) in rows.iter().zip(&theirs) {
        assert!((fast.raw(row) - theirs).abs() <= SCORE_TOLERANCE);
    }
}
