//! Bundles written before the one pipeline for every head (`tests/fixtures/bundles`, by main at
//! 55c98ae) still load, and `predict` and `eval` give what that textcnn gave, to the byte: a
//! single-label and a multi-label `ngram-cnn`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundles")
}

/// Runs the CLI in the fixture folder (the recorded outputs name relative paths).
fn run(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(args)
        .current_dir(fixtures())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap()
}

#[test]
fn old_bundles_predict_as_before() {
    for kind in ["single", "multi"] {
        let got = run(&["predict", "--model", kind, "--input", "texts.txt", "--json"]);
        let want =
            std::fs::read_to_string(fixtures().join(kind).join("expected_predict.jsonl")).unwrap();
        assert_eq!(got, want, "{kind}");
        // The library loads them with their head.
        let c = textcnn::predict::Classifier::load(&fixtures().join(kind)).unwrap();
        let want_head = if kind == "multi" {
            textcnn::head::HeadKind::MultiLabel
        } else {
            textcnn::head::HeadKind::SingleLabel
        };
        assert_eq!(c.head().kind(), want_head);
    }
}

#[test]
fn old_bundles_evaluate_as_before() {
    let single = json(&run(&[
        "eval",
        "--model",
        "single",
        "--data",
        "single.tsv",
        "--json",
    ]));
    let want =
        json(&std::fs::read_to_string(fixtures().join("single/expected_eval.json")).unwrap());
    assert_eq!(single, want);
    // Multi-label: the same report; the mean loss (binary cross-entropy) is new.
    let mut multi = json(&run(&[
        "eval", "--model", "multi", "--data", "multi.ft", "--json",
    ]));
    let want = json(&std::fs::read_to_string(fixtures().join("multi/expected_eval.json")).unwrap());
    let loss = multi
        .as_object_mut()
        .unwrap()
        .remove("loss")
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(loss > 0.0 && loss < 0.1, "{loss}");
    assert_eq!(multi, want);
}
