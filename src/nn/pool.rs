//! Bias + ReLU + max-over-time pooling, fused, recording the argmax.
//!
//! Bias addition and ReLU are monotone, so `max_t relu(conv[t, f] + bias[f]) =
//! relu(max_t conv[t, f] + bias[f])`: one pass over the GEMM output finds the maximum and its
//! window, then bias and ReLU are applied to `maps` values only. Ties keep the first window.

/// Forward pass for one example and one region size.
///
/// * `conv`: `[n_windows, maps]`, convolution output without bias; only windows `0..n_valid` are
///   read (padding windows never win the max)
/// * `bias`: `[maps]`
/// * `pooled`: `[maps]`, `relu(max_t conv[t, f] + bias[f])`
/// * `argmax`: `[maps]`, the window `t` of the maximum
pub fn bias_relu_max_pool_forward(
    conv: &[f32],
    maps: usize,
    n_valid: usize,
    bias: &[f32],
    pooled: &mut [f32],
    argmax: &mut [u32],
) {
    assert!(n_valid >= 1 && conv.len() >= n_valid * maps);
    pooled.copy_from_slice(&conv[..maps]);
    argmax.fill(0);
    for (t, row) in conv[..n_valid * maps]
        .chunks_exact(maps)
        .enumerate()
        .skip(1)
    {
        for ((p, a), &v) in pooled.iter_mut().zip(argmax.iter_mut()).zip(row) {
            if v > *p {
                *p = v;
                *a = t as u32;
            }
        }
    }
    for (p, &b) in pooled.iter_mut().zip(bias) {
        *p = (*p + b).max(0.0);
    }
}

/// Backward pass through ReLU: the gradient w.r.t. the (pre-bias) convolution output at the
/// argmax window is `dpooled` where the pooled value is positive and 0 where it is `<= 0`.
///
/// * `pooled`, `dpooled`, `dconv`: `[n]` (any layout, elementwise)
pub fn relu_max_pool_backward(pooled: &[f32], dpooled: &[f32], dconv: &mut [f32]) {
    for ((d, &p), &g) in dconv.iter_mut().zip(pooled).zip(dpooled) {
        *d = if p > 0.0 { g } else { 0.0 };
    }
}

/// Gradient of the bias: `dbias[f] += Σ_b dconv[b * stride + f]`, examples summed in order.
///
/// * `dbias`: `[maps]`; `dconv`: `[batch, stride]` restricted to this region's columns
pub fn bias_backward(dbias: &mut [f32], dconv: &[f32], batch: usize, stride: usize) {
    for b in 0..batch {
        for (db, &g) in dbias.iter_mut().zip(&dconv[b * stride..]) {
            *db += g;
        }
    }
}
