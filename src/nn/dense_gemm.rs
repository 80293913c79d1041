//! Dense layer for a whole batch with GEMM (`gemm` crate): `y = x · weightᵀ + bias`, PyTorch
//! `nn.Linear` layout, same contract as [`crate::nn::dense`] but fast for wide inputs (the
//! flattened feature maps of the conv2d architecture: hundreds of thousands of features).
//!
//! Parallelism: the input-feature axis is cut into fixed chunks of [`CHUNK`] columns, each one a
//! rayon task running a single-threaded GEMM. The chunking does not depend on the thread count and
//! the forward pass sums the per-chunk partial products in chunk order, so results are identical
//! for any number of threads.

use rayon::prelude::*;

use super::DisjointPtr;
use super::conv2d::{gemm_abt, gemm_strided};

/// Input features per parallel task.
pub const CHUNK: usize = 8192;

/// Forward pass.
///
/// * `x`: `[batch, in_features]`; `weight`: `[out_features, in_features]`; `bias`: `[out_features]`
/// * `y`: `[batch, out_features]` (overwritten)
pub fn dense_gemm_forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    batch: usize,
    in_features: usize,
    out_features: usize,
    y: &mut [f32],
) {
    let (n_in, n_out) = (in_features, out_features);
    assert!(x.len() >= batch * n_in && weight.len() == n_out * n_in && bias.len() == n_out);
    assert!(y.len() >= batch * n_out);
    let chunks = n_in.div_ceil(CHUNK).max(1);
    let mut partial = vec![0.0f32; chunks * batch * n_out];
    partial
        .par_chunks_mut((batch * n_out).max(1))
        .enumerate()
        .for_each(|(c, part)| {
            let lo = c * CHUNK;
            let len = CHUNK.min(n_in - lo.min(n_in));
            // part [batch, n_out] = x[:, lo..lo+len] · weight[:, lo..lo+len]ᵀ.
            let (xs, ws) = ((&x[lo..], n_in), (&weight[lo..], n_in));
            gemm_abt(
                (batch, n_out, len),
                xs,
                ws,
                part,
                false,
                gemm::Parallelism::None,
            );
        });
    for (b, yr) in y[..batch * n_out].chunks_exact_mut(n_out).enumerate() {
        yr.copy_from_slice(bias);
        for c in 0..chunks {
            let p = &partial[(c * batch + b) * n_out..][..n_out];
            for (v, &q) in yr.iter_mut().zip(p) {
                *v += q;
            }
        }
    }
}

/// Backward pass: `dweight = dyᵀ · x`, `dbias = Σ_b dy[b]` (both overwritten), and
/// `dx = dy · weight` (overwritten) when `dx` is given.
///
/// * `dy`: `[batch, out_features]`; `x`: `[batch, in_features]`; `weight`: `[out_features, in_features]`
/// * `dweight`: `[out_features, in_features]`; `dbias`: `[out_features]`; `dx`: `[batch, in_features]`
#[allow(clippy::too_many_arguments)]
pub fn dense_gemm_backward(
    dy: &[f32],
    x: &[f32],
    weight: &[f32],
    batch: usize,
    in_features: usize,
    out_features: usize,
    dweight: &mut [f32],
    dbias: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (n_in, n_out) = (in_features, out_features);
    assert!(dy.len() >= batch * n_out && x.len() >= batch * n_in);
    assert!(weight.len() == n_out * n_in && dweight.len() == n_out * n_in && dbias.len() == n_out);
    dbias.fill(0.0);
    for r in dy[..batch * n_out].chunks_exact(n_out) {
        for (d, &g) in dbias.iter_mut().zip(r) {
            *d += g;
        }
    }
    let chunks = n_in.div_ceil(CHUNK);
    let dw = DisjointPtr(dweight.as_mut_ptr());
    let dxp = dx.map(|d| {
        assert!(d.len() >= batch * n_in);
        DisjointPtr(d.as_mut_ptr())
    });
    (0..chunks).into_par_iter().for_each(|c| {
        let lo = c * CHUNK;
        let len = CHUNK.min(n_in - lo);
        // SAFETY: each task writes only columns lo..lo+len of dweight [n_out, n_in] and of dx
        // [batch, n_in] (disjoint across tasks); reads dy [batch, n_out], x, weight in bounds.
        unsafe {
            gemm_strided(
                n_out,
                len,
                batch,
                dw.get().add(lo),
                (1, n_in as isize),
                false,
                dy.as_ptr(),
                (n_out as isize, 1),
                x.as_ptr().add(lo),
                (1, n_in as isize),
                gemm::Parallelism::None,
            );
            if let Some(dxp) = dxp {
                gemm_strided(
                    batch,
                    len,
                    n_out,
                    dxp.get().add(lo),
                    (1, n_in as isize),
                    false,
                    dy.as_ptr(),
                    (1, n_out as isize),
                    weight.as_ptr().add(lo),
                    (1, n_in as isize),
                    gemm::Parallelism::None,
                );
            }
        }
    });
}
