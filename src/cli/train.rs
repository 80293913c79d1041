//! `textcnn train`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use textcnn::data::{split_warnings, stratified_split};
use textcnn::report::TensorBoardWriter;
use textcnn::text::EmbeddingMode;
use textcnn::text::vectors::peek_dim;
use textcnn::train::{
    Checkpoint, Metric, Observers, StartFrom, StopReason, TrainConfig, TrainData, TrainFlags,
    TrainOptions, train_observed,
};

use super::progress::TerminalPrinter;

use super::common::{ReadArgs, load_dataset};

/// Train a text classifier (default ngram-cnn: a Kim (2014) CNN with an n-gram branch; or kim, conv2d, seed) and save the best model (by validation) as a bundle.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: `imdb:train`, or a file/folder in any supported format.
    #[arg(long, required_unless_present = "resume")]
    pub train: Option<String>,
    /// Validation data; by default a stratified `--valid-fraction` of the training data.
    #[arg(long)]
    pub valid: Option<String>,
    /// Test data, evaluated once with the best model at the end (report.json).
    #[arg(long)]
    pub test: Option<String>,
    /// Output directory for the model bundle.
    #[arg(long, required_unless_present = "resume")]
    pub output: Option<PathBuf>,
    /// Continue the interrupted run in this directory with its recorded settings.
    #[arg(long, conflicts_with_all = ["train", "valid", "test", "output", "config"])]
    pub resume: Option<PathBuf>,
    /// TOML file with any of the training settings (flags override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The training settings' flags (defined once, in `textcnn::train`'s settings table).
    #[command(flatten)]
    pub hyper: TrainFlags,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub multi: super::multilabel::MultiLabelArgs,
    /// No progress bar or per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Where and how often a run is logged for TensorBoard.
#[derive(Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// Folder for the TensorBoard event files (`tensorboard --logdir DIR`) [default: OUTPUT/tb]
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// Log the batch loss, learning rate and examples/s to TensorBoard every N steps (epoch
    /// summaries are logged after every epoch)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub tensorboard_every: usize,
}

/// What is needed to reload the same data on `--resume`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct RunInfo {
    pub(super) train: String,
    pub(super) valid: Option<String>,
    pub(super) test: Option<String>,
    pub(super) read: ReadArgs,
    /// `textcnn finetune`: the bundle continued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) parent: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) allow_new_labels: bool,
    /// Multi-label training, with how the labels are laid out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) multi_label: Option<textcnn::multilabel::MultiReadOptions>,
}

/// Refuses an `--output` that is a file, holds a model, or holds anything else: training writes
/// several files there and must not replace what the user had. Returns the leftovers of an
/// earlier run that never saved anything (hidden temporary files, the lock file), which do not
/// count.
fn check_new_output(output: &Path) -> Result<Vec<PathBuf>> {
    if output.is_file() {
        bail!("--output {} is a file; give a directory", output.display());
    }
    if output.join(textcnn::bundle::CONFIG_FILE).exists() {
        bail!(
            "{} already holds a model; choose another --output, delete it, or continue it with --resume",
            output.display()
        );
    }
    if !output.is_dir() {
        return Ok(Vec::new());
    }
    let (leftovers, others) = leftovers(output)?;
    if !others.is_empty() {
        bail!(
            "--output {} is a directory that is not empty (it holds {}); give a new or empty directory so no file of yours is replaced",
            output.display(),
            others.join(", ")
        );
    }
    Ok(leftovers)
}

/// The entries of a run directory, split into the leftovers of an interrupted save (hidden
/// `.NAME.PID.tmp` files, the lock file, an empty `checkpoint/`) and the others (their names).
fn leftovers(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let (mut stale, mut others) = (Vec::new(), Vec::new());
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read --output {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read --output {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let temp = is_temp_name(&name);
        let empty_checkpoint = name == "checkpoint"
            && path.is_dir()
            && leftovers(&path).is_ok_and(|(_, o)| o.is_empty());
        if temp || name == LOCK_FILE || empty_checkpoint || is_tensorboard_log(&path) {
            stale.push(path);
        } else {
            others.push(name);
        }
    }
    stale.sort();
    others.sort();
    Ok((stale, others))
}

/// Whether `path` is the `tb` folder of a run that failed before its first checkpoint: only
/// TensorBoard event files (a folder of the user's with other files is not).
fn is_tensorboard_log(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tb")
        && path.is_dir()
        && std::fs::read_dir(path).is_ok_and(|entries| {
            entries.into_iter().all(|e| {
                e.is_ok_and(|e| {
                    e.path().is_file()
                        && e.file_name()
                            .to_string_lossy()
                            .starts_with("events.out.tfevents.")
                })
            })
        })
}

/// Whether `name` is one of textcnn's temporary files, `.NAME.PID.tmp` (see
/// `textcnn::fsutil::write_atomic`); a hidden file of the user's is not.
fn is_temp_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(base, pid)| {
            !base.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The lock file that marks a run directory as in use by one training process.
const LOCK_FILE: &str = ".textcnn.lock";

/// An exclusive lock on a run directory, held for the whole training (released when the process
/// exits, however it exits).
struct OutputLock {
    _file: std::fs::File,
    /// The directory did not exist before this run.
    created: bool,
    dir: PathBuf,
}

impl OutputLock {
    /// Creates `dir` if needed, checks that files can be written there, and locks it; refuses a
    /// directory another training holds.
    fn acquire(dir: &Path) -> Result<OutputLock> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --output {}", dir.display()))?;
        // Writability before any data is read or epoch trained: a probe file, written and removed.
        let probe = dir.join(format!(".write-test.{}.tmp", std::process::id()));
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .with_context(|| {
                format!(
                    "--output {} is not writable; give a directory where files can be created",
                    dir.display()
                )
            })?;
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot create the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "--output {} is in use by another training (it holds {}); wait for it to finish or choose another --output",
                dir.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        Ok(OutputLock {
            _file: file,
            created,
            dir: dir.to_path_buf(),
        })
    }

    /// After a failed run: removes the directory again when this run created it and left
    /// nothing in it but the lock.
    fn discard_if_unused(&self) {
        if self.created
            && let Ok((stale, others)) = leftovers(&self.dir)
            && others.is_empty()
        {
            for p in stale {
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Removes the leftovers found by [`check_new_output`] and says so.
fn remove_leftovers(dir: &Path, stale: &[PathBuf]) {
    let temps: Vec<String> = stale
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != LOCK_FILE)
        .collect();
    if !temps.is_empty() {
        eprintln!(
            "note: {} holds only what an interrupted run left behind ({}); removing it",
            dir.display(),
            temps.join(", ")
        );
    }
    for p in stale.iter().filter(|p| !p.ends_with(LOCK_FILE)) {
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        };
    }
}

/// `--resume DIR` without a checkpoint: says what was found instead.
fn check_resumable(dir: &Path) -> Result<()> {
    if !dir.is_dir() || dir.join("checkpoint").join("state.json").is_file() {
        return Ok(());
    }
    let (stale, others) = leftovers(dir)?;
    let temps: Vec<String> = stale
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != LOCK_FILE && n != "checkpoint")
        .collect();
    if others.is_empty() {
        bail!(
            "no checkpoint to resume in {}: {}the run stopped before its first checkpoint was saved; \
             start it again with `textcnn train --output {}` (which removes what was left)",
            dir.display(),
            if temps.is_empty() {
                "the directory is empty; ".to_string()
            } else {
                format!(
                    "it holds only temporary files of an interrupted save ({}); ",
                    temps.join(", ")
                )
            },
            dir.display()
        );
    }
    Ok(())
}

pub fn run(args: TrainArgs) -> Result<()> {
    if args.resume.is_some() {
        let given = args.hyper.given();
        if !given.is_empty() {
            bail!(
                "--resume continues a run with its recorded settings; drop {}",
                given
                    .iter()
                    .map(|n| format!("--{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let (config, info, output, resume) = if let Some(dir) = &args.resume {
        check_resumable(dir)?;
        let ckpt = Checkpoint::load(dir)?;
        let info: RunInfo = serde_json::from_value(ckpt.run.clone()).with_context(|| {
            format!(
                "{}: checkpoint has no usable run description",
                dir.display()
            )
        })?;
        (ckpt.config, info, dir.clone(), true)
    } else {
        // `--arch seed` puts the preset in place of the defaults: the config file, then the
        // other flags, override it.
        let mut base = TrainConfig::default();
        if args.hyper.wants_seed_preset() {
            base.apply_seed_preset();
        }
        let mut config = match &args.config {
            Some(path) => TrainConfig::from_toml_file_over(path, &base)?,
            None => base,
        };
        args.hyper.apply(&mut config);
        args.hyper.check_arch(config.arch)?;
        if args.hyper.emb_dim.is_none() {
            // The embedding width of pretrained vectors / a source bundle, unless given.
            if let Some(p) = &config.pretrained {
                config.emb_dim = peek_dim(p, config.pretrained_format)?;
            } else if let Some(dir) = &config.init_from {
                let b = textcnn::bundle::Bundle::load(dir)
                    .with_context(|| format!("--init-from {}", dir.display()))?;
                config.emb_dim = b.model.embedding().1;
            }
        }
        // The settings' own checks (an architecture that cannot take --embedding, ...) before
        // the check of the initial vectors below.
        config.validate()?;
        if config.embedding != EmbeddingMode::NonStatic
            && config.pretrained.is_none()
            && config.init_from.is_none()
        {
            bail!(
                "--embedding {} needs initial vectors: give --pretrained FILE or --init-from MODEL",
                config.embedding
            );
        }
        let info = RunInfo {
            train: args.train.clone().expect("clap requires --train"),
            valid: args.valid.clone(),
            test: args.test.clone(),
            read: args.read.clone(),
            parent: None,
            allow_new_labels: false,
            multi_label: None,
        };
        let mut info = info;
        if args.multi.wanted(&info.train, &info.read, args.quiet) {
            info.multi_label = Some(args.multi.options());
            // Multi-label runs stop early on micro-F1 unless a metric is asked for.
            if args.hyper.metric.is_none() && config.metric == Metric::Acc {
                config.metric = Metric::MicroF1;
            }
        }
        (
            config,
            info,
            args.output.clone().expect("clap requires --output"),
            false,
        )
    };
    execute(config, info, output, resume, args.quiet, &args.log)
}

/// The run's TensorBoard writer: in `--tensorboard DIR`, created now so that a folder that
/// cannot be written is an error before training (not a warning after it); by default in
/// `OUTPUT/tb`, created at the first event so that a run failing early leaves nothing there.
pub(super) fn tensorboard_writer(log: &LogArgs, output: &Path) -> Result<TensorBoardWriter> {
    match &log.tensorboard {
        Some(dir) => TensorBoardWriter::create(dir, log.tensorboard_every)
            .with_context(|| format!("--tensorboard {}", dir.display())),
        None => Ok(TensorBoardWriter::deferred(
            &output.join("tb"),
            log.tensorboard_every,
        )),
    }
}

/// Installs the Ctrl-C handler of a training run: the first Ctrl-C sets the returned flag (the
/// run stops after its current batch) and prints `what`; a second one exits at once.
pub(super) fn on_ctrl_c(what: &'static str) -> Arc<AtomicBool> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: {what}");
    });
    interrupt
}

/// Loads the data of `info`, trains (continuing `info.parent` when set) and prints the outcome.
pub(super) fn execute(
    config: TrainConfig,
    info: RunInfo,
    output: PathBuf,
    resume: bool,
    quiet: bool,
    log: &LogArgs,
) -> Result<()> {
    config.validate()?;
    if !resume {
        check_new_output(&output)?;
    }
    let lock = OutputLock::acquire(&output)?;
    if !resume {
        // Again under the lock: another run may have written here since the first check.
        let stale = check_new_output(&output)?;
        remove_leftovers(&output, &stale);
    }
    let result = train_locked(config, info, &output, resume, quiet, log);
    if result.is_err() {
        lock.discard_if_unused();
    }
    result
}

/// [`execute`] once the output directory is locked.
fn train_locked(
    config: TrainConfig,
    info: RunInfo,
    output: &Path,
    resume: bool,
    quiet: bool,
    log: &LogArgs,
) -> Result<()> {
    if let Some(multi) = &info.multi_label {
        if resume {
            bail!("--resume is not supported for multi-label runs; start the run again");
        }
        return super::multilabel::train(config, &info, multi, output, quiet, log);
    }
    let full_train = load_dataset(&info.train, &info.read)?;
    let (train_ds, valid_ds) = match &info.valid {
        Some(spec) => (full_train, load_dataset(spec, &info.read)?),
        None => {
            if config.valid_fraction <= 0.0 {
                bail!("no validation data: give --valid or a --valid-fraction above 0");
            }
            for w in split_warnings(&full_train, config.valid_fraction, "validation") {
                eprintln!("warning: {}: {w}", full_train.name);
            }
            stratified_split(&full_train, config.valid_fraction, config.seed)
        }
    };
    let test_ds = info
        .test
        .as_deref()
        .map(|spec| load_dataset(spec, &info.read))
        .transpose()?;

    let interrupt =
        on_ctrl_c("finishing the current batch and saving a checkpoint (Ctrl-C again to quit now)");
    let options = TrainOptions {
        resume,
        report: true,
        interrupt: Some(interrupt),
        run_info: serde_json::to_value(&info)?,
        start_from: info
            .parent
            .as_deref()
            .map(|p| StartFrom::load(p, info.allow_new_labels))
            .transpose()?,
    };
    let data = TrainData {
        train: &train_ds,
        valid: &valid_ds,
        test: test_ds.as_ref(),
    };
    let mut tensorboard = tensorboard_writer(log, output)?;
    let mut printer = TerminalPrinter::new(quiet);
    let outcome = {
        let mut observers = Observers::new();
        observers.push(&mut printer);
        observers.push(&mut tensorboard);
        train_observed(&config, &data, output, &options, &mut observers)?
    };
    if let Err(e) = tensorboard.finish() {
        eprintln!("warning: TensorBoard log incomplete: {e:#}");
    }

    if let Some(best) = &outcome.best {
        println!(
            "best epoch {}: valid acc {:.4}, valid loss {:.4}{}",
            best.epoch,
            best.valid_acc,
            best.valid_loss,
            if outcome.ngram_valid_acc.is_some() {
                " (the CNN alone)"
            } else {
                ""
            }
        );
    }
    if let Some(acc) = outcome.ngram_valid_acc {
        println!("valid acc of the mixture with the n-gram branch {acc:.4}");
    }
    if let Some(report) = &outcome.test {
        println!(
            "test ({}):\n{report}",
            info.test.as_deref().unwrap_or("test")
        );
        println!("test accuracy {:.4}", report.accuracy);
    }
    println!(
        "model saved in {} ({:.1} s in all)",
        output.display(),
        outcome.seconds
    );
    if outcome.stop == StopReason::Interrupted {
        std::process::exit(130);
    }
    Ok(())
}
