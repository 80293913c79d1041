//! The training progress that Python reads while a run goes on: a [`TrainObserver`] keeping the
//! latest state (stage, epoch, step, losses, speed) as a JSON object behind a mutex, which
//! `TrainJob.progress()` hands to the Python layer's progress bar.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use textcnn::train::{EpochEnd, RunStart, Stage, StepEvent, TrainObserver};

/// The latest state of a run, shared with the thread that polls it.
#[derive(Clone, Default)]
pub struct Progress(Arc<Mutex<Value>>);

impl Progress {
    /// A snapshot of the state: `stage` (`prepare data`, `fit`, ...), and once fitting started
    /// `epoch`, `max_epochs`, `step`, `steps` (of the epoch), `loss` (the batch's), `epoch_loss`,
    /// `epoch_acc`, `lr`, `examples_per_s`, `train_examples`, `valid_examples`, `num_params`;
    /// after an epoch, `last_epoch` (its `metrics.jsonl` record) and `improved`.
    pub fn snapshot(&self) -> Value {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !state.is_object() {
            *state = json!({});
        }
        f(state.as_object_mut().expect("an object"));
    }
}

impl TrainObserver for Progress {
    fn stage_started(&mut self, stage: Stage) {
        self.update(|s| {
            s.insert("stage".into(), stage.name().into());
        });
    }

    fn run_started(&mut self, run: &RunStart) {
        self.update(|s| {
            s.insert("max_epochs".into(), run.max_epochs.into());
            s.insert("train_examples".into(), run.train_examples.into());
            s.insert("valid_examples".into(), run.valid_examples.into());
            s.insert("num_params".into(), run.num_params.into());
        });
    }

    fn epoch_started(&mut self, epoch: usize, max_epochs: usize, steps: usize, done: usize) {
        self.update(|s| {
            s.insert("epoch".into(), epoch.into());
            s.insert("max_epochs".into(), max_epochs.into());
            s.insert("steps".into(), steps.into());
            s.insert("step".into(), done.into());
        });
    }

    fn step(&mut self, e: &StepEvent) {
        self.update(|s| {
            s.insert("epoch".into(), e.epoch.into());
            s.insert("step".into(), e.step.into());
            s.insert("steps".into(), e.steps.into());
            s.insert("global_step".into(), e.global_step.into());
            s.insert("loss".into(), e.loss.into());
            s.insert("epoch_loss".into(), e.epoch_loss.into());
            s.insert("epoch_acc".into(), e.epoch_acc.into());
            s.insert("lr".into(), f64::from(e.lr).into());
            s.insert("examples_per_s".into(), e.examples_per_s.into());
        });
    }

    fn epoch_finished(&mut self, e: &EpochEnd) {
        let record = serde_json::to_value(e.metrics).unwrap_or(Value::Null);
        self.update(|s| {
            s.insert("last_epoch".into(), record);
            s.insert("improved".into(), e.improved.into());
        });
    }
}
