//! Stage 4 of a training run, when it ends (not when it is interrupted): the n-gram branch of
//! `ngram-cnn` next to the best CNN, the head's calibration on the validation split
//! (multi-label thresholds), the test evaluation (`report.json`) and the final bundle, saved
//! complete.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};

use super::build::Run;
use super::fit::{TrainData, TrainOptions, Validation};
use super::ngram_stage::{self, BranchAlone};
use super::observer::{MessageKind, Stage, StageTimer, TrainObserver};
use crate::bundle::{self, Bundle, NgramBranch};
use crate::eval::Metric;
use crate::eval::Scores;
use crate::fsutil::write_atomic;
use crate::head::{CalibrationData, Head, Targets};
use crate::ngram::{InternedDocs, NgramModel, StopFlags};
use crate::predict::Classifier;
use crate::text::{Tokenizer, tokenize_all};

/// Memory cap of the projection cache used for the test evaluation at the end of a run.
const TEST_PROJ_CACHE_BYTES: usize = 64 << 20;

/// What the final stages give the run's outcome.
pub(super) struct Final {
    /// The test scores, when a test set was given.
    pub test: Option<Box<dyn Scores>>,
    /// The final model on the validation data.
    pub valid: Validation,
    /// The validation figure of the mixture with the n-gram branch, when fitted.
    pub ngram_valid: Option<f64>,
    /// [`crate::bundle::NgramBranch::cnn_unused_note`] of the fitted branch.
    pub cnn_note: Option<String>,
    /// The n-gram branch's own fit, when fitted.
    pub branch_fit: Option<BranchFitCost>,
}

/// The time of the n-gram branch's fit (tokenizing, the `C` path and the refit), which the
/// stage times do not show when it ran beside the CNN's epochs (`report.json` → `cost` →
/// `ngram_branch`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BranchFitCost {
    /// Wall-clock seconds of the fit.
    pub seconds: f64,
    /// Whether it ran beside the CNN's epochs, on the threads they left idle (its seconds
    /// then overlap the fit stage's); otherwise after them, in the n-gram stage.
    pub beside_epochs: bool,
}

/// Stage 4: reloads the best epoch's bundle (saved unfinished), fits the n-gram branch
/// (`ngram-cnn`; or takes it from `prefit`, fitted beside the epochs), calibrates the head on
/// the validation probabilities (maximising the run's validation `metric`), evaluates the test
/// set (`report.json`) and saves the final bundle, complete, `config.json` last. `None` when
/// the run was interrupted in the n-gram stage (nothing written: `--resume` runs this stage
/// again).
pub(super) fn final_stages(
    data: &TrainData,
    run: &Run,
    output: &Path,
    (options, metric): (&TrainOptions, Metric),
    prefit: Option<Prefit>,
    observer: &mut dyn TrainObserver,
) -> Result<Option<Final>> {
    let prep = &run.prep;
    let head = run.head.as_ref();
    let mut best = Bundle::load_unfinished(output).context(
        "cannot reload the best checkpoint for the n-gram branch and the final evaluation",
    )?;
    // The n-gram branch is refitted on training + validation texts, so the validation
    // predictions of the saved ngram-cnn are not held out: the calibration and the report use
    // the mixture's from before the refit.
    let mut held_out = None;
    let mut test_ngram_logits = None;
    let mut ngram_valid = None;
    let mut cnn_note = None;
    let mut branch_fit = None;
    if prep.wants_ngram {
        let fit = ngram_branch_stage(data, run, (output, options), &mut best, prefit, observer)?;
        let Some(fitted) = fit else {
            return Ok(None);
        };
        ngram_valid = fitted.ngram_valid;
        cnn_note = fitted.cnn_note;
        branch_fit = Some(fitted.cost);
        held_out = Some(fitted.valid_probs);
        test_ngram_logits = fitted.test_logits;
    }
    let stage = StageTimer::start(observer, Stage::FinalReport);
    let valid_probs = match held_out {
        Some(p) => p,
        None => {
            let min_len = prep.pipeline.encode.min_len;
            let mut z = crate::predict::logits(&best.model, &prep.valid_enc, min_len);
            head.activate(&mut z, prep.labels.len());
            z
        }
    };
    let calibration = head.calibrate(&CalibrationData {
        labels: &prep.labels,
        probs: &valid_probs,
        targets: &prep.valid_t,
        train: &prep.train_t,
        metric,
    });
    for m in &calibration.messages {
        observer.message(MessageKind::Info, m);
    }
    let record = calibration
        .head
        .record(prep.labels.len(), run.weights.as_deref());
    best.config.set_head_record(record);
    // The test set is scored with a quarter of the default projection cache (the most frequent
    // words: at most 64 MiB beside the run's data, rather than 256 MiB); the cache is
    // not saved, so the bundle does not change.
    best.model.set_proj_cache_bytes(TEST_PROJ_CACHE_BYTES);
    let classifier = Classifier::from_bundle(best)?;
    let final_head = classifier.head();
    let test_report = TestReport {
        ngram_logits: test_ngram_logits.as_deref(),
        cnn_note: cnn_note.as_deref(),
        output,
    };
    let test = test_stage(data, run, &classifier, test_report)?;
    // Last: the bundle says it is complete once every file of the run is written.
    classifier.bundle().save(output)?;
    let valid = Validation {
        scores: final_head.evaluate(&prep.labels, &prep.valid_t, &valid_probs),
        probs: valid_probs,
        targets: prep.valid_t.clone(),
    };
    stage.finish(observer);
    Ok(Some(Final {
        test,
        valid,
        ngram_valid,
        cnn_note,
        branch_fit,
    }))
}

/// What the n-gram stage adds to the final stages.
struct FittedBranch {
    /// The branch's test logits `[test, labels]`, when a test set was given.
    test_logits: Option<Vec<f32>>,
    /// The mixture's validation probabilities `[valid, labels]` from before the refit.
    valid_probs: Vec<f32>,
    /// The validation figure of the mixture.
    ngram_valid: Option<f64>,
    /// [`NgramBranch::cnn_unused_note`] of the fitted branch.
    cnn_note: Option<String>,
    /// How long its fit took, and where.
    cost: BranchFitCost,
}

/// The n-gram branch's fit without the CNN ([`ngram_stage::fit_branch_alone`]: tokenizing the
/// training and validation texts, the `C` path, the refit), owning or sharing everything it
/// reads, so that the run can fit it in a rayon task beside the CNN's epochs (the threads the
/// CNN's steps leave idle fit it). IMDB's main job on 2 threads, same session: 33.7 s with the
/// branch after the epochs (fit stage 20.0 s, n-gram stage 9.7 s), 30.4 s with it beside (26.0
/// and 0.5 s), the same bundle.
pub(super) struct BranchJob<'a> {
    head: Arc<dyn Head>,
    tokenizer: Tokenizer,
    train_t: Targets,
    valid_t: Targets,
    labels: usize,
    data: &'a TrainData<'a>,
    parent: Option<(&'a NgramModel, &'a NgramBranch)>,
    stop: StopFlags<'a>,
}

/// What [`BranchJob::run`] gives (`None` when stopped).
pub(super) type JobResult = Result<Option<JobOutput>>;

/// The fitted branch, the seconds its fit took, and its logits `[test, labels]` of the test
/// set when one was given (scored in the job too, so that beside the epochs the final stage
/// only adds the CNN's part).
pub(super) struct JobOutput {
    alone: BranchAlone,
    seconds: f64,
    test_logits: Option<Vec<f32>>,
}

/// A branch fitted beside the CNN: the n-gram stage's timer, started when the epochs ended, and
/// the job's result.
pub(super) struct Prefit {
    pub stage: StageTimer,
    pub result: JobResult,
    /// Whether epochs were trained beside it (not so in a resumed run whose epochs were done).
    pub beside: bool,
}

impl<'a> BranchJob<'a> {
    /// The job of `run` on `data`; it stops at Ctrl-C (`options.interrupt`) and when `halt` is
    /// set.
    pub(super) fn new(
        data: &'a TrainData<'a>,
        run: &Run,
        options: &'a TrainOptions,
        halt: &'a AtomicBool,
    ) -> BranchJob<'a> {
        BranchJob {
            head: run.head.clone(),
            tokenizer: run.prep.pipeline.tokenizer.clone(),
            train_t: run.prep.train_t.clone(),
            valid_t: run.prep.valid_t.clone(),
            labels: run.prep.labels.len(),
            data,
            parent: parent_branch(options),
            stop: StopFlags::new(options.interrupt.as_deref(), Some(halt)),
        }
    }

    /// Fits the branch (see [`ngram_stage::fit_branch_alone`]).
    ///
    /// # Errors
    /// As [`ngram_stage::fit_branch_alone`].
    pub(super) fn run(self) -> JobResult {
        let started = Instant::now();
        if self.stop.is_set() {
            return Ok(None);
        }
        // Token lists live for this job only (see `prepare`), interned (one table of distinct
        // tokens, a `u32` per token) as they are made, a chunk of texts at a time.
        let mut interned = InternedDocs::default();
        for texts in [self.data.train.texts(), self.data.valid.texts()] {
            for chunk in texts.chunks(crate::predict::TOKENIZE_CHUNK) {
                if self.stop.is_set() {
                    return Ok(None);
                }
                for doc in tokenize_all(&self.tokenizer, chunk) {
                    interned.push(doc);
                }
            }
        }
        let docs = interned.docs();
        let (train_docs, valid_docs) = docs.split_at(self.data.train.len());
        let branch_data = ngram_stage::BranchData {
            train_docs,
            train: &self.train_t,
            valid_docs,
            valid: &self.valid_t,
            cnn_valid_logits: None,
            labels: self.labels,
            parent: self.parent,
            stop: self.stop,
        };
        let Some(alone) = ngram_stage::fit_branch_alone(self.head.as_ref(), &branch_data)? else {
            return Ok(None);
        };
        let seconds = started.elapsed().as_secs_f64();
        drop(interned);
        // The token lists of the test texts are made a chunk at a time, never all held.
        let test_logits = self.data.test.map(|test| {
            crate::predict::ngram_logits(alone.model(), &self.tokenizer, &test.texts())
        });
        Ok(Some(JobOutput {
            alone,
            seconds,
            test_logits,
        }))
    }
}

/// When fine-tuning a model with an n-gram branch: that branch and its record.
fn parent_branch(options: &TrainOptions) -> Option<(&NgramModel, &NgramBranch)> {
    options
        .start_from
        .as_ref()
        .and_then(|s| s.bundle.ngram.as_ref().zip(s.bundle.config.ngram.as_ref()))
}

/// The n-gram branch (`ngram-cnn`, `ngram`), fitted next to the best network (`best`, where it
/// is put) or beside its epochs (`prefit`), mixed with it and reported; `None` when the run was
/// interrupted in it (reported too).
fn ngram_branch_stage(
    data: &TrainData,
    run: &Run,
    (output, options): (&Path, &TrainOptions),
    best: &mut Bundle,
    prefit: Option<Prefit>,
    observer: &mut dyn TrainObserver,
) -> Result<Option<FittedBranch>> {
    let prep = &run.prep;
    let head = run.head.as_ref();
    let (stage, fitted, beside) = match prefit {
        Some(Prefit {
            stage,
            result,
            beside,
        }) => (stage, result?, beside),
        None => {
            let stage = StageTimer::start(observer, Stage::NgramBranch);
            let halt = AtomicBool::new(false);
            (
                stage,
                BranchJob::new(data, run, options, &halt).run()?,
                false,
            )
        }
    };
    let when = if beside {
        " beside the CNN's epochs"
    } else {
        ""
    };
    // A Ctrl-C in this stage stops the run here even when the branch was fitted beside the
    // epochs and is done.
    let stopped = options
        .interrupt
        .as_ref()
        .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst));
    let Some(job) = fitted.filter(|_| !stopped) else {
        observer.interrupted();
        let epochs = if run.arch.num_params() == 0 {
            "" // `--arch ngram`: no network, no epochs
        } else {
            "every epoch is done and in the checkpoint, "
        };
        let again = if epochs.is_empty() {
            ""
        } else {
            " (no epoch is trained again)"
        };
        observer.message(
            MessageKind::Interrupted,
            &format!(
                "interrupted in the n-gram stage: {epochs}the branch is not fitted, and {} is \
                 refused as unfinished; `textcnn train --resume {}` fits the branch{again}",
                output.display(),
                output.display()
            ),
        );
        return Ok(None);
    };
    // No network (`--arch ngram`): the branch alone. The validation split is scored with the
    // test stage's smaller projection cache (64 MiB rather than up to 256 MiB, built while the
    // branch's buffers may still be resident; the logits, and IMDB's bundle, are the same).
    best.model.set_proj_cache_bytes(TEST_PROJ_CACHE_BYTES);
    let cnn_valid_logits = best.model.embedding().is_some().then(|| {
        crate::predict::logits(&best.model, &prep.valid_enc, prep.pipeline.encode.min_len)
    });
    best.model.release_proj_cache();
    let (model, branch, probs) = job.alone.mixed(
        head,
        ngram_stage::MixInputs {
            valid: &prep.valid_t,
            cnn_valid_logits: cnn_valid_logits.as_deref(),
            labels: prep.labels.len(),
        },
    );
    report_branch(head, &branch, (job.seconds, when), observer);
    let fitted = FittedBranch {
        test_logits: job.test_logits,
        valid_probs: probs,
        ngram_valid: branch.validation["mixed"].as_f64(),
        cnn_note: branch.cnn_unused_note(),
        cost: BranchFitCost {
            seconds: job.seconds,
            beside_epochs: beside,
        },
    };
    add_branch(best, model, branch);
    stage.finish(observer);
    Ok(Some(fitted))
}

/// What the test stage reads besides the model: the n-gram branch's test logits `[test,
/// labels]` when its job scored them, the note when the CNN adds nothing, the run's folder.
struct TestReport<'a> {
    ngram_logits: Option<&'a [f32]>,
    cnn_note: Option<&'a str>,
    output: &'a Path,
}

/// The final model on the test set, when one was given: its scores, written to
/// `output/report.json`.
fn test_stage(
    data: &TrainData,
    run: &Run,
    classifier: &Classifier,
    TestReport {
        ngram_logits,
        cnn_note,
        output,
    }: TestReport,
) -> Result<Option<Box<dyn Scores>>> {
    let prep = &run.prep;
    let (Some(targets), Some(ds), Some(enc)) = (&prep.test_t, data.test, &prep.test_enc) else {
        return Ok(None);
    };
    let probs = match ngram_logits {
        Some(z) => classifier.probabilities_with_ngram_logits(enc, z),
        // The n-gram branch's token lists are made a chunk at a time, never all held.
        None => classifier.probabilities_of_encoded(&ds.texts(), enc),
    };
    let final_head = classifier.head();
    let scores = final_head.evaluate(&prep.labels, targets, &probs);
    write_test_report(
        final_head,
        scores.as_ref(),
        &ds.name,
        &prep.test_unknown,
        cnn_note,
        output,
    )?;
    Ok(Some(scores))
}

/// Reports the fitted n-gram branch: the kept parent branch (fine-tuning), then its features,
/// size, `C`, mixture and validation figures, and the `seconds` its job took (tokenizing and
/// fitting) and `when` (` beside the CNN's epochs`, whose threads it shared, or empty; the
/// `--verbose` stage time then counts only the wait after the epochs and the mixture).
fn report_branch(
    head: &dyn Head,
    branch: &NgramBranch,
    (seconds, when): (f64, &str),
    observer: &mut dyn TrainObserver,
) {
    let v = &branch.validation;
    let figure = |key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let name = v["metric"].as_str().unwrap_or("acc");
    if let Some(kept) = v.get("kept_parent_branch") {
        let score = head.branch_score_name();
        let parent = kept[score].as_f64().unwrap_or(f64::NAN);
        let refit = kept[format!("refit_{score}")].as_f64().unwrap_or(f64::NAN);
        observer.message(
            MessageKind::Info,
            &format!(
                "n-gram branch: kept the parent's (valid {name} {parent:.4}; refitted on the new texts {refit:.4})"
            ),
        );
    }
    let message = if v.get("cnn").is_some() {
        format!(
            "n-gram branch: {}, {} n-grams, C = {}, mixture exponents cnn {:.1}, n-gram {:.1}; valid {name} cnn {:.4}, n-gram {:.4}, mixed {:.4} (fitted in {seconds:.1} s{when})",
            branch.features.describe(),
            branch.num_features,
            branch.c,
            branch.mix.cnn,
            branch.mix.ngram,
            figure("cnn"),
            figure("ngram"),
            figure("mixed"),
        )
    } else {
        format!(
            "n-gram branch: {}, {} n-grams, C = {}; valid {name} {:.4} (fitted in {seconds:.1} s{when})",
            branch.features.describe(),
            branch.num_features,
            branch.c,
            figure("ngram"),
        )
    };
    observer.message(MessageKind::Info, &message);
}

/// Puts the n-gram branch into the bundle.
fn add_branch(best: &mut Bundle, model: NgramModel, branch: NgramBranch) {
    best.config.ngram = Some(branch);
    best.ngram = Some(model);
}

/// Writes `output/report.json`: the data's name, the head's fields, the test scores and, when
/// the CNN changes no prediction, `"note"` saying so.
fn write_test_report(
    head: &dyn Head,
    scores: &dyn Scores,
    data_name: &str,
    unknown: &std::collections::BTreeMap<String, usize>,
    cnn_note: Option<&str>,
    output: &Path,
) -> Result<()> {
    let mut json = serde_json::Map::new();
    json.insert("data".into(), data_name.into());
    json.extend(head.json_tags(unknown));
    json.insert("report".into(), scores.to_json());
    if let Some(note) = cnn_note {
        json.insert("note".into(), note.into());
    }
    write_atomic(
        &output.join(bundle::REPORT_FILE),
        &serde_json::to_vec_pretty(&serde_json::Value::Object(json))?,
    )
}
