//! KServe's V1 inference protocol, so that `textcnn serve` can run as a KServe custom runtime
//! (KServe docs, "V1 Inference Protocol"):
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /v1/models` | `{"models": ["NAME"]}` |
//! | `GET /v1/models/NAME` | `{"name": "NAME", "ready": true}` |
//! | `POST /v1/models/NAME:predict` | `{"instances": ["text", {"text": ".."}, ..]}` → `{"predictions": [..]}` |
//!
//! `NAME` is the served model's name (`--model-name`, by default the bundle folder's name). The
//! predictions are those of `POST /v1/predict`, in input order, and the body is checked and
//! limited the same way; another name is a 404.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::predict::predict_request;
use super::request::json_response;
use super::{ApiError, AppState};

/// The suffix of a KServe V1 predict path.
const PREDICT_VERB: &str = ":predict";

fn unknown_model(state: &AppState, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no model named {name:?}; this service serves {:?} (POST /v1/models/{}:predict)",
            state.info().name,
            state.info().name
        ),
    )
}

/// `GET /v1/models`: the served model's name.
pub(super) async fn models(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &json!({ "models": [state.info().name] }))
}

/// `GET /v1/models/NAME`: whether the model is ready (it is loaded before the service starts).
/// `GET /v1/models/NAME:predict` is the wrong method for the predict path: a 405 (which the
/// router's middleware words as for every other wrong method).
pub(super) async fn ready(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if name.ends_with(PREDICT_VERB) {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if name != state.info().name {
        return unknown_model(&state, &name).into_response();
    }
    json_response(StatusCode::OK, &json!({ "name": name, "ready": true }))
}

/// `POST /v1/models/NAME:predict`.
pub(super) async fn predict(
    State(state): State<AppState>,
    Path(target): Path<String>,
    req: Request,
) -> Response {
    let Some(name) = target.strip_suffix(PREDICT_VERB) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no endpoint POST /v1/models/{target}; KServe's V1 predict path is POST /v1/models/{}:predict",
                state.info().name
            ),
        )
        .into_response();
    };
    if name != state.info().name {
        return unknown_model(&state, name).into_response();
    }
    predict_request(state, req, true).await
}
