//! Behavioural features: a [`Spec`] says how each model feature comes from an event and from
//! its entities' history (a card's, a terminal's); [`state`] keeps that history and computes
//! the features, the same code for a file ([`offline`], point in time) and for the stream.

pub mod clock;
pub mod export;
pub mod offline;
pub mod spec;
pub mod state;

pub use clock::{Duration, Zone};
pub use offline::{Computed, compute};
pub use spec::{Spec, SpecError};
pub use state::{Computer, Event, EventStore, Label, LabelStore};
