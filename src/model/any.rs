//! Architecture-agnostic wrappers: [`Model`] and [`Trainer`] expose what the bundle, prediction,
//! training loop and checkpoints need, whatever the architecture.

use std::collections::HashMap;

use super::conv2d::Conv2dNet;
use super::conv2d_trainer::Conv2dTrainer;
use super::kim::{Batch, KimCnn};
use super::trainer::{KimTrainer, StepStats};
use crate::model::Architecture;
use crate::nn::optim::OptimizerConfig;

/// A model of any architecture.
#[derive(Clone, Debug)]
pub enum Model {
    /// Kim (2014) CNN.
    Kim(KimCnn),
    /// The tutorial's 2-D CNN.
    Conv2d(Conv2dNet),
}

impl Model {
    /// The Kim model inside, for the operations only it supports (word-vector export,
    /// fine-tuning, `--init-from`).
    ///
    /// # Errors
    /// When the model is another architecture.
    pub fn kim(&self) -> anyhow::Result<&KimCnn> {
        match self {
            Model::Kim(m) => Ok(m),
            Model::Conv2d(_) => {
                anyhow::bail!("this operation supports Kim models only; the model is conv2d")
            }
        }
    }

    /// Mutable [`Model::kim`].
    pub fn kim_mut(&mut self) -> anyhow::Result<&mut KimCnn> {
        match self {
            Model::Kim(m) => Ok(m),
            Model::Conv2d(_) => {
                anyhow::bail!("this operation supports Kim models only; the model is conv2d")
            }
        }
    }

    /// Freshly initialized model of `arch` (deterministic in `seed`). Panics on an invalid config.
    pub fn new(arch: &Architecture, seed: u64) -> Model {
        match arch {
            Architecture::Kim(c) => Model::Kim(KimCnn::new(c.clone(), seed)),
            Architecture::Conv2d(c) => Model::Conv2d(Conv2dNet::new(c.clone(), seed)),
        }
    }

    /// The architecture and hyperparameters.
    pub fn architecture(&self) -> Architecture {
        match self {
            Model::Kim(m) => Architecture::Kim(m.config().clone()),
            Model::Conv2d(m) => Architecture::Conv2d(m.config().clone()),
        }
    }

    /// Output classes.
    pub fn num_classes(&self) -> usize {
        match self {
            Model::Kim(m) => m.config().num_classes,
            Model::Conv2d(m) => m.config().num_classes,
        }
    }

    /// Logits `[batch, num_classes]`, row-major, no dropout (current rayon pool).
    pub fn logits(&self, batch: &Batch) -> Vec<f32> {
        match self {
            Model::Kim(m) => m.logits(batch),
            Model::Conv2d(m) => m.logits(batch),
        }
    }

    /// Named parameters `(name, shape, data)` in the architecture's order.
    pub fn named_params(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        match self {
            Model::Kim(m) => m.named_params(),
            Model::Conv2d(m) => m.named_params(),
        }
    }

    /// Rebuilds a model of `arch` from named tensors, validating names and shapes.
    pub fn from_named_params(
        arch: &Architecture,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> anyhow::Result<Model> {
        Ok(match arch {
            Architecture::Kim(c) => Model::Kim(KimCnn::from_named_params(c.clone(), tensors)?),
            Architecture::Conv2d(c) => {
                Model::Conv2d(Conv2dNet::from_named_params(c.clone(), tensors)?)
            }
        })
    }
}

/// A trainer of any architecture.
pub enum Trainer {
    /// Trains a Kim CNN.
    Kim(KimTrainer),
    /// Trains a conv2d network.
    Conv2d(Conv2dTrainer),
}

impl Trainer {
    /// New trainer with zero optimizer state.
    pub fn new(model: Model, optim: OptimizerConfig) -> Trainer {
        match model {
            Model::Kim(m) => Trainer::Kim(KimTrainer::new(m, optim)),
            Model::Conv2d(m) => Trainer::Conv2d(Conv2dTrainer::new(m, optim)),
        }
    }

    /// A copy of the current model.
    pub fn model(&self) -> Model {
        match self {
            Trainer::Kim(t) => Model::Kim(t.model.clone()),
            Trainer::Conv2d(t) => Model::Conv2d(t.model.clone()),
        }
    }

    /// Replaces the parameters (same architecture), keeping the optimizer state.
    ///
    /// # Errors
    /// When `model`'s architecture differs from the trainer's.
    pub fn set_model(&mut self, model: Model) -> anyhow::Result<()> {
        match (self, model) {
            (Trainer::Kim(t), Model::Kim(m)) => t.model = m,
            (Trainer::Conv2d(t), Model::Conv2d(m)) => t.model = m,
            _ => anyhow::bail!("the model's architecture differs from the trainer's"),
        }
        Ok(())
    }

    /// Named parameters of the current model.
    pub fn named_params(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        match self {
            Trainer::Kim(t) => t.model.named_params(),
            Trainer::Conv2d(t) => t.model.named_params(),
        }
    }

    /// One training step (forward with dropout from `seed`, backward, update).
    pub fn train_step(&mut self, batch: &Batch, labels: &[u32], seed: u64) -> StepStats {
        match self {
            Trainer::Kim(t) => t.train_step(batch, labels, seed),
            Trainer::Conv2d(t) => t.train_step(batch, labels, seed),
        }
    }

    /// One training step against any targets (multi-hot: one sigmoid per label with binary
    /// cross-entropy, see [`crate::nn::loss::sigmoid_binary_cross_entropy`]).
    pub fn train_step_targets(
        &mut self,
        batch: &Batch,
        targets: crate::nn::loss::Targets,
        seed: u64,
    ) -> StepStats {
        match self {
            Trainer::Kim(t) => t.train_step_targets(batch, targets, seed),
            Trainer::Conv2d(t) => t.train_step_targets(batch, targets, seed),
        }
    }

    /// Weighs class `c`'s examples by `weights[c]` in the training loss (`None`: all alike).
    pub fn set_class_weights(&mut self, weights: Option<Vec<f32>>) {
        match self {
            Trainer::Kim(t) => t.set_class_weights(weights),
            Trainer::Conv2d(t) => t.set_class_weights(weights),
        }
    }

    /// Changes the learning rate.
    pub fn set_lr(&mut self, lr: f32) {
        match self {
            Trainer::Kim(t) => t.set_lr(lr),
            Trainer::Conv2d(t) => t.set_lr(lr),
        }
    }

    /// Optimizer state as named tensors (see [`KimTrainer::optimizer_state`]).
    pub fn optimizer_state(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        match self {
            Trainer::Kim(t) => t.optimizer_state(),
            Trainer::Conv2d(t) => t.optimizer_state(),
        }
    }

    /// Restores the optimizer state, checking names and shapes.
    pub fn load_optimizer_state(
        &mut self,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> anyhow::Result<()> {
        match self {
            Trainer::Kim(t) => t.load_optimizer_state(tensors),
            Trainer::Conv2d(t) => t.load_optimizer_state(tensors),
        }
    }
}
