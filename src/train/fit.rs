//! The training loop: seeded shuffling, (bucketed) mini-batches through the head's loss,
//! validation after every epoch, early stopping, best-epoch saving and resumable checkpoints;
//! and the entry points [`train`] and [`train_observed`], which run the stages in order
//! (`prepare`, `build`, the loop, `finish`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::build::{Run, build_model};
use super::checkpoint::{Checkpoint, EpochProgress};
use super::config::{Metric, TrainConfig};
use super::finish::{BranchJob, Prefit};
use super::observer::{
    CostLog, EpochEnd, MessageKind, Observers, RunStart, Silent, Stage, StageCost, StageTimer,
    StepEvent, TrainObserver,
};
use super::transfer::StartFrom;
use crate::batch::{PaddedBatch, bucketed_batches, real_length};
use crate::bundle::{self, Bundle};
use crate::data::Dataset;
use crate::eval::Scores;
use crate::fsutil::write_atomic;
use crate::head::{Head, HeadKind, Targets};
use crate::model::{Architecture, Trainer};
use crate::text::Encoded;

/// Batches sorted together by length when bucketing: large enough to cut padding, small enough
/// to keep batches random.
const BUCKET_POOL: usize = 50;

/// The datasets of one run. For a single-label run, labels of `valid` and `test` must all
/// occur in `train`.
pub struct TrainData<'a> {
    /// Training texts: vocabulary, the CNN, the n-gram branch.
    pub train: &'a Dataset,
    /// Validation texts: early stopping, the n-gram branch's `C` and mixture, the head's
    /// calibration (multi-label thresholds).
    pub valid: &'a Dataset,
    /// Test texts, evaluated once at the end (`report.json`).
    pub test: Option<&'a Dataset>,
}

/// Options that are not hyperparameters.
#[derive(Default)]
pub struct TrainOptions {
    /// The model's head (single-label or multi-label); a fine-tuned model keeps its parent's.
    /// The validation metric is the settings' (the run entry, [`super::RunRequest`], puts the
    /// head's default there when none is named).
    pub head: HeadKind,
    /// Continue from the checkpoint in the output directory.
    pub resume: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current batch, leaving a resumable checkpoint.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Free-form description of the run (data specs, command line), stored in the bundle and the
    /// checkpoint.
    pub run_info: serde_json::Value,
    /// Continue training this bundle (fine-tuning): its tokenizer, encoding, vocabulary
    /// (extended with `extend_vocab`), labels, head and parameters are the starting point, and
    /// the new bundle records it as its parent.
    pub start_from: Option<StartFrom>,
    /// Keep `checkpoint/` (parameters and optimizer state, about twice the model's size) after
    /// the run finishes; by default it is removed once the final bundle is written, and the
    /// finished run can no longer be resumed (fine-tuning reads the bundle only).
    pub keep_checkpoint: bool,
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (with dropout): cross-entropy, or binary
    /// cross-entropy summed over labels.
    pub train_loss: f64,
    /// Share of training texts classified right (multi-label: every label right at 0.5).
    /// Multi-label runs before the one pipeline wrote it as `train_subset_acc`.
    #[serde(alias = "train_subset_acc")]
    pub train_acc: f64,
    /// Mean loss of the validation texts (no dropout, unweighted).
    pub valid_loss: f64,
    /// Validation accuracy (multi-label: subset accuracy at the default thresholds).
    #[serde(alias = "valid_subset_acc")]
    pub valid_acc: f64,
    /// Macro-averaged F1 on the validation data (single-label: over the labels present in it
    /// or its predictions).
    #[serde(default)]
    pub valid_macro_f1: f64,
    /// Multi-label runs: micro-averaged F1 on the validation data (thresholds 0.5). Absent for
    /// single-label runs, where it equals accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_micro_f1: Option<f64>,
    /// Multi-label runs: Jaccard index over samples on the validation data (thresholds 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_jaccard: Option<f64>,
    /// Learning rate of the epoch.
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
    /// How the run ended.
    pub stop: StopReason,
    /// Every epoch's metrics (as in `metrics.jsonl`).
    pub history: Vec<EpochMetrics>,
    /// Metrics of the epoch whose parameters are saved in the bundle.
    pub best: Option<EpochMetrics>,
    /// The final model's scores on the test data, when given (as in `report.json`).
    pub test: Option<Box<dyn Scores>>,
    /// Labels of the test data the model lacks, with counts (left out of a multi-label
    /// model's test scores).
    pub test_unknown_labels: BTreeMap<String, usize>,
    /// The final model on the validation data: its probabilities `[valid, labels]` (held out:
    /// an n-gram branch's from before its refit on all texts) and the head's targets, for the
    /// run's report. `None` for an interrupted run.
    pub valid: Option<Validation>,
    /// The validation figure of the CNN mixed with the n-gram branch (`ngram-cnn`, when
    /// fitted): accuracy, or micro-F1 for a multi-label model.
    pub ngram_valid: Option<f64>,
    /// Set when the mixture gave the CNN weight 0, so that the CNN changes no prediction: a
    /// sentence saying so ([`crate::bundle::NgramBranch::cnn_unused_note`]).
    pub cnn_note: Option<String>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// Each stage's time and memory, in the order they ran (also in `report.json` → `cost`).
    pub stages: Vec<StageCost>,
    /// The n-gram branch's own fit, when the run fitted one (also in `report.json` → `cost` →
    /// `ngram_branch`).
    pub branch_fit: Option<super::finish::BranchFitCost>,
}

/// The final model's view of the validation data ([`TrainOutcome::valid`]).
pub struct Validation {
    /// Probabilities `[valid, labels]`.
    pub probs: Vec<f32>,
    /// The head's targets of the validation texts.
    pub targets: Targets,
    /// The head's scores of `probs` against `targets`.
    pub scores: Box<dyn Scores>,
}

/// Trains a model on `data` and writes the bundle of the best epoch (by validation `metric`)
/// to `output`, with `metrics.jsonl`, `report.json` (when a test set is given) and a
/// `checkpoint/` directory for `--resume`. Silent: see [`train_observed`] to follow the run,
/// and [`super::RunRequest`] for a run with its data, output folder and settings checked as the
/// CLI checks them.
///
/// # Errors
/// Invalid settings, fewer than two labels, a validation/test label unseen in training (one
/// label per text), a non-finite loss (names epoch and step), or a file that cannot be
/// written.
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
/// As [`train`], and a head other than the parent's when fine-tuning.
pub fn train_observed(
    config: &TrainConfig,
    data: &TrainData,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome> {
    config.validate()?;
    let head = match &options.start_from {
        Some(s) => {
            let parent = s.bundle.config.head()?;
            if parent.kind() != options.head {
                bail!(
                    "{} is a {} model; a {} run cannot continue it",
                    s.path.display(),
                    parent.kind().name(),
                    options.head.name()
                );
            }
            options.head.head()
        }
        None => options.head.head(),
    };
    let pool = crate::nn::thread_pool(config.threads);
    let mut costs = CostLog::default();
    let mut outcome = {
        let mut both = Observers::new();
        both.push(observer);
        both.push(&mut costs);
        pool.install(|| train_in_pool(config, head, data, output, options, &mut both))?
    };
    outcome.stages = costs.0;
    if outcome.test.is_some() {
        add_cost_to_report(output, &outcome)?;
    }
    Ok(outcome)
}

/// Adds the run's cost to `report.json` (written by the final stage, before that stage's
/// own cost was known): `"cost": {"seconds", "peak_rss_mib", "stages": [...]}`, and with an
/// n-gram branch `"ngram_branch": {"seconds", "beside_epochs"}` (its fit, which overlaps the
/// fit stage when it ran beside the epochs).
///
/// # Errors
/// When `report.json` cannot be read back or written.
fn add_cost_to_report(output: &Path, outcome: &TrainOutcome) -> Result<()> {
    let path = output.join(bundle::REPORT_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut report: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let stages: Vec<serde_json::Value> = outcome.stages.iter().map(StageCost::to_json).collect();
    report["cost"] = serde_json::json!({
        "seconds": outcome.seconds,
        "peak_rss_mib": super::observer::peak_rss_mib(),
        "stages": stages,
    });
    if let Some(b) = outcome.branch_fit {
        report["cost"]["ngram_branch"] = serde_json::json!({
            "seconds": b.seconds,
            "beside_epochs": b.beside_epochs,
        });
    }
    write_atomic(&path, &serde_json::to_vec_pretty(&report)?)
}

fn train_in_pool(
    config: &TrainConfig,
    head: Arc<dyn Head>,
    data: &TrainData,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome> {
    let started = Instant::now();
    let stage = StageTimer::start(observer, Stage::PrepareData);
    let prep =
        super::prepare::prepare_data(config, head.as_ref(), data, options, observer, started)?;
    release_freed_memory();
    stage.finish(observer);
    let stage = StageTimer::start(observer, Stage::BuildModel);
    let mut run = build_model(config, head, prep, output, options, observer)?;
    stage.finish(observer);
    let mut prefit = None;
    let mut stop = if run.arch.num_params() == 0 {
        // `--arch ngram`: no network to fit; the n-gram branch is the model.
        no_network(config, &mut run, output, options)?
    } else if run.prep.wants_ngram {
        let (stop, fitted) =
            fit_beside_branch(config, &mut run, data, (output, options), observer)?;
        prefit = fitted;
        stop
    } else {
        fit_loop(config, &mut run, output, options, observer)?
    };
    // An interrupted run is resumed later; the n-gram branch, the calibration and the test
    // evaluation run once, at its real end (and stop at a Ctrl-C in the n-gram stage).
    let end = match stop {
        StopReason::Interrupted => None,
        _ => {
            // The final stages reload the best epoch from its bundle: what only training needed
            // is freed before the n-gram branch allocates (~170 MB for IMDB's model).
            run.trainer.release_training_state();
            let options = (options, config.metric);
            super::finish::final_stages(data, &run, output, options, prefit, observer)
                .map_err(|e| save_failed(e, output))?
        }
    };
    if end.is_none() {
        stop = StopReason::Interrupted;
    }
    if end.is_some() {
        if options.keep_checkpoint {
            if output.join(crate::bundle::CHECKPOINT_DIR).is_dir() {
                Checkpoint::mark_kept(output)?;
            }
        } else {
            Checkpoint::remove(output)?;
        }
    }
    let (test, test_unknown_labels, valid, ngram_valid, cnn_note, branch_fit) = match end {
        Some(e) => (
            e.test,
            run.prep.test_unknown.clone(),
            Some(e.valid),
            e.ngram_valid,
            e.cnn_note,
            e.branch_fit,
        ),
        None => (None, BTreeMap::new(), None, None, None, None),
    };
    Ok(TrainOutcome {
        stop,
        best: run.progress.best.clone(),
        history: run.progress.history,
        test,
        test_unknown_labels,
        valid,
        ngram_valid,
        cnn_note,
        seconds: started.elapsed().as_secs_f64(),
        stages: Vec::new(),
        branch_fit,
    })
}

/// Hands the pages the allocator holds free back to the system (glibc's `malloc_trim`; nothing
/// elsewhere). Preparing the data tokenizes every text into short-lived strings: IMDB's token
/// lists left about 380 MiB free but resident in the main thread's heap, where the n-gram
/// branch, fitted beside the CNN on another thread (another heap), could not reuse them.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's heaps to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Stage 3 of an `ngram-cnn` run: [`fit_loop`], with the n-gram branch's fit (which does not
/// read the CNN, see [`BranchJob`]) spawned beside it in the run's rayon pool, so that the
/// threads the CNN's steps leave idle fit the branch (on 1 thread it is not spawned: the final
/// stages fit it after the epochs, as before). When the epochs end, the n-gram stage starts and waits for the branch; when they
/// fail or are interrupted, the branch is halted and dropped (a resumed run fits it again).
/// Both are deterministic for a seed, whatever the threads' timing.
///
/// # Errors
/// As [`fit_loop`]; the branch's error after the stage started.
fn fit_beside_branch(
    config: &TrainConfig,
    run: &mut Run,
    data: &TrainData,
    (output, options): (&Path, &TrainOptions),
    observer: &mut dyn TrainObserver,
) -> Result<(StopReason, Option<Prefit>)> {
    if rayon::current_num_threads() == 1 {
        // No idle thread to fit it on: the final stages fit it after the epochs.
        return Ok((fit_loop(config, run, output, options, observer)?, None));
    }
    let halt = AtomicBool::new(false);
    let job = BranchJob::new(data, run, options, &halt);
    let first_epoch = run.progress.epoch;
    let mut result = None;
    let (stop, stage) = rayon::in_place_scope(|scope| {
        scope.spawn(|_| result = Some(job.run()));
        let stop = fit_loop(config, run, output, options, observer);
        if matches!(stop, Ok(StopReason::Completed | StopReason::EarlyStopped)) {
            // What only training needed is freed before the wait.
            run.trainer.release_training_state();
            let stage = StageTimer::start(observer, Stage::NgramBranch);
            (stop, Some(stage))
        } else {
            halt.store(true, Ordering::SeqCst);
            (stop, None)
        }
    });
    let stop = stop?;
    // A resumed run whose epochs were all done trained none beside the branch.
    let beside = run.progress.epoch != first_epoch;
    let prefit = stage.zip(result).map(|(stage, result)| Prefit {
        stage,
        result,
        beside,
    });
    Ok((stop, prefit))
}

/// A run without a network (`--arch ngram`): no epochs; the bundle of the parameterless
/// network is written for the final stages, which fit the n-gram branch into it.
///
/// # Errors
/// When there is no n-gram branch to fit (fine-tuning on data that lacks some of the model's
/// labels), or the bundle cannot be written.
fn no_network(
    config: &TrainConfig,
    run: &mut Run,
    output: &Path,
    options: &TrainOptions,
) -> Result<StopReason> {
    if !run.prep.wants_ngram {
        bail!(
            "an n-gram model (--arch ngram) is its n-gram branch, which is refitted on the new \
             data: the new training data must have an example of every label of the model"
        );
    }
    write_metrics(output, &[])?;
    // Unfinished (refused) until the final stages put the branch in.
    Bundle {
        config: run.bundle_config.clone(),
        model: run.trainer.model(),
        vocab: run.prep.pipeline.vocab.clone(),
        ngram: None,
    }
    .save_unfinished(output, true)?;
    // A checkpoint without epochs, so that a run stopped in its n-gram stage resumes there
    // (`--resume` fits the branch) like a network's run.
    Checkpoint::save(
        output,
        config,
        &options.run_info,
        &run.trainer,
        &run.progress,
    )?;
    Ok(StopReason::Completed)
}

/// Whether the user asked to stop (Ctrl-C).
fn interrupted(options: &TrainOptions) -> bool {
    options
        .interrupt
        .as_ref()
        .is_some_and(|f| f.load(Ordering::SeqCst))
}

/// What the epochs of a run read and never change.
#[derive(Clone, Copy)]
struct Setup<'a> {
    config: &'a TrainConfig,
    output: &'a Path,
    options: &'a TrainOptions,
}

/// The epoch being trained.
struct EpochCtx<'a> {
    /// 1-based epoch.
    epoch: usize,
    /// Its learning rate.
    lr: f32,
    /// When it started.
    started: Instant,
    /// Its mini-batches (rows of the training data).
    batches: &'a [Vec<usize>],
    /// The run's epoch cap.
    max_epochs: usize,
    /// The run's word-dropout rate ([`TrainConfig::word_dropout_rate`]).
    word_dropout: f32,
}

/// Stage 3: epochs of shuffled mini-batches, validation after each, the best epoch's bundle
/// saved, a checkpoint after each epoch, early stopping, and interruption.
fn fit_loop(
    config: &TrainConfig,
    run: &mut Run,
    output: &Path,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
) -> Result<StopReason> {
    let train_lengths: Vec<usize> = run.prep.train_enc.iter().map(real_length).collect();
    let steps_per_epoch = run.prep.train_enc.len().div_ceil(run.batch);
    let max_epochs = config.max_epochs(steps_per_epoch);
    let patience = config.patience_epochs(steps_per_epoch);
    let hyperparameters = serde_json::to_value(config)?;
    observer.run_started(&RunStart {
        hyperparameters: &hyperparameters,
        labels: &run.prep.labels,
        max_epochs,
        patience,
        train_examples: run.prep.train_enc.len(),
        valid_examples: run.prep.valid_enc.len(),
        num_params: run.arch.num_params(),
        first_epoch: run.progress.epoch,
        word_dropout: run.word_dropout,
    });
    let stage = StageTimer::start(observer, Stage::Fit);
    // A resumed run whose epochs were all done (stopped or killed in its final stages) goes
    // straight to them.
    let mut stop = match epochs_done(&run.progress, max_epochs, patience) {
        Some(done) => {
            stage.finish(observer);
            return Ok(done);
        }
        None => StopReason::Completed,
    };
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
            word_dropout: run.word_dropout,
        };
        let setup = Setup {
            config,
            output,
            options,
        };
        if !train_epoch(run, &ctx, &setup, observer)? {
            return Ok(StopReason::Interrupted);
        }
        end_epoch(run, &ctx, &setup, observer).map_err(|e| save_failed(e, output))?;
        let progress = &run.progress;
        if progress.bad_epochs >= patience && progress.epoch <= max_epochs {
            stop = StopReason::EarlyStopped;
            observer.early_stopped(config.metric, progress.bad_epochs);
            break;
        }
        if interrupted(options) {
            // Ctrl-C during the epoch's validation or saves: the checkpoint is already written.
            observer.interrupted();
            let at = format!("after epoch {epoch}");
            let best = run.progress.best.is_some();
            let notice = interrupt_notice(&at, output, best, run.prep.wants_ngram);
            observer.message(MessageKind::Interrupted, &notice);
            stop = StopReason::Interrupted;
            break;
        }
    }
    stage.finish(observer);
    Ok(stop)
}

/// How the epochs of a run at `progress` ended, when they did: all `max_epochs` trained, or
/// early stopping (the validation metric not improved for `patience` epochs, as
/// [`TrainConfig::patience_epochs`] gives them).
pub(crate) fn epochs_done(
    progress: &EpochProgress,
    max_epochs: usize,
    patience: usize,
) -> Option<StopReason> {
    if progress.step > 0 {
        None
    } else if progress.bad_epochs >= patience.max(1) {
        Some(StopReason::EarlyStopped)
    } else if progress.epoch > max_epochs {
        Some(StopReason::Completed)
    } else {
        None
    }
}

/// The remaining training steps of one epoch; `false` when interrupted (after writing the
/// checkpoint).
fn train_epoch(
    run: &mut Run,
    ctx: &EpochCtx,
    setup: &Setup,
    observer: &mut dyn TrainObserver,
) -> Result<bool> {
    let (config, output, options) = (setup.config, setup.output, setup.options);
    let stop = || interrupted(options);
    let prep = &run.prep;
    let data = EpochData {
        head: run.head.as_ref(),
        train_enc: &prep.train_enc,
        min_len: prep.pipeline.encode.min_len,
        targets: &prep.train_t,
        weights: run.weights.as_deref(),
        word_dropout: ctx.word_dropout,
    };
    let (trainer, progress) = (&mut run.trainer, &mut run.progress);
    if train_batches(config, trainer, &data, ctx, progress, &stop, observer)? {
        return Ok(true);
    }
    observer.interrupted();
    Checkpoint::save(output, config, &options.run_info, trainer, progress)?;
    observer.checkpoint_written(&output.join("checkpoint"), ctx.epoch, false);
    let at = format!("at epoch {}, batch {}", ctx.epoch, progress.step);
    let notice = interrupt_notice(&at, output, progress.best.is_some(), prep.wants_ngram);
    observer.message(MessageKind::Interrupted, &notice);
    Ok(false)
}

/// What an interrupted run says (`at`: where it stopped, e.g. `at epoch 2, batch 7`): the
/// checkpoint is saved, what `output` holds meanwhile, and the command that continues it.
fn interrupt_notice(at: &str, output: &Path, has_best: bool, wants_ngram: bool) -> String {
    format!(
        "interrupted {at}: the checkpoint is saved, and {}{}; continue with `textcnn train \
         --resume {}`",
        output.display(),
        match (has_best, wants_ngram) {
            (false, _) => " holds no model yet (no epoch has ended)",
            (true, true) => {
                " holds the best epoch so far (the CNN alone: the n-gram branch is fitted when \
                 training ends), refused as unfinished until the run ends"
            }
            (true, false) =>
                " holds the best epoch so far, refused as unfinished until the run ends",
        },
        output.display()
    )
}

/// What [`train_batches`] trains on.
struct EpochData<'a> {
    /// The head, whose loss is trained.
    head: &'a dyn Head,
    /// Encoded training texts.
    train_enc: &'a [Encoded],
    /// Padding length of a batch (the encoding's `min_len`).
    min_len: usize,
    /// Their targets.
    targets: &'a Targets,
    /// Weight of each label in the loss.
    weights: Option<&'a [f32]>,
    /// The share of tokens dropped from each training text ([`drop_words`]).
    word_dropout: f32,
}

/// Trains the batches of epoch `ctx.epoch` from `progress.step` on (one optimizer step each
/// against the head's loss, dropout seeded by [`step_seed`]), adding to `progress`'s loss,
/// right and seen counts and reporting each step to `observer`. Returns `false` when `stop()`
/// turned true after a batch (the rest of the epoch is left for a resumed run), `true` at the
/// end of the epoch.
///
/// # Errors
/// A loss that is not finite (the message says which batch and what to lower).
fn train_batches(
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
        let mut padded = PaddedBatch::new(&refs, data.min_len);
        let seed = step_seed(config.seed, epoch, step);
        if data.word_dropout > 0.0 {
            drop_words(&mut padded, data.word_dropout, seed);
        }
        let targets = data.targets.rows(rows);
        let stats = trainer.train_step_with(&padded.view(), seed, &mut |logits, dlogits| {
            data.head.loss(logits, &targets, data.weights, dlogits)
        });
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
        crate::fault::point("step");
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

/// Word dropout: each real token of `batch` becomes padding (id 0, whose embedding row is zero)
/// with probability `p`, drawn from `seed` (the step's dropout seed, so a resumed run drops the
/// same words). The texts keep their lengths and positions (Gal & Ghahramani 2016, "A
/// Theoretically Grounded Application of Dropout in Recurrent Neural Networks", §4.2, drop
/// word embeddings; here per token rather than per word type).
pub(crate) fn drop_words(batch: &mut PaddedBatch, p: f32, seed: u64) {
    use rand_chacha::rand_core::{Rng, SeedableRng};
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_D407_0F00_D5A1);
    // Compared on 24 bits: the draw is uniform on [0, 2^24).
    let threshold = (p as f64 * (1u64 << 24) as f64) as u32;
    let seq_len = batch.seq_len;
    for (b, &len) in batch.lengths.iter().enumerate() {
        for id in &mut batch.ids[b * seq_len..b * seq_len + len] {
            if rng.next_u32() >> 8 < threshold {
                *id = 0;
            }
        }
    }
}

/// Whether `m` improves on `best` by `metric` (early stopping and the best epoch). With one
/// label per text micro-F1 and Jaccard are accuracy; in a multi-label run `valid_acc` is subset
/// accuracy.
pub(crate) fn improves(metric: Metric, m: &EpochMetrics, best: Option<&EpochMetrics>) -> bool {
    best.is_none_or(|b| match metric {
        Metric::Acc | Metric::SubsetAcc => m.valid_acc > b.valid_acc,
        Metric::MicroF1 => {
            m.valid_micro_f1.unwrap_or(m.valid_acc) > b.valid_micro_f1.unwrap_or(b.valid_acc)
        }
        Metric::Jaccard => {
            m.valid_jaccard.unwrap_or(m.valid_acc) > b.valid_jaccard.unwrap_or(b.valid_acc)
        }
        Metric::Loss => m.valid_loss < b.valid_loss,
        Metric::MacroF1 => m.valid_macro_f1 > b.valid_macro_f1,
    })
}

/// The error of a save that failed at an epoch's end or in the final stages (`e`: a full disk,
/// a folder made read-only), with the way on when a checkpoint is intact in `output` (a save
/// replaces it only once the new one is whole, and the bundle is rewritten from it).
fn save_failed(e: anyhow::Error, output: &Path) -> anyhow::Error {
    let Ok(ckpt) = Checkpoint::load(output) else {
        return anyhow::anyhow!(
            "{e:#}\nno checkpoint was written yet, so there is nothing to resume: make room (or \
             fix the folder) and start the run again with the same --output (what this one left \
             there is cleared)"
        );
    };
    let at = match (ckpt.progress.epoch, ckpt.progress.step) {
        (epoch, 0) if epoch > 1 => format!("after epoch {}", epoch - 1),
        (epoch, step) if step > 0 => format!("at epoch {epoch}, batch {step}"),
        _ => "of the run".to_string(),
    };
    anyhow::anyhow!(
        "{e:#}\nthe checkpoint {at} is intact: make room (or fix the folder) and continue with \
         `textcnn train --resume {}`",
        output.display()
    )
}

/// The end of an epoch: validation by the head, the epoch's line of `metrics.jsonl`, the
/// bundle saved when the epoch improved, and the checkpoint.
fn end_epoch(
    run: &mut Run,
    ctx: &EpochCtx,
    setup: &Setup,
    observer: &mut dyn TrainObserver,
) -> Result<()> {
    let (config, output, options) = (setup.config, setup.output, setup.options);
    let Run {
        bundle_config,
        prep,
        trainer,
        progress,
        head,
        ..
    } = run;
    let (epoch, lr, epoch_started, max_epochs) = (ctx.epoch, ctx.lr, ctx.started, ctx.max_epochs);
    let train_seconds = epoch_started.elapsed().as_secs_f64();
    crate::fault::point("epoch");
    let mut current = trainer.model();
    // A copy that lives for one validation pass: no inference projection cache (up to 256 MiB,
    // built again every epoch, at the training's peak of memory).
    current.set_proj_cache_bytes(0);
    let logits = crate::predict::logits(&current, &prep.valid_enc, prep.pipeline.encode.min_len);
    let valid = head.epoch_scores(&prep.labels, &logits, &prep.valid_t);
    let metrics = EpochMetrics {
        epoch,
        train_loss: progress.loss_sum / progress.seen.max(1) as f64,
        train_acc: progress.correct as f64 / progress.seen.max(1) as f64,
        valid_loss: valid.loss,
        valid_acc: valid.acc,
        valid_macro_f1: valid.macro_f1,
        valid_micro_f1: valid.sets.map(|s| s.micro_f1),
        valid_jaccard: valid.sets.map(|s| s.jaccard),
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
        steps: ctx.batches.len(),
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
        // Refused until the run ends (the later epochs, the n-gram branch and the head's
        // calibration are still to come).
        bundle.save_unfinished(output, prep.wants_ngram)?;
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

/// One line describing an architecture: its layers and parameter count.
pub fn describe_architecture(arch: &Architecture) -> String {
    format!("{}, {} parameters", arch.describe(), arch.num_params())
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
fn write_metrics(output: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut text = String::new();
    for m in history {
        text.push_str(&serde_json::to_string(m)?);
        text.push('\n');
    }
    write_atomic(&output.join(bundle::METRICS_FILE), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed run compares its epochs with the best one read back from the checkpoint's
    /// JSON: every accuracy `a / n` of a validation split and every loss must come back bit for
    /// bit, or a tie with the best can count as an improvement (the hostile-user pass saw a
    /// resumed finphrase run keep another epoch than the uninterrupted one). Without
    /// serde_json's `float_roundtrip` feature this fails (the first miss: the loss at 2/2).
    #[test]
    fn validation_metrics_read_back_from_json_bit_for_bit() {
        let base = EpochMetrics {
            epoch: 1,
            train_loss: 0.5,
            train_acc: 0.5,
            valid_loss: 0.5,
            valid_acc: 0.5,
            valid_macro_f1: 0.5,
            valid_micro_f1: None,
            valid_jaccard: None,
            lr: 1e-3,
            seconds: 1.0,
            examples_per_s: 1.0,
        };
        for n in (1..=600usize).chain([1_953, 2_500, 4_457, 22_500]) {
            for a in (0..=n).step_by(n.div_ceil(600)) {
                let m = EpochMetrics {
                    valid_acc: a as f64 / n as f64,
                    valid_loss: (a as f64 + 0.5).ln() / n as f64,
                    ..base.clone()
                };
                let back: EpochMetrics =
                    serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
                assert_eq!(back.valid_acc.to_bits(), m.valid_acc.to_bits(), "{a}/{n}");
                assert_eq!(back.valid_loss.to_bits(), m.valid_loss.to_bits(), "{a}/{n}");
            }
        }
    }

    #[test]
    fn word_dropout_drops_a_seeded_share_of_real_tokens_and_never_padding() {
        let seq_len = 1000;
        let lengths = vec![1000, 600];
        let ids: Vec<u32> = (0..2 * seq_len)
            .map(|i| {
                if i % seq_len < lengths[i / seq_len] {
                    7
                } else {
                    0
                }
            })
            .collect();
        let batch = PaddedBatch {
            ids,
            lengths,
            seq_len,
        };
        let dropped = |p: f32, seed: u64| {
            let mut b = batch.clone();
            drop_words(&mut b, p, seed);
            b
        };
        // p = 0 changes nothing; the same seed drops the same tokens, another seed others.
        assert_eq!(dropped(0.0, 3).ids, batch.ids);
        assert_eq!(dropped(0.25, 3).ids, dropped(0.25, 3).ids);
        assert_ne!(dropped(0.25, 3).ids, dropped(0.25, 4).ids);
        let b = dropped(0.25, 3);
        assert_eq!(
            (b.lengths.clone(), b.seq_len),
            (batch.lengths.clone(), seq_len)
        );
        // Only real tokens become padding (id 0); the padding after the second text stays.
        for (i, (&before, &after)) in batch.ids.iter().zip(&b.ids).enumerate() {
            assert!(after == before || after == 0, "position {i}");
        }
        // About a quarter of the 1,600 real tokens: the count is Binomial(1600, 0.25), mean
        // 400, standard deviation 17.3; 5 standard deviations either side.
        let gone = b.ids.iter().filter(|&&id| id == 0).count() - 400;
        assert!((313..=487).contains(&gone), "{gone} of 1,600 dropped");
    }

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
