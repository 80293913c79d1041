//! Readers on small files: every format, and the bad-input cases of the issue, with exact
//! expected behaviour.

use std::path::PathBuf;

use textcnn::data::{Dataset, Encoding, Format, ReadOptions, SkippedRow, load_dataset, read_lines};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn load(p: &std::path::Path) -> anyhow::Result<Dataset> {
    load_dataset(p.to_str().unwrap(), &ReadOptions::default())
}

fn err(p: &std::path::Path, opts: &ReadOptions) -> String {
    format!("{:#}", load_dataset(p.to_str().unwrap(), opts).unwrap_err())
}

fn pairs(ds: &Dataset) -> Vec<(&str, &str)> {
    ds.examples
        .iter()
        .map(|e| (e.label(), e.text.as_str()))
        .collect()
}

fn skipped(ds: &Dataset) -> Vec<(usize, &str)> {
    ds.skipped
        .iter()
        .map(|s| (s.line, s.reason.as_str()))
        .collect()
}

#[test]
fn fasttext_basic_bom_crlf_blank_lines_multi_label() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.txt",
        "\u{feff}__label__pos Great film\r\n\r\n__label__neg __label__bad Awful.\r\n__label__pos\r\n  \n__label__neg meh".as_bytes(),
    );
    let ds = load(&p).unwrap();
    assert_eq!(
        pairs(&ds),
        [("pos", "Great film"), ("neg", "Awful."), ("neg", "meh")]
    );
    assert_eq!(
        skipped(&ds),
        [(2, "blank line"), (4, "no text"), (5, "blank line")]
    );
    assert_eq!(
        ds.skipped[1],
        SkippedRow {
            file: p.display().to_string(),
            line: 4,
            reason: "no text".into()
        }
    );
    assert_eq!(ds.warnings.len(), 1);
    assert!(
        ds.warnings[0].contains("1 line(s) have more than one label (first: line 3)"),
        "{:?}",
        ds.warnings
    );
    // Every label is read; a single-label model learns the first of each line.
    assert_eq!(ds.examples[1].labels, ["neg", "bad"]);
    assert_eq!(ds.labels(), ["bad", "neg", "pos"]);
    assert_eq!(ds.label_counts()["neg"], 2);
}

/// A label after the text is a label, as fastText reads it (it used to become part of the
/// text), and the reader says so once; the other words keep their order.
#[test]
fn fasttext_labels_after_the_text_are_labels_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.ft",
        b"__label__pos Great  film\nAwful   plot __label__neg\nmeh __label__neg so-so\n",
    );
    let ds = load(&p).unwrap();
    assert_eq!(
        pairs(&ds),
        [
            ("pos", "Great  film"),
            ("neg", "Awful plot"),
            ("neg", "meh so-so")
        ]
    );
    assert_eq!(ds.warnings.len(), 1, "{:?}", ds.warnings);
    assert!(
        ds.warnings[0]
            .contains("2 line(s) have a __label__<label> word after the text (first: line 2)"),
        "{:?}",
        ds.warnings
    );
    // Multi-label: trailing labels join the leading ones.
    let q = write(&dir, "m.ft", b"__label__a x y __label__b\n__label__b z\n");
    let sets = ReadOptions {
        multi_label: true,
        ..ReadOptions::default()
    };
    let m = load_dataset(q.to_str().unwrap(), &sets).unwrap();
    assert_eq!(m.examples[0].labels, ["a", "b"]);
    assert_eq!(m.examples[0].text, "x y");
}

#[test]
fn fasttext_custom_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "a.ft", b"#pos good\n#neg bad\n");
    let opts = ReadOptions {
        label_prefix: "#".into(),
        ..Default::default()
    };
    let ds = load_dataset(p.to_str().unwrap(), &opts).unwrap();
    assert_eq!(pairs(&ds), [("pos", "good"), ("neg", "bad")]);
}

#[test]
fn fasttext_without_labels_fails_fast_naming_format_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.ft",
        b"\n__label__pos ok\npositive this has no label\n__label__neg x\n",
    );
    let e = err(&p, &ReadOptions::default());
    assert!(
        e.contains(&format!("{}:3: not in fastText format", p.display())),
        "{e}"
    );
    assert!(
        e.contains("expected `__label__<label> <text>`")
            && e.contains("positive this has no label"),
        "{e}"
    );
    // A .txt file that does not start with the prefix is read as plain lines unless told otherwise.
    let q = write(&dir, "b.txt", b"positive no label\n");
    let opts = ReadOptions {
        format: Some(Format::FastText),
        ..Default::default()
    };
    assert!(err(&q, &opts).contains(":1: not in fastText format"));
    let ds = load(&q).unwrap();
    assert_eq!(pairs(&ds), [("", "positive no label")]);
}

#[test]
fn csv_quotes_newlines_and_column_selection() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.csv",
        b"id,review,sentiment\n1,\"Good, \"\"really\"\"\nsecond line\",pos\n2,plain,neg\n",
    );
    let opts = ReadOptions {
        text_column: "review".into(),
        label_column: "sentiment".into(),
        ..Default::default()
    };
    let ds = load_dataset(p.to_str().unwrap(), &opts).unwrap();
    assert_eq!(
        pairs(&ds),
        [("pos", "Good, \"really\"\nsecond line"), ("neg", "plain")]
    );
    assert!(ds.skipped.is_empty());
}

#[test]
fn csv_missing_column_lists_columns_found() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "a.csv", b"review,sentiment\nx,pos\n");
    let e = err(&p, &ReadOptions::default());
    assert!(e.contains("no column named \"text\" or \"label\""), "{e}");
    assert!(
        e.contains("columns found: \"review\", \"sentiment\""),
        "{e}"
    );
}

#[test]
fn csv_label_without_text_blank_lines_and_short_rows_are_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.csv",
        b"\nlabel,text\r\npos,good\r\n\r\nneg,\r\nneg,\"  \"\r\n,orphan text\r\nonlyone\r\n\"multi\nline\",ok\r\nneg,bad\r\n\r\n",
    );
    let ds = load(&p).unwrap();
    assert_eq!(
        pairs(&ds),
        [("pos", "good"), ("multi\nline", "ok"), ("neg", "bad")]
    );
    assert_eq!(
        skipped(&ds),
        [
            (1, "blank line"),
            (4, "blank line"),
            (5, "no text"),
            (6, "no text"),
            (7, "no label"),
            (8, "too few fields"),
            (12, "blank line"),
        ]
    );
}

#[test]
fn rows_with_more_fields_than_the_header_are_skipped_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    // Row 3 has an unquoted comma: its "label" would be " loved it". A trailing empty field
    // (row 4) is harmless.
    let p = write(
        &dir,
        "a.csv",
        b"text,label\n\"fine, really\",pos\nGreat movie, loved it,pos\nbad,neg,\n",
    );
    let ds = load(&p).unwrap();
    assert_eq!(pairs(&ds), [("pos", "fine, really"), ("neg", "bad")]);
    assert_eq!(
        skipped(&ds),
        [(
            3,
            "more fields than the header (a comma in an unquoted text?)"
        )]
    );
    let p = write(&dir, "a.tsv", b"label\ttext\npos\tgood\tmore\nneg\tbad\n");
    let ds = load(&p).unwrap();
    assert_eq!(pairs(&ds), [("neg", "bad")]);
    assert_eq!(
        skipped(&ds),
        [(2, "more fields than the header (a tab inside the text?)")]
    );
}

#[test]
fn tsv_label_with_spaces_kept_whole_and_quotes_literal() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.tsv",
        b"label\ttext\nvery positive\t\"Loved\" it\n neutral \tok\n",
    );
    let ds = load(&p).unwrap();
    assert_eq!(
        pairs(&ds),
        [("very positive", "\"Loved\" it"), ("neutral", "ok")]
    );
}

#[test]
fn near_duplicate_labels_warn() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.csv",
        b"text,label\ngood,pos\nfine,\"pos,\"\nbad,neg\nugh,Neg\n",
    );
    let ds = load(&p).unwrap();
    assert_eq!(ds.labels(), ["Neg", "neg", "pos", "pos,"]);
    assert_eq!(ds.warnings.len(), 2, "{:?}", ds.warnings);
    assert!(
        ds.warnings[0].starts_with("labels \"Neg\" and \"neg\" differ only in case"),
        "{:?}",
        ds.warnings
    );
    assert!(
        ds.warnings[1].starts_with("labels \"pos\" and \"pos,\" differ only"),
        "{:?}",
        ds.warnings
    );
}

#[test]
fn empty_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["e.csv", "e.tsv", "e.jsonl", "e.txt"] {
        let p = write(&dir, name, b"");
        assert_eq!(
            err(&p, &ReadOptions::default()),
            format!("{}: file is empty", p.display())
        );
    }
    let p = write(&dir, "bom.csv", b"\xEF\xBB\xBF\r\n");
    assert_eq!(
        err(&p, &ReadOptions::default()),
        format!("{}: file is empty", p.display())
    );
    // A header but no rows: no examples.
    let p = write(&dir, "h.csv", b"text,label\n");
    assert_eq!(
        err(&p, &ReadOptions::default()),
        format!("{}: no examples could be read", p.display())
    );
    let p = write(&dir, "only_skipped.ft", b"__label__pos\n\n");
    assert!(
        err(&p, &ReadOptions::default())
            .ends_with("no examples could be read (skipped: 1 × blank line, 1 × no text)")
    );
}

#[test]
fn bom_before_first_label() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "a.csv", b"\xEF\xBB\xBFlabel,text\npos,good\n");
    assert_eq!(pairs(&load(&p).unwrap()), [("pos", "good")]);
    let p = write(&dir, "a.ft", b"\xEF\xBB\xBF__label__pos good\n");
    assert_eq!(pairs(&load(&p).unwrap()), [("pos", "good")]);
    let p = write(
        &dir,
        "a.jsonl",
        b"\xEF\xBB\xBF{\"text\":\"good\",\"label\":\"pos\"}\n",
    );
    assert_eq!(pairs(&load(&p).unwrap()), [("pos", "good")]);
}

#[test]
fn latin1_without_encoding_is_an_error_and_with_it_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.tsv",
        b"label\ttext\npos\tnice\nneg\tcaf\xE9 au lait\n",
    );
    let e = err(&p, &ReadOptions::default());
    assert!(
        e.starts_with(&format!("{}:3: invalid UTF-8 (byte 0xE9", p.display())),
        "{e}"
    );
    assert!(e.contains("--encoding latin1"), "{e}");
    let opts = ReadOptions {
        encoding: Encoding::Latin1,
        ..Default::default()
    };
    let ds = load_dataset(p.to_str().unwrap(), &opts).unwrap();
    assert_eq!(pairs(&ds), [("pos", "nice"), ("neg", "café au lait")]);
}

#[test]
fn jsonl_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.jsonl",
        br#"{"text": "good", "label": "pos"}
{"text": "meh", "label": 3}

{"text": "", "label": "neg"}
{"text": "x", "label": ["a", "b"]}
not json
[1]
{"text": 5, "label": "neg"}
{"label": "neg"}
"#,
    );
    let ds = load(&p).unwrap();
    assert_eq!(pairs(&ds), [("pos", "good"), ("3", "meh"), ("a", "x")]);
    assert_eq!(
        skipped(&ds),
        [
            (3, "blank line"),
            (4, "no text"),
            (6, "invalid JSON"),
            (7, "not a JSON object"),
            (8, "text is not a string"),
            (9, "no text")
        ]
    );
    assert_eq!(ds.warnings.len(), 1);
    let q = write(&dir, "b.jsonl", br#"{"review": "good", "label": "pos"}"#);
    let e = err(&q, &ReadOptions::default());
    assert!(
        e.contains(":1: no key \"text\"; keys found: \"label\", \"review\""),
        "{e}"
    );
}

#[test]
fn folder_per_class() {
    let dir = tempfile::tempdir().unwrap();
    for (class, file, text) in [
        ("sports", "b.txt", "goal!"),
        ("sports", "a.txt", "match"),
        ("tech", "x.txt", "cpu"),
        ("tech", "y.txt", " \n"),
    ] {
        std::fs::create_dir_all(dir.path().join(class)).unwrap();
        std::fs::write(dir.path().join(class).join(file), text).unwrap();
    }
    std::fs::write(dir.path().join("README"), "stray").unwrap();
    let ds = load(dir.path()).unwrap();
    assert_eq!(
        pairs(&ds),
        [("sports", "match"), ("sports", "goal!"), ("tech", "cpu")]
    );
    assert_eq!(ds.examples[0].meta.as_deref(), Some("a.txt"));
    assert_eq!(skipped(&ds), [(0, "no text")]);
    assert!(ds.skipped[0].file.ends_with("y.txt"));
    assert_eq!(ds.warnings.len(), 1);
    assert!(ds.warnings[0].contains("1 file(s) directly in the folder ignored"));
}

#[test]
fn unknown_paths_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.csv");
    assert!(err(&missing, &ReadOptions::default()).contains("nope.csv: no such file or directory"));
    let p = write(&dir, "data.xyz", b"hello\n");
    assert!(err(&p, &ReadOptions::default()).contains("cannot tell the format"));
    assert!(
        format!(
            "{:#}",
            load_dataset("imdb", &ReadOptions::default()).unwrap_err()
        )
        .contains("imdb:train or imdb:test")
    );
    assert!(
        format!(
            "{:#}",
            load_dataset("imdb:valid", &ReadOptions::default()).unwrap_err()
        )
        .contains("unknown IMDB split")
    );
}

#[test]
fn read_lines_keeps_empty_lines_and_alignment() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "in.txt", b"\xEF\xBB\xBFfirst\r\n\r\nthird\n");
    assert_eq!(
        read_lines(p.to_str().unwrap(), &ReadOptions::default()).unwrap(),
        ["first", "", "third"]
    );
    let p = write(&dir, "in2.txt", b"a\n\nb");
    assert_eq!(
        read_lines(p.to_str().unwrap(), &ReadOptions::default()).unwrap(),
        ["a", "", "b"]
    );
    let p = write(&dir, "in3.txt", b"\n");
    assert_eq!(
        read_lines(p.to_str().unwrap(), &ReadOptions::default()).unwrap(),
        [""]
    );
    let p = write(&dir, "empty.txt", b"");
    let e = format!(
        "{:#}",
        read_lines(p.to_str().unwrap(), &ReadOptions::default()).unwrap_err()
    );
    assert_eq!(e, format!("{}: file is empty", p.display()));
    let p = write(&dir, "bad.txt", b"ok\n\xFF\n");
    let e = format!(
        "{:#}",
        read_lines(p.to_str().unwrap(), &ReadOptions::default()).unwrap_err()
    );
    assert!(e.contains("bad.txt:2: invalid UTF-8"), "{e}");
}
