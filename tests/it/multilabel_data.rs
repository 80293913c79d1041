//! Multi-label readers (fastText, CSV/TSV with a delimited label list or indicator columns,
//! JSONL label lists) on good input and on malformed input, whose errors must name the file and
//! the line; and the multi-label report on a hand-computed case (values checked against
//! scikit-learn 1.9.1's `classification_report`, `accuracy_score`, `jaccard_score` and
//! `hamming_loss`).

use std::path::{Path, PathBuf};

use textcnn::data::{LabelLayout, ReadOptions, detect_multi_label, load_dataset};
use textcnn::eval::MultiLabelReport;

/// Reader options for label sets laid out as `layout`.
fn sets(layout: &LabelLayout) -> ReadOptions {
    ReadOptions {
        layout: layout.clone(),
        multi_label: true,
        ..ReadOptions::default()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn read(path: &Path, multi: &LabelLayout) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let ds = load_dataset(path.to_str().unwrap(), &sets(multi))?;
    Ok(ds
        .examples
        .into_iter()
        .map(|e| (e.text, e.labels))
        .collect())
}

fn labels(ls: &[&str]) -> Vec<String> {
    ls.iter().map(|s| s.to_string()).collect()
}

fn err(path: &Path, multi: &LabelLayout) -> String {
    format!("{:#}", read(path, multi).unwrap_err())
}

#[test]
fn fasttext_lines_with_several_labels_and_none() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "d.ft",
        "__label__b __label__a two labels here\n\n__label__a one label\nno label at all\n__label__a\n",
    );
    let ds = load_dataset(p.to_str().unwrap(), &sets(&LabelLayout::default())).unwrap();
    let rows: Vec<(String, Vec<String>)> = ds
        .examples
        .iter()
        .map(|e| (e.text.clone(), e.labels.clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("two labels here".to_string(), labels(&["a", "b"])),
            ("one label".to_string(), labels(&["a"])),
            ("no label at all".to_string(), vec![]),
        ]
    );
    assert_eq!(ds.unlabelled(), 1);
    assert!((ds.cardinality() - 1.0).abs() < 1e-12);
    let skipped: Vec<(usize, &str)> = ds
        .skipped
        .iter()
        .map(|s| (s.line, s.reason.as_str()))
        .collect();
    assert_eq!(skipped, vec![(2, "blank line"), (5, "no text")]);
    assert_eq!(ds.label_counts().get("a"), Some(&2));
    assert!(
        ds.summary().contains("3 examples, 2 labels"),
        "{}",
        ds.summary()
    );
    // Detection: a fastText line with two labels.
    let why = detect_multi_label(p.to_str().unwrap(), &ReadOptions::default()).unwrap();
    assert!(why.ends_with(":1: a line with 2 labels"), "{why}");
}

#[test]
fn fasttext_malformed_labels_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "bad.ft",
        "__label__a fine\n__label__ __label__b text\n",
    );
    let e = err(&p, &LabelLayout::default());
    assert!(
        e.contains("bad.ft:2:") && e.contains("without a label name"),
        "{e}"
    );
}

#[test]
fn csv_and_tsv_label_lists() {
    let dir = tempfile::tempdir().unwrap();
    let multi = LabelLayout {
        label_sep: Some(",".into()),
        ..Default::default()
    };
    let p = write(
        dir.path(),
        "d.csv",
        "text,label\n\"economy up, politics too\",\"economy, politics\"\nnothing here,\n\"dup\",\"a,a,,b\"\n",
    );
    assert_eq!(
        read(&p, &multi).unwrap(),
        vec![
            (
                "economy up, politics too".to_string(),
                labels(&["economy", "politics"])
            ),
            ("nothing here".to_string(), vec![]),
            ("dup".to_string(), labels(&["a", "b"])),
        ]
    );
    let tsv = LabelLayout {
        label_sep: Some("|".into()),
        ..Default::default()
    };
    let p = write(
        dir.path(),
        "d.tsv",
        "label\ttext\njoy|optimism\ta fine day\n",
    );
    assert_eq!(
        read(&p, &tsv).unwrap(),
        vec![("a fine day".to_string(), labels(&["joy", "optimism"]))]
    );
}

#[test]
fn csv_malformed_rows_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let multi = LabelLayout {
        label_sep: Some(",".into()),
        ..Default::default()
    };
    // An unquoted comma adds a field the header does not name.
    let p = write(dir.path(), "extra.csv", "text,label\nok,a\nbad text,a,b\n");
    let e = err(&p, &multi);
    assert!(e.contains("extra.csv:3:") && e.contains("3 fields"), "{e}");
    // A label with a control character.
    let p = write(dir.path(), "ctl.csv", "text,label\nok,a\nok,\"b\u{7}\"\n");
    let e = err(&p, &multi);
    assert!(
        e.contains("ctl.csv:3:") && e.contains("control character"),
        "{e}"
    );
    // A missing label column lists the columns found.
    let p = write(dir.path(), "cols.csv", "text,tags\nok,a\n");
    let e = err(&p, &multi);
    assert!(e.contains("cols.csv") && e.contains("\"tags\""), "{e}");
}

#[test]
fn indicator_columns_by_name_and_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "ind.csv",
        "id,text,cat_sport,cat_politics,cat_money\n1,match report,1,0,0\n2,budget vote,0,1,1\n3,weather,0,0,0\n",
    );
    let by_prefix = LabelLayout {
        label_column_prefix: Some("cat_".into()),
        ..Default::default()
    };
    let want = vec![
        ("match report".to_string(), labels(&["sport"])),
        ("budget vote".to_string(), labels(&["money", "politics"])),
        ("weather".to_string(), vec![]),
    ];
    assert_eq!(read(&p, &by_prefix).unwrap(), want);
    let by_name = LabelLayout {
        label_columns: vec!["cat_sport".into(), "cat_money".into()],
        ..Default::default()
    };
    assert_eq!(
        read(&p, &by_name).unwrap(),
        vec![
            ("match report".to_string(), labels(&["cat_sport"])),
            ("budget vote".to_string(), labels(&["cat_money"])),
            ("weather".to_string(), vec![]),
        ]
    );
}

#[test]
fn indicator_columns_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ind.tsv", "text\ta\tb\nx\t1\t0\ny\t1\t2\n");
    let multi = LabelLayout {
        label_columns: vec!["a".into(), "b".into()],
        ..Default::default()
    };
    let e = err(&p, &multi);
    assert!(
        e.contains("ind.tsv:3:") && e.contains("column \"b\" holds \"2\""),
        "{e}"
    );
    let missing = LabelLayout {
        label_columns: vec!["a".into(), "zzz".into()],
        ..Default::default()
    };
    let e = err(&p, &missing);
    assert!(e.contains("ind.tsv") && e.contains("\"zzz\""), "{e}");
    let no_prefix = LabelLayout {
        label_column_prefix: Some("cat_".into()),
        ..Default::default()
    };
    assert!(err(&p, &no_prefix).contains("no column name starts with \"cat_\""));
}

#[test]
fn jsonl_label_lists() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "d.jsonl",
        "{\"text\": \"t1\", \"labels\": [\"b\", \"a\"]}\n{\"text\": \"t2\", \"labels\": []}\n{\"text\": \"t3\", \"labels\": null}\n{\"text\": \"t4\", \"labels\": [1, \"x\"]}\n{\"text\": \"\", \"labels\": [\"a\"]}\n",
    );
    assert_eq!(
        read(&p, &LabelLayout::default()).unwrap(),
        vec![
            ("t1".to_string(), labels(&["a", "b"])),
            ("t2".to_string(), vec![]),
            ("t3".to_string(), vec![]),
            ("t4".to_string(), labels(&["1", "x"])),
        ]
    );
    let why = detect_multi_label(p.to_str().unwrap(), &ReadOptions::default()).unwrap();
    assert!(why.contains("d.jsonl:1:"), "{why}");
    // A single-label JSONL file is not multi-label.
    let single = write(
        dir.path(),
        "s.jsonl",
        "{\"text\": \"t\", \"label\": \"a\"}\n",
    );
    assert_eq!(
        detect_multi_label(single.to_str().unwrap(), &ReadOptions::default()),
        None
    );
}

#[test]
fn jsonl_malformed_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "{\"text\": \"t\", \"labels\": [\"a\"]}\n{\"text\": \"t\", \"labels\": [[\"a\"]]}\n",
            "must be a list of strings",
        ),
        (
            "{\"text\": \"t\", \"labels\": [\"a\"]}\n{\"text\": \"t\", \"labels\": {\"a\": 1}}\n",
            "must be a list of strings",
        ),
        (
            "{\"text\": \"t\", \"labels\": [\"a\"]}\n{\"text\": \"t\", \"labels\": [\"a\"\n",
            "invalid JSON",
        ),
        (
            "{\"text\": \"t\", \"labels\": [\"a\"]}\n[1, 2]\n",
            "not a JSON object",
        ),
        (
            "{\"text\": \"t\", \"labels\": [\"a\"]}\n{\"text\": \"t\", \"labels\": [\"\"]}\n",
            "empty label name",
        ),
        (
            "{\"text\": \"t\", \"labels\": [\"a\"]}\n{\"text\": 5, \"labels\": [\"a\"]}\n",
            "must be a string",
        ),
        // The labels' key is the same on every line: a typo or another key is not "no label".
        (
            "{\"text\": \"t\", \"labels\": [\"a\"]}\n{\"text\": \"t\", \"lables\": [\"a\"]}\n",
            "no key \"labels\", which holds the labels on the earlier lines",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let p = write(dir.path(), &format!("bad{i}.jsonl"), text);
        let e = err(&p, &LabelLayout::default());
        assert!(
            e.contains(&format!("bad{i}.jsonl:2:")) && e.contains(needle),
            "case {i}: {e}"
        );
    }
    let p = write(
        dir.path(),
        "nokey.jsonl",
        "{\"body\": \"t\", \"tags\": [\"a\"]}\n",
    );
    let e = err(&p, &LabelLayout::default());
    assert!(
        e.contains("nokey.jsonl:1:") && e.contains("\"tags\""),
        "{e}"
    );
    let p = write(
        dir.path(),
        "none.jsonl",
        "{\"text\": \"t\", \"labels\": []}\n",
    );
    assert!(err(&p, &LabelLayout::default()).contains("no example has any label"));
}

#[test]
fn report_matches_scikit_learn_on_a_hand_computed_case() {
    // truth: {a,b}, {b}, {}, {a,c}; predicted: {a}, {b,c}, {}, {a,b}.
    let names = labels(&["a", "b", "c"]);
    let t = [
        true, true, false, false, true, false, false, false, false, true, false, true,
    ];
    let p = [
        true, false, false, false, true, true, false, false, false, true, true, false,
    ];
    let scores = [0.9, 0.4, 0.1, 0.2, 0.8, 0.6, 0.3, 0.2, 0.1, 0.7, 0.6, 0.3];
    let r = MultiLabelReport::new(&names, &t, &p, Some(&scores), &[1, 2]);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    let row = |s: &textcnn::eval::ClassMetrics| (s.precision, s.recall, s.f1, s.support);
    assert_eq!(row(&r.per_label[0]), (1.0, 1.0, 1.0, 2));
    assert_eq!(row(&r.per_label[1]), (0.5, 0.5, 0.5, 2));
    assert_eq!(row(&r.per_label[2]), (0.0, 0.0, 0.0, 1));
    for (avg, want) in [
        (&r.micro_avg, [0.6, 0.6, 0.6]),
        (&r.macro_avg, [0.5, 0.5, 0.5]),
        (&r.weighted_avg, [0.6, 0.6, 0.6]),
        (&r.samples_avg, [0.5, 0.5, 0.458_333_333_333_333_3]),
    ] {
        assert!(
            close(avg.precision, want[0]) && close(avg.recall, want[1]) && close(avg.f1, want[2]),
            "{}: {avg:?}",
            avg.label
        );
        assert_eq!(avg.support, 5);
    }
    assert!(close(r.subset_accuracy, 0.25));
    assert!(close(r.jaccard_samples, 1.0 / 3.0));
    assert!(close(r.hamming_loss, 1.0 / 3.0));
    // P@1: 3 of 4 top labels right; R@1 over the 3 texts with labels: (1/2 + 1 + 1/2) / 3.
    assert!(close(r.at_k[0].precision, 0.75) && close(r.at_k[0].recall, 2.0 / 3.0));
    // P@2: (2 + 1 + 0 + 1) / (2 · 4); R@2: (1 + 1 + 1/2) / 3.
    assert!(close(r.at_k[1].precision, 0.5) && close(r.at_k[1].recall, 2.5 / 3.0));
    let text = r.to_string();
    assert!(
        text.contains(" samples avg    0.5000    0.5000    0.4583         5"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["micro_avg"]["f1"], 0.6);
    assert_eq!(json["at_k"][0]["k"], 1);
}
