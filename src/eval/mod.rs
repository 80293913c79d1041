//! Evaluation stage: classification metrics and reports.

mod metrics;

pub use metrics::{ClassMetrics, ClassificationReport, ConfusionMatrix};
pub(crate) use metrics::{write_score_row, write_score_table};

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
