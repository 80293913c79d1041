//! 2-D convolution with a square `k × k` kernel, stride 1 and 'same' zero padding (PyTorch
//! `Conv2d(c_in, c_out, k, padding="same")`), over one example at a time.
//!
//! Layout (row-major, PyTorch's NCHW without the batch axis): input `[c_in, h, w]`, output
//! `[c_out, h, w]`, weight `[c_out, c_in, k, k]`, bias `[c_out]`. Padding is `(k - 1) / 2` before
//! and `k - 1 - (k - 1) / 2` after each spatial axis, as PyTorch's `padding="same"` (the same
//! as `padding=k // 2` for odd `k`).
//!
//! The main implementation is im2col + one GEMM (`gemm` crate, single-threaded: parallelism comes
//! from running examples on different threads): the column matrix `col` `[c_in·k·k, h·w]` holds
//! in row `(c, i, j)` the input plane `c` shifted by `(i − pad, j − pad)` (zero outside), so
//! `out = weight · col` with the weight viewed as `[c_out, c_in·k·k]`. A direct (loop) forward,
//! [`conv2d_forward_direct`], is kept as a reference and for speed comparison.

/// Padding before the first row/column for kernel size `k` ('same').
#[inline]
pub fn same_pad(k: usize) -> usize {
    (k - 1) / 2
}

/// Builds the im2col matrix of one example.
///
/// * `x`: `[c_in, h, w]`
/// * `col`: `[c_in · k · k, h · w]` (overwritten): `col[(c·k + i)·k + j][y·w + x'] =
///   x[c][y + i − pad][x' + j − pad]`, zero outside the input
pub fn im2col(x: &[f32], c_in: usize, h: usize, w: usize, k: usize, col: &mut [f32]) {
    let hw = h * w;
    let pad = same_pad(k);
    assert!(x.len() >= c_in * hw && col.len() >= c_in * k * k * hw);
    for c in 0..c_in {
        let plane = &x[c * hw..(c + 1) * hw];
        for i in 0..k {
            for j in 0..k {
                let row = &mut col[((c * k + i) * k + j) * hw..][..hw];
                // output position (y, xo) reads input (y + i - pad, xo + j - pad)
                let (dy, dx) = (i as isize - pad as isize, j as isize - pad as isize);
                let x_lo = (-dx).max(0) as usize;
                let x_hi = (w as isize - dx).clamp(0, w as isize) as usize;
                for y in 0..h {
                    let r = &mut row[y * w..(y + 1) * w];
                    let sy = y as isize + dy;
                    if sy < 0 || sy >= h as isize || x_lo >= x_hi {
                        r.fill(0.0);
                        continue;
                    }
                    let src = &plane[sy as usize * w..(sy as usize + 1) * w];
                    r[..x_lo].fill(0.0);
                    r[x_hi..].fill(0.0);
                    let s0 = (x_lo as isize + dx) as usize;
                    r[x_lo..x_hi].copy_from_slice(&src[s0..s0 + (x_hi - x_lo)]);
                }
            }
        }
    }
}

/// Adjoint of [`im2col`]: `dx[c][y + i − pad][x' + j − pad] += dcol[(c·k + i)·k + j][y·w + x']`
/// for every in-bounds position.
///
/// * `dcol`: `[c_in · k · k, h · w]`; `dx`: `[c_in, h, w]` (accumulated into)
pub fn col2im(dcol: &[f32], c_in: usize, h: usize, w: usize, k: usize, dx: &mut [f32]) {
    let hw = h * w;
    let pad = same_pad(k);
    assert!(dx.len() >= c_in * hw && dcol.len() >= c_in * k * k * hw);
    for c in 0..c_in {
        let plane = &mut dx[c * hw..(c + 1) * hw];
        for i in 0..k {
            for j in 0..k {
                let row = &dcol[((c * k + i) * k + j) * hw..][..hw];
                let (dy, dx_) = (i as isize - pad as isize, j as isize - pad as isize);
                let x_lo = (-dx_).max(0) as usize;
                let x_hi = (w as isize - dx_).clamp(0, w as isize) as usize;
                if x_lo >= x_hi {
                    continue;
                }
                for y in 0..h {
                    let sy = y as isize + dy;
                    if sy < 0 || sy >= h as isize {
                        continue;
                    }
                    let s0 = (x_lo as isize + dx_) as usize;
                    let dst = &mut plane[sy as usize * w + s0..][..x_hi - x_lo];
                    for (d, &g) in dst.iter_mut().zip(&row[y * w + x_lo..y * w + x_hi]) {
                        *d += g;
                    }
                }
            }
        }
    }
}

/// `dst[m, n] = (accumulate ? dst : 0) + Σ_k a(m, k) · b(k, n)` with explicit strides
/// (`(column stride, row stride)` of each operand), split over `parallelism` (gemm splits the
/// output, never the inner dimension, so every setting gives the same bits).
///
/// # Safety
/// Every `(row, col)` index of each operand within its `m × k`, `k × n`, `m × n` shape must be
/// in bounds of the pointed-to allocation with the given strides.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_s: (isize, isize),
    accumulate: bool,
    a: *const f32,
    a_s: (isize, isize),
    b: *const f32,
    b_s: (isize, isize),
    parallelism: gemm::Parallelism,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_s.0,
            dst_s.1,
            accumulate,
            a,
            a_s.0,
            a_s.1,
            b,
            b_s.0,
            b_s.1,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// `out[m, n] = (accumulate ? out : 0) + a · bᵀ`, all row-major: row `i` of `a` is
/// `a[i · lda..][..k]` (rows may overlap, e.g. sliding windows), row `j` of `b` is
/// `b[j · ldb..][..k]`, `out` is `[m, n]` contiguous. Safe wrapper of [`gemm_strided`].
///
/// # Panics
/// When a row of `a` or `b` or the output would fall outside its slice.
pub(crate) fn gemm_abt(
    (m, n, k): (usize, usize, usize),
    (a, lda): (&[f32], usize),
    (b, ldb): (&[f32], usize),
    out: &mut [f32],
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(a.len() >= (m - 1) * lda + k, "gemm_abt: lhs too short");
    assert!(b.len() >= (n - 1) * ldb + k, "gemm_abt: rhs too short");
    assert!(out.len() >= m * n, "gemm_abt: output too short");
    // SAFETY: lhs (i, kk) = a[i * lda + kk], rhs (kk, j) = b[j * ldb + kk], dst (i, j) =
    // out[i * n + j], for i < m, j < n, kk < k: in bounds by the asserts above.
    unsafe {
        gemm_strided(
            m,
            n,
            k,
            out.as_mut_ptr(),
            (1, n as isize),
            accumulate,
            a.as_ptr(),
            (1, lda as isize),
            b.as_ptr(),
            (ldb as isize, 1),
            parallelism,
        );
    }
}

/// Forward pass for one example by im2col + GEMM: `out = bias + weight · im2col(x)`.
///
/// * `x`: `[c_in, h, w]`; `weight`: `[c_out, c_in, k, k]`; `bias`: `[c_out]`
/// * `col`: scratch of at least `c_in · k · k · h · w` floats
/// * `out`: `[c_out, h, w]` (overwritten; no activation)
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward(
    x: &[f32],
    c_in: usize,
    h: usize,
    w: usize,
    k: usize,
    weight: &[f32],
    bias: &[f32],
    c_out: usize,
    col: &mut [f32],
    out: &mut [f32],
) {
    let (hw, ckk) = (h * w, c_in * k * k);
    assert_eq!(weight.len(), c_out * ckk, "conv2d_forward: weight shape");
    assert_eq!(bias.len(), c_out, "conv2d_forward: bias shape");
    assert!(out.len() >= c_out * hw && col.len() >= ckk * hw);
    im2col(x, c_in, h, w, k, col);
    for (o, &b) in bias.iter().enumerate() {
        out[o * hw..(o + 1) * hw].fill(b);
    }
    // SAFETY: dst [c_out, hw] row stride hw; lhs weight [c_out, ckk]; rhs col [ckk, hw]; all
    // lengths asserted above.
    unsafe {
        gemm_strided(
            c_out,
            hw,
            ckk,
            out.as_mut_ptr(),
            (1, hw as isize),
            true,
            weight.as_ptr(),
            (1, ckk as isize),
            col.as_ptr(),
            (1, hw as isize),
            gemm::Parallelism::None,
        );
    }
}

/// Forward pass for one example with direct loops (no im2col): same contract as
/// [`conv2d_forward`] without the scratch. Reference implementation and speed baseline.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_direct(
    x: &[f32],
    c_in: usize,
    h: usize,
    w: usize,
    k: usize,
    weight: &[f32],
    bias: &[f32],
    c_out: usize,
    out: &mut [f32],
) {
    let hw = h * w;
    let pad = same_pad(k) as isize;
    assert_eq!(weight.len(), c_out * c_in * k * k);
    for o in 0..c_out {
        let dst = &mut out[o * hw..(o + 1) * hw];
        dst.fill(bias[o]);
        for c in 0..c_in {
            let plane = &x[c * hw..(c + 1) * hw];
            for i in 0..k {
                let dy = i as isize - pad;
                for j in 0..k {
                    let dx = j as isize - pad;
                    let wv = weight[((o * c_in + c) * k + i) * k + j];
                    let x_lo = (-dx).max(0) as usize;
                    let x_hi = (w as isize - dx).clamp(0, w as isize) as usize;
                    if x_lo >= x_hi {
                        continue;
                    }
                    for y in 0..h {
                        let sy = y as isize + dy;
                        if sy < 0 || sy >= h as isize {
                            continue;
                        }
                        let s0 = sy as usize * w + (x_lo as isize + dx) as usize;
                        let src = &plane[s0..s0 + (x_hi - x_lo)];
                        for (d, &v) in dst[y * w + x_lo..y * w + x_hi].iter_mut().zip(src) {
                            *d += wv * v;
                        }
                    }
                }
            }
        }
    }
}

/// Backward pass for one example.
///
/// * `x`: `[c_in, h, w]`, the forward input; `weight`: `[c_out, c_in, k, k]`
/// * `dout`: `[c_out, h, w]`, gradient w.r.t. the (pre-activation) output
/// * `dweight`: `[c_out, c_in, k, k]`, `dbias`: `[c_out]` (accumulated into)
/// * `dx`: `[c_in, h, w]` (overwritten) or `None` when the input gradient is not needed
/// * `col`, `dcol`: scratch of at least `c_in · k · k · h · w` floats each (`dcol` unused when
///   `dx` is `None`)
///
/// `dweight += dout · im2col(x)ᵀ`, `dbias += Σ_{y,x} dout`, `dx = col2im(weightᵀ · dout)`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    x: &[f32],
    c_in: usize,
    h: usize,
    w: usize,
    k: usize,
    weight: &[f32],
    c_out: usize,
    dout: &[f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    dx: Option<&mut [f32]>,
    col: &mut [f32],
    dcol: &mut [f32],
) {
    let (hw, ckk) = (h * w, c_in * k * k);
    assert_eq!(weight.len(), c_out * ckk);
    assert!(dweight.len() == c_out * ckk && dbias.len() == c_out);
    assert!(dout.len() >= c_out * hw && col.len() >= ckk * hw);
    im2col(x, c_in, h, w, k, col);
    for (o, db) in dbias.iter_mut().enumerate() {
        *db += dout[o * hw..(o + 1) * hw].iter().sum::<f32>();
    }
    // dweight [c_out, ckk] += dout [c_out, hw] · colᵀ (col: [ckk, hw]).
    let none = gemm::Parallelism::None;
    gemm_abt((c_out, ckk, hw), (dout, hw), (col, hw), dweight, true, none);
    if let Some(dx) = dx {
        assert!(dcol.len() >= ckk * hw && dx.len() >= c_in * hw);
        // SAFETY: dst dcol [ckk, hw]; lhs weightᵀ: element (j, o) at weight[o * ckk + j];
        // rhs dout [c_out, hw].
        unsafe {
            gemm_strided(
                ckk,
                hw,
                c_out,
                dcol.as_mut_ptr(),
                (1, hw as isize),
                false,
                weight.as_ptr(),
                (ckk as isize, 1),
                dout.as_ptr(),
                (1, hw as isize),
                gemm::Parallelism::None,
            );
        }
        dx[..c_in * hw].fill(0.0);
        col2im(dcol, c_in, h, w, k, dx);
    }
}
