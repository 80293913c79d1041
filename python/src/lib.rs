//! `textcnn._native`: the Rust half of the `textcnn` Python package (PyO3). It exposes a loaded
//! bundle ([`NativeClassifier`], the same [`textcnn::predict::Classifier`] as `textcnn predict`)
//! and a training run ([`TrainJob`], the same [`textcnn::train::train`] as `textcnn train`).
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
use textcnn::data::{
    Dataset, Example, Format, ReadOptions, load_dataset, split_warnings, stratified_split,
};
use textcnn::predict::Classifier;
use textcnn::train::{StopReason, TrainConfig, TrainData, TrainOptions};

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
/// by the CLI) or `(texts, labels)`.
#[derive(FromPyObject)]
enum DataSource {
    Spec(String),
    Lists(Vec<String>, Vec<String>),
}

impl DataSource {
    /// The dataset; `role` names it in messages (`train`, `valid`, `test`). Pairs with an empty
    /// text are left out and counted, as the file readers do.
    fn load(&self, role: &str, read: &ReadOptions) -> anyhow::Result<Dataset> {
        match self {
            DataSource::Spec(spec) => {
                load_dataset(spec, read).with_context(|| format!("{role} data {spec}"))
            }
            DataSource::Lists(texts, labels) => {
                if texts.len() != labels.len() {
                    bail!(
                        "{role}: {} texts but {} labels; give one label per text",
                        texts.len(),
                        labels.len()
                    );
                }
                let mut ds = Dataset {
                    name: format!("{role} (Python lists)"),
                    ..Dataset::default()
                };
                for (i, (text, label)) in texts.iter().zip(labels).enumerate() {
                    let label = label.trim();
                    if label.is_empty() {
                        bail!("{role}: label [{i}] is empty");
                    }
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
                        label: label.to_string(),
                        meta: None,
                    });
                }
                if ds.examples.is_empty() {
                    bail!("{role}: no example has a text");
                }
                Ok(ds)
            }
        }
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
    read: ReadOptions,
    stop: Arc<AtomicBool>,
}

#[pymethods]
impl TrainJob {
    /// `settings_json`: a JSON object of training settings, the keys of a `textcnn train
    /// --config` file (`epochs`, `lr`, `region_sizes`, `arch`, a `tokenizer` object, ...).
    /// `output` must not exist or be an empty folder.
    #[new]
    #[pyo3(signature = (train, output, settings_json, valid = None, test = None, text_column = "text".to_string(), label_column = "label".to_string(), format = None, data_dir = None))]
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
    ) -> PyResult<Self> {
        let config = settings(settings_json).map_err(to_py)?;
        let format = format
            .map(|f| {
                serde_json::from_value::<Format>(json!(f.to_lowercase())).map_err(|_| {
                    PyValueError::new_err(format!(
                        "format {f:?}: expected csv, tsv, jsonl, fasttext, folder, imdb or lines"
                    ))
                })
            })
            .transpose()?;
        let read = ReadOptions {
            format,
            text_column,
            label_column,
            data_dir,
            ..ReadOptions::default()
        };
        Ok(TrainJob {
            train,
            valid,
            test,
            output,
            config,
            read,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Reads the data, trains and writes the bundle to `output`. Returns a JSON summary:
    /// `stop` (`Completed`, `EarlyStopped`, `Interrupted`), `best` (the kept epoch's metrics),
    /// `ngram_valid_acc`, `test_accuracy`, `seconds`, `warnings`.
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
        let config = &self.config;
        config.validate()?;
        if self.output.exists() {
            let mut entries = std::fs::read_dir(&self.output)
                .with_context(|| format!("output {}", self.output.display()))?;
            if entries.next().is_some() {
                bail!(
                    "output {} already holds files; give a new or empty folder (a bundle is never \
                     overwritten)",
                    self.output.display()
                );
            }
        }
        let mut warnings = Vec::new();
        let full = self.train.load("train", &self.read)?;
        let (train, valid) = match &self.valid {
            Some(v) => (full, v.load("valid", &self.read)?),
            None => {
                if config.valid_fraction <= 0.0 {
                    bail!("no validation data: give valid= or a valid_fraction above 0");
                }
                warnings.extend(
                    split_warnings(&full, config.valid_fraction, "validation")
                        .into_iter()
                        .map(|w| format!("{}: {w}", full.name)),
                );
                stratified_split(&full, config.valid_fraction, config.seed)
            }
        };
        let test = self
            .test
            .as_ref()
            .map(|t| t.load("test", &self.read))
            .transpose()?;
        for ds in [Some(&train), Some(&valid), test.as_ref()]
            .into_iter()
            .flatten()
        {
            warnings.extend(ds.warnings.iter().map(|w| format!("{}: {w}", ds.name)));
            if !ds.skipped.is_empty() {
                warnings.push(format!(
                    "{}: skipped {} row(s) (first: line {}: {})",
                    ds.name,
                    ds.skipped.len(),
                    ds.skipped[0].line,
                    ds.skipped[0].reason
                ));
            }
        }
        let options = TrainOptions {
            interrupt: Some(self.stop.clone()),
            run_info: json!({
                "train": train.name,
                "valid": valid.name,
                "test": test.as_ref().map(|t| t.name.clone()),
                "api": "python",
            }),
            ..TrainOptions::default()
        };
        let data = TrainData {
            train: &train,
            valid: &valid,
            test: test.as_ref(),
        };
        let outcome = textcnn::train::train(config, &data, &self.output, &options)?;
        Ok(json!({
            "stop": match outcome.stop {
                StopReason::Completed => "completed",
                StopReason::EarlyStopped => "early_stopped",
                StopReason::Interrupted => "interrupted",
            },
            "best": outcome.best,
            "ngram_valid_acc": outcome.ngram_valid_acc,
            "test_accuracy": outcome.test.as_ref().map(|r| r.accuracy),
            "seconds": outcome.seconds,
            "warnings": warnings,
        })
        .to_string())
    }
}

/// Training settings from a JSON object with the keys of a `--config` TOML file, read the same
/// way (unknown keys are errors; `arch = "seed"` starts from the preset).
fn settings(settings_json: &str) -> anyhow::Result<TrainConfig> {
    let value: serde_json::Value =
        serde_json::from_str(settings_json).context("settings are not JSON")?;
    if !value.is_object() {
        bail!("settings must be a mapping of setting names to values");
    }
    let table = toml::Value::try_from(&value).context("settings")?;
    let text = toml::to_string(&table).context("settings")?;
    TrainConfig::from_toml_str(&text).map_err(|e| anyhow::anyhow!("settings: {e:#}"))
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
