//! `fraud consume`: read transactions from a topic, score them in-process, write one score
//! record per input to the output topic and every bad input to the dead-letter topic.
//!
//! One loop, whatever the guarantee: poll a message, score it ([`Scorer`]), hand its output to
//! the [`CommitStrategy`] (at least once: [`OffsetStore`]; exactly once: [`Transactions`]),
//! and commit when the strategy says so, after serving pending rebalance events. Rebalances
//! reach the strategy from librdkafka's callback, which runs inside this loop's `poll`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::decision::{ModelDir, Overrides, ReasonsFor};
use crate::stream::at_least_once::OffsetStore;
use crate::stream::client::{ClientErrors, KafkaConfig};
use crate::stream::commit::{CommitStrategy, GroupConsumer};
pub use crate::stream::error::ConsumeError;
use crate::stream::exactly_once::{TransactionConfig, Transactions};
use crate::stream::progress::{AtEnd, ExitAtEnd, GroupProgress};
use crate::stream::reload::ModelReloader;
use crate::stream::scorer::Scorer;
use crate::stream::stateful::Stateful;
use crate::stream::summary::Summary;
use crate::telemetry::{ConsumerMetrics, PartitionLabel};

#[derive(Debug, Clone)]
pub struct ConsumeConfig {
    pub kafka: KafkaConfig,
    pub topic: String,
    pub group: String,
    pub output_topic: String,
    pub dlq_topic: String,
    /// Stop after this many inputs are handled and committed.
    pub max_messages: Option<u64>,
    /// Stop once the group has processed every partition of the topic to its end, waiting at
    /// most this long with nothing to do here (`--exit-at-end`, `--exit-timeout`).
    pub exit_at_end: Option<Duration>,
    /// Log every input and result at info level, as the tutorial's worker did.
    pub log_messages: bool,
    pub max_message_bytes: usize,
    /// Inputs whose outputs may be undelivered (or uncommitted) at once before intake pauses.
    pub max_in_flight: usize,
    /// librdkafka's own retry window for one output delivery.
    pub delivery_timeout_ms: u64,
    /// How long shutdown waits for in-flight outputs.
    pub drain_timeout: Duration,
    pub stats_interval_ms: u64,
    /// How often offsets (at least once) or transactions (exactly once) are committed.
    pub commit_interval: Duration,
    pub guarantee: Guarantee,
    pub reasons_for: ReasonsFor,
    /// The input field carried as each row's id in the score records; the model's id column
    /// without it.
    pub id: Option<String>,
    /// Where the labels come from, for a model whose features read them.
    pub labels_topic: String,
    /// The model directory, and the band thresholds given as flags over its own.
    pub model_dir: PathBuf,
    pub overrides: Overrides,
    /// How often to look for a retrained model or a new policy (`--watch-model`); SIGHUP
    /// reloads at any time.
    pub watch_model: Option<Duration>,
    /// Where to serve Prometheus metrics.
    pub metrics_addr: Option<SocketAddr>,
}

/// What a downstream reader may count on after a crash.
#[derive(Debug, Clone)]
pub enum Guarantee {
    /// Every input's output is written at least once.
    AtLeastOnce,
    /// Every input's output is visible to a `read_committed` reader exactly once.
    ExactlyOnce(TransactionConfig),
}

/// The scoring loop's consumer.
pub type ScoringConsumer = BaseConsumer<ScoringContext>;

/// State shared by the poll loop and the rebalance callback.
struct Pipeline {
    commit: Box<dyn CommitStrategy>,
    assigned: HashSet<i32>,
    at_end: HashSet<i32>,
}

impl Pipeline {
    /// Whether every partition assigned here (if any) is read to its end.
    fn own_at_end(&self) -> bool {
        self.assigned.iter().all(|p| self.at_end.contains(p))
    }
}

pub struct ScoringContext {
    pipeline: Arc<Mutex<Pipeline>>,
    metrics: Arc<ConsumerMetrics>,
    errors: ClientErrors,
    topic: String,
}

fn lock(p: &Mutex<Pipeline>) -> MutexGuard<'_, Pipeline> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ClientContext for ScoringContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.report(&error, reason);
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
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            let mut p = lock(&self.pipeline);
            if consumer.assignment_lost() {
                tracing::warn!(
                    ?revoked,
                    "partitions lost (session or poll interval missed): uncommitted work is dropped"
                );
                p.commit.lose(consumer as &dyn GroupConsumer, &revoked);
            } else {
                tracing::info!(?revoked, "partitions revoked: finishing in-flight work and committing");
                p.commit.revoke(consumer as &dyn GroupConsumer, &revoked);
            }
            for partition in &revoked {
                p.assigned.remove(partition);
                p.at_end.remove(partition);
            }
            self.metrics.rebalances.inc();
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(topic = %self.topic, partitions = ?parts, "partitions assigned");
                let mut p = lock(&self.pipeline);
                p.commit.assign(consumer as &dyn GroupConsumer, &parts);
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

/// Serves the consumer's pending events (rebalances above all) without taking a message
/// from under the commit: a message that comes back is kept for the next turn. librdkafka
/// pauses fetching before it queues a rebalance, so no message hides one.
fn serve_events<'c>(consumer: &'c ScoringConsumer, pipeline: &Mutex<Pipeline>, kept: &mut Option<BorrowedMessage<'c>>) {
    if kept.is_some() {
        return;
    }
    match consumer.poll(Duration::ZERO) {
        None => {}
        Some(Ok(msg)) => *kept = Some(msg),
        Some(Err(KafkaError::PartitionEOF(partition))) => {
            lock(pipeline).at_end.insert(partition);
        }
        Some(Err(e)) => tracing::warn!(code = "consumer_error", error = %e, "consumer error; librdkafka retries"),
    }
}

/// Runs until `max_messages`, the end of the topic (`exit_at_end`) or `shutdown`.
pub fn consume(
    cfg: &ConsumeConfig,
    dir: ModelDir,
    metrics: Arc<ConsumerMetrics>,
    shutdown: Arc<AtomicBool>,
    mut reloader: ModelReloader,
) -> Result<Summary, ConsumeError> {
    let errors = ClientErrors::default();
    // First: a spec the stream cannot compute, or a missing labels topic, stops it at the start.
    let stateful = match dir.model.spec() {
        Some(spec) => Some(
            Stateful::new(&cfg.kafka, &cfg.topic, &cfg.labels_topic, Arc::clone(spec)).map_err(ConsumeError::State)?,
        ),
        None => None,
    };
    let exactly_once = matches!(cfg.guarantee, Guarantee::ExactlyOnce(_));
    // Held to the end: the state directory's slot that keeps our transactional.id ours.
    let mut _slot = None;
    let commit: Box<dyn CommitStrategy> = match &cfg.guarantee {
        Guarantee::AtLeastOnce => Box::new(OffsetStore::new(
            &cfg.kafka,
            &cfg.topic,
            cfg.delivery_timeout_ms,
            Arc::clone(&metrics),
            errors.clone(),
        )?),
        Guarantee::ExactlyOnce(txn) => {
            let (transactional_id, slot) = txn.identity.resolve(&cfg.group)?;
            _slot = slot;
            let made = Transactions::new(
                &cfg.kafka,
                &cfg.topic,
                txn.clone(),
                transactional_id,
                cfg.delivery_timeout_ms,
                Arc::clone(&metrics),
                errors.clone(),
                Arc::clone(&shutdown),
            );
            match made {
                Ok(t) => Box::new(t),
                // SIGTERM while waiting for the broker: nothing was taken, a clean exit.
                Err(ConsumeError::Stopped) => return Ok(Summary::default()),
                Err(e) => return Err(e),
            }
        }
    };
    let pipeline = Arc::new(Mutex::new(Pipeline { commit, assigned: HashSet::new(), at_end: HashSet::new() }));
    let context = ScoringContext {
        pipeline: Arc::clone(&pipeline),
        metrics: Arc::clone(&metrics),
        errors: errors.clone(),
        topic: cfg.topic.clone(),
    };
    let consumer: ScoringConsumer = cfg
        .kafka
        .consumer(&cfg.group, cfg.exit_at_end.is_some(), cfg.stats_interval_ms, cfg.commit_interval, exactly_once)
        .create_with_context(context)
        .map_err(|error| ConsumeError::Client { what: "consumer", error })?;
    let mut exit_at_end = match cfg.exit_at_end {
        Some(timeout) => Some(ExitAtEnd::new(
            GroupProgress::new(&cfg.kafka, &cfg.group, &cfg.topic, errors.clone())
                .map_err(|error| ConsumeError::Client { what: "progress probe", error })?,
            timeout,
        )),
        None => None,
    };
    if exit_at_end.as_mut().is_some_and(|end| end.done_before_start()) {
        tracing::info!(topic = %cfg.topic, group = %cfg.group, "every partition was already processed to its end");
        return Ok(Summary::default());
    }
    consumer.subscribe(&[&cfg.topic]).map_err(|error| ConsumeError::Subscribe { topic: cfg.topic.clone(), error })?;
    tracing::info!(
        topic = %cfg.topic, group = %cfg.group, output = %cfg.output_topic, dead_letters = %cfg.dlq_topic,
        model = dir.model.version(), guarantee = if exactly_once { "exactly once" } else { "at least once" }, "consuming"
    );

    let mut scorer = Scorer::new(
        dir,
        cfg.reasons_for,
        cfg.id.clone(),
        cfg.max_message_bytes,
        &cfg.output_topic,
        &cfg.dlq_topic,
        cfg.log_messages,
        Arc::clone(&metrics),
        stateful,
    );
    let mut kept: Option<BorrowedMessage<'_>> = None;
    let mut last_wait_log = Instant::now();
    let result = loop {
        if let Err(e) = errors.check() {
            break Err(e.into());
        }
        let mut p = lock(&pipeline);
        if let Err(e) = p.commit.tick(&consumer) {
            break Err(e);
        }
        if shutdown.load(Ordering::Relaxed) {
            tracing::info!("shutdown requested: draining in-flight outputs");
            break Ok(());
        }
        let pending = p.commit.pending();
        let taken = p.commit.tally().summary.inputs + pending as u64;
        let max_reached = cfg.max_messages.is_some_and(|n| taken >= n);
        if max_reached {
            // Not taken: it is read again from the committed offset by whoever comes next.
            kept = None;
        }
        // Nothing left here: every partition assigned here is read to its end.
        let own_at_end = exit_at_end.is_some() && kept.is_none() && p.own_at_end();
        if pending == 0 && max_reached {
            break Ok(());
        }
        if let Some(end) = exit_at_end.as_mut().filter(|e| own_at_end && pending == 0 && e.due()) {
            if !p.assigned.is_empty() {
                p.commit.settle(&consumer);
            }
            let assigned = p.assigned.clone();
            drop(p);
            match end.check(&assigned) {
                AtEnd::Done => break Ok(()),
                AtEnd::GaveUp(left) => {
                    let (topic, group) = (cfg.topic.clone(), cfg.group.clone());
                    break Err(ConsumeError::Unfinished {
                        topic,
                        group,
                        waited: cfg.exit_at_end.unwrap_or_default(),
                        left,
                    });
                }
                AtEnd::Wait => {}
            }
            p = lock(&pipeline);
        }
        let stopping = max_reached || own_at_end;
        if p.assigned.is_empty() && last_wait_log.elapsed() > Duration::from_secs(10) {
            tracing::info!(topic = %cfg.topic, group = %cfg.group, "waiting for a partition assignment");
            last_wait_log = Instant::now();
        }
        let due = p.commit.commit_due(stopping);
        let boundary = p.commit.at_boundary();
        // The lock is released from here on: a rebalance callback inside poll takes it.
        drop(p);
        if due {
            serve_events(&consumer, &pipeline, &mut kept);
            if let Err(e) = lock(&pipeline).commit.commit(&consumer) {
                break Err(e);
            }
            continue;
        }
        if (stopping && pending > 0) || pending >= cfg.max_in_flight {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        if boundary && let Some(dir) = reloader.poll(&scorer.dir, &metrics) {
            scorer.dir = dir;
        }
        let polled = match kept.take() {
            Some(msg) => Some(Ok(msg)),
            None => consumer.poll(Duration::from_millis(50)),
        };
        match polled {
            None => {}
            Some(Ok(msg)) => {
                if let Some(end) = exit_at_end.as_mut() {
                    end.busy();
                }
                let mut p = lock(&pipeline);
                p.commit.tally().summary.message_received();
                p.at_end.remove(&msg.partition());
                if let Err(e) = scorer.prepare(&msg) {
                    break Err(ConsumeError::State(e));
                }
                let (input, output) = scorer.score(&msg);
                p.commit.send(&consumer, input, output);
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
    };
    drop(kept);
    let unfinished = match result {
        // Shutdown while a new producer waited for the broker: nothing is open to finish.
        Err(ConsumeError::Stopped) => return Ok(std::mem::take(&mut lock(&pipeline).commit.tally().summary)),
        // Our own work is done and committed; the error is for the exit code.
        Err(e @ ConsumeError::Unfinished { .. }) => Some(e),
        Err(e) => return Err(e),
        Ok(()) => None,
    };
    let mut p = lock(&pipeline);
    p.commit.finish(&consumer, cfg.drain_timeout);
    let summary = std::mem::take(&mut p.commit.tally().summary);
    drop(p);
    consumer.unsubscribe();
    match unfinished {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}
