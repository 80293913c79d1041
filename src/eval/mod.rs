//! Evaluation stage: scores of predictions against the truth, with scikit-learn's definitions.
//!
//! * [`ClassificationReport`] (one label per text): accuracy, per-class precision/recall/F1,
//!   macro and weighted averages, the confusion matrix;
//! * [`MultiLabelReport`] (a set of labels per text): per-label scores, micro, macro, weighted
//!   and samples averages, subset accuracy, Jaccard, Hamming loss, P@k and R@k.
//!
//! Both implement [`Scores`], what the CLI, the HTML report and `compare` read whatever the
//! model's head is.

mod metrics;
mod multilabel;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use metrics::{ClassMetrics, ClassificationReport, ConfusionMatrix, MAX_MATRIX_LABELS};
pub(crate) use metrics::{write_score_row, write_score_table};
pub use multilabel::{AtK, MultiLabelReport};

/// Validation metric that selects the best epoch and drives early stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Validation accuracy (higher is better).
    Acc,
    /// Validation cross-entropy loss (lower is better).
    Loss,
    /// Validation macro-averaged F1 over the labels present in the validation data or its
    /// predictions (higher is better); suits imbalanced classes.
    #[serde(rename = "macro-f1")]
    #[value(name = "macro-f1")]
    MacroF1,
    /// Validation micro-averaged F1 (higher is better); the default of multi-label training
    /// (labels at their decision threshold). With one label per text it equals accuracy.
    #[serde(rename = "micro-f1")]
    #[value(name = "micro-f1")]
    MicroF1,
    /// Multi-label runs only: validation Jaccard index over samples, the mean over texts of
    /// `|true ∩ predicted| / |true ∪ predicted|` (higher is better).
    Jaccard,
    /// Multi-label runs only: validation subset accuracy, the share of texts whose predicted
    /// label set is exactly the true one (higher is better; `acc` means the same there).
    #[serde(rename = "subset-acc")]
    #[value(name = "subset-acc")]
    SubsetAcc,
}

impl Metric {
    /// Whether the metric scores label sets and so exists for multi-label runs only.
    pub fn multi_label_only(self) -> bool {
        matches!(self, Metric::Jaccard | Metric::SubsetAcc)
    }

    /// The name as `--metric` takes it (`micro-f1`, `subset-acc`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Acc => "acc",
            Metric::Loss => "loss",
            Metric::MacroF1 => "macro-f1",
            Metric::MicroF1 => "micro-f1",
            Metric::Jaccard => "jaccard",
            Metric::SubsetAcc => "subset-acc",
        }
    }
}

/// The scores of a model on labelled data, whatever its head: printable (`Display`: the text
/// report of `textcnn eval`), serializable, and the figures that the run summary, `compare`
/// and `report.html` show.
pub trait Scores: fmt::Display + fmt::Debug + Send + Sync {
    /// Named headline figures, each in [0, 1], the main one first (`[("accuracy", ..),
    /// ("macro F1", ..), ("weighted F1", ..)]` for one label per text).
    fn figures(&self) -> Vec<(&'static str, f64)>;
    /// The main figure (the first of [`Scores::figures`]): accuracy, or micro-F1.
    fn headline(&self) -> f64 {
        self.figures()[0].1
    }
    /// One row per label, in the model's label order.
    fn per_label(&self) -> &[ClassMetrics];
    /// The average rows printed after the labels (macro, weighted, ...).
    fn averages(&self) -> Vec<&ClassMetrics>;
    /// The confusion matrix, when the head has one (one label per text).
    fn confusion(&self) -> Option<&ConfusionMatrix>;
    /// Examples evaluated.
    fn examples(&self) -> usize;
    /// The report as JSON (the `"report"` of `report.json` and `textcnn eval --json`).
    fn to_json(&self) -> serde_json::Value;
}

/// Mean cross-entropy, accuracy and the predicted class (arg-max, first on ties) of each row of
/// class probabilities `probs [n, classes]` against the true classes `y [n]`. A zero probability
/// of the true class counts as `-ln(1e-30)`.
pub fn score(probs: &[f32], y: &[usize], classes: usize) -> (f64, f64, Vec<usize>) {
    let mut loss = 0.0;
    let mut correct = 0;
    let mut predicted = Vec::with_capacity(y.len());
    for (row, &t) in probs.chunks(classes).zip(y) {
        loss -= (row[t] as f64).max(1e-30).ln();
        let p = crate::nn::argmax(row);
        correct += usize::from(p == t);
        predicted.push(p);
    }
    let n = y.len().max(1) as f64;
    (loss / n, correct as f64 / n, predicted)
}

#[cfg(test)]
mod tests {
    #[test]
    fn score_on_a_hand_computed_case() {
        let probs = [0.5, 0.5, 0.2, 0.8, 0.9, 0.1];
        let (loss, acc, pred) = super::score(&probs, &[0, 1, 1], 2);
        assert_eq!(pred, vec![0, 1, 0]);
        assert!((acc - 2.0 / 3.0).abs() < 1e-12);
        let want = -((0.5f64).ln() + (0.8f32 as f64).ln() + (0.1f32 as f64).ln()) / 3.0;
        assert!((loss - want).abs() < 1e-9, "{loss} vs {want}");
    }
}
