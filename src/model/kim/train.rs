//! The Kim CNN's training pass for the generic trainer ([`Network`]): forward with dropout to the
//! logits, and the backward from the logits' gradient through dense, dropout, ReLU at the
//! max-over-time positions, the convolutions (their argmax windows only) and the embedding rows.

use rayon::prelude::*;

use super::KimCnn;
use crate::batch::Batch;
use crate::model::network::{Gradients, Network, ParamSpec};
use crate::nn::conv::{conv_backward_input, conv_backward_weight};
use crate::nn::conv2d::gemm_strided;
use crate::nn::dense::{dense_backward, dense_forward};
use crate::nn::dropout::{dropout_backward, dropout_forward};
use crate::nn::embedding::{SparseRows, embedding_backward};
use crate::nn::pool::{bias_backward, relu_max_pool_backward};
use crate::nn::token_proj::{DistinctTokens, gather_rows};

/// Per-batch buffers of [`KimCnn`]'s training pass.
#[derive(Default)]
pub struct KimScratch {
    pooled: Vec<f32>,  // [batch, nf]
    argmax: Vec<u32>,  // [batch, nf]
    dropped: Vec<f32>, // [batch, nf]
    mask: Vec<f32>,    // [batch, nf]
    dfeat: Vec<f32>,   // [batch, nf]
    dconv: Vec<f32>,   // [batch, nf]
    dx: Vec<f32>,      // [batch, seq_len, emb_dim]
    proj: Vec<f32>,    // [distinct, Σh·maps], the scatter path's per-batch projection
    /// Mean pooling only: `[batch, R, seq_len, maps]`, every window's convolution (no bias)
    /// from the forward pass, overwritten by the backward pass with its gradient.
    windows: Vec<f32>,
}

impl Network for KimCnn {
    type Scratch = KimScratch;

    fn param_specs(&self) -> Vec<ParamSpec> {
        crate::model::NetworkConfig::param_specs(&self.config)
    }

    fn params(&self) -> Vec<&[f32]> {
        let mut v: Vec<&[f32]> = vec![&self.embedding];
        for c in &self.convs {
            v.push(&c.weight);
            v.push(&c.bias);
        }
        v.push(&self.fc_weight);
        v.push(&self.fc_bias);
        if self.config.multichannel {
            v.push(&self.embedding_static);
        }
        v
    }

    fn params_mut(&mut self) -> Vec<&mut [f32]> {
        self.invalidate_proj_cache();
        let mut v: Vec<&mut [f32]> = vec![&mut self.embedding];
        for c in &mut self.convs {
            v.push(&mut c.weight);
            v.push(&mut c.bias);
        }
        v.push(&mut self.fc_weight);
        v.push(&mut self.fc_bias);
        if self.config.multichannel {
            v.push(&mut self.embedding_static);
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
        KimCnn::check_batch(self, batch)
    }

    fn forward_train(&self, batch: &Batch, seed: u64, sc: &mut KimScratch, logits: &mut Vec<f32>) {
        let cfg = &self.config;
        let (bs, nf, nc) = (batch.batch, cfg.num_features(), cfg.num_classes);
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
        logits.resize(bs * nc, 0.0);
        let windows = if cfg.pooling.has_mean() {
            sc.windows.resize(
                bs * cfg.region_sizes.len() * batch.seq_len * cfg.feature_maps,
                0.0,
            );
            Some(sc.windows.as_mut_slice())
        } else {
            None
        };
        self.features_path(
            batch,
            &mut sc.pooled,
            &mut sc.argmax,
            windows,
            false,
            &mut sc.proj,
        );
        sc.dropped.copy_from_slice(&sc.pooled);
        if cfg.dropout > 0.0 {
            dropout_forward(&mut sc.dropped, &mut sc.mask, cfg.dropout, seed);
        } else {
            sc.mask.fill(1.0);
        }
        dense_forward(&sc.dropped, &self.fc_weight, &self.fc_bias, nf, nc, logits);
    }

    fn backward(
        &self,
        batch: &Batch,
        sc: &mut KimScratch,
        dlogits: &[f32],
        train_embedding: bool,
        g: &mut Gradients,
    ) {
        let cfg = &self.config;
        let (nf, nc) = (cfg.num_features(), cfg.num_classes);
        let nconv = self.convs.len();
        // Dense gradients in declaration order: conv weight/bias per region, fc weight, fc bias.
        let (conv_grads, fc) = g.dense.split_at_mut(2 * nconv);
        let [fc_weight, fc_bias] = fc else {
            unreachable!("Kim CNN declares fc.weight and fc.bias after the convolutions")
        };
        fc_weight.fill(0.0);
        fc_bias.fill(0.0);
        dense_backward(
            dlogits,
            &sc.dropped,
            &self.fc_weight,
            nf,
            nc,
            fc_weight,
            fc_bias,
            &mut sc.dfeat,
        );
        dropout_backward(&mut sc.dfeat, &sc.mask);
        if cfg.pooling.has_mean() {
            return self.backward_by_windows(
                batch,
                sc,
                train_embedding,
                conv_grads,
                &mut g.embedding,
            );
        }
        relu_max_pool_backward(&sc.pooled, &sc.dfeat, &mut sc.dconv);
        self.argmax_conv_backward(batch, sc, conv_grads);
        if train_embedding {
            self.argmax_embedding_backward(batch, sc, &mut g.embedding);
        }
    }
}

impl KimCnn {
    /// The convolution parameters' gradients from the max-pooled maps' gradient (`sc.dconv`):
    /// only the argmax window of each (example, map). With multichannel, the same filters see
    /// the static channel: its rows add to the gradient.
    #[inline]
    fn argmax_conv_backward(&self, batch: &Batch, sc: &KimScratch, conv_grads: &mut [Vec<f32>]) {
        let cfg = &self.config;
        let (bs, nf, e, maps, sl) = (
            batch.batch,
            cfg.num_features(),
            cfg.emb_dim,
            cfg.feature_maps,
            batch.seq_len,
        );
        let zeros = vec![0.0f32; e];
        let channels: &[&[f32]] = if cfg.multichannel {
            &[&self.embedding, &self.embedding_static]
        } else {
            &[&self.embedding]
        };
        for (r, (conv, dwb)) in self.convs.iter().zip(conv_grads.chunks_mut(2)).enumerate() {
            let [dw, db] = dwb else { unreachable!() };
            dw.fill(0.0);
            db.fill(0.0);
            let cols = r * maps..;
            bias_backward(db, &sc.dconv[cols.clone()], bs, nf);
            for emb in channels {
                let row = |b: usize, p: usize| -> &[f32] {
                    if p < batch.lengths[b] {
                        let id = batch.ids[b * sl + p] as usize;
                        &emb[id * e..(id + 1) * e]
                    } else {
                        &zeros
                    }
                };
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
            }
        }
    }

    /// The embedding rows' gradient from the max-pooled maps' gradient: per-example input
    /// gradient (parallel, into `sc.dx`), then summed into the sparse table gradient example
    /// by example (fixed order).
    #[inline]
    fn argmax_embedding_backward(
        &self,
        batch: &Batch,
        sc: &mut KimScratch,
        embedding: &mut SparseRows,
    ) {
        let cfg = &self.config;
        let (nf, e, maps) = (cfg.num_features(), cfg.emb_dim, cfg.feature_maps);
        let (bs, sl) = (batch.batch, batch.seq_len);
        embedding.gather_rows(cfg.vocab_size, e, batch.ids, batch.lengths, sl);
        sc.dx.resize(bs * sl * e, 0.0);
        let (argmax, dconv) = (&sc.argmax, &sc.dconv);
        sc.dx
            .par_chunks_mut(sl * e)
            .enumerate()
            .for_each(|(b, dx)| {
                let dx = &mut dx[..batch.lengths[b] * e];
                dx.fill(0.0);
                for (r, conv) in self.convs.iter().enumerate() {
                    let cols = b * nf + r * maps..b * nf + (r + 1) * maps;
                    conv_backward_input(
                        dx,
                        e,
                        conv.h,
                        &conv.weight,
                        &argmax[cols.clone()],
                        &dconv[cols],
                    );
                }
            });
        for b in 0..bs {
            embedding_backward(
                &sc.dx[b * sl * e..],
                e,
                &batch.ids[b * sl..],
                batch.lengths[b],
                embedding,
            );
        }
    }

    /// The backward pass from the pooled features' gradient (`sc.dfeat`) when every window
    /// receives gradient (mean pooling), through the per-token projection of the forward pass
    /// ([`crate::nn::token_proj`]) transposed:
    ///
    /// 1. the gradient of every window, `g[b, r, t, f]`: `dmean[b, r, f] / n_windows` where
    ///    `relu` is active, plus `dmax[b, r, f]` at the max window (written over `sc.windows`);
    /// 2. its sum per distinct token, tap and map, `dP[r, k][v, f] = Σ_{positions p of v}
    ///    g[b, r, p − k, f]` (one `[distinct, maps]` block per region and tap, each summed by
    ///    one thread in a fixed order);
    /// 3. two GEMMs per block: the weight gradient `dW[r][f, k, :] = Σ_v dP[r, k][v, f] · e(v)`
    ///    and the embedding rows' gradient `de(v) += Σ_f dP[r, k][v, f] · W[r][f, k, :]`.
    ///
    /// The cost is that of the forward projection (twice), not of a convolution over every
    /// window. Deterministic for any thread count: each sum has a fixed order and gemm never
    /// splits the inner dimension.
    fn backward_by_windows(
        &self,
        batch: &Batch,
        sc: &mut KimScratch,
        train_embedding: bool,
        conv_grads: &mut [Vec<f32>],
        embedding: &mut SparseRows,
    ) {
        let cfg = &self.config;
        let (bs, sl, maps) = (batch.batch, batch.seq_len, cfg.feature_maps);
        let per = self.convs.len() * sl * maps;
        // 1. Window gradients, example by example, and the bias gradients.
        self.window_grads(batch, sc);
        let windows = &sc.windows[..bs * per];
        self.window_bias_grads(batch, windows, conv_grads);
        // 2. Per-token sums, one [distinct, maps] block per (region, tap).
        let distinct = DistinctTokens::new(batch.ids, batch.lengths, sl, cfg.vocab_size);
        let blocks: Vec<(usize, usize)> = self
            .convs
            .iter()
            .enumerate()
            .flat_map(|(r, c)| (0..c.h).map(move |k| (r, k)))
            .collect();
        let dp = self.token_sums(batch, windows, &distinct, &blocks);
        // 3. Weight and embedding-row gradients.
        self.tap_gemms(
            &distinct,
            &blocks,
            &dp,
            train_embedding,
            conv_grads,
            embedding,
            batch,
        );
    }

    /// Step 1 of [`Self::backward_by_windows`]: the gradient of every window, written over
    /// `sc.windows` (`[batch, R, seq_len, maps]`), example by example (parallel).
    #[inline]
    fn window_grads(&self, batch: &Batch, sc: &mut KimScratch) {
        let cfg = &self.config;
        let (bs, sl, maps) = (batch.batch, batch.seq_len, cfg.feature_maps);
        let (nf, mf, nr) = (cfg.num_features(), cfg.max_features(), self.convs.len());
        let per = nr * sl * maps;
        let (pooled, argmax, dfeat) = (&sc.pooled, &sc.argmax, &sc.dfeat);
        sc.windows[..bs * per]
            .par_chunks_mut(per)
            .enumerate()
            .for_each(|(b, w)| {
                let len = batch.lengths[b];
                for (r, conv) in self.convs.iter().enumerate() {
                    let nw = super::valid_windows(len, conv.h);
                    let inv = 1.0 / nw as f32;
                    let w = &mut w[r * sl * maps..(r * sl + nw) * maps];
                    let col = b * nf + r * maps;
                    let dmean = &dfeat[mf + col..mf + col + maps];
                    for row in w.chunks_exact_mut(maps) {
                        for ((v, &bias), &dm) in row.iter_mut().zip(&conv.bias).zip(dmean) {
                            *v = if *v + bias > 0.0 { dm * inv } else { 0.0 };
                        }
                    }
                    for f in 0..maps {
                        if pooled[col + f] > 0.0 {
                            w[argmax[col + f] as usize * maps + f] += dfeat[col + f];
                        }
                    }
                }
            });
    }

    /// The bias gradients of [`Self::backward_by_windows`]: every window (`windows`, their
    /// gradients `[batch, R, seq_len, maps]`) of every example, in order.
    #[inline]
    fn window_bias_grads(&self, batch: &Batch, windows: &[f32], conv_grads: &mut [Vec<f32>]) {
        let (sl, maps) = (batch.seq_len, self.config.feature_maps);
        let per = self.convs.len() * sl * maps;
        for (r, (conv, dwb)) in self.convs.iter().zip(conv_grads.chunks_mut(2)).enumerate() {
            let db = &mut dwb[1];
            db.fill(0.0);
            for b in 0..batch.batch {
                let nw = super::valid_windows(batch.lengths[b], conv.h);
                let at = b * per + r * sl * maps;
                for row in windows[at..at + nw * maps].chunks_exact(maps) {
                    for (d, &v) in db.iter_mut().zip(row) {
                        *d += v;
                    }
                }
            }
        }
    }

    /// Step 2 of [`Self::backward_by_windows`]: the window gradients summed per distinct token,
    /// one `[distinct, maps]` block per (region, tap) of `blocks`, each by one thread in a
    /// fixed order.
    #[inline]
    fn token_sums(
        &self,
        batch: &Batch,
        windows: &[f32],
        distinct: &DistinctTokens,
        blocks: &[(usize, usize)],
    ) -> Vec<f32> {
        let (bs, sl, maps) = (batch.batch, batch.seq_len, self.config.feature_maps);
        let per = self.convs.len() * sl * maps;
        let d = distinct.ids.len();
        let mut dp = vec![0.0f32; blocks.len() * d * maps];
        if d > 0 {
            dp.par_chunks_mut(d * maps)
                .zip(blocks)
                .for_each(|(out, &(r, k))| {
                    let h = self.convs[r].h;
                    for b in 0..bs {
                        let len = batch.lengths[b];
                        let nw = super::valid_windows(len, h);
                        let local = &distinct.local[b * sl..b * sl + len];
                        let w = &windows[b * per + r * sl * maps..];
                        // Window t reads position t + k.
                        for t in 0..nw {
                            let Some(&v) = local.get(t + k) else { break };
                            if v == u32::MAX {
                                continue;
                            }
                            let dst = &mut out[v as usize * maps..(v as usize + 1) * maps];
                            for (o, &x) in dst.iter_mut().zip(&w[t * maps..(t + 1) * maps]) {
                                *o += x;
                            }
                        }
                    }
                });
        }
        dp
    }

    /// Step 3 of [`Self::backward_by_windows`]: two GEMMs per (region, tap) block of `dp`, the
    /// weight gradient into `conv_grads[2r]` and, with `train_embedding`, the embedding rows'
    /// gradient of the distinct tokens into `embedding`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn tap_gemms(
        &self,
        distinct: &DistinctTokens,
        blocks: &[(usize, usize)],
        dp: &[f32],
        train_embedding: bool,
        conv_grads: &mut [Vec<f32>],
        embedding: &mut SparseRows,
        batch: &Batch,
    ) {
        let cfg = &self.config;
        let (e, maps, sl) = (cfg.emb_dim, cfg.feature_maps, batch.seq_len);
        let d = distinct.ids.len();
        let extra = cfg.multichannel.then_some(self.embedding_static.as_slice());
        let rows = gather_rows(&self.embedding, extra, e, &distinct.ids);
        let threads = gemm::Parallelism::Rayon(rayon::current_num_threads());
        for dwb in conv_grads.chunks_mut(2) {
            dwb[0].fill(0.0);
        }
        let mut drows = vec![0.0f32; d * e];
        for (i, &(r, k)) in blocks.iter().enumerate() {
            if d == 0 {
                break;
            }
            let h = self.convs[r].h;
            let block = &dp[i * d * maps..(i + 1) * d * maps];
            let dw = &mut conv_grads[2 * r];
            // SAFETY: dst (f, j) = dw[f·h·e + k·e + j] for f < maps, j < e lies in dw
            // ([maps, h, e]); lhs (f, v) = block[v·maps + f], v < d; rhs (v, j) = rows[v·e + j].
            unsafe {
                gemm_strided(
                    maps,
                    e,
                    d,
                    dw.as_mut_ptr().add(k * e),
                    (1, (h * e) as isize),
                    false,
                    block.as_ptr(),
                    (maps as isize, 1),
                    rows.as_ptr(),
                    (1, e as isize),
                    threads,
                );
            }
            if train_embedding {
                let weight = &self.convs[r].weight;
                // SAFETY: dst (v, j) = drows[v·e + j]; lhs (v, f) = block[v·maps + f];
                // rhs (f, j) = weight[f·h·e + k·e + j], f < maps, j < e, inside [maps, h, e].
                unsafe {
                    gemm_strided(
                        d,
                        e,
                        maps,
                        drows.as_mut_ptr(),
                        (1, e as isize),
                        i > 0,
                        block.as_ptr(),
                        (1, maps as isize),
                        weight.as_ptr().add(k * e),
                        (1, (h * e) as isize),
                        threads,
                    );
                }
            }
        }
        if train_embedding {
            embedding.gather_rows(cfg.vocab_size, e, batch.ids, batch.lengths, sl);
            assert_eq!(
                embedding.rows, distinct.ids,
                "sparse rows and distinct tokens list the batch's ids in the same order"
            );
            embedding.grad.copy_from_slice(&drows);
        }
    }
}
