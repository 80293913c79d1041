//! The routes of the service, the middleware that counts and JSON-wraps every answer, and the
//! small `GET` endpoints (`/healthz`, `/v1/model`, `/metrics`).

use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::metrics::{self, endpoint_label};
use super::request::json_response;
use super::{ApiError, AppState, explain, kserve, kserve_v2, page, predict};

/// The routes of the service, with metrics and JSON errors for every response.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/report", get(page::report_page))
        .route("/healthz", get(healthz))
        .route("/v1/model", get(model))
        .route("/metrics", get(metrics_text))
        .route("/v1/predict", post(predict::predict))
        .route("/v1/explain", post(explain::explain))
        .route("/v1/models", get(kserve::models))
        .route(
            "/v1/models/{target}",
            get(kserve::ready).post(kserve::predict),
        )
        .route("/v2", get(kserve_v2::server_metadata))
        .route("/v2/health/live", get(kserve_v2::live))
        .route("/v2/health/ready", get(kserve_v2::ready))
        .route("/v2/models/{name}", get(kserve_v2::metadata))
        .route("/v2/models/{name}/ready", get(kserve_v2::model_ready))
        .route("/v2/models/{name}/infer", post(kserve_v2::infer))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Counts every request and turns any error response without a JSON body (axum's own 405,
/// for instance) into `{"error": ...}`.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let metrics = &state.0.metrics;
    let _in_flight = metrics.request_started();
    let endpoint = endpoint_label(req.uri().path());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let post_only = endpoint == "/v1/predict"
            || endpoint == "/v1/explain"
            || endpoint == metrics::KSERVE_PREDICT
            || endpoint == metrics::KSERVE_V2_INFER;
        let message = if status == StatusCode::METHOD_NOT_ALLOWED {
            let allowed = if post_only { "POST" } else { "GET, HEAD" };
            format!("method {method} is not allowed for {path} (use {allowed})")
        } else {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase()
        };
        let allow = if status == StatusCode::METHOD_NOT_ALLOWED && post_only {
            // axum's own list for `/v1/models/{target}` holds GET, which is for readiness.
            Some(HeaderValue::from_static("POST"))
        } else {
            response.headers().get(header::ALLOW).cloned()
        };
        response = ApiError::new(status, message).into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    metrics.request_finished(endpoint, status.as_u16(), start.elapsed());
    response
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {method} {}; the endpoints are POST /v1/predict, POST /v1/explain, POST /v1/models/NAME:predict (KServe V1), POST /v2/models/NAME/infer (KServe V2), GET /v2/health/ready, GET /v1/model, GET /healthz, GET /metrics, GET /report and GET /",
            uri.path()
        ),
    )
}

async fn healthz(State(state): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "status": "ok", "model": state.0.info }),
    )
}

async fn model(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &state.0.model_json)
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.0.metrics.render(state.0.worker.queued()),
    )
        .into_response()
}
