//! `textcnn train` (and the run of `textcnn finetune`): flags into the library's run entry
//! ([`textcnn::train::RunRequest`]), the progress printer and TensorBoard writer, the outcome,
//! and the run's pictures and `report.html`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::Args;
use textcnn::head::HeadKind;
use textcnn::report::{RunReport, TensorBoardWriter};
use textcnn::train::{
    AlreadyFinished, DataSource, Observers, PreparedRun, RunRequest, Start, StopReason,
    TrainConfig, TrainFlags, TrainOutcome,
};

use super::common::ReadArgs;
use super::progress::TerminalPrinter;

/// Train a text classifier (default ngram-cnn: a Kim (2014) CNN with an n-gram branch; or kim, ngram, conv2d, seed) and save the best model (by validation) as a bundle.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: `imdb:train`, or a file/folder in any supported format.
    #[arg(long, required_unless_present = "resume")]
    pub train: Option<String>,
    /// Validation data; by default a `--valid-fraction` of the training data (stratified by
    /// label; one shuffle for multi-label data).
    #[arg(long)]
    pub valid: Option<String>,
    /// Test data, evaluated once with the best model at the end (report.json).
    #[arg(long)]
    pub test: Option<String>,
    /// Output directory for the model bundle.
    #[arg(long, required_unless_present = "resume")]
    pub output: Option<PathBuf>,
    /// Continue the interrupted run in this directory with its recorded settings.
    #[arg(long, conflicts_with_all = ["train", "valid", "test", "output", "config", "head"])]
    pub resume: Option<PathBuf>,
    /// TOML file with any of the training settings (flags override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The model's head: single-label (softmax) or multi-label (one sigmoid per label)
    /// [default: multi-label when the data has several labels per text or --multi-label /
    /// a label layout is given, else single-label]
    #[arg(long, value_enum)]
    pub head: Option<HeadKind>,
    /// Keep the resumable `checkpoint/` folder (parameters + optimizer state, about twice the
    /// model's size) when training finishes; by default a finished run keeps only its bundle.
    #[arg(long)]
    pub keep_checkpoint: bool,
    /// The training settings' flags (defined once, in `textcnn::train`'s settings table).
    #[command(flatten)]
    pub hyper: TrainFlags,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

/// How a run is followed: on the terminal, and where and how often for TensorBoard.
#[derive(Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// No progress bar or per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also print each stage's wall time and the process's memory (peak and current resident
    /// set size) when it ends
    #[arg(long, short, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Folder for the TensorBoard event files (`tensorboard --logdir DIR`) [default: OUTPUT/tb]
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// Log the batch loss, learning rate and examples/s to TensorBoard every N steps (epoch
    /// summaries are logged after every epoch)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub tensorboard_every: usize,
}

/// The settings named on the command line (flags) or in the `--config` file (its keys, as
/// [`TrainConfig::from_toml_file_with_keys`] read them), snake_case.
pub(super) fn explicit_settings(given: &[&str], file_keys: BTreeSet<String>) -> BTreeSet<String> {
    let mut names = file_keys;
    names.extend(given.iter().map(|n| n.replace('-', "_")));
    names
}

pub fn run(args: TrainArgs) -> Result<()> {
    let request = match &args.resume {
        Some(dir) => RunRequest {
            explicit: explicit_settings(&args.hyper.given(), BTreeSet::new()),
            start: Start::Resume,
            keep_checkpoint: args.keep_checkpoint,
            ..RunRequest::new(TrainConfig::default(), dir)
        },
        None => {
            // `--arch seed` puts the preset in place of the defaults: the config file, then the
            // other flags, override it.
            let mut base = TrainConfig::default();
            if args.hyper.wants_seed_preset() {
                base.apply_seed_preset();
            }
            let (mut config, file_keys) = match &args.config {
                Some(path) => TrainConfig::from_toml_file_with_keys(path, &base)?,
                None => (base, BTreeSet::new()),
            };
            args.hyper.apply(&mut config);
            args.hyper.check_arch(config.arch)?;
            RunRequest {
                explicit: explicit_settings(&args.hyper.given(), file_keys),
                head: args.head,
                train: args.train.clone().map(DataSource::Spec),
                valid: args.valid.clone().map(DataSource::Spec),
                test: args.test.clone().map(DataSource::Spec),
                read: args.read.options(),
                keep_checkpoint: args.keep_checkpoint,
                ..RunRequest::new(config, args.output.clone().expect("clap requires --output"))
            }
        }
    };
    execute(request, &args.log)
}

/// The run's TensorBoard writer: in `--tensorboard DIR`, created now so that a folder that
/// cannot be written is an error before training (not a warning after it); by default in
/// `OUTPUT/tb`, created at the first event so that a run failing early leaves nothing there.
fn tensorboard_writer(log: &LogArgs, output: &Path) -> Result<TensorBoardWriter> {
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
fn on_ctrl_c(what: &'static str) -> Arc<AtomicBool> {
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

/// Checks and prepares the run in the library, trains it with the terminal printer and the
/// TensorBoard writer, prints the outcome and writes the run's report.
pub(super) fn execute(request: RunRequest, log: &LogArgs) -> Result<()> {
    let quiet = log.quiet;
    // Before the output folder is touched: an unwritable --tensorboard folder leaves nothing.
    let mut tensorboard = tensorboard_writer(log, &request.output)?;
    let mut run = match request.prepare() {
        Err(e) if e.is::<AlreadyFinished>() => {
            if let Some(note) = e
                .downcast_ref::<AlreadyFinished>()
                .and_then(|d| d.removed.as_ref())
            {
                eprintln!("note: {note}");
            }
            println!("nothing to do: {e}");
            return Ok(());
        }
        r => r?,
    };
    for note in run.notes() {
        eprintln!("note: {note}");
    }
    if !quiet {
        for line in run.info() {
            eprintln!("{line}");
        }
    }
    for w in run.warnings() {
        eprintln!("warning: {w}");
    }
    let interrupt = on_ctrl_c(match run.config().arch {
        textcnn::train::ArchKind::Ngram => {
            "stopping: the n-gram branch's fit stops at once (a run already writing its final \
             report finishes it); Ctrl-C again to quit now"
        }
        textcnn::train::ArchKind::NgramCnn => {
            "stopping: an epoch ends after its current batch with a checkpoint, and the n-gram \
             branch's fit stops at once, its epochs kept (a run already writing its final report \
             finishes it); Ctrl-C again to quit now"
        }
        _ => {
            "stopping: the epoch ends after its current batch with a checkpoint (a run already \
             writing its final report finishes it); Ctrl-C again to quit now"
        }
    });
    let output = run.output().to_path_buf();
    let mut printer = TerminalPrinter::new(quiet).verbose(log.verbose);
    let outcome = {
        let mut observers = Observers::new();
        observers.push(&mut printer);
        observers.push(&mut tensorboard);
        run.train(&mut observers, Some(interrupt))?
    };
    if let Err(e) = tensorboard.finish() {
        eprintln!("warning: TensorBoard log incomplete: {e:#}");
    }
    print_outcome(&run, &outcome);
    if outcome.valid.is_some() {
        let written = write_run_report(&run, &outcome)?;
        if !quiet {
            eprintln!("report: {}", written.display());
        }
    }
    if outcome.stop == StopReason::Interrupted {
        println!(
            "checkpoint saved in {} ({:.1} s in all); the model there is refused until \
             `textcnn train --resume {}` finishes the run",
            output.display(),
            outcome.seconds,
            output.display()
        );
        std::process::exit(130);
    }
    println!(
        "model saved in {} ({:.1} s in all)",
        output.display(),
        outcome.seconds
    );
    Ok(())
}

/// The best epoch, the final model's validation and test figures.
fn print_outcome(run: &PreparedRun, outcome: &TrainOutcome) {
    if let Some(best) = &outcome.best {
        match best.valid_micro_f1 {
            Some(f1) => println!(
                "best epoch {}: valid micro-f1 {f1:.4}, macro-f1 {:.4}, subset acc {:.4}, valid loss {:.4} (the CNN alone, thresholds 0.5)",
                best.epoch, best.valid_macro_f1, best.valid_acc, best.valid_loss
            ),
            None => println!(
                "best epoch {}: valid acc {:.4}, valid loss {:.4}{}",
                best.epoch,
                best.valid_acc,
                best.valid_loss,
                if outcome.ngram_valid.is_some() {
                    " (the CNN alone)"
                } else {
                    ""
                }
            ),
        }
    }
    if let Some(v) = outcome.ngram_valid {
        println!(
            "valid {} of {} {v:.4}",
            if run.head() == HeadKind::SingleLabel {
                "acc"
            } else {
                "micro-f1"
            },
            if outcome.best.is_some() {
                "the mixture with the n-gram branch"
            } else {
                "the n-gram branch"
            }
        );
    }
    if let Some(note) = &outcome.cnn_note {
        println!("note: {note}");
    }
    if let Some(valid) = &outcome.valid
        && run.head() != HeadKind::SingleLabel
    {
        let (name, value) = valid.scores.figures()[0];
        println!("valid {name} of the final model (its decision rule) {value:.4}");
    }
    if let Some(report) = &outcome.test {
        if !outcome.test_unknown_labels.is_empty() {
            let unknown = textcnn::head::describe_unknown(&outcome.test_unknown_labels);
            eprintln!(
                "warning: labels of the test data unknown to the model (left out): {unknown}"
            );
        }
        let test_name = run.data().test.map_or("test", |t| t.name.as_str());
        println!("test ({test_name}):\n{report}");
        let (name, value) = report.figures()[0];
        println!("test {name} {value:.4}");
    }
}

/// The pictures and `report.html` of a finished run, on its validation data, in the output
/// folder; returns the page's path.
fn write_run_report(run: &PreparedRun, outcome: &TrainOutcome) -> Result<PathBuf> {
    let output = run.output();
    let classifier = textcnn::predict::Classifier::load(output)?;
    let report = textcnn::nn::thread_pool(run.config().threads)
        .install(|| RunReport::of_run(&classifier, outcome, &run.data()))
        .expect("a finished run");
    Ok(textcnn::report::write_run_report(output, &report)?.html)
}
