//! Parsers for the file formats: fastText, CSV/TSV, JSONL, plain lines, folder-per-class.

use std::path::Path;

use anyhow::{Context, bail};

use super::{Dataset, Encoding, Example, ReadOptions, SkippedRow, read_file};

fn skip(ds: &mut Dataset, file: &str, line: usize, reason: &str) {
    ds.skipped.push(SkippedRow {
        file: file.to_string(),
        line,
        reason: reason.to_string(),
    });
}

/// Lines with 1-based numbers; `\r` before `\n` removed.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l))
}

fn short(line: &str) -> String {
    let s: String = line.chars().take(60).collect();
    if s.len() < line.len() {
        format!("{s}…")
    } else {
        s
    }
}

/// One fastText line split into its labels and its text, as fastText reads it: every
/// whitespace-separated word that starts with `prefix` is a label, wherever it stands. Returns
/// the labels (without the prefix, in line order), the text, and whether a label stood after
/// the first word of text (the text is then its other words joined by single spaces; otherwise
/// it is the line after the leading labels, unchanged).
pub(crate) fn split_fasttext_line<'a>(
    line: &'a str,
    prefix: &str,
) -> (Vec<&'a str>, std::borrow::Cow<'a, str>, bool) {
    let mut rest = line.trim_start();
    let mut labels = Vec::new();
    if prefix.is_empty() {
        return (labels, rest.into(), false);
    }
    while let Some(after) = rest.strip_prefix(prefix) {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        labels.push(&after[..end]);
        rest = after[end..].trim_start();
    }
    if !rest.split_whitespace().any(|w| w.starts_with(prefix)) {
        return (labels, rest.into(), false);
    }
    let mut words = Vec::new();
    for w in rest.split_whitespace() {
        match w.strip_prefix(prefix) {
            Some(label) => labels.push(label),
            None => words.push(w),
        }
    }
    (labels, words.join(" ").into(), true)
}

/// fastText: `__label__a [__label__b ...] text`; a label after the text counts too, as in
/// fastText (with a warning). Fails on the first non-blank line without a label.
pub(super) fn parse_fasttext(
    text: &str,
    name: &str,
    prefix: &str,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
    if prefix.is_empty() {
        bail!("the fastText label prefix must not be empty");
    }
    let mut multi = 0usize;
    let mut first_multi = 0usize;
    let (mut late, mut first_late) = (0usize, 0usize);
    for (lineno, line) in numbered_lines(text) {
        let rest = line.trim_start();
        if rest.trim_end().is_empty() {
            skip(ds, name, lineno, "blank line");
            continue;
        }
        let (labels, body, trailing) = split_fasttext_line(rest, prefix);
        if trailing {
            late += 1;
            if first_late == 0 {
                first_late = lineno;
            }
        }
        if labels.is_empty() {
            bail!(
                "{name}:{lineno}: not in fastText format: expected `{prefix}<label> <text>`, found {:?} \
                 (set the prefix with --label-prefix, or the format with --format)",
                short(line)
            );
        }
        if labels.len() > 1 {
            multi += 1;
            if first_multi == 0 {
                first_multi = lineno;
            }
        }
        let label = labels[0].trim();
        let body = body.trim_end();
        if label.is_empty() {
            skip(ds, name, lineno, "no label");
        } else if body.is_empty() {
            skip(ds, name, lineno, "no text");
        } else {
            ds.examples.push(Example {
                text: body.to_string(),
                label: label.to_string(),
                meta: None,
            });
        }
    }
    if late > 0 {
        ds.warnings.push(format!(
            "{name}: {late} line(s) have a {prefix}<label> word after the text (first: line \
             {first_late}); it is read as a label, as fastText does (labels usually come first)"
        ));
    }
    if multi > 0 {
        ds.warnings.push(format!(
            "{name}: {multi} line(s) have more than one label (first: line {first_multi}); only the \
             first label of each line is used"
        ));
    }
    Ok(())
}

/// Plain lines: one unlabeled example per non-blank line (label `""`).
pub(super) fn parse_lines(text: &str, name: &str, ds: &mut Dataset) {
    for (lineno, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            skip(ds, name, lineno, "blank line");
        } else {
            ds.examples.push(Example {
                text: line.to_string(),
                label: String::new(),
                meta: None,
            });
        }
    }
}

/// Blank lines between a csv record position `p` (where the parser stopped after the previous
/// record, possibly before or inside its terminator) and the next record. Returns the byte offsets
/// where the blank lines start and the offset where the next content starts.
fn blank_lines_from(text: &[u8], p: usize) -> (Vec<usize>, usize) {
    let term_len = |i: usize| match text.get(i) {
        Some(b'\r') if text.get(i + 1) == Some(&b'\n') => 2,
        Some(b'\r') | Some(b'\n') => 1,
        _ => 0,
    };
    let mut i = p;
    if p > 0 {
        let prev = text[p - 1];
        if prev == b'\r' && text.get(i) == Some(&b'\n') {
            i += 1; // rest of the previous record's CRLF
        } else if prev != b'\r' && prev != b'\n' {
            i += term_len(i); // the previous record's terminator was not consumed yet
        }
    }
    let mut blanks = Vec::new();
    loop {
        let n = term_len(i);
        if n == 0 {
            break;
        }
        blanks.push(i);
        i += n;
    }
    (blanks, i)
}

/// 1-based line number of byte offset `pos`, computed incrementally (positions must not decrease).
struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl LineCounter<'_> {
    fn line_at(&mut self, pos: usize) -> usize {
        self.line += self.text[self.pos..pos]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.pos = pos;
        self.line
    }
}

/// CSV (`delim` = `,`, RFC 4180 quoting) or TSV (`delim` = tab, no quoting) with a header row.
pub(super) fn parse_delimited(
    text: &str,
    name: &str,
    delim: u8,
    opts: &ReadOptions,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
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
    let find = |col: &str| headers.iter().position(|h| h.trim() == col);
    let (Some(ti), Some(li)) = (find(&opts.text_column), find(&opts.label_column)) else {
        let missing: Vec<String> = [&opts.text_column, &opts.label_column]
            .into_iter()
            .filter(|c| find(c).is_none())
            .map(|c| format!("{c:?}"))
            .collect();
        let found: Vec<String> = headers.iter().map(|h| format!("{h:?}")).collect();
        bail!(
            "{name}: no column named {} in the header; columns found: {} (choose with \
             --text-column / --label-column)",
            missing.join(" or "),
            found.join(", ")
        );
    };
    let needed = ti.max(li) + 1;
    // The csv parser skips blank lines itself; find them from the record positions so they are
    // reported too, and compute each record's first line.
    let bytes = text.as_bytes();
    let mut lines = LineCounter {
        text: bytes,
        pos: 0,
        line: 1,
    };
    let (leading, _) = blank_lines_from(bytes, 0);
    for b in leading {
        let l = lines.line_at(b);
        skip(ds, name, l, "blank line");
    }
    let mut record = csv::StringRecord::new();
    loop {
        let more = rdr
            .read_record(&mut record)
            .with_context(|| format!("{name}: malformed row"))?;
        let pos = record
            .position()
            .map(|p| p.byte() as usize)
            .unwrap_or(bytes.len())
            .min(bytes.len());
        let (blanks, start) = blank_lines_from(bytes, pos);
        for b in blanks {
            let l = lines.line_at(b);
            skip(ds, name, l, "blank line");
        }
        if !more {
            break;
        }
        let lineno = lines.line_at(start.min(bytes.len()));
        if record.len() < needed {
            skip(ds, name, lineno, "too few fields");
            continue;
        }
        // More (non-empty) fields than the header names: most often a delimiter inside an
        // unquoted text, which shifts the label column; reading it would learn a wrong label.
        if record
            .iter()
            .skip(headers.len())
            .any(|f| !f.trim().is_empty())
        {
            skip(
                ds,
                name,
                lineno,
                if delim == b'\t' {
                    "more fields than the header (a tab inside the text?)"
                } else {
                    "more fields than the header (a comma in an unquoted text?)"
                },
            );
            continue;
        }
        let label = record[li].trim();
        let body = &record[ti];
        if label.is_empty() && body.trim().is_empty() {
            skip(ds, name, lineno, "empty row");
        } else if label.is_empty() {
            skip(ds, name, lineno, "no label");
        } else if body.trim().is_empty() {
            skip(ds, name, lineno, "no text");
        } else {
            ds.examples.push(Example {
                text: body.to_string(),
                label: label.to_string(),
                meta: None,
            });
        }
    }
    ds.skipped.sort_by_key(|s| s.line);
    Ok(())
}

/// JSONL: one object per line with string text under `opts.text_column` and a string / number /
/// boolean (or array: first element) label under `opts.label_column`.
pub(super) fn parse_jsonl(
    text: &str,
    name: &str,
    opts: &ReadOptions,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
    use serde_json::Value;
    let mut first = true;
    let mut multi = 0usize;
    for (lineno, line) in numbered_lines(text) {
        let line = line.trim();
        if line.is_empty() {
            skip(ds, name, lineno, "blank line");
            continue;
        }
        if first && line.starts_with('[') {
            bail!("{name}: a JSON array is not supported; write one JSON object per line (JSONL)");
        }
        let obj = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(o)) => o,
            Ok(_) => {
                skip(ds, name, lineno, "not a JSON object");
                continue;
            }
            Err(_) => {
                skip(ds, name, lineno, "invalid JSON");
                continue;
            }
        };
        if first {
            first = false;
            for key in [&opts.text_column, &opts.label_column] {
                if !obj.contains_key(key.as_str()) {
                    let found: Vec<String> = obj.keys().map(|k| format!("{k:?}")).collect();
                    bail!(
                        "{name}:{lineno}: no key {key:?}; keys found: {} (choose with --text-column / \
                         --label-column)",
                        found.join(", ")
                    );
                }
            }
        }
        let label = match obj.get(opts.label_column.as_str()) {
            Some(Value::Array(a)) => {
                if a.len() > 1 {
                    multi += 1;
                }
                a.first().and_then(scalar_to_string)
            }
            Some(v) => scalar_to_string(v),
            None => None,
        };
        let body = match obj.get(opts.text_column.as_str()) {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Null) | None => None,
            Some(_) => {
                skip(ds, name, lineno, "text is not a string");
                continue;
            }
        };
        match (
            label.as_deref().map(str::trim).filter(|l| !l.is_empty()),
            body.filter(|b| !b.trim().is_empty()),
        ) {
            (Some(l), Some(b)) => ds.examples.push(Example {
                text: b.to_string(),
                label: l.to_string(),
                meta: None,
            }),
            (None, None) => skip(ds, name, lineno, "empty row"),
            (None, _) => skip(ds, name, lineno, "no label"),
            (_, None) => skip(ds, name, lineno, "no text"),
        }
    }
    if multi > 0 {
        ds.warnings.push(format!(
            "{name}: {multi} row(s) have more than one label; only the first label of each row is used"
        ));
    }
    Ok(())
}

/// A JSON scalar label as text. Numbers are written from their value, so that `1`, `1.0` and
/// `1e0` are one class (`"1"`), as are `0.5` and `0.50` (`"0.5"`).
fn scalar_to_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(match n.as_f64() {
            // Integral values within f64's exact integer range print as integers.
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        }),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Sorted, non-hidden entries of a directory.
pub(super) fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading folder {}", dir.display()))? {
        let e = e.with_context(|| format!("reading folder {}", dir.display()))?;
        if !e.file_name().to_string_lossy().starts_with('.') {
            v.push(e.path());
        }
    }
    v.sort();
    Ok(v)
}

/// One sub-folder per class; each file in it is one example (meta: the file name).
pub(super) fn read_folder(root: &Path, encoding: Encoding, ds: &mut Dataset) -> anyhow::Result<()> {
    let mut classes = 0;
    let mut stray = 0;
    for class_dir in sorted_entries(root)? {
        if !class_dir.is_dir() {
            stray += 1;
            continue;
        }
        classes += 1;
        let label = class_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .trim()
            .to_string();
        for file in sorted_entries(&class_dir)? {
            if !file.is_file() {
                ds.warnings
                    .push(format!("{}: nested folder ignored", file.display()));
                continue;
            }
            let text = read_file(&file, encoding)?;
            let fname = file.display().to_string();
            if text.trim().is_empty() {
                skip(ds, &fname, 0, "no text");
                continue;
            }
            let meta = file.file_name().map(|n| n.to_string_lossy().into_owned());
            ds.examples.push(Example {
                text,
                label: label.clone(),
                meta,
            });
        }
    }
    if classes == 0 {
        bail!(
            "{}: no class sub-folders (expected one sub-folder per class)",
            root.display()
        );
    }
    if stray > 0 {
        ds.warnings.push(format!(
            "{}: {stray} file(s) directly in the folder ignored (expected one sub-folder per class)",
            root.display()
        ));
    }
    Ok(())
}
