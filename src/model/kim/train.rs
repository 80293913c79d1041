//! The Kim CNN's training pass for the generic trainer ([`Network`]): forward with dropout to the
//! logits, and the backward from the logits' gradient through dense, dropout, ReLU at the
//! max-over-time positions, the convolutions (their argmax windows only) and the embedding rows.

use rayon::prelude::*;

use super::KimCnn;
use crate::batch::Batch;
use crate::model::network::{Gradients, Network, ParamSpec};
use crate::nn::conv::{conv_backward_input, conv_backward_weight};
use crate::nn::dense::{dense_backward, dense_forward};
use crate::nn::dropout::{dropout_backward, dropout_forward};
use crate::nn::embedding::embedding_backward;
use crate::nn::pool::{bias_backward, relu_max_pool_backward};

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
        self.features_path(batch, &mut sc.pooled, &mut sc.argmax, false, &mut sc.proj);
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
        let (bs, nf, nc, e, maps, sl) = (
            batch.batch,
            cfg.num_features(),
            cfg.num_classes,
            cfg.emb_dim,
            cfg.feature_maps,
            batch.seq_len,
        );
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
        relu_max_pool_backward(&sc.pooled, &sc.dfeat, &mut sc.dconv);

        // Convolution parameters: only the argmax window of each (example, map). With
        // multichannel, the same filters see the static channel: its rows add to the gradient.
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

        // Embedding rows: per-example input gradient (parallel), then summed into the sparse
        // table gradient example by example (fixed order).
        if train_embedding {
            g.embedding
                .gather_rows(cfg.vocab_size, e, batch.ids, batch.lengths, sl);
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
                    &mut g.embedding,
                );
            }
        }
    }
}
