//! The global view of a model: over a dataset, which n-grams most often drive each label.
//!
//! Every text is explained for each label it is given ([`Classifier::explain_decided`]: the
//! predicted label; every label over its threshold for a multi-label model); for each, its
//! `per_text` windows with the largest positive contributions are its drivers. Per label, a
//! driver's **count** is the number of texts predicted as that label in which it is among the
//! drivers
//! (windows with the same source and text count once per text); drivers are ranked by count,
//! then by total contribution. This audits a model: a label driven by names, dates or markup
//! instead of content shows here.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use super::{Explanation, Source};
use crate::predict::Classifier;

/// A window's identity across texts: source, size and text.
type Key = (Source, usize, String);

/// A text's drivers and their contributions (summed over repeats).
type TextDrivers = Vec<(Key, f64)>;

/// One n-gram that drives a label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Driver {
    /// CNN window or n-gram of the n-gram branch.
    pub source: Source,
    /// Region size (CNN) or n-gram order.
    pub region_size: usize,
    /// The window's tokens joined by spaces, or the n-gram's name.
    pub text: String,
    /// Texts predicted as the label in which this was among the drivers.
    pub count: usize,
    /// Mean contribution (logit units) over those texts.
    pub mean_contribution: f32,
}

/// The drivers of one label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelDrivers {
    /// The label.
    pub label: String,
    /// Texts predicted as this label.
    pub texts: usize,
    /// The most frequent drivers, most frequent first.
    pub drivers: Vec<Driver>,
}

/// Per label (in the bundle's order), the `per_label` n-grams that most often are among the
/// `per_text` largest positive contributions of the texts predicted as that label (only
/// windows of `source` when given: `Cnn` lists the feature-map windows alone, which the
/// n-gram branch of an `ngram-cnn` model otherwise outweighs). Texts without tokens are
/// skipped (their number is returned). Runs in the current rayon pool; the
/// result does not depend on the thread count.
pub fn drivers(
    classifier: &Classifier,
    texts: &[&str],
    per_text: usize,
    per_label: usize,
    source: Option<Source>,
) -> (Vec<LabelDrivers>, usize) {
    // Per text: its decided labels, each with its drivers (None: no tokens).
    let per_text_drivers: Vec<Option<Vec<(usize, TextDrivers)>>> = texts
        .par_iter()
        .map(|t| {
            let explanations = classifier.explain_decided(t).ok()?;
            Some(
                explanations
                    .iter()
                    .map(|e| (e.label_index, text_drivers(e, per_text, source)))
                    .collect(),
            )
        })
        .collect();
    let k = classifier.labels().len();
    let mut counts: Vec<HashMap<Key, (usize, f64)>> = vec![HashMap::new(); k];
    let mut n_texts = vec![0usize; k];
    let mut skipped = 0;
    for item in per_text_drivers {
        let Some(decided) = item else {
            skipped += 1;
            continue;
        };
        for (c, mine) in decided {
            n_texts[c] += 1;
            for (key, v) in mine {
                let e = counts[c].entry(key).or_insert((0, 0.0));
                e.0 += 1;
                e.1 += v;
            }
        }
    }
    let out = counts
        .into_iter()
        .enumerate()
        .map(|(c, map)| {
            let mut list: Vec<(Key, (usize, f64))> = map.into_iter().collect();
            list.sort_by(|a, b| {
                b.1.0
                    .cmp(&a.1.0)
                    .then(b.1.1.total_cmp(&a.1.1))
                    .then(a.0.2.cmp(&b.0.2))
                    .then(a.0.1.cmp(&b.0.1))
            });
            LabelDrivers {
                label: classifier.labels()[c].clone(),
                texts: n_texts[c],
                drivers: list
                    .into_iter()
                    .take(per_label)
                    .map(|((source, region_size, text), (count, sum))| Driver {
                        source,
                        region_size,
                        text,
                        count,
                        mean_contribution: (sum / count as f64) as f32,
                    })
                    .collect(),
            }
        })
        .collect();
    (out, skipped)
}

/// The `per_text` largest positive windows of one explanation (of `source` when given), those
/// with the same key summed.
fn text_drivers(e: &Explanation, per_text: usize, source: Option<Source>) -> TextDrivers {
    let mut mine: TextDrivers = Vec::new();
    for w in e
        .windows
        .iter()
        .filter(|w| w.contribution > 0.0 && source.is_none_or(|s| w.source == s))
        .take(per_text)
    {
        let key = (w.source, w.region_size, w.text.clone());
        match mine.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v += w.contribution as f64,
            None => mine.push((key, w.contribution as f64)),
        }
    }
    mine
}
