//! The architecture registry and the wrappers it generates: [`Architecture`], [`Model`] and
//! [`Trainer`] expose what the bundle, prediction, training loop and checkpoints need, whatever
//! the architecture.
//!
//! The list of architectures is written once, in `for_each_arch!`: each entry names the variant,
//! the network type (which implements [`Network`]) and its settings type (which implements
//! [`NetworkConfig`]). [`Architecture`], [`Model`] and [`Trainer`] and every method dispatching
//! on them are generated from that list, and so are the training settings' `ArchKind` and
//! the `--arch` choices (`train::arch_settings`). Adding an architecture: its folder under
//! `src/model/` (network, training pass, config with its [`NetworkConfig`] impl: description,
//! input lengths, logit bound, fine-tuning rule) and one line here; then its flag group: rows
//! marked `only [Name]` in the settings table (`src/train/settings.rs`) and its `FromSettings`
//! impl (`src/train/arch_settings.rs`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::conv2d::{Conv2dConfig, Conv2dNet};
use super::kim::{Batch, KimCnn, KimConfig};
use super::network::{Network, NetworkConfig, ParamRole, ParamSpec};
use super::ngram_only::{NgramOnly, NgramOnlyConfig};
use super::trainer::{NetTrainer, StepStats};
use crate::nn::optim::OptimizerConfig;

/// The registry: calls `$m! { (Variant, NetworkType, ConfigType, "doc"), ... }`. The variant
/// names the architecture in [`Architecture`], [`Model`] and [`Trainer`]; its lowercase form is
/// the `"type"` in a bundle's `config.json`.
macro_rules! for_each_arch {
    ($m:ident) => {
        $m! {
            (Kim, KimCnn, KimConfig,
             "Kim (2014): region sizes × feature maps, max-over-time pooling, dropout, dense."),
            (Conv2d, Conv2dNet, Conv2dConfig,
             "The tutorial's 2-D CNN: k×k convolution blocks with 2-D pooling, flatten, dense layers."),
            (Ngram, NgramOnly, NgramOnlyConfig,
             "The n-gram branch alone, no CNN: NB-weighted logistic regression over word (and character) n-grams, a fast linear baseline."),
        }
    };
}

macro_rules! define_wrappers {
    ($(($v:ident, $net:ty, $cfg:ty, $doc:literal)),+ $(,)?) => {
        /// The network architecture and its hyperparameters (`config.json` → `"architecture"`).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        pub enum Architecture {
            $(
                #[doc = $doc]
                $v($cfg),
            )+
        }

        impl Architecture {
            /// Total number of parameters.
            pub fn num_params(&self) -> usize {
                self.param_shapes()
                    .iter()
                    .map(|(_, s)| s.iter().product::<usize>())
                    .sum()
            }

            /// Output classes.
            pub fn num_classes(&self) -> usize {
                match self { $(Architecture::$v(c) => c.num_classes(),)+ }
            }

            /// Rows of the embedding table (the vocabulary size).
            pub fn vocab_size(&self) -> usize {
                match self { $(Architecture::$v(c) => NetworkConfig::vocab_size(c),)+ }
            }

            /// Names and shapes of every parameter.
            pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
                match self { $(Architecture::$v(c) => NetworkConfig::param_shapes(c),)+ }
            }

            /// The declared parameters (names, shapes, roles), in declaration order.
            pub fn param_specs(&self) -> Vec<ParamSpec> {
                match self { $(Architecture::$v(c) => NetworkConfig::param_specs(c),)+ }
            }

            /// Checks every size.
            ///
            /// # Errors
            /// Names the setting that is out of range.
            pub fn validate(&self) -> anyhow::Result<()> {
                match self { $(Architecture::$v(c) => NetworkConfig::validate(c),)+ }
            }

            /// `(parameters, f32 per training example)` for texts of `seq_len` tokens (conv2d:
            /// its own fixed length); `None` on overflow.
            pub fn training_floats(&self, seq_len: usize) -> Option<(usize, usize)> {
                match self { $(Architecture::$v(c) => NetworkConfig::training_floats(c, seq_len),)+ }
            }

            /// One line naming the architecture and its layers (see
            /// [`NetworkConfig::describe`]).
            pub fn describe(&self) -> String {
                match self { $(Architecture::$v(c) => NetworkConfig::describe(c),)+ }
            }

            /// Tokens every input is padded to at least.
            pub fn min_len(&self) -> usize {
                match self { $(Architecture::$v(c) => NetworkConfig::min_len(c),)+ }
            }

            /// The exact input length of a fixed-length network (conv2d).
            pub fn fixed_len(&self) -> Option<usize> {
                match self { $(Architecture::$v(c) => NetworkConfig::fixed_len(c),)+ }
            }

            /// Whether the network has a frozen second embedding channel.
            pub fn multichannel(&self) -> bool {
                match self { $(Architecture::$v(c) => NetworkConfig::multichannel(c),)+ }
            }

            /// Checks a recorded encoding (see [`NetworkConfig::check_encoding`]).
            ///
            /// # Errors
            /// The recorded lengths and the ones the network needs.
            pub fn check_encoding(&self, min_len: usize, max_len: usize) -> Result<(), String> {
                match self { $(Architecture::$v(c) => NetworkConfig::check_encoding(c, min_len, max_len),)+ }
            }

            /// An upper bound of |logit| (see [`NetworkConfig::logit_bound`]).
            pub fn logit_bound(&self, layer: &mut dyn FnMut(&str, f64) -> f64, embedding: f64) -> f64 {
                match self { $(Architecture::$v(c) => NetworkConfig::logit_bound(c, layer, embedding),)+ }
            }

            /// The flags that shrink this architecture's memory.
            pub fn shrink_flags(&self) -> &'static str {
                match self { $(Architecture::$v(c) => NetworkConfig::shrink_flags(c),)+ }
            }

            /// The architecture continued by fine-tuning (see [`NetworkConfig::for_finetune`]).
            ///
            /// # Errors
            /// When the architecture cannot be fine-tuned.
            pub fn for_finetune(
                &self,
                vocab_size: usize,
                num_classes: usize,
                dropout: f32,
            ) -> anyhow::Result<Architecture> {
                Ok(match self {
                    $(Architecture::$v(c) => Architecture::$v(c.for_finetune(vocab_size, num_classes, dropout)?),)+
                })
            }
        }

        /// A model of any architecture.
        #[derive(Clone, Debug)]
        pub enum Model {
            $(
                #[doc = concat!("A [`", stringify!($net), "`].")]
                $v($net),
            )+
        }

        /// A trainer of any architecture (the generic [`NetTrainer`] of each).
        pub enum Trainer {
            $(
                #[doc = concat!("Trains a [`", stringify!($net), "`].")]
                $v(NetTrainer<$net>),
            )+
        }

        impl Model {
            /// Freshly initialized model of `arch` (deterministic in `seed`). Panics on an
            /// invalid config.
            pub fn new(arch: &Architecture, seed: u64) -> Model {
                match arch { $(Architecture::$v(c) => Model::$v(c.build(seed)),)+ }
            }

            /// Output classes.
            pub fn num_classes(&self) -> usize {
                match self { $(Model::$v(m) => Network::num_classes(m),)+ }
            }

            /// Logits `[batch, num_classes]`, row-major, no dropout (current rayon pool).
            pub fn logits(&self, batch: &Batch) -> Vec<f32> {
                match self { $(Model::$v(m) => m.logits(batch),)+ }
            }

            /// Named parameters `(name, shape, data)` in the architecture's order.
            pub fn named_params(&self) -> Vec<(String, Vec<usize>, &[f32])> {
                match self { $(Model::$v(m) => m.named_params(),)+ }
            }

            /// Mutable parameters, in [`Model::named_params`] order (keep embedding row 0 zero).
            pub fn params_mut(&mut self) -> Vec<&mut [f32]> {
                match self { $(Model::$v(m) => m.params_mut(),)+ }
            }

            /// The declared parameters (names, shapes, roles), in [`Model::named_params`] order.
            pub fn param_specs(&self) -> Vec<ParamSpec> {
                match self { $(Model::$v(m) => m.param_specs(),)+ }
            }

            /// The architecture and hyperparameters.
            pub fn architecture(&self) -> Architecture {
                match self { $(Model::$v(m) => Architecture::$v(m.config().clone()),)+ }
            }

            /// Rebuilds a model of `arch` from named tensors, validating names and shapes.
            ///
            /// # Errors
            /// Names the missing, unexpected or mis-shaped tensor.
            pub fn from_named_params(
                arch: &Architecture,
                tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
            ) -> anyhow::Result<Model> {
                Ok(match arch {
                    $(Architecture::$v(c) => Model::$v(c.load(tensors)?),)+
                })
            }
        }

        impl Trainer {
            /// New trainer with zero optimizer state.
            pub fn new(model: Model, optim: OptimizerConfig) -> Trainer {
                match model { $(Model::$v(m) => Trainer::$v(NetTrainer::new(m, optim)),)+ }
            }

            /// Named parameters of the current model.
            pub fn named_params(&self) -> Vec<(String, Vec<usize>, &[f32])> {
                match self { $(Trainer::$v(t) => t.model.named_params(),)+ }
            }

            /// Frees the optimizer state and gradients once training is over (see
            /// [`NetTrainer::release_training_state`]); the model stays.
            pub(crate) fn release_training_state(&mut self) {
                match self { $(Trainer::$v(t) => t.release_training_state(),)+ }
            }

            /// One training step (forward with dropout from `seed`, backward, update).
            pub fn train_step(&mut self, batch: &Batch, labels: &[u32], seed: u64) -> StepStats {
                match self { $(Trainer::$v(t) => t.train_step(batch, labels, seed),)+ }
            }

            /// One training step against any targets (multi-hot: one sigmoid per label with
            /// binary cross-entropy, see [`crate::nn::loss::sigmoid_binary_cross_entropy`]).
            pub fn train_step_targets(
                &mut self,
                batch: &Batch,
                targets: crate::nn::loss::Targets,
                seed: u64,
            ) -> StepStats {
                match self { $(Trainer::$v(t) => t.train_step_targets(batch, targets, seed),)+ }
            }

            /// One training step with the loss computed by `loss(logits, dlogits)` (see
            /// [`NetTrainer::train_step_with`]).
            pub fn train_step_with(
                &mut self,
                batch: &Batch,
                seed: u64,
                loss: &mut super::trainer::LossFn,
            ) -> StepStats {
                match self { $(Trainer::$v(t) => t.train_step_with(batch, seed, loss),)+ }
            }

            /// Weighs class `c`'s examples by `weights[c]` in the training loss (`None`: all alike).
            pub fn set_class_weights(&mut self, weights: Option<Vec<f32>>) {
                match self { $(Trainer::$v(t) => t.set_class_weights(weights),)+ }
            }

            /// Changes the learning rate.
            pub fn set_lr(&mut self, lr: f32) {
                match self { $(Trainer::$v(t) => t.set_lr(lr),)+ }
            }

            /// Optimizer state as named tensors (see [`NetTrainer::optimizer_state`]).
            pub fn optimizer_state(&self) -> Vec<(String, Vec<usize>, std::borrow::Cow<'_, [f32]>)> {
                match self { $(Trainer::$v(t) => t.optimizer_state(),)+ }
            }

            /// Restores the optimizer state, checking names and shapes.
            ///
            /// # Errors
            /// Names the missing, unexpected or mis-shaped tensor.
            pub fn load_optimizer_state(
                &mut self,
                tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
            ) -> anyhow::Result<()> {
                match self { $(Trainer::$v(t) => t.load_optimizer_state(tensors),)+ }
            }

            /// A copy of the current model.
            pub fn model(&self) -> Model {
                match self { $(Trainer::$v(t) => Model::$v(t.model.clone()),)+ }
            }

            /// Replaces the parameters (same architecture), keeping the optimizer state.
            ///
            /// # Errors
            /// When `model`'s architecture differs from the trainer's.
            pub fn set_model(&mut self, model: Model) -> anyhow::Result<()> {
                match (self, model) {
                    $((Trainer::$v(t), Model::$v(m)) => t.model = m,)+
                    #[allow(unreachable_patterns)]
                    _ => anyhow::bail!("the model's architecture differs from the trainer's"),
                }
                Ok(())
            }
        }
    };
}

for_each_arch!(define_wrappers);

/// The registry for the rest of the crate (the training settings' `ArchKind` and `--arch`
/// choices are generated from it too).
pub(crate) use for_each_arch;

impl Model {
    /// The trained embedding table `[vocab_size, emb_dim]` and its width; `None` for a model
    /// without a network (`--arch ngram`). Every network declares its embedding first.
    pub fn embedding(&self) -> Option<(&[f32], usize)> {
        let params = self.named_params();
        let first = params.first()?;
        debug_assert_eq!(self.param_specs()[0].role, ParamRole::Embedding);
        Some((first.2, first.1[1]))
    }

    /// The frozen embedding channel `[vocab_size, emb_dim]` (Kim 2014's multichannel static
    /// channel), if the model has one.
    pub fn frozen_embedding(&self) -> Option<&[f32]> {
        let specs = self.param_specs();
        let i = specs
            .iter()
            .position(|s| s.role == ParamRole::FrozenEmbedding)?;
        Some(self.named_params()[i].2)
    }

    /// Sets the memory cap in bytes of the Kim CNN's inference projection cache (see
    /// [`KimCnn::set_proj_cache_bytes`]; 0 turns it off). Other architectures have none: no
    /// effect.
    pub fn set_proj_cache_bytes(&mut self, bytes: usize) {
        if let Model::Kim(m) = self {
            m.set_proj_cache_bytes(bytes);
        }
    }

    /// Frees the Kim CNN's inference projection cache until the next inference call rebuilds
    /// it, with the same results (see [`KimCnn::release_proj_cache`]).
    pub fn release_proj_cache(&mut self) {
        if let Model::Kim(m) = self {
            m.release_proj_cache();
        }
    }

    /// Builds the Kim CNN's inference projection cache now, in the current rayon pool (see
    /// [`KimCnn::warm_proj_cache`]): `(words covered, bytes)`; `(0, 0)` for other architectures.
    pub fn warm_proj_cache(&self) -> (usize, usize) {
        match self {
            Model::Kim(m) => {
                let rows = m.warm_proj_cache();
                let c = m.config();
                (
                    rows,
                    rows * c.region_sizes.iter().sum::<usize>() * c.feature_maps * 4,
                )
            }
            _ => (0, 0),
        }
    }

    /// The Kim model inside, for the operations only it supports (`--init-conv`).
    ///
    /// # Errors
    /// When the model is another architecture.
    pub fn kim(&self) -> anyhow::Result<&KimCnn> {
        match self {
            Model::Kim(m) => Ok(m),
            _ => anyhow::bail!("this operation supports Kim models only; the model is conv2d"),
        }
    }
}
