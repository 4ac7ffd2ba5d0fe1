//! Outputs: the score record written for each input, and the tutorial's message layout.

use serde::Serialize;

use crate::decision::{Decision, RowReasons};
use crate::schema::Schema;

/// Where a scored input came from (Kafka only).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// The score record written for one input: per row its prediction (1: review or decline),
/// probability, decision and reasons (empty for an approved row unless every row is
/// explained), and with an id column each row's id (null where the row has none), all lists
/// parallel to each other.
#[derive(Debug, Serialize)]
pub struct ScoreRecord<'a> {
    pub predictions: &'a [u8],
    pub probabilities: &'a [f64],
    pub decisions: &'a [Decision],
    pub reasons: RowReasons<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<&'a [Option<String>]>,
    pub model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source<'a>>,
}

impl ScoreRecord<'_> {
    /// Serialises into `buf` (cleared first), reusing its allocation.
    pub fn write_into(&self, buf: &mut Vec<u8>) {
        buf.clear();
        // Serialising plain numbers and strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, self);
    }
}

/// Rows of a schema's features in MLflow's split layout, `{"columns": names, "data": rows}`, as
/// the tutorial sends them: numbers as numbers, a categorical feature's value as its category's
/// text, a missing value as null.
pub fn split_json<'r>(schema: &Schema, rows: impl IntoIterator<Item = &'r [f64]>) -> String {
    let data: Vec<Vec<serde_json::Value>> = rows
        .into_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, &v)| {
                    if v.is_nan() {
                        serde_json::Value::Null
                    } else if schema.is_categorical(j) {
                        schema.category(j, v).map_or(serde_json::Value::Null, |c| c.into())
                    } else {
                        v.into()
                    }
                })
                .collect()
        })
        .collect();
    serde_json::json!({ "columns": schema.names().collect::<Vec<_>>(), "data": data }).to_string()
}
