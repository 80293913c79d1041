//! `textcnn predict` as a stream (issue 17): answers arrive while the input is still open, the
//! chunking (`--batch-size`) does not change the answers, and JSONL input carries its `id`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::serve_util::*;
use textcnn::predict::Classifier;

fn textcnn(args: &[&str], input: &str) -> String {
    let out = crate::common::textcnn_with_stdin(args, input.as_bytes());
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

/// Runs `textcnn ARGS` with `input` on standard input: (success, stdout, stderr).
fn run_bytes(args: &[&str], input: &[u8]) -> (bool, String, String) {
    let out = crate::common::textcnn_with_stdin(args, input);
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 29, M2: one line that is not UTF-8 stopped the stream (exit 1, the lines after it were
/// never answered), although `--format jsonl` promises an error record per bad line. Now the
/// line gets an error record (in the plain format: an `error<TAB>...` line) in its place, every
/// later line is answered, and standard error says how many lines were not UTF-8.
#[test]
fn a_line_that_is_not_utf8_gets_an_error_record_and_the_stream_goes_on() {
    let m = model_dir().to_str().unwrap();
    let classifier = Classifier::load(model_dir()).unwrap();
    let good = "a great and superb film";
    let p = &classifier.predict(&[good])[0];
    let mut input =
        format!("{{\"id\":1,\"text\":\"{good}\"}}\n{{\"id\":2,\"text\":\"dull ").into_bytes();
    let at = input.len();
    input.push(0xFF);
    input.extend_from_slice(format!("\"}}\n{{\"id\":3,\"text\":\"{good}\"}}\n").as_bytes());
    let (ok, out, err) = run_bytes(&["predict", "--model", m, "--format", "jsonl"], &input);
    assert!(ok, "{err}");
    let v: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(v.len(), 3, "{out}");
    assert_eq!(v[0]["id"], 1);
    assert_eq!(v[0]["label"], p.label.as_str());
    assert_eq!(v[1]["id"], 2);
    assert_eq!(v[1]["line"], 2);
    assert_eq!(v[1]["n_tokens"], 0);
    assert_eq!(
        v[1]["error"],
        format!(
            "invalid UTF-8 (byte 0xFF at offset {at}); if the input is Latin-1 / Windows-1252, pass `--encoding latin1`"
        )
    );
    assert_eq!(v[2]["id"], 3);
    assert_eq!(v[2]["label"], p.label.as_str());
    assert!(
        err.contains("warning: <stdin>: 1 line was not valid UTF-8 (line 2)"),
        "{err}"
    );
    // The plain format answers the same way, one output line per input line.
    let (ok, out, err) = run_bytes(
        &["predict", "--model", m],
        &[good.as_bytes(), b"\ndull \xFF\n", good.as_bytes(), b"\n"].concat(),
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let answer = format!("{}\t{:.6}", p.label, p.probability);
    let offset = good.len() + 6;
    assert_eq!(
        lines,
        [
            answer.as_str(),
            &format!(
                "error\tinvalid UTF-8 (byte 0xFF at offset {offset}); if the input is Latin-1 / Windows-1252, pass `--encoding latin1` (line 2)"
            ),
            answer.as_str(),
        ]
    );
}

/// Issue 29, L4: JSONL ids came back re-formatted as floats (`12345678901234567890123` as
/// `1.2345678901234568e+22`, `1e2` as `100.0`, `1.10` as `1.1`). Ids are echoed exactly as
/// written, and the rest of each output line is unchanged.
#[test]
fn jsonl_ids_come_back_exactly_as_written() {
    let m = model_dir().to_str().unwrap();
    let ids = [
        "12345678901234567890123",
        "1e2",
        "1.10",
        "-0.0",
        "\"caf\\u00e9\"",
        "[1, 2.50]",
        "null",
        "7",
    ];
    let mut input = String::new();
    for id in ids {
        input.push_str(&format!(
            "{{\"id\": {id}, \"text\": \"a great and superb film\"}}\n"
        ));
    }
    // Error records carry the id the same way.
    input.push_str("{\"id\": 1E+2, \"text\": \"\"}\n");
    let (ok, out, err) = run_bytes(
        &["predict", "--model", m, "--format", "jsonl"],
        input.as_bytes(),
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), ids.len() + 1, "{out}");
    for (line, id) in lines.iter().zip(ids) {
        assert!(line.starts_with(&format!("{{\"id\":{id},")), "{id}: {line}");
    }
    assert!(lines[ids.len()].contains("\"id\":1E+2,"), "{out}");
    assert_eq!(json(lines[ids.len()])["error"], "empty text");
    // An ordinary id: the line is exactly what serializing the parsed line gives (sorted keys,
    // shortest floats), as before.
    let last = lines[ids.len() - 1];
    assert_eq!(serde_json::to_string(&json(last)).unwrap(), last);
}

/// Issue 29: `textcnn predict < /dev/zero` (one endless line) aborted with an allocation
/// failure and a backtrace (exit 134); a file with one huge line did the same. A line over
/// `MAX_LINE_BYTES` gets an error record as soon as the limit is passed, its rest is skipped,
/// and the lines after it are answered. Run under a 4 GB address-space limit, so that the
/// unbounded reading fails fast instead of eating the machine's memory.
#[test]
fn an_endless_line_gets_an_error_record_instead_of_an_allocation_abort() {
    use textcnn::data::stream::MAX_LINE_BYTES;
    let m = model_dir().to_str().unwrap();
    let limited = |format: &str, stdin: Stdio| {
        Command::new("sh")
            .args([
                "-c",
                "ulimit -v 4000000 && exec \"$0\" \"$@\"",
                env!("CARGO_BIN_EXE_textcnn"),
                "predict",
                "--model",
                m,
                "--threads",
                "1",
                "--format",
                format,
            ])
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = limited(
        "jsonl",
        Stdio::from(std::fs::File::open("/dev/zero").unwrap()),
    );
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        tx.send(first).unwrap();
    });
    let first = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("no answer to the endless line");
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
    let limit = format!(
        "longer than the limit of {} MiB; not classified (the rest of the line is skipped)",
        MAX_LINE_BYTES >> 20
    );
    assert!(!first.trim().is_empty(), "no answer: {status:?}: {err}");
    let v = json(first.trim());
    assert_eq!(v["line"], 1, "{first}");
    assert_eq!(v["error"], format!("line {limit}"), "{first}");
    assert!(still_running, "{status:?}: {err}");
    // A finite long line: its error record in its place, then the next line's answer.
    let mut input = vec![b'x'; MAX_LINE_BYTES + 1];
    input.extend_from_slice(b"\na great and superb film\n");
    let (ok, out, err) = run_bytes(&["predict", "--model", m, "--threads", "1"], &input);
    assert!(ok, "{err}");
    let classifier = Classifier::load(model_dir()).unwrap();
    let p = &classifier.predict(&["a great and superb film"])[0];
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            format!("error\tline {limit} (line 1)"),
            format!("{}\t{:.6}", p.label, p.probability)
        ]
    );
    assert!(
        err.contains("warning: <stdin>: 1 line was longer than the limit"),
        "{err}"
    );
}

/// More texts than one tokenizing chunk: the chunked paths (`probabilities`,
/// `probabilities_of_encoded`, the n-gram branch alone) give bit for bit the figures of all
/// texts tokenized at once.
#[test]
fn chunked_tokenizing_changes_no_probability() {
    use textcnn::predict::{Branch, TOKENIZE_CHUNK};
    let clf = Classifier::load(model_dir()).unwrap();
    assert!(clf.bundle().ngram.is_some());
    let texts: Vec<String> = crate::common::synthetic(TOKENIZE_CHUNK + 300, 5)
        .examples
        .into_iter()
        .map(|e| e.text)
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (docs, encoded) = clf.pipeline().tokenize_and_encode(&refs);
    let whole = clf.probabilities_of(&docs, &encoded);
    let (enc, chunked) = clf.probabilities(&refs);
    assert_eq!(enc, encoded);
    assert_eq!(chunked, whole);
    assert_eq!(clf.probabilities_of_encoded(&refs, &encoded), whole);
    let ngram = &clf.bundle().ngram.as_ref().unwrap();
    let mut z = ngram.logreg.logits(&ngram.featurizer.transform_all(&docs));
    // The branch's logits given (as a training run's test stage gives them): the same figures.
    assert_eq!(clf.probabilities_with_ngram_logits(&encoded, &z), whole);
    clf.head().activate(&mut z, clf.labels().len());
    assert_eq!(clf.branch_probabilities(&refs, Branch::Ngram).unwrap(), z);
}
