//! The Kafka commands' flags: `fraud produce`, `consume` and `read`, and the connection
//! settings they share.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{BandArgs, ConfigError};
use crate::decision::ReasonsFor;
use crate::stream::client::{HEARTBEAT_INTERVAL_MS, KafkaConfig, SESSION_TIMEOUT_MS, parse_property};
use crate::stream::consume::{ConsumeConfig, Guarantee};
use crate::stream::exactly_once::{Identity, TransactionConfig};
use crate::stream::produce::ProduceConfig;

#[derive(Debug, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Topic to print.
    #[arg(short, long, default_value = "test-scores")]
    pub topic: String,
    /// Stop at the end of every partition.
    #[arg(short, long)]
    pub exit_at_end: bool,
    /// Print each record's headers too (dead letters carry their error there).
    #[arg(long)]
    pub headers: bool,
    /// Stop after N records.
    #[arg(long)]
    pub max_messages: Option<u64>,
}

impl ReadArgs {
    pub fn config(&self) -> Result<crate::stream::read::ReadConfig, ConfigError> {
        Ok(crate::stream::read::ReadConfig {
            kafka: self.kafka.config()?,
            topic: self.topic.clone(),
            exit_at_end: self.exit_at_end,
            headers: self.headers,
            max_messages: self.max_messages,
        })
    }
}

#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Bootstrap brokers, host:port[,host:port...].
    #[arg(short, long, env = "FRAUD_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// A librdkafka property, passed through as kcat does (repeatable): -X security.protocol=SSL.
    /// Consumer- or producer-only properties go to that client only.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_property)]
    pub property: Vec<(String, String)>,
}

impl KafkaArgs {
    fn config(&self) -> Result<KafkaConfig, ConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(ConfigError("--brokers must name at least one broker".into()));
        }
        Ok(KafkaConfig { brokers: self.brokers.clone(), properties: self.property.clone() })
    }
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Topic to send to.
    #[arg(short, long, env = "FRAUD_TOPIC", default_value = "test")]
    pub topic: String,
    /// Transactions, CSV (plain or gzip) or Parquet: every column is sent but the label and
    /// --exclude's; rows are reused in a cycle when --count exceeds them.
    #[arg(
        long = "data",
        visible_alias = "csv",
        env = "FRAUD_DATA",
        value_name = "FILE",
        default_value = "data/sample.csv"
    )]
    pub csv: PathBuf,
    /// The label column, not sent.
    #[arg(long, value_name = "COL", default_value = crate::schema::LABEL_NAME)]
    pub label: String,
    /// Columns not sent.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', default_value = "Time")]
    pub exclude: Vec<String>,
    /// Messages to send [default: 6; with --spec, every event of the file].
    #[arg(short, long)]
    pub count: Option<u64>,
    /// A feature spec: replay the file's raw events in event-time order, keyed by the spec's
    /// first entity and stamped with their time, and each label to --labels-topic when it
    /// becomes known (its time plus the spec's delay).
    #[arg(long, value_name = "SPEC.toml", help_heading = "Raw events")]
    pub spec: Option<PathBuf>,
    /// Where --spec sends the labels [default: <topic>-labels].
    #[arg(long, value_name = "TOPIC", help_heading = "Raw events")]
    pub labels_topic: Option<String>,
    /// Rows per message.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Messages per second (default: as fast as the broker takes them).
    #[arg(long)]
    pub rate: Option<f64>,
    /// How long librdkafka may retry one message before it counts as undelivered.
    #[arg(long, default_value_t = 30_000)]
    pub delivery_timeout_ms: u64,
}

impl ProduceArgs {
    /// A replay with --spec, else the tutorial's producer.
    pub fn task(&self) -> Result<super::Task, ConfigError> {
        let Some(spec) = &self.spec else { return Ok(super::Task::Produce(self.config()?)) };
        if self.batch != 1 {
            return Err(ConfigError("--batch does not go with --spec: a replay sends one event per message".into()));
        }
        let spec = crate::features::Spec::read(spec).map_err(|e| ConfigError(format!("{e:#}")))?;
        let plain = self.config()?;
        Ok(super::Task::Replay(crate::stream::replay::ReplayConfig {
            kafka: plain.kafka,
            labels_topic: self.labels_topic.clone().unwrap_or_else(|| format!("{}-labels", self.topic)),
            topic: plain.topic,
            csv: plain.csv,
            spec: std::sync::Arc::new(spec),
            count: self.count,
            rate: plain.rate,
            delivery_timeout_ms: plain.delivery_timeout_ms,
        }))
    }

    pub fn config(&self) -> Result<ProduceConfig, ConfigError> {
        if self.batch == 0 {
            return Err(ConfigError("--batch must be at least 1".into()));
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(ConfigError(format!("--rate must be a positive number, got {rate}")));
        }
        if self.topic.is_empty() {
            return Err(ConfigError("--topic must not be empty".into()));
        }
        Ok(ProduceConfig {
            kafka: self.kafka.config()?,
            topic: self.topic.clone(),
            csv: self.csv.clone(),
            label: self.label.clone(),
            exclude: self.exclude.clone(),
            count: self.count.unwrap_or(6),
            batch: self.batch,
            rate: self.rate,
            delivery_timeout_ms: self.delivery_timeout_ms,
        })
    }
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Topic of transactions to score.
    #[arg(short, long, env = "FRAUD_TOPIC", default_value = "test")]
    pub topic: String,
    /// Model directory written by `fraud train`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// For a model whose features read labels (its feature spec): the topic they come from
    /// [default: <topic>-labels].
    #[arg(long, value_name = "TOPIC")]
    pub labels_topic: Option<String>,
    /// Consumer group; processes in one group share the partitions.
    #[arg(short, long, env = "FRAUD_GROUP", default_value = "fraud-scorer")]
    pub group: String,
    /// Topic for score records [default: <topic>-scores].
    #[arg(long, env = "FRAUD_OUTPUT_TOPIC")]
    pub output_topic: Option<String>,
    /// Topic for messages that cannot be scored [default: <topic>-dlq].
    #[arg(long, env = "FRAUD_DLQ_TOPIC")]
    pub dlq_topic: Option<String>,
    /// Stop after N inputs are handled and committed.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Stop once the group has processed every partition of the topic to its end, this
    /// process's and the other members' alike (as kcat -e, for a group). Exits 1 when that
    /// does not happen within --exit-timeout-secs of waiting with nothing to do here.
    #[arg(short, long)]
    pub exit_at_end: bool,
    /// With --exit-at-end: how long to wait, with nothing left to do here, for partitions that
    /// other members hold (one that is gone keeps them until its session times out).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub exit_timeout_secs: u64,
    /// Print the closing summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Largest message scored; larger ones are dead-lettered.
    #[arg(long, default_value_t = crate::wire::DEFAULT_MAX_BYTES)]
    pub max_message_bytes: usize,
    /// Inputs whose outputs may await delivery (or, exactly once, the commit) at once before
    /// reading pauses.
    #[arg(long, default_value_t = 100_000)]
    pub max_in_flight: usize,
    /// How long librdkafka retries one output before the consumer retries it itself.
    #[arg(long, default_value_t = 30_000)]
    pub delivery_timeout_ms: u64,
    /// On shutdown, how long to wait for in-flight outputs before committing what is done
    /// (exactly once: before committing the open transaction, which is aborted if any of its
    /// outputs is still undelivered then).
    #[arg(long, default_value_t = 30)]
    pub drain_timeout_secs: u64,
    /// librdkafka statistics interval (consumer lag metrics); 0 turns them off.
    #[arg(long, default_value_t = 5_000)]
    pub stats_interval_ms: u64,
    /// Serve Prometheus metrics on this address (GET /metrics), e.g. 127.0.0.1:9100.
    #[arg(long, env = "FRAUD_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Swap in the model when --model-dir's model.json changes (checked every second). SIGHUP
    /// reloads it at any time.
    #[arg(long)]
    pub watch_model: bool,
    /// Exactly once: write score records and dead letters in Kafka transactions together with
    /// the input offsets they cover, so a read_committed reader sees each input's output once,
    /// crashes or not. Without it, at least once: after a crash, up to --commit-interval-ms of
    /// work may be written twice.
    #[arg(long, env = "FRAUD_EXACTLY_ONCE")]
    pub exactly_once: bool,
    /// How often input offsets are committed (at least once) or transactions are committed
    /// (exactly once; sooner when --max-in-flight inputs are in one).
    #[arg(long, env = "FRAUD_COMMIT_INTERVAL_MS", default_value_t = 100)]
    pub commit_interval_ms: u64,
    #[command(flatten)]
    pub bands: BandArgs,
    /// Which rows' score records carry reasons: those sent to review or declined, or every row.
    #[arg(long, value_enum, default_value_t = ReasonsFor::Flagged)]
    pub reasons: ReasonsFor,
    /// The input field whose values score records carry as "ids" [default: the model's id column].
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
    /// This process's stable name within its group, for --exactly-once: the transactional.id
    /// is fraud-<group>-<instance-id>, so a restarted consumer fences its previous life and
    /// aborts what it left open. [default: -X group.instance.id if set, else an id kept in a
    /// slot of --state-dir]. `-X transactional.id=...` overrides the whole id.
    #[arg(long, env = "FRAUD_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Where each process keeps its instance id, per group, in a slot locked while it runs:
    /// processes on one host take distinct slots, and a restarted one takes its old slot back.
    /// [default: $XDG_CACHE_HOME/fraud/state, else ~/.cache/fraud/state]
    #[arg(long, env = "FRAUD_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Bound on one transactional call (init, send offsets, commit, abort).
const TRANSACTION_OP_TIMEOUT: Duration = Duration::from_secs(30);

/// The state directory when --state-dir is not given: under the user's cache, as the XDG base
/// directory spec places data that can be made again.
fn default_state_dir() -> Option<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    Some(cache.join("fraud").join("state"))
}

impl ConsumeArgs {
    pub fn config(&self, log_messages: bool) -> Result<ConsumeConfig, ConfigError> {
        if self.topic.is_empty() || self.group.is_empty() {
            return Err(ConfigError("--topic and --group must not be empty".into()));
        }
        let output_topic = self.output_topic.clone().unwrap_or_else(|| format!("{}-scores", self.topic));
        let dlq_topic = self.dlq_topic.clone().unwrap_or_else(|| format!("{}-dlq", self.topic));
        if output_topic == self.topic || dlq_topic == self.topic {
            return Err(ConfigError("the output and dead-letter topics must differ from the input topic".into()));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError("--max-in-flight must be at least 1".into()));
        }
        if self.commit_interval_ms == 0 {
            return Err(ConfigError("--commit-interval-ms must be at least 1".into()));
        }
        let commit_interval = Duration::from_millis(self.commit_interval_ms);
        let guarantee = if self.exactly_once {
            Guarantee::ExactlyOnce(self.transactions(commit_interval)?)
        } else {
            Guarantee::AtLeastOnce
        };
        Ok(ConsumeConfig {
            kafka: self.kafka.config()?,
            topic: self.topic.clone(),
            group: self.group.clone(),
            output_topic,
            dlq_topic,
            max_messages: self.max_messages,
            exit_at_end: self.exit_at_end.then(|| Duration::from_secs(self.exit_timeout_secs)),
            labels_topic: self.labels_topic.clone().unwrap_or_else(|| format!("{}-labels", self.topic)),
            log_messages,
            max_message_bytes: self.max_message_bytes,
            max_in_flight: self.max_in_flight,
            delivery_timeout_ms: self.delivery_timeout_ms,
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
            stats_interval_ms: self.stats_interval_ms,
            commit_interval,
            guarantee,
            reasons_for: self.reasons,
            id: self.id.clone(),
            model_dir: self.model_dir.clone(),
            overrides: self.bands.overrides()?,
            watch_model: self.watch_model.then_some(Duration::from_secs(1)),
            metrics_addr: self.metrics_addr,
        })
    }

    /// The -X property `key` as a number of milliseconds, or librdkafka's default.
    fn property_ms(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        match self.kafka.property.iter().rev().find(|(k, _)| k == key) {
            None => Ok(default),
            Some((_, v)) => v.trim().parse().map_err(|_| ConfigError(format!("-X {key}={v}: expected milliseconds"))),
        }
    }

    fn transactions(&self, interval: Duration) -> Result<TransactionConfig, ConfigError> {
        let property = |key: &str| self.kafka.property.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let identity =
            match (property("transactional.id"), self.instance_id.clone().or_else(|| property("group.instance.id"))) {
                (Some(id), _) if id.trim().is_empty() => {
                    return Err(ConfigError("-X transactional.id must not be empty".into()));
                }
                (Some(id), _) => Identity::TransactionalId(id),
                (None, Some(instance)) if instance.trim().is_empty() => {
                    return Err(ConfigError("--instance-id must not be empty".into()));
                }
                (None, Some(instance)) => Identity::Instance(instance),
                (None, None) => match self.state_dir.clone().or_else(default_state_dir) {
                    Some(dir) => Identity::StateDir(dir),
                    None => {
                        return Err(ConfigError(
                            "--exactly-once needs --state-dir or --instance-id: neither XDG_CACHE_HOME nor HOME is set"
                                .into(),
                        ));
                    }
                },
            };
        let session = self.property_ms("session.timeout.ms", SESSION_TIMEOUT_MS)?;
        let heartbeat = self.property_ms("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS)?;
        // A member that sent its last heartbeat just before a stall is evicted once the
        // session times out: the stall that may cost the membership is session - heartbeat.
        let stall_limit = Duration::from_millis(session.saturating_sub(heartbeat).max(1_000));
        if interval >= stall_limit {
            return Err(ConfigError(format!(
                "--commit-interval-ms {} must be shorter than session.timeout.ms - heartbeat.interval.ms ({} ms)",
                interval.as_millis(),
                stall_limit.as_millis()
            )));
        }
        Ok(TransactionConfig {
            identity,
            interval,
            max_batch: self.max_in_flight,
            stall_limit,
            probation: Duration::from_millis(2 * heartbeat + 500),
            op_timeout: TRANSACTION_OP_TIMEOUT,
        })
    }
}
