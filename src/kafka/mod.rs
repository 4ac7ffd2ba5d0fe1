//! Everything that talks to Kafka: client configuration, `fraud produce`, and the scoring
//! consumer with its two commit strategies (offset store, transactions), dead letters and
//! summary.

pub mod at_least_once;
pub mod commit;
pub mod config;
pub mod consume;
pub mod exactly_once;
pub mod instance;
pub mod offsets;
pub mod produce;
pub mod progress;
pub mod read;
pub mod reload;
pub mod scorer;
pub mod summary;
