//! Stage 4 of a training run, when it ends (not when it is interrupted): the n-gram branch of
//! `ngram-cnn` next to the best CNN, the head's calibration on the validation split
//! (multi-label thresholds), the test evaluation (`report.json`) and the final bundle, saved
//! complete.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::build::Run;
use super::fit::{TrainData, TrainOptions, Validation};
use super::ngram_stage;
use super::observer::{MessageKind, Stage, StageTimer, TrainObserver};
use crate::bundle::{self, Bundle, NgramBranch};
use crate::eval::Metric;
use crate::eval::Scores;
use crate::fsutil::write_atomic;
use crate::head::{CalibrationData, Head};
use crate::ngram::{InternedDocs, NgramModel};
use crate::predict::Classifier;
use crate::text::tokenize_all;

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
}

/// Stage 4: reloads the best epoch's bundle (saved unfinished), fits the n-gram branch
/// (`ngram-cnn`), calibrates the head on the validation probabilities (maximising the run's
/// validation `metric`), evaluates the test set (`report.json`) and saves the final bundle,
/// complete, `config.json` last. `None` when the run was interrupted in the n-gram stage
/// (nothing written: `--resume` runs this stage again).
pub(super) fn final_stages(
    data: &TrainData,
    run: &Run,
    output: &Path,
    (options, metric): (&TrainOptions, Metric),
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
    let mut ngram_valid = None;
    let mut cnn_note = None;
    if prep.wants_ngram {
        let Some(fitted) = ngram_branch_stage(data, run, output, options, &mut best, observer)?
        else {
            return Ok(None);
        };
        ngram_valid = fitted.ngram_valid;
        cnn_note = fitted.cnn_note;
        held_out = Some(fitted.valid_probs);
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
    let test = test_stage(data, run, &classifier, cnn_note.as_deref(), output)?;
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
    }))
}

/// What the n-gram stage adds to the final stages.
struct FittedBranch {
    /// The mixture's validation probabilities `[valid, labels]` from before the refit.
    valid_probs: Vec<f32>,
    /// The validation figure of the mixture.
    ngram_valid: Option<f64>,
    /// [`NgramBranch::cnn_unused_note`] of the fitted branch.
    cnn_note: Option<String>,
}

/// The n-gram branch (`ngram-cnn`, `ngram`): fitted next to the best network (`best`, where it
/// is put), reported; `None` when the run was interrupted in it (reported too).
fn ngram_branch_stage(
    data: &TrainData,
    run: &Run,
    output: &Path,
    options: &TrainOptions,
    best: &mut Bundle,
    observer: &mut dyn TrainObserver,
) -> Result<Option<FittedBranch>> {
    let prep = &run.prep;
    let head = run.head.as_ref();
    let stage = StageTimer::start(observer, Stage::NgramBranch);
    // Token lists live for this stage only (see `prepare`), interned (one table of distinct
    // tokens, a `u32` per token) as they are made, a chunk of texts at a time.
    let mut interned = InternedDocs::default();
    for texts in [data.train.texts(), data.valid.texts()] {
        for chunk in texts.chunks(crate::predict::TOKENIZE_CHUNK) {
            for doc in tokenize_all(&prep.pipeline.tokenizer, chunk) {
                interned.push(doc);
            }
        }
    }
    let docs = interned.docs();
    let (train_tokens, valid_tokens) = docs.split_at(data.train.len());
    // No network (`--arch ngram`): the branch alone.
    let cnn_valid_logits = best.model.embedding().is_some().then(|| {
        crate::predict::logits(&best.model, &prep.valid_enc, prep.pipeline.encode.min_len)
    });
    // The projection cache (up to 256 MiB) is rebuilt for the test set after the branch's fit.
    best.model.release_proj_cache();
    let branch_data = ngram_stage::BranchData {
        train_docs: train_tokens,
        train: &prep.train_t,
        valid_docs: valid_tokens,
        valid: &prep.valid_t,
        cnn_valid_logits: cnn_valid_logits.as_deref(),
        labels: prep.labels.len(),
        parent: options
            .start_from
            .as_ref()
            .and_then(|s| s.bundle.ngram.as_ref().zip(s.bundle.config.ngram.as_ref())),
        stop: options.interrupt.as_deref(),
    };
    let started = Instant::now();
    let Some((model, branch, probs)) = ngram_stage::fit_branch_held_out(head, &branch_data)? else {
        observer.interrupted();
        observer.message(
            MessageKind::Interrupted,
            &format!(
                "interrupted in the n-gram stage after {:.1} s: every epoch is done and in the \
                 checkpoint, the branch is not fitted, and {} is refused as unfinished; \
                 `textcnn train --resume {}` fits the branch (no epoch is trained again)",
                started.elapsed().as_secs_f64(),
                output.display(),
                output.display()
            ),
        );
        return Ok(None);
    };
    report_branch(head, &branch, started, observer);
    let fitted = FittedBranch {
        valid_probs: probs,
        ngram_valid: branch.validation["mixed"].as_f64(),
        cnn_note: branch.cnn_unused_note(),
    };
    add_branch(best, model, branch);
    stage.finish(observer);
    Ok(Some(fitted))
}

/// The final model on the test set, when one was given: its scores, written to
/// `output/report.json`.
fn test_stage(
    data: &TrainData,
    run: &Run,
    classifier: &Classifier,
    cnn_note: Option<&str>,
    output: &Path,
) -> Result<Option<Box<dyn Scores>>> {
    let prep = &run.prep;
    let (Some(targets), Some(ds), Some(enc)) = (&prep.test_t, data.test, &prep.test_enc) else {
        return Ok(None);
    };
    // The n-gram branch's token lists are made a chunk at a time, never all held.
    let probs = classifier.probabilities_of_encoded(&ds.texts(), enc);
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
/// size, `C`, mixture and validation figures, and the seconds its fits took since `started`
/// (the stage's own time, in `--verbose`, also counts tokenizing the texts).
fn report_branch(
    head: &dyn Head,
    branch: &NgramBranch,
    started: Instant,
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
    let seconds = started.elapsed().as_secs_f64();
    let message = if v.get("cnn").is_some() {
        format!(
            "n-gram branch: {}, {} n-grams, C = {}, mix cnn {:.1} n-gram {:.1}; valid {name} cnn {:.4}, n-gram {:.4}, mixed {:.4} (fitted in {seconds:.1} s)",
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
            "n-gram branch: {}, {} n-grams, C = {}; valid {name} {:.4} (fitted in {seconds:.1} s)",
            branch.features.describe(),
            branch.num_features,
            branch.c,
            figure("ngram"),
        )
    };
    observer.message(MessageKind::Info, &message);
    if let Some(note) = branch.cnn_unused_note() {
        observer.message(MessageKind::Warning, &note);
    }
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
