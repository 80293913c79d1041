//! Pretrained word vectors: streaming readers for word2vec binary, word2vec text / fastText
//! `.vec` (a `count dim` header) and GloVe text (no header), format detection, initialisation of
//! an embedding table from them, and writers for the same three formats.
//!
//! Formats:
//! * **word2vec binary** (Mikolov's `word2vec.c`, `-binary 1`): an ASCII header line `count dim`,
//!   then per word: the word's bytes, one space, `dim` little-endian f32, and (in most files,
//!   not all) a newline.
//! * **word2vec text / fastText `.vec`**: the header line `count dim`, then one line per word:
//!   the word and `dim` decimal numbers separated by spaces (fastText adds a trailing space).
//! * **GloVe text** (Pennington et al. 2014): the same rows without a header; the dimension is
//!   the field count of the first row minus one.
//!
//! Reading streams the file and keeps only the vectors of words in our vocabulary (plus, when
//! asked, a capped number of new words), so memory is proportional to the vocabulary and not to
//! the file. Word bytes that are not UTF-8 are decoded lossily and counted; a row with the wrong
//! number of values is an error naming the file and line.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::vocab::{PAD_ID, Vocab};

/// On-disk format of a word-vector file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum VectorFormat {
    /// Detect from the content.
    #[default]
    Auto,
    /// word2vec binary: header `count dim`, then word bytes, a space, `dim` little-endian f32.
    #[value(name = "word2vec-bin")]
    Word2vecBin,
    /// Text with a `count dim` header: word2vec text, fastText `.vec`.
    #[value(name = "word2vec-text")]
    Word2vecText,
    /// GloVe text: `word v1 … vdim` rows, no header.
    Glove,
}

/// How the embedding table is trained (Kim 2014 §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingMode {
    /// CNN-static: the embedding is frozen.
    Static,
    /// CNN-non-static (and CNN-rand without pretrained vectors): the embedding is fine-tuned.
    #[default]
    NonStatic,
    /// CNN-multichannel: a frozen and a fine-tuned copy of the embedding, both convolved by the
    /// same filters, the results summed.
    Multichannel,
}

impl std::fmt::Display for EmbeddingMode {
    /// The command-line and config-file spelling: `static`, `non-static`, `multichannel`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum;
        let v = self.to_possible_value().expect("no variant is skipped");
        f.write_str(v.get_name())
    }
}

/// What reading a vector file found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VectorsReport {
    /// The file read.
    pub path: String,
    /// The format read (never `Auto`).
    pub format: VectorFormat,
    /// Vector width.
    pub dim: usize,
    /// Rows read from the file.
    pub rows_read: usize,
    /// Words whose bytes were not valid UTF-8 (decoded lossily, U+FFFD for bad bytes).
    pub invalid_utf8_words: usize,
    /// Rows whose word had already been seen (the first one is kept).
    pub duplicate_words: usize,
    /// Words of our vocabulary (without `<pad>`/`<unk>`) that got a pretrained vector.
    pub found: usize,
    /// Real words of the vocabulary (without `<pad>`/`<unk>`), extension included.
    pub vocab_words: usize,
    /// Words added to the vocabulary from the file (`--extend-vocab`).
    pub added: usize,
    /// `found / vocab_words`.
    pub vocab_coverage: f64,
    /// Share of training token occurrences (vocabulary counts, `<unk>` included) whose word
    /// has a pretrained vector.
    pub token_coverage: f64,
    /// Bound `a` of U(−a, a) for the words without a vector: `sqrt(3 · var)` of the pretrained
    /// values (set by [`PretrainedVectors::init_embedding`]).
    pub init_bound: f32,
    /// A mismatch between the header's count and the rows present, if any.
    pub warning: Option<String>,
}

impl VectorsReport {
    /// Sets `found`, `vocab_words`, `vocab_coverage` and `token_coverage` from the `found`
    /// flags (`[vocab.len()]`) and the vocabulary counts.
    pub fn set_coverage(&mut self, vocab: &Vocab, found: &[bool]) {
        self.vocab_words = vocab.len().saturating_sub(2);
        self.found = found.iter().filter(|&&f| f).count();
        self.vocab_coverage = self.found as f64 / self.vocab_words.max(1) as f64;
        let total: u64 = (0..vocab.len() as u32).map(|i| vocab.count(i)).sum();
        let covered: u64 = (0..vocab.len() as u32)
            .filter(|&i| found[i as usize])
            .map(|i| vocab.count(i))
            .sum();
        self.token_coverage = covered as f64 / total.max(1) as f64;
    }

    /// One line for the training log.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: dim {}, {} rows read; {} of {} vocabulary words found ({:.1} % of the vocabulary, {:.1} % of training tokens); others U(-{:.4}, {:.4})",
            self.path,
            self.dim,
            self.rows_read,
            self.found,
            self.vocab_words,
            100.0 * self.vocab_coverage,
            100.0 * self.token_coverage,
            self.init_bound,
            self.init_bound
        );
        if self.added > 0 {
            s.push_str(&format!("; {} words added to the vocabulary", self.added));
        }
        if self.invalid_utf8_words > 0 {
            s.push_str(&format!(
                "; {} words with invalid UTF-8 decoded lossily",
                self.invalid_utf8_words
            ));
        }
        if self.duplicate_words > 0 {
            s.push_str(&format!(
                "; {} duplicate words ignored",
                self.duplicate_words
            ));
        }
        if let Some(w) = &self.warning {
            s.push_str(&format!("; warning: {w}"));
        }
        s
    }
}

/// Pretrained vectors for the words of a vocabulary.
pub struct PretrainedVectors {
    /// Vector width.
    pub dim: usize,
    /// `[vocab_len, dim]`: the vector of id `i` in row `i` (zero where `found[i]` is false).
    pub table: Vec<f32>,
    /// `[vocab_len]`: whether id `i` has a pretrained vector.
    pub found: Vec<bool>,
    /// What the reading found (coverage, counts, the uniform bound once initialised).
    pub report: VectorsReport,
}

/// Which words to keep while reading.
pub struct VectorFilter<'a> {
    /// Add at most this many words absent from the vocabulary (file order); 0 = none.
    pub extend: usize,
    /// Only words for which this returns true are added (e.g. words the tokenizer can produce).
    pub accept_new: &'a dyn Fn(&str) -> bool,
}

impl Default for VectorFilter<'_> {
    fn default() -> Self {
        VectorFilter {
            extend: 0,
            accept_new: &|_| true,
        }
    }
}

impl PretrainedVectors {
    /// Population variance of the pretrained values (all components of the found vectors).
    pub fn variance(&self) -> f64 {
        let mut n = 0usize;
        let (mut s, mut ss) = (0.0f64, 0.0f64);
        for (row, &f) in self.table.chunks_exact(self.dim).zip(&self.found) {
            if f {
                for &v in row {
                    s += v as f64;
                    ss += (v as f64) * (v as f64);
                    n += 1;
                }
            }
        }
        if n == 0 {
            return 0.0;
        }
        let mean = s / n as f64;
        (ss / n as f64 - mean * mean).max(0.0)
    }

    /// Overwrites the embedding table `emb` (`[vocab_len, dim]`): rows with a pretrained vector
    /// get it; the other rows (`<unk>` included) get U(−a, a) with `a = sqrt(3 · var)` so that
    /// their variance matches the pretrained values (Kim 2014; 0.25 when nothing was found);
    /// row 0 (`<pad>`) stays zero. Returns `a` (also stored in the report).
    pub fn init_embedding(&mut self, emb: &mut [f32], seed: u64) -> f32 {
        assert_eq!(
            emb.len(),
            self.table.len(),
            "embedding shape differs from the vectors'"
        );
        let a = if self.report.found == 0 {
            0.25
        } else {
            (3.0 * self.variance()).sqrt() as f32
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7665_6374_6f72_7321);
        let d = self.dim;
        for (i, (row, &f)) in emb.chunks_exact_mut(d).zip(&self.found).enumerate() {
            if i == PAD_ID as usize {
                row.fill(0.0);
            } else if f {
                row.copy_from_slice(&self.table[i * d..(i + 1) * d]);
            } else {
                uniform_fill(&mut rng, a, row);
            }
        }
        self.report.init_bound = a;
        a
    }
}

/// Fills `out` with U(−a, a) draws from `rng`.
pub fn uniform_fill(rng: &mut ChaCha8Rng, a: f32, out: &mut [f32]) {
    for v in out {
        let u = (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
        *v = (2.0 * u - 1.0) * a;
    }
}

/// `sqrt(3 · var)` of rows `2..` of an embedding table `[rows, dim]` (the bound of a uniform
/// distribution with the same variance as the trained rows; 0.25 when there are none).
pub fn matching_uniform_bound(emb: &[f32], dim: usize) -> f32 {
    let rows = emb.get(2 * dim..).unwrap_or(&[]);
    if rows.is_empty() {
        return 0.25;
    }
    let n = rows.len() as f64;
    let mean = rows.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = rows.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (3.0 * var).sqrt() as f32
}

/// Serialises word vectors: `words[i]` with row `i` of `vectors` (`[words.len(), dim]`).
/// Words containing whitespace (which the text formats cannot hold) or empty words are left out;
/// returns the bytes and the number of words left out. `format` must not be `Auto`.
pub fn encode_vectors(
    format: VectorFormat,
    words: &[&str],
    vectors: &[f32],
    dim: usize,
) -> (Vec<u8>, usize) {
    assert_eq!(vectors.len(), words.len() * dim);
    let keep: Vec<usize> = (0..words.len())
        .filter(|&i| !words[i].is_empty() && !words[i].chars().any(char::is_whitespace))
        .collect();
    let skipped = words.len() - keep.len();
    let mut out = Vec::new();
    if format != VectorFormat::Glove {
        out.extend_from_slice(format!("{} {dim}\n", keep.len()).as_bytes());
    }
    for &i in &keep {
        let row = &vectors[i * dim..(i + 1) * dim];
        out.extend_from_slice(words[i].as_bytes());
        if format == VectorFormat::Word2vecBin {
            out.push(b' ');
            for v in row {
                out.extend_from_slice(&v.to_le_bytes());
            }
        } else {
            for v in row {
                out.extend_from_slice(format!(" {v}").as_bytes());
            }
        }
        out.push(b'\n');
    }
    (out, skipped)
}

mod read;
pub use read::{detect_format, peek_dim, read_vectors};

#[cfg(test)]
mod tests;
