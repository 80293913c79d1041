//! Accuracy, per-class precision/recall/F1, macro and weighted averages and the confusion matrix,
//! with the same definitions and zero-division convention (0.0) as scikit-learn's
//! `classification_report` and `confusion_matrix`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Counts of (true class, predicted class) pairs. `counts[t][p]` = number of examples whose true
/// class index is `t` and predicted class index is `p` (rows: truth, columns: prediction, as in
/// scikit-learn).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Class names; index `i` names row and column `i`.
    pub labels: Vec<String>,
    /// `[num_classes][num_classes]` counts.
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    /// An all-zero matrix over `labels`.
    pub fn new(labels: Vec<String>) -> ConfusionMatrix {
        let n = labels.len();
        ConfusionMatrix {
            labels,
            counts: vec![vec![0; n]; n],
        }
    }

    /// Builds the matrix from parallel slices of true and predicted class indices.
    ///
    /// # Panics
    /// If the slices differ in length or an index is `>= labels.len()` (a programming error: the
    /// callers map labels to indices first and report unknown labels themselves).
    pub fn from_indices(
        labels: Vec<String>,
        truth: &[usize],
        predicted: &[usize],
    ) -> ConfusionMatrix {
        assert_eq!(
            truth.len(),
            predicted.len(),
            "truth and predictions differ in length"
        );
        let mut m = ConfusionMatrix::new(labels);
        for (&t, &p) in truth.iter().zip(predicted) {
            m.add(t, p);
        }
        m
    }

    /// Records one example.
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    /// Total number of examples.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Fraction of examples on the diagonal (0.0 for an empty matrix).
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.labels.len()).map(|i| self.counts[i][i]).sum();
        ratio(correct, self.total())
    }

    /// Per-class precision, recall, F1 and support, then accuracy and the macro and
    /// support-weighted averages.
    ///
    /// As in scikit-learn, the macro average runs over the labels present in the truth or the
    /// predictions ([`ConfusionMatrix::present`]): a label of the model that the evaluated data
    /// neither holds nor gets predicted is listed with zeros but does not pull the average down.
    pub fn report(&self) -> ClassificationReport {
        let n = self.labels.len();
        let per_class: Vec<ClassMetrics> = (0..n)
            .map(|c| {
                let tp = self.counts[c][c];
                let predicted: usize = (0..n).map(|t| self.counts[t][c]).sum();
                let support: usize = self.counts[c].iter().sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    label: self.labels[c].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let total = self.total();
        // `weights[i]`: the weight of class i in the average.
        let average = |weights: &[f64], label: &str| {
            let wsum: f64 = weights.iter().sum();
            let avg = |f: &dyn Fn(&ClassMetrics) -> f64| {
                if wsum == 0.0 {
                    0.0
                } else {
                    per_class
                        .iter()
                        .zip(weights)
                        .map(|(m, w)| w * f(m))
                        .sum::<f64>()
                        / wsum
                }
            };
            ClassMetrics {
                label: label.to_string(),
                precision: avg(&|m| m.precision),
                recall: avg(&|m| m.recall),
                f1: avg(&|m| m.f1),
                support: total,
            }
        };
        let present: Vec<f64> = self
            .present()
            .into_iter()
            .map(|p| f64::from(u8::from(p)))
            .collect();
        let macro_avg = average(&present, "macro avg");
        let support: Vec<f64> = per_class.iter().map(|m| m.support as f64).collect();
        let weighted_avg = average(&support, "weighted avg");
        ClassificationReport {
            accuracy: self.accuracy(),
            per_class,
            macro_avg,
            weighted_avg,
            confusion: self.clone(),
        }
    }
}

impl ConfusionMatrix {
    /// Per label: whether it occurs in the truth or the predictions (its row or column holds a
    /// count). The macro average runs over these labels only.
    pub fn present(&self) -> Vec<bool> {
        let n = self.labels.len();
        (0..n)
            .map(|c| self.counts[c].iter().any(|&v| v > 0) || (0..n).any(|t| self.counts[t][c] > 0))
            .collect()
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Precision, recall, F1 (all in [0, 1]) and support (number of true examples) of one class or
/// of an average.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The label, or the average's name (`macro avg`, `micro avg`, ...).
    pub label: String,
    /// `tp / (tp + fp)` (multi-label samples avg: mean over texts of `|true ∩ predicted| /
    /// |predicted|`).
    pub precision: f64,
    /// `tp / (tp + fn)` (multi-label samples avg: mean over texts of `|true ∩ predicted| /
    /// |true|`).
    pub recall: f64,
    /// Harmonic mean of precision and recall (macro/weighted: mean of the labels' F1; samples:
    /// mean over texts of `2 |true ∩ predicted| / (|true| + |predicted|)`).
    pub f1: f64,
    /// True occurrences (for an average: of all labels, as scikit-learn prints).
    pub support: usize,
}

impl ClassMetrics {
    /// The row `label`: precision, recall, F1 and support.
    pub fn new(label: &str, precision: f64, recall: f64, f1: f64, support: usize) -> ClassMetrics {
        ClassMetrics {
            label: label.to_string(),
            precision,
            recall,
            f1,
            support,
        }
    }
}

/// The start of scikit-learn's `classification_report` layout: the header and one row per
/// label in `rows`, then a blank line. Returns the width of the first column, for
/// [`write_score_row`].
pub(crate) fn write_score_table(
    f: &mut fmt::Formatter<'_>,
    rows: &[ClassMetrics],
) -> Result<usize, fmt::Error> {
    let width = rows
        .iter()
        .map(|m| m.label.chars().count())
        .chain(["weighted avg".len()])
        .max()
        .unwrap_or(12);
    writeln!(
        f,
        "{:>width$} {:>9} {:>9} {:>9} {:>9}",
        "", "precision", "recall", "f1-score", "support"
    )?;
    writeln!(f)?;
    for m in rows {
        write_score_row(f, width, m)?;
    }
    writeln!(f)?;
    Ok(width)
}

/// One row of the report: label, precision, recall, F1 (4 decimals) and support.
pub(crate) fn write_score_row(
    f: &mut fmt::Formatter<'_>,
    width: usize,
    m: &ClassMetrics,
) -> fmt::Result {
    writeln!(
        f,
        "{:>width$} {:>9.4} {:>9.4} {:>9.4} {:>9}",
        m.label, m.precision, m.recall, m.f1, m.support
    )
}

/// Everything `textcnn eval` prints; `Display` gives the layout of scikit-learn's
/// `classification_report` followed by the confusion matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    pub accuracy: f64,
    pub per_class: Vec<ClassMetrics>,
    pub macro_avg: ClassMetrics,
    pub weighted_avg: ClassMetrics,
    pub confusion: ConfusionMatrix,
}

/// Labels up to which the text report prints the whole confusion matrix; with more (intent
/// sets have 150) it lists the most frequent confusions instead, and the full matrix is in
/// `report.json` and the SVG of `eval --plots`.
pub const MAX_MATRIX_LABELS: usize = 20;

/// Confusions listed in place of a matrix too wide for a terminal.
const TOP_CONFUSIONS: usize = 20;

impl ClassificationReport {
    /// The [`TOP_CONFUSIONS`] most frequent (true, predicted) pairs with different labels, most
    /// frequent first (ties by true label, then predicted label, in label order).
    pub fn top_confusions(&self) -> Vec<(&str, &str, usize)> {
        let labels = &self.confusion.labels;
        let mut pairs: Vec<(usize, usize, usize)> = self
            .confusion
            .counts
            .iter()
            .enumerate()
            .flat_map(|(t, row)| {
                row.iter()
                    .enumerate()
                    .filter(move |&(p, &c)| p != t && c > 0)
                    .map(move |(p, &c)| (t, p, c))
            })
            .collect();
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        pairs
            .into_iter()
            .take(TOP_CONFUSIONS)
            .map(|(t, p, c)| (labels[t].as_str(), labels[p].as_str(), c))
            .collect()
    }

    fn write_top_confusions(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "most frequent confusions ({} labels: the full matrix is in report.json and `textcnn eval --plots`)",
            self.confusion.labels.len()
        )?;
        for (t, p, c) in self.top_confusions() {
            writeln!(f, "{c:>7}  {t} -> {p}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ClassificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = write_score_table(f, &self.per_class)?;
        let row = |f: &mut fmt::Formatter<'_>, m: &ClassMetrics| write_score_row(f, width, m);
        let total = self.confusion.total();
        writeln!(
            f,
            "{:>width$} {:>9} {:>9} {:>9.4} {:>9}",
            "accuracy", "", "", self.accuracy, total
        )?;
        row(f, &self.macro_avg)?;
        row(f, &self.weighted_avg)?;
        let absent: Vec<&str> = self
            .confusion
            .labels
            .iter()
            .zip(self.confusion.present())
            .filter(|(_, p)| !p)
            .map(|(l, _)| l.as_str())
            .collect();
        if !absent.is_empty() {
            writeln!(
                f,
                "(macro avg over the {} labels present in the data or the predictions, as scikit-learn; \
                 not counted: {})",
                self.confusion.labels.len() - absent.len(),
                absent.join(", ")
            )?;
        }
        writeln!(f)?;
        if self.confusion.labels.len() > MAX_MATRIX_LABELS {
            return self.write_top_confusions(f);
        }
        writeln!(
            f,
            "confusion matrix (rows: true label, columns: predicted label)"
        )?;
        let cell = self
            .confusion
            .counts
            .iter()
            .flatten()
            .map(|c| c.to_string().len())
            .chain(self.confusion.labels.iter().map(|l| l.chars().count()))
            .max()
            .unwrap_or(1);
        write!(f, "{:>width$}", "")?;
        for l in &self.confusion.labels {
            write!(f, " {l:>cell$}")?;
        }
        writeln!(f)?;
        for (l, row) in self.confusion.labels.iter().zip(&self.confusion.counts) {
            write!(f, "{l:>width$}")?;
            for c in row {
                write!(f, " {c:>cell$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl super::Scores for ClassificationReport {
    fn figures(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("accuracy", self.accuracy),
            ("macro F1", self.macro_avg.f1),
            ("weighted F1", self.weighted_avg.f1),
        ]
    }

    fn per_label(&self) -> &[ClassMetrics] {
        &self.per_class
    }

    fn averages(&self) -> Vec<&ClassMetrics> {
        vec![&self.macro_avg, &self.weighted_avg]
    }

    fn confusion(&self) -> Option<&ConfusionMatrix> {
        Some(&self.confusion)
    }

    fn examples(&self) -> usize {
        self.confusion.total()
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a report serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// The example of scikit-learn's `classification_report` documentation:
    /// y_true = [0, 1, 2, 2, 2], y_pred = [0, 0, 2, 2, 1].
    #[test]
    fn many_labels_list_the_top_confusions_instead_of_the_matrix() {
        // 25 labels; label i is mistaken for label i+1 (i+1) times on top of 30 right answers.
        let names: Vec<String> = (0..25).map(|i| format!("l{i:02}")).collect();
        let (mut truth, mut pred) = (Vec::new(), Vec::new());
        for i in 0..25usize {
            for _ in 0..30 {
                truth.push(i);
                pred.push(i);
            }
            for _ in 0..=i {
                truth.push(i);
                pred.push((i + 1) % 25);
            }
        }
        let report = ConfusionMatrix::from_indices(names, &truth, &pred).report();
        let top = report.top_confusions();
        assert_eq!(top.len(), 20);
        assert_eq!(top[0], ("l24", "l00", 25));
        assert_eq!(top[1], ("l23", "l24", 24));
        assert_eq!(top[19], ("l05", "l06", 6));
        let text = report.to_string();
        assert!(
            text.contains("most frequent confusions (25 labels"),
            "{text}"
        );
        assert!(text.contains("     25  l24 -> l00\n"), "{text}");
        assert!(!text.contains("confusion matrix"));
    }

    #[test]
    fn matches_scikit_learn_documentation_example() {
        let m = ConfusionMatrix::from_indices(
            labels(&["class 0", "class 1", "class 2"]),
            &[0, 1, 2, 2, 2],
            &[0, 0, 2, 2, 1],
        );
        assert_eq!(m.counts, vec![vec![1, 0, 0], vec![1, 0, 0], vec![0, 1, 2]]);
        let r = m.report();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(r.accuracy, 0.6));
        assert!(close(r.per_class[0].precision, 0.5) && close(r.per_class[0].recall, 1.0));
        assert!(close(r.per_class[0].f1, 2.0 / 3.0));
        assert!(close(r.per_class[1].precision, 0.0) && close(r.per_class[1].f1, 0.0));
        assert!(close(r.per_class[2].precision, 1.0) && close(r.per_class[2].recall, 2.0 / 3.0));
        assert!(close(r.per_class[2].f1, 0.8));
        assert_eq!(
            r.per_class.iter().map(|c| c.support).collect::<Vec<_>>(),
            vec![1, 1, 3]
        );
        assert!(close(r.macro_avg.precision, 0.5));
        assert!(close(r.macro_avg.recall, (1.0 + 0.0 + 2.0 / 3.0) / 3.0));
        assert!(close(r.macro_avg.f1, (2.0 / 3.0 + 0.0 + 0.8) / 3.0));
        assert!(close(r.weighted_avg.precision, (0.5 + 0.0 + 3.0) / 5.0));
        assert!(close(r.weighted_avg.recall, 0.6));
        assert!(close(r.weighted_avg.f1, (2.0 / 3.0 + 3.0 * 0.8) / 5.0));
        let text = r.to_string();
        assert!(
            text.contains("     class 2    1.0000    0.6667    0.8000         3"),
            "{text}"
        );
        assert!(
            text.contains("    accuracy                        0.6000         5"),
            "{text}"
        );
    }

    #[test]
    fn empty_and_never_predicted_classes_score_zero_not_nan() {
        let m = ConfusionMatrix::from_indices(labels(&["a", "b"]), &[0, 0], &[0, 0]);
        let r = m.report();
        assert_eq!(r.per_class[1].precision, 0.0);
        assert_eq!(r.per_class[1].recall, 0.0);
        assert_eq!(r.accuracy, 1.0);
        assert_eq!(ConfusionMatrix::new(labels(&["a"])).report().accuracy, 0.0);
    }

    /// scikit-learn: `f1_score([0, 1], [0, 1], average="macro")` is 1.0 whatever other labels
    /// the model has; a label absent from truth and predictions is listed, not averaged.
    #[test]
    fn macro_average_skips_labels_absent_from_truth_and_predictions() {
        let r = ConfusionMatrix::from_indices(labels(&["a", "b", "c"]), &[0, 1], &[0, 1]).report();
        assert_eq!(r.macro_avg.f1, 1.0);
        assert_eq!(r.per_class.len(), 3);
        assert!(r.to_string().contains("not counted: c"), "{r}");
        // A label only predicted counts (precision and recall 0); b does not.
        let r = ConfusionMatrix::from_indices(labels(&["a", "b", "c"]), &[0, 0], &[0, 2]).report();
        assert!((r.macro_avg.precision - 0.5).abs() < 1e-12, "{r}");
        assert!((r.macro_avg.recall - 0.25).abs() < 1e-12, "{r}");
        assert!(r.to_string().contains("not counted: b"), "{r}");
    }

    #[test]
    fn report_round_trips_through_json() {
        let r =
            ConfusionMatrix::from_indices(labels(&["neg", "pos"]), &[0, 1, 1], &[0, 1, 0]).report();
        let back: ClassificationReport =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
