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

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::vocab::{PAD_ID, PAD_TOKEN, UNK_TOKEN, Vocab};

/// Longest header or text row looked at when detecting the format (bytes).
const MAX_PROBE_LINE: usize = 1 << 20;

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

/// Longest text row or binary word accepted (bytes): far above any real one (a 1,000-dimension
/// row is about 10 KB), low enough that a file without line breaks cannot exhaust memory.
const MAX_ROW: usize = 64 << 20;

/// Largest vector dimension accepted from a header or a first row.
const MAX_DIM: usize = 1 << 16;

/// Opens a word-vector file for streaming: refuses what is not a regular file (a device such as
/// `/dev/zero`, a pipe, a folder) and decompresses gzip (`.vec.gz`, `.txt.gz`), recognised by its
/// magic bytes whatever the name.
fn open_vectors(path: &Path) -> Result<Box<dyn BufRead>> {
    let name = path.display();
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open word vectors {name}"))?;
    if !meta.is_file() {
        bail!(
            "{name} is not a regular file (a folder, a device or a pipe); give a word-vector file"
        );
    }
    let mut r = BufReader::with_capacity(
        1 << 20,
        File::open(path).with_context(|| format!("cannot open word vectors {name}"))?,
    );
    let gzip = r
        .fill_buf()
        .with_context(|| format!("cannot read word vectors {name}"))?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(r),
        ))
    } else {
        Box::new(r)
    })
}

/// A text row of at most [`MAX_ROW`] bytes (see [`read_line_bytes`]).
fn read_row<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    name: &str,
    lineno: usize,
) -> Result<Option<usize>> {
    let n = read_line_bytes(&mut (&mut *r).take(MAX_ROW as u64 + 1), buf)
        .with_context(|| format!("{name}:{lineno}: cannot read (a damaged gzip file?)"))?;
    if buf.len() > MAX_ROW {
        bail!(
            "{name}:{lineno}: a line longer than {} MiB; this is not a word-vector text file",
            MAX_ROW >> 20
        );
    }
    Ok(n)
}

/// Reads the first line (without its `\n`, at most [`MAX_PROBE_LINE`] bytes); `None` at EOF.
fn read_line_bytes<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
    buf.clear();
    let n = r.read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(n))
}

fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty())
}

/// `Some((count, dim))` when `line` is exactly two non-negative integers.
fn parse_header(line: &[u8]) -> Option<(usize, usize)> {
    let f: Vec<&[u8]> = fields(line).collect();
    if f.len() != 2 {
        return None;
    }
    let n = std::str::from_utf8(f[0]).ok()?.parse().ok()?;
    let d = std::str::from_utf8(f[1]).ok()?.parse().ok()?;
    Some((n, d))
}

/// Number of whitespace-separated fields when every field after the first (the word, whose
/// bytes may be anything) parses as a number.
fn text_row_fields(line: &[u8]) -> Option<usize> {
    let mut n = 0;
    for (i, f) in fields(line).enumerate() {
        if i > 0 && !std::str::from_utf8(f).is_ok_and(|s| s.parse::<f32>().is_ok()) {
            return None;
        }
        n += 1;
    }
    (n >= 2).then_some(n)
}

/// Detects the format of a vector file from its first two lines.
///
/// * First line not exactly two integers → GloVe.
/// * First line `count dim` and the next line a text row of `dim + 1` fields → word2vec text.
/// * First line `count dim` (dim ≠ 1) and the next line a text row of 2 fields → GloVe with
///   dimension 1 (the first line was a row, e.g. word `3` with value `300`).
/// * `dim == 1` and text rows of 2 fields (a header and a row look alike): a header if the
///   number of lines after the first equals `count`, else GloVe.
/// * Nothing after the first line: a header if `count == 0`, else a one-row GloVe file.
/// * Otherwise (the bytes after the header are not text rows) → word2vec binary.
pub fn detect_format(path: &Path) -> Result<VectorFormat> {
    let name = path.display();
    let mut r = open_vectors(path)?;
    let mut first = Vec::new();
    if read_line_bytes(&mut (&mut r).take(MAX_PROBE_LINE as u64), &mut first)?.is_none() {
        bail!("{name}: empty word-vector file");
    }
    let Some((count, dim)) = parse_header(&first) else {
        return Ok(VectorFormat::Glove);
    };
    let mut second = Vec::new();
    if read_line_bytes(&mut (&mut r).take(MAX_PROBE_LINE as u64), &mut second)?.is_none() {
        return Ok(if count == 0 {
            VectorFormat::Word2vecText
        } else {
            VectorFormat::Glove
        });
    }
    match text_row_fields(&second) {
        Some(2) if dim == 1 => {
            // Header `count 1` or a GloVe dim-1 row: count the remaining lines.
            let mut lines = 1usize;
            let mut buf = Vec::new();
            while read_row(&mut r, &mut buf, &name.to_string(), lines + 1)?.is_some() {
                if !buf.iter().all(u8::is_ascii_whitespace) {
                    lines += 1;
                }
            }
            Ok(if lines == count {
                VectorFormat::Word2vecText
            } else {
                VectorFormat::Glove
            })
        }
        Some(n) if n == dim + 1 => Ok(VectorFormat::Word2vecText),
        Some(2) => Ok(VectorFormat::Glove),
        _ => Ok(VectorFormat::Word2vecBin),
    }
}

/// Reads the dimension of a vector file (from its header or first row) without reading further.
pub fn peek_dim(path: &Path, format: VectorFormat) -> Result<usize> {
    let format = match format {
        VectorFormat::Auto => detect_format(path)?,
        f => f,
    };
    let mut r = open_vectors(path)?;
    let mut first = Vec::new();
    read_line_bytes(&mut (&mut r).take(MAX_PROBE_LINE as u64), &mut first)?;
    match format {
        VectorFormat::Glove => Ok(fields(&first).count().saturating_sub(1)),
        _ => parse_header(&first).map(|h| h.1).ok_or_else(|| {
            anyhow::anyhow!(
                "{}:1: expected a `count dim` header, found {:?}",
                path.display(),
                String::from_utf8_lossy(&first[..first.len().min(80)])
            )
        }),
    }
}

/// Collects the vectors of vocabulary words while the file streams by.
struct Collector<'a, 'b> {
    vocab: &'a mut Vocab,
    filter: &'a VectorFilter<'b>,
    dim: usize,
    table: Vec<f32>,
    found: Vec<bool>,
    report: VectorsReport,
}

impl Collector<'_, '_> {
    /// The vocabulary id that should take this word's vector, if any.
    fn slot(&mut self, word_bytes: &[u8]) -> Option<usize> {
        let word = match std::str::from_utf8(word_bytes) {
            Ok(w) => std::borrow::Cow::Borrowed(w),
            Err(_) => {
                self.report.invalid_utf8_words += 1;
                String::from_utf8_lossy(word_bytes)
            }
        };
        if word == PAD_TOKEN || word == UNK_TOKEN {
            return None;
        }
        let id = match self.vocab.get(&word) {
            Some(id) => id as usize,
            None => {
                if self.report.added >= self.filter.extend || !(self.filter.accept_new)(&word) {
                    return None;
                }
                self.report.added += 1;
                let id = self.vocab.push(&word, 0) as usize;
                self.table.resize(self.vocab.len() * self.dim, 0.0);
                self.found.resize(self.vocab.len(), false);
                id
            }
        };
        if self.found[id] {
            self.report.duplicate_words += 1;
            return None;
        }
        self.found[id] = true;
        Some(id)
    }
}

/// Reads the vectors of the words of `vocab` from `path` (streaming; memory ∝ vocabulary).
/// With `filter.extend > 0`, up to that many words of the file absent from `vocab` (and accepted
/// by `filter.accept_new`) are appended to `vocab` with count 0, in file order.
///
/// # Errors
/// Unreadable file; `word2vec-text` forced on a file without a `count dim` header; a row whose
/// number of values differs from the dimension (`FILE:LINE: … values, expected …`); a value that
/// is not a number; a binary file that ends inside a vector.
pub fn read_vectors(
    path: &Path,
    format: VectorFormat,
    vocab: &mut Vocab,
    filter: &VectorFilter,
) -> Result<PretrainedVectors> {
    let format = match format {
        VectorFormat::Auto => detect_format(path)?,
        f => f,
    };
    let name = path.display().to_string();
    let mut r = open_vectors(path)?;
    let mut line = Vec::new();
    let mut header = None;
    let mut lineno = 0usize;
    if format != VectorFormat::Glove {
        read_line_bytes(&mut (&mut r).take(MAX_PROBE_LINE as u64), &mut line)?;
        lineno = 1;
        header = Some(parse_header(&line).ok_or_else(|| {
            anyhow::anyhow!(
                "{name}:1: expected a `count dim` header for format {format:?}, found {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            )
        })?);
    }
    if let Some((_, dim)) = header
        && dim > MAX_DIM
    {
        bail!(
            "{name}:1: dimension {dim} in the header is larger than {MAX_DIM}; is this a word-vector file?"
        );
    }
    let mut c = Collector {
        dim: header.map_or(0, |h| h.1),
        table: Vec::new(),
        found: vec![false; vocab.len()],
        vocab,
        filter,
        report: VectorsReport {
            path: name.clone(),
            format,
            ..VectorsReport::default()
        },
    };
    c.table = vec![0.0; c.found.len() * c.dim];
    if format == VectorFormat::Word2vecBin {
        let (count, dim) = header.expect("binary has a header");
        anyhow::ensure!(dim > 0, "{name}:1: dimension 0 in the header");
        let mut raw = vec![0u8; 4 * dim];
        let mut word = Vec::new();
        for k in 0..count {
            word.clear();
            // Word bytes up to a space; newlines (after the previous vector) are skipped.
            loop {
                let mut b = [0u8; 1];
                if r.read(&mut b)? == 0 {
                    if word.is_empty() {
                        bail!(
                            "{name}: the header declares {count} vectors but the file ends after {k}"
                        );
                    }
                    bail!(
                        "{name}: vector {} (word {:?}) is cut short",
                        k + 1,
                        String::from_utf8_lossy(&word)
                    );
                }
                if word.len() > MAX_ROW {
                    bail!(
                        "{name}: word {} is longer than {} MiB; this is not a word2vec binary file",
                        k + 1,
                        MAX_ROW >> 20
                    );
                }
                match b[0] {
                    b' ' if !word.is_empty() => break,
                    b'\n' | b'\r' if word.is_empty() => continue,
                    x => word.push(x),
                }
            }
            r.read_exact(&mut raw).with_context(|| {
                format!(
                    "{name}: vector {} (word {:?}) is cut short: expected {dim} f32 values",
                    k + 1,
                    String::from_utf8_lossy(&word)
                )
            })?;
            c.report.rows_read += 1;
            if let Some(id) = c.slot(&word) {
                for (dst, b) in c.table[id * dim..(id + 1) * dim]
                    .iter_mut()
                    .zip(raw.chunks_exact(4))
                {
                    *dst = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
    } else {
        while read_row(&mut r, &mut line, &name, lineno + 1)?.is_some() {
            lineno += 1;
            let mut f = fields(&line);
            let Some(word) = f.next() else {
                continue; // blank line
            };
            let values: Vec<&[u8]> = f.collect();
            if c.dim == 0 {
                anyhow::ensure!(
                    !values.is_empty(),
                    "{name}:{lineno}: a row needs a word and at least one value"
                );
                anyhow::ensure!(
                    values.len() <= MAX_DIM,
                    "{name}:{lineno}: {} values, more than {MAX_DIM}; is this a word-vector file?",
                    values.len()
                );
                c.dim = values.len();
                c.table = vec![0.0; c.found.len() * c.dim];
            }
            if values.len() != c.dim {
                bail!(
                    "{name}:{lineno}: {} values, expected {} (the dimension {})",
                    values.len(),
                    c.dim,
                    if header.is_some() {
                        "declared in the header"
                    } else {
                        "of the first row"
                    }
                );
            }
            c.report.rows_read += 1;
            let dim = c.dim;
            if let Some(id) = c.slot(word) {
                for (j, v) in values.iter().enumerate() {
                    let parsed = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<f32>().ok());
                    let Some(x) = parsed.filter(|x| x.is_finite()) else {
                        bail!(
                            "{name}:{lineno}: value {} {:?} is not a finite number",
                            j + 1,
                            String::from_utf8_lossy(v)
                        );
                    };
                    c.table[id * dim + j] = x;
                }
            }
        }
        if let Some((count, _)) = header
            && count != c.report.rows_read
        {
            c.report.warning = Some(format!(
                "the header declares {count} vectors, the file holds {}",
                c.report.rows_read
            ));
        }
        anyhow::ensure!(c.dim > 0, "{name}: no vectors in the file");
    }
    let Collector {
        vocab,
        dim,
        table,
        found,
        mut report,
        ..
    } = c;
    report.dim = dim;
    report.set_coverage(vocab, &found);
    Ok(PretrainedVectors {
        dim,
        table,
        found,
        report,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(words: &[(&str, u64)]) -> Vocab {
        let mut v = Vocab::empty();
        for (w, c) in words {
            v.push(w, *c);
        }
        v
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn bin(rows: &[(&[u8], &[f32])], header: &str, newline: bool) -> Vec<u8> {
        let mut out = header.as_bytes().to_vec();
        for (w, v) in rows {
            out.extend_from_slice(w);
            out.push(b' ');
            for x in *v {
                out.extend_from_slice(&x.to_le_bytes());
            }
            if newline {
                out.push(b'\n');
            }
        }
        out
    }

    #[test]
    fn detects_glove_vs_word2vec_text_even_for_two_words() {
        let d = tempfile::tempdir().unwrap();
        let with = write(d.path(), "a.vec", b"2 3\ngood 1 2 3\nbad 4 5 6\n");
        let without = write(d.path(), "a.txt", b"good 1 2 3\nbad 4 5 6\n");
        assert_eq!(detect_format(&with).unwrap(), VectorFormat::Word2vecText);
        assert_eq!(detect_format(&without).unwrap(), VectorFormat::Glove);
        let mut v = vocab(&[("good", 3), ("bad", 1), ("ugly", 1)]);
        for p in [&with, &without] {
            let pv = read_vectors(p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
            assert_eq!(pv.dim, 3);
            assert_eq!(pv.report.rows_read, 2);
            assert_eq!(&pv.table[2 * 3..4 * 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
            assert_eq!(pv.found, vec![false, false, true, true, false]);
            assert_eq!(pv.report.found, 2);
            assert!((pv.report.vocab_coverage - 2.0 / 3.0).abs() < 1e-12);
            assert!((pv.report.token_coverage - 4.0 / 5.0).abs() < 1e-12);
        }
    }

    #[test]
    fn glove_with_dimension_one_is_not_taken_for_a_header() {
        let d = tempfile::tempdir().unwrap();
        // Integer words with one value each: the first line looks like `count dim`.
        let g = write(d.path(), "g.txt", b"3 300\n7 0.5\n");
        assert_eq!(detect_format(&g).unwrap(), VectorFormat::Glove);
        // `5 1` followed by two 2-field rows: a header would promise 5 rows → GloVe, dim 1.
        let g1 = write(d.path(), "g1.txt", b"5 1\n6 0.5\n7 0.25\n");
        assert_eq!(detect_format(&g1).unwrap(), VectorFormat::Glove);
        // `2 1` followed by exactly 2 rows (blank lines ignored): consistent with a header.
        let h = write(d.path(), "h.vec", b"2 1\nx 0.5\ny 0.25\n\n");
        assert_eq!(detect_format(&h).unwrap(), VectorFormat::Word2vecText);
        let one = write(d.path(), "one.txt", b"3 300\n");
        assert_eq!(detect_format(&one).unwrap(), VectorFormat::Glove);
        let empty_header = write(d.path(), "e.vec", b"0 300\n");
        assert_eq!(
            detect_format(&empty_header).unwrap(),
            VectorFormat::Word2vecText
        );
        let mut v = vocab(&[("3", 1), ("7", 1)]);
        let pv = read_vectors(&g, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
        assert_eq!(pv.dim, 1);
        assert_eq!(pv.table, vec![0.0, 0.0, 300.0, 0.5]);
    }

    #[test]
    fn dimension_mismatch_names_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "bad.vec", b"3 3\na 1 2 3\nb 1 2\nc 1 2 3\n");
        let mut v = vocab(&[("a", 1)]);
        let e = format!(
            "{:#}",
            read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default())
                .err()
                .unwrap()
        );
        assert!(
            e.contains("bad.vec:3") && e.contains("2 values, expected 3"),
            "{e}"
        );
        let p = write(d.path(), "bad.txt", b"a 1 2 3\nb 1 2 3\nc 1 2 3 4\n");
        let e = format!(
            "{:#}",
            read_vectors(&p, VectorFormat::Glove, &mut v, &VectorFilter::default())
                .err()
                .unwrap()
        );
        assert!(
            e.contains("bad.txt:3") && e.contains("4 values, expected 3"),
            "{e}"
        );
        // Forcing word2vec-text on a headerless file is an error naming line 1.
        let e = format!(
            "{:#}",
            read_vectors(
                &p,
                VectorFormat::Word2vecText,
                &mut v,
                &VectorFilter::default()
            )
            .err()
            .unwrap()
        );
        assert!(e.contains("bad.txt:1") && e.contains("header"), "{e}");
    }

    #[test]
    fn invalid_utf8_words_are_decoded_lossily_and_counted() {
        let d = tempfile::tempdir().unwrap();
        let mut text = b"2 2\n".to_vec();
        text.extend_from_slice(b"caf\xe9 1 2\nok 3 4\n");
        let p = write(d.path(), "latin.vec", &text);
        assert_eq!(detect_format(&p).unwrap(), VectorFormat::Word2vecText);
        let mut v = vocab(&[("ok", 1), ("caf\u{fffd}", 1)]);
        let pv = read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
        assert_eq!(pv.report.invalid_utf8_words, 1);
        assert_eq!(pv.report.found, 2);
        assert_eq!(&pv.table[3 * 2..4 * 2], &[1.0, 2.0]);

        let b = bin(
            &[(b"\xff\xfebad", &[1.0, 2.0]), (b"ok", &[3.0, 4.0])],
            "2 2\n",
            true,
        );
        let p = write(d.path(), "bad.bin", &b);
        assert_eq!(detect_format(&p).unwrap(), VectorFormat::Word2vecBin);
        let pv = read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
        assert_eq!(pv.report.invalid_utf8_words, 1);
        assert_eq!(pv.report.rows_read, 2);
        assert_eq!(&pv.table[2 * 2..3 * 2], &[3.0, 4.0]);
    }

    #[test]
    fn binary_with_and_without_trailing_newlines() {
        let d = tempfile::tempdir().unwrap();
        let rows: [(&[u8], &[f32]); 3] = [
            (b"good", &[0.5, -1.25, 3.0]),
            (b"bad", &[10.0, 0.0, -0.0625]),
            (b"other", &[1.0, 1.0, 1.0]),
        ];
        for newline in [true, false] {
            let p = write(d.path(), "v.bin", &bin(&rows, "3 3\n", newline));
            assert_eq!(
                detect_format(&p).unwrap(),
                VectorFormat::Word2vecBin,
                "{newline}"
            );
            let mut v = vocab(&[("bad", 2), ("good", 1), ("none", 1)]);
            let pv =
                read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
            assert_eq!(pv.report.rows_read, 3);
            assert_eq!(&pv.table[2 * 3..3 * 3], &[10.0, 0.0, -0.0625]);
            assert_eq!(&pv.table[3 * 3..4 * 3], &[0.5, -1.25, 3.0]);
            assert_eq!(pv.report.found, 2);
        }
        // A file cut inside a vector is an error naming the vector.
        let full = bin(&rows, "3 3\n", true);
        let p = write(d.path(), "cut.bin", &full[..full.len() - 6]);
        let mut v = vocab(&[]);
        let e = format!(
            "{:#}",
            read_vectors(
                &p,
                VectorFormat::Word2vecBin,
                &mut v,
                &VectorFilter::default()
            )
            .err()
            .unwrap()
        );
        assert!(e.contains("vector 3") && e.contains("other"), "{e}");
    }

    #[test]
    fn extend_vocab_adds_capped_new_words_in_file_order() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "v.txt",
            b"the 1 1\nNew 2 2\nfresh 3 3\nnovel 4 4\nthe 9 9\n<unk> 5 5\n",
        );
        let mut v = vocab(&[("the", 5)]);
        let accept = |w: &str| w.chars().all(|c| c.is_lowercase());
        let pv = read_vectors(
            &p,
            VectorFormat::Auto,
            &mut v,
            &VectorFilter {
                extend: 2,
                accept_new: &accept,
            },
        )
        .unwrap();
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "the", "fresh", "novel"]);
        assert_eq!(pv.report.added, 2);
        assert_eq!(pv.report.duplicate_words, 1);
        assert_eq!(pv.table.len(), 5 * 2);
        assert_eq!(&pv.table[2 * 2..], &[1.0, 1.0, 3.0, 3.0, 4.0, 4.0]);
        assert!(!pv.found[crate::text::UNK_ID as usize]);
    }

    #[test]
    fn round_trip_through_every_writer_and_matched_variance_init() {
        let d = tempfile::tempdir().unwrap();
        let words = ["alpha", "beta", "has space", "gamma"];
        let vecs: Vec<f32> = (0..8).map(|i| (i as f32 - 3.5) * 0.1 + 1e-7).collect();
        for (fmt, name) in [
            (VectorFormat::Word2vecBin, "x.bin"),
            (VectorFormat::Word2vecText, "x.vec"),
            (VectorFormat::Glove, "x.txt"),
        ] {
            let (bytes, skipped) = encode_vectors(fmt, &words, &vecs, 2);
            assert_eq!(skipped, 1);
            let p = write(d.path(), name, &bytes);
            assert_eq!(detect_format(&p).unwrap(), fmt);
            assert_eq!(peek_dim(&p, VectorFormat::Auto).unwrap(), 2);
            let mut v = vocab(&[("gamma", 1), ("alpha", 1), ("missing", 1)]);
            let mut pv =
                read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
            assert_eq!(&pv.table[2 * 2..3 * 2], &vecs[6..8], "{fmt:?}");
            assert_eq!(&pv.table[3 * 2..4 * 2], &vecs[0..2], "{fmt:?}");
            let mut emb = vec![9.0; 5 * 2];
            let a = pv.init_embedding(&mut emb, 1);
            let var = pv.variance();
            assert!((a as f64 - (3.0 * var).sqrt()).abs() < 1e-6);
            assert_eq!(&emb[..2], &[0.0, 0.0]);
            assert_eq!(&emb[2 * 2..4 * 2], &pv.table[2 * 2..4 * 2]);
            assert!(emb[4 * 2..].iter().all(|x| x.abs() <= a && *x != 9.0));
        }
    }
}
