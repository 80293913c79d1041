//! Multi-label data: every row carries a set of labels (possibly empty, an all-negative
//! example). Four layouts are read:
//!
//! | layout | example | option |
//! |---|---|---|
//! | fastText | `__label__economy __label__politics some text` | `--label-prefix` |
//! | CSV/TSV, delimited list | `text,labels` / `"a story","economy,politics"` | `--label-sep ,` (column: `--label-column`) |
//! | JSONL | `{"text": "...", "labels": ["economy", "politics"]}` | key `labels` (or `--label-column`) |
//! | CSV/TSV, indicator columns | `text,economy,politics` / `"a story",1,1` | `--label-columns economy,politics` or `--label-column-prefix cat_` |
//!
//! Malformed input (a label name that is empty, a label value that is not a list of strings, an
//! indicator that is not 0 or 1, invalid JSON) is an error naming the file and line. Rows without
//! text are skipped and recorded, as the single-label readers do.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::{Format, ReadOptions, SkippedRow, decode_bytes, detect_format};

/// One text with its set of labels (sorted, without duplicates; empty = no label applies).
#[derive(Clone, Debug, PartialEq)]
pub struct MultiExample {
    /// The raw text.
    pub text: String,
    /// Labels of the text, sorted and unique; may be empty.
    pub labels: Vec<String>,
}

/// The result of reading a multi-label source.
#[derive(Clone, Debug, Default)]
pub struct MultiDataset {
    /// Where the data came from.
    pub name: String,
    /// Examples in file order.
    pub examples: Vec<MultiExample>,
    /// Rows left out (no text, blank line, too few fields), with file, line and reason.
    pub skipped: Vec<SkippedRow>,
    /// Things worth a look.
    pub warnings: Vec<String>,
}

/// How labels are laid out in CSV/TSV (and, for `label_sep`, JSONL string) fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MultiReadOptions {
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

impl MultiReadOptions {
    /// Whether any option implies multi-label data.
    pub fn any(&self) -> bool {
        self.label_sep.is_some()
            || !self.label_columns.is_empty()
            || self.label_column_prefix.is_some()
    }
}

impl MultiDataset {
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

    /// Examples with no label (all-negative rows).
    pub fn unlabelled(&self) -> usize {
        self.examples.iter().filter(|e| e.labels.is_empty()).count()
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The texts, in example order.
    pub fn texts(&self) -> Vec<&str> {
        self.examples.iter().map(|e| e.text.as_str()).collect()
    }

    /// Multi-hot targets `[examples, labels.len()]` (1.0 where the example has the label) and
    /// the labels of the data that are not in `labels` with their counts (those are left out of
    /// the targets).
    pub fn targets(&self, labels: &[String]) -> (Vec<f32>, BTreeMap<String, usize>) {
        let index: std::collections::HashMap<&str, usize> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let k = labels.len();
        let mut t = vec![0.0; self.examples.len() * k];
        let mut unknown = BTreeMap::new();
        for (r, e) in self.examples.iter().enumerate() {
            for l in &e.labels {
                match index.get(l.as_str()) {
                    Some(&c) => t[r * k + c] = 1.0,
                    None => *unknown.entry(l.clone()).or_insert(0) += 1,
                }
            }
        }
        (t, unknown)
    }

    /// A two-line summary: examples, labels, cardinality, unlabelled rows, then every label's
    /// count (most frequent first).
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

    /// A seeded random split: `round(n · fraction)` examples (at least 1 when `fraction > 0`
    /// and there are two or more examples) go to the second set; both keep file order.
    pub fn split(&self, fraction: f64, seed: u64) -> (MultiDataset, MultiDataset) {
        let n = self.examples.len();
        let mut held = ((n as f64) * fraction).round() as usize;
        if fraction > 0.0 && n >= 2 {
            held = held.clamp(1, n - 1);
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mut in_second = vec![false; n];
        for &i in &order[..held.min(n)] {
            in_second[i] = true;
        }
        let part = |second: bool, suffix: &str| MultiDataset {
            name: format!("{} ({suffix})", self.name),
            examples: (0..n)
                .filter(|&i| in_second[i] == second)
                .map(|i| self.examples[i].clone())
                .collect(),
            skipped: Vec::new(),
            warnings: Vec::new(),
        };
        (part(false, "train part"), part(true, "validation part"))
    }
}

/// Whether `spec` holds multi-label data that the single-label readers would cut to one label:
/// a fastText file with a line of two or more labels, or a JSONL file whose objects carry a list
/// of labels (under `labels`, or `opts.label_column`). Returns the reason, for the message that
/// says multi-label mode was chosen; `None` for anything else (folders, `imdb:`, CSV/TSV, which
/// need `--label-sep` or indicator columns).
pub fn detect_multi_label(spec: &str, opts: &ReadOptions) -> Option<String> {
    let path = Path::new(spec);
    if spec.starts_with("imdb:") || !path.is_file() {
        return None;
    }
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(path, opts).ok()?,
    };
    let text = read_text(path, opts).ok()?;
    let name = path.display().to_string();
    match format {
        Format::FastText => text.lines().enumerate().find_map(|(i, line)| {
            let n = crate::data::readers::split_fasttext_line(line, &opts.label_prefix)
                .0
                .len();
            (n > 1).then(|| format!("{name}:{}: a line with {n} labels", i + 1))
        }),
        Format::Jsonl => text.lines().enumerate().find_map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
            let key = jsonl_label_key(v.as_object()?, opts)?;
            v.get(&key)?
                .is_array()
                .then(|| format!("{name}:{}: {key:?} holds a list of labels", i + 1))
        }),
        _ => None,
    }
}

fn read_text(path: &Path, opts: &ReadOptions) -> Result<String> {
    let name = path.display().to_string();
    let bytes = crate::fsutil::read_file(path, crate::fsutil::Source::FileOrPipe, None)
        .with_context(|| format!("reading {name}"))?;
    decode_bytes(&bytes, &name, opts.encoding)
}

/// Reads a multi-label dataset from a fastText, CSV, TSV or JSONL file (format from
/// `opts.format` or as [`crate::data::load_dataset`] detects it).
///
/// # Errors
/// A missing or unreadable file, an unsupported format (IMDB, folders, plain lines), a missing
/// column or key (listing those found), malformed labels (see the module documentation), or no
/// example at all; each message names the file and, for a bad row, the line.
pub fn load_multi_dataset(
    spec: &str,
    opts: &ReadOptions,
    multi: &MultiReadOptions,
) -> Result<MultiDataset> {
    let path = Path::new(spec);
    if spec.starts_with("imdb:") || path.is_dir() {
        bail!(
            "{spec}: multi-label data must be a fastText, CSV, TSV or JSONL file (IMDB and \
             folder-per-class data have one label per text)"
        );
    }
    if !path.exists() {
        bail!("{spec}: no such file");
    }
    if !multi.label_columns.is_empty() && multi.label_column_prefix.is_some() {
        bail!("give either --label-columns or --label-column-prefix, not both");
    }
    if let Some(sep) = &multi.label_sep
        && sep.is_empty()
    {
        bail!("--label-sep must not be empty");
    }
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(path, opts)?,
    };
    let name = path.display().to_string();
    let text = read_text(path, opts)?;
    if text.trim().is_empty() {
        bail!("{name}: file is empty");
    }
    let mut ds = MultiDataset {
        name: spec.to_string(),
        ..Default::default()
    };
    let indicators = !multi.label_columns.is_empty() || multi.label_column_prefix.is_some();
    if indicators && !matches!(format, Format::Csv | Format::Tsv) {
        bail!(
            "{name}: indicator columns (--label-columns / --label-column-prefix) need a CSV or TSV file"
        );
    }
    match format {
        Format::FastText => parse_fasttext(&text, &name, &opts.label_prefix, &mut ds)?,
        Format::Jsonl => parse_jsonl(&text, &name, opts, multi, &mut ds)?,
        Format::Csv | Format::Tsv => {
            let delim = if format == Format::Csv { b',' } else { b'\t' };
            parse_delimited(&text, &name, delim, opts, multi, &mut ds)?
        }
        other => bail!(
            "{name}: the {other:?} format has no multi-label layout; use fastText, CSV, TSV or JSONL"
        ),
    }
    if ds.examples.is_empty() {
        bail!(
            "{name}: no examples could be read ({} rows skipped)",
            ds.skipped.len()
        );
    }
    if ds.examples.iter().all(|e| e.labels.is_empty()) {
        bail!("{name}: no example has any label");
    }
    ds.warnings
        .extend(crate::data::near_duplicate_labels(&ds.labels()));
    Ok(ds)
}

fn skip(ds: &mut MultiDataset, file: &str, line: usize, reason: &str) {
    ds.skipped.push(SkippedRow {
        file: file.to_string(),
        line,
        reason: reason.to_string(),
    });
}

/// Sorted, deduplicated labels.
fn normalise(mut labels: Vec<String>) -> Vec<String> {
    labels.sort();
    labels.dedup();
    labels
}

/// Checks a label read from `name:line`: non-empty, no control characters (tabs and newlines
/// would break `vocab.txt`-style files and the report).
fn check_label(label: &str, name: &str, line: usize) -> Result<()> {
    if label.is_empty() {
        bail!("{name}:{line}: an empty label name");
    }
    if label.chars().any(char::is_control) {
        bail!("{name}:{line}: label {label:?} holds a control character (tab, newline, ...)");
    }
    Ok(())
}

/// fastText: `__label__a __label__b text`; a line with no label prefix is an example without
/// labels.
fn parse_fasttext(text: &str, name: &str, prefix: &str, ds: &mut MultiDataset) -> Result<()> {
    if prefix.is_empty() {
        bail!("the fastText label prefix must not be empty");
    }
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if line.trim().is_empty() {
            skip(ds, name, lineno, "blank line");
            continue;
        }
        let (labels, body, _) = crate::data::readers::split_fasttext_line(line, prefix);
        for l in &labels {
            if l.is_empty() {
                bail!("{name}:{lineno}: {prefix:?} without a label name after it");
            }
            check_label(l, name, lineno)?;
        }
        let body = body.trim_end();
        if body.is_empty() {
            skip(ds, name, lineno, "no text");
            continue;
        }
        ds.examples.push(MultiExample {
            text: body.to_string(),
            labels: normalise(labels.iter().map(|l| l.to_string()).collect()),
        });
    }
    Ok(())
}

/// The key holding the labels: `opts.label_column` when the object has it, else `labels`.
fn jsonl_label_key(
    obj: &serde_json::Map<String, serde_json::Value>,
    opts: &ReadOptions,
) -> Option<String> {
    if obj.contains_key(&opts.label_column) {
        Some(opts.label_column.clone())
    } else if obj.contains_key("labels") {
        Some("labels".to_string())
    } else {
        None
    }
}

/// A label given as a JSON scalar, as text (numbers by value, as the single-label reader does).
fn json_label(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        }),
        _ => None,
    }
}

/// Splits a label field on `sep` (or keeps it whole), trimming and dropping empty parts.
fn split_field(field: &str, sep: Option<&str>) -> Vec<String> {
    let parts: Vec<&str> = match sep {
        Some(s) => field.split(s).collect(),
        None => vec![field],
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// JSONL: `{"text": "...", "labels": ["a", "b"]}`; the labels may also be one string (split on
/// `--label-sep` when given), `null` or `[]` (no label).
fn parse_jsonl(
    text: &str,
    name: &str,
    opts: &ReadOptions,
    multi: &MultiReadOptions,
    ds: &mut MultiDataset,
) -> Result<()> {
    use serde_json::Value;
    let mut key: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim();
        if line.is_empty() {
            skip(ds, name, lineno, "blank line");
            continue;
        }
        let obj = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(o)) => o,
            Ok(_) => bail!("{name}:{lineno}: not a JSON object (one object per line)"),
            Err(e) => bail!("{name}:{lineno}: invalid JSON ({e})"),
        };
        let key = match &key {
            Some(k) => k.clone(),
            None => {
                let Some(k) = jsonl_label_key(&obj, opts) else {
                    let found: Vec<String> = obj.keys().map(|k| format!("{k:?}")).collect();
                    bail!(
                        "{name}:{lineno}: no key {:?} or \"labels\"; keys found: {} (choose with --label-column)",
                        opts.label_column,
                        found.join(", ")
                    );
                };
                if !obj.contains_key(&opts.text_column) {
                    let found: Vec<String> = obj.keys().map(|k| format!("{k:?}")).collect();
                    bail!(
                        "{name}:{lineno}: no key {:?}; keys found: {} (choose with --text-column)",
                        opts.text_column,
                        found.join(", ")
                    );
                }
                key = Some(k.clone());
                k
            }
        };
        let labels = match obj.get(&key) {
            // One key for the whole file: a row without it (another key, a typo) would silently
            // lose its labels.
            None => {
                let found: Vec<String> = obj.keys().map(|k| format!("{k:?}")).collect();
                bail!(
                    "{name}:{lineno}: no key {key:?}, which holds the labels on the earlier lines; \
                     keys found: {} (a text without a label has \"{key}\": [])",
                    found.join(", ")
                );
            }
            Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match json_label(item) {
                        Some(l) => out.push(l),
                        None => bail!(
                            "{name}:{lineno}: {key:?} must be a list of strings (or numbers); it holds {item}"
                        ),
                    }
                }
                out
            }
            Some(v @ (Value::String(_) | Value::Number(_))) => split_field(
                &json_label(v).unwrap_or_default(),
                multi.label_sep.as_deref(),
            ),
            Some(v) => bail!(
                "{name}:{lineno}: {key:?} must be a list of strings, a string or null; found {v}"
            ),
        };
        for l in &labels {
            check_label(l, name, lineno)?;
        }
        let body = match obj.get(&opts.text_column) {
            Some(Value::String(s)) => s.as_str(),
            None | Some(Value::Null) => "",
            Some(v) => bail!(
                "{name}:{lineno}: {:?} must be a string; found {v}",
                opts.text_column
            ),
        };
        if body.trim().is_empty() {
            skip(ds, name, lineno, "no text");
            continue;
        }
        ds.examples.push(MultiExample {
            text: body.to_string(),
            labels: normalise(labels),
        });
    }
    Ok(())
}

/// The value of one indicator cell: `1`/`0` (also `1.0`, `true`, `false`, `yes`, `no`; empty is
/// 0).
fn indicator(cell: &str) -> Option<bool> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "yes" => Some(true),
        "0" | "0.0" | "false" | "no" | "" => Some(false),
        _ => None,
    }
}

/// CSV (`delim` `,`, RFC 4180 quoting) or TSV (tab, no quoting) with a header row: a label
/// column holding a `--label-sep`-delimited list, or one 0/1 column per label.
fn parse_delimited(
    text: &str,
    name: &str,
    delim: u8,
    opts: &ReadOptions,
    multi: &MultiReadOptions,
    ds: &mut MultiDataset,
) -> Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .quoting(delim != b'\t')
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .with_context(|| format!("{name}: reading the header row"))?
        .clone();
    let found = || -> String {
        headers
            .iter()
            .map(|h| format!("{h:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |col: &str| headers.iter().position(|h| h.trim() == col);
    let Some(ti) = find(&opts.text_column) else {
        bail!(
            "{name}: no column named {:?} in the header; columns found: {} (choose with --text-column)",
            opts.text_column,
            found()
        );
    };
    // (column index, label) of every indicator column, or the one label column.
    let indicator_cols: Vec<(usize, String)> = if !multi.label_columns.is_empty() {
        let mut cols = Vec::new();
        for c in &multi.label_columns {
            match find(c.trim()) {
                Some(i) if i == ti => bail!("--label-columns names the text column {c:?}"),
                Some(i) => cols.push((i, c.trim().to_string())),
                None => bail!(
                    "{name}: no column named {c:?} (from --label-columns) in the header; columns found: {}",
                    found()
                ),
            }
        }
        cols
    } else if let Some(prefix) = &multi.label_column_prefix {
        let cols: Vec<(usize, String)> = headers
            .iter()
            .enumerate()
            .filter(|(i, h)| *i != ti && h.trim().starts_with(prefix.as_str()))
            .map(|(i, h)| (i, h.trim()[prefix.len()..].to_string()))
            .collect();
        if cols.is_empty() {
            bail!(
                "{name}: no column name starts with {prefix:?} (--label-column-prefix); columns found: {}",
                found()
            );
        }
        if let Some((_, l)) = cols.iter().find(|(_, l)| l.is_empty()) {
            bail!("{name}: a column is named just {prefix:?}{l}, which leaves an empty label name");
        }
        cols
    } else {
        Vec::new()
    };
    let label_col = if indicator_cols.is_empty() {
        match find(&opts.label_column) {
            Some(i) if i == ti => bail!(
                "--text-column and --label-column are both {:?}: the model would read the answer",
                opts.text_column
            ),
            Some(i) => Some(i),
            None => bail!(
                "{name}: no column named {:?} in the header; columns found: {} (choose with \
                 --label-column, or give indicator columns with --label-columns / --label-column-prefix)",
                opts.label_column,
                found()
            ),
        }
    } else {
        None
    };
    let needed = indicator_cols
        .iter()
        .map(|(i, _)| *i)
        .chain(label_col)
        .chain([ti])
        .max()
        .unwrap_or(0)
        + 1;
    let mut record = csv::StringRecord::new();
    loop {
        let more = rdr
            .read_record(&mut record)
            .with_context(|| format!("{name}: malformed row"))?;
        if !more {
            break;
        }
        let lineno = record.position().map_or(0, |p| p.line() as usize);
        if record.len() < needed {
            if record.iter().all(|f| f.trim().is_empty()) {
                skip(ds, name, lineno, "blank line");
            } else {
                skip(ds, name, lineno, "too few fields");
            }
            continue;
        }
        if record
            .iter()
            .skip(headers.len())
            .any(|f| !f.trim().is_empty())
        {
            bail!(
                "{name}:{lineno}: {} fields, but the header names {} (a {} inside an unquoted text?)",
                record.len(),
                headers.len(),
                if delim == b'\t' { "tab" } else { "comma" }
            );
        }
        let mut labels = Vec::new();
        if let Some(li) = label_col {
            labels = split_field(&record[li], multi.label_sep.as_deref());
        }
        for (i, label) in &indicator_cols {
            match indicator(&record[*i]) {
                Some(true) => labels.push(label.clone()),
                Some(false) => {}
                None => bail!(
                    "{name}:{lineno}: column {:?} holds {:?}; an indicator column holds 0 or 1",
                    headers[*i].trim(),
                    &record[*i]
                ),
            }
        }
        for l in &labels {
            check_label(l, name, lineno)?;
        }
        let body = &record[ti];
        if body.trim().is_empty() {
            skip(ds, name, lineno, "no text");
            continue;
        }
        ds.examples.push(MultiExample {
            text: body.to_string(),
            labels: normalise(labels),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicator_values() {
        assert_eq!(indicator(" 1 "), Some(true));
        assert_eq!(indicator("TRUE"), Some(true));
        assert_eq!(indicator(""), Some(false));
        assert_eq!(indicator("0.0"), Some(false));
        assert_eq!(indicator("2"), None);
    }

    #[test]
    fn split_is_seeded_and_disjoint() {
        let ds = MultiDataset {
            name: "d".into(),
            examples: (0..10)
                .map(|i| MultiExample {
                    text: format!("t{i}"),
                    labels: vec![],
                })
                .collect(),
            ..Default::default()
        };
        let (a, b) = ds.split(0.3, 7);
        let (a2, b2) = ds.split(0.3, 7);
        assert_eq!((a.len(), b.len()), (7, 3));
        assert_eq!(
            (a.examples.clone(), b.examples.clone()),
            (a2.examples, b2.examples)
        );
        let mut all: Vec<String> = a
            .examples
            .iter()
            .chain(&b.examples)
            .map(|e| e.text.clone())
            .collect();
        all.sort();
        let mut want: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        want.sort();
        assert_eq!(all, want);
    }
}
