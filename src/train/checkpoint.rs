//! Resumable training state in `<output>/checkpoint/`: parameters and optimizer state in a
//! safetensors file, position in the run (epoch, batch, running sums, history, best epoch) in
//! `state.json`, which is written last and names the tensor file, so a crash at any point leaves
//! a consistent pair.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::fit::EpochMetrics;
use crate::bundle::{TensorMap, load_tensors, save_tensors};
use crate::fsutil::write_atomic;
use crate::model::Architecture;
use crate::model::{Model, Trainer};

use crate::bundle::{CHECKPOINT_DIR as DIR, CHECKPOINT_STATE as STATE_FILE};

/// The mark of a finished run's checkpoint kept on purpose ([`Checkpoint::mark_kept`]).
const KEPT_FILE: &str = "kept";
const MODEL_PREFIX: &str = "model/";
/// Largest `state.json` read (bytes): the settings, the run description and one line of
/// metrics per epoch.
const MAX_STATE_BYTES: u64 = 256 << 20;
const OPTIM_PREFIX: &str = "optim/";

/// Where a run stands: the next batch to train and the running sums of the current epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochProgress {
    /// Current epoch, 1-based.
    pub epoch: usize,
    /// Batches of the current epoch already trained.
    pub step: usize,
    /// Sum of per-example training loss over the batches done this epoch.
    pub loss_sum: f64,
    /// Training examples right so far this epoch (the head's count with its loss: the class
    /// of the largest logit, or every label at 0.5).
    pub correct: usize,
    /// Training examples seen so far this epoch.
    pub seen: usize,
    /// Every finished epoch's metrics (`metrics.jsonl`).
    pub history: Vec<EpochMetrics>,
    /// Metrics of the best epoch so far (its parameters are in the bundle).
    pub best: Option<EpochMetrics>,
    /// Epochs since the validation metric last improved.
    pub bad_epochs: usize,
}

impl EpochProgress {
    /// The state before the first batch.
    pub fn start() -> EpochProgress {
        EpochProgress {
            epoch: 1,
            step: 0,
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            history: Vec::new(),
            best: None,
            bad_epochs: 0,
        }
    }

    /// Moves to the first batch of the next epoch.
    pub fn next_epoch(&mut self) {
        self.epoch += 1;
        self.step = 0;
        self.loss_sum = 0.0;
        self.correct = 0;
        self.seen = 0;
    }
}

/// Contents of `checkpoint/state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub config: TrainConfig,
    /// The run description given at the start (data specs, reader options), for `--resume`.
    pub run: serde_json::Value,
    pub progress: EpochProgress,
    /// Name of the tensor file in the checkpoint directory.
    pub tensors: String,
}

impl Checkpoint {
    /// Saves parameters, optimizer state and progress. The previous tensor file is removed only
    /// after the new `state.json` points to the new one.
    pub fn save(
        output: &Path,
        config: &TrainConfig,
        run: &serde_json::Value,
        trainer: &Trainer,
        progress: &EpochProgress,
    ) -> Result<()> {
        let dir = output.join(DIR);
        let old = Checkpoint::load(output).ok().map(|c| c.tensors);
        let name = format!("state-e{}-b{}.safetensors", progress.epoch, progress.step);
        // The parameters are written from the trainer, not copied.
        let optim = trainer.optimizer_state();
        let mut tensors: Vec<(String, Vec<usize>, &[f32])> = trainer
            .named_params()
            .into_iter()
            .map(|(n, shape, data)| (format!("{MODEL_PREFIX}{n}"), shape, data))
            .collect();
        tensors.extend(
            optim
                .iter()
                .map(|(n, s, d)| (format!("{OPTIM_PREFIX}{n}"), s.clone(), d.as_ref())),
        );
        save_tensors(&dir.join(&name), &tensors)?;
        let state = Checkpoint {
            config: config.clone(),
            run: run.clone(),
            progress: progress.clone(),
            tensors: name.clone(),
        };
        write_atomic(&dir.join(STATE_FILE), &serde_json::to_vec_pretty(&state)?)?;
        if let Some(old) = old.filter(|o| *o != name) {
            let _ = std::fs::remove_file(dir.join(old));
        }
        crate::fault::point("checkpoint");
        Ok(())
    }

    /// Reads `checkpoint/state.json` of a run directory.
    pub fn load(output: &Path) -> Result<Checkpoint> {
        let path = output.join(DIR).join(STATE_FILE);
        let bytes = crate::fsutil::read_file(
            &path,
            crate::fsutil::Source::RegularFile,
            Some(MAX_STATE_BYTES),
        )
        .context("no checkpoint to resume")?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{} is not a valid checkpoint", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid checkpoint", path.display()))
    }

    /// Removes `<output>/checkpoint/` (a finished run keeps only its bundle unless asked to
    /// keep the checkpoint); nothing to do when it is absent.
    ///
    /// # Errors
    /// A checkpoint folder that exists but cannot be removed.
    /// Marks the checkpoint of a finished run as kept on purpose (`--keep-checkpoint`), so that
    /// `--resume` of the finished run leaves it (a checkpoint without the mark is what a run
    /// killed between its final save and the checkpoint's removal left).
    pub fn mark_kept(output: &Path) -> Result<()> {
        crate::fsutil::write_atomic(&output.join(DIR).join(KEPT_FILE), b"--keep-checkpoint\n")
    }

    /// Whether [`Checkpoint::mark_kept`] marked the checkpoint in `output`.
    pub fn is_kept(output: &Path) -> bool {
        output.join(DIR).join(KEPT_FILE).is_file()
    }

    pub fn remove(output: &Path) -> Result<()> {
        let dir = output.join(DIR);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", dir.display())),
        }
    }

    /// Loads parameters and optimizer state into `trainer`.
    pub fn restore(&self, output: &Path, trainer: &mut Trainer, arch: &Architecture) -> Result<()> {
        let all = load_tensors(&output.join(DIR).join(&self.tensors))?;
        let (mut model, mut optim) = (TensorMap::new(), TensorMap::new());
        for (name, t) in all {
            if let Some(n) = name.strip_prefix(MODEL_PREFIX) {
                model.insert(n.to_string(), t);
            } else if let Some(n) = name.strip_prefix(OPTIM_PREFIX) {
                optim.insert(n.to_string(), t);
            }
        }
        trainer
            .set_model(Model::from_named_params(arch, &model).context("checkpoint parameters")?)?;
        trainer
            .load_optimizer_state(&optim)
            .context("checkpoint optimizer state")?;
        Ok(())
    }
}
