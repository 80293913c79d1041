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

    /// Sets the fields `fields` of the state (others keep their values).
    fn set<const N: usize>(&self, fields: [(&str, Value); N]) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !state.is_object() {
            *state = json!({});
        }
        let map = state.as_object_mut().expect("an object");
        for (key, value) in fields {
            map.insert(key.to_string(), value);
        }
    }
}

impl TrainObserver for Progress {
    fn stage_started(&mut self, stage: Stage) {
        self.set([("stage", stage.name().into())]);
    }

    fn run_started(&mut self, run: &RunStart) {
        self.set([
            ("max_epochs", run.max_epochs.into()),
            ("train_examples", run.train_examples.into()),
            ("valid_examples", run.valid_examples.into()),
            ("num_params", run.num_params.into()),
        ]);
    }

    fn epoch_started(&mut self, epoch: usize, max_epochs: usize, steps: usize, done: usize) {
        self.set([
            ("epoch", epoch.into()),
            ("max_epochs", max_epochs.into()),
            ("steps", steps.into()),
            ("step", done.into()),
        ]);
    }

    fn step(&mut self, e: &StepEvent) {
        self.set([
            ("epoch", e.epoch.into()),
            ("step", e.step.into()),
            ("steps", e.steps.into()),
            ("global_step", e.global_step.into()),
            ("loss", e.loss.into()),
            ("epoch_loss", e.epoch_loss.into()),
            ("epoch_acc", e.epoch_acc.into()),
            ("lr", f64::from(e.lr).into()),
            ("examples_per_s", e.examples_per_s.into()),
        ]);
    }

    fn epoch_finished(&mut self, e: &EpochEnd) {
        let record = serde_json::to_value(e.metrics).unwrap_or(Value::Null);
        self.set([("last_epoch", record), ("improved", e.improved.into())]);
    }
}
