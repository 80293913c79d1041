//! Parsers for the file formats: fastText, CSV/TSV, JSONL, plain lines, folder-per-class.

use std::collections::BTreeMap;
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

/// Labels of one row as the mode wants them: sorted and unique when read as label sets, else
/// unique in row order (a single-label model learns the first).
fn normalise(mut labels: Vec<String>, sets: bool) -> Vec<String> {
    if sets {
        labels.sort();
        labels.dedup();
    } else {
        let mut seen = std::collections::HashSet::new();
        labels.retain(|l| seen.insert(l.clone()));
    }
    labels
}

/// Adds a row of `text` with `labels` (sorted when read as label sets, `sets`), or records
/// why it is left out: without a label and text ("empty row") or a label ("no label"), when
/// one label per text is read; without text ("no text").
fn add_row(ds: &mut Dataset, at: (&str, usize), text: &str, labels: Vec<String>, sets: bool) {
    let (name, line) = at;
    let reason = match (labels.is_empty() && !sets, text.trim().is_empty()) {
        (true, true) => "empty row",
        (true, false) => "no label",
        (false, true) => "no text",
        (false, false) => {
            ds.examples.push(Example {
                text: text.to_string(),
                labels: normalise(labels, sets),
                meta: None,
            });
            return;
        }
    };
    skip(ds, name, line, reason);
}

/// Checks the labels of a row read as a label set (`sets`) from `name:line`: no control
/// characters (tabs and newlines would break the one-line-per-text outputs and the report; one
/// label per text is checked when a model is trained, by the bundle's label check).
fn check_set<S: AsRef<str>>(
    labels: &[S],
    sets: bool,
    name: &str,
    line: usize,
) -> anyhow::Result<()> {
    if let Some(label) = labels
        .iter()
        .map(AsRef::as_ref)
        .find(|l| sets && l.chars().any(char::is_control))
    {
        bail!("{name}:{line}: label {label:?} holds a control character (tab, newline, ...)");
    }
    Ok(())
}

/// fastText: `__label__a [__label__b ...] text`; a label after the text counts too, as in
/// fastText (with a warning). One label per text: fails on the first non-blank line without a
/// label, and a line with several labels gets a warning. Label sets: a line without a label is
/// an example with none; a label prefix without a name is an error.
pub(super) fn parse_fasttext(
    text: &str,
    name: &str,
    opts: &ReadOptions,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
    let (prefix, sets) = (opts.label_prefix.as_str(), opts.multi_label);
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
        if labels.is_empty() && !sets {
            bail!(
                "{name}:{lineno}: not in fastText format: expected `{prefix}<label> <text>`, found {:?} \
                 (set the prefix with --label-prefix, or the format with --format)",
                short(line)
            );
        }
        if sets && labels.iter().any(|l| l.trim().is_empty()) {
            bail!("{name}:{lineno}: {prefix:?} without a label name after it");
        }
        if labels.len() > 1 {
            multi += 1;
            if first_multi == 0 {
                first_multi = lineno;
            }
        }
        check_set(&labels, sets, name, lineno)?;
        let labels: Vec<String> = labels
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        add_row(ds, (name, lineno), body.trim_end(), labels, sets);
    }
    if late > 0 {
        ds.warnings.push(format!(
            "{name}: {late} line(s) have a {prefix}<label> word after the text (first: line \
             {first_late}); it is read as a label, as fastText does (labels usually come first)"
        ));
    }
    if multi > 0 && !sets {
        ds.warnings.push(format!(
            "{name}: {multi} line(s) have more than one label (first: line {first_multi}); a \
             single-label model learns the first label of each line (train with --multi-label \
             to learn them all)"
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
            ds.examples.push(Example::new(line, ""));
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

/// Where the labels of a CSV/TSV row are.
enum LabelFields {
    /// One column, holding one label, or a `--label-sep` list.
    Column(usize),
    /// Indicator columns `(column, label)`, each 0 or 1.
    Indicators(Vec<(usize, String)>),
}

impl LabelFields {
    /// The label columns of `headers` (`ti` is the text column): indicator columns when the
    /// layout names them, else the label column.
    ///
    /// # Errors
    /// A column that is not in the header (listing those found), or the text column named as
    /// a label column.
    fn find(
        headers: &csv::StringRecord,
        ti: usize,
        name: &str,
        opts: &ReadOptions,
    ) -> anyhow::Result<LabelFields> {
        let find = |col: &str| headers.iter().position(|h| h.trim() == col);
        let found = || -> String {
            let v: Vec<String> = headers.iter().map(|h| format!("{h:?}")).collect();
            v.join(", ")
        };
        let layout = &opts.layout;
        if !layout.label_columns.is_empty() {
            let mut cols = Vec::new();
            for c in &layout.label_columns {
                match find(c.trim()) {
                    Some(i) if i == ti => bail!("--label-columns names the text column {c:?}"),
                    Some(i) => cols.push((i, c.trim().to_string())),
                    None => bail!(
                        "{name}: no column named {c:?} (from --label-columns) in the header; columns found: {}",
                        found()
                    ),
                }
            }
            return Ok(LabelFields::Indicators(cols));
        }
        if let Some(prefix) = &layout.label_column_prefix {
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
                bail!(
                    "{name}: a column is named just {prefix:?}{l}, which leaves an empty label name"
                );
            }
            return Ok(LabelFields::Indicators(cols));
        }
        match find(&opts.label_column) {
            Some(i) => Ok(LabelFields::Column(i)),
            None => bail!(
                "{name}: no column named {:?} in the header; columns found: {} (choose with \
                 --text-column / --label-column{})",
                opts.label_column,
                found(),
                if opts.multi_label {
                    ", or give indicator columns with --label-columns / --label-column-prefix"
                } else {
                    ""
                }
            ),
        }
    }

    /// The columns read.
    fn columns(&self) -> Vec<usize> {
        match self {
            LabelFields::Column(i) => vec![*i],
            LabelFields::Indicators(cols) => cols.iter().map(|(i, _)| *i).collect(),
        }
    }

    /// The labels of `record` (line `lineno` of `name`).
    ///
    /// # Errors
    /// An indicator that is not 0 or 1.
    fn labels(
        &self,
        record: &csv::StringRecord,
        headers: &csv::StringRecord,
        sep: Option<&str>,
        name: &str,
        lineno: usize,
    ) -> anyhow::Result<Vec<String>> {
        match self {
            LabelFields::Column(i) => Ok(split_field(&record[*i], sep)),
            LabelFields::Indicators(cols) => {
                let mut labels = Vec::new();
                for (i, label) in cols {
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
                Ok(labels)
            }
        }
    }
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

/// The index of the text column in `headers`.
///
/// # Errors
/// When the text column, or (without indicator columns) the label column, is not in the
/// header; the message lists the columns found.
fn text_column(
    headers: &csv::StringRecord,
    name: &str,
    opts: &ReadOptions,
) -> anyhow::Result<usize> {
    let find = |col: &str| headers.iter().position(|h| h.trim() == col);
    let mut wanted = vec![&opts.text_column];
    if !opts.layout.indicators() {
        wanted.push(&opts.label_column);
    }
    let missing: Vec<String> = wanted
        .into_iter()
        .filter(|c| find(c).is_none())
        .map(|c| format!("{c:?}"))
        .collect();
    match find(&opts.text_column).filter(|_| missing.is_empty()) {
        Some(ti) => Ok(ti),
        None => {
            let found: Vec<String> = headers.iter().map(|h| format!("{h:?}")).collect();
            bail!(
                "{name}: no column named {} in the header; columns found: {} (choose with \
                 --text-column / --label-column{})",
                missing.join(" or "),
                found.join(", "),
                if opts.multi_label {
                    ", or give indicator columns with --label-columns / --label-column-prefix"
                } else {
                    ""
                }
            )
        }
    }
}

/// CSV (`delim` = `,`, RFC 4180 quoting) or TSV (`delim` = tab, no quoting) with a header row:
/// a label column (one label, or a `--label-sep` list), or one 0/1 column per label.
pub(super) fn parse_delimited(
    text: &str,
    name: &str,
    delim: u8,
    opts: &ReadOptions,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
    let sets = opts.multi_label;
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
    let ti = text_column(&headers, name, opts)?;
    let fields = LabelFields::find(&headers, ti, name, opts)?;
    let needed = fields.columns().into_iter().chain([ti]).max().unwrap_or(0) + 1;
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
    // Indicator columns: rows in which each label is 1.
    let mut positives: BTreeMap<String, usize> = BTreeMap::new();
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
        if extra_fields(&record, headers.len(), delim, sets, (name, lineno), ds)? {
            continue;
        }
        let labels = fields.labels(
            &record,
            &headers,
            opts.layout.label_sep.as_deref(),
            name,
            lineno,
        )?;
        check_set(&labels, sets, name, lineno)?;
        for l in &labels {
            *positives.entry(l.clone()).or_insert(0) += 1;
        }
        add_row(ds, (name, lineno), &record[ti], labels, sets);
    }
    ds.skipped.sort_by_key(|s| s.line);
    if let LabelFields::Indicators(cols) = &fields {
        warn_empty_indicators(ds, name, &headers, cols, &positives);
    }
    Ok(())
}

/// Warns of the indicator columns (`cols`: column index and label) in which no row has a 1
/// (`positives`: rows per label): their labels are left out of the data.
fn warn_empty_indicators(
    ds: &mut Dataset,
    name: &str,
    headers: &csv::StringRecord,
    cols: &[(usize, String)],
    positives: &BTreeMap<String, usize>,
) {
    let empty: Vec<String> = cols
        .iter()
        .filter(|(_, l)| !positives.contains_key(l))
        .map(|(i, l)| format!("{:?} (label {l:?})", headers[*i].trim()))
        .collect();
    if !empty.is_empty() {
        ds.warnings.push(format!(
            "{name}: indicator column{} {} {} no row with 1, so the label{} {} from this \
             data (a model trained on it cannot predict {})",
            if empty.len() > 1 { "s" } else { "" },
            empty.join(", "),
            if empty.len() > 1 { "have" } else { "has" },
            if empty.len() > 1 { "s are" } else { " is" },
            "left out",
            if empty.len() > 1 { "them" } else { "it" },
        ));
    }
}

/// Whether a row has more (non-empty) fields than the header names (`n_headers`), skipped
/// (single-label) or refused (multi-label): most often a delimiter inside an unquoted text,
/// which shifts the label column; reading it would learn a wrong label.
fn extra_fields(
    record: &csv::StringRecord,
    n_headers: usize,
    delim: u8,
    sets: bool,
    (name, lineno): (&str, usize),
    ds: &mut Dataset,
) -> anyhow::Result<bool> {
    if !record.iter().skip(n_headers).any(|f| !f.trim().is_empty()) {
        return Ok(false);
    }
    let what = if delim == b'\t' { "tab" } else { "comma" };
    if sets {
        bail!(
            "{name}:{lineno}: {} fields, but the header names {n_headers} (a {what} inside an unquoted text?)",
            record.len(),
        );
    }
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
    Ok(true)
}

/// The JSONL key holding the labels: `opts.label_column` when the object has it, else
/// `labels`.
pub(super) fn jsonl_label_key(
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

/// The keys of a JSON object, quoted, for messages.
fn keys_of(obj: &serde_json::Map<String, serde_json::Value>) -> String {
    let v: Vec<String> = obj.keys().map(|k| format!("{k:?}")).collect();
    v.join(", ")
}

/// The key of the labels in the first object of a JSONL file (`at`: file and line), which must
/// also hold the text.
///
/// # Errors
/// Neither the label column nor `labels`, or no text column; the message lists the keys found.
fn first_label_key(
    obj: &serde_json::Map<String, serde_json::Value>,
    opts: &ReadOptions,
    at: (&str, usize),
) -> anyhow::Result<String> {
    let (name, lineno) = at;
    let Some(k) = jsonl_label_key(obj, opts) else {
        bail!(
            "{name}:{lineno}: no key {:?}{}; keys found: {} (choose with --text-column / \
             --label-column)",
            opts.label_column,
            if opts.multi_label {
                " or \"labels\""
            } else {
                ""
            },
            keys_of(obj)
        );
    };
    if !obj.contains_key(&opts.text_column) {
        bail!(
            "{name}:{lineno}: no key {:?}; keys found: {} (choose with --text-column / \
             --label-column)",
            opts.text_column,
            keys_of(obj)
        );
    }
    Ok(k)
}

/// The labels of a JSONL label value: a list of scalars, one scalar (split on `--label-sep`
/// when read as label sets), or `null` (none). `Err` holds what is wrong for a value that is
/// none of these.
fn json_labels(value: &serde_json::Value, opts: &ReadOptions) -> Result<Vec<String>, String> {
    use serde_json::Value;
    let sets = opts.multi_label;
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match scalar_to_string(item) {
                    Some(l) => out.push(l.trim().to_string()),
                    // One label per text: a list whose items are not labels gives none.
                    None if !sets => {}
                    None => {
                        return Err(format!(
                            "must be a list of strings (or numbers); it holds {item}"
                        ));
                    }
                }
            }
            Ok(out)
        }
        v => match scalar_to_string(v) {
            Some(l) if sets => Ok(split_field(&l, opts.layout.label_sep.as_deref())),
            Some(l) => Ok(vec![l.trim().to_string()]),
            None if sets => Err(format!(
                "must be a list of strings, a string or null; found {v}"
            )),
            None => Ok(Vec::new()),
        },
    }
}

/// JSONL: one object per line with string text under `opts.text_column` and its label(s)
/// under `opts.label_column` (or `labels`): a string / number / boolean, a list of them, or
/// `null`. One label per text: rows that are not objects, have no label or a text that is not a
/// string are skipped (and recorded). Label sets: those rows are errors, `null` and `[]` are
/// examples without a label, and the labels' key is the same on every line.
pub(super) fn parse_jsonl(
    text: &str,
    name: &str,
    opts: &ReadOptions,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
    use serde_json::Value;
    let sets = opts.multi_label;
    let mut key: Option<String> = None;
    let mut multi = 0usize;
    for (lineno, line) in numbered_lines(text) {
        let line = line.trim();
        if line.is_empty() {
            skip(ds, name, lineno, "blank line");
            continue;
        }
        if key.is_none() && line.starts_with('[') {
            bail!("{name}: a JSON array is not supported; write one JSON object per line (JSONL)");
        }
        let obj = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(o)) => o,
            Ok(_) if sets => bail!("{name}:{lineno}: not a JSON object (one object per line)"),
            Err(e) if sets => bail!("{name}:{lineno}: invalid JSON ({e})"),
            Ok(_) => {
                skip(ds, name, lineno, "not a JSON object");
                continue;
            }
            Err(_) => {
                skip(ds, name, lineno, "invalid JSON");
                continue;
            }
        };
        let keys_found = || keys_of(&obj);
        let key = match &key {
            Some(k) => k.clone(),
            None => key
                .insert(first_label_key(&obj, opts, (name, lineno))?)
                .clone(),
        };
        let labels = match obj.get(&key) {
            // One key for the whole file: a row without it (another key, a typo) would silently
            // lose its labels.
            None if sets => bail!(
                "{name}:{lineno}: no key {key:?}, which holds the labels on the earlier lines; \
                 keys found: {} (a text without a label has \"{key}\": [])",
                keys_found()
            ),
            None => Vec::new(),
            Some(v) => {
                json_labels(v, opts).map_err(|e| anyhow::anyhow!("{name}:{lineno}: {key:?} {e}"))?
            }
        };
        if sets && labels.iter().any(String::is_empty) {
            bail!("{name}:{lineno}: an empty label name");
        }
        let labels: Vec<String> = labels.into_iter().filter(|l| !l.is_empty()).collect();
        check_set(&labels, sets, name, lineno)?;
        if labels.len() > 1 {
            multi += 1;
        }
        let body = match obj.get(opts.text_column.as_str()) {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Null) | None => "",
            Some(v) if sets => bail!(
                "{name}:{lineno}: {:?} must be a string; found {v}",
                opts.text_column
            ),
            Some(_) => {
                skip(ds, name, lineno, "text is not a string");
                continue;
            }
        };
        add_row(ds, (name, lineno), body, labels, sets);
    }
    if multi > 0 && !sets {
        ds.warnings.push(format!(
            "{name}: {multi} row(s) have more than one label; a single-label model learns the \
             first label of each row (train with --multi-label to learn them all)"
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
                labels: vec![label.clone()],
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
