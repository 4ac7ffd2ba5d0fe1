//! What a score record must say of its input: what `fraud explain --json` says of the same
//! rows, exactly (probability, decision, reasons), with the sample's rows read here with the
//! standard library, not with fraud's CSV reader.

use std::collections::HashMap;
use std::path::Path;

use super::{Record, run, sample_csv, stderr, stdout};

const COLUMNS: [&str; 29] = [
    "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "V10", "V11", "V12", "V13", "V14", "V15", "V16", "V17",
    "V18", "V19", "V20", "V21", "V22", "V23", "V24", "V25", "V26", "V27", "V28", "Amount",
];

/// A row as a map key: its values' bits.
type RowKey = [u64; 29];

fn key(row: &[f64; 29]) -> RowKey {
    std::array::from_fn(|j| row[j].to_bits())
}

/// One reason: feature, raw value, contribution.
type Reason = (String, f64, f64);

/// What `fraud explain --json` says of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub probability: f64,
    pub decision: String,
    pub reasons: Vec<Reason>,
}

fn reasons(v: &serde_json::Value) -> Vec<Reason> {
    v.as_array()
        .unwrap_or_else(|| panic!("reasons are a list: {v}"))
        .iter()
        .map(|r| {
            (
                r["feature"].as_str().unwrap().to_string(),
                r["value"].as_f64().unwrap(),
                r["contribution"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Which rows' score records carry reasons (`fraud consume --reasons`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReasonsFor {
    /// The default: rows sent to review or declined.
    Flagged,
    All,
}

/// `fraud explain` of every row of the sample by one model, by the rows' values.
pub struct Explained {
    by_row: HashMap<RowKey, Explanation>,
    /// The sample's rows in file order.
    rows: Vec<[f64; 29]>,
}

/// The sample's feature rows, in file order, parsed from the CSV's text.
fn sample_rows() -> Vec<[f64; 29]> {
    let text = std::fs::read_to_string(sample_csv()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').map(|h| h.trim_matches('"')).collect();
    let at: Vec<usize> = COLUMNS.iter().map(|c| header.iter().position(|h| h == c).expect("a sample column")).collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            std::array::from_fn(|j| cells[at[j]].trim_matches('"').parse().unwrap_or_else(|e| panic!("{l}: {e}")))
        })
        .collect()
}

impl Explained {
    /// Runs `fraud explain --model-dir MODEL_DIR --csv data/sample.csv --json`.
    pub fn sample(model_dir: &Path) -> Explained {
        let csv = sample_csv();
        let out =
            run(&["explain", "--model-dir", model_dir.to_str().unwrap(), "--csv", csv.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "explain: {}", stderr(&out));
        let rows = sample_rows();
        let mut by_row = HashMap::new();
        let mut n = 0;
        for (i, line) in stdout(&out).lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["row"], i, "explain writes the rows in file order");
            let e = Explanation {
                probability: v["probability"].as_f64().unwrap(),
                decision: v["decision"].as_str().unwrap().to_string(),
                reasons: reasons(&v["reasons"]),
            };
            // The sample repeats a few rows: equal values must be explained alike.
            if let Some(before) = by_row.insert(key(&rows[i]), e.clone()) {
                assert_eq!(before, e, "row {i} has another row's values but not its explanation");
            }
            n += 1;
        }
        assert_eq!(n, rows.len(), "explain wrote a line per sample row");
        Explained { by_row, rows }
    }

    /// The rows of an input message (`{"columns": [...], "data": [[...], ...]}`, as
    /// `fraud produce` writes them).
    pub fn input_rows(payload: &[u8]) -> Vec<[f64; 29]> {
        let v: serde_json::Value = serde_json::from_slice(payload).expect("an input is JSON");
        let columns: Vec<&str> = v["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(columns, COLUMNS, "the producer's columns");
        v["data"].as_array().unwrap().iter().map(|r| std::array::from_fn(|j| r[j].as_f64().unwrap())).collect()
    }

    /// Asserts that `score` (a score record) says of `input` (its input's payload) what explain
    /// says of the same rows: the same probabilities to the bit, decisions, predictions and
    /// reasons (for every row with `ReasonsFor::All`, else for flagged rows and none for an
    /// approved one). Returns each row's decision.
    pub fn assert_record(&self, input: &[u8], score: &serde_json::Value, reasons_for: ReasonsFor) -> Vec<String> {
        let rows = Explained::input_rows(input);
        for field in ["predictions", "probabilities", "decisions", "reasons"] {
            assert_eq!(score[field].as_array().map(Vec::len), Some(rows.len()), "{field} per row: {score}");
        }
        let mut decisions = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let e = self.by_row.get(&key(row)).unwrap_or_else(|| panic!("input row {row:?} is no sample row"));
            let p = score["probabilities"][i].as_f64().unwrap();
            assert!(
                p.to_bits() == e.probability.to_bits(),
                "probability {p} where explain says {}: {score}",
                e.probability
            );
            assert_eq!(score["decisions"][i], e.decision.as_str(), "{score}");
            assert_eq!(score["predictions"][i], u8::from(e.decision != "approve"), "{score}");
            let expected =
                if reasons_for == ReasonsFor::All || e.decision != "approve" { e.reasons.clone() } else { vec![] };
            let got = reasons(&score["reasons"][i]);
            assert!(
                got.len() == expected.len()
                    && got
                        .iter()
                        .zip(&expected)
                        .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits() && a.2.to_bits() == b.2.to_bits()),
                "reasons {got:?} where explain says {expected:?}"
            );
            decisions.push(e.decision.clone());
        }
        decisions
    }

    /// Asserts every score record against its input, found by key (the producer's keys are
    /// unique; an input sent twice by a retrying producer is the same payload). Returns the
    /// decisions of all rows scored, by decision.
    pub fn assert_scores(&self, inputs: &[Record], scores: &[Record], reasons_for: ReasonsFor) -> HashMap<String, u64> {
        let mut by_key: HashMap<&str, &[u8]> = HashMap::new();
        for r in inputs {
            let k = r.key.as_deref().expect("a keyed input");
            if let Some(before) = by_key.insert(k, &r.payload) {
                assert_eq!(before, &r.payload[..], "two inputs keyed {k} with different payloads");
            }
        }
        let mut decided = HashMap::new();
        for s in scores {
            let k = s.key.as_deref().expect("a keyed score record");
            let input = by_key.get(k).unwrap_or_else(|| panic!("score record {k} has no input"));
            for d in self.assert_record(input, &s.json(), reasons_for) {
                *decided.entry(d).or_default() += 1;
            }
        }
        decided
    }

    /// Asserts that `inputs` are what one `fraud produce --count N` of the sample sends: its
    /// rows in file order, cycling, one a message; N = the number of inputs. (Partitions keep
    /// no order between them, so this compares how often each row was sent.)
    pub fn assert_sample_cycled(&self, inputs: &[Record]) {
        let n = inputs.len();
        let mut expected: HashMap<RowKey, usize> = HashMap::new();
        for i in 0..n {
            *expected.entry(key(&self.rows[i % self.rows.len()])).or_default() += 1;
        }
        let mut sent: HashMap<RowKey, usize> = HashMap::new();
        for r in inputs {
            let rows = Explained::input_rows(&r.payload);
            assert_eq!(rows.len(), 1, "one row a message");
            *sent.entry(key(&rows[0])).or_default() += 1;
        }
        assert!(sent == expected, "the {n} inputs are not the sample's first {n} rows, cycling");
    }
}
