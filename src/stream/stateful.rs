//! The consumer's state for a model with a feature spec: each card's recent events, and every
//! entity's labels, so that each event gets the features the offline code gives it.
//!
//! - **Events, per input partition.** Input is keyed by the spec's first entity, so a card's
//!   events are in one partition, in order; its state is a pure function of that partition's
//!   last `horizon` of events. The input topic is therefore its own changelog, as Kafka
//!   Streams uses a source topic for a source table: whenever a message does not follow the
//!   last one this process saw of its partition (the first message after start or an
//!   assignment, a rewind after an aborted transaction), the partition's state is rebuilt by
//!   reading the partition from one horizon (plus a day) before that message's time up to the
//!   message. A changelog topic would hold the same events again. The input's retention must
//!   cover the horizon.
//! - **Labels, global.** Labels name a terminal the input is not partitioned by, so every
//!   process reads the whole labels topic (as Kafka Streams reads a global table): no
//!   repartition topic, and results that do not depend on how many processes run. Before an
//!   event is scored, the labels that have arrived are read; an event of a replay says how far
//!   each labels partition had been written before it was sent (header `fraud.labels`), and
//!   the feed is read that far first, so every label known by the event's time is in.
//!
//! Old events and labels expire as event time moves on, so memory is bounded by the windows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::features::{Computer, Event, EventStore, Label, LabelStore, Spec};
use crate::stream::client::{ClientErrors, KafkaConfig, Quiet};
use crate::wire::WireError;
use crate::wire::event::{RawEvent, parse_event, parse_label};

/// How far before the horizon a rebuild starts reading: message timestamps may trail event time.
const SLACK_MS: i64 = 86_400_000;
/// Events between two expiries of old state.
const EXPIRE_EVERY: u64 = 10_000;
/// How long a rebuild or the labels may take to answer one poll before it counts as stuck.
const POLL: Duration = Duration::from_millis(100);

pub struct Stateful {
    computer: Computer,
    spec: Arc<Spec>,
    kafka: KafkaConfig,
    topic: String,
    partitions: HashMap<i32, PartitionState>,
    labels: LabelStore,
    feed: Option<LabelFeed>,
    since_expiry: u64,
    event: RawEvent,
}

struct PartitionState {
    events: EventStore,
    /// The offset of the next message this state expects.
    next: i64,
    /// The newest event time of the partition.
    newest: i64,
}

/// The labels topic, every partition, read as far as it goes.
struct LabelFeed {
    consumer: BaseConsumer<Quiet>,
    topic: String,
    /// Per partition, the offset of the next label to read.
    next: HashMap<i32, i64>,
    /// Events since the labels that had arrived were last read.
    since_drain: u32,
}

/// How often (in events) an event with no `fraud.labels` header, or one already satisfied,
/// looks for labels that have arrived: a poll (and a clock read) per event would cost more
/// than the event.
const DRAIN_EVERY: u32 = 256;

impl Stateful {
    pub fn new(kafka: &KafkaConfig, topic: &str, labels_topic: &str, spec: Arc<Spec>) -> Result<Self, StateError> {
        // Only the first entity's events are all in one partition (the input is keyed by it).
        if let Some(&e) = spec.event_entities().iter().find(|&&e| e > 0) {
            return Err(StateError::Unsupported {
                entity: spec.entities()[e].clone(),
                first: spec.entities()[0].clone(),
            });
        }
        let feed = if spec.uses_labels() { Some(LabelFeed::open(kafka, labels_topic)?) } else { None };
        Ok(Stateful {
            computer: Computer::new(Arc::clone(&spec)),
            labels: LabelStore::new(&spec),
            spec,
            kafka: kafka.clone(),
            topic: topic.to_string(),
            partitions: HashMap::new(),
            feed,
            since_expiry: 0,
            event: RawEvent::default(),
        })
    }

    /// The message's features into `row`; its id. Rebuilds the partition's state first when
    /// the message does not follow the last one seen of its partition.
    pub fn features(
        &mut self,
        partition: i32,
        offset: i64,
        payload: &[u8],
        labels_read_to: Option<&[(i32, i64)]>,
        row: &mut [f64],
    ) -> Result<Option<String>, StateError> {
        parse_event(&self.spec, payload, &mut self.event).map_err(StateError::Wire)?;
        let time = self.event.time;
        if self.partitions.get(&partition).is_none_or(|p| p.next != offset) {
            let events = self.rebuild(partition, offset, time)?;
            self.partitions.insert(partition, PartitionState { events, next: offset, newest: i64::MIN });
        }
        if let Some(feed) = &mut self.feed {
            feed.catch_up(labels_read_to, &self.spec, &self.computer, &mut self.labels)?;
        }
        let state = self.partitions.get_mut(&partition).ok_or(StateError::Lost)?;
        compute(&self.computer, &mut state.events, &self.labels, &self.event, row);
        state.next = offset + 1;
        state.newest = state.newest.max(time);
        self.since_expiry += 1;
        if self.since_expiry >= EXPIRE_EVERY {
            self.since_expiry = 0;
            // A partition's events come in time order: its own newest time says what none of
            // its next events can read. Partitions are read at their own pace, so the labels,
            // read by all, expire by the one furthest behind.
            for p in self.partitions.values_mut() {
                p.events.expire(&self.spec, p.newest);
            }
            if let Some(slowest) = self.partitions.values().map(|p| p.newest).min() {
                self.labels.expire(&self.spec, slowest - SLACK_MS);
            }
        }
        Ok(self.event.id.clone())
    }

    /// Forgets a partition's state (it went to another process).
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// Entries held: events over every partition, and labels.
    pub fn entries(&self) -> (usize, usize) {
        (self.partitions.values().map(|p| p.events.entries()).sum(), self.labels.entries())
    }

    /// The state of `partition` just before `offset`: its events from one horizon before
    /// `time` read again. Labels are not needed: a partition's state is its events.
    fn rebuild(&mut self, partition: i32, offset: i64, time: i64) -> Result<EventStore, StateError> {
        let started = Instant::now();
        let mut events = EventStore::new(&self.spec);
        let horizon = self.spec.horizon.iter().map(|h| h.ms()).max().unwrap_or(0);
        if horizon == 0 || offset == 0 {
            return Ok(events);
        }
        let consumer: BaseConsumer<Quiet> = self
            .kafka
            .reader()
            .set("fetch.wait.max.ms", "10")
            .create_with_context(Quiet(ClientErrors::default()))
            .map_err(StateError::Kafka)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(time - horizon - SLACK_MS))
            .map_err(StateError::Kafka)?;
        let start = consumer
            .offsets_for_times(tpl, Duration::from_secs(10))
            .map_err(StateError::Kafka)?
            .find_partition(&self.topic, partition)
            .map(|p| p.offset())
            .and_then(|o| match o {
                Offset::Offset(o) if o <= offset => Some(o),
                _ => None,
            })
            .unwrap_or(0);
        if start >= offset {
            return Ok(events);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(start)).map_err(StateError::Kafka)?;
        consumer.assign(&tpl).map_err(StateError::Kafka)?;
        let (mut read, mut row, mut raw) = (0u64, vec![0.0; self.spec.width()], RawEvent::default());
        let empty = LabelStore::new(&self.spec);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if Instant::now() > deadline {
                return Err(StateError::Stuck { partition });
            }
            match consumer.poll(POLL) {
                Some(Ok(m)) => {
                    if m.offset() >= offset {
                        break;
                    }
                    // A message the consumer dead-lettered is no event of the state.
                    if parse_event(&self.spec, m.payload().unwrap_or_default(), &mut raw).is_ok() {
                        compute(&self.computer, &mut events, &empty, &raw, &mut row);
                        read += 1;
                    }
                    if m.offset() + 1 >= offset {
                        break;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => return Err(StateError::Kafka(e)),
                None => {}
            }
        }
        tracing::info!(
            partition,
            from = start,
            to = offset,
            events = read,
            entries = events.entries(),
            seconds = started.elapsed().as_secs_f64(),
            "rebuilt the partition's state from the input topic"
        );
        Ok(events)
    }
}

impl Drop for Stateful {
    fn drop(&mut self) {
        let (events, labels) = self.entries();
        tracing::info!(events, labels, "the state held at the end: events of the partitions' entities, labels");
    }
}

fn compute(computer: &Computer, events: &mut EventStore, labels: &LabelStore, raw: &RawEvent, row: &mut [f64]) {
    let keys: Vec<Option<&str>> = raw.keys.iter().map(|k| k.as_deref()).collect();
    let event = Event { time: raw.time, keys: &keys, numbers: &raw.numbers, texts: &raw.texts };
    computer.event(events, labels, &event, row);
}

impl LabelFeed {
    fn open(kafka: &KafkaConfig, topic: &str) -> Result<LabelFeed, StateError> {
        let consumer: BaseConsumer<Quiet> = kafka
            .reader()
            .set("fetch.wait.max.ms", "10")
            .create_with_context(Quiet(ClientErrors::default()))
            .map_err(StateError::Kafka)?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).map_err(StateError::Kafka)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(StateError::NoLabels { topic: topic.to_string() });
        }
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning).map_err(StateError::Kafka)?;
        }
        consumer.assign(&tpl).map_err(StateError::Kafka)?;
        Ok(LabelFeed { consumer, topic: topic.to_string(), next: HashMap::new(), since_drain: DRAIN_EVERY })
    }

    /// Reads the labels that have arrived; with `read_to` (what a replay's event says was
    /// written before it), waits until every partition is read that far, so that a replay is
    /// read the same way by any number of processes.
    fn catch_up(
        &mut self,
        read_to: Option<&[(i32, i64)]>,
        spec: &Spec,
        computer: &Computer,
        store: &mut LabelStore,
    ) -> Result<(), StateError> {
        let behind = |next: &HashMap<i32, i64>| {
            read_to.is_some_and(|to| to.iter().any(|&(p, n)| next.get(&p).copied().unwrap_or(0) < n))
        };
        self.since_drain += 1;
        if !behind(&self.next) && self.since_drain < DRAIN_EVERY {
            return Ok(());
        }
        self.since_drain = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let behind = behind(&self.next);
            if behind && Instant::now() > deadline {
                return Err(StateError::LabelsStuck { topic: self.topic.clone() });
            }
            let wait = if behind { POLL } else { Duration::ZERO };
            match self.consumer.poll(wait) {
                Some(Ok(m)) => {
                    self.next.insert(m.partition(), m.offset() + 1);
                    match parse_label(spec, m.payload().unwrap_or_default()) {
                        Ok(label) => {
                            let keys: Vec<Option<&str>> = label.keys.iter().map(|k| k.as_deref()).collect();
                            computer.label(
                                store,
                                &Label { time: label.time, known_at: label.known_at, keys: &keys, fraud: label.fraud },
                            );
                        }
                        Err(e) => tracing::warn!(
                            code = e.code.as_str(),
                            topic = %self.topic,
                            partition = m.partition(),
                            offset = m.offset(),
                            error = %e.message,
                            "a label that cannot be read is left out"
                        ),
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(StateError::Kafka(e)),
                None if !behind => return Ok(()),
                None => {}
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Wire(WireError),
    #[error("reading state from Kafka: {0}")]
    Kafka(KafkaError),
    #[error(
        "the labels topic {topic} does not exist: the model's features read labels (create it, or name it with --labels-topic)"
    )]
    NoLabels { topic: String },
    #[error("rebuilding partition {partition}'s state: no progress for 120 s")]
    Stuck { partition: i32 },
    #[error("reading the labels topic {topic}: no progress for 60 s")]
    LabelsStuck { topic: String },
    #[error("a partition's state went missing")]
    Lost,
    #[error(
        "the spec aggregates {entity}'s own events, but the input is keyed by {first}: a partition holds \
         only some of {entity}'s events, so the stream cannot compute them (aggregate {entity}'s labels, \
         which every process reads whole, or its events in a model keyed by {entity})"
    )]
    Unsupported { entity: String, first: String },
}

/// The header of a replayed event: how far each labels partition was written before it.
pub const LABELS_HEADER: &str = "fraud.labels";

/// `0:120,1:98` into partitions and offsets.
pub fn parse_labels_header(value: &[u8]) -> Option<Vec<(i32, i64)>> {
    std::str::from_utf8(value)
        .ok()?
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (p, o) = pair.split_once(':')?;
            Some((p.trim().parse().ok()?, o.trim().parse().ok()?))
        })
        .collect()
}

/// Partitions and offsets as the header writes them.
pub fn labels_header(next: &std::collections::BTreeMap<i32, i64>) -> String {
    next.iter().map(|(p, o)| format!("{p}:{o}")).collect::<Vec<_>>().join(",")
}
