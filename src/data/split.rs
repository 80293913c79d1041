//! The one train/validation split: seeded, stratified by label for single-label data, one
//! shuffle for label sets.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::Dataset;

/// Number of examples of a class of size `n` that go to validation: `round(fraction * n)`, at
/// least 1 and at most `n - 1` when `n >= 2` and `fraction > 0`; 0 for a class with one example.
pub fn valid_count(n: usize, fraction: f64) -> usize {
    if n < 2 || fraction.is_nan() || fraction <= 0.0 {
        return 0;
    }
    ((fraction * n as f64).round() as usize).clamp(1, n - 1)
}

/// Warnings for classes of `ds` that [`stratified_split`] cannot split at `fraction`: classes
/// with a single example (none held out, so the held-out part, named `held_out` in the
/// messages, does not see the class), and small classes whose held-out share is more than 1.5×
/// the request (at least one example is held out so that every class is seen). At most two
/// messages; each names up to 5 classes with their sizes.
pub fn split_warnings(ds: &Dataset, fraction: f64, held_out: &str) -> Vec<String> {
    if fraction.is_nan() || fraction <= 0.0 {
        return Vec::new();
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &ds.examples {
        *counts.entry(e.label()).or_default() += 1;
    }
    let (mut single, mut over) = (Vec::new(), Vec::new());
    for (label, n) in counts {
        let share = valid_count(n, fraction) as f64 / n as f64;
        if n == 1 {
            single.push(format!("{label:?}"));
        } else if share > 1.5 * fraction {
            over.push(format!("{label:?} ({:.0} % of {n})", 100.0 * share));
        }
    }
    let list = |v: &[String]| {
        let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if v.len() > 5 {
            s.push_str(&format!(" and {} more", v.len() - 5));
        }
        s
    };
    let mut out = Vec::new();
    if !single.is_empty() {
        out.push(format!(
            "{} class(es) with one example stay in training only; {held_out} does not measure them: {}",
            single.len(),
            list(&single)
        ));
    }
    if !over.is_empty() {
        out.push(format!(
            "{} small class(es) lose more than the requested {:.0} % to {held_out} (one example at least): {}",
            over.len(),
            100.0 * fraction,
            list(&over)
        ));
    }
    out
}

/// Splits `ds` into `(train, valid)`, stratified by label ([`split`] with `by_label`).
pub fn stratified_split(ds: &Dataset, fraction: f64, seed: u64) -> (Dataset, Dataset) {
    split(ds, fraction, seed, true)
}

/// Splits `ds` into `(train, valid)`: stratified by label (each example's first; for one label
/// per text), or as one group (`by_label` false: label sets, where classes overlap).
///
/// For each group (labels in sorted order) the indices of its examples are shuffled with one
/// `ChaCha8Rng` seeded by `seed`, and the first [`valid_count`] go to validation. Both outputs
/// keep the original example order, so the result depends only on the data, `fraction` and
/// `seed` (identical across processes and machines). `skipped` and `warnings` stay with
/// `train`; names get the suffixes ` (training part)` and ` (validation part)`.
pub fn split(ds: &Dataset, fraction: f64, seed: u64, by_label: bool) -> (Dataset, Dataset) {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in ds.examples.iter().enumerate() {
        let key = if by_label { e.label() } else { "" };
        groups.entry(key).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut is_valid = vec![false; ds.examples.len()];
    for idx in groups.values_mut() {
        idx.shuffle(&mut rng);
        for &i in &idx[..valid_count(idx.len(), fraction)] {
            is_valid[i] = true;
        }
    }
    let mut train = Dataset {
        name: format!("{} (training part)", ds.name),
        skipped: ds.skipped.clone(),
        warnings: ds.warnings.clone(),
        ..Default::default()
    };
    let mut valid = Dataset {
        name: format!("{} (validation part)", ds.name),
        ..Default::default()
    };
    for (e, v) in ds.examples.iter().zip(is_valid) {
        if v { &mut valid } else { &mut train }
            .examples
            .push(e.clone());
    }
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;

    #[test]
    fn split_warnings_name_classes_that_cannot_be_split_at_the_fraction() {
        // 10 % of 100 → 10, of 10 → 1, of 7 → 1 (14 %, < 1.5 × 10 %): fine. 3 → 1 (33 %),
        // 6 → 1 (17 %), 1 → 0.
        let d = ds(&[
            ("big", 100),
            ("one", 1),
            ("seven", 7),
            ("six", 6),
            ("small", 3),
            ("ten", 10),
        ]);
        assert_eq!(
            split_warnings(&d, 0.1, "validation"),
            vec![
                "1 class(es) with one example stay in training only; validation does not measure them: \"one\"".to_string(),
                "2 small class(es) lose more than the requested 10 % to validation (one example at least): \"six\" (17 % of 6), \"small\" (33 % of 3)".to_string(),
            ]
        );
        assert!(split_warnings(&ds(&[("a", 40), ("b", 10)]), 0.1, "validation").is_empty());
        assert!(split_warnings(&ds(&[("a", 1)]), 0.0, "validation").is_empty());
        // Long lists are cut after 5 names.
        let many: Vec<(String, usize)> = (0..8).map(|i| (format!("c{i}"), 1)).collect();
        let many: Vec<(&str, usize)> = many.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        let w = split_warnings(&ds(&many), 0.1, "validation");
        assert!(
            w[0].starts_with("8 class(es)") && w[0].ends_with("\"c4\" and 3 more"),
            "{w:?}"
        );
    }

    fn ds(counts: &[(&str, usize)]) -> Dataset {
        let mut d = Dataset {
            name: "d".into(),
            ..Default::default()
        };
        for &(l, n) in counts {
            for i in 0..n {
                d.examples.push(Example::new(format!("{l}{i}"), l));
            }
        }
        d
    }

    #[test]
    fn stratified_counts() {
        let d = ds(&[("a", 100), ("b", 10), ("c", 1), ("d", 2)]);
        let (train, valid) = stratified_split(&d, 0.1, 42);
        let vc = valid.label_counts();
        assert_eq!(vc.get("a"), Some(&10));
        assert_eq!(vc.get("b"), Some(&1));
        assert_eq!(vc.get("c"), None);
        assert_eq!(vc.get("d"), Some(&1));
        assert_eq!(train.len() + valid.len(), 113);
        assert_eq!(train.label_counts()["c"], 1);
        assert_eq!(
            (train.name.as_str(), valid.name.as_str()),
            ("d (training part)", "d (validation part)")
        );
        assert_eq!(valid_count(3, 0.5), 2); // round(1.5) = 2
        assert_eq!(valid_count(2, 0.99), 1);
        assert_eq!(valid_count(5, 0.0), 0);
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let d = ds(&[("a", 50), ("b", 50)]);
        let texts = |x: &Dataset| {
            x.examples
                .iter()
                .map(|e| e.text.clone())
                .collect::<Vec<_>>()
        };
        let (t1, v1) = stratified_split(&d, 0.2, 7);
        let (t2, v2) = stratified_split(&d, 0.2, 7);
        assert_eq!(texts(&v1), texts(&v2));
        assert_eq!(texts(&t1), texts(&t2));
        let (_, v3) = stratified_split(&d, 0.2, 8);
        assert_ne!(texts(&v1), texts(&v3));
        // disjoint, complete, order kept
        let mut all: Vec<String> = texts(&t1).into_iter().chain(texts(&v1)).collect();
        all.sort();
        let mut orig = texts(&d);
        orig.sort();
        assert_eq!(all, orig);
        let pos: Vec<usize> = texts(&v1)
            .iter()
            .map(|t| d.examples.iter().position(|e| &e.text == t).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn pinned_output_for_seed() {
        // Pins the exact selection so a change of RNG or algorithm is noticed (it would change
        // every saved experiment's validation set).
        let d = ds(&[("a", 10)]);
        let (_, v) = stratified_split(&d, 0.3, 1);
        let got: Vec<&str> = v.examples.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(got, PINNED);
    }
    const PINNED: [&str; 3] = ["a3", "a5", "a8"];

    #[test]
    fn label_sets_split_as_one_shuffled_group() {
        // One group: the same draw as one stratum of ten, whatever the labels.
        let mut d = ds(&[("a", 10)]);
        for (i, e) in d.examples.iter_mut().enumerate() {
            e.labels = if i % 3 == 0 {
                Vec::new()
            } else {
                vec!["x".into(), format!("y{i}")]
            };
        }
        let (t, v) = split(&d, 0.3, 1, false);
        let got: Vec<&str> = v.examples.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(got, PINNED);
        assert_eq!(t.len(), 7);
        // By (first) label: 1 of the 4 unlabelled and 2 of the 6 "x" examples.
        let (_, by_label) = split(&d, 0.3, 1, true);
        assert_eq!(by_label.unlabelled(), 1);
        assert_eq!(by_label.len(), 3);
    }
}
