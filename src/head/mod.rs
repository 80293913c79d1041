//! Heads: what a model's outputs mean and how they are trained, decided and scored.
//!
//! The network ([`crate::model`]) maps a text to one logit per label; the head says what those
//! logits are. Two heads exist:
//!
//! * [`SingleLabel`]: one label per text; softmax over the labels, (weighted) cross-entropy,
//!   the arg-max decides; scored by accuracy, per-class F1 and a confusion matrix.
//! * [`MultiLabel`]: any number of labels per text (none included); one sigmoid per label,
//!   binary cross-entropy, a label is decided when its probability reaches its own threshold
//!   (tuned on the validation split); scored by micro/macro F1, subset accuracy, P@k.
//!
//! Everything else (readers, split, vocabulary, the fit loop, the n-gram branch, the bundle,
//! prediction, explanations, reports, the HTTP service) is shared and asks the head through the
//! [`Head`] trait. The n-gram branch of `ngram-cnn` is fitted by one procedure
//! (`train::ngram_stage`) with the head's loss, score and mixture.
//!
//! Adding a head (ordinal ratings, hierarchical labels): its file here implementing [`Head`]
//! (and its bundle record, if it learns one), a variant of [`HeadKind`] with its constructor in
//! [`HeadKind::head`] and [`head_of_record`], and, when it learns a record, one field of the
//! bundle's `config.json` (`src/bundle.rs`). The CLI's `--head` choices and the Python API
//! follow from [`HeadKind`].

mod decision;
mod multi;
mod single;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub use decision::{
    Chosen, DEFAULT_THRESHOLD, Decisions, SHRINKAGE_SUPPORT, SetMetric, THRESHOLD_GRID,
    choose_thresholds,
};
pub use multi::{
    EXPLAINED_MULTI_LABEL, MultiLabel, MultiLabelConfig, REPORT_KS, choose_logit_mix, mix_logits,
    report_of, with_prior_bias,
};
pub use single::{EXPLAINED, SingleLabel, label_ids};

use crate::data::Dataset;
use crate::eval::{Metric, Scores};
use crate::model::Model;
use crate::ngram::logreg::{nb_scale, nb_scale_multi_label};
use crate::ngram::{Csr, LogReg, LogRegFit, MixWeights, NB_FLOOR, NB_SMOOTHING, NgramConfig};

/// The registry of heads: the `--head` choices, the Python API's `head=` and the `"head"` of a
/// run's record.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum HeadKind {
    /// One label per text: softmax and cross-entropy; the most probable label is predicted.
    #[default]
    SingleLabel,
    /// Any number of labels per text: one sigmoid per label, binary cross-entropy, per-label
    /// thresholds tuned on the validation split.
    MultiLabel,
}

impl HeadKind {
    /// The head, before training has calibrated it (multi-label: every threshold at
    /// [`DEFAULT_THRESHOLD`]).
    pub fn head(self) -> Arc<dyn Head> {
        match self {
            HeadKind::SingleLabel => Arc::new(SingleLabel),
            HeadKind::MultiLabel => Arc::new(MultiLabel::untrained()),
        }
    }

    /// Whether this is the default head (left out of a run's record).
    pub fn is_single_label(&self) -> bool {
        *self == HeadKind::SingleLabel
    }

    /// The name as the CLI and the records write it (`single-label`, `multi-label`).
    pub fn name(self) -> &'static str {
        match self {
            HeadKind::SingleLabel => "single-label",
            HeadKind::MultiLabel => "multi-label",
        }
    }
}

/// What a head keeps in a bundle's `config.json`, one optional field per head that learns
/// something (single-label keeps nothing, so bundles without a record are single-label).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeadRecord {
    /// `"multi_label"`: the multi-label thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_label: Option<MultiLabelConfig>,
}

/// The head of a bundle from its record (checked against the `labels` count).
///
/// # Errors
/// A record that does not fit the labels (see [`MultiLabelConfig::validate`]); the message
/// names the record's key.
pub fn head_of_record(record: &HeadRecord, labels: usize) -> Result<Arc<dyn Head>> {
    Ok(match &record.multi_label {
        Some(m) => {
            m.validate(labels).context("invalid \"multi_label\"")?;
            Arc::new(MultiLabel::calibrated(m.clone()))
        }
        None => Arc::new(SingleLabel),
    })
}

/// Labels of some data that a model lacks, with their counts.
pub type Unknown = BTreeMap<String, usize>;
/// `label (count), ...` of labels a model lacks, for messages.
pub fn describe_unknown(unknown: &Unknown) -> String {
    let v: Vec<String> = unknown.iter().map(|(l, n)| format!("{l} ({n})")).collect();
    v.join(", ")
}

/// A JSON object's fields.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// The targets of a list of examples, in the form the head's loss reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class index per example.
    Classes {
        /// Number of classes.
        labels: usize,
        /// `[n]`, each `< labels`.
        classes: Vec<usize>,
    },
    /// Multi-hot rows `[n, labels]`, row-major, each value 0 or 1.
    MultiHot {
        /// Labels per row.
        labels: usize,
        /// `[n, labels]`.
        values: Vec<f32>,
    },
}

impl Targets {
    /// Class indices `y` (each `< labels`) as targets.
    pub fn classes(labels: usize, classes: Vec<usize>) -> Targets {
        Targets::Classes { labels, classes }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { classes, .. } => classes.len(),
            Targets::MultiHot { labels, values } => values.len() / (*labels).max(1),
        }
    }

    /// Number of labels (the model's outputs).
    pub fn labels(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } | Targets::MultiHot { labels, .. } => *labels,
        }
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets of the examples `rows`, in that order.
    pub fn rows(&self, rows: &[usize]) -> Targets {
        match self {
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: *labels,
                classes: rows.iter().map(|&i| classes[i]).collect(),
            },
            Targets::MultiHot { labels, values } => {
                let k = *labels;
                let mut out = Vec::with_capacity(rows.len() * k);
                for &i in rows {
                    out.extend_from_slice(&values[i * k..(i + 1) * k]);
                }
                Targets::MultiHot {
                    labels: k,
                    values: out,
                }
            }
        }
    }

    /// These targets followed by `other`'s (the same kind and label count).
    ///
    /// # Panics
    /// When the two differ in kind or label count.
    pub fn concat(&self, other: &Targets) -> Targets {
        let labels = self.labels();
        assert_eq!(labels, other.labels(), "targets of different label counts");
        match (self, other) {
            (Targets::Classes { classes: a, .. }, Targets::Classes { classes: b, .. }) => {
                Targets::classes(labels, [a.as_slice(), b].concat())
            }
            (Targets::MultiHot { values: a, .. }, Targets::MultiHot { values: b, .. }) => {
                let values = [a.as_slice(), b].concat();
                Targets::MultiHot { labels, values }
            }
            _ => panic!("targets of different kinds cannot be joined"),
        }
    }

    /// The label indices of example `i` (ascending).
    pub fn truth(&self, i: usize) -> Vec<usize> {
        match self {
            Targets::Classes { classes, .. } => vec![classes[i]],
            Targets::MultiHot { labels, values } => (0..*labels)
                .filter(|&c| values[i * labels + c] >= 0.5)
                .collect(),
        }
    }

    /// The label indices of every example (see [`Targets::truth`]).
    pub fn label_sets(&self) -> Vec<Vec<usize>> {
        (0..self.len()).map(|i| self.truth(i)).collect()
    }
}

/// The validation figures of one epoch ([`Head::epoch_scores`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochScores {
    /// Mean loss of the validation texts (no dropout, unweighted).
    pub loss: f64,
    /// Accuracy (multi-label: subset accuracy at the default thresholds).
    pub acc: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// The figures of label sets, for heads where they differ from accuracy (multi-label).
    pub sets: Option<SetScores>,
}

/// Validation figures of predicted label sets ([`EpochScores::sets`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SetScores {
    /// Micro-averaged F1.
    pub micro_f1: f64,
    /// Jaccard index over samples.
    pub jaccard: f64,
}

/// What an explanation's logit is, as the JSON outputs name it and as `textcnn explain`
/// prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explained {
    /// The JSON `"explained"` field.
    pub json: &'static str,
    /// The words after "logit" in the text output (`centered`, `of the label's sigmoid`).
    pub short: &'static str,
}

impl Explained {
    /// What an explanation explains: its JSON `"explained"` and its short text form.
    pub const fn new(json: &'static str, short: &'static str) -> Explained {
        Explained { json, short }
    }
}

/// A model's head: how its logits become probabilities, decisions and a loss, how data becomes
/// its targets, how it is scored, and how the n-gram branch of `ngram-cnn` is fitted and mixed
/// in. Shapes are row-major, `[texts, labels]` unless said otherwise; probabilities lie in
/// [0, 1].
pub trait Head: fmt::Debug + Send + Sync {
    /// Its registry entry.
    fn kind(&self) -> HeadKind;

    /// What the model line of a run adds after the architecture (empty for none).
    fn describe(&self) -> &'static str;

    // ----- data

    /// Whether data is read as label sets (rows without a label are examples, malformed label
    /// fields are errors; [`crate::data::ReadOptions::multi_label`]).
    fn reads_label_sets(&self) -> bool;

    /// Whether the validation split is stratified by label (else one seeded shuffle).
    fn stratified_split(&self) -> bool;

    /// The labels a new model learns from its training and validation data, sorted.
    fn label_universe(&self, train: &Dataset, valid: &Dataset) -> Vec<String>;

    /// Checks that `labels` labels can be learnt (`data` names the training data).
    ///
    /// # Errors
    /// Too few labels for the head.
    fn check_label_count(&self, labels: usize, data: &str) -> Result<()>;

    /// The targets of `ds` for a model of `labels`, and the labels of `ds` the model lacks
    /// with their counts (left out of the targets, for heads that tolerate them).
    ///
    /// # Errors
    /// An example the head cannot take (no label, or one unknown to a single-label model);
    /// the message names the dataset and the example.
    fn targets(&self, ds: &Dataset, labels: &[String]) -> Result<(Targets, Unknown)>;

    /// Adds the head's own figures to a dataset's summary in the bundle (`config.json` →
    /// `dataset`).
    fn summarize(&self, ds: &Dataset, summary: &mut JsonMap);

    // ----- training

    /// The validation metric when the run names none.
    fn default_metric(&self) -> Metric;

    /// A freshly initialised model adjusted to the training targets (multi-label: each
    /// output bias at its label's log-odds).
    ///
    /// # Errors
    /// A model without the expected output layer.
    fn init_model(&self, model: Model, train: &Targets) -> Result<Model>;

    /// `--class-weight balanced`: one weight per label from the training targets.
    fn balanced_weights(&self, train: &Targets) -> Vec<f32>;

    /// The training loss of logits `z [batch, labels]` against the batch's targets `t`, with
    /// per-label weights `w`, and its gradient `dz` (same shape); returns `(mean loss, rows
    /// right)`.
    fn loss(&self, z: &[f32], t: &Targets, w: Option<&[f32]>, dz: &mut [f32]) -> (f32, usize);

    /// The validation figures of the CNN's `logits` against `targets` (see [`EpochScores`]).
    fn epoch_scores(&self, labels: &[String], logits: &[f32], targets: &Targets) -> EpochScores;

    /// Calibrates the head on the final model's validation probabilities (multi-label: the
    /// decision rule). Its bundle record is then [`Head::record`] of the calibrated head.
    fn calibrate(&self, data: &CalibrationData) -> Calibration;

    /// The head's bundle record (multi-label: its thresholds, the defaults before
    /// calibration), with the run's loss `weights`.
    fn record(&self, labels: usize, weights: Option<&[f32]>) -> HeadRecord;

    // ----- inference

    /// Turns logits `[n, labels]` into probabilities, in place.
    fn activate(&self, logits: &mut [f32], labels: usize);

    /// Probabilities of the mixture of the CNN's and the n-gram branch's logits with weights
    /// `mix` (see [`crate::ngram::mix_probabilities`] and [`mix_logits`]).
    fn mix(&self, cnn: &[f32], ngram: &[f32], mix: MixWeights, labels: usize) -> Vec<f32>;

    /// The part of the mixture's explained value of label `c` ([`Head::explained_value`] of
    /// the mixed logits) that the two branches' logits `[labels]` of one text do not give,
    /// because [`Head::mix`] floors a probability: for softmax, where a branch gives a label
    /// less than 1e-7 ([`crate::ngram::floor_lift`]); 0 for sigmoids, mixed on the logit scale.
    fn mix_floor(&self, cnn: &[f32], ngram: &[f32], mix: MixWeights, c: usize) -> f64;

    /// The labels decided for one text's probabilities `[labels]`, most probable first:
    /// `(label index, probability)`. `threshold` overrides the head's own decision rule
    /// (single-label: the top label only if it reaches it; multi-label: every label over it).
    fn decide(&self, probs: &[f32], threshold: Option<f32>) -> Vec<(usize, f32)>;

    /// The explained value of label `c` from per-label values `v` (logits, biases or weights):
    /// the centered value `v(c) − mean v` for softmax, `v(c)` for sigmoids.
    fn explained_value(&self, v: &dyn Fn(usize) -> f32, labels: usize, c: usize) -> f64;

    /// What [`Head::explained_value`] is.
    fn explained(&self) -> Explained;

    // ----- evaluation

    /// The scores of probabilities `probs [n, labels]` against `targets`.
    fn evaluate(&self, labels: &[String], targets: &Targets, probs: &[f32]) -> Box<dyn Scores>;

    /// The mean loss of probabilities against targets (cross-entropy, or binary cross-entropy
    /// summed over labels), each probability clamped away from 0 and 1 by 1e-7.
    fn mean_loss(&self, probs: &[f32], targets: &Targets) -> f64;

    /// Fields the head adds to `report.json` and `textcnn eval --json` (multi-label: the flag
    /// and the labels of the data the model lacks).
    fn json_tags(&self, unknown: &Unknown) -> JsonMap;

    // ----- the n-gram branch of ngram-cnn

    /// The n-gram feature sets searched, from the preferred list of
    /// `train::ngram_stage::ngram_configs`.
    fn branch_feature_sets(&self, preferred: Vec<NgramConfig>) -> Vec<NgramConfig>;

    /// The naive-Bayes weight scale `[features, labels]` of the branch's regression on the
    /// rows of `x` with targets `t` (by default by the targets' kind: one class against the
    /// rest, or each label against the texts without it).
    fn branch_scale(&self, x: &Csr, t: &Targets) -> Vec<f32> {
        match t {
            Targets::Classes { labels, classes } => {
                nb_scale(x, classes, *labels, NB_SMOOTHING, NB_FLOOR)
            }
            Targets::MultiHot { labels, values } => {
                nb_scale_multi_label(x, values, *labels, NB_SMOOTHING, NB_FLOOR)
            }
        }
    }

    /// Fits the branch's logistic regression on the rows of `x` with targets `t` (see
    /// [`BranchFit`]); by default by the targets' kind: multinomial (softmax) on classes,
    /// one-vs-rest (one sigmoid per label) on multi-hot rows. Returns the model and the
    /// solver's iterations (the most any label took, one-vs-rest).
    fn branch_fit(&self, x: &Csr, t: &Targets, fit: &BranchFit) -> (LogReg, usize) {
        let (scale, warm) = (Some(fit.scale), fit.warm);
        match t {
            Targets::Classes { labels, classes } => {
                LogReg::fit_scaled(x, classes, *labels, fit.settings, warm, scale)
            }
            Targets::MultiHot { labels, values } => {
                LogReg::fit_multi_label(x, values, *labels, fit.settings, warm, scale)
            }
        }
    }

    /// The validation score that chooses the branch's `C` (higher is better).
    fn branch_score(&self, probs: &[f32], targets: &Targets) -> f64;

    /// The name of [`Head::branch_score`] in the branch's record (`c_path`,
    /// `kept_parent_branch`).
    fn branch_score_name(&self) -> &'static str;

    /// The figure of the branch's validation record (`cnn`, `ngram`, `mixed`): accuracy, or
    /// micro-F1 at the default thresholds.
    fn figure(&self, probs: &[f32], targets: &Targets) -> f64;

    /// The mixture weights chosen on validation from the two branches' logits.
    fn choose_mix(&self, cnn: &[f32], ngram: &[f32], t: &Targets) -> MixWeights;

    /// Fields the head adds to the branch's validation record.
    fn branch_record(&self) -> JsonMap;
}

/// What [`Head::calibrate`] reads.
pub struct CalibrationData<'a> {
    /// The model's labels.
    pub labels: &'a [String],
    /// The final model's validation probabilities `[valid, labels]`.
    pub probs: &'a [f32],
    /// Their targets.
    pub targets: &'a Targets,
    /// The training targets.
    pub train: &'a Targets,
    /// The run's validation metric, which the calibration maximises.
    pub metric: Metric,
}

/// What [`Head::calibrate`] gives.
pub struct Calibration {
    /// The calibrated head.
    pub head: Arc<dyn Head>,
    /// Lines for the run's log.
    pub messages: Vec<String>,
}

/// One fit of the n-gram branch's regression ([`Head::branch_fit`]).
pub struct BranchFit<'a> {
    /// Inverse L2 strength and solver settings (with the run's stop flag).
    pub settings: LogRegFit<'a>,
    /// The model to start from (the previous `C` of the path, or the chosen model remapped to
    /// the refit's n-grams).
    pub warm: Option<&'a LogReg>,
    /// The naive-Bayes weight scale `[features, labels]` ([`Head::branch_scale`]).
    pub scale: &'a [f32],
}

/// The label sets of a dataset's examples against `labels`: multi-hot rows and the labels
/// outside `labels` with their counts (shared by heads that read label sets).
pub fn multi_hot(ds: &Dataset, labels: &[String]) -> (Targets, Unknown) {
    let index: std::collections::HashMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let k = labels.len();
    let mut t = vec![0.0; ds.examples.len() * k];
    let mut unknown = BTreeMap::new();
    for (r, e) in ds.examples.iter().enumerate() {
        for l in &e.labels {
            match index.get(l.as_str()) {
                Some(&c) => t[r * k + c] = 1.0,
                None => *unknown.entry(l.clone()).or_insert(0) += 1,
            }
        }
    }
    (
        Targets::MultiHot {
            labels: k,
            values: t,
        },
        unknown,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_gather_join_and_name_their_labels() {
        let y = Targets::classes(3, vec![2, 0, 1]);
        assert_eq!(y.rows(&[2, 0]), Targets::classes(3, vec![1, 2]));
        assert_eq!(y.labels(), 3);
        assert_eq!(y.truth(0), vec![2]);
        let t = Targets::MultiHot {
            labels: 2,
            values: vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        };
        assert_eq!(t.len(), 3);
        assert_eq!(t.label_sets(), vec![vec![0], vec![0, 1], vec![]]);
        assert_eq!(
            t.rows(&[1]),
            Targets::MultiHot {
                labels: 2,
                values: vec![1.0, 1.0]
            }
        );
        assert_eq!(t.concat(&t.rows(&[0])).len(), 4);
        assert_eq!(
            Targets::classes(2, vec![1]).concat(&Targets::classes(2, vec![0])),
            Targets::classes(2, vec![1, 0])
        );
    }

    #[test]
    fn the_record_names_the_head() {
        let single = head_of_record(&HeadRecord::default(), 3).unwrap();
        assert_eq!(single.kind(), HeadKind::SingleLabel);
        let m = MultiLabelConfig {
            thresholds: vec![0.5, 0.3],
            default_threshold: 0.5,
            at_least_one: false,
            pos_weight: None,
            validation: serde_json::Value::Null,
        };
        let record = HeadRecord {
            multi_label: Some(m),
        };
        assert_eq!(
            head_of_record(&record, 2).unwrap().kind(),
            HeadKind::MultiLabel
        );
        let err = head_of_record(&record, 3).unwrap_err();
        assert!(
            format!("{err:#}").contains("2 thresholds for 3 labels"),
            "{err:#}"
        );
        assert_eq!(HeadKind::MultiLabel.name(), "multi-label");
        assert_eq!(
            serde_json::to_value(HeadKind::MultiLabel).unwrap(),
            "multi-label"
        );
    }
}
