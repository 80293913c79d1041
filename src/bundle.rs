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
//! records the SHA-256 of `model.safetensors` and `vocab.txt` (its `"files"` object), so a
//! bundle whose files do not belong together (a vocabulary or weights of another model, or a
//! save interrupted between two renames) is refused on load. Loading also checks the format
//! version, the labels, the vocabulary size and every tensor name and shape against the config.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::fsutil::{Source, read_file, write_atomic};
use crate::head::{Head, HeadRecord, MultiLabelConfig, head_of_record};
pub use crate::model::Architecture;
use crate::model::Model;
use crate::ngram::{MixWeights, NGRAM_TENSORS_FILE, NGRAM_TOKENS_FILE, NgramConfig, NgramModel};
use crate::text::{EncodeConfig, TextPipeline, Tokenizer, TokenizerConfig, Vocab};

/// Version of the bundle layout; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;
pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const VOCAB_FILE: &str = "vocab.txt";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const REPORT_FILE: &str = "report.json";
/// Metric history of the parent bundle of a fine-tuned model (its `metrics.jsonl`, copied).
pub const PARENT_METRICS_FILE: &str = "parent_metrics.jsonl";

/// Largest `config.json` read (bytes); real ones are a few kilobytes.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Named f32 tensors: name -> (shape, row-major data).
pub type TensorMap = HashMap<String, (Vec<usize>, Vec<f32>)>;

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
            "the CNN adds nothing on this data: the validation split chose mixture weight 0 for it \
             (valid {metric} CNN {cnn:.4}, n-gram branch {ngram:.4}), so every prediction is the \
             n-gram branch's and the CNN's settings change nothing; `--arch ngram` gives the same \
             model without training the network"
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
    /// Writes `model.safetensors`, `vocab.txt` and `config.json` into `dir` (created if
    /// missing), each atomically; `config.json` goes last so a bundle with a config is complete.
    ///
    /// `config.json` also records the SHA-256 of the other two files (`"files"`), which
    /// [`Bundle::load`] verifies: a reader never takes files of two different saves (or two
    /// bundles) for one model.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let model = tensor_bytes(&self.model.named_params())
            .with_context(|| format!("cannot serialize {}", dir.join(MODEL_FILE).display()))?;
        let vocab = self.vocab.to_bytes();
        write_atomic(&dir.join(MODEL_FILE), &model)?;
        write_atomic(&dir.join(VOCAB_FILE), &vocab)?;
        /// `config.json`: the config, then the hashes of the files it belongs with.
        #[derive(Serialize)]
        struct WithFiles<'a> {
            #[serde(flatten)]
            config: &'a BundleConfig,
            files: std::collections::BTreeMap<&'static str, String>,
        }
        let mut files: std::collections::BTreeMap<&'static str, String> = [
            (MODEL_FILE, sha256_tag(&model)),
            (VOCAB_FILE, sha256_tag(&vocab)),
        ]
        .into();
        if let Some(ngram) = &self.ngram {
            let (tensors, tokens) = ngram.to_bytes()?;
            write_atomic(&dir.join(NGRAM_TENSORS_FILE), &tensors)?;
            write_atomic(&dir.join(NGRAM_TOKENS_FILE), &tokens)?;
            files.insert(NGRAM_TENSORS_FILE, sha256_tag(&tensors));
            files.insert(NGRAM_TOKENS_FILE, sha256_tag(&tokens));
        }
        let json = serde_json::to_vec_pretty(&WithFiles {
            config: &self.config,
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
    pub fn load(dir: &Path) -> Result<Bundle> {
        let (config, files) = read_config(dir)?;
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
        check_hash(dir, files.as_ref(), VOCAB_FILE, &vocab_bytes)?;
        check_hash(dir, files.as_ref(), MODEL_FILE, &model_bytes)?;
        let ngram = load_ngram(dir, &config, files.as_ref())?;
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
/// the labels, the head's record; returns it with the recorded file hashes (`None` for bundles
/// written before they were recorded).
fn read_config(dir: &Path) -> Result<(BundleConfig, Option<HashMap<String, String>>)> {
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
    match given.map(|v| (v, v.as_u64())) {
        Some((_, Some(v))) if v == FORMAT_VERSION as u64 => {}
        Some((_, Some(v))) => bail!(
            "{}: bundle format version {v} is not supported by this textcnn (it reads version {FORMAT_VERSION})",
            config_path.display()
        ),
        Some((v, None)) => bail!(
            "{}: \"format_version\" must be a whole number (this textcnn reads {FORMAT_VERSION}), not {v}{}",
            config_path.display(),
            if v.is_string() { " (a string)" } else { "" }
        ),
        None => bail!("{}: missing \"format_version\"", config_path.display()),
    }
    let files = recorded_hashes(&version, &config_path)?;
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
    Ok((config, files))
}

/// Refuses the bytes of `dir/name` when `config.json` records another SHA-256 for them (or
/// records hashes but none for them); bundles without recorded hashes load unverified.
fn check_hash(
    dir: &Path,
    files: Option<&HashMap<String, String>>,
    name: &str,
    bytes: &[u8],
) -> Result<()> {
    let Some(files) = files else {
        return Ok(());
    };
    let config_path = dir.join(CONFIG_FILE);
    let Some(recorded) = files.get(name) else {
        bail!("{}: \"files\" has no hash of {name}", config_path.display());
    };
    if *recorded != sha256_tag(bytes) {
        bail!(
            "{} is not the file this model was saved with: its SHA-256 differs from the one \
             recorded in {} (a file of another bundle, or a save that was interrupted; \
             `textcnn train --resume {}` finishes an interrupted training)",
            dir.join(name).display(),
            config_path.display(),
            dir.display()
        );
    }
    Ok(())
}

/// The n-gram branch of a bundle whose config has one (its mixture weights and features
/// checked, its files verified against the recorded hashes); none otherwise (and then the
/// hashes must not name one).
fn load_ngram(
    dir: &Path,
    config: &BundleConfig,
    files: Option<&HashMap<String, String>>,
) -> Result<Option<NgramModel>> {
    let config_path = dir.join(CONFIG_FILE);
    let Some(branch) = &config.ngram else {
        if files.is_some_and(|f| f.contains_key(NGRAM_TENSORS_FILE)) {
            bail!(
                "{}: \"files\" lists the n-gram branch ({NGRAM_TENSORS_FILE}) but there is no \"ngram\" \
                 object; the config was edited or belongs to another bundle",
                config_path.display()
            );
        }
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
    check_hash(dir, files, NGRAM_TENSORS_FILE, &tensors)?;
    check_hash(dir, files, NGRAM_TOKENS_FILE, &tokens)?;
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

/// The `"files"` object of `config.json` (file name → `sha256:…`); `None` for bundles written
/// before it existed, which load unverified.
fn recorded_hashes(
    config: &serde_json::Value,
    config_path: &Path,
) -> Result<Option<HashMap<String, String>>> {
    let Some(files) = config.get("files") else {
        return Ok(None);
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
        .map(Some)
}

/// Writes named f32 tensors as a safetensors file, atomically.
pub fn save_tensors<D: AsRef<[f32]>>(
    path: &Path,
    tensors: &[(String, Vec<usize>, D)],
) -> Result<()> {
    let out =
        tensor_bytes(tensors).with_context(|| format!("cannot serialize {}", path.display()))?;
    write_atomic(path, &out)
}

/// The safetensors file of named f32 tensors, as bytes.
fn tensor_bytes<D: AsRef<[f32]>>(tensors: &[(String, Vec<usize>, D)]) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let raw = data.as_ref().iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), shape.clone(), raw)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, raw)| {
            Ok((
                name.clone(),
                safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), raw)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, None)?)
}

/// Reads every tensor of a safetensors file; all must be f32.
///
/// # Errors
/// A missing, truncated or corrupt file, or a tensor of another dtype, with the path in the message.
pub fn load_tensors(path: &Path) -> Result<TensorMap> {
    let bytes = read_file(path, Source::RegularFile, None)?;
    parse_tensors(&bytes, path)
}

/// [`load_tensors`] of bytes already read from `path`.
fn parse_tensors(bytes: &[u8], path: &Path) -> Result<TensorMap> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is truncated or not a safetensors file ({e})",
            path.display()
        )
    })?;
    let mut out = TensorMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            bail!(
                "{}: tensor {name} has dtype {:?}, expected F32",
                path.display(),
                view.dtype()
            );
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            bail!(
                "{}: tensor {name} holds a non-finite value ({}) at element {i}; the file is corrupt or the \
                 training diverged",
                path.display(),
                data[i]
            );
        }
        out.insert(name, (view.shape().to_vec(), data));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(note.contains("weight 0"), "{note}");
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
}
