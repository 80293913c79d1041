//! The Open Inference Protocol (KServe V2, REST), so that `textcnn serve` runs as a KServe V2
//! (or Triton-compatible) runtime. Source: the protocol's `inference_rest.md`
//! (github.com/kserve/open-inference-protocol, "HTTP/REST").
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /v2` | server metadata `{"name": "textcnn", "version": .., "extensions": []}` |
//! | `GET /v2/health/live`, `GET /v2/health/ready` | `{"live": true}`, `{"ready": true}` (200) |
//! | `GET /v2/models/NAME` | model metadata: name, versions, platform, input and output tensors |
//! | `GET /v2/models/NAME/ready` | `{"name": NAME, "ready": true}` |
//! | `POST /v2/models/NAME/infer` | inference request → response (below) |
//!
//! Infer: one input tensor (any name, `datatype` `"BYTES"`, `shape` `[n]` or `[n, 1]`, `data` the
//! `n` texts as JSON strings, flat or nested row-major) gives two outputs: `probabilities`
//! (`FP32`, `[n, labels]`, the labels in the order of `GET /v2/models/NAME` →
//! `parameters.labels`; softmax, or one sigmoid per label for a multi-label model) and `label`
//! (`BYTES`, `[n]`, the most probable label). A request's `outputs` list picks among them; its
//! `id` is echoed. The texts are checked, limited and batched as for `POST /v1/predict`.
//! Errors are `{"error": ".."}` with a 4xx/5xx status, as the protocol asks. The binary tensor
//! extension and model versions in the path are not supported.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::predict::{checked_texts, classify, within_limits};
use super::request::{admit_and_read, json_response, kind, parse_json_body};
use super::{ApiError, AppState};

/// Name of the FP32 `[n, labels]` output.
pub const PROBABILITIES: &str = "probabilities";
/// Name of the BYTES `[n]` output.
pub const LABEL: &str = "label";
/// Name of the BYTES `[n]` input in the model metadata (requests may name it otherwise).
pub const TEXT_INPUT: &str = "text";

/// `name` when it is the served model's, else the 404 that names the served one.
fn served(state: &AppState, name: String) -> Result<String, ApiError> {
    if name == state.info().name {
        return Ok(name);
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no model named {name:?}; this service serves {:?} (POST /v2/models/{}/infer)",
            state.info().name,
            state.info().name
        ),
    ))
}

/// `GET /v2`: server metadata.
pub(super) async fn server_metadata() -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "name": "textcnn", "version": env!("CARGO_PKG_VERSION"), "extensions": [] }),
    )
}

/// `GET /v2/health/live`: the process answers.
pub(super) async fn live() -> Response {
    json_response(StatusCode::OK, &json!({ "live": true }))
}

/// `GET /v2/health/ready`: the model is loaded before the service starts, so always ready.
pub(super) async fn ready() -> Response {
    json_response(StatusCode::OK, &json!({ "ready": true }))
}

/// `GET /v2/models/NAME`: the model's metadata.
pub(super) async fn metadata(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let name = match served(&state, name) {
        Ok(name) => name,
        Err(e) => return e.into_response(),
    };
    let labels = state.0.classifier.labels();
    json_response(
        StatusCode::OK,
        &json!({
            "name": name,
            "versions": [state.info().version],
            "platform": "textcnn",
            "inputs": [{ "name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1] }],
            "outputs": [
                { "name": PROBABILITIES, "datatype": "FP32", "shape": [-1, labels.len()] },
                { "name": LABEL, "datatype": "BYTES", "shape": [-1] },
            ],
            "parameters": { "labels": labels },
        }),
    )
}

/// `GET /v2/models/NAME/ready`.
pub(super) async fn model_ready(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    match served(&state, name) {
        Ok(name) => json_response(StatusCode::OK, &json!({ "name": name, "ready": true })),
        Err(e) => e.into_response(),
    }
}

/// `POST /v2/models/NAME/infer`.
pub(super) async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    match served(&state, name) {
        Ok(_) => within_limits(&state, req, |body| infer_inner(&state, body)).await,
        Err(e) => e.into_response(),
    }
}

/// One output tensor of an inference response.
#[derive(Serialize)]
struct OutputTensor<'a> {
    name: &'static str,
    datatype: &'static str,
    shape: Vec<usize>,
    data: OutputData<'a>,
}

/// The flat data of an output tensor; f32 values are written in their shortest exact form.
#[derive(Serialize)]
#[serde(untagged)]
enum OutputData<'a> {
    Fp32(Vec<f32>),
    Bytes(Vec<&'a str>),
}

/// An inference response.
#[derive(Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Value>,
    outputs: Vec<OutputTensor<'a>>,
}

/// A parsed inference request: the texts, the outputs asked for and the request id.
#[derive(Debug, PartialEq)]
pub struct InferRequest {
    /// The input tensor's texts, in row-major order.
    pub texts: Vec<String>,
    /// Outputs to return ([`PROBABILITIES`], [`LABEL`]), in the answer's order.
    pub outputs: Vec<&'static str>,
    /// The request's `id`, echoed in the answer.
    pub id: Option<Value>,
}

/// Parses and checks an inference request body.
///
/// # Errors
/// 400 for a body that is not JSON or not an inference request (no single BYTES input, a
/// shape that does not match the data, an unknown output); 413/422 for texts over the limits
/// or empty, as for `POST /v1/predict`.
pub fn parse_infer(body: &[u8], config: &super::ServeConfig) -> Result<InferRequest, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let example = r#"{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["some text"]}]}"#;
    let value = parse_json_body(body, example)?;
    let Value::Object(mut object) = value else {
        return Err(bad(format!(
            "the body must be an inference request object like {example}, not {}",
            kind(&value)
        )));
    };
    let inputs = match object.remove("inputs") {
        Some(Value::Array(a)) => a,
        _ => return Err(bad(format!("missing \"inputs\" list; send {example}"))),
    };
    let [Value::Object(mut input)] = <[Value; 1]>::try_from(inputs).map_err(|v| {
        bad(format!(
            "\"inputs\" must hold exactly one tensor (the texts), not {}",
            v.len()
        ))
    })?
    else {
        return Err(bad("inputs[0] must be an object".into()));
    };
    let datatype = input.get("datatype").and_then(Value::as_str).unwrap_or("");
    if datatype != "BYTES" {
        return Err(bad(format!(
            "inputs[0].datatype must be \"BYTES\" (the texts as strings), not {}",
            input.get("datatype").cloned().unwrap_or(Value::Null)
        )));
    }
    let shape: Vec<u64> = match input.get("shape") {
        Some(Value::Array(s)) => s
            .iter()
            .map(Value::as_u64)
            .collect::<Option<_>>()
            .ok_or_else(|| bad("inputs[0].shape must be a list of whole numbers".into()))?,
        _ => return Err(bad("inputs[0] has no \"shape\" list".into())),
    };
    if input
        .get("parameters")
        .and_then(|p| p.get("binary_data_size"))
        .is_some()
    {
        return Err(bad(BINARY_REFUSED.into()));
    }
    let mut items = Vec::new();
    let depth = flatten(input.remove("data").unwrap_or(Value::Null), &mut items)
        .map_err(|k| bad(format!("inputs[0].data must be a list of strings, not {k}")))?;
    if depth > shape.len() {
        return Err(bad(format!(
            "inputs[0].data is nested {depth} lists deep, deeper than its shape {shape:?}"
        )));
    }
    let declared: u64 = shape.iter().product();
    let one_text_per_row = shape.len() == 1 || (shape.len() == 2 && shape[1] == 1);
    if !one_text_per_row || declared != items.len() as u64 {
        return Err(bad(format!(
            "inputs[0].shape {shape:?} does not fit its data: give [n] (or [n, 1]) for n texts; \
             the data holds {}",
            items.len()
        )));
    }
    let texts = checked_texts("inputs[0].data", items, config)?;
    let outputs = match object.remove("outputs") {
        None | Some(Value::Null) => vec![PROBABILITIES, LABEL],
        Some(Value::Array(list)) => {
            let mut names: Vec<&'static str> = Vec::new();
            for o in &list {
                if o.get("parameters").and_then(|p| p.get("binary_data"))
                    == Some(&Value::Bool(true))
                {
                    return Err(bad(BINARY_REFUSED.into()));
                }
                let name = match o.get("name").and_then(Value::as_str) {
                    Some(PROBABILITIES) => PROBABILITIES,
                    Some(LABEL) => LABEL,
                    _ => {
                        return Err(bad(format!(
                            "unknown output {}; this model's outputs are \"{PROBABILITIES}\" and \"{LABEL}\"",
                            o.get("name").cloned().unwrap_or(Value::Null)
                        )));
                    }
                };
                if names.contains(&name) {
                    return Err(bad(format!("output \"{name}\" is asked for twice")));
                }
                names.push(name);
            }
            names
        }
        Some(other) => {
            return Err(bad(format!(
                "\"outputs\" must be a list, not {}",
                kind(&other)
            )));
        }
    };
    Ok(InferRequest {
        texts,
        outputs,
        id: object.remove("id"),
    })
}

/// The message for a request using the binary tensor data extension.
const BINARY_REFUSED: &str = "the binary tensor data extension is not supported: send the texts as \
     JSON strings in inputs[0].data and leave out \"binary_data\" / \"binary_data_size\"";

/// Appends the leaves of nested lists to `out` (row-major) and returns the deepest nesting (1
/// for a flat list); a scalar at the top is an error (its kind is returned).
fn flatten(v: Value, out: &mut Vec<Value>) -> Result<usize, &'static str> {
    match v {
        Value::Array(items) => {
            let mut depth = 1;
            for item in items {
                match item {
                    Value::Array(_) => depth = depth.max(1 + flatten(item, out)?),
                    leaf => out.push(leaf),
                }
            }
            Ok(depth)
        }
        other => Err(kind(&other)),
    }
}

/// Reads, checks and answers an inference request (run by [`within_limits`]).
pub(super) async fn infer_inner(state: &AppState, body: Body) -> Result<Response, ApiError> {
    let s = &state.0;
    let (_permit, bytes) = admit_and_read(s, body).await?;
    let request = parse_infer(&bytes, &s.config)?;
    let n = request.texts.len();
    let predictions = classify(state, request.texts, "inputs[0].data").await?;
    let labels = s.classifier.labels();
    let outputs: Vec<OutputTensor> = request
        .outputs
        .iter()
        .map(|&name| match name {
            PROBABILITIES => OutputTensor {
                name,
                datatype: "FP32",
                shape: vec![n, labels.len()],
                data: OutputData::Fp32(
                    predictions
                        .iter()
                        .flat_map(|p| p.probabilities.iter().copied())
                        .collect(),
                ),
            },
            _ => OutputTensor {
                name,
                datatype: "BYTES",
                shape: vec![n],
                data: OutputData::Bytes(predictions.iter().map(|p| p.label.as_str()).collect()),
            },
        })
        .collect();
    let answer = InferResponse {
        model_name: &state.info().name,
        model_version: &state.info().version,
        id: request.id,
        outputs,
    };
    Ok(json_response(StatusCode::OK, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::ServeConfig;

    fn parse(body: &str) -> Result<InferRequest, ApiError> {
        parse_infer(body.as_bytes(), &ServeConfig::default())
    }

    #[test]
    fn reads_the_body_a_kserve_client_sends() {
        // kserve.InferRequest(..).to_rest() of a numpy object array of two strings.
        let r = parse(
            r#"{"id": "7c1f", "parameters": {}, "inputs": [{"name": "input-0", "shape": [2], "datatype": "BYTES", "data": ["good film", "bad film"], "parameters": {}}]}"#,
        )
        .unwrap();
        assert_eq!(r.texts, ["good film", "bad film"]);
        assert_eq!(r.outputs, [PROBABILITIES, LABEL]);
        assert_eq!(r.id, Some(json!("7c1f")));
        // [n, 1] nested, and a chosen output.
        let r = parse(
            r#"{"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], ["b"]]}], "outputs": [{"name": "label"}]}"#,
        )
        .unwrap();
        assert_eq!(r.texts, ["a", "b"]);
        assert_eq!(r.outputs, [LABEL]);
    }

    #[test]
    fn rejects_what_is_not_an_inference_request() {
        for (body, status, needle) in [
            ("[]", 400, "inference request object"),
            ("{}", 400, "missing \"inputs\""),
            (
                r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "FP32", "data": [1.0]}]}"#,
                400,
                "BYTES",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [3], "datatype": "BYTES", "data": ["a", "b"]}]}"#,
                400,
                "does not fit",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}]}"#,
                400,
                "does not fit",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["a"]}], "outputs": [{"name": "logits"}]}"#,
                400,
                "unknown output",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": [" "]}]}"#,
                422,
                "inputs[0].data[0] is an empty string",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": [3]}]}"#,
                422,
                "must be a string",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": [["a"]]}]}"#,
                400,
                "deeper than its shape",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1, 1], "datatype": "BYTES", "data": [[["a"]]]}]}"#,
                400,
                "deeper than its shape",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["a"]}], "outputs": [{"name": "label"}, {"name": "label"}]}"#,
                400,
                "asked for twice",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 5}}]}"#,
                400,
                "binary tensor data extension",
            ),
            (
                r#"{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["a"]}], "outputs": [{"name": "label", "parameters": {"binary_data": true}}]}"#,
                400,
                "binary tensor data extension",
            ),
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.status.as_u16(), status, "{body}: {}", e.message);
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }
}
