//! Dataset statistics for `textcnn data stats`.

use std::collections::BTreeMap;
use std::fmt;

use super::Dataset;
use crate::text::{Tokenizer, UNK_ID, Vocab, tokenize_all};

/// Summary of a dataset under given tokenizer and vocabulary settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetStats {
    /// Dataset name.
    pub name: String,
    /// Examples carrying each label (multi-label data: an example counts for each of its
    /// labels).
    pub label_counts: BTreeMap<String, usize>,
    /// Examples without a label (plain lines, all-negative rows of multi-label data).
    pub unlabelled: usize,
    /// Mean labels per example (1 for single-label data).
    pub cardinality: f64,
    /// Number of examples.
    pub rows: usize,
    /// Token-length percentiles (nearest rank) p50, p90, p99, in tokens.
    pub len_p50: usize,
    /// See `len_p50`.
    pub len_p90: usize,
    /// See `len_p50`.
    pub len_p99: usize,
    /// Longest document, in tokens.
    pub len_max: usize,
    /// Mean document length, in tokens.
    pub len_mean: f64,
    /// Total tokens.
    pub tokens: u64,
    /// Distinct tokens.
    pub distinct_tokens: usize,
    /// Vocabulary size (including `<pad>`, `<unk>`) at `min_count` / `max_size`.
    pub vocab_size: usize,
    /// Settings the vocabulary was built with.
    pub min_count: usize,
    /// See `min_count`.
    pub max_size: Option<usize>,
    /// Fraction of tokens out of the vocabulary built here (tokens it drops).
    pub oov_rate_built: f64,
    /// Fraction of tokens out of a given vocabulary, with its name, when one was given.
    pub oov_rate_given: Option<(String, f64)>,
    /// Skipped rows per reason.
    pub skipped: BTreeMap<String, usize>,
    /// First skipped rows (`file:line: reason`), at most 10.
    pub skipped_examples: Vec<String>,
    /// Reader warnings.
    pub warnings: Vec<String>,
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100); 0 for no values.
pub fn percentile(sorted: &[usize], p: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn oov_rate(docs: &[Vec<String>], vocab: &Vocab) -> f64 {
    let (mut n, mut oov) = (0u64, 0u64);
    for d in docs {
        for t in d {
            n += 1;
            if vocab.id(t) == UNK_ID {
                oov += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { oov as f64 / n as f64 }
}

impl DatasetStats {
    /// Tokenizes the dataset (in parallel) and summarises it. `given` is an existing vocabulary
    /// (and a name for it) to measure the OOV rate against.
    pub fn compute(
        ds: &Dataset,
        tokenizer: &Tokenizer,
        min_count: usize,
        max_size: Option<usize>,
        given: Option<(&str, &Vocab)>,
    ) -> DatasetStats {
        let docs = tokenize_all(tokenizer, &ds.texts());
        let mut lens: Vec<usize> = docs.iter().map(Vec::len).collect();
        lens.sort_unstable();
        let tokens: u64 = lens.iter().map(|&l| l as u64).sum();
        let all = Vocab::build(docs.iter().map(Vec::as_slice), 1, None);
        let vocab = Vocab::build(docs.iter().map(Vec::as_slice), min_count, max_size);
        let skipped_examples = ds
            .skipped
            .iter()
            .take(10)
            .map(|s| format!("{}:{}: {}", s.file, s.line, s.reason))
            .collect();
        DatasetStats {
            name: ds.name.clone(),
            label_counts: ds.label_counts(),
            unlabelled: ds.unlabelled(),
            cardinality: ds.cardinality(),
            rows: ds.len(),
            len_p50: percentile(&lens, 50.0),
            len_p90: percentile(&lens, 90.0),
            len_p99: percentile(&lens, 99.0),
            len_max: lens.last().copied().unwrap_or(0),
            len_mean: if lens.is_empty() {
                0.0
            } else {
                tokens as f64 / lens.len() as f64
            },
            tokens,
            distinct_tokens: all.len() - 2,
            vocab_size: vocab.len(),
            min_count,
            max_size,
            oov_rate_built: oov_rate(&docs, &vocab),
            oov_rate_given: given.map(|(n, v)| (n.to_string(), oov_rate(&docs, v))),
            skipped: ds.skipped_by_reason(),
            skipped_examples,
            warnings: ds.warnings.clone(),
        }
    }
}

impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "dataset: {}", self.name)?;
        writeln!(f)?;
        writeln!(f, "{:<24} {:>10} {:>8}", "class", "rows", "share")?;
        let unlabelled =
            (self.unlabelled > 0).then(|| ("(unlabeled)".to_string(), self.unlabelled));
        for (label, n) in self
            .label_counts
            .iter()
            .map(|(l, n)| (l.clone(), *n))
            .chain(unlabelled)
        {
            writeln!(
                f,
                "{:<24} {:>10} {:>7.1}%",
                label,
                n,
                100.0 * n as f64 / self.rows.max(1) as f64
            )?;
        }
        writeln!(f, "{:<24} {:>10} {:>7.1}%", "total", self.rows, 100.0)?;
        if self.label_counts.values().sum::<usize>() > self.rows {
            writeln!(
                f,
                "labels per row     {:.3} (rows carry several labels: shares add up to more than 100%)",
                self.cardinality
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "tokens per row     p50 {}  p90 {}  p99 {}  max {}  mean {:.1}",
            self.len_p50, self.len_p90, self.len_p99, self.len_max, self.len_mean
        )?;
        writeln!(
            f,
            "tokens             {} total, {} distinct",
            self.tokens, self.distinct_tokens
        )?;
        let max = self.max_size.map_or("none".to_string(), |m| m.to_string());
        writeln!(
            f,
            "vocabulary         {} entries incl. <pad>/<unk> (min-count {}, max-size {max})",
            self.vocab_size, self.min_count
        )?;
        writeln!(
            f,
            "OOV rate (built)   {:.2}% of tokens",
            100.0 * self.oov_rate_built
        )?;
        if let Some((name, r)) = &self.oov_rate_given {
            writeln!(f, "OOV rate ({name})   {:.2}% of tokens", 100.0 * r)?;
        }
        let n_skipped: usize = self.skipped.values().sum();
        writeln!(f, "rows skipped       {n_skipped}")?;
        for (reason, n) in &self.skipped {
            writeln!(f, "  {n:>8}  {reason}")?;
        }
        for s in &self.skipped_examples {
            writeln!(f, "  e.g. {s}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Example, SkippedRow};
    use crate::text::TokenizerConfig;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<usize> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[3, 7], 50.0), 3);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn stats_values_and_table() {
        let ex = |t: &str, l: &str| Example::new(t, l);
        let ds = Dataset {
            name: "toy".into(),
            examples: vec![
                ex("a b c", "pos"),
                ex("a b", "neg"),
                ex("a", "pos"),
                ex("a d d d", "pos"),
            ],
            skipped: vec![SkippedRow {
                file: "f.tsv".into(),
                line: 3,
                reason: "no text".into(),
            }],
            warnings: vec![],
        };
        let tok = Tokenizer::new(TokenizerConfig::default());
        let mut given = Vocab::empty();
        given.push("a", 1);
        let s = DatasetStats::compute(&ds, &tok, 2, None, Some(("v.txt", &given)));
        assert_eq!((s.len_p50, s.len_p90, s.len_max, s.tokens), (2, 4, 4, 10));
        assert_eq!(s.distinct_tokens, 4);
        assert_eq!(s.vocab_size, 5); // pad unk a d b
        assert!((s.oov_rate_built - 0.1).abs() < 1e-12); // c
        assert!((s.oov_rate_given.as_ref().unwrap().1 - 0.6).abs() < 1e-12);
        let table = s.to_string();
        assert!(
            table.contains("pos                               3    75.0%"),
            "{table}"
        );
        assert!(table.contains("p50 2  p90 4  p99 4  max 4"), "{table}");
        assert!(!table.contains("labels per row"), "{table}");
        assert!(
            table.contains("rows skipped       1") && table.contains("f.tsv:3: no text"),
            "{table}"
        );
    }

    #[test]
    fn label_sets_count_every_label_and_the_rows_without_one() {
        let mut ds = Dataset {
            name: "sets".into(),
            examples: vec![Example::new("a b", "x"), Example::new("c", "")],
            ..Default::default()
        };
        ds.examples[0].labels.push("y".into());
        let tok = Tokenizer::new(TokenizerConfig::default());
        let s = DatasetStats::compute(&ds, &tok, 1, None, None);
        assert_eq!(s.label_counts.len(), 2);
        assert_eq!((s.unlabelled, s.cardinality), (1, 1.0));
        let table = s.to_string();
        let has = |needle: &str| table.contains(needle);
        assert!(
            has("(unlabeled)                       1    50.0%"),
            "{table}"
        );
        assert!(
            has("y                                 1    50.0%"),
            "{table}"
        );
        assert!(!has("labels per row"), "{table}");
        ds.examples[1].labels.push("x".into());
        let table = DatasetStats::compute(&ds, &tok, 1, None, None).to_string();
        assert!(table.contains("labels per row     1.500"), "{table}");
    }
}
