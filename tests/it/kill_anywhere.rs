//! Issue 29's kill-anywhere harness: `textcnn train`, `train --resume`, `finetune` and a
//! multi-label `train` are killed (`SIGKILL`, as `kill -9` or an OOM kill) at named points
//! through the hidden fault hook (`TEXTCNN_FAULT_AT=<point>:<n>`, see `textcnn::fault`), never
//! by sleeping. Each folder left behind must either be refused by `predict` with a message
//! naming the fix (`textcnn train --resume DIR`, or a new `textcnn train --output DIR`), or
//! predict exactly as the uninterrupted run; the fix must then finish it to the uninterrupted
//! run's bundle (the same weights, vocabulary, n-gram branch and config, timings aside, and the
//! same predictions to the byte), leaving no temporary file or stale checkpoint tensor behind.
//! A complete folder's `--resume` says "nothing to do".
//!
//! Kill points covered, for each of the four runs (tiny data, `--epochs 2`), and for an
//! `--arch ngram` run (no epochs: its renames, the n-gram stage and the last rename):
//!
//! * before every atomic rename of the run (`rename:1`, `rename:2`, ... until the run
//!   ends unkilled): each file of each save — `metrics.jsonl`, the unfinished bundle of each
//!   improving epoch (`model.safetensors`, `vocab.txt`, `config.json`), each checkpoint
//!   (tensors, `state.json`), the fine-tuned run's `parent_metrics.jsonl`, and the final save
//!   (`report.json`, the weights, the vocabulary, the n-gram branch's two files, `config.json`):
//!   so also between every two renames of a save;
//! * after the last rename (every file written, the run's `report.html` included; the
//!   final `config.json` is followed by the CLI's report pictures and page, each a rename of
//!   the sweep);
//! * after the first training batch, and after a batch of epoch 2;
//! * at the end of each epoch's batches (before validation and its saves), and after each
//!   epoch's checkpoint;
//! * inside the n-gram stage: after its first logistic-regression fit and after its last one
//!   (the refit on all texts), and (`ngram-fit:2`) between two fits.
//!
//! The `--resume` run resumes a run killed at the end of epoch 2's batches, and is itself
//! killed at every rename and in the n-gram stage, then resumed again.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{TINY_FLAGS, TopicFiles, topic_files, topic_lines};

fn textcnn(args: &[String], fault: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_textcnn"));
    // `textcnn::fault::FAULT_ENV`.
    cmd.args(args).env_remove("TEXTCNN_FAULT_AT");
    if let Some(f) = fault {
        cmd.env("TEXTCNN_FAULT_AT", f);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The settings every run of the harness uses: tiny and deterministic.
fn settings() -> Vec<String> {
    let mut s = strings(&TINY_FLAGS);
    s.push("--quiet".to_string());
    s
}

/// The command line of a run, given its output folder.
type CommandOf<'a> = Box<dyn Fn(&Path) -> Vec<String> + 'a>;

/// A run of the harness: its command (given the output folder), and what the uninterrupted run
/// gave.
struct Scenario<'a> {
    name: &'a str,
    command: CommandOf<'a>,
    texts: &'a Path,
    /// The uninterrupted run's folder.
    reference: PathBuf,
    /// Its predictions (`predict --json`).
    predictions: String,
}

impl<'a> Scenario<'a> {
    /// Runs `command` uninterrupted into `root/<name>-reference`.
    fn new(
        name: &'a str,
        root: &Path,
        texts: &'a Path,
        command: impl Fn(&Path) -> Vec<String> + 'a,
    ) -> Scenario<'a> {
        let reference = root.join(format!("{name}-reference"));
        let o = textcnn(&command(&reference), None);
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        let predictions = predict(&reference, texts).expect("the reference predicts");
        Scenario {
            name,
            command: Box::new(command),
            texts,
            reference,
            predictions,
        }
    }

    /// Runs the scenario's command into `dir` with the fault `point`; `false` when the point
    /// was never reached (the run ended normally: then `dir` must be the reference).
    fn kill(&self, dir: &Path, point: &str) -> bool {
        let o = textcnn(&(self.command)(dir), Some(point));
        self.killed(o, dir, point)
    }

    /// Whether `o` is a run killed by the hook; one that ended normally must have made the
    /// reference.
    fn killed(&self, o: Output, dir: &Path, point: &str) -> bool {
        if o.status.success() {
            self.assert_reference(dir, point);
            return false;
        }
        assert_eq!(
            o.status.signal(),
            Some(9),
            "{} {point}: not killed by the hook: {:?} {}",
            self.name,
            o.status,
            text(&o.stderr)
        );
        true
    }

    /// The folder a kill left: refused with the fix named, or the reference; then the fix
    /// (or, for a complete folder, `--resume`'s "nothing to do") finishes it to the reference.
    fn check(&self, dir: &Path, point: &str) {
        let what = format!("{} {point}", self.name);
        let d = dir.to_str().unwrap();
        match predict(dir, self.texts) {
            Ok(p) => {
                assert_eq!(
                    p, self.predictions,
                    "{what}: a complete folder must predict as the reference"
                );
                let o = textcnn(&strings(&["train", "--resume", d]), None);
                assert!(o.status.success(), "{what}: {}", text(&o.stderr));
                assert!(
                    text(&o.stdout).contains("nothing to do"),
                    "{what}: {}",
                    text(&o.stdout)
                );
            }
            Err(err) => {
                let resume = format!("textcnn train --resume {d}");
                let again = format!("textcnn train --output {d}");
                let fix = if err.contains(&resume) {
                    strings(&["train", "--resume", d])
                } else if err.contains(&again) {
                    (self.command)(dir)
                } else {
                    panic!("{what}: the refusal names no fix: {err}")
                };
                let o = textcnn(&fix, None);
                assert!(o.status.success(), "{what}: {fix:?}: {}", text(&o.stderr));
            }
        }
        self.assert_reference(dir, point);
    }

    /// `dir` holds the reference's bundle and predicts as it does, with no leftover of an
    /// interrupted save.
    fn assert_reference(&self, dir: &Path, point: &str) {
        let what = format!("{} {point}", self.name);
        assert_eq!(
            predict(dir, self.texts).unwrap_or_else(|e| panic!("{what}: {e}")),
            self.predictions,
            "{what}"
        );
        for file in [
            "model.safetensors",
            "vocab.txt",
            "ngram.safetensors",
            "ngram_tokens.txt",
            "report.json",
        ] {
            assert_eq!(
                crate::common::run_output(dir, file),
                crate::common::run_output(&self.reference, file),
                "{what}: {file}"
            );
        }
        assert_eq!(config(dir), config(&self.reference), "{what}: config.json");
        // One checkpoint tensor file, as the reference (none for `--arch ngram`: no epochs).
        let tensor_files =
            |names: &[String]| names.iter().filter(|n| n.ends_with(".safetensors")).count();
        let checkpoint: Vec<String> = names(&dir.join("checkpoint"));
        assert_eq!(
            tensor_files(&checkpoint),
            tensor_files(&names(&self.reference.join("checkpoint"))),
            "{what}: {checkpoint:?}"
        );
        for n in names(dir).iter().chain(&checkpoint) {
            assert!(!n.ends_with(".tmp"), "{what}: {n} left behind");
        }
    }

    /// Kills the run before each of its renames in turn, then at the other points; checks
    /// and repairs each folder. Returns the number of renames of an uninterrupted run.
    fn sweep(&self, root: &Path, others: &[&str]) -> usize {
        self.sweep_at_least(root, others, 15)
    }

    /// [`Scenario::sweep`] of a run with at least `min_renames` renames.
    fn sweep_at_least(&self, root: &Path, others: &[&str], min_renames: usize) -> usize {
        let mut renames = 0;
        for n in 1.. {
            let point = format!("rename:{n}");
            let dir = root.join(format!("{}-{point}", self.name).replace(':', "-"));
            if !self.kill(&dir, &point) {
                break;
            }
            self.check(&dir, &point);
            renames = n;
        }
        assert!(
            renames >= min_renames,
            "{}: only {renames} renames",
            self.name
        );
        let last = format!("renamed:{renames}");
        for point in others.iter().map(|p| p.to_string()).chain([last]) {
            let dir = root.join(format!("{}-{point}", self.name).replace(':', "-"));
            assert!(
                self.kill(&dir, &point),
                "{} {point}: not reached",
                self.name
            );
            self.check(&dir, &point);
        }
        renames
    }
}

/// `predict --json` of `texts` with the bundle in `dir`: its output, or its error.
fn predict(dir: &Path, texts: &Path) -> Result<String, String> {
    let o = textcnn(
        &strings(&[
            "predict",
            "--model",
            dir.to_str().unwrap(),
            "--input",
            texts.to_str().unwrap(),
            "--json",
        ]),
        None,
    );
    if o.status.success() {
        Ok(text(&o.stdout))
    } else {
        Err(text(&o.stderr))
    }
}

/// `config.json` without its timings (the best epoch's seconds and speed).
fn config(dir: &Path) -> serde_json::Value {
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    for key in ["seconds", "examples_per_s"] {
        c["best"][key] = serde_json::Value::Null;
    }
    c
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Copies the folder `from` (files and folders, recursively) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The data of the harness in `root`: training, test and prediction files.
type Files = TopicFiles;

fn files(root: &Path, multi: bool) -> Files {
    topic_files(root, multi, 1, 30)
}

/// The `train` command of `f` into `output`.
fn train_command(f: &Files, extra: &[&str]) -> impl Fn(&Path) -> Vec<String> {
    let (train, test) = (f.train.clone(), f.test.clone());
    let extra = strings(extra);
    move |output: &Path| {
        let mut args = strings(&["train", "--train"]);
        args.push(train.to_str().unwrap().to_string());
        args.extend(strings(&["--test"]));
        args.push(test.to_str().unwrap().to_string());
        args.extend(strings(&["--output", output.to_str().unwrap()]));
        args.extend(settings());
        args.extend(extra.iter().cloned());
        args
    }
}

/// The kill points besides the renames (see the module documentation).
const POINTS: [&str; 9] = [
    "step:1",
    "step:12",
    "epoch:1",
    "checkpoint:1",
    "epoch:2",
    "checkpoint:2",
    "ngram-fit:1",
    "ngram-fit:2",
    "ngram-fit:3",
];

#[test]
fn a_single_label_train_killed_anywhere_is_refused_or_whole_and_resumes_to_the_same_model() {
    let root = tempfile::tempdir().unwrap();
    let f = files(root.path(), false);
    let s = Scenario::new("train", root.path(), &f.texts, train_command(&f, &[]));
    s.sweep(root.path(), &POINTS);
}

#[test]
fn a_multi_label_train_killed_anywhere_is_refused_or_whole_and_resumes_to_the_same_model() {
    let root = tempfile::tempdir().unwrap();
    let f = files(root.path(), true);
    let s = Scenario::new(
        "multi",
        root.path(),
        &f.texts,
        train_command(&f, &["--multi-label"]),
    );
    s.sweep(root.path(), &POINTS);
}

/// `--arch ngram` (the n-gram branch alone): no epochs and no checkpoint, so a folder killed
/// before its final `config.json` is refused naming a new run, which clears it.
#[test]
fn an_ngram_only_train_killed_anywhere_is_refused_or_whole_and_retrains_to_the_same_model() {
    let root = tempfile::tempdir().unwrap();
    let f = files(root.path(), false);
    // No network: none of the CNN's settings.
    let command = |output: &Path| {
        let mut args = strings(&["train", "--arch", "ngram", "--threads", "1", "--quiet"]);
        for (flag, path) in [
            ("--train", &f.train),
            ("--test", &f.test),
            ("--output", &output.to_path_buf()),
        ] {
            args.extend([flag.to_string(), path.to_str().unwrap().to_string()]);
        }
        args
    };
    let s = Scenario::new("ngram", root.path(), &f.texts, command);
    s.sweep_at_least(
        root.path(),
        &["ngram-fit:1", "ngram-fit:2", "ngram-fit:3"],
        6,
    );
}

#[test]
fn a_finetune_killed_anywhere_is_refused_or_whole_and_resumes_to_the_same_model() {
    let root = tempfile::tempdir().unwrap();
    let f = files(root.path(), false);
    let parent = root.path().join("parent");
    let o = textcnn(&train_command(&f, &[])(&parent), None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let more = root.path().join("more.ft");
    std::fs::write(&more, topic_lines(120, 4, false)).unwrap();
    let finetune = |output: &Path| {
        let mut args = strings(&["finetune", "--model", parent.to_str().unwrap()]);
        args.extend(strings(&["--train", more.to_str().unwrap()]));
        args.extend(strings(&["--test", f.test.to_str().unwrap()]));
        args.extend(strings(&["--output", output.to_str().unwrap()]));
        args.extend(strings(&[
            "--epochs",
            "2",
            "--threads",
            "1",
            "--batch-size",
            "16",
            "--quiet",
        ]));
        args
    };
    let s = Scenario::new("finetune", root.path(), &f.texts, finetune);
    s.sweep(
        root.path(),
        &["step:1", "epoch:2", "checkpoint:1", "ngram-fit:1"],
    );
}

#[test]
fn a_resumed_run_killed_anywhere_is_refused_or_whole_and_resumes_to_the_same_model() {
    let root = tempfile::tempdir().unwrap();
    let f = files(root.path(), false);
    let command = train_command(&f, &[]);
    let s = Scenario::new("resume", root.path(), &f.texts, &command);
    // A run killed at the end of epoch 2's batches: epoch 1's bundle (unfinished) and
    // checkpoint.
    let stopped = root.path().join("stopped");
    assert!(s.kill(&stopped, "epoch:2"));
    let err = predict(&stopped, &f.texts).unwrap_err();
    assert!(
        err.contains("is not a complete model") && err.contains("--resume"),
        "{err}"
    );
    let resume = |dir: &Path| strings(&["train", "--resume", dir.to_str().unwrap()]);
    // Kills the resumed run at `point` in a copy of the stopped folder; `false` when the point
    // was not reached.
    let kill_resume = |point: &str| {
        let dir = root
            .path()
            .join(format!("resume-{point}").replace(':', "-"));
        copy_dir(&stopped, &dir);
        let o = textcnn(&resume(&dir), Some(point));
        let killed = s.killed(o, &dir, point);
        if killed {
            s.check(&dir, point);
        }
        killed
    };
    let renames = (1..)
        .take_while(|n| kill_resume(&format!("rename:{n}")))
        .count();
    assert!(renames >= 8, "{renames} renames");
    // The first batch resumed, the end of epoch 2's batches (the first epoch end of the resumed
    // run), inside the n-gram stage, after the final config.json.
    for point in ["step:1", "epoch:1", "ngram-fit:1", "ngram-fit:3"]
        .map(String::from)
        .into_iter()
        .chain([format!("renamed:{renames}")])
    {
        assert!(kill_resume(&point), "{point}: not reached");
    }
}
