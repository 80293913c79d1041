//! The conv2d network's training pass for the generic trainer ([`Network`]): the blocks per
//! example (parallel, keeping activations), the dense stack with ReLU and dropout, and the
//! backward from the logits' gradient through both, per example with per-example convolution
//! gradients summed in example order (independent of the thread count).

use rayon::prelude::*;

use super::{Conv2dNet, PoolKind, with_scratch};
use crate::batch::Batch;
use crate::model::network::{Gradients, Network, ParamSpec};
use crate::nn::conv2d::conv2d_backward;
use crate::nn::dense_gemm::{dense_gemm_backward, dense_gemm_forward};
use crate::nn::dropout::{dropout_backward, dropout_forward, mix64};
use crate::nn::embedding::embedding_backward;
use crate::nn::pool2d::{avg_pool2d_backward, max_pool2d_backward, relu_backward, relu_forward};

/// Per-batch buffers of [`Conv2dNet`]'s training pass.
#[derive(Default)]
pub struct Conv2dScratch {
    /// Per-example activations `[batch, layout.size]` and argmaxes `[batch, layout.asize]`.
    acts: Vec<f32>,
    argmax: Vec<u32>,
    /// Input of each dense layer: `[batch, in]` (layer 0: the flattened features).
    inputs: Vec<Vec<f32>>,
    /// Post-ReLU output of each hidden layer (before dropout) and its dropout mask.
    hidden: Vec<Vec<f32>>,
    masks: Vec<Vec<f32>>,
    /// Gradients w.r.t. the input of each dense layer.
    dinputs: Vec<Vec<f32>>,
    /// Per-example conv gradients `[batch, conv params]`.
    conv_grads: Vec<f32>,
    /// Gradient w.r.t. the embedded texts `[batch, seq_len, emb_dim]`.
    dx: Vec<f32>,
    lengths: Vec<usize>,
}

impl Network for Conv2dNet {
    type Scratch = Conv2dScratch;

    fn param_specs(&self) -> Vec<ParamSpec> {
        crate::model::NetworkConfig::param_specs(&self.config)
    }

    fn params(&self) -> Vec<&[f32]> {
        let mut v: Vec<&[f32]> = vec![&self.embedding];
        for (w, b) in &self.convs {
            v.push(w);
            v.push(b);
        }
        for d in &self.dense {
            v.push(&d.weight);
            v.push(&d.bias);
        }
        v
    }

    fn params_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = vec![&mut self.embedding];
        for (w, b) in &mut self.convs {
            v.push(w);
            v.push(b);
        }
        for d in &mut self.dense {
            v.push(&mut d.weight);
            v.push(&mut d.bias);
        }
        v
    }

    fn emb_dim(&self) -> usize {
        self.config.emb_dim
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn check_batch(&self, batch: &Batch) {
        Conv2dNet::check_batch(self, batch)
    }

    fn forward_train(
        &self,
        batch: &Batch,
        seed: u64,
        sc: &mut Conv2dScratch,
        logits: &mut Vec<f32>,
    ) {
        let cfg = &self.config;
        let layout = cfg.layout();
        let (bs, nc, sl) = (batch.batch, cfg.num_classes, batch.seq_len);
        let nd = self.dense.len();
        sc.acts.resize(bs * layout.size, 0.0);
        sc.argmax.resize(bs * layout.asize, 0);
        sc.lengths = (0..bs).map(|b| self.row_len(batch, b)).collect();
        sc.inputs.resize(nd, Vec::new());
        sc.dinputs.resize(nd, Vec::new());
        sc.hidden.resize(nd - 1, Vec::new());
        sc.masks.resize(nd - 1, Vec::new());
        for (j, d) in self.dense.iter().enumerate() {
            sc.inputs[j].resize(bs * d.n_in, 0.0);
            sc.dinputs[j].resize(bs * d.n_in, 0.0);
            if j + 1 < nd {
                sc.hidden[j].resize(bs * d.n_out, 0.0);
                sc.masks[j].resize(bs * d.n_out, 0.0);
            }
        }
        logits.resize(bs * nc, 0.0);

        // Blocks per example (parallel), keeping the activations.
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
                    self.forward_example(&layout, &batch.ids[b * sl..], lengths[b], buf, am, col);
                    f.copy_from_slice(&buf[layout.features()]);
                })
            });
        // Dense stack.
        for (j, d) in self.dense.iter().enumerate() {
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
                    logits,
                );
            }
        }
    }

    fn backward(
        &self,
        batch: &Batch,
        sc: &mut Conv2dScratch,
        dlogits: &[f32],
        train_emb: bool,
        g: &mut Gradients,
    ) {
        let cfg = &self.config;
        let (bs, e, l, sl) = (batch.batch, cfg.emb_dim, cfg.seq_len, batch.seq_len);
        // Dense gradients in declaration order: conv weight/bias per block, then dense layers.
        let nconv = 2 * self.convs.len();
        self.dense_stack_backward(sc, dlogits, bs, &mut g.dense[nconv..]);
        let conv_sizes: Vec<(usize, usize)> =
            self.convs.iter().map(|(w, b)| (w.len(), b.len())).collect();
        self.blocks_backward(sc, &conv_sizes, bs, train_emb);
        sum_example_grads(&sc.conv_grads, &conv_sizes, bs, &mut g.dense);
        // Embedding rows, example by example (fixed order).
        if train_emb {
            g.embedding
                .gather_rows(cfg.vocab_size, e, batch.ids, &sc.lengths, sl);
            for b in 0..bs {
                embedding_backward(
                    &sc.dx[b * l * e..],
                    e,
                    &batch.ids[b * sl..],
                    sc.lengths[b],
                    &mut g.embedding,
                );
            }
        }
    }
}

impl Conv2dNet {
    /// Backward through the dense stack, last layer first: the weight and bias gradients of
    /// layer `j` into `grads[2j]`, `grads[2j + 1]` and its input's gradient into
    /// `sc.dinputs[j]` (through the dropout mask and ReLU of the hidden layers).
    #[inline]
    fn dense_stack_backward(
        &self,
        sc: &mut Conv2dScratch,
        dlogits: &[f32],
        bs: usize,
        grads: &mut [Vec<f32>],
    ) {
        let nd = self.dense.len();
        for j in (0..nd).rev() {
            let d = &self.dense[j];
            let mut dx = std::mem::take(&mut sc.dinputs[j]);
            if j + 1 < nd {
                let g = &mut sc.dinputs[j + 1];
                dropout_backward(g, &sc.masks[j]);
                relu_backward(&sc.hidden[j], g);
            }
            let dy: &[f32] = if j + 1 == nd {
                dlogits
            } else {
                &sc.dinputs[j + 1]
            };
            let (a, b) = grads[2 * j..].split_at_mut(1);
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
    }

    /// Backward through the blocks from the features' gradient (`sc.dinputs[0]`), per example
    /// (parallel): pooling, ReLU and convolution of each block, last block first, into the
    /// example's conv gradients (`sc.conv_grads [bs, Σ conv params]`, blocks in order) and,
    /// with `train_emb`, the embedded text's gradient (`sc.dx [bs, seq_len, emb_dim]`).
    #[inline]
    fn blocks_backward(
        &self,
        sc: &mut Conv2dScratch,
        conv_sizes: &[(usize, usize)],
        bs: usize,
        train_emb: bool,
    ) {
        let cfg = &self.config;
        let layout = cfg.layout();
        let (e, l, nf) = (cfg.emb_dim, cfg.seq_len, cfg.num_features());
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
                    for (wl, bl) in conv_sizes {
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
                            &self.convs[i].0,
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
    }
}

/// Sums the per-example conv gradients (`per_example [bs, Σ conv params]`) into the dense
/// gradients `grads[2i]` (weight) and `grads[2i + 1]` (bias) of block `i`, in example order
/// (parallel over elements, so independent of the thread count).
#[inline]
fn sum_example_grads(
    per_example: &[f32],
    conv_sizes: &[(usize, usize)],
    bs: usize,
    grads: &mut [Vec<f32>],
) {
    let per_ex: usize = conv_sizes.iter().map(|(a, b)| a + b).sum();
    let mut o = 0;
    for (i, (wl, blen)) in conv_sizes.iter().enumerate() {
        for (t, len) in [(2 * i, *wl), (2 * i + 1, *blen)] {
            let src = per_example;
            grads[t]
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
}
