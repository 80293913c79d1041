//! Convolution over time by per-token projection.
//!
//! The convolution is linear in the embeddings: for region size `h`, the pre-activation of map
//! `f` at window `t` is `Σ_{k<h} W[f, k] · e(token_{t+k})`. Projecting each *distinct* token of a
//! batch once, `P[v, k, f] = W[f, k] · e(v)` (one GEMM `[distinct, emb_dim] × [emb_dim, h·maps]`),
//! turns every window into a sum of `h` rows of `maps` floats. A batch of real text has far
//! fewer distinct tokens than positions (IMDB, 256 reviews × 400 tokens: about 7,000 distinct
//! among 58,000 positions), so the dense work shrinks several-fold and the rest is
//! memory-bound additions that vectorize well. [`prefer_projection`] chooses between this path
//! and the GEMM over the window view ([`crate::nn::conv::conv_forward`]) per batch.
//!
//! Both paths compute the same sums in a different order: results agree to float rounding
//! (tested to 1e-5 relative), and each path is deterministic for any thread count.

use rayon::prelude::*;

/// Cost of adding one projected row per tap and position, in multiply-adds per embedding
/// coordinate of the GEMM path (which costs `2 · emb_dim` per position and tap). Measured with
/// `textcnn bench --workload imdb|kim` on AVX-512: the additions gather rows of a projection
/// table that outgrows the caches when the batch has many distinct tokens, so they cost far more
/// than their arithmetic. With 100 and `emb_dim` 128 the projection is chosen below 0.61
/// distinct tokens per position: IMDB batches (0.12–0.3) take it and run 1.5–2.5× faster;
/// random ids (0.66, workload `kim`) keep the GEMM, where the projection measured 1.5× slower.
pub const ADD_COST: usize = 100;

/// The distinct real tokens of a batch, in order of first occurrence, and for every position
/// the row of its token in that list (the collection [`crate::nn::embedding::SparseRows`] also
/// uses, [`crate::nn::embedding::distinct_ids`]).
#[derive(Clone, Debug, Default)]
pub struct DistinctTokens {
    /// Vocabulary ids other than 0 (`<pad>`, whose embedding row is zero), `[distinct]`.
    pub ids: Vec<u32>,
    /// `[batch, seq_len]`: index into `ids` for real positions, `u32::MAX` for padding and id 0.
    pub local: Vec<u32>,
}

impl DistinctTokens {
    /// Collects the distinct ids of `ids` `[batch, seq_len]` over each row's first `lengths[b]`
    /// positions. Ids must be below `vocab_size`.
    pub fn new(ids: &[u32], lengths: &[usize], seq_len: usize, vocab_size: usize) -> Self {
        let mut out = DistinctTokens {
            ids: Vec::new(),
            local: vec![u32::MAX; ids.len()],
        };
        let mut slot = Vec::new();
        let local = &mut out.local;
        crate::nn::embedding::distinct_ids(
            &mut slot,
            &mut out.ids,
            vocab_size,
            ids,
            lengths,
            seq_len,
            |p, i| local[p] = i,
        );
        out
    }
}

/// Whether the projection path is cheaper for `distinct` tokens over `positions` real
/// positions with embeddings of `emb_dim`: projecting costs `2 · emb_dim` per distinct token
/// and tap, adding [`ADD_COST`] per position and tap, against `2 · emb_dim` per position and
/// tap for the GEMM over windows.
///
/// The projection table (`distinct × floats_per_token` floats, `floats_per_token` = the sum of
/// the region sizes × maps) must also fit in [`MAX_TABLE_BYTES`]: past that its rows come from
/// memory rather than cache and the additions stall (batches of 256 random-id texts, 29,000
/// distinct tokens, ran 1.4× slower by projection at 2 threads), and it bounds the memory.
pub fn prefer_projection(
    distinct: usize,
    positions: usize,
    emb_dim: usize,
    floats_per_token: usize,
) -> bool {
    distinct.saturating_mul(floats_per_token).saturating_mul(4) <= MAX_TABLE_BYTES
        && 2 * emb_dim * distinct + ADD_COST * positions < 2 * emb_dim * positions
}

/// Largest projection table of one batch (64 MiB): IMDB batches of 256 reviews need about
/// 36 MB with region sizes 3/4/5 × 100 maps.
pub const MAX_TABLE_BYTES: usize = 64 << 20;

/// Reorders a region's weight from `[maps, h, emb_dim]` to tap-major `[h, maps, emb_dim]`, so
/// that the projection of one token for tap `k` is the contiguous row `[k·maps..(k+1)·maps]`.
pub fn tap_major(weight: &[f32], maps: usize, h: usize, emb_dim: usize) -> Vec<f32> {
    let mut out = vec![0.0; weight.len()];
    for f in 0..maps {
        for k in 0..h {
            let src = &weight[(f * h + k) * emb_dim..(f * h + k + 1) * emb_dim];
            out[(k * maps + f) * emb_dim..(k * maps + f + 1) * emb_dim].copy_from_slice(src);
        }
    }
    out
}

/// `out [rows, h·maps] = emb [rows, emb_dim] · tapsᵀ` where `taps` is `[h·maps, emb_dim]`
/// (see [`tap_major`]). gemm splits the output, never the inner dimension, so any
/// `parallelism` gives the same bits.
pub fn project(
    emb: &[f32],
    rows: usize,
    emb_dim: usize,
    taps: &[f32],
    out: &mut [f32],
    parallelism: gemm::Parallelism,
) {
    let n = taps.len() / emb_dim;
    assert!(emb.len() >= rows * emb_dim && out.len() >= rows * n);
    if rows == 0 {
        return;
    }
    // SAFETY: lhs (i, j) = emb[i * emb_dim + j], i < rows, j < emb_dim (asserted length);
    // rhs (j, c) = taps[c * emb_dim + j], c < n = taps.len() / emb_dim; dst (i, c) = out[i * n + c]
    // within the asserted length.
    unsafe {
        crate::nn::conv2d::gemm_strided_par(
            rows,
            n,
            emb_dim,
            out.as_mut_ptr(),
            (1, n as isize),
            false,
            emb.as_ptr(),
            (1, emb_dim as isize),
            taps.as_ptr(),
            (emb_dim as isize, 1),
            parallelism,
        );
    }
}

/// The convolution output of one example and region from the projected tokens:
/// `out[t, f] = Σ_{k<h, t+k<length} proj[local[t+k], k·maps + f]` for `t < valid windows`
/// (one window when the text is shorter than `h`; padding positions add nothing).
///
/// * `proj`: `[distinct, h·maps]` from [`project`]
/// * `local`: the example's `[length]` rows into `proj`
/// * `out`: `[n_windows, maps]` (overwritten)
pub fn windows_from_projection(
    proj: &[f32],
    maps: usize,
    h: usize,
    local: &[u32],
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { windows_avx512(proj, maps, h, local, out) };
        } else if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { windows_avx2(proj, maps, h, local, out) };
        }
    }
    windows(proj, maps, h, local, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn windows_avx512(proj: &[f32], maps: usize, h: usize, local: &[u32], out: &mut [f32]) {
    windows(proj, maps, h, local, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn windows_avx2(proj: &[f32], maps: usize, h: usize, local: &[u32], out: &mut [f32]) {
    windows(proj, maps, h, local, out)
}

#[inline(always)]
fn windows(proj: &[f32], maps: usize, h: usize, local: &[u32], out: &mut [f32]) {
    let length = local.len();
    let hm = h * maps;
    let nw = if length >= h { length - h + 1 } else { 1 };
    for t in 0..nw {
        let row = &mut out[t * maps..(t + 1) * maps];
        row.fill(0.0);
        for k in 0..h.min(length - t.min(length)) {
            // Id 0 (`<pad>`) has a zero embedding row: it adds nothing.
            if local[t + k] == u32::MAX {
                continue;
            }
            let d = local[t + k] as usize;
            let src = &proj[d * hm + k * maps..d * hm + (k + 1) * maps];
            for (o, s) in row.iter_mut().zip(src) {
                *o += s;
            }
        }
    }
}

/// Gathers the embedding rows of `ids` (plus the rows of `extra`, a second table of the same
/// shape, when given: the static channel of a multichannel model) into `[ids, emb_dim]`.
pub fn gather_rows(table: &[f32], extra: Option<&[f32]>, emb_dim: usize, ids: &[u32]) -> Vec<f32> {
    let mut out = vec![0.0; ids.len() * emb_dim];
    out.par_chunks_mut(emb_dim)
        .zip(ids.par_iter())
        .for_each(|(row, &id)| {
            let id = id as usize;
            row.copy_from_slice(&table[id * emb_dim..(id + 1) * emb_dim]);
            if let Some(x) = extra {
                for (v, s) in row.iter_mut().zip(&x[id * emb_dim..(id + 1) * emb_dim]) {
                    *v += s;
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_tokens_keep_first_occurrence_and_skip_padding() {
        // Row 0: 5 7 5 | pad 9; row 1: 7 2 | pads 5 5.
        let ids = [5, 7, 5, 9, 7, 2, 5, 5];
        let d = DistinctTokens::new(&ids, &[3, 2], 4, 10);
        assert_eq!(d.ids, vec![5, 7, 2]);
        assert_eq!(d.local, vec![0, 1, 0, u32::MAX, 1, 2, u32::MAX, u32::MAX]);
        // Id 0 inside a row's length is the zero <pad> row: no entry of its own.
        let d = DistinctTokens::new(&[3, 0, 3], &[3], 3, 4);
        assert_eq!((d.ids, d.local), (vec![3], vec![0, u32::MAX, 0]));
    }

    #[test]
    fn windows_equal_the_direct_convolution() {
        // 3 distinct tokens, emb 2, maps 3, h 2; text "0 1 2 1" and a text shorter than h.
        let (emb_dim, maps, h) = (2, 3, 2);
        let emb = [1.0, 2.0, -1.0, 0.5, 0.25, -2.0];
        let weight: Vec<f32> = (0..maps * h * emb_dim)
            .map(|i| i as f32 * 0.1 - 0.5)
            .collect();
        let taps = tap_major(&weight, maps, h, emb_dim);
        let mut proj = vec![0.0; 3 * h * maps];
        project(&emb, 3, emb_dim, &taps, &mut proj, gemm::Parallelism::None);
        let direct = |text: &[usize], t: usize, f: usize| -> f32 {
            let mut s = 0.0;
            for k in 0..h {
                if t + k < text.len() {
                    for j in 0..emb_dim {
                        s += weight[(f * h + k) * emb_dim + j] * emb[text[t + k] * emb_dim + j];
                    }
                }
            }
            s
        };
        for text in [vec![0usize, 1, 2, 1], vec![2], vec![]] {
            let local: Vec<u32> = text.iter().map(|&i| i as u32).collect();
            let nw = if text.len() >= h {
                text.len() - h + 1
            } else {
                1
            };
            let mut out = vec![f32::NAN; nw * maps];
            windows_from_projection(&proj, maps, h, &local, &mut out);
            for t in 0..nw {
                for f in 0..maps {
                    let want = direct(&text, t, f);
                    assert!(
                        (out[t * maps + f] - want).abs() < 1e-5,
                        "{text:?} t{t} f{f}"
                    );
                }
            }
        }
    }

    #[test]
    fn cost_model_prefers_projection_for_repeated_tokens_only() {
        // IMDB-like batch: 7,000 distinct among 58,000 positions.
        let per_token = 12 * 100;
        assert!(prefer_projection(7_000, 58_000, 128, per_token));
        // Every position a new token, or random ids (17,000 distinct in 25,600): the GEMM.
        assert!(!prefer_projection(1_000, 1_000, 128, per_token));
        assert!(!prefer_projection(17_000, 25_600, 128, per_token));
        assert!(!prefer_projection(0, 0, 128, per_token));
        // A table over 64 MiB (29,000 distinct, 139 MB) takes the GEMM whatever the ratio.
        assert!(!prefer_projection(29_000, 102_400, 128, per_token));
    }
}
