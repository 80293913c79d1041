//! Word vectors with subword information trained on unlabeled text: fastText's `skipgram` and
//! `cbow` (Bojanowski et al. 2017, "Enriching Word Vectors with Subword Information"), with
//! negative sampling, frequent-word subsampling, a linearly decaying learning rate and a dynamic
//! window (Mikolov et al. 2013, "Distributed Representations of Words and Phrases").
//!
//! A word is represented by its own input row and the rows of its character n-grams
//! (`minn..=maxn` characters of `<word>`, hashed into `bucket` rows with fastText's hash, so the
//! buckets are fastText's); its vector is the mean of those rows. A word never seen in training
//! still gets a vector from its n-grams ([`SubwordVectors::word_vector`]).
//!
//! Training is deterministic for a seed, a thread count and a round size (see [`trainer`] for
//! the scheme that replaces fastText's lock-free Hogwild updates). The library prints nothing:
//! progress goes to a callback.
//!
//! ```no_run
//! use textcnn::embed::{VectorSettings, train_vectors};
//! let texts = vec![vec!["a".to_string(), "good".into(), "film".into()]];
//! let settings = VectorSettings { min_count: 1, threads: 1, ..VectorSettings::default() };
//! let vectors = train_vectors(texts.iter().map(Vec::as_slice), &settings, &mut |_| {
//!     std::ops::ControlFlow::Continue(())
//! })?;
//! let v: Vec<f32> = vectors.word_vector("films"); // out of vocabulary: from its n-grams
//! assert_eq!(v.len(), 100);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod corpus;
pub mod dictionary;
mod kernels;
pub mod trainer;

use std::ops::ControlFlow;
use std::path::Path;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

pub use corpus::{Corpus, CorpusBuilder, ReadReport, read_texts};
pub use dictionary::{Dictionary, SubwordTable, fasttext_hash, push_ngram_buckets};

use crate::text::vectors::{PretrainedVectors, VectorsReport};
use crate::text::{PAD_ID, UNK_ID, VectorFormat, Vocab};

/// Most threads accepted: the limit of `textcnn train --threads`, restated here so
/// that this module does not depend on the training pipeline that uses it.
const MAX_THREADS: usize = 1024;

/// Which word2vec architecture to train (Mikolov et al. 2013).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VectorModel {
    /// Skip-gram: each word (its word and n-gram rows) predicts the words of its window.
    #[default]
    Skipgram,
    /// Continuous bag of words: the mean of the window's words (and n-grams) predicts the
    /// middle word.
    Cbow,
}

/// Settings of [`train_vectors`]; the defaults are fastText's for `skipgram` and `cbow`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VectorSettings {
    /// Skip-gram or CBOW. Default skip-gram.
    pub model: VectorModel,
    /// Vector dimension. Default 100.
    pub dim: usize,
    /// Passes over the text. Default 5.
    pub epoch: usize,
    /// Initial learning rate, decayed linearly to 0 over training. Default 0.05.
    pub lr: f64,
    /// Largest window half-width; each word draws its width from `1..=ws`. Default 5.
    pub ws: usize,
    /// Negatives sampled per target word. Default 5.
    pub neg: usize,
    /// Words seen fewer times are left out of the dictionary (and of the text). Default 5.
    pub min_count: u64,
    /// Shortest character n-gram. Default 3.
    pub minn: usize,
    /// Longest character n-gram; 0 turns subwords off (plain word2vec). Default 6.
    pub maxn: usize,
    /// Hash buckets of the n-grams (rows of the input matrix besides the words). Default
    /// 2,000,000.
    pub bucket: usize,
    /// Subsampling threshold: a word of frequency `f` is kept with probability
    /// `sqrt(t / f) + t / f`. Default 1e-4.
    pub t: f64,
    /// Training threads (0 = all cores). The vectors depend on it. Default 0.
    pub threads: usize,
    /// Seed of every random draw. Default 0 (fastText's).
    pub seed: u64,
    /// Tokens each thread trains on between two exchanges of updates (see [`trainer`]). With
    /// one thread it only changes which random numbers are drawn. Default
    /// [`DEFAULT_ROUND_TOKENS`].
    pub round_tokens: usize,
}

/// Default [`VectorSettings::round_tokens`]: 32,768 tokens per thread per round. Measured on
/// the 25,000 IMDB training reviews (6.6 M tokens, 2 threads; `bench/vectors.py`): the cosine
/// similarities of frequent word pairs agree as well with fastText's as a second fastText run
/// does, and the copies and exchanges cost a few per cent of the time.
pub const DEFAULT_ROUND_TOKENS: usize = 32_768;

impl VectorSettings {
    /// fastText's defaults for unsupervised training.
    pub const FASTTEXT: VectorSettings = VectorSettings {
        model: VectorModel::Skipgram,
        dim: 100,
        epoch: 5,
        lr: 0.05,
        ws: 5,
        neg: 5,
        min_count: 5,
        minn: 3,
        maxn: 6,
        bucket: 2_000_000,
        t: 1e-4,
        threads: 0,
        seed: 0,
        round_tokens: DEFAULT_ROUND_TOKENS,
    };

    /// Checks every setting; the message names the setting, the rule and the value.
    ///
    /// # Errors
    /// A setting out of range.
    pub fn validate(&self) -> Result<()> {
        let checks: [(bool, &str, &str, String); 12] = [
            (
                (1..=MAX_DIM).contains(&self.dim),
                "dim",
                "must be between 1 and 10000",
                self.dim.to_string(),
            ),
            (
                self.epoch >= 1,
                "epoch",
                "must be at least 1",
                self.epoch.to_string(),
            ),
            (
                self.lr > 0.0 && self.lr.is_finite(),
                "lr",
                "must be a positive number",
                self.lr.to_string(),
            ),
            (
                (1..=1000).contains(&self.ws),
                "ws",
                "must be between 1 and 1000",
                self.ws.to_string(),
            ),
            (
                (1..=1000).contains(&self.neg),
                "neg",
                "must be between 1 and 1000",
                self.neg.to_string(),
            ),
            (
                self.min_count >= 1,
                "min-count",
                "must be at least 1",
                self.min_count.to_string(),
            ),
            (
                self.maxn == 0 || (1..=self.maxn).contains(&self.minn),
                "minn",
                "must be between 1 and maxn (or maxn 0: no subwords)",
                format!("{} (maxn {})", self.minn, self.maxn),
            ),
            (
                self.maxn <= 100,
                "maxn",
                "must be at most 100",
                self.maxn.to_string(),
            ),
            (
                self.maxn == 0 || (1..=MAX_BUCKET).contains(&self.bucket),
                "bucket",
                "must be between 1 and 2^31 when maxn > 0",
                self.bucket.to_string(),
            ),
            (
                self.t > 0.0 && self.t.is_finite(),
                "t",
                "must be a positive number",
                self.t.to_string(),
            ),
            (
                self.threads <= MAX_THREADS,
                "threads",
                "must be at most 1024 (0 = all cores)",
                self.threads.to_string(),
            ),
            (
                self.round_tokens >= 1,
                "round-tokens",
                "must be at least 1",
                self.round_tokens.to_string(),
            ),
        ];
        for (ok, name, rule, value) in checks {
            if !ok {
                bail!("{name} {rule}, got {value}");
            }
        }
        Ok(())
    }

    /// The thread count training uses: `threads`, or the available cores when it is 0.
    pub fn resolved_threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }
}

impl Default for VectorSettings {
    fn default() -> Self {
        VectorSettings::FASTTEXT
    }
}

/// Largest vector dimension accepted.
const MAX_DIM: usize = 10_000;
/// Largest bucket count accepted (rows are addressed by `u32`).
const MAX_BUCKET: usize = 1 << 31;

/// Where training stands, given to the progress callback after every round.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorsProgress {
    /// Current epoch, 1-based.
    pub epoch: usize,
    /// Epochs in all.
    pub epochs: usize,
    /// Tokens trained on so far (all epochs, subsampled ones included).
    pub tokens_done: u64,
    /// Tokens to train on in all: epochs × tokens of dictionary words.
    pub tokens_total: u64,
    /// Mean loss of the current epoch so far, per update (the target's and the negatives'
    /// logistic losses summed, as fastText reports it).
    pub loss: f64,
    /// Learning rate reached.
    pub lr: f64,
}

/// What a training run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorsSummary {
    /// Words of the dictionary (vectors written).
    pub words: usize,
    /// Tokens of dictionary words in the text (per epoch).
    pub tokens: u64,
    /// Tokens read, rare words included.
    pub tokens_read: u64,
    /// Mean loss of each epoch, per update (NaN for an epoch without updates).
    pub epoch_losses: Vec<f64>,
    /// Updates made (one per target word: skip-gram's context words, CBOW's middle words).
    pub updates: u64,
    /// Threads used (the vectors depend on it).
    pub threads: usize,
    /// Rounds run (exchanges of the threads' updates).
    pub rounds: usize,
}

/// Trained subword vectors: the dictionary and the input matrix of words and n-gram buckets.
pub struct SubwordVectors {
    dim: usize,
    minn: usize,
    maxn: usize,
    bucket: usize,
    seed: u64,
    dict: Dictionary,
    subwords: SubwordTable,
    /// `[nwords + bucket, dim]` (`nwords` rows when `maxn == 0`).
    input: Vec<f32>,
    /// Rows of `input` that hold values; the others are at their initial draw.
    ready: Vec<u64>,
    summary: VectorsSummary,
}

impl SubwordVectors {
    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The dictionary (the words with vectors in [`SubwordVectors::to_vec_bytes`]), most
    /// frequent first.
    pub fn dictionary(&self) -> &Dictionary {
        &self.dict
    }

    /// What training did.
    pub fn summary(&self) -> &VectorsSummary {
        &self.summary
    }

    /// Rows of the input matrix averaged into `word`'s vector: for a dictionary word its own
    /// row then its n-grams' (fastText's `getSubwords`), for any other word its n-grams' only
    /// (empty when it has none, e.g. with `maxn` 0).
    pub fn subword_rows(&self, word: &str) -> Vec<u32> {
        match self.dict.id(word) {
            Some(id) => self.subwords.rows(id).to_vec(),
            None => {
                let mut rows = Vec::new();
                if self.maxn > 0 {
                    push_ngram_buckets(word, self.minn, self.maxn, self.bucket, &mut rows);
                }
                let n = self.dict.len() as u32;
                rows.iter_mut().for_each(|r| *r += n);
                rows
            }
        }
    }

    /// Row `row` of the input matrix, `[dim]`.
    ///
    /// # Panics
    /// When `row` is not below `nwords + bucket`.
    pub fn input_row(&self, row: u32) -> Vec<f32> {
        let mut out = vec![0.0; self.dim];
        self.copy_row(row, &mut out);
        out
    }

    fn copy_row(&self, row: u32, out: &mut [f32]) {
        let d = self.dim;
        if trainer::bit(&self.ready, row) {
            out.copy_from_slice(&self.input[row as usize * d..(row as usize + 1) * d]);
        } else {
            trainer::init_row(self.seed, row, out);
        }
    }

    /// The vector of any word, `[dim]`: the mean of its [`SubwordVectors::subword_rows`]
    /// (fastText's `getWordVector`); zeros for a word outside the dictionary with no n-gram.
    pub fn word_vector(&self, word: &str) -> Vec<f32> {
        let mut out = vec![0.0; self.dim];
        self.word_vector_into(word, &mut out);
        out
    }

    /// [`SubwordVectors::word_vector`] into `out` (`[dim]`).
    pub fn word_vector_into(&self, word: &str, out: &mut [f32]) {
        assert_eq!(out.len(), self.dim, "out must hold dim floats");
        self.rows_mean(&self.subword_rows(word), out);
    }

    fn rows_mean(&self, rows: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        let mut row = vec![0.0; self.dim];
        for &r in rows {
            self.copy_row(r, &mut row);
            kernels::add(&row, out);
        }
        if !rows.is_empty() {
            kernels::scale(1.0 / rows.len() as f32, out);
        }
    }

    /// The vectors of the dictionary words, `[nwords, dim]`, in dictionary order.
    pub fn dictionary_vectors(&self) -> Vec<f32> {
        let d = self.dim;
        let mut out = vec![0.0; self.dict.len() * d];
        for (id, v) in out.chunks_exact_mut(d).enumerate() {
            self.rows_mean(self.subwords.rows(id as u32), v);
        }
        out
    }

    /// The `k` dictionary words closest to `word` by cosine similarity (the word itself left
    /// out), most similar first; `word` may be outside the dictionary.
    pub fn nearest(&self, word: &str, k: usize) -> Vec<(String, f32)> {
        let q = self.word_vector(word);
        let qn = kernels::dot(&q, &q).sqrt().max(f32::MIN_POSITIVE);
        let all = self.dictionary_vectors();
        let mut scored: Vec<(usize, f32)> = all
            .chunks_exact(self.dim)
            .enumerate()
            .filter(|&(i, _)| self.dict.words()[i] != word)
            .map(|(i, v)| {
                let n = kernels::dot(v, v).sqrt().max(f32::MIN_POSITIVE);
                (i, kernels::dot(&q, v) / (qn * n))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
            .into_iter()
            .take(k)
            .map(|(i, s)| (self.dict.words()[i].clone(), s))
            .collect()
    }

    /// Initial embedding rows for a classifier's vocabulary (`[vocab.len(), dim]`, in id order),
    /// in the form `train --pretrained` uses ([`PretrainedVectors::init_embedding`] then fills
    /// the rows not found): a dictionary word gets its vector, any other word the mean of its
    /// n-gram rows when at least one of them was trained (fastText's vector for an unseen word);
    /// `<pad>`, `<unk>` and words with no trained n-gram are left out (zero, `found` false). The
    /// report's `path` describes the vectors, its `format` is word2vec text.
    pub fn for_vocab(&self, vocab: &Vocab) -> PretrainedVectors {
        let d = self.dim;
        let mut table = vec![0.0; vocab.len() * d];
        let mut found = vec![false; vocab.len()];
        for (id, word) in vocab.tokens().iter().enumerate() {
            if id == PAD_ID as usize || id == UNK_ID as usize {
                continue;
            }
            let rows = self.subword_rows(word);
            if self.dict.id(word).is_some() || rows.iter().any(|&r| trainer::bit(&self.ready, r)) {
                self.rows_mean(&rows, &mut table[id * d..(id + 1) * d]);
                found[id] = true;
            }
        }
        let mut report = VectorsReport {
            path: format!(
                "subword vectors ({} words, {} tokens)",
                self.dict.len(),
                self.summary.tokens
            ),
            format: VectorFormat::Word2vecText,
            dim: d,
            rows_read: self.dict.len(),
            ..VectorsReport::default()
        };
        report.set_coverage(vocab, &found);
        PretrainedVectors {
            dim: d,
            table,
            found,
            report,
        }
    }

    /// The dictionary words' vectors as a word2vec-text / fastText `.vec` file (a `count dim`
    /// header, then one `word v1 … vdim` line per word, most frequent first), the format
    /// `train --pretrained` reads. Values are written in Rust's shortest round-trip form.
    pub fn to_vec_bytes(&self) -> Vec<u8> {
        let words: Vec<&str> = self.dict.words().iter().map(String::as_str).collect();
        let (bytes, _) = crate::text::vectors::encode_vectors(
            VectorFormat::Word2vecText,
            &words,
            &self.dictionary_vectors(),
            self.dim,
        );
        bytes
    }

    /// Writes [`SubwordVectors::to_vec_bytes`] to `path` atomically.
    ///
    /// # Errors
    /// When the file cannot be written (the message names it).
    pub fn write_vec(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_atomic(path, &self.to_vec_bytes())
    }
}

/// Trains subword vectors on token lists (one per text, e.g. from [`crate::text::tokenize_all`]
/// with the classifier's tokenizer, so the words match its vocabulary). `progress` is called
/// after every round; returning `Break` stops training with an error.
///
/// # Errors
/// Invalid settings, no word occurring `min_count` times, an input matrix larger than this
/// machine's memory, or a stop asked by `progress`.
pub fn train_vectors<'a, I>(
    texts: I,
    settings: &VectorSettings,
    progress: &mut dyn FnMut(&VectorsProgress) -> ControlFlow<()>,
) -> Result<SubwordVectors>
where
    I: IntoIterator<Item = &'a [String]>,
{
    settings.validate()?;
    let corpus = Corpus::from_token_lists(texts, settings.min_count)?;
    train_on_corpus(&corpus, settings, progress)
}

/// [`train_vectors`] on a [`Corpus`] already built (e.g. by [`read_texts`] and
/// [`CorpusBuilder::finish`]).
///
/// # Errors
/// As [`train_vectors`].
pub fn train_on_corpus(
    corpus: &Corpus,
    settings: &VectorSettings,
    progress: &mut dyn FnMut(&VectorsProgress) -> ControlFlow<()>,
) -> Result<SubwordVectors> {
    settings.validate()?;
    let nwords = corpus.dictionary().len();
    let bucket = if settings.maxn > 0 {
        settings.bucket
    } else {
        0
    };
    if nwords + bucket > u32::MAX as usize {
        bail!("{nwords} words and {bucket} buckets are more rows than this trainer addresses");
    }
    check_memory((nwords + bucket) as u128 * settings.dim as u128 * 4)?;
    let threads = settings.resolved_threads();
    let subwords = SubwordTable::new(
        corpus.dictionary(),
        settings.minn,
        settings.maxn,
        settings.bucket,
    );
    let trained = trainer::train(corpus, &subwords, settings, threads, progress)?;
    Ok(SubwordVectors {
        dim: settings.dim,
        minn: settings.minn,
        maxn: settings.maxn,
        bucket,
        seed: settings.seed,
        dict: corpus.dictionary().clone(),
        subwords,
        input: trained.input,
        ready: trained.ready,
        summary: VectorsSummary {
            words: nwords,
            tokens: corpus.tokens(),
            tokens_read: corpus.tokens_read(),
            epoch_losses: trained.epoch_losses,
            updates: trained.updates,
            threads,
            rounds: trained.rounds,
        },
    })
}

/// Refuses an input matrix of `bytes` larger than the machine's memory (`MemTotal` of
/// `/proc/meminfo`; not checked where that cannot be read).
fn check_memory(bytes: u128) -> Result<()> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        let line = t.lines().find(|l| l.starts_with("MemTotal:"))?.to_string();
        line.split_whitespace().nth(1)?.parse::<u128>().ok()
    });
    if let Some(kb) = total
        && bytes > kb * 1024
    {
        bail!(
            "the input matrix needs {:.1} GB, more than this machine's {:.1} GB: lower the bucket count or the dimension",
            bytes as f64 / 1e9,
            (kb * 1024) as f64 / 1e9
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
