//! `textcnn data stats` through the binary.

use std::process::Command;

#[test]
fn data_stats_prints_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.tsv");
    std::fs::write(
        &p,
        "label\ttext\npos\tgood good film\n\nneg\t\nneg\tbad movie\npos,\tok\n",
    )
    .unwrap();
    let v = dir.path().join("v.txt");
    std::fs::write(&v, "<pad>\t0\n<unk>\t0\ngood\t2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args([
            "data",
            "stats",
            p.to_str().unwrap(),
            "--vocab",
            v.to_str().unwrap(),
            "--min-count",
            "2",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "neg                               1    33.3%",
        "pos                               1    33.3%",
        "pos,                              1    33.3%",
        "tokens per row     p50 2  p90 3  p99 3  max 3  mean 2.0",
        "vocabulary         3 entries incl. <pad>/<unk> (min-count 2, max-size none)",
        "OOV rate (built)   66.67% of tokens",
        "66.67% of tokens",
        "rows skipped       2",
        "         1  blank line",
        "         1  no text",
        "warning: labels \"pos\" and \"pos,\" differ only",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(
        stdout.contains(&format!("OOV rate ({})   66.67% of tokens", v.display())),
        "{stdout}"
    );
}

#[test]
fn data_stats_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.csv");
    std::fs::write(&p, "review,sentiment\nx,pos\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(["data", "stats", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("columns found: \"review\", \"sentiment\""),
        "{stderr}"
    );
}

/// Issue 18, item 3: `data split` with `--first` equal to the input overwrote the input, and
/// with `--first` equal to `--second` silently kept half the rows. Both are refused and nothing
/// is written.
#[test]
fn data_split_refuses_to_overwrite_its_input_or_write_both_halves_to_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("d.jsonl");
    let rows: String = (0..20)
        .map(|i| {
            format!(
                "{{\"text\": \"t {i}\", \"label\": \"{}\"}}\n",
                ["a", "b"][i % 2]
            )
        })
        .collect();
    std::fs::write(&input, &rows).unwrap();
    let split = |first: &std::path::Path, second: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_textcnn"))
            .args(["data", "split", input.to_str().unwrap(), "--first"])
            .arg(first)
            .arg("--second")
            .arg(second)
            .output()
            .unwrap()
    };
    let other = dir.path().join("o.jsonl");
    let via_dots = dir.path().join("sub/../d.jsonl");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for (first, second, needle) in [(&input, &other, "--first"), (&other, &via_dots, "--second")] {
        let o = split(first, second);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "accepted: {first:?} {second:?}");
        assert!(
            err.contains(&format!("{needle} ")) && err.contains("is the input"),
            "{err}"
        );
    }
    let o = split(&other, &dir.path().join("./o.jsonl"));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--first and --second are the same file"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&input).unwrap(), rows);
    assert!(!other.exists());
    let second = dir.path().join("s.jsonl");
    let o = split(&other, &second);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let n = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(n(&other) + n(&second), 20);
}

/// Issue 18, item 6: JSONL labels `1` and `1.0` (or `0` and `0.0`) became two classes without a
/// warning. JSON numbers are now read by value (one class each); the same number written two
/// ways as text (CSV) is warned about.
#[test]
fn numeric_labels_written_two_ways_are_one_class_or_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("d.jsonl");
    std::fs::write(
        &jsonl,
        "{\"text\": \"good\", \"label\": 1}\n{\"text\": \"fine\", \"label\": 1.0}\n\
         {\"text\": \"bad\", \"label\": 0}\n{\"text\": \"dull\", \"label\": 0.0}\n\
         {\"text\": \"poor\", \"label\": -0.0}\n{\"text\": \"meh\", \"label\": 0.50}\n\
         {\"text\": \"so so\", \"label\": 5e-1}\n",
    )
    .unwrap();
    let stats = |p: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_textcnn"))
            .args(["data", "stats", p.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr)
    };
    let out = stats(&jsonl);
    for line in [
        "0                                 3    42.9%",
        "1                                 2    28.6%",
        "0.5                               2    28.6%",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    assert!(!out.contains("1.0"), "{out}");
    let csv = dir.path().join("d.csv");
    std::fs::write(&csv, "text,label\ngood,1\nfine,1.0\nbad,0\n").unwrap();
    let out = stats(&csv);
    assert!(
        out.contains("labels \"1\" and \"1.0\" are the same number written differently"),
        "{out}"
    );
}

/// Issue 29, L2: `data split --first other.tsv` replaced an existing file. An existing
/// `--first` or `--second` is refused, naming it, unless `--force`.
#[test]
fn data_split_keeps_existing_files_unless_force() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("d.jsonl");
    let rows: String = (0..20)
        .map(|i| {
            format!(
                "{{\"text\": \"t {i}\", \"label\": \"{}\"}}\n",
                ["a", "b"][i % 2]
            )
        })
        .collect();
    std::fs::write(&input, &rows).unwrap();
    let (first, second) = (dir.path().join("other.tsv"), dir.path().join("s.jsonl"));
    let split = |force: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_textcnn"));
        c.args(["data", "split", input.to_str().unwrap(), "--first"])
            .arg(&first)
            .arg("--second")
            .arg(&second);
        if force {
            c.arg("--force");
        }
        c.output().unwrap()
    };
    std::fs::write(&first, "keep me\n").unwrap();
    let o = split(false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!(
            "--first {} already exists; give another name or --force to replace it",
            first.display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&first).unwrap(), "keep me\n");
    assert!(
        !second.exists(),
        "nothing is written when one file is refused"
    );
    std::fs::remove_file(&first).unwrap();
    std::fs::write(&second, "keep me too\n").unwrap();
    let o = split(false);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains(&format!("--second {} already exists", second.display())),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!first.exists());
    let o = split(true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let n = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(n(&first) + n(&second), 20);
}
