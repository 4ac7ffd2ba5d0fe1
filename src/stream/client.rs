//! The one place that builds librdkafka configuration. Defaults first, then the user's `-X`
//! properties, so any property (TLS, SASL, tuning) can be set without a code change.

use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, ClientContext};

/// `fraud produce` loads data in bulk: librdkafka's default batching wait.
pub const BULK_LINGER_MS: u32 = 5;
/// The consumer's score records are on the latency path: each waits at most 1 ms for a batch.
/// At full speed batches fill anyway; at a moderate rate the shorter wait halves the output
/// leg's median latency (docs/design.md).
pub const OUTPUT_LINGER_MS: u32 = 1;
/// Group membership for a scorer, not a batch job: a session of 6 s (the smallest an Apache
/// Kafka broker allows by default, `group.min.session.timeout.ms`, and close to Kafka's 10 s
/// default before 3.0) with a heartbeat a third of it. A new member gets its partitions that
/// much sooner on brokers that hold a join for part of the session, and a dead member's
/// partitions move that much sooner; librdkafka's 45 s delays both. docs/benchmarks.md gives
/// the measurements.
pub const SESSION_TIMEOUT_MS: u64 = 6_000;
pub const HEARTBEAT_INTERVAL_MS: u64 = 2_000;

/// Connection settings shared by every client of one command.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    /// `-X key=value` pass-through properties, applied last.
    pub properties: Vec<(String, String)>,
}

impl KafkaConfig {
    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("client.id", concat!("fraud/", env!("CARGO_PKG_VERSION")));
        c
    }

    /// Applies the `-X` properties meant for this kind of client (see [`scope`]).
    fn finish(&self, mut c: ClientConfig, client: Scope) -> ClientConfig {
        for (k, v) in &self.properties {
            let s = scope(k);
            if s == Scope::Both || s == client {
                c.set(k, v);
            }
        }
        c
    }

    /// A producer that waits for every in-sync replica and retries on its own until
    /// `delivery_timeout_ms` runs out, batching for up to `linger_ms`.
    pub fn producer(&self, delivery_timeout_ms: u64, linger_ms: u32) -> ClientConfig {
        let mut c = self.base();
        c.set("acks", "all")
            .set("linger.ms", linger_ms.to_string())
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", delivery_timeout_ms.to_string());
        self.finish(c, Scope::Producer)
    }

    /// A transactional producer (exactly once): idempotent, with `transactional.id`. Its
    /// transactions time out after 10 s, as Kafka Streams' do under exactly once: a consumer
    /// that dies with one open, and is not restarted with the same id, holds back
    /// `read_committed` readers of the outputs at most that long.
    /// librdkafka needs an output's delivery timeout within the transaction's.
    pub fn transactional_producer(
        &self,
        transactional_id: &str,
        delivery_timeout_ms: u64,
        linger_ms: u32,
    ) -> ClientConfig {
        const TRANSACTION_TIMEOUT_MS: u64 = 10_000;
        let mut c = self.producer(delivery_timeout_ms.min(TRANSACTION_TIMEOUT_MS), linger_ms);
        c.set("transactional.id", transactional_id).set("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS.to_string());
        // The user's -X properties again, so that they win over ours here too.
        self.finish(c, Scope::Producer)
    }

    /// A group consumer. At least once: offsets are stored by the application after the
    /// outputs of a message are delivered, and committed by librdkafka every
    /// `commit_interval` and by us on rebalance and shutdown. Exactly once: offsets are never
    /// committed by the consumer; they go into the producer's transactions.
    /// Either way inputs are read `read_committed`: an aborted input is never scored.
    pub fn consumer(
        &self,
        group: &str,
        partition_eof: bool,
        stats_interval_ms: u64,
        commit_interval: std::time::Duration,
        transactional: bool,
    ) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group)
            .set("enable.auto.commit", if transactional { "false" } else { "true" })
            .set("auto.commit.interval.ms", commit_interval.as_millis().max(1).to_string())
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", if partition_eof { "true" } else { "false" })
            .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS.to_string())
            // A scorer is latency-bound: librdkafka's 500 ms default lets a broker that holds
            // fetches to the maximum wait (Tansu does) add up to half a second per message.
            .set("fetch.wait.max.ms", "10")
            // Memory: librdkafka prefetches up to 64 MB by default, which a consumer draining a
            // backlog holds. 8 MB of prefetch (tens of ms of messages at full speed) is enough
            // once a full queue postpones the next fetch by 10 ms rather than librdkafka's 1 s:
            // a third of the memory at full speed (docs/design.md).
            .set("queued.max.messages.kbytes", "8192")
            .set("fetch.queue.backoff.ms", "10")
            .set("statistics.interval.ms", stats_interval_ms.to_string());
        self.finish(c, Scope::Consumer)
    }
}

impl KafkaConfig {
    /// A consumer that reads assigned partitions and commits nothing.
    pub fn reader(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", "fraud-read")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("allow.auto.create.topics", "false");
        self.finish(c, Scope::Consumer)
    }

    /// A consumer that reads assigned partitions as `group`'s members do (`read_committed`
    /// unless -X says otherwise), commits nothing and never joins the group: for learning how
    /// far the group has got.
    pub fn probe(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "10")
            // As the group's members have them, so that -X settings checked against these
            // (max.poll.interval.ms) hold here too.
            .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS.to_string());
        let mut c = self.finish(c, Scope::Consumer);
        // After the user's properties: whatever they say, the probe never moves the group.
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("allow.auto.create.topics", "false");
        c
    }
}

/// Which clients a librdkafka property is for. `fraud consume` runs a consumer and a producer;
/// a `-X` property goes to the one it is meant for (librdkafka would warn on the other), and
/// to both when it is general (security, connection, debugging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Consumer,
    Producer,
    Both,
}

pub fn scope(key: &str) -> Scope {
    const CONSUMER: &[&str] = &[
        "group.",
        "partition.assignment.strategy",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "coordinator.query.interval.ms",
        "max.poll.interval.ms",
        "enable.auto.commit",
        "auto.commit.interval.ms",
        "enable.auto.offset.store",
        "queued.",
        "fetch.",
        "isolation.level",
        "enable.partition.eof",
        "check.crcs",
        "max.partition.fetch.bytes",
        "auto.offset.reset",
        "consume.callback.max.messages",
        "offset.store.",
    ];
    const PRODUCER: &[&str] = &[
        "transactional.id",
        "transaction.timeout.ms",
        "enable.idempotence",
        "enable.gapless.guarantee",
        "queue.buffering.",
        "compression.",
        "batch.num.messages",
        "batch.size",
        "linger.ms",
        "delivery.report.only.error",
        "message.send.max.retries",
        "retries",
        "request.required.acks",
        "acks",
        "request.timeout.ms",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "partitioner",
        "sticky.partitioning.linger.ms",
        "queuing.strategy",
        "produce.offset.report",
    ];
    let matches = |list: &[&str]| list.iter().any(|p| if p.ends_with('.') { key.starts_with(p) } else { key == *p });
    if matches(CONSUMER) {
        Scope::Consumer
    } else if matches(PRODUCER) {
        Scope::Producer
    } else {
        Scope::Both
    }
}

/// An error no retry can mend: the broker refused our credentials, or we refused its
/// certificate (or spoke TLS to a plaintext listener). librdkafka reports these and reconnects
/// forever; the Java client throws them from `poll` (`AuthenticationException`), and so do we:
/// the command stops with this error within seconds.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}{hint}")]
pub struct ConnectionRefused {
    pub message: String,
    hint: &'static str,
}

const TLS_HINT: &str =
    " (check -X security.protocol, and ssl.ca.location: the CA that signed the broker's certificate)";

/// What every client of one command reports through its context, shared by the command: the
/// first [`ConnectionRefused`] is kept for the command to stop with.
#[derive(Debug, Clone, Default)]
pub struct ClientErrors(std::sync::Arc<std::sync::Mutex<Option<ConnectionRefused>>>);

impl ClientErrors {
    /// Logs a librdkafka error, and keeps it when it is one no retry can mend. The end of a
    /// partition is news for `--exit-at-end`, not an error.
    pub fn report(&self, error: &KafkaError, reason: &str) {
        let hint = match error {
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => return,
            KafkaError::Global(RDKafkaErrorCode::Authentication) => {
                " (check -X security.protocol, sasl.mechanisms, sasl.username and sasl.password)"
            }
            // A certificate that does not verify is reported as a TLS error or, when the
            // handshake breaks off, as a transport failure carrying OpenSSL's words.
            KafkaError::Global(RDKafkaErrorCode::SSL) => TLS_HINT,
            _ if reason.contains("certificate verify failed") => TLS_HINT,
            e => {
                tracing::error!(code = "kafka_error", error = %e, reason, "librdkafka error");
                return;
            }
        };
        let Ok(mut first) = self.0.lock() else { return };
        if first.is_none() {
            tracing::error!(code = "connection_refused", error = %error, reason, "the broker connection was refused");
            *first = Some(ConnectionRefused { message: reason.to_string(), hint });
        }
    }

    /// The first error no retry can mend, if any was reported.
    pub fn check(&self) -> Result<(), ConnectionRefused> {
        match self.0.lock().ok().and_then(|first| first.clone()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A plain client context that reports errors to the command's [`ClientErrors`].
pub struct Quiet(pub ClientErrors);

impl ClientContext for Quiet {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.report(&error, reason);
    }
}

impl ConsumerContext for Quiet {}

/// Parses one `-X key=value`.
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_properties_override_defaults() {
        let k = KafkaConfig {
            brokers: "b:1".into(),
            properties: vec![("acks".into(), "1".into()), ("security.protocol".into(), "SASL_SSL".into())],
        };
        let p = k.producer(1000, 5);
        assert_eq!(p.get("acks"), Some("1"));
        assert_eq!(p.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(p.get("bootstrap.servers"), Some("b:1"));
        let c = k.consumer("g", true, 0, std::time::Duration::from_millis(100), false);
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("enable.partition.eof"), Some("true"));
        assert_eq!(c.get("auto.commit.interval.ms"), Some("100"));
        assert_eq!(c.get("enable.auto.commit"), Some("true"));
        let t = k.consumer("g", true, 0, std::time::Duration::from_millis(100), true);
        assert_eq!((t.get("enable.auto.commit"), t.get("isolation.level")), (Some("false"), Some("read_committed")));
        let p = k.transactional_producer("fraud-g-host", 1000, 1);
        assert_eq!(p.get("transactional.id"), Some("fraud-g-host"));
        assert_eq!(p.get("acks"), Some("1"), "-X still wins");
    }

    #[test]
    fn properties_go_to_the_client_they_are_for() {
        let k = KafkaConfig {
            brokers: "b:1".into(),
            properties: vec![
                ("session.timeout.ms".into(), "6000".into()),
                ("linger.ms".into(), "50".into()),
                ("sasl.mechanisms".into(), "PLAIN".into()),
            ],
        };
        let (p, c) = (k.producer(1000, 5), k.consumer("g", false, 0, std::time::Duration::from_secs(1), false));
        assert_eq!(c.get("session.timeout.ms"), Some("6000"));
        assert_eq!(p.get("session.timeout.ms"), None);
        assert_eq!(p.get("linger.ms"), Some("50"));
        assert_eq!(c.get("linger.ms"), None);
        assert_eq!((p.get("sasl.mechanisms"), c.get("sasl.mechanisms")), (Some("PLAIN"), Some("PLAIN")));
        assert_eq!(scope("group.instance.id"), Scope::Consumer);
        assert_eq!(scope("fetch.min.bytes"), Scope::Consumer);
        assert_eq!(scope("max.partition.fetch.bytes"), Scope::Consumer);
        assert_eq!(scope("compression.type"), Scope::Producer);
        assert_eq!(scope("debug"), Scope::Both);
    }

    #[test]
    fn property_syntax() {
        assert_eq!(parse_property("a.b=c=d"), Ok(("a.b".into(), "c=d".into())));
        assert!(parse_property("novalue").is_err());
        assert!(parse_property("=x").is_err());
    }
}
