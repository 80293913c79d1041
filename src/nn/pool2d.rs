//! 2-D pooling with a square `p × p` window and stride `p` (PyTorch `MaxPool2d(p)` /
//! `AvgPool2d(p)`, floor mode: trailing rows/columns that do not fill a window are dropped),
//! ReLU, and flatten. One example at a time; layout `[c, h, w]` row-major, output
//! `[c, h / p, w / p]`.
//!
//! Flatten is free: the pooled output of one example is already the row-major
//! `[c · (h / p) · (w / p)]` vector PyTorch's `flatten(1)` gives, so the dense layers read it in
//! place.

/// Output side of pooling `n` positions with window `p` (floor).
#[inline]
pub fn pooled_len(n: usize, p: usize) -> usize {
    n / p
}

/// ReLU in place: `x = max(x, 0)`. `x`: any shape.
pub fn relu_forward(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// ReLU backward in place: `dy[i] = 0` where the ReLU output `y[i] <= 0`.
///
/// * `y`: ReLU output; `dy`: gradient w.r.t. it, same shape (becomes the gradient w.r.t. the input)
pub fn relu_backward(y: &[f32], dy: &mut [f32]) {
    for (d, &v) in dy.iter_mut().zip(y) {
        if v <= 0.0 {
            *d = 0.0;
        }
    }
}

/// Max pooling forward, recording the argmax.
///
/// * `x`: `[c, h, w]`
/// * `y`: `[c, h / p, w / p]` (overwritten), the window maxima
/// * `argmax`: `[c, h / p, w / p]` (overwritten), index into the plane (`row · w + col`) of each
///   maximum; ties keep the first position in row-major window order (as PyTorch)
pub fn max_pool2d_forward(
    x: &[f32],
    c: usize,
    h: usize,
    w: usize,
    p: usize,
    y: &mut [f32],
    argmax: &mut [u32],
) {
    let (ho, wo) = (pooled_len(h, p), pooled_len(w, p));
    assert!(x.len() >= c * h * w && y.len() >= c * ho * wo && argmax.len() >= c * ho * wo);
    for ch in 0..c {
        let plane = &x[ch * h * w..(ch + 1) * h * w];
        let yo = &mut y[ch * ho * wo..(ch + 1) * ho * wo];
        let ao = &mut argmax[ch * ho * wo..(ch + 1) * ho * wo];
        for r in 0..ho {
            let yr = &mut yo[r * wo..(r + 1) * wo];
            let ar = &mut ao[r * wo..(r + 1) * wo];
            if p == 2 {
                // The common case, branch-free: rows 2r and 2r + 1, columns 2q and 2q + 1.
                let (r0, r1) = (
                    &plane[2 * r * w..][..2 * wo],
                    &plane[(2 * r + 1) * w..][..2 * wo],
                );
                let base = (2 * r * w) as u32;
                for (q, (yv, av)) in yr.iter_mut().zip(ar.iter_mut()).enumerate() {
                    let c0 = base + 2 * q as u32;
                    let (mut best, mut idx) = (r0[2 * q], c0);
                    for (v, i) in [
                        (r0[2 * q + 1], c0 + 1),
                        (r1[2 * q], c0 + w as u32),
                        (r1[2 * q + 1], c0 + w as u32 + 1),
                    ] {
                        let gt = v > best;
                        best = if gt { v } else { best };
                        idx = if gt { i } else { idx };
                    }
                    *yv = best;
                    *av = idx;
                }
                continue;
            }
            for (q, (yv, av)) in yr.iter_mut().zip(ar.iter_mut()).enumerate() {
                let c0 = r * p * w + q * p;
                let (mut best, mut idx) = (plane[c0], c0);
                for i in 0..p {
                    for j in 0..p {
                        let k = c0 + i * w + j;
                        let v = plane[k];
                        let gt = v > best;
                        best = if gt { v } else { best };
                        idx = if gt { k } else { idx };
                    }
                }
                *yv = best;
                *av = idx as u32;
            }
        }
    }
}

/// Max pooling backward: `dx[argmax] = dy`, zero elsewhere.
///
/// * `dy`, `argmax`: `[c, h / p, w / p]`; `dx`: `[c, h, w]` (overwritten)
pub fn max_pool2d_backward(
    dy: &[f32],
    argmax: &[u32],
    c: usize,
    h: usize,
    w: usize,
    p: usize,
    dx: &mut [f32],
) {
    let n_out = pooled_len(h, p) * pooled_len(w, p);
    dx[..c * h * w].fill(0.0);
    for ch in 0..c {
        let plane = &mut dx[ch * h * w..(ch + 1) * h * w];
        for (&g, &a) in dy[ch * n_out..(ch + 1) * n_out]
            .iter()
            .zip(&argmax[ch * n_out..(ch + 1) * n_out])
        {
            plane[a as usize] += g;
        }
    }
}

/// Average pooling forward: `y = mean of each p × p window`.
///
/// * `x`: `[c, h, w]`; `y`: `[c, h / p, w / p]` (overwritten)
pub fn avg_pool2d_forward(x: &[f32], c: usize, h: usize, w: usize, p: usize, y: &mut [f32]) {
    let (ho, wo) = (pooled_len(h, p), pooled_len(w, p));
    let inv = 1.0 / (p * p) as f32;
    for ch in 0..c {
        let plane = &x[ch * h * w..(ch + 1) * h * w];
        let yo = &mut y[ch * ho * wo..(ch + 1) * ho * wo];
        for r in 0..ho {
            let yr = &mut yo[r * wo..(r + 1) * wo];
            yr.fill(0.0);
            for i in 0..p {
                let row = &plane[(r * p + i) * w..];
                for (q, yv) in yr.iter_mut().enumerate() {
                    for j in 0..p {
                        *yv += row[q * p + j];
                    }
                }
            }
            for yv in yr {
                *yv *= inv;
            }
        }
    }
}

/// Average pooling backward: every input of a window gets `dy / p²`; positions outside all
/// windows (floor mode remainder) get 0.
///
/// * `dy`: `[c, h / p, w / p]`; `dx`: `[c, h, w]` (overwritten)
pub fn avg_pool2d_backward(dy: &[f32], c: usize, h: usize, w: usize, p: usize, dx: &mut [f32]) {
    let (ho, wo) = (pooled_len(h, p), pooled_len(w, p));
    let inv = 1.0 / (p * p) as f32;
    dx[..c * h * w].fill(0.0);
    for ch in 0..c {
        let plane = &mut dx[ch * h * w..(ch + 1) * h * w];
        let g = &dy[ch * ho * wo..(ch + 1) * ho * wo];
        for r in 0..ho {
            for i in 0..p {
                let row = &mut plane[(r * p + i) * w..];
                for q in 0..wo {
                    let v = g[r * wo + q] * inv;
                    for j in 0..p {
                        row[q * p + j] = v;
                    }
                }
            }
        }
    }
}
