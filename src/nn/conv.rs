//! Convolution over time whose kernel spans the full embedding width (Kim 2014, eq. 2).
//!
//! A filter of region size `h` sees `h` consecutive embedding rows, i.e. `h * emb_dim` contiguous
//! floats of the row-major embedded sequence `[seq_len, emb_dim]`. The window matrix of one example
//! (`[n_windows, h * emb_dim]`, row `t` starting at `x[t * emb_dim]`) is therefore a strided *view*
//! of the input with row stride `emb_dim` — overlapping rows, no im2col copy — and the forward pass
//! is one GEMM: `out[t, f] = Σ_k window[t, k] · weight[f, k]`.
//!
//! Weight layout: `[maps, h, emb_dim]` (tap-major, as PyTorch `Conv2d(1, maps, (h, emb_dim))`
//! without its channel axis). PyTorch `Conv1d(emb_dim, maps, h)` stores `[maps, emb_dim, h]`:
//! transpose the last two axes to convert.
//!
//! The backward passes take the gradient of the *pooled* output: after max-over-time pooling only
//! the argmax window of each (example, map) receives gradient, so the backward costs
//! O(batch × maps × h × emb_dim) instead of O(batch × seq_len × maps × h × emb_dim).

use rayon::prelude::*;

/// Forward pass for one example: `out = windows(x) · weightᵀ` (no bias; see `pool` for
/// bias + ReLU + max, fused).
///
/// * `x`: `[rows, emb_dim]`, the embedded sequence, `rows >= n_windows + h - 1`
/// * `weight`: `[maps, h, emb_dim]`
/// * `out`: `[n_windows, maps]` (overwritten)
///
/// `parallelism`: `gemm::Parallelism::None` when examples already run on different threads,
/// `Rayon(n)` to split one example's GEMM over `n` threads (small batches). gemm splits the
/// output into tiles, never the inner dimension, so both give bit-identical results.
#[allow(clippy::too_many_arguments)]
pub fn conv_forward(
    x: &[f32],
    emb_dim: usize,
    h: usize,
    n_windows: usize,
    weight: &[f32],
    maps: usize,
    out: &mut [f32],
    parallelism: gemm::Parallelism,
) {
    let k = h * emb_dim;
    assert!(n_windows >= 1, "conv_forward: no window");
    assert!(
        x.len() >= (n_windows + h - 1) * emb_dim,
        "conv_forward: input shorter than the windows"
    );
    assert_eq!(weight.len(), maps * k, "conv_forward: weight shape");
    assert!(
        out.len() >= n_windows * maps,
        "conv_forward: output buffer too small"
    );
    // Window t is x[t * emb_dim..][..k]; out [n_windows, maps] = windows · weightᵀ.
    crate::nn::conv2d::gemm_abt(
        (n_windows, maps, k),
        (x, emb_dim),
        (weight, k),
        out,
        false,
        parallelism,
    );
}

/// Backward pass w.r.t. the weight, from the pooled gradient: for every example `b` and map `f`,
/// `dweight[f] += dout[b, f] · window(b, argmax[b, f])`. Parallel over maps; each map sums the
/// examples in order, so the result is independent of the thread count.
///
/// * `dweight`: `[maps, h, emb_dim]` (accumulated into)
/// * `argmax`, `dout`: element `(b, f)` at `[b * stride + f]` for `b < batch`, `f < maps` (the
///   region's columns of a `[batch, stride]` matrix)
/// * `row(b, p)`: embedding row `p` of example `b` (`[emb_dim]`; zeros for padding positions)
///
/// The bias gradient is `Σ_b dout[b, f]` (see [`crate::nn::pool::bias_backward`]).
#[allow(clippy::too_many_arguments)]
pub fn conv_backward_weight<'a, R>(
    dweight: &mut [f32],
    emb_dim: usize,
    h: usize,
    batch: usize,
    argmax: &[u32],
    dout: &[f32],
    stride: usize,
    row: R,
) where
    R: Fn(usize, usize) -> &'a [f32] + Sync,
{
    let k = h * emb_dim;
    dweight.par_chunks_mut(k).enumerate().for_each(|(f, dw)| {
        for b in 0..batch {
            let g = dout[b * stride + f];
            if g == 0.0 {
                continue;
            }
            let t = argmax[b * stride + f] as usize;
            for (i, dw_tap) in dw.chunks_exact_mut(emb_dim).enumerate() {
                for (d, &x) in dw_tap.iter_mut().zip(row(b, t + i)) {
                    *d += g * x;
                }
            }
        }
    });
}

/// Backward pass w.r.t. the input for one example: `dx[argmax[f] + i] += dout[f] · weight[f, i]`
/// for every map `f` and tap `i`; taps that fall on rows `>= dx rows` (padding) are dropped.
///
/// * `dx`: `[rows, emb_dim]` (accumulated into)
/// * `weight`: `[maps, h, emb_dim]`
/// * `argmax`, `dout`: `[maps]`
pub fn conv_backward_input(
    dx: &mut [f32],
    emb_dim: usize,
    h: usize,
    weight: &[f32],
    argmax: &[u32],
    dout: &[f32],
) {
    let rows = dx.len() / emb_dim;
    let k = h * emb_dim;
    for (f, (&t, &g)) in argmax.iter().zip(dout).enumerate() {
        if g == 0.0 {
            continue;
        }
        let t = t as usize;
        let w = &weight[f * k..(f + 1) * k];
        for i in 0..h.min(rows.saturating_sub(t)) {
            let d = &mut dx[(t + i) * emb_dim..(t + i + 1) * emb_dim];
            for (d, &w) in d.iter_mut().zip(&w[i * emb_dim..(i + 1) * emb_dim]) {
                *d += g * w;
            }
        }
    }
}
