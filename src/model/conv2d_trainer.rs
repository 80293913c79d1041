//! Training of [`Conv2dNet`]: forward with dropout, softmax cross-entropy, backward through every
//! layer, optimizer update (the update rules of [`crate::nn::optim`]). Same API as
//! [`crate::model::KimTrainer`].

use std::collections::HashMap;

use rayon::prelude::*;

use super::conv2d::{Conv2dNet, PoolKind, with_scratch};
use super::kim::Batch;
use super::trainer::StepStats;
use crate::nn::conv2d::conv2d_backward;
use crate::nn::dense_gemm::{dense_gemm_backward, dense_gemm_forward};
use crate::nn::dropout::{dropout_backward, dropout_forward, mix64};
use crate::nn::embedding::{SparseRows, embedding_backward};
use crate::nn::loss::{Targets, loss_and_gradient};
use crate::nn::optim::{
    OptimizerConfig, StepConsts, apply_max_norm, clip_factor, sum_squares, update_dense,
    update_rows,
};
use crate::nn::pool2d::{avg_pool2d_backward, max_pool2d_backward, relu_backward, relu_forward};

/// Reusable per-batch buffers.
#[derive(Default)]
struct Scratch {
    /// Per-example activations `[batch, layout.size]` and argmaxes `[batch, layout.asize]`.
    acts: Vec<f32>,
    argmax: Vec<u32>,
    /// Input of each dense layer: `[batch, in]` (layer 0: the flattened features).
    inputs: Vec<Vec<f32>>,
    /// Post-ReLU output of each hidden layer (before dropout) and its dropout mask.
    hidden: Vec<Vec<f32>>,
    masks: Vec<Vec<f32>>,
    logits: Vec<f32>,
    dlogits: Vec<f32>,
    /// Gradients w.r.t. the input of each dense layer.
    dinputs: Vec<Vec<f32>>,
    /// Per-example conv gradients `[batch, conv params]`.
    conv_grads: Vec<f32>,
    /// Gradient w.r.t. the embedded texts `[batch, seq_len, emb_dim]`.
    dx: Vec<f32>,
    lengths: Vec<usize>,
    dense_emb_grad: Vec<f32>,
}

/// Owns a [`Conv2dNet`], its optimizer state and scratch buffers.
pub struct Conv2dTrainer {
    /// The model being trained.
    pub model: Conv2dNet,
    optim: OptimizerConfig,
    step: u64,
    /// Optimizer state per parameter, `named_params` order; empty for the frozen embedding.
    state: Vec<[Vec<f32>; 2]>,
    emb_grad: SparseRows,
    /// Gradients of every parameter but the embedding, `named_params` order.
    grads: Vec<Vec<f32>>,
    scratch: Scratch,
    /// Weight of each class in the loss (`None`: all 1).
    class_weights: Option<Vec<f32>>,
}

impl Conv2dTrainer {
    /// New trainer with zero optimizer state (step 0).
    pub fn new(model: Conv2dNet, optim: OptimizerConfig) -> Conv2dTrainer {
        let n_states = optim.kind.state_names().len();
        let params = model.named_params();
        let state = params
            .iter()
            .enumerate()
            .map(|(i, (_, _, d))| {
                let n = if i == 0 && optim.freeze_embedding {
                    0
                } else {
                    d.len()
                };
                [vec![0.0; n], vec![0.0; if n_states == 2 { n } else { 0 }]]
            })
            .collect();
        let grads = params[1..]
            .iter()
            .map(|(_, _, d)| vec![0.0; d.len()])
            .collect();
        Conv2dTrainer {
            model,
            optim,
            step: 0,
            state,
            emb_grad: SparseRows::default(),
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

    /// Change the learning rate.
    pub fn set_lr(&mut self, lr: f32) {
        self.optim.lr = lr;
    }

    /// Optimizer steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One step: [`Conv2dTrainer::forward_backward`] then the optimizer update. Deterministic
    /// (independent of the thread count).
    pub fn train_step(&mut self, batch: &Batch, labels: &[u32], seed: u64) -> StepStats {
        let stats = self.forward_backward(batch, labels, seed);
        self.apply_update();
        stats
    }

    /// Forward with dropout (masks from `seed`), mean softmax cross-entropy against `labels` and
    /// backward; gradients are kept for [`Conv2dTrainer::named_grads`] / the update.
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

    /// [`Conv2dTrainer::forward_backward`] against any [`Targets`] (see [`loss_and_gradient`]).
    pub fn forward_backward_targets(
        &mut self,
        batch: &Batch,
        targets: Targets,
        seed: u64,
    ) -> StepStats {
        let model = &self.model;
        model.check_batch(batch);
        let cfg = &model.config;
        assert_eq!(
            targets.batch(cfg.num_classes),
            batch.batch,
            "targets do not fit the batch"
        );
        let layout = cfg.layout();
        let (bs, nc, e, l, sl) = (
            batch.batch,
            cfg.num_classes,
            cfg.emb_dim,
            cfg.seq_len,
            batch.seq_len,
        );
        let nd = model.dense.len();
        let sc = &mut self.scratch;
        sc.acts.resize(bs * layout.size, 0.0);
        sc.argmax.resize(bs * layout.asize, 0);
        sc.lengths = (0..bs).map(|b| model.row_len(batch, b)).collect();
        sc.inputs.resize(nd, Vec::new());
        sc.dinputs.resize(nd, Vec::new());
        sc.hidden.resize(nd - 1, Vec::new());
        sc.masks.resize(nd - 1, Vec::new());
        for (j, d) in model.dense.iter().enumerate() {
            sc.inputs[j].resize(bs * d.n_in, 0.0);
            sc.dinputs[j].resize(bs * d.n_in, 0.0);
            if j + 1 < nd {
                sc.hidden[j].resize(bs * d.n_out, 0.0);
                sc.masks[j].resize(bs * d.n_out, 0.0);
            }
        }
        sc.logits.resize(bs * nc, 0.0);
        sc.dlogits.resize(bs * nc, 0.0);

        // Forward: blocks per example (parallel), keeping the activations.
        let nf = cfg.num_features();
        let lengths = &sc.lengths;
        sc.acts
            .par_chunks_mut(layout.size)
            .zip(sc.argmax.par_chunks_mut(layout.asize.max(1)))
            .zip(sc.inputs[0].par_chunks_mut(nf))
            .enumerate()
            .for_each(|(b, ((buf, am), f))| {
                with_scratch([layout.col, 0, 0, 0], 0, |s| {
                    let col = &mut s.f[0][..layout.col];
                    model.forward_example(&layout, &batch.ids[b * sl..], lengths[b], buf, am, col);
                    f.copy_from_slice(&buf[layout.features()]);
                })
            });
        // Dense stack.
        for (j, d) in model.dense.iter().enumerate() {
            if j + 1 < nd {
                let (h, m) = (&mut sc.hidden[j], &mut sc.masks[j]);
                dense_gemm_forward(&sc.inputs[j], &d.weight, &d.bias, bs, d.n_in, d.n_out, h);
                relu_forward(h);
                let next = &mut sc.inputs[j + 1];
                next.copy_from_slice(h);
                if cfg.dropout > 0.0 {
                    dropout_forward(next, m, cfg.dropout, mix64(seed ^ j as u64));
                } else {
                    m.fill(1.0);
                }
            } else {
                dense_gemm_forward(
                    &sc.inputs[j],
                    &d.weight,
                    &d.bias,
                    bs,
                    d.n_in,
                    d.n_out,
                    &mut sc.logits,
                );
            }
        }
        let (loss, correct) = loss_and_gradient(
            &sc.logits,
            targets,
            nc,
            self.class_weights.as_deref(),
            &mut sc.dlogits,
        );

        // Backward through the dense stack.
        let nconv = 2 * model.convs.len();
        for j in (0..nd).rev() {
            let d = &model.dense[j];
            let mut dx = std::mem::take(&mut sc.dinputs[j]);
            if j + 1 < nd {
                let g = &mut sc.dinputs[j + 1];
                dropout_backward(g, &sc.masks[j]);
                relu_backward(&sc.hidden[j], g);
            }
            let dy: &[f32] = if j + 1 == nd {
                &sc.dlogits
            } else {
                &sc.dinputs[j + 1]
            };
            let (a, b) = self.grads[nconv + 2 * j..].split_at_mut(1);
            dense_gemm_backward(
                dy,
                &sc.inputs[j],
                &d.weight,
                bs,
                d.n_in,
                d.n_out,
                &mut a[0],
                &mut b[0],
                Some(&mut dx),
            );
            sc.dinputs[j] = dx;
        }

        // Backward through the blocks, per example (parallel) with per-example conv gradients.
        let train_emb = !self.optim.freeze_embedding;
        let conv_sizes: Vec<(usize, usize)> = model
            .convs
            .iter()
            .map(|(w, b)| (w.len(), b.len()))
            .collect();
        let per_ex: usize = conv_sizes.iter().map(|(a, b)| a + b).sum();
        sc.conv_grads.resize(bs * per_ex, 0.0);
        if train_emb {
            sc.dx.resize(bs * l * e, 0.0);
        } else {
            sc.dx.resize(bs, 0.0);
        }
        let dx_stride = if train_emb { l * e } else { 1 };
        let max_act = layout.shapes.iter().map(|s| s.act_len()).max().unwrap();
        let max_in = layout
            .shapes
            .iter()
            .map(|s| s.in_len().max(s.out_len()))
            .max()
            .unwrap();
        let dfeat = &sc.dinputs[0];
        sc.conv_grads
            .par_chunks_mut(per_ex)
            .zip(sc.acts.par_chunks(layout.size))
            .zip(sc.argmax.par_chunks(layout.asize.max(1)))
            .zip(sc.dx.par_chunks_mut(dx_stride))
            .enumerate()
            .for_each(|(b, (((g, buf), am), dx_emb))| {
                with_scratch([layout.col, layout.col, max_act, max_in], 0, |s| {
                    let [col, dcol, dact, dpooled] = &mut s.f;
                    g.fill(0.0);
                    let nb = layout.shapes.len();
                    dpooled[..nf].copy_from_slice(&dfeat[b * nf..(b + 1) * nf]);
                    let mut offs = Vec::with_capacity(nb);
                    let mut o = 0;
                    for (wl, bl) in &conv_sizes {
                        offs.push(o);
                        o += wl + bl;
                    }
                    for i in (0..nb).rev() {
                        let s = &layout.shapes[i];
                        let bl = &layout.blocks[i];
                        let act = &buf[bl.act.clone()];
                        let dact = &mut dact[..s.act_len()];
                        match s.kind {
                            PoolKind::Max => max_pool2d_backward(
                                &dpooled[..s.out_len()],
                                &am[bl.argmax.clone()],
                                s.c_out,
                                s.h,
                                s.w,
                                s.pool,
                                dact,
                            ),
                            PoolKind::Avg => avg_pool2d_backward(
                                &dpooled[..s.out_len()],
                                s.c_out,
                                s.h,
                                s.w,
                                s.pool,
                                dact,
                            ),
                        }
                        relu_backward(act, dact);
                        let (wl, _) = conv_sizes[i];
                        let (gw, gb) = g[offs[i]..offs[i] + wl + s.c_out].split_at_mut(wl);
                        let input = &buf[layout.input(i, l * e)];
                        let dx = if i > 0 {
                            Some(&mut dpooled[..s.in_len()])
                        } else if train_emb {
                            Some(&mut dx_emb[..])
                        } else {
                            None
                        };
                        conv2d_backward(
                            input,
                            s.c_in,
                            s.h,
                            s.w,
                            s.k,
                            &model.convs[i].0,
                            s.c_out,
                            dact,
                            gw,
                            gb,
                            dx,
                            col,
                            dcol,
                        );
                    }
                })
            });
        // Sum the per-example conv gradients in example order (parallel over elements).
        let mut o = 0;
        for (i, (wl, blen)) in conv_sizes.iter().enumerate() {
            for (t, len) in [(2 * i, *wl), (2 * i + 1, *blen)] {
                let src = &sc.conv_grads;
                self.grads[t]
                    .par_chunks_mut(4096)
                    .enumerate()
                    .for_each(|(c, dst)| {
                        for (k, v) in dst.iter_mut().enumerate() {
                            let idx = o + c * 4096 + k;
                            let mut s = 0.0;
                            for b in 0..bs {
                                s += src[b * per_ex + idx];
                            }
                            *v = s;
                        }
                    });
                o += len;
            }
        }
        // Embedding rows, example by example (fixed order).
        if train_emb {
            self.emb_grad
                .gather_rows(cfg.vocab_size, e, batch.ids, &sc.lengths, sl);
            for b in 0..bs {
                embedding_backward(
                    &sc.dx[b * l * e..],
                    e,
                    &batch.ids[b * sl..],
                    sc.lengths[b],
                    &mut self.emb_grad,
                );
            }
        }
        StepStats { loss, correct }
    }

    /// Apply the optimizer to the gradients of the last [`Conv2dTrainer::forward_backward`].
    pub fn apply_update(&mut self) {
        self.step += 1;
        let o = &self.optim;
        let train_emb = !o.freeze_embedding;
        let scale = match o.clip_grad_norm {
            Some(max) => {
                let mut ss = 0.0f64;
                if train_emb {
                    ss += sum_squares(&self.emb_grad.grad);
                }
                for g in &self.grads {
                    ss += sum_squares(g);
                }
                clip_factor(ss.sqrt(), max)
            }
            None => 1.0,
        };
        let c = StepConsts::new(o, self.step, scale);
        let e = self.model.config.emb_dim;
        let mut st = self.state.iter_mut();
        let [s1, s2] = st.next().unwrap();
        if train_emb {
            let g = &self.emb_grad;
            let emb = &mut self.model.embedding;
            if o.sparse_embedding {
                update_rows(&c, emb, e, &g.rows, &g.grad, s1, s2);
            } else {
                let dense = &mut self.scratch.dense_emb_grad;
                if dense.len() != emb.len() {
                    *dense = vec![0.0; emb.len()];
                } else {
                    dense.fill(0.0);
                }
                for (i, &r) in g.rows.iter().enumerate() {
                    let r = r as usize;
                    dense[r * e..(r + 1) * e].copy_from_slice(&g.grad[i * e..(i + 1) * e]);
                }
                let s2 = if s2.is_empty() {
                    &mut s2[..]
                } else {
                    &mut s2[e..]
                };
                update_dense(&c, &mut emb[e..], &dense[e..], &mut s1[e..], s2);
            }
        }
        let mut params: Vec<&mut [f32]> = Vec::new();
        for (w, b) in &mut self.model.convs {
            params.push(w);
            params.push(b);
        }
        for d in &mut self.model.dense {
            params.push(&mut d.weight);
            params.push(&mut d.bias);
        }
        for ((p, g), [a, b]) in params.into_iter().zip(&self.grads).zip(st) {
            update_dense(&c, p, g, a, b);
        }
        if let Some(max) = o.max_norm {
            let fc = self.model.dense.last_mut().unwrap();
            apply_max_norm(&mut fc.weight, fc.n_in, max);
        }
    }

    /// Gradients of the last [`Conv2dTrainer::forward_backward`] as dense named tensors
    /// (`named_params` order; the embedding gradient is zero outside the batch's rows).
    pub fn named_grads(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let cfg = &self.model.config;
        let e = cfg.emb_dim;
        let mut emb = vec![0.0; cfg.vocab_size * e];
        if !self.optim.freeze_embedding {
            for (i, &r) in self.emb_grad.rows.iter().enumerate() {
                let r = r as usize;
                emb[r * e..(r + 1) * e].copy_from_slice(&self.emb_grad.grad[i * e..(i + 1) * e]);
            }
        }
        let data = std::iter::once(emb).chain(self.grads.iter().cloned());
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

    /// Restores state saved by [`Conv2dTrainer::optimizer_state`] with the same optimizer kind, frozen
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

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Conv2dNet>();
    assert_send_sync::<Conv2dTrainer>();
};
