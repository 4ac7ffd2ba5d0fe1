//! `fraud read`: print a topic's records (key, payload, optionally headers), from the
//! beginning of every partition, as kcat -C does. For looking at score and dead-letter topics.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::stream::client::{ClientErrors, ConnectionRefused, KafkaConfig, Quiet};

#[derive(Debug, Clone)]
pub struct ReadConfig {
    pub kafka: KafkaConfig,
    pub topic: String,
    pub exit_at_end: bool,
    pub headers: bool,
    pub max_messages: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("creating the Kafka consumer: {0}")]
    Client(KafkaError),
    #[error("reading the partitions of {topic}: {error}")]
    Metadata { topic: String, error: KafkaError },
    #[error("topic {0} does not exist")]
    NoTopic(String),
    #[error("reading {topic}: {error}")]
    Read { topic: String, error: KafkaError },
    #[error("writing to stdout")]
    Stdout(#[source] std::io::Error),
    #[error("connecting to the broker")]
    Connection(#[from] ConnectionRefused),
}

/// Prints records until the end (with `exit_at_end`), `max_messages`, or forever.
pub fn read(cfg: &ReadConfig) -> Result<u64, ReadError> {
    let errors = ClientErrors::default();
    let consumer: BaseConsumer<Quiet> =
        cfg.kafka.reader().create_with_context(Quiet(errors.clone())).map_err(ReadError::Client)?;
    // In short attempts, serving the client's events between them: a refused connection (a bad
    // password, an untrusted certificate) is reported there, and says more than a timeout.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let metadata = loop {
        match consumer.fetch_metadata(Some(&cfg.topic), Duration::from_millis(500)) {
            Ok(m) => break m,
            Err(error) => {
                // Serves every event queued (a zero timeout would serve one, a log line, say).
                let _ = consumer.poll(Duration::from_millis(100));
                errors.check()?;
                if std::time::Instant::now() >= deadline {
                    return Err(ReadError::Metadata { topic: cfg.topic.clone(), error });
                }
            }
        }
    };
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == cfg.topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ReadError::NoTopic(cfg.topic.clone()));
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(&cfg.topic, *p, Offset::Beginning)
            .map_err(|error| ReadError::Read { topic: cfg.topic.clone(), error })?;
    }
    consumer.assign(&tpl).map_err(|error| ReadError::Read { topic: cfg.topic.clone(), error })?;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut at_end = HashSet::new();
    let mut count = 0;
    while !(cfg.exit_at_end && at_end.len() == partitions.len()) && cfg.max_messages.is_none_or(|n| count < n) {
        let polled = consumer.poll(Duration::from_millis(200));
        errors.check()?;
        match polled {
            None => {}
            Some(Ok(m)) => {
                count += 1;
                at_end.remove(&m.partition());
                let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
                let payload = m.payload().map(String::from_utf8_lossy).unwrap_or_default();
                let mut line = format!("{key}\t{payload}");
                if cfg.headers
                    && let Some(h) = m.headers()
                {
                    for h in h.iter() {
                        let v = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        line.push_str(&format!("\t{}={v}", h.key));
                    }
                }
                writeln!(out, "{line}").map_err(ReadError::Stdout)?;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error; librdkafka retries"),
        }
    }
    out.flush().map_err(ReadError::Stdout)?;
    Ok(count)
}
