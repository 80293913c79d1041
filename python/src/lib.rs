//! `textcnn._native`: the Rust half of the `textcnn` Python package (PyO3). It exposes a loaded
//! bundle ([`NativeClassifier`], the same [`textcnn::predict::Classifier`] as `textcnn predict`)
//! and a training run ([`TrainJob`], the same run entry, [`textcnn::train::RunRequest`], as
//! `textcnn train`: the same checks of settings, data and output folder, the same messages).
//! The pure-Python layer (`textcnn/__init__.py`) checks arguments, turns probabilities into NumPy
//! arrays and adds the scikit-learn estimator.
//!
//! Every computation releases the GIL ([`Python::detach`]); errors become `textcnn.TextCNNError`
//! (a `ValueError`) with the library's message, which names the file, line or setting at fault.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde_json::json;
use textcnn::data::{Dataset, Example, Format, LabelLayout, ReadOptions};
use textcnn::head::HeadKind;
use textcnn::predict::Classifier;
use textcnn::train::{RunRequest, Silent, StopReason, TrainConfig};

create_exception!(
    textcnn,
    TextCNNError,
    PyValueError,
    "An error of textcnn: a bundle that fails its checks, unreadable data, a bad setting."
);

/// Converts a library error into `TextCNNError`, keeping its whole chain of context.
fn to_py(e: anyhow::Error) -> PyErr {
    TextCNNError::new_err(format!("{e:#}"))
}

/// Most threads a pool may have (the CLI's `--threads` bound).
fn thread_pool(threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    let max = textcnn::train::MAX_THREADS;
    if threads > max {
        return Err(PyValueError::new_err(format!(
            "threads must be at most {max} (0 = all cores), got {threads}"
        )));
    }
    Ok(Arc::new(textcnn::nn::thread_pool(threads)))
}

/// A loaded model bundle. Thread-safe: several Python threads may call it at once (each call
/// releases the GIL).
#[pyclass(module = "textcnn._native", frozen)]
struct NativeClassifier {
    inner: Classifier,
    /// The rayon pool running the model, and its thread count (0 = all cores).
    pool: Mutex<(usize, Arc<rayon::ThreadPool>)>,
}

#[pymethods]
impl NativeClassifier {
    /// Loads and checks the bundle in `path` (the `--output` of `textcnn train`), with a pool of
    /// `threads` threads (0 = all cores) and an inference projection cache of at most
    /// `proj_cache_mb` MiB (Kim models; 0 = none; `textcnn predict --proj-cache-mb`).
    #[new]
    #[pyo3(signature = (path, threads = 0, proj_cache_mb = textcnn::nn::token_proj::DEFAULT_PROJ_CACHE_BYTES >> 20))]
    fn new(py: Python<'_>, path: PathBuf, threads: usize, proj_cache_mb: usize) -> PyResult<Self> {
        let pool = thread_pool(threads)?;
        let mut inner = py.detach(|| Classifier::load(&path)).map_err(to_py)?;
        inner.set_proj_cache_bytes(proj_cache_mb.saturating_mul(1 << 20));
        Ok(NativeClassifier {
            inner,
            pool: Mutex::new((threads, pool)),
        })
    }

    /// Class names, in the order of the probability columns.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.inner.labels().to_vec()
    }

    /// The model's head: `"single-label"` or `"multi-label"`.
    #[getter]
    fn head(&self) -> &'static str {
        self.inner.head().kind().name()
    }

    /// The labels each text is given, most probable first, with their probabilities: the
    /// head's decision (the most probable label whose probability reaches `threshold`, default
    /// 0; for a multi-label model every label over its own threshold, or over `threshold` when
    /// given). A text without tokens gets none. The GIL is released while computing.
    #[pyo3(signature = (texts, threshold = None))]
    fn decided(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        threshold: Option<f32>,
    ) -> Vec<Vec<(String, f32)>> {
        let pool = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone();
        py.detach(|| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let predictions = pool.install(|| self.inner.predict(&refs));
            predictions
                .iter()
                .map(|p| {
                    if p.n_tokens == 0 {
                        return Vec::new();
                    }
                    self.inner
                        .decided_labels(p, threshold)
                        .into_iter()
                        .map(|(l, prob)| (l.to_string(), prob))
                        .collect()
                })
                .collect()
        })
    }

    /// Threads running the model (0 = all cores).
    #[getter]
    fn threads(&self) -> usize {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    #[setter]
    fn set_threads(&self, threads: usize) -> PyResult<()> {
        let pool = thread_pool(threads)?;
        *self.pool.lock().unwrap_or_else(|e| e.into_inner()) = (threads, pool);
        Ok(())
    }

    /// The bundle's `config.json` settings (architecture, tokenizer, encoding, labels,
    /// training summary) as a JSON string.
    fn config_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner.bundle().config)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// The explanation of `text` (`textcnn explain --json`, one object per explained label) as a
    /// JSON string: of `label` when given, else of the decided labels (the predicted one; every
    /// label over its threshold for a multi-label model). The GIL is released while computing.
    #[pyo3(signature = (text, label = None))]
    fn explain(&self, py: Python<'_>, text: String, label: Option<String>) -> PyResult<String> {
        let pool = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone();
        let explanations = py
            .detach(|| {
                pool.install(|| match &label {
                    Some(l) => self.inner.explain(&text, Some(l)).map(|e| vec![e]),
                    None => self.inner.explain_decided(&text),
                })
            })
            .map_err(to_py)?;
        let tagged: Vec<_> = explanations
            .iter()
            .map(|e| textcnn::explain::Tagged {
                tags: serde_json::json!({}),
                explained: e.explained(),
                explanation: e,
            })
            .collect();
        serde_json::to_string(&tagged).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// Class probabilities of `texts`: `(probs, n_tokens, n_oov, truncated)` where `probs` is
    /// the little-endian f32 matrix `[len(texts), len(labels)]` (row-major, label order) as
    /// bytes, and the lists give per text its token count, out-of-vocabulary count and whether
    /// it was cut at the model's `max_len`. The GIL is released while computing.
    #[allow(clippy::type_complexity)]
    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> (Bound<'py, PyBytes>, Vec<usize>, Vec<usize>, Vec<bool>) {
        let pool = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone();
        let (encoded, probs) = py.detach(|| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            pool.install(|| self.inner.probabilities(&refs))
        });
        let bytes: Vec<u8> = probs.iter().flat_map(|p| p.to_le_bytes()).collect();
        (
            PyBytes::new(py, &bytes),
            encoded.iter().map(|e| e.n_tokens).collect(),
            encoded.iter().map(|e| e.n_oov).collect(),
            encoded.iter().map(|e| e.truncated).collect(),
        )
    }
}

/// Training data given from Python: a dataset spec (`imdb:train`, a file or a folder, read as
/// by the CLI), `(texts, labels)` with one label per text, or `(texts, label_lists)` with a list
/// of labels per text (multi-label; an empty list for a text without any).
#[derive(Clone, FromPyObject)]
enum DataSource {
    Spec(String),
    Lists(Vec<String>, Vec<String>),
    Sets(Vec<String>, Vec<Vec<String>>),
}

impl DataSource {
    /// The run's data source; `role` names it in messages (`train`, `valid`, `test`). Pairs with
    /// an empty text are left out and counted, as the file readers do.
    fn source(&self, role: &str) -> anyhow::Result<textcnn::train::DataSource> {
        let (texts, labels): (&Vec<String>, Vec<Vec<String>>) = match self {
            DataSource::Spec(spec) => return Ok(textcnn::train::DataSource::Spec(spec.clone())),
            DataSource::Lists(texts, labels) => (
                texts,
                labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let l = l.trim();
                        if l.is_empty() {
                            bail!("{role}: label [{i}] is empty");
                        }
                        Ok(vec![l.to_string()])
                    })
                    .collect::<anyhow::Result<_>>()?,
            ),
            DataSource::Sets(texts, sets) => (
                texts,
                sets.iter()
                    .enumerate()
                    .map(|(i, set)| {
                        let mut set: Vec<String> =
                            set.iter().map(|l| l.trim().to_string()).collect();
                        if set.iter().any(String::is_empty) {
                            bail!("{role}: the labels [{i}] hold an empty label name");
                        }
                        set.sort();
                        set.dedup();
                        Ok(set)
                    })
                    .collect::<anyhow::Result<_>>()?,
            ),
        };
        if texts.len() != labels.len() {
            bail!(
                "{role}: {} texts but {} labels; give one label (or list of labels) per text",
                texts.len(),
                labels.len()
            );
        }
        let mut ds = Dataset {
            name: format!("{role} (Python lists)"),
            ..Dataset::default()
        };
        for (i, (text, labels)) in texts.iter().zip(labels).enumerate() {
            if text.trim().is_empty() {
                ds.skipped.push(textcnn::data::SkippedRow {
                    file: ds.name.clone(),
                    line: i + 1,
                    reason: "no text".into(),
                });
                continue;
            }
            ds.examples.push(Example {
                text: text.clone(),
                labels,
                meta: None,
            });
        }
        if ds.examples.is_empty() {
            bail!("{role}: no example has a text");
        }
        Ok(textcnn::train::DataSource::Dataset(ds))
    }
}

/// One training run, started by [`TrainJob::run`] (which blocks, without the GIL) and stopped
/// early from another thread by [`TrainJob::stop`] (after the current batch, leaving the best
/// epoch's bundle and a checkpoint).
#[pyclass(module = "textcnn._native", frozen)]
struct TrainJob {
    train: DataSource,
    valid: Option<DataSource>,
    test: Option<DataSource>,
    output: PathBuf,
    config: TrainConfig,
    /// The settings the caller named.
    explicit: std::collections::BTreeSet<String>,
    head: Option<HeadKind>,
    read: ReadOptions,
    stop: Arc<AtomicBool>,
}

#[pymethods]
impl TrainJob {
    /// `settings_json`: a JSON object of training settings, the keys of a `textcnn train
    /// --config` file (`epochs`, `lr`, `region_sizes`, `arch`, a `tokenizer` object, ...).
    /// `output` must not exist or be an empty folder. `head`: `"single-label"` or
    /// `"multi-label"` (default: from the data, as the CLI decides); `multi_label`,
    /// `label_sep`, `label_columns`, `label_column_prefix`: the CLI's flags of the same names.
    #[new]
    #[pyo3(signature = (train, output, settings_json, valid = None, test = None, text_column = "text".to_string(), label_column = "label".to_string(), format = None, data_dir = None, head = None, multi_label = false, label_sep = None, label_columns = None, label_column_prefix = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        train: DataSource,
        output: PathBuf,
        settings_json: &str,
        valid: Option<DataSource>,
        test: Option<DataSource>,
        text_column: String,
        label_column: String,
        format: Option<String>,
        data_dir: Option<PathBuf>,
        head: Option<String>,
        multi_label: bool,
        label_sep: Option<String>,
        label_columns: Option<Vec<String>>,
        label_column_prefix: Option<String>,
    ) -> PyResult<Self> {
        let (config, explicit) = settings(settings_json).map_err(to_py)?;
        let head = head
            .map(|h| {
                serde_json::from_value::<HeadKind>(json!(h)).map_err(|_| {
                    PyValueError::new_err(format!(
                        "head {h:?}: expected \"single-label\" or \"multi-label\""
                    ))
                })
            })
            .transpose()?;
        let format = format
            .map(|f| {
                serde_json::from_value::<Format>(json!(f.to_lowercase())).map_err(|_| {
                    PyValueError::new_err(format!(
                        "format {f:?}: expected csv, tsv, jsonl, fasttext, folder, imdb or lines"
                    ))
                })
            })
            .transpose()?;
        let layout = LabelLayout {
            label_sep,
            label_columns: label_columns.unwrap_or_default(),
            label_column_prefix,
        };
        let read = ReadOptions {
            format,
            text_column,
            label_column,
            data_dir,
            multi_label: multi_label || layout.any(),
            layout,
            ..ReadOptions::default()
        };
        Ok(TrainJob {
            train,
            valid,
            test,
            output,
            config,
            explicit,
            head,
            read,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Reads the data, trains and writes the bundle to `output`. Returns a JSON summary:
    /// `stop` (`completed`, `early_stopped`, `interrupted`), `head`, `best` (the kept epoch's
    /// metrics), `ngram_valid` (the mixture's validation accuracy, or micro-F1), `test` (the
    /// test figures by name), `test_accuracy` (single-label), `cnn_note` (set when the mixture
    /// gave the CNN weight 0: the CNN changes no prediction), `seconds`, `warnings`.
    fn run(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.run_detached()).map_err(to_py)
    }

    /// Asks the run to stop after the current batch.
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl TrainJob {
    fn run_detached(&self) -> anyhow::Result<String> {
        let mut tags = serde_json::Map::new();
        tags.insert("api".into(), "python".into());
        let request = RunRequest {
            explicit: self.explicit.clone(),
            head: self.head,
            train: Some(self.train.source("train")?),
            valid: self.valid.as_ref().map(|v| v.source("valid")).transpose()?,
            test: self.test.as_ref().map(|t| t.source("test")).transpose()?,
            read: self.read.clone(),
            tags,
            ..RunRequest::new(self.config.clone(), self.output.clone())
        };
        let mut run = request.prepare()?;
        let warnings: Vec<String> = run.warnings().to_vec();
        let outcome = run.train(&mut Silent, Some(self.stop.clone()))?;
        let test: Option<serde_json::Map<String, serde_json::Value>> =
            outcome.test.as_ref().map(|t| {
                t.figures()
                    .into_iter()
                    .map(|(name, v)| (name.to_string(), v.into()))
                    .collect()
            });
        Ok(json!({
            "stop": match outcome.stop {
                StopReason::Completed => "completed",
                StopReason::EarlyStopped => "early_stopped",
                StopReason::Interrupted => "interrupted",
            },
            "head": run.head().name(),
            "best": outcome.best,
            "ngram_valid": outcome.ngram_valid,
            "cnn_note": outcome.cnn_note,
            "test": test,
            "test_accuracy": outcome
                .test
                .as_ref()
                .filter(|_| run.head() == HeadKind::SingleLabel)
                .map(|t| t.headline()),
            "seconds": outcome.seconds,
            "warnings": warnings,
        })
        .to_string())
    }
}

/// Training settings from a JSON object with the keys of a `--config` TOML file, read the same
/// way (unknown keys are errors; `arch = "seed"` starts from the preset), and the keys given.
fn settings(
    settings_json: &str,
) -> anyhow::Result<(TrainConfig, std::collections::BTreeSet<String>)> {
    let value: serde_json::Value =
        serde_json::from_str(settings_json).context("settings are not JSON")?;
    let Some(object) = value.as_object() else {
        bail!("settings must be a mapping of setting names to values");
    };
    let explicit = object.keys().cloned().collect();
    let table = toml::Value::try_from(&value).context("settings")?;
    let text = toml::to_string(&table).context("settings")?;
    let config =
        TrainConfig::from_toml_str(&text).map_err(|e| anyhow::anyhow!("settings: {e:#}"))?;
    Ok((config, explicit))
}

/// The Rust half of the `textcnn` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeClassifier>()?;
    m.add_class::<TrainJob>()?;
    m.add("TextCNNError", m.py().get_type::<TextCNNError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
