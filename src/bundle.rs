//! The model bundle: a directory holding everything needed to classify text exactly as at
//! training time.
//!
//! | file | content |
//! |---|---|
//! | `model.safetensors` | parameters, f32, names and shapes from the architecture (e.g. `embedding.weight` `[vocab_size, emb_dim]`) |
//! | `config.json` | [`BundleConfig`]: format version, architecture, tokenizer and encoding settings, labels, training arguments, dataset summary |
//! | `vocab.txt` | one `token<TAB>count` per line, line `i` is id `i` |
//! | `metrics.jsonl` | one line per epoch (written by the training loop) |
//! | `report.json` | test-set classification report, when a test set was given |
//! | `parent_metrics.jsonl` | the parent's `metrics.jsonl`, for a bundle made by `textcnn finetune` |
//! | `ngram.safetensors`, `ngram_tokens.txt` | the n-gram branch of an `ngram-cnn` model (see [`crate::ngram`]); absent otherwise |
//!
//! Every file is written to a temporary name and renamed, and `config.json` goes last: it
//! records the SHA-256 of every file the model is made of (its `"files"` object: the weights,
//! the vocabulary and the n-gram branch's two files), so a bundle whose files do not belong
//! together (a vocabulary or weights of another model, or a save interrupted between two
//! renames) is refused on load. Loading also checks the format version, the labels, the
//! vocabulary size and every tensor name and shape against the config.
//!
//! # Completeness (format 2)
//!
//! A bundle is complete or it is refused. `config.json` says what the model is made of and
//! whether the training that wrote it finished, in its `"contents"` object ([`Contents`]):
//! `{"model": "ngram-cnn", "head": "single-label", "complete": true}` (`"model"`: `ngram-cnn`,
//! `ngram` for the branch alone, or the network, `kim` / `conv2d`). While a run trains, the
//! best epoch so far is saved with `"complete": false` (its n-gram branch, the head's
//! calibration and the later epochs still to come); only the last save of a run that ended
//! (all epochs, or early stopping) writes `true`. [`Bundle::load`] — and so `predict`, `eval`,
//! `serve`, `explain`, `finetune`, `compare`, `export` and `--init-from` — refuses:
//!
//! * a bundle that is not complete: the run was stopped (Ctrl-C, `kill -9`, an OOM kill, a
//!   crash) before it ended; the message names the fix, `textcnn train --resume DIR` (or a new
//!   `textcnn train --output DIR` when not even a checkpoint was saved);
//! * a bundle whose parts differ from its `"contents"`: an `ngram-cnn` without its branch, a
//!   branch in a model that says it has none, another head or network;
//! * a bundle without `"files"`, or whose `"files"` lacks a part or names one it does not have.
//!
//! Format 1 bundles (written before `"contents"` existed) still load, judged by what they
//! have: they must record `"files"` (every textcnn since the n-gram branch did; the few written
//! in the first two days of the project, before 795bf12, are refused and must be retrained);
//! one whose training settings say `ngram-cnn` but which has no n-gram branch (and is not a
//! fine-tuned model, which may drop it) is refused as a run killed before its branch was
//! fitted; and one whose folder holds a checkpoint that says the run stopped in the middle of
//! an epoch, or before its `--epochs` were done without early stopping, is refused as
//! unfinished. (A format-1 run without `--epochs` stopped exactly between two epochs cannot be
//! told from a finished one by the bundle alone and loads as its best epoch, as that textcnn
//! promised.)

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

mod complete;

use complete::{check_complete, check_parts};

use crate::fsutil::{Source, read_file, write_atomic};
use crate::head::{Head, HeadKind, HeadRecord, MultiLabelConfig, head_of_record};
pub use crate::model::Architecture;
use crate::model::Model;
use crate::ngram::{MixWeights, NGRAM_TENSORS_FILE, NGRAM_TOKENS_FILE, NgramConfig, NgramModel};
use crate::quant::StoredDtype;
use crate::text::{EncodeConfig, TextPipeline, Tokenizer, TokenizerConfig, Vocab};

/// Version of the bundle layout written; bumped on any incompatible change. Version 2 added
/// `"contents"` (completeness) and made `"files"` required.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest layout read (judged as the [module documentation](self) says).
pub const OLDEST_FORMAT_VERSION: u32 = 1;
pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const VOCAB_FILE: &str = "vocab.txt";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const REPORT_FILE: &str = "report.json";
/// Metric history of the parent bundle of a fine-tuned model (its `metrics.jsonl`, copied).
pub const PARENT_METRICS_FILE: &str = "parent_metrics.jsonl";
/// The folder of a run's resumable checkpoint, beside the bundle's files.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The checkpoint's position file in [`CHECKPOINT_DIR`], written last by each checkpoint.
pub const CHECKPOINT_STATE: &str = "state.json";
/// The model name of a network with the n-gram branch ([`Contents::model`]).
pub const NGRAM_CNN: &str = "ngram-cnn";
/// The model name of the n-gram branch alone, no network (`--arch ngram`; [`Contents::model`]).
pub const NGRAM_ONLY: &str = "ngram";
/// The lock file that marks a run directory as in use by one training process (left behind
/// when the run ends: it marks the folder as a run's).
pub const LOCK_FILE: &str = ".textcnn.lock";

/// Largest `config.json` read (bytes); real ones are a few kilobytes.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Named f32 tensors: name -> (shape, row-major data).
pub use crate::quant::TensorMap;

/// Contents of `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleConfig {
    pub format_version: u32,
    /// Version of textcnn that wrote the bundle.
    pub textcnn_version: String,
    pub architecture: Architecture,
    pub tokenizer: TokenizerConfig,
    pub encode: EncodeConfig,
    /// Class names; output unit `i` of the model is `labels[i]`.
    pub labels: Vec<String>,
    /// The training arguments as given (after defaults and config file).
    #[serde(default)]
    pub training: serde_json::Value,
    /// Summary of the data the model was trained on (sizes, class counts, OOV rate).
    #[serde(default)]
    pub dataset: serde_json::Value,
    /// Epoch and validation metrics of the saved (best) parameters.
    #[serde(default)]
    pub best: serde_json::Value,
    /// The bundle this one was fine-tuned from (`textcnn finetune`): `{"path", "sha256"}` (of
    /// the parent's `model.safetensors`), its `best` metrics and its own `parent`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<serde_json::Value>,
    /// The n-gram branch of the default `ngram-cnn` model: present iff the bundle holds one
    /// (plain `kim`/`conv2d` bundles, and bundles written before it existed, have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngram: Option<NgramBranch>,
    /// Multi-label models only: one sigmoid per label and the per-label decision thresholds
    /// ([`crate::head::MultiLabel`]); absent in single-label bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_label: Option<MultiLabelConfig>,
    /// How the weight files store their tensors (`textcnn quantize`): absent for f32, else
    /// `"f16"` or `"int8"` ([`crate::quant`]); loading always gives f32.
    #[serde(default, skip_serializing_if = "StoredDtype::is_f32")]
    pub dtype: StoredDtype,
}

impl BundleConfig {
    /// The head's record: its fields of `config.json` ([`crate::head`]).
    pub fn head_record(&self) -> HeadRecord {
        HeadRecord {
            multi_label: self.multi_label.clone(),
        }
    }

    /// Stores the head's record in its fields of `config.json`.
    pub fn set_head_record(&mut self, record: HeadRecord) {
        self.multi_label = record.multi_label;
    }

    /// The model's head, from its record.
    ///
    /// # Errors
    /// A record that does not fit the labels.
    pub fn head(&self) -> Result<Arc<dyn Head>> {
        head_of_record(&self.head_record(), self.labels.len())
    }
}

/// What a bundle is made of and whether the training that wrote it finished (`config.json` →
/// `"contents"`, format 2; see the [module documentation](self)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    /// The model: [`NGRAM_CNN`] (the network and the n-gram branch), [`NGRAM_ONLY`] (the
    /// branch alone, `--arch ngram`) or the network's `"type"`
    /// alone (`kim`, `conv2d`). In an unfinished bundle: the model the run makes (an
    /// `ngram-cnn` gets its branch when training ends).
    pub model: String,
    /// The head.
    pub head: HeadKind,
    /// Whether every stage of the training ran. `false`: the best epoch so far of a run that
    /// is going on or was stopped, refused by [`Bundle::load`].
    pub complete: bool,
}

/// Settings and validation figures of the n-gram branch (`config.json` → `"ngram"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NgramBranch {
    /// Name of the combined model, `"ngram-cnn"`.
    pub model: String,
    /// Which n-grams are read.
    pub features: NgramConfig,
    /// Number of n-gram columns.
    pub num_features: usize,
    /// Inverse L2 strength of the logistic regression, chosen on the validation split.
    pub c: f64,
    /// Exponents of the CNN's and the branch's probabilities in their mixture, chosen on the
    /// validation split ([`crate::ngram::choose_mix`]).
    pub mix: MixWeights,
    /// Validation accuracies that chose `c` and `alpha`: `{"cnn", "ngram", "mixed", "c_path"}`.
    #[serde(default)]
    pub validation: serde_json::Value,
}

impl NgramBranch {
    /// A note for the user when the mixture gave the CNN weight 0 (`mix.cnn == 0` with a CNN
    /// beside the branch): then every prediction is the n-gram branch's, and the CNN's settings
    /// change nothing. `None` when the CNN takes part, or when there is no CNN (`--arch ngram`).
    pub fn cnn_unused_note(&self) -> Option<String> {
        let cnn = self.validation.get("cnn")?.as_f64()?;
        if self.mix.cnn != 0.0 {
            return None;
        }
        let metric = self.validation["metric"].as_str().unwrap_or("acc");
        let ngram = self.validation["ngram"].as_f64().unwrap_or(f64::NAN);
        Some(format!(
            "the CNN adds nothing on this data: the validation split chose mixture exponent 0 \
             (weight 0) for it (valid {metric} CNN {cnn:.4}, n-gram branch {ngram:.4}), so every \
             prediction is the n-gram branch's and the CNN's settings change nothing; `--arch \
             ngram` gives the same model without training the network"
        ))
    }
}

/// A trained model with its text pipeline and label list.
pub struct Bundle {
    pub config: BundleConfig,
    pub model: Model,
    pub vocab: Vocab,
    /// The n-gram branch, iff `config.ngram` is set.
    pub ngram: Option<NgramModel>,
}

impl Bundle {
    /// Writes the complete bundle into `dir` (created if missing): `model.safetensors`,
    /// `vocab.txt`, the n-gram branch's files when it has one, then `config.json`, each
    /// atomically. `config.json` goes last and says the bundle is complete (`"contents"`), so
    /// a folder holds the whole model or is refused.
    ///
    /// `config.json` also records the SHA-256 of the other files (`"files"`), which
    /// [`Bundle::load`] verifies: a reader never takes files of two different saves (or two
    /// bundles) for one model.
    ///
    /// # Errors
    /// A file that cannot be written (the message names it).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let model = complete::model_name(&self.config.architecture, self.ngram.is_some());
        self.save_as(dir, model, true)
    }

    /// Writes the best epoch so far of a run that is still training: as [`Bundle::save`], with
    /// `config.json` saying the bundle is not complete, so that it is refused until the run
    /// ends. `branch`: the run makes a model with the n-gram branch (`ngram-cnn`, or `ngram`
    /// alone), which comes when training ends.
    ///
    /// # Errors
    /// As [`Bundle::save`].
    pub fn save_unfinished(&self, dir: &Path, branch: bool) -> Result<()> {
        let model = complete::model_name(&self.config.architecture, branch);
        self.save_as(dir, model, false)
    }

    /// Writes the files, then `config.json` with `"contents"` and `"files"`.
    fn save_as(&self, dir: &Path, name: String, complete: bool) -> Result<()> {
        let head = self.config.head()?.kind();
        let dtype = self.config.dtype;
        let model = stored_bytes(&self.model.named_params(), dtype)
            .with_context(|| format!("cannot serialize {}", dir.join(MODEL_FILE).display()))?;
        let vocab = self.vocab.to_bytes();
        write_atomic(&dir.join(MODEL_FILE), &model)?;
        write_atomic(&dir.join(VOCAB_FILE), &vocab)?;
        /// `config.json`: the config, what the bundle is made of, then the hashes of the files
        /// it belongs with.
        #[derive(Serialize)]
        struct WithFiles<'a> {
            #[serde(flatten)]
            config: &'a BundleConfig,
            contents: Contents,
            files: std::collections::BTreeMap<&'static str, String>,
        }
        let mut files: std::collections::BTreeMap<&'static str, String> = [
            (MODEL_FILE, sha256_tag(&model)),
            (VOCAB_FILE, sha256_tag(&vocab)),
        ]
        .into();
        if let Some(ngram) = &self.ngram {
            let (tensors, tokens) = ngram.to_bytes_as(dtype)?;
            write_atomic(&dir.join(NGRAM_TENSORS_FILE), &tensors)?;
            write_atomic(&dir.join(NGRAM_TOKENS_FILE), &tokens)?;
            files.insert(NGRAM_TENSORS_FILE, sha256_tag(&tensors));
            files.insert(NGRAM_TOKENS_FILE, sha256_tag(&tokens));
        }
        let config = BundleConfig {
            format_version: FORMAT_VERSION,
            ..self.config.clone()
        };
        let json = serde_json::to_vec_pretty(&WithFiles {
            config: &config,
            contents: Contents {
                model: name,
                head,
                complete,
            },
            files,
        })?;
        write_atomic(&dir.join(CONFIG_FILE), &json)
    }

    /// Loads and validates a bundle directory.
    ///
    /// # Errors
    /// Missing files, unparsable JSON, an unsupported format version, a vocabulary whose size
    /// differs from the architecture's, a label count that differs from the output size, and a
    /// missing, extra or mis-shaped tensor each give a message naming the file.
    ///
    /// A bundle that is not complete (see the [module documentation](self)) is refused with a
    /// message naming the fix (`textcnn train --resume DIR`, or a new run).
    pub fn load(dir: &Path) -> Result<Bundle> {
        Bundle::load_checked(dir, true)
    }

    /// [`Bundle::load`] that also takes the best epoch so far of an unfinished run (for the
    /// training's own final stage, which completes it). Every file is still verified.
    ///
    /// # Errors
    /// As [`Bundle::load`], completeness aside.
    pub fn load_unfinished(dir: &Path) -> Result<Bundle> {
        Bundle::load_checked(dir, false)
    }

    fn load_checked(dir: &Path, complete: bool) -> Result<Bundle> {
        let (config, files, contents) = read_config(dir)?;
        if complete {
            check_complete(dir, &config, contents.as_ref())?;
        }
        let config_path = dir.join(CONFIG_FILE);
        let arch = &config.architecture;
        let vocab_path = dir.join(VOCAB_FILE);
        let vocab = Vocab::load(&vocab_path)?;
        let vocab_bytes = read_file(&vocab_path, Source::RegularFile, None)?;
        if vocab.len() != arch.vocab_size() {
            bail!(
                "{}: {} entries, but {} says vocab_size = {}",
                vocab_path.display(),
                vocab.len(),
                config_path.display(),
                arch.vocab_size()
            );
        }
        let model_path = dir.join(MODEL_FILE);
        // The file holds the parameters as f32 and a JSON header, which safetensors caps at 100 MB.
        let max_model = (arch.num_params() as u64)
            .saturating_mul(4)
            .saturating_add(8 + 100_000_000);
        let model_bytes = read_file(&model_path, Source::RegularFile, Some(max_model))?;
        let tensors = parse_tensors(&model_bytes, &model_path)?;
        let model = Model::from_named_params(arch, &tensors).with_context(|| {
            format!(
                "{} does not match {}",
                model_path.display(),
                config_path.display()
            )
        })?;
        check_finite_logits(arch, &tensors).with_context(|| {
            format!(
                "{}: the weights are too large for the model's output to be computed (the file \
                 is corrupt or the training diverged)",
                model_path.display()
            )
        })?;
        // Last, so that a damaged file gets its own, more precise message above.
        let hashes = Hashes {
            dir,
            files: &files,
            resumable: contents.is_none(),
        };
        hashes.check(VOCAB_FILE, &vocab_bytes)?;
        hashes.check(MODEL_FILE, &model_bytes)?;
        let ngram = load_ngram(dir, &config, &hashes)?;
        Ok(Bundle {
            config,
            model,
            vocab,
            ngram,
        })
    }

    /// The tokenizer + vocabulary + encoding settings of this bundle.
    pub fn pipeline(&self) -> TextPipeline {
        TextPipeline {
            tokenizer: Tokenizer::new(self.config.tokenizer.clone()),
            vocab: self.vocab.clone(),
            encode: self.config.encode.clone(),
        }
    }
}

/// Reads and checks `dir/config.json`: the format version, the architecture and its encoding,
/// the labels, the head's record, the recorded file hashes (required: a bundle whose files
/// cannot be verified is refused) and which parts they name; returns it with the hashes and
/// its `"contents"` (`None` for format 1).
fn read_config(dir: &Path) -> Result<(BundleConfig, HashMap<String, String>, Option<Contents>)> {
    if dir.is_file() {
        bail!(
            "--model {} is a file; give the model bundle's directory",
            dir.display()
        );
    }
    if !dir.is_dir() {
        bail!(
            "model directory {} does not exist (train one with `textcnn train --output DIR`)",
            dir.display()
        );
    }
    let config_path = dir.join(CONFIG_FILE);
    if !config_path.exists() && dir.join(CHECKPOINT_DIR).join(CHECKPOINT_STATE).is_file() {
        bail!(
            "{} holds no model yet: its training run was stopped or killed before its first \
             epoch ended, and left a checkpoint; finish the run with `textcnn train --resume {}`",
            dir.display(),
            dir.display()
        );
    }
    if !config_path.exists() && dir.join(LOCK_FILE).is_file() {
        bail!(
            "{} holds no model: the training run there has not saved one (it is running, or it \
             was stopped or killed before its first save); train again (`textcnn train --output \
             {}` removes what was left)",
            dir.display(),
            dir.display()
        );
    }
    let text = read_file(&config_path, Source::RegularFile, Some(MAX_CONFIG_BYTES))
        .and_then(|b| Ok(String::from_utf8(b)?))
        .with_context(|| {
            format!(
                "cannot read {} (is {} a model bundle?)",
                config_path.display(),
                dir.display()
            )
        })?;
    let version: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", config_path.display()))?;
    let given = version.get("format_version");
    let readable = OLDEST_FORMAT_VERSION as u64..=FORMAT_VERSION as u64;
    let format = match given.map(|v| (v, v.as_u64())) {
        Some((_, Some(v))) if readable.contains(&v) => v,
        Some((_, Some(v))) => bail!(
            "{}: bundle format version {v} is not supported by this textcnn (it reads versions \
             {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})",
            config_path.display()
        ),
        Some((v, None)) => bail!(
            "{}: \"format_version\" must be a whole number (this textcnn reads \
             {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}), not {v}{}",
            config_path.display(),
            if v.is_string() { " (a string)" } else { "" }
        ),
        None => bail!("{}: missing \"format_version\"", config_path.display()),
    };
    let files = recorded_hashes(&version, &config_path)?;
    let contents = match (format, version.get("contents")) {
        (1, _) => None,
        (_, Some(c)) => Some(
            Contents::deserialize(c)
                .with_context(|| format!("{}: invalid \"contents\"", config_path.display()))?,
        ),
        (_, None) => bail!(
            "{}: missing \"contents\" (a format {format} bundle says what it is made of and \
             whether it is complete); the config was edited or belongs to no textcnn bundle",
            config_path.display()
        ),
    };
    drop(version);
    // From the text, not the parsed value, so that errors carry the line and column.
    let config: BundleConfig = serde_json::from_str(&text)
        .with_context(|| format!("{}: invalid bundle config", config_path.display()))?;
    let arch = &config.architecture;
    arch.validate()
        .with_context(|| format!("{}: invalid \"architecture\"", config_path.display()))?;
    // The encoding must be the one training wrote (TrainConfig::encode): a tampered min_len
    // would pad every text to it.
    let e = &config.encode;
    if let Err(msg) = arch.check_encoding(e.min_len, e.max_len) {
        bail!("{}: {msg}", config_path.display());
    }
    check_labels(&config.labels)
        .with_context(|| format!("{}: invalid \"labels\"", config_path.display()))?;
    if arch.num_classes() != config.labels.len() {
        bail!(
            "{}: the architecture has {} output classes but {} labels are listed",
            config_path.display(),
            arch.num_classes(),
            config.labels.len()
        );
    }
    config
        .head()
        .with_context(|| config_path.display().to_string())?;
    check_parts(&config_path, &config, &files, contents.as_ref())?;
    Ok((config, files, contents))
}

/// The recorded hashes of a bundle's files, checked against the bytes read.
struct Hashes<'a> {
    dir: &'a Path,
    files: &'a HashMap<String, String>,
    /// A format 1 bundle: a mismatch may be a save interrupted between two renames, which
    /// `--resume` repairs (format 2 says so by its completeness).
    resumable: bool,
}

impl Hashes<'_> {
    /// Refuses the bytes of `dir/name` when `config.json` records another SHA-256 for them.
    fn check(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let config_path = self.dir.join(CONFIG_FILE);
        let Some(recorded) = self.files.get(name) else {
            bail!("{}: \"files\" has no hash of {name}", config_path.display());
        };
        if *recorded != sha256_tag(bytes) {
            let fix = if self.resumable {
                format!(
                    "a file of another bundle, or a save that was interrupted; `textcnn train \
                     --resume {}` finishes an interrupted training",
                    self.dir.display()
                )
            } else {
                "the file was replaced or damaged, or belongs to another bundle; restore it or \
                 train the model again"
                    .to_string()
            };
            bail!(
                "{} is not the file this model was saved with: its SHA-256 differs from the one \
                 recorded in {} ({fix})",
                self.dir.join(name).display(),
                config_path.display(),
            );
        }
        Ok(())
    }
}

/// The n-gram branch of a bundle whose config has one (its mixture weights and features
/// checked, its files verified against the recorded hashes); none otherwise (and then the
/// hashes must not name one).
fn load_ngram(dir: &Path, config: &BundleConfig, hashes: &Hashes) -> Result<Option<NgramModel>> {
    let config_path = dir.join(CONFIG_FILE);
    let Some(branch) = &config.ngram else {
        return Ok(None);
    };
    let w = branch.mix;
    if !(w.cnn >= 0.0 && w.ngram >= 0.0 && w.cnn.is_finite() && w.ngram.is_finite())
        || w.cnn + w.ngram == 0.0
    {
        bail!(
            "{}: \"ngram\".mix weights must be finite numbers >= 0, not both 0, got {} and {}",
            config_path.display(),
            w.cnn,
            w.ngram
        );
    }
    branch
        .features
        .validate()
        .with_context(|| format!("{}: \"ngram\".features", config_path.display()))?;
    let source = Source::RegularFile;
    let tensors = read_file(&dir.join(NGRAM_TENSORS_FILE), source, None)?;
    let tokens = read_file(&dir.join(NGRAM_TOKENS_FILE), source, None)?;
    hashes.check(NGRAM_TENSORS_FILE, &tensors)?;
    hashes.check(NGRAM_TOKENS_FILE, &tokens)?;
    let features = branch.features.clone();
    let labels = config.labels.len();
    Ok(Some(NgramModel::from_bytes(
        &tensors, &tokens, dir, features, labels,
    )?))
}

/// Refuses a label list with a repeated label (one of the two output units could never be
/// named) or a label holding a control character such as a tab or a newline (`textcnn predict`
/// writes one line per text with tab-separated fields).
///
/// # Errors
/// Names the first offending label.
pub fn check_labels(labels: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for l in labels {
        if l.chars().any(char::is_control) {
            bail!(
                "label {l:?} contains a tab, a newline or another control character; labels must be \
                 printable (predict writes one line per text, with tab-separated fields)"
            );
        }
        // Spaces and zero-width characters only (U+200B–U+200D, U+2060, U+FEFF): a class
        // nobody could read in a report or type in a request.
        let invisible = |c: char| {
            c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
        };
        if !l.is_empty() && l.chars().all(invisible) {
            bail!(
                "label {l:?} is made of spaces or zero-width characters only; give each class a \
                 visible name"
            );
        }
        if !seen.insert(l.as_str()) {
            bail!("label {l:?} is listed twice; each output class needs its own label");
        }
    }
    Ok(())
}

/// Refuses weights with which some input could drive a logit out of f32's range (infinite or
/// NaN probabilities): an upper bound of every activation's magnitude, layer by layer, from the
/// largest embedding value through each unit's sum of absolute weights plus its bias, must stay
/// below `f32::MAX / 4`. Trained models stay many orders of magnitude below it.
fn check_finite_logits(arch: &Architecture, tensors: &TensorMap) -> Result<()> {
    let max_abs = |name: &str| {
        tensors.get(name).map_or(0.0, |(_, d)| {
            d.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64))
        })
    };
    // max over output units (first dimension) of Σ|w| · input + |b|.
    let mut layer = |name: &str, input: f64| -> f64 {
        let Some((shape, w)) = tensors.get(&format!("{name}.weight")) else {
            return 0.0;
        };
        let units = shape.first().copied().unwrap_or(1).max(1);
        let row_sum = w
            .chunks(w.len().div_ceil(units).max(1))
            .map(|r| r.iter().map(|v| v.abs() as f64).sum::<f64>())
            .fold(0.0f64, f64::max);
        row_sum * input + max_abs(&format!("{name}.bias"))
    };
    let limit = f32::MAX as f64 / 4.0;
    let embedding = max_abs("embedding.weight").max(max_abs(crate::model::kim::STATIC_EMBEDDING));
    let logits = arch.logit_bound(&mut layer, embedding);
    if logits.is_nan() || logits >= limit {
        bail!(
            "some input could drive the logits to {logits:.3e}, beyond the float range ({:.3e})",
            f32::MAX
        );
    }
    Ok(())
}

/// `sha256:` and the hex digest of `bytes`, as recorded in `config.json`'s `"files"`.
pub fn sha256_tag(bytes: &[u8]) -> String {
    let hex = crate::fsutil::sha256_hex(bytes).expect("reading a byte slice cannot fail");
    format!("sha256:{hex}")
}

/// The `"files"` object of `config.json` (file name → `sha256:…`).
///
/// # Errors
/// A config without one (edited, or written before 795bf12 by the first textcnn, whose files
/// cannot be verified: refused, the model must be trained again), or one that is not an object
/// of strings.
fn recorded_hashes(
    config: &serde_json::Value,
    config_path: &Path,
) -> Result<HashMap<String, String>> {
    let Some(files) = config.get("files") else {
        bail!(
            "{}: no \"files\" (the SHA-256 of the model's files), so nothing proves that the \
             weights and vocabulary beside it belong to it; the config was edited, or the bundle \
             was written by a textcnn older than the file hashes (before 2026-12-02): train the \
             model again",
            config_path.display()
        );
    };
    let bad = || {
        anyhow::anyhow!(
            "{}: \"files\" must be an object of file names and \"sha256:…\" hashes, not {files}",
            config_path.display()
        )
    };
    let object = files.as_object().ok_or_else(bad)?;
    object
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(bad)?.to_string())))
        .collect::<Result<HashMap<_, _>>>()
}

/// Writes named f32 tensors as a safetensors file, atomically, streaming them into the file:
/// no serialized copy is held in memory (a training checkpoint, parameters and Adam's two
/// moments, is three times the model). The bytes are those of `safetensors::serialize`.
pub fn save_tensors<D: AsRef<[f32]>>(
    path: &Path,
    tensors: &[(String, Vec<usize>, D)],
) -> Result<()> {
    let raw: Vec<std::borrow::Cow<[u8]>> = tensors
        .iter()
        .map(|(_, _, d)| le_bytes(d.as_ref()))
        .collect();
    let views = tensors
        .iter()
        .zip(&raw)
        .map(|((name, shape, _), raw)| {
            Ok((
                name.clone(),
                safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), raw)?,
            ))
        })
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("cannot serialize {}", path.display()))?;
    crate::fsutil::write_atomic_with(path, |tmp| {
        // The I/O error itself (safetensors' wrapper displays it and gives it as its source
        // too: the message said "No space left on device" twice).
        safetensors::serialize_to_file(views, None, tmp).map_err(|e| match e {
            safetensors::SafeTensorError::IoError(io) => io,
            other => std::io::Error::other(other),
        })
    })
}

/// The little-endian bytes of `data` (safetensors' layout): borrowed on a little-endian machine.
fn le_bytes(data: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        std::borrow::Cow::Borrowed(bytemuck::cast_slice(data))
    } else {
        std::borrow::Cow::Owned(data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

/// Reads every tensor of a safetensors file; all must be f32.
///
/// # Errors
/// A missing, truncated or corrupt file, or a tensor of another dtype, with the path in the message.
pub fn load_tensors(path: &Path) -> Result<TensorMap> {
    let bytes = read_file(path, Source::RegularFile, None)?;
    parse_tensors(&bytes, path)
}

/// [`load_tensors`] of bytes already read from `path`; f16 and int8 tensors (a quantized
/// bundle, [`crate::quant`]) are returned as f32.
fn parse_tensors(bytes: &[u8], path: &Path) -> Result<TensorMap> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is truncated or not a safetensors file ({e})",
            path.display()
        )
    })?;
    crate::quant::decode_all(&st, path)
}

/// The safetensors file of named f32 tensors stored as `dtype` ([`crate::quant::encode`]).
fn stored_bytes<D: AsRef<[f32]>>(
    tensors: &[(String, Vec<usize>, D)],
    dtype: StoredDtype,
) -> Result<Vec<u8>> {
    let raw: Vec<crate::quant::RawTensor> = tensors
        .iter()
        .flat_map(|(name, shape, data)| crate::quant::encode(name, shape, data.as_ref(), dtype))
        .collect();
    crate::quant::serialize(&raw)
}

/// Whether `dir` holds a model bundle (`config.json` and `model.safetensors`).
pub fn is_bundle_dir(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file() && dir.join("model.safetensors").is_file()
}

/// Refuses to write the file `output` of option `flag` when it is a directory, lies inside one of
/// `models` or any model bundle (its files would be replaced), exists and is not a regular file
/// (a device, a FIFO), or exists and `force` is off.
///
/// # Errors
/// Names the option, the path and the way out.
pub fn check_output_file(
    flag: &str,
    output: &Path,
    models: &[&Path],
    force: bool,
) -> anyhow::Result<()> {
    if output.is_dir() {
        anyhow::bail!(
            "{flag} {} is a directory; give a file name",
            output.display()
        );
    }
    // Compare real paths: the file's folder may be named through a link or `..`.
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let real = std::fs::canonicalize(folder).ok();
    let inside = models.iter().find(|m| {
        let model = std::fs::canonicalize(m).ok();
        matches!((&real, &model), (Some(f), Some(m)) if f.starts_with(m))
    });
    if let Some(model) = inside {
        anyhow::bail!(
            "{flag} {} is inside the model bundle {}; writing there could replace the model's files, \
             so give a path outside it",
            output.display(),
            model.display()
        );
    }
    if is_bundle_dir(folder) {
        anyhow::bail!(
            "{flag} {} is inside the model bundle {}; writing there could replace the model's files, \
             so give a path outside it",
            output.display(),
            folder.display()
        );
    }
    // Only a regular file (or a link to one) is ever replaced: `--force` on a device, a FIFO
    // or a socket would swap it for a plain file (`/dev/null` as root).
    if let Ok(meta) = std::fs::metadata(output)
        && !meta.is_file()
    {
        anyhow::bail!(
            "{flag} {} exists and is not a regular file; give a file name",
            output.display()
        );
    }
    if output.exists() && !force {
        anyhow::bail!(
            "{flag} {} already exists; give another name or --force to replace it",
            output.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_tensor_write_names_the_file_and_its_os_error_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        // A directory where the temporary file goes: creating it fails.
        let tmp = dir
            .path()
            .join(format!(".t.safetensors.{}.tmp", std::process::id()));
        std::fs::create_dir(&tmp).unwrap();
        let data = [1.0f32, 2.0];
        let err = save_tensors(&path, &[("x".to_string(), vec![2], &data[..])]).unwrap_err();
        let message = format!("{err:#}");
        let os = std::fs::File::create(&tmp).unwrap_err().to_string();
        assert_eq!(
            message,
            format!("cannot write {}: {os}", path.display()),
            "{message}"
        );
        assert!(!path.exists());
        // Written once the way is clear, and read back.
        std::fs::remove_dir(&tmp).unwrap();
        save_tensors(&path, &[("x".to_string(), vec![2], &data[..])]).unwrap();
        assert_eq!(load_tensors(&path).unwrap()["x"], (vec![2], data.to_vec()));
    }

    #[test]
    fn a_zero_cnn_weight_is_noted_and_only_then() {
        let branch = |cnn: f32, validation: serde_json::Value| NgramBranch {
            model: "ngram-cnn".into(),
            features: crate::ngram::NgramConfig {
                word_n: 2,
                char_n: 0,
                min_df: 1,
            },
            num_features: 10,
            c: 1.0,
            mix: MixWeights { cnn, ngram: 1.0 },
            validation,
        };
        let both = serde_json::json!({"metric": "acc", "cnn": 0.8125, "ngram": 0.9, "mixed": 0.9});
        let note = branch(0.0, both.clone()).cnn_unused_note().unwrap();
        assert!(note.contains("mixture exponent 0 (weight 0)"), "{note}");
        assert!(
            note.contains("valid acc CNN 0.8125, n-gram branch 0.9000"),
            "{note}"
        );
        assert_eq!(branch(0.1, both).cnn_unused_note(), None);
        // `--arch ngram`: no CNN, nothing to note.
        let alone = serde_json::json!({"metric": "acc", "ngram": 0.9, "mixed": 0.9});
        assert_eq!(branch(0.0, alone).cnn_unused_note(), None);
    }

    #[test]
    fn labels_must_be_printable_visible_and_unique() {
        let labels = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        check_labels(&labels(&["pos", "neg", "a\u{200B}b", "été"])).unwrap();
        for (bad, why) in [
            (
                vec!["pos", "\u{200B}"],
                "spaces or zero-width characters only",
            ),
            (vec![" \u{FEFF} "], "spaces or zero-width characters only"),
            (vec!["a\tb"], "control character"),
            (vec!["x", "x"], "listed twice"),
        ] {
            let err = check_labels(&labels(&bad)).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn streamed_tensors_are_the_bytes_of_safetensors_serialize_and_read_back() {
        let a: Vec<f32> = (0..1000).map(|i| i as f32 * 0.25 - 3.0).collect();
        let b = vec![f32::MIN_POSITIVE, -0.0, 1e30];
        let tensors = vec![
            ("w".to_string(), vec![10, 100], a.as_slice()),
            ("b".to_string(), vec![3], b.as_slice()),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        save_tensors(&path, &tensors).unwrap();
        let raw: Vec<Vec<u8>> = [&a, &b]
            .iter()
            .map(|d| d.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .zip(&raw)
            .map(|((n, s, _), r)| {
                let v = safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), r).unwrap();
                (n.clone(), v)
            })
            .collect();
        let want = safetensors::serialize(views, None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want);
        let back = load_tensors(&path).unwrap();
        assert_eq!(back["w"], (vec![10, 100], a));
        assert_eq!(back["b"].1, b);
        // Only the file is left: no temporary beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
