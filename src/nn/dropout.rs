//! Inverted dropout with a counter-based (stateless) random mask.
//!
//! Element `i` is kept iff `hash(seed, i) >= p` (uniform in `[0, 1)`), and kept elements are scaled
//! by `1 / (1 - p)`, so inference needs no rescaling. The mask depends only on `(seed, i)`: it is
//! the same for any thread count and can be recomputed instead of stored.

/// SplitMix64 finalizer (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Forward pass: `mask[i] = keep(seed, i) / (1 - p)` or 0, and `x[i] *= mask[i]` in place.
///
/// * `x`, `mask`: `[n]` (e.g. `[batch, features]`); `p` in `[0, 1)`; `p == 0` keeps everything
pub fn dropout_forward(x: &mut [f32], mask: &mut [f32], p: f32, seed: u64) {
    assert!(
        (0.0..1.0).contains(&p),
        "dropout probability must be in [0, 1)"
    );
    let scale = 1.0 / (1.0 - p);
    // Keep iff the top 24 bits, read as a fraction of 2^24, are >= p.
    let threshold = (p as f64 * (1u64 << 24) as f64).ceil() as u64;
    let key = mix64(seed);
    for (i, (x, m)) in x.iter_mut().zip(mask.iter_mut()).enumerate() {
        let r = mix64(key ^ (i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)) >> 40;
        *m = if r >= threshold { scale } else { 0.0 };
        *x *= *m;
    }
}

/// Backward pass: `dx[i] = dy[i] * mask[i]`, in place on `dy`.
///
/// * `dy`, `mask`: `[n]`
pub fn dropout_backward(dy: &mut [f32], mask: &[f32]) {
    for (d, &m) in dy.iter_mut().zip(mask) {
        *d *= m;
    }
}
