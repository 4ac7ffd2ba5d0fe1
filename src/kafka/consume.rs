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

use crate::decision::{Policy, ReasonsFor};
use crate::kafka::at_least_once::OffsetStore;
use crate::kafka::commit::{CommitStrategy, ScoringConsumer};
use crate::kafka::config::KafkaConfig;
use crate::kafka::exactly_once::{TransactionConfig, Transactions};
use crate::kafka::reload::ModelReloader;
use crate::kafka::scorer::Scorer;
use crate::kafka::summary::Summary;
use crate::model::FraudModel;
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
    /// Stop once every assigned partition is handled to its end and committed.
    pub exit_at_end: bool,
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
}

/// What a downstream reader may count on after a crash.
#[derive(Debug, Clone)]
pub enum Guarantee {
    /// Every input's output is written at least once.
    AtLeastOnce,
    /// Every input's output is visible to a `read_committed` reader exactly once.
    ExactlyOnce(TransactionConfig),
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("creating the Kafka {what}: {source}")]
    Client { what: &'static str, source: KafkaError },
    #[error("subscribing to {topic}: {source}")]
    Subscribe { topic: String, source: KafkaError },
    // The source is printed by the error chain.
    #[error("initialising transactions as {transactional_id}")]
    InitTransactions { transactional_id: String, source: KafkaError },
    #[error(
        "the producer was fenced again and again: another process uses transactional.id \
         {transactional_id} (give each consumer its own --instance-id)"
    )]
    Fenced { transactional_id: String, source: KafkaError },
    #[error(
        "{what}: the broker does not support Kafka transactions, so --exactly-once cannot work \
         there (run without it, or on a broker that implements EndTxn)"
    )]
    TransactionsUnsupported { what: String, source: KafkaError },
    /// Shutdown was asked for before the consumer could start.
    #[error("stopped before the start")]
    Stopped,
}

/// State shared by the poll loop and the rebalance callback.
struct Pipeline {
    commit: Box<dyn CommitStrategy>,
    assigned: HashSet<i32>,
    at_end: HashSet<i32>,
}

impl Pipeline {
    fn all_at_end(&self) -> bool {
        !self.assigned.is_empty() && self.assigned.iter().all(|p| self.at_end.contains(p))
    }
}

pub struct ScoringContext {
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
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            let mut p = lock(&self.pipeline);
            if consumer.assignment_lost() {
                tracing::warn!(?revoked, "partitions lost (session or poll interval missed): uncommitted work is dropped");
                p.commit.lose(consumer, &revoked);
            } else {
                tracing::info!(?revoked, "partitions revoked: finishing in-flight work and committing");
                p.commit.revoke(consumer, &revoked);
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
                p.commit.assign(consumer, &parts);
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

/// Runs until `max_messages`, the end of the partitions (`exit_at_end`) or `shutdown`.
pub fn consume(
    cfg: &ConsumeConfig,
    model: FraudModel,
    policy: Policy,
    metrics: Arc<ConsumerMetrics>,
    shutdown: Arc<AtomicBool>,
    mut reloader: ModelReloader,
) -> Result<Summary, ConsumeError> {
    let exactly_once = matches!(cfg.guarantee, Guarantee::ExactlyOnce(_));
    let commit: Box<dyn CommitStrategy> = match &cfg.guarantee {
        Guarantee::AtLeastOnce => {
            Box::new(OffsetStore::new(&cfg.kafka, &cfg.topic, cfg.delivery_timeout_ms, Arc::clone(&metrics))?)
        }
        Guarantee::ExactlyOnce(txn) => {
            match Transactions::new(&cfg.kafka, &cfg.topic, txn.clone(), cfg.delivery_timeout_ms, Arc::clone(&metrics), Arc::clone(&shutdown)) {
                Ok(t) => Box::new(t),
                // SIGTERM while waiting for the broker: nothing was taken, a clean exit.
                Err(ConsumeError::Stopped) => return Ok(Summary::default()),
                Err(e) => return Err(e),
            }
        }
    };
    let pipeline = Arc::new(Mutex::new(Pipeline { commit, assigned: HashSet::new(), at_end: HashSet::new() }));
    let context = ScoringContext { pipeline: Arc::clone(&pipeline), metrics: Arc::clone(&metrics), topic: cfg.topic.clone() };
    let consumer: ScoringConsumer = cfg
        .kafka
        .consumer(&cfg.group, cfg.exit_at_end, cfg.stats_interval_ms, cfg.commit_interval, exactly_once)
        .create_with_context(context)
        .map_err(|source| ConsumeError::Client { what: "consumer", source })?;
    consumer
        .subscribe(&[&cfg.topic])
        .map_err(|source| ConsumeError::Subscribe { topic: cfg.topic.clone(), source })?;
    tracing::info!(
        topic = %cfg.topic, group = %cfg.group, output = %cfg.output_topic, dead_letters = %cfg.dlq_topic,
        model = model.version(), guarantee = if exactly_once { "exactly once" } else { "at least once" }, "consuming"
    );

    let mut scorer = Scorer::new(
        model,
        policy,
        cfg.reasons_for,
        cfg.max_message_bytes,
        &cfg.output_topic,
        &cfg.dlq_topic,
        cfg.log_messages,
        Arc::clone(&metrics),
    );
    let mut kept: Option<BorrowedMessage<'_>> = None;
    let mut last_wait_log = Instant::now();
    let result = loop {
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
        let stopping = max_reached || (cfg.exit_at_end && kept.is_none() && p.all_at_end());
        if stopping && pending == 0 {
            break Ok(());
        }
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
        if stopping || pending >= cfg.max_in_flight {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        if boundary {
            if let Some((model, policy)) = reloader.poll(&scorer.model, &scorer.policy, &metrics) {
                scorer.model = model;
                scorer.policy = policy;
            }
        }
        let polled = match kept.take() {
            Some(msg) => Some(Ok(msg)),
            None => consumer.poll(Duration::from_millis(50)),
        };
        match polled {
            None => {}
            Some(Ok(msg)) => {
                let mut p = lock(&pipeline);
                p.commit.tally().summary.message_received();
                p.at_end.remove(&msg.partition());
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
    match result {
        // Shutdown while a new producer waited for the broker: nothing is open to finish.
        Err(ConsumeError::Stopped) => return Ok(std::mem::take(&mut lock(&pipeline).commit.tally().summary)),
        other => other?,
    }
    let mut p = lock(&pipeline);
    p.commit.finish(&consumer, cfg.drain_timeout);
    let summary = std::mem::take(&mut p.commit.tally().summary);
    drop(p);
    consumer.unsubscribe();
    Ok(summary)
}
