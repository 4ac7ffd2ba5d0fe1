//! The seam between the scoring loop and its delivery guarantee. The loop in
//! [`crate::stream::consume`] reads, scores and hands each input's output to a
//! [`CommitStrategy`]; the strategy decides how outputs and input offsets become durable:
//!
//! - [`crate::stream::at_least_once::OffsetStore`]: outputs are produced, and an input's offset
//!   is stored once its output is acknowledged; librdkafka commits stored offsets on an interval.
//! - [`crate::stream::exactly_once::Transactions`]: outputs and input offsets are written in one
//!   Kafka transaction, committed on an interval.
//!
//! Both count what they made durable through one [`Tally`], so the summary and the metrics mean
//! the same in either mode: an input is counted once its output can no longer be lost.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata};
use rdkafka::error::KafkaResult;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::BaseRecord;
use rdkafka::util::IntoOpaque;
use rdkafka::{Offset, TopicPartitionList};

use crate::decision::Decision;
use crate::stream::error::ConsumeError;
use crate::stream::summary::Summary;
use crate::telemetry::{CodeLabel, ConsumerMetrics, DecisionLabel};
use crate::wire::ErrorCode;

/// What a commit strategy asks of the group consumer. A trait of our own, so that the
/// strategies do not name the consumer's context, which holds them.
pub trait GroupConsumer {
    /// Stores `offset` (the next to read) for the next commit of the consumer's offsets.
    fn store_offset(&self, topic: &str, partition: i32, offset: i64) -> KafkaResult<()>;
    /// Commits the stored offsets now, waiting for the answer.
    fn commit_stored(&self) -> KafkaResult<()>;
    /// The group generation and member, for offsets sent in a transaction.
    fn group_metadata(&self) -> Option<ConsumerGroupMetadata>;
    /// Reads `partition` from `offset` next.
    fn seek(&self, topic: &str, partition: i32, offset: i64, timeout: Duration) -> KafkaResult<()>;
    /// Pauses (or resumes) fetching `partitions` of `topic`, or every assigned partition.
    fn set_paused(&self, topic: &str, partitions: Option<&[i32]>, paused: bool) -> KafkaResult<()>;
}

impl<C: ConsumerContext> GroupConsumer for BaseConsumer<C> {
    fn store_offset(&self, topic: &str, partition: i32, offset: i64) -> KafkaResult<()> {
        Consumer::store_offset(self, topic, partition, offset)
    }

    fn commit_stored(&self) -> KafkaResult<()> {
        self.commit_consumer_state(CommitMode::Sync)
    }

    fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        Consumer::group_metadata(self)
    }

    fn seek(&self, topic: &str, partition: i32, offset: i64, timeout: Duration) -> KafkaResult<()> {
        Consumer::seek(self, topic, partition, Offset::Offset(offset), timeout)
    }

    fn set_paused(&self, topic: &str, partitions: Option<&[i32]>, paused: bool) -> KafkaResult<()> {
        let tpl = match partitions {
            None => self.assignment()?,
            Some(ps) => {
                let mut tpl = TopicPartitionList::with_capacity(ps.len());
                for &p in ps {
                    tpl.add_partition(topic, p);
                }
                tpl
            }
        };
        if paused { self.pause(&tpl) } else { self.resume(&tpl) }
    }
}

/// One input message, as far as its guarantee is concerned.
#[derive(Debug, Clone)]
pub struct Input {
    pub partition: i32,
    pub offset: i64,
    /// The input's Kafka timestamp (ms since the epoch), for end-to-end latency.
    pub timestamp_ms: Option<i64>,
    /// When the consumer received it, and how long after its timestamp.
    pub received: Instant,
    pub wait_us: Option<u64>,
    pub rows: u64,
    /// How many of its rows were approved, sent to review and declined.
    pub decisions: [u64; 3],
    pub dead_letter: Option<ErrorCode>,
}

/// What one input produces: its score record, or its dead letter with headers.
pub struct Output<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    pub headers: Option<OwnedHeaders>,
}

impl<'a> Output<'a> {
    /// The record to produce, with `opaque` handed back in its delivery report.
    pub fn record<D: IntoOpaque>(self, opaque: D) -> BaseRecord<'a, [u8], [u8], D> {
        let mut record = BaseRecord::with_opaque_to(self.topic, opaque).payload(self.payload);
        if let Some(k) = self.key {
            record = record.key(k);
        }
        if let Some(h) = self.headers {
            record = record.headers(h);
        }
        record
    }
}

/// How outputs and input offsets become durable. Called from one thread: the scoring loop,
/// and the rebalance callbacks librdkafka runs inside that loop's `poll`.
pub trait CommitStrategy: Send {
    /// Sends the output of one input.
    fn send(&mut self, consumer: &dyn GroupConsumer, input: Input, output: Output<'_>);

    /// Upkeep on every turn of the loop: delivery reports, retries, stall checks. An error
    /// here stops the consumer.
    fn tick(&mut self, consumer: &dyn GroupConsumer) -> Result<(), ConsumeError>;

    /// Whether work is waiting for [`commit`](Self::commit): always false when librdkafka
    /// commits on its own. `now` asks for any open work, due or not (the loop is stopping).
    fn commit_due(&self, now: bool) -> bool;

    /// Commits the open work. The loop serves pending rebalance events first, so that a
    /// consumer which lost its partitions learns it before it commits.
    fn commit(&mut self, consumer: &dyn GroupConsumer) -> Result<(), ConsumeError>;

    /// With nothing pending, makes what is done durable now, for others to see (the group's
    /// committed offsets): `--exit-at-end` asks them whether the topic is processed.
    fn settle(&mut self, _consumer: &dyn GroupConsumer) {}

    /// Inputs taken whose outputs are not yet durable; intake pauses at `--max-in-flight`.
    fn pending(&self) -> usize;

    /// Whether the scorer's model may be swapped now (between transactions, say).
    fn at_boundary(&self) -> bool;

    /// `partitions` were assigned to this consumer.
    fn assign(&mut self, _consumer: &dyn GroupConsumer, _partitions: &[i32]) {}

    /// An orderly rebalance takes `partitions`: finish and commit their work before they go.
    fn revoke(&mut self, consumer: &dyn GroupConsumer, partitions: &[i32]);

    /// `partitions` were lost (a missed session or poll interval): their uncommitted work
    /// must never be committed; their next owner redoes it.
    fn lose(&mut self, consumer: &dyn GroupConsumer, partitions: &[i32]);

    /// Shutdown: finish what is in flight (waiting at most `timeout`) and commit it.
    fn finish(&mut self, consumer: &dyn GroupConsumer, timeout: Duration);

    fn tally(&mut self) -> &mut Tally;
}

/// Counts inputs whose outputs became durable, in the summary and in the metrics.
pub struct Tally {
    pub summary: Summary,
    pub metrics: std::sync::Arc<ConsumerMetrics>,
}

impl Tally {
    pub fn new(metrics: std::sync::Arc<ConsumerMetrics>) -> Self {
        Self { summary: Summary::default(), metrics }
    }

    /// `input`'s output became durable (acknowledged, or committed in a transaction) at `at`.
    pub fn done(&mut self, input: &Input, at: Instant) {
        self.summary.inputs += 1;
        self.summary.rows_scored += input.rows;
        self.metrics.messages.inc();
        self.metrics.rows_scored.inc_by(input.rows);
        for (decision, n) in Decision::ALL.iter().zip(input.decisions) {
            if n > 0 {
                self.summary.decisions[*decision as usize] += n;
                self.metrics.decisions.get_or_create(&DecisionLabel { decision: decision.as_str() }).inc_by(n);
            }
        }
        match input.dead_letter {
            Some(code) => {
                *self.summary.dead_letters.entry(code).or_default() += 1;
                self.metrics.dead_letters.get_or_create(&CodeLabel { code: code.as_str().into() }).inc();
            }
            None => {
                // The input's timestamp to now, on the wall clock (the timestamp is the
                // producer's); now to `at`, on the monotonic one.
                let behind = at.elapsed().as_micros() as u64;
                let latency = input.timestamp_ms.map(|t| micros_since(t).saturating_sub(behind));
                let output = at.saturating_duration_since(input.received).as_micros() as u64;
                self.summary.latency(latency, input.wait_us, output);
                if let Some(micros) = latency {
                    self.metrics.latency.observe(micros as f64 / 1e6);
                }
            }
        }
    }
}

fn now_millis() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Microseconds from a message timestamp (ms since the epoch) to now; 0 if it lies ahead.
pub fn micros_since(timestamp_ms: i64) -> u64 {
    (now_millis() - timestamp_ms).max(0) as u64 * 1000
}
