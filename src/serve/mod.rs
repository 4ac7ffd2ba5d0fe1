//! `fraud serve`: an MLflow-compatible REST scorer. `POST /invocations` takes every layout
//! current MLflow takes plus the tutorial's legacy `{"columns","data"}` body (see
//! [`crate::wire`]), and `text/csv`; errors are shaped as MLflow shapes them
//! ([`invocations`]).

mod invocations;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use prometheus_client::registry::Registry;

use crate::decision::{ModelDir, Overrides, ReasonsFor};
use crate::telemetry::ServerMetrics;
use invocations::AppState;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub model_dir: PathBuf,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Worker threads of the runtime.
    pub workers: usize,
    /// Decision thresholds given as flags, over the model's bands and policy.json.
    pub overrides: Overrides,
    pub reasons_for: ReasonsFor,
}

/// The server's routes over one model and policy.
pub fn router(dir: ModelDir, reasons_for: ReasonsFor, max_body_bytes: usize) -> Router {
    let mut registry = Registry::default();
    let metrics = ServerMetrics::register(&mut registry);
    let ModelDir { model, policy } = dir;
    let state = Arc::new(AppState { model, policy, reasons_for, metrics, registry, max_body_bytes });
    Router::new()
        .route("/invocations", post(invocations::invocations))
        .route("/ping", get(invocations::ping))
        .route("/health", get(invocations::ping))
        .route("/version", get(invocations::version))
        .route("/metrics", get(invocations::metrics))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Serves `dir` on its own runtime until SIGINT/SIGTERM, then lets in-flight requests finish.
pub fn run(cfg: &ServeConfig, dir: ModelDir) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(cfg.workers).enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
        let addr = listener.local_addr()?;
        tracing::info!(
            model = dir.model.version(),
            review = dir.policy.review,
            decline = ?dir.policy.decline,
            "fraud serve listening on http://{addr}"
        );
        axum::serve(listener, router(dir, cfg.reasons_for, cfg.max_body_bytes))
            .with_graceful_shutdown(crate::signal::shutdown())
            .await
    })
}
