//! Outputs: the score record written for each input, and the tutorial's message layout.

use serde::Serialize;

use crate::decision::{Decision, RowReasons};
use crate::schema::{FEATURE_NAMES, FeatureRow};

/// Where a scored input came from (Kafka only).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// The score record written for one input: per row its prediction (1: review or decline),
/// probability, decision and reasons (empty for an approved row unless every row is
/// explained), all lists parallel to each other.
#[derive(Debug, Serialize)]
pub struct ScoreRecord<'a> {
    pub predictions: &'a [u8],
    pub probabilities: &'a [f64],
    pub decisions: &'a [Decision],
    pub reasons: RowReasons<'a>,
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

/// The tutorial's layout for rows of features: `{"columns": FEATURE_NAMES, "data": rows}`.
pub fn split_json(rows: &[FeatureRow]) -> String {
    serde_json::json!({ "columns": FEATURE_NAMES, "data": rows }).to_string()
}
