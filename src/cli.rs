//! Command-line flags (clap) and their conversion into validated configs. Nothing outside this
//! file reads argv or the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use std::time::Duration;

use crate::evaluate::EvaluateConfig;
use crate::kafka::config::{KafkaConfig, parse_property};
use crate::kafka::consume::{ConsumeConfig, Guarantee};
use crate::kafka::exactly_once::TransactionConfig;
use crate::kafka::produce::ProduceConfig;
use crate::boost::BoostOptions;
use crate::decision::{Overrides, ReasonsFor};
use crate::fit::FitOptions;
use crate::train::{TrainConfig, Trainer};

/// A configuration the user has to fix: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Parser)]
#[command(name = "fraud", version, about = "Real-time credit-card fraud scoring on Kafka", long_about = None)]
pub struct Cli {
    /// Log filter, as RUST_LOG (e.g. `info`, `warn`, `fraud=debug,rdkafka=info`).
    #[arg(long, global = true, env = "FRAUD_LOG", default_value = "info")]
    pub log: String,

    /// Log warnings and errors only (overrides --log).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour in the log: `auto` colours only when stderr is a terminal and NO_COLOR is unset
    /// or empty.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReasonsChoice {
    /// Rows sent to review or declined.
    Flagged,
    /// Every row.
    All,
    /// No row: decisions only.
    None,
}

impl From<ReasonsChoice> for ReasonsFor {
    fn from(c: ReasonsChoice) -> ReasonsFor {
        match c {
            ReasonsChoice::Flagged => ReasonsFor::Flagged,
            ReasonsChoice::All => ReasonsFor::Every,
            ReasonsChoice::None => ReasonsFor::Nothing,
        }
    }
}

/// The decision thresholds given as flags: checked here, applied over the model's bands.
fn overrides(review: Option<f64>, decline: Option<f64>) -> Result<Overrides, ConfigError> {
    for (name, v) in [("--review-threshold", review), ("--decline-threshold", decline)] {
        if v.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(ConfigError(format!("{name} must be in (0, 1]")));
        }
    }
    Ok(Overrides { review_threshold: review, decline_threshold: decline })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelChoice {
    /// Logistic regression (linfa), scikit-learn's model.
    Logistic,
    /// Gradient-boosted trees (forust-ml).
    Gbdt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl Cli {
    /// The log's filter and whether it is coloured: the one place that looks at the terminal
    /// and at NO_COLOR (https://no-color.org: set and not empty means no colour).
    pub fn logging(&self) -> crate::telemetry::LogConfig {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let colour = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && stderr_is_terminal(),
        };
        let filter = if self.quiet { "warn".to_string() } else { self.log.clone() };
        crate::telemetry::LogConfig { filter, colour }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit a model (logistic regression or gradient-boosted trees) on a labelled CSV and save it
    /// to a model directory.
    Train(TrainArgs),
    /// Score a labelled CSV with a saved model and print its metrics.
    Evaluate(EvaluateArgs),
    /// Turn a LightGBM text model (booster.save_model) into a fraud model directory.
    Import(ImportArgs),
    /// Write a gradient-boosted trees model as a LightGBM text model.
    Export(ExportArgs),
    /// Each row's fraud probability, decision and reasons, for a CSV labelled or not.
    Explain(ExplainArgs),
    /// Send transactions from a CSV to a topic as JSON messages (MLflow split layout).
    Produce(ProduceArgs),
    /// Score every message of a topic in-process; results to an output topic, bad messages to a
    /// dead-letter topic; offsets committed only after the output is written.
    Consume(ConsumeArgs),
    /// Print a topic's records from the beginning (key TAB payload), as kcat -C does.
    Read(ReadArgs),
    /// Serve the model over HTTP, MLflow-compatible (POST /invocations), with /metrics.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model directory written by `fraud train`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "FRAUD_HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one; the log says which).
    #[arg(short, long, env = "FRAUD_PORT", default_value_t = 5000)]
    pub port: u16,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, default_value_t = 5 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Worker threads of the HTTP server.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Decisions (?decisions=true): review from this fraud probability, instead of the model's
    /// threshold (or the model directory's policy.json).
    #[arg(long)]
    pub review_threshold: Option<f64>,
    /// Decisions: decline from this fraud probability, instead of the model's decline band.
    #[arg(long)]
    pub decline_threshold: Option<f64>,
    /// With ?decisions=true, which rows carry reasons.
    #[arg(long, value_enum, default_value_t = ReasonsChoice::Flagged)]
    pub reasons: ReasonsChoice,
}

impl ServeArgs {
    pub fn config(&self) -> Result<crate::serve::ServeConfig, ConfigError> {
        if self.max_body_bytes == 0 || self.workers == 0 {
            return Err(ConfigError("--max-body-bytes and --workers must be at least 1".into()));
        }
        Ok(crate::serve::ServeConfig {
            addr: std::net::SocketAddr::new(self.host, self.port),
            max_body_bytes: self.max_body_bytes,
            overrides: overrides(self.review_threshold, self.decline_threshold)?,
            reasons_for: self.reasons.into(),
        })
    }
}

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
    pub fn config(&self) -> Result<crate::kafka::read::ReadConfig, ConfigError> {
        Ok(crate::kafka::read::ReadConfig {
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
    /// CSV of transactions (V1..V28 and Amount columns; others ignored); rows are reused in a
    /// cycle when --count exceeds them.
    #[arg(long, env = "FRAUD_CSV", default_value = "data/sample.csv")]
    pub csv: PathBuf,
    /// Messages to send.
    #[arg(short, long, default_value_t = 6)]
    pub count: u64,
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
    pub fn config(&self) -> Result<ProduceConfig, ConfigError> {
        if self.batch == 0 {
            return Err(ConfigError("--batch must be at least 1".into()));
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(ConfigError(format!("--rate must be a positive number, got {rate}")));
            }
        }
        if self.topic.is_empty() {
            return Err(ConfigError("--topic must not be empty".into()));
        }
        Ok(ProduceConfig {
            kafka: self.kafka.config()?,
            topic: self.topic.clone(),
            csv: self.csv.clone(),
            count: self.count,
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
    /// Stop once every assigned partition is handled to its end and committed (as kcat -e).
    #[arg(short, long)]
    pub exit_at_end: bool,
    /// Print the closing summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Largest message scored; larger ones are dead-lettered.
    #[arg(long, default_value_t = crate::message::DEFAULT_MAX_BYTES)]
    pub max_message_bytes: usize,
    /// Inputs whose outputs may await delivery (or, exactly once, the commit) at once before
    /// reading pauses.
    #[arg(long, default_value_t = 100_000)]
    pub max_in_flight: usize,
    /// How long librdkafka retries one output before the consumer retries it itself.
    #[arg(long, default_value_t = 30_000)]
    pub delivery_timeout_ms: u64,
    /// On shutdown, how long to wait for in-flight outputs before committing what is done.
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
    /// Decisions: review from this fraud probability, instead of the model's threshold (or
    /// the model directory's policy.json).
    #[arg(long)]
    pub review_threshold: Option<f64>,
    /// Decisions: decline from this fraud probability, instead of the model's decline band.
    #[arg(long)]
    pub decline_threshold: Option<f64>,
    /// Which rows' score records carry reasons: those sent to review or declined, or every row.
    #[arg(long, value_enum, default_value_t = ReasonsChoice::Flagged)]
    pub reasons: ReasonsChoice,
    /// This process's stable name within its group, for --exactly-once: the transactional.id
    /// is fraud-<group>-<instance-id>, so a restarted consumer fences its previous life and
    /// aborts what it left open. Give each process its own. [default: -X group.instance.id
    /// if set, else the host name]. `-X transactional.id=...` overrides the whole id.
    #[arg(long, env = "FRAUD_INSTANCE_ID")]
    pub instance_id: Option<String>,
}

/// librdkafka's defaults, where the user does not set them with -X.
const DEFAULT_SESSION_TIMEOUT_MS: u64 = 45_000;
const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 3_000;
/// Bound on one transactional call (init, send offsets, commit, abort).
const TRANSACTION_OP_TIMEOUT: Duration = Duration::from_secs(30);

/// The machine's host name, for a default instance id.
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
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
        let guarantee = if self.exactly_once { Guarantee::ExactlyOnce(self.transactions(commit_interval)?) } else { Guarantee::AtLeastOnce };
        Ok(ConsumeConfig {
            kafka: self.kafka.config()?,
            topic: self.topic.clone(),
            group: self.group.clone(),
            output_topic,
            dlq_topic,
            max_messages: self.max_messages,
            exit_at_end: self.exit_at_end,
            log_messages,
            max_message_bytes: self.max_message_bytes,
            max_in_flight: self.max_in_flight,
            delivery_timeout_ms: self.delivery_timeout_ms,
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
            stats_interval_ms: self.stats_interval_ms,
            commit_interval,
            guarantee,
            reasons_for: self.reasons.into(),
        })
    }

    /// The decision overrides given as flags.
    pub fn overrides(&self) -> Result<Overrides, ConfigError> {
        overrides(self.review_threshold, self.decline_threshold)
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
        let transactional_id = match property("transactional.id") {
            Some(id) => id,
            None => {
                let instance = self
                    .instance_id
                    .clone()
                    .or_else(|| property("group.instance.id"))
                    .or_else(hostname)
                    .ok_or_else(|| ConfigError("--exactly-once needs --instance-id: the host name is unknown".into()))?;
                format!("fraud-{}-{instance}", self.group)
            }
        };
        if transactional_id.trim().is_empty() {
            return Err(ConfigError("the transactional.id must not be empty".into()));
        }
        let session = self.property_ms("session.timeout.ms", DEFAULT_SESSION_TIMEOUT_MS)?;
        let heartbeat = self.property_ms("heartbeat.interval.ms", DEFAULT_HEARTBEAT_INTERVAL_MS)?;
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
            transactional_id,
            interval,
            max_batch: self.max_in_flight,
            stall_limit,
            probation: Duration::from_millis(2 * heartbeat + 500),
            op_timeout: TRANSACTION_OP_TIMEOUT,
        })
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Labelled CSV in the ULB/Kaggle schema (Time, V1..V28, Amount, Class); .csv.gz works too.
    #[arg(long, env = "FRAUD_CSV")]
    pub csv: PathBuf,
    /// Where the model is written (model.json inside).
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Share of rows held out for testing, in [0, 1); 0 trains on every row.
    #[arg(long, default_value_t = 0.3)]
    pub test_size: f64,
    /// Seed of the split and the threshold folds.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The model family: a logistic regression (linfa) or gradient-boosted trees (forust-ml).
    #[arg(long, value_enum, default_value_t = ModelChoice::Logistic)]
    pub model: ModelChoice,
    /// How the threshold is chosen on the training rows: 0 uses the fitted model's own
    /// predictions on them (logistic only); K >= 2 uses K-fold out-of-fold predictions (K more
    /// fits), which for gbdt also choose the number of trees. [default: 0 for logistic, 3 for
    /// gbdt]
    #[arg(long)]
    pub threshold_folds: Option<usize>,
    /// The decline band starts where the training predictions (out of fold with
    /// --threshold-folds) reach this precision; if none does, the model has no decline band.
    #[arg(long, default_value_t = 0.95)]
    pub decline_precision: f64,
    /// Logistic: inverse regularisation strength, as scikit-learn's C.
    #[arg(long, default_value_t = 1.0, help_heading = "Logistic regression")]
    pub c: f64,
    /// Logistic: convergence tolerance on the mean gradient, as scikit-learn's tol.
    #[arg(long, default_value_t = 1e-4, help_heading = "Logistic regression")]
    pub tol: f64,
    /// Logistic: iteration cap of the L-BFGS solver.
    #[arg(long, default_value_t = 200, help_heading = "Logistic regression")]
    pub max_iterations: u64,
    /// Gbdt: the most trees; early stopping on the out-of-fold predictions may keep fewer.
    #[arg(long, default_value_t = BoostOptions::default().max_trees, help_heading = "Gradient-boosted trees")]
    pub trees: usize,
    /// Gbdt: learning rate (shrinkage of each tree).
    #[arg(long, default_value_t = BoostOptions::default().learning_rate, help_heading = "Gradient-boosted trees")]
    pub learning_rate: f64,
    /// Gbdt: depth of each tree.
    #[arg(long, default_value_t = BoostOptions::default().max_depth, help_heading = "Gradient-boosted trees")]
    pub max_depth: usize,
    /// Gbdt: smallest sum of hessians in a leaf (XGBoost's min_child_weight). Small values give
    /// leaves with huge values on rare positives.
    #[arg(long, default_value_t = BoostOptions::default().min_hessian, help_heading = "Gradient-boosted trees")]
    pub min_hessian: f64,
    /// Gbdt: L2 regularisation of the leaf values (XGBoost's lambda).
    #[arg(long, default_value_t = BoostOptions::default().l2, help_heading = "Gradient-boosted trees")]
    pub l2: f64,
    /// Gbdt: share of rows sampled for each tree, in (0, 1].
    #[arg(long, default_value_t = BoostOptions::default().subsample, help_heading = "Gradient-boosted trees")]
    pub subsample: f64,
    /// Gbdt: share of features sampled for each tree, in (0, 1].
    #[arg(long, default_value_t = BoostOptions::default().colsample, help_heading = "Gradient-boosted trees")]
    pub colsample: f64,
    /// Gbdt: histogram bins per feature, 2 to 65535.
    #[arg(long, default_value_t = BoostOptions::default().bins, help_heading = "Gradient-boosted trees")]
    pub bins: u16,
    /// Gbdt: threads for the fit.
    #[arg(long, default_value_t = BoostOptions::default().threads, help_heading = "Gradient-boosted trees")]
    pub threads: usize,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write DIR/report.html for the held-out rows: precision-recall and ROC curves with
    /// the bands, scores by class, confusion matrices, feature importance (self-contained SVG).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The LightGBM text model: a binary classifier on V1..V28 and Amount, by name.
    #[arg(long, value_name = "MODEL.TXT")]
    pub lightgbm: PathBuf,
    /// Where the fraud model is written (model.json inside).
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// A transaction is sent to review when its fraud probability is at least this, in (0, 1].
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// A transaction is declined when its fraud probability is at least this; without it the
    /// model has no decline band (an import brings no training data to choose one on).
    #[arg(long)]
    pub decline_threshold: Option<f64>,
    /// Print the model's version and family as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl ImportArgs {
    pub fn config(&self) -> Result<crate::interchange::ImportConfig, ConfigError> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError(format!("--threshold must be in (0, 1], got {}", self.threshold)));
        }
        if self.decline_threshold.is_some_and(|d| !(d >= self.threshold && d <= 1.0)) {
            return Err(ConfigError("--decline-threshold must be in [--threshold, 1]".into()));
        }
        Ok(crate::interchange::ImportConfig {
            lightgbm: self.lightgbm.clone(),
            model_dir: self.model_dir.clone(),
            threshold: self.threshold,
            decline: self.decline_threshold,
        })
    }
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Model directory written by `fraud train` or `fraud import`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// CSV of transactions (V1..V28 and Amount; a Class column is shown when present); .gz too.
    #[arg(long, env = "FRAUD_CSV")]
    pub csv: PathBuf,
    /// One JSON object per row instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only the rows sent to review or declined.
    #[arg(long)]
    pub flagged: bool,
    /// Review from this fraud probability, instead of the model's threshold (or policy.json).
    #[arg(long)]
    pub review_threshold: Option<f64>,
    /// Decline from this fraud probability, instead of the model's decline band.
    #[arg(long)]
    pub decline_threshold: Option<f64>,
}

impl ExplainArgs {
    pub fn config(&self) -> Result<(crate::explain::ExplainConfig, Overrides), ConfigError> {
        let cfg = crate::explain::ExplainConfig { csv: self.csv.clone(), json: self.json, flagged_only: self.flagged };
        Ok((cfg, overrides(self.review_threshold, self.decline_threshold)?))
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Model directory written by `fraud train --model gbdt` or `fraud import`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Where the LightGBM text model is written.
    #[arg(long, value_name = "MODEL.TXT")]
    pub lightgbm: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Labelled CSV to score (same schema as train).
    #[arg(long, env = "FRAUD_CSV")]
    pub csv: PathBuf,
    /// Model directory written by `fraud train`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write DIR/report.html (see `fraud train --report`).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

impl TrainArgs {
    pub fn config(&self) -> Result<TrainConfig, ConfigError> {
        if !(0.0..1.0).contains(&self.test_size) {
            return Err(ConfigError(format!("--test-size must be in [0, 1), got {}", self.test_size)));
        }
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(ConfigError(format!("--c must be a positive number, got {}", self.c)));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(ConfigError(format!("--tol must be a positive number, got {}", self.tol)));
        }
        if self.max_iterations == 0 {
            return Err(ConfigError("--max-iterations must be at least 1".into()));
        }
        let (threshold_folds, trainer) = match self.model {
            ModelChoice::Logistic => {
                let folds = self.threshold_folds.unwrap_or(0);
                if folds == 1 {
                    return Err(ConfigError("--threshold-folds must be 0 or at least 2".into()));
                }
                (folds, Trainer::Logistic(FitOptions { c: self.c, tol: self.tol, max_iterations: self.max_iterations }))
            }
            ModelChoice::Gbdt => {
                let folds = self.threshold_folds.unwrap_or(BoostOptions::default().folds);
                (folds, Trainer::Trees(self.boost_options(folds)?))
            }
        };
        if !(self.decline_precision > 0.0 && self.decline_precision <= 1.0) {
            return Err(ConfigError(format!("--decline-precision must be in (0, 1], got {}", self.decline_precision)));
        }
        Ok(TrainConfig {
            csv: self.csv.clone(),
            model_dir: self.model_dir.clone(),
            test_size: self.test_size,
            seed: self.seed,
            threshold_folds,
            decline_precision: self.decline_precision,
            trainer,
            progress: stderr_is_terminal(),
            report: self.report.clone(),
        })
    }

    fn boost_options(&self, folds: usize) -> Result<BoostOptions, ConfigError> {
        let share = |name: &str, v: f64| {
            if v > 0.0 && v <= 1.0 { Ok(v) } else { Err(ConfigError(format!("--{name} must be in (0, 1], got {v}"))) }
        };
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(v) } else { Err(ConfigError(format!("--{name} must be a positive number, got {v}"))) }
        };
        if folds < 2 {
            return Err(ConfigError("--model gbdt chooses its trees and threshold out of fold: --threshold-folds must be at least 2".into()));
        }
        if self.trees == 0 || self.max_depth == 0 || self.threads == 0 || self.bins < 2 {
            return Err(ConfigError("--trees, --max-depth and --threads must be at least 1, --bins at least 2".into()));
        }
        if !(self.min_hessian.is_finite() && self.min_hessian >= 0.0) || !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(ConfigError("--min-hessian and --l2 must be numbers >= 0".into()));
        }
        Ok(BoostOptions {
            max_trees: self.trees,
            learning_rate: positive("learning-rate", self.learning_rate)?,
            max_depth: self.max_depth,
            min_hessian: self.min_hessian,
            l2: self.l2,
            subsample: share("subsample", self.subsample)?,
            colsample: share("colsample", self.colsample)?,
            bins: self.bins,
            folds,
            threads: self.threads,
        })
    }
}

impl EvaluateArgs {
    pub fn config(&self) -> Result<EvaluateConfig, ConfigError> {
        Ok(EvaluateConfig {
            csv: self.csv.clone(),
            model_dir: self.model_dir.clone(),
            progress: stderr_is_terminal(),
            report: self.report.clone(),
        })
    }
}
