//! The decision rule of the multi-label head: which labels a text gets from its probabilities,
//! and how the rule is chosen on the validation split.
//!
//! A label is decided when its probability reaches its threshold; with [`Decisions::at_least_one`]
//! a text with no label over its threshold gets its most probable one. The thresholds maximise
//! the run's validation metric ([`SetMetric`]) in two steps ([`choose_thresholds`]):
//!
//! 1. one **global** threshold `t_g` of [`THRESHOLD_GRID`] for every label;
//! 2. for each label, its **own** threshold `t_c`, the grid value that maximises the label's own
//!    F1 on validation (Yang 2001's S-cut), **shrunk toward `t_g` by the label's validation
//!    support**: `t = t_g + n_c / (n_c + m) · (t_c − t_g)` with `n_c` the label's validation
//!    positives and `m` = [`SHRINKAGE_SUPPORT`] (500). A label with few validation positives
//!    keeps nearly the global threshold (a threshold fitted to a handful of texts is noise); one
//!    with hundreds moves part of the way to its own.
//!
//! Why this rule: with calibrated probabilities the micro-F1-optimal decision puts every label
//! at one threshold (half the best micro-F1; Lipton, Elkan & Naryanaswamy 2014, *Optimal
//! thresholding of classifiers to maximize F1 measure*), while each label's own F1 — what
//! macro-F1 averages — is best at its own threshold; per-label thresholds also correct a
//! label's miscalibration, but only where enough validation texts measure it. So the run's
//! metric sets the common level, and the labels' own F1, weighted by how well validation
//! measures it, the departures from it. The former rule tuned each label's own F1 alone (S-cut,
//! from 3 positives on) whatever the run's metric.
//!
//! Validation evidence, on validation data only: the default model's held-out validation
//! probabilities (the 10 % split of each training file) were cut into 5 folds; each rule was
//! fitted on 4 and decided the 5th. Micro-F1 / Jaccard / macro-F1 of the pooled decisions, the
//! run's metric micro-F1 (at least one label per text on GoEmotions and Reuters, whose texts
//! all have one; SemEval has 3 % without). "metric-own" is the label's own threshold that
//! maximises the run's metric with the other labels at `t_g`:
//!
//! | rule                                | SemEval-2018 E-c (11)  | GoEmotions (28)        | Reuters ModApte (90)   |
//! |-------------------------------------|------------------------|------------------------|------------------------|
//! | per-label F1 (S-cut, former rule)   | .6047 / .4752 / .5323  | .5503 / .4940 / .4555¹ | .8832 / .8636 / .3579¹ |
//! | global threshold only (`m` = ∞)     | .6317 / .5092 / .5072  | .5717 / .5461 / .4193  | .8865 / .8968 / .4206  |
//! | metric-own, shrunk, `m` = 50        | .6320 / .5127 / .4961  | .5755 / .5470 / .4230  | .8878 / .8978 / .4204  |
//! | metric-own, shrunk, `m` = 200       | .6338 / .5125 / .5053  | .5755 / .5487 / .4213  | .8882 / .8986 / .4204  |
//! | own F1, shrunk, `m` = 20            | .6186 / .4930 / .5243  | .5645 / .5244 / .4444  | .8888 / .8981 / .4239  |
//! | own F1, shrunk, `m` = 50            | .6240 / .4998 / .5176  | .5706 / .5348 / .4349  | .8880 / .8978 / .4228  |
//! | own F1, shrunk, `m` = 200           | .6310 / .5095 / .5162  | .5753 / .5467 / .4298  | .8873 / .8973 / .4204  |
//! | **own F1, shrunk, `m` = 500** (adopted) | .6334 / .5129 / .5131  | .5747 / .5476 / .4251  | .8877 / .8979 / .4204  |
//!
//! ¹ without the at-least-one rule (with it, on Reuters: .8920 / .9014 / .4199; S-cut leaves
//! the many labels with under 3 validation texts at 0.5 there). The at-least-one rule itself,
//! global threshold: GoEmotions Jaccard .5232 → .5461, Reuters .8779 → .8968 (micro-F1
//! .5701 → .5717, .8863 → .8865).
//! The adopted rule matches the best micro-F1 and Jaccard of the table within 0.001 on every set
//! (the folds' noise is larger) and gains macro-F1 on SemEval (+.008) and GoEmotions (+.004)
//! over metric-own with `m` = 200, the previous choice; smaller `m` buys macro-F1 with micro-F1
//! and Jaccard. Measured with the run's metric micro-F1 only; for `--metric jaccard` or
//! `subset-acc` the same per-label step follows that metric's global threshold.
//!
//! Measured and not adopted: per-label mixture weights of the two branches (each label's
//! log-loss-optimal `a`, `b` shrunk toward the shared ones by `n_c / (n_c + 30)`), with the
//! global threshold: .6357 / .5128 (SemEval), .5725 / .5438 (GoEmotions), .8931 / .9046
//! (Reuters) — better on two sets, worse on one, within the folds' noise.

use crate::eval::Metric;

/// The probability at which a label is predicted before calibration.
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// Thresholds tried (0.05, 0.10, …, 0.95).
pub const THRESHOLD_GRID: [f32; 19] = [
    0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80,
    0.85, 0.90, 0.95,
];
/// `m` of the shrinkage (see the module documentation): the validation positives at which a
/// label's threshold moves half-way from the global threshold to its own (500, chosen by
/// 5-fold cross-validation over the validation probabilities of three sets).
pub const SHRINKAGE_SUPPORT: f32 = 500.0;

/// The validation metric that the decisions maximise: the run's `--metric` (`loss` and `acc`
/// of a multi-label run: micro-F1 and subset accuracy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetMetric {
    /// F1 of the summed counts of every label.
    MicroF1,
    /// Mean over labels of each label's F1 (labels without support included, as scikit-learn).
    MacroF1,
    /// Mean over texts of `|true ∩ predicted| / |true ∪ predicted|` (0 when both are empty).
    Jaccard,
    /// Share of texts whose predicted label set is exactly the true one.
    SubsetAcc,
}

impl SetMetric {
    /// The set metric of a run's validation metric.
    pub fn of(metric: Metric) -> SetMetric {
        match metric {
            Metric::MicroF1 | Metric::Loss => SetMetric::MicroF1,
            Metric::MacroF1 => SetMetric::MacroF1,
            Metric::Jaccard => SetMetric::Jaccard,
            Metric::Acc | Metric::SubsetAcc => SetMetric::SubsetAcc,
        }
    }

    /// The name as `--metric` writes it.
    pub fn name(self) -> &'static str {
        match self {
            SetMetric::MicroF1 => "micro-f1",
            SetMetric::MacroF1 => "macro-f1",
            SetMetric::Jaccard => "jaccard",
            SetMetric::SubsetAcc => "subset-acc",
        }
    }

    /// The metric of indicator matrices `predicted` against `truth`, both `[n, k]`.
    pub fn score(self, truth: &[bool], predicted: &[bool], k: usize) -> f64 {
        let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        match self {
            SetMetric::MicroF1 | SetMetric::MacroF1 => {
                let (mut tp, mut fp, mut fneg) =
                    (vec![0usize; k], vec![0usize; k], vec![0usize; k]);
                for (i, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
                    let c = i % k;
                    tp[c] += (t && p) as usize;
                    fp[c] += (!t && p) as usize;
                    fneg[c] += (t && !p) as usize;
                }
                let f1 = |tp: usize, fp: usize, fneg: usize| {
                    ratio(2.0 * tp as f64, (2 * tp + fp + fneg) as f64)
                };
                if self == SetMetric::MicroF1 {
                    let sum = |v: &[usize]| v.iter().sum::<usize>();
                    f1(sum(&tp), sum(&fp), sum(&fneg))
                } else {
                    (0..k).map(|c| f1(tp[c], fp[c], fneg[c])).sum::<f64>() / k.max(1) as f64
                }
            }
            SetMetric::Jaccard | SetMetric::SubsetAcc => {
                let n = truth.len() / k.max(1);
                let mut total = 0.0;
                for (t, p) in truth.chunks(k).zip(predicted.chunks(k)) {
                    total += if self == SetMetric::SubsetAcc {
                        (t == p) as usize as f64
                    } else {
                        let inter = t.iter().zip(p).filter(|(a, b)| **a && **b).count();
                        let union = t.iter().zip(p).filter(|(a, b)| **a || **b).count();
                        ratio(inter as f64, union as f64)
                    };
                }
                ratio(total, n as f64)
            }
        }
    }
}

/// A multi-label decision rule: per-label thresholds, and whether every text gets at least
/// its most probable label.
#[derive(Clone, Debug, PartialEq)]
pub struct Decisions {
    /// Threshold of each label: decided when its probability is at least this.
    pub thresholds: Vec<f32>,
    /// A text with no label over its threshold gets its most probable label (the first in
    /// label order on ties).
    pub at_least_one: bool,
}

impl Decisions {
    /// The indicator matrix `[n, k]` of `probs [n, k]` (`k` = the number of thresholds).
    pub fn apply(&self, probs: &[f32]) -> Vec<bool> {
        let k = self.thresholds.len();
        let mut out: Vec<bool> = probs
            .iter()
            .enumerate()
            .map(|(i, &p)| p >= self.thresholds[i % k])
            .collect();
        if self.at_least_one && k > 0 {
            for (row, p) in out.chunks_mut(k).zip(probs.chunks(k)) {
                if !row.contains(&true) {
                    row[crate::nn::argmax(p)] = true;
                }
            }
        }
        out
    }
}

/// The validation record of [`choose_thresholds`]: the global threshold, and the metric at it
/// and with the shrunk per-label thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct Chosen {
    /// The decision rule.
    pub decisions: Decisions,
    /// The global threshold `t_g`.
    pub global: f32,
    /// The validation metric with every label at `t_g`.
    pub at_global: f64,
    /// The validation metric of the chosen rule.
    pub at_chosen: f64,
}

/// The thresholds of `probs [n, k]` against `truth [n, k]` that maximise `metric` (see the
/// module documentation): a global threshold of `grid` (the one nearest
/// [`DEFAULT_THRESHOLD`] on ties), then each label's grid threshold of best own F1 (the one
/// nearest the global threshold on ties), shrunk toward the global one by
/// `n_c / (n_c + shrinkage)` with `n_c` the label's positives in `truth`. `at_least_one` is
/// applied while choosing the global threshold and scoring the result, as when deciding.
pub fn choose_thresholds(
    probs: &[f32],
    truth: &[bool],
    k: usize,
    metric: SetMetric,
    at_least_one: bool,
    grid: &[f32],
    shrinkage: f32,
) -> Chosen {
    let n = truth.len() / k.max(1);
    let rule = |thresholds: Vec<f32>| Decisions {
        thresholds,
        at_least_one,
    };
    let score = |d: &Decisions| metric.score(truth, &d.apply(probs), k);
    let best_of = |candidates: &mut dyn Iterator<Item = (f32, f64)>, prefer: f32| {
        let mut best: Option<(f32, f64)> = None;
        for (t, s) in candidates {
            let better = match best {
                None => true,
                Some((bt, bs)) => s > bs || (s == bs && (t - prefer).abs() < (bt - prefer).abs()),
            };
            if better {
                best = Some((t, s));
            }
        }
        best.unwrap_or((prefer, f64::NEG_INFINITY))
    };
    let (global, at_global) = best_of(
        &mut grid.iter().map(|&t| (t, score(&rule(vec![t; k])))),
        DEFAULT_THRESHOLD,
    );
    let mut thresholds = vec![global; k];
    for (c, threshold) in thresholds.iter_mut().enumerate() {
        let column = || (0..n).map(move |i| (probs[i * k + c], truth[i * k + c]));
        let positives = column().filter(|&(_, t)| t).count();
        let (own, _) = best_of(
            &mut grid.iter().map(|&g| {
                let (mut tp, mut decided) = (0usize, 0usize);
                for (p, t) in column() {
                    if p >= g {
                        decided += 1;
                        tp += t as usize;
                    }
                }
                let f1 = if decided + positives == 0 {
                    0.0
                } else {
                    2.0 * tp as f64 / (decided + positives) as f64
                };
                (g, f1)
            }),
            global,
        );
        let positives = positives as f32;
        *threshold = global + positives / (positives + shrinkage) * (own - global);
    }
    let decisions = rule(thresholds);
    let at_chosen = score(&decisions);
    Chosen {
        decisions,
        global,
        at_global,
        at_chosen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_metrics_on_a_hand_computed_case() {
        // 3 texts, 2 labels. truth: {0}, {0, 1}, {}; predicted: {0, 1}, {0}, {}.
        let truth = [true, false, true, true, false, false];
        let pred = [true, true, true, false, false, false];
        // Label 0: tp 2; label 1: fp 1, fn 1. Micro: 4 / (4 + 1 + 1).
        assert!((SetMetric::MicroF1.score(&truth, &pred, 2) - 4.0 / 6.0).abs() < 1e-12);
        // Macro: (1 + 0) / 2.
        assert_eq!(SetMetric::MacroF1.score(&truth, &pred, 2), 0.5);
        // Jaccard: (1/2 + 1/2 + 0) / 3 (an empty text predicted empty scores 0).
        assert!((SetMetric::Jaccard.score(&truth, &pred, 2) - 1.0 / 3.0).abs() < 1e-12);
        // Subset: only the third text.
        assert!((SetMetric::SubsetAcc.score(&truth, &pred, 2) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(SetMetric::of(Metric::Loss), SetMetric::MicroF1);
        assert_eq!(SetMetric::of(Metric::Acc), SetMetric::SubsetAcc);
    }

    #[test]
    fn at_least_one_adds_the_most_probable_label_to_empty_rows() {
        let d = Decisions {
            thresholds: vec![0.5, 0.5, 0.5],
            at_least_one: false,
        };
        let probs = [0.1, 0.3, 0.2, 0.6, 0.1, 0.7];
        assert_eq!(
            d.apply(&probs),
            vec![false, false, false, true, false, true]
        );
        let d = Decisions {
            at_least_one: true,
            ..d
        };
        assert_eq!(d.apply(&probs), vec![false, true, false, true, false, true]);
    }

    #[test]
    fn the_global_threshold_maximises_the_metric() {
        // 4 texts, 1 label: positives score 0.3 and 0.8, negatives 0.2 and 0.6.
        let probs = [0.3, 0.2, 0.8, 0.6];
        let truth = [true, false, true, false];
        let grid = [0.25, 0.5, 0.7];
        // Micro-F1 at 0.25: 2 tp, 1 fp → 4/5; at 0.5: 1 tp, 1 fp, 1 fn → 1/2; at 0.7: 1 tp,
        // 1 fn → 2/3.
        let c = choose_thresholds(&probs, &truth, 1, SetMetric::MicroF1, false, &grid, 0.0);
        assert_eq!(c.global, 0.25);
        assert!((c.at_global - 0.8).abs() < 1e-12);
        // Subset accuracy at 0.25: 3/4; at 0.5: 2/4; at 0.7: 3/4 → the tie goes to the grid
        // value nearest 0.5, 0.7 (|0.2| < |0.25|).
        let c = choose_thresholds(&probs, &truth, 1, SetMetric::SubsetAcc, false, &grid, 0.0);
        assert_eq!(c.global, 0.7);
        assert_eq!(c.at_global, 0.75);
    }

    #[test]
    fn per_label_thresholds_shrink_toward_the_global_one_by_support() {
        // 4 texts, 2 labels. Label 0 (2 positives) has its best F1 at 0.5 (1, against 4/5 at
        // 0.2); label 1 (1 positive, scored 0.2) at 0.2 (1, against 0 at 0.5).
        // probs rows: [0.9, 0.2], [0.6, 0.05], [0.1, 0.15], [0.3, 0.05].
        let probs = [0.9, 0.2, 0.6, 0.05, 0.1, 0.15, 0.3, 0.05];
        let truth = [true, true, true, false, false, false, false, false];
        let grid = [0.2, 0.5];
        // Global: at 0.2 label 0 has tp 2, fp 1 (0.3), label 1 tp 1 → micro 6 / 7; at 0.5
        // label 1 is missed → 4 / 5. So t_g = 0.2.
        let c = choose_thresholds(&probs, &truth, 2, SetMetric::MicroF1, false, &grid, 0.0);
        assert_eq!(c.global, 0.2);
        assert!((c.at_global - 6.0 / 7.0).abs() < 1e-12);
        // No shrinkage (m = 0): label 0 moves to its own 0.5 (micro 1), label 1 stays at 0.2.
        assert_eq!(c.decisions.thresholds, vec![0.5, 0.2]);
        assert_eq!(c.at_chosen, 1.0);
        // m = 2: label 0 (2 positives) moves half-way: 0.2 + 2/4 · 0.3 = 0.35.
        let c = choose_thresholds(&probs, &truth, 2, SetMetric::MicroF1, false, &grid, 2.0);
        assert!((c.decisions.thresholds[0] - 0.35).abs() < 1e-6);
        assert_eq!(c.decisions.thresholds[1], 0.2);
        // m = 6: a quarter of the way: 0.2 + 2/8 · 0.3 = 0.275 (0.3 still decided).
        let c = choose_thresholds(&probs, &truth, 2, SetMetric::MicroF1, false, &grid, 6.0);
        assert!((c.decisions.thresholds[0] - 0.275).abs() < 1e-6);
        assert!((c.at_chosen - 6.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn the_own_threshold_is_the_labels_best_f1_whatever_the_metric() {
        // The case above: subset accuracy puts the global threshold at 0.7. The label's own
        // F1: at 0.25, 2 tp of 3 decided and 2 positives → 4/5; at 0.5, 1 of 2 → 2/4; at 0.7,
        // 1 of 1 → 2/3. So its own threshold is 0.25.
        let probs = [0.3, 0.2, 0.8, 0.6];
        let truth = [true, false, true, false];
        let grid = [0.25, 0.5, 0.7];
        let c = choose_thresholds(&probs, &truth, 1, SetMetric::SubsetAcc, false, &grid, 0.0);
        assert_eq!((c.global, c.decisions.thresholds[0]), (0.7, 0.25));
        assert_eq!(c.at_chosen, 0.75);
        // m = 2 with 2 positives: half-way, 0.7 + 2/4 · (0.25 − 0.7) = 0.475; 0.8 and 0.6 are
        // decided, so texts 2 and 3 are right: subset accuracy 1/2.
        let c = choose_thresholds(&probs, &truth, 1, SetMetric::SubsetAcc, false, &grid, 2.0);
        assert!((c.decisions.thresholds[0] - 0.475).abs() < 1e-6);
        assert_eq!(c.at_chosen, 0.5);
    }

    #[test]
    fn at_least_one_is_applied_while_choosing() {
        // 2 texts, 2 labels, each text with exactly one label, scored 0.4 and 0.3 against
        // 0.1 and 0.2 for the other.
        let probs = [0.4, 0.1, 0.2, 0.3];
        let truth = [true, false, false, true];
        let grid = [0.5, 0.9];
        // Without the rule no grid threshold decides anything: subset accuracy 0.
        let c = choose_thresholds(&probs, &truth, 2, SetMetric::SubsetAcc, false, &grid, 0.0);
        assert_eq!(c.at_global, 0.0);
        // With it each text gets its most probable label, which is right: 1.
        let c = choose_thresholds(&probs, &truth, 2, SetMetric::SubsetAcc, true, &grid, 0.0);
        assert_eq!(c.at_global, 1.0);
        assert_eq!(c.global, 0.5);
    }
}
