//! `fraud`: train, evaluate, stream-score and serve a credit-card fraud model.
//!
//! The data path reads downward: [`cli`] turns flags into configs, [`run`] dispatches them to
//! [`stream`] (the Kafka consumer and its guarantees), [`serve`] (the HTTP scorer) or [`train`]
//! (fit, evaluate, explain, report); those read and write [`wire`] formats, decide with
//! [`decision`], and score with [`model`]; [`dataset`] reads labelled files. The leaves below
//! them: [`schema`], [`metrics`], [`decimal`], [`telemetry`], [`signal`], [`memory`].

pub mod cli;
pub mod dataset;
pub mod decimal;
pub mod decision;
pub mod features;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod run;
pub mod schema;
pub mod serve;
pub mod signal;
pub mod simulate;
pub mod stream;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod train;
pub mod wire;

// Links the system BLIS that ndarray's `blas` feature calls into.
extern crate blas_src;
