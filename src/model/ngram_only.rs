//! `--arch ngram`: no network. The model is the n-gram branch alone (the NB-weighted
//! logistic regression of [`crate::ngram`], fitted in the last training stage exactly as for
//! `ngram-cnn`), with the mixture's CNN exponent 0 — a fast linear baseline inside the tool, as
//! fastText's supervised model is one.
//!
//! The registry needs a network for every architecture, so this one has no parameters and
//! answers zero logits (a uniform distribution, which the mixture weighs 0): prediction,
//! explanation, evaluation and serving then read the n-gram branch unchanged.

use std::collections::HashMap;

use anyhow::ensure;
use serde::{Deserialize, Serialize};

use super::network::{Gradients, Network, NetworkConfig, ParamSpec};
use crate::batch::Batch;

/// Settings of the parameterless network of `--arch ngram` (`config.json` →
/// `"architecture": {"type": "ngram", ...}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NgramOnlyConfig {
    /// Rows of the vocabulary the text pipeline encodes with (ids are checked against it).
    pub vocab_size: usize,
    /// Output classes.
    pub num_classes: usize,
}

/// The network of `--arch ngram`: no parameters, logits all zero.
#[derive(Clone, Debug)]
pub struct NgramOnly {
    config: NgramOnlyConfig,
}

impl NgramOnly {
    /// The configuration this model was built from.
    pub fn config(&self) -> &NgramOnlyConfig {
        &self.config
    }

    /// Logits `[batch, num_classes]`: zeros.
    pub fn logits(&self, batch: &Batch) -> Vec<f32> {
        vec![0.0; batch.batch * self.config.num_classes]
    }
}

impl Network for NgramOnly {
    type Scratch = ();

    fn param_specs(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    fn params(&self) -> Vec<&[f32]> {
        Vec::new()
    }

    fn params_mut(&mut self) -> Vec<&mut [f32]> {
        Vec::new()
    }

    fn emb_dim(&self) -> usize {
        0
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn check_batch(&self, batch: &Batch) {
        batch.check(self.config.vocab_size);
    }

    fn forward_train(&self, batch: &Batch, _seed: u64, _scratch: &mut (), logits: &mut Vec<f32>) {
        logits.clear();
        logits.resize(batch.batch * self.config.num_classes, 0.0);
    }

    fn backward(
        &self,
        _batch: &Batch,
        _scratch: &mut (),
        _dlogits: &[f32],
        _train_embedding: bool,
        _grads: &mut Gradients,
    ) {
    }
}

impl NetworkConfig for NgramOnlyConfig {
    type Net = NgramOnly;

    fn build(&self, _seed: u64) -> NgramOnly {
        NgramOnly {
            config: self.clone(),
        }
    }

    fn load(&self, tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>) -> anyhow::Result<NgramOnly> {
        ensure!(
            tensors.is_empty(),
            "an n-gram model has no network parameters, but the bundle holds {}",
            tensors.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        Ok(self.build(0))
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        Vec::new()
    }

    fn param_specs(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.num_classes >= 1, "num_classes must be >= 1");
        ensure!(self.vocab_size >= 1, "vocab_size must be >= 1");
        Ok(())
    }

    fn training_floats(&self, _seq_len: usize) -> Option<(usize, usize)> {
        Some((0, 0))
    }

    fn describe(&self) -> String {
        "ngram: the n-gram branch alone (no CNN)".to_string()
    }

    fn min_len(&self) -> usize {
        1
    }

    fn check_encoding(&self, min_len: usize, max_len: usize) -> Result<(), String> {
        if min_len < 1 || (max_len != 0 && max_len < min_len) {
            return Err(format!(
                "\"encode\" has min_len {min_len} and max_len {max_len}; an n-gram model needs min_len >= 1"
            ));
        }
        Ok(())
    }

    fn logit_bound(&self, _layer: &mut dyn FnMut(&str, f64) -> f64, _embedding: f64) -> f64 {
        0.0
    }

    fn shrink_flags(&self) -> &'static str {
        "--vocab-size"
    }

    fn for_finetune(
        &self,
        vocab_size: usize,
        num_classes: usize,
        _dropout: f32,
    ) -> anyhow::Result<NgramOnlyConfig> {
        Ok(NgramOnlyConfig {
            vocab_size,
            num_classes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_of_an_ngram_model_has_no_parameters_and_zero_logits() {
        let config = NgramOnlyConfig {
            vocab_size: 5,
            num_classes: 3,
        };
        let net = config.build(1);
        let ids = [1u32, 2, 0, 4, 3, 0];
        let batch = Batch {
            ids: &ids,
            lengths: &[2, 3],
            batch: 2,
            seq_len: 3,
        };
        assert_eq!(net.logits(&batch), vec![0.0; 6]);
        assert!(net.param_specs().is_empty() && config.param_shapes().is_empty());
        assert!(config.load(&HashMap::new()).is_ok());
        let mut stray = HashMap::new();
        stray.insert("fc.weight".to_string(), (vec![1], vec![0.0]));
        assert!(config.load(&stray).is_err());
    }
}
