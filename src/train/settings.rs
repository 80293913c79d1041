//! Every training setting, defined once.
//!
//! The table in `settings_table!` gives each setting its name, type, default, help text, the
//! kind of its command-line flag, the architectures it applies to and whether `finetune` may
//! change it. From that one table come:
//! - [`TrainConfig`], its `Default` and its serde form (the keys of a `--config` TOML file, of
//!   a checkpoint and of a bundle's `training.config`);
//! - [`TrainFlags`] (the flags of `textcnn train`) and [`FinetuneFlags`] (those of
//!   `textcnn finetune`), whose help texts end with the default read from
//!   `TrainConfig::default()` (and the seed preset's value where it differs), so that no
//!   default is copied by hand;
//! - [`SettingValues::given`], [`SettingValues::apply`] and [`SettingValues::check_arch`]
//!   (flags that the chosen architecture would ignore are refused).
//!
//! Cross-setting checks live in one place, [`TrainConfig::validate`].
//!
//! # Why these defaults
//! Kim (2014)'s architecture and dropout with Adam. Input length, truncation and vocabulary size
//! were chosen on the IMDB validation split (10 % of train, seed 42; never the test set): best
//! valid accuracy 0.892 with 400 tokens head / 30k words, 0.901 with 800 tokens, 0.903 with
//! 800 head+tail, 0.906 with 800 head+tail and 80k words; 1,200 tokens or 200 feature maps did
//! not help. Length bucketing makes the longer limit cheap: short texts are not padded to it.
//!
//! The default architecture is `ngram-cnn` (the CNN above plus the n-gram branch of
//! [`crate::train::ngram_stage`]), whose n-gram branch reads every token of a text, so the
//! CNN's input is cut to 400 tokens (head+tail): on the IMDB validation split the mixture
//! scored 0.9224 with 400 tokens and 0.9220 with 800, at half the CNN's time per epoch. The
//! paper-faithful `--arch kim` reached its 0.906 with `--max-len 800`. The automatic epoch cap
//! is explained at [`TrainConfig::max_epochs`], the seed preset at
//! [`TrainConfig::apply_seed_preset`]. CNN variants measured for `--arch kim` on 3 seeds of 6 suite
//! validation splits (docs/results.md, "CNN variants") moved the mean by at most +0.3 points, inside
//! the seed noise (up to 5 points a run on germeval), so the CNN's defaults stay as they are.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use serde::{Deserialize, Serialize};

use super::arch_settings::ArchChoice;
use super::config::{ArchKind, ClassWeight, Metric};
use crate::model::{InitScheme, PoolKind, Pooling};
use crate::nn::optim::OptimizerKind;
use crate::text::{EmbeddingMode, TokenizerConfig, Truncation, VectorFormat};

/// The table. Each row:
///
/// ```text
/// FINETUNE { /// help (also the field's doc)
///            field: Type = default, FLAG [extra] (shown "text")? (only [Arch, ...])? }
/// ```
///
/// * `FINETUNE`: `finetune` (a flag of `textcnn finetune` too, default "the parent's"),
///   `finetune("help")` (with its own help there) or `train` (train only);
/// * `FLAG`: `value` (flag of the field's type), `value as T` (flag of type `T`, converted with
///   `Into`), `option as T` (an `Option<T>` field set to `Some`), `switch` (a `bool` set to
///   true by the bare flag) or `none` (config file only);
/// * `extra`: a function `Arg -> Arg` adding clap relations (`conflicts_with`, `requires`);
/// * `shown`: the default as the help shows it, when the value itself would not say it;
/// * `only`: the architectures the setting applies to (all when absent).
macro_rules! settings_table {
    ($m:ident) => {
        $m! {
            train {
                /// Network architecture, or the `seed` preset (the tutorial's conv2d settings)
                arch: ArchKind = ArchKind::NgramCnn, value as ArchChoice [keep]
            }
            train {
                /// conv2d blocks, comma-separated `KxM:maxP` / `KxM:avgP` / `KxM:P` (kernel K×K, M
                /// maps, P×P pooling of kind `pool`), e.g. `3x64:max2`
                conv2d_blocks: Vec<String> = vec!["3x64:max2".to_string()], value [keep]
                only [Conv2d]
            }
            train {
                /// conv2d hidden dense layer widths, comma-separated, or `none` for no hidden layer
                hidden: Vec<usize> = vec![64], value as HiddenWidths [keep] only [Conv2d]
            }
            train {
                /// conv2d pooling kind of blocks whose spec names none (`3x64:2`)
                pool: PoolKind = PoolKind::Max, value [keep] only [Conv2d]
            }
            train {
                /// conv2d weight initialization (Keras's defaults or PyTorch's)
                init: InitScheme = InitScheme::Keras, value [keep] only [Conv2d]
            }
            finetune {
                /// Maximum number of epochs (passes over the training data); an explicit value is a
                /// hard cap
                epochs: Option<usize> = None, option as usize [keep]
                shown "automatic: enough for 2,000 steps, 10 to 50; early stopping usually ends sooner" only [Kim, NgramCnn, Conv2d]
            }
            finetune {
                /// Mini-batch size (examples per optimizer step)
                batch_size: usize = 64, value [keep] only [Kim, NgramCnn, Conv2d]
            }
            finetune("Learning rate [default: the parent's / 10, e.g. 1e-4 after Adam's 1e-3]") {
                /// Learning rate (step size of the optimizer)
                lr: f32 = 1e-3, value [keep] only [Kim, NgramCnn, Conv2d]
            }
            train {
                /// Optimizer
                optimizer: OptimizerKind = OptimizerKind::Adam, value [keep] only [Kim, NgramCnn, Conv2d]
            }
            train {
                /// L2 weight decay (decoupled for adamw)
                weight_decay: f32 = 0.0, value [keep] only [Kim, NgramCnn, Conv2d]
            }
            train {
                /// Momentum of SGD
                momentum: f32 = 0.9, value [keep] only [Kim, NgramCnn, Conv2d]
            }
            train {
                /// Dropout rate on the pooled features (kim; Kim 2014: 0.5) or after each hidden
                /// layer (conv2d)
                dropout: f32 = 0.5, value [keep] only [Kim, NgramCnn, Conv2d]
            }
            finetune {
                /// Word dropout: the share of each training text's tokens dropped (read as
                /// padding: a zero embedding row) at every step, drawn anew per step from the seed
                /// (the embedding dropout of Gal & Ghahramani 2016, §4.2, per token); 0 = none
                word_dropout: Option<f32> = None, option as f32 [keep]
                shown "automatic: 0.4 for single-label kim when the training texts average 100 tokens or more (after --max-len), else 0" only [Kim, NgramCnn, Conv2d]
            }
            train {
                /// Max L2 norm of each class's output weight vector (Kim 2014: 3)
                max_norm: Option<f32> = None, option as f32 [keep] only [Kim, NgramCnn, Conv2d]
            }
            train {
                /// Clip gradients to this global L2 norm
                clip_grad_norm: Option<f32> = None, option as f32 [keep] only [Kim, NgramCnn, Conv2d]
            }
            finetune {
                /// Epochs without improvement of the validation metric before training stops
                /// (early stopping)
                patience: Option<usize> = None, option as usize [keep]
                shown "automatic: 1 epoch when an epoch has 300 or more mini-batches, else 2; kim, or multi-label ngram-cnn, with fewer than 20,000 training texts after the validation split: 4" only [Kim, NgramCnn, Conv2d]
            }
            finetune {
                /// Validation metric that selects the best epoch and drives early stopping
                metric: Metric = Metric::Acc, value [keep]
            }
            train {
                /// Embedding dimension (with --pretrained or --init-from: their dimension)
                emb_dim: usize = 128, value [keep]
                shown "128; kim, or multi-label ngram-cnn, with fewer than 20,000 training texts after the validation split: 256" only [Kim, NgramCnn, Conv2d]
            }
            train {
                /// Region sizes (kernel heights in tokens), comma-separated
                region_sizes: Vec<usize> = vec![3, 4, 5], value [keep]
                shown "3,4,5; kim, or multi-label ngram-cnn, with fewer than 20,000 training texts after the validation split: 1,2,3,4,5" only [Kim, NgramCnn]
            }
            train {
                /// Feature maps per region size
                feature_maps: usize = 100, value [keep] only [Kim, NgramCnn]
            }
            train {
                /// Pooling over time of each feature map: max (Kim 2014), or max-mean (the max and
                /// the mean of the map's windows, two features per map)
                pooling: Pooling = Pooling::Max, value [keep] only [Kim, NgramCnn]
            }
            train {
                /// Maximum tokens per text, longer texts are truncated; conv2d: the fixed input
                /// length
                max_len: usize = 400, value [keep]
            }
            train {
                /// Which part of a long text to keep
                truncation: Truncation = Truncation::HeadTail, value [keep]
            }
            train {
                /// Maximum vocabulary size, without <pad> and <unk>
                vocab_size: usize = 80_000, value [keep]
            }
            finetune("Minimum count of a new word for --extend-vocab [default: the parent's]") {
                /// Minimum token count in the training data to enter the vocabulary
                min_count: usize = 1, value [keep]
            }
            finetune {
                /// Fraction of the training data held out for validation when --valid is not given
                valid_fraction: f64 = 0.1, value [keep]
            }
            finetune {
                /// Random seed of initialization, shuffling, dropout and the validation split
                seed: u64 = 42, value [keep]
            }
            finetune {
                /// Worker threads, 0 = all cores
                threads: usize = 0, value [keep]
            }
            train {
                /// Group texts of similar length into batches (less padding, faster epochs)
                bucket: bool = true, none [keep]
            }
            train {
                /// Multiply the learning rate by this factor after every epoch, in (0, 1]
                lr_decay: f32 = 1.0, value [keep] only [Kim, NgramCnn, Conv2d]
            }
            finetune {
                /// Class weights in the training loss: none, balanced (n / (classes · n_class), as
                /// scikit-learn), or a JSON file of label weights such as {"pos": 1, "neg": 3}
                class_weight: ClassWeight = ClassWeight::None, value [keep]
            }
            train {
                /// Tokenizer settings (the `[tokenizer]` table of a config file)
                tokenizer: TokenizerConfig = TokenizerConfig::default(), none [keep]
            }
            train {
                /// Pretrained word vectors for the embedding: word2vec binary, word2vec text /
                /// fastText .vec, or GloVe text; --emb-dim defaults to their dimension
                pretrained: Option<PathBuf> = None, option as PathBuf [conflicts_init_from]
            }
            train {
                /// Unlabeled text: train skip-gram vectors with subwords on it plus the training
                /// texts (docs/vectors.md) and initialise the embedding from them
                unlabeled: Option<PathBuf> = None, option as PathBuf [keep]
            }
            train {
                /// Format of the --pretrained file
                pretrained_format: VectorFormat = VectorFormat::Auto, value [keep]
            }
            train {
                /// static: frozen embedding; non-static: fine-tuned; multichannel: one frozen and
                /// one fine-tuned channel (Kim 2014)
                embedding: EmbeddingMode = EmbeddingMode::NonStatic, value [keep]
            }
            finetune("Add words of the new data missing from the model's vocabulary (at least --min-count occurrences, most frequent first, at most the parent's vocab_size of them); their embedding rows start uniform with the variance of the trained rows") {
                /// Add words of the --pretrained file / --init-from bundle that the training data
                /// lacks (at most --vocab-size of them, in file order)
                extend_vocab: bool = false, switch [keep]
            }
            train {
                /// Initialise the embedding rows of words shared with this model bundle's
                /// vocabulary from its embedding (others: uniform with matching variance);
                /// --emb-dim defaults to its one
                init_from: Option<PathBuf> = None, option as PathBuf [keep]
            }
            train {
                /// With --init-from: also copy its feature layers (kim: the convolution filters;
                /// conv2d: the blocks and hidden layers), taking their shape (region sizes,
                /// feature maps, pooling; blocks, hidden layers) unless given
                init_conv: bool = false, switch [requires_init_from]
            }
        }
    };
}

/// `extra` of a row that needs no clap relation.
fn keep(a: Arg) -> Arg {
    a
}

/// `--pretrained` and `--init-from` both initialise the embedding.
fn conflicts_init_from(a: Arg) -> Arg {
    a.conflicts_with("init_from")
}

/// `--init-conv` copies the filters of the `--init-from` bundle.
fn requires_init_from(a: Arg) -> Arg {
    a.requires("init_from")
}

/// The type of a setting's flag value.
macro_rules! flag_ty {
    (value, $ty:ty) => {
        $ty
    };
    (value, $ty:ty, $f:ty) => {
        $f
    };
    (option, $ty:ty, $f:ty) => {
        $f
    };
    (switch, $ty:ty) => {
        bool
    };
    (none, $ty:ty) => {
        $ty
    };
}

/// The setting's value from its flag's value `$v`.
macro_rules! flag_into {
    (value, $v:expr) => {
        $v.clone().into()
    };
    (option, $v:expr) => {
        Some($v.clone().into())
    };
    (switch, $v:expr) => {
        *$v
    };
    (none, $v:expr) => {
        $v.clone()
    };
}

/// Whether the setting has a flag.
macro_rules! has_flag {
    (none) => {
        false
    };
    ($kind:ident) => {
        true
    };
}

/// Whether the setting's flag shows a default value.
macro_rules! shows_default {
    (switch) => {
        false
    };
    ($kind:ident) => {
        true
    };
}

/// The finetune help of a row: its own text, or the train help with "the parent's" default.
macro_rules! finetune_help {
    (finetune($h:literal), $help:expr) => {
        Some($h.to_string())
    };
    (finetune, $help:expr) => {
        Some(format!("{} [default: the parent's]", $help))
    };
    (train, $help:expr) => {
        None::<String>
    };
}

macro_rules! define_settings {
    ($(
        $ft:ident $(($fhelp:literal))? {
            $(#[doc = $doc:literal])*
            $field:ident : $ty:ty = $default:expr, $kind:ident $(as $fty:ty)? [$extra:ident]
            $(shown $shown:literal)? $(only [$($arch:ident),*])?
        }
    )*) => {
        /// Every training setting. A TOML file given with `--config` holds any subset of these
        /// keys (plus a `[tokenizer]` table); command-line flags override it. Each field's
        /// default, help and flag are defined once, in the table of [`crate::train::settings`].
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct TrainConfig {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        /// The defaults of the table (why these: see the module documentation).
        impl Default for TrainConfig {
            fn default() -> TrainConfig {
                TrainConfig { $( $field: $default, )* }
            }
        }

        /// The settings given on a command line: `None` for a flag not given (and for settings
        /// without a flag).
        #[derive(Clone, Debug, Default)]
        pub struct SettingValues {
            $( $(#[doc = $doc])* pub $field: Option<flag_ty!($kind, $ty $(, $fty)?)>, )*
        }

        impl SettingValues {
            /// The names (kebab-case flags without `--`) of the settings given.
            pub fn given(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $( if self.$field.is_some() { names.push(flag_name(stringify!($field))); } )*
                names
            }

            /// Writes every given setting into `config`.
            pub fn apply(&self, config: &mut TrainConfig) {
                $( if let Some(v) = &self.$field { config.$field = flag_into!($kind, v); } )*
            }

            /// The architectures a setting applies to (`None`: all).
            fn scope(name: &str) -> Option<&'static [ArchKind]> {
                $(
                    $( if name == flag_name(stringify!($field)) {
                        return Some(&[$(ArchKind::$arch),*]);
                    } )?
                )*
                let _ = name;
                None
            }

            /// Adds every setting's flag to `cmd` (`finetune`: only those `finetune` may change,
            /// with their finetune help).
            fn augment(mut cmd: Command, finetune: bool) -> Command {
                let defaults = TrainConfig::default();
                let mut seed = TrainConfig::default();
                seed.apply_seed_preset();
                $(
                    let help = help_text(&[$($doc),*]);
                    let help = if finetune {
                        finetune_help!($ft $(($fhelp))?, help)
                    } else {
                        let mut help = help;
                        if shows_default!($kind) {
                            let shown: Option<String> = None $(.or(Some($shown.to_string())))?;
                            let shown = shown.or_else(|| defaults.$field.show());
                            if let Some(d) = shown {
                                // `arch` is what the preset sets, not a default of it.
                                let s = (seed.$field != defaults.$field && stringify!($field) != "arch")
                                    .then(|| seed.$field.show())
                                    .flatten()
                                    .map(|s| format!("; seed: {s}"))
                                    .unwrap_or_default();
                                help = format!("{help} [default: {d}{s}]");
                            }
                        }
                        Some(help)
                    };
                    if let (true, Some(help)) = (has_flag!($kind), help) {
                        let name = flag_name(stringify!($field));
                        let arg = Arg::new(stringify!($field))
                            .long(name)
                            .value_name(flag_value_name(stringify!($field)))
                            .help(help);
                        let arg = <flag_ty!($kind, $ty $(, $fty)?) as FlagValue>::configure(arg);
                        cmd = cmd.arg($extra(arg));
                    }
                )*
                cmd
            }

            /// Reads the flags [`SettingValues::augment`] added.
            fn read(m: &ArgMatches) -> SettingValues {
                let mut values = SettingValues::default();
                $(
                    if has_flag!($kind) && m.try_contains_id(stringify!($field)).unwrap_or(false) {
                        values.$field =
                            <flag_ty!($kind, $ty $(, $fty)?) as FlagValue>::read(m, stringify!($field));
                    }
                )*
                values
            }
        }
    };
}

settings_table!(define_settings);

/// `--flag-name` of the field `flag_name` (without the dashes).
fn flag_name(field: &'static str) -> &'static str {
    intern(field.replace('_', "-"))
}

/// The placeholder of a flag's value in the help (`--lr <LR>`), as clap's derive writes it.
fn flag_value_name(field: &'static str) -> &'static str {
    intern(field.to_uppercase())
}

/// A `'static` copy of `s`, made once per distinct string: clap wants `'static` names and the
/// table is fixed, so this holds a few dozen short strings for the life of the process.
fn intern(s: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match names.get(s.as_str()) {
        Some(n) => n,
        None => {
            let n: &'static str = Box::leak(s.into_boxed_str());
            names.insert(n);
            n
        }
    }
}

/// A help text from a doc comment's lines: trimmed and joined by spaces.
fn help_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a flag's value is parsed and read back.
pub trait FlagValue: Sized {
    /// Sets the argument's value parser and action.
    fn configure(arg: Arg) -> Arg;
    /// The value given for `id`, if any.
    fn read(m: &ArgMatches, id: &str) -> Option<Self>;
}

macro_rules! scalar_flags {
    ($($t:ty),*) => {$(
        impl FlagValue for $t {
            fn configure(arg: Arg) -> Arg {
                arg.value_parser(clap::value_parser!($t)).action(ArgAction::Set)
            }
            fn read(m: &ArgMatches, id: &str) -> Option<Self> {
                m.get_one::<$t>(id).cloned()
            }
        }
    )*};
}

scalar_flags!(
    usize,
    u64,
    f32,
    f64,
    PathBuf,
    ClassWeight,
    ArchChoice,
    PoolKind,
    Pooling,
    InitScheme,
    OptimizerKind,
    Metric,
    Truncation,
    VectorFormat,
    EmbeddingMode
);

macro_rules! list_flags {
    ($($t:ty),*) => {$(
        impl FlagValue for Vec<$t> {
            fn configure(arg: Arg) -> Arg {
                arg.value_parser(clap::value_parser!($t))
                    .value_delimiter(',')
                    .action(ArgAction::Append)
            }
            fn read(m: &ArgMatches, id: &str) -> Option<Self> {
                m.get_many::<$t>(id).map(|v| v.cloned().collect())
            }
        }
    )*};
}

list_flags!(usize, String);

impl FlagValue for bool {
    fn configure(arg: Arg) -> Arg {
        arg.action(ArgAction::SetTrue)
    }
    fn read(m: &ArgMatches, id: &str) -> Option<Self> {
        m.get_flag(id).then_some(true)
    }
}

impl FlagValue for TokenizerConfig {
    fn configure(arg: Arg) -> Arg {
        arg
    }
    fn read(_: &ArgMatches, _: &str) -> Option<Self> {
        None
    }
}

impl FlagValue for HiddenWidths {
    fn configure(arg: Arg) -> Arg {
        arg.value_parser(parse_hidden).action(ArgAction::Set)
    }
    fn read(m: &ArgMatches, id: &str) -> Option<Self> {
        m.get_one::<HiddenWidths>(id).cloned()
    }
}

/// A default as the help shows it; `None` where it shows none (paths).
trait ShowDefault {
    /// Whether a value of this type is ever shown: `false` for paths, whose help shows no
    /// default, also when the setting is an unset `Option` (`--pretrained`, `--init-from`).
    const SHOWN: bool = true;
    fn show(&self) -> Option<String>;
}

macro_rules! show_display {
    ($($t:ty),*) => {$(
        impl ShowDefault for $t {
            fn show(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}

show_display!(usize, u64, f32, f64, bool, ClassWeight);

macro_rules! show_value_enum {
    ($($t:ty),*) => {$(
        impl ShowDefault for $t {
            fn show(&self) -> Option<String> {
                clap::ValueEnum::to_possible_value(self).map(|v| v.get_name().to_string())
            }
        }
    )*};
}

show_value_enum!(
    ArchKind,
    PoolKind,
    Pooling,
    InitScheme,
    OptimizerKind,
    Metric,
    Truncation,
    VectorFormat,
    EmbeddingMode
);

impl<T: ToString> ShowDefault for Vec<T> {
    fn show(&self) -> Option<String> {
        Some(if self.is_empty() {
            "none".to_string()
        } else {
            self.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
    }
}

impl<T: ShowDefault> ShowDefault for Option<T> {
    const SHOWN: bool = T::SHOWN;
    fn show(&self) -> Option<String> {
        match self {
            _ if !T::SHOWN => None,
            None => Some("none".to_string()),
            Some(v) => v.show(),
        }
    }
}

impl ShowDefault for PathBuf {
    const SHOWN: bool = false;
    fn show(&self) -> Option<String> {
        None
    }
}

impl ShowDefault for TokenizerConfig {
    const SHOWN: bool = false;
    fn show(&self) -> Option<String> {
        None
    }
}

/// The value of `--hidden` (one argument, so that `none` can mean an empty list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HiddenWidths(pub Vec<usize>);

impl From<HiddenWidths> for Vec<usize> {
    fn from(h: HiddenWidths) -> Vec<usize> {
        h.0
    }
}

/// `--hidden`: `64,32` or `none` (the flattened features feed the output layer directly).
fn parse_hidden(s: &str) -> Result<HiddenWidths, String> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(HiddenWidths(Vec::new()));
    }
    s.split(',')
        .map(|w| {
            w.trim()
                .parse()
                .map_err(|_| format!("{w:?} is not a layer width: give widths like 64,32, or none"))
        })
        .collect::<Result<_, _>>()
        .map(HiddenWidths)
}

impl SettingValues {
    /// Whether the `--arch seed` preset was asked for (it replaces the defaults as the base that
    /// a config file and the other flags override).
    pub fn wants_seed_preset(&self) -> bool {
        self.arch == Some(ArchChoice::Seed)
    }

    /// Refuses flags that `arch` would ignore (a user who passes `--hidden` to a Kim model
    /// expects it to matter).
    ///
    /// # Errors
    /// Names the flags and the architectures they apply to.
    pub fn check_arch(&self, arch: ArchKind) -> anyhow::Result<()> {
        let wrong: Vec<(&str, &[ArchKind])> = self
            .given()
            .into_iter()
            .filter_map(|n| Self::scope(n).map(|s| (n, s)))
            .filter(|(_, scope)| !scope.contains(&arch))
            .collect();
        let Some((_, scope)) = wrong.first() else {
            return Ok(());
        };
        // The architectures by their --arch names, each followed by the presets built on it.
        let names: Vec<String> = scope
            .iter()
            .flat_map(|k| {
                let mut choices: Vec<ArchChoice> =
                    <ArchChoice as clap::ValueEnum>::value_variants()
                        .iter()
                        .copied()
                        .filter(|c| ArchKind::from(*c) == *k)
                        .collect();
                // The architecture's own name first, then its presets.
                choices.sort_by_key(|c| k.show() != Some(arch_name(*c)));
                choices.into_iter().map(arch_name)
            })
            .collect();
        let flags: Vec<String> = wrong.iter().map(|(n, _)| format!("--{n}")).collect();
        anyhow::bail!(
            "{} {} only to --arch {}; this run trains --arch {}",
            flags.join(", "),
            if flags.len() == 1 { "applies" } else { "apply" },
            names.join(" or "),
            arch.show().unwrap_or_default()
        )
    }
}

/// The `--arch` name of `c`.
fn arch_name(c: ArchChoice) -> String {
    clap::ValueEnum::to_possible_value(&c)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The flags of `textcnn train`: every setting with a flag, each overriding the config file and
/// the defaults.
#[derive(Clone, Debug, Default)]
pub struct TrainFlags(pub SettingValues);

/// The flags of `textcnn finetune`: the settings a fine-tuning run may change (their defaults
/// are the parent model's, see [`crate::train::finetune_config`]).
#[derive(Clone, Debug, Default)]
pub struct FinetuneFlags(pub SettingValues);

macro_rules! flags_for_clap {
    ($t:ident, $finetune:expr) => {
        impl clap::FromArgMatches for $t {
            fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
                Ok($t(SettingValues::read(m)))
            }
            fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
                *self = $t(SettingValues::read(m));
                Ok(())
            }
        }

        impl clap::Args for $t {
            fn augment_args(cmd: Command) -> Command {
                SettingValues::augment(cmd, $finetune)
            }
            fn augment_args_for_update(cmd: Command) -> Command {
                SettingValues::augment(cmd, $finetune)
            }
        }

        impl std::ops::Deref for $t {
            type Target = SettingValues;
            fn deref(&self) -> &SettingValues {
                &self.0
            }
        }
    };
}

flags_for_clap!(TrainFlags, false);
flags_for_clap!(FinetuneFlags, true);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};

    fn parse<T: Args + FromArgMatches>(args: &[&str]) -> Result<T, clap::Error> {
        let cmd = T::augment_args(Command::new("t").no_binary_name(true));
        let m = cmd.try_get_matches_from(args)?;
        T::from_arg_matches(&m)
    }

    #[test]
    fn flags_set_exactly_the_given_settings() {
        let f: TrainFlags = parse(&[
            "--lr",
            "0.01",
            "--region-sizes",
            "2,3",
            "--max-norm",
            "3",
            "--arch",
            "kim",
            "--hidden",
            "none",
            "--extend-vocab",
            "--class-weight",
            "balanced",
            "--epochs",
            "7",
        ])
        .unwrap();
        assert_eq!(
            f.given(),
            vec![
                "arch",
                "hidden",
                "epochs",
                "lr",
                "max-norm",
                "region-sizes",
                "class-weight",
                "extend-vocab"
            ]
        );
        let mut c = TrainConfig::default();
        f.apply(&mut c);
        let want = TrainConfig {
            arch: ArchKind::Kim,
            lr: 0.01,
            region_sizes: vec![2, 3],
            max_norm: Some(3.0),
            hidden: vec![],
            extend_vocab: true,
            class_weight: ClassWeight::Balanced,
            epochs: Some(7),
            ..TrainConfig::default()
        };
        assert_eq!(c, want);
        // No flag: nothing changes.
        let none: TrainFlags = parse(&[]).unwrap();
        assert!(none.given().is_empty());
        let mut c = TrainConfig::default();
        none.apply(&mut c);
        assert_eq!(c, TrainConfig::default());
    }

    #[test]
    fn help_shows_the_defaults_of_the_table_and_the_seed_preset() {
        let cmd = TrainFlags::augment_args(Command::new("t"));
        let help = |id: &str| {
            cmd.get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_else(|| panic!("no flag {id}"))
        };
        let d = TrainConfig::default();
        assert!(
            help("lr").ends_with(&format!("[default: {}]", d.lr)),
            "{}",
            help("lr")
        );
        assert!(help("batch_size").ends_with("[default: 64; seed: 32]"));
        assert!(
            help("region_sizes")
                .ends_with("[default: 3,4,5; kim, or multi-label ngram-cnn, with fewer than 20,000 training texts after the validation \
             split: 1,2,3,4,5]")
        );
        assert!(help("emb_dim").ends_with(
            "[default: 128; kim, or multi-label ngram-cnn, with fewer than 20,000 training texts after the validation \
             split: 256; seed: 100]"
        ));
        assert!(help("optimizer").ends_with("[default: adam]"));
        assert!(help("truncation").ends_with("[default: head+tail]"));
        assert!(help("max_norm").ends_with("[default: none]"));
        // --init-conv copies the feature layers of any architecture, not only Kim's filters.
        assert!(help("init_conv").contains("conv2d: the blocks and hidden layers"));
        // Paths show no default, as before the table (an unset path is not "none").
        for id in ["pretrained", "init_from"] {
            assert!(!help(id).contains("[default"), "{}", help(id));
        }
        assert!(help("epochs").contains("automatic"));
        // Settings without a flag have none.
        assert!(cmd.get_arguments().all(|a| a.get_id() != "bucket"));
        // finetune: a subset, with the parent's defaults.
        let ft = FinetuneFlags::augment_args(Command::new("t"));
        let ids: Vec<&str> = ft.get_arguments().map(|a| a.get_id().as_str()).collect();
        assert!(ids.contains(&"lr") && ids.contains(&"extend_vocab"));
        assert!(!ids.contains(&"emb_dim") && !ids.contains(&"arch"));
        let ft_help = |id: &str| {
            ft.get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_help())
                .map(|h| h.to_string())
                .unwrap()
        };
        assert!(ft_help("patience").ends_with("[default: the parent's]"));
        assert!(ft_help("lr").contains("the parent's / 10"));
        assert!(parse::<FinetuneFlags>(&["--emb-dim", "3"]).is_err());
    }

    #[test]
    fn flags_of_another_architecture_are_refused_by_name() {
        let f: TrainFlags = parse(&["--hidden", "32", "--init", "torch"]).unwrap();
        let err = f.check_arch(ArchKind::Kim).unwrap_err().to_string();
        assert!(
            err.starts_with("--hidden, --init apply only to --arch conv2d or seed;"),
            "{err}"
        );
        f.check_arch(ArchKind::Conv2d).unwrap();
        let f: TrainFlags = parse(&["--region-sizes", "2"]).unwrap();
        let err = f.check_arch(ArchKind::Conv2d).unwrap_err().to_string();
        assert!(
            err.starts_with("--region-sizes applies only to --arch kim or ngram-cnn;"),
            "{err}"
        );
        f.check_arch(ArchKind::NgramCnn).unwrap();
    }

    #[test]
    fn clap_relations_hold() {
        assert!(parse::<TrainFlags>(&["--init-conv"]).is_err());
        assert!(parse::<TrainFlags>(&["--pretrained", "a", "--init-from", "b"]).is_err());
        assert!(parse::<TrainFlags>(&["--hidden", "x"]).is_err());
        assert!(
            parse::<TrainFlags>(&["--arch", "seed"])
                .unwrap()
                .wants_seed_preset()
        );
    }
}
