//! Everything that talks to Kafka: client configuration, `fraud produce`, and the scoring
//! consumer with its offset tracking, dead letters and summary.

pub mod config;
pub mod consume;
pub mod offsets;
pub mod produce;
pub mod read;
pub mod reload;
pub mod summary;
