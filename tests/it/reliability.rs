//! Issue 29: a bundle is complete or it is refused (H1, L8, format 1 bundles), a Ctrl-C in the
//! n-gram stage stops it (L5), `--resume` of a finished run has nothing to do (L6), what a
//! crashed first save or an interrupted save leaves is cleared, and an indicator column
//! without a positive row is named (L3). The kill-anywhere harness is `kill_anywhere.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{TINY_FLAGS, TopicFiles, topic_files, topic_lines};
use textcnn::head::HeadKind;
use textcnn::train::{
    DataSource, EpochEnd, RunRequest, Stage, StopReason, TrainConfig, TrainObserver,
};

fn textcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(args)
        .env_remove("TEXTCNN_FAULT_AT")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `args`, which must fail with `needle` in its message.
fn fails_with(args: &[&str], needle: &str) -> String {
    let o = textcnn(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded: {}", stdout(&o));
    assert!(err.contains(needle), "{args:?}: {err}");
    err
}

fn succeeds(args: &[&str]) -> Output {
    let o = textcnn(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    o
}

type Files = TopicFiles;

fn files(dir: &Path, multi: bool) -> Files {
    topic_files(dir, multi, 11, 20)
}

/// Tiny, deterministic settings (ngram-cnn, two epochs, one thread).
fn tiny_config() -> TrainConfig {
    TrainConfig {
        epochs: Some(2),
        threads: 1,
        emb_dim: 8,
        feature_maps: 4,
        batch_size: 16,
        ..TrainConfig::default()
    }
}

/// The CLI flags of [`tiny_config`].
const TINY: [&str; 10] = TINY_FLAGS;

/// `textcnn train` of `f` into `out` with the [`TINY`] settings.
fn train_args<'a>(f: &'a Files, out: &'a str) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--train",
        f.train.to_str().unwrap(),
        "--test",
        f.test.to_str().unwrap(),
        "--output",
        out,
        "--quiet",
    ];
    args.extend(TINY);
    args
}

/// Trains `f` into `out` with the CLI (uninterrupted).
fn train_cli(f: &Files, out: &Path, multi: bool) {
    let mut args = train_args(f, out.to_str().unwrap());
    if multi {
        args.push("--multi-label");
    }
    succeeds(&args);
}

/// Sets the flag (as Ctrl-C does) when the last epoch ends, or when a stage starts.
struct StopAt {
    flag: Arc<AtomicBool>,
    epoch: Option<usize>,
    stage: Option<Stage>,
}

impl TrainObserver for StopAt {
    fn epoch_finished(&mut self, e: &EpochEnd) {
        if Some(e.metrics.epoch) == self.epoch {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
    fn stage_started(&mut self, stage: Stage) {
        if Some(stage) == self.stage {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

/// Trains `f` into `out` through the run entry (as the CLI does, so that `--resume` can
/// continue it), setting the stop flag as `stop` says; returns how the run ended.
fn train_stopped(
    f: &Files,
    out: &Path,
    multi: bool,
    epoch: Option<usize>,
    stage: Option<Stage>,
) -> StopReason {
    train_stopped_on(f, out, (multi, 1), epoch, stage)
}

/// [`train_stopped`] on `threads` threads.
fn train_stopped_on(
    f: &Files,
    out: &Path,
    (multi, threads): (bool, usize),
    epoch: Option<usize>,
    stage: Option<Stage>,
) -> StopReason {
    run_stopped(tiny_request(f, out, (multi, threads)), f, epoch, stage)
}

/// The run entry's request for `f`'s training and test files into `out`, [`tiny_config`] on
/// `threads` threads; the settings TINY gives on the command line are marked as given, so that
/// the small-data rule of the CNN leaves them as the CLI run does.
fn tiny_request(f: &Files, out: &Path, (multi, threads): (bool, usize)) -> RunRequest {
    let config = TrainConfig {
        threads,
        ..tiny_config()
    };
    let mut request = RunRequest::new(config, out);
    request.explicit = ["epochs", "threads", "emb_dim", "feature_maps", "batch_size"]
        .map(String::from)
        .into();
    request.head = Some(if multi {
        HeadKind::MultiLabel
    } else {
        HeadKind::SingleLabel
    });
    request.train = Some(DataSource::Spec(f.train.to_str().unwrap().to_string()));
    request.test = Some(DataSource::Spec(f.test.to_str().unwrap().to_string()));
    request
}

/// Runs `request` on `f`'s training and test files, setting the stop flag (as Ctrl-C does)
/// when epoch `epoch` ends or stage `stage` starts; returns how the run ended.
fn run_stopped(
    mut request: RunRequest,
    f: &Files,
    epoch: Option<usize>,
    stage: Option<Stage>,
) -> StopReason {
    request.train = Some(DataSource::Spec(f.train.to_str().unwrap().to_string()));
    request.test = Some(DataSource::Spec(f.test.to_str().unwrap().to_string()));
    let mut run = request.prepare().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let mut observer = StopAt {
        flag: flag.clone(),
        epoch,
        stage,
    };
    run.train(&mut observer, Some(flag)).unwrap().stop
}

fn predict(model: &Path, texts: &Path) -> Output {
    textcnn(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        texts.to_str().unwrap(),
        "--json",
    ])
}

/// `serve --model dir` must exit at once with `needle` (a server that started is stopped and
/// the test fails).
fn serve_refuses(dir: &Path, needle: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(["serve", "--model", dir.to_str().unwrap(), "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Polls for the exit; a refused model exits within milliseconds, so 30 s only bounds a
    // server that started (a failure).
    let mut status = None;
    for _ in 0..300 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if status.is_none() {
        child.kill().unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        status.is_some(),
        "serve started on a refused model: {}",
        stderr(&o)
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains(needle), "{}", stderr(&o));
}

/// Issue 29, H1: a run stopped once every epoch is done but before its n-gram branch is fitted
/// (as a `kill -9`, an OOM kill or a second Ctrl-C in the n-gram stage leaves it) left a folder
/// that loaded as a plain Kim CNN, with no warning. Its bundle says it is unfinished; predict,
/// eval, explain, serve, compare, finetune, export and `--init-from` refuse it naming the fix,
/// and `--resume` finishes it to the model of the run that was never stopped. For both heads.
#[test]
fn a_run_stopped_before_its_ngram_branch_is_refused_everywhere_until_resumed() {
    for multi in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let f = files(tmp.path(), multi);
        let whole = tmp.path().join("whole");
        train_cli(&f, &whole, multi);
        let stopped = tmp.path().join("stopped");
        let stop = train_stopped(&f, &stopped, multi, Some(2), None);
        assert_eq!(stop, StopReason::Interrupted);
        let d = stopped.to_str().unwrap();
        let fix = format!("finish the run with `textcnn train --resume {d}`");
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(stopped.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["format_version"], 2);
        assert_eq!(config["contents"]["model"], "ngram-cnn");
        assert_eq!(config["contents"]["complete"], false);
        assert!(config.get("ngram").is_none());
        let (train, texts) = (f.train.to_str().unwrap(), f.texts.to_str().unwrap());
        let out = tmp.path().join("x");
        let out = out.to_str().unwrap();
        for args in [
            vec!["predict", "--model", d, "--input", texts],
            vec!["eval", "--model", d, "--data", train],
            vec!["explain", "--model", d, "--input", texts],
            vec!["compare", "--models", d, "--data", train],
            vec!["finetune", "--model", d, "--train", train, "--output", out],
            vec!["export-vectors", "--model", d, "--output", out],
            vec!["train", "--train", train, "--output", out, "--init-from", d],
        ] {
            let err = fails_with(&args, &fix);
            assert!(err.contains("is not a complete model"), "{args:?}: {err}");
            assert!(err.contains("without its n-gram branch"), "{args:?}: {err}");
            assert!(!Path::new(out).join("config.json").exists());
        }
        serve_refuses(&stopped, &fix);
        assert!(textcnn::predict::Classifier::load(&stopped).is_err());
        // --resume fits the branch (no epoch again) and gives the uninterrupted run's model.
        let o = succeeds(&["train", "--resume", d]);
        assert!(
            stderr(&o).contains("resuming after epoch 2"),
            "{}",
            stderr(&o)
        );
        assert_same_model(&whole, &stopped);
        assert_eq!(
            stdout(&predict(&whole, &f.texts)),
            stdout(&predict(&stopped, &f.texts))
        );
    }
}

/// Issue 29, L5: one Ctrl-C in the n-gram stage said a checkpoint was being saved, then the
/// stage ran to its end (19 s on news20) and the run reported a finished model. The stage now
/// stops at the fit's next iteration: the run ends interrupted with nothing of the branch
/// written, the folder refused, and `--resume` fits the branch to the uninterrupted model.
#[test]
fn ctrl_c_in_the_ngram_stage_stops_it_and_resume_fits_the_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let whole = tmp.path().join("whole");
    train_cli(&f, &whole, false);
    let stopped = tmp.path().join("stopped");
    let stop = train_stopped(&f, &stopped, false, None, Some(Stage::NgramBranch));
    assert_eq!(stop, StopReason::Interrupted);
    refused_until_resumed_to(&f, &stopped, &whole);
}

/// `--arch ngram` stopped in its n-gram stage: it said `--resume` fits the branch, but it had
/// written no checkpoint, so `--resume` found nothing to resume. It now writes one (without
/// epochs), and `--resume` fits the branch to the uninterrupted model.
#[test]
fn an_ngram_run_stopped_in_its_branch_resumes_to_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let run_to = |out: &Path, stage: Option<Stage>| {
        let config = TrainConfig {
            arch: textcnn::train::ArchKind::Ngram,
            threads: 1,
            ..TrainConfig::default()
        };
        run_stopped(RunRequest::new(config, out), &f, None, stage)
    };
    let whole = tmp.path().join("whole");
    assert_eq!(run_to(&whole, None), StopReason::Completed);
    let stopped = tmp.path().join("stopped");
    let stop = run_to(&stopped, Some(Stage::NgramBranch));
    assert_eq!(stop, StopReason::Interrupted);
    assert!(stopped.join("checkpoint/state.json").is_file());
    refused_until_resumed_to(&f, &stopped, &whole);
}

/// `other`'s bundle, n-gram branch and report are those of `whole`, byte for byte (the report's
/// run-dependent fields aside, see [`crate::common::run_output`]).
fn assert_same_model(whole: &Path, other: &Path) {
    for file in ["model.safetensors", "ngram.safetensors", "report.json"] {
        assert_eq!(
            crate::common::run_output(whole, file).unwrap(),
            crate::common::run_output(other, file).unwrap(),
            "{file} of {}",
            other.display()
        );
    }
}

/// A run `stopped` (interrupted before its n-gram branch was written) is refused by `predict`
/// naming `--resume`, and `--resume` finishes it to the bundle, branch and report of `whole`.
fn refused_until_resumed_to(f: &Files, stopped: &Path, whole: &Path) {
    assert!(!stopped.join("ngram.safetensors").exists());
    assert!(!stopped.join("report.json").exists());
    let d = stopped.to_str().unwrap();
    let texts = f.texts.to_str().unwrap();
    fails_with(
        &["predict", "--model", d, "--input", texts],
        &format!("`textcnn train --resume {d}`"),
    );
    succeeds(&["train", "--resume", d, "--quiet"]);
    assert_same_model(whole, stopped);
}

/// `--resume` after the training file was edited: the run went on with the new texts (unless
/// the edit changed the vocabulary), mixing two datasets in one model without a word. It is
/// refused, naming the file and both fingerprints, and continues once the file is restored.
#[test]
fn resume_refuses_training_data_changed_since_the_run_started() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let whole = tmp.path().join("whole");
    train_cli(&f, &whole, false);
    let stopped = tmp.path().join("stopped");
    let stop = train_stopped(&f, &stopped, false, Some(1), None);
    assert_eq!(stop, StopReason::Interrupted);
    let original = std::fs::read_to_string(&f.train).unwrap();
    let lines = original.lines().count();
    // One more example (a copy of the last line): every existing text unchanged.
    let last = original.lines().last().unwrap();
    std::fs::write(&f.train, format!("{original}{last}\n")).unwrap();
    let d = stopped.to_str().unwrap();
    let err = fails_with(
        &["train", "--resume", d],
        &format!(
            "{}: the training data changed since the run started",
            f.train.display()
        ),
    );
    assert!(err.contains("crc32c"), "{err}");
    assert!(err.contains("textcnn train --output NEW_DIR"), "{err}");
    // The same number of examples, one text edited.
    let edited = original.replacen(last, &last.replace(' ', "  x "), 1);
    assert_eq!(edited.lines().count(), lines);
    std::fs::write(&f.train, edited).unwrap();
    fails_with(
        &["train", "--resume", d],
        "data changed since the run started",
    );
    // Restored: the refusals changed nothing, and the run finishes to the uninterrupted model.
    std::fs::write(&f.train, &original).unwrap();
    succeeds(&["train", "--resume", d, "--quiet"]);
    assert_same_model(&whole, &stopped);
    // A validation file of its own: its change is named by its name.
    // The test file's format and name, under another name (the format follows the extension).
    let name = f.test.file_name().unwrap().to_str().unwrap();
    let valid = tmp.path().join(format!("valid-{name}"));
    std::fs::copy(&f.test, &valid).unwrap();
    let with_valid = tmp.path().join("with_valid");
    let mut request = RunRequest::new(tiny_config(), &with_valid);
    request.valid = Some(DataSource::Spec(valid.to_str().unwrap().to_string()));
    let stop = run_stopped(request, &f, Some(1), None);
    assert_eq!(stop, StopReason::Interrupted);
    let text = std::fs::read_to_string(&valid).unwrap();
    std::fs::write(&valid, format!("{text}{}\n", text.lines().last().unwrap())).unwrap();
    fails_with(
        &["train", "--resume", with_valid.to_str().unwrap()],
        &format!(
            "{}: the validation data changed since the run started",
            valid.display()
        ),
    );
    // Gone: the reader's error, and what --resume reads.
    std::fs::remove_file(&valid).unwrap();
    let err = fails_with(
        &["train", "--resume", with_valid.to_str().unwrap()],
        &valid.display().to_string(),
    );
    assert!(
        err.contains(
            "--resume reads the data the run started with, as it named them: restore them"
        ),
        "{err}"
    );
    // A checkpoint without fingerprints (made before they existed) resumes, saying it cannot
    // check the data.
    std::fs::write(&valid, &text).unwrap();
    let state = with_valid.join("checkpoint/state.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(json["run"]["fingerprints"]["valid"].is_string());
    json["run"].as_object_mut().unwrap().remove("fingerprints");
    std::fs::write(&state, serde_json::to_string(&json).unwrap()).unwrap();
    let o = succeeds(&["train", "--resume", with_valid.to_str().unwrap()]);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("the checkpoint records no fingerprint of its data"),
        "{all}"
    );
}

/// Makes `metrics.jsonl` a folder holding a file when epoch `at` ends, before its saves (as a
/// full disk or a folder made read-only would fail them; a folder fails the rename for root too).
struct BreakSavesAt {
    output: PathBuf,
    at: usize,
}

impl TrainObserver for BreakSavesAt {
    fn epoch_finished(&mut self, e: &EpochEnd) {
        if e.metrics.epoch == self.at {
            let metrics = self.output.join("metrics.jsonl");
            // Absent before the first epoch ends.
            let _ = std::fs::remove_file(&metrics);
            std::fs::create_dir(&metrics).unwrap();
            std::fs::write(metrics.join("x"), "x").unwrap();
        }
    }
}

/// Trains `f` into `out` with the saves of epoch `at` failing ([`BreakSavesAt`]); returns the
/// run's error, its causes included.
fn failing_saves_at(f: &Files, out: &Path, at: usize) -> String {
    let mut run = tiny_request(f, out, (false, 1)).prepare().unwrap();
    let mut observer = BreakSavesAt {
        output: out.to_path_buf(),
        at,
    };
    let Err(err) = run.train(&mut observer, None) else {
        panic!("the run succeeded with metrics.jsonl a folder")
    };
    format!("{err:#}")
}

/// A save that fails at the end of a later epoch (a full disk) said only what failed, not that
/// the checkpoint of the epoch before is intact and `--resume` continues from it. It says so,
/// and `--resume` then finishes the run to the model of a run that never failed.
#[test]
fn a_save_failing_after_the_first_epoch_names_the_intact_checkpoint_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let whole = tmp.path().join("whole");
    train_cli(&f, &whole, false);
    let broken = tmp.path().join("broken");
    let message = failing_saves_at(&f, &broken, 2);
    let d = broken.to_str().unwrap();
    assert!(message.contains("metrics.jsonl"), "{message}");
    assert!(
        message.ends_with(&format!(
            "the checkpoint after epoch 1 is intact: make room (or fix the folder) and continue \
             with `textcnn train --resume {d}`"
        )),
        "{message}"
    );
    std::fs::remove_dir_all(broken.join("metrics.jsonl")).unwrap();
    succeeds(&["train", "--resume", d, "--quiet"]);
    assert_same_model(&whole, &broken);

    // In the first epoch: no checkpoint yet; the same command again clears what the run left.
    let first = tmp.path().join("first");
    let message = failing_saves_at(&f, &first, 1);
    assert!(
        message.ends_with(
            "no checkpoint was written yet, so there is nothing to resume: make room (or fix the \
             folder) and start the run again with the same --output (what this one left there is \
             cleared)"
        ),
        "{message}"
    );
    std::fs::remove_dir_all(first.join("metrics.jsonl")).unwrap();
    train_cli(&f, &first, false);
    assert_same_model(&whole, &first);
}

/// Every file of `dir` (recursively) with its bytes and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
            out.push((p.clone(), std::fs::read(&p).unwrap(), modified));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Issue 29, L6: `--resume` of a finished run refitted the n-gram branch and rewrote the
/// bundle. It says there is nothing to do, exits 0 and touches no file (a finished run drops
/// its checkpoint, issue 31).
#[test]
fn resuming_a_finished_run_has_nothing_to_do_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let out = tmp.path().join("m");
    train_cli(&f, &out, false);
    let before = snapshot(&out);
    let o = succeeds(&["train", "--resume", out.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("nothing to do")
            && stdout(&o).contains("already finished (its checkpoint was dropped when it ended)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(snapshot(&out), before);
    // A checkpoint kept with --keep-checkpoint stays through a plain --resume of the finished run.
    let kept = tmp.path().join("kept");
    let mut args = train_args(&f, kept.to_str().unwrap());
    args.push("--keep-checkpoint");
    succeeds(&args);
    assert!(kept.join("checkpoint/kept").is_file());
    let before = snapshot(&kept);
    let o = succeeds(&["train", "--resume", kept.to_str().unwrap()]);
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
    assert_eq!(snapshot(&kept), before);
}

/// Issue 29, L8: removing `"files"` from `config.json` made the bundle load unverified (a
/// swapped vocabulary then flipped predictions). A bundle without hashes is refused, and so is
/// one whose `"files"` lacks a part; a bundle whose config was edited to drop its n-gram branch
/// (`"ngram"` and its hashes) is refused by its `"contents"`.
#[test]
fn a_bundle_without_file_hashes_or_with_edited_contents_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let out = tmp.path().join("m");
    train_cli(&f, &out, false);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundles/single");
    let texts = f.texts.to_str().unwrap();
    let edited = |from: &Path, name: &str, edit: &dyn Fn(&mut serde_json::Value)| -> PathBuf {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.path().is_file() {
                std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
            }
        }
        let mut c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        edit(&mut c);
        std::fs::write(dir.join("config.json"), c.to_string()).unwrap();
        dir
    };
    // `predict` of `dir` fails with `needle`.
    let refused = |dir: &Path, needle: &str| {
        fails_with(
            &[
                "predict",
                "--model",
                dir.to_str().unwrap(),
                "--input",
                texts,
            ],
            needle,
        );
    };
    let no_files = |c: &mut serde_json::Value| {
        c.as_object_mut().unwrap().remove("files");
    };
    for (from, name) in [(&out, "new"), (&fixture, "old")] {
        let dir = edited(from, &format!("{name}-no-files"), &no_files);
        refused(&dir, "no \"files\" (the SHA-256 of the model's files)");
        let dir = edited(from, &format!("{name}-no-vocab-hash"), &|c| {
            c["files"].as_object_mut().unwrap().remove("vocab.txt");
        });
        refused(&dir, "\"files\" has no hash of vocab.txt");
    }
    let drop_branch = |c: &mut serde_json::Value| {
        c.as_object_mut().unwrap().remove("ngram");
        let files = c["files"].as_object_mut().unwrap();
        files.remove("ngram.safetensors");
        files.remove("ngram_tokens.txt");
    };
    let dir = edited(&out, "new-no-branch", &drop_branch);
    refused(
        &dir,
        "\"contents\" says the model is ngram-cnn but it has no n-gram branch",
    );
    let dir = edited(&out, "new-other-head", &|c| {
        c["contents"]["head"] = "multi-label".into();
    });
    refused(&dir, "\"contents\" says the head is multi-label");
    // A format 1 bundle (the fixture) without its branch: a run of an older textcnn killed
    // before the branch was fitted.
    let dir = edited(&fixture, "old-no-branch", &drop_branch);
    refused(
        &dir,
        "its settings say ngram-cnn but it has no n-gram branch",
    );
}

/// Issue 29, format 1 bundles: one whose folder holds a checkpoint saying the run stopped
/// mid-epoch, or before its `--epochs` were done, is refused as unfinished (the fix named);
/// one whose checkpoint says every epoch was done loads and predicts as before.
#[test]
fn a_format_1_bundle_with_an_unfinished_checkpoint_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundles");
    let texts = fixtures.join("texts.txt");
    let want = stdout(&predict(&fixtures.join("single"), &texts));
    // The fixture's run: --epochs 3, patience 2.
    for (epoch, step, bad, refused) in [
        (2, 3, 0, Some("stopped in epoch 2, after batch 3")),
        (3, 0, 0, Some("stopped after epoch 2 of 3")),
        (4, 0, 0, None),
        (3, 0, 2, None),
    ] {
        let dir = tmp.path().join(format!("e{epoch}-b{step}-{bad}"));
        std::fs::create_dir_all(dir.join("checkpoint")).unwrap();
        for e in std::fs::read_dir(fixtures.join("single")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        let state = serde_json::json!({
            "config": config["training"]["config"],
            "run": config["training"]["run"],
            "progress": {"epoch": epoch, "step": step, "loss_sum": 0.0, "correct": 0, "seen": 0,
                         "history": [], "best": null, "bad_epochs": bad},
            "tensors": "state-e1-b0.safetensors",
        });
        std::fs::write(dir.join("checkpoint/state.json"), state.to_string()).unwrap();
        let o = predict(&dir, &texts);
        match refused {
            Some(why) => {
                let err = stderr(&o);
                assert!(!o.status.success(), "{epoch} {step}");
                assert!(err.contains(why), "{err}");
                assert!(
                    err.contains(&format!("textcnn train --resume {}", dir.display())),
                    "{err}"
                );
            }
            None => assert_eq!(stdout(&o), want, "{}", stderr(&o)),
        }
    }
}

/// Issue 29, "partly fixed before": a crash in the first save after some files were renamed
/// left a folder that neither `--resume` ("cannot read …/checkpoint/state.json") nor a new
/// `train` ("holds metrics.jsonl") accepted. `--resume` says to start again, and `train` removes
/// what the killed run left (named) and trains.
#[test]
fn a_run_killed_in_its_first_save_is_cleared_by_a_new_run() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let whole = tmp.path().join("whole");
    train_cli(&f, &whole, false);
    // Killed after metrics.jsonl and model.safetensors were renamed; and killed after the
    // unfinished config.json and the checkpoint's tensors, before its state.
    let layouts: [&[&str]; 2] = [
        &["metrics.jsonl", "model.safetensors"],
        &[
            "metrics.jsonl",
            "model.safetensors",
            "vocab.txt",
            "checkpoint/state-e2-b0.safetensors",
        ],
    ];
    for (i, layout) in layouts.iter().enumerate() {
        let out = tmp.path().join(format!("m{i}"));
        std::fs::create_dir_all(out.join("checkpoint")).unwrap();
        std::fs::write(out.join(".textcnn.lock"), b"").unwrap();
        for file in *layout {
            std::fs::write(out.join(file), b"half a save").unwrap();
        }
        if i == 1 {
            let mut c: serde_json::Value =
                serde_json::from_slice(&std::fs::read(whole.join("config.json")).unwrap()).unwrap();
            c["contents"]["complete"] = false.into();
            std::fs::write(out.join("config.json"), c.to_string()).unwrap();
        }
        let d = out.to_str().unwrap();
        fails_with(
            &["train", "--resume", d],
            &format!("start it again with `textcnn train --output {d}`"),
        );
        fails_with(
            &[
                "predict",
                "--model",
                d,
                "--input",
                f.texts.to_str().unwrap(),
            ],
            &format!("`textcnn train --output {d}` removes what was left"),
        );
        let o = textcnn(&train_args(&f, d));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("only what an interrupted run left behind")
                && stderr(&o).contains("metrics.jsonl"),
            "{}",
            stderr(&o)
        );
        assert_eq!(
            std::fs::read(whole.join("model.safetensors")).unwrap(),
            std::fs::read(out.join("model.safetensors")).unwrap()
        );
    }
    // A model of the user's is never such a leftover: a complete bundle without a checkpoint.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    for e in std::fs::read_dir(&whole).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), mine.join(e.file_name())).unwrap();
        }
    }
    fails_with(
        &[
            "train",
            "--train",
            f.train.to_str().unwrap(),
            "--output",
            mine.to_str().unwrap(),
        ],
        "already holds a model",
    );
}

/// Issue 29, "partly fixed before": temporary files of an interrupted save
/// (`.model.safetensors.<pid>.tmp`) stayed after a resume. `--resume` removes them, and
/// checkpoint tensors that its state does not name, saying so.
#[test]
fn resume_removes_what_interrupted_saves_left() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let out = tmp.path().join("m");
    assert_eq!(
        train_stopped(&f, &out, false, Some(1), None),
        StopReason::Interrupted
    );
    let stale = [
        ".model.safetensors.4242.tmp",
        ".config.json.4242.tmp",
        "checkpoint/.state.json.77.tmp",
        "checkpoint/state-e9-b9.safetensors",
    ];
    for s in stale {
        std::fs::write(out.join(s), b"stale").unwrap();
    }
    std::fs::write(out.join(".notes.tmp"), b"mine").unwrap();
    // --keep-checkpoint: the finished run keeps its checkpoint, whose stale files are gone.
    let o = succeeds(&[
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--quiet",
        "--keep-checkpoint",
    ]);
    for s in stale {
        assert!(!out.join(s).exists(), "{s}");
        let name = s.rsplit('/').next().unwrap();
        assert!(stderr(&o).contains(name), "{}", stderr(&o));
    }
    assert!(out.join(".notes.tmp").exists());
    let tensors: Vec<String> = std::fs::read_dir(out.join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    assert_eq!(tensors.len(), 1, "{tensors:?}");
}

/// Issue 29, L3: a multi-label indicator column with no row at 1 was dropped silently (the
/// model had no output for it). The reader names it, and `train` and `data stats` show it.
#[test]
fn an_indicator_column_without_a_positive_row_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("tags.csv");
    let mut rows = String::from("text,tag_sport,tag_money,tag_never\n");
    for line in topic_lines(80, 21, true).lines() {
        let words: Vec<&str> = line.split(' ').filter(|w| !w.starts_with("__")).collect();
        let sport = u8::from(line.contains("__label__sport"));
        let money = u8::from(line.contains("__label__money"));
        rows.push_str(&format!("{},{sport},{money},0\n", words.join(" ")));
    }
    std::fs::write(&csv, rows).unwrap();
    let c = csv.to_str().unwrap();
    let want = "indicator column \"tag_never\" (label \"never\") has no row with 1";
    let o = succeeds(&["data", "stats", c, "--label-column-prefix", "tag_"]);
    assert!(
        stderr(&o).contains(want) || stdout(&o).contains(want),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let out = tmp.path().join("m");
    let mut args = vec![
        "train",
        "--train",
        c,
        "--label-column-prefix",
        "tag_",
        "--output",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend(TINY);
    let o = succeeds(&args);
    assert!(stderr(&o).contains(want), "{}", stderr(&o));
    let labels = textcnn::predict::Classifier::load(&out)
        .unwrap()
        .labels()
        .to_vec();
    assert_eq!(labels, ["money", "sport"]);
}

/// With more than one thread, the n-gram branch is fitted beside the CNN's epochs (a rayon task
/// of the run's pool); with one, after them. The bundle, its branch and the report must be the
/// same byte for byte either way, for both heads. A Ctrl-C in the first of two epochs on 2
/// threads halts the branch with the CNN: the run ends interrupted, no branch is written, and
/// `--resume` finishes it to the same model.
#[test]
fn the_branch_fitted_beside_the_epochs_gives_the_model_of_one_fitted_after_them() {
    for multi in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let f = files(tmp.path(), multi);
        let after = tmp.path().join("after");
        train_cli(&f, &after, multi);
        let beside = tmp.path().join("beside");
        let d = beside.to_str().unwrap();
        let mut args = train_args(&f, d);
        let at = args.iter().position(|a| *a == "--threads").unwrap();
        args[at + 1] = "2";
        if multi {
            args.push("--multi-label");
        }
        let o = succeeds(&args);
        assert!(stderr(&o).is_empty(), "{}", stderr(&o));
        let files = ["model.safetensors", "ngram.safetensors", "report.json"];
        for file in files {
            assert_eq!(
                crate::common::run_output(&after, file).unwrap(),
                crate::common::run_output(&beside, file).unwrap(),
                "{file}, multi-label {multi}"
            );
        }
        // Only the cost differs: the branch's own fit time, and where it ran.
        let branch_cost = |dir: &Path| -> serde_json::Value {
            let report = std::fs::read(dir.join("report.json")).unwrap();
            let report: serde_json::Value = serde_json::from_slice(&report).unwrap();
            report["cost"]["ngram_branch"].clone()
        };
        for (dir, beside) in [(&after, false), (&beside, true)] {
            let cost = branch_cost(dir);
            assert_eq!(cost["beside_epochs"], beside, "{cost}");
            assert!(cost["seconds"].as_f64().is_some_and(|s| s > 0.0), "{cost}");
        }
        let stopped = tmp.path().join("stopped");
        let stop = train_stopped_on(&f, &stopped, (multi, 2), Some(1), None);
        assert_eq!(stop, StopReason::Interrupted);
        refused_until_resumed_to(&f, &stopped, &after);
    }
}

/// A Ctrl-C in the first epoch, before any epoch ended, leaves only a checkpoint: the run says
/// the folder holds no model yet, `predict` names `--resume` (it suggested a new
/// `train --output`, which refuses the non-empty folder), and `--resume` finishes the run to
/// the uninterrupted model. On 2 threads, so the n-gram branch spawned beside the epochs is
/// halted.
#[test]
fn a_run_stopped_before_its_first_epoch_ended_names_resume_and_resumes_to_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let f = files(tmp.path(), false);
    let whole = tmp.path().join("whole");
    train_cli(&f, &whole, false);
    let stopped = tmp.path().join("stopped");
    let stop = train_stopped_on(&f, &stopped, (false, 2), None, Some(Stage::Fit));
    assert_eq!(stop, StopReason::Interrupted);
    assert!(stopped.join("checkpoint/state.json").is_file());
    assert!(!stopped.join("config.json").exists());
    let d = stopped.to_str().unwrap();
    let err = fails_with(
        &[
            "predict",
            "--model",
            d,
            "--input",
            f.texts.to_str().unwrap(),
        ],
        &format!("finish the run with `textcnn train --resume {d}`"),
    );
    assert!(err.contains("holds no model yet"), "{err}");
    refused_until_resumed_to(&f, &stopped, &whole);
}
