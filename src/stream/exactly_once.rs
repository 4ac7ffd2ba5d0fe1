//! Exactly once (`--exactly-once`): every score record and dead letter is written in a Kafka
//! transaction together with the input offsets it covers (`send_offsets_to_transaction` with
//! the consumer's group metadata, KIP-447), so a `read_committed` reader of the outputs sees
//! each input's output once, whatever crashes in between.
//!
//! - A transaction opens with the first input after a commit and is committed every
//!   `--commit-interval-ms`, or sooner when `--max-in-flight` inputs are in it: a commit costs
//!   a few broker round trips, so many inputs share one.
//! - A failed or aborted transaction rewinds the consumer to the first offset it took of each
//!   partition since the last commit, and the work is done again.
//! - An orderly revocation commits the open transaction before the partitions go; partitions
//!   *lost* (a missed session or poll interval) abort it.
//! - A fatal error (the producer fenced) aborts, then the producer is made anew and the work
//!   redone; fenced again and again, another process holds our `transactional.id`, and the
//!   consumer stops with that error.
//!
//! The zombie defence. Apache Kafka refuses a transactional offset commit from a member of an
//! old group generation, but not every broker does (Tansu 0.6 accepts it). So the consumer
//! defends itself too: the loop serves pending rebalance events before every commit, and a
//! consumer whose loop stalled for longer than its group membership is guaranteed (the session
//! timeout less one heartbeat interval) aborts its transaction instead of committing it, then
//! pauses intake for two heartbeat intervals to learn whether its partitions moved.
//!
//! What no client can close: a freeze after the last check and before the commit's EndTxn
//! request leaves. Only the broker can refuse that commit (KIP-447 on Apache Kafka). Where it
//! does not, such a commit is reported (`late_commit`, and a metric) because the partitions'
//! next owner may repeat its inputs; the zombie test measures how often (2 rounds in 280 on
//! Tansu).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext, PurgeConfig};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::stream::client::{ClientErrors, KafkaConfig, OUTPUT_LINGER_MS};
use crate::stream::commit::{CommitStrategy, GroupConsumer, Input, Output, Tally};
use crate::stream::error::ConsumeError;
use crate::stream::instance::Instance;
use crate::stream::send::{flush, send_when_room};
use crate::telemetry::{ConsumerMetrics, OutcomeLabel};

/// Where the transactional.id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `-X transactional.id`: the whole id, as given.
    TransactionalId(String),
    /// `--instance-id` (or `-X group.instance.id`): the id is `fraud-<group>-<instance>`.
    Instance(String),
    /// Neither: this process's slot in the state directory gives the instance
    /// ([`crate::stream::instance`]).
    StateDir(std::path::PathBuf),
}

impl Identity {
    /// The transactional.id for `group`, and the state-directory slot that keeps it ours (held
    /// until the process exits).
    pub fn resolve(&self, group: &str) -> Result<(String, Option<Instance>), ConsumeError> {
        match self {
            Identity::TransactionalId(id) => Ok((id.clone(), None)),
            Identity::Instance(instance) => Ok((format!("fraud-{group}-{instance}"), None)),
            Identity::StateDir(dir) => {
                let slot = Instance::claim(dir, group)?;
                tracing::info!(state_dir = %slot.dir.display(), instance = %slot.id, "took an instance slot of the state directory");
                Ok((format!("fraud-{group}-{}", slot.id), Some(slot)))
            }
        }
    }
}

/// Settings of the transactional mode, validated by the CLI.
#[derive(Debug, Clone)]
pub struct TransactionConfig {
    pub identity: Identity,
    /// Commit at least this often.
    pub interval: Duration,
    /// Commit once this many inputs are in the open transaction.
    pub max_batch: usize,
    /// A loop stalled longer than this may have lost its group membership.
    pub stall_limit: Duration,
    /// How long intake pauses after a stall, for librdkafka to learn of a lost membership.
    pub probation: Duration,
    /// Bound on each transactional call to the broker.
    pub op_timeout: Duration,
}

/// Fatal errors within this window count towards giving up.
const FENCED_WINDOW: Duration = Duration::from_secs(300);
const FENCED_LIMIT: usize = 3;
/// Retriable failures of one transactional call before the transaction is aborted.
const RETRIES: u32 = 3;
/// One attempt at initialising transactions; a broker that is away is retried in these steps.
const INIT_ATTEMPT: Duration = Duration::from_secs(5);

/// Counts delivery failures and remembers the first of a transaction, for its abort's log.
struct Deliveries {
    metrics: Arc<ConsumerMetrics>,
    errors: ClientErrors,
    first_error: Mutex<Option<String>>,
}

struct TxnContext(Arc<Deliveries>);

impl ClientContext for TxnContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.errors.report(&error, reason);
    }
}

impl ProducerContext for TxnContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            if matches!(
                error,
                KafkaError::MessageProduction(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
            ) {
                return; // purged by an abort: not a delivery failure
            }
            self.0.metrics.delivery_errors.inc();
            if let Ok(mut first) = self.0.first_error.lock() {
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// The open transaction.
struct Open {
    began: Instant,
    /// Per partition, the offset after the last input taken: what the commit stores.
    next: BTreeMap<i32, i64>,
    inputs: Vec<Input>,
    /// Set when an output could not even be queued: the transaction can only be aborted.
    doomed: Option<String>,
}

pub struct Transactions {
    kafka: KafkaConfig,
    cfg: TransactionConfig,
    transactional_id: String,
    delivery_timeout_ms: u64,
    producer: BaseProducer<TxnContext>,
    deliveries: Arc<Deliveries>,
    topic: String,
    open: Option<Open>,
    /// Per partition, the first offset taken since the last commit: where an abort rewinds to.
    rewind: BTreeMap<i32, i64>,
    tally: Tally,
    stalls: StallWatch,
    fenced: VecDeque<Instant>,
    failure: Option<ConsumeError>,
    shutdown: Arc<AtomicBool>,
}

impl Transactions {
    /// Initialises transactions, waiting for the broker as long as `shutdown` is not set.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kafka: &KafkaConfig,
        topic: &str,
        cfg: TransactionConfig,
        transactional_id: String,
        delivery_timeout_ms: u64,
        metrics: Arc<ConsumerMetrics>,
        errors: ClientErrors,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Self, ConsumeError> {
        let deliveries = Arc::new(Deliveries { metrics: Arc::clone(&metrics), errors, first_error: Mutex::new(None) });
        tracing::info!(%transactional_id, "exactly once: initialising transactions");
        let producer =
            transactional_producer(kafka, &transactional_id, &cfg, delivery_timeout_ms, &deliveries, &shutdown)?;
        tracing::info!(%transactional_id, "exactly once: transactions initialised");
        let (cfg_stall_limit, cfg_probation) = (cfg.stall_limit, cfg.probation);
        Ok(Self {
            kafka: kafka.clone(),
            cfg,
            transactional_id,
            delivery_timeout_ms,
            producer,
            deliveries,
            topic: topic.to_string(),
            open: None,
            rewind: BTreeMap::new(),
            tally: Tally::new(metrics),
            stalls: StallWatch::new(cfg_stall_limit, cfg_probation, Instant::now()),
            fenced: VecDeque::new(),
            failure: None,
            shutdown,
        })
    }

    /// Commits the open transaction; on failure aborts it and rewinds.
    fn commit_open(&mut self, consumer: &dyn GroupConsumer) {
        let Some(open) = self.open.take() else { return };
        if let Some(reason) = &open.doomed {
            let reason = reason.clone();
            return self.abort(consumer, open, &reason);
        }
        if self.stalls.stalled_at(Instant::now()) {
            return self.abort(consumer, open, "the consumer stalled before the commit");
        }
        let mut offsets = TopicPartitionList::with_capacity(open.next.len());
        for (&partition, &next) in &open.next {
            // Only fails on a negative offset, which Kafka never hands out.
            let _ = offsets.add_partition_offset(&self.topic, partition, Offset::Offset(next));
        }
        let Some(group) = consumer.group_metadata() else {
            return self.abort(consumer, open, "the consumer has no group metadata");
        };
        let started = open.began;
        let t = Instant::now();
        let sent = retry(|| self.producer.send_offsets_to_transaction(&offsets, &group, self.cfg.op_timeout));
        if let Err(e) = sent {
            return self.failed(consumer, open, "adding the input offsets to the transaction", e);
        }
        let offsets_took = t.elapsed();
        // Outputs first, in 1 ms steps: librdkafka's commit flushes too, in 100 ms ones.
        if !flush(&self.producer, self.cfg.op_timeout) {
            return self.abort(consumer, open, "outputs still undelivered after the transaction timeout");
        }
        // The last moment to notice a stall: after it, the commit is the broker's. After the
        // flush, not before, so a freeze while the outputs are acknowledged (milliseconds each
        // time) is noticed too. One clock reading serves the check and the late-commit report:
        // a freeze before it is caught here, one after it is in the commit's time.
        let checked = Instant::now();
        if self.stalls.stalled_at(checked) {
            return self.abort(consumer, open, "the consumer stalled before the commit");
        }
        match retry(|| self.producer.commit_transaction(self.cfg.op_timeout)) {
            Ok(()) => {
                let now = Instant::now();
                if now - checked > self.cfg.stall_limit {
                    self.late_commit(&open, now - checked);
                }
                tracing::debug!(
                    inputs = open.inputs.len(),
                    next = ?open.next,
                    open_ms = started.elapsed().as_secs_f64() * 1e3,
                    offsets_ms = offsets_took.as_secs_f64() * 1e3,
                    commit_ms = (now - t - offsets_took).as_secs_f64() * 1e3,
                    "transaction committed"
                );
                for input in &open.inputs {
                    self.tally.done(input, now);
                }
                self.rewind.clear();
                self.tally.summary.transactions_committed += 1;
                self.tally.summary.committed();
                let m = &self.tally.metrics;
                m.transactions.get_or_create(&OutcomeLabel { outcome: "committed".into() }).inc();
                m.transaction_seconds.observe(started.elapsed().as_secs_f64());
            }
            Err(e) => self.failed(consumer, open, "committing the transaction", e),
        }
    }

    /// A stall began between the last check and the commit's EndTxn request, or while the
    /// request was answered: no client can tell which. In the first case the commit reached the
    /// broker after the partitions may have moved. Apache Kafka refuses it (the generation no
    /// longer matches, KIP-447); a broker that does not fence (Tansu 0.6, measured by
    /// scripts/broker-limits.sh) commits it, and the next owner, which read the offsets committed
    /// before, repeats these inputs. Nothing can take the commit back, so the consumer says so.
    fn late_commit(&mut self, open: &Open, took: Duration) {
        self.tally.metrics.late_commits.inc();
        tracing::error!(
            code = "late_commit",
            inputs = open.inputs.len(),
            offsets = %offset_ranges(&open.inputs),
            took_ms = took.as_millis() as u64,
            limit_ms = self.cfg.stall_limit.as_millis() as u64,
            "a transaction was committed by a loop that stalled after its last check; unless the broker fences old \
             group generations (KIP-447), its inputs may also have been scored by the partitions' next owner"
        );
    }

    /// A transactional call failed: abort, or on a fatal error start over with a new producer.
    fn failed(&mut self, consumer: &dyn GroupConsumer, open: Open, what: &str, error: KafkaError) {
        if is_unsupported(&error) {
            // Nothing to retry: an abort needs the same request the broker lacks. Redoing the
            // work would spin forever (as it did on Tansu 0.6.0 from crates.io, which has no
            // EndTxn), so stop and say why.
            drop(open);
            self.failure = Some(ConsumeError::TransactionsUnsupported { what: what.to_string(), source: error });
            return;
        }
        if is_fatal(&error) {
            return self.fatal(consumer, open, what, error);
        }
        let reason = format!("{what}: {error}{}", self.first_delivery_error());
        self.abort(consumer, open, &reason);
    }

    fn first_delivery_error(&self) -> String {
        let first = self.deliveries.first_error.lock().ok().and_then(|mut f| f.take());
        first.map(|e| format!(" (first undelivered output: {e})")).unwrap_or_default()
    }

    /// Aborts the open transaction and rewinds the consumer to what was last committed.
    fn abort(&mut self, consumer: &dyn GroupConsumer, open: Open, reason: &str) {
        // A delivery error belongs to the transaction it failed.
        let _ = self.first_delivery_error();
        tracing::warn!(
            code = "transaction_aborted",
            inputs = open.inputs.len(),
            reason,
            "transaction aborted; its inputs are read and scored again"
        );
        self.count_abort();
        // librdkafka's abort waits until every delivery report is served, and with the event
        // API that is our poll: serve them here first, or the abort waits out its timeout.
        // The outputs are delivered into the transaction, not purged: purging messages in
        // flight leaves a gap in the idempotent producer's sequence numbers, and healing it
        // takes an epoch bump (KIP-360) that Tansu 0.6 does not do (there the next
        // transaction failed with OUT_OF_ORDER_SEQUENCE_NUMBER and its abort timed out).
        flush(&self.producer, self.cfg.op_timeout);
        if let Err(e) = retry(|| self.producer.abort_transaction(self.cfg.op_timeout)) {
            if is_fatal(&e) {
                return self.fatal(consumer, open, "aborting the transaction", e);
            }
            // The broker aborts it at transaction.timeout.ms; a new producer fences it sooner.
            return self.renew_producer(consumer, &format!("aborting the transaction: {e}"));
        }
        self.rewind_consumer(consumer);
    }

    fn count_abort(&mut self) {
        self.tally.summary.transactions_aborted += 1;
        self.tally.metrics.transactions.get_or_create(&OutcomeLabel { outcome: "aborted".into() }).inc();
    }

    /// Seeks every partition taken from since the last commit back to its first input then.
    fn rewind_consumer(&mut self, consumer: &dyn GroupConsumer) {
        for (partition, offset) in std::mem::take(&mut self.rewind) {
            if let Err(e) = consumer.seek(&self.topic, partition, offset, self.cfg.op_timeout) {
                // No longer ours: its next owner starts from the committed offset anyway.
                tracing::debug!(partition, offset, error = %e, "not rewound");
            }
        }
    }

    /// The producer is fenced or failed for good: nothing of the open transaction may commit.
    fn fatal(&mut self, consumer: &dyn GroupConsumer, open: Open, what: &str, error: KafkaError) {
        tracing::error!(
            code = "transaction_fatal",
            transactional_id = %self.transactional_id,
            inputs = open.inputs.len(),
            error = %error,
            "{what} failed fatally (fenced?); the transaction is dropped and the producer made anew"
        );
        self.count_abort();
        drop(open);
        let now = Instant::now();
        self.fenced.push_back(now);
        while self.fenced.front().is_some_and(|t| now.duration_since(*t) > FENCED_WINDOW) {
            self.fenced.pop_front();
        }
        if self.fenced.len() >= FENCED_LIMIT {
            self.failure =
                Some(ConsumeError::Fenced { transactional_id: self.transactional_id.clone(), source: error });
            return;
        }
        self.renew_producer(consumer, what);
    }

    /// A new producer with the same transactional.id: its initialisation fences the old one
    /// and aborts whatever it left open. Then the work since the last commit is redone.
    fn renew_producer(&mut self, consumer: &dyn GroupConsumer, why: &str) {
        tracing::warn!(why, "making a new transactional producer");
        let renewed = transactional_producer(
            &self.kafka,
            &self.transactional_id,
            &self.cfg,
            self.delivery_timeout_ms,
            &self.deliveries,
            &self.shutdown,
        );
        match renewed {
            Ok(p) => {
                self.producer = p;
                self.rewind_consumer(consumer);
            }
            Err(e) => self.failure = Some(e),
        }
    }

    fn start_probation(&mut self, consumer: &dyn GroupConsumer, stalled_for: Duration) {
        if let Some(open) = self.open.take() {
            self.abort(consumer, open, "the consumer stalled with the transaction open");
        }
        if let Err(e) = consumer.set_paused(&self.topic, None, true) {
            tracing::warn!(error = %e, "pausing intake after a stall");
        }

        self.tally.metrics.stalls.inc();
        tracing::warn!(
            code = "consumer_stalled",
            stalled_ms = stalled_for.as_millis() as u64,
            limit_ms = self.cfg.stall_limit.as_millis() as u64,
            pause_ms = self.cfg.probation.as_millis() as u64,
            "the consumer stalled for longer than its group membership is guaranteed; nothing was \
             committed, and intake pauses while librdkafka learns whether the partitions moved"
        );
    }

    fn end_probation(&mut self, consumer: &dyn GroupConsumer) {
        self.rewind_consumer(consumer);
        if let Err(e) = consumer.set_paused(&self.topic, None, false) {
            tracing::warn!(error = %e, "resuming intake after a stall");
        }
        tracing::info!("intake resumed after the stall");
    }
}

/// What one turn of the loop found.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    Normal,
    /// The loop was away this long, past the stall limit: probation starts.
    Stalled(Duration),
    /// The pause after a stall is over.
    ProbationOver,
}

/// The zombie defence's clock: how long the loop was away between turns, and the pause after a
/// stall while librdkafka learns whether the partitions moved.
#[derive(Debug)]
struct StallWatch {
    last_turn: Instant,
    limit: Duration,
    pause: Duration,
    /// Intake is paused until then, after a stall.
    probation: Option<Instant>,
}

impl StallWatch {
    fn new(limit: Duration, pause: Duration, now: Instant) -> StallWatch {
        StallWatch { last_turn: now, limit, pause, probation: None }
    }

    /// Whether the loop's last turn was longer ago than the group membership is guaranteed.
    fn stalled_at(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_turn) > self.limit
    }

    fn on_probation(&self) -> bool {
        self.probation.is_some()
    }

    /// A turn of the loop at `now`.
    fn turn(&mut self, now: Instant) -> Turn {
        let gap = now.saturating_duration_since(self.last_turn);
        self.last_turn = now;
        match self.probation {
            None if gap > self.limit => {
                self.probation = Some(now + self.pause);
                Turn::Stalled(gap)
            }
            Some(until) if now >= until => {
                self.probation = None;
                Turn::ProbationOver
            }
            _ => Turn::Normal,
        }
    }
}

/// The inputs of a transaction by partition, as `P:FIRST-LAST,...`, for the late-commit report.
fn offset_ranges(inputs: &[Input]) -> String {
    let mut ranges: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    for input in inputs {
        let r = ranges.entry(input.partition).or_insert((input.offset, input.offset));
        *r = (r.0.min(input.offset), r.1.max(input.offset));
    }
    let parts: Vec<String> = ranges.iter().map(|(p, (first, last))| format!("{p}:{first}-{last}")).collect();
    parts.join(",")
}

/// librdkafka's own retry advice: a retriable error may be retried as it is.
fn retry(mut call: impl FnMut() -> Result<(), KafkaError>) -> Result<(), KafkaError> {
    let mut attempt = 0;
    loop {
        match call() {
            Err(KafkaError::Transaction(e)) if e.is_retriable() && attempt < RETRIES => attempt += 1,
            other => return other,
        }
    }
}

/// The broker lacks a transactional request (librdkafka checks its ApiVersions).
fn is_unsupported(error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(e) if e.code() == RDKafkaErrorCode::UnsupportedFeature)
}

fn is_fatal(error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(e) if e.is_fatal())
}

/// A producer with transactions initialised: a broker that is away is waited for, as the
/// consumer waits for it, until shutdown.
fn transactional_producer(
    kafka: &KafkaConfig,
    transactional_id: &str,
    cfg: &TransactionConfig,
    delivery_timeout_ms: u64,
    deliveries: &Arc<Deliveries>,
    shutdown: &AtomicBool,
) -> Result<BaseProducer<TxnContext>, ConsumeError> {
    let producer: BaseProducer<TxnContext> = kafka
        .transactional_producer(transactional_id, delivery_timeout_ms, OUTPUT_LINGER_MS)
        .create_with_context(TxnContext(Arc::clone(deliveries)))
        .map_err(|error| ConsumeError::Client { what: "transactional producer", error })?;
    let error = |source| ConsumeError::InitTransactions { transactional_id: transactional_id.to_string(), source };
    loop {
        let attempt = producer.init_transactions(INIT_ATTEMPT.min(cfg.op_timeout));
        deliveries.errors.check()?;
        match attempt {
            Ok(()) => return Ok(producer),
            Err(_) if shutdown.load(Ordering::Relaxed) => return Err(ConsumeError::Stopped),
            Err(KafkaError::Transaction(e)) if e.is_retriable() => {
                tracing::warn!(code = "transactions_waiting", error = %e, "waiting for the transaction coordinator");
            }
            Err(e) => return Err(error(e)),
        }
    }
}

impl CommitStrategy for Transactions {
    fn send(&mut self, _consumer: &dyn GroupConsumer, input: Input, output: Output<'_>) {
        self.rewind.entry(input.partition).or_insert(input.offset);
        if self.stalls.on_probation() {
            // Intake is paused; a message already on its way is read again after the pause.
            return;
        }
        if self.open.is_none() {
            let doomed = self.producer.begin_transaction().err().map(|e| format!("beginning a transaction: {e}"));
            self.open = Some(Open { began: Instant::now(), next: BTreeMap::new(), inputs: Vec::new(), doomed });
        }
        let Some(open) = self.open.as_mut() else { return };
        open.next.insert(input.partition, input.offset + 1);
        if open.doomed.is_none() {
            let topic = output.topic;
            let producer = &self.producer;
            let queued = send_when_room(
                |r| producer.send(r).err(),
                output.record(()),
                || {
                    producer.poll(Duration::from_millis(1));
                    true
                },
            );
            if let Err((e, _)) = queued {
                open.doomed = Some(format!("queueing an output for {topic}: {e}"));
            }
        }
        open.inputs.push(input);
    }

    fn tick(&mut self, consumer: &dyn GroupConsumer) -> Result<(), ConsumeError> {
        // Serves delivery reports.
        self.producer.poll(Duration::ZERO);
        self.deliveries.errors.check()?;
        match self.stalls.turn(Instant::now()) {
            Turn::Stalled(gap) => self.start_probation(consumer, gap),
            Turn::ProbationOver => self.end_probation(consumer),
            Turn::Normal => {}
        }
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn commit_due(&self, now: bool) -> bool {
        self.open.as_ref().is_some_and(|o| {
            now || o.doomed.is_some() || o.inputs.len() >= self.cfg.max_batch || o.began.elapsed() >= self.cfg.interval
        })
    }

    fn commit(&mut self, consumer: &dyn GroupConsumer) -> Result<(), ConsumeError> {
        self.commit_open(consumer);
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn pending(&self) -> usize {
        self.open.as_ref().map_or(0, |o| o.inputs.len())
    }

    fn at_boundary(&self) -> bool {
        self.open.is_none()
    }

    fn assign(&mut self, consumer: &dyn GroupConsumer, partitions: &[i32]) {
        // librdkafka keeps a partition's pause across unassign and assign: a partition paused
        // for a stall and given back by the rebalance that followed would never fetch again.
        // So a new assignment takes the current state: paused during a stall, running after.
        if let Err(e) = consumer.set_paused(&self.topic, Some(partitions), self.stalls.on_probation()) {
            tracing::warn!(error = %e, "setting the pause state of newly assigned partitions");
        }
    }

    fn revoke(&mut self, consumer: &dyn GroupConsumer, partitions: &[i32]) {
        // Whatever happens, the revoked partitions' next owner starts at the committed offset.
        self.rewind.retain(|p, _| !partitions.contains(p));
        if !self.stalls.on_probation() {
            self.commit_open(consumer);
        }
    }

    fn lose(&mut self, consumer: &dyn GroupConsumer, partitions: &[i32]) {
        self.rewind.retain(|p, _| !partitions.contains(p));
        if let Some(open) = self.open.take() {
            self.abort(consumer, open, "partitions lost");
        }
    }

    fn finish(&mut self, consumer: &dyn GroupConsumer, timeout: Duration) {
        if self.stalls.on_probation() {
            return;
        }
        let delivered = self.open.as_ref().is_some_and(|o| o.doomed.is_none())
            && flush(&self.producer, timeout.min(self.cfg.op_timeout));
        if delivered {
            return self.commit_open(consumer);
        }
        let Some(open) = self.open.take() else { return };
        // Outputs still undelivered after the drain timeout: nothing of this transaction may
        // commit. Purged, its abort does not wait for them; the gap the purge leaves in the
        // producer's sequence numbers does not matter, as this producer sends nothing more.
        self.producer.purge(PurgeConfig::default().queue().inflight());
        self.abort(consumer, open, "outputs still undelivered at the drain timeout (--drain-timeout-secs)");
    }

    fn tally(&mut self) -> &mut Tally {
        &mut self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(partition: i32, offset: i64) -> Input {
        Input {
            partition,
            offset,
            timestamp_ms: None,
            received: Instant::now(),
            wait_us: None,
            rows: 1,
            decisions: [1, 0, 0],
            dead_letter: None,
        }
    }

    #[test]
    fn a_gap_past_the_limit_starts_a_probation_that_ends_after_its_pause() {
        let (limit, pause) = (Duration::from_secs(4), Duration::from_millis(4_500));
        let t0 = Instant::now();
        let mut w = StallWatch::new(limit, pause, t0);
        assert_eq!(w.turn(t0 + Duration::from_secs(1)), Turn::Normal);
        assert!(!w.stalled_at(t0 + Duration::from_secs(5)), "4 s since the last turn is within the limit");
        assert!(w.stalled_at(t0 + Duration::from_millis(5_001)));
        // A freeze of 6 s between two turns.
        let thawed = t0 + Duration::from_secs(7);
        assert_eq!(w.turn(thawed), Turn::Stalled(Duration::from_secs(6)));
        assert!(w.on_probation());
        assert_eq!(w.turn(thawed + Duration::from_secs(1)), Turn::Normal, "still paused");
        // A second long gap during the pause does not start another.
        assert_eq!(w.turn(thawed + Duration::from_millis(4_400)), Turn::Normal);
        assert_eq!(w.turn(thawed + pause), Turn::ProbationOver);
        assert!(!w.on_probation());
        assert_eq!(w.turn(thawed + pause + Duration::from_millis(10)), Turn::Normal);
    }

    #[test]
    fn a_late_commit_names_its_inputs_by_partition() {
        let inputs = [input(1, 299), input(0, 7), input(1, 316), input(1, 300), input(0, 7)];
        assert_eq!(offset_ranges(&inputs), "0:7-7,1:299-316");
        assert_eq!(offset_ranges(&[]), "");
    }
}
