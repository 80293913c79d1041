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
//! Two formulations of the additions: GATHER ([`windows_from_projection`]: for each window, add
//! `h` rows of `maps` floats from `h` places of a tap-major table `[distinct, h·maps]` per region)
//! and SCATTER ([`scatter_max`]: token-major rows holding every region's taps, `Σh·maps` floats,
//! streamed position by position into a small ring of live windows and max-pooled as each
//! window completes). Scatter reads each position's row once, contiguously, and is the one the
//! model uses by default; it also serves a per-model cache of the most frequent words
//! ([`ProjTable`]) at inference, which removes the projection GEMM from the per-batch work.
//!
//! Both paths compute the same sums in a different order: results agree to float rounding
//! (tested to 1e-5 relative), and each path is deterministic for any thread count.

use rayon::prelude::*;

use super::simd::simd_fn;

/// Cost of adding one projected row per tap and position, in multiply-adds per embedding
/// coordinate of the GEMM path (which costs `2 · emb_dim` per position and tap). Measured with
/// `textcnn bench --workload imdb|kim` on AVX-512: the additions read rows of a projection
/// table that outgrows the caches when the batch has many distinct tokens, so they cost far more
/// than their arithmetic. With 100 and `emb_dim` 128 the projection is chosen below 0.61
/// distinct tokens per position: IMDB batches (0.12–0.3) take it and run 1.5–2.5× faster
/// (gather; scatter is 1.2× faster again); random ids (0.66, workload `kim`) keep the GEMM:
/// per-batch scatter measured the same time as the GEMM there (training, batch 64), gather
/// 1.5× slower.
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
    // out [rows, n] = emb [rows, emb_dim] · tapsᵀ (taps: [n, emb_dim]).
    let dims = (rows, n, emb_dim);
    crate::nn::conv2d::gemm_abt(
        dims,
        (emb, emb_dim),
        (taps, emb_dim),
        out,
        false,
        parallelism,
    );
}

simd_fn! {
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
}

/// Default memory cap of a model's projection cache ([`ProjTable`]), 256 MiB: enough for the
/// benchmark workload's 30,000 words × (3+4+5)·100 floats (144 MB), and for 55,924 words of
/// that shape (the most frequent ones) of a larger vocabulary.
pub const DEFAULT_PROJ_CACHE_BYTES: usize = 256 << 20;

/// Stacks the regions' weights, each `[maps, h, emb_dim]`, tap-major ([`tap_major`]) one after
/// the other: `[Σh·maps, emb_dim]`. A token's projection by this matrix ([`project`]) is then its
/// token-major row for every region and tap: region `r`'s tap `k` at
/// `offset(r) + k·maps`, `offset(r) = Σ_{r' < r} h_{r'}·maps`.
pub fn stacked_taps<'a>(
    regions: impl IntoIterator<Item = (&'a [f32], usize)>,
    maps: usize,
    emb_dim: usize,
) -> Vec<f32> {
    let mut out = Vec::new();
    for (weight, h) in regions {
        out.extend_from_slice(&tap_major(weight, maps, h, emb_dim));
    }
    out
}

/// Projection of vocabulary ids `0..rows` by every region and tap, token-major
/// (`[rows, width]`, `width = Σh·maps` floats, see [`stacked_taps`]): the per-model cache of the
/// inference path. Vocabulary ids are ordered by frequency, so the first rows cover most
/// positions of real text. Row 0 (`<pad>`, zero embedding) is zero.
#[derive(Clone, Debug, Default)]
pub struct ProjTable {
    /// Ids covered: `0..rows`.
    pub rows: usize,
    /// Floats per row, `Σh·maps`.
    pub width: usize,
    /// `[rows, width]`, row-major.
    pub data: Vec<f32>,
}

impl ProjTable {
    /// Rows of `width` floats that fit in `cap_bytes`, at most `vocab_size`.
    pub fn rows_within(cap_bytes: usize, width: usize, vocab_size: usize) -> usize {
        (cap_bytes / (4 * width.max(1))).min(vocab_size)
    }

    /// Projects ids `0..rows` of `emb` `[vocab, emb_dim]` (plus `extra`, the static channel of a
    /// multichannel model, when given) by `taps` `[width, emb_dim]` ([`stacked_taps`]), in
    /// chunks of 4,096 ids (one GEMM each, split over the current rayon pool's threads: the
    /// same bits for any thread count).
    pub fn build(
        emb: &[f32],
        extra: Option<&[f32]>,
        emb_dim: usize,
        rows: usize,
        taps: &[f32],
    ) -> ProjTable {
        let width = taps.len() / emb_dim;
        let mut data = zeroed_huge(rows * width);
        let threads = rayon::current_num_threads();
        const CHUNK: usize = 4096;
        for (c, out) in data.chunks_mut(CHUNK * width).enumerate() {
            let n = out.len() / width;
            let ids: Vec<u32> = (c * CHUNK..c * CHUNK + n).map(|i| i as u32).collect();
            let x = gather_rows(emb, extra, emb_dim, &ids);
            project(&x, n, emb_dim, taps, out, gemm::Parallelism::Rayon(threads));
        }
        ProjTable { rows, width, data }
    }
}

/// `n` zero floats; on Linux the allocation's whole 2 MiB pages are marked for transparent
/// huge pages before they are touched: [`scatter_max`] reads rows of a large table at random
/// places, and with 4 KiB pages nearly every row costs a TLB miss (measured 10 % slower).
fn zeroed_huge(n: usize) -> Vec<f32> {
    let v = vec![0.0f32; n];
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let (a, e) = (
            (start + HUGE - 1) & !(HUGE - 1),
            (start + 4 * n) & !(HUGE - 1),
        );
        if e > a {
            // SAFETY: [a, e) lies inside the vector's allocation; MADV_HUGEPAGE only changes how
            // the kernel backs those pages (the zeroed contents stay), and it may refuse.
            unsafe { libc::madvise(a as *mut libc::c_void, e - a, libc::MADV_HUGEPAGE) };
        }
    }
    v
}

impl DistinctTokens {
    /// Like [`DistinctTokens::new`], for a batch whose ids below `cached` have rows in a
    /// [`ProjTable`] of `cached` rows: `local[p]` is the id itself for those, and `cached + i`
    /// for the `i`-th distinct id `>= cached` (listed in `ids`, in order of first occurrence);
    /// `u32::MAX` for padding and id 0.
    pub fn beyond(
        ids: &[u32],
        lengths: &[usize],
        seq_len: usize,
        vocab_size: usize,
        cached: usize,
    ) -> Self {
        let mut out = DistinctTokens {
            ids: Vec::new(),
            local: vec![u32::MAX; ids.len()],
        };
        let mut slot = vec![u32::MAX; vocab_size.saturating_sub(cached)];
        for (b, &len) in lengths.iter().enumerate() {
            let start = b * seq_len;
            for (p, &id) in (start..).zip(&ids[start..start + len]) {
                if id == 0 {
                    continue;
                }
                if (id as usize) < cached {
                    out.local[p] = id;
                    continue;
                }
                let s = &mut slot[id as usize - cached];
                if *s == u32::MAX {
                    *s = out.ids.len() as u32;
                    out.ids.push(id);
                }
                out.local[p] = cached as u32 + *s;
            }
        }
        out
    }
}

simd_fn! {
    /// Max-over-time of every region's convolution of one example, by SCATTER over token-major
    /// projected rows: the positions are streamed in order, each position's row (all regions' taps,
    /// contiguous) is read once and its tap `k` added into the accumulator of window `t − k`, held
    /// in a ring of `h` windows per region (`Σh·maps` floats, L1-resident); a window is compared
    /// into the running max as soon as its last tap is added. The same sums, in the same order
    /// (taps `0..h`), as [`windows_from_projection`] followed by a max; this reads each row once
    /// and contiguously instead of `h` scattered `maps`-float pieces per window.
    ///
    /// * `table`: `[n_table, width]` ([`ProjTable`]); `extra`: `[_, width]`, the rows of
    ///   `local` values `>= n_table` (at `local − n_table`); `width = Σh·maps`
    /// * `regions`: the region sizes `h`, in the order of the rows' layout ([`stacked_taps`])
    /// * `local`: `[length]`, the example's rows (`u32::MAX`: padding or id 0, adds nothing)
    /// * `ring`: scratch of at least `width` floats
    /// * `max`, `argmax`: `[regions.len() · maps]`, the maximum over the valid windows
    ///   (`model::kim::valid_windows`; one window, covering text and zero padding, when
    ///   the text is shorter than `h`) of the convolution without bias, and its first window
    /// * `mean`: when given, `(bias, sums)`, both `[regions.len() · maps]`: `sums` receives
    ///   `Σ_t relu(window_t + bias)` over the valid windows (mean-over-time pooling before the
    ///   division by the window count)
    /// * `store`: when given, `(windows, stride)`: window `t` of region `r` (without bias) is
    ///   copied to `windows[r · stride + t · maps..][..maps]`
    #[allow(clippy::too_many_arguments)]
    pub fn scatter_max(
        table: &[f32],
        n_table: usize,
        extra: &[f32],
        regions: &[usize],
        maps: usize,
        local: &[u32],
        ring: &mut [f32],
        max: &mut [f32],
        argmax: &mut [u32],
        mean: Option<(&[f32], &mut [f32])>,
        store: Option<(&mut [f32], usize)>,
    ) {
        let (mut mean, mut store) = (mean, store);
        let width: usize = regions.iter().sum::<usize>() * maps;
        assert!(ring.len() >= width && max.len() == regions.len() * maps && argmax.len() == max.len());
        assert!(table.len() >= n_table * width);
        if let Some((bias, sums)) = &mean {
            assert!(bias.len() == max.len() && sums.len() == max.len());
        }
        let length = local.len();
        let row_of = |i: u32| -> Option<&[f32]> {
            if i == u32::MAX {
                None
            } else if (i as usize) < n_table {
                Some(&table[i as usize * width..(i as usize + 1) * width])
            } else {
                let j = i as usize - n_table;
                Some(&extra[j * width..(j + 1) * width])
            }
        };
        max.fill(f32::NEG_INFINITY);
        argmax.fill(0);
        if let Some((_, sums)) = &mut mean {
            sums.fill(0.0);
        }
        // Window t's sum starts in a zero slot: zero now, and again each time a window completes.
        ring[..width].fill(0.0);
        // Per region, the ring slot of window p (p mod h), advanced without divisions.
        let mut heads = vec![0usize; regions.len()];
        for p in 0..length {
            if let Some(next) = local.get(p + PREFETCH_AHEAD).and_then(|&i| row_of(i)) {
                prefetch_row(next);
            }
            let row = row_of(local[p]);
            let mut off = 0;
            for (r, &h) in regions.iter().enumerate() {
                let nw = if length >= h { length - h + 1 } else { 1 };
                let ring_r = &mut ring[off..off + h * maps];
                let head = heads[r];
                // Tap k goes to window t = p − k, in slot (p − k) mod h; windows past the last
                // valid one are never read. Padding (or id 0) adds nothing.
                let k_end = h.min(p + 1);
                let k_start = (p + 1).saturating_sub(nw);
                if let Some(row) = row {
                    for k in k_start..k_end {
                        let slot = if head >= k { head - k } else { head + h - k };
                        let acc = &mut ring_r[slot * maps..(slot + 1) * maps];
                        add_into(acc, &row[off + k * maps..off + (k + 1) * maps]);
                    }
                }
                // Window p − h + 1 is complete (or, for a text shorter than h, window 0 at the end).
                let done = if p + 1 >= h {
                    Some((p + 1 - h, if head + 1 == h { 0 } else { head + 1 }))
                } else if p + 1 == length {
                    Some((0, 0))
                } else {
                    None
                };
                if let Some((t, slot)) = done.filter(|&(t, _)| t < nw) {
                    let v = &mut ring_r[slot * maps..(slot + 1) * maps];
                    let cols = r * maps..(r + 1) * maps;
                    if let Some((bias, sums)) = &mut mean {
                        relu_sum_into(v, &bias[cols.clone()], &mut sums[cols.clone()]);
                    }
                    if let Some((windows, stride)) = &mut store {
                        let at = r * *stride + t * maps;
                        windows[at..at + maps].copy_from_slice(v);
                    }
                    max_into(v, t as u32, &mut max[cols.clone()], &mut argmax[cols]);
                }
                heads[r] = if head + 1 == h { 0 } else { head + 1 };
                off += h * maps;
            }
        }
        if length == 0 {
            // One window of zero padding.
            max.fill(0.0);
            if let Some((bias, sums)) = &mut mean {
                for (s, &b) in sums.iter_mut().zip(bias.iter()) {
                    *s = b.max(0.0);
                }
            }
            if let Some((windows, stride)) = &mut store {
                for r in 0..regions.len() {
                    windows[r * *stride..r * *stride + maps].fill(0.0);
                }
            }
        }
    }
}

/// Positions ahead whose row [`scatter_max`] prefetches (into L1, every cache line of it): on
/// random ids (rows from a 144 MB table) this made the kernel 1.3–1.4× faster than none; 1 to
/// 6 positions ahead measured the same.
const PREFETCH_AHEAD: usize = 2;

#[inline(always)]
fn prefetch_row(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut i = 0;
        while i < row.len() {
            // SAFETY: a prefetch is a hint; the address is inside `row`.
            unsafe {
                std::arch::x86_64::_mm_prefetch(
                    row.as_ptr().add(i) as *const i8,
                    std::arch::x86_64::_MM_HINT_T0,
                )
            };
            i += 16;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// `acc += src` (vectorized for the caller's instruction set).
#[inline(always)]
fn add_into(acc: &mut [f32], src: &[f32]) {
    for (a, s) in acc.iter_mut().zip(src) {
        *a += s;
    }
}

/// Running max and first argmax: where `v > max`, `max = v` and `argmax = t` (branch-free, so
/// that it vectorizes); then zeroes `v`, the ring slot of the window `t + h` to come.
#[inline(always)]
fn max_into(v: &mut [f32], t: u32, max: &mut [f32], argmax: &mut [u32]) {
    for ((m, a), v) in max.iter_mut().zip(argmax.iter_mut()).zip(v) {
        let v = std::mem::take(v);
        let gt = v > *m;
        *m = if gt { v } else { *m };
        *a = if gt { t } else { *a };
    }
}

/// `sums += relu(v + bias)` (mean-over-time pooling's running sum).
#[inline(always)]
fn relu_sum_into(v: &[f32], bias: &[f32], sums: &mut [f32]) {
    for ((s, &v), &b) in sums.iter_mut().zip(v).zip(bias) {
        *s += (v + b).max(0.0);
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
    fn scatter_equals_gather_windows_then_max() {
        // Regions 1, 3, 2 over 5 maps, 6 projected tokens (rows 0..4 in the table, 4..6 in
        // `extra`); texts with padding (u32::MAX), shorter than the widest region, and empty.
        let (maps, regions) = (5, [1usize, 3, 2]);
        let width = 6 * maps;
        let all: Vec<f32> = (0..6 * width)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.125)
            .collect();
        let (table, extra) = all.split_at(4 * width);
        let texts: [&[u32]; 6] = [
            &[0, 1, 2, 3, 4, 5, 1, 0],
            &[5, u32::MAX, 2, 2, u32::MAX, 4, 3],
            &[3, 4],
            &[4],
            &[u32::MAX, u32::MAX],
            &[],
        ];
        let mut ring = vec![f32::NAN; width];
        for text in texts {
            let mut max = vec![f32::NAN; regions.len() * maps];
            let mut arg = vec![u32::MAX; regions.len() * maps];
            scatter_max(
                table, 4, extra, &regions, maps, text, &mut ring, &mut max, &mut arg, None, None,
            );
            let mut off = 0;
            for (r, &h) in regions.iter().enumerate() {
                // The gather formulation on this region's block of every row.
                let proj: Vec<f32> = all
                    .chunks(width)
                    .flat_map(|row| row[off..off + h * maps].to_vec())
                    .collect();
                let nw = if text.len() >= h {
                    text.len() - h + 1
                } else {
                    1
                };
                let mut out = vec![f32::NAN; nw * maps];
                windows_from_projection(&proj, maps, h, text, &mut out);
                for f in 0..maps {
                    let (mut m, mut a) = (f32::NEG_INFINITY, 0);
                    for t in 0..nw {
                        if out[t * maps + f] > m {
                            (m, a) = (out[t * maps + f], t as u32);
                        }
                    }
                    // Same sums in the same order: the same bits.
                    assert_eq!(max[r * maps + f], m, "{text:?} region {h} map {f}");
                    assert_eq!(arg[r * maps + f], a, "{text:?} region {h} map {f}");
                }
                off += h * maps;
            }
        }
    }

    #[test]
    fn distinct_tokens_beyond_a_cache() {
        // Cache of ids 0..4: ids 1..3 stand for themselves, 0 and padding for nothing, ids 4 and
        // up for `4 + i` with i their order of first occurrence.
        let ids = [3, 9, 0, 4, 9, 7, 1, 5, 5];
        let d = DistinctTokens::beyond(&ids, &[5, 2], 6, 10, 4);
        assert_eq!(d.ids, vec![9, 4, 5]);
        let m = u32::MAX;
        assert_eq!(d.local, vec![3, 4, m, 5, 4, m, 1, 6, m]);
        // No cache: every id is projected.
        let d = DistinctTokens::beyond(&[2, 2, 1], &[3], 3, 3, 0);
        assert_eq!((d.ids, d.local), (vec![2, 1], vec![0, 0, 1]));
    }

    #[test]
    fn projection_table_rows_are_the_stacked_projections() {
        // emb 3, regions 2 and 1 over 2 maps: width (2 + 1)·2 = 6; ids 0..3 of a 4-word table.
        let (emb_dim, maps) = (3, 2);
        let emb: Vec<f32> = (0..4 * emb_dim).map(|i| i as f32 * 0.5 - 1.0).collect();
        let w2: Vec<f32> = (0..maps * 2 * emb_dim).map(|i| i as f32 * 0.1).collect();
        let w1: Vec<f32> = (0..maps * emb_dim).map(|i| 1.0 - i as f32 * 0.2).collect();
        let taps = stacked_taps([(w2.as_slice(), 2), (w1.as_slice(), 1)], maps, emb_dim);
        assert_eq!(ProjTable::rows_within(3 * 6 * 4 + 5, 6, 4), 3);
        assert_eq!(ProjTable::rows_within(1 << 20, 6, 4), 4);
        let t = ProjTable::build(&emb, None, emb_dim, 3, &taps);
        assert_eq!((t.rows, t.width, t.data.len()), (3, 6, 18));
        for v in 0..3 {
            let e = &emb[v * emb_dim..(v + 1) * emb_dim];
            let dot = |w: &[f32]| -> f32 { w.iter().zip(e).map(|(a, b)| a * b).sum() };
            // Region h = 2: tap k of map f is weight row (f, k); then region h = 1.
            let mut want = Vec::new();
            for k in 0..2 {
                for f in 0..maps {
                    want.push(dot(&w2[(f * 2 + k) * emb_dim..(f * 2 + k + 1) * emb_dim]));
                }
            }
            for f in 0..maps {
                want.push(dot(&w1[f * emb_dim..(f + 1) * emb_dim]));
            }
            for (got, want) in t.data[v * 6..(v + 1) * 6].iter().zip(&want) {
                assert!((got - want).abs() < 1e-5, "id {v}: {got} vs {want}");
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
