//! `textcnn finetune`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use textcnn::bundle::Bundle;
use textcnn::train::{ClassWeight, Metric, finetune_config};

use super::common::ReadArgs;
use super::train::{LogArgs, RunInfo, execute};

/// Continue training a model bundle on new labelled data (fine-tuning).
///
/// Tokenizer, encoding, vocabulary, labels and architecture come from the bundle, which is never modified; the new bundle
/// records it as its parent (path and SHA-256) and keeps its metric history.
#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// The model bundle to continue (read only).
    #[arg(long)]
    pub model: PathBuf,
    /// New training data: a file/folder in any supported format, or `imdb:train`.
    #[arg(long)]
    pub train: String,
    /// Validation data; by default a stratified --valid-fraction of the new training data.
    #[arg(long)]
    pub valid: Option<String>,
    /// Test data, evaluated once with the best model at the end (report.json).
    #[arg(long)]
    pub test: Option<String>,
    /// Output directory for the new bundle (must not hold a model).
    #[arg(long)]
    pub output: PathBuf,
    /// Learning rate [default: the parent's / 10, e.g. 1e-4 after Adam's 1e-3]
    #[arg(long)]
    pub lr: Option<f32>,
    /// Maximum number of epochs [default: the parent's]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Epochs without validation improvement before stopping [default: the parent's]
    #[arg(long)]
    pub patience: Option<usize>,
    /// Validation metric for early stopping and the best checkpoint [default: the parent's]
    #[arg(long, value_enum)]
    pub metric: Option<Metric>,
    /// Class weights in the training loss: none, balanced, or a JSON file of label weights
    /// [default: the parent's]
    #[arg(long)]
    pub class_weight: Option<ClassWeight>,
    /// Mini-batch size [default: the parent's]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Fraction of the new data held out for validation when --valid is not given [default: the parent's]
    #[arg(long)]
    pub valid_fraction: Option<f64>,
    /// Random seed [default: the parent's]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads, 0 = all cores
    #[arg(long)]
    pub threads: Option<usize>,
    /// Add words of the new data missing from the model's vocabulary (at least --min-count
    /// occurrences, most frequent first, at most the parent's vocab_size of them); their
    /// embedding rows start uniform with the variance of the trained rows.
    #[arg(long)]
    pub extend_vocab: bool,
    /// Minimum count of a new word for --extend-vocab [default: the parent's]
    #[arg(long)]
    pub min_count: Option<usize>,
    /// Labels the model does not know grow its output layer (new rows small random) instead of
    /// being an error.
    #[arg(long)]
    pub allow_new_labels: bool,
    #[command(flatten)]
    pub read: ReadArgs,
    /// No progress bar or per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub log: LogArgs,
}

pub fn run(args: FinetuneArgs) -> Result<()> {
    let parent = Bundle::load(&args.model)?;
    let mut config = finetune_config(&parent);
    drop(parent);
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = args.$field { config.$field = v; } )* };
    }
    if args.epochs.is_some() {
        config.epochs = args.epochs;
    }
    set!(
        lr,
        patience,
        metric,
        class_weight,
        batch_size,
        valid_fraction,
        seed,
        threads,
        min_count
    );
    config.extend_vocab = args.extend_vocab;
    let same = |a: &std::path::Path, b: &std::path::Path| {
        std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| Some(a) == std::fs::canonicalize(b).ok())
    };
    if same(&args.model, &args.output) {
        bail!("--output must differ from --model: the original bundle is never modified");
    }
    let info = RunInfo {
        train: args.train,
        valid: args.valid,
        test: args.test,
        read: args.read,
        parent: Some(args.model),
        allow_new_labels: args.allow_new_labels,
    };
    execute(config, info, args.output, false, args.quiet, &args.log)
}
