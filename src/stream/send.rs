//! Putting outputs on the wire: queueing a record while the producer's local queue is full, and
//! waiting for what is queued. Every producer of ours goes through here.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

/// Queues `record` with `send` (which hands a refused record back with its error), and while
/// the producer's local queue is full calls `wait` (to serve delivery reports, say) and tries
/// again; `wait` returning false gives up. Any other error, or giving up, hands the record back
/// with the error.
pub fn send_when_room<R>(
    mut send: impl FnMut(R) -> Option<(KafkaError, R)>,
    mut record: R,
    mut wait: impl FnMut() -> bool,
) -> Result<(), (KafkaError, R)> {
    loop {
        match send(record) {
            None => return Ok(()),
            Some((e @ KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                if !wait() {
                    return Err((e, back));
                }
                record = back;
            }
            Some(other) => return Err(other),
        }
    }
}

/// Waits until every queued output is acknowledged, serving delivery reports, at most
/// `timeout`; true when nothing is left. rust-rdkafka's `flush` polls in steps of 100 ms that
/// always run to their end, so a flush there takes at least 100 ms whenever anything is in
/// flight (every transaction commit took that long); this polls in 1 ms steps.
pub fn flush<C: ProducerContext>(producer: &BaseProducer<C>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        producer.poll(Duration::ZERO);
        if producer.in_flight_count() == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        producer.poll(Duration::from_millis(1));
    }
}
