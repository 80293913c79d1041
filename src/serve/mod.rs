//! `textcnn serve`: an HTTP/JSON service and a web page for a trained model bundle.
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /v1/predict` | `{"texts": [..], "top_k": 2}` or `{"instances": [..]}` → `{"predictions": [..], "model": {..}}` (multi-label models add `"labels"`, the labels over their thresholds, to each prediction) |
//! | `POST /v1/explain` | `{"text": "..", "label": "pos", "top": 20}` → `{"explanation": {..}, "model": {..}}` (see [`explain`]) |
//! | `POST /v1/models/NAME:predict` | KServe V1: `{"instances": [..]}` → `{"predictions": [..]}` (see [`kserve`]) |
//! | `POST /v2/models/NAME/infer` | KServe V2 / Open Inference Protocol: a BYTES tensor of texts → `probabilities` FP32 `[n, labels]` and `label` BYTES `[n]`; with `GET /v2/health/{live,ready}`, `GET /v2/models/NAME[/ready]` (see [`kserve_v2`]) |
//! | `GET /v1/model` | labels, architecture (and the n-gram branch of `ngram-cnn`), tokenizer and encoding settings, training summary, best epoch, limits |
//! | `GET /healthz` | `{"status": "ok", ..}` |
//! | `GET /metrics` | Prometheus text format: requests, errors, latency histogram, texts classified |
//! | `GET /` | a self-contained page: paste a text, see the label and the probabilities as bars |
//!
//! The bundle is loaded once; texts go through the same [`Classifier::predict`] as `textcnn
//! predict`, on a worker thread that batches concurrent requests (see [`Worker`]). Every bad
//! request gets a 4xx with a JSON body `{"error": "..."}`.

mod batcher;
mod connection;
pub mod explain;
mod kserve;
pub mod kserve_v2;
pub mod metrics;
mod page;
mod predict;
mod request;
mod routes;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

pub use batcher::{Worker, WorkerError};
pub use connection::{serve, shutdown_signal};
use metrics::Metrics;
pub use page::INDEX_HTML;
pub use predict::{PredictRequest, parse_predict};
pub use request::ApiError;
pub use routes::router;

use crate::bundle::MODEL_FILE;
use crate::predict::Classifier;

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
    /// Connections held open at once. When all are taken, a new connection takes the slot of
    /// the one that has waited longest without a request in flight (a client still sending its
    /// head, an idle keep-alive), which is closed; when every one has a request in flight, new
    /// ones wait in the listen backlog. Bounds the file descriptors a crowd of clients can take.
    pub max_connections: usize,
    /// Time a client has to send a request's head (request line and headers), counted from the
    /// connection's start or the end of the previous answer on it; past it the connection is
    /// closed. Also the longest an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// Called on the model thread with each batch's texts, inside the batch's forward pass; a
    /// panic in it is handled as a panic of the model. For fault-injection tests; `None` in
    /// service.
    pub batch_hook: Option<BatchHook>,
}

/// What a [`BatchHook`] runs: a function of a batch's texts.
pub type BatchFn = dyn Fn(&[&str]) + Send + Sync;

/// A function run on every batch the model worker runs (see [`ServeConfig::batch_hook`]).
#[derive(Clone)]
pub struct BatchHook(pub Arc<BatchFn>);

impl std::fmt::Debug for BatchHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchHook")
    }
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
            header_timeout: Duration::from_secs(10),
            batch_hook: None,
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
            config.batch_hook.clone(),
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
            "header_timeout_ms": config.header_timeout.as_millis() as u64,
        },
    })
}
