//! Training hyperparameters: defaults, TOML config files and their validation.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub use super::arch_settings::ArchKind;
pub use super::settings::TrainConfig;
use crate::model::Architecture;
use crate::model::{Conv2dBlock, InitScheme, PoolKind};
use crate::nn::optim::{OptimizerConfig, OptimizerKind};
use crate::text::{EmbeddingMode, EncodeConfig, Truncation};

pub use crate::eval::Metric;

/// How the training loss weighs the classes (`--class-weight`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ClassWeight {
    /// Every example counts alike.
    #[default]
    None,
    /// Class `c` weighs `n / (k · n_c)` (`n` training examples, `k` classes, `n_c` of class
    /// `c`), as scikit-learn's `class_weight="balanced"`.
    Balanced,
    /// A JSON file mapping every training label to a positive weight, e.g.
    /// `{"pos": 1, "neg": 3.5}`.
    File(PathBuf),
}

impl std::str::FromStr for ClassWeight {
    type Err = String;

    /// `none` and `balanced` in any case; anything else is a file name (`./Balanced` names a
    /// file called `Balanced`).
    fn from_str(s: &str) -> Result<ClassWeight, String> {
        match s {
            _ if s.eq_ignore_ascii_case("none") => Ok(ClassWeight::None),
            _ if s.eq_ignore_ascii_case("balanced") => Ok(ClassWeight::Balanced),
            "" => Err("give none, balanced or a JSON file of label weights".into()),
            path => Ok(ClassWeight::File(PathBuf::from(path))),
        }
    }
}

impl std::fmt::Display for ClassWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassWeight::None => f.write_str("none"),
            ClassWeight::Balanced => f.write_str("balanced"),
            ClassWeight::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl From<ClassWeight> for String {
    fn from(c: ClassWeight) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for ClassWeight {
    type Error = String;

    fn try_from(s: String) -> Result<ClassWeight, String> {
        s.parse()
    }
}

impl ClassWeight {
    /// The weight of each of `labels` in the loss: `None` for [`ClassWeight::None`],
    /// `balanced()` (the head's, from the training targets) for [`ClassWeight::Balanced`], a
    /// file's weights for [`ClassWeight::File`].
    ///
    /// # Errors
    /// An unreadable or malformed weight file, a weight that is not a positive finite number,
    /// a label the file lacks, or a file label the training data lacks; each message names the
    /// file and the label.
    pub fn resolve(
        &self,
        labels: &[String],
        balanced: impl FnOnce() -> Vec<f32>,
    ) -> Result<Option<Vec<f32>>> {
        match self {
            ClassWeight::None => Ok(None),
            ClassWeight::Balanced => Ok(Some(balanced())),
            ClassWeight::File(path) => {
                let map = read_weight_file(path)?;
                let name = path.display();
                if let Some(extra) = map.keys().find(|l| !labels.contains(l)) {
                    bail!(
                        "--class-weight {name}: label {extra:?} does not occur in the training data (labels: {})",
                        labels.join(", ")
                    );
                }
                labels
                    .iter()
                    .map(|l| {
                        map.get(l).copied().ok_or_else(|| {
                            anyhow::anyhow!("--class-weight {name}: no weight for label {l:?}")
                        })
                    })
                    .collect::<Result<Vec<f32>>>()
                    .map(Some)
            }
        }
    }
}

/// Reads a `--class-weight` file: a JSON object of label → positive finite weight.
fn read_weight_file(path: &Path) -> Result<std::collections::BTreeMap<String, f32>> {
    let name = path.display();
    let bytes = crate::fsutil::read_file(
        path,
        crate::fsutil::Source::RegularFile,
        Some(MAX_SETTINGS_BYTES),
    )
    .with_context(|| {
        format!(
            "--class-weight {name}: not none or balanced, and not a readable JSON file of label weights"
        )
    })?;
    let text =
        String::from_utf8(bytes).with_context(|| format!("--class-weight {name} is not UTF-8"))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("--class-weight {name} is not valid JSON"))?;
    let object = value.as_object().ok_or_else(|| {
        anyhow::anyhow!(
            "--class-weight {name} must hold a JSON object of label weights, like {{\"pos\": 1, \"neg\": 3}}"
        )
    })?;
    object
        .iter()
        .map(|(label, w)| match w.as_f64() {
            Some(x) if x > 0.0 && (x as f32).is_finite() => Ok((label.clone(), x as f32)),
            _ => bail!(
                "--class-weight {name}: the weight of {label:?} must be a positive number, not {w}"
            ),
        })
        .collect()
}

/// Input length of the `--arch seed` preset: 256 tokens (head+tail), which covers a median
/// IMDB review whole. Chosen on the IMDB validation split (10 % of train; valid accuracy after 2
/// epochs, 1 thread): 128 tokens 0.859, 256 tokens 0.884 (0.888 with another initialization
/// draw), 400 tokens 0.889. 400 tokens cost 1.6× the time per epoch and 1.54× the parameters
/// (640,000 flattened features, 42.0M parameters, against 409,600 and 27.2M) for a gain within
/// the spread between two draws at 256.
pub const SEED_MAX_LEN: usize = 256;
/// Truncation of the `--arch seed` preset.
pub const SEED_TRUNCATION: Truncation = Truncation::HeadTail;

/// Optimizer steps the automatic epoch cap allows at least ([`TrainConfig::max_epochs`]).
pub const AUTO_MIN_STEPS: usize = 2_000;
/// Lower bound of the automatic epoch cap (Kim 2014 trained for a fixed number of epochs;
/// IMDB converges in 3–4).
pub const AUTO_MIN_EPOCHS: usize = 10;
/// Upper bound of the automatic epoch cap.
pub const AUTO_MAX_EPOCHS: usize = 50;
/// Optimizer steps without improvement that the automatic early-stopping patience waits for
/// ([`TrainConfig::patience_epochs`]).
pub const AUTO_PATIENCE_STEPS: usize = 300;
/// Bounds of the automatic patience, in epochs (`ngram-cnn`, `conv2d`).
pub const AUTO_PATIENCE_EPOCHS: (usize, usize) = (1, 2);
/// Training texts below which the Kim CNN (`--arch kim`, and the `ngram-cnn` default's CNN in
/// multi-label runs) takes its small-data settings
/// ([`TrainConfig::apply_kim_small_data`]); the n-gram branch's `min_df` rule uses the same
/// bound.
pub const KIM_SMALL_DATA_BELOW: usize = 20_000;
/// [`KIM_SMALL_DATA_BELOW`] as the messages write it (`20,000`).
pub(crate) fn kim_small_data_bound() -> String {
    format!(
        "{},{:03}",
        KIM_SMALL_DATA_BELOW / 1000,
        KIM_SMALL_DATA_BELOW % 1000
    )
}

/// Region sizes as `--region-sizes` takes them (`1,2,3,4,5`).
pub(crate) fn region_list(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Embedding width of the Kim CNN on small data ([`TrainConfig::apply_kim_small_data`]).
pub const KIM_SMALL_EMB_DIM: usize = 256;
/// Region sizes of the Kim CNN on small data ([`TrainConfig::apply_kim_small_data`]).
pub const KIM_SMALL_REGION_SIZES: [usize; 5] = [1, 2, 3, 4, 5];
/// Early-stopping patience of the Kim CNN on small data, in epochs
/// ([`TrainConfig::apply_kim_small_data`]).
pub const KIM_SMALL_PATIENCE: usize = 4;
/// Mean tokens per training text (real tokens, after `--max-len`) from which the Kim CNN
/// trains with word dropout ([`TrainConfig::word_dropout_rate`]).
pub const WORD_DROPOUT_FROM_MEAN_TOKENS: f64 = 100.0;
/// The automatic word-dropout rate of long texts ([`TrainConfig::word_dropout_rate`]).
pub const LONG_TEXT_WORD_DROPOUT: f32 = 0.4;
/// Largest settings file read (`--config`, `--class-weight`), in bytes; real ones are a few
/// hundred.
const MAX_SETTINGS_BYTES: u64 = 16 << 20;

/// Upper bound of `--threads`: far above any real core count, low enough that a typo cannot
/// spawn a million threads.
pub const MAX_THREADS: usize = 1024;

impl TrainConfig {
    /// Reads a TOML config file over the defaults; unknown keys are errors (a typo must not
    /// silently fall back to a default). `arch = "seed"` selects the seed preset
    /// ([`TrainConfig::apply_seed_preset`]) as the base; the file's other keys override it.
    pub fn from_toml_file(path: &Path) -> Result<TrainConfig> {
        Self::from_toml_file_over(path, &TrainConfig::default())
    }

    /// As [`TrainConfig::from_toml_file`], with `base` in place of the defaults (keys the file
    /// does not set keep `base`'s values).
    pub fn from_toml_file_over(path: &Path, base: &TrainConfig) -> Result<TrainConfig> {
        Ok(Self::from_toml_file_with_keys(path, base)?.0)
    }

    /// As [`TrainConfig::from_toml_file_over`], with the names of the keys the file sets
    /// (snake_case, as [`crate::train::RunRequest::explicit`] takes them). The file is read
    /// once, so a pipe (`--config <(...)`, `/dev/stdin`) gives its keys too.
    pub fn from_toml_file_with_keys(
        path: &Path,
        base: &TrainConfig,
    ) -> Result<(TrainConfig, std::collections::BTreeSet<String>)> {
        let bytes = crate::fsutil::read_file(
            path,
            crate::fsutil::Source::FileOrPipe,
            Some(MAX_SETTINGS_BYTES),
        )
        .with_context(|| format!("cannot read config {}", path.display()))?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("config {} is not UTF-8", path.display()))?;
        let config = Self::from_toml_str_over(&text, base)
            .with_context(|| format!("invalid config {}", path.display()))?;
        // The text parsed as settings above, so it is a TOML table.
        let keys = text
            .parse::<toml::Table>()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        Ok((config, keys))
    }

    /// As [`TrainConfig::from_toml_file`], from the file's text.
    pub fn from_toml_str(text: &str) -> Result<TrainConfig> {
        Self::from_toml_str_over(text, &TrainConfig::default())
    }

    /// As [`TrainConfig::from_toml_file_over`], from the file's text.
    pub fn from_toml_str_over(text: &str, base: &TrainConfig) -> Result<TrainConfig> {
        // Unknown keys and bad values are reported with their line by a plain parse. `arch =
        // "seed"` is not an ArchKind: that parse reads it as "conv2d", in place, so that every
        // line keeps its number.
        #[derive(Deserialize)]
        struct ArchKey {
            arch: Option<toml::Spanned<toml::Value>>,
        }
        let arch = toml::from_str::<ArchKey>(text)?.arch;
        let checked = match arch.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
            Some((Some("seed"), span)) => {
                format!("{}\"conv2d\"{}", &text[..span.start], &text[span.end..])
            }
            Some((Some(other), span))
                if <super::arch_settings::ArchChoice as clap::ValueEnum>::from_str(
                    other, false,
                )
                .is_err() =>
            {
                let names: Vec<String> =
                    <super::arch_settings::ArchChoice as clap::ValueEnum>::value_variants()
                        .iter()
                        .filter_map(clap::ValueEnum::to_possible_value)
                        .map(|v| format!("{:?}", v.get_name()))
                        .collect();
                let (last, rest) = names.split_last().expect("ArchChoice has variants");
                bail!(
                    "line {}: arch = {other:?}: expected {} or {last}",
                    text[..span.start].lines().count().max(1),
                    rest.join(", ")
                )
            }
            _ => text.to_string(),
        };
        let _: TrainConfig = toml::from_str(&checked)?;
        let mut table: toml::Table = toml::from_str(text)?;
        let mut start = base.clone();
        if table.get("arch").and_then(|v| v.as_str()) == Some("seed") {
            table.remove("arch");
            start.apply_seed_preset();
        }
        let toml::Value::Table(mut merged) = toml::Value::try_from(&start)? else {
            bail!("training settings do not serialize to a table");
        };
        for (key, value) in table {
            match (merged.get_mut(&key), value) {
                // Tables ([tokenizer]) merge key by key.
                (Some(toml::Value::Table(base)), toml::Value::Table(over)) => base.extend(over),
                (_, value) => {
                    merged.insert(key, value);
                }
            }
        }
        Ok(merged.try_into()?)
    }

    /// The `--arch seed` preset: the tutorial's settings (embedding 100, one block of 64 3×3 maps
    /// with 2×2 max pooling, dense 64, Adam 1e-3, batch 32, 10 epochs, 10,000 words, Keras's
    /// default initialization) applied to `self`, with dropout 0.5 after the hidden layer and
    /// [`SEED_MAX_LEN`] tokens.
    ///
    /// The initialization matters: the first dense layer reads 409,600 non-negative features
    /// (ReLU then max pooling) that are nearly equal across reviews at the start, so Adam's
    /// sign-like first steps move every hidden pre-activation by ≈ lr · Σ features in one
    /// direction. With PyTorch's default initialization ([`InitScheme::Torch`]) that shift kills
    /// all 64 hidden ReLUs and the model predicts the class prior (IMDB valid accuracy 0.50);
    /// with Keras's ([`InitScheme::Keras`]) the features are ≈ 27× smaller (they sum to ≈ 2,200
    /// per review at the start, against ≈ 60,000) and it learns (valid 0.884 after 2 epochs).
    pub fn apply_seed_preset(&mut self) {
        self.arch = ArchKind::Conv2d;
        self.emb_dim = 100;
        self.conv2d_blocks = vec!["3x64:max2".to_string()];
        self.pool = PoolKind::Max;
        self.init = InitScheme::Keras;
        self.hidden = vec![64];
        self.optimizer = OptimizerKind::Adam;
        self.lr = 1e-3;
        self.batch_size = 32;
        self.epochs = Some(10);
        self.vocab_size = 10_000;
        self.max_len = SEED_MAX_LEN;
        self.truncation = SEED_TRUNCATION;
        self.dropout = 0.5;
    }

    /// The conv2d blocks parsed from `conv2d_blocks`.
    ///
    /// # Errors
    /// A block spec that does not parse (the message quotes it).
    pub fn blocks(&self) -> Result<Vec<Conv2dBlock>> {
        self.conv2d_blocks
            .iter()
            .map(|s| Conv2dBlock::parse_with_default(s, self.pool))
            .collect()
    }

    /// The architecture to train for a vocabulary of `vocab_size` entries and `num_classes`
    /// classes. Panics on settings the architecture refuses (run [`TrainConfig::validate`]
    /// first).
    pub fn architecture(&self, vocab_size: usize, num_classes: usize) -> Architecture {
        self.try_architecture(vocab_size, num_classes)
            .expect("validated settings")
    }

    /// As [`TrainConfig::architecture`], with the architecture's own checks of its settings
    /// (see [`super::arch_settings::FromSettings`]).
    ///
    /// # Errors
    /// A setting the architecture cannot take; the message names the flag.
    pub fn try_architecture(&self, vocab_size: usize, num_classes: usize) -> Result<Architecture> {
        super::arch_settings::architecture_from_settings(self, vocab_size, num_classes)
    }

    /// Checks ranges; the message names the offending setting. Also refuses a model that
    /// cannot fit in memory even with a 2-word vocabulary, one example per batch and (Kim) the
    /// shortest texts ([`check_training_memory`]); the training loop checks again with the real
    /// vocabulary, batch size and text lengths.
    pub fn validate(&self) -> Result<()> {
        self.validate_ranges()?;
        // After the range checks, so that a zero size gets its own message.
        let arch = self.try_architecture(2, 2)?;
        check_training_memory(&arch, arch.min_len(), 1)
    }

    /// The first setting out of its range or in conflict with another, as a typed error (the
    /// cross-setting checks of the architecture and the `--class-weight` file come after, in
    /// [`TrainConfig::validate`]).
    pub fn setting_error(&self) -> Option<SettingError> {
        use SettingError::{Conflict, OutOfRange, Requires};
        let range = |setting: &'static str, requirement: &str, got: Option<String>| OutOfRange {
            setting,
            requirement: requirement.to_string(),
            got,
        };
        let positive = [
            ("epochs", self.epochs.unwrap_or(1)),
            ("batch-size", self.batch_size),
            ("emb-dim", self.emb_dim),
            ("feature-maps", self.feature_maps),
            ("max-len", self.max_len),
            ("vocab-size", self.vocab_size),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Some(range(name, "must be at least 1", None));
        }
        let unit = 0.0..1.0;
        // A value given within 3e-8 of 1 (`0.999999999`) is read as the 32-bit float 1.
        let unit_got = |v: f32| {
            if v == 1.0 {
                "1 (as a 32-bit number: values this close to 1 round to 1)".to_string()
            } else {
                v.to_string()
            }
        };
        let threads = format!("must be at most {MAX_THREADS} (0 = all cores)");
        let checks: [(bool, &'static str, &str, String); 9] = [
            (
                self.lr > 0.0 && self.lr.is_finite(),
                "lr",
                "must be a positive number",
                self.lr.to_string(),
            ),
            (
                unit.contains(&self.dropout),
                "dropout",
                "must be in [0, 1)",
                unit_got(self.dropout),
            ),
            (
                self.word_dropout.is_none_or(|p| unit.contains(&p)),
                "word-dropout",
                "must be in [0, 1)",
                unit_got(self.word_dropout.unwrap_or(0.0)),
            ),
            (
                (0.0..1.0).contains(&self.valid_fraction),
                "valid-fraction",
                "must be in [0, 1)",
                self.valid_fraction.to_string(),
            ),
            (
                self.weight_decay >= 0.0 && self.weight_decay.is_finite(),
                "weight-decay",
                "must be a number >= 0",
                self.weight_decay.to_string(),
            ),
            (
                unit.contains(&self.momentum),
                "momentum",
                "must be in [0, 1)",
                unit_got(self.momentum),
            ),
            (
                self.threads <= MAX_THREADS,
                "threads",
                &threads,
                self.threads.to_string(),
            ),
            (
                !self.region_sizes.is_empty() && !self.region_sizes.contains(&0),
                "region-sizes",
                "must list one or more sizes >= 1",
                format!("{:?}", self.region_sizes),
            ),
            (
                self.patience != Some(0),
                "patience",
                "must be 1 or more (epochs without improvement before stopping)",
                "0".to_string(),
            ),
        ];
        if let Some((_, name, req, got)) = checks.into_iter().find(|c| !c.0) {
            return Some(range(name, req, Some(got)));
        }
        for (name, v) in [
            ("max-norm", self.max_norm),
            ("clip-grad-norm", self.clip_grad_norm),
        ] {
            if let Some(m) = v.filter(|m| !(*m > 0.0 && m.is_finite())) {
                return Some(range(
                    name,
                    "must be a positive number",
                    Some(m.to_string()),
                ));
            }
        }
        if self.pretrained.is_some() && self.init_from.is_some() {
            return Some(Conflict("pretrained", "init-from"));
        }
        if self.unlabeled.is_some() && self.pretrained.is_some() {
            return Some(Conflict("unlabeled", "pretrained"));
        }
        if self.unlabeled.is_some() && self.init_from.is_some() {
            return Some(Conflict("unlabeled", "init-from"));
        }
        if self.init_conv && self.init_from.is_none() {
            return Some(Requires("init-conv", "init-from"));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Some(range(
                "lr-decay",
                "must be in (0, 1]",
                Some(self.lr_decay.to_string()),
            ));
        }
        None
    }

    fn validate_ranges(&self) -> Result<()> {
        if let Some(e) = self.setting_error() {
            return Err(e.into());
        }
        if let ClassWeight::File(path) = &self.class_weight {
            read_weight_file(path)?;
        }
        Ok(())
    }

    /// The epoch cap of a run with `batches_per_epoch` mini-batches per epoch: `epochs` when
    /// set, otherwise enough epochs for [`AUTO_MIN_STEPS`] optimizer steps, at least
    /// [`AUTO_MIN_EPOCHS`] and at most [`AUTO_MAX_EPOCHS`] (early stopping usually ends the run
    /// sooner). Small training sets need more passes: with 10 epochs, 3 of the 11 standard sets
    /// measured on 98da988 stopped at the cap still improving (news20 here: valid accuracy still
    /// rising at epoch 10 of 58 batches each).
    pub fn max_epochs(&self, batches_per_epoch: usize) -> usize {
        self.epochs.unwrap_or_else(|| {
            AUTO_MIN_STEPS
                .div_ceil(batches_per_epoch.max(1))
                .clamp(AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS)
        })
    }

    /// The early-stopping patience of a run with `batches_per_epoch` mini-batches per epoch:
    /// `patience` when set, otherwise the epochs that hold [`AUTO_PATIENCE_STEPS`] optimizer
    /// steps, 1 or 2 ([`AUTO_PATIENCE_EPOCHS`]): 1 from 300 batches an epoch (19,200 texts at
    /// batch 64) on, 2 below. Never 0.
    ///
    /// Why: a fixed patience of 2 epochs spends a whole epoch of a large set on nothing. In the
    /// `metrics.jsonl` of the suite and scale runs of d524e6e (validation accuracy per epoch,
    /// `--arch kim` and the default), IMDB (352 batches an epoch) and the 50k / 150k /
    /// 500k-sentence scale sets would have kept the same best epoch with patience 1 and saved
    /// one epoch each (3.5 s of IMDB's 38.6 s, 15 s at 500k). The small sets keep 2. A bound of
    /// 4 epochs for them (suite run of 2026-12-07 15:17 UTC) raised the CNN's validation
    /// accuracy on sms (0.9763 → 0.9849) and news20 (0.9167 → 0.9191) but not its test
    /// accuracy (sms 0.9903 → 0.9845, news20 0.9051 → 0.9106), left every default model's test
    /// accuracy the same, and cost sms 1.8 s and news20 5.5 s: not kept.
    pub fn patience_epochs(&self, batches_per_epoch: usize) -> usize {
        let (low, high) = AUTO_PATIENCE_EPOCHS;
        self.patience
            .unwrap_or_else(|| {
                AUTO_PATIENCE_STEPS
                    .div_ceil(batches_per_epoch.max(1))
                    .clamp(low, high)
            })
            .max(1)
    }

    /// The word-dropout rate ([`crate::train::fit`]'s `drop_words`) of a run whose training
    /// texts hold `mean_tokens` real tokens on average (after `--max-len`): `--word-dropout`
    /// when given; else [`LONG_TEXT_WORD_DROPOUT`] for the Kim CNN alone (`--arch kim`,
    /// single-label) from [`WORD_DROPOUT_FROM_MEAN_TOKENS`] on, and 0 for shorter texts, other
    /// architectures (the `ngram-cnn` default's CNN included) and multi-label runs.
    ///
    /// Why (validation only; docs/results.md "CNN variants"): on the fixed 90/10 splits of the
    /// suite (seeds 1, 2, 3), `--arch kim --word-dropout 0.1 / 0.25 / 0.4` raised news20's
    /// validation accuracy (217 words a text) from 0.9567 to 0.9657 / 0.9681 / 0.9690, every
    /// seed ahead, and IMDB's (about 230 words; split of `imdb:train`, seed 42) from 0.9056 to
    /// 0.9072 / 0.9072 / 0.9084; on the short-text sets (9 to 22 words) 0.25 moved sms +0.3,
    /// waimai +0.5, finphrase −0.2, snips −0.2 and germeval −1.2 points: nothing to keep there.
    /// The `ngram-cnn` default with 0.4 (its mixture's validation figure): news20 0.9755 →
    /// 0.9739, IMDB 0.9236 → 0.9232, its CNN stronger (IMDB 0.9056 → 0.9084) but the mixture not:
    /// the default keeps 0. Multi-label runs were not measured.
    pub fn word_dropout_rate(&self, mean_tokens: f64, multi_label: bool) -> f32 {
        match self.word_dropout {
            Some(p) => p,
            None if self.arch == ArchKind::Kim
                && !multi_label
                && mean_tokens >= WORD_DROPOUT_FROM_MEAN_TOKENS =>
            {
                LONG_TEXT_WORD_DROPOUT
            }
            None => 0.0,
        }
    }

    /// The small-data settings of the Kim CNN (`--arch kim`, and the `ngram-cnn` default when
    /// `multi_label`, with fewer than [`KIM_SMALL_DATA_BELOW`] training texts), set on the
    /// settings whose names (snake_case) are not in `explicit`: embedding width
    /// [`KIM_SMALL_EMB_DIM`] (not with `pretrained` vectors, whose width it takes), region sizes
    /// [`KIM_SMALL_REGION_SIZES`] and patience [`KIM_SMALL_PATIENCE`]. Nothing changes for other architectures, larger sets or runs
    /// from a source bundle (`init_from`, which gives the shape). [`crate::train::RunRequest`]
    /// applies it to new runs once the training texts are read (command line, config file,
    /// Python); a checkpoint and the bundle record the settings used.
    ///
    /// Why (validation only: fixed 90/10 splits of the training files of the six suite sets,
    /// 1,800 to 11,500 training texts, seeds 1, 2, 3; mean validation accuracy,
    /// docs/results.md "CNN variants"): the 128-wide, 3/4/5 CNN with patience 2 scored 0.9134;
    /// `--emb-dim 256` 0.9152, region sizes 1–5 0.9146, patience 4 0.9162 each alone, width
    /// and regions 0.9156; all three 0.9224, ahead on 5 of the 6 sets (finphrase +2.5, news20
    /// +1.4, germeval +0.9, waimai +0.5, snips +0.4, sms −0.2 points). On IMDB's validation
    /// split (22,500 training texts, seed 42) the same settings scored 0.9036 in 9 epochs of
    /// 7 s, region sizes 1–5 alone 0.9016, width 256 alone 0.8996, against 0.9056 in 5 epochs
    /// of 3.6 s: larger sets keep the paper's CNN.
    ///
    /// The `ngram-cnn` default's CNN takes them in multi-label runs only (same method; the
    /// score is the mixture's validation figure). Multi-label, where the CNN carries more of
    /// the mixture than the one-vs-rest n-gram branch: reuters (7,649 texts, a seeded 10 % held
    /// out; micro-F1) 0.8674 → 0.8775, ahead for each of the three seeds; SemEval-2018 E-c
    /// (6,838 tweets) 0.5814 → 0.5822. Single-label, where the branch carries it: the six
    /// sets' mean 0.9278 → 0.9296, within the seed noise (4 of 6 ahead; sms −0.3, news20 −0.2
    /// points), at 1.7× the time (sms 2.8 → 4.9 s, news20 27 → 44 s), and a suite run of
    /// that change (commit 72c4e96) did not carry it to the test splits (default − TF-IDF + LR
    /// +1.68 → +1.44 points, 2–3× the time): not kept. Width and region sizes without the
    /// longer patience gave 0.9275.
    ///
    /// Returns the settings it set, as the user would read them (`emb 256`, ...), in that
    /// order; empty when the rule does not apply or every one was given.
    pub fn apply_kim_small_data(
        &mut self,
        train_texts: usize,
        multi_label: bool,
        explicit: &std::collections::BTreeSet<String>,
    ) -> Vec<String> {
        let mut set = Vec::new();
        let cnn = match self.arch {
            ArchKind::Kim => true,
            ArchKind::NgramCnn => multi_label,
            _ => false,
        };
        if !cnn || train_texts >= KIM_SMALL_DATA_BELOW || self.init_from.is_some() {
            return set;
        }
        if !explicit.contains("emb_dim") && self.pretrained.is_none() {
            self.emb_dim = KIM_SMALL_EMB_DIM;
            set.push(format!("emb {KIM_SMALL_EMB_DIM}"));
        }
        if !explicit.contains("region_sizes") {
            self.region_sizes = KIM_SMALL_REGION_SIZES.to_vec();
            set.push(format!("region sizes {}", region_list(&self.region_sizes)));
        }
        if !explicit.contains("patience") {
            self.patience = Some(KIM_SMALL_PATIENCE);
            set.push(format!("patience {KIM_SMALL_PATIENCE}"));
        }
        set
    }

    /// Encoding settings: texts are padded to at least the widest region size so that every
    /// text, even one emptied by cleaning, has one convolution window.
    pub fn encode(&self) -> EncodeConfig {
        // The architecture's own minimum: conv2d reads exactly max_len tokens, so every text is
        // padded to it. Settings it refuses (caught by `validate`) fall back to the widest region.
        let widest = self.region_sizes.iter().copied().max().unwrap_or(1);
        let min_len = self
            .try_architecture(2, 2)
            .map_or(widest, |a| a.min_len().max(1));
        EncodeConfig {
            max_len: self.max_len,
            truncation: self.truncation,
            min_len,
        }
    }

    /// Optimizer settings.
    pub fn optimizer(&self) -> OptimizerConfig {
        OptimizerConfig {
            kind: self.optimizer,
            lr: self.lr,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
            max_norm: self.max_norm,
            clip_grad_norm: self.clip_grad_norm,
            freeze_embedding: self.embedding == EmbeddingMode::Static,
            ..OptimizerConfig::default()
        }
    }
}

/// A training setting out of its range or in conflict with another (see
/// [`TrainConfig::setting_error`]); it is the source of the `anyhow::Error` that
/// [`TrainConfig::validate`] returns, so a library user can `downcast_ref::<SettingError>()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingError {
    /// `--setting requirement, got value`.
    OutOfRange {
        /// The flag name without dashes, e.g. `dropout`.
        setting: &'static str,
        /// What the value must be, e.g. `must be in [0, 1)`.
        requirement: String,
        /// The value given, when it helps to repeat it.
        got: Option<String>,
    },
    /// Two settings that exclude each other.
    Conflict(&'static str, &'static str),
    /// A setting (first) that needs another (second).
    Requires(&'static str, &'static str),
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingError::OutOfRange {
                setting,
                requirement,
                got,
            } => {
                write!(f, "--{setting} {requirement}")?;
                match got {
                    Some(g) => write!(f, ", got {g}"),
                    None => Ok(()),
                }
            }
            SettingError::Conflict(a, b) => write!(f, "give either --{a} or --{b}, not both"),
            SettingError::Requires(a, b) => write!(f, "--{a} needs --{b}"),
        }
    }
}

impl std::error::Error for SettingError {}

/// Refuses to train `arch` on batches of `batch_size` texts of `seq_len` tokens (conv2d: its
/// own fixed length) when its
/// parameters, gradients, two optimizer moments and one batch of activations
/// ([`Architecture::training_floats`]) would not fit in this machine's physical memory
/// (`/proc/meminfo`; where that cannot be read, only sizes that overflow are refused). The
/// estimate is a lower bound: the texts and scratch buffers come on top.
///
/// # Errors
/// The message gives the estimate, its parts and the flags that shrink them.
pub fn check_training_memory(arch: &Architecture, seq_len: usize, batch_size: usize) -> Result<()> {
    let (params, per_example) = arch
        .training_floats(seq_len)
        .context("model sizes too large (the parameter count overflows)")?;
    let state = params as u128 * 16;
    let acts = per_example as u128 * batch_size as u128 * 4;
    if let Some(total) = total_memory_bytes()
        && state + acts > total as u128
    {
        let gb = |b: u128| b as f64 / 1e9;
        bail!(
            "this model needs at least {:.1} GB to train ({params} parameters with gradients and Adam state: {:.1} GB; activations of a batch of {batch_size}: {:.1} GB), more than this machine's {:.1} GB: lower {}",
            gb(state + acts),
            gb(state),
            gb(acts),
            gb(total as u128),
            arch.shrink_flags()
        );
    }
    Ok(())
}

/// Physical memory of this machine in bytes (`MemTotal` of `/proc/meminfo`); `None` where that
/// file does not exist or cannot be read.
fn total_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::VectorFormat;

    #[test]
    fn toml_overrides_only_given_keys_and_rejects_unknown_ones() {
        let c: TrainConfig =
            toml::from_str("epochs = 3\nregion_sizes = [2, 3]\n[tokenizer]\nlowercase = false\n")
                .unwrap();
        assert_eq!(c.epochs, Some(3));
        assert_eq!(c.region_sizes, vec![2, 3]);
        assert!(!c.tokenizer.lowercase);
        assert_eq!(c.batch_size, TrainConfig::default().batch_size);
        assert_eq!(c.encode().min_len, 3);
        let err = toml::from_str::<TrainConfig>("[tokenizer]\nlowercaze = false\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lowercaze"), "{err}");
        let err = toml::from_str::<TrainConfig>("epochz = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("epochz"), "{err}");
    }

    #[test]
    fn automatic_patience_is_one_epoch_from_300_batches_on_and_two_below() {
        let auto = TrainConfig::default();
        assert_eq!(auto.patience, None);
        // The suite's batch counts: finphrase, news20, germeval, waimai, snips, IMDB (352);
        // then one batch an epoch and a huge epoch.
        for (batches, want) in [
            (31, 2),
            (63, 2),
            (75, 2),
            (159, 2),
            (201, 2),
            (299, 2),
            (300, 1),
            (352, 1),
            (1, 2),
            (0, 2),
            (100_000, 1),
        ] {
            assert_eq!(auto.patience_epochs(batches), want, "{batches} batches");
        }
        // An explicit patience is kept whatever the epoch's size; 0 means 1.
        for (set, want) in [(Some(2), 2), (Some(7), 7), (Some(0), 1)] {
            let c = TrainConfig {
                patience: set,
                ..TrainConfig::default()
            };
            assert_eq!(c.patience_epochs(31), want);
            assert_eq!(c.patience_epochs(5_000), want);
        }
        let c: TrainConfig = toml::from_str("patience = 3\n").unwrap();
        assert_eq!(c.patience, Some(3));
    }

    #[test]
    fn single_label_kim_drops_words_of_long_texts_unless_told() {
        let kim = TrainConfig {
            arch: ArchKind::Kim,
            ..TrainConfig::default()
        };
        assert_eq!(kim.word_dropout_rate(100.0, false), LONG_TEXT_WORD_DROPOUT);
        assert_eq!(kim.word_dropout_rate(99.9, false), 0.0);
        // Not for multi-label runs, the default's CNN or conv2d, whatever the length.
        assert_eq!(kim.word_dropout_rate(400.0, true), 0.0);
        for arch in [ArchKind::NgramCnn, ArchKind::Conv2d, ArchKind::Ngram] {
            let c = TrainConfig {
                arch,
                ..TrainConfig::default()
            };
            assert_eq!(c.word_dropout_rate(400.0, false), 0.0, "{arch:?}");
        }
        // A given rate is kept, 0 included; out of [0, 1) it is refused, naming the flag.
        for p in [0.0, 0.2] {
            let c = TrainConfig {
                word_dropout: Some(p),
                ..kim.clone()
            };
            assert_eq!(c.word_dropout_rate(400.0, false), p);
            assert_eq!(c.word_dropout_rate(5.0, true), p);
        }
        // `0.999999999` parses to the 32-bit 1: the message says why a value below 1 is 1.
        let given: f32 = "0.999999999".parse().unwrap();
        let c = TrainConfig {
            word_dropout: Some(given),
            ..kim.clone()
        };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "--word-dropout must be in [0, 1), got 1 (as a 32-bit number: values this close to 1 \
             round to 1)"
        );
        let c = TrainConfig {
            word_dropout: Some(1.5),
            ..kim.clone()
        };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "--word-dropout must be in [0, 1), got 1.5"
        );
    }

    #[test]
    fn the_kim_cnn_takes_its_small_data_settings_below_20000_texts_unless_given() {
        use std::collections::BTreeSet;
        let none = BTreeSet::new();
        let kim = TrainConfig {
            arch: ArchKind::Kim,
            ..TrainConfig::default()
        };
        let plain = (128, vec![3, 4, 5], None);
        let shape = |c: &TrainConfig| (c.emb_dim, c.region_sizes.clone(), c.patience);
        let mut c = kim.clone();
        assert_eq!(
            c.apply_kim_small_data(19_999, false, &none),
            ["emb 256", "region sizes 1,2,3,4,5", "patience 4"]
        );
        assert_eq!(shape(&c), (256, vec![1, 2, 3, 4, 5], Some(4)));
        let mut c = kim.clone();
        assert!(c.apply_kim_small_data(20_000, false, &none).is_empty());
        assert_eq!(shape(&c), plain);
        // The default's CNN takes them in multi-label runs only; the other architectures keep
        // theirs, whatever the size and head.
        let mut c = TrainConfig::default();
        assert!(c.apply_kim_small_data(100, false, &none).is_empty());
        assert_eq!(shape(&c), plain);
        let mut c = TrainConfig::default();
        assert_eq!(c.apply_kim_small_data(19_999, true, &none).len(), 3);
        assert_eq!(shape(&c), (256, vec![1, 2, 3, 4, 5], Some(4)));
        let mut c = TrainConfig::default();
        assert!(c.apply_kim_small_data(20_000, true, &none).is_empty());
        for arch in [ArchKind::Conv2d, ArchKind::Ngram] {
            let mut c = TrainConfig {
                arch,
                ..TrainConfig::default()
            };
            assert!(
                c.apply_kim_small_data(100, true, &none).is_empty(),
                "{arch:?}"
            );
            assert_eq!(shape(&c), plain);
        }
        // Settings the caller named stay as given.
        let given: BTreeSet<String> = ["emb_dim", "patience"].map(String::from).into();
        let mut c = TrainConfig {
            emb_dim: 64,
            patience: Some(1),
            ..kim.clone()
        };
        assert_eq!(
            c.apply_kim_small_data(100, false, &given),
            ["region sizes 1,2,3,4,5"]
        );
        assert_eq!(shape(&c), (64, vec![1, 2, 3, 4, 5], Some(1)));
        // Pretrained vectors give the width; a source bundle gives the whole shape.
        let mut c = TrainConfig {
            emb_dim: 300,
            pretrained: Some("v.vec".into()),
            ..kim.clone()
        };
        assert_eq!(c.apply_kim_small_data(100, false, &none).len(), 2);
        assert_eq!(shape(&c), (300, vec![1, 2, 3, 4, 5], Some(4)));
        let mut c = TrainConfig {
            init_from: Some("parent".into()),
            ..kim
        };
        assert!(c.apply_kim_small_data(100, false, &none).is_empty());
        assert_eq!(shape(&c), plain);
    }

    #[test]
    fn every_architecture_name_is_accepted_in_a_config_file() {
        // `arch = "ngram-cnn"` (the default's own name) was refused by the check for "seed".
        for (name, kind) in [
            ("ngram-cnn", ArchKind::NgramCnn),
            ("kim", ArchKind::Kim),
            ("conv2d", ArchKind::Conv2d),
            ("seed", ArchKind::Conv2d),
        ] {
            let c = TrainConfig::from_toml_str(&format!("arch = \"{name}\"\n")).unwrap();
            assert_eq!(c.arch, kind, "{name}");
        }
    }

    #[test]
    fn validation_names_the_setting() {
        let c = TrainConfig {
            dropout: 1.0,
            ..TrainConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("--dropout"));
        let c = TrainConfig {
            region_sizes: vec![],
            ..TrainConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("--region-sizes")
        );
        let bad = [
            (
                TrainConfig {
                    clip_grad_norm: Some(-1.0),
                    ..TrainConfig::default()
                },
                "--clip-grad-norm",
            ),
            (
                TrainConfig {
                    max_norm: Some(f32::NAN),
                    ..TrainConfig::default()
                },
                "--max-norm",
            ),
            (
                TrainConfig {
                    weight_decay: f32::NAN,
                    ..TrainConfig::default()
                },
                "--weight-decay",
            ),
            (
                TrainConfig {
                    momentum: 7.0,
                    ..TrainConfig::default()
                },
                "momentum",
            ),
            (
                TrainConfig {
                    threads: 1_000_000,
                    ..TrainConfig::default()
                },
                "--threads",
            ),
        ];
        for (c, name) in bad {
            let err = c.validate().unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            // The error is typed: a library user can ask which setting it is.
            match err.downcast_ref::<SettingError>() {
                Some(SettingError::OutOfRange { setting, .. }) => {
                    assert!(name.ends_with(setting), "{setting} {name}")
                }
                other => panic!("{other:?}"),
            }
        }
        let c = TrainConfig {
            init_conv: true,
            ..TrainConfig::default()
        };
        assert_eq!(
            c.setting_error(),
            Some(SettingError::Requires("init-conv", "init-from"))
        );
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "--init-conv needs --init-from"
        );
        TrainConfig::default().validate().unwrap();
    }

    #[test]
    fn transfer_settings_default_off_and_parse_from_toml() {
        let c: TrainConfig = toml::from_str(
            "pretrained = \"v.bin\"\npretrained_format = \"word2vec-bin\"\nembedding = \"multichannel\"\n",
        )
        .unwrap();
        assert_eq!(c.embedding, EmbeddingMode::Multichannel);
        assert_eq!(c.pretrained_format, VectorFormat::Word2vecBin);
        assert!(!c.optimizer().freeze_embedding);
        let s = TrainConfig {
            embedding: EmbeddingMode::Static,
            ..TrainConfig::default()
        };
        assert!(s.optimizer().freeze_embedding);
        // A checkpoint's config written before these settings existed still reads.
        let mut old = serde_json::to_value(TrainConfig::default()).unwrap();
        for k in [
            "pretrained",
            "pretrained_format",
            "embedding",
            "extend_vocab",
            "init_from",
            "init_conv",
        ] {
            old.as_object_mut().unwrap().remove(k).unwrap();
        }
        assert_eq!(
            serde_json::from_value::<TrainConfig>(old).unwrap(),
            TrainConfig::default()
        );
    }
}
