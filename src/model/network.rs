//! The contract between an architecture and the generic [`crate::model::NetTrainer`]: a declared
//! parameter list ([`ParamSpec`]) and a forward/backward split at the logits. Everything that is
//! the same for every architecture — optimizer state, gradient clipping, sparse or dense embedding
//! updates, max-norm, the loss, state export/import — lives in the trainer; an architecture
//! provides only its forward and backward passes.

use std::collections::HashMap;

use crate::batch::Batch;
use crate::nn::embedding::SparseRows;

/// What a parameter is, which decides how the trainer treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    /// The trainable token embedding `[vocab_size, emb_dim]` (row 0 = `<pad>`, kept zero). Its
    /// gradient is sparse (the rows of the batch); frozen with `freeze_embedding`.
    Embedding,
    /// An embedding channel that is never trained (Kim 2014's static channel,
    /// `[vocab_size, emb_dim]`). It has no optimizer state and no gradient.
    FrozenEmbedding,
    /// A hidden weight (convolution kernels, hidden dense layers).
    Weight,
    /// A hidden bias.
    Bias,
    /// The output layer's weight `[num_classes, n_in]`; max-norm (Kim 2014 §2.1) applies to its rows.
    OutputWeight,
    /// The output layer's bias `[num_classes]`.
    OutputBias,
}

/// One declared parameter: its name in the bundle (safetensors), shape and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Tensor name, e.g. `conv3.weight`.
    pub name: String,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// How the trainer treats it.
    pub role: ParamRole,
}

impl ParamSpec {
    /// Whether the optimizer updates this parameter (the embedding only when not frozen).
    pub fn trainable(&self, freeze_embedding: bool) -> bool {
        match self.role {
            ParamRole::Embedding => !freeze_embedding,
            ParamRole::FrozenEmbedding => false,
            _ => true,
        }
    }

    /// Whether this parameter has a dense gradient in [`Gradients::dense`] (every role but the
    /// two embeddings).
    pub fn has_dense_grad(&self) -> bool {
        !matches!(self.role, ParamRole::Embedding | ParamRole::FrozenEmbedding)
    }
}

impl ParamSpec {
    /// Declares `shapes` (`(name, shape)`, the trainable embedding first) with roles by
    /// position: the first is the [`ParamRole::Embedding`]; a later name in `frozen` is a
    /// [`ParamRole::FrozenEmbedding`]; of the rest, the last two are the output weight and bias, the
    /// others weights (`*.weight`) or biases.
    pub fn from_shapes(shapes: Vec<(String, Vec<usize>)>, frozen: &[&str]) -> Vec<ParamSpec> {
        let last = shapes
            .iter()
            .rposition(|(n, _)| !frozen.contains(&n.as_str()))
            .map_or(0, |i| i + 1);
        shapes
            .into_iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                let role = if i == 0 {
                    ParamRole::Embedding
                } else if frozen.contains(&name.as_str()) {
                    ParamRole::FrozenEmbedding
                } else if i + 2 == last {
                    ParamRole::OutputWeight
                } else if i + 1 == last {
                    ParamRole::OutputBias
                } else if name.ends_with(".weight") {
                    ParamRole::Weight
                } else {
                    ParamRole::Bias
                };
                ParamSpec { name, shape, role }
            })
            .collect()
    }
}

/// Gradients of one batch.
#[derive(Default)]
pub struct Gradients {
    /// Gradient of the [`ParamRole::Embedding`] table: the batch's rows only.
    pub embedding: SparseRows,
    /// One dense gradient per parameter with [`ParamSpec::has_dense_grad`], in declaration order,
    /// each the length of its parameter.
    pub dense: Vec<Vec<f32>>,
}

/// The hyperparameters of one architecture (its entry in the bundle's `config.json` →
/// `"architecture"`): what [`crate::model::Architecture`] needs from each.
pub trait NetworkConfig: Clone {
    /// The network these settings build.
    type Net: Network;

    /// Freshly initialized network, deterministic in `seed`. Panics on an invalid config.
    fn build(&self, seed: u64) -> Self::Net;

    /// The network from named tensors `name → (shape, data)`, validating names and shapes.
    ///
    /// # Errors
    /// Names the missing, unexpected or mis-shaped tensor, or the invalid setting.
    fn load(&self, tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>) -> anyhow::Result<Self::Net>;

    /// Output classes.
    fn num_classes(&self) -> usize;

    /// Rows of the embedding table.
    fn vocab_size(&self) -> usize;

    /// Names and shapes of every parameter, in declaration order.
    fn param_shapes(&self) -> Vec<(String, Vec<usize>)>;

    /// The declared parameters (names, shapes, roles) of the network these settings build, in
    /// declaration order (its [`Network::param_specs`]).
    fn param_specs(&self) -> Vec<ParamSpec> {
        ParamSpec::from_shapes(self.param_shapes(), &[])
    }

    /// Checks every size.
    ///
    /// # Errors
    /// Names the setting that is out of range.
    fn validate(&self) -> anyhow::Result<()>;

    /// `(parameters, f32 per training example)` for texts of `seq_len` tokens; `None` on
    /// overflow.
    fn training_floats(&self, seq_len: usize) -> Option<(usize, usize)>;

    /// One line naming the architecture and its layers, e.g. `kim: emb 128, regions [3, 4, 5]
    /// x 100 maps` (without the parameter count).
    fn describe(&self) -> String;

    /// Tokens every input is padded to at least (Kim: the widest region size, so that every
    /// text has one window; conv2d: its fixed input length).
    fn min_len(&self) -> usize;

    /// The exact input length of a network that reads a fixed number of tokens (conv2d);
    /// `None` when any length from [`NetworkConfig::min_len`] on works.
    fn fixed_len(&self) -> Option<usize> {
        None
    }

    /// Whether the network has a frozen second embedding channel (Kim 2014's multichannel).
    fn multichannel(&self) -> bool {
        false
    }

    /// Checks the encoding a bundle records (texts padded to `min_len` tokens and cut at
    /// `max_len`, 0 = no limit) against what this network reads.
    ///
    /// # Errors
    /// A message giving the recorded lengths and the ones the network needs.
    fn check_encoding(&self, min_len: usize, max_len: usize) -> Result<(), String>;

    /// An upper bound of |logit| for inputs whose embedding entries are at most `embedding` in
    /// absolute value, given `layer(name, input_bound)`, the bound of the output of the
    /// layer `name` (its `name.weight` and `name.bias`) from the bound of its inputs.
    fn logit_bound(&self, layer: &mut dyn FnMut(&str, f64) -> f64, embedding: f64) -> f64;

    /// The settings (flags) that shrink this architecture's memory, for the message that
    /// refuses a model too large for the machine.
    fn shrink_flags(&self) -> &'static str;

    /// These hyperparameters continued by fine-tuning on a `vocab_size`-row vocabulary and
    /// `num_classes` labels with `dropout` (the layers stay the parent's).
    ///
    /// # Errors
    /// When the architecture cannot be fine-tuned (the default).
    fn for_finetune(
        &self,
        _vocab_size: usize,
        _num_classes: usize,
        _dropout: f32,
    ) -> anyhow::Result<Self> {
        anyhow::bail!(
            "fine-tuning supports Kim models only; this one is {}",
            self.describe()
        )
    }
}

/// An architecture the generic trainer can train.
///
/// Implementations keep no state between calls except in `Scratch`, which the trainer owns:
/// [`Network::forward_train`] stores there what [`Network::backward`] needs.
pub trait Network: Clone + Send + Sync {
    /// Per-batch buffers of the training forward/backward pass.
    type Scratch: Default + Send;

    /// The declared parameters, in the order of [`Network::params`] and of the bundle. The
    /// [`ParamRole::Embedding`] comes first.
    fn param_specs(&self) -> Vec<ParamSpec>;

    /// The parameters' data, in [`Network::param_specs`] order.
    fn params(&self) -> Vec<&[f32]>;

    /// Mutable parameters, in [`Network::param_specs`] order (keep embedding row 0 zero).
    fn params_mut(&mut self) -> Vec<&mut [f32]>;

    /// Named parameters `(name, shape, data)` in [`Network::param_specs`] order (the bundle's
    /// tensors).
    fn named_params(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        self.param_specs()
            .into_iter()
            .zip(self.params())
            .map(|(s, d)| (s.name, s.shape, d))
            .collect()
    }

    /// Mutable [`Network::named_params`] (for tests and tools; keep embedding row 0 zero).
    fn named_params_mut(&mut self) -> Vec<(String, Vec<usize>, &mut [f32])> {
        self.param_specs()
            .into_iter()
            .zip(self.params_mut())
            .map(|(s, d)| (s.name, s.shape, d))
            .collect()
    }

    /// Embedding width.
    fn emb_dim(&self) -> usize;

    /// Output classes (logits per example).
    fn num_classes(&self) -> usize;

    /// Panics with a clear message if `batch` does not fit this network.
    fn check_batch(&self, batch: &Batch);

    /// Logits `[batch, num_classes]` with dropout (masks from `seed`), keeping in `scratch` what
    /// the backward pass needs. Deterministic: independent of the thread count.
    fn forward_train(
        &self,
        batch: &Batch,
        seed: u64,
        scratch: &mut Self::Scratch,
        logits: &mut Vec<f32>,
    );

    /// Backward from `dlogits` `[batch, num_classes]` (the loss gradient w.r.t. the logits of the
    /// last [`Network::forward_train`] on the same `batch`): overwrites every
    /// `grads.dense[i]` and, when `train_embedding`, sets `grads.embedding` to the batch's rows.
    fn backward(
        &self,
        batch: &Batch,
        scratch: &mut Self::Scratch,
        dlogits: &[f32],
        train_embedding: bool,
        grads: &mut Gradients,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Conv2dConfig, Conv2dNet, KimCnn, KimConfig};

    fn roles(specs: &[ParamSpec]) -> Vec<(&str, ParamRole)> {
        specs.iter().map(|s| (s.name.as_str(), s.role)).collect()
    }

    #[test]
    fn kim_multichannel_roles() {
        let cfg = KimConfig {
            multichannel: true,
            ..KimConfig::for_test(10, 4, &[2, 3], 5, 3, 0.5)
        };
        let specs = KimCnn::new(cfg, 1).param_specs();
        use ParamRole::*;
        assert_eq!(
            roles(&specs),
            vec![
                ("embedding.weight", Embedding),
                ("conv2.weight", Weight),
                ("conv2.bias", Bias),
                ("conv3.weight", Weight),
                ("conv3.bias", Bias),
                ("fc.weight", OutputWeight),
                ("fc.bias", OutputBias),
                ("embedding_static.weight", FrozenEmbedding),
            ]
        );
        assert_eq!(specs[5].shape, vec![3, 10]);
        assert!(!specs[7].trainable(false) && !specs[0].trainable(true));
        assert!(specs[0].trainable(false) && !specs[0].has_dense_grad());
    }

    #[test]
    fn conv2d_roles_follow_declaration_order() {
        let cfg = Conv2dConfig {
            vocab_size: 9,
            emb_dim: 4,
            seq_len: 6,
            blocks: vec!["3x2:max2".parse().unwrap(), "2x3:avg1".parse().unwrap()],
            hidden: vec![5],
            dropout: 0.5,
            num_classes: 3,
            init: crate::model::InitScheme::Torch,
        };
        let net = Conv2dNet::new(cfg, 1);
        let specs = net.param_specs();
        let n = specs.len();
        assert_eq!(specs[0].role, ParamRole::Embedding);
        assert_eq!(specs[n - 2].role, ParamRole::OutputWeight);
        assert_eq!(specs[n - 1].role, ParamRole::OutputBias);
        for s in &specs[1..n - 2] {
            let want = if s.name.ends_with(".weight") {
                ParamRole::Weight
            } else {
                ParamRole::Bias
            };
            assert_eq!(s.role, want, "{}", s.name);
        }
        // Names, shapes and data line up with the bundle's tensors.
        let named = net.named_params();
        assert_eq!(named.len(), n);
        for ((name, shape, data), s) in named.iter().zip(&specs) {
            assert_eq!((name, shape), (&s.name, &s.shape));
            assert_eq!(data.len(), shape.iter().product::<usize>());
        }
    }
}
