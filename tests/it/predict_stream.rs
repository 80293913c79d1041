//! `textcnn predict` as a stream (issue 17): answers arrive while the input is still open, the
//! chunking (`--batch-size`) does not change the answers, and JSONL input carries its `id`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::serve_util::*;
use textcnn::predict::Classifier;

fn textcnn(args: &[&str], input: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn answers_each_line_before_the_input_ends() {
    let m = model_dir().to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(["predict", "--model", m, "--threads", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            tx.send(line.unwrap()).unwrap();
        }
    });
    let classifier = Classifier::load(model_dir()).unwrap();
    for text in ["a great and superb film", "an awful boring plot"] {
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
        // The answer comes while standard input is still open (a generous bound for a loaded
        // machine; without streaming it would never come before EOF).
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("no answer before the end of the input");
        let p = &classifier.predict(&[text])[0];
        assert_eq!(line, format!("{}\t{:.6}", p.label, p.probability));
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    assert!(rx.try_recv().is_err(), "no extra output");
}

#[test]
fn batch_size_does_not_change_the_answers() {
    let m = model_dir().to_str().unwrap();
    let texts: Vec<String> = synthetic(50, 9)
        .examples
        .into_iter()
        .map(|e| e.text)
        .collect();
    let mut input = texts.join("\n");
    input.push_str("\n\n<br />\n");
    let one = textcnn(
        &["predict", "--model", m, "--json", "--batch-size", "1"],
        &input,
    );
    let seven = textcnn(
        &["predict", "--model", m, "--json", "--batch-size", "7"],
        &input,
    );
    let all = textcnn(&["predict", "--model", m, "--json"], &input);
    assert_eq!(one, all);
    assert_eq!(seven, all);
    let lines: Vec<serde_json::Value> = all.lines().map(json).collect();
    assert_eq!(lines.len(), 52);
    let classifier = Classifier::load(model_dir()).unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (i, (v, p)) in lines.iter().zip(classifier.predict(&refs)).enumerate() {
        assert_eq!(v["line"], i + 1);
        assert_eq!(v["label"], p.label.as_str());
        assert_eq!(v["probability"].as_f64().unwrap() as f32, p.probability);
    }
    assert_eq!(lines[50]["error"], "empty text");
    assert_eq!(lines[51]["n_tokens"], 0);
    let o = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(["predict", "--model", m, "--batch-size", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--batch-size must be at least 1"));
}

#[test]
fn jsonl_input_carries_ids_and_reports_bad_lines_in_place() {
    let m = model_dir().to_str().unwrap();
    let input = concat!(
        "{\"id\": \"r1\", \"text\": \"a great and superb film\"}\n",
        "{\"id\": 2, \"body\": \"an awful boring plot\"}\n",
        "not json\n",
        "{\"text\": \"an awful boring plot\"}\n",
        "{\"id\": [3], \"text\": \"\"}\n",
    );
    let out = textcnn(&["predict", "--model", m, "--format", "jsonl"], input);
    let v: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(v.len(), 5);
    let classifier = Classifier::load(model_dir()).unwrap();
    let p = classifier.predict(&["a great and superb film", "an awful boring plot"]);
    assert_eq!(v[0]["id"], "r1");
    assert_eq!(v[0]["label"], p[0].label.as_str());
    assert_eq!(v[1]["id"], 2);
    assert_eq!(
        v[1]["error"],
        "no \"text\" key (keys: id, body); --text-column names another"
    );
    assert!(v[2].get("id").is_none());
    assert!(
        v[2]["error"].as_str().unwrap().starts_with("invalid JSON"),
        "{}",
        v[2]
    );
    assert!(v[3].get("id").is_none());
    assert_eq!(v[3]["label"], p[1].label.as_str());
    assert_eq!(v[3]["line"], 4);
    assert_eq!(v[4]["id"], serde_json::json!([3]));
    assert_eq!(v[4]["error"], "empty text");
    // --text-column names the key.
    let out = textcnn(
        &[
            "predict",
            "--model",
            m,
            "--format",
            "jsonl",
            "--text-column",
            "body",
        ],
        "{\"id\": 2, \"body\": \"an awful boring plot\"}\n",
    );
    assert_eq!(json(out.trim())["label"], p[1].label.as_str());
}
