//! `fraud`: train, evaluate, stream-score and serve a credit-card fraud model.

pub mod boost;
pub mod cli;
pub mod dataset;
pub mod decimal;
pub mod decision;
pub mod evaluate;
pub mod explain;
pub mod fit;
pub mod interchange;
pub mod kafka;
pub mod memory;
pub mod message;
pub mod metrics;
pub mod model;
pub mod report;
pub mod report_html;
pub mod run;
pub mod schema;
pub mod serve;
pub mod signal;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod train;

// Links the system BLIS that ndarray's `blas` feature calls into.
extern crate blas_src;
