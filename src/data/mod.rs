//! Data stage: dataset readers (IMDB archive, fastText, CSV/TSV, JSONL, folders, plain lines) and splits.
//!
//! Every reader returns a [`Dataset`]: the examples read, each with its labels, plus every row
//! that was skipped (with file, line and reason) and warnings about suspicious data. Rows are
//! never dropped silently.
//!
//! Labels are read as label sets. Single-label data has one label per text; multi-label data
//! ([`ReadOptions::multi_label`]) any number, none included, laid out as
//!
//! | layout | example | option |
//! |---|---|---|
//! | fastText | `__label__economy __label__politics some text` | `--label-prefix` |
//! | CSV/TSV, delimited list | `text,labels` / `"a story","economy,politics"` | `--label-sep ,` (column: `--label-column`) |
//! | JSONL | `{"text": "...", "labels": ["economy", "politics"]}` | key `labels` (or `--label-column`) |
//! | CSV/TSV, indicator columns | `text,economy,politics` / `"a story",1,1` | `--label-columns economy,politics` or `--label-column-prefix cat_` |
//!
//! Read as label sets, a malformed label field (an empty label name, a label value that is not
//! a list of strings, an indicator that is not 0 or 1, invalid JSON) is an error naming the file
//! and line; read one label per text, rows without a usable label are skipped and recorded.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

pub mod imdb;
pub(crate) mod readers;
pub mod split;
pub mod stats;
pub mod stream;

pub use imdb::{resolve_imdb, show_download_progress};
pub use split::{split, split_warnings, stratified_split};
pub use stats::DatasetStats;

pub use crate::fsutil::{Encoding, decode_bytes};

/// One text and its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The raw text (HTML and all; cleaning is the tokenizer's job).
    pub text: String,
    /// Its labels, surrounding whitespace trimmed, without repeats: one for single-label data,
    /// any number (sorted) for data read as label sets, none for [`Format::Lines`].
    pub labels: Vec<String>,
    /// Extra information: the IMDB star rating (`"7"`), or the file name for folder datasets.
    pub meta: Option<String>,
}

impl Example {
    /// A text with one label (`""`: none).
    pub fn new(text: impl Into<String>, label: impl Into<String>) -> Example {
        let label = label.into();
        Example {
            text: text.into(),
            labels: if label.is_empty() {
                Vec::new()
            } else {
                vec![label]
            },
            meta: None,
        }
    }

    /// Its (first) label, as a single-label model reads it; `""` when it has none.
    pub fn label(&self) -> &str {
        self.labels.first().map_or("", String::as_str)
    }
}

/// A row a reader left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRow {
    /// File (or `archive!member`) the row came from.
    pub file: String,
    /// 1-based line number of the row's first line (0 for whole-file entries such as an empty
    /// review file).
    pub line: usize,
    /// Short reason, one of a small set (`"blank line"`, `"no text"`, `"no label"`, ...), so rows
    /// can be grouped by it.
    pub reason: String,
}

/// The result of reading a data source.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Where the data came from (the spec given to [`load_dataset`]).
    pub name: String,
    /// Examples in a deterministic order (file order; IMDB: sorted by path).
    pub examples: Vec<Example>,
    /// Rows left out, with file, line and reason.
    pub skipped: Vec<SkippedRow>,
    /// Things worth a look (near-duplicate labels, several labels on a line, ...).
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Sorted unique labels of all examples.
    pub fn labels(&self) -> Vec<String> {
        self.label_counts().into_keys().collect()
    }

    /// Number of examples carrying each label, sorted by label.
    pub fn label_counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for e in &self.examples {
            for l in &e.labels {
                *m.entry(l.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// Mean number of labels per example (label cardinality).
    pub fn cardinality(&self) -> f64 {
        let n: usize = self.examples.iter().map(|e| e.labels.len()).sum();
        n as f64 / self.examples.len().max(1) as f64
    }

    /// Examples with no label (all-negative rows of multi-label data, or plain lines).
    pub fn unlabelled(&self) -> usize {
        self.examples.iter().filter(|e| e.labels.is_empty()).count()
    }

    /// Whether some example has more than one label.
    pub fn has_label_sets(&self) -> bool {
        self.examples.iter().any(|e| e.labels.len() > 1)
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// A fingerprint of the examples, in order: `"N examples, crc32c XXXXXXXX"`, the CRC-32C
    /// (Castagnoli) of every text and its labels, each followed by a separator byte. It changes
    /// when an example is added, removed, moved or edited (a CRC-32C misses one change in 2^32:
    /// a check against mistakes, not against forgery); `--resume` compares it with the one
    /// recorded at the run's start.
    pub fn fingerprint(&self) -> String {
        let mut crc = 0u32;
        for e in &self.examples {
            crc = crc32c::crc32c_append(crc, e.text.as_bytes());
            crc = crc32c::crc32c_append(crc, &[0x1f]);
            for l in &e.labels {
                crc = crc32c::crc32c_append(crc, l.as_bytes());
                crc = crc32c::crc32c_append(crc, &[0x1e]);
            }
            crc = crc32c::crc32c_append(crc, &[0x1d]);
        }
        format!("{} examples, crc32c {crc:08x}", self.examples.len())
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Number of skipped rows per reason, sorted by reason.
    pub fn skipped_by_reason(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for s in &self.skipped {
            *m.entry(s.reason.clone()).or_insert(0) += 1;
        }
        m
    }

    /// The texts, borrowed, in example order.
    pub fn texts(&self) -> Vec<&str> {
        self.examples.iter().map(|e| e.text.as_str()).collect()
    }

    /// What a reader of this data should be told, one line each, prefixed by the data's
    /// name: its warnings, then the skipped rows (their count and the first five, each with
    /// file, line and reason).
    pub fn issues(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .warnings
            .iter()
            .map(|w| format!("{}: {w}", self.name))
            .collect();
        if !self.skipped.is_empty() {
            let first: Vec<String> = self
                .skipped
                .iter()
                .take(5)
                .map(|s| format!("{}:{}: {}", s.file, s.line, s.reason))
                .collect();
            out.push(format!(
                "{}: skipped {} row(s): {}{}",
                self.name,
                self.skipped.len(),
                first.join("; "),
                if self.skipped.len() > 5 { "; ..." } else { "" }
            ));
        }
        out
    }

    /// A two-line summary of labelled data: examples, labels, labels per example and rows
    /// without any label, then every label's count (most frequent first).
    pub fn summary(&self) -> String {
        let mut counts: Vec<(String, usize)> = self.label_counts().into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let per: Vec<String> = counts.iter().map(|(l, n)| format!("{l} {n}")).collect();
        format!(
            "{}: {} examples, {} labels, {:.3} labels per example, {} without any label\n  per label: {}",
            self.name,
            self.len(),
            counts.len(),
            self.cardinality(),
            self.unlabelled(),
            per.join(", ")
        )
    }
}

/// Input file formats.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// aclImdb layout (`{train,test}/{pos,neg}/<id>_<rating>.txt`), extracted or `.tar.gz`.
    Imdb,
    /// `__label__pos some text` lines (prefix configurable).
    #[value(name = "fasttext", alias = "fast-text")]
    FastText,
    /// Comma-separated with a header row (RFC 4180 quoting, newlines inside quotes).
    Csv,
    /// Tab-separated with a header row; no quoting (a `"` is an ordinary character).
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// One sub-folder per class, one file per example.
    Folder,
    /// Plain text, one example per line, no labels.
    Lines,
}

/// How labels are laid out in CSV/TSV files (and, for `label_sep`, JSONL label strings) of
/// multi-label data (`--label-sep`, `--label-columns`, `--label-column-prefix`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelLayout {
    /// Separator of the labels inside the label field (`--label-sep`); `None`: JSONL lists and
    /// fastText prefixes only, and one label per CSV/TSV field.
    #[serde(default)]
    pub label_sep: Option<String>,
    /// Indicator columns, one 0/1 column per label (`--label-columns a,b,c`); the column names
    /// are the labels.
    #[serde(default)]
    pub label_columns: Vec<String>,
    /// Every column whose name starts with this is an indicator column; the label is the rest
    /// of the name (`--label-column-prefix cat_`).
    #[serde(default)]
    pub label_column_prefix: Option<String>,
}

impl LabelLayout {
    /// Whether any option implies multi-label data.
    pub fn any(&self) -> bool {
        self.label_sep.is_some()
            || !self.label_columns.is_empty()
            || self.label_column_prefix.is_some()
    }

    /// Whether labels are read from indicator columns.
    pub fn indicators(&self) -> bool {
        !self.label_columns.is_empty() || self.label_column_prefix.is_some()
    }
}

/// How to read a data source. Serialized (in a run's record) with the first six fields; the
/// label layout and mode are recorded by the run itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadOptions {
    /// Format; `None` = from the extension / content (see [`load_dataset`]).
    pub format: Option<Format>,
    /// CSV/TSV column or JSONL key holding the text. Default `"text"`.
    pub text_column: String,
    /// CSV/TSV column or JSONL key holding the label(s). Default `"label"` (JSONL read as label
    /// sets: `"labels"` when the objects have no `"label"`).
    pub label_column: String,
    /// fastText label prefix. Default `"__label__"`.
    pub label_prefix: String,
    /// Input encoding. Default UTF-8.
    pub encoding: Encoding,
    /// Where to look for the IMDB archive first (see [`resolve_imdb`]).
    pub data_dir: Option<PathBuf>,
    /// How multi-label CSV/TSV files lay out their labels.
    #[serde(skip)]
    pub layout: LabelLayout,
    /// Read label sets (multi-label data): every label of a row is kept (sorted), a row without
    /// a label is an example with none, and a malformed label field is an error. Otherwise one
    /// label per text is expected: rows without one are skipped (and recorded), and of a row
    /// with several every label is kept, in order, with a warning.
    #[serde(skip)]
    pub multi_label: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            text_column: "text".into(),
            label_column: "label".into(),
            label_prefix: "__label__".into(),
            encoding: Encoding::Utf8,
            data_dir: None,
            layout: LabelLayout::default(),
            multi_label: false,
        }
    }
}

fn read_file(path: &Path, encoding: Encoding) -> anyhow::Result<String> {
    let name = path.display().to_string();
    let bytes = crate::fsutil::read_file(path, crate::fsutil::Source::FileOrPipe, None)
        .with_context(|| format!("reading {name}"))?;
    decode_bytes(&bytes, &name, encoding)
}

/// Reads a labelled dataset.
///
/// `spec` is one of:
/// - `imdb:train` / `imdb:test`: the built-in IMDB dataset, found by [`resolve_imdb`] from
///   `opts.data_dir`;
/// - `<path>:train` / `<path>:test` where `<path>` is an aclImdb directory or archive;
/// - a path to a file or folder. The format is `opts.format`, else: `.csv` → CSV, `.tsv`/`.tab` →
///   TSV, `.jsonl`/`.ndjson`/`.json` → JSONL, `.txt`/`.ft` and other files → fastText when the first
///   non-blank line starts with the label prefix (else `.txt` → plain lines, `.ft` → fastText, an
///   unknown extension → error), a directory → IMDB split if it holds `pos/` and `neg/` (and maybe
///   `unsup/`) only, else one sub-folder per class; `.tar.gz`/`.tgz` → IMDB archive (needs `:train`
///   or `:test`).
///
/// # Errors
/// Missing or unreadable paths, an empty file, undecodable text, a missing column or key (listing
/// those found), a file that is not in the expected format (fastText: naming the first bad line), or
/// a source from which no example could be read, or one column named for both the text and the
/// label (the model would learn from the answer). Bad rows that can be skipped are skipped and
/// recorded in [`Dataset::skipped`] instead.
pub fn load_dataset(spec: &str, opts: &ReadOptions) -> anyhow::Result<Dataset> {
    check_layout(&opts.layout)?;
    if !opts.layout.indicators() && opts.text_column.trim() == opts.label_column.trim() {
        bail!(
            "--text-column and --label-column are both {:?}: the model would read the answer as its \
             input; give the text and the label columns",
            opts.text_column
        );
    }
    let mut ds = Dataset {
        name: spec.to_string(),
        ..Default::default()
    };
    if let Some(split) = spec.strip_prefix("imdb:") {
        let split = imdb::Split::parse(split)?;
        let root = resolve_imdb(opts.data_dir.as_deref())?;
        imdb::read_imdb(&root, split, opts.encoding, &mut ds)?;
        return finish(ds, opts);
    }
    if spec == "imdb" {
        bail!("the built-in IMDB dataset needs a split: use imdb:train or imdb:test");
    }
    let (path, split) = split_suffix(spec);
    if let Some(split) = split {
        imdb::read_imdb(path, split, opts.encoding, &mut ds)?;
        return finish(ds, opts);
    }
    if !path.exists() {
        bail!(
            "{}: no such file or directory (a dataset is a file, a folder, imdb:train or imdb:test)",
            path.display()
        );
    }
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(path, opts)?,
    };
    match format {
        Format::Imdb => {
            if imdb::is_split_dir(path) {
                imdb::read_split_dir(path, opts.encoding, &mut ds)?;
            } else {
                bail!(
                    "{}: an IMDB archive or aclImdb folder needs a split: write {spec}:train or {spec}:test",
                    path.display()
                );
            }
        }
        Format::Folder => readers::read_folder(path, opts.encoding, &mut ds)?,
        Format::FastText | Format::Csv | Format::Tsv | Format::Jsonl | Format::Lines => {
            if path.is_dir() {
                bail!(
                    "{}: is a folder, but the format {format:?} needs a file",
                    path.display()
                );
            }
            let name = path.display().to_string();
            let text = read_file(path, opts.encoding)?;
            if text.trim().is_empty() {
                bail!("{name}: file is empty");
            }
            if opts.layout.indicators() && !matches!(format, Format::Csv | Format::Tsv) {
                bail!(
                    "{name}: indicator columns (--label-columns / --label-column-prefix) need a CSV or TSV file"
                );
            }
            match format {
                Format::FastText => readers::parse_fasttext(&text, &name, opts, &mut ds)?,
                Format::Csv => readers::parse_delimited(&text, &name, b',', opts, &mut ds)?,
                Format::Tsv => readers::parse_delimited(&text, &name, b'\t', opts, &mut ds)?,
                Format::Jsonl => readers::parse_jsonl(&text, &name, opts, &mut ds)?,
                _ => readers::parse_lines(&text, &name, &mut ds),
            }
        }
    }
    finish(ds, opts)
}

/// Refuses contradictory label layouts.
fn check_layout(layout: &LabelLayout) -> anyhow::Result<()> {
    if !layout.label_columns.is_empty() && layout.label_column_prefix.is_some() {
        bail!("give either --label-columns or --label-column-prefix, not both");
    }
    if layout.label_sep.as_deref() == Some("") {
        bail!("--label-sep must not be empty");
    }
    Ok(())
}

/// Whether `spec` holds multi-label data that one label per text would cut: a fastText file
/// with a line of two or more labels, or a JSONL file whose objects carry a list of labels
/// (under `opts.label_column`, or `labels`). Returns the reason, for the message that says
/// multi-label mode was chosen; `None` for anything else (folders, `imdb:`, CSV/TSV, which need
/// `--label-sep` or indicator columns).
pub fn detect_multi_label(spec: &str, opts: &ReadOptions) -> Option<String> {
    let path = Path::new(spec);
    if spec.starts_with("imdb:") || !path.is_file() {
        return None;
    }
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(path, opts).ok()?,
    };
    let text = read_file(path, opts.encoding).ok()?;
    let name = path.display().to_string();
    match format {
        Format::FastText => text.lines().enumerate().find_map(|(i, line)| {
            let n = readers::split_fasttext_line(line, &opts.label_prefix)
                .0
                .len();
            (n > 1).then(|| format!("{name}:{}: a line with {n} labels", i + 1))
        }),
        Format::Jsonl => text.lines().enumerate().find_map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
            let key = readers::jsonl_label_key(v.as_object()?, opts)?;
            v.get(&key)?
                .is_array()
                .then(|| format!("{name}:{}: {key:?} holds a list of labels", i + 1))
        }),
        _ => None,
    }
}

/// `path:train` / `path:test` when `path` exists and the full spec does not.
fn split_suffix(spec: &str) -> (&Path, Option<imdb::Split>) {
    if !Path::new(spec).exists()
        && let Some((p, s)) = spec.rsplit_once(':')
        && let Ok(split) = imdb::Split::parse(s)
        && Path::new(p).exists()
    {
        return (Path::new(p), Some(split));
    }
    (Path::new(spec), None)
}

/// Guesses the format of `path` from its extension and, for `.txt` and unknown extensions, its
/// first non-blank line.
///
/// # Errors
/// When the file cannot be read, or its format cannot be told.
pub fn detect_format(path: &Path, opts: &ReadOptions) -> anyhow::Result<Format> {
    if path.is_dir() {
        if path.join("train").is_dir() && path.join("test").is_dir() {
            return Ok(Format::Imdb);
        }
        return Ok(if imdb::is_split_dir(path) {
            Format::Imdb
        } else {
            Format::Folder
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        return Ok(Format::Imdb);
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    Ok(match ext {
        "csv" => Format::Csv,
        "tsv" | "tab" => Format::Tsv,
        "jsonl" | "ndjson" | "json" => Format::Jsonl,
        _ => {
            let text = read_file(path, opts.encoding)?;
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("");
            if first.starts_with(opts.label_prefix.as_str()) || ext == "ft" || ext == "fasttext" {
                Format::FastText
            } else if ext == "txt" {
                Format::Lines
            } else {
                bail!(
                    "{}: cannot tell the format from the extension or the first line; pass \
                     --format (imdb, fasttext, csv, tsv, jsonl, folder, lines)",
                    path.display()
                )
            }
        }
    })
}

/// Final checks shared by all readers: at least one example (with a label, for label sets),
/// near-duplicate label warnings.
fn finish(mut ds: Dataset, opts: &ReadOptions) -> anyhow::Result<Dataset> {
    if ds.examples.is_empty() {
        let reasons: Vec<String> = ds
            .skipped_by_reason()
            .into_iter()
            .map(|(r, n)| format!("{n} × {r}"))
            .collect();
        bail!(
            "{}: no examples could be read{}",
            ds.name,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" (skipped: {})", reasons.join(", "))
            }
        );
    }
    if opts.multi_label && ds.examples.iter().all(|e| e.labels.is_empty()) {
        bail!("{}: no example has any label", ds.name);
    }
    ds.warnings.extend(near_duplicate_labels(&ds.labels()));
    Ok(ds)
}

/// Warnings for labels that differ only in case, whitespace or punctuation (`pos` / `pos,`).
pub fn near_duplicate_labels(labels: &[String]) -> Vec<String> {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for l in labels {
        let key: String = l
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        groups.entry(key).or_default().push(l);
    }
    let mut out = group_warnings(
        groups.values(),
        "differ only in case, spaces or punctuation; they are treated as different classes — check \
         the data",
    );
    out.extend(same_number_labels(labels));
    out
}

/// One warning per group of two or more labels: `labels "a" and "b" <what>`.
fn group_warnings<'a, G>(groups: G, what: &str) -> Vec<String>
where
    G: Iterator<Item = &'a Vec<&'a str>>,
{
    groups
        .filter(|g| g.len() > 1)
        .map(|g| {
            let quoted: Vec<String> = g.iter().map(|l| format!("{l:?}")).collect();
            format!("labels {} {what}", quoted.join(" and "))
        })
        .collect()
}

/// Warnings for labels that are the same number written differently (`1` / `1.0` in a CSV).
fn same_number_labels(labels: &[String]) -> Vec<String> {
    let mut groups: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for l in labels {
        if let Ok(v) = l.trim().parse::<f64>()
            && v.is_finite()
        {
            // +0.0 and -0.0 are one number.
            groups.entry((v + 0.0).to_bits()).or_default().push(l);
        }
    }
    group_warnings(
        groups.values(),
        "are the same number written differently; they are treated as different classes — write \
         each label one way",
    )
}

/// Reads plain lines for prediction from a file, or from stdin when `spec` is `-`.
///
/// Every line is kept, empty ones included (as empty strings), so outputs stay aligned with
/// inputs; a final line terminator does not add an empty line. CRLF and a BOM are handled.
///
/// # Errors
/// Unreadable input, invalid UTF-8 (see [`decode_bytes`]), or an empty file (stdin may be empty).
pub fn read_lines(spec: &str, opts: &ReadOptions) -> anyhow::Result<Vec<String>> {
    let (bytes, name) = if spec == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        (buf, "<stdin>".to_string())
    } else {
        let p = Path::new(spec);
        (
            crate::fsutil::read_file(p, crate::fsutil::Source::FileOrPipe, None)
                .with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        )
    };
    let text = decode_bytes(&bytes, &name, opts.encoding)?;
    if text.is_empty() && spec != "-" {
        bail!("{name}: file is empty");
    }
    Ok(split_lines(&text))
}

/// Splits on `\n`, removing a trailing `\r` from each line; a final terminator adds no line.
pub(crate) fn split_lines(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect()
}
