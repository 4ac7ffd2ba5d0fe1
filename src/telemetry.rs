//! Logging setup, the Prometheus metrics of the consumer and the HTTP server, and the endpoint
//! that serves them. Every error log of the streaming path has a counter here labelled with the
//! same error code.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

/// How the log is written, decided from the command line (see `Cli::logging`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// As RUST_LOG.
    pub filter: String,
    /// ANSI colour escapes: only for a terminal, so a captured log stays plain text.
    pub colour: bool,
}

/// An error with its causes, `a: b: c`, for a log line (anyhow's `{:#}` for typed errors).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Installs the global subscriber (stderr).
pub fn init_logging(cfg: &LogConfig) {
    let filter = EnvFilter::try_new(&cfg.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(cfg.colour)
        .with_target(false)
        .init();
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

/// Fraud probability buckets: fine at both ends, where the bands are.
fn score_histogram() -> Histogram {
    Histogram::new([0.0001, 0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0])
}

/// Latency buckets from 0.1 ms to ~3 s.
fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 16))
}

/// Metrics of `fraud consume`.
pub struct ConsumerMetrics {
    pub messages: Counter,
    pub rows_scored: Counter,
    pub dead_letters: Family<CodeLabel, Counter>,
    pub delivery_errors: Counter,
    pub rebalances: Counter,
    pub commits_failed: Counter,
    pub latency: Histogram,
    pub lag: Family<PartitionLabel, Gauge>,
    pub model_reloads: Counter,
    pub model_reload_errors: Counter,
    /// Exactly once: transactions by outcome (committed, aborted), and how long each was open.
    pub transactions: Family<OutcomeLabel, Counter>,
    pub transaction_seconds: Histogram,
    /// Exactly once: stalls longer than the group membership is guaranteed.
    pub stalls: Counter,
    /// Exactly once: commits that a stall overtook after the last check before them.
    pub late_commits: Counter,
    /// Rows by decision, and their fraud probabilities: a dashboard's view of drift.
    pub decisions: Family<DecisionLabel, Counter>,
    pub scores: Histogram,
}

impl ConsumerMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let m = Arc::new(Self {
            messages: Counter::default(),
            rows_scored: Counter::default(),
            dead_letters: Family::default(),
            delivery_errors: Counter::default(),
            rebalances: Counter::default(),
            commits_failed: Counter::default(),
            latency: latency_histogram(),
            lag: Family::default(),
            model_reloads: Counter::default(),
            model_reload_errors: Counter::default(),
            transactions: Family::default(),
            transaction_seconds: latency_histogram(),
            stalls: Counter::default(),
            late_commits: Counter::default(),
            decisions: Family::default(),
            scores: score_histogram(),
        });
        let r = registry.sub_registry_with_prefix("fraud_consumer");
        r.register("messages", "Input messages handled (output delivered)", m.messages.clone());
        r.register("rows_scored", "Transactions scored", m.rows_scored.clone());
        r.register(
            "dead_letters",
            "Input messages sent to the dead-letter topic, by error code",
            m.dead_letters.clone(),
        );
        r.register("delivery_errors", "Output deliveries that failed and were retried", m.delivery_errors.clone());
        r.register("rebalances", "Partition revocations handled", m.rebalances.clone());
        r.register("commit_errors", "Offset commits that failed", m.commits_failed.clone());
        r.register("latency_seconds", "From the input message's timestamp to its output's delivery", m.latency.clone());
        r.register("lag_messages", "Consumer lag per partition, from librdkafka statistics", m.lag.clone());
        r.register("model_reloads", "New models swapped in", m.model_reloads.clone());
        r.register(
            "model_reload_errors",
            "Model reloads that failed (the running model was kept)",
            m.model_reload_errors.clone(),
        );
        r.register(
            "transactions",
            "Transactions (exactly once), by outcome: committed or aborted",
            m.transactions.clone(),
        );
        r.register(
            "transaction_duration_seconds",
            "From a transaction's first input to its commit (exactly once)",
            m.transaction_seconds.clone(),
        );
        r.register(
            "stalls",
            "Loop stalls longer than the group membership is guaranteed (exactly once)",
            m.stalls.clone(),
        );
        r.register(
            "late_commits",
            "Transactions committed by a loop that stalled after its last check before the commit (exactly once; \
             on a broker without KIP-447 fencing their outputs may repeat the next owner's)",
            m.late_commits.clone(),
        );
        r.register("decisions", "Rows scored, by decision: approve, review or decline", m.decisions.clone());
        r.register("score", "Fraud probability of each row scored", m.scores.clone());
        m
    }
}

/// Metrics of `fraud serve`.
pub struct ServerMetrics {
    pub requests: Family<StatusLabel, Counter>,
    pub rows_scored: Counter,
    pub latency: Histogram,
    pub decisions: Family<DecisionLabel, Counter>,
    pub scores: Histogram,
}

impl ServerMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let m = Arc::new(Self {
            requests: Family::default(),
            rows_scored: Counter::default(),
            latency: latency_histogram(),
            decisions: Family::default(),
            scores: score_histogram(),
        });
        let r = registry.sub_registry_with_prefix("fraud_http");
        r.register("requests", "Scoring requests, by HTTP status", m.requests.clone());
        r.register("rows_scored", "Transactions scored", m.rows_scored.clone());
        r.register("request_duration_seconds", "Time to answer a scoring request", m.latency.clone());
        r.register("decisions", "Rows scored, by decision: approve, review or decline", m.decisions.clone());
        r.register("score", "Fraud probability of each row scored", m.scores.clone());
        m
    }
}

/// The registry in Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// A registry in Prometheus text format, as an HTTP response.
pub fn metrics_response(registry: &Registry) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        encode(registry),
    )
        .into_response()
}

/// Serves a registry on `/metrics` (the consumer's endpoint) until the runtime stops.
pub async fn serve_metrics(listener: tokio::net::TcpListener, registry: Arc<Registry>) -> std::io::Result<()> {
    tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = Arc::clone(&registry);
            async move { metrics_response(&registry) }
        }),
    );
    axum::serve(listener, app).await
}
