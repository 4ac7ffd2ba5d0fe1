//! Everything that talks to Kafka: `fraud consume` (the loop in [`consume`], one file per
//! guarantee, the commit seam in [`commit`]), `fraud produce` and `fraud read`, and what they
//! share: client configuration ([`client`]), the instance id ([`instance`]), the group's
//! progress ([`progress`]), model reload ([`reload`]) and the closing summary ([`summary`]).

pub mod at_least_once;
pub mod client;
pub mod commit;
pub mod consume;
pub mod error;
pub mod exactly_once;
pub mod instance;
pub mod offsets;
pub mod produce;
pub mod progress;
pub mod read;
pub mod reload;
pub mod replay;
pub mod scorer;
pub mod send;
pub mod service;
pub mod stateful;
pub mod summary;
