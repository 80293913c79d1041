//! What every request handler shares: the JSON error answer ([`ApiError`]), JSON answers, the
//! admission of a request (`--max-concurrent`) with the reading of its body
//! (`--max-body-bytes`), and the parsing of a body as JSON.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::Inner;

/// A request error: its status and the message of the JSON body `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status (4xx for client errors).
    pub status: StatusCode,
    /// What is wrong, for a person.
    pub message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(super) fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &json!({ "error": self.message }))
    }
}

pub(super) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Waits for a request slot (`--max-concurrent`), then reads the body up to `--max-body-bytes`.
///
/// # Errors
/// 503 when the service is shutting down, 413 for a body over the limit, 400 for an unreadable
/// body.
pub(super) async fn admit_and_read(
    s: &Inner,
    body: Body,
) -> Result<(tokio::sync::SemaphorePermit<'_>, axum::body::Bytes), ApiError> {
    let permit = s.permits.acquire().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down",
        )
    })?;
    let limit = s.config.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than the limit of {limit} bytes (--max-body-bytes)"
                ),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {inner}"),
            )
        }
    })?;
    Ok((permit, bytes))
}

/// A request body as JSON; `example` is shown in the message for an empty body.
///
/// # Errors
/// 400 for a body that is not UTF-8, empty, or not JSON.
pub(super) fn parse_json_body(body: &[u8], example: &str) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the request body is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    if text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is empty; send JSON like {example}"),
        ));
    }
    serde_json::from_str(text)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))
}

/// "a number", "an object", ... for error messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
