//! The multi-label head: each text may carry any number of labels (none included), as topics,
//! tags or emotions that co-occur.
//!
//! The model has one output per label and one sigmoid per output, trained with binary
//! cross-entropy ([`crate::nn::loss::sigmoid_binary_cross_entropy`]) from output biases at each
//! label's log-odds ([`with_prior_bias`]). The `ngram-cnn` branch is a one-vs-rest logistic
//! regression over the same TF-IDF n-grams ([`crate::ngram::LogReg::fit_multi_label`]),
//! combined label by label on the logit scale, `z = a · z_cnn + b · z_ngram`, `p = σ(z)`, with
//! `a`, `b` fitted on the validation split by log-loss ([`choose_logit_mix`]). A label is
//! predicted when its probability reaches its threshold, chosen on the validation split for the
//! run's metric: one global threshold, and per-label ones (each label's best own F1) shrunk
//! toward it by each label's validation support ([`choose_thresholds`], whose module documents the rule and its
//! evidence); when every training text has a label, every text gets at least its most probable
//! one. The rule lives in the bundle (`config.json` → `"multi_label"`), so prediction,
//! evaluation and the HTTP service apply the same decisions.

use std::sync::Arc;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::decision::{
    DEFAULT_THRESHOLD, Decisions, SHRINKAGE_SUPPORT, SetMetric, THRESHOLD_GRID, choose_thresholds,
};
use super::{
    Calibration, CalibrationData, EpochScores, Explained, Head, HeadKind, HeadRecord, JsonMap,
    SetScores, Targets, Unknown, multi_hot,
};
use crate::data::Dataset;
use crate::eval::{Metric, MultiLabelReport, Scores};
use crate::model::Model;
use crate::ngram::{MixWeights, NgramConfig};
use crate::nn::loss::{sigmoid, sigmoid_binary_cross_entropy};

/// `k` of the P@k / R@k figures in reports.
pub const REPORT_KS: [usize; 3] = [1, 3, 5];
/// What an explanation of a sigmoid output explains (the JSON `"explained"`): the input of
/// label `c`'s sigmoid (of the mixture `a · z_cnn + b · z_ngram` for `ngram-cnn`).
pub const EXPLAINED_MULTI_LABEL: &str = "logit z_c of the label's sigmoid (multi-label)";

/// Multi-label settings of a bundle (`config.json` → `"multi_label"`); absent in single-label
/// bundles, which are read unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiLabelConfig {
    /// Decision threshold of each label (bundle label order), each in (0, 1]: the label is
    /// predicted when its probability is at least this.
    pub thresholds: Vec<f32>,
    /// The global threshold that the per-label ones are shrunk toward (0.5 in bundles written
    /// before the rule of [`choose_thresholds`], where it was the threshold of rare labels).
    pub default_threshold: f32,
    /// Whether a text with no label over its threshold gets its most probable label (set when
    /// every training and validation text has a label; absent in older bundles: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub at_least_one: bool,
    /// Weight of each label's positive term in the training loss (`--class-weight`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_weight: Option<Vec<f32>>,
    /// Validation figures that chose the thresholds.
    #[serde(default)]
    pub validation: serde_json::Value,
}

impl MultiLabelConfig {
    /// Checks one threshold per label, each finite in (0, 1].
    ///
    /// # Errors
    /// Names the first bad threshold.
    pub fn validate(&self, labels: usize) -> Result<()> {
        if self.thresholds.len() != labels {
            bail!(
                "\"multi_label\" has {} thresholds for {labels} labels",
                self.thresholds.len()
            );
        }
        for (i, &t) in self
            .thresholds
            .iter()
            .chain([&self.default_threshold])
            .enumerate()
        {
            if !(t > 0.0 && t <= 1.0) {
                bail!("\"multi_label\" threshold {i} is {t}; thresholds lie in (0, 1]");
            }
        }
        if let Some(w) = &self.pos_weight
            && (w.len() != labels || w.iter().any(|v| !(v.is_finite() && *v > 0.0)))
        {
            bail!("\"multi_label\".pos_weight must hold one positive weight per label");
        }
        Ok(())
    }
}

/// Any number of labels per text (see the module documentation); holds the per-label
/// thresholds (none before calibration: every label at [`DEFAULT_THRESHOLD`]).
#[derive(Clone, Debug)]
pub struct MultiLabel {
    thresholds: Vec<f32>,
    global: f32,
    at_least_one: bool,
    validation: serde_json::Value,
}

impl MultiLabel {
    /// Before training has tuned thresholds.
    pub fn untrained() -> MultiLabel {
        MultiLabel {
            thresholds: Vec::new(),
            global: DEFAULT_THRESHOLD,
            at_least_one: false,
            validation: serde_json::Value::Null,
        }
    }

    /// With the decision rule of a bundle's record.
    pub fn calibrated(config: MultiLabelConfig) -> MultiLabel {
        MultiLabel {
            thresholds: config.thresholds,
            global: config.default_threshold,
            at_least_one: config.at_least_one,
            validation: config.validation,
        }
    }

    /// The decision rule for `labels` labels.
    fn decisions(&self, labels: usize) -> Decisions {
        Decisions {
            thresholds: (0..labels)
                .map(|c| self.thresholds.get(c).copied().unwrap_or(self.global))
                .collect(),
            at_least_one: self.at_least_one,
        }
    }
}

/// `a · z_cnn + b · z_ngram`, elementwise (`a`, `b` = `mix.cnn`, `mix.ngram`).
pub fn mix_logits(cnn: &[f32], ngram: &[f32], mix: MixWeights) -> Vec<f32> {
    cnn.iter()
        .zip(ngram)
        .map(|(&a, &b)| mix.cnn * a + mix.ngram * b)
        .collect()
}

/// The multi-hot values of multi-label targets.
fn hot(t: &Targets) -> (&[f32], usize) {
    match t {
        Targets::MultiHot { labels, values } => (values, *labels),
        Targets::Classes { .. } => panic!("a multi-label head reads multi-hot targets"),
    }
}

fn sigmoids(logits: &[f32]) -> Vec<f32> {
    logits.iter().map(|&z| sigmoid(z)).collect()
}

/// The report of probabilities `[n, labels]` against multi-hot targets decided by `decisions`,
/// with P@k / R@k for the k of [`REPORT_KS`] up to the label count when `at_k`.
pub fn report_of(
    labels: &[String],
    targets: &[f32],
    probs: &[f32],
    decisions: &Decisions,
    at_k: bool,
) -> MultiLabelReport {
    let truth: Vec<bool> = targets.iter().map(|&v| v >= 0.5).collect();
    let predicted = decisions.apply(probs);
    let ks: Vec<usize> = REPORT_KS
        .iter()
        .copied()
        .filter(|&k| at_k && k <= labels.len())
        .collect();
    MultiLabelReport::new(labels, &truth, &predicted, at_k.then_some(probs), &ks)
}

/// The model with its output bias set to the log-odds of each label's training frequency,
/// `ln(π / (1 − π))` (π clamped to [1e-4, 1 − 1e-4]): every sigmoid starts at its label's base
/// rate instead of 0.5, so the first epochs are not spent learning that most labels are rare
/// (the "prior" initialization of Lin et al. 2017, *Focal Loss for Dense Object Detection*,
/// §4.1). `targets` are multi-hot `[n, k]`.
///
/// A network without parameters (`--arch ngram`, whose model is the n-gram branch alone) has no
/// bias to set and is returned as it is.
///
/// # Errors
/// Only if a model with parameters has no `fc.bias` of `k` entries (every such architecture
/// has one).
pub fn with_prior_bias(model: Model, targets: &[f32], k: usize) -> Result<Model> {
    let n = (targets.len() / k.max(1)).max(1) as f32;
    let arch = model.architecture();
    if arch.num_params() == 0 {
        return Ok(model);
    }
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

/// Micro-F1 of probabilities against targets when every label is predicted at `threshold`.
fn micro_f1_at(probs: &[f32], targets: &[f32], threshold: f32) -> f64 {
    let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
    for (&p, &t) in probs.iter().zip(targets) {
        match (p >= threshold, t >= 0.5) {
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

/// The best micro-F1 over one threshold shared by all labels (of [`THRESHOLD_GRID`]): how the
/// branch's C is chosen, independent of the calibration that the mixture fixes later.
fn best_shared_threshold_micro_f1(probs: &[f32], targets: &[f32]) -> f64 {
    THRESHOLD_GRID
        .iter()
        .map(|&th| micro_f1_at(probs, targets, th))
        .fold(0.0, f64::max)
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
    for w in MixWeights::grid() {
        let z = mix_logits(cnn, ngram, w);
        let loss = sigmoid_binary_cross_entropy(&z, targets, k, None, &mut d).0 as f64;
        if loss < best.0 {
            best = (loss, w);
        }
    }
    best.1
}

impl Head for MultiLabel {
    fn kind(&self) -> HeadKind {
        HeadKind::MultiLabel
    }

    fn describe(&self) -> &'static str {
        "one sigmoid per label, binary cross-entropy"
    }

    fn reads_label_sets(&self) -> bool {
        true
    }

    fn stratified_split(&self) -> bool {
        false
    }

    fn label_universe(&self, train: &Dataset, valid: &Dataset) -> Vec<String> {
        let mut labels = train.labels();
        labels.extend(valid.labels());
        labels.sort();
        labels.dedup();
        labels
    }

    fn check_label_count(&self, labels: usize, data: &str) -> Result<()> {
        if labels < 2 {
            bail!(
                "the training data {data} has {labels} label(s); multi-label training needs at least 2 \
                 (one label is a binary single-label task)"
            );
        }
        Ok(())
    }

    fn targets(&self, ds: &Dataset, labels: &[String]) -> Result<(Targets, Unknown)> {
        Ok(multi_hot(ds, labels))
    }

    fn summarize(&self, ds: &Dataset, summary: &mut JsonMap) {
        summary.insert("label_cardinality".into(), ds.cardinality().into());
        summary.insert("without_label".into(), ds.unlabelled().into());
    }

    fn default_metric(&self) -> Metric {
        Metric::MicroF1
    }

    fn init_model(&self, model: Model, train: &Targets) -> Result<Model> {
        let (t, k) = hot(train);
        with_prior_bias(model, t, k)
    }

    /// `n_negative / n_positive` of each label in the training texts (PyTorch's suggested
    /// `pos_weight`; 1 for a label on no text or on every text, which has nothing to balance).
    fn balanced_weights(&self, train: &Targets) -> Vec<f32> {
        let (t, k) = hot(train);
        let n = t.len() / k.max(1);
        (0..k)
            .map(|c| {
                let pos = (0..n).filter(|&i| t[i * k + c] >= 0.5).count();
                if pos == 0 || pos == n {
                    1.0
                } else {
                    (n - pos) as f32 / pos as f32
                }
            })
            .collect()
    }

    fn loss(&self, z: &[f32], t: &Targets, w: Option<&[f32]>, dz: &mut [f32]) -> (f32, usize) {
        let (t, k) = hot(t);
        sigmoid_binary_cross_entropy(z, t, k, w, dz)
    }

    fn epoch_scores(&self, labels: &[String], logits: &[f32], targets: &Targets) -> EpochScores {
        let (t, k) = hot(targets);
        let loss = mean_bce(logits, t, k);
        let probs = sigmoids(logits);
        let plain = Decisions {
            thresholds: vec![DEFAULT_THRESHOLD; k],
            at_least_one: false,
        };
        let report = report_of(labels, t, &probs, &plain, false);
        EpochScores {
            loss,
            acc: report.subset_accuracy,
            macro_f1: report.macro_avg.f1,
            sets: Some(SetScores {
                micro_f1: report.micro_avg.f1,
                jaccard: report.jaccard_samples,
            }),
        }
    }

    /// The decision rule of [`choose_thresholds`] for the run's metric, with at least one label
    /// per text when every training and validation text has one.
    fn calibrate(&self, data: &CalibrationData) -> Calibration {
        let (t, k) = hot(data.targets);
        let truth: Vec<bool> = t.iter().map(|&v| v >= 0.5).collect();
        let metric = SetMetric::of(data.metric);
        let every_text_labelled = |t: &[f32]| t.chunks(k).all(|row| row.iter().any(|&v| v >= 0.5));
        let at_least_one = every_text_labelled(hot(data.train).0) && every_text_labelled(t);
        let chosen = choose_thresholds(
            data.probs,
            &truth,
            k,
            metric,
            at_least_one,
            &THRESHOLD_GRID,
            SHRINKAGE_SUPPORT,
        );
        let plain = Decisions {
            thresholds: vec![DEFAULT_THRESHOLD; k],
            at_least_one: false,
        };
        let at_default = metric.score(&truth, &plain.apply(data.probs), k);
        let report = report_of(data.labels, t, data.probs, &chosen.decisions, false);
        let validation = serde_json::json!({
            "metric": metric.name(),
            "at_default": at_default,
            "global_threshold": chosen.global,
            "at_global": chosen.at_global,
            "at_chosen": chosen.at_chosen,
            "shrinkage_support": SHRINKAGE_SUPPORT,
            "micro_f1": report.micro_avg.f1,
            "macro_f1": report.macro_avg.f1,
            "jaccard": report.jaccard_samples,
            "subset_accuracy": report.subset_accuracy,
        });
        let name = metric.name();
        let message = format!(
            "thresholds for valid {name}: global {:.2} ({at_default:.4} at {DEFAULT_THRESHOLD} -> {:.4}), \
             per label shrunk toward it by validation support ({:.4}){}",
            chosen.global,
            chosen.at_global,
            chosen.at_chosen,
            if at_least_one {
                "; every text gets at least its most probable label (every training text has one)"
            } else {
                ""
            }
        );
        let head = MultiLabel {
            thresholds: chosen.decisions.thresholds,
            global: chosen.global,
            at_least_one,
            validation,
        };
        Calibration {
            head: Arc::new(head),
            messages: vec![message],
        }
    }

    fn record(&self, labels: usize, weights: Option<&[f32]>) -> HeadRecord {
        HeadRecord {
            multi_label: Some(MultiLabelConfig {
                thresholds: self.decisions(labels).thresholds,
                default_threshold: self.global,
                at_least_one: self.at_least_one,
                pos_weight: weights.map(<[f32]>::to_vec),
                validation: self.validation.clone(),
            }),
        }
    }

    fn activate(&self, logits: &mut [f32], _labels: usize) {
        for v in logits.iter_mut() {
            *v = sigmoid(*v);
        }
    }

    fn mix(&self, cnn: &[f32], ngram: &[f32], mix: MixWeights, _labels: usize) -> Vec<f32> {
        sigmoids(&mix_logits(cnn, ngram, mix))
    }

    fn mix_floor(&self, _cnn: &[f32], _ngram: &[f32], _mix: MixWeights, _c: usize) -> f64 {
        0.0
    }

    /// Every label whose probability reaches its threshold, most probable first (ties by label
    /// order): with the model's own rule, at least the most probable label when it was trained
    /// so; with `threshold`, every label over it, possibly none.
    fn decide(&self, probs: &[f32], threshold: Option<f32>) -> Vec<(usize, f32)> {
        let rule = match threshold {
            Some(t) => Decisions {
                thresholds: vec![t; probs.len()],
                at_least_one: false,
            },
            None => self.decisions(probs.len()),
        };
        let mut out: Vec<(usize, f32)> = rule
            .apply(probs)
            .into_iter()
            .zip(probs)
            .enumerate()
            .filter(|&(_, (decided, _))| decided)
            .map(|(c, (_, &p))| (c, p))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    fn explained_value(&self, v: &dyn Fn(usize) -> f32, _labels: usize, c: usize) -> f64 {
        v(c) as f64
    }

    fn explained(&self) -> Explained {
        Explained::new(EXPLAINED_MULTI_LABEL, "of the label's sigmoid")
    }

    fn evaluate(&self, labels: &[String], targets: &Targets, probs: &[f32]) -> Box<dyn Scores> {
        let (t, k) = hot(targets);
        Box::new(report_of(labels, t, probs, &self.decisions(k), true))
    }

    fn mean_loss(&self, probs: &[f32], targets: &Targets) -> f64 {
        let (t, k) = hot(targets);
        let n = (t.len() / k.max(1)).max(1) as f64;
        let total: f64 = probs
            .iter()
            .zip(t)
            .map(|(&p, &y)| {
                let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
                -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
            })
            .sum();
        total / n
    }

    fn json_tags(&self, unknown: &Unknown) -> JsonMap {
        let mut m = JsonMap::new();
        m.insert("multi_label".into(), true.into());
        m.insert("unknown_labels".into(), serde_json::json!(unknown));
        m
    }

    /// The first (preferred) feature set of the single-label rules; the alternatives are not
    /// searched.
    fn branch_feature_sets(&self, preferred: Vec<NgramConfig>) -> Vec<NgramConfig> {
        preferred.into_iter().take(1).collect()
    }

    /// Micro-F1 at the best threshold shared by every label, independent of the calibration
    /// that the mixture fixes later.
    fn branch_score(&self, probs: &[f32], targets: &Targets) -> f64 {
        best_shared_threshold_micro_f1(probs, hot(targets).0)
    }

    fn branch_score_name(&self) -> &'static str {
        "valid_micro_f1_best_shared_threshold"
    }

    fn figure(&self, probs: &[f32], targets: &Targets) -> f64 {
        micro_f1_at(probs, hot(targets).0, DEFAULT_THRESHOLD)
    }

    fn choose_mix(&self, cnn: &[f32], ngram: &[f32], t: &Targets) -> MixWeights {
        let (t, k) = hot(t);
        choose_logit_mix(cnn, ngram, t, k)
    }

    fn branch_record(&self) -> JsonMap {
        let mut m = JsonMap::new();
        m.insert("metric".into(), "micro-f1".into());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(thresholds: Vec<f32>) -> MultiLabelConfig {
        MultiLabelConfig {
            thresholds,
            default_threshold: 0.5,
            at_least_one: false,
            pos_weight: None,
            validation: serde_json::Value::Null,
        }
    }

    #[test]
    fn decide_applies_each_labels_threshold_and_sorts() {
        let head = MultiLabel::calibrated(config(vec![0.5, 0.2, 0.9]));
        assert_eq!(
            head.decide(&[0.6, 0.3, 0.8], None),
            vec![(0, 0.6), (1, 0.3)]
        );
        assert_eq!(head.decide(&[0.1, 0.1, 0.1], None), vec![]);
        assert_eq!(head.decide(&[0.6, 0.3, 0.8], Some(0.7)), vec![(2, 0.8)]);
        assert!(config(vec![0.5, 0.2, 0.9]).validate(3).is_ok());
        assert!(config(vec![0.5, 0.2, 0.9]).validate(2).is_err());
        assert!(config(vec![0.5, 0.0]).validate(2).is_err());
        // Untrained: every label at the default.
        assert_eq!(
            MultiLabel::untrained().decide(&[0.5, 0.49], None),
            vec![(0, 0.5)]
        );
    }

    #[test]
    fn calibration_maximises_the_runs_metric_with_at_least_one_label_when_data_always_has_one() {
        // 2 validation texts, one label each: [0.4, 0.1] is label 0, [0.2, 0.3] label 1.
        let labels = vec!["a".to_string(), "b".to_string()];
        let probs = [0.4, 0.1, 0.2, 0.3];
        let valid = Targets::MultiHot {
            labels: 2,
            values: vec![1.0, 0.0, 0.0, 1.0],
        };
        let calibrate = |train: &Targets| {
            let c = MultiLabel::untrained().calibrate(&CalibrationData {
                labels: &labels,
                probs: &probs,
                targets: &valid,
                train,
                metric: Metric::MicroF1,
            });
            c.head.record(2, None).multi_label.unwrap()
        };
        // A training text without a label: no fallback. Micro-F1 is 1 for every threshold in
        // (0.2, 0.3], and the grid value nearest 0.5 there is 0.3; each label's own best is
        // 0.3 too (ties go to the global threshold).
        let sparse = Targets::MultiHot {
            labels: 2,
            values: vec![1.0, 0.0, 0.0, 0.0],
        };
        let m = calibrate(&sparse);
        assert!(!m.at_least_one);
        assert_eq!(m.default_threshold, 0.3);
        assert_eq!(m.thresholds, vec![0.3, 0.3]);
        assert_eq!(m.validation["at_chosen"], 1.0);
        // Every training text labelled: each text keeps its most probable label, so every
        // threshold from 0.25 up gives micro-F1 1, and 0.5 itself is chosen globally. Each
        // label's own F1 is best (1) at 0.4 (label 0: 0.4 vs 0.2) and 0.3 (label 1: 0.3 vs
        // 0.1), the grid values nearest 0.5 there; one validation positive each moves them
        // 1/501 of the way: 0.5 − 0.1/501 and 0.5 − 0.2/501.
        let dense = Targets::MultiHot {
            labels: 2,
            values: vec![1.0, 0.0, 0.0, 1.0],
        };
        let m = calibrate(&dense);
        assert!(m.at_least_one);
        assert_eq!(m.default_threshold, 0.5);
        assert!((m.thresholds[0] - (0.5 - 0.1 / 501.0)).abs() < 1e-6);
        assert!((m.thresholds[1] - (0.5 - 0.2 / 501.0)).abs() < 1e-6);
        let head = MultiLabel::calibrated(m);
        assert_eq!(head.decide(&[0.2, 0.1], None), vec![(0, 0.2)]);
        // An explicit threshold is the plain rule: possibly no label.
        assert_eq!(head.decide(&[0.2, 0.1], Some(0.5)), vec![]);
    }

    #[test]
    fn balanced_positive_weights_are_negatives_over_positives() {
        // 4 texts: a in 1, b in 3, c in none.
        let t = Targets::MultiHot {
            labels: 3,
            values: vec![1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        };
        let w = MultiLabel::untrained().balanced_weights(&t);
        assert_eq!(w, vec![3.0, 1.0 / 3.0, 1.0]);
        // A label on every text keeps weight 1 (not 0 negatives / 2 positives).
        let t = Targets::MultiHot {
            labels: 2,
            values: vec![1.0, 1.0, 1.0, 0.0],
        };
        assert_eq!(MultiLabel::untrained().balanced_weights(&t), vec![1.0, 1.0]);
    }

    #[test]
    fn prior_bias_is_the_log_odds_of_each_label() {
        let settings = crate::train::TrainConfig {
            arch: crate::train::ArchKind::Kim,
            emb_dim: 4,
            region_sizes: vec![2],
            feature_maps: 3,
            ..Default::default()
        };
        let arch = settings.architecture(10, 2);
        // 4 texts: label 0 in 1 of them, label 1 in 2.
        let t = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let m = with_prior_bias(Model::new(&arch, 1), &t, 2).unwrap();
        let params = m.named_params();
        let bias = params.iter().find(|p| p.0 == "fc.bias").unwrap().2;
        assert!((bias[0] - (0.25f32 / 0.75).ln()).abs() < 1e-6);
        assert!(bias[1].abs() < 1e-6);
        // `--arch ngram` has no network parameters: nothing to set, no error.
        let settings = crate::train::TrainConfig {
            arch: crate::train::ArchKind::Ngram,
            ..Default::default()
        };
        let m = with_prior_bias(Model::new(&settings.architecture(10, 2), 1), &t, 2).unwrap();
        assert!(m.named_params().is_empty());
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

    #[test]
    fn mean_loss_and_figures_on_a_hand_computed_case() {
        let head = MultiLabel::untrained();
        let t = Targets::MultiHot {
            labels: 2,
            values: vec![1.0, 0.0],
        };
        // −ln 0.8 − ln(1 − 0.4)
        let want = -(0.8f64.ln() + 0.6f64.ln());
        let got = head.mean_loss(&[0.8, 0.4], &t);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        assert_eq!(head.figure(&[0.8, 0.4], &t), 1.0);
        // At 0.3 label 1 is a false positive: micro-F1 = 2 / (2 + 1).
        assert!((micro_f1_at(&[0.8, 0.4], &[1.0, 0.0], 0.3) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(head.branch_score(&[0.8, 0.4], &t), 1.0);
    }
}
