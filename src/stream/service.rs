//! `fraud consume` as a process: the runtime for the metrics endpoint and the signals, the
//! model reloader, and the consume loop on a thread of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use super::consume::{ConsumeConfig, consume};
use super::reload::ModelReloader;
use super::summary::Summary;
use crate::decision::ModelDir;
use crate::telemetry::ConsumerMetrics;

/// The metrics address cannot be listened on: a configuration to fix (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("--metrics-addr {addr}: cannot listen there")]
pub struct MetricsAddrError {
    addr: std::net::SocketAddr,
    source: std::io::Error,
}

/// Runs the consumer until it stops (see [`consume`]); returns its summary.
pub fn run(cfg: &ConsumeConfig, dir: ModelDir) -> anyhow::Result<Summary> {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = ConsumerMetrics::register(&mut registry);
    let registry = Arc::new(registry);
    let shutdown = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    let reloader = ModelReloader::new(cfg.model_dir.clone(), Arc::clone(&reload), cfg.watch_model, cfg.overrides);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        if let Some(addr) = cfg.metrics_addr {
            // Bound now, so a bad address is a configuration error at start (exit 2), not a
            // failure in the background.
            let listener =
                tokio::net::TcpListener::bind(addr).await.map_err(|source| MetricsAddrError { addr, source })?;
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                if let Err(e) = crate::telemetry::serve_metrics(listener, registry).await {
                    tracing::error!(error = %e, "metrics endpoint failed");
                }
            });
        }
        let flag = Arc::clone(&shutdown);
        tokio::spawn(async move {
            crate::signal::shutdown().await;
            flag.store(true, Ordering::Relaxed);
        });
        crate::signal::on_hangup(reload).context("installing the SIGHUP handler")?;
        let cfg = cfg.clone();
        let summary = tokio::task::spawn_blocking(move || consume(&cfg, dir, metrics, shutdown, reloader))
            .await
            .context("the consumer thread panicked")??;
        anyhow::Ok(summary)
    })
}
