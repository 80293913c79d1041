//! Reading word-vector files: format detection, the dimension, and the streaming reader that keeps
//! the vectors of our vocabulary.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{PretrainedVectors, VectorFilter, VectorFormat, VectorsReport};
use crate::text::vocab::{PAD_TOKEN, UNK_TOKEN, Vocab};

/// Longest header or text row looked at when detecting the format (bytes).
const MAX_PROBE_LINE: usize = 1 << 20;

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
    let header = read_header(&mut r, format, &name)?;
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
        c.read_binary(&mut r, &name, count, dim)?;
    } else {
        c.read_text(&mut r, &name, header)?;
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

/// The `count dim` header of every format but GloVe (`None` for GloVe), checked.
fn read_header(
    r: &mut Box<dyn BufRead>,
    format: VectorFormat,
    name: &str,
) -> Result<Option<(usize, usize)>> {
    if format == VectorFormat::Glove {
        return Ok(None);
    }
    let mut line = Vec::new();
    read_line_bytes(&mut (&mut *r).take(MAX_PROBE_LINE as u64), &mut line)?;
    let header = parse_header(&line).ok_or_else(|| {
        anyhow::anyhow!(
            "{name}:1: expected a `count dim` header for format {format:?}, found {:?}",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        )
    })?;
    let (_, dim) = header;
    if dim > MAX_DIM {
        bail!(
            "{name}:1: dimension {dim} in the header is larger than {MAX_DIM}; is this a word-vector file?"
        );
    }
    Ok(Some(header))
}

/// The next word of a word2vec binary file (vector `k` of `count`): its bytes up to a space;
/// newlines (after the previous vector) are skipped.
fn binary_word(
    r: &mut Box<dyn BufRead>,
    word: &mut Vec<u8>,
    name: &str,
    k: usize,
    count: usize,
) -> Result<()> {
    word.clear();
    loop {
        let mut b = [0u8; 1];
        if r.read(&mut b)? == 0 {
            if word.is_empty() {
                bail!("{name}: the header declares {count} vectors but the file ends after {k}");
            }
            bail!(
                "{name}: vector {} (word {:?}) is cut short",
                k + 1,
                String::from_utf8_lossy(word)
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
            b' ' if !word.is_empty() => return Ok(()),
            b'\n' | b'\r' if word.is_empty() => continue,
            x => word.push(x),
        }
    }
}

impl Collector<'_, '_> {
    /// The `count` vectors of dimension `dim` of a word2vec binary file, after its header.
    fn read_binary(
        &mut self,
        r: &mut Box<dyn BufRead>,
        name: &str,
        count: usize,
        dim: usize,
    ) -> Result<()> {
        anyhow::ensure!(dim > 0, "{name}:1: dimension 0 in the header");
        let mut raw = vec![0u8; 4 * dim];
        let mut word = Vec::new();
        for k in 0..count {
            binary_word(r, &mut word, name, k, count)?;
            r.read_exact(&mut raw).with_context(|| {
                format!(
                    "{name}: vector {} (word {:?}) is cut short: expected {dim} f32 values",
                    k + 1,
                    String::from_utf8_lossy(&word)
                )
            })?;
            self.report.rows_read += 1;
            if let Some(id) = self.slot(&word) {
                for (dst, b) in self.table[id * dim..(id + 1) * dim]
                    .iter_mut()
                    .zip(raw.chunks_exact(4))
                {
                    *dst = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
        Ok(())
    }

    /// The rows `word v1 v2 …` of a text file, after its header (if any): the dimension is the
    /// header's or the first row's, and every row must have it.
    fn read_text(
        &mut self,
        r: &mut Box<dyn BufRead>,
        name: &str,
        header: Option<(usize, usize)>,
    ) -> Result<()> {
        let mut line = Vec::new();
        let mut lineno = usize::from(header.is_some());
        while read_row(r, &mut line, name, lineno + 1)?.is_some() {
            lineno += 1;
            let mut f = fields(&line);
            let Some(word) = f.next() else {
                continue; // blank line
            };
            let values: Vec<&[u8]> = f.collect();
            self.check_row_len(values.len(), header.is_some(), name, lineno)?;
            self.report.rows_read += 1;
            let dim = self.dim;
            if let Some(id) = self.slot(word) {
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
                    self.table[id * dim + j] = x;
                }
            }
        }
        if let Some((count, _)) = header
            && count != self.report.rows_read
        {
            self.report.warning = Some(format!(
                "the header declares {count} vectors, the file holds {}",
                self.report.rows_read
            ));
        }
        anyhow::ensure!(self.dim > 0, "{name}: no vectors in the file");
        Ok(())
    }

    /// Checks a text row's number of values against the dimension; the first row of a file
    /// without a header sets it.
    fn check_row_len(
        &mut self,
        n: usize,
        has_header: bool,
        name: &str,
        lineno: usize,
    ) -> Result<()> {
        if self.dim == 0 {
            anyhow::ensure!(
                n > 0,
                "{name}:{lineno}: a row needs a word and at least one value"
            );
            anyhow::ensure!(
                n <= MAX_DIM,
                "{name}:{lineno}: {n} values, more than {MAX_DIM}; is this a word-vector file?"
            );
            self.dim = n;
            self.table = vec![0.0; self.found.len() * self.dim];
        }
        if n != self.dim {
            bail!(
                "{name}:{lineno}: {n} values, expected {} (the dimension {})",
                self.dim,
                if has_header {
                    "declared in the header"
                } else {
                    "of the first row"
                }
            );
        }
        Ok(())
    }
}
