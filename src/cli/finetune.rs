//! `textcnn finetune`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use textcnn::bundle::Bundle;
use textcnn::train::{DataSource, FinetuneFlags, RunRequest, Start, finetune_config};

use super::common::ReadArgs;
use super::train::{LogArgs, execute};

/// Continue training a model bundle on new labelled data (fine-tuning), single-label or
/// multi-label.
///
/// Tokenizer, encoding, vocabulary, labels, head and architecture come from the bundle, which is never modified; the new bundle
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
    /// Keep the resumable `checkpoint/` folder (parameters + optimizer state, about twice the
    /// model's size) when training finishes; by default a finished run keeps only its bundle.
    #[arg(long)]
    pub keep_checkpoint: bool,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

pub fn run(args: FinetuneArgs) -> Result<()> {
    let parent = Bundle::load(&args.model)?;
    let mut config = finetune_config(&parent);
    drop(parent);
    args.settings.apply(&mut config);
    let explicit = super::train::explicit_settings(&args.settings.given(), Default::default());
    let request = RunRequest {
        explicit,
        train: Some(DataSource::Spec(args.train)),
        valid: args.valid.map(DataSource::Spec),
        test: args.test.map(DataSource::Spec),
        read: args.read.options(),
        start: Start::Finetune {
            parent: args.model,
            allow_new_labels: args.allow_new_labels,
        },
        keep_checkpoint: args.keep_checkpoint,
        ..RunRequest::new(config, args.output)
    };
    execute(request, &args.log)
}
