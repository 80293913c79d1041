//! Dense (fully connected) layer: `y = x · weightᵀ + bias`, PyTorch `nn.Linear` layout.

/// Forward pass.
///
/// * `x`: `[batch, in_features]`
/// * `weight`: `[out_features, in_features]`, `bias`: `[out_features]`
/// * `y`: `[batch, out_features]` (overwritten)
pub fn dense_forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    in_features: usize,
    out_features: usize,
    y: &mut [f32],
) {
    for (xr, yr) in x
        .chunks_exact(in_features)
        .zip(y.chunks_exact_mut(out_features))
    {
        for ((yv, w), &b) in yr
            .iter_mut()
            .zip(weight.chunks_exact(in_features))
            .zip(bias)
        {
            *yv = b + dot(xr, w);
        }
    }
}

/// Backward pass: `dweight += dyᵀ · x`, `dbias += Σ_b dy[b]`, `dx = dy · weight` (overwritten).
///
/// * `dy`: `[batch, out_features]`, `x`: `[batch, in_features]`
/// * `dweight`: `[out_features, in_features]`, `dbias`: `[out_features]`
/// * `dx`: `[batch, in_features]`
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    dy: &[f32],
    x: &[f32],
    weight: &[f32],
    in_features: usize,
    out_features: usize,
    dweight: &mut [f32],
    dbias: &mut [f32],
    dx: &mut [f32],
) {
    dx.fill(0.0);
    for ((dyr, xr), dxr) in dy
        .chunks_exact(out_features)
        .zip(x.chunks_exact(in_features))
        .zip(dx.chunks_exact_mut(in_features))
    {
        for (o, &g) in dyr.iter().enumerate() {
            dbias[o] += g;
            let w = &weight[o * in_features..(o + 1) * in_features];
            let dw = &mut dweight[o * in_features..(o + 1) * in_features];
            for ((dw, dx), (&xv, &wv)) in dw.iter_mut().zip(dxr.iter_mut()).zip(xr.iter().zip(w)) {
                *dw += g * xv;
                *dx += g * wv;
            }
        }
    }
}

/// Dot product with 8 independent partial sums (vectorizes; fixed summation order).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}
