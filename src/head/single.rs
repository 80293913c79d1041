//! The single-label head: one label per text, softmax over the labels, (weighted) softmax
//! cross-entropy, the most probable label decides; the n-gram branch is a multinomial logistic
//! regression mixed on the log-probability scale ([`crate::ngram::mix_probabilities`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Result, bail};

use super::{
    Calibration, CalibrationData, EpochScores, Explained, Head, HeadKind, HeadRecord, JsonMap,
    Targets, Unknown,
};
use crate::data::Dataset;
use crate::eval::{ConfusionMatrix, Metric, Scores, score};
use crate::model::Model;
use crate::ngram::{MixWeights, NgramConfig, choose_mix, floor_lift, mix_probabilities};
use crate::nn::loss::weighted_softmax_cross_entropy;
use crate::nn::softmax_in_place;

/// What an explanation of a softmax output explains (the JSON `"explained"`).
pub const EXPLAINED: &str = "centered logit z_c - mean_k z_k";

/// One label per text (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleLabel;

/// Maps each example's label (its first, for a row read with several) to its index in
/// `labels` (any order).
///
/// # Errors
/// Names the first example without a label, or with a label not in `labels`, and the dataset
/// it occurs in.
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
            if e.label().is_empty() {
                bail!(
                    "{}: example {} has no label (plain lines have none); labelled data is needed here",
                    ds.name,
                    row + 1
                );
            }
            index.get(e.label()).copied().ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: label {:?} (example {}) does not occur in the training data (known labels: {})",
                    ds.name,
                    e.label(),
                    row + 1,
                    labels.join(", ")
                )
            })
        })
        .collect()
}

/// The class indices of single-label targets and the number of classes.
fn classes(t: &Targets) -> (&[usize], usize) {
    match t {
        Targets::Classes { labels, classes } => (classes, *labels),
        Targets::MultiHot { .. } => panic!("a single-label head reads class indices"),
    }
}

/// Softmax of every row of `logits [n, labels]`, as a new table.
fn softmax_rows(logits: &[f32], labels: usize) -> Vec<f32> {
    let mut p = logits.to_vec();
    for row in p.chunks_mut(labels) {
        softmax_in_place(row);
    }
    p
}

fn accuracy(probs: &[f32], y: &[usize], labels: usize) -> f64 {
    score(probs, y, labels).1
}

impl Head for SingleLabel {
    fn kind(&self) -> HeadKind {
        HeadKind::SingleLabel
    }

    fn describe(&self) -> &'static str {
        ""
    }

    fn reads_label_sets(&self) -> bool {
        false
    }

    fn stratified_split(&self) -> bool {
        true
    }

    fn label_universe(&self, train: &Dataset, _valid: &Dataset) -> Vec<String> {
        let set: BTreeSet<&str> = train.examples.iter().map(|e| e.label()).collect();
        set.into_iter().map(str::to_string).collect()
    }

    fn check_label_count(&self, labels: usize, data: &str) -> Result<()> {
        if labels < 2 {
            bail!("the training data {data} has {labels} class(es); a classifier needs at least 2");
        }
        Ok(())
    }

    fn targets(&self, ds: &Dataset, labels: &[String]) -> Result<(Targets, Unknown)> {
        let y = label_ids(ds, labels)?;
        Ok((Targets::classes(labels.len(), y), BTreeMap::new()))
    }

    fn summarize(&self, _ds: &Dataset, _summary: &mut JsonMap) {}

    fn default_metric(&self) -> Metric {
        Metric::Acc
    }

    fn init_model(&self, model: Model, _train: &Targets) -> Result<Model> {
        Ok(model)
    }

    fn balanced_weights(&self, train: &Targets) -> Vec<f32> {
        let (y, labels) = classes(train);
        let mut counts = vec![0usize; labels];
        for &c in y {
            counts[c] += 1;
        }
        let (n, k) = (y.len() as f64, labels as f64);
        counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    1.0
                } else {
                    (n / (k * c as f64)) as f32
                }
            })
            .collect()
    }

    fn loss(&self, z: &[f32], t: &Targets, w: Option<&[f32]>, dz: &mut [f32]) -> (f32, usize) {
        let (y, k) = classes(t);
        let y: Vec<u32> = y.iter().map(|&c| c as u32).collect();
        weighted_softmax_cross_entropy(z, &y, k, w, dz)
    }

    fn epoch_scores(&self, labels: &[String], logits: &[f32], targets: &Targets) -> EpochScores {
        let (y, _) = classes(targets);
        let probs = softmax_rows(logits, labels.len());
        let (loss, acc, predicted) = score(&probs, y, labels.len());
        let macro_f1 = ConfusionMatrix::from_indices(labels.to_vec(), y, &predicted)
            .report()
            .macro_avg
            .f1;
        EpochScores {
            loss,
            acc,
            macro_f1,
            sets: None,
        }
    }

    fn calibrate(&self, _data: &CalibrationData) -> Calibration {
        Calibration {
            head: Arc::new(SingleLabel),
            messages: Vec::new(),
        }
    }

    fn record(&self, _labels: usize, _weights: Option<&[f32]>) -> HeadRecord {
        HeadRecord::default()
    }

    fn activate(&self, logits: &mut [f32], labels: usize) {
        for row in logits.chunks_mut(labels) {
            softmax_in_place(row);
        }
    }

    fn mix(&self, cnn: &[f32], ngram: &[f32], mix: MixWeights, labels: usize) -> Vec<f32> {
        mix_probabilities(
            &softmax_rows(cnn, labels),
            &softmax_rows(ngram, labels),
            mix,
            labels,
        )
    }

    fn mix_floor(&self, cnn: &[f32], ngram: &[f32], mix: MixWeights, c: usize) -> f64 {
        let (a, b) = (floor_lift(cnn), floor_lift(ngram));
        let lift: Vec<f64> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| mix.cnn as f64 * x + mix.ngram as f64 * y)
            .collect();
        lift[c] - lift.iter().sum::<f64>() / lift.len().max(1) as f64
    }

    fn decide(&self, probs: &[f32], threshold: Option<f32>) -> Vec<(usize, f32)> {
        let best = crate::nn::argmax(probs);
        if probs[best] >= threshold.unwrap_or(0.0) {
            vec![(best, probs[best])]
        } else {
            Vec::new()
        }
    }

    fn explained_value(&self, v: &dyn Fn(usize) -> f32, labels: usize, c: usize) -> f64 {
        let mean: f64 = (0..labels).map(|i| v(i) as f64).sum::<f64>() / labels as f64;
        v(c) as f64 - mean
    }

    fn explained(&self) -> Explained {
        Explained::new(EXPLAINED, "centered")
    }

    fn evaluate(&self, labels: &[String], targets: &Targets, probs: &[f32]) -> Box<dyn Scores> {
        let (y, _) = classes(targets);
        let (_, _, predicted) = score(probs, y, labels.len());
        Box::new(ConfusionMatrix::from_indices(labels.to_vec(), y, &predicted).report())
    }

    fn mean_loss(&self, probs: &[f32], targets: &Targets) -> f64 {
        let (y, k) = classes(targets);
        score(probs, y, k).0
    }

    fn json_tags(&self, _unknown: &Unknown) -> JsonMap {
        JsonMap::new()
    }

    fn branch_feature_sets(&self, preferred: Vec<NgramConfig>) -> Vec<NgramConfig> {
        preferred
    }

    fn branch_score(&self, probs: &[f32], targets: &Targets) -> f64 {
        self.figure(probs, targets)
    }

    fn branch_score_name(&self) -> &'static str {
        "valid_acc"
    }

    fn figure(&self, probs: &[f32], targets: &Targets) -> f64 {
        let (y, k) = classes(targets);
        accuracy(probs, y, k)
    }

    fn choose_mix(&self, cnn: &[f32], ngram: &[f32], t: &Targets) -> MixWeights {
        let (y, k) = classes(t);
        choose_mix(&softmax_rows(cnn, k), &softmax_rows(ngram, k), y, k)
    }

    fn branch_record(&self) -> JsonMap {
        JsonMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_losses_and_weights_on_hand_computed_cases() {
        let h = SingleLabel;
        assert_eq!(h.decide(&[0.2, 0.5, 0.3], None), vec![(1, 0.5)]);
        assert_eq!(h.decide(&[0.2, 0.5, 0.3], Some(0.6)), vec![]);
        // 4 examples of 3 classes: 2 × class 0, 1 × class 1, none of class 2.
        let w = h.balanced_weights(&Targets::classes(3, vec![0, 0, 1, 0]));
        assert_eq!(w, vec![(4.0f64 / 9.0) as f32, (4.0f64 / 3.0) as f32, 1.0]);
        // Centered value: 3 − mean(1, 3, 5) = 0.
        assert_eq!(h.explained_value(&|i| [1.0, 3.0, 5.0][i], 3, 1), 0.0);
        let mut z = [0.0, 0.0, (2.0f32).ln(), 0.0];
        h.activate(&mut z, 2);
        assert_eq!(z[0], 0.5);
        assert!((z[2] - 2.0 / 3.0).abs() < 1e-7);
        // Loss: logits (0, ln 2) against class 1: −ln(2/3).
        let mut d = [0.0; 2];
        let (loss, right) = h.loss(
            &[0.0, (2.0f32).ln()],
            &Targets::classes(2, vec![1]),
            None,
            &mut d,
        );
        assert!((loss - (1.5f32).ln()).abs() < 1e-6);
        assert_eq!(right, 1);
        let s = h.epoch_scores(
            &["a".into(), "b".into()],
            &[0.0, 1.0, 2.0, 0.0],
            &Targets::classes(2, vec![1, 1]),
        );
        assert_eq!((s.acc, s.sets), (0.5, None));
    }
}
