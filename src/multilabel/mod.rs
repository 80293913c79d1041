//! Multi-label classification: each text may carry any number of labels (none included), as
//! topics, tags or emotions that co-occur.
//!
//! The model has one output per label and one sigmoid per output, trained with binary
//! cross-entropy ([`crate::nn::loss::sigmoid_binary_cross_entropy`]), on any architecture. The
//! `ngram-cnn` default adds a one-vs-rest logistic regression over the same TF-IDF n-grams
//! ([`crate::ngram::LogReg::fit_multi_label`]); the two branches are combined label by label on
//! the logit scale, `z = a · z_cnn + b · z_ngram`, `p = σ(z)`, with `a`, `b` fitted on the
//! validation split by log-loss. A label is predicted when its probability reaches its own
//! threshold, tuned on the validation split ([`metrics::tune_thresholds`]); labels too rare
//! there keep the default 0.5. The thresholds live in the bundle (`config.json` →
//! `"multi_label"`), so prediction, evaluation and the HTTP service apply the same decisions.
//!
//! * [`data`]: readers (fastText, CSV/TSV with a delimited label list or indicator columns,
//!   JSONL label lists);
//! * [`metrics`]: scikit-learn's multi-label report, thresholds;
//! * [`train`]: the training run.

pub mod data;
pub mod metrics;
pub mod train;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

pub use data::{
    MultiDataset, MultiExample, MultiReadOptions, detect_multi_label, load_multi_dataset,
};
pub use metrics::{MultiLabelReport, apply_thresholds, tune_thresholds};
pub use train::{MultiTrainOutcome, train_multi_label};

use crate::bundle::Bundle;
use crate::text::Encoded;

/// The probability at which a label is predicted when validation could not tune it.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Multi-label settings of a bundle (`config.json` → `"multi_label"`); absent in single-label
/// bundles, which are read unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiLabelConfig {
    /// Decision threshold of each label (bundle label order), each in (0, 1): the label is
    /// predicted when its probability is at least this.
    pub thresholds: Vec<f32>,
    /// The threshold of labels with too few validation examples to tune one.
    pub default_threshold: f32,
    /// Weight of each label's positive term in the training loss (`--class-weight`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_weight: Option<Vec<f32>>,
    /// Validation figures that chose the thresholds and the mixture.
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

/// Per-label probabilities `[texts, labels]` of a multi-label bundle: the sigmoid of the CNN's
/// logits, mixed on the logit scale with the n-gram branch's when there is one (`docs` are the
/// token lists it reads; may be empty without a branch).
///
/// # Panics
/// When the bundle has an n-gram branch and `docs` and `encoded` differ in length.
pub fn probabilities(bundle: &Bundle, docs: &[Vec<String>], encoded: &[Encoded]) -> Vec<f32> {
    let cnn = crate::predict::logits(&bundle.model, encoded, bundle.config.encode.min_len);
    let mut z = match (&bundle.ngram, &bundle.config.ngram) {
        (Some(ngram), Some(branch)) => {
            assert_eq!(docs.len(), encoded.len(), "one token list per encoded text");
            let zn = ngram.logreg.logits(&ngram.featurizer.transform_all(docs));
            mix_logits(&cnn, &zn, branch.mix)
        }
        _ => cnn,
    };
    for v in z.iter_mut() {
        *v = crate::nn::loss::sigmoid(*v);
    }
    z
}

/// `a · z_cnn + b · z_ngram`, elementwise (`a`, `b` = `mix.cnn`, `mix.ngram`).
pub fn mix_logits(cnn: &[f32], ngram: &[f32], mix: crate::ngram::MixWeights) -> Vec<f32> {
    cnn.iter()
        .zip(ngram)
        .map(|(&a, &b)| mix.cnn * a + mix.ngram * b)
        .collect()
}

/// The labels of one text whose probability reaches its threshold, most probable first (ties
/// by label order): `(label index, probability)`. `threshold` overrides every label's own.
pub fn decide(
    probs: &[f32],
    config: &MultiLabelConfig,
    threshold: Option<f32>,
) -> Vec<(usize, f32)> {
    let mut out: Vec<(usize, f32)> = probs
        .iter()
        .enumerate()
        .filter(|&(c, &p)| p >= threshold.unwrap_or(config.thresholds[c]))
        .map(|(c, &p)| (c, p))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_applies_each_labels_threshold_and_sorts() {
        let config = MultiLabelConfig {
            thresholds: vec![0.5, 0.2, 0.9],
            default_threshold: 0.5,
            pos_weight: None,
            validation: serde_json::Value::Null,
        };
        assert_eq!(
            decide(&[0.6, 0.3, 0.8], &config, None),
            vec![(0, 0.6), (1, 0.3)]
        );
        assert_eq!(decide(&[0.1, 0.1, 0.1], &config, None), vec![]);
        assert_eq!(decide(&[0.6, 0.3, 0.8], &config, Some(0.7)), vec![(2, 0.8)]);
        assert!(config.validate(3).is_ok());
        assert!(config.validate(2).is_err());
    }
}
