//! The training loop: seeded shuffling, (bucketed) mini-batches, validation after every epoch,
//! early stopping, best-checkpoint saving, resumable state and a final test evaluation.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoint, EpochProgress};
use super::config::{ArchKind, Metric, TrainConfig};
use super::ngram_stage;
use super::observer::{
    EpochEnd, MessageKind, RunStart, Silent, Stage, StageTimer, StepEvent, TrainObserver,
};
use super::transfer::{self, EmbeddingInit, StartFrom};
use crate::batch::{PaddedBatch, bucketed_batches, real_length};
use crate::bundle::{self, Bundle, BundleConfig, FORMAT_VERSION};
use crate::data::Dataset;
use crate::eval::{ClassificationReport, ConfusionMatrix};
use crate::fsutil::write_atomic;
use crate::model::Architecture;
use crate::model::{Model, Trainer};
use crate::nn::loss::Targets;
use crate::predict;
use crate::text::{Encoded, TextPipeline, Tokenizer, Vocab, encode, tokenize_all};

/// Batches sorted together by length when bucketing: large enough to cut padding, small enough
/// to keep batches random.
const BUCKET_POOL: usize = 50;

/// The datasets of one run. Labels of `valid` and `test` must all occur in `train`.
pub struct TrainData<'a> {
    pub train: &'a Dataset,
    pub valid: &'a Dataset,
    pub test: Option<&'a Dataset>,
}

/// Options that are not hyperparameters.
#[derive(Default)]
pub struct TrainOptions {
    /// Continue from the checkpoint in the output directory.
    pub resume: bool,
    /// At the end of a finished run, also write the pictures (`plots/`) and `report.html` of
    /// the best model on the validation data (see [`crate::report`]).
    pub report: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current batch, leaving a resumable checkpoint.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Free-form description of the run (data specs, command line), stored in the bundle and the
    /// checkpoint.
    pub run_info: serde_json::Value,
    /// Continue training this bundle (fine-tuning): its tokenizer, encoding, vocabulary
    /// (extended with `extend_vocab`), labels and parameters are the starting point, and the
    /// new bundle records it as its parent.
    pub start_from: Option<StartFrom>,
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches (with dropout).
    pub train_loss: f64,
    pub train_acc: f64,
    pub valid_loss: f64,
    pub valid_acc: f64,
    /// Macro-averaged F1 on the validation data (labels present in it or its predictions).
    #[serde(default)]
    pub valid_macro_f1: f64,
    /// Multi-label runs: micro-averaged F1 on the validation data (thresholds 0.5); `train_acc`
    /// and `valid_acc` are then subset accuracies. Absent for single-label runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_micro_f1: Option<f64>,
    pub lr: f32,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
    /// Training examples per second.
    pub examples_per_s: f64,
}

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StopReason {
    /// All epochs ran.
    Completed,
    /// The validation metric did not improve for `patience` epochs.
    EarlyStopped,
    /// Interrupted; the checkpoint allows `--resume`.
    Interrupted,
}

/// Result of [`train`].
pub struct TrainOutcome {
    pub stop: StopReason,
    pub history: Vec<EpochMetrics>,
    /// Metrics of the epoch whose parameters are saved in the bundle.
    pub best: Option<EpochMetrics>,
    /// Test-set report of the best parameters, when a test set was given.
    pub test: Option<ClassificationReport>,
    /// Validation accuracy of the CNN mixed with the n-gram branch (`ngram-cnn`, when fitted).
    pub ngram_valid_acc: Option<f64>,
    pub seconds: f64,
}

/// Trains a Kim CNN on `data` and writes the bundle of the best epoch (by validation `metric`)
/// to `output`, with `metrics.jsonl`, `report.json` (when a test set is given) and a
/// `checkpoint/` directory for `--resume`. Silent: see [`train_observed`] to follow the run.
///
/// # Errors
/// Invalid settings, fewer than two classes, a validation/test label unseen in training, a
/// non-finite loss (names epoch and step), or a file that cannot be written.
pub fn train(
    config: &TrainConfig,
    data: &TrainData,
    output: &Path,
    options: &TrainOptions,
) -> Result<TrainOutcome> {
    train_observed(config, data, output, options, &mut Silent)
}

/// [`train`], reporting its stages (prepare data, build model, fit, n-gram branch, final
/// report), epochs, steps and messages to `observer` as they happen.
///
/// # Errors
/// As [`train`].
pub fn train_observed(
    config: &TrainConfig,
    data: &TrainData,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome> {
    config.validate()?;
    let pool = crate::nn::thread_pool(config.threads);
    pool.install(|| train_in_pool(config, data, output, options, observer))
}

fn train_in_pool(
    config: &TrainConfig,
    data: &TrainData,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome> {
    let started = Instant::now();
    let stage = StageTimer::start(observer, Stage::PrepareData);
    let prep = prepare_data(config, data, options, observer, started)?;
    stage.finish(observer);
    let stage = StageTimer::start(observer, Stage::BuildModel);
    let mut run = build_model(config, data, prep, output, options, observer)?;
    stage.finish(observer);
    let end = fit_loop(config, &mut run, output, options, observer)?;
    let outcome = |stop, test, ngram_valid_acc, run: Run| TrainOutcome {
        stop,
        best: run.progress.best.clone(),
        history: run.progress.history,
        test,
        ngram_valid_acc,
        seconds: started.elapsed().as_secs_f64(),
    };
    match end {
        FitEnd::InterruptedMidEpoch => Ok(outcome(StopReason::Interrupted, None, None, run)),
        // An interrupted run is resumed later; the n-gram branch is fitted and the test set is
        // evaluated once, at its real end.
        FitEnd::Stopped(StopReason::Interrupted) => {
            Ok(outcome(StopReason::Interrupted, None, None, run))
        }
        FitEnd::Stopped(stop) => {
            let (test, ngram_valid_acc) = final_stages(data, &run, output, options, observer)?;
            Ok(outcome(stop, test, ngram_valid_acc, run))
        }
    }
}

/// What the first stage prepares: labels, the text pipeline and the encoded splits.
struct Prepared {
    labels: Vec<String>,
    /// Labels a fine-tuned model gains.
    new_labels: Vec<String>,
    train_y: Vec<usize>,
    valid_y: Vec<usize>,
    test_y: Option<Vec<usize>>,
    pipeline: TextPipeline,
    train_enc: Vec<Encoded>,
    valid_enc: Vec<Encoded>,
    test_enc: Option<Vec<Encoded>>,
    /// Token lists of the training and test texts for the n-gram branch (empty without one).
    train_tokens: Vec<Vec<String>>,
    test_tokens: Vec<Vec<String>>,
    wants_ngram: bool,
    init: Option<EmbeddingInit>,
    /// Words a fine-tuned model's vocabulary gains.
    added_words: usize,
    summary: serde_json::Value,
}

/// The labels of the run (the parent's first when fine-tuning) and the new ones, checked.
fn run_labels(data: &TrainData, start: Option<&StartFrom>) -> Result<(Vec<String>, Vec<String>)> {
    let (labels, new_labels) = match start {
        Some(s) => s.labels(data.train)?,
        None => (data.train.labels(), Vec::new()),
    };
    if labels.iter().any(|l| l.is_empty()) {
        bail!(
            "the training data {} has examples without a label (plain lines?); give labelled data \
             (fastText, CSV/TSV, JSONL, folder per class or imdb:train)",
            data.train.name
        );
    }
    crate::bundle::check_labels(&labels)
        .with_context(|| format!("the training data {}", data.train.name))?;
    if data.valid.is_empty() {
        bail!(
            "the validation data {} has no examples (a split holds none out of classes with a \
             single example); give validation data (--valid) or more examples per class",
            data.valid.name
        );
    }
    if labels.len() < 2 {
        bail!(
            "the training data {} has {} class(es); a classifier needs at least 2",
            data.train.name,
            labels.len()
        );
    }
    Ok((labels, new_labels))
}

/// Whether the n-gram branch is fitted: `ngram-cnn`, or a fine-tuned model that has one and
/// whose new data has every label (warns otherwise).
fn ngram_wanted(
    config: &TrainConfig,
    data: &TrainData,
    labels: &[String],
    start: Option<&StartFrom>,
    observer: &mut dyn TrainObserver,
) -> bool {
    // The n-gram branch of `ngram-cnn` reads the token lists again after the CNN is trained.
    // Fine-tuning refits the branch on the new data alone, which would forget every label the
    // new data lacks: then the fine-tuned model is the CNN alone (the CNN keeps its old
    // weights as a starting point; the n-gram branch would start from nothing).
    let new_data_labels = data.train.labels();
    let missing: Vec<&String> = labels
        .iter()
        .filter(|l| !new_data_labels.contains(l))
        .collect();
    let wants_ngram = match start {
        Some(s) => s.bundle.config.ngram.is_some() && missing.is_empty(),
        None => config.arch == ArchKind::NgramCnn,
    };
    if let Some(s) = start
        && s.bundle.config.ngram.is_some()
        && !missing.is_empty()
    {
        observer.message(
            MessageKind::Warning,
            &format!(
                "the new training data has no example of {}; the n-gram branch of {} is \
                 dropped (it is refitted on the new data only and would forget those labels), so the \
                 fine-tuned model is the CNN alone",
                missing
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.path.display()
            ),
        );
    }
    wants_ngram
}

/// Stage 1: labels, tokenizer, vocabulary, encodings of every split.
fn prepare_data(
    config: &TrainConfig,
    data: &TrainData,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
    started: Instant,
) -> Result<Prepared> {
    let start = options.start_from.as_ref();
    let (labels, new_labels) = run_labels(data, start)?;
    let train_y = label_ids(data.train, &labels)?;
    let valid_y = label_ids(data.valid, &labels)?;
    let test_y = data.test.map(|t| label_ids(t, &labels)).transpose()?;

    // Vocabulary from the training split only (or the parent's, possibly extended).
    let tokenizer = Tokenizer::new(match start {
        Some(s) => s.bundle.config.tokenizer.clone(),
        None => config.tokenizer.clone(),
    });
    let texts: Vec<&str> = data
        .train
        .examples
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    let train_tokens = tokenize_all(&tokenizer, &texts);
    let mut vocab = match start {
        Some(s) => s.bundle.vocab.clone(),
        None => Vocab::build(
            train_tokens.iter().map(|t| t.as_slice()),
            config.min_count,
            Some(config.vocab_size),
        ),
    };
    let mut added_words = 0;
    if start.is_some() && config.extend_vocab {
        added_words = transfer::extend_vocab_from_tokens(
            &mut vocab,
            &train_tokens,
            config.min_count,
            config.vocab_size,
        );
    }
    if vocab.len() <= 2 {
        bail!(
            "the vocabulary is empty: no token of {} occurs at least --min-count {} times",
            data.train.name,
            config.min_count
        );
    }
    let init = EmbeddingInit::read(config, &mut vocab, &tokenizer)?;
    let encode_config = match start {
        Some(s) => s.bundle.config.encode.clone(),
        None => config.encode(),
    };
    let train_enc: Vec<Encoded> = train_tokens
        .iter()
        .map(|t| encode(t, &vocab, &encode_config))
        .collect();
    let wants_ngram = ngram_wanted(config, data, &labels, start, observer);
    let train_tokens = if wants_ngram {
        train_tokens
    } else {
        Vec::new()
    };
    let pipeline = TextPipeline {
        tokenizer,
        vocab,
        encode: encode_config,
    };
    let valid_enc = encode_dataset(&pipeline, data.valid);
    // The test texts' tokens are kept for the n-gram branch of the final evaluation.
    let (test_tokens, test_enc) = match data.test {
        Some(t) => {
            let texts: Vec<&str> = t.examples.iter().map(|e| e.text.as_str()).collect();
            let (tokens, enc) = pipeline.tokenize_and_encode(&texts);
            (if wants_ngram { tokens } else { Vec::new() }, Some(enc))
        }
        None => (Vec::new(), None),
    };
    let summary = dataset_summary(data, &train_enc, &valid_enc, test_enc.as_deref());
    observer.message(
        MessageKind::Info,
        &format!(
            "data: {} train / {} valid{} examples, {} classes, vocabulary {} (prep {:.1} s)",
            data.train.len(),
            data.valid.len(),
            data.test
                .map(|t| format!(" / {} test", t.len()))
                .unwrap_or_default(),
            labels.len(),
            pipeline.vocab.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(Prepared {
        labels,
        new_labels,
        train_y,
        valid_y,
        test_y,
        pipeline,
        train_enc,
        valid_enc,
        test_enc,
        train_tokens,
        test_tokens,
        wants_ngram,
        init,
        added_words,
        summary,
    })
}

/// What the second stage builds: the trainer (model and optimizer state), the bundle record,
/// and where the fit loop starts.
struct Run {
    prep: Prepared,
    arch: Architecture,
    trainer: Trainer,
    bundle_config: BundleConfig,
    progress: EpochProgress,
    /// Real batch size (`batch_size`, at most the training examples).
    batch: usize,
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
    Ok(match start {
        Some(s) => {
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
            Some(record)
        }
        None => None,
    })
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
    let ckpt = Checkpoint::load(output)?;
    if ckpt.config != *config {
        bail!(
            "{}: the checkpoint was made with other settings; resume without changing them",
            output.display()
        );
    }
    if ckpt.progress.bad_epochs >= config.patience.max(1) {
        // Early stopping ended the run, and its final stages ran right after.
        bail!(
            "{}: this run already finished (early stopping after epoch {}); nothing to resume. \
             To train further, use `textcnn finetune --model {}`",
            output.display(),
            ckpt.progress.epoch.saturating_sub(1),
            output.display()
        );
    }
    ckpt.restore(output, trainer, arch)?;
    observer.message(
        MessageKind::Info,
        &format!(
            "resuming at epoch {}, batch {}",
            ckpt.progress.epoch, ckpt.progress.step
        ),
    );
    Ok(ckpt.progress)
}

/// Stage 2: the model (new, grown from the parent, or initialised from vectors), its trainer,
/// the bundle record, and the resumed state.
fn build_model(
    config: &TrainConfig,
    data: &TrainData,
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
            "model: {}{}",
            if prep.wants_ngram {
                "ngram-cnn = n-gram branch (fitted after the CNN) + "
            } else {
                ""
            },
            describe_architecture(&arch)
        ),
    );
    let mut initial = match start {
        Some(s) => transfer::grow_model(&s.bundle.model, &arch, config.seed)?,
        None => Model::new(&arch, config.seed),
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
        } else {
            "init_from"
        };
        transfer_info.insert(key.into(), serde_json::to_value(init.report())?);
    }
    let parent = parent_record(&prep, start, output, &mut transfer_info, observer)?;
    let labels = &prep.labels;
    let train_labels: Vec<&str> = data
        .train
        .examples
        .iter()
        .map(|e| e.label.as_str())
        .collect();
    let class_weights = config.class_weight.resolve(labels, &train_labels)?;
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
    };

    if let Some(w) = &class_weights {
        bundle_config.training["class_weights"] = labels
            .iter()
            .zip(w)
            .map(|(l, w)| (l.clone(), serde_json::json!(w)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let mut trainer = Trainer::new(initial, config.optimizer());
    trainer.set_class_weights(class_weights);
    let progress = if options.resume {
        resume_checkpoint(config, output, &mut trainer, &arch, observer)?
    } else {
        EpochProgress::start()
    };
    Ok(Run {
        prep,
        arch,
        trainer,
        bundle_config,
        progress,
        batch,
    })
}

/// How the fit loop ended.
enum FitEnd {
    /// After an epoch: completed, stopped early, or interrupted between epochs.
    Stopped(StopReason),
    /// Interrupted inside an epoch (the checkpoint is written; the run is resumed later).
    InterruptedMidEpoch,
}

/// Whether the user asked to stop (Ctrl-C).
fn interrupted(options: &TrainOptions) -> bool {
    options
        .interrupt
        .as_ref()
        .is_some_and(|f| f.load(Ordering::SeqCst))
}

/// The epoch being trained.
pub(crate) struct EpochCtx<'a> {
    /// 1-based epoch.
    pub epoch: usize,
    /// Its learning rate.
    pub lr: f32,
    /// When it started.
    pub started: Instant,
    /// Its mini-batches (rows of the training data).
    pub batches: &'a [Vec<usize>],
    /// The run's epoch cap.
    pub max_epochs: usize,
}

/// Stage 3: epochs of shuffled mini-batches, validation after each, the best epoch's bundle
/// saved, a checkpoint after each epoch, early stopping, and interruption.
fn fit_loop(
    config: &TrainConfig,
    run: &mut Run,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<FitEnd> {
    let train_lengths: Vec<usize> = run.prep.train_enc.iter().map(real_length).collect();
    let steps_per_epoch = run.prep.train_enc.len().div_ceil(run.batch);
    let max_epochs = config.max_epochs(steps_per_epoch);
    let hyperparameters = serde_json::to_value(config)?;
    observer.run_started(&RunStart {
        hyperparameters: &hyperparameters,
        labels: &run.prep.labels,
        max_epochs,
        train_examples: run.prep.train_enc.len(),
        valid_examples: run.prep.valid_enc.len(),
        num_params: run.arch.num_params(),
        first_epoch: run.progress.epoch,
    });
    let stage = StageTimer::start(observer, Stage::Fit);
    let mut stop = StopReason::Completed;
    while run.progress.epoch <= max_epochs {
        let epoch = run.progress.epoch;
        let started = Instant::now();
        let lr = config.lr * config.lr_decay.powi(epoch as i32 - 1);
        run.trainer.set_lr(lr);
        let batches = epoch_batches(config, epoch, &train_lengths);
        observer.epoch_started(epoch, max_epochs, batches.len(), run.progress.step);
        let ctx = EpochCtx {
            epoch,
            lr,
            started,
            batches: &batches,
            max_epochs,
        };
        if !train_epoch(config, run, &ctx, output, options, observer)? {
            return Ok(FitEnd::InterruptedMidEpoch);
        }
        end_epoch(config, run, &ctx, output, options, observer)?;
        let progress = &run.progress;
        if progress.bad_epochs >= config.patience.max(1) && progress.epoch <= max_epochs {
            stop = StopReason::EarlyStopped;
            observer.early_stopped(config.metric, progress.bad_epochs);
            break;
        }
        if interrupted(options) {
            stop = StopReason::Interrupted;
            break;
        }
    }
    stage.finish(observer);
    Ok(FitEnd::Stopped(stop))
}

/// The remaining training steps of one epoch; `false` when interrupted (after writing the
/// checkpoint).
fn train_epoch(
    config: &TrainConfig,
    run: &mut Run,
    ctx: &EpochCtx,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<bool> {
    let Run {
        prep,
        trainer,
        progress,
        ..
    } = run;
    let targets = TrainTargets::Classes(&prep.train_y);
    let stop = || interrupted(options);
    let data = EpochData {
        train_enc: &prep.train_enc,
        min_len: prep.pipeline.encode.min_len,
        targets: &targets,
    };
    if train_batches(config, trainer, &data, ctx, progress, &stop, observer)? {
        return Ok(true);
    }
    observer.interrupted();
    Checkpoint::save(output, config, &options.run_info, trainer, progress)?;
    observer.checkpoint_written(&output.join("checkpoint"), ctx.epoch, false);
    observer.message(
        MessageKind::Interrupted,
        &format!(
            "interrupted at epoch {}, batch {}: the best model in {} is intact{}; continue with \
             `textcnn train --resume {}`",
            ctx.epoch,
            progress.step,
            output.display(),
            if prep.wants_ngram {
                " (the CNN alone: the n-gram branch is fitted when training ends)"
            } else {
                ""
            },
            output.display()
        ),
    );
    Ok(false)
}

/// The targets of a run's training examples.
pub(crate) enum TrainTargets<'a> {
    /// Class index per example (softmax cross-entropy).
    Classes(&'a [usize]),
    /// Multi-hot rows `[examples, labels]` (one sigmoid per label, binary cross-entropy).
    MultiHot {
        /// `[examples, labels]`, row-major.
        targets: &'a [f32],
        /// Labels per row.
        labels: usize,
    },
}

/// What [`train_batches`] trains on.
pub(crate) struct EpochData<'a> {
    /// Encoded training texts.
    pub train_enc: &'a [Encoded],
    /// Padding length of a batch (the encoding's `min_len`).
    pub min_len: usize,
    /// Their targets.
    pub targets: &'a TrainTargets<'a>,
}

/// Trains the batches of epoch `ctx.epoch` from `progress.step` on (one optimizer step each,
/// dropout seeded by [`step_seed`]), adding to `progress`'s loss, right and seen counts and
/// reporting each step to `observer`. Returns `false` when `stop()` turned true after a batch
/// (the rest of the epoch is left for a resumed run), `true` at the end of the epoch. Both the
/// single-label and the multi-label run train through this loop.
///
/// # Errors
/// A loss that is not finite (the message says which batch and what to lower).
pub(crate) fn train_batches(
    config: &TrainConfig,
    trainer: &mut Trainer,
    data: &EpochData,
    ctx: &EpochCtx,
    progress: &mut EpochProgress,
    stop: &dyn Fn() -> bool,
    observer: &mut dyn TrainObserver,
) -> Result<bool> {
    let (epoch, lr, epoch_started, batches) = (ctx.epoch, ctx.lr, ctx.started, ctx.batches);
    let mut seen_this_run = 0usize;
    for (step, rows) in batches.iter().enumerate().skip(progress.step) {
        let refs: Vec<&Encoded> = rows.iter().map(|&i| &data.train_enc[i]).collect();
        let padded = PaddedBatch::new(&refs, data.min_len);
        let seed = step_seed(config.seed, epoch, step);
        let stats = match data.targets {
            TrainTargets::Classes(y) => {
                let y: Vec<u32> = rows.iter().map(|&i| y[i] as u32).collect();
                trainer.train_step(&padded.view(), &y, seed)
            }
            TrainTargets::MultiHot { targets, labels } => {
                let k = *labels;
                let mut t = Vec::with_capacity(rows.len() * k);
                for &i in rows {
                    t.extend_from_slice(&targets[i * k..(i + 1) * k]);
                }
                trainer.train_step_targets(&padded.view(), Targets::MultiHot(&t), seed)
            }
        };
        if !stats.loss.is_finite() {
            bail!(
                "the training loss became {} at epoch {epoch}, batch {} of {}: lower the learning rate \
                     (--lr, now {lr}) or clip gradients (--clip-grad-norm)",
                stats.loss,
                step + 1,
                batches.len()
            );
        }
        progress.loss_sum += stats.loss as f64 * rows.len() as f64;
        progress.correct += stats.correct;
        progress.seen += rows.len();
        progress.step = step + 1;
        seen_this_run += rows.len();
        observer.step(&StepEvent {
            epoch,
            step: step + 1,
            steps: batches.len(),
            global_step: ((epoch - 1) * batches.len() + step + 1) as u64,
            loss: stats.loss as f64,
            epoch_loss: progress.loss_sum / progress.seen as f64,
            epoch_acc: progress.correct as f64 / progress.seen as f64,
            lr,
            examples_per_s: seen_this_run as f64 / epoch_started.elapsed().as_secs_f64().max(1e-9),
        });
        if stop() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `m` improves on `best` by `metric` (early stopping and the best epoch). With one
/// label per text micro-F1 is accuracy; in a multi-label run `valid_acc` is subset accuracy.
pub(crate) fn improves(metric: Metric, m: &EpochMetrics, best: Option<&EpochMetrics>) -> bool {
    best.is_none_or(|b| match metric {
        Metric::Acc => m.valid_acc > b.valid_acc,
        Metric::MicroF1 => {
            m.valid_micro_f1.unwrap_or(m.valid_acc) > b.valid_micro_f1.unwrap_or(b.valid_acc)
        }
        Metric::Loss => m.valid_loss < b.valid_loss,
        Metric::MacroF1 => m.valid_macro_f1 > b.valid_macro_f1,
    })
}

fn end_epoch(
    config: &TrainConfig,
    run: &mut Run,
    ctx: &EpochCtx,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<()> {
    let Run {
        prep,
        trainer,
        progress,
        bundle_config,
        ..
    } = run;
    let (epoch, lr, epoch_started, max_epochs) = (ctx.epoch, ctx.lr, ctx.started, ctx.max_epochs);
    let batches = ctx.batches;
    let train_seconds = epoch_started.elapsed().as_secs_f64();
    let current = trainer.model();
    let (valid_loss, valid_acc, valid_pred) = evaluate(
        &current,
        &prep.valid_enc,
        &prep.valid_y,
        prep.pipeline.encode.min_len,
    );
    let valid_macro_f1 =
        ConfusionMatrix::from_indices(prep.labels.clone(), &prep.valid_y, &valid_pred)
            .report()
            .macro_avg
            .f1;
    let metrics = EpochMetrics {
        epoch,
        train_loss: progress.loss_sum / progress.seen.max(1) as f64,
        train_acc: progress.correct as f64 / progress.seen.max(1) as f64,
        valid_loss,
        valid_acc,
        valid_macro_f1,
        valid_micro_f1: None,
        lr,
        seconds: epoch_started.elapsed().as_secs_f64(),
        examples_per_s: progress.seen as f64 / train_seconds.max(1e-9),
    };
    let improved = improves(config.metric, &metrics, progress.best.as_ref());
    observer.epoch_finished(&EpochEnd {
        metrics: &metrics,
        max_epochs,
        improved,
        metric: config.metric,
        steps: batches.len(),
    });
    progress.history.push(metrics.clone());
    write_metrics(output, &progress.history)?;
    if improved {
        bundle_config.best = serde_json::to_value(&metrics)?;
        let bundle = Bundle {
            config: bundle_config.clone(),
            model: current,
            vocab: prep.pipeline.vocab.clone(),
            ngram: None,
        };
        bundle.save(output)?;
        observer.checkpoint_written(output, epoch, true);
        progress.best = Some(metrics);
        progress.bad_epochs = 0;
    } else {
        progress.bad_epochs += 1;
    }
    progress.next_epoch();
    Checkpoint::save(output, config, &options.run_info, trainer, progress)?;
    observer.checkpoint_written(&output.join("checkpoint"), epoch, false);
    Ok(())
}

/// Stage 4, when the run ends: the n-gram branch (`ngram-cnn`), the test report and the run
/// report. Returns the test report and the mixture's validation accuracy.
fn final_stages(
    data: &TrainData,
    run: &Run,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<(Option<ClassificationReport>, Option<f64>)> {
    let prep = &run.prep;
    let mut test = None;
    let mut ngram_valid_acc = None;
    if !(prep.wants_ngram || data.test.is_some() || options.report) {
        return Ok((None, None));
    }
    let mut best = Bundle::load(output).context(
        "cannot reload the best checkpoint for the n-gram branch and the test evaluation",
    )?;
    // The n-gram branch is refitted on training + validation texts, so the validation
    // predictions of the saved ngram-cnn are not held out: the report uses the mixture's
    // from before the refit.
    let mut held_out_valid_probs = None;
    let valid_tokens = if prep.wants_ngram {
        let valid_texts: Vec<&str> = data
            .valid
            .examples
            .iter()
            .map(|e| e.text.as_str())
            .collect();
        tokenize_all(&prep.pipeline.tokenizer, &valid_texts)
    } else {
        Vec::new()
    };
    if prep.wants_ngram {
        let stage = StageTimer::start(observer, Stage::NgramBranch);
        let cnn_valid_probs =
            predict::probabilities(&best.model, &prep.valid_enc, prep.pipeline.encode.min_len);
        let branch_data = ngram_stage::BranchData {
            train_docs: &prep.train_tokens,
            train_y: &prep.train_y,
            valid_docs: &valid_tokens,
            valid_y: &prep.valid_y,
            cnn_valid_probs: &cnn_valid_probs,
            classes: prep.labels.len(),
            parent: options
                .start_from
                .as_ref()
                .and_then(|s| s.bundle.ngram.as_ref().zip(s.bundle.config.ngram.as_ref())),
        };
        let (acc, probs) = add_ngram_branch(&mut best, &branch_data, output, observer)?;
        ngram_valid_acc = Some(acc);
        held_out_valid_probs = Some(probs);
        stage.finish(observer);
    }
    let stage = StageTimer::start(observer, Stage::FinalReport);
    let classifier = predict::Classifier::from_bundle(best);
    if let (Some(test_y), Some(test_ds), Some(test_enc)) = (&prep.test_y, data.test, &prep.test_enc)
    {
        let probs = classifier.probabilities_of(&prep.test_tokens, test_enc);
        test = Some(write_test_report(
            &probs,
            test_y,
            &prep.labels,
            &test_ds.name,
            output,
        )?);
    }
    if options.report {
        let probs = held_out_valid_probs
            .unwrap_or_else(|| classifier.probabilities_of(&valid_tokens, &prep.valid_enc));
        let valid_texts: Vec<&str> = data
            .valid
            .examples
            .iter()
            .map(|e| e.text.as_str())
            .collect();
        let mut run = crate::report::RunReport::of_bundle(
            classifier.bundle(),
            &run.progress.history,
            &format!("validation data ({})", data.valid.name),
            &valid_texts,
            &prep.valid_y,
            &probs,
        );
        run.highlight(&classifier, &valid_texts);
        run.test_accuracy = test.as_ref().map(|t: &ClassificationReport| {
            (
                data.test.map_or(String::new(), |d| d.name.clone()),
                t.accuracy,
            )
        });
        let written = crate::report::write_run_report(output, &run)?;
        observer.message(
            MessageKind::Info,
            &format!("report: {}", written.html.display()),
        );
    }
    stage.finish(observer);
    Ok((test, ngram_valid_acc))
}

/// Fits the n-gram branch of `ngram-cnn` next to the best CNN in `best`, stores it in the
/// bundle and saves the bundle to `output`; returns the mixture's validation accuracy and
/// validation probabilities `[valid, classes]` (held out: before the branch's refit on all
/// texts).
fn add_ngram_branch(
    best: &mut Bundle,
    data: &ngram_stage::BranchData,
    output: &Path,
    observer: &mut dyn TrainObserver,
) -> Result<(f64, Vec<f32>)> {
    let started = Instant::now();
    let (model, branch, held_out) = ngram_stage::fit_branch_held_out(data)?;
    let acc = |key: &str| branch.validation[key].as_f64().unwrap_or(f64::NAN);
    if branch.validation.get("kept_parent_branch").is_some() {
        observer.message(
            MessageKind::Info,
            &format!(
                "n-gram branch: kept the parent's (valid acc {:.4}; refitted on the new texts {:.4})",
                branch.validation["kept_parent_branch"]["valid_acc"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                branch.validation["kept_parent_branch"]["refit_valid_acc"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
            ),
        );
    }
    observer.message(
        MessageKind::Info,
        &format!(
            "n-gram branch: {} n-grams, C = {}, mix cnn {:.1} n-gram {:.1}; valid acc cnn {:.4}, n-gram {:.4}, mixed {:.4} ({:.1} s)",
            branch.num_features,
            branch.c,
            branch.mix.cnn,
            branch.mix.ngram,
            acc("cnn"),
            acc("ngram"),
            acc("mixed"),
            started.elapsed().as_secs_f64()
        ),
    );
    let mixed = acc("mixed");
    best.config.ngram = Some(branch);
    best.ngram = Some(model);
    best.save(output)?;
    Ok((mixed, held_out))
}

/// The test-set report of class probabilities `probs [n, classes]` against `y`, also written
/// to `output/report.json` with the data's name.
fn write_test_report(
    probs: &[f32],
    y: &[usize],
    labels: &[String],
    data_name: &str,
    output: &Path,
) -> Result<ClassificationReport> {
    let (_, _, predicted) = crate::eval::score(probs, y, labels.len());
    let report = ConfusionMatrix::from_indices(labels.to_vec(), y, &predicted).report();
    let json = serde_json::json!({ "data": data_name, "report": report });
    write_atomic(
        &output.join(bundle::REPORT_FILE),
        &serde_json::to_vec_pretty(&json)?,
    )?;
    Ok(report)
}

/// One line describing an architecture: its layers and parameter count.
pub fn describe_architecture(arch: &Architecture) -> String {
    format!("{}, {} parameters", arch.describe(), arch.num_params())
}

/// Maps each example's label to its index in `labels` (any order).
///
/// # Errors
/// Names the first label not in `labels` and the dataset it occurs in.
pub fn label_ids(ds: &Dataset, labels: &[String]) -> Result<Vec<usize>> {
    let index: std::collections::HashMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    ds.examples
        .iter()
        .enumerate()
        .map(|(row, e)| {
            if e.label.is_empty() {
                bail!(
                    "{}: example {} has no label (plain lines have none); labelled data is needed here",
                    ds.name,
                    row + 1
                );
            }
            index.get(e.label.as_str()).copied().ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: label {:?} (example {}) does not occur in the training data (known labels: {})",
                    ds.name,
                    e.label,
                    row + 1,
                    labels.join(", ")
                )
            })
        })
        .collect()
}

fn encode_dataset(pipeline: &TextPipeline, ds: &Dataset) -> Vec<Encoded> {
    let texts: Vec<&str> = ds.examples.iter().map(|e| e.text.as_str()).collect();
    pipeline.encode_batch(&texts)
}

/// Mean cross-entropy, accuracy and the predicted class of every example, by the CNN alone
/// (see [`crate::eval::score`]).
pub fn evaluate(
    model: &Model,
    encoded: &[Encoded],
    y: &[usize],
    min_len: usize,
) -> (f64, f64, Vec<usize>) {
    let probs = predict::probabilities(model, encoded, min_len);
    crate::eval::score(&probs, y, model.num_classes())
}

/// The batches of one epoch: a seeded shuffle, then (when bucketing) length-sorted pools whose
/// batches are shuffled again so that batch lengths do not rise through the epoch.
pub(crate) fn epoch_batches(
    config: &TrainConfig,
    epoch: usize,
    lengths: &[usize],
) -> Vec<Vec<usize>> {
    let mut rng =
        ChaCha8Rng::seed_from_u64(config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(&mut rng);
    let pool = if config.bucket { BUCKET_POOL } else { 1 };
    let mut batches = bucketed_batches(&order, lengths, config.batch_size, pool);
    if config.bucket {
        batches.shuffle(&mut rng);
    }
    batches
}

/// Dropout seed of one step, a function of (run seed, epoch, step) only so that a resumed run
/// draws the same masks.
pub(crate) fn step_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    let mut z = seed ^ ((epoch as u64) << 32) ^ step as u64;
    // splitmix64 finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes `metrics.jsonl` (one JSON object per epoch) atomically.
pub(crate) fn write_metrics<M: Serialize>(output: &Path, history: &[M]) -> Result<()> {
    let mut text = String::new();
    for m in history {
        text.push_str(&serde_json::to_string(m)?);
        text.push('\n');
    }
    write_atomic(&output.join(bundle::METRICS_FILE), text.as_bytes())
}

/// `tokens`, `oov_rate` (share of tokens outside the vocabulary) and `truncated` (texts cut at
/// `max_len`) of encoded texts, for the bundle's dataset summary.
pub(crate) fn encoding_summary(enc: &[Encoded]) -> serde_json::Map<String, serde_json::Value> {
    let tokens: usize = enc.iter().map(|e| e.n_tokens).sum();
    let oov: usize = enc.iter().map(|e| e.n_oov).sum();
    let mut m = serde_json::Map::new();
    m.insert("tokens".into(), tokens.into());
    m.insert(
        "oov_rate".into(),
        (if tokens == 0 {
            0.0
        } else {
            oov as f64 / tokens as f64
        })
        .into(),
    );
    m.insert(
        "truncated".into(),
        enc.iter().filter(|e| e.truncated).count().into(),
    );
    m
}

fn dataset_summary(
    data: &TrainData,
    train: &[Encoded],
    valid: &[Encoded],
    test: Option<&[Encoded]>,
) -> serde_json::Value {
    let part = |ds: &Dataset, enc: &[Encoded]| {
        let mut summary = encoding_summary(enc);
        summary.insert("name".into(), ds.name.clone().into());
        summary.insert("examples".into(), ds.len().into());
        summary.insert("classes".into(), serde_json::json!(ds.class_counts()));
        summary.insert("skipped_rows".into(), ds.skipped.len().into());
        serde_json::Value::Object(summary)
    };
    serde_json::json!({
        "train": part(data.train, train),
        "valid": part(data.valid, valid),
        "test": data.test.zip(test).map(|(ds, enc)| part(ds, enc)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_seeds_differ_across_steps_and_epochs_and_repeat() {
        assert_eq!(step_seed(1, 2, 3), step_seed(1, 2, 3));
        assert_ne!(step_seed(1, 2, 3), step_seed(1, 2, 4));
        assert_ne!(step_seed(1, 2, 3), step_seed(1, 3, 3));
        assert_ne!(step_seed(1, 2, 3), step_seed(2, 2, 3));
    }

    #[test]
    fn epoch_batches_are_a_seeded_permutation() {
        let lengths: Vec<usize> = (0..1000).map(|i| (i * 7919) % 500).collect();
        let config = TrainConfig {
            batch_size: 16,
            ..TrainConfig::default()
        };
        let a = epoch_batches(&config, 1, &lengths);
        assert_eq!(a, epoch_batches(&config, 1, &lengths));
        assert_ne!(a, epoch_batches(&config, 2, &lengths));
        let mut all: Vec<usize> = a.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        // Bucketing: within a batch, lengths are close (one pool spans 800 of the 1000 texts).
        let spread: usize = a
            .iter()
            .map(|b| {
                b.iter().map(|&i| lengths[i]).max().unwrap()
                    - b.iter().map(|&i| lengths[i]).min().unwrap()
            })
            .sum();
        assert!(spread / a.len() < 40, "mean spread {}", spread / a.len());
    }
}
