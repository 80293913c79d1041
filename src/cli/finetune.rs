//! `textcnn finetune`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use textcnn::bundle::Bundle;
use textcnn::train::{FinetuneFlags, finetune_config};

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
    /// The settings a fine-tuning run may change (the rest are the parent's).
    #[command(flatten)]
    pub settings: FinetuneFlags,
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
    if parent.config.multi_label.is_some() {
        bail!(
            "{} is a multi-label model; fine-tuning supports single-label models only (train a new \
             multi-label model instead)",
            args.model.display()
        );
    }
    let mut config = finetune_config(&parent);
    drop(parent);
    args.settings.apply(&mut config);
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
        multi_label: None,
    };
    execute(config, info, args.output, false, args.quiet, &args.log)
}
