//! Training text for word vectors: token lists interned into ids while they are read, then a
//! [`Dictionary`] of the words seen at least `min_count` times and the text as dictionary ids.
//!
//! As in fastText, words below `min_count` are dropped from the text (they do not take a place
//! in any window) but count in the token total used for subsampling, and a text longer than
//! [`MAX_SENTENCE`] tokens is cut into pieces of at most that many (fastText's `MAX_LINE_SIZE`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use super::dictionary::Dictionary;
use crate::data::{Encoding, Format, ReadOptions, SkippedRow};
use crate::text::Tokenizer;

/// Most tokens of one training sentence (fastText's `MAX_LINE_SIZE`); longer texts are cut.
pub const MAX_SENTENCE: usize = 1024;

/// Collects token lists, one per text, interning the tokens as they come (memory: one `u32` per
/// token plus one copy of each distinct word).
#[derive(Clone, Debug, Default)]
pub struct CorpusBuilder {
    index: HashMap<String, u32>,
    words: Vec<String>,
    counts: Vec<u64>,
    /// Provisional ids (first-occurrence order) of every token.
    ids: Vec<u32>,
    /// `ids` offset where each text ends.
    ends: Vec<usize>,
}

impl CorpusBuilder {
    /// An empty builder.
    pub fn new() -> CorpusBuilder {
        CorpusBuilder::default()
    }

    /// Adds the tokens of one text.
    pub fn add_tokens<S: AsRef<str>>(&mut self, tokens: &[S]) {
        for t in tokens {
            let t = t.as_ref();
            let id = match self.index.get(t) {
                Some(&id) => id,
                None => {
                    let id = self.words.len() as u32;
                    self.index.insert(t.to_string(), id);
                    self.words.push(t.to_string());
                    self.counts.push(0);
                    id
                }
            };
            self.counts[id as usize] += 1;
            self.ids.push(id);
        }
        self.ends.push(self.ids.len());
    }

    /// Texts added so far.
    pub fn texts(&self) -> usize {
        self.ends.len()
    }

    /// Tokens added so far.
    pub fn tokens(&self) -> usize {
        self.ids.len()
    }

    /// The dictionary of the words seen at least `min_count` times, most frequent first (ties in
    /// order of first occurrence, so the ids do not depend on hashing), and the text in its ids.
    ///
    /// # Errors
    /// When no word occurs `min_count` times.
    pub fn finish(self, min_count: u64) -> Result<Corpus> {
        let mut order: Vec<u32> = (0..self.words.len() as u32)
            .filter(|&i| self.counts[i as usize] >= min_count)
            .collect();
        if order.is_empty() {
            bail!(
                "no word occurs at least {min_count} times in the {} tokens read; lower min-count",
                self.ids.len()
            );
        }
        order.sort_by_key(|&i| (std::cmp::Reverse(self.counts[i as usize]), i));
        let mut new_id = vec![u32::MAX; self.words.len()];
        for (n, &old) in order.iter().enumerate() {
            new_id[old as usize] = n as u32;
        }
        let counts: Vec<u64> = order.iter().map(|&i| self.counts[i as usize]).collect();
        let mut words = self.words;
        let words: Vec<String> = order
            .iter()
            .map(|&i| std::mem::take(&mut words[i as usize]))
            .collect();
        let tokens_read = self.ids.len() as u64;
        let mut ids = self.ids;
        let mut bounds = vec![0];
        let (mut write, mut start) = (0, 0);
        for &end in &self.ends {
            let mut in_sentence = 0;
            for read in start..end {
                let id = new_id[ids[read] as usize];
                if id == u32::MAX {
                    continue;
                }
                ids[write] = id;
                write += 1;
                in_sentence += 1;
                if in_sentence == MAX_SENTENCE {
                    bounds.push(write);
                    in_sentence = 0;
                }
            }
            if in_sentence > 0 {
                bounds.push(write);
            }
            start = end;
        }
        ids.truncate(write);
        ids.shrink_to_fit();
        Ok(Corpus {
            dict: Dictionary::new(words, counts),
            ids,
            bounds,
            tokens_read,
        })
    }
}

/// Training text as dictionary ids, cut into sentences.
#[derive(Clone, Debug)]
pub struct Corpus {
    dict: Dictionary,
    ids: Vec<u32>,
    /// Sentence `i` is `ids[bounds[i]..bounds[i + 1]]`.
    bounds: Vec<usize>,
    tokens_read: u64,
}

impl Corpus {
    /// Interns token lists (one per text) and keeps the words seen at least `min_count` times
    /// (see [`CorpusBuilder::finish`]).
    ///
    /// # Errors
    /// When no word occurs `min_count` times.
    pub fn from_token_lists<'a, I>(texts: I, min_count: u64) -> Result<Corpus>
    where
        I: IntoIterator<Item = &'a [String]>,
    {
        let mut b = CorpusBuilder::new();
        for t in texts {
            b.add_tokens(t);
        }
        b.finish(min_count)
    }

    /// The dictionary.
    pub fn dictionary(&self) -> &Dictionary {
        &self.dict
    }

    /// Number of sentences.
    pub fn sentences(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Sentence `i` as dictionary ids.
    #[inline]
    pub fn sentence(&self, i: usize) -> &[u32] {
        &self.ids[self.bounds[i]..self.bounds[i + 1]]
    }

    /// Offset in [`Corpus::tokens`] where sentence `i` starts (`i ≤ sentences()`).
    pub fn sentence_start(&self, i: usize) -> usize {
        self.bounds[i]
    }

    /// Tokens of dictionary words (one epoch's worth of training tokens).
    pub fn tokens(&self) -> u64 {
        self.ids.len() as u64
    }

    /// Every token read, rare words included: the total that word frequencies are relative to
    /// (fastText's `ntokens`).
    pub fn tokens_read(&self) -> u64 {
        self.tokens_read
    }
}

/// What reading a text source found besides the tokens.
#[derive(Clone, Debug, Default)]
pub struct ReadReport {
    /// Texts read (lines of a plain-text file, examples of a dataset).
    pub texts: usize,
    /// Rows a dataset reader left out (plain text never skips a line).
    pub skipped: Vec<SkippedRow>,
    /// The dataset reader's warnings.
    pub warnings: Vec<String>,
}

/// Lines tokenized per parallel batch when streaming plain text.
const LINES_PER_BATCH: usize = 4096;

/// Longest line accepted from a plain-text file (bytes): a file without line breaks still reads
/// in bounded memory up to here.
const MAX_LINE: usize = 256 << 20;

/// Whether `spec` is read as plain text (one text per line) rather than through
/// [`crate::data::load_dataset`]: `-` (standard input), `--format lines`, or, without a format,
/// a file whose extension is none of the dataset ones (`.csv .tsv .tab .jsonl .ndjson .json
/// .ft .fasttext .tar.gz .tgz`) and whose first non-blank line does not start with the fastText
/// label prefix.
///
/// # Errors
/// When the file cannot be opened or read.
pub fn is_plain_text(spec: &str, opts: &ReadOptions) -> Result<bool> {
    if spec == "-" {
        return Ok(true);
    }
    match opts.format {
        Some(Format::Lines) => return Ok(true),
        Some(_) => return Ok(false),
        None => {}
    }
    let path = Path::new(spec);
    if !path.is_file() {
        // A folder, `imdb:train`, `archive.tar.gz:test`, or a missing path: the dataset reader
        // knows them or says what is wrong.
        return Ok(false);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        return Ok(false);
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if matches!(
        ext,
        "csv" | "tsv" | "tab" | "jsonl" | "ndjson" | "json" | "ft" | "fasttext"
    ) {
        return Ok(false);
    }
    let file = crate::fsutil::open_checked(path, crate::fsutil::Source::FileOrPipe)?;
    let mut r = BufReader::new(file.take(1 << 20));
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {spec}"))?
            == 0
        {
            return Ok(true);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_start_matches('\u{feff}').trim();
        if !text.is_empty() {
            return Ok(!text.starts_with(opts.label_prefix.as_str()));
        }
    }
}

/// Reads the texts of `spec` and tokenizes them into `builder` (in parallel batches, on the
/// current rayon pool; the result does not depend on the thread count).
///
/// Plain text (see [`is_plain_text`]; `-` is standard input) is streamed: one text per line,
/// decoded as `opts.encoding`, blank lines adding nothing. Anything else (`imdb:train`, a CSV, TSV,
/// JSONL or fastText file, a folder) is read by [`crate::data::load_dataset`] with `opts`: the
/// texts of its examples are used, the labels ignored.
///
/// # Errors
/// A missing or unreadable input, text that is not valid in `opts.encoding` (naming the file and
/// line), a line longer than 256 MiB, an empty input, or the dataset reader's errors.
pub fn read_texts(
    spec: &str,
    opts: &ReadOptions,
    tokenizer: &Tokenizer,
    builder: &mut CorpusBuilder,
) -> Result<ReadReport> {
    if !is_plain_text(spec, opts)? {
        let ds = crate::data::load_dataset(spec, opts)?;
        for chunk in ds.examples.chunks(LINES_PER_BATCH) {
            let tokens: Vec<Vec<String>> = chunk
                .par_iter()
                .map(|e| tokenizer.tokenize(&e.text))
                .collect();
            for t in &tokens {
                builder.add_tokens(t);
            }
        }
        return Ok(ReadReport {
            texts: ds.examples.len(),
            skipped: ds.skipped,
            warnings: ds.warnings,
        });
    }
    let (reader, name): (Box<dyn Read>, String) = if spec == "-" {
        (Box::new(std::io::stdin()), "<stdin>".into())
    } else {
        let path = Path::new(spec);
        let file = crate::fsutil::open_checked(path, crate::fsutil::Source::FileOrPipe)?;
        (Box::new(file), path.display().to_string())
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut lines: Vec<String> = Vec::with_capacity(LINES_PER_BATCH);
    let mut buf = Vec::new();
    let (mut lineno, mut bytes) = (0usize, 0u64);
    let flush = |lines: &mut Vec<String>, builder: &mut CorpusBuilder| {
        let tokens: Vec<Vec<String>> = lines.par_iter().map(|l| tokenizer.tokenize(l)).collect();
        for t in tokens.iter().filter(|t| !t.is_empty()) {
            builder.add_tokens(t);
        }
        lines.clear();
    };
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("{name}:{}: cannot read", lineno + 1))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        bytes += n as u64;
        if buf.len() > MAX_LINE {
            bail!(
                "{name}:{lineno}: a line longer than {} MiB; give one text per line",
                MAX_LINE >> 20
            );
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        let body = if lineno == 1 {
            buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf)
        } else {
            &buf[..]
        };
        lines.push(decode_line(body, &name, lineno, opts.encoding)?);
        if lines.len() == LINES_PER_BATCH {
            flush(&mut lines, builder);
        }
    }
    flush(&mut lines, builder);
    if bytes == 0 {
        bail!("{name}: the input is empty");
    }
    Ok(ReadReport {
        texts: lineno,
        ..ReadReport::default()
    })
}

/// One line of text in `encoding`; invalid UTF-8 is an error naming the file, line and byte.
fn decode_line(bytes: &[u8], name: &str, lineno: usize, encoding: Encoding) -> Result<String> {
    match encoding {
        Encoding::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => {
                let at = e.valid_up_to();
                bail!(
                    "{name}:{lineno}: invalid UTF-8 (byte 0x{:02X} at column {}); if the file is \
                     Latin-1 / Windows-1252, pass `--encoding latin1`",
                    bytes[at],
                    at + 1
                )
            }
        },
        Encoding::Latin1 => Ok(encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TokenizerConfig;

    /// The error of reading the plain-text file `path` into a new corpus.
    fn read_error(
        path: &std::path::Path,
        opts: &ReadOptions,
        tokenizer: &Tokenizer,
    ) -> anyhow::Error {
        let spec = path.to_str().unwrap();
        read_texts(spec, opts, tokenizer, &mut CorpusBuilder::new()).unwrap_err()
    }

    fn tok(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn dictionary_by_count_then_first_occurrence_and_rare_words_dropped() {
        let texts = [tok("b a c a"), tok("c d b"), tok("e e e a"), tok("")];
        let c = Corpus::from_token_lists(texts.iter().map(Vec::as_slice), 2).unwrap();
        // a: 3, e: 3 (a first), b: 2, c: 2 (b first), d: 1 (dropped).
        assert_eq!(c.dictionary().words(), ["a", "e", "b", "c"]);
        assert_eq!(c.dictionary().counts(), [3, 3, 2, 2]);
        assert_eq!(c.tokens_read(), 11);
        assert_eq!(c.tokens(), 10);
        assert_eq!(c.sentences(), 3);
        assert_eq!(c.sentence(0), [2, 0, 3, 0]);
        assert_eq!(c.sentence(1), [3, 2]);
        assert_eq!(c.sentence(2), [1, 1, 1, 0]);
        let e = Corpus::from_token_lists(texts.iter().map(Vec::as_slice), 4).unwrap_err();
        assert!(e.to_string().contains("at least 4 times"), "{e}");
    }

    #[test]
    fn long_texts_are_cut_into_sentences() {
        let long: Vec<String> = (0..2 * MAX_SENTENCE + 5)
            .map(|i| (i % 7).to_string())
            .collect();
        let c = Corpus::from_token_lists([long.as_slice()], 1).unwrap();
        assert_eq!(c.sentences(), 3);
        assert_eq!(c.sentence(0).len(), MAX_SENTENCE);
        assert_eq!(c.sentence(2).len(), 5);
        assert_eq!(c.sentence_start(2), 2 * MAX_SENTENCE);
    }

    #[test]
    fn plain_text_is_streamed_and_bad_bytes_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("corpus.txt");
        std::fs::write(&p, "\u{feff}Hello, World!\n\n<b>hello</b> world\r\n").unwrap();
        let opts = ReadOptions::default();
        let tokenizer = Tokenizer::new(TokenizerConfig::default());
        let spec = p.to_str().unwrap();
        assert!(is_plain_text(spec, &opts).unwrap());
        let mut b = CorpusBuilder::new();
        let r = read_texts(spec, &opts, &tokenizer, &mut b).unwrap();
        assert_eq!(r.texts, 3);
        assert_eq!(b.texts(), 2);
        let c = b.finish(1).unwrap();
        assert_eq!(c.dictionary().words(), ["hello", "world", ",", "!"]);
        assert_eq!(c.sentence(1), [0, 1]);

        let bad = d.path().join("bad.txt");
        std::fs::write(&bad, b"fine\nalso fine\ncaf\xe9\n").unwrap();
        let e = read_error(&bad, &opts, &tokenizer);
        let e = format!("{e:#}");
        assert!(e.contains("bad.txt:3") && e.contains("0xE9"), "{e}");
        let latin = ReadOptions {
            encoding: Encoding::Latin1,
            ..ReadOptions::default()
        };
        let mut b = CorpusBuilder::new();
        read_texts(bad.to_str().unwrap(), &latin, &tokenizer, &mut b).unwrap();
        assert!(b.finish(1).unwrap().dictionary().id("café").is_some());

        let empty = d.path().join("empty.txt");
        std::fs::write(&empty, b"").unwrap();
        let e = read_error(&empty, &opts, &tokenizer);
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn dataset_files_give_their_text_column() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("d.tsv");
        std::fs::write(&p, "label\ttext\npos\tGood film\nneg\tbad film\n").unwrap();
        let spec = p.to_str().unwrap();
        let opts = ReadOptions::default();
        assert!(!is_plain_text(spec, &opts).unwrap());
        let mut b = CorpusBuilder::new();
        let tokenizer = Tokenizer::new(TokenizerConfig::default());
        let r = read_texts(spec, &opts, &tokenizer, &mut b).unwrap();
        assert_eq!(r.texts, 2);
        let c = b.finish(1).unwrap();
        assert_eq!(c.dictionary().words(), ["film", "good", "bad"]);
        let ft = d.path().join("d.txt");
        std::fs::write(&ft, "__label__pos Good film\n").unwrap();
        assert!(!is_plain_text(ft.to_str().unwrap(), &opts).unwrap());
    }
}
