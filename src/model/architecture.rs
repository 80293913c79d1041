//! The list of architectures a bundle can hold, with their hyperparameters (`config.json` →
//! `"architecture"`).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{Conv2dConfig, KimConfig};

/// The network architecture and its hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Architecture {
    /// Kim (2014): region sizes × feature maps, max-over-time pooling, dropout, dense.
    Kim(KimConfig),
    /// The tutorial's 2-D CNN: k×k convolution blocks with 2-D pooling, flatten, dense layers.
    Conv2d(Conv2dConfig),
}

impl Architecture {
    /// Output classes.
    pub fn num_classes(&self) -> usize {
        match self {
            Architecture::Kim(c) => c.num_classes,
            Architecture::Conv2d(c) => c.num_classes,
        }
    }

    /// Rows of the embedding table (the vocabulary size).
    pub fn vocab_size(&self) -> usize {
        match self {
            Architecture::Kim(c) => c.vocab_size,
            Architecture::Conv2d(c) => c.vocab_size,
        }
    }

    /// Names and shapes of every parameter.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            Architecture::Kim(c) => c.param_shapes(),
            Architecture::Conv2d(c) => c.param_shapes(),
        }
    }

    /// Checks every size ([`KimConfig::validate`], [`Conv2dConfig::validate`]).
    pub fn validate(&self) -> Result<()> {
        match self {
            Architecture::Kim(c) => c.validate(),
            Architecture::Conv2d(c) => c.validate(),
        }
    }

    /// `(parameters, f32 per training example)` for texts of `seq_len` tokens (conv2d: its own
    /// fixed length); `None` on overflow. See [`KimConfig::training_floats`] and
    /// [`Conv2dConfig::training_floats`].
    pub fn training_floats(&self, seq_len: usize) -> Option<(usize, usize)> {
        match self {
            Architecture::Kim(c) => c.training_floats(seq_len),
            Architecture::Conv2d(c) => c.training_floats(),
        }
    }

    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.param_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}
