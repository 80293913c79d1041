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

mod multi;
mod single;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub use multi::{
    DEFAULT_THRESHOLD, EXPLAINED_MULTI_LABEL, MIN_POSITIVES_FOR_THRESHOLD, MultiLabel,
    MultiLabelConfig, REPORT_KS, THRESHOLD_GRID, apply_thresholds, choose_logit_mix, mix_logits,
    report_of, tune_thresholds, with_prior_bias,
};
pub use single::{EXPLAINED, SingleLabel, label_ids};

use crate::data::Dataset;
use crate::eval::{Metric, Scores};
use crate::model::Model;
use crate::ngram::{Csr, LogReg, LogRegFit, MixWeights, NgramConfig};

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

/// The targets of a list of examples, in the form the head's loss reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class index per example, `[n]`.
    Classes(Vec<usize>),
    /// Multi-hot rows `[n, labels]`, row-major, each value 0 or 1.
    MultiHot {
        /// Labels per row.
        labels: usize,
        /// `[n, labels]`.
        values: Vec<f32>,
    },
}

impl Targets {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(y) => y.len(),
            Targets::MultiHot { labels, values } => values.len() / (*labels).max(1),
        }
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets of the examples `rows`, in that order.
    pub fn rows(&self, rows: &[usize]) -> Targets {
        match self {
            Targets::Classes(y) => Targets::Classes(rows.iter().map(|&i| y[i]).collect()),
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
        match (self, other) {
            (Targets::Classes(a), Targets::Classes(b)) => {
                Targets::Classes(a.iter().chain(b).copied().collect())
            }
            (
                Targets::MultiHot { labels, values },
                Targets::MultiHot {
                    labels: l2,
                    values: v2,
                },
            ) if labels == l2 => Targets::MultiHot {
                labels: *labels,
                values: values.iter().chain(v2).copied().collect(),
            },
            _ => panic!("targets of different kinds cannot be joined"),
        }
    }

    /// The label indices of example `i` (ascending).
    pub fn truth(&self, i: usize) -> Vec<usize> {
        match self {
            Targets::Classes(y) => vec![y[i]],
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
    /// Micro-averaged F1, for heads where it differs from accuracy (multi-label).
    pub micro_f1: Option<f64>,
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
    fn targets(
        &self,
        ds: &Dataset,
        labels: &[String],
    ) -> Result<(Targets, BTreeMap<String, usize>)>;

    /// Adds the head's own figures to a dataset's summary in the bundle (`config.json` →
    /// `dataset`).
    fn summarize(&self, ds: &Dataset, summary: &mut serde_json::Map<String, serde_json::Value>);

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
    fn balanced_weights(&self, train: &Targets, labels: usize) -> Vec<f32>;

    /// The training loss of `logits [batch, labels]` against `batch`'s targets and its
    /// gradient `dlogits`, with per-label `weights`; returns `(mean loss, rows right)`.
    fn loss(
        &self,
        logits: &[f32],
        batch: &Targets,
        weights: Option<&[f32]>,
        dlogits: &mut [f32],
    ) -> (f32, usize);

    /// The validation figures of the CNN's `logits` against `targets` (see [`EpochScores`]).
    fn epoch_scores(&self, labels: &[String], logits: &[f32], targets: &Targets) -> EpochScores;

    /// Calibrates the head on the final model's validation probabilities (multi-label: the
    /// per-label thresholds), with the loss weights of the run. Returns the calibrated head,
    /// its bundle record, lines for the run's log and figures for the record.
    fn calibrate(
        &self,
        labels: &[String],
        valid_probs: &[f32],
        valid: &Targets,
        weights: Option<&[f32]>,
    ) -> Calibration;

    /// The head's bundle record (multi-label: its thresholds, the defaults before
    /// calibration), with the run's loss `weights`.
    fn record(&self, labels: usize, weights: Option<&[f32]>) -> HeadRecord;

    // ----- inference

    /// Turns logits `[n, labels]` into probabilities, in place.
    fn activate(&self, logits: &mut [f32], labels: usize);

    /// Probabilities of the mixture of the CNN's and the n-gram branch's logits with weights
    /// `mix` (see [`crate::ngram::mix_probabilities`] and [`mix_logits`]).
    fn mix(&self, cnn: &[f32], ngram: &[f32], mix: MixWeights, labels: usize) -> Vec<f32>;

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
    fn json_tags(
        &self,
        unknown: &BTreeMap<String, usize>,
    ) -> serde_json::Map<String, serde_json::Value>;

    // ----- the n-gram branch of ngram-cnn

    /// The n-gram feature sets searched, from the preferred list of
    /// `train::ngram_stage::ngram_configs`.
    fn branch_feature_sets(&self, preferred: Vec<NgramConfig>) -> Vec<NgramConfig>;

    /// The naive-Bayes weight scale `[features, labels]` of the branch's regression.
    fn branch_scale(&self, x: &Csr, targets: &Targets, labels: usize) -> Vec<f32>;

    /// Fits the branch's logistic regression (warm-started from `warm`).
    fn branch_fit(
        &self,
        x: &Csr,
        targets: &Targets,
        labels: usize,
        settings: LogRegFit,
        warm: Option<&LogReg>,
        scale: &[f32],
    ) -> LogReg;

    /// The validation score that chooses the branch's `C` (higher is better).
    fn branch_score(&self, probs: &[f32], targets: &Targets) -> f64;

    /// The name of [`Head::branch_score`] in the branch's record (`c_path`,
    /// `kept_parent_branch`).
    fn branch_score_name(&self) -> &'static str;

    /// The figure of the branch's validation record (`cnn`, `ngram`, `mixed`): accuracy, or
    /// micro-F1 at the default thresholds.
    fn figure(&self, probs: &[f32], targets: &Targets) -> f64;

    /// The mixture weights chosen on validation from the two branches' logits.
    fn choose_mix(
        &self,
        cnn: &[f32],
        ngram: &[f32],
        targets: &Targets,
        labels: usize,
    ) -> MixWeights;

    /// Fields the head adds to the branch's validation record.
    fn branch_record(&self) -> serde_json::Map<String, serde_json::Value>;
}

/// What [`Head::calibrate`] gives.
pub struct Calibration {
    /// The calibrated head.
    pub head: Arc<dyn Head>,
    /// Its bundle record.
    pub record: HeadRecord,
    /// Lines for the run's log.
    pub messages: Vec<String>,
}

/// The label sets of a dataset's examples against `labels`: multi-hot rows and the labels
/// outside `labels` with their counts (shared by heads that read label sets).
pub fn multi_hot(ds: &Dataset, labels: &[String]) -> (Targets, BTreeMap<String, usize>) {
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
        let y = Targets::Classes(vec![2, 0, 1]);
        assert_eq!(y.rows(&[2, 0]), Targets::Classes(vec![1, 2]));
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
            Targets::Classes(vec![1]).concat(&Targets::Classes(vec![0])),
            Targets::Classes(vec![1, 0])
        );
    }

    #[test]
    fn the_record_names_the_head() {
        let single = head_of_record(&HeadRecord::default(), 3).unwrap();
        assert_eq!(single.kind(), HeadKind::SingleLabel);
        let m = MultiLabelConfig {
            thresholds: vec![0.5, 0.3],
            default_threshold: 0.5,
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
