//! The contract between an architecture and the generic [`crate::model::NetTrainer`]: a declared
//! parameter list ([`ParamSpec`]) and a forward/backward split at the logits. Everything that is
//! the same for every architecture — optimizer state, gradient clipping, sparse or dense embedding
//! updates, max-norm, the loss, state export/import — lives in the trainer; an architecture
//! provides only its forward and backward passes.

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

/// Gradients of one batch.
#[derive(Default)]
pub struct Gradients {
    /// Gradient of the [`ParamRole::Embedding`] table: the batch's rows only.
    pub embedding: SparseRows,
    /// One dense gradient per parameter with [`ParamSpec::has_dense_grad`], in declaration order,
    /// each the length of its parameter.
    pub dense: Vec<Vec<f32>>,
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
