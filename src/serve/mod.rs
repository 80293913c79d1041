//! `textcnn serve`: an HTTP/JSON service and a web page for a trained model bundle.
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /v1/predict` | `{"texts": [..], "top_k": 2}` or `{"instances": [..]}` → `{"predictions": [..], "model": {..}}` (multi-label models add `"labels"`, the labels over their thresholds, to each prediction) |
//! | `POST /v1/explain` | `{"text": "..", "label": "pos", "top": 20}` → `{"explanation": {..}, "model": {..}}` (see [`explain`]) |
//! | `POST /v1/models/NAME:predict` | KServe V1: `{"instances": [..]}` → `{"predictions": [..]}` (see [`kserve`]) |
//! | `GET /v1/model` | labels, architecture (and the n-gram branch of `ngram-cnn`), tokenizer and encoding settings, training summary, best epoch, limits |
//! | `GET /healthz` | `{"status": "ok", ..}` |
//! | `GET /metrics` | Prometheus text format: requests, errors, latency histogram, texts classified |
//! | `GET /` | a self-contained page: paste a text, see the label and the probabilities as bars |
//!
//! The bundle is loaded once; texts go through the same [`Classifier::predict`] as `textcnn
//! predict`, on a worker thread that batches concurrent requests (see [`Worker`]). Every bad
//! request gets a 4xx with a JSON body `{"error": "..."}`.

mod batcher;
pub mod explain;
mod kserve;
pub mod metrics;

use std::future::{Future, IntoFuture};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use batcher::{Worker, WorkerError};
use metrics::{Metrics, endpoint_label};

use crate::bundle::MODEL_FILE;
use crate::predict::Classifier;

/// The web page served at `/`.
pub const INDEX_HTML: &str = include_str!("index.html");

/// Limits and resources of the service.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Threads of the model's rayon pool (0 = one per core).
    pub threads: usize,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Most texts in one request.
    pub max_texts: usize,
    /// Most characters (Unicode scalar values) in one text.
    pub max_chars: usize,
    /// Time from the start of a predict request to its answer; past it the answer is a 503.
    pub timeout: Duration,
    /// Predict requests handled at once (reading, parsing, waiting for the model); more wait.
    /// Bounds memory at about `max_concurrent * max_body_bytes`.
    pub max_concurrent: usize,
    /// Most texts per forward pass when batching concurrent requests.
    pub max_batch: usize,
    /// Connections held open at once; further ones wait in the listen backlog until one
    /// closes. Bounds the file descriptors a crowd of idle clients can take.
    pub max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            threads: 0,
            max_body_bytes: 1 << 20,
            max_texts: 256,
            max_chars: 100_000,
            timeout: Duration::from_secs(30),
            max_concurrent: 256,
            max_batch: crate::predict::INFERENCE_BATCH,
            max_connections: 512,
        }
    }
}

/// Name and version of the served model, echoed in every prediction response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// The bundle directory's name.
    pub name: String,
    /// `sha256:` and the first 12 hex digits of the hash of `model.safetensors`: changes
    /// whenever the parameters do.
    pub version: String,
}

impl ModelInfo {
    /// Name and version of the bundle in `dir`.
    ///
    /// # Errors
    /// When `model.safetensors` cannot be read.
    pub fn from_dir(dir: &Path) -> Result<ModelInfo> {
        // Every file that decides the outputs: the CNN's weights, and the n-gram branch's
        // files and the config that holds its mixture weights when the bundle has one.
        let mut hasher = Sha256::new();
        let ngram = dir.join(crate::ngram::NGRAM_TENSORS_FILE);
        let mut files = vec![dir.join(MODEL_FILE)];
        if ngram.exists() {
            files.extend([
                ngram,
                dir.join(crate::ngram::NGRAM_TOKENS_FILE),
                dir.join(crate::bundle::CONFIG_FILE),
            ]);
        }
        for path in files {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            hasher.update(&bytes);
        }
        let hash = hasher.finalize();
        let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
        let name = std::fs::canonicalize(dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into());
        Ok(ModelInfo {
            name,
            version: format!("sha256:{hex}"),
        })
    }
}

/// Shared state of the service; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    classifier: Arc<Classifier>,
    info: ModelInfo,
    config: ServeConfig,
    worker: Worker,
    metrics: Arc<Metrics>,
    permits: Semaphore,
    model_json: Value,
    /// Threads for `/v1/explain` (`--threads` of them), beside the worker's.
    explain_pool: Arc<rayon::ThreadPool>,
    /// The bundle's `report.html`, served at `GET /report` once set.
    report: std::sync::OnceLock<String>,
}

impl AppState {
    /// Starts the model worker for `classifier` and prepares the answers that never change.
    pub fn new(classifier: Classifier, info: ModelInfo, config: ServeConfig) -> AppState {
        let classifier = Arc::new(classifier);
        let metrics = Arc::new(Metrics::default());
        let worker = Worker::spawn(
            classifier.clone(),
            config.threads,
            config.max_batch,
            config.max_concurrent,
            metrics.clone(),
        );
        let model_json = model_json(&classifier, &info, &config);
        AppState(Arc::new(Inner {
            explain_pool: Arc::new(crate::nn::thread_pool(config.threads)),
            permits: Semaphore::new(config.max_concurrent.max(1)),
            classifier,
            info,
            config,
            worker,
            metrics,
            model_json,
            report: std::sync::OnceLock::new(),
        }))
    }

    /// Serves `html` (the bundle's `report.html`, see [`crate::report`]) at `GET /report`;
    /// without it that route answers 404. Only the first call counts.
    pub fn set_report(&self, html: String) {
        let _ = self.0.report.set(html);
    }

    /// The service's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The served model's name and version.
    pub fn info(&self) -> &ModelInfo {
        &self.0.info
    }
}

fn model_json(c: &Classifier, info: &ModelInfo, config: &ServeConfig) -> Value {
    let bc = &c.bundle().config;
    json!({
        "name": info.name,
        "version": info.version,
        "labels": bc.labels,
        "architecture": bc.architecture,
        "parameters": bc.architecture.num_params(),
        "ngram": bc.ngram,
        "multi_label": bc.multi_label,
        "tokenizer": bc.tokenizer,
        "encode": bc.encode,
        "training": bc.training,
        "dataset": bc.dataset,
        "best": bc.best,
        "textcnn_version": bc.textcnn_version,
        "limits": {
            "max_body_bytes": config.max_body_bytes,
            "max_texts": config.max_texts,
            "max_chars": config.max_chars,
            "max_len_tokens": bc.encode.max_len,
            "timeout_ms": config.timeout.as_millis() as u64,
            "max_connections": config.max_connections,
        },
    })
}

/// A request error: its status and the message of the JSON body `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status (4xx for client errors).
    pub status: StatusCode,
    /// What is wrong, for a person.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &json!({ "error": self.message }))
    }
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
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

/// The routes of the service, with metrics and JSON errors for every response.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/report", get(report_page))
        .route("/healthz", get(healthz))
        .route("/v1/model", get(model))
        .route("/metrics", get(metrics_text))
        .route("/v1/predict", post(predict))
        .route("/v1/explain", post(explain::explain))
        .route("/v1/models", get(kserve::models))
        .route(
            "/v1/models/{target}",
            get(kserve::ready).post(kserve::predict),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting connections
/// and returns once the requests in flight are answered, or at the latest `config.timeout`
/// after `shutdown` (the longest a request may take), whatever the clients still hold open.
///
/// At most `config.max_connections` connections are open at once, and a connection on which
/// nothing is received or sent for one second more than `config.timeout` (a client that never
/// finishes its headers, an idle keep-alive) is closed.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = &state.0.config;
    let grace = config.timeout;
    let listener = LimitedListener {
        inner: listener,
        permits: Arc::new(Semaphore::new(config.max_connections.max(1))),
        // Longer than a request's own limit, so that a slow request gets its 503 (its body
        // arrived before its timer started) rather than a closed connection.
        idle: config.timeout + IDLE_MARGIN,
    };
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        })
        .into_future();
    let deadline = async move {
        match stopping_rx.await {
            Ok(()) => tokio::time::sleep(grace).await,
            // The server ended on its own.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => result,
        () = deadline => Ok(()),
    }
}

/// How much longer than the request timeout a connection may stay silent before it is closed.
const IDLE_MARGIN: Duration = Duration::from_secs(1);

/// A TCP listener that keeps at most as many connections open as it has permits and wraps
/// each in an [`IdleTimeout`].
struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    idle: Duration,
}

impl axum::serve::Listener for LimitedListener {
    type Io = IdleTimeout;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (IdleTimeout, std::net::SocketAddr) {
        // Wait for a free slot before accepting: new clients wait in the listen backlog.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let _ = io.set_nodelay(true);
        (
            IdleTimeout {
                io,
                _permit: permit,
                idle: self.idle,
                deadline: Box::pin(tokio::time::sleep(self.idle)),
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection whose reads fail with `TimedOut` once nothing has been received or sent for
/// `idle`; holds its slot of the connection limit until dropped.
struct IdleTimeout {
    io: tokio::net::TcpStream,
    _permit: tokio::sync::OwnedSemaphorePermit,
    idle: Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimeout {
    fn touch(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }
}

impl tokio::io::AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "nothing received within the timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl tokio::io::AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(result, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(result, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
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
        let message = if status == StatusCode::METHOD_NOT_ALLOWED {
            let allowed = if endpoint == "/v1/predict"
                || endpoint == "/v1/explain"
                || endpoint == metrics::KSERVE_PREDICT
            {
                "POST"
            } else {
                "GET, HEAD"
            };
            format!("method {method} is not allowed for {path} (use {allowed})")
        } else {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase()
        };
        let allow = response.headers().get(header::ALLOW).cloned();
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
            "no endpoint {method} {}; the endpoints are POST /v1/predict, POST /v1/explain, POST /v1/models/NAME:predict (KServe V1), GET /v1/model, GET /healthz, GET /metrics, GET /report and GET /",
            uri.path()
        ),
    )
}

async fn index() -> Response {
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

async fn report_page(State(state): State<AppState>) -> Response {
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
        state.0.metrics.render(),
    )
        .into_response()
}

async fn predict(State(state): State<AppState>, req: Request) -> Response {
    predict_request(state, req, false).await
}

/// Answers a predict request: `{"predictions": [..], "model": {..}}`, or only
/// `{"predictions": [..]}` for KServe's V1 protocol (`kserve`).
async fn predict_request(state: AppState, req: Request, kserve: bool) -> Response {
    let timeout = state.0.config.timeout;
    // A declared length over the limit is answered at once, before any body byte is awaited.
    let limit = state.0.config.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > limit as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body ({n} bytes, Content-Length) is larger than the limit of {limit} bytes (--max-body-bytes)"
            ),
        )
        .into_response();
    }
    match tokio::time::timeout(timeout, predict_inner(&state, req.into_body(), kserve)).await {
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

/// Waits for a request slot (`--max-concurrent`), then reads the body up to `--max-body-bytes`.
///
/// # Errors
/// 503 when the service is shutting down, 413 for a body over the limit, 400 for an unreadable
/// body.
async fn admit_and_read(
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

async fn predict_inner(state: &AppState, body: Body, kserve: bool) -> Result<Response, ApiError> {
    let s = &state.0;
    let (_permit, bytes) = admit_and_read(s, body).await?;
    let labels = s.classifier.labels();
    let request = parse_predict(&bytes, &s.config, labels.len())?;
    let field = request.field;
    let predictions = s.worker.predict(request.texts).await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model worker is not running",
        )
    })?;
    // A text without tokens is refused as an empty one is (see `parse_predict`).
    if let Some(i) = predictions.iter().position(|p| p.n_tokens == 0) {
        return Err(ApiError::unprocessable(format!(
            "{field}[{i}] has no tokens after tokenization (only markup, stop words or characters the tokenizer drops); n_tokens: 0"
        )));
    }
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

/// Parses and checks a predict body against the limits.
///
/// A request body as JSON; `example` is shown in the message for an empty body.
///
/// # Errors
/// 400 for a body that is not UTF-8, empty, or not JSON.
fn parse_json_body(body: &[u8], example: &str) -> Result<Value, ApiError> {
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
    Ok(PredictRequest {
        texts,
        top_k,
        field,
    })
}

/// "a number", "an object", ... for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
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
