//! Training of [`KimCnn`]: forward with dropout, softmax cross-entropy, backward through every
//! layer, optimizer update. Owns the optimizer state and reusable scratch buffers.

use std::collections::HashMap;

use rayon::prelude::*;

use super::kim::{Batch, KimCnn, STATIC_EMBEDDING};
use crate::nn::conv::{conv_backward_input, conv_backward_weight};
use crate::nn::dense::{dense_backward, dense_forward};
use crate::nn::dropout::{dropout_backward, dropout_forward};
use crate::nn::embedding::{SparseRows, embedding_backward};
use crate::nn::loss::{Targets, loss_and_gradient};
use crate::nn::optim::{
    OptimizerConfig, StepConsts, apply_max_norm, clip_factor, sum_squares, update_dense,
    update_rows,
};
use crate::nn::pool::{bias_backward, relu_max_pool_backward};

/// Result of one training step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy over the batch (with dropout, before the update).
    pub loss: f32,
    /// Rows whose arg-max logit equals the label.
    pub correct: usize,
}

/// Gradients of all parameters. The embedding gradient is sparse (rows present in the batch).
#[derive(Default)]
struct Grads {
    embedding: SparseRows,
    convs: Vec<(Vec<f32>, Vec<f32>)>,
    fc_weight: Vec<f32>,
    fc_bias: Vec<f32>,
}

/// Reusable per-batch buffers.
#[derive(Default)]
struct Scratch {
    pooled: Vec<f32>,         // [batch, nf]
    argmax: Vec<u32>,         // [batch, nf]
    dropped: Vec<f32>,        // [batch, nf]
    mask: Vec<f32>,           // [batch, nf]
    logits: Vec<f32>,         // [batch, classes]
    dlogits: Vec<f32>,        // [batch, classes]
    dfeat: Vec<f32>,          // [batch, nf]
    dconv: Vec<f32>,          // [batch, nf]
    dx: Vec<f32>,             // [batch, seq_len, emb_dim]
    dense_emb_grad: Vec<f32>, // [vocab, emb] (dense embedding updates only)
}

/// Owns a model, its optimizer state and scratch buffers.
pub struct KimTrainer {
    /// The model being trained.
    pub model: KimCnn,
    optim: OptimizerConfig,
    step: u64,
    /// Optimizer state per parameter, in `named_params` order: `[s1, s2]` (see
    /// [`crate::nn::optim::OptimizerKind::state_names`]); empty for the frozen embedding.
    state: Vec<[Vec<f32>; 2]>,
    grads: Grads,
    scratch: Scratch,
    /// Weight of each class in the loss (`None`: all 1).
    class_weights: Option<Vec<f32>>,
}

impl KimTrainer {
    /// New trainer with zero optimizer state (step 0).
    pub fn new(model: KimCnn, optim: OptimizerConfig) -> KimTrainer {
        let n_states = optim.kind.state_names().len();
        let state = model
            .named_params()
            .iter()
            .enumerate()
            .map(|(i, (name, _, d))| {
                let n = if (i == 0 && optim.freeze_embedding) || name == STATIC_EMBEDDING {
                    0
                } else {
                    d.len()
                };
                [vec![0.0; n], vec![0.0; if n_states == 2 { n } else { 0 }]]
            })
            .collect();
        let grads = Grads {
            embedding: SparseRows::default(),
            convs: model
                .convs
                .iter()
                .map(|c| (vec![0.0; c.weight.len()], vec![0.0; c.bias.len()]))
                .collect(),
            fc_weight: vec![0.0; model.fc_weight.len()],
            fc_bias: vec![0.0; model.fc_bias.len()],
        };
        KimTrainer {
            model,
            optim,
            step: 0,
            state,
            grads,
            scratch: Scratch::default(),
            class_weights: None,
        }
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

    /// One step: [`KimTrainer::forward_backward`] then the optimizer update. Deterministic: the
    /// result depends on the inputs and `seed` only (not on the thread count).
    pub fn train_step(&mut self, batch: &Batch, labels: &[u32], seed: u64) -> StepStats {
        let stats = self.forward_backward(batch, labels, seed);
        self.apply_update();
        stats
    }

    /// Forward with dropout (mask from `seed`), mean softmax cross-entropy against `labels`
    /// (`[batch]`, each `< num_classes`) and backward; gradients are kept for
    /// [`KimTrainer::named_grads`] / the update. Parameters are not changed.
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

    /// [`KimTrainer::forward_backward`] against any [`Targets`] (see [`loss_and_gradient`]).
    pub fn forward_backward_targets(
        &mut self,
        batch: &Batch,
        targets: Targets,
        seed: u64,
    ) -> StepStats {
        let model = &self.model;
        model.check_batch(batch);
        assert!(batch.batch > 0, "empty batch");
        let cfg = &model.config;
        assert_eq!(
            targets.batch(cfg.num_classes),
            batch.batch,
            "targets do not fit the batch"
        );
        let (bs, nf, nc, e, maps, sl) = (
            batch.batch,
            cfg.num_features(),
            cfg.num_classes,
            cfg.emb_dim,
            cfg.feature_maps,
            batch.seq_len,
        );
        let sc = &mut self.scratch;
        for v in [
            &mut sc.pooled,
            &mut sc.dropped,
            &mut sc.mask,
            &mut sc.dfeat,
            &mut sc.dconv,
        ] {
            v.resize(bs * nf, 0.0);
        }
        sc.argmax.resize(bs * nf, 0);
        sc.logits.resize(bs * nc, 0.0);
        sc.dlogits.resize(bs * nc, 0.0);

        // Forward.
        model.features(batch, &mut sc.pooled, &mut sc.argmax);
        sc.dropped.copy_from_slice(&sc.pooled);
        if cfg.dropout > 0.0 {
            dropout_forward(&mut sc.dropped, &mut sc.mask, cfg.dropout, seed);
        } else {
            sc.mask.fill(1.0);
        }
        dense_forward(
            &sc.dropped,
            &model.fc_weight,
            &model.fc_bias,
            nf,
            nc,
            &mut sc.logits,
        );
        let (loss, correct) = loss_and_gradient(
            &sc.logits,
            targets,
            nc,
            self.class_weights.as_deref(),
            &mut sc.dlogits,
        );

        // Backward: dense, dropout, ReLU at the max.
        let g = &mut self.grads;
        g.fc_weight.fill(0.0);
        g.fc_bias.fill(0.0);
        dense_backward(
            &sc.dlogits,
            &sc.dropped,
            &model.fc_weight,
            nf,
            nc,
            &mut g.fc_weight,
            &mut g.fc_bias,
            &mut sc.dfeat,
        );
        dropout_backward(&mut sc.dfeat, &sc.mask);
        relu_max_pool_backward(&sc.pooled, &sc.dfeat, &mut sc.dconv);

        // Convolution parameters: only the argmax window of each (example, map).
        let zeros = vec![0.0f32; e];
        let emb = &model.embedding;
        let row = |b: usize, p: usize| -> &[f32] {
            if p < batch.lengths[b] {
                let id = batch.ids[b * sl + p] as usize;
                &emb[id * e..(id + 1) * e]
            } else {
                &zeros
            }
        };
        for (r, (conv, (dw, db))) in model.convs.iter().zip(g.convs.iter_mut()).enumerate() {
            dw.fill(0.0);
            db.fill(0.0);
            let cols = r * maps..;
            bias_backward(db, &sc.dconv[cols.clone()], bs, nf);
            conv_backward_weight(
                dw,
                e,
                conv.h,
                bs,
                &sc.argmax[cols.clone()],
                &sc.dconv[cols.clone()],
                nf,
                row,
            );
            if cfg.multichannel {
                // The same filters see the static channel: its rows add to the weight gradient.
                let stat = &model.embedding_static;
                let row_static = |b: usize, p: usize| -> &[f32] {
                    if p < batch.lengths[b] {
                        let id = batch.ids[b * sl + p] as usize;
                        &stat[id * e..(id + 1) * e]
                    } else {
                        &zeros
                    }
                };
                let cols = r * maps..;
                conv_backward_weight(
                    dw,
                    e,
                    conv.h,
                    bs,
                    &sc.argmax[cols.clone()],
                    &sc.dconv[cols],
                    nf,
                    row_static,
                );
            }
        }

        // Embedding rows: per-example input gradient (parallel), then summed into the sparse
        // table gradient example by example (fixed order).
        if !self.optim.freeze_embedding {
            g.embedding
                .gather_rows(cfg.vocab_size, e, batch.ids, batch.lengths, sl);
            sc.dx.resize(bs * sl * e, 0.0);
            sc.dx
                .par_chunks_mut(sl * e)
                .enumerate()
                .for_each(|(b, dx)| {
                    let dx = &mut dx[..batch.lengths[b] * e];
                    dx.fill(0.0);
                    for (r, conv) in model.convs.iter().enumerate() {
                        let cols = b * nf + r * maps..b * nf + (r + 1) * maps;
                        conv_backward_input(
                            dx,
                            e,
                            conv.h,
                            &conv.weight,
                            &sc.argmax[cols.clone()],
                            &sc.dconv[cols],
                        );
                    }
                });
            for b in 0..bs {
                let len = batch.lengths[b];
                embedding_backward(
                    &sc.dx[b * sl * e..],
                    e,
                    &batch.ids[b * sl..],
                    len,
                    &mut g.embedding,
                );
            }
        }
        StepStats { loss, correct }
    }

    /// Apply the optimizer to the gradients of the last [`KimTrainer::forward_backward`].
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
                for (w, b) in &g.convs {
                    ss += sum_squares(w) + sum_squares(b);
                }
                ss += sum_squares(&g.fc_weight) + sum_squares(&g.fc_bias);
                clip_factor(ss.sqrt(), max)
            }
            None => 1.0,
        };
        let c = StepConsts::new(o, self.step, scale);
        let e = self.model.config.emb_dim;
        let mut st = self.state.iter_mut();
        let [s1, s2] = st.next().unwrap();
        if train_emb {
            let emb = &mut self.model.embedding;
            if o.sparse_embedding {
                update_rows(&c, emb, e, &g.embedding.rows, &g.embedding.grad, s1, s2);
            } else {
                // Dense: scatter the sparse rows into a full-size gradient, update every row but 0.
                let dense = &mut self.scratch.dense_emb_grad;
                if dense.len() != emb.len() {
                    *dense = vec![0.0; emb.len()];
                } else {
                    dense.fill(0.0);
                }
                for (i, &r) in g.embedding.rows.iter().enumerate() {
                    let r = r as usize;
                    dense[r * e..(r + 1) * e]
                        .copy_from_slice(&g.embedding.grad[i * e..(i + 1) * e]);
                }
                let s2 = if s2.is_empty() {
                    &mut s2[..]
                } else {
                    &mut s2[e..]
                };
                update_dense(&c, &mut emb[e..], &dense[e..], &mut s1[e..], s2);
            }
        }
        for (conv, (dw, db)) in self.model.convs.iter_mut().zip(&g.convs) {
            let [a, b] = st.next().unwrap();
            update_dense(&c, &mut conv.weight, dw, a, b);
            let [a, b] = st.next().unwrap();
            update_dense(&c, &mut conv.bias, db, a, b);
        }
        let [a, b] = st.next().unwrap();
        update_dense(&c, &mut self.model.fc_weight, &g.fc_weight, a, b);
        let [a, b] = st.next().unwrap();
        update_dense(&c, &mut self.model.fc_bias, &g.fc_bias, a, b);
        if let Some(max) = o.max_norm {
            apply_max_norm(
                &mut self.model.fc_weight,
                self.model.config.num_features(),
                max,
            );
        }
    }

    /// Gradients of the last [`KimTrainer::forward_backward`] as dense named tensors
    /// (`name, shape, data`, `named_params` order; the embedding gradient is zero outside the
    /// batch's rows, and all zero when the embedding is frozen). For tests and diagnostics.
    pub fn named_grads(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let cfg = &self.model.config;
        let e = cfg.emb_dim;
        let mut emb = vec![0.0; cfg.vocab_size * e];
        if !self.optim.freeze_embedding {
            for (i, &r) in self.grads.embedding.rows.iter().enumerate() {
                let r = r as usize;
                emb[r * e..(r + 1) * e]
                    .copy_from_slice(&self.grads.embedding.grad[i * e..(i + 1) * e]);
            }
        }
        let mut data = vec![emb];
        for (w, b) in &self.grads.convs {
            data.push(w.clone());
            data.push(b.clone());
        }
        data.push(self.grads.fc_weight.clone());
        data.push(self.grads.fc_bias.clone());
        if cfg.multichannel {
            data.push(vec![0.0; cfg.vocab_size * e]); // the static channel is never trained
        }
        cfg.param_shapes()
            .into_iter()
            .zip(data)
            .map(|((n, s), d)| (n, s, d))
            .collect()
    }

    /// Optimizer state as named tensors, for `--resume` (see [`crate::nn::optim::export_state`]).
    pub fn optimizer_state(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let params = self.model.config.param_shapes();
        crate::nn::optim::export_state(self.optim.kind, self.step, &params, &self.state)
    }

    /// Restores state saved by [`KimTrainer::optimizer_state`] with the same optimizer kind, frozen
    /// parameters and model config; checks every name and shape.
    pub fn load_optimizer_state(
        &mut self,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> anyhow::Result<()> {
        let params = self.model.config.param_shapes();
        self.step =
            crate::nn::optim::import_state(self.optim.kind, &params, &mut self.state, tensors)?;
        Ok(())
    }
}

// Compile-time check: the model can be shared across threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KimCnn>();
    assert_send_sync::<KimTrainer>();
};
