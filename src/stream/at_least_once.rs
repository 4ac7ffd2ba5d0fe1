//! At least once, the default guarantee: outputs are produced as they come, and an input's
//! offset is stored only after its output is acknowledged by the broker, and only once every
//! earlier message of its partition is (see [`OffsetTracker`]). librdkafka commits the stored
//! offsets every `--commit-interval-ms`; they are committed synchronously when partitions are
//! revoked and at exit. A failed delivery is retried with backoff, its offset held back.
//!
//! After a crash, at most the work since the last commit is done again: the output topic may
//! hold a score record twice, never zero times.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::stream::client::{ClientErrors, KafkaConfig, OUTPUT_LINGER_MS};
use crate::stream::commit::{CommitStrategy, GroupConsumer, Input, Output, Tally};
use crate::stream::error::ConsumeError;
use crate::stream::offsets::OffsetTracker;
use crate::stream::send::send_when_room;
use crate::telemetry::ConsumerMetrics;

/// An output to send again.
struct Retry {
    input: Box<Input>,
    attempt: u32,
    topic: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
    due: Instant,
}

impl Retry {
    /// The output of `sent` to send again at `due`, copied from the record that failed.
    fn of(
        sent: Sent,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
        due: Instant,
    ) -> Retry {
        Retry {
            input: sent.input,
            attempt: sent.attempt,
            topic: topic.to_string(),
            key: key.map(<[u8]>::to_vec),
            payload: payload.map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
            due,
        }
    }

    /// How long to wait before sending again after the `attempt`-th failure: 100 ms, doubling,
    /// at most 6.4 s.
    fn backoff(attempt: u32) -> Duration {
        Duration::from_millis(100 * (1u64 << attempt.min(6)))
    }
}

/// What travels with an output through the producer.
struct Sent {
    input: Box<Input>,
    attempt: u32,
}

enum Ack {
    /// Delivered at that instant.
    Delivered(Box<Input>, Instant),
    Failed {
        retry: Retry,
        error: KafkaError,
    },
}

/// Turns delivery reports into [`Ack`]s for the consumer loop.
struct DeliveryContext {
    acks: Mutex<Sender<Ack>>,
    errors: ClientErrors,
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.report(&error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Sent>) {
        let ack = match result {
            Ok(_) => Ack::Delivered(sent.input, Instant::now()),
            Err((error, msg)) => {
                let headers = msg.headers().map(|h| h.detach());
                let retry = Retry::of(*sent, msg.topic(), msg.key(), msg.payload(), headers, Instant::now());
                Ack::Failed { retry, error: error.clone() }
            }
        };
        self.send(ack);
    }
}

impl DeliveryContext {
    fn send(&self, ack: Ack) {
        if let Ok(tx) = self.acks.lock() {
            // The receiver lives as long as the strategy; a send error means we are exiting.
            let _ = tx.send(ack);
        }
    }
}

pub struct OffsetStore {
    producer: ThreadedProducer<DeliveryContext>,
    acks: Receiver<Ack>,
    tracker: OffsetTracker,
    retries: VecDeque<Retry>,
    tally: Tally,
    topic: String,
}

impl OffsetStore {
    pub fn new(
        kafka: &KafkaConfig,
        topic: &str,
        delivery_timeout_ms: u64,
        metrics: Arc<ConsumerMetrics>,
        errors: ClientErrors,
    ) -> Result<Self, ConsumeError> {
        let (tx, acks) = channel();
        let producer = kafka
            .producer(delivery_timeout_ms, OUTPUT_LINGER_MS)
            .create_with_context(DeliveryContext { acks: Mutex::new(tx), errors })
            .map_err(|error| ConsumeError::Client { what: "producer", error })?;
        Ok(Self {
            producer,
            acks,
            tracker: OffsetTracker::default(),
            retries: VecDeque::new(),
            tally: Tally::new(metrics),
            topic: topic.to_string(),
        })
    }

    /// Applies delivery reports: stores offsets that became safe, schedules retries.
    fn drain_acks(&mut self, consumer: &dyn GroupConsumer) {
        let mut store: HashMap<i32, i64> = HashMap::new();
        while let Ok(ack) = self.acks.try_recv() {
            match ack {
                Ack::Delivered(input, at) => {
                    if let Some(offset) = self.tracker.delivered(input.partition, input.offset) {
                        store.insert(input.partition, offset);
                    }
                    self.tally.done(&input, at);
                }
                Ack::Failed { mut retry, error } => {
                    self.tally.metrics.delivery_errors.inc();
                    self.tally.summary.delivery_retries += 1;
                    let backoff = Retry::backoff(retry.attempt);
                    tracing::warn!(
                        code = "delivery_failed",
                        topic = %retry.topic,
                        partition = retry.input.partition,
                        offset = retry.input.offset,
                        attempt = retry.attempt + 1,
                        error = %error,
                        "output not delivered; offset held back, retrying in {backoff:?}"
                    );
                    retry.attempt += 1;
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
            let Retry { input, attempt, topic, key, payload, headers, .. } = r;
            let mut record =
                BaseRecord::with_opaque_to(&topic, Box::new(Sent { input, attempt })).payload(payload.as_slice());
            if let Some(k) = &key {
                record = record.key(k.as_slice());
            }
            if let Some(h) = headers {
                record = record.headers(h);
            }
            if let Err((e, back)) = self.producer.send(record) {
                tracing::debug!(error = %e, "resend not queued yet");
                let due = now + Duration::from_millis(50);
                waiting.push_back(Retry::of(
                    *back.delivery_opaque,
                    back.topic,
                    back.key,
                    back.payload,
                    back.headers,
                    due,
                ));
            }
        }
        self.retries = waiting;
    }

    /// Waits (bounded) until every sent output is acknowledged and its offset stored.
    fn finish_in_flight(&mut self, consumer: &dyn GroupConsumer, timeout: Duration) {
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
            tracing::warn!(
                in_flight = self.tracker.in_flight(),
                "outputs still undelivered; their offsets stay uncommitted"
            );
        }
    }

    fn commit_stored(&mut self, consumer: &dyn GroupConsumer) {
        match consumer.commit_stored() {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => self.tally.summary.committed(),
            Err(e) => {
                self.tally.metrics.commits_failed.inc();
                tracing::warn!(code = "commit_failed", error = %e, "synchronous offset commit failed");
            }
        }
    }

    fn forget(&mut self, partitions: &[i32]) {
        for partition in partitions {
            let dropped = self.tracker.forget(*partition);
            if dropped > 0 {
                tracing::warn!(
                    partition,
                    dropped,
                    "outputs undelivered at revocation; the next owner reads them again"
                );
            }
        }
        self.retries.retain(|r| !partitions.contains(&r.input.partition));
    }
}

impl CommitStrategy for OffsetStore {
    fn send(&mut self, _consumer: &dyn GroupConsumer, input: Input, output: Output<'_>) {
        self.tracker.started(input.partition, input.offset);
        let record = output.record(Box::new(Sent { input: Box::new(input), attempt: 0 }));
        // The producer's own thread serves delivery reports meanwhile; their acks wait in
        // the channel.
        let queued = send_when_room(
            |r| self.producer.send(r).err(),
            record,
            || {
                std::thread::sleep(Duration::from_millis(1));
                true
            },
        );
        if let Err((error, back)) = queued {
            // Not even queued (e.g. larger than the producer takes): hold the offset and retry
            // like a failed delivery.
            let retry =
                Retry::of(*back.delivery_opaque, back.topic, back.key, back.payload, back.headers, Instant::now());
            self.producer.context().send(Ack::Failed { retry, error });
        }
    }

    fn tick(&mut self, consumer: &dyn GroupConsumer) -> Result<(), ConsumeError> {
        self.drain_acks(consumer);
        self.resend_due();
        Ok(self.producer.context().errors.check()?)
    }

    fn commit_due(&self, _now: bool) -> bool {
        false
    }

    fn commit(&mut self, _consumer: &dyn GroupConsumer) -> Result<(), ConsumeError> {
        Ok(())
    }

    fn settle(&mut self, consumer: &dyn GroupConsumer) {
        self.commit_stored(consumer);
    }

    fn pending(&self) -> usize {
        // Retries are among them: their offsets are held back until they are delivered.
        self.tracker.in_flight()
    }

    fn at_boundary(&self) -> bool {
        true
    }

    fn revoke(&mut self, consumer: &dyn GroupConsumer, partitions: &[i32]) {
        self.finish_in_flight(consumer, Duration::from_secs(10));
        self.commit_stored(consumer);
        self.forget(partitions);
    }

    fn lose(&mut self, _consumer: &dyn GroupConsumer, partitions: &[i32]) {
        // Offsets stored for a lost partition may still be committed (a real broker refuses
        // the stale generation); at least once allows the repeat either way.
        self.forget(partitions);
    }

    fn finish(&mut self, consumer: &dyn GroupConsumer, timeout: Duration) {
        self.finish_in_flight(consumer, timeout);
        self.commit_stored(consumer);
    }

    fn tally(&mut self) -> &mut Tally {
        &mut self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_delivery_waits_longer_each_time_up_to_a_bound() {
        let waits: Vec<u64> = (0..9).map(|a| Retry::backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_600, 3_200, 6_400, 6_400, 6_400]);
        assert_eq!(Retry::backoff(u32::MAX), Duration::from_millis(6_400));
    }

    #[test]
    fn a_retry_keeps_everything_the_output_had() {
        let input = Box::new(Input {
            partition: 3,
            offset: 41,
            timestamp_ms: None,
            received: Instant::now(),
            wait_us: None,
            rows: 1,
            decisions: [0, 1, 0],
            dead_letter: None,
        });
        let at = Instant::now();
        let r = Retry::of(Sent { input, attempt: 2 }, "t-scores", Some(b"k"), Some(b"{}"), None, at);
        assert_eq!((r.input.partition, r.input.offset, r.attempt), (3, 41, 2));
        assert_eq!(
            (r.topic.as_str(), r.key.as_deref(), r.payload.as_slice(), r.due),
            ("t-scores", Some(&b"k"[..]), &b"{}"[..], at)
        );
        let empty = Retry::of(Sent { input: r.input, attempt: 0 }, "t", None, None, None, at);
        assert_eq!((empty.key, empty.payload.len()), (None, 0));
    }
}
