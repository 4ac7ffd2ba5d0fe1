//! The wire format's tests: every layout, every error code, the record written, on the
//! ULB/Kaggle schema and on one with categorical features and an id.

use std::sync::Arc;

use super::*;
use crate::decision::{Decision, Reason, RowReasons};
use crate::schema::{FEATURE_NAMES, Feature, Schema, UNSEEN};

type Row = Vec<f64>;

fn kaggle() -> Arc<Schema> {
    Arc::new(Schema::kaggle())
}

fn row(base: f64) -> Row {
    (0..FEATURE_NAMES.len()).map(|j| base + j as f64).collect()
}

fn split(rows: &[Row]) -> String {
    split_json(&Schema::kaggle(), rows.iter().map(Vec::as_slice))
}

fn parser(max: usize) -> RowParser {
    RowParser::new(kaggle(), None, max)
}

fn rows_of(p: Parsed<'_>) -> Vec<Row> {
    p.rows.iter().map(<[f64]>::to_vec).collect()
}

fn parse(text: &str) -> Result<Vec<Row>, WireError> {
    parser(DEFAULT_MAX_BYTES).parse_json(text.as_bytes()).map(rows_of)
}

fn code(text: &str) -> ErrorCode {
    parse(text).unwrap_err().code
}

fn records(rows: &[Row]) -> String {
    let recs: Vec<serde_json::Map<String, serde_json::Value>> =
        rows.iter().map(|r| FEATURE_NAMES.iter().zip(r).map(|(n, v)| (n.to_string(), (*v).into())).collect()).collect();
    serde_json::to_string(&recs).unwrap()
}

#[test]
fn the_tutorials_legacy_split_layout() {
    let rows = vec![row(1.0), row(100.0)];
    assert_eq!(parse(&split(&rows)).unwrap(), rows);
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
    let body = split(&[row(0.0)]).replace("0.0", "0");
    assert_eq!(parse(&body).unwrap(), vec![row(0.0)]);
}

#[test]
fn every_bad_input_has_its_code() {
    let good = split(&[row(1.0)]);
    assert_eq!(code("{\"columns\": [\"V1\","), ErrorCode::InvalidJson);
    assert_eq!(code(&good[..good.len() / 2]), ErrorCode::InvalidJson);
    assert_eq!(code("hello"), ErrorCode::InvalidJson);
    assert_eq!(code(""), ErrorCode::InvalidJson);
    assert_eq!(parser(10).parse_json(good.as_bytes()).unwrap_err().code, ErrorCode::TooLarge);
    assert_eq!(parser(100).parse_json(b"{\"a\":\"\xff\"}").unwrap_err().code, ErrorCode::InvalidUtf8);
    assert_eq!(code("{\"rows\": []}"), ErrorCode::UnknownLayout);
    assert_eq!(code("[1, 2, 3]"), ErrorCode::UnknownLayout);
    assert_eq!(code("{}"), ErrorCode::UnknownLayout);
    let both = "{\"instances\": [], \"inputs\": []}".to_string();
    assert_eq!(code(&both), ErrorCode::UnknownLayout);
    assert_eq!(code(&good.replace("\"V7\",", "")), ErrorCode::MissingColumn);
    assert_eq!(code(&good.replace(",8.0,", &format!(",{},", "\"8\""))), ErrorCode::NotNumeric);
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
    let rec = records(&[row(1.0)]).replace(":8.0,", ":[8],");
    assert_eq!(code(&format!("{{\"dataframe_records\": {rec}}}")), ErrorCode::NotNumeric);
}

#[test]
fn null_is_a_missing_value_and_booleans_are_numbers() {
    let good = split(&[row(1.0)]);
    let rows = parse(&good.replace(",8.0,", ",null,")).unwrap();
    assert!(rows[0][7].is_nan(), "V8 missing: {:?}", rows[0]);
    let rows = parse(&good.replace(",8.0,", ",true,")).unwrap();
    assert_eq!(rows[0][7], 1.0);
}

#[test]
fn messages_name_the_row_and_column() {
    let bad = split(&[row(1.0), row(10.0)]).replace("37.0", "\"x\"");
    let e = parse(&bad).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotNumeric);
    assert!(e.message.contains("row 1, column V28"), "{e}");
}

#[test]
fn csv_bodies() {
    let mut p = parser(DEFAULT_MAX_BYTES);
    let r = row(1.0);
    let body = format!(
        "Time,{}\n0,{}\n",
        FEATURE_NAMES.join(","),
        r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
    );
    assert_eq!(p.parse_csv(body.as_bytes()).map(rows_of).unwrap(), vec![r]);
    let missing = p.parse_csv(body.replace(",8,", ",,").as_bytes()).map(rows_of).unwrap();
    assert!(missing[0][7].is_nan(), "an empty cell is missing");
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
    let mut p = parser(DEFAULT_MAX_BYTES);
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
    let mut parser = parser(DEFAULT_MAX_BYTES);
    for _ in 0..2000 {
        let rows: Vec<Row> =
            vec![(0..29).map(|_| rng.gen_range(-50.0..50.0) * 10f64.powi(rng.gen_range(-8..8))).collect()];
        let text: String = format!(
            "{{\"columns\": {:?}, \"data\": [[{}]]}}",
            FEATURE_NAMES,
            rows[0].iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",")
        );
        let parsed = rows_of(parser.parse_json(text.as_bytes()).unwrap());
        for (a, b) in parsed[0].iter().zip(&rows[0]) {
            assert_eq!(a.to_bits(), b.to_bits(), "{b:?} parsed as {a:?}");
        }
    }
}

#[test]
fn score_record_shape() {
    let mut buf = Vec::new();
    let reasons =
        [Reason { feature: 13, value: -9.5, contribution: 2.25 }, Reason { feature: 3, value: 4.0, contribution: 1.5 }];
    let schema = Schema::kaggle();
    ScoreRecord {
        predictions: &[0, 1],
        probabilities: &[0.0012, 0.97],
        decisions: &[Decision::Approve, Decision::Decline],
        reasons: RowReasons { flat: &reasons, ends: &[0, 2], schema: &schema },
        ids: None,
        model_version: "abc",
        source: Some(Source { topic: "test", partition: 0, offset: 41 }),
    }
    .write_into(&mut buf);
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        r#"{"predictions":[0,1],"probabilities":[0.0012,0.97],"decisions":["approve","decline"],"reasons":[[],[{"feature":"V14","value":-9.5,"contribution":2.25},{"feature":"V4","value":4.0,"contribution":1.5}]],"model_version":"abc","source":{"topic":"test","partition":0,"offset":41}}"#
    );
}

/// A schema as a fraud team's: an amount, a merchant category and a country, an id.
fn shop() -> Arc<Schema> {
    let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    Arc::new(
        Schema::new(
            vec![
                Feature::numeric("amount"),
                Feature::categorical("mcc", list(&["5411", "6011"])),
                Feature::categorical("country", list(&["DE", "FR"])),
            ],
            "label",
            Some("tx_id".into()),
            None,
        )
        .unwrap(),
    )
}

/// Rows and, when the parser carries them, ids.
type Read = (Vec<Row>, Option<Vec<Option<String>>>);

fn shop_parse(text: &str) -> Result<Read, WireError> {
    let mut p = RowParser::new(shop(), None, DEFAULT_MAX_BYTES);
    p.parse_json(text.as_bytes()).map(|parsed| (rows_of(parsed), parsed.ids.map(<[_]>::to_vec)))
}

#[test]
fn categories_by_name_in_every_layout_with_ids() {
    let expected = vec![vec![12.5, 0.0, 1.0], vec![3.0, 1.0, UNSEEN]];
    let ids = Some(vec![Some("t1".to_string()), Some("7".to_string())]);
    // Split: columns in any order, extra ones ignored, codes given as numbers or strings.
    let split = r#"{"columns": ["country", "tx_id", "amount", "mcc", "extra"],
        "data": [["FR", "t1", 12.5, "5411", 1], ["JP", 7, 3, 6011, "x"]]}"#;
    assert_eq!(shop_parse(split).unwrap(), (expected.clone(), ids.clone()));
    // The fast path's plain form, and the same inside dataframe_split.
    let plain =
        r#"{"columns":["tx_id","amount","mcc","country"],"data":[["t1",12.5,"5411","FR"],["7",3,"6011","JP"]]}"#;
    assert_eq!(shop_parse(plain).unwrap(), (expected.clone(), ids.clone()));
    assert_eq!(shop_parse(&format!("{{\"dataframe_split\": {plain}}}")).unwrap(), (expected.clone(), ids.clone()));
    // Records may mix types; a record without the id has none.
    let records = r#"{"dataframe_records": [{"amount": 12.5, "mcc": 5411, "country": "FR", "tx_id": "t1"},
        {"country": "JP", "mcc": "6011", "amount": 3}]}"#;
    assert_eq!(shop_parse(records).unwrap(), (expected.clone(), Some(vec![Some("t1".to_string()), None])));
    let inputs = r#"{"inputs": {"amount": [12.5, 3], "mcc": ["5411", "6011"], "country": ["FR", "JP"]}}"#;
    assert_eq!(shop_parse(inputs).unwrap().0, expected);
}

#[test]
fn missing_categories_are_nan_and_bad_numbers_keep_their_codes() {
    let (rows, _) = shop_parse(r#"{"dataframe_records": [{"amount": null, "mcc": null, "country": "DE"}]}"#).unwrap();
    assert!(rows[0][0].is_nan() && rows[0][1].is_nan());
    assert_eq!(rows[0][2], 0.0);
    let code = |text: &str| shop_parse(text).unwrap_err().code;
    assert_eq!(
        code(r#"{"dataframe_records": [{"amount": "12", "mcc": "5411", "country": "DE"}]}"#),
        ErrorCode::NotNumeric
    );
    assert_eq!(code(r#"{"dataframe_records": [{"amount": 12, "country": "DE"}]}"#), ErrorCode::MissingColumn);
    let mut p = RowParser::new(shop(), None, DEFAULT_MAX_BYTES);
    let csv = p.parse_csv(b"tx_id,amount,mcc,country\nq,1,5411,\n").map(|x| (rows_of(x), x.ids.map(<[_]>::to_vec)));
    let (rows, ids) = csv.unwrap();
    assert_eq!(rows[0][..2], [1.0, 0.0]);
    assert!(rows[0][2].is_nan(), "an empty category is missing");
    assert_eq!(ids, Some(vec![Some("q".to_string())]));
}

#[test]
fn split_json_writes_categories_as_text_and_missing_as_null() {
    let schema = shop();
    let text = split_json(&schema, [&[1.5, 1.0, f64::NAN][..]]);
    assert_eq!(text, r#"{"columns":["amount","mcc","country"],"data":[[1.5,"6011",null]]}"#);
    let mut p = RowParser::new(shop(), None, DEFAULT_MAX_BYTES);
    let back = rows_of(p.parse_json(text.as_bytes()).unwrap());
    assert_eq!(back[0][..2], [1.5, 1.0]);
    assert!(back[0][2].is_nan());
}

#[test]
fn an_id_asked_for_wins_over_the_models() {
    let mut p = RowParser::new(shop(), Some("amount".into()), DEFAULT_MAX_BYTES);
    let parsed = p.parse_json(br#"{"columns":["tx_id","amount","mcc","country"],"data":[["t1",12.5,"5411","FR"]]}"#);
    assert_eq!(parsed.unwrap().ids, Some(&[Some("12.5".to_string())][..]));
    let mut p = parser(DEFAULT_MAX_BYTES);
    assert_eq!(p.parse_json(split(&[row(1.0)]).as_bytes()).unwrap().ids, None, "no id column, no ids");
}

#[test]
fn a_category_has_one_text_whichever_way_it_is_written() {
    let expected = vec![vec![1.0, 0.0, 1.0]; 4];
    let records = r#"{"dataframe_records": [
        {"amount": 1, "mcc": "5411", "country": "FR"}, {"amount": 1, "mcc": 5411.0, "country": "FR"},
        {"amount": 1, "mcc": " 5411", "country": "FR"}, {"amount": 1, "mcc": "5411.0", "country": "FR "}]}"#;
    assert_eq!(shop_parse(records).unwrap().0, expected);
    let plain = r#"{"columns":["amount","mcc","country"],"data":[[1,"5411.0","FR"],[1,5411,"FR"],[1,"05411","FR"],[1,5.411e3,"FR"]]}"#;
    assert_eq!(shop_parse(plain).unwrap().0, expected);
    let mut p = RowParser::new(shop(), None, DEFAULT_MAX_BYTES);
    let csv = p.parse_csv(b"amount,mcc,country\n1,5411.0,FR\n1, 5411 ,FR\n").map(rows_of).unwrap();
    assert_eq!(csv, expected[..2].to_vec());
}

#[test]
fn integer_ids_keep_every_digit_in_every_path() {
    let big = "9007199254740993"; // 2^53 + 1: a double would round it
    let plain = format!(r#"{{"columns":["tx_id","amount","mcc","country"],"data":[[{big},1,"5411","FR"]]}}"#);
    assert_eq!(shop_parse(&plain).unwrap().1, Some(vec![Some(big.to_string())]));
    let records = format!(r#"{{"dataframe_records":[{{"tx_id":{big},"amount":1,"mcc":"5411","country":"FR"}}]}}"#);
    assert_eq!(shop_parse(&records).unwrap().1, Some(vec![Some(big.to_string())]));
}

#[test]
fn an_id_that_is_a_feature_is_the_same_in_every_layout() {
    let ids = Some(vec![Some("6011".to_string())]);
    for body in [
        r#"{"columns":["amount","mcc","country"],"data":[[1,6011,"FR"]]}"#,
        r#"{"columns":["amount","mcc","country"],"data":[[null,6011,"FR"]]}"#,
        r#"{"dataframe_records":[{"amount":1,"mcc":"6011","country":"FR"}]}"#,
        r#"{"inputs":{"amount":[1],"mcc":[6011],"country":["FR"]}}"#,
    ] {
        let mut p = RowParser::new(shop(), Some("mcc".into()), DEFAULT_MAX_BYTES);
        let got = p.parse_json(body.as_bytes()).unwrap().ids.map(<[_]>::to_vec);
        assert_eq!(got, ids, "{body}");
    }
    let mut p = RowParser::new(shop(), Some("mcc".into()), DEFAULT_MAX_BYTES);
    let got = p.parse_csv(b"amount,mcc,country\n1,6011,FR\n").unwrap().ids.map(<[_]>::to_vec);
    assert_eq!(got, ids);
}
