//! Issue 16 (and the observer of issue 11): a run reports its stages and epochs to observers,
//! the TensorBoard event file holds the run's scalars and settings (read back record by record),
//! and the pictures and `report.html` show the saved model's real metrics; the CLI (not the
//! training) writes them by default, `eval --plots` and `compare --curves` on demand, and `serve` links the report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use textcnn::data::{Dataset, Example};
use textcnn::head::Targets;
use textcnn::predict::Classifier;
use textcnn::report::{self, TensorBoardWriter, tensorboard};
use textcnn::train::{
    EpochEnd, MessageKind, Observers, RunStart, Stage, StepEvent, TrainConfig, TrainData,
    TrainObserver, TrainOptions, label_ids, train, train_observed,
};

/// Texts of filler words, one cue word and a word of their own; three classes, with
/// `neutral` texts given a `pos` cue one time in five so that the model makes some errors.
fn synthetic(n: usize, seed: usize) -> Dataset {
    let filler = ["the", "film", "was", "a", "story", "of", "and", "it"];
    let cues = [["great", "superb"], ["awful", "boring"], ["fine", "okay"]];
    let labels = ["pos", "neg", "neutral"];
    let examples = (0..n)
        .map(|i| {
            let k = i * 7 + seed * 13;
            let class = i % 3;
            let cue = if class == 2 && k.is_multiple_of(5) {
                "great"
            } else {
                cues[class][k % 2]
            };
            let len = 5 + k % 7;
            let mut words: Vec<&str> = (0..len).map(|j| filler[(k + j * 3) % 8]).collect();
            words.insert(k % len, cue);
            // A word of this example only: what a model that saw the example can memorise.
            let id = format!("id{seed}x{i}");
            words.push(&id);
            Example::new(words.join(" "), labels[class].to_string())
        })
        .collect();
    Dataset {
        name: format!("synthetic-{seed}"),
        examples,
        ..Dataset::default()
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        arch: textcnn::train::ArchKind::Kim,
        epochs: Some(3),
        batch_size: 16,
        emb_dim: 16,
        feature_maps: 8,
        region_sizes: vec![2, 3],
        patience: Some(10),
        threads: 2,
        lr: 3e-3,
        ..TrainConfig::default()
    }
}

/// Records every event as a line.
#[derive(Default)]
struct Recorder {
    lines: Vec<String>,
    steps: Vec<StepEvent>,
}

impl TrainObserver for Recorder {
    fn stage_started(&mut self, stage: Stage) {
        self.lines.push(format!("start {}", stage.name()));
    }
    fn stage_finished(&mut self, stage: Stage, seconds: f64) {
        assert!(seconds >= 0.0);
        self.lines.push(format!("end {}", stage.name()));
    }
    fn run_started(&mut self, run: &RunStart) {
        self.lines.push(format!(
            "run {} epochs, {} labels, lr {}",
            run.max_epochs,
            run.labels.len(),
            run.hyperparameters["lr"]
        ));
    }
    fn epoch_started(&mut self, epoch: usize, max_epochs: usize, _steps: usize, done: usize) {
        self.lines
            .push(format!("epoch {epoch}/{max_epochs} from {done}"));
    }
    fn step(&mut self, e: &StepEvent) {
        self.steps.push(*e);
    }
    fn epoch_finished(&mut self, e: &EpochEnd) {
        self.lines.push(format!("epoch {} done", e.metrics.epoch));
    }
    fn checkpoint_written(&mut self, _dir: &Path, epoch: usize, best: bool) {
        if best {
            self.lines.push(format!("best {epoch}"));
        }
    }
    fn message(&mut self, kind: MessageKind, text: &str) {
        let head = text.split(':').next().unwrap_or("");
        self.lines.push(format!("{kind:?} {head}"));
    }
}

#[test]
fn observers_see_the_stages_and_tensorboard_holds_the_metrics() {
    let (tr, va) = (synthetic(300, 1), synthetic(90, 2));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut recorder = Recorder::default();
    let mut tb = TensorBoardWriter::deferred(&dir.path().join("tb"), 5);
    let options = TrainOptions::default();
    let outcome = {
        let mut all = Observers::new();
        all.push(&mut recorder);
        all.push(&mut tb);
        train_observed(&config(), &data, &out, &options, &mut all).unwrap()
    };
    let tb_file = tb.finish().unwrap().expect("an event file");
    // Training writes no report; its caller does, from the outcome (as `textcnn train`).
    assert!(!out.join(report::REPORT_HTML).exists());
    let classifier = Classifier::load(&out).unwrap();
    let run_report = report::RunReport::of_run(&classifier, &outcome, &data).unwrap();
    report::write_run_report(&out, &run_report).unwrap();

    // Stages in order, around the epochs; every improvement saved the bundle.
    let mut want: Vec<String> = vec![
        "start prepare data".into(),
        "Info data".into(),
        "end prepare data".into(),
        "start build model".into(),
        "Info model".into(),
        "end build model".into(),
        "run 3 epochs, 3 labels, lr 0.003000000026077032".into(),
        "start fit".into(),
    ];
    for m in &outcome.history {
        want.push(format!("epoch {}/3 from 0", m.epoch));
        want.push(format!("epoch {} done", m.epoch));
        if outcome.history[..m.epoch - 1]
            .iter()
            .all(|b| m.valid_acc > b.valid_acc)
        {
            want.push(format!("best {}", m.epoch));
        }
    }
    want.extend(["end fit", "start final report", "end final report"].map(String::from));
    assert_eq!(recorder.lines, want);
    // 300 examples in batches of 16: 19 steps per epoch, numbered on across epochs.
    assert_eq!(recorder.steps.len(), 3 * 19);
    assert_eq!(recorder.steps[20].global_step, 21);
    assert_eq!((recorder.steps[20].epoch, recorder.steps[20].step), (2, 2));

    // The event file: version record, settings, then step and epoch scalars equal to what
    // the run measured.
    let events = tensorboard::read_events(&tb_file).unwrap();
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    let hp = &events[1].summary.as_ref().unwrap().value[0];
    assert_eq!(hp.tag, tensorboard::HPARAMS_TAG);
    let content = &hp
        .metadata
        .as_ref()
        .unwrap()
        .plugin_data
        .as_ref()
        .unwrap()
        .content;
    let start = <tensorboard::HParamsPluginData as prost::Message>::decode(content.as_slice())
        .unwrap()
        .session_start_info
        .unwrap();
    assert_eq!(start.hparams["batch_size"].number_value, Some(16.0));
    assert_eq!(start.hparams["arch"].string_value.as_deref(), Some("kim"));
    let scalars = tensorboard::scalars(&events);
    let of = |tag: &str| -> Vec<(i64, f32)> {
        scalars
            .iter()
            .filter(|s| s.0 == tag)
            .map(|s| (s.1, s.2))
            .collect()
    };
    let valid_acc: Vec<(i64, f32)> = outcome
        .history
        .iter()
        .map(|m| (m.epoch as i64, m.valid_acc as f32))
        .collect();
    assert_eq!(of("epoch/valid_acc"), valid_acc);
    let train_loss: Vec<(i64, f32)> = outcome
        .history
        .iter()
        .map(|m| (m.epoch as i64, m.train_loss as f32))
        .collect();
    assert_eq!(of("epoch/train_loss"), train_loss);
    // Every 5th global step and each epoch's last (19, 38, 57), with the batch loss.
    let steps: Vec<i64> = of("step/train_loss").iter().map(|s| s.0).collect();
    assert_eq!(
        steps,
        [5, 10, 15, 19, 20, 25, 30, 35, 38, 40, 45, 50, 55, 57]
    );
    let s20 = recorder.steps.iter().find(|s| s.global_step == 20).unwrap();
    assert_eq!(of("step/train_loss")[4], (20, s20.loss as f32));
    assert_eq!(of("step/lr")[0], (5, 3e-3));

    // The pictures and the page show the saved model on the validation data.
    let texts: Vec<&str> = va.examples.iter().map(|e| e.text.as_str()).collect();
    let y = Targets::classes(3, label_ids(&va, classifier.labels()).unwrap());
    let acc = classifier.evaluate(&texts, &y).1.headline();
    assert_eq!(acc, outcome.valid.as_ref().unwrap().scores.headline());
    let html = std::fs::read_to_string(out.join(report::REPORT_HTML)).unwrap();
    assert!(
        html.contains(&format!("<b id=\"accuracy\">{acc:.4}</b>")),
        "accuracy {acc:.4} not on the page"
    );
    assert_eq!(html.matches("<svg ").count(), 4, "curves, F1, 2 confusion");
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    // The shown examples are highlighted by `explain`: the first one's words, marks removed,
    // are its original text, and its contributions are the explanation's.
    assert!(html.contains("id=\"highlight-legend\""));
    let first = html
        .split("<div class=\"hl\">")
        .nth(1)
        .expect("a highlighted example");
    let first = &first[..first.find("</div>").unwrap()];
    let plain = first
        .split('<')
        .map(|part| part.split_once('>').map_or(part, |(_, rest)| rest))
        .collect::<String>()
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'");
    assert!(
        texts.contains(&plain.as_str()),
        "{plain:?} is not a validation text"
    );
    let e = classifier.explain(&plain, None).unwrap();
    let top = e
        .tokens
        .iter()
        .max_by(|a, b| a.contribution.abs().total_cmp(&b.contribution.abs()))
        .unwrap();
    assert!(
        first.contains(&format!("{:+.4}", top.contribution)),
        "the strongest token's contribution {:+.4} is not on the page",
        top.contribution
    );
    for name in [
        "learning_curves",
        "confusion_matrix",
        "confusion_matrix_normalized",
        "per_class_f1",
    ] {
        let svg = std::fs::read_to_string(out.join("plots").join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    }
    let best = outcome.best.unwrap().epoch;
    let curves = std::fs::read_to_string(out.join("plots/learning_curves.svg")).unwrap();
    assert!(curves.contains(&format!(">best epoch {best}</text>")));
}

#[test]
fn training_through_train_is_silent_and_writes_no_report() {
    let (tr, va) = (synthetic(60, 1), synthetic(30, 2));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        epochs: Some(1),
        ..config()
    };
    train(&config, &data, dir.path(), &TrainOptions::default()).unwrap();
    assert!(!dir.path().join(report::REPORT_HTML).exists());
    assert!(!dir.path().join("plots").exists());
}

fn textcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(args)
        .output()
        .expect("run textcnn")
}

fn write_ft(dir: &Path, name: &str, ds: &Dataset) -> PathBuf {
    let path = dir.join(name);
    let text: String = ds
        .examples
        .iter()
        .map(|e| format!("__label__{} {}\n", e.label(), e.text))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn train_cli(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let train = write_ft(dir, "train.ft", &synthetic(240, 1));
    let valid = write_ft(dir, "valid.ft", &synthetic(60, 2));
    let out = dir.join(name);
    let args = [
        "train",
        "--train",
        train.to_str().unwrap(),
        "--valid",
        valid.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--arch",
        "kim",
        "--epochs",
        "2",
        "--emb-dim",
        "8",
        "--feature-maps",
        "4",
        "--threads",
        "2",
    ];
    let o = textcnn(&[&args[..], extra].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn the_cli_writes_tensorboard_logs_plots_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_cli(dir.path(), "a", &[]);
    let tb = tensorboard::event_files(&run.join("tb")).unwrap();
    assert_eq!(tb.len(), 1);
    let epochs: Vec<i64> = tensorboard::scalars(&tensorboard::read_events(&tb[0]).unwrap())
        .into_iter()
        .filter(|s| s.0 == "epoch/valid_loss")
        .map(|s| s.1)
        .collect();
    assert_eq!(epochs, [1, 2]);
    assert!(run.join("report.html").is_file());
    assert!(run.join("plots/per_class_f1.svg").is_file());

    // --tensorboard elsewhere: nothing in the run's tb/.
    let logs = dir.path().join("logs");
    let b = train_cli(
        dir.path(),
        "b",
        &[
            "--tensorboard",
            logs.to_str().unwrap(),
            "--lr",
            "0.01",
            "--quiet",
        ],
    );
    assert!(!b.join("tb").exists());
    assert_eq!(tensorboard::event_files(&logs).unwrap().len(), 1);

    // eval --plots: the same pictures for other data, with the model's curves.
    let test = write_ft(dir.path(), "test.ft", &synthetic(45, 3));
    let plots = dir.path().join("eval-plots");
    let o = textcnn(&[
        "eval",
        "--model",
        run.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
        "--json",
        "--plots",
        plots.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let acc = json["report"]["accuracy"].as_f64().unwrap();
    // The model's own folder is refused: its training report would be replaced.
    let before = std::fs::read(run.join("report.html")).unwrap();
    let o = textcnn(&[
        "eval",
        "--model",
        run.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
        "--plots",
        run.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a model bundle folder"));
    assert_eq!(std::fs::read(run.join("report.html")).unwrap(), before);
    let html = std::fs::read_to_string(plots.join("report.html")).unwrap();
    assert!(html.contains(&format!("<b id=\"accuracy\">{acc:.4}</b>")));
    assert!(html.contains("<h2>Evaluation on "));
    assert!(plots.join("plots/learning_curves.svg").is_file());

    // compare --curves: both runs on one chart, without --data.
    let chart = dir.path().join("curves.svg");
    let o = textcnn(&[
        "compare",
        "--models",
        &format!("{},{}", run.display(), b.display()),
        "--curves",
        chart.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 6);
    assert!(svg.contains(&format!(">{}</text>", run.display())));
    // An existing chart is kept unless --force; a model's own folder is refused.
    let o = textcnn(&[
        "compare",
        "--models",
        &format!("{},{}", run.display(), b.display()),
        "--curves",
        chart.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    let inside = run.join("curves.svg");
    let o = textcnn(&[
        "compare",
        "--models",
        &format!("{},{}", run.display(), b.display()),
        "--curves",
        inside.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("inside the model bundle"));
    assert!(!inside.exists());
    let elsewhere = tempfile::tempdir().unwrap();
    let chart2 = elsewhere.path().join("curves.svg");
    let o = textcnn(&[
        "compare",
        "--models",
        &format!("{},{}", run.display(), dir.path().display()),
        "--curves",
        chart2.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no metrics.jsonl"));
}

#[test]
fn a_failed_run_leaves_no_tensorboard_folder_behind() {
    let dir = tempfile::tempdir().unwrap();
    let train = write_ft(dir.path(), "train.ft", &synthetic(200, 1));
    let out = dir.path().join("run");
    // The learning rate makes the loss overflow in the first epoch (at its second batch),
    // after the event file was opened.
    let o = textcnn(&[
        "train",
        "--train",
        train.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--arch",
        "kim",
        "--lr",
        "1e30",
        "--optimizer",
        "sgd",
        "--quiet",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the training loss became"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !out.exists(),
        "{:?}",
        std::fs::read_dir(&out).map(|d| d.count())
    );
}

/// `GET path` on `addr` over a plain connection: (status, body).
/// `--tensorboard DIR` that cannot be written is an error before training, naming the flag
/// (it was a warning after the whole run), and the run leaves no output folder.
#[test]
fn an_unwritable_tensorboard_folder_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let train = write_ft(dir.path(), "train.ft", &synthetic(60, 1));
    let out = dir.path().join("run");
    // A regular file where the folder should be.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let tb = blocker.join("tb");
    let o = textcnn(&[
        "train",
        "--train",
        train.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--tensorboard",
        tb.to_str().unwrap(),
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.starts_with(&format!("error: --tensorboard {}", tb.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("epoch"), "{stderr}");
    assert!(!out.exists());
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |b| b.1).to_string();
    (status, body)
}

/// Starts `textcnn serve` on `model` and returns the child and its address.
fn serve(model: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(["serve", "--model", model.to_str().unwrap(), "--port", "0"])
        .args(["--threads", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    (child, addr)
}

#[test]
fn serve_links_and_serves_the_bundles_report() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_cli(dir.path(), "a", &["--quiet"]);
    let (mut child, addr) = serve(&run);
    let (status, page) = http_get(&addr, "/report");
    let (_, index) = http_get(&addr, "/");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
    assert_eq!(
        page,
        std::fs::read_to_string(run.join("report.html")).unwrap()
    );
    assert!(index.contains(r#"<a href="/report">training report</a>"#));

    std::fs::remove_file(run.join("report.html")).unwrap();
    let (mut child, addr) = serve(&run);
    let (status, body) = http_get(&addr, "/report");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 404);
    assert!(body.contains("this model has no report.html"), "{body}");
}

/// The n-gram branch of `ngram-cnn` is refitted on training + validation texts, so the page
/// shows the mixture's validation predictions from before that refit: its accuracy is the
/// `mixed` validation accuracy recorded in the bundle, not the (seen-data) accuracy of the
/// saved model on the validation texts.
#[test]
fn an_ngram_cnn_report_shows_held_out_validation_predictions() {
    let (tr, va) = (synthetic(300, 1), synthetic(90, 2));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        arch: textcnn::train::ArchKind::NgramCnn,
        epochs: Some(1),
        ..config()
    };
    let options = TrainOptions::default();
    let mut recorder = Recorder::default();
    let outcome = train_observed(&config, &data, dir.path(), &options, &mut recorder).unwrap();
    let mixed = outcome.ngram_valid.unwrap();
    // The saved model has seen the validation texts: it scores higher on them.
    let classifier = Classifier::load(dir.path()).unwrap();
    let run_report = report::RunReport::of_run(&classifier, &outcome, &data).unwrap();
    report::write_run_report(dir.path(), &run_report).unwrap();
    let texts: Vec<&str> = va.examples.iter().map(|e| e.text.as_str()).collect();
    let y = Targets::classes(3, label_ids(&va, classifier.labels()).unwrap());
    let seen_acc = classifier.evaluate(&texts, &y).1.headline();
    assert!(seen_acc > mixed, "{seen_acc} vs {mixed}");
    let html = std::fs::read_to_string(dir.path().join(report::REPORT_HTML)).unwrap();
    assert!(
        html.contains(&format!("<b id=\"accuracy\">{mixed:.4}</b>")),
        "mixed {mixed:.4}"
    );
    let stages: Vec<&String> = recorder
        .lines
        .iter()
        .filter(|l| l.starts_with("start "))
        .collect();
    assert_eq!(
        stages,
        [
            "start prepare data",
            "start build model",
            "start fit",
            "start n-gram branch",
            "start final report"
        ]
    );
}

/// Issue 29, L1: `eval --plots DIR` replaced an existing DIR/report.html without `--force`. It
/// is refused, naming the file, and nothing in DIR is written; `--force` replaces it.
#[test]
fn eval_plots_keeps_an_existing_report_unless_force() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_cli(dir.path(), "a", &["--quiet"]);
    let test = write_ft(dir.path(), "test.ft", &synthetic(45, 3));
    let plots = dir.path().join("plots-dir");
    std::fs::create_dir(&plots).unwrap();
    let report = plots.join("report.html");
    std::fs::write(&report, "mine").unwrap();
    let eval = |extra: &[&str]| {
        textcnn(
            &[
                &[
                    "eval",
                    "--model",
                    run.to_str().unwrap(),
                    "--data",
                    test.to_str().unwrap(),
                    "--plots",
                    plots.to_str().unwrap(),
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    let o = eval(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!(
            "--plots: {} already exists; give another folder or --force to replace it",
            report.display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "mine");
    assert!(
        !plots.join("plots").exists(),
        "no picture is written either"
    );
    let o = eval(&["--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("<h2>Evaluation on ")
    );
    // A new folder needs no --force.
    let fresh = dir.path().join("fresh");
    let o = textcnn(&[
        "eval",
        "--model",
        run.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
        "--plots",
        fresh.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(fresh.join("report.html").is_file());
}
