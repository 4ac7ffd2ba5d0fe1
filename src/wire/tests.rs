//! The wire format's tests: every layout, every error code, the record written.

use super::*;
use crate::decision::{Decision, Reason, RowReasons};
use crate::schema::{FEATURE_NAMES, FeatureRow};

fn row(base: f64) -> FeatureRow {
    std::array::from_fn(|j| base + j as f64)
}

fn parse(text: &str) -> Result<Vec<FeatureRow>, WireError> {
    RowParser::new(DEFAULT_MAX_BYTES).parse_json(text.as_bytes()).map(<[FeatureRow]>::to_vec)
}

fn code(text: &str) -> ErrorCode {
    parse(text).unwrap_err().code
}

fn records(rows: &[FeatureRow]) -> String {
    let recs: Vec<serde_json::Map<String, serde_json::Value>> =
        rows.iter().map(|r| FEATURE_NAMES.iter().zip(r).map(|(n, v)| (n.to_string(), (*v).into())).collect()).collect();
    serde_json::to_string(&recs).unwrap()
}

#[test]
fn the_tutorials_legacy_split_layout() {
    let rows = vec![row(1.0), row(100.0)];
    assert_eq!(parse(&split_json(&rows)).unwrap(), rows);
}

#[test]
fn dataframe_split_with_reordered_and_extra_columns() {
    let mut cols: Vec<&str> = FEATURE_NAMES.iter().rev().copied().collect();
    cols.push("Time");
    let r = row(0.5);
    let mut data: Vec<serde_json::Value> = r.iter().rev().map(|v| (*v).into()).collect();
    data.push("not used".into());
    let body =
        serde_json::json!({"dataframe_split": {"columns": cols, "data": [data], "index": [7]}, "params": {"x": 1}});
    assert_eq!(parse(&body.to_string()).unwrap(), vec![r]);
}

#[test]
fn dataframe_records_and_instances_and_inputs() {
    let rows = vec![row(2.0), row(3.0)];
    let recs = records(&rows);
    assert_eq!(parse(&format!("{{\"dataframe_records\": {recs}}}")).unwrap(), rows);
    assert_eq!(parse(&format!("{{\"instances\": {recs}}}")).unwrap(), rows);
    assert_eq!(parse(&format!("{{\"inputs\": {recs}}}")).unwrap(), rows);
    let positional = serde_json::to_string(&rows).unwrap();
    assert_eq!(parse(&format!("{{\"instances\": {positional}}}")).unwrap(), rows);
    let columns: serde_json::Map<String, serde_json::Value> = FEATURE_NAMES
        .iter()
        .enumerate()
        .map(|(j, n)| (n.to_string(), serde_json::json!([rows[0][j], rows[1][j]])))
        .collect();
    let body = serde_json::json!({"inputs": columns}).to_string();
    assert_eq!(parse(&body).unwrap(), rows);
}

#[test]
fn integers_are_numbers() {
    let body = split_json(&[row(0.0)]).replace("0.0", "0");
    assert_eq!(parse(&body).unwrap(), vec![row(0.0)]);
}

#[test]
fn every_bad_input_has_its_code() {
    let good = split_json(&[row(1.0)]);
    assert_eq!(code("{\"columns\": [\"V1\","), ErrorCode::InvalidJson);
    assert_eq!(code(&good[..good.len() / 2]), ErrorCode::InvalidJson);
    assert_eq!(code("hello"), ErrorCode::InvalidJson);
    assert_eq!(code(""), ErrorCode::InvalidJson);
    assert_eq!(RowParser::new(10).parse_json(good.as_bytes()).unwrap_err().code, ErrorCode::TooLarge);
    assert_eq!(RowParser::new(100).parse_json(b"{\"a\":\"\xff\"}").unwrap_err().code, ErrorCode::InvalidUtf8);
    assert_eq!(code("{\"rows\": []}"), ErrorCode::UnknownLayout);
    assert_eq!(code("[1, 2, 3]"), ErrorCode::UnknownLayout);
    assert_eq!(code("{}"), ErrorCode::UnknownLayout);
    let both = "{\"instances\": [], \"inputs\": []}".to_string();
    assert_eq!(code(&both), ErrorCode::UnknownLayout);
    assert_eq!(code(&good.replace("\"V7\",", "")), ErrorCode::MissingColumn);
    assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "\"8\""))), ErrorCode::NotNumeric);
    assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "null"))), ErrorCode::NotNumeric);
    assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "NaN"))), ErrorCode::NonFinite);
    assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "Infinity"))), ErrorCode::NonFinite);
    assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "-Infinity"))), ErrorCode::NonFinite);
    assert_eq!(code(&good.replace(",8.0,", ",")), ErrorCode::WrongWidth);
    assert_eq!(code("{\"columns\": [], \"data\": []}"), ErrorCode::MissingColumn);
    let empty = serde_json::json!({"columns": FEATURE_NAMES, "data": []}).to_string();
    assert_eq!(code(&empty), ErrorCode::EmptyData);
    assert_eq!(code("{\"dataframe_records\": []}"), ErrorCode::EmptyData);
    assert_eq!(code("{\"dataframe_records\": [{\"V1\": 1}]}"), ErrorCode::MissingColumn);
    assert_eq!(code("{\"instances\": [[1, 2]]}"), ErrorCode::WrongWidth);
    let rec = records(&[row(1.0)]).replace(":8.0,", ":true,");
    assert_eq!(code(&format!("{{\"dataframe_records\": {rec}}}")), ErrorCode::NotNumeric);
}

#[test]
fn messages_name_the_row_and_column() {
    let bad = split_json(&[row(1.0), row(10.0)]).replace("37.0", "\"x\"");
    let e = parse(&bad).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotNumeric);
    assert!(e.message.contains("row 1, column V28"), "{e}");
}

#[test]
fn csv_bodies() {
    let mut p = RowParser::new(DEFAULT_MAX_BYTES);
    let r = row(1.0);
    let body = format!(
        "Time,{}\n0,{}\n",
        FEATURE_NAMES.join(","),
        r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
    );
    assert_eq!(p.parse_csv(body.as_bytes()).unwrap(), &[r]);
    assert_eq!(p.parse_csv(b"V1,V2\n1,2\n").unwrap_err().code, ErrorCode::MissingColumn);
    assert_eq!(p.parse_csv(body.replace(",8,", ",x,").as_bytes()).unwrap_err().code, ErrorCode::NotNumeric);
    assert_eq!(p.parse_csv(body.replace(",8,", ",inf,").as_bytes()).unwrap_err().code, ErrorCode::NonFinite);
    assert_eq!(
        p.parse_csv(format!("Time,{}\n", FEATURE_NAMES.join(",")).as_bytes()).unwrap_err().code,
        ErrorCode::EmptyData
    );
    assert_eq!(p.parse_csv(body.replace("0,", "0,,").as_bytes()).unwrap_err().code, ErrorCode::WrongWidth);
}

/// Regression: every error of a CSV body was coded invalid_utf8; only bytes that are not UTF-8
/// are.
#[test]
fn csv_errors_keep_their_own_codes() {
    let mut p = RowParser::new(DEFAULT_MAX_BYTES);
    let header = format!("Time,{}\n", FEATURE_NAMES.join(","));
    let mut bad_header = header.clone().into_bytes();
    bad_header[0] = 0xff;
    assert_eq!(p.parse_csv(&bad_header).unwrap_err().code, ErrorCode::InvalidUtf8);
    let row: Vec<String> = (0..30).map(|j| j.to_string()).collect();
    let mut bad_row = format!("{header}{}\n", row.join(",")).into_bytes();
    let last = bad_row.len() - 2;
    bad_row[last] = 0xfe;
    assert_eq!(p.parse_csv(&bad_row).unwrap_err().code, ErrorCode::InvalidUtf8);
    // A quote left open swallows the rest of the body into one field: a short row.
    let open_quote = format!("{header}\"{}\n", row.join(","));
    assert_eq!(p.parse_csv(open_quote.as_bytes()).unwrap_err().code, ErrorCode::WrongWidth);
}

/// Regression: serde_json's default float parser is not always correctly rounded, so a JSON
/// row could score differently from the same CSV row (seen as last-bit differences in
/// probabilities between `fraud serve` and `fraud evaluate`).
#[test]
fn json_numbers_parse_to_the_exact_double() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut parser = RowParser::new(DEFAULT_MAX_BYTES);
    for _ in 0..2000 {
        let rows: Vec<FeatureRow> =
            vec![std::array::from_fn(|_| rng.gen_range(-50.0..50.0) * 10f64.powi(rng.gen_range(-8..8)))];
        let text: String = format!(
            "{{\"columns\": {:?}, \"data\": [[{}]]}}",
            FEATURE_NAMES,
            rows[0].iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",")
        );
        let parsed = parser.parse_json(text.as_bytes()).unwrap();
        for (a, b) in parsed[0].iter().zip(&rows[0]) {
            assert_eq!(a.to_bits(), b.to_bits(), "{b:?} parsed as {a:?}");
        }
    }
}

#[test]
fn score_record_shape() {
    let mut buf = Vec::new();
    let reasons = [
        Reason { feature: "V14", value: -9.5, contribution: 2.25 },
        Reason { feature: "V4", value: 4.0, contribution: 1.5 },
    ];
    ScoreRecord {
        predictions: &[0, 1],
        probabilities: &[0.0012, 0.97],
        decisions: &[Decision::Approve, Decision::Decline],
        reasons: RowReasons { flat: &reasons, ends: &[0, 2] },
        model_version: "abc",
        source: Some(Source { topic: "test", partition: 0, offset: 41 }),
    }
    .write_into(&mut buf);
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        r#"{"predictions":[0,1],"probabilities":[0.0012,0.97],"decisions":["approve","decline"],"reasons":[[],[{"feature":"V14","value":-9.5,"contribution":2.25},{"feature":"V4","value":4.0,"contribution":1.5}]],"model_version":"abc","source":{"topic":"test","partition":0,"offset":41}}"#
    );
}
