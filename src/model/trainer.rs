//! The one trainer of every architecture: forward with dropout, (weighted) softmax cross-entropy,
//! backward, optimizer update. Owns the optimizer state, the gradients, clipping, the sparse or
//! dense embedding update, max-norm, the step count and state export/import; the architecture
//! contributes only [`Network::forward_train`] and [`Network::backward`].

use std::collections::HashMap;

use super::network::{Gradients, Network, ParamRole, ParamSpec};
use crate::batch::Batch;
use crate::nn::loss::{Targets, loss_and_gradient};
use crate::nn::optim::{
    OptimizerConfig, StepConsts, apply_max_norm, clip_factor, sum_squares, update_dense,
    update_rows,
};

/// A training loss: `loss(logits, dlogits)` reads `logits [batch, num_classes]`, writes
/// `∂loss/∂logits` into `dlogits` (same shape) and returns `(mean loss, rows right)`.
pub type LossFn<'a> = dyn FnMut(&[f32], &mut [f32]) -> (f32, usize) + 'a;

/// Result of one training step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy over the batch (with dropout, before the update).
    pub loss: f32,
    /// Rows whose arg-max logit equals the label.
    pub correct: usize,
}

/// Owns a network, its optimizer state, gradients and scratch buffers.
pub struct NetTrainer<N: Network> {
    /// The model being trained.
    pub model: N,
    optim: OptimizerConfig,
    step: u64,
    specs: Vec<ParamSpec>,
    /// Optimizer state per parameter, in `param_specs` order: `[s1, s2]` (see
    /// [`crate::nn::optim::OptimizerKind::state_names`]); empty for parameters not trained.
    state: Vec<[Vec<f32>; 2]>,
    grads: Gradients,
    scratch: N::Scratch,
    logits: Vec<f32>,  // [batch, classes]
    dlogits: Vec<f32>, // [batch, classes]
    /// Full-size embedding gradient, for dense (not sparse) embedding updates only.
    dense_emb_grad: Vec<f32>,
    /// Weight of each class in the loss (`None`: all 1).
    class_weights: Option<Vec<f32>>,
}

impl<N: Network> NetTrainer<N> {
    /// New trainer with zero optimizer state (step 0).
    pub fn new(model: N, optim: OptimizerConfig) -> NetTrainer<N> {
        let n_states = optim.kind.state_names().len();
        let specs = model.param_specs();
        let state = specs
            .iter()
            .map(|s| {
                let n = if s.trainable(optim.freeze_embedding) {
                    s.shape.iter().product()
                } else {
                    0
                };
                [vec![0.0; n], vec![0.0; if n_states == 2 { n } else { 0 }]]
            })
            .collect();
        let grads = Gradients {
            embedding: Default::default(),
            dense: specs
                .iter()
                .filter(|s| s.has_dense_grad())
                .map(|s| vec![0.0; s.shape.iter().product()])
                .collect(),
        };
        NetTrainer {
            model,
            optim,
            step: 0,
            specs,
            state,
            grads,
            scratch: Default::default(),
            logits: Vec::new(),
            dlogits: Vec::new(),
            dense_emb_grad: Vec::new(),
            class_weights: None,
        }
    }

    /// Frees what only training needs (the optimizer state, the gradients, the dense
    /// embedding gradient and the step buffers: about four times the model's size), keeping
    /// the model. For a run whose epochs are over: the trainer must not train after this.
    pub(crate) fn release_training_state(&mut self) {
        self.state = Vec::new();
        self.grads = Gradients::default();
        self.dense_emb_grad = Vec::new();
        self.logits = Vec::new();
        self.dlogits = Vec::new();
    }

    /// The optimizer settings.
    pub fn optimizer_config(&self) -> &OptimizerConfig {
        &self.optim
    }

    /// Weighs class `c`'s examples by `weights[c]` in the loss (`None`: all alike); see
    /// [`crate::nn::loss::weighted_softmax_cross_entropy`] (positive weights per label with
    /// multi-hot targets).
    pub fn set_class_weights(&mut self, weights: Option<Vec<f32>>) {
        self.class_weights = weights;
    }

    /// Change the learning rate (schedules, Adadelta's lr 1.0...).
    pub fn set_lr(&mut self, lr: f32) {
        self.optim.lr = lr;
    }

    /// Optimizer steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One step: [`NetTrainer::forward_backward`] then the optimizer update. Deterministic: the
    /// result depends on the inputs and `seed` only (not on the thread count).
    pub fn train_step(&mut self, batch: &Batch, labels: &[u32], seed: u64) -> StepStats {
        let stats = self.forward_backward(batch, labels, seed);
        self.apply_update();
        stats
    }

    /// Forward with dropout (masks from `seed`), mean softmax cross-entropy against `labels`
    /// (`[batch]`, each `< num_classes`) and backward; gradients are kept for
    /// [`NetTrainer::named_grads`] / the update. Parameters are not changed.
    ///
    /// Panics if the batch does not fit the model, is empty, or `labels.len() != batch.batch`.
    pub fn forward_backward(&mut self, batch: &Batch, labels: &[u32], seed: u64) -> StepStats {
        self.forward_backward_targets(batch, Targets::Classes(labels), seed)
    }

    /// One step against any [`Targets`] (multi-hot targets train one sigmoid per label with
    /// binary cross-entropy; the class weights are then positive weights per label): forward,
    /// loss, backward and the optimizer update.
    pub fn train_step_targets(&mut self, batch: &Batch, targets: Targets, seed: u64) -> StepStats {
        let stats = self.forward_backward_targets(batch, targets, seed);
        self.apply_update();
        stats
    }

    /// [`NetTrainer::forward_backward`] against any [`Targets`] (see [`loss_and_gradient`]).
    ///
    /// Panics if the batch does not fit the model, is empty, or the targets do not fit the
    /// batch.
    pub fn forward_backward_targets(
        &mut self,
        batch: &Batch,
        targets: Targets,
        seed: u64,
    ) -> StepStats {
        let nc = self.model.num_classes();
        assert_eq!(
            targets.batch(nc),
            batch.batch,
            "targets do not fit the batch"
        );
        let weights = self.class_weights.take();
        let stats = self.forward_backward_with(batch, seed, &mut |logits, dlogits| {
            loss_and_gradient(logits, targets, nc, weights.as_deref(), dlogits)
        });
        self.class_weights = weights;
        stats
    }

    /// One step with the loss computed by `loss(logits, dlogits)` (`[batch, num_classes]`
    /// each; it returns `(mean loss, rows right)` and writes `∂loss/∂logits`): forward, loss,
    /// backward and the optimizer update. The loss is the model's head's (see the `head` module).
    pub fn train_step_with(&mut self, batch: &Batch, seed: u64, loss: &mut LossFn) -> StepStats {
        let stats = self.forward_backward_with(batch, seed, loss);
        self.apply_update();
        stats
    }

    /// Forward with dropout (masks from `seed`), `loss` (see [`NetTrainer::train_step_with`])
    /// and backward; gradients are kept for the update. Parameters are not changed.
    ///
    /// Panics if the batch does not fit the model or is empty.
    pub fn forward_backward_with(
        &mut self,
        batch: &Batch,
        seed: u64,
        loss: &mut LossFn,
    ) -> StepStats {
        let model = &self.model;
        model.check_batch(batch);
        assert!(batch.batch > 0, "empty batch");
        let nc = model.num_classes();
        model.forward_train(batch, seed, &mut self.scratch, &mut self.logits);
        self.dlogits.resize(batch.batch * nc, 0.0);
        let (loss, correct) = loss(&self.logits, &mut self.dlogits);
        model.backward(
            batch,
            &mut self.scratch,
            &self.dlogits,
            !self.optim.freeze_embedding,
            &mut self.grads,
        );
        StepStats { loss, correct }
    }

    /// Apply the optimizer to the gradients of the last [`NetTrainer::forward_backward`]: global
    /// norm clipping, the update rule, then max-norm on the output weight's rows.
    pub fn apply_update(&mut self) {
        self.step += 1;
        let o = &self.optim;
        let g = &self.grads;
        let train_emb = !o.freeze_embedding;
        let scale = match o.clip_grad_norm {
            Some(max) => {
                let mut ss = 0.0f64;
                if train_emb {
                    ss += sum_squares(&g.embedding.grad);
                }
                for d in &g.dense {
                    ss += sum_squares(d);
                }
                clip_factor(ss.sqrt(), max)
            }
            None => 1.0,
        };
        let c = StepConsts::new(o, self.step, scale);
        let e = self.model.emb_dim();
        let mut dense = g.dense.iter();
        let params = self.model.params_mut();
        for ((spec, p), [s1, s2]) in self.specs.iter().zip(params).zip(&mut self.state) {
            match spec.role {
                ParamRole::FrozenEmbedding => {}
                ParamRole::Embedding if !train_emb => {}
                ParamRole::Embedding if o.sparse_embedding => {
                    update_rows(&c, p, e, &g.embedding.rows, &g.embedding.grad, s1, s2);
                }
                ParamRole::Embedding => {
                    // Dense: scatter the sparse rows into a full-size gradient, update every row
                    // but 0.
                    let full = &mut self.dense_emb_grad;
                    if full.len() != p.len() {
                        *full = vec![0.0; p.len()];
                    } else {
                        full.fill(0.0);
                    }
                    for (i, &r) in g.embedding.rows.iter().enumerate() {
                        let r = r as usize;
                        full[r * e..(r + 1) * e]
                            .copy_from_slice(&g.embedding.grad[i * e..(i + 1) * e]);
                    }
                    let s2 = if s2.is_empty() {
                        &mut s2[..]
                    } else {
                        &mut s2[e..]
                    };
                    update_dense(&c, &mut p[e..], &full[e..], &mut s1[e..], s2);
                }
                _ => {
                    let d = dense.next().expect("one dense gradient per parameter");
                    update_dense(&c, p, d, s1, s2);
                    if spec.role == ParamRole::OutputWeight
                        && let Some(max) = o.max_norm
                    {
                        apply_max_norm(p, spec.shape[1], max);
                    }
                }
            }
        }
    }

    /// Gradients of the last [`NetTrainer::forward_backward`] as dense named tensors
    /// (`name, shape, data`, `param_specs` order; an embedding gradient is zero outside the
    /// batch's rows, and all zero when not trained). For tests and diagnostics.
    pub fn named_grads(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let e = self.model.emb_dim();
        let mut dense = self.grads.dense.iter();
        self.specs
            .iter()
            .map(|s| {
                let n: usize = s.shape.iter().product();
                let data = match s.role {
                    ParamRole::Embedding | ParamRole::FrozenEmbedding => {
                        let mut emb = vec![0.0; n];
                        if s.trainable(self.optim.freeze_embedding) {
                            let g = &self.grads.embedding;
                            for (i, &r) in g.rows.iter().enumerate() {
                                let r = r as usize;
                                emb[r * e..(r + 1) * e]
                                    .copy_from_slice(&g.grad[i * e..(i + 1) * e]);
                            }
                        }
                        emb
                    }
                    _ => dense
                        .next()
                        .expect("one dense gradient per parameter")
                        .clone(),
                };
                (s.name.clone(), s.shape.clone(), data)
            })
            .collect()
    }

    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.specs
            .iter()
            .map(|s| (s.name.clone(), s.shape.clone()))
            .collect()
    }

    /// Optimizer state as named tensors, for `--resume` (see [`crate::nn::optim::export_state`]).
    pub fn optimizer_state(&self) -> Vec<(String, Vec<usize>, std::borrow::Cow<'_, [f32]>)> {
        crate::nn::optim::export_state(self.optim.kind, self.step, &self.shapes(), &self.state)
    }

    /// Restores state saved by [`NetTrainer::optimizer_state`] with the same optimizer kind,
    /// frozen parameters and model config; checks every name and shape.
    ///
    /// # Errors
    /// Names the missing, unexpected or mis-shaped tensor.
    pub fn load_optimizer_state(
        &mut self,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> anyhow::Result<()> {
        let params = self.shapes();
        self.step =
            crate::nn::optim::import_state(self.optim.kind, &params, &mut self.state, tensors)?;
        Ok(())
    }
}
