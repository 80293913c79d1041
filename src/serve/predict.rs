//! `POST /v1/predict` (and the body of KServe's `POST /v1/models/NAME:predict`): the request's
//! checks and limits, the batched classification, the answer.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::request::{admit_and_read, json_response, kind, parse_json_body};
use super::{ApiError, AppState, ModelInfo, ServeConfig, WorkerError};

pub(super) async fn predict(State(state): State<AppState>, req: Request) -> Response {
    predict_request(state, req, false).await
}

/// A 413 answer when the request declares (`Content-Length`) a body over `limit` bytes, given
/// before any body byte is awaited.
fn declared_too_large(req: &Request, limit: usize) -> Option<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let n = declared.filter(|&n| n > limit as u64)?;
    Some(
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body ({n} bytes, Content-Length) is larger than the limit of {limit} bytes (--max-body-bytes)"
            ),
        )
        .into_response(),
    )
}

/// Answers a predict request: `{"predictions": [..], "model": {..}}`, or only
/// `{"predictions": [..]}` for KServe's V1 protocol (`kserve`).
pub(super) async fn predict_request(state: AppState, req: Request, kserve: bool) -> Response {
    within_limits(&state, req, |body| predict_inner(&state, body, kserve)).await
}

/// Runs a handler on the request's body under the server's limits: a declared length over
/// `--max-body-bytes` is answered at once (413, before any body byte is awaited), and an answer
/// that takes longer than `--timeout-ms` becomes a 503.
pub(super) async fn within_limits<F>(
    state: &AppState,
    req: Request,
    handler: impl FnOnce(Body) -> F,
) -> Response
where
    F: std::future::Future<Output = Result<Response, ApiError>>,
{
    let timeout = state.0.config.timeout;
    if let Some(refused) = declared_too_large(&req, state.0.config.max_body_bytes) {
        return refused;
    }
    match tokio::time::timeout(timeout, handler(req.into_body())).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than the limit of {} ms (--timeout-ms)",
                timeout.as_millis()
            ),
        )
        .into_response(),
    }
}

/// A parsed `POST /v1/predict` body.
#[derive(Debug, PartialEq)]
pub struct PredictRequest {
    /// The texts, in input order.
    pub texts: Vec<String>,
    /// How many `(label, probability)` pairs to return per text, at most the label count.
    pub top_k: usize,
    /// The field the texts came in, `texts` or `instances` (for error messages).
    pub field: &'static str,
}

/// The body of a successful predict answer; f32 probabilities are written in their shortest
/// exact form.
#[derive(Serialize)]
struct PredictResponse<'a> {
    predictions: Vec<PredictionOut<'a>>,
    model: &'a ModelInfo,
}

/// KServe V1's predict answer: only the predictions (f32 written as in [`PredictResponse`]).
#[derive(Serialize)]
struct KservePredictResponse<'a> {
    predictions: Vec<PredictionOut<'a>>,
}

#[derive(Serialize)]
struct LabelProb<'a> {
    label: &'a str,
    probability: f32,
}

#[derive(Serialize)]
struct PredictionOut<'a> {
    label: &'a str,
    probability: f32,
    top_k: Vec<LabelProb<'a>>,
    /// Multi-label models only: every label whose probability reaches its threshold, most
    /// probable first (possibly none).
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<LabelProb<'a>>>,
    truncated: bool,
    n_tokens: usize,
    n_oov: usize,
}

async fn predict_inner(state: &AppState, body: Body, kserve: bool) -> Result<Response, ApiError> {
    let s = &state.0;
    let (_permit, bytes) = admit_and_read(s, body).await?;
    let labels = s.classifier.labels();
    let request = parse_predict(&bytes, &s.config, labels.len())?;
    let field = request.field;
    let predictions = classify(state, request.texts, field).await?;
    let out: Vec<PredictionOut> = predictions
        .iter()
        .map(|p| {
            let top = p.top_k(labels, request.top_k);
            PredictionOut {
                label: top[0].0,
                probability: top[0].1,
                top_k: top
                    .into_iter()
                    .map(|(label, probability)| LabelProb { label, probability })
                    .collect(),
                labels: s.classifier.multi_label().map(|_| {
                    s.classifier
                        .decided_labels(p, None)
                        .into_iter()
                        .map(|(label, probability)| LabelProb { label, probability })
                        .collect()
                }),
                truncated: p.truncated,
                n_tokens: p.n_tokens,
                n_oov: p.n_oov,
            }
        })
        .collect();
    if kserve {
        return Ok(json_response(
            StatusCode::OK,
            &KservePredictResponse { predictions: out },
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &PredictResponse {
            predictions: out,
            model: &s.info,
        },
    ))
}

/// Classifies `texts` on the batching worker; `field` names them in the messages.
///
/// # Errors
/// 503 when the worker is gone, 500 when the model failed on them, 422 for a text without
/// tokens.
pub(super) async fn classify(
    state: &AppState,
    texts: Vec<String>,
    field: &str,
) -> Result<Vec<crate::predict::Prediction>, ApiError> {
    let predictions = state.0.worker.predict(texts).await.map_err(|e| match e {
        WorkerError::Gone => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model worker is not running",
        ),
        WorkerError::Failed(message) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the model failed on this request's texts ({message}); the service goes on"),
        ),
    })?;
    // A text without tokens is refused as an empty one is (see `parse_predict`).
    if let Some(i) = predictions.iter().position(|p| p.n_tokens == 0) {
        return Err(ApiError::unprocessable(format!(
            "{field}[{i}] has no tokens after tokenization (only markup, stop words or characters the tokenizer drops); n_tokens: 0"
        )));
    }
    Ok(predictions)
}

/// Parses and checks a predict body against the limits.
///
/// # Errors
/// 400 for a body that is not UTF-8 or not JSON; 413 for too many or too long texts; 422 for
/// JSON of the wrong shape (not an object, no `texts`/`instances`, both, not a list, an empty
/// list, a non-string text, an empty text, a bad `top_k`).
pub fn parse_predict(
    body: &[u8],
    config: &ServeConfig,
    n_labels: usize,
) -> Result<PredictRequest, ApiError> {
    let value = parse_json_body(body, "{\"texts\": [\"some text\"]}")?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::unprocessable(format!(
            "the body must be a JSON object like {{\"texts\": [\"some text\"]}}, not {}",
            kind(&value)
        )));
    };
    let top_k = match object.get("top_k") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(k) if k >= 1 => (k.min(n_labels as u64)) as usize,
            _ => {
                return Err(ApiError::unprocessable(format!(
                    "\"top_k\" must be an integer >= 1, not {v}"
                )));
            }
        },
    };
    let (field, list) = match (object.remove("texts"), object.remove("instances")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(
                "give either \"texts\" or \"instances\", not both",
            ));
        }
        (Some(v), None) => ("texts", v),
        (None, Some(v)) => ("instances", v),
        (None, None) => {
            return Err(ApiError::unprocessable(
                "missing field \"texts\" (a list of strings) or \"instances\" (a list of strings or of objects with a \"text\" field)",
            ));
        }
    };
    let Value::Array(items) = list else {
        return Err(ApiError::unprocessable(format!(
            "\"{field}\" must be a list, not {}",
            kind(&list)
        )));
    };
    let texts = checked_texts(field, items, config)?;
    Ok(PredictRequest {
        texts,
        top_k,
        field,
    })
}

/// The texts of a list of request items (strings; for `instances` also objects with a `"text"`
/// field), checked against the limits; `field` names the list in the messages.
///
/// # Errors
/// 422 for an empty list, a non-string or empty text; 413 for too many or too long texts.
pub(super) fn checked_texts(
    field: &str,
    items: Vec<Value>,
    config: &ServeConfig,
) -> Result<Vec<String>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "\"{field}\" is an empty list; give at least one text"
        )));
    }
    if items.len() > config.max_texts {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} texts in one request, more than the limit of {} (--max-texts)",
                items.len(),
                config.max_texts
            ),
        ));
    }
    let mut texts = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let text = match (field, item) {
            (_, Value::String(s)) => s,
            ("instances", Value::Object(mut o)) => match o.remove("text") {
                Some(Value::String(s)) => s,
                Some(other) => {
                    return Err(ApiError::unprocessable(format!(
                        "instances[{i}].text must be a string, not {}",
                        kind(&other)
                    )));
                }
                None => {
                    return Err(ApiError::unprocessable(format!(
                        "instances[{i}] has no \"text\" field"
                    )));
                }
            },
            (_, other) => {
                let expected = if field == "instances" {
                    "a string or an object with a \"text\" field"
                } else {
                    "a string"
                };
                return Err(ApiError::unprocessable(format!(
                    "{field}[{i}] must be {expected}, not {}",
                    kind(&other)
                )));
            }
        };
        if text.trim().is_empty() {
            return Err(ApiError::unprocessable(format!(
                "{field}[{i}] is an empty string"
            )));
        }
        let chars = text.chars().count();
        if chars > config.max_chars {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{field}[{i}] has {chars} characters, more than the limit of {} (--max-chars)",
                    config.max_chars
                ),
            ));
        }
        texts.push(text);
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<PredictRequest, ApiError> {
        parse_predict(body.as_bytes(), &ServeConfig::default(), 3)
    }

    #[test]
    fn accepts_texts_and_instances() {
        let r = parse(r#"{"texts": ["a", "b"], "top_k": 9}"#).unwrap();
        assert_eq!(r.texts, ["a", "b"]);
        assert_eq!(r.top_k, 3, "top_k is capped at the label count");
        let r = parse(r#"{"instances": ["a", {"text": "b"}]}"#).unwrap();
        assert_eq!(r.texts, ["a", "b"]);
        assert_eq!(r.top_k, 1);
    }

    #[test]
    fn rejects_bad_shapes_with_a_message() {
        for (body, status, needle) in [
            ("", 400, "empty"),
            ("{", 400, "invalid JSON"),
            ("[1]", 422, "JSON object"),
            ("{}", 422, "missing field"),
            (r#"{"texts": "a"}"#, 422, "must be a list"),
            (r#"{"texts": []}"#, 422, "empty list"),
            (r#"{"texts": [" "]}"#, 422, "texts[0] is an empty string"),
            (r#"{"texts": ["a", 3]}"#, 422, "texts[1] must be a string"),
            (r#"{"instances": [{"txt": "a"}]}"#, 422, "no \"text\" field"),
            (r#"{"instances": [{"text": 1}]}"#, 422, "must be a string"),
            (r#"{"texts": ["a"], "instances": ["a"]}"#, 422, "not both"),
            (r#"{"texts": ["a"], "top_k": 0}"#, 422, "top_k"),
            (r#"{"texts": ["a"], "top_k": "2"}"#, 422, "top_k"),
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.status.as_u16(), status, "{body}: {}", e.message);
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
        let e = parse_predict(b"{\"texts\": [\"\xff\"]}", &ServeConfig::default(), 2).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("UTF-8"));
    }

    #[test]
    fn enforces_text_limits() {
        let config = ServeConfig {
            max_texts: 2,
            max_chars: 5,
            ..ServeConfig::default()
        };
        let e = parse_predict(br#"{"texts": ["a", "b", "c"]}"#, &config, 2).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(e.message.contains("--max-texts"), "{}", e.message);
        let e = parse_predict(
            "{\"texts\": [\"ééééé\", \"abcdef\"]}".as_bytes(),
            &config,
            2,
        )
        .unwrap_err();
        assert!(
            e.message.contains("texts[1] has 6 characters"),
            "{}",
            e.message
        );
        assert!(e.message.contains("--max-chars"));
    }
}
