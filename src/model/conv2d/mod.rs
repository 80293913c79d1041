//! The tutorial's 2-D CNN: the embedded text `[seq_len, emb_dim]` is a one-channel image; a stack
//! of blocks, each Conv2d(k × k, `maps` maps, stride 1, 'same' zero padding) → ReLU →
//! MaxPool2d / AvgPool2d(p × p, stride p, floor), then flatten → hidden dense layers (ReLU, then
//! dropout) → output dense layer → softmax.
//!
//! The input length is fixed (`seq_len`): the flattened size, hence the first dense layer's
//! shape, depends on it. Rows shorter than `seq_len` are zero-padded (the `<pad>` row is zero),
//! longer ones are cut.

mod train;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use anyhow::ensure;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::kim::Batch;
use crate::nn::conv2d::conv2d_forward;
use crate::nn::dense_gemm::dense_gemm_forward;
use crate::nn::embedding::embedding_forward;
use crate::nn::pool2d::{avg_pool2d_forward, max_pool2d_forward, pooled_len, relu_forward};
pub use train::Conv2dScratch;

/// Pooling of a conv2d block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PoolKind {
    /// Max pooling (the tutorial's).
    #[default]
    Max,
    /// Average pooling.
    Avg,
}

/// Weight initialization of [`Conv2dNet::new`].
///
/// Keras's defaults are the default: they make the first dense layer's inputs (the flattened
/// features) ≈ 27× smaller than PyTorch's (smaller embedding and kernels, no bias; seed preset:
/// they sum to ≈ 2,200 per review against ≈ 60,000), small enough that Adam's first, sign-like
/// steps on that wide layer do not push every hidden ReLU below zero. With PyTorch's defaults
/// the seed preset's 64 hidden units die in the first steps (IMDB valid accuracy 0.50).
// The variant docs are the `--init` help text: plain words, no doc links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// Keras's defaults, as the tutorial ran: embedding U(-0.05, 0.05), weights
    /// Glorot-uniform U(±sqrt(6 / (fan_in + fan_out))) (Glorot & Bengio 2010), zero biases
    #[default]
    Keras,
    /// PyTorch's defaults with Kim (2014)'s embedding: embedding U(-0.25, 0.25), weights and
    /// biases U(±1/sqrt(fan_in)); the seed preset does not learn with it
    Torch,
}

impl InitScheme {
    /// The scheme of bundles saved before the `init` field existed.
    fn legacy() -> InitScheme {
        InitScheme::Torch
    }
}

/// One block: Conv2d(`kernel` × `kernel`, `maps` output maps, 'same') → ReLU → `pool_kind`
/// pooling with a `pool` × `pool` window and stride (`pool = 1`: no pooling).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2dBlock {
    /// Kernel side (odd sizes pad symmetrically).
    pub kernel: usize,
    /// Output feature maps (channels).
    pub maps: usize,
    /// Pooling window side and stride; 1 = no pooling.
    pub pool: usize,
    /// Max or average pooling.
    #[serde(default)]
    pub pool_kind: PoolKind,
}

impl fmt::Display for Conv2dBlock {
    /// `KxM:maxP` / `KxM:avgP` (e.g. `3x64:max2`), the form [`Conv2dBlock::from_str`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.pool_kind {
            PoolKind::Max => "max",
            PoolKind::Avg => "avg",
        };
        write!(f, "{}x{}:{kind}{}", self.kernel, self.maps, self.pool)
    }
}

impl FromStr for Conv2dBlock {
    type Err = anyhow::Error;

    /// Parses `KxM[:maxP|:avgP|:P]`, e.g. `3x64:max2` (3×3 kernel, 64 maps, 2×2 max pooling),
    /// `3x64:2` (max pooling) or `5x32` (no pooling).
    fn from_str(s: &str) -> anyhow::Result<Conv2dBlock> {
        Conv2dBlock::parse_with_default(s, PoolKind::Max)
    }
}

impl Conv2dBlock {
    /// As [`Conv2dBlock::from_str`], with `default_kind` for a spec that names no pooling kind.
    pub fn parse_with_default(s: &str, default_kind: PoolKind) -> anyhow::Result<Conv2dBlock> {
        let bad = || {
            anyhow::anyhow!("invalid conv2d block {s:?}: expected KxM[:maxP|:avgP], e.g. 3x64:max2")
        };
        let (conv, pool) = match s.split_once(':') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let (k, m) = conv.split_once(['x', 'X']).ok_or_else(bad)?;
        let kernel = k.trim().parse().map_err(|_| bad())?;
        let maps = m.trim().parse().map_err(|_| bad())?;
        let (pool_kind, pool) = match pool.map(str::trim) {
            None => (default_kind, 1),
            Some(p) => {
                let (kind, n) = if let Some(n) = p.strip_prefix("max") {
                    (PoolKind::Max, n)
                } else if let Some(n) = p.strip_prefix("avg") {
                    (PoolKind::Avg, n)
                } else {
                    (default_kind, p)
                };
                (kind, n.parse().map_err(|_| bad())?)
            }
        };
        Ok(Conv2dBlock {
            kernel,
            maps,
            pool,
            pool_kind,
        })
    }
}

/// Hyper-parameters of [`Conv2dNet`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2dConfig {
    /// Rows of the embedding table; id 0 is `<pad>`.
    pub vocab_size: usize,
    /// Embedding width: the image width.
    pub emb_dim: usize,
    /// Tokens per text: the image height (fixed; shorter texts are zero-padded, longer cut).
    pub seq_len: usize,
    /// Convolution blocks, input side first.
    pub blocks: Vec<Conv2dBlock>,
    /// Widths of the hidden dense layers (ReLU + dropout each).
    pub hidden: Vec<usize>,
    /// Dropout probability after each hidden layer during training.
    pub dropout: f32,
    /// Output classes.
    pub num_classes: usize,
    /// How [`Conv2dNet::new`] initialised the weights (recorded in the bundle; loading ignores it).
    #[serde(default = "InitScheme::legacy")]
    pub init: InitScheme,
}

/// Shape of one block for a given input: `[c_in, h, w]` → conv `[c_out, h, w]` → pooled
/// `[c_out, ho, wo]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockShape {
    /// Input channels.
    pub c_in: usize,
    /// Input (and convolution output) height.
    pub h: usize,
    /// Input (and convolution output) width.
    pub w: usize,
    /// Kernel side.
    pub k: usize,
    /// Output channels (maps).
    pub c_out: usize,
    /// Pooling window side and stride.
    pub pool: usize,
    /// Pooling kind.
    pub kind: PoolKind,
    /// Pooled height `h / pool`.
    pub ho: usize,
    /// Pooled width `w / pool`.
    pub wo: usize,
}

impl BlockShape {
    /// Floats of the block input `c_in · h · w`.
    pub fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }
    /// Floats of the convolution output `c_out · h · w`.
    pub fn act_len(&self) -> usize {
        self.c_out * self.h * self.w
    }
    /// Floats of the pooled output `c_out · ho · wo`.
    pub fn out_len(&self) -> usize {
        self.c_out * self.ho * self.wo
    }
    /// Rows × columns of the im2col matrix.
    pub fn col_len(&self) -> usize {
        self.c_in * self.k * self.k * self.h * self.w
    }
}

impl Conv2dConfig {
    /// Shapes of every block, input side first.
    pub fn block_shapes(&self) -> Vec<BlockShape> {
        let (mut c, mut h, mut w) = (1, self.seq_len, self.emb_dim);
        self.blocks
            .iter()
            .map(|b| {
                let p = b.pool.max(1);
                let s = BlockShape {
                    c_in: c,
                    h,
                    w,
                    k: b.kernel,
                    c_out: b.maps,
                    pool: p,
                    kind: b.pool_kind,
                    ho: pooled_len(h, p),
                    wo: pooled_len(w, p),
                };
                (c, h, w) = (s.c_out, s.ho, s.wo);
                s
            })
            .collect()
    }

    /// Width of the flattened features (the first dense layer's input).
    pub fn num_features(&self) -> usize {
        self.block_shapes()
            .last()
            .map_or(self.seq_len * self.emb_dim, |s| s.out_len())
    }

    /// `(in, out)` of every dense layer, hidden layers first, the output layer last.
    pub fn dense_dims(&self) -> Vec<(usize, usize)> {
        let mut dims = Vec::new();
        let mut n = self.num_features();
        for &h in &self.hidden {
            dims.push((n, h));
            n = h;
        }
        dims.push((n, self.num_classes));
        dims
    }

    /// Checks every size; each block's pooled output must keep at least one row and column.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.vocab_size >= 1, "vocab_size must be >= 1");
        ensure!(self.emb_dim >= 1, "emb_dim must be >= 1");
        ensure!(self.seq_len >= 1, "seq_len must be >= 1");
        ensure!(!self.blocks.is_empty(), "conv2d needs at least one block");
        for (i, b) in self.blocks.iter().enumerate() {
            ensure!(
                b.kernel >= 1 && b.maps >= 1 && b.pool >= 1,
                "conv2d block {i} ({b}): kernel, maps and pool must be >= 1"
            );
        }
        for (i, s) in self.block_shapes().iter().enumerate() {
            ensure!(
                s.k <= s.h.max(s.w),
                "conv2d block {i} ({}): a {}x{} kernel is larger than its {}x{} input",
                self.blocks[i],
                s.k,
                s.k,
                s.h,
                s.w
            );
            ensure!(
                s.ho >= 1 && s.wo >= 1,
                "conv2d block {i} ({}): a {}x{} input is smaller than the {}x{} pooling window",
                self.blocks[i],
                s.h,
                s.w,
                s.pool,
                s.pool
            );
        }
        ensure!(
            self.hidden.iter().all(|&h| h >= 1),
            "hidden layer widths must be >= 1"
        );
        ensure!(
            self.training_floats().is_some(),
            "conv2d sizes too large: the parameter or activation count overflows (emb_dim {}, seq_len {}, blocks {:?}, hidden {:?})",
            self.emb_dim,
            self.seq_len,
            self.blocks
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>(),
            self.hidden
        );
        ensure!(self.num_classes >= 1, "num_classes must be >= 1");
        ensure!(
            (0.0..1.0).contains(&self.dropout),
            "dropout must be in [0, 1)"
        );
        Ok(())
    }

    /// `(parameters, f32 per training example)`: the parameter count and the activations one
    /// example keeps during a training step (embedded text, every block's convolution output,
    /// pooled output and argmax, two im2col matrices, the dense layers' inputs and outputs).
    /// `None` when a count overflows `usize`. Needs positive sizes and blocks whose pooled
    /// outputs are non-empty (the first checks of [`Conv2dConfig::validate`]).
    pub fn training_floats(&self) -> Option<(usize, usize)> {
        let prod = |xs: &[usize]| xs.iter().try_fold(1usize, |a, &x| a.checked_mul(x));
        let mut params = prod(&[self.vocab_size, self.emb_dim])?;
        let mut act = prod(&[self.seq_len, self.emb_dim])?;
        let mut col = 0usize;
        for s in self.block_shapes() {
            params = params
                .checked_add(prod(&[s.c_out, s.c_in, s.k, s.k])?)?
                .checked_add(s.c_out)?;
            let conv = prod(&[s.c_out, s.h, s.w])?;
            let pooled = prod(&[s.c_out, s.ho, s.wo])?;
            act = act.checked_add(conv)?.checked_add(pooled.checked_mul(2)?)?;
            col = col.max(prod(&[s.c_in, s.k, s.k, s.h, s.w])?);
        }
        act = act.checked_add(col.checked_mul(2)?)?;
        let mut n = self.block_shapes().last()?.out_len();
        for &h in self.hidden.iter().chain(std::iter::once(&self.num_classes)) {
            params = params.checked_add(prod(&[n, h])?)?.checked_add(h)?;
            act = act.checked_add(n)?.checked_add(h.checked_mul(2)?)?;
            n = h;
        }
        Some((params, act))
    }

    /// Names and shapes of all parameters, in [`Conv2dNet::named_params`] order:
    /// `embedding.weight` `[vocab_size, emb_dim]`; per block `i`: `conv{i}.weight`
    /// `[maps, c_in, k, k]` (PyTorch `Conv2d` layout), `conv{i}.bias` `[maps]`; per hidden layer
    /// `j`: `hidden{j}.weight` `[out, in]`, `hidden{j}.bias` `[out]`; `fc.weight`
    /// `[num_classes, in]`, `fc.bias` `[num_classes]`.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = vec![(
            "embedding.weight".to_string(),
            vec![self.vocab_size, self.emb_dim],
        )];
        for (i, s) in self.block_shapes().iter().enumerate() {
            v.push((format!("conv{i}.weight"), vec![s.c_out, s.c_in, s.k, s.k]));
            v.push((format!("conv{i}.bias"), vec![s.c_out]));
        }
        let dims = self.dense_dims();
        for (j, &(i, o)) in dims.iter().enumerate() {
            let name = if j + 1 == dims.len() {
                "fc".to_string()
            } else {
                format!("hidden{j}")
            };
            v.push((format!("{name}.weight"), vec![o, i]));
            v.push((format!("{name}.bias"), vec![o]));
        }
        v
    }

    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.param_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// Per-example activation layout: `[x0 | act0 | pooled0 | act1 | pooled1 | ...]` (f32) and
    /// `[argmax0 | argmax1 | ...]` (u32).
    pub(crate) fn layout(&self) -> Layout {
        let shapes = self.block_shapes();
        let mut off = self.seq_len * self.emb_dim;
        let mut aoff = 0;
        let mut blocks = Vec::new();
        for s in &shapes {
            let act = off..off + s.act_len();
            let pooled = act.end..act.end + s.out_len();
            off = pooled.end;
            let argmax = aoff..aoff + s.out_len();
            aoff = argmax.end;
            blocks.push(BlockLayout {
                act,
                pooled,
                argmax,
            });
        }
        let col = shapes.iter().map(|s| s.col_len()).max().unwrap_or(0);
        Layout {
            shapes,
            blocks,
            size: off,
            asize: aoff,
            col,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct BlockLayout {
    pub(crate) act: std::ops::Range<usize>,
    pub(crate) pooled: std::ops::Range<usize>,
    pub(crate) argmax: std::ops::Range<usize>,
}

/// Where each activation of one example lives in its buffers.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) shapes: Vec<BlockShape>,
    pub(crate) blocks: Vec<BlockLayout>,
    /// f32 per example.
    pub(crate) size: usize,
    /// u32 (argmax) per example.
    pub(crate) asize: usize,
    /// Largest im2col matrix.
    pub(crate) col: usize,
}

impl Layout {
    /// Input range of block `i` (the embedded text for block 0, else the previous pooled output).
    pub(crate) fn input(&self, i: usize, seq_emb: usize) -> std::ops::Range<usize> {
        if i == 0 {
            0..seq_emb
        } else {
            self.blocks[i - 1].pooled.clone()
        }
    }
    /// Range of the flattened features (the last pooled output).
    pub(crate) fn features(&self) -> std::ops::Range<usize> {
        self.blocks
            .last()
            .expect("at least one block")
            .pooled
            .clone()
    }
}

/// Parameters of a dense layer: `weight` `[out, in]`, `bias` `[out]`.
#[derive(Clone, Debug)]
pub(crate) struct DenseParams {
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

/// The conv2d network's parameters (see [`Conv2dConfig::param_shapes`]). Holds no scratch:
/// `&self` inference can run from many threads.
#[derive(Clone, Debug)]
pub struct Conv2dNet {
    pub(crate) config: Conv2dConfig,
    pub(crate) embedding: Vec<f32>,
    /// Per block: weight `[maps, c_in, k, k]`, bias `[maps]`.
    pub(crate) convs: Vec<(Vec<f32>, Vec<f32>)>,
    /// Hidden layers then the output layer.
    pub(crate) dense: Vec<DenseParams>,
}

fn uniform(rng: &mut ChaCha8Rng, bound: f32, out: &mut [f32]) {
    for v in out {
        let u = (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
        *v = (2.0 * u - 1.0) * bound;
    }
}

thread_local! {
    /// Per-thread scratch buffers of the per-example passes (grown on demand, never shrunk), so
    /// that rayon tasks do not allocate and page-fault megabytes per example.
    static SCRATCH: std::cell::RefCell<ThreadScratch> = std::cell::RefCell::new(ThreadScratch::default());
}

/// Per-thread buffers: four f32 buffers and one u32 buffer.
#[derive(Default)]
pub(crate) struct ThreadScratch {
    pub(crate) f: [Vec<f32>; 4],
    pub(crate) u: Vec<u32>,
}

/// Runs `f` with this thread's scratch, each f32 buffer `i` at least `sizes[i]` long and the
/// u32 buffer at least `usize_` long (contents unspecified). `f` must not re-enter (it runs no
/// rayon work).
pub(crate) fn with_scratch<R>(
    sizes: [usize; 4],
    usize_: usize,
    f: impl FnOnce(&mut ThreadScratch) -> R,
) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        for (b, &n) in s.f.iter_mut().zip(&sizes) {
            if b.len() < n {
                b.resize(n, 0.0);
            }
        }
        if s.u.len() < usize_ {
            s.u.resize(usize_, 0);
        }
        f(&mut s)
    })
}

/// Examples per chunk at inference (bounds the activation memory of [`Conv2dNet::logits`]).
const INFER_CHUNK: usize = 32;

impl Conv2dNet {
    /// Deterministic initialization from `seed` (ChaCha8) following `config.init`
    /// ([`InitScheme`]); the `<pad>` row 0 of the embedding is zero.
    ///
    /// Panics if the config is invalid ([`Conv2dConfig::validate`]).
    pub fn new(config: Conv2dConfig, seed: u64) -> Conv2dNet {
        if let Err(e) = config.validate() {
            panic!("invalid Conv2dConfig: {e}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let keras = config.init == InitScheme::Keras;
        // (weight bound, bias bound) of a layer with these fans.
        let bounds = |fan_in: usize, fan_out: usize| {
            if keras {
                ((6.0 / (fan_in + fan_out) as f32).sqrt(), 0.0)
            } else {
                let b = 1.0 / (fan_in as f32).sqrt();
                (b, b)
            }
        };
        let (v, e) = (config.vocab_size, config.emb_dim);
        let mut embedding = vec![0.0; v * e];
        uniform(
            &mut rng,
            if keras { 0.05 } else { 0.25 },
            &mut embedding[e..],
        );
        let convs = config
            .block_shapes()
            .iter()
            .map(|s| {
                let fan_in = s.c_in * s.k * s.k;
                let (wb, bb) = bounds(fan_in, s.c_out * s.k * s.k);
                let mut w = vec![0.0; s.c_out * fan_in];
                let mut b = vec![0.0; s.c_out];
                uniform(&mut rng, wb, &mut w);
                uniform(&mut rng, bb, &mut b);
                (w, b)
            })
            .collect();
        let dense = config
            .dense_dims()
            .into_iter()
            .map(|(n_in, n_out)| {
                let (wb, bb) = bounds(n_in, n_out);
                let mut weight = vec![0.0; n_out * n_in];
                let mut bias = vec![0.0; n_out];
                uniform(&mut rng, wb, &mut weight);
                uniform(&mut rng, bb, &mut bias);
                DenseParams {
                    n_in,
                    n_out,
                    weight,
                    bias,
                }
            })
            .collect();
        Conv2dNet {
            config,
            embedding,
            convs,
            dense,
        }
    }

    /// The configuration this model was built from.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    /// Panics with a clear message if `batch` does not fit this model. Any `seq_len` is
    /// accepted: rows are cut or zero-padded to the model's `seq_len`.
    pub(crate) fn check_batch(&self, batch: &Batch) {
        batch.check(self.config.vocab_size);
    }

    /// Real tokens of row `b` that the model reads: `min(lengths[b], seq_len)`.
    pub(crate) fn row_len(&self, batch: &Batch, b: usize) -> usize {
        batch.lengths[b].min(self.config.seq_len)
    }

    /// Forward pass of one example through the embedding and every block, keeping every
    /// activation.
    ///
    /// * `ids`: the row's ids, `length` real tokens (`<= seq_len`)
    /// * `buf`: `[layout.size]`, `argmax`: `[layout.asize]` (overwritten; see [`Layout`])
    /// * `col`: im2col scratch of `layout.col` floats
    pub(crate) fn forward_example(
        &self,
        layout: &Layout,
        ids: &[u32],
        length: usize,
        buf: &mut [f32],
        argmax: &mut [u32],
        col: &mut [f32],
    ) {
        let (e, l) = (self.config.emb_dim, self.config.seq_len);
        embedding_forward(&self.embedding, e, ids, length, &mut buf[..l * e]);
        for (i, (s, bl)) in layout.shapes.iter().zip(&layout.blocks).enumerate() {
            let input = layout.input(i, l * e);
            let (left, right) = buf.split_at_mut(bl.act.start);
            let (act, rest) = right.split_at_mut(s.act_len());
            let pooled = &mut rest[..s.out_len()];
            let (w, b) = &self.convs[i];
            conv2d_forward(&left[input], s.c_in, s.h, s.w, s.k, w, b, s.c_out, col, act);
            relu_forward(act);
            match s.kind {
                PoolKind::Max => max_pool2d_forward(
                    act,
                    s.c_out,
                    s.h,
                    s.w,
                    s.pool,
                    pooled,
                    &mut argmax[bl.argmax.clone()],
                ),
                PoolKind::Avg => avg_pool2d_forward(act, s.c_out, s.h, s.w, s.pool, pooled),
            }
        }
    }

    /// Flattened features `[batch, num_features]` of a batch (parallel over examples in the
    /// current rayon pool; independent of the thread count).
    pub(crate) fn features(&self, batch: &Batch, feats: &mut [f32]) {
        let layout = self.config.layout();
        let nf = self.config.num_features();
        let sl = batch.seq_len;
        feats[..batch.batch * nf]
            .par_chunks_mut(nf)
            .enumerate()
            .for_each(|(b, f)| {
                with_scratch([layout.size, layout.col, 0, 0], layout.asize, |s| {
                    let [buf, col, ..] = &mut s.f;
                    let len = self.row_len(batch, b);
                    let (buf, col) = (&mut buf[..layout.size], &mut col[..layout.col]);
                    let am = &mut s.u[..layout.asize];
                    self.forward_example(&layout, &batch.ids[b * sl..], len, buf, am, col);
                    f.copy_from_slice(&buf[layout.features()]);
                })
            });
    }

    /// Logits `[batch, num_classes]`, row-major; no dropout. Runs in the current rayon pool, in
    /// chunks of 32 examples to bound memory.
    pub fn logits(&self, batch: &Batch) -> Vec<f32> {
        self.check_batch(batch);
        let nc = self.config.num_classes;
        let nf = self.config.num_features();
        let mut out = vec![0.0; batch.batch * nc];
        let mut feats = vec![0.0; INFER_CHUNK.min(batch.batch) * nf];
        let sl = batch.seq_len;
        for start in (0..batch.batch).step_by(INFER_CHUNK) {
            let n = INFER_CHUNK.min(batch.batch - start);
            let sub = Batch {
                ids: &batch.ids[start * sl..(start + n) * sl],
                lengths: &batch.lengths[start..start + n],
                batch: n,
                seq_len: sl,
            };
            self.features(&sub, &mut feats);
            let mut x = feats[..n * nf].to_vec();
            for (j, d) in self.dense.iter().enumerate() {
                let mut y = vec![0.0; n * d.n_out];
                dense_gemm_forward(&x, &d.weight, &d.bias, n, d.n_in, d.n_out, &mut y);
                if j + 1 < self.dense.len() {
                    relu_forward(&mut y);
                }
                x = y;
            }
            out[start * nc..(start + n) * nc].copy_from_slice(&x);
        }
        out
    }

    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.config.num_params()
    }

    /// Rebuilds from named tensors `name → (shape, data)`: every expected name present with the
    /// expected shape, no other name, embedding row 0 zero; the error names the tensor.
    pub fn from_named_params(
        config: Conv2dConfig,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> anyhow::Result<Conv2dNet> {
        config.validate()?;
        let data = super::params::checked_tensors(&config.param_shapes(), tensors, config.emb_dim)?;
        let mut it = data.into_iter();
        let embedding = it.next().unwrap();
        let convs = config
            .blocks
            .iter()
            .map(|_| (it.next().unwrap(), it.next().unwrap()))
            .collect();
        let dense = config
            .dense_dims()
            .into_iter()
            .map(|(n_in, n_out)| DenseParams {
                n_in,
                n_out,
                weight: it.next().unwrap(),
                bias: it.next().unwrap(),
            })
            .collect();
        Ok(Conv2dNet {
            config,
            embedding,
            convs,
            dense,
        })
    }

    /// Embedding table `[vocab_size, emb_dim]`, for pretrained-vector initialization. Keep row 0
    /// zero.
    pub fn embedding_mut(&mut self) -> &mut [f32] {
        &mut self.embedding
    }
}

impl crate::model::network::NetworkConfig for Conv2dConfig {
    type Net = Conv2dNet;

    fn build(&self, seed: u64) -> Conv2dNet {
        Conv2dNet::new(self.clone(), seed)
    }

    fn load(&self, tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>) -> anyhow::Result<Conv2dNet> {
        Conv2dNet::from_named_params(self.clone(), tensors)
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        Conv2dConfig::param_shapes(self)
    }

    fn validate(&self) -> anyhow::Result<()> {
        Conv2dConfig::validate(self)
    }

    fn training_floats(&self, _seq_len: usize) -> Option<(usize, usize)> {
        Conv2dConfig::training_floats(self)
    }

    fn describe(&self) -> String {
        format!(
            "conv2d: emb {}, seq_len {}, blocks [{}], {} features, hidden {:?}",
            self.emb_dim,
            self.seq_len,
            self.blocks
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.num_features(),
            self.hidden
        )
    }

    fn min_len(&self) -> usize {
        self.seq_len
    }

    fn fixed_len(&self) -> Option<usize> {
        Some(self.seq_len)
    }

    fn check_encoding(&self, min_len: usize, max_len: usize) -> Result<(), String> {
        if (min_len, max_len) != (self.seq_len, self.seq_len) {
            return Err(format!(
                "\"encode\" pads and cuts texts to {min_len}..{max_len} tokens, but the conv2d \"architecture\" reads exactly seq_len = {}",
                self.seq_len
            ));
        }
        Ok(())
    }

    fn logit_bound(&self, layer: &mut dyn FnMut(&str, f64) -> f64, embedding: f64) -> f64 {
        let mut bound = embedding;
        for i in 0..self.blocks.len() {
            bound = layer(&format!("conv{i}"), bound);
        }
        for j in 0..self.hidden.len() {
            bound = layer(&format!("hidden{j}"), bound);
        }
        layer("fc", bound)
    }

    fn shrink_flags(&self) -> &'static str {
        "--hidden, --emb-dim, --max-len, the maps of --conv2d-blocks, --vocab-size or --batch-size"
    }
}
