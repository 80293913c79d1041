//! Stage 2 of a training run: the architecture (from the settings, or the parent's grown to
//! the new vocabulary and labels), the initial model (fresh and adjusted by the head, grown
//! from the parent, or with pretrained vectors), the loss weights, the bundle record, and the
//! state of a resumed run.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::checkpoint::{Checkpoint, EpochProgress};
use super::config::TrainConfig;
use super::fit::{TrainOptions, describe_architecture};
use super::observer::{MessageKind, TrainObserver};
use super::prepare::Prepared;
use super::transfer::{self, StartFrom};
use crate::bundle::{self, BundleConfig, FORMAT_VERSION};
use crate::fsutil::write_atomic;
use crate::head::Head;
use crate::model::{Architecture, Model, Trainer};

/// What the second stage builds: the trainer (model and optimizer state), the loss weights,
/// the bundle record, and where the fit loop starts.
pub(super) struct Run {
    pub prep: Prepared,
    pub head: Arc<dyn Head>,
    pub arch: Architecture,
    pub trainer: Trainer,
    /// Weight of each label in the loss (`--class-weight`), if any.
    pub weights: Option<Vec<f32>>,
    pub bundle_config: BundleConfig,
    pub progress: EpochProgress,
    /// Real batch size (`batch_size`, at most the training examples).
    pub batch: usize,
    /// The word-dropout rate in force ([`TrainConfig::word_dropout_rate`]), also in
    /// `config.json` → `training.word_dropout`.
    pub word_dropout: f32,
}

/// The architecture to train: the parent's grown to the new vocabulary and labels when
/// fine-tuning, else from the settings.
fn target_architecture(
    config: &TrainConfig,
    prep: &Prepared,
    start: Option<&StartFrom>,
) -> Result<Architecture> {
    let (pipeline, labels) = (&prep.pipeline, &prep.labels);
    let arch = match start {
        Some(s) => s
            .bundle
            .config
            .architecture
            .for_finetune(pipeline.vocab.len(), labels.len(), config.dropout)
            .with_context(|| s.path.display().to_string())?,
        None => config.architecture(pipeline.vocab.len(), labels.len()),
    };
    if arch.multichannel() != (config.embedding == crate::text::EmbeddingMode::Multichannel) {
        bail!(
            "--embedding {} does not fit the model to continue, which is {}multichannel",
            config.embedding,
            if arch.multichannel() { "" } else { "not " }
        );
    }
    Ok(arch)
}

/// The bundle's `parent` record when fine-tuning (the parent's metrics are copied to
/// `output`); adds the fine-tuning facts to `transfer_info`.
fn parent_record(
    prep: &Prepared,
    start: Option<&StartFrom>,
    output: &Path,
    transfer_info: &mut serde_json::Map<String, serde_json::Value>,
    observer: &mut dyn TrainObserver,
) -> Result<Option<serde_json::Value>> {
    let (added_words, new_labels) = (prep.added_words, &prep.new_labels);
    let Some(s) = start else {
        return Ok(None);
    };
    let record = s.record()?;
    transfer_info.insert(
        "finetune".into(),
        serde_json::json!({ "added_words": added_words, "new_labels": new_labels }),
    );
    observer.message(
        MessageKind::Info,
        &format!(
            "continuing {} ({} words added to its vocabulary{})",
            s.path.display(),
            added_words,
            if new_labels.is_empty() {
                String::new()
            } else {
                format!(", new labels {}", new_labels.join(", "))
            }
        ),
    );
    let metrics = s.path.join(bundle::METRICS_FILE);
    if metrics.exists() {
        let text = std::fs::read(&metrics)
            .with_context(|| format!("cannot read {}", metrics.display()))?;
        write_atomic(&output.join(bundle::PARENT_METRICS_FILE), &text)?;
    }
    Ok(Some(record))
}

/// `--resume`: restores the trainer (parameters and optimizer state) from `output`'s
/// checkpoint and returns where the run stopped.
///
/// # Errors
/// No readable checkpoint, one made with other settings, or a run that early stopping already
/// finished.
fn resume_checkpoint(
    config: &TrainConfig,
    output: &Path,
    trainer: &mut Trainer,
    arch: &Architecture,
    observer: &mut dyn TrainObserver,
) -> Result<EpochProgress> {
    super::output::check_resumable(output)?;
    let ckpt = Checkpoint::load(output)?;
    if ckpt.config != *config {
        bail!(
            "{}: the checkpoint was made with other settings; resume without changing them",
            output.display()
        );
    }
    if let Some(done) = super::run::finished_run(output) {
        return Err(done.into());
    }
    ckpt.restore(output, trainer, arch)?;
    let at = if ckpt.progress.step == 0 && ckpt.progress.best.is_some() {
        match ckpt.progress.history.last() {
            Some(last) => format!("after epoch {}", last.epoch),
            None => format!("at epoch {}", ckpt.progress.epoch),
        }
    } else {
        format!(
            "at epoch {}, batch {}",
            ckpt.progress.epoch, ckpt.progress.step
        )
    };
    observer.message(MessageKind::Info, &format!("resuming {at}"));
    Ok(ckpt.progress)
}

/// The weight of each label in the loss (`--class-weight`): the head's balanced weights, or a
/// file's (checked against the labels).
fn loss_weights(
    config: &TrainConfig,
    head: &dyn Head,
    prep: &Prepared,
) -> Result<Option<Vec<f32>>> {
    config
        .class_weight
        .resolve(&prep.labels, || head.balanced_weights(&prep.train_t))
}

/// The model training starts from: the parent grown to the new sizes (fine-tuning), or a
/// fresh one adjusted by the head, with the initial embedding (and filters) of `--pretrained`
/// / `--init-from` written in; and the record of where they came from.
fn initial_model(
    config: &TrainConfig,
    head: &dyn Head,
    arch: &Architecture,
    prep: &mut Prepared,
    start: Option<&StartFrom>,
    observer: &mut dyn TrainObserver,
) -> Result<(Model, serde_json::Map<String, serde_json::Value>)> {
    let mut initial = match start {
        Some(s) => transfer::grow_model(&s.bundle.model, arch, config.seed)?,
        None => head.init_model(Model::new(arch, config.seed), &prep.train_t)?,
    };
    let mut transfer_info = serde_json::Map::new();
    if let Some(init) = &mut prep.init {
        init.apply(&mut initial, config.seed);
        observer.message(
            MessageKind::Info,
            &format!(
                "embedding from {}{}",
                init.report().summary(),
                if init.copies_convs() {
                    "; convolution filters copied"
                } else {
                    ""
                }
            ),
        );
        let key = if config.pretrained.is_some() {
            "pretrained"
        } else if config.unlabeled.is_some() {
            "unlabeled"
        } else {
            "init_from"
        };
        transfer_info.insert(key.into(), serde_json::to_value(init.report())?);
    }
    Ok((initial, transfer_info))
}

/// Stage 2: the model (new, grown from the parent, or initialised from vectors), its trainer,
/// the bundle record, and the resumed state.
pub(super) fn build_model(
    config: &TrainConfig,
    head: Arc<dyn Head>,
    mut prep: Prepared,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<Run> {
    let start = options.start_from.as_ref();
    let arch = target_architecture(config, &prep, start)?;
    // The longest encoded text and the real batch size: Kim batches are as long as their
    // longest text, so `max_len` alone would overstate the memory.
    let longest = prep
        .train_enc
        .iter()
        .map(|e| e.ids.len())
        .max()
        .unwrap_or(1);
    let batch = config.batch_size.min(prep.train_enc.len()).max(1);
    super::config::check_training_memory(&arch, longest, batch)?;
    observer.message(
        MessageKind::Info,
        &format!(
            "model: {}{}{}",
            match (
                prep.wants_ngram && arch.num_params() > 0,
                rayon::current_num_threads()
            ) {
                (false, _) => "",
                (true, 1) => "ngram-cnn = n-gram branch (fitted after the CNN) + ",
                (true, _) => "ngram-cnn = n-gram branch (fitted beside the CNN) + ",
            },
            describe_architecture(&arch),
            match head.describe() {
                "" => String::new(),
                d => format!(", {d}"),
            }
        ),
    );
    let (initial, mut transfer_info) =
        initial_model(config, head.as_ref(), &arch, &mut prep, start, observer)?;
    let parent = parent_record(&prep, start, output, &mut transfer_info, observer)?;
    let weights = loss_weights(config, head.as_ref(), &prep)?;
    let labels = &prep.labels;
    let mut bundle_config = BundleConfig {
        format_version: FORMAT_VERSION,
        textcnn_version: env!("CARGO_PKG_VERSION").to_string(),
        architecture: arch.clone(),
        tokenizer: prep.pipeline.tokenizer.config().clone(),
        encode: prep.pipeline.encode.clone(),
        labels: labels.clone(),
        training: serde_json::json!({
            "config": config,
            "run": options.run_info,
            "transfer": transfer_info,
        }),
        dataset: prep.summary.clone(),
        best: serde_json::Value::Null,
        parent,
        ngram: None,
        multi_label: None,
        dtype: Default::default(),
    };
    bundle_config.set_head_record(head.record(labels.len(), weights.as_deref()));
    // The rate in force, automatic or not (the settings record an automatic one as null).
    let word_dropout = {
        let tokens: usize = prep.train_enc.iter().map(crate::batch::real_length).sum();
        let mean = tokens as f64 / prep.train_enc.len().max(1) as f64;
        let multi_label = head.kind() == crate::head::HeadKind::MultiLabel;
        let rate = config.word_dropout_rate(mean, multi_label);
        if config.word_dropout.is_none() && rate > 0.0 && !options.resume {
            observer.message(
                MessageKind::Info,
                &format!(
                    "word dropout {rate}: the training texts average {mean:.0} tokens (from {} \
                     on; --word-dropout sets it)",
                    super::config::WORD_DROPOUT_FROM_MEAN_TOKENS
                ),
            );
        }
        rate
    };
    if word_dropout > 0.0 {
        bundle_config.training["word_dropout"] = serde_json::json!(word_dropout);
    }
    if let Some(w) = &weights {
        bundle_config.training["class_weights"] = labels
            .iter()
            .zip(w)
            .map(|(l, w)| (l.clone(), serde_json::json!(w)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let mut trainer = Trainer::new(initial, config.optimizer());
    let progress = if options.resume {
        resume_checkpoint(config, output, &mut trainer, &arch, observer)?
    } else {
        EpochProgress::start()
    };
    Ok(Run {
        prep,
        head,
        arch,
        trainer,
        weights,
        bundle_config,
        progress,
        batch,
        word_dropout,
    })
}
