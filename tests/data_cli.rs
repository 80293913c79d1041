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
