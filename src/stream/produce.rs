//! `fraud produce`: send transactions read from a CSV as JSON messages in MLflow's split layout,
//! one random UUID key per message, and wait for every delivery report. Every column is sent
//! but the label and the excluded ones: numbers as numbers, other values as strings, empty
//! cells as null.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::dataset;
use crate::stream::client::{BULK_LINGER_MS, ClientErrors, ConnectionRefused, KafkaConfig};
use crate::stream::send::send_when_room;
use crate::wire::split_json;

#[derive(Debug, Clone)]
pub struct ProduceConfig {
    pub kafka: KafkaConfig,
    pub topic: String,
    pub csv: PathBuf,
    /// The label column, left out when the file has it.
    pub label: String,
    /// Columns left out.
    pub exclude: Vec<String>,
    pub count: u64,
    /// Rows per message.
    pub batch: usize,
    /// Messages per second; None sends as fast as the broker takes them.
    pub rate: Option<f64>,
    pub delivery_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProduceOutcome {
    pub sent: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error("creating the Kafka producer: {0}")]
    Client(KafkaError),
    #[error("queueing a message for {topic}: {error}")]
    Enqueue { topic: String, error: KafkaError },
    #[error("connecting to the broker")]
    Connection(#[from] ConnectionRefused),
}

/// Counts delivery reports.
#[derive(Default)]
pub(crate) struct Reports {
    /// A topic whose partitions' next offsets are kept (a replay's labels topic).
    pub track: Option<String>,
    pub tracked: Mutex<std::collections::BTreeMap<i32, i64>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

pub(crate) struct ReportsContext(pub Arc<Reports>, pub ClientErrors);

impl ClientContext for ReportsContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.1.report(&error, reason);
    }
}

impl ProducerContext for ReportsContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
                if self.0.track.as_deref() == Some(m.topic())
                    && let Ok(mut tracked) = self.0.tracked.lock()
                {
                    let next = tracked.entry(m.partition()).or_insert(0);
                    *next = (*next).max(m.offset() + 1);
                }
            }
            Err((err, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.0.first_error.lock() {
                    first.get_or_insert_with(|| err.to_string());
                }
            }
        }
    }
}

pub fn produce(cfg: &ProduceConfig) -> Result<ProduceOutcome, ProduceError> {
    let (schema, rows) = dataset::read_columns(&cfg.csv, &cfg.label, &cfg.exclude, false)?;
    let n = rows.nrows();
    let reports = Arc::new(Reports::default());
    let (producer, errors) = bulk_producer(&cfg.kafka, cfg.delivery_timeout_ms, &reports)?;

    let started = Instant::now();
    let mut next_row = 0;
    let mut batch: Vec<usize> = Vec::with_capacity(cfg.batch);
    for i in 0..cfg.count {
        errors.check()?;
        if let Some(rate) = cfg.rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        batch.clear();
        for _ in 0..cfg.batch {
            batch.push(next_row);
            next_row = (next_row + 1) % n;
        }
        let payload = split_json(&schema, batch.iter().map(|&i| rows.row(i).to_slice().unwrap_or_default()));
        let key = uuid::Uuid::new_v4().to_string();
        enqueue(&producer, &errors, BaseRecord::to(&cfg.topic).key(key.as_str()).payload(payload.as_bytes()))?;
    }
    drain(&producer, &errors, cfg.delivery_timeout_ms)?;
    Ok(reports.outcome(cfg.count, started))
}

/// A producer for sending many messages, its deliveries counted in `reports`, with the
/// connection errors it reports.
pub(crate) fn bulk_producer(
    kafka: &KafkaConfig,
    delivery_timeout_ms: u64,
    reports: &Arc<Reports>,
) -> Result<(ThreadedProducer<ReportsContext>, ClientErrors), ProduceError> {
    let errors = ClientErrors::default();
    let producer = kafka
        .producer(delivery_timeout_ms, BULK_LINGER_MS)
        .create_with_context(ReportsContext(Arc::clone(reports), errors.clone()))
        .map_err(ProduceError::Client)?;
    Ok((producer, errors))
}

/// Queues a record; while the local queue is full, lets deliveries catch up and tries again.
pub(crate) fn enqueue<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &ThreadedProducer<C>,
    errors: &ClientErrors,
    record: BaseRecord<'_, str, [u8]>,
) -> Result<(), ProduceError> {
    let topic = record.topic.to_string();
    let queued = send_when_room(
        |r| producer.send(r).err(),
        record,
        || {
            std::thread::sleep(Duration::from_millis(5));
            errors.check().is_ok()
        },
    );
    errors.check()?;
    queued.map_err(|(error, _)| ProduceError::Enqueue { topic, error })
}

/// Waits for every queued message to be delivered or to fail within the delivery timeout,
/// unless the broker refuses the connection for good.
pub(crate) fn drain<C: ProducerContext>(
    producer: &ThreadedProducer<C>,
    errors: &ClientErrors,
    delivery_timeout_ms: u64,
) -> Result<(), ProduceError> {
    let deadline = Instant::now() + Duration::from_millis(delivery_timeout_ms + 5_000);
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        let _ = producer.flush(Duration::from_millis(100));
        errors.check()?;
    }
    Ok(())
}

impl Reports {
    /// Reports that also keep `topic`'s next offset per partition.
    pub(crate) fn tracking(topic: &str) -> Reports {
        Reports { track: Some(topic.to_string()), ..Reports::default() }
    }

    /// What became of `sent` messages: a message with no report by now counts as failed.
    pub(crate) fn outcome(&self, sent: u64, started: Instant) -> ProduceOutcome {
        let failed = self.failed.load(Ordering::Relaxed);
        let delivered = self.delivered.load(Ordering::Relaxed);
        let unreported = sent.saturating_sub(delivered + failed);
        ProduceOutcome {
            sent: delivered,
            failed: failed + unreported,
            first_error: self.first_error.lock().ok().and_then(|e| e.clone()),
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}
