//! The web pages: `GET /`, the page to try the model, and `GET /report`, the bundle's training
//! report.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// The web page served at `/`.
pub const INDEX_HTML: &str = include_str!("index.html");

pub(super) async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
            ),
        ],
        INDEX_HTML,
    )
        .into_response()
}

pub(super) async fn report_page(State(state): State<AppState>) -> Response {
    match state.0.report.get() {
        Some(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                ),
            ],
            html.clone(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "this model has no report.html (training writes one; or write it with `textcnn eval --plots DIR`)",
        )
        .into_response(),
    }
}
