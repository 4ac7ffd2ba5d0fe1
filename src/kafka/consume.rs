//! `fraud consume`: read transactions from a topic, score them in-process, write one score
//! record per input to the output topic and every bad input to the dead-letter topic.
//!
//! At least once: a message's offset is stored only after its output is acknowledged by the
//! broker, and only once every earlier message of its partition is (see [`OffsetTracker`]).
//! Stored offsets are committed in the background, synchronously when partitions are revoked,
//! and at exit. A failed delivery is retried with backoff, its offset held back meanwhile; on
//! revocation, undelivered work is left to the partition's next owner.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};

use crate::kafka::config::{OUTPUT_LINGER_MS, KafkaConfig};
use crate::kafka::offsets::OffsetTracker;
use crate::kafka::reload::ModelReloader;
use crate::kafka::summary::Summary;
use crate::message::{ErrorCode, RowParser, ScoreRecord, Source};
use crate::model::FraudModel;
use crate::telemetry::{CodeLabel, ConsumerMetrics, PartitionLabel};

#[derive(Debug, Clone)]
pub struct ConsumeConfig {
    pub kafka: KafkaConfig,
    pub topic: String,
    pub group: String,
    pub output_topic: String,
    pub dlq_topic: String,
    /// Stop after this many inputs are handled and committed.
    pub max_messages: Option<u64>,
    /// Stop once every assigned partition is handled to its end and committed.
    pub exit_at_end: bool,
    /// Log every input and result at info level, as the tutorial's worker did.
    pub log_messages: bool,
    pub max_message_bytes: usize,
    /// Inputs whose outputs may be undelivered at once before intake pauses.
    pub max_in_flight: usize,
    /// librdkafka's own retry window for one output delivery.
    pub delivery_timeout_ms: u64,
    /// How long shutdown waits for in-flight outputs.
    pub drain_timeout: Duration,
    pub stats_interval_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("creating the Kafka {what}: {source}")]
    Client { what: &'static str, source: KafkaError },
    #[error("subscribing to {topic}: {source}")]
    Subscribe { topic: String, source: KafkaError },
}

/// What was sent for one input, travelling with the output through the producer.
#[derive(Debug)]
struct Sent {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    /// When the consumer received the input, and how long after its timestamp.
    received: Instant,
    wait_us: Option<u64>,
    rows: u64,
    dead_letter: Option<ErrorCode>,
    attempt: u32,
}

/// An output to send again.
struct Retry {
    sent: Box<Sent>,
    topic: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
    due: Instant,
}

enum Ack {
    /// With the microseconds from the input's timestamp to this acknowledgement.
    Delivered(Box<Sent>, Option<u64>, Duration),
    Failed { retry: Retry, error: KafkaError },
}

/// Turns delivery reports into [`Ack`]s for the consumer loop.
struct DeliveryContext {
    acks: Mutex<Sender<Ack>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Sent>) {
        let ack = match result {
            Ok(_) => {
                let latency = sent.timestamp_ms.map(micros_since);
                let output = sent.received.elapsed();
                Ack::Delivered(sent, latency, output)
            }
            Err((error, msg)) => Ack::Failed {
                retry: Retry {
                    sent,
                    topic: msg.topic().to_string(),
                    key: msg.key().map(<[u8]>::to_vec),
                    payload: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    headers: msg.headers().map(|h| h.detach()),
                    due: Instant::now(),
                },
                error: error.clone(),
            },
        };
        if let Ok(tx) = self.acks.lock() {
            // The receiver lives as long as the pipeline; a send error means we are exiting.
            let _ = tx.send(ack);
        }
    }
}

/// State shared by the poll loop and the rebalance callback (which runs inside `poll`).
struct Pipeline {
    producer: ThreadedProducer<DeliveryContext>,
    acks: Receiver<Ack>,
    tracker: OffsetTracker,
    retries: VecDeque<Retry>,
    summary: Summary,
    assigned: HashSet<i32>,
    at_end: HashSet<i32>,
    topic: String,
    metrics: Arc<ConsumerMetrics>,
}

struct ScoringContext {
    pipeline: Arc<Mutex<Pipeline>>,
    metrics: Arc<ConsumerMetrics>,
    topic: String,
}

fn lock(p: &Mutex<Pipeline>) -> MutexGuard<'_, Pipeline> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ClientContext for ScoringContext {
    fn error(&self, error: KafkaError, reason: &str) {
        crate::kafka::config::log_client_error(&error, reason);
    }

    fn stats(&self, stats: Statistics) {
        if let Some(topic) = stats.topics.get(&self.topic) {
            for (id, p) in &topic.partitions {
                // Lag behind the offsets stored after delivery (what the next commit covers);
                // librdkafka's committed-offset lag stays -1 until the first commit.
                let lag = if p.consumer_lag_stored >= 0 { p.consumer_lag_stored } else { p.consumer_lag };
                if *id >= 0 && lag >= 0 {
                    let label = PartitionLabel { topic: self.topic.clone(), partition: id.to_string() };
                    self.metrics.lag.get_or_create(&label).set(lag);
                }
            }
        }
    }
}

impl ConsumerContext for ScoringContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(?revoked, "partitions revoked: finishing in-flight work and committing");
                let mut p = lock(&self.pipeline);
                p.finish_in_flight(consumer, Duration::from_secs(10));
                p.commit(consumer);
                for partition in &revoked {
                    let dropped = p.tracker.forget(*partition);
                    if dropped > 0 {
                        tracing::warn!(partition, dropped, "outputs undelivered at revocation; the next owner reads them again");
                    }
                    p.assigned.remove(partition);
                    p.at_end.remove(partition);
                }
                p.retries.retain(|r| !revoked.contains(&r.sent.partition));
                self.metrics.rebalances.inc();
            }
            Rebalance::Assign(_) | Rebalance::Error(_) => {}
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(topic = %self.topic, partitions = ?parts, "partitions assigned");
                let mut p = lock(&self.pipeline);
                p.assigned.extend(parts);
            }
            Rebalance::Error(e) => tracing::error!(error = %e, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.metrics.commits_failed.inc();
                tracing::warn!(code = "commit_failed", error = %e, "offset commit failed; it is retried with the next commit");
            }
        }
    }
}

impl Pipeline {
    /// Applies delivery reports: stores offsets that became safe, schedules retries.
    fn drain_acks(&mut self, consumer: &BaseConsumer<ScoringContext>) {
        let mut store: HashMap<i32, i64> = HashMap::new();
        while let Ok(ack) = self.acks.try_recv() {
            match ack {
                Ack::Delivered(sent, latency, output) => {
                    if let Some(offset) = self.tracker.delivered(sent.partition, sent.offset) {
                        store.insert(sent.partition, offset);
                    }
                    self.summary.inputs += 1;
                    self.summary.rows_scored += sent.rows;
                    self.metrics.messages.inc();
                    self.metrics.rows_scored.inc_by(sent.rows);
                    match sent.dead_letter {
                        Some(code) => {
                            *self.summary.dead_letters.entry(code).or_default() += 1;
                            self.metrics.dead_letters.get_or_create(&CodeLabel { code: code.as_str().into() }).inc();
                        }
                        None => {
                            self.summary.latency(latency, sent.wait_us, output.as_micros() as u64);
                            if let Some(micros) = latency {
                                self.metrics.latency.observe(micros as f64 / 1e6);
                            }
                        }
                    }
                }
                Ack::Failed { mut retry, error } => {
                    self.metrics.delivery_errors.inc();
                    self.summary.delivery_retries += 1;
                    let backoff = Duration::from_millis(100 * (1u64 << retry.sent.attempt.min(6)));
                    tracing::warn!(
                        code = "delivery_failed",
                        topic = %retry.topic,
                        partition = retry.sent.partition,
                        offset = retry.sent.offset,
                        attempt = retry.sent.attempt + 1,
                        error = %error,
                        "output not delivered; offset held back, retrying in {backoff:?}"
                    );
                    retry.sent.attempt += 1;
                    retry.due = Instant::now() + backoff;
                    self.retries.push_back(retry);
                }
            }
        }
        for (partition, offset) in store {
            if let Err(e) = consumer.store_offset(&self.topic, partition, offset) {
                // The partition was taken away meanwhile; its next owner repeats the work.
                tracing::debug!(partition, offset, error = %e, "offset not stored");
            }
        }
    }

    /// Sends again every retry that is due.
    fn resend_due(&mut self) {
        let now = Instant::now();
        let mut waiting = VecDeque::new();
        while let Some(r) = self.retries.pop_front() {
            if r.due > now {
                waiting.push_back(r);
                continue;
            }
            let Retry { sent, topic, key, payload, headers, .. } = r;
            let mut record = BaseRecord::with_opaque_to(&topic, sent).payload(&payload);
            if let Some(k) = &key {
                record = record.key(k);
            }
            if let Some(h) = headers.clone() {
                record = record.headers(h);
            }
            if let Err((e, record)) = self.producer.send(record) {
                tracing::debug!(error = %e, "resend not queued yet");
                waiting.push_back(Retry {
                    sent: record.delivery_opaque,
                    topic: topic.clone(),
                    key: key.clone(),
                    payload: payload.clone(),
                    headers,
                    due: now + Duration::from_millis(50),
                });
            }
        }
        self.retries = waiting;
    }

    /// Waits (bounded) until every sent output is acknowledged and its offset stored.
    fn finish_in_flight(&mut self, consumer: &BaseConsumer<ScoringContext>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let _ = self.producer.flush(Duration::from_millis(100));
            self.drain_acks(consumer);
            self.resend_due();
            if self.tracker.is_idle() || Instant::now() >= deadline {
                break;
            }
        }
        if !self.tracker.is_idle() {
            tracing::warn!(in_flight = self.tracker.in_flight(), "outputs still undelivered; their offsets stay uncommitted");
        }
    }

    fn commit(&mut self, consumer: &BaseConsumer<ScoringContext>) {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => self.summary.committed(),
            Err(e) => {
                self.metrics.commits_failed.inc();
                tracing::warn!(code = "commit_failed", error = %e, "synchronous offset commit failed");
            }
        }
    }

    fn all_at_end(&self) -> bool {
        !self.assigned.is_empty() && self.assigned.iter().all(|p| self.at_end.contains(p))
    }
}

/// Scores one message and queues its output (or dead letter).
struct Scorer {
    model: FraudModel,
    parser: RowParser,
    predictions: Vec<u8>,
    probabilities: Vec<f64>,
    out: Vec<u8>,
    output_topic: String,
    dlq_topic: String,
    log_messages: bool,
}

impl Scorer {
    fn handle(&mut self, msg: &BorrowedMessage<'_>, p: &mut Pipeline, consumer: &BaseConsumer<ScoringContext>) {
        let payload = msg.payload().unwrap_or(&[]);
        let timestamp_ms = msg.timestamp().to_millis();
        let mut sent = Box::new(Sent {
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp_ms,
            received: Instant::now(),
            wait_us: timestamp_ms.map(micros_since),
            rows: 0,
            dead_letter: None,
            attempt: 0,
        });
        let source = Source { topic: msg.topic(), partition: msg.partition(), offset: msg.offset() };
        let headers;
        let topic: &str;
        match self.parser.parse_json(payload) {
            Ok(rows) => {
                self.predictions.clear();
                self.probabilities.clear();
                for row in rows {
                    let s = self.model.score(row);
                    self.predictions.push(u8::from(s.fraud));
                    self.probabilities.push(s.probability);
                }
                sent.rows = rows.len() as u64;
                if self.log_messages {
                    tracing::info!("Input data: {}", String::from_utf8_lossy(payload));
                    tracing::info!("Fraud detection result: {:?}", self.predictions);
                }
                ScoreRecord {
                    predictions: &self.predictions,
                    probabilities: &self.probabilities,
                    model_version: self.model.version(),
                    source: Some(source),
                }
                .write_into(&mut self.out);
                headers = None;
                topic = &self.output_topic;
            }
            Err(e) => {
                tracing::warn!(
                    code = e.code.as_str(),
                    partition = source.partition,
                    offset = source.offset,
                    error = %e.message,
                    "bad input sent to the dead-letter topic {}", self.dlq_topic
                );
                sent.dead_letter = Some(e.code);
                headers = Some(
                    OwnedHeaders::new_with_capacity(5)
                        .insert(Header { key: "fraud.error.code", value: Some(e.code.as_str()) })
                        .insert(Header { key: "fraud.error.message", value: Some(&e.message) })
                        .insert(Header { key: "fraud.source.topic", value: Some(source.topic) })
                        .insert(Header { key: "fraud.source.partition", value: Some(&source.partition.to_string()) })
                        .insert(Header { key: "fraud.source.offset", value: Some(&source.offset.to_string()) }),
                );
                self.out.clear();
                self.out.extend_from_slice(payload);
                topic = &self.dlq_topic;
            }
        }
        p.tracker.started(sent.partition, sent.offset);
        let mut record = BaseRecord::with_opaque_to(topic, sent).payload(&self.out);
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Some(h) = headers {
            record = record.headers(h);
        }
        loop {
            match p.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    p.drain_acks(consumer);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, back)) => {
                    // Not even queued (e.g. message too large for the producer): hold the
                    // offset and retry like a failed delivery.
                    let retry = Retry {
                        topic: back.topic.to_string(),
                        key: back.key.map(<[u8]>::to_vec),
                        payload: back.payload.map(|p| p.to_vec()).unwrap_or_default(),
                        headers: back.headers,
                        sent: back.delivery_opaque,
                        due: Instant::now(),
                    };
                    if let Ok(tx) = p.producer.context().acks.lock() {
                        let _ = tx.send(Ack::Failed { retry, error });
                    }
                    return;
                }
            }
        }
    }
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Microseconds from a message timestamp (ms since the epoch) to now; 0 if it lies ahead.
fn micros_since(timestamp_ms: i64) -> u64 {
    (now_millis() - timestamp_ms).max(0) as u64 * 1000
}

/// Runs until `max_messages`, the end of the partitions (`exit_at_end`) or `shutdown`.
pub fn consume(
    cfg: &ConsumeConfig,
    model: FraudModel,
    metrics: Arc<ConsumerMetrics>,
    shutdown: Arc<AtomicBool>,
    mut reloader: ModelReloader,
) -> Result<Summary, ConsumeError> {
    let (tx, rx) = channel();
    let producer: ThreadedProducer<DeliveryContext> = cfg
        .kafka
        .producer(cfg.delivery_timeout_ms, OUTPUT_LINGER_MS)
        .create_with_context(DeliveryContext { acks: Mutex::new(tx) })
        .map_err(|source| ConsumeError::Client { what: "producer", source })?;
    let pipeline = Arc::new(Mutex::new(Pipeline {
        producer,
        acks: rx,
        tracker: OffsetTracker::default(),
        retries: VecDeque::new(),
        summary: Summary::default(),
        assigned: HashSet::new(),
        at_end: HashSet::new(),
        topic: cfg.topic.clone(),
        metrics: Arc::clone(&metrics),
    }));
    let context = ScoringContext { pipeline: Arc::clone(&pipeline), metrics: Arc::clone(&metrics), topic: cfg.topic.clone() };
    let consumer: BaseConsumer<ScoringContext> = cfg
        .kafka
        .consumer(&cfg.group, cfg.exit_at_end, cfg.stats_interval_ms)
        .create_with_context(context)
        .map_err(|source| ConsumeError::Client { what: "consumer", source })?;
    consumer
        .subscribe(&[&cfg.topic])
        .map_err(|source| ConsumeError::Subscribe { topic: cfg.topic.clone(), source })?;
    tracing::info!(
        topic = %cfg.topic, group = %cfg.group, output = %cfg.output_topic, dead_letters = %cfg.dlq_topic,
        model = model.version(), "consuming"
    );

    let mut scorer = Scorer {
        model,
        parser: RowParser::new(cfg.max_message_bytes),
        predictions: Vec::new(),
        probabilities: Vec::new(),
        out: Vec::with_capacity(512),
        output_topic: cfg.output_topic.clone(),
        dlq_topic: cfg.dlq_topic.clone(),
        log_messages: cfg.log_messages,
    };
    let mut received: u64 = 0;
    let mut last_wait_log = Instant::now();
    loop {
        if let Some(model) = reloader.poll(&scorer.model, &metrics) {
            scorer.model = model;
        }
        {
            let mut p = lock(&pipeline);
            p.drain_acks(&consumer);
            p.resend_due();
            let idle = p.tracker.is_idle() && p.retries.is_empty();
            if shutdown.load(Ordering::Relaxed) {
                tracing::info!("shutdown requested: draining in-flight outputs");
                break;
            }
            if cfg.max_messages.is_some_and(|n| received >= n) {
                if idle {
                    break;
                }
                drop(p);
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            if cfg.exit_at_end && idle && p.all_at_end() {
                break;
            }
            if p.tracker.in_flight() >= cfg.max_in_flight {
                drop(p);
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            if p.assigned.is_empty() && last_wait_log.elapsed() > Duration::from_secs(10) {
                tracing::info!(topic = %cfg.topic, group = %cfg.group, "waiting for a partition assignment");
                last_wait_log = Instant::now();
            }
        }
        // The lock is released here: a rebalance callback inside poll takes it.
        match consumer.poll(Duration::from_millis(50)) {
            None => {}
            Some(Ok(msg)) => {
                received += 1;
                let mut p = lock(&pipeline);
                p.summary.message_received();
                p.at_end.remove(&msg.partition());
                scorer.handle(&msg, &mut p, &consumer);
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                lock(&pipeline).at_end.insert(partition);
            }
            Some(Err(e)) => {
                // Broker away, coordinator moves, ...: librdkafka retries these itself.
                tracing::warn!(code = "consumer_error", error = %e, "consumer error; librdkafka retries");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let mut p = lock(&pipeline);
    p.finish_in_flight(&consumer, cfg.drain_timeout);
    p.commit(&consumer);
    let summary = std::mem::take(&mut p.summary);
    drop(p);
    consumer.unsubscribe();
    Ok(summary)
}
