//! Multi-label end to end through the `textcnn` binary on synthetic topic data (each text holds
//! cue words of any subset of three topics, the empty one included): `train` detects the
//! multi-label layout, `eval --json` reproduces the test report, `predict` and the library give
//! the same labels, `serve` answers with several labels per text and explains each, and every
//! command of the one pipeline works for the multi-label head: `finetune` (with a new label),
//! `train --resume`, `compare`, `eval --plots` and the run's `report.html`, `explain`,
//! `--init-from`/`--init-conv`/`--pretrained`, `data split`/`data stats`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use textcnn::predict::Classifier;

const BIN: &str = env!("CARGO_BIN_EXE_textcnn");

fn textcnn(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run textcnn")
}

fn ok(args: &[&str]) -> String {
    let o = textcnn(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const TOPICS: [(&str, [&str; 3]); 3] = [
    ("sport", ["goal", "match", "striker"]),
    ("politics", ["election", "senate", "vote"]),
    ("money", ["bank", "shares", "profit"]),
];
const FILLER: [&str; 10] = [
    "the", "today", "report", "said", "a", "new", "city", "people", "week", "news",
];

/// `n` texts: text `i` has topic `t` when bit `t` of `(i * 5 + seed) % 8` is set.
fn synthetic(n: usize, seed: usize) -> Vec<(String, Vec<&'static str>)> {
    (0..n)
        .map(|i| {
            let mask = (i * 5 + seed) % 8;
            let k = i * 7 + seed * 3;
            let mut words: Vec<&str> = (0..6 + k % 5)
                .map(|j| FILLER[(k + j * 3) % FILLER.len()])
                .collect();
            let mut labels = Vec::new();
            for (t, (name, cues)) in TOPICS.iter().enumerate() {
                if mask & (1 << t) != 0 {
                    words.insert((k + t) % words.len(), cues[(k + t) % 3]);
                    labels.push(*name);
                }
            }
            (words.join(" "), labels)
        })
        .collect()
}

struct Trained {
    _dir: tempfile::TempDir,
    model: PathBuf,
    test: PathBuf,
    stdout: String,
    stderr: String,
}

/// A default (`ngram-cnn`) multi-label model trained once per test binary from fastText
/// training data and a JSONL test file.
fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train.ft");
        let test = dir.path().join("test.jsonl");
        let mut ft = String::new();
        for (text, labels) in synthetic(400, 1) {
            for l in labels {
                ft.push_str(&format!("__label__{l} "));
            }
            ft.push_str(&text);
            ft.push('\n');
        }
        std::fs::write(&train, ft).unwrap();
        let mut jsonl = String::new();
        for (text, labels) in synthetic(80, 2) {
            jsonl.push_str(&serde_json::json!({ "text": text, "labels": labels }).to_string());
            jsonl.push('\n');
        }
        std::fs::write(&test, jsonl).unwrap();
        let model = dir.path().join("model");
        let o = textcnn(&[
            "train",
            "--train",
            train.to_str().unwrap(),
            "--test",
            test.to_str().unwrap(),
            "--output",
            model.to_str().unwrap(),
            "--epochs",
            "6",
            "--emb-dim",
            "16",
            "--feature-maps",
            "8",
            "--region-sizes",
            "2,3",
            "--lr",
            "0.01",
            "--threads",
            "2",
        ]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(o.status.success(), "train failed: {stderr}");
        Trained {
            _dir: dir,
            model,
            test,
            stdout,
            stderr,
        }
    })
}

/// `textcnn eval --model MODEL --data DATA --json`, parsed.
fn eval_json(model: &Path, data: &Path) -> serde_json::Value {
    let out = ok(&[
        "eval",
        "--model",
        path(model),
        "--data",
        path(data),
        "--json",
    ]);
    serde_json::from_str(out.trim()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn train_detects_multi_label_data_and_learns_it() {
    let t = trained();
    assert!(
        t.stderr.contains("multi-label data detected") && t.stderr.contains("train.ft:"),
        "{}",
        t.stderr
    );
    // Summary: 400 texts, a quarter of the masks (0 and 8) carry no label.
    assert!(t.stderr.contains("400 examples, 3 labels"), "{}", t.stderr);
    assert!(t.stderr.contains("50 without any label"), "{}", t.stderr);
    assert!(t.stdout.contains("samples avg"), "{}", t.stdout);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.model.join("report.json")).unwrap()).unwrap();
    let micro = report["report"]["micro_avg"]["f1"].as_f64().unwrap();
    assert!(micro > 0.95, "test micro-F1 {micro}");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.model.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["labels"],
        serde_json::json!(["money", "politics", "sport"])
    );
    assert_eq!(
        config["multi_label"]["thresholds"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(config["ngram"]["model"], "ngram-cnn");
    assert_eq!(config["training"]["config"]["metric"], "micro-f1");
}

#[test]
fn eval_json_reproduces_the_test_report() {
    let t = trained();
    let eval = eval_json(&t.model, &t.test);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.model.join("report.json")).unwrap()).unwrap();
    assert_eq!(eval["multi_label"], true);
    assert_eq!(eval["examples"], 80);
    assert_eq!(eval["report"], report["report"]);
    let text = ok(&["eval", "--model", path(&t.model), "--data", path(&t.test)]);
    for needle in [
        "micro avg",
        "macro avg",
        "weighted avg",
        "samples avg",
        "hamming loss",
        "P@1",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[test]
fn predict_returns_every_label_over_its_threshold_as_the_library_does() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let texts = [
        "the striker scored a goal in the match",
        "the senate vote and the bank profit",
        "people said the city news today",
    ];
    std::fs::write(&input, texts.join("\n")).unwrap();
    let out = ok(&[
        "predict",
        "--model",
        path(&t.model),
        "--input",
        path(&input),
        "--json",
    ]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["label"].as_str().unwrap().to_string())
            .collect()
    };
    let mut sorted: Vec<Vec<String>> = lines.iter().map(names).collect();
    for s in &mut sorted {
        s.sort();
    }
    assert_eq!(
        sorted,
        vec![
            vec!["sport".to_string()],
            vec!["money".to_string(), "politics".to_string()],
            vec![],
        ]
    );
    // The library decides the same labels with the same probabilities.
    let classifier = Classifier::load(&t.model).unwrap();
    let predictions = classifier.predict(&texts);
    for (p, line) in predictions.iter().zip(&lines) {
        let lib: Vec<serde_json::Value> = classifier
            .decided_labels(p, None)
            .into_iter()
            .map(|(l, prob)| serde_json::json!({ "label": l, "probability": prob }))
            .collect();
        assert_eq!(serde_json::Value::from(lib), line["labels"]);
    }
    // --threshold replaces the tuned thresholds, --top-k caps the labels.
    let all = ok(&[
        "predict",
        "--model",
        path(&t.model),
        "--input",
        path(&input),
        "--threshold",
        "0",
    ]);
    assert_eq!(all.lines().next().unwrap().split('\t').count(), 6, "{all}");
    let one = ok(&[
        "predict",
        "--model",
        path(&t.model),
        "--input",
        path(&input),
        "--threshold",
        "0",
        "--top-k",
        "1",
    ]);
    assert_eq!(one.lines().next().unwrap().split('\t').count(), 2, "{one}");
    let text = ok(&[
        "predict",
        "--model",
        path(&t.model),
        "--input",
        path(&input),
    ]);
    assert!(text.lines().nth(2).unwrap().starts_with("none\t"), "{text}");
}

#[test]
fn serve_lists_several_labels_per_text() {
    let t = trained();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--model",
            path(&t.model),
            "--port",
            "0",
            "--threads",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let body =
        r#"{"texts": ["the senate vote and the bank profit", "people said the city news today"]}"#;
    let answer = ureq::post(&format!("{url}/v1/predict"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let p = &v["predictions"];
    let mut first: Vec<&str> = p[0]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    first.sort();
    assert_eq!(first, vec!["money", "politics"], "{answer}");
    assert_eq!(p[1]["labels"], serde_json::json!([]), "{answer}");
    // The shape of a single-label answer is kept: label, probability, top_k.
    assert!(
        p[0]["label"].is_string() && p[0]["top_k"].is_array(),
        "{answer}"
    );
    // The page explains every label over its threshold (one block each), through
    // /v1/explain, which explains each label's own logit exactly.
    let page = ureq::get(&format!("{url}/"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(page.contains("id=\"why-more\"") && page.contains("p.labels.map"));
    for label in ["money", "politics"] {
        let body =
            serde_json::json!({ "text": "the senate vote and the bank profit", "label": label });
        let answer = ureq::post(&format!("{url}/v1/explain"))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let e: serde_json::Value = serde_json::from_str(&answer).unwrap();
        let e = &e["explanation"];
        assert_eq!(e["label"], label);
        assert_eq!(e["explained"], textcnn::explain::EXPLAINED_MULTI_LABEL);
        let sum: f64 = e["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["contribution"].as_f64().unwrap())
            .sum::<f64>()
            + e["bias"].as_f64().unwrap();
        let logit = e["logit"].as_f64().unwrap();
        assert!((sum - logit).abs() < 1e-3 * (1.0 + logit.abs()), "{answer}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn multi_label_flags_are_refused_where_they_cannot_apply() {
    let dir0 = tempfile::tempdir().unwrap();
    let csv = dir0.path().join("t.csv");
    std::fs::write(&csv, "text,label\na b c,x|y\n").unwrap();
    let o = textcnn(&[
        "train",
        "--train",
        path(&csv),
        "--output",
        path(&dir0.path().join("m")),
        "--head",
        "single-label",
        "--label-sep",
        "|",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("the single-label head reads one label per text"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("t.csv");
    std::fs::write(&train, "text,label\na b c,x\n").unwrap();
    let out = dir.path().join("m");
    let o = textcnn(&[
        "train",
        "--train",
        path(&train),
        "--output",
        path(&out),
        "--label-columns",
        "a",
        "--label-column-prefix",
        "c_",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("either --label-columns or --label-column-prefix"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_bundle_with_bad_thresholds_is_refused_on_load() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&t.model).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let config_path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["multi_label"]["thresholds"] = serde_json::json!([0.5, 0.5]);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let e = format!("{:#}", Classifier::load(dir.path()).err().unwrap());
    assert!(
        e.contains("config.json") && e.contains("2 thresholds for 3 labels"),
        "{e}"
    );
    config["multi_label"]["thresholds"] = serde_json::json!([0.5, 1.5, 0.5]);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let e = format!("{:#}", Classifier::load(dir.path()).err().unwrap());
    assert!(e.contains("threshold 1 is 1.5"), "{e}");
}

/// `explain` on a multi-label `ngram-cnn` model decomposes each decided label's own logit (the
/// input of its sigmoid, not centered) exactly: windows + bias give the logit, whose sigmoid is
/// the label's probability, and every decided label is explained.
#[test]
fn explain_decomposes_each_decided_labels_logit() {
    let t = trained();
    let classifier = Classifier::load(&t.model).unwrap();
    for (text, _) in synthetic(12, 9) {
        let es = classifier.explain_decided(&text).unwrap();
        let p = &classifier.predict(&[text.as_str()])[0];
        let decided = classifier.decided_labels(p, None);
        let want: Vec<&str> = if decided.is_empty() {
            vec![classifier.labels()[textcnn::predict::argmax(&p.probabilities)].as_str()]
        } else {
            decided.iter().map(|d| d.0).collect()
        };
        let got: Vec<&str> = es.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(got, want, "{text}");
        for e in &es {
            assert_eq!(e.explained_as.short, "of the label's sigmoid");
            assert_eq!(e.explained(), textcnn::explain::EXPLAINED_MULTI_LABEL);
            assert!(
                (e.reconstructed_logit() - e.logit).abs() <= 1e-4 * (1.0 + e.logit.abs()),
                "{text}: windows + bias {} vs logit {}",
                e.reconstructed_logit(),
                e.logit
            );
            let sigmoid = 1.0 / (1.0 + (-e.logit).exp());
            assert!(
                (sigmoid - e.probability).abs() < 1e-5,
                "{text}: sigmoid(logit) {sigmoid} vs probability {}",
                e.probability
            );
            assert!((e.probability - p.probabilities[e.label_index]).abs() < 1e-6);
        }
    }
    // The CLI explains every decided label of a line.
    let out = ok(&[
        "explain",
        "--model",
        path(&t.model),
        "--text",
        "goal election today",
        "--json",
    ]);
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["explained"], textcnn::explain::EXPLAINED_MULTI_LABEL);
    }
    // The global view counts a text for every label it is given: texts of two topics count
    // twice, so the labels' text counts add up to the decided labels of the data.
    let global: serde_json::Value = serde_json::from_str(
        ok(&[
            "explain",
            "--model",
            path(&t.model),
            "--global",
            "--data",
            path(&t.test),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    let counted: u64 = global["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["texts"].as_u64().unwrap())
        .sum();
    let texts: Vec<String> = synthetic(80, 2).into_iter().map(|(t, _)| t).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let decided: usize = classifier
        .predict(&refs)
        .iter()
        .map(|p| classifier.decided_labels(p, None).len().max(1))
        .sum();
    assert_eq!(counted as usize, decided);
}

/// A multi-label run logs its epochs to TensorBoard like a single-label one, with the
/// validation micro-F1 (and the subset accuracy as `valid_acc`); the library printed nothing
/// itself (the CLI's printer wrote the epoch lines).
#[test]
fn multi_label_training_writes_tensorboard_scalars_with_micro_f1() {
    use textcnn::report::tensorboard;
    let t = trained();
    let files = tensorboard::event_files(&t.model.join("tb")).unwrap();
    assert_eq!(files.len(), 1);
    let scalars = tensorboard::scalars(&tensorboard::read_events(&files[0]).unwrap());
    let micro: Vec<(i64, f32)> = scalars
        .iter()
        .filter(|s| s.0 == "epoch/valid_micro_f1")
        .map(|s| (s.1, s.2))
        .collect();
    assert!(!micro.is_empty());
    // The same values as metrics.jsonl.
    let lines = std::fs::read_to_string(t.model.join("metrics.jsonl")).unwrap();
    let from_jsonl: Vec<(i64, f32)> = lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["epoch"].as_i64().unwrap(),
                v["valid_micro_f1"].as_f64().unwrap() as f32,
            )
        })
        .collect();
    assert_eq!(micro, from_jsonl);
    assert!(t.stderr.contains("micro-f1"), "{}", t.stderr);
}

/// The multi-label texts of `synthetic` as a dataset (label sets).
fn dataset(n: usize, seed: usize, name: &str) -> textcnn::data::Dataset {
    textcnn::data::Dataset {
        name: name.into(),
        examples: synthetic(n, seed)
            .into_iter()
            .map(|(text, labels)| textcnn::data::Example {
                text,
                labels: labels.into_iter().map(String::from).collect(),
                meta: None,
            })
            .collect(),
        ..textcnn::data::Dataset::default()
    }
}

/// Ctrl-C in a multi-label run stops it after the current batch with a resumable checkpoint,
/// as in a single-label run; `--resume` (here `TrainOptions::resume`) finishes it with the same
/// model, byte for byte, as the run that was never stopped (thresholds and test report
/// included). During the first epoch there is no model yet, only the checkpoint.
#[test]
fn an_interrupted_multi_label_run_resumes_to_the_same_model() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use textcnn::head::HeadKind;
    use textcnn::train::{
        ArchKind, EpochEnd, MessageKind, StopReason, TrainConfig, TrainData, TrainObserver,
        TrainOptions,
    };

    /// Sets the flag when epoch `after` ends; keeps the run's interruption notices.
    struct StopAfter {
        flag: Arc<AtomicBool>,
        after: usize,
        notices: Vec<String>,
    }
    impl TrainObserver for StopAfter {
        fn epoch_finished(&mut self, e: &EpochEnd) {
            if e.metrics.epoch == self.after {
                self.flag.store(true, Ordering::SeqCst);
            }
        }
        fn message(&mut self, kind: MessageKind, text: &str) {
            if kind == MessageKind::Interrupted {
                self.notices.push(text.to_string());
            }
        }
    }
    let (train, valid, test) = (
        dataset(120, 0, "train"),
        dataset(40, 1, "valid"),
        dataset(30, 2, "test"),
    );
    let data = TrainData {
        train: &train,
        valid: &valid,
        test: Some(&test),
    };
    let config = TrainConfig {
        arch: ArchKind::NgramCnn,
        epochs: Some(4),
        patience: Some(10),
        batch_size: 16,
        emb_dim: 8,
        feature_maps: 4,
        threads: 1,
        metric: textcnn::train::Metric::MicroF1,
        ..TrainConfig::default()
    };
    let tmp = tempfile::tempdir().unwrap();
    let (whole, stopped) = (tmp.path().join("whole"), tmp.path().join("stopped"));
    let options = |interrupt: Option<Arc<AtomicBool>>, resume: bool| TrainOptions {
        head: HeadKind::MultiLabel,
        interrupt,
        resume,
        ..TrainOptions::default()
    };
    let straight = textcnn::train::train(&config, &data, &whole, &options(None, false)).unwrap();
    assert_eq!(straight.stop, StopReason::Completed);
    let flag = Arc::new(AtomicBool::new(false));
    let mut stop = StopAfter {
        flag: flag.clone(),
        after: 2,
        notices: Vec::new(),
    };
    let first = textcnn::train::train_observed(
        &config,
        &data,
        &stopped,
        &options(Some(flag), false),
        &mut stop,
    )
    .unwrap();
    assert_eq!(first.stop, StopReason::Interrupted);
    assert_eq!(first.history.len(), 2);
    assert!(first.valid.is_none() && first.test.is_none());
    // Stopped between epochs (the flag set as epoch 2 ended), the run says so once, with the
    // command that continues it, as a stop within an epoch does.
    assert_eq!(
        stop.notices,
        [format!(
            "interrupted after epoch 2: the checkpoint is saved, and {} holds the best epoch so \
             far (the CNN alone: the n-gram branch is fitted when training ends), refused as \
             unfinished until the run ends; continue with `textcnn train --resume {}`",
            stopped.display(),
            stopped.display()
        )]
    );
    // The bundle holds the best epoch so far (the CNN, default thresholds), saved as
    // unfinished and refused (issue 29, H1) with the fix named.
    let partial: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stopped.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        partial["multi_label"]["thresholds"],
        serde_json::json!([0.5, 0.5, 0.5])
    );
    assert!(partial["ngram"].is_null());
    assert_eq!(
        partial["contents"],
        serde_json::json!({"model": "ngram-cnn", "head": "multi-label", "complete": false})
    );
    let err = Classifier::load(&stopped).err().unwrap().to_string();
    assert!(
        err.contains("is not a complete model")
            && err.contains(&format!("textcnn train --resume {}", stopped.display())),
        "{err}"
    );
    let resumed = textcnn::train::train(&config, &data, &stopped, &options(None, true)).unwrap();
    assert_eq!(resumed.stop, StopReason::Completed);
    assert_eq!(resumed.history.len(), 4);
    for file in [
        "model.safetensors",
        "vocab.txt",
        "ngram.safetensors",
        "report.json",
    ] {
        assert_eq!(
            crate::common::run_output(&whole, file).unwrap(),
            crate::common::run_output(&stopped, file).unwrap(),
            "{file}"
        );
    }
    let thresholds = |dir: &Path| -> serde_json::Value {
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        c["multi_label"].clone()
    };
    assert_eq!(thresholds(&whole), thresholds(&stopped));
    assert_eq!(
        straight.test.unwrap().headline(),
        resumed.test.unwrap().headline()
    );
}

/// Writes `rows` (text, labels) as fastText lines.
fn write_ft(path: &Path, rows: &[(String, Vec<&str>)]) {
    let mut ft = String::new();
    for (text, labels) in rows {
        for l in labels {
            ft.push_str(&format!("__label__{l} "));
        }
        ft.push_str(text);
        ft.push('\n');
    }
    std::fs::write(path, ft).unwrap();
}

fn config_of(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

/// `finetune` continues a multi-label model (its head, labels, thresholds re-tuned), with a
/// label the parent lacked (`--allow-new-labels`); `compare` sets parent and child side by side
/// with the multi-label figures.
#[test]
fn finetune_adds_a_label_to_a_multi_label_model_and_compare_shows_both() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    // The synthetic topics, and a fourth, weather, on every third text.
    let mut rows = synthetic(300, 4);
    for (i, (text, labels)) in rows.iter_mut().enumerate() {
        if i % 3 == 0 {
            text.push_str([" rain", " storm", " sunny"][i % 9 / 3]);
            labels.push("weather");
        }
    }
    let data = dir.path().join("new.ft");
    write_ft(&data, &rows);
    let child = dir.path().join("child");
    let args = [
        "finetune",
        "--model",
        path(&t.model),
        "--train",
        path(&data),
        "--output",
        path(&child),
        "--epochs",
        "4",
        "--lr",
        "0.01",
        "--threads",
        "2",
        "--quiet",
    ];
    let o = textcnn(&args);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-new-labels"));
    let mut with_new = args.to_vec();
    with_new.push("--allow-new-labels");
    ok(&with_new);
    let c = config_of(&child);
    assert_eq!(
        c["labels"],
        serde_json::json!(["money", "politics", "sport", "weather"])
    );
    assert_eq!(c["multi_label"]["thresholds"].as_array().unwrap().len(), 4);
    assert_eq!(
        c["training"]["transfer"]["finetune"]["new_labels"],
        serde_json::json!(["weather"])
    );
    assert!(c["parent"]["sha256"].is_string());
    assert!(child.join("parent_metrics.jsonl").is_file());
    let classifier = Classifier::load(&child).unwrap();
    let p = classifier.predict(&["the storm and the rain today", "the striker scored a goal"]);
    let names = |i: usize| -> Vec<&str> {
        classifier
            .decided_labels(&p[i], None)
            .iter()
            .map(|d| d.0)
            .collect()
    };
    assert!(names(0).contains(&"weather"), "{:?}", names(0));
    assert!(names(1).contains(&"sport"), "{:?}", names(1));

    let out = ok(&[
        "compare",
        "--models",
        &format!("{},{}", path(&t.model), path(&child)),
        "--data",
        path(&t.test),
    ]);
    for row in [
        "micro F1",
        "mean loss",
        "macro F1",
        "subset accuracy",
        "F1 sport",
        "F1 weather",
    ] {
        assert!(out.contains(row), "{row}: {out}");
    }
    let json: serde_json::Value = serde_json::from_str(
        ok(&[
            "compare",
            "--models",
            &format!("{},{}", path(&t.model), path(&child)),
            "--data",
            path(&t.test),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    // The parent's row is its eval report.
    let eval: serde_json::Value = eval_json(&t.model, &t.test);
    assert_eq!(json["models"][0]["report"], eval["report"]);
    assert_eq!(json["models"][0]["loss"], eval["loss"]);
}

/// The run's `report.html` and `eval --plots` show a multi-label model: its per-label table,
/// F1 bars and learning curves (with micro-F1), the decided label sets of the examples, no
/// confusion matrix.
#[test]
fn reports_and_plots_show_multi_label_scores() {
    let t = trained();
    let html = std::fs::read_to_string(t.model.join("report.html")).unwrap();
    assert!(html.contains("<b id=\"micro-f1\">"), "micro-F1 card");
    assert!(html.contains("id=\"test-micro-f1\""), "test card");
    assert!(html.contains("samples avg") && html.contains("valid micro F1"));
    assert!(!html.contains("id=\"confusion\""));
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    ok(&[
        "eval",
        "--model",
        path(&t.model),
        "--data",
        path(&t.test),
        "--plots",
        path(&plots),
    ]);
    let page = std::fs::read_to_string(plots.join("report.html")).unwrap();
    let eval: serde_json::Value = eval_json(&t.model, &t.test);
    let micro = eval["report"]["micro_avg"]["f1"].as_f64().unwrap();
    assert!(
        page.contains(&format!("<b id=\"micro-f1\">{micro:.4}</b>")),
        "micro-F1 {micro:.4} not on the page"
    );
    let mut svgs: Vec<String> = std::fs::read_dir(plots.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    svgs.sort();
    assert_eq!(svgs, ["learning_curves.svg", "per_class_f1.svg"]);
    let curves = std::fs::read_to_string(plots.join("plots/learning_curves.svg")).unwrap();
    assert!(curves.contains("valid micro-F1"));
    // The examples show label sets: a text with two topics lists both.
    assert!(
        page.contains("money, politics") || page.contains("politics, sport"),
        "label sets"
    );
}

/// `train --resume` continues an interrupted multi-label run recorded with its data specs and
/// label layout, and finishes it as the run that was never stopped.
#[test]
fn train_resume_finishes_an_interrupted_multi_label_run() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use textcnn::train::{DataSource, EpochEnd, RunRequest, TrainConfig, TrainObserver};
    struct StopAfterFirst(Arc<AtomicBool>);
    impl TrainObserver for StopAfterFirst {
        fn epoch_finished(&mut self, _: &EpochEnd) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train.jsonl");
    let mut jsonl = String::new();
    for (text, labels) in synthetic(160, 6) {
        jsonl.push_str(&serde_json::json!({ "text": text, "labels": labels }).to_string());
        jsonl.push('\n');
    }
    std::fs::write(&data, jsonl).unwrap();
    let config = TrainConfig {
        arch: textcnn::train::ArchKind::Kim,
        epochs: Some(3),
        emb_dim: 8,
        feature_maps: 4,
        threads: 1,
        ..TrainConfig::default()
    };
    let request = |out: &Path| RunRequest {
        train: Some(DataSource::Spec(path(&data).to_string())),
        ..RunRequest::new(config.clone(), out)
    };
    let (whole, stopped) = (dir.path().join("whole"), dir.path().join("stopped"));
    request(&whole)
        .prepare()
        .unwrap()
        .train(&mut textcnn::train::Silent, None)
        .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let mut run = request(&stopped).prepare().unwrap();
    assert_eq!(run.head(), textcnn::head::HeadKind::MultiLabel);
    let first = run
        .train(&mut StopAfterFirst(flag.clone()), Some(flag))
        .unwrap();
    assert_eq!(first.stop, textcnn::train::StopReason::Interrupted);
    drop(run);
    let o = textcnn(&["train", "--resume", path(&stopped), "--epochs", "5"]);
    assert!(!o.status.success(), "settings are refused on --resume");
    ok(&["train", "--resume", path(&stopped), "--quiet"]);
    for file in ["model.safetensors", "vocab.txt", "metrics.jsonl"] {
        let (a, b) = (
            crate::common::run_output(&whole, file).unwrap(),
            crate::common::run_output(&stopped, file).unwrap(),
        );
        if file == "metrics.jsonl" {
            // Timings differ; the epochs' figures do not.
            let strip = |v: &[u8]| -> Vec<serde_json::Value> {
                String::from_utf8_lossy(v)
                    .lines()
                    .map(|l| {
                        let mut m: serde_json::Value = serde_json::from_str(l).unwrap();
                        m.as_object_mut().unwrap().remove("seconds");
                        m.as_object_mut().unwrap().remove("examples_per_s");
                        m
                    })
                    .collect()
            };
            assert_eq!(strip(&a), strip(&b));
        } else {
            assert_eq!(a, b, "{file}");
        }
    }
    assert_eq!(
        config_of(&whole)["multi_label"],
        config_of(&stopped)["multi_label"]
    );
    assert_eq!(
        config_of(&stopped)["training"]["run"]["head"],
        "multi-label"
    );
}

/// A multi-label model starts from another bundle's embedding and filters (`--init-from`,
/// `--init-conv`) or from word vectors (`--pretrained`), as a single-label one does.
#[test]
fn init_from_init_conv_and_pretrained_work_for_multi_label_training() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.ft");
    write_ft(&train, &synthetic(120, 7));
    let out = dir.path().join("init");
    ok(&[
        "train",
        "--train",
        path(&train),
        "--output",
        path(&out),
        "--init-from",
        path(&t.model),
        "--init-conv",
        "--arch",
        "kim",
        "--feature-maps",
        "8",
        "--region-sizes",
        "2,3",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--quiet",
    ]);
    let c = config_of(&out);
    assert!(c["multi_label"].is_object());
    assert_eq!(c["architecture"]["emb_dim"], 16, "the source's width");
    assert!(
        c["training"]["transfer"]["init_from"]["found"]
            .as_u64()
            .unwrap()
            > 5
    );
    let vectors = dir.path().join("vectors.txt");
    let words = ["goal", "match", "election", "bank", "the", "news"];
    let mut text = format!("{} 4\n", words.len());
    for (i, w) in words.iter().enumerate() {
        text.push_str(&format!("{w} {} 0.5 -0.25 0.125\n", i as f32 / 10.0));
    }
    std::fs::write(&vectors, text).unwrap();
    let out = dir.path().join("pretrained");
    ok(&[
        "train",
        "--train",
        path(&train),
        "--output",
        path(&out),
        "--pretrained",
        path(&vectors),
        "--arch",
        "kim",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--quiet",
    ]);
    let c = config_of(&out);
    assert_eq!(c["architecture"]["emb_dim"], 4);
    assert_eq!(c["training"]["transfer"]["pretrained"]["found"], 6);
    assert!(c["multi_label"].is_object());
}

/// `data split` keeps every label of multi-label data (JSONL `labels`, one shuffle), and
/// `data stats` counts them; both read JSONL label lists and `--label-sep` CSV files.
#[test]
fn data_split_and_stats_keep_every_label() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("d.ft");
    write_ft(&src, &synthetic(40, 1));
    let (first, second) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    ok(&[
        "data",
        "split",
        path(&src),
        "--fraction",
        "0.25",
        "--first",
        path(&first),
        "--second",
        path(&second),
    ]);
    let rows = |p: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (a, b) = (rows(&first), rows(&second));
    assert_eq!((a.len(), b.len()), (30, 10));
    let mut all: Vec<(String, Vec<String>)> = a
        .iter()
        .chain(&b)
        .map(|r| {
            let labels = r["labels"].as_array().unwrap();
            let labels = labels
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect();
            (r["text"].as_str().unwrap().to_string(), labels)
        })
        .collect();
    all.sort();
    let mut want: Vec<(String, Vec<String>)> = synthetic(40, 1)
        .into_iter()
        .map(|(t, mut l)| {
            l.sort();
            (t, l.into_iter().map(String::from).collect())
        })
        .collect();
    want.sort();
    assert_eq!(all, want);
    // The second file is itself multi-label data: stats counts every label.
    let stats = ok(&["data", "stats", path(&second)]);
    assert!(
        stats.contains("labels per row") || stats.contains("(unlabeled)"),
        "{stats}"
    );
    let csv = dir.path().join("d.csv");
    std::fs::write(
        &csv,
        "text,label\n\"a goal\",\"sport|money\"\nbanks,money|politics\nplain,\n",
    )
    .unwrap();
    let stats = ok(&["data", "stats", path(&csv), "--label-sep", "|"]);
    assert!(
        stats.contains("money                             2    66.7%"),
        "{stats}"
    );
    assert!(stats.contains("labels per row     1.333"), "{stats}");
    assert!(
        stats.contains("(unlabeled)                       1"),
        "{stats}"
    );
}
