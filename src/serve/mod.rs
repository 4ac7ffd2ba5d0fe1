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
    /// The input column carried as each row's id; the model's id column without it.
    pub id: Option<String>,
}

/// The server's routes over one model and policy; `id` as [`ServeConfig::id`].
pub fn router(dir: ModelDir, reasons_for: ReasonsFor, id: Option<String>, max_body_bytes: usize) -> Router {
    let mut registry = Registry::default();
    let metrics = ServerMetrics::register(&mut registry);
    let ModelDir { model, policy } = dir;
    let state = Arc::new(AppState { model, policy, reasons_for, id, metrics, registry, max_body_bytes });
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
        axum::serve(listener, router(dir, cfg.reasons_for, cfg.id.clone(), cfg.max_body_bytes))
            .with_graceful_shutdown(crate::signal::shutdown())
            .await
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;
    use crate::decision::Policy;
    use crate::schema::FEATURE_NAMES;

    fn app(max_body_bytes: usize) -> Router {
        let model = crate::model::tests::example_model();
        router(
            ModelDir { model, policy: Policy { review: 0.3, decline: Some(0.9) } },
            ReasonsFor::Flagged,
            None,
            max_body_bytes,
        )
    }

    async fn call(app: Router, uri: &str, content_type: &str, body: impl Into<Body>) -> (StatusCode, String) {
        let request = Request::post(uri).header("content-type", content_type).body(body.into()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// The tutorial's body: one legitimate row (all zeros) and one that the example model flags
    /// (V14 very low, V4 high).
    fn tutorial_body() -> String {
        let mut fraud = vec![0.0; FEATURE_NAMES.len()];
        fraud[13] = -9.5;
        fraud[3] = 4.0;
        json!({ "columns": FEATURE_NAMES, "data": [vec![0.0; FEATURE_NAMES.len()], fraud] }).to_string()
    }

    #[tokio::test]
    async fn answers_as_mlflow_and_adds_decisions_on_request() {
        let (status, body) = call(app(1 << 20), "/invocations", "application/json", tutorial_body()).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"predictions":[0,1]}"#));
        let (status, body) =
            call(app(1 << 20), "/invocations?decisions=true", "application/json", tutorial_body()).await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["decisions"], json!(["approve", "decline"]));
        assert_eq!(v["reasons"][0], json!([]), "an approved row has no reasons");
        assert_eq!(v["reasons"][1][0]["feature"], "V14", "the largest contribution first");
        assert!(v["probabilities"][1].as_f64().unwrap() > 0.9);
    }

    #[tokio::test]
    async fn errors_are_shaped_as_mlflow_shapes_them() {
        let (status, body) = call(app(1 << 20), "/invocations", "application/json", "{not json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error_code"], "BAD_REQUEST");
        assert!(v["message"].as_str().unwrap().starts_with("invalid_json: "), "{v}");
        let (status, _) = call(app(1 << 20), "/invocations", "text/plain", tutorial_body()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (status, body) = call(app(64), "/invocations", "application/json", tutorial_body()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        let (status, _) = call(app(1 << 20), "/invocations?decisions=maybe", "application/json", tutorial_body()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn metrics_count_requests_by_status_and_rows_by_decision() {
        let app = app(1 << 20);
        let _ = call(app.clone(), "/invocations", "application/json", tutorial_body()).await;
        let _ = call(app.clone(), "/invocations", "application/json", "[]").await;
        let response = app.oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
        let text =
            String::from_utf8(axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
        for line in [
            r#"fraud_http_requests_total{status="200"} 1"#,
            r#"fraud_http_requests_total{status="400"} 1"#,
            "fraud_http_rows_scored_total 2",
            r#"fraud_http_decisions_total{decision="decline"} 1"#,
            r#"fraud_http_decisions_total{decision="approve"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
    }
}
