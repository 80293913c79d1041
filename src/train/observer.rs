//! What a training run reports while it runs: its stages, epochs, steps, early stopping,
//! checkpoints and messages, through a [`TrainObserver`].
//!
//! The library never prints. [`train`](super::train) reports to [`Silent`];
//! [`train_observed`](super::train_observed) to any observer: the CLI's terminal printer
//! (progress bar and messages), the TensorBoard writer (`report::TensorBoardWriter`),
//! several at once ([`Observers`]), or a user's own.

use std::path::Path;

use super::config::Metric;
use super::fit::EpochMetrics;

/// The named stages of a training run, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Reading labels, tokenizing, building the vocabulary and encoding the texts.
    PrepareData,
    /// Building the model (fresh, from a parent bundle, from pretrained vectors) or restoring
    /// a checkpoint.
    BuildModel,
    /// The epochs: training steps, validation, early stopping, best-epoch saving.
    Fit,
    /// `ngram-cnn` only: fitting the n-gram branch next to the best CNN and the mixture.
    NgramBranch,
    /// The test-set evaluation (`report.json`) and, when asked, the pictures and `report.html`.
    FinalReport,
}

impl Stage {
    /// A short lowercase name ("prepare data", ...).
    pub fn name(self) -> &'static str {
        match self {
            Stage::PrepareData => "prepare data",
            Stage::BuildModel => "build model",
            Stage::Fit => "fit",
            Stage::NgramBranch => "n-gram branch",
            Stage::FinalReport => "final report",
        }
    }
}

/// How a [`TrainObserver::message`] is meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A progress note (data summary, model description, embedding coverage, ...).
    Info,
    /// Something the user should know that does not stop the run.
    Warning,
    /// The run was interrupted; the text says how to resume it. The CLI shows it even when
    /// asked to be quiet.
    Interrupted,
}

/// The run's settings, sent once after the model is built ([`TrainObserver::run_started`]).
#[derive(Clone, Debug)]
pub struct RunStart<'a> {
    /// The training settings as JSON (`TrainConfig`'s serialization: snake_case keys).
    pub hyperparameters: &'a serde_json::Value,
    /// Class labels, in the model's output order.
    pub labels: &'a [String],
    /// Upper bound of epochs (early stopping usually ends the run sooner).
    pub max_epochs: usize,
    /// Epochs without improvement before early stopping
    /// ([`crate::train::TrainConfig::patience_epochs`]: the setting, or its automatic value).
    pub patience: usize,
    /// Training examples (after the validation split).
    pub train_examples: usize,
    /// Validation examples.
    pub valid_examples: usize,
    /// Trainable parameters of the CNN.
    pub num_params: usize,
    /// The first epoch of this process (greater than 1 when resuming).
    pub first_epoch: usize,
    /// The word-dropout rate in force
    /// ([`crate::train::TrainConfig::word_dropout_rate`]: the setting, or its automatic value).
    pub word_dropout: f32,
}

/// One optimizer step ([`TrainObserver::step`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepEvent {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    /// Steps in this epoch.
    pub steps: usize,
    /// 1-based step counted over the whole run: `(epoch - 1) · steps + step`.
    pub global_step: u64,
    /// Mean cross-entropy of this batch (with dropout), in nats.
    pub loss: f64,
    /// Mean cross-entropy over the epoch's batches so far.
    pub epoch_loss: f64,
    /// Training accuracy over the epoch's batches so far, in [0, 1].
    pub epoch_acc: f64,
    /// Learning rate of the step.
    pub lr: f32,
    /// Training examples per second since the epoch (or its resumption) started.
    pub examples_per_s: f64,
}

/// The end of an epoch ([`TrainObserver::epoch_finished`]).
#[derive(Clone, Debug)]
pub struct EpochEnd<'a> {
    /// The line written to `metrics.jsonl`.
    pub metrics: &'a EpochMetrics,
    /// Upper bound of epochs.
    pub max_epochs: usize,
    /// The epoch improved the validation metric: its parameters are now the saved model.
    pub improved: bool,
    /// The validation metric that chooses the best epoch.
    pub metric: Metric,
    /// Steps per epoch (to place epoch summaries on the step axis).
    pub steps: usize,
}

/// Receives the events of a training run. Every method has an empty default, so an observer
/// implements only what it needs. Called from the training thread, in order; an observer must
/// not panic (I/O failures are the observer's to keep and report, see
/// `report::TensorBoardWriter::finish`).
pub trait TrainObserver: Send {
    /// A stage starts.
    fn stage_started(&mut self, _stage: Stage) {}
    /// A stage ends after `_seconds` of wall-clock time.
    fn stage_finished(&mut self, _stage: Stage, _seconds: f64) {}
    /// A stage's cost, right after [`TrainObserver::stage_finished`]: its time and the
    /// process's memory then (`--verbose`, `report.json` → `cost`).
    fn stage_cost(&mut self, _cost: &StageCost) {}
    /// The model is built and the epochs are about to run.
    fn run_started(&mut self, _run: &RunStart) {}
    /// An epoch starts (`_done` of its `_steps` steps were already done before a resume).
    fn epoch_started(&mut self, _epoch: usize, _max_epochs: usize, _steps: usize, _done: usize) {}
    /// An optimizer step ended.
    fn step(&mut self, _event: &StepEvent) {}
    /// An epoch ended and was validated.
    fn epoch_finished(&mut self, _event: &EpochEnd) {}
    /// The validation `_metric` did not improve for `_bad_epochs` epochs: training stops.
    fn early_stopped(&mut self, _metric: Metric, _bad_epochs: usize) {}
    /// A file set was written: the best bundle (`_best` true) or the resumable checkpoint.
    fn checkpoint_written(&mut self, _dir: &Path, _epoch: usize, _best: bool) {}
    /// A message for the user.
    fn message(&mut self, _kind: MessageKind, _text: &str) {}
    /// The current epoch's progress display (if any) should be dropped before a message of
    /// an interruption; called once, just before that message.
    fn interrupted(&mut self) {}
}

/// The observer that ignores every event (a library user training silently).
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl TrainObserver for Silent {}

/// Several observers, each told every event in the order given.
#[derive(Default)]
pub struct Observers<'a> {
    list: Vec<&'a mut dyn TrainObserver>,
}

impl<'a> Observers<'a> {
    /// No observer yet.
    pub fn new() -> Self {
        Observers { list: Vec::new() }
    }

    /// Adds an observer (told after those added before).
    pub fn push(&mut self, observer: &'a mut dyn TrainObserver) {
        self.list.push(observer);
    }
}

impl TrainObserver for Observers<'_> {
    fn stage_started(&mut self, stage: Stage) {
        self.list.iter_mut().for_each(|o| o.stage_started(stage));
    }
    fn stage_finished(&mut self, stage: Stage, seconds: f64) {
        self.list
            .iter_mut()
            .for_each(|o| o.stage_finished(stage, seconds));
    }
    fn stage_cost(&mut self, cost: &StageCost) {
        self.list.iter_mut().for_each(|o| o.stage_cost(cost));
    }
    fn run_started(&mut self, run: &RunStart) {
        self.list.iter_mut().for_each(|o| o.run_started(run));
    }
    fn epoch_started(&mut self, epoch: usize, max_epochs: usize, steps: usize, done: usize) {
        self.list
            .iter_mut()
            .for_each(|o| o.epoch_started(epoch, max_epochs, steps, done));
    }
    fn step(&mut self, event: &StepEvent) {
        self.list.iter_mut().for_each(|o| o.step(event));
    }
    fn epoch_finished(&mut self, event: &EpochEnd) {
        self.list.iter_mut().for_each(|o| o.epoch_finished(event));
    }
    fn early_stopped(&mut self, metric: Metric, bad_epochs: usize) {
        self.list
            .iter_mut()
            .for_each(|o| o.early_stopped(metric, bad_epochs));
    }
    fn checkpoint_written(&mut self, dir: &Path, epoch: usize, best: bool) {
        self.list
            .iter_mut()
            .for_each(|o| o.checkpoint_written(dir, epoch, best));
    }
    fn message(&mut self, kind: MessageKind, text: &str) {
        self.list.iter_mut().for_each(|o| o.message(kind, text));
    }
    fn interrupted(&mut self) {
        self.list.iter_mut().for_each(|o| o.interrupted());
    }
}

/// Measures a stage's wall-clock time and reports its start and end.
pub(crate) struct StageTimer {
    stage: Stage,
    started: std::time::Instant,
}

impl StageTimer {
    pub(crate) fn start(observer: &mut dyn TrainObserver, stage: Stage) -> StageTimer {
        observer.stage_started(stage);
        StageTimer {
            stage,
            started: std::time::Instant::now(),
        }
    }

    pub(crate) fn finish(self, observer: &mut dyn TrainObserver) {
        let seconds = self.started.elapsed().as_secs_f64();
        observer.stage_finished(self.stage, seconds);
        // One read of /proc/self/status: the kernel's VmHWM is then at least its VmRSS.
        let status = proc_status();
        let field = |name| status.as_deref().and_then(|s| status_mib(s, name));
        observer.stage_cost(&StageCost {
            stage: self.stage,
            seconds,
            peak_rss_mib: field("VmHWM:"),
            rss_mib: field("VmRSS:"),
        });
    }
}

/// What a stage cost: wall-clock time and the process's resident memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageCost {
    /// The stage.
    pub stage: Stage,
    /// Its wall-clock seconds.
    pub seconds: f64,
    /// The process's peak resident set size so far, MiB (`VmHWM`; the peak of this stage when
    /// it is above the previous stage's figure). `None` where `/proc` is not available.
    pub peak_rss_mib: Option<f64>,
    /// The resident set size at the stage's end, MiB (`VmRSS`).
    pub rss_mib: Option<f64>,
}

impl StageCost {
    /// `{"stage", "seconds", "peak_rss_mib", "rss_mib"}` (memory `null` where unknown).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "stage": self.stage.name(),
            "seconds": self.seconds,
            "peak_rss_mib": self.peak_rss_mib,
            "rss_mib": self.rss_mib,
        })
    }
}

/// Collects the stages' costs of a run (the run's outcome and `report.json` carry them).
#[derive(Debug, Default)]
pub(crate) struct CostLog(pub(crate) Vec<StageCost>);

impl TrainObserver for CostLog {
    fn stage_cost(&mut self, cost: &StageCost) {
        self.0.push(*cost);
    }
}

/// The text of `/proc/self/status`; `None` off Linux.
fn proc_status() -> Option<String> {
    std::fs::read_to_string("/proc/self/status").ok()
}

/// A `kB` field of a `/proc/self/status` text (`VmHWM:`, `VmRSS:`) in MiB.
fn status_mib(s: &str, field: &str) -> Option<f64> {
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Peak resident set size of this process so far in MiB (`VmHWM` of `/proc/self/status`);
/// `None` where that file does not exist (not Linux).
pub fn peak_rss_mib() -> Option<f64> {
    status_mib(&proc_status()?, "VmHWM:")
}

/// Resident set size of this process now in MiB (`VmRSS`); `None` off Linux.
pub fn rss_mib() -> Option<f64> {
    status_mib(&proc_status()?, "VmRSS:")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records event names, to check fan-out order.
    struct Log(Vec<String>, &'static str);

    impl TrainObserver for Log {
        fn stage_started(&mut self, stage: Stage) {
            self.0.push(format!("{} start {}", self.1, stage.name()));
        }
        fn message(&mut self, kind: MessageKind, text: &str) {
            self.0.push(format!("{} {kind:?} {text}", self.1));
        }
    }

    #[test]
    fn observers_fan_out_every_event_in_order() {
        let mut a = Log(Vec::new(), "a");
        let mut b = Log(Vec::new(), "b");
        {
            let mut all = Observers::new();
            all.push(&mut a);
            all.push(&mut b);
            all.stage_started(Stage::Fit);
            all.message(MessageKind::Warning, "w");
            // Events a Log ignores go nowhere and do not fail.
            all.early_stopped(Metric::Acc, 2);
        }
        assert_eq!(a.0, ["a start fit", "a Warning w"]);
        assert_eq!(b.0, ["b start fit", "b Warning w"]);
    }

    #[test]
    fn a_finished_stage_reports_its_cost_after_its_end() {
        let mut log = CostLog::default();
        let timer = StageTimer::start(&mut log, Stage::NgramBranch);
        timer.finish(&mut log);
        assert_eq!(log.0.len(), 1);
        let cost = log.0[0];
        assert_eq!(cost.stage, Stage::NgramBranch);
        assert!(cost.seconds >= 0.0);
        let json = cost.to_json();
        assert_eq!(json["stage"], "n-gram branch");
        if cfg!(target_os = "linux") {
            // The peak so far is at least the current resident size, and both are positive.
            let (peak, now) = (cost.peak_rss_mib.unwrap(), cost.rss_mib.unwrap());
            assert!(now > 0.0 && peak >= now, "{peak} {now}");
            assert_eq!(json["peak_rss_mib"].as_f64(), Some(peak));
        }
    }
}
