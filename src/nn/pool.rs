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
    assert!(pooled.len() == maps && argmax.len() == maps && bias.len() == maps);
    max_pool_simd(conv, maps, n_valid, pooled, argmax);
    for (p, &b) in pooled.iter_mut().zip(bias) {
        *p = (*p + b).max(0.0);
    }
}

super::simd::simd_fn! {
    /// Column-wise max and first argmax of `conv[..n_valid * maps]` (`[n_valid, maps]`), 16
    /// maps at a time in fixed-size register blocks with branch-free compare-and-select, so
    /// that the compiler vectorizes it, compiled for the best instruction set the CPU has (the
    /// same results on every one: compare and select only).
    fn max_pool_simd(
        conv: &[f32],
        maps: usize,
        n_valid: usize,
        pooled: &mut [f32],
        argmax: &mut [u32],
    ) {
        const W: usize = 16;
        let mut f0 = 0;
        while f0 < maps {
            let w = W.min(maps - f0);
            let mut p = [f32::NEG_INFINITY; W];
            let mut a = [0u32; W];
            if w == W {
                for t in 0..n_valid {
                    let row: &[f32; W] = conv[t * maps + f0..t * maps + f0 + W].try_into().unwrap();
                    let tt = t as u32;
                    for i in 0..W {
                        let gt = row[i] > p[i];
                        p[i] = if gt { row[i] } else { p[i] };
                        a[i] = if gt { tt } else { a[i] };
                    }
                }
            } else {
                for t in 0..n_valid {
                    let row = &conv[t * maps + f0..t * maps + f0 + w];
                    for i in 0..w {
                        if row[i] > p[i] {
                            p[i] = row[i];
                            a[i] = t as u32;
                        }
                    }
                }
            }
            pooled[f0..f0 + w].copy_from_slice(&p[..w]);
            argmax[f0..f0 + w].copy_from_slice(&a[..w]);
            f0 += w;
        }
    }
}

/// Mean-over-time pooling after bias + ReLU, for one example and one region size:
/// `mean[f] = (1 / n_valid) · Σ_{t < n_valid} relu(conv[t, f] + bias[f])` (windows summed in
/// order).
///
/// * `conv`: `[n_windows, maps]`, convolution output without bias; windows `0..n_valid` are read
/// * `bias`, `mean`: `[maps]`
pub fn bias_relu_mean_pool_forward(
    conv: &[f32],
    maps: usize,
    n_valid: usize,
    bias: &[f32],
    mean: &mut [f32],
) {
    assert!(n_valid >= 1 && conv.len() >= n_valid * maps);
    assert!(mean.len() == maps && bias.len() == maps);
    mean.fill(0.0);
    for row in conv[..n_valid * maps].chunks_exact(maps) {
        for ((m, &v), &b) in mean.iter_mut().zip(row).zip(bias) {
            *m += (v + b).max(0.0);
        }
    }
    let inv = 1.0 / n_valid as f32;
    for m in mean.iter_mut() {
        *m *= inv;
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
