//! The CNN of Kim (2014), "Convolutional Neural Networks for Sentence Classification":
//! embedding → for each region size `h`: convolution over time (`feature_maps` filters of
//! `h × emb_dim`) → bias + ReLU → max-over-time pooling → concatenate → dropout → dense → softmax.

mod config;
mod train;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use anyhow::ensure;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rayon::prelude::*;

pub use crate::batch::Batch;
use crate::nn::conv::conv_forward;
use crate::nn::dense::dense_forward;
use crate::nn::embedding::embedding_forward;
use crate::nn::pool::{bias_relu_max_pool_forward, bias_relu_mean_pool_forward};
use crate::nn::token_proj::{
    DEFAULT_PROJ_CACHE_BYTES, DistinctTokens, ProjTable, gather_rows, prefer_projection, project,
    scatter_max, stacked_taps, tap_major, windows_from_projection,
};
pub use train::KimScratch;

/// Parameter name of the frozen channel of a multichannel model, `[vocab_size, emb_dim]`.
pub const STATIC_EMBEDDING: &str = "embedding_static.weight";

pub use config::{KimConfig, Pooling};

/// Parameters of one region size: `weight` `[maps, h, emb_dim]`, `bias` `[maps]`.
#[derive(Clone, Debug)]
pub(crate) struct ConvParams {
    pub(crate) h: usize,
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

/// The Kim CNN's parameters. Holds no scratch: `&self` inference can run from many threads.
///
/// Parameters (see [`KimConfig::param_shapes`]): `embedding.weight` `[vocab_size, emb_dim]` (row
/// 0 is `<pad>`, zero and never updated); per region size `h`: `conv{h}.weight`
/// `[feature_maps, h, emb_dim]` and `conv{h}.bias` `[feature_maps]`; `fc.weight`
/// `[num_classes, feature_maps × region_sizes.len()]`, `fc.bias` `[num_classes]`; with
/// `multichannel`, last, `embedding_static.weight` `[vocab_size, emb_dim]` (never trained).
#[derive(Clone, Debug)]
pub struct KimCnn {
    pub(crate) config: KimConfig,
    pub(crate) embedding: Vec<f32>,
    /// Frozen channel, `[vocab_size, emb_dim]` when `config.multichannel`, else empty.
    pub(crate) embedding_static: Vec<f32>,
    pub(crate) convs: Vec<ConvParams>,
    pub(crate) fc_weight: Vec<f32>,
    pub(crate) fc_bias: Vec<f32>,
    /// How [`KimCnn::features`] computes the convolutions (not saved; `Auto` when loaded).
    pub(crate) conv_path: ConvPath,
    /// Memory cap of the inference projection cache in bytes ([`KimCnn::set_proj_cache_bytes`]).
    pub(crate) proj_cache_bytes: usize,
    /// The inference projection cache, built by the first inference call that uses it; reset
    /// whenever the parameters may change (`params_mut`, `embedding_mut`, ...).
    pub(crate) proj_cache: ProjCache,
}

/// The lazily built [`ProjTable`] of a model (shared by clones until their parameters change),
/// and the text positions read at inference before it was built.
#[derive(Default)]
pub(crate) struct ProjCache {
    table: OnceLock<Arc<ProjTable>>,
    seen: std::sync::atomic::AtomicUsize,
}

impl Clone for ProjCache {
    fn clone(&self) -> ProjCache {
        ProjCache {
            table: self.table.clone(),
            seen: self.seen.load(std::sync::atomic::Ordering::Relaxed).into(),
        }
    }
}

impl std::fmt::Debug for ProjCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.table.get() {
            Some(t) => write!(f, "ProjCache({} rows × {} floats)", t.rows, t.width),
            None => write!(f, "ProjCache(not built)"),
        }
    }
}

/// How the convolutions are computed ([`KimCnn::set_conv_path`]). All paths give the same
/// features up to float rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvPath {
    /// Per batch, [`ConvPath::Scatter`] or [`ConvPath::Gemm`], the cheaper by
    /// [`prefer_projection`]'s estimate for the tokens that need projecting (at inference, those
    /// beyond the projection cache).
    #[default]
    Auto,
    /// One GEMM per example and region over the window view.
    Gemm,
    /// Per-token projection of the batch's distinct tokens, one tap-major table per region,
    /// each window gathered from `h` rows ([`windows_from_projection`]); no cache.
    Projection,
    /// Per-token projection into token-major rows (all regions' taps of a token contiguous),
    /// streamed position by position into a ring of windows by [`scatter_max`]. At inference
    /// the model's projection cache ([`ProjTable`], up to [`KimCnn::set_proj_cache_bytes`])
    /// serves the most frequent words and the batch's other tokens are projected per batch;
    /// in training (the parameters change every step) all of the batch's distinct tokens are.
    Scatter,
}

/// Per-thread buffers of the per-example forward pass.
pub(crate) struct ExampleScratch {
    /// Embedded sequence, `[max(seq_len, max h), emb_dim]`.
    pub(crate) x: Vec<f32>,
    /// Convolution output of one region, `[n_windows, maps]`.
    pub(crate) conv: Vec<f32>,
}

/// Runs `f(scratch, b, pooled_b, argmax_b, windows_b)` for every example `b` of `[batch, nf]`
/// outputs, in parallel in the current rayon pool, with one `init()` scratch per job.
/// `windows`, when given, is `[batch, per_example]` (each example's slice is passed as
/// `windows_b`; otherwise `windows_b` is empty). Each example writes only its own rows, so the
/// result does not depend on the thread count.
fn per_example<S>(
    pooled: &mut [f32],
    argmax: &mut [u32],
    windows: Option<(&mut [f32], usize)>,
    nf: usize,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, usize, &mut [f32], &mut [u32], &mut [f32]) + Sync + Send,
) {
    let rows = pooled.par_chunks_mut(nf).zip(argmax.par_chunks_mut(nf));
    match windows {
        None => rows
            .enumerate()
            .for_each_init(init, |scratch, (b, (p, a))| f(scratch, b, p, a, &mut [])),
        Some((w, per)) => rows
            .zip(w.par_chunks_mut(per))
            .enumerate()
            .for_each_init(init, |scratch, (b, ((p, a), w))| f(scratch, b, p, a, w)),
    }
}

/// Finishes region `r`'s pooled features of one example from its convolution output `conv`
/// (`[n_windows, maps]`, no bias): the max block by [`bias_relu_max_pool_forward`], the mean
/// block (with [`Pooling::MaxMean`]) by [`bias_relu_mean_pool_forward`], and a copy of the
/// windows into `windows` (`[R, seq_len, maps]`, region `r` at `r·seq_len·maps`) when it is not
/// empty (training keeps them for the backward pass of mean pooling). `nw` valid windows; the
/// outputs are the example's `pooled`, `argmax` (`[num_features]`) and `windows`.
fn pool_region(
    config: &KimConfig,
    (r, conv, nw): (usize, &[f32], usize),
    bias: &[f32],
    (pooled, argmax, windows): (&mut [f32], &mut [u32], &mut [f32]),
) {
    let maps = config.feature_maps;
    let cols = r * maps..(r + 1) * maps;
    bias_relu_max_pool_forward(
        conv,
        maps,
        nw,
        bias,
        &mut pooled[cols.clone()],
        &mut argmax[cols],
    );
    if config.pooling.has_mean() {
        let at = config.max_features() + r * maps;
        bias_relu_mean_pool_forward(conv, maps, nw, bias, &mut pooled[at..at + maps]);
        argmax[at..at + maps].fill(0);
    }
    if !windows.is_empty() {
        let per_region = windows.len() / config.region_sizes.len();
        windows[r * per_region..r * per_region + nw * maps].copy_from_slice(&conv[..nw * maps]);
    }
}

/// Number of valid windows of region size `h` over `length` real tokens: `length - h + 1`, or 1
/// when the text is shorter than the region (that window covers the text and zero padding).
#[inline]
pub fn valid_windows(length: usize, h: usize) -> usize {
    if length >= h { length - h + 1 } else { 1 }
}

fn uniform(rng: &mut ChaCha8Rng, bound: f32, out: &mut [f32]) {
    for v in out {
        let u = (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
        *v = (2.0 * u - 1.0) * bound;
    }
}

impl KimCnn {
    /// Deterministic initialization from `seed` (ChaCha8):
    /// * embedding rows `1..` ~ U(−0.25, 0.25), Kim's initialization of words without a pretrained
    ///   vector (variance ≈ that of word2vec vectors); PyTorch's N(0, 1) default makes the
    ///   embedding dominate Adam's early steps. Row 0 (`<pad>`) is zero.
    /// * conv and fc weights and biases ~ U(−1/√fan_in, 1/√fan_in), PyTorch's `nn.Conv1d` /
    ///   `nn.Linear` default (kaiming-uniform with a = √5); fan_in = `h × emb_dim` or the feature count.
    ///
    /// Panics if the config is invalid ([`KimConfig::validate`]).
    pub fn new(config: KimConfig, seed: u64) -> KimCnn {
        if let Err(e) = config.validate() {
            panic!("invalid KimConfig: {e}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (v, e, maps) = (config.vocab_size, config.emb_dim, config.feature_maps);
        let mut embedding = vec![0.0; v * e];
        uniform(&mut rng, 0.25, &mut embedding[e..]);
        let convs = config
            .region_sizes
            .iter()
            .map(|&h| {
                let bound = 1.0 / ((h * e) as f32).sqrt();
                let mut weight = vec![0.0; maps * h * e];
                let mut bias = vec![0.0; maps];
                uniform(&mut rng, bound, &mut weight);
                uniform(&mut rng, bound, &mut bias);
                ConvParams { h, weight, bias }
            })
            .collect();
        let nf = config.num_features();
        let bound = 1.0 / (nf as f32).sqrt();
        let mut fc_weight = vec![0.0; config.num_classes * nf];
        let mut fc_bias = vec![0.0; config.num_classes];
        uniform(&mut rng, bound, &mut fc_weight);
        uniform(&mut rng, bound, &mut fc_bias);
        // Multichannel: both channels start from the same vectors (Kim 2014 §2.1).
        let embedding_static = if config.multichannel {
            embedding.clone()
        } else {
            Vec::new()
        };
        KimCnn::from_parts(
            config,
            [embedding, embedding_static],
            convs,
            fc_weight,
            fc_bias,
        )
    }

    /// The model of these parameters (`[embedding, embedding_static]`: the static channel is
    /// empty without multichannel), with the default convolution path and projection cache.
    fn from_parts(
        config: KimConfig,
        [embedding, embedding_static]: [Vec<f32>; 2],
        convs: Vec<ConvParams>,
        fc_weight: Vec<f32>,
        fc_bias: Vec<f32>,
    ) -> KimCnn {
        KimCnn {
            config,
            embedding,
            embedding_static,
            convs,
            fc_weight,
            fc_bias,
            conv_path: ConvPath::Auto,
            proj_cache_bytes: DEFAULT_PROJ_CACHE_BYTES,
            proj_cache: ProjCache::default(),
        }
    }

    /// Chooses how the convolutions are computed (for benchmarks and tests; the default,
    /// [`ConvPath::Auto`], picks per batch).
    pub fn set_conv_path(&mut self, path: ConvPath) {
        self.conv_path = path;
    }

    /// Sets the memory cap of the inference projection cache to `bytes` (default
    /// [`DEFAULT_PROJ_CACHE_BYTES`], 256 MiB; 0 turns the cache off) and drops the cache. The
    /// cache holds `Σh·maps` floats per word (4.8 KB with region sizes 3/4/5 × 100 maps) for the
    /// most frequent words (ids `1..`) that fit; it is built on the first inference call
    /// (about `2 · emb_dim · Σh·maps` flops per word). Tokens beyond it are projected per batch.
    pub fn set_proj_cache_bytes(&mut self, bytes: usize) {
        self.proj_cache_bytes = bytes;
        self.invalidate_proj_cache();
    }

    /// The memory cap of the inference projection cache in bytes.
    pub fn proj_cache_bytes(&self) -> usize {
        self.proj_cache_bytes
    }

    /// Words (vocabulary ids `0..n`) the inference projection cache covers under its cap.
    pub fn proj_cache_rows(&self) -> usize {
        ProjTable::rows_within(
            self.proj_cache_bytes,
            self.proj_width(),
            self.config.vocab_size,
        )
    }

    /// Builds the inference projection cache now (in the current rayon pool) rather than on
    /// the first inference call; returns the words it covers (0 when the cap holds none or the
    /// convolution path, [`KimCnn::set_conv_path`], uses no cache). A server calls this at load.
    pub fn warm_proj_cache(&self) -> usize {
        if !matches!(self.conv_path, ConvPath::Auto | ConvPath::Scatter) {
            return 0;
        }
        self.proj_cache().map_or(0, |t| t.rows)
    }

    /// Frees the projection cache's table but keeps the count of text positions read, so the
    /// next inference call builds the same table again at once: inference gives the same
    /// results as if it had been kept. For a caller about to allocate much else (the training's
    /// n-gram stage) that infers again later.
    pub fn release_proj_cache(&mut self) {
        self.proj_cache.table = OnceLock::new();
    }

    /// Drops the projection cache: called by everything that hands out the parameters mutably.
    pub(crate) fn invalidate_proj_cache(&mut self) {
        self.proj_cache = ProjCache::default();
    }

    /// `Σh·maps`: floats of one token's projection by every region and tap.
    fn proj_width(&self) -> usize {
        self.config.region_sizes.iter().sum::<usize>() * self.config.feature_maps
    }

    /// The rows of the projection cache to use for a batch of `positions` text positions: all
    /// of them once the cache is built, or once the model has read at inference at least as many
    /// positions as the cache holds rows (building it costs about as much as projecting that many
    /// tokens, so it pays from then on); 0 before, so that predicting one short text does not
    /// build a table of tens of thousands of words ([`KimCnn::warm_proj_cache`] builds it at
    /// once).
    fn cache_rows_after(&self, positions: usize) -> usize {
        let rows = self.proj_cache_rows();
        if rows == 0 || self.proj_cache.table.get().is_some() {
            return rows;
        }
        let seen = self
            .proj_cache
            .seen
            .fetch_add(positions, std::sync::atomic::Ordering::Relaxed)
            + positions;
        if seen >= rows { rows } else { 0 }
    }

    /// The projection cache, built if needed; `None` when its cap holds no word.
    fn proj_cache(&self) -> Option<&ProjTable> {
        let rows = self.proj_cache_rows();
        if rows == 0 {
            return None;
        }
        let table = self.proj_cache.table.get_or_init(|| {
            let e = self.config.emb_dim;
            let taps = stacked_taps(
                self.convs.iter().map(|c| (c.weight.as_slice(), c.h)),
                self.config.feature_maps,
                e,
            );
            let extra = self
                .config
                .multichannel
                .then_some(self.embedding_static.as_slice());
            Arc::new(ProjTable::build(&self.embedding, extra, e, rows, &taps))
        });
        Some(table)
    }

    /// The configuration this model was built from.
    pub fn config(&self) -> &KimConfig {
        &self.config
    }

    /// Panics with a clear message if `batch` does not fit this model.
    pub(crate) fn check_batch(&self, batch: &Batch) {
        batch.check(self.config.vocab_size);
        assert!(
            batch.seq_len >= self.config.max_region_size(),
            "Batch: seq_len {} is shorter than the largest region size {}",
            batch.seq_len,
            self.config.max_region_size()
        );
    }

    pub(crate) fn new_scratch(&self, seq_len: usize) -> ExampleScratch {
        let rows = seq_len.max(self.config.max_region_size());
        ExampleScratch {
            x: vec![0.0; rows * self.config.emb_dim],
            conv: vec![0.0; rows * self.config.feature_maps],
        }
    }

    /// Forward pass of one example up to the pooled features.
    ///
    /// * `ids`: `[seq_len]`, `length` real tokens
    /// * `pooled`, `argmax`: `[num_features]` (region `r` in columns `r*maps..(r+1)*maps`; the
    ///   mean block, if any, after the max block; `argmax` is meaningful for the max block only)
    /// * `windows`: empty, or `[R, seq_len, maps]` to receive every window's convolution (no
    ///   bias) for the backward pass of mean pooling
    /// * `parallelism`: threads for the convolution GEMMs of this example
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_example(
        &self,
        ids: &[u32],
        length: usize,
        s: &mut ExampleScratch,
        pooled: &mut [f32],
        argmax: &mut [u32],
        windows: &mut [f32],
        parallelism: gemm::Parallelism,
    ) {
        let (e, maps) = (self.config.emb_dim, self.config.feature_maps);
        let rows = length.max(self.config.max_region_size());
        let x = &mut s.x[..rows * e];
        embedding_forward(&self.embedding, e, ids, length, x);
        if self.config.multichannel {
            add_static_channel(&self.embedding_static, e, ids, length, x);
        }
        for (r, conv) in self.convs.iter().enumerate() {
            let nw = valid_windows(length, conv.h);
            conv_forward(
                x,
                e,
                conv.h,
                nw,
                &conv.weight,
                maps,
                &mut s.conv,
                parallelism,
            );
            let outputs = (&mut *pooled, &mut *argmax, &mut *windows);
            pool_region(&self.config, (r, &s.conv, nw), &conv.bias, outputs);
        }
    }

    /// [`KimCnn::features_path`] as in training (no projection cache).
    #[cfg(test)]
    pub(crate) fn features(&self, batch: &Batch, pooled: &mut [f32], argmax: &mut [u32]) {
        self.features_path(batch, pooled, argmax, None, false, &mut Vec::new())
    }

    /// [`KimCnn::features_path`] for inference: the parameters do not change between calls, so
    /// the model's projection cache can serve the frequent words.
    pub(crate) fn features_inference(&self, batch: &Batch, pooled: &mut [f32], argmax: &mut [u32]) {
        self.features_path(batch, pooled, argmax, None, true, &mut Vec::new())
    }

    /// Pooled features of a batch, `[batch, num_features]`, and their argmax windows (same shape).
    /// Parallel over examples in the current rayon pool (and inside each example's GEMMs when the
    /// batch has fewer examples than the pool has threads); each example is independent, so the
    /// result does not depend on the thread count.
    ///
    /// The paths ([`ConvPath`]) give the same features up to float rounding. With
    /// [`ConvPath::Auto`], the tokens of the batch that the projection cache does not hold (at
    /// `inference` only; in training, all of them) are counted, and the scatter path is taken
    /// when [`prefer_projection`] estimates projecting them cheaper than the GEMM over windows
    /// (real text repeats its tokens; with the cache nearly every batch qualifies). The choice
    /// depends on the batch and the settings only, so runs stay deterministic.
    ///
    /// `buf` holds the per-batch projection of the scatter path: a training loop passes the
    /// same buffer every step, so that tens of MB are not mapped and faulted in again each time.
    /// `windows`, when given, is `[batch, R, seq_len, maps]` and receives every window's
    /// convolution without bias (see [`KimCnn::forward_example`]).
    pub(crate) fn features_path(
        &self,
        batch: &Batch,
        pooled: &mut [f32],
        argmax: &mut [u32],
        windows: Option<&mut [f32]>,
        inference: bool,
        buf: &mut Vec<f32>,
    ) {
        if self.conv_path == ConvPath::Gemm {
            return self.features_gemm(batch, pooled, argmax, windows);
        }
        if self.conv_path == ConvPath::Projection {
            let distinct = DistinctTokens::new(
                batch.ids,
                batch.lengths,
                batch.seq_len,
                self.config.vocab_size,
            );
            return self.features_projected(batch, &distinct, pooled, argmax, windows);
        }
        // Auto or Scatter: the ids the cache does not hold are projected per batch.
        let positions: usize = batch.lengths.iter().sum();
        let cache_rows = if inference {
            self.cache_rows_after(positions)
        } else {
            0
        };
        let split = DistinctTokens::beyond(
            batch.ids,
            batch.lengths,
            batch.seq_len,
            self.config.vocab_size,
            cache_rows,
        );
        if self.conv_path == ConvPath::Scatter
            || prefer_projection(
                split.ids.len(),
                positions,
                self.config.emb_dim,
                self.proj_width(),
            )
        {
            let empty = ProjTable::default();
            let table = match cache_rows {
                0 => &empty,
                _ => self.proj_cache().expect("a cache of at least one row"),
            };
            self.features_scatter(batch, table, &split, pooled, argmax, windows, buf);
        } else {
            self.features_gemm(batch, pooled, argmax, windows);
        }
    }

    /// [`KimCnn::features`] by the per-token projection ([`crate::nn::token_proj`]).
    pub(crate) fn features_projected(
        &self,
        batch: &Batch,
        distinct: &DistinctTokens,
        pooled: &mut [f32],
        argmax: &mut [u32],
        windows: Option<&mut [f32]>,
    ) {
        let (e, maps) = (self.config.emb_dim, self.config.feature_maps);
        let nf = self.config.num_features();
        let s = batch.seq_len;
        let threads = rayon::current_num_threads();
        let extra = self
            .config
            .multichannel
            .then_some(self.embedding_static.as_slice());
        let rows = gather_rows(&self.embedding, extra, e, &distinct.ids);
        let d = distinct.ids.len();
        let projections: Vec<Vec<f32>> = self
            .convs
            .iter()
            .map(|conv| {
                let taps = tap_major(&conv.weight, maps, conv.h, e);
                let mut out = vec![0.0; d * conv.h * maps];
                project(
                    &rows,
                    d,
                    e,
                    &taps,
                    &mut out,
                    gemm::Parallelism::Rayon(threads),
                );
                out
            })
            .collect();
        let longest = batch.lengths.iter().copied().max().unwrap_or(0).max(1);
        let per = self.convs.len() * s * maps;
        per_example(
            pooled,
            argmax,
            windows.map(|w| (w, per)),
            nf,
            || vec![0.0f32; longest * maps],
            |conv_out, b, p, a, w| {
                let len = batch.lengths[b];
                let local = &distinct.local[b * s..b * s + len];
                for (r, conv) in self.convs.iter().enumerate() {
                    let nw = valid_windows(len, conv.h);
                    windows_from_projection(&projections[r], maps, conv.h, local, conv_out);
                    pool_region(&self.config, (r, conv_out, nw), &conv.bias, (p, a, w));
                }
            },
        );
    }

    /// [`KimCnn::features`] by [`scatter_max`] over the token-major rows of `table` (ids
    /// `0..table.rows`) and of a per-batch projection of `split.ids` (the ids beyond it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn features_scatter(
        &self,
        batch: &Batch,
        table: &ProjTable,
        split: &DistinctTokens,
        pooled: &mut [f32],
        argmax: &mut [u32],
        windows: Option<&mut [f32]>,
        buf: &mut Vec<f32>,
    ) {
        let (e, maps) = (self.config.emb_dim, self.config.feature_maps);
        let nf = self.config.num_features();
        let width = self.proj_width();
        let s = batch.seq_len;
        if !split.ids.is_empty() {
            let taps = stacked_taps(
                self.convs.iter().map(|c| (c.weight.as_slice(), c.h)),
                maps,
                e,
            );
            let static_channel = self
                .config
                .multichannel
                .then_some(self.embedding_static.as_slice());
            let rows = gather_rows(&self.embedding, static_channel, e, &split.ids);
            buf.resize(split.ids.len() * width, 0.0);
            project(
                &rows,
                split.ids.len(),
                e,
                &taps,
                buf,
                gemm::Parallelism::Rayon(rayon::current_num_threads()),
            );
        }
        let extra_rows = &buf[..split.ids.len() * width];
        let mf = self.config.max_features();
        let mean = self.config.pooling.has_mean();
        // The regions' biases side by side, `[R·maps]`, for the mean block.
        let biases: Vec<f32> = if mean {
            self.convs
                .iter()
                .flat_map(|c| c.bias.iter().copied())
                .collect()
        } else {
            Vec::new()
        };
        let per = self.convs.len() * s * maps;
        per_example(
            pooled,
            argmax,
            windows.map(|w| (w, per)),
            nf,
            || vec![0.0f32; width],
            |ring, b, p, a, w| {
                let len = batch.lengths[b];
                a[mf..].fill(0);
                let (max_block, mean_block) = p.split_at_mut(mf);
                let mean_sums = mean.then(|| (biases.as_slice(), &mut mean_block[..mf]));
                let store = (!w.is_empty()).then(|| (&mut *w, s * maps));
                scatter_max(
                    &table.data,
                    table.rows,
                    extra_rows,
                    &self.config.region_sizes,
                    maps,
                    &split.local[b * s..b * s + len],
                    ring,
                    max_block,
                    &mut a[..mf],
                    mean_sums,
                    store,
                );
                for (r, conv) in self.convs.iter().enumerate() {
                    for (v, &bias) in p[r * maps..(r + 1) * maps].iter_mut().zip(&conv.bias) {
                        *v = (*v + bias).max(0.0);
                    }
                    if mean {
                        let inv = 1.0 / valid_windows(len, conv.h) as f32;
                        for v in &mut p[mf + r * maps..mf + (r + 1) * maps] {
                            *v *= inv;
                        }
                    }
                }
            },
        );
    }

    /// [`KimCnn::features`] by one GEMM per example and region over the window view.
    pub(crate) fn features_gemm(
        &self,
        batch: &Batch,
        pooled: &mut [f32],
        argmax: &mut [u32],
        windows: Option<&mut [f32]>,
    ) {
        let nf = self.config.num_features();
        let per = self.convs.len() * batch.seq_len * self.config.feature_maps;
        let s = batch.seq_len;
        let threads = rayon::current_num_threads();
        let parallelism = if batch.batch < threads {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        per_example(
            pooled,
            argmax,
            windows.map(|w| (w, per)),
            nf,
            || self.new_scratch(s),
            |scratch, b, p, a, w| {
                self.forward_example(
                    &batch.ids[b * s..(b + 1) * s],
                    batch.lengths[b],
                    scratch,
                    p,
                    a,
                    w,
                    parallelism,
                )
            },
        );
    }

    /// Logits `[batch, num_classes]`, row-major; no dropout. Runs in the current rayon pool.
    pub fn logits(&self, batch: &Batch) -> Vec<f32> {
        self.check_batch(batch);
        let nf = self.config.num_features();
        let mut pooled = vec![0.0; batch.batch * nf];
        let mut argmax = vec![0u32; batch.batch * nf];
        self.features_inference(batch, &mut pooled, &mut argmax);
        let mut logits = vec![0.0; batch.batch * self.config.num_classes];
        dense_forward(
            &pooled,
            &self.fc_weight,
            &self.fc_bias,
            nf,
            self.config.num_classes,
            &mut logits,
        );
        logits
    }

    /// Rebuild from named tensors `name → (shape, data)`. Every expected name must be present with
    /// the expected shape, no other name may be present, and embedding row 0 must be zero; the
    /// error names the tensor and gives expected vs found.
    pub fn from_named_params(
        config: KimConfig,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> anyhow::Result<KimCnn> {
        config.validate()?;
        let data = super::params::checked_tensors(&config.param_shapes(), tensors, config.emb_dim)?;
        let mut it = data.into_iter();
        let embedding = it.next().unwrap();
        let convs = config
            .region_sizes
            .iter()
            .map(|&h| ConvParams {
                h,
                weight: it.next().unwrap(),
                bias: it.next().unwrap(),
            })
            .collect();
        let fc_weight = it.next().unwrap();
        let fc_bias = it.next().unwrap();
        let embedding_static = it.next().unwrap_or_default();
        ensure!(
            embedding_static[..embedding_static.len().min(config.emb_dim)]
                .iter()
                .all(|&v| v == 0.0),
            "tensor {STATIC_EMBEDDING:?}: row 0 (<pad>) must be zero"
        );
        Ok(KimCnn::from_parts(
            config,
            [embedding, embedding_static],
            convs,
            fc_weight,
            fc_bias,
        ))
    }

    /// Embedding table `[vocab_size, emb_dim]`, for pretrained-vector initialization. Keep row 0
    /// (`<pad>`) zero.
    pub fn embedding_mut(&mut self) -> &mut [f32] {
        self.invalidate_proj_cache();
        &mut self.embedding
    }

    /// The frozen channel of a multichannel model, `[vocab_size, emb_dim]` (`None` otherwise).
    /// Keep row 0 (`<pad>`) zero.
    pub fn embedding_static_mut(&mut self) -> Option<&mut [f32]> {
        self.invalidate_proj_cache();
        self.config
            .multichannel
            .then_some(self.embedding_static.as_mut_slice())
    }
}

/// Multichannel input: adds the static channel's rows to the embedded sequence `x`
/// (`[rows, emb_dim]`, rows `< length` hold the trained channel's rows; padding rows stay zero).
///
/// Kim's multichannel model convolves each channel with the same filter and sums the results
/// before bias + ReLU: `W·x₁ + W·x₂`. The convolution is linear, so this equals `W·(x₁ + x₂)`:
/// one convolution of the summed channels gives the same feature maps at half the cost, and the
/// gradient w.r.t. each channel's rows is the gradient w.r.t. the sum.
fn add_static_channel(weight: &[f32], emb_dim: usize, ids: &[u32], length: usize, x: &mut [f32]) {
    for (row, &id) in x.chunks_exact_mut(emb_dim).zip(&ids[..length]) {
        let id = id as usize;
        for (v, &s) in row
            .iter_mut()
            .zip(&weight[id * emb_dim..(id + 1) * emb_dim])
        {
            *v += s;
        }
    }
}

#[cfg(test)]
mod tests;
