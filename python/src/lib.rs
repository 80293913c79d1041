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
use textcnn::predict::Branch;
use textcnn::predict::Classifier;
use textcnn::report::{RunReport, TensorBoardWriter};
use textcnn::train::{Observers, RunRequest, StopReason, TrainConfig};

mod progress;
use progress::Progress;

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
    /// The bundle's folder (its `metrics.jsonl` gives a report's learning curves).
    path: PathBuf,
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
            path,
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

    /// Scores of labelled `data` (a dataset spec read as `textcnn eval --data` reads it, or
    /// `(texts, labels)` / `(texts, label_lists)`) by `branch` (`"model"`, `"cnn"` or
    /// `"ngram"`), as a JSON string: the fields of `textcnn eval --json` (`data`, `examples`,
    /// `skipped_rows`, `no_token_examples`, `loss`, `report`, the head's tags) and `text`, the
    /// printed report. `null` when the model lacks `branch`. With `plots`, also writes
    /// `plots/*.svg` and `report.html` there, as `textcnn eval --plots`. The GIL is released.
    #[pyo3(signature = (data, branch = "model", plots = None, text_column = "text".to_string(), label_column = "label".to_string(), format = None, data_dir = None))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        py: Python<'_>,
        data: DataSource,
        branch: &str,
        plots: Option<PathBuf>,
        text_column: String,
        label_column: String,
        format: Option<String>,
        data_dir: Option<PathBuf>,
    ) -> PyResult<String> {
        let branch = match branch {
            "model" | "mixed" => Branch::Model,
            "cnn" => Branch::Cnn,
            "ngram" => Branch::Ngram,
            other => {
                return Err(PyValueError::new_err(format!(
                    "branch {other:?}: expected \"model\", \"cnn\" or \"ngram\""
                )));
            }
        };
        let read = ReadOptions {
            format: parse_format(format)?,
            text_column,
            label_column,
            data_dir,
            multi_label: self.inner.head().reads_label_sets(),
            ..ReadOptions::default()
        };
        let pool = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone();
        py.detach(|| -> anyhow::Result<String> {
            let ds = match data.source("data")? {
                textcnn::train::DataSource::Spec(spec) => {
                    textcnn::data::load_dataset(&spec, &read)?
                }
                textcnn::train::DataSource::Dataset(ds) => ds,
            };
            let Some(e) = pool.install(|| self.inner.evaluate_dataset(&ds, branch))? else {
                return Ok("null".into());
            };
            if let Some(dir) = &plots {
                let texts: Vec<&str> = {
                    let all = ds.texts();
                    e.kept.iter().map(|&i| all[i]).collect()
                };
                let history = textcnn::report::read_history(&self.path).unwrap_or_default();
                let head = self.inner.head();
                let mut run = RunReport::of_bundle(
                    self.inner.bundle(),
                    head,
                    &history,
                    &ds.name,
                    &texts,
                    &e.targets,
                    &e.probs,
                );
                pool.install(|| run.highlight(&self.inner, &texts));
                textcnn::report::write_run_report(dir, &run)?;
            }
            let mut out = serde_json::Map::new();
            out.insert("data".into(), ds.name.clone().into());
            out.extend(self.inner.head().json_tags(&e.unknown));
            out.insert("examples".into(), e.kept.len().into());
            out.insert(
                "skipped_rows".into(),
                (ds.skipped.len() + e.no_tokens.len()).into(),
            );
            out.insert("no_token_examples".into(), e.no_tokens.len().into());
            out.insert("loss".into(), e.loss.into());
            out.insert("report".into(), e.scores.to_json());
            out.insert("text".into(), e.scores.to_string().into());
            out.insert("figures".into(), figures(e.scores.as_ref()));
            Ok(serde_json::Value::Object(out).to_string())
        })
        .map_err(to_py)
    }

    /// The inputs of the bundle's ONNX graph (`textcnn export --format onnx`) for `texts`:
    /// `[(name, rows, cols, values)]` in the graph's input order, `values` the little-endian
    /// int64 matrix `[rows, cols]` as bytes. The GIL is released while computing.
    #[allow(clippy::type_complexity)]
    fn onnx_inputs<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> Vec<(&'static str, usize, usize, Bound<'py, PyBytes>)> {
        let pool = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone();
        let inputs = py.detach(|| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            pool.install(|| textcnn::export::onnx::OnnxInputs::encode(&self.inner, &refs))
        });
        inputs
            .inputs
            .into_iter()
            .map(|(name, m)| {
                let bytes: Vec<u8> = m.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name, m.rows, m.cols, PyBytes::new(py, &bytes))
            })
            .collect()
    }

    /// Writes the bundle's model as an ONNX file (`textcnn export --format onnx`) with the
    /// CLI's checks of the path (not inside the bundle or any bundle, not a directory or a
    /// device, an existing file only with `force`); returns its size in bytes.
    #[pyo3(signature = (output, force = false))]
    fn export_onnx(&self, py: Python<'_>, output: PathBuf, force: bool) -> PyResult<u64> {
        textcnn::bundle::check_output_file("path", &output, &[&self.path], force).map_err(|e| {
            to_py(anyhow::anyhow!(
                e.to_string().replace("--force", "force=True")
            ))
        })?;
        py.detach(|| textcnn::export::onnx::write_onnx(self.inner.bundle(), &output))
            .map(|s| s.bytes)
            .map_err(to_py)
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
    /// The TensorBoard folder (None: no event files).
    tensorboard: Option<PathBuf>,
    /// Steps between TensorBoard's step scalars.
    tensorboard_every: usize,
    /// Whether to write `plots/` and `report.html` into the output folder.
    report: bool,
    /// Keep `checkpoint/` when the run finishes (`textcnn train --keep-checkpoint`).
    keep_checkpoint: bool,
    /// The latest state of the run, for `progress()`.
    progress: Progress,
}

#[pymethods]
impl TrainJob {
    /// `settings_json`: a JSON object of training settings, the keys of a `textcnn train
    /// --config` file (`epochs`, `lr`, `region_sizes`, `arch`, a `tokenizer` object, ...).
    /// `output` must not exist or be an empty folder. `head`: `"single-label"` or
    /// `"multi-label"` (default: from the data, as the CLI decides); `multi_label`,
    /// `label_sep`, `label_columns`, `label_column_prefix`: the CLI's flags of the same names.
    #[new]
    #[pyo3(signature = (train, output, settings_json, valid = None, test = None, text_column = "text".to_string(), label_column = "label".to_string(), format = None, data_dir = None, head = None, multi_label = false, label_sep = None, label_columns = None, label_column_prefix = None, tensorboard = None, tensorboard_every = 20, report = false, keep_checkpoint = false))]
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
        tensorboard: Option<PathBuf>,
        tensorboard_every: usize,
        report: bool,
        keep_checkpoint: bool,
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
        let format = parse_format(format)?;
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
            tensorboard,
            tensorboard_every: tensorboard_every.max(1),
            report,
            keep_checkpoint,
            progress: Progress::default(),
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

    /// The run's latest state as a JSON string (see [`Progress::snapshot`]); `{}` before it
    /// starts.
    fn progress(&self) -> String {
        let s = self.progress.snapshot();
        if s.is_null() {
            "{}".into()
        } else {
            s.to_string()
        }
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
            keep_checkpoint: self.keep_checkpoint,
            ..RunRequest::new(self.config.clone(), self.output.clone())
        };
        // As the CLI: inside the output folder (`output/tb`), created at the first event, since
        // the output folder must be new or empty when the run starts; elsewhere, created now,
        // so that a folder that cannot be written is an error before training.
        let mut tensorboard = match &self.tensorboard {
            Some(dir) if dir.starts_with(&self.output) => {
                Some(TensorBoardWriter::deferred(dir, self.tensorboard_every))
            }
            Some(dir) => Some(
                TensorBoardWriter::create(dir, self.tensorboard_every)
                    .with_context(|| format!("tensorboard {}", dir.display()))?,
            ),
            None => None,
        };
        let mut run = request.prepare()?;
        let mut warnings: Vec<String> = run.warnings().to_vec();
        let mut progress = self.progress.clone();
        let outcome = {
            let mut observers = Observers::new();
            observers.push(&mut progress);
            if let Some(tb) = tensorboard.as_mut() {
                observers.push(tb);
            }
            run.train(&mut observers, Some(self.stop.clone()))?
        };
        let mut written = serde_json::Map::new();
        if let Some(tb) = tensorboard {
            match tb.finish() {
                Ok(Some(path)) => {
                    written.insert("tensorboard".into(), json!(path));
                }
                Ok(None) => {}
                Err(e) => warnings.push(format!("TensorBoard log incomplete: {e:#}")),
            }
        }
        let output = run.output().to_path_buf();
        let finished = outcome.stop != StopReason::Interrupted;
        let classifier = if finished {
            Some(Classifier::load(&output)?)
        } else {
            None
        };
        let pool = textcnn::nn::thread_pool(run.config().threads);
        if self.report
            && let Some(classifier) = &classifier
            && let Some(report) =
                pool.install(|| RunReport::of_run(classifier, &outcome, &run.data()))
        {
            let w = textcnn::report::write_run_report(&output, &report)?;
            written.insert("report".into(), json!(w.html));
        }
        // Every branch on the test data: the CNN alone, the n-gram branch alone, the mixture.
        let mut test_branches = serde_json::Map::new();
        if let (Some(classifier), Some(test)) = (&classifier, run.data().test) {
            for (name, branch) in [
                ("cnn", Branch::Cnn),
                ("ngram", Branch::Ngram),
                ("mixed", Branch::Model),
            ] {
                if let Some(e) = pool.install(|| classifier.evaluate_dataset(test, branch))? {
                    test_branches.insert(name.into(), figures(e.scores.as_ref()));
                }
            }
        }
        let test = outcome.test.as_ref().map(|t| figures(t.as_ref()));
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
            "written": written,
            "test_branches": test_branches,
        })
        .to_string())
    }
}

/// Headline figures of `scores` as a JSON object, name -> value (`{"accuracy": 0.92, ...}`).
fn figures(scores: &dyn textcnn::eval::Scores) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = scores
        .figures()
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.into()))
        .collect();
    map.into()
}

/// A `format` argument (`csv`, `tsv`, ... as the CLI's `--format`, any case).
fn parse_format(format: Option<String>) -> PyResult<Option<Format>> {
    format
        .map(|f| {
            serde_json::from_value::<Format>(json!(f.to_lowercase())).map_err(|_| {
                PyValueError::new_err(format!(
                    "format {f:?}: expected csv, tsv, jsonl, fasttext, folder, imdb or lines"
                ))
            })
        })
        .transpose()
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
