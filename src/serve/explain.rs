//! `POST /v1/explain`: the explanation of one text ([`Classifier::explain`]).
//!
//! Body: `{"text": "...", "label": "pos", "top": 20}`; `label` (default: the predicted one) and
//! `top` (windows returned, largest absolute contribution first; default 20, `0` for all) are
//! optional. Answer: `{"explanation": {...}, "model": {"name", "version"}}`, the explanation as
//! `textcnn explain --json` prints it (every token, the `top` windows, `n_windows` in all).
//! The same limits as `/v1/predict` apply (body size, characters, timeout, concurrency); the
//! work runs on the service's explain pool of `--threads` threads, off the async runtime.
//!
//! [`Classifier::explain`]: crate::predict::Classifier::explain

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::request::{admit_and_read, json_response, parse_json_body};
use super::{ApiError, AppState};
use crate::explain::Tagged;

/// Windows returned when the request does not say.
pub const DEFAULT_TOP: usize = 20;

/// A parsed `POST /v1/explain` body.
#[derive(Debug, PartialEq)]
pub struct ExplainRequest {
    /// The text.
    pub text: String,
    /// The label to explain (`None`: the predicted one).
    pub label: Option<String>,
    /// Windows to return (`usize::MAX` for all).
    pub top: usize,
}

/// Parses and checks an explain body.
///
/// # Errors
/// 400 for a body that is not UTF-8 or not JSON; 413 for a text over `max_chars`; 422 for a
/// body of the wrong shape (not an object, no `text`, a non-string or empty text, a label that
/// is not a string, a bad `top`).
pub fn parse_explain(body: &[u8], max_chars: usize) -> Result<ExplainRequest, ApiError> {
    let value = parse_json_body(body, "{\"text\": \"some text\"}")?;
    let Value::Object(mut o) = value else {
        return Err(ApiError::unprocessable(
            "the body must be a JSON object like {\"text\": \"some text\"}",
        ));
    };
    let text = match o.remove("text") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::unprocessable("\"text\" must be a string")),
        None => {
            return Err(ApiError::unprocessable(
                "missing field \"text\" (the text to explain)",
            ));
        }
    };
    if text.trim().is_empty() {
        return Err(ApiError::unprocessable("\"text\" is an empty string"));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "\"text\" has {chars} characters, more than the limit of {max_chars} (--max-chars)"
            ),
        ));
    }
    let label = match o.remove("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(ApiError::unprocessable("\"label\" must be a string")),
    };
    let top = match o.remove("top") {
        None | Some(Value::Null) => DEFAULT_TOP,
        Some(v) => match v.as_u64() {
            Some(0) => usize::MAX,
            Some(n) => n as usize,
            None => {
                return Err(ApiError::unprocessable(format!(
                    "\"top\" must be an integer >= 0 (0 = every window), not {v}"
                )));
            }
        },
    };
    Ok(ExplainRequest { text, label, top })
}

/// The handler of `POST /v1/explain`.
pub(super) async fn explain(State(state): State<AppState>, req: Request) -> Response {
    super::predict::within_limits(&state, req, |body| explain_inner(&state, body)).await
}

async fn explain_inner(state: &AppState, body: Body) -> Result<Response, ApiError> {
    let s = &state.0;
    let (_permit, bytes) = admit_and_read(s, body).await?;
    let request = parse_explain(&bytes, s.config.max_chars)?;
    if let Some(l) = &request.label {
        s.classifier
            .label_index(l)
            .map_err(|e| ApiError::unprocessable(format!("\"label\": {e}")))?;
    }
    let (classifier, pool) = (s.classifier.clone(), s.explain_pool.clone());
    let ExplainRequest { text, label, top } = request;
    let result = tokio::task::spawn_blocking(move || {
        pool.install(|| classifier.explain(&text, label.as_deref()))
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the explanation failed unexpectedly",
        )
    })?;
    let mut e = result.map_err(|e| ApiError::unprocessable(format!("\"text\": {e:#}")))?;
    let n_windows = e.windows.len();
    e.windows.truncate(top);
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        explanation: Tagged<'a, Value>,
        model: &'a super::ModelInfo,
    }
    Ok(json_response(
        StatusCode::OK,
        &Answer {
            explanation: Tagged {
                tags: json!({ "n_windows": n_windows }),
                explained: e.explained(),
                explanation: &e,
            },
            model: &s.info,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_bodies_with_a_message() {
        let r = parse_explain(br#"{"text": "good", "label": "pos", "top": 3}"#, 10).unwrap();
        assert_eq!(
            r,
            ExplainRequest {
                text: "good".into(),
                label: Some("pos".into()),
                top: 3
            }
        );
        let r = parse_explain(br#"{"text": "good", "top": 0}"#, 10).unwrap();
        assert_eq!((r.label, r.top), (None, usize::MAX));
        assert_eq!(
            parse_explain(br#"{"text": "x"}"#, 10).unwrap().top,
            DEFAULT_TOP
        );
        for (body, status, needle) in [
            ("", 400, "empty"),
            ("{", 400, "invalid JSON"),
            ("[]", 422, "JSON object"),
            ("{}", 422, "missing field \"text\""),
            (r#"{"text": 1}"#, 422, "must be a string"),
            (r#"{"text": " "}"#, 422, "empty string"),
            (
                r#"{"text": "a", "label": 2}"#,
                422,
                "\"label\" must be a string",
            ),
            (r#"{"text": "a", "top": -1}"#, 422, "\"top\""),
            (r#"{"text": "abcdefghijk"}"#, 413, "11 characters"),
        ] {
            let e = parse_explain(body.as_bytes(), 10).unwrap_err();
            assert_eq!(e.status.as_u16(), status, "{body}: {}", e.message);
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }
}
