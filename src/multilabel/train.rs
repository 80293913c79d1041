//! Multi-label training: the CNN (any architecture) with one sigmoid per label and binary
//! cross-entropy, early stopping on a validation metric (micro-F1 by default), then, for
//! `ngram-cnn`, the one-vs-rest n-gram branch and its mixture, then per-label thresholds, all
//! chosen on the validation split; the bundle, `metrics.jsonl` and `report.json` (test set) are
//! written to the output folder.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::data::MultiDataset;
use super::metrics::{MultiLabelReport, apply_thresholds, tune_thresholds};
use super::{DEFAULT_THRESHOLD, MultiLabelConfig, mix_logits};
use crate::batch::real_length;
use crate::bundle::{self, Bundle, BundleConfig, FORMAT_VERSION, NgramBranch};
use crate::fsutil::write_atomic;
use crate::model::{Architecture, Model, Trainer};
use crate::ngram::logreg::nb_scale_multi_label;
use crate::ngram::{LogReg, LogRegFit, MixWeights, NgramFeaturizer, NgramModel};
use crate::nn::loss::{sigmoid, sigmoid_binary_cross_entropy};
use crate::text::{Encoded, TextPipeline, Tokenizer, Vocab, encode, tokenize_all};
use crate::train::EpochProgress;
use crate::train::fit::{
    EpochCtx, EpochData, TrainTargets, epoch_batches, improves, train_batches, write_metrics,
};
use crate::train::ngram_stage::{C_PATH, NB_FLOOR, NB_SMOOTHING, ngram_configs, path_turned};
use crate::train::{
    ArchKind, ClassWeight, EpochEnd, EpochMetrics, MessageKind, RunStart, TrainConfig,
    TrainObserver, describe_architecture,
};

/// Thresholds tried for each label (0.05, 0.10, …, 0.95).
pub const THRESHOLD_GRID: [f32; 19] = [
    0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80,
    0.85, 0.90, 0.95,
];
/// Validation texts a label needs to get its own threshold; rarer labels keep
/// [`DEFAULT_THRESHOLD`] (a threshold fitted to one or two texts is noise).
pub const MIN_POSITIVES_FOR_THRESHOLD: usize = 3;
/// `k` of the P@k / R@k figures in reports.
pub const REPORT_KS: [usize; 3] = [1, 3, 5];

/// The datasets of one run; labels are those of `train` and `valid` together.
pub struct MultiTrainData<'a> {
    /// Training texts (vocabulary, CNN, n-gram branch).
    pub train: &'a MultiDataset,
    /// Validation texts: early stopping, `C`, the mixture and the thresholds.
    pub valid: &'a MultiDataset,
    /// Test texts, evaluated once at the end (`report.json`).
    pub test: Option<&'a MultiDataset>,
    /// Set (by Ctrl-C) to end training after the current batch: the run then finishes its
    /// later stages with the best epoch so far (a multi-label run cannot be resumed).
    pub interrupt: Option<&'a std::sync::atomic::AtomicBool>,
}

/// One line of `metrics.jsonl` in a multi-label run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MultiEpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean binary cross-entropy (summed over labels) of the epoch's batches, with dropout.
    pub train_loss: f64,
    /// Share of training texts whose every label was right at 0.5.
    pub train_subset_acc: f64,
    /// Mean binary cross-entropy of the validation texts (no dropout, unweighted).
    pub valid_loss: f64,
    /// Validation micro-F1, macro-F1 and subset accuracy with every threshold at 0.5.
    pub valid_micro_f1: f64,
    /// Validation macro-F1 (all labels) at 0.5.
    pub valid_macro_f1: f64,
    /// Validation subset accuracy at 0.5.
    pub valid_subset_acc: f64,
    /// Learning rate of the epoch.
    pub lr: f32,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
    /// Training examples per second.
    pub examples_per_s: f64,
}

/// Result of [`train_multi_label`].
pub struct MultiTrainOutcome {
    /// Every epoch's metrics (as in `metrics.jsonl`).
    pub history: Vec<MultiEpochMetrics>,
    /// The epoch whose CNN is kept.
    pub best: MultiEpochMetrics,
    /// The final model (mixture, thresholds) on the validation split.
    pub valid: MultiLabelReport,
    /// The final model on the test set, when given.
    pub test: Option<MultiLabelReport>,
    /// Labels of the test data unknown to the model, with counts (left out of its targets).
    pub test_unknown_labels: std::collections::BTreeMap<String, usize>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// Training was cut short by [`MultiTrainData::interrupt`] (the bundle holds the best
    /// epoch before it).
    pub interrupted: bool,
}

/// Trains a multi-label model and writes its bundle to `output` (which the caller has checked
/// and locked). Messages and epochs are reported to `observer`; `run_info`
/// is stored in the bundle.
///
/// # Errors
/// Invalid settings, labels with control characters, no label with a training example, an
/// empty vocabulary, an unreadable `--class-weight` file, a non-finite loss, or a file that
/// cannot be written.
pub fn train_multi_label(
    config: &TrainConfig,
    data: &MultiTrainData,
    output: &Path,
    observer: &mut dyn TrainObserver,
    run_info: serde_json::Value,
) -> Result<MultiTrainOutcome> {
    config.validate()?;
    let pool = crate::nn::thread_pool(config.threads);
    pool.install(|| train_in_pool(config, data, output, observer, run_info))
}

/// Stage 1 of a multi-label run: labels, targets, tokens, vocabulary and encodings.
struct MultiPrepared {
    labels: Vec<String>,
    train_t: Vec<f32>,
    valid_t: Vec<f32>,
    test_t: Option<Vec<f32>>,
    test_unknown: std::collections::BTreeMap<String, usize>,
    train_tokens: Vec<Vec<String>>,
    valid_tokens: Vec<Vec<String>>,
    train_enc: Vec<Encoded>,
    valid_enc: Vec<Encoded>,
    pipeline: TextPipeline,
}

/// Stage 1: the labels of train and valid, multi-hot targets, the vocabulary of the training
/// texts and the encoded texts.
fn prepare(
    config: &TrainConfig,
    data: &MultiTrainData,
    observer: &mut dyn TrainObserver,
) -> Result<MultiPrepared> {
    let mut labels = data.train.labels();
    labels.extend(data.valid.labels());
    labels.sort();
    labels.dedup();
    crate::bundle::check_labels(&labels)
        .with_context(|| format!("the training data {}", data.train.name))?;
    if data.valid.is_empty() {
        bail!("the validation data {} has no examples", data.valid.name);
    }
    let k = labels.len();
    if k < 2 {
        bail!(
            "the training data {} has {k} label(s); multi-label training needs at least 2 (one \
             label is a binary single-label task)",
            data.train.name
        );
    }
    let (train_t, _) = data.train.targets(&labels);
    let (valid_t, _) = data.valid.targets(&labels);
    let (test_t, test_unknown) = match data.test {
        Some(t) => {
            let (tt, unknown) = t.targets(&labels);
            (Some(tt), unknown)
        }
        None => (None, Default::default()),
    };
    let tokenizer = Tokenizer::new(config.tokenizer.clone());
    let train_tokens = tokenize_all(&tokenizer, &data.train.texts());
    let vocab = Vocab::build(
        train_tokens.iter().map(|t| t.as_slice()),
        config.min_count,
        Some(config.vocab_size),
    );
    if vocab.len() <= 2 {
        bail!(
            "the vocabulary is empty: no token of {} occurs at least --min-count {} times",
            data.train.name,
            config.min_count
        );
    }
    let encode_config = config.encode();
    let train_enc: Vec<Encoded> = train_tokens
        .iter()
        .map(|t| encode(t, &vocab, &encode_config))
        .collect();
    let pipeline = TextPipeline {
        tokenizer,
        vocab,
        encode: encode_config,
    };
    let (valid_tokens, valid_enc) = pipeline.tokenize_and_encode(&data.valid.texts());
    observer.message(
        MessageKind::Info,
        &format!(
            "multi-label data: {} train / {} valid{} examples, {k} labels, vocabulary {}",
            data.train.len(),
            data.valid.len(),
            data.test
                .map(|t| format!(" / {} test", t.len()))
                .unwrap_or_default(),
            pipeline.vocab.len()
        ),
    );
    Ok(MultiPrepared {
        labels,
        train_t,
        valid_t,
        test_t,
        test_unknown,
        train_tokens,
        valid_tokens,
        train_enc,
        valid_enc,
        pipeline,
    })
}

/// What stage 2 of a multi-label run leaves.
struct CnnFit {
    arch: Architecture,
    /// `pos_weight` of each label (`--class-weight`).
    pos_weight: Option<Vec<f32>>,
    history: Vec<MultiEpochMetrics>,
    /// The best epoch and its model.
    best: MultiEpochMetrics,
    model: Model,
    /// Training ended at an interruption (Ctrl-C).
    interrupted: bool,
}

/// Stage 2 of a multi-label run: the CNN trained with one sigmoid per label, validated after
/// every epoch, stopped early or by `interrupt`.
fn fit_cnn(
    config: &TrainConfig,
    prep: &MultiPrepared,
    output: &Path,
    interrupt: Option<&std::sync::atomic::AtomicBool>,
    observer: &mut dyn TrainObserver,
) -> Result<CnnFit> {
    let MultiPrepared {
        labels,
        train_t,
        valid_t,
        train_enc,
        valid_enc,
        pipeline,
        ..
    } = prep;
    let k = labels.len();
    let wants_ngram = config.arch == ArchKind::NgramCnn;
    let arch = config.architecture(pipeline.vocab.len(), k);
    let longest = train_enc.iter().map(|e| e.ids.len()).max().unwrap_or(1);
    let batch = config.batch_size.min(train_enc.len()).max(1);
    crate::train::check_training_memory(&arch, longest, batch)?;
    observer.message(
        MessageKind::Info,
        &format!(
            "model: {}{}, one sigmoid per label, binary cross-entropy",
            if wants_ngram {
                "ngram-cnn = one-vs-rest n-gram branch (fitted after the CNN) + "
            } else {
                ""
            },
            describe_architecture(&arch)
        ),
    );
    let pos_weight = positive_weights(&config.class_weight, labels, train_t)?;
    let initial = with_prior_bias(Model::new(&arch, config.seed), train_t, k)?;
    let mut trainer = Trainer::new(initial, config.optimizer());
    trainer.set_class_weights(pos_weight.clone());

    let lengths: Vec<usize> = train_enc.iter().map(real_length).collect();
    let max_epochs = config.max_epochs(train_enc.len().div_ceil(batch));
    let mut history: Vec<MultiEpochMetrics> = Vec::new();
    let mut best: Option<(MultiEpochMetrics, EpochMetrics, Model)> = None;
    let default_thresholds = vec![DEFAULT_THRESHOLD; k];
    let hyperparameters = serde_json::to_value(config)?;
    observer.run_started(&RunStart {
        hyperparameters: &hyperparameters,
        labels,
        max_epochs,
        train_examples: train_enc.len(),
        valid_examples: valid_enc.len(),
        num_params: arch.num_params(),
        first_epoch: 1,
    });
    let targets = TrainTargets::MultiHot {
        targets: train_t,
        labels: k,
    };
    let epoch_data = EpochData {
        train_enc,
        min_len: pipeline.encode.min_len,
        targets: &targets,
    };
    // The single-label run's progress record: counters of the epoch, the patience count.
    let mut progress = EpochProgress::start();
    let mut interrupted = false;
    while progress.epoch <= max_epochs {
        let epoch = progress.epoch;
        let started = Instant::now();
        let lr = config.lr * config.lr_decay.powi(epoch as i32 - 1);
        trainer.set_lr(lr);
        let batches = epoch_batches(config, epoch, &lengths);
        observer.epoch_started(epoch, max_epochs, batches.len(), 0);
        let ctx = EpochCtx {
            epoch,
            lr,
            started,
            batches: &batches,
            max_epochs,
        };
        let stop = || interrupt.is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst));
        if !train_batches(
            config,
            &mut trainer,
            &epoch_data,
            &ctx,
            &mut progress,
            &stop,
            observer,
        )? {
            observer.interrupted();
            let Some((best, _, _)) = &best else {
                bail!(
                    "interrupted during the first epoch (batch {} of {}): no epoch to save",
                    progress.step,
                    batches.len()
                );
            };
            observer.message(
                MessageKind::Interrupted,
                &format!(
                    "interrupted at epoch {epoch}, batch {}: the run finishes with the best epoch so far ({})",
                    progress.step, best.epoch
                ),
            );
            interrupted = true;
            break;
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let (loss_sum, right, seen) = (progress.loss_sum, progress.correct, progress.seen);
        let model = trainer.model();
        let logits = crate::predict::logits(&model, valid_enc, pipeline.encode.min_len);
        let valid_loss = mean_bce(&logits, valid_t, k);
        let probs: Vec<f32> = logits.iter().map(|&z| sigmoid(z)).collect();
        let report = report_of(labels, valid_t, &probs, &default_thresholds, false);
        let metrics = MultiEpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_subset_acc: right as f64 / seen.max(1) as f64,
            valid_loss,
            valid_micro_f1: report.micro_avg.f1,
            valid_macro_f1: report.macro_avg.f1,
            valid_subset_acc: report.subset_accuracy,
            lr,
            seconds: started.elapsed().as_secs_f64(),
            examples_per_s: seen as f64 / train_seconds.max(1e-9),
        };
        let common = EpochMetrics {
            epoch,
            train_loss: metrics.train_loss,
            train_acc: metrics.train_subset_acc,
            valid_loss: metrics.valid_loss,
            valid_acc: metrics.valid_subset_acc,
            valid_macro_f1: metrics.valid_macro_f1,
            valid_micro_f1: Some(metrics.valid_micro_f1),
            lr,
            seconds: metrics.seconds,
            examples_per_s: metrics.examples_per_s,
        };
        let improved = improves(config.metric, &common, best.as_ref().map(|(_, b, _)| b));
        observer.epoch_finished(&EpochEnd {
            metrics: &common,
            max_epochs,
            improved,
            metric: config.metric,
            steps: batches.len(),
        });
        history.push(metrics.clone());
        write_metrics(output, &history)?;
        if improved {
            best = Some((metrics, common, model));
            progress.bad_epochs = 0;
        } else {
            progress.bad_epochs += 1;
            if progress.bad_epochs >= config.patience.max(1) {
                observer.early_stopped(config.metric, progress.bad_epochs);
                break;
            }
        }
        progress.next_epoch();
    }
    let (best_metrics, _, model) = best.expect("at least one epoch ran");

    Ok(CnnFit {
        arch,
        pos_weight,
        history,
        best: best_metrics,
        model,
        interrupted,
    })
}

/// Stage 3 of a multi-label run: for `ngram-cnn` the one-vs-rest n-gram branch and its
/// mixture, then the per-label thresholds, all on the validation split.
#[allow(clippy::type_complexity)]
fn branch_and_thresholds(
    config: &TrainConfig,
    prep: &MultiPrepared,
    model: &Model,
    pos_weight: Option<Vec<f32>>,
    observer: &mut dyn TrainObserver,
) -> Result<(
    Option<NgramModel>,
    Option<NgramBranch>,
    MultiLabelConfig,
    MultiLabelReport,
)> {
    let MultiPrepared {
        labels,
        train_t,
        valid_t,
        train_tokens,
        valid_tokens,
        valid_enc,
        pipeline,
        ..
    } = prep;
    let k = labels.len();
    let wants_ngram = config.arch == ArchKind::NgramCnn;
    let default_thresholds = vec![DEFAULT_THRESHOLD; k];
    // The n-gram branch and the mixture, then the thresholds, on the validation split.
    let cnn_valid = crate::predict::logits(model, valid_enc, pipeline.encode.min_len);
    let mut validation = serde_json::Map::new();
    let (ngram, branch, valid_logits) = if wants_ngram {
        let t0 = Instant::now();
        let fitted = fit_branch(train_tokens, train_t, valid_tokens, valid_t, &cnn_valid, k)?;
        observer.message(
            MessageKind::Info,
            &format!("n-gram branch (one-vs-rest): {} n-grams, C = {}, mix cnn {:.1} n-gram {:.1}; valid micro-f1 at 0.5: cnn {:.4}, n-gram {:.4}, mixed {:.4} ({:.1} s)",
                fitted.branch.num_features,
                fitted.branch.c,
                fitted.branch.mix.cnn,
                fitted.branch.mix.ngram,
                fitted.branch.validation["cnn_micro_f1"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                fitted.branch.validation["ngram_micro_f1"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                fitted.branch.validation["mixed_micro_f1"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                t0.elapsed().as_secs_f64()),
        );
        (
            Some(fitted.model),
            Some(fitted.branch),
            fitted.valid_mixed_logits,
        )
    } else {
        (None, None, cnn_valid)
    };
    let valid_probs: Vec<f32> = valid_logits.iter().map(|&z| sigmoid(z)).collect();
    let valid_truth: Vec<bool> = valid_t.iter().map(|&v| v >= 0.5).collect();
    let at_default = report_of(labels, valid_t, &valid_probs, &default_thresholds, false);
    let thresholds = tune_thresholds(
        &valid_probs,
        &valid_truth,
        k,
        &THRESHOLD_GRID,
        DEFAULT_THRESHOLD,
        MIN_POSITIVES_FOR_THRESHOLD,
    );
    let valid_report = report_of(labels, valid_t, &valid_probs, &thresholds, true);
    let tuned = thresholds
        .iter()
        .filter(|&&t| t != DEFAULT_THRESHOLD)
        .count();
    validation.insert("micro_f1_at_default".into(), at_default.micro_avg.f1.into());
    validation.insert("micro_f1_tuned".into(), valid_report.micro_avg.f1.into());
    validation.insert("macro_f1_tuned".into(), valid_report.macro_avg.f1.into());
    validation.insert("thresholds_changed".into(), tuned.into());
    observer.message(
        MessageKind::Info,
        &format!("thresholds: {tuned} of {k} labels moved from {DEFAULT_THRESHOLD} (labels with at least {MIN_POSITIVES_FOR_THRESHOLD} validation texts); valid micro-f1 {:.4} -> {:.4}",
            at_default.micro_avg.f1, valid_report.micro_avg.f1),
    );
    let multi_label = MultiLabelConfig {
        thresholds,
        default_threshold: DEFAULT_THRESHOLD,
        pos_weight: pos_weight.clone(),
        validation: validation.into(),
    };
    Ok((ngram, branch, multi_label, valid_report))
}

fn train_in_pool(
    config: &TrainConfig,
    data: &MultiTrainData,
    output: &Path,
    observer: &mut dyn TrainObserver,
    run_info: serde_json::Value,
) -> Result<MultiTrainOutcome> {
    let started = Instant::now();
    let prep = prepare(config, data, observer)?;
    let CnnFit {
        arch,
        pos_weight,
        history,
        best: best_metrics,
        model,
        interrupted,
    } = fit_cnn(config, &prep, output, data.interrupt, observer)?;
    let (ngram, branch, multi_label, valid_report) =
        branch_and_thresholds(config, &prep, &model, pos_weight, observer)?;
    let MultiPrepared {
        labels,
        test_t,
        test_unknown,
        train_enc,
        valid_enc,
        pipeline,
        ..
    } = prep;
    let summary = serde_json::json!({
        "train": part_summary(data.train, &train_enc),
        "valid": part_summary(data.valid, &valid_enc),
        "test": data.test.map(|t| serde_json::json!({
            "name": t.name,
            "examples": t.len(),
            "labels": t.label_counts(),
            "label_cardinality": t.cardinality(),
            "without_label": t.unlabelled(),
        })),
    });
    let bundle = Bundle {
        config: BundleConfig {
            format_version: FORMAT_VERSION,
            textcnn_version: env!("CARGO_PKG_VERSION").to_string(),
            architecture: arch,
            tokenizer: pipeline.tokenizer.config().clone(),
            encode: pipeline.encode.clone(),
            labels: labels.clone(),
            training: serde_json::json!({ "config": config, "run": run_info, "transfer": {} }),
            dataset: summary,
            best: serde_json::to_value(&best_metrics)?,
            parent: None,
            ngram: branch,
            multi_label: Some(multi_label),
        },
        model,
        vocab: pipeline.vocab.clone(),
        ngram,
    };
    bundle.save(output)?;

    let test = match (data.test, &test_t) {
        (Some(ds), Some(t)) => {
            let classifier = crate::predict::Classifier::from_bundle(bundle);
            let probs = classifier.probabilities(&ds.texts()).1;
            let thresholds = &classifier
                .bundle()
                .config
                .multi_label
                .as_ref()
                .expect("set above")
                .thresholds;
            let report = report_of(&labels, t, &probs, thresholds, true);
            let json = serde_json::json!({
                "data": ds.name,
                "multi_label": true,
                "unknown_labels": test_unknown,
                "report": report,
            });
            write_atomic(
                &output.join(bundle::REPORT_FILE),
                &serde_json::to_vec_pretty(&json)?,
            )?;
            Some(report)
        }
        _ => None,
    };
    Ok(MultiTrainOutcome {
        history,
        best: best_metrics,
        valid: valid_report,
        test,
        test_unknown_labels: test_unknown,
        seconds: started.elapsed().as_secs_f64(),
        interrupted,
    })
}

/// The report of probabilities `[n, labels]` against multi-hot targets at `thresholds`, with
/// P@k / R@k for the k of [`REPORT_KS`] up to the label count when `at_k`.
pub fn report_of(
    labels: &[String],
    targets: &[f32],
    probs: &[f32],
    thresholds: &[f32],
    at_k: bool,
) -> MultiLabelReport {
    let truth: Vec<bool> = targets.iter().map(|&v| v >= 0.5).collect();
    let predicted = apply_thresholds(probs, thresholds);
    // k up to the number of labels.
    let ks: Vec<usize> = REPORT_KS
        .iter()
        .copied()
        .filter(|&k| at_k && k <= labels.len())
        .collect();
    MultiLabelReport::new(labels, &truth, &predicted, at_k.then_some(probs), &ks)
}

/// Positive weight of each label in the loss: `balanced` gives `n_negative / n_positive` of
/// the training texts (PyTorch's suggested `pos_weight`; 1 for a label without positives), a
/// JSON file (`{"label": weight}`) the weight of every label, checked as the single-label
/// `--class-weight FILE` is.
fn positive_weights(
    weight: &ClassWeight,
    labels: &[String],
    targets: &[f32],
) -> Result<Option<Vec<f32>>> {
    let k = labels.len();
    let n = targets.len() / k.max(1);
    match weight {
        ClassWeight::None => Ok(None),
        ClassWeight::Balanced => Ok(Some(
            (0..k)
                .map(|c| {
                    let pos = (0..n).filter(|&i| targets[i * k + c] >= 0.5).count();
                    // A label on no text or on every text has nothing to balance: weight 1
                    // (n_negative / n_positive would be 0 for the latter, erasing its loss).
                    if pos == 0 || pos == n {
                        1.0
                    } else {
                        (n - pos) as f32 / pos as f32
                    }
                })
                .collect(),
        )),
        ClassWeight::File(_) => {
            // One entry per positive occurrence, so that every label with a training text
            // counts as a training label for the file's checks.
            let occurrences: Vec<&str> = (0..n)
                .flat_map(|i| (0..k).filter(move |&c| targets[i * k + c] >= 0.5))
                .map(|c| labels[c].as_str())
                .collect();
            weight.resolve(labels, &occurrences)
        }
    }
}

/// The model with its output bias set to the log-odds of each label's training frequency,
/// `ln(π / (1 − π))` (π clamped to [1e-4, 1 − 1e-4]): every sigmoid starts at its label's base
/// rate instead of 0.5, so the first epochs are not spent learning that most labels are rare
/// (the "prior" initialization of Lin et al. 2017, *Focal Loss for Dense Object Detection*,
/// §4.1).
///
/// # Errors
/// Only if the model has no `fc.bias` of `k` entries (both architectures have one).
pub fn with_prior_bias(model: Model, targets: &[f32], k: usize) -> Result<Model> {
    let n = (targets.len() / k.max(1)).max(1) as f32;
    let arch = model.architecture();
    let mut tensors: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> = model
        .named_params()
        .into_iter()
        .map(|(name, shape, data)| (name, (shape, data.to_vec())))
        .collect();
    let Some((shape, bias)) = tensors.get_mut("fc.bias") else {
        bail!("the model has no output bias fc.bias");
    };
    if shape.as_slice() != [k] {
        bail!("fc.bias has shape {shape:?}, expected [{k}]");
    }
    for (c, b) in bias.iter_mut().enumerate() {
        let pos: f32 = targets.iter().skip(c).step_by(k).sum();
        let pi = (pos / n).clamp(1e-4, 1.0 - 1e-4);
        *b = (pi / (1.0 - pi)).ln();
    }
    Model::from_named_params(&arch, &tensors)
}

/// Mean binary cross-entropy (summed over labels) of logits against targets, unweighted.
fn mean_bce(logits: &[f32], targets: &[f32], k: usize) -> f64 {
    if logits.is_empty() {
        return 0.0;
    }
    let mut d = vec![0.0; logits.len()];
    sigmoid_binary_cross_entropy(logits, targets, k, None, &mut d).0 as f64
}

/// The n-gram branch of a multi-label `ngram-cnn` and the mixed validation logits.
struct FittedBranch {
    model: NgramModel,
    branch: NgramBranch,
    valid_mixed_logits: Vec<f32>,
}

/// The best micro-F1 over one threshold shared by all labels (of [`THRESHOLD_GRID`]): how C is
/// chosen, independent of the calibration that the mixture fixes later.
fn best_shared_threshold_micro_f1(probs: &[f32], targets: &[f32]) -> f64 {
    let positives = targets.iter().filter(|&&t| t >= 0.5).count() as f64;
    THRESHOLD_GRID
        .iter()
        .map(|&th| {
            let (mut tp, mut fp) = (0.0, 0.0);
            for (&p, &t) in probs.iter().zip(targets) {
                if p >= th {
                    if t >= 0.5 { tp += 1.0 } else { fp += 1.0 }
                }
            }
            if tp == 0.0 {
                0.0
            } else {
                2.0 * tp / (2.0 * tp + fp + (positives - tp))
            }
        })
        .fold(0.0, f64::max)
}

fn micro_f1_at_half(logits: &[f32], targets: &[f32]) -> f64 {
    let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
    for (&z, &t) in logits.iter().zip(targets) {
        match (z >= 0.0, t >= 0.5) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fneg += 1.0,
            _ => {}
        }
    }
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fneg)
    }
}

/// Fits the one-vs-rest n-gram branch: `C` from [`C_PATH`] by validation micro-F1 (at the best
/// shared threshold; the path stops after the first fall, see [`path_turned`]), the mixture
/// weights `a`, `b` of `a · z_cnn + b · z_ngram` from {0, 0.1, …, 4}² (not both 0) by
/// validation log-loss, then a refit on training + validation
/// texts with the chosen `C` (as the single-label stage does, [`crate::train::ngram_stage`]).
fn fit_branch(
    train_docs: &[Vec<String>],
    train_t: &[f32],
    valid_docs: &[Vec<String>],
    valid_t: &[f32],
    cnn_valid_logits: &[f32],
    k: usize,
) -> Result<FittedBranch> {
    // The first (preferred) feature set of the single-label rules; the alternatives are not
    // searched here.
    let config = ngram_configs(train_docs).swap_remove(0);
    let featurizer = NgramFeaturizer::fit(train_docs, config.clone())?;
    let x_train = featurizer.transform_all(train_docs);
    let x_valid = featurizer.transform_all(valid_docs);
    let scale = nb_scale_multi_label(&x_train, train_t, k, NB_SMOOTHING, NB_FLOOR);
    let mut path = Vec::new();
    let mut best: Option<(f64, f64, Vec<f32>, LogReg)> = None;
    let mut warm: Option<LogReg> = None;
    let mut prev_f1: Option<f64> = None;
    for c in C_PATH {
        let settings = LogRegFit {
            c,
            ..LogRegFit::default()
        };
        let (model, _) =
            LogReg::fit_multi_label(&x_train, train_t, k, settings, warm.as_ref(), Some(&scale));
        let logits = model.logits(&x_valid);
        let probs: Vec<f32> = logits.iter().map(|&z| sigmoid(z)).collect();
        let f1 = best_shared_threshold_micro_f1(&probs, valid_t);
        path.push(serde_json::json!({ "c": c, "valid_micro_f1_best_shared_threshold": f1 }));
        if best.as_ref().is_none_or(|b| f1 > b.0) {
            best = Some((f1, c, logits, model.clone()));
        }
        if path_turned(prev_f1, f1) {
            break;
        }
        prev_f1 = Some(f1);
        warm = Some(model);
    }
    let (_, c, ngram_logits, chosen) = best.expect("C_PATH is not empty");
    let mix = choose_logit_mix(cnn_valid_logits, &ngram_logits, valid_t, k);
    let mixed = mix_logits(cnn_valid_logits, &ngram_logits, mix);
    let validation = serde_json::json!({
        "cnn_micro_f1": micro_f1_at_half(cnn_valid_logits, valid_t),
        "ngram_micro_f1": micro_f1_at_half(&ngram_logits, valid_t),
        "mixed_micro_f1": micro_f1_at_half(&mixed, valid_t),
        "c_path": path,
    });
    let all_docs: Vec<&Vec<String>> = train_docs.iter().chain(valid_docs).collect();
    let all_t: Vec<f32> = train_t.iter().chain(valid_t).copied().collect();
    let refit_featurizer = NgramFeaturizer::fit(&all_docs, config.clone())?;
    let x_all = refit_featurizer.transform_all(&all_docs);
    let start = chosen.remap(&featurizer, &refit_featurizer);
    let scale = nb_scale_multi_label(&x_all, &all_t, k, NB_SMOOTHING, NB_FLOOR);
    let settings = LogRegFit {
        c,
        ..LogRegFit::default()
    };
    let (logreg, _) =
        LogReg::fit_multi_label(&x_all, &all_t, k, settings, Some(&start), Some(&scale));
    let branch = NgramBranch {
        model: "ngram-cnn".to_string(),
        features: config,
        num_features: refit_featurizer.num_features(),
        c,
        mix,
        validation,
    };
    Ok(FittedBranch {
        model: NgramModel {
            featurizer: refit_featurizer,
            logreg,
        },
        branch,
        valid_mixed_logits: mixed,
    })
}

/// The weights `a`, `b` in {0, 0.1, …, 4} (not both 0; the first in grid order on ties) that
/// minimise the validation binary cross-entropy of `σ(a · z_cnn + b · z_ngram)`: a stacked
/// combination on the logit scale, which also calibrates both branches.
pub fn choose_logit_mix(cnn: &[f32], ngram: &[f32], targets: &[f32], k: usize) -> MixWeights {
    let mut best = (
        f64::INFINITY,
        MixWeights {
            cnn: 1.0,
            ngram: 0.0,
        },
    );
    let mut d = vec![0.0; cnn.len()];
    for i in 0..=40 {
        for j in 0..=40 {
            if i == 0 && j == 0 {
                continue;
            }
            let w = MixWeights {
                cnn: i as f32 / 10.0,
                ngram: j as f32 / 10.0,
            };
            let z = mix_logits(cnn, ngram, w);
            let loss = sigmoid_binary_cross_entropy(&z, targets, k, None, &mut d).0 as f64;
            if loss < best.0 {
                best = (loss, w);
            }
        }
    }
    best.1
}

fn part_summary(ds: &MultiDataset, enc: &[Encoded]) -> serde_json::Value {
    let mut summary = crate::train::fit::encoding_summary(enc);
    summary.insert("name".into(), ds.name.clone().into());
    summary.insert("examples".into(), ds.len().into());
    summary.insert("labels".into(), serde_json::json!(ds.label_counts()));
    summary.insert("label_cardinality".into(), ds.cardinality().into());
    summary.insert("without_label".into(), serde_json::json!(ds.unlabelled()));
    summary.insert("skipped_rows".into(), ds.skipped.len().into());
    serde_json::Value::Object(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_positive_weights_are_negatives_over_positives() {
        let labels = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        // 4 texts: a in 1, b in 3, c in none.
        let t = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let w = positive_weights(&ClassWeight::Balanced, &labels, &t).unwrap();
        assert_eq!(w, Some(vec![3.0, 1.0 / 3.0, 1.0]));
        assert_eq!(
            positive_weights(&ClassWeight::None, &labels, &t).unwrap(),
            None
        );
        // A label on every text keeps weight 1 (not 0 negatives / 2 positives).
        let labels = vec!["a".to_string(), "b".to_string()];
        let t = [1.0, 1.0, 1.0, 0.0];
        let w = positive_weights(&ClassWeight::Balanced, &labels, &t).unwrap();
        assert_eq!(w, Some(vec![1.0, 1.0]));
    }

    #[test]
    fn prior_bias_is_the_log_odds_of_each_label() {
        let arch = crate::model::Architecture::Kim(crate::model::KimConfig {
            vocab_size: 10,
            emb_dim: 4,
            region_sizes: vec![2],
            feature_maps: 3,
            num_classes: 2,
            dropout: 0.0,
            multichannel: false,
            pooling: Default::default(),
        });
        // 4 texts: label 0 in 1 of them, label 1 in 2.
        let t = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let m = with_prior_bias(Model::new(&arch, 1), &t, 2).unwrap();
        let params = m.named_params();
        let bias = params.iter().find(|p| p.0 == "fc.bias").unwrap().2;
        assert!((bias[0] - (0.25f32 / 0.75).ln()).abs() < 1e-6);
        assert!(bias[1].abs() < 1e-6);
    }

    #[test]
    fn logit_mix_prefers_the_informative_branch() {
        // The n-gram logits are right with margin, the CNN's are noise.
        let targets = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let ngram = [2.0, -2.0, 2.0, -2.0, -2.0, 2.0];
        let cnn = [-0.5, 0.5, 0.5, -0.5, 0.5, -0.5];
        let w = choose_logit_mix(&cnn, &ngram, &targets, 2);
        assert_eq!(w.cnn, 0.0);
        assert_eq!(w.ngram, 4.0);
    }
}
