//! Raw events with a feature spec, for train, evaluate and explain: every row's features are
//! computed point in time over the whole file ([`crate::features::offline`]), so rows before
//! `--from` are history, and only rows in [from, to) are used.

use std::path::Path;
use std::sync::Arc;

use crate::dataset::Table;
use crate::dataset::{DatasetError, Labelled};
use crate::features::clock::Bound;
use crate::features::{Computed, Spec};
use crate::metrics::CardPrecision;
use crate::schema::{Feature, Schema};

/// The spec and the time range of the rows used.
#[derive(Debug, Clone)]
pub struct PointInTime {
    pub spec: Arc<Spec>,
    /// Milliseconds since 1970-01-01 UTC; rows at or after.
    pub from: Option<i64>,
    /// Rows before.
    pub to: Option<i64>,
}

/// `--from`/`--to` checked; resolved in the spec's zone once it is known.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub from: Option<Bound>,
    pub to: Option<Bound>,
    pub top_k: usize,
}

impl Range {
    pub fn point_in_time(&self, spec: Arc<Spec>) -> PointInTime {
        let (from, to) = (self.from.map(|b| b.resolve(&spec.zone)), self.to.map(|b| b.resolve(&spec.zone)));
        PointInTime { spec, from, to }
    }

    pub fn is_set(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }
}

/// The rows in range, with their features; `rows` index the computed file.
pub struct Selected {
    pub computed: Computed,
    pub rows: Vec<usize>,
    pub schema: Arc<Schema>,
}

/// The model schema of a spec: its features, all numbers.
pub fn schema(spec: &Spec) -> Result<Schema, crate::schema::SchemaError> {
    Schema::new(
        spec.names().map(Feature::numeric).collect(),
        spec.label_column(),
        spec.id_column().map(String::from),
        Some(spec.time_column().to_string()),
    )
}

/// Reads `path`, computes its features and keeps the rows in range.
pub fn read(path: &Path, pit: &PointInTime, need_labels: bool, progress: bool) -> Result<Selected, DatasetError> {
    let computed = crate::features::compute(path, &pit.spec, need_labels, progress)?;
    let rows: Vec<usize> = (0..computed.len())
        .filter(|&i| {
            let t = computed.times[i];
            pit.from.is_none_or(|f| t >= f) && pit.to.is_none_or(|to| t < to)
        })
        .collect();
    if rows.is_empty() {
        return Err(DatasetError::Columns {
            path: path.to_path_buf(),
            what: {
                let (first, last) = (computed.times.iter().min(), computed.times.iter().max());
                let span = match (first, last) {
                    (Some(&f), Some(&l)) => {
                        format!(" (its rows run from {} to {})", pit.spec.zone.format(f), pit.spec.zone.format(l))
                    }
                    _ => String::new(),
                };
                format!("none of its {} rows is in the time range --from/--to{span}", computed.len())
            },
        });
    }
    let schema =
        Arc::new(schema(&pit.spec).map_err(|source| DatasetError::Schema { path: path.to_path_buf(), source })?);
    Ok(Selected { computed, rows, schema })
}

impl Selected {
    /// The rows in range as labelled data (the file must have had its label column).
    pub fn labelled(&self) -> Labelled {
        let c = &self.computed;
        let labels = c.labels.as_ref().map_or_else(Vec::new, |l| self.rows.iter().map(|&i| l[i]).collect());
        Labelled {
            schema: Arc::clone(&self.schema),
            features: c.features.select(ndarray::Axis(0), &self.rows),
            labels,
            ids: c.ids.as_ref().map(|ids| self.rows.iter().map(|&i| ids[i].clone()).collect()),
            sha256: c.sha256.clone(),
            notes: Vec::new(),
        }
    }

    pub fn times(&self) -> Vec<i64> {
        self.rows.iter().map(|&i| self.computed.times[i]).collect()
    }

    /// Card precision top-k of `scores` for the rows at `positions` of `rows` (scores and
    /// labels aligned with `positions`), cards being the spec's first entity and days the
    /// calendar days of the spec's zone.
    pub fn card_precision(
        &self,
        spec: &Spec,
        positions: &[usize],
        scores: &[f64],
        labels: &[bool],
        k: usize,
    ) -> Option<CardPrecision> {
        if spec.entities().is_empty() {
            return None;
        }
        let c = &self.computed;
        let cards: Vec<u32> = positions.iter().map(|&p| c.first_entity[self.rows[p]]).collect();
        let days: Vec<i64> = positions.iter().map(|&p| spec.zone.day(c.times[self.rows[p]])).collect();
        Some(CardPrecision::new(scores, labels, &cards, &days, k))
    }
}

/// A file read for a model with a feature spec: its rows in range as a table, and the
/// selection (for card precision).
pub fn read_table(path: &Path, pit: &PointInTime, need_labels: bool) -> Result<(Table, Selected), DatasetError> {
    let selected = read(path, pit, need_labels, false)?;
    let c = &selected.computed;
    let table = Table {
        features: c.features.select(ndarray::Axis(0), &selected.rows),
        labels: c.labels.as_ref().map(|l| selected.rows.iter().map(|&i| l[i]).collect()),
        ids: c.ids.as_ref().map(|ids| selected.rows.iter().map(|&i| ids[i].clone()).collect()),
        sha256: c.sha256.clone(),
    };
    Ok((table, selected))
}
