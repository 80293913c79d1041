//! Multi-label evaluation with scikit-learn's definitions: `classification_report` on
//! indicator matrices (per-label precision, recall, F1 and support; micro, macro, weighted and
//! samples averages), `accuracy_score` (subset accuracy), `jaccard_score(average="samples")`,
//! `hamming_loss`, and precision/recall at k of the ranked probabilities.
//!
//! A ratio whose denominator is zero is 0, as scikit-learn's default `zero_division="warn"`
//! gives (a label never predicted has precision 0; a text with no true and no predicted label
//! has sample precision, recall, F1 and Jaccard 0).

use std::fmt;

use serde::Serialize;

use super::{ClassMetrics, ConfusionMatrix, Scores};

/// Precision and recall of the `k` most probable labels of each text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AtK {
    /// Labels taken per text.
    pub k: usize,
    /// Mean over texts of `|top k ∩ true| / k`.
    pub precision: f64,
    /// Mean over texts with at least one true label of `|top k ∩ true| / |true|`.
    pub recall: f64,
}

/// Everything `textcnn eval` prints for a multi-label model; `Display` gives
/// scikit-learn's `classification_report` layout followed by the set-based metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MultiLabelReport {
    /// One row per label, in label order.
    pub per_label: Vec<ClassMetrics>,
    /// From the summed counts of all labels.
    pub micro_avg: ClassMetrics,
    /// Unweighted mean over all labels (those without support included, as scikit-learn).
    pub macro_avg: ClassMetrics,
    /// Mean over labels weighted by support.
    pub weighted_avg: ClassMetrics,
    /// Mean over texts of the per-text scores.
    pub samples_avg: ClassMetrics,
    /// Share of texts whose predicted label set equals the true one.
    pub subset_accuracy: f64,
    /// Mean over texts of `|true ∩ predicted| / |true ∪ predicted|`.
    pub jaccard_samples: f64,
    /// Share of (text, label) decisions that are wrong.
    pub hamming_loss: f64,
    /// Precision and recall at k (empty without probabilities).
    pub at_k: Vec<AtK>,
    /// Texts evaluated.
    pub examples: usize,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

fn f1(p: f64, r: f64) -> f64 {
    ratio(2.0 * p * r, p + r)
}

/// The counts behind a [`MultiLabelReport`]: per label true positives, false positives and
/// false negatives; over texts exact matches, Jaccard, wrong decisions and the sums of the
/// per-text precision, recall and F1.
struct Counts {
    tp: Vec<usize>,
    fp: Vec<usize>,
    fn_: Vec<usize>,
    exact: usize,
    jac: f64,
    wrong: usize,
    sp: f64,
    sr: f64,
    sf: f64,
}

impl Counts {
    /// The counts of indicator matrices `truth` and `predicted`, `[n, k]`.
    fn of(truth: &[bool], predicted: &[bool], k: usize) -> Counts {
        let (mut tp, mut fp, mut fn_) = (vec![0usize; k], vec![0usize; k], vec![0usize; k]);
        let (mut exact, mut jac, mut wrong) = (0usize, 0.0f64, 0usize);
        let (mut sp, mut sr, mut sf) = (0.0f64, 0.0f64, 0.0f64);
        for (t, p) in truth.chunks(k).zip(predicted.chunks(k)) {
            let (mut inter, mut nt, mut np) = (0usize, 0usize, 0usize);
            for c in 0..k {
                match (t[c], p[c]) {
                    (true, true) => tp[c] += 1,
                    (false, true) => fp[c] += 1,
                    (true, false) => fn_[c] += 1,
                    _ => {}
                }
                inter += (t[c] && p[c]) as usize;
                nt += t[c] as usize;
                np += p[c] as usize;
                wrong += (t[c] != p[c]) as usize;
            }
            exact += (t == p) as usize;
            let union = nt + np - inter;
            jac += ratio(inter as f64, union as f64);
            sp += ratio(inter as f64, np as f64);
            sr += ratio(inter as f64, nt as f64);
            sf += ratio(2.0 * inter as f64, (nt + np) as f64);
        }
        Counts {
            tp,
            fp,
            fn_,
            exact,
            jac,
            wrong,
            sp,
            sr,
            sf,
        }
    }
}

impl MultiLabelReport {
    /// The report of `predicted` against `truth`, both indicator matrices `[n, labels.len()]`
    /// (row-major, `true` = the text has / is given the label), with P@k and R@k for every `k`
    /// of `ks` from `scores [n, labels]` (probabilities; ties broken by label order) when given.
    ///
    /// # Panics
    /// When the matrices do not have `labels.len()` columns and equal sizes.
    pub fn new(
        labels: &[String],
        truth: &[bool],
        predicted: &[bool],
        scores: Option<&[f32]>,
        ks: &[usize],
    ) -> MultiLabelReport {
        let k = labels.len();
        assert!(k > 0, "no labels");
        assert_eq!(
            truth.len(),
            predicted.len(),
            "truth and predictions differ in size"
        );
        assert_eq!(truth.len() % k, 0, "not [n, labels]");
        let n = truth.len() / k;
        let counts = Counts::of(truth, predicted, k);
        let per_label: Vec<ClassMetrics> = (0..k)
            .map(|c| {
                let p = ratio(counts.tp[c] as f64, (counts.tp[c] + counts.fp[c]) as f64);
                let r = ratio(counts.tp[c] as f64, (counts.tp[c] + counts.fn_[c]) as f64);
                ClassMetrics {
                    label: labels[c].clone(),
                    precision: p,
                    recall: r,
                    f1: f1(p, r),
                    support: counts.tp[c] + counts.fn_[c],
                }
            })
            .collect();
        let support: usize = per_label.iter().map(|s| s.support).sum();
        let (stp, sfp, sfn) = (
            counts.tp.iter().sum::<usize>() as f64,
            counts.fp.iter().sum::<usize>() as f64,
            counts.fn_.iter().sum::<usize>() as f64,
        );
        let (mp, mr) = (ratio(stp, stp + sfp), ratio(stp, stp + sfn));
        let micro_avg = ClassMetrics::new("micro avg", mp, mr, f1(mp, mr), support);
        let mean =
            |f: &dyn Fn(&ClassMetrics) -> f64| per_label.iter().map(f).sum::<f64>() / k as f64;
        let (p, r, f) = (mean(&|s| s.precision), mean(&|s| s.recall), mean(&|s| s.f1));
        let macro_avg = ClassMetrics::new("macro avg", p, r, f, support);
        let wmean = |f: &dyn Fn(&ClassMetrics) -> f64| {
            ratio(
                per_label
                    .iter()
                    .map(|s| f(s) * s.support as f64)
                    .sum::<f64>(),
                support as f64,
            )
        };
        let (p, r, f) = (
            wmean(&|s| s.precision),
            wmean(&|s| s.recall),
            wmean(&|s| s.f1),
        );
        let weighted_avg = ClassMetrics::new("weighted avg", p, r, f, support);
        let nn = n.max(1) as f64;
        let samples_avg = ClassMetrics::new(
            "samples avg",
            counts.sp / nn,
            counts.sr / nn,
            counts.sf / nn,
            support,
        );
        let at_k = match scores {
            Some(s) => {
                assert_eq!(s.len(), truth.len(), "scores are not [n, labels]");
                ks.iter().map(|&kk| at_k(truth, s, k, kk)).collect()
            }
            None => Vec::new(),
        };
        MultiLabelReport {
            per_label,
            micro_avg,
            macro_avg,
            weighted_avg,
            samples_avg,
            subset_accuracy: counts.exact as f64 / nn,
            jaccard_samples: counts.jac / nn,
            hamming_loss: counts.wrong as f64 / (nn * k as f64),
            at_k,
            examples: n,
        }
    }
}

/// P@k and R@k of `scores [n, labels]` against `truth` (see [`AtK`]).
fn at_k(truth: &[bool], scores: &[f32], labels: usize, k: usize) -> AtK {
    let (mut p, mut r, mut with_labels) = (0.0, 0.0, 0usize);
    let mut idx: Vec<usize> = Vec::with_capacity(labels);
    for (t, s) in truth.chunks(labels).zip(scores.chunks(labels)) {
        idx.clear();
        idx.extend(0..labels);
        idx.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
        let hits = idx.iter().take(k).filter(|&&c| t[c]).count() as f64;
        p += hits / k.max(1) as f64;
        let nt = t.iter().filter(|&&v| v).count();
        if nt > 0 {
            r += hits / nt as f64;
            with_labels += 1;
        }
    }
    let n = (truth.len() / labels).max(1) as f64;
    AtK {
        k,
        precision: p / n,
        recall: ratio(r, with_labels as f64),
    }
}

impl fmt::Display for MultiLabelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = super::write_score_table(f, &self.per_label)?;
        let row =
            |f: &mut fmt::Formatter<'_>, m: &ClassMetrics| super::write_score_row(f, width, m);
        for m in [
            &self.micro_avg,
            &self.macro_avg,
            &self.weighted_avg,
            &self.samples_avg,
        ] {
            row(f, m)?;
        }
        writeln!(f)?;
        writeln!(f, "subset accuracy   {:.4}", self.subset_accuracy)?;
        writeln!(f, "jaccard (samples) {:.4}", self.jaccard_samples)?;
        writeln!(f, "hamming loss      {:.4}", self.hamming_loss)?;
        for a in &self.at_k {
            writeln!(
                f,
                "P@{:<2} {:.4}  R@{:<2} {:.4}",
                a.k, a.precision, a.k, a.recall
            )?;
        }
        Ok(())
    }
}

impl Scores for MultiLabelReport {
    fn figures(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("micro F1", self.micro_avg.f1),
            ("macro F1", self.macro_avg.f1),
            ("weighted F1", self.weighted_avg.f1),
            ("samples F1", self.samples_avg.f1),
            ("subset accuracy", self.subset_accuracy),
        ]
    }

    fn per_label(&self) -> &[ClassMetrics] {
        &self.per_label
    }

    fn averages(&self) -> Vec<&ClassMetrics> {
        vec![
            &self.micro_avg,
            &self.macro_avg,
            &self.weighted_avg,
            &self.samples_avg,
        ]
    }

    fn confusion(&self) -> Option<&ConfusionMatrix> {
        None
    }

    fn examples(&self) -> usize {
        self.examples
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a report serializes")
    }
}
