//! `fraud produce --spec`: replays a file of raw events as a stream would carry them. Events
//! go to the topic in event-time order (ties in file order), keyed by the spec's first entity
//! (so each card's events stay in one partition, in order) and stamped with their event time.
//! Each label goes to the labels topic when it becomes known, its event time plus the spec's
//! delay, keyed by the transaction id and stamped with that time.
//!
//! Labels known by a moment are delivered before the events of that moment are sent: the
//! replay goes by hours of event time, and before an hour's events it sends and flushes the
//! labels known by the end of that hour. A reader that has read the labels topic to its end
//! when it reads an event has every label known by the event's time, whatever the topics'
//! partitioning, so a replay is read the same way every time. Each event also carries how far
//! each labels partition had been written before it (header `fraud.labels`), so a consumer
//! knows how far to read the labels before it scores the event.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};

use crate::dataset::{DatasetError, parse_class, read_text};
use crate::features::Spec;
use crate::schema::category_text;
use crate::stream::client::KafkaConfig;
use crate::stream::produce::{ProduceError, ProduceOutcome, Reports, bulk_producer, drain, enqueue};
use crate::stream::stateful::{LABELS_HEADER, labels_header};
use crate::wire::event::{EventWriter, LabelFields};

#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub kafka: KafkaConfig,
    pub topic: String,
    pub labels_topic: String,
    pub csv: PathBuf,
    pub spec: Arc<Spec>,
    /// Events at most (None: all).
    pub count: Option<u64>,
    /// Events per second; None sends as fast as the broker takes them.
    pub rate: Option<f64>,
    pub delivery_timeout_ms: u64,
}

/// How much event time the replay sends between two flushes of the labels.
const SLICE_MS: i64 = 3_600_000;

/// Sends the events and labels; the outcome counts both.
pub fn replay(cfg: &ReplayConfig) -> Result<ProduceOutcome, ProduceError> {
    let spec = &cfg.spec;
    let (text, _) = read_text(&cfg.csv, false)?;
    let mut reader = csv::ReaderBuilder::new().from_reader(&text[..]);
    let bad = |what: String| ProduceError::Dataset(DatasetError::Columns { path: cfg.csv.clone(), what });
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|source| DatasetError::Read { path: cfg.csv.clone(), line: 1, source })?
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let find = |name: &str| headers.iter().position(|h| h == name);
    let time_col = find(spec.time_column()).ok_or_else(|| bad(format!("no column {}", spec.time_column())))?;
    let label_col = find(spec.label_column());
    let id_col = spec.id_column().and_then(find);
    let entity_cols: Vec<usize> = spec
        .entities()
        .iter()
        .map(|e| find(e).ok_or_else(|| bad(format!("no column {e}, an entity of the spec"))))
        .collect::<Result<_, _>>()?;
    if spec.uses_labels() && (label_col.is_none() || id_col.is_none()) {
        return Err(bad("the spec's features read labels: the file needs its label and id columns".into()));
    }
    let mut rows: Vec<(i64, csv::ByteRecord)> = Vec::new();
    for (n, record) in reader.byte_records().enumerate() {
        let line = n as u64 + 2;
        let record = record.map_err(|source| DatasetError::Read { path: cfg.csv.clone(), line, source })?;
        let cell = &record[time_col];
        let time = spec
            .time_of_cell(cell)
            .ok_or_else(|| bad(format!("line {line}: {:?} is not a time", String::from_utf8_lossy(cell))))?;
        rows.push((time, record));
    }
    rows.sort_by_key(|(t, _)| *t);
    let events = cfg.count.map_or(rows.len(), |c| (c as usize).min(rows.len()));
    let delay = spec.delay.ms();
    // Labels of the events sent, in the order they become known (the rows' order: one delay).
    let labelled: Vec<usize> = match label_col {
        Some(_) if spec.delay.ms() > 0 => (0..events).collect(),
        _ => Vec::new(),
    };

    let reports = Arc::new(Reports::tracking(&cfg.labels_topic));
    let (producer, errors) = bulk_producer(&cfg.kafka, cfg.delivery_timeout_ms, &reports)?;
    // What the spec reads, no more: a file may carry the answer in other columns (the
    // handbook's TX_FRAUD_SCENARIO).
    let mut sent_cols: Vec<usize> = Vec::new();
    let wanted =
        spec.id_column().into_iter().chain([spec.time_column()]).chain(spec.entities().iter().map(String::as_str));
    for name in wanted.chain(spec.numbers.iter().map(String::as_str)).chain(spec.texts.iter().map(String::as_str)) {
        let c = find(name).ok_or_else(|| bad(format!("no column {name}, which the spec reads")))?;
        if !sent_cols.contains(&c) {
            sent_cols.push(c);
        }
    }
    let writer = EventWriter::new(&headers, sent_cols);
    let mut payload = Vec::with_capacity(512);
    let send = |topic: &str, key: &str, payload: &[u8], timestamp: i64, labels: Option<&str>| {
        let mut record = BaseRecord::to(topic).key(key).payload(payload).timestamp(timestamp);
        if let Some(value) = labels {
            record = record.headers(OwnedHeaders::new().insert(Header { key: LABELS_HEADER, value: Some(value) }));
        }
        enqueue(&producer, &errors, record)
    };
    let started = Instant::now();
    let send_label = |row: usize| -> Result<(), ProduceError> {
        let (t, r) = &rows[row];
        let (Some(id), Some(label)) = (id_col, label_col) else { return Ok(()) };
        let Some(fraud) = parse_class(&r[label]) else {
            return Err(bad(format!("{}={:?}: the label is not 0 or 1", headers[id], String::from_utf8_lossy(&r[id]))));
        };
        let fields = LabelFields {
            id: &r[id],
            time: &r[time_col],
            known_at: spec.zone.format(t + delay),
            fraud,
            entities: entity_cols.iter().map(|&c| (headers[c].as_str(), &r[c])).collect(),
        };
        let mut payload = Vec::with_capacity(256);
        writer.label(&fields, spec, &mut payload);
        send(&cfg.labels_topic, &String::from_utf8_lossy(&r[id]), &payload, t + delay, None)
    };
    let (mut next_label, mut slice_end) = (0usize, i64::MIN);
    // How far each labels partition was written, sent with each event.
    let mut written = String::new();
    for (i, (time, record)) in rows.iter().take(events).enumerate() {
        if *time >= slice_end {
            slice_end = time - time.rem_euclid(SLICE_MS) + SLICE_MS;
            let before = next_label;
            while next_label < labelled.len() && rows[labelled[next_label]].0 + delay <= slice_end {
                send_label(labelled[next_label])?;
                next_label += 1;
            }
            if next_label > before {
                let _ = producer.flush(Duration::from_millis(cfg.delivery_timeout_ms));
                if let Ok(tracked) = reports.tracked.lock() {
                    written = labels_header(&tracked);
                }
            }
        }
        if let Some(rate) = cfg.rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        writer.event(record, &mut payload);
        let key = entity_cols
            .first()
            .map(|&c| category_text(&String::from_utf8_lossy(&record[c])).into_owned())
            .unwrap_or_default();
        send(&cfg.topic, &key, &payload, *time, (!written.is_empty()).then_some(written.as_str()))?;
    }
    // The labels known after the last event, so that a reader's label watermark passes it.
    while next_label < labelled.len() {
        send_label(labelled[next_label])?;
        next_label += 1;
    }
    let sent = (events + next_label) as u64;
    drain(&producer, &errors, cfg.delivery_timeout_ms)?;
    Ok(reports.outcome(sent, started))
}
