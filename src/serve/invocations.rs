//! `POST /invocations` and the small endpoints beside it: parse the body in any MLflow layout,
//! score, decide, answer as MLflow does (errors included).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::json;

use crate::decision::{Judgments, Policy, ReasonsFor};
use crate::model::FraudModel;
use crate::telemetry::{DecisionLabel, ServerMetrics, StatusLabel};
use crate::wire::{RowParser, WireError};

pub(super) struct AppState {
    pub model: FraudModel,
    pub policy: Policy,
    pub reasons_for: ReasonsFor,
    pub id: Option<String>,
    pub metrics: Arc<ServerMetrics>,
    pub registry: Registry,
    pub max_body_bytes: usize,
}

#[derive(Debug, Deserialize)]
pub(super) struct InvocationQuery {
    #[serde(default)]
    probabilities: bool,
    /// Adds each row's decision and reasons (and its probability).
    #[serde(default)]
    decisions: bool,
}

/// An error response as MLflow's scoring server writes it.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error_code": code, "message": message.into() }))).into_response()
}

fn bad_request(e: &WireError) -> Response {
    error(StatusCode::BAD_REQUEST, "BAD_REQUEST", format!("{}: {}", e.code, e.message))
}

pub(super) async fn invocations(
    State(state): State<Arc<AppState>>,
    query: Result<Query<InvocationQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let response = match query {
        Ok(Query(q)) => score(&state, &q, &headers, body),
        Err(e) => error(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.body_text()),
    };
    let status = response.status().as_u16().to_string();
    state.metrics.requests.get_or_create(&StatusLabel { status }).inc();
    state.metrics.latency.observe(started.elapsed().as_secs_f64());
    response
}

fn score(state: &AppState, q: &InvocationQuery, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let csv = match content_type.as_str() {
        "application/json" => false,
        "text/csv" => true,
        other => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_REQUEST",
                format!("content type {other:?} is not supported; use application/json or text/csv"),
            );
        }
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_REQUEST",
                format!("the request body is over the limit of {} bytes", state.max_body_bytes),
            );
        }
        Err(rejection) => return error(rejection.status(), "BAD_REQUEST", rejection.body_text()),
    };
    let mut parser = RowParser::new(Arc::clone(state.model.schema_arc()), state.id.clone(), state.max_body_bytes);
    let parsed = if csv { parser.parse_csv(&body) } else { parser.parse_json(&body) };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return bad_request(&e),
    };
    let mut j = Judgments::default();
    j.judge(&state.model, &state.policy, state.reasons_for, parsed.rows);
    for (d, p) in j.decisions.iter().zip(&j.probabilities) {
        state.metrics.decisions.get_or_create(&DecisionLabel { decision: d.as_str() }).inc();
        state.metrics.scores.observe(*p);
    }
    state.metrics.rows_scored.inc_by(parsed.rows.len() as u64);
    // MLflow's shape unless more is asked for.
    let mut body = match (q.probabilities, q.decisions) {
        (_, true) => json!({
            "predictions": j.predictions,
            "probabilities": j.probabilities,
            "decisions": j.decisions,
            "reasons": j.row_reasons(&state.model),
        }),
        (true, false) => json!({ "predictions": j.predictions, "probabilities": j.probabilities }),
        (false, false) => json!({ "predictions": j.predictions }),
    };
    if let Some(ids) = parsed.ids {
        body["ids"] = json!(ids);
    }
    axum::Json(body).into_response()
}

pub(super) async fn ping() -> &'static str {
    "\n"
}

pub(super) async fn version(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "model_version": state.model.version(),
        "model_created_at": state.model.provenance().created_at,
        "model_family": state.model.family().as_str(),
        "review_threshold": state.policy.review,
        "decline_threshold": state.policy.decline,
    }))
    .into_response()
}

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    crate::telemetry::metrics_response(&state.registry)
}
