//! How `fraud consume` fails: every error the loop, its guarantees and its set-up can stop with.

use std::time::Duration;

use rdkafka::error::KafkaError;

use crate::stream::client::ConnectionRefused;
use crate::stream::instance::InstanceError;

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("creating the Kafka {what}: {error}")]
    Client { what: &'static str, error: KafkaError },
    #[error("subscribing to {topic}: {error}")]
    Subscribe { topic: String, error: KafkaError },
    // The source is printed by the error chain.
    #[error("initialising transactions as {transactional_id}")]
    InitTransactions { transactional_id: String, source: KafkaError },
    #[error(
        "the producer was fenced again and again: another process uses transactional.id \
         {transactional_id} (an --instance-id, -X group.instance.id or -X transactional.id given to two \
         running processes; without them each process takes its own id from --state-dir)"
    )]
    Fenced { transactional_id: String, source: KafkaError },
    #[error(
        "{what}: the broker does not support Kafka transactions, so --exactly-once cannot work \
         there (run without it, or on a broker that implements EndTxn)"
    )]
    TransactionsUnsupported { what: String, source: KafkaError },
    #[error("the entities' state of the feature spec")]
    State(#[source] crate::stream::stateful::StateError),
    /// Shutdown was asked for before the consumer could start.
    #[error("stopped before the start")]
    Stopped,
    #[error("connecting to the broker")]
    Connection(#[from] ConnectionRefused),
    #[error("taking an instance slot in the state directory (--state-dir)")]
    Instance(#[from] InstanceError),
    #[error(
        "--exit-at-end: after {waited:?} with nothing left to do here, {left} of {topic} for group {group}; a member \
         that is gone keeps its partitions until its session times out (raise --exit-timeout-secs to wait longer)"
    )]
    Unfinished { topic: String, group: String, waited: Duration, left: String },
}
