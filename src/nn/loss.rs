//! Numerically stable softmax cross-entropy.

/// Mean softmax cross-entropy over a batch and its gradient.
///
/// * `logits`: `[batch, num_classes]`; `labels`: `[batch]`, each `< num_classes`
/// * `dlogits`: `[batch, num_classes]`, overwritten with `∂loss/∂logits = (softmax − onehot) / batch`
///
/// Returns `(mean loss, number of rows whose arg-max logit equals the label)`. Uses
/// `log Σ exp(z) = m + log Σ exp(z − m)` with `m = max z`, so large logits do not overflow.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    num_classes: usize,
    dlogits: &mut [f32],
) -> (f32, usize) {
    let batch = labels.len();
    assert_eq!(logits.len(), batch * num_classes);
    let mut total = 0.0f64;
    let mut correct = 0;
    let inv = 1.0 / batch as f32;
    for ((z, d), &y) in logits
        .chunks_exact(num_classes)
        .zip(dlogits.chunks_exact_mut(num_classes))
        .zip(labels)
    {
        let y = y as usize;
        assert!(
            y < num_classes,
            "label {y} out of range for {num_classes} classes"
        );
        let (mut best, mut m) = (0, z[0]);
        for (c, &v) in z.iter().enumerate().skip(1) {
            if v > m {
                m = v;
                best = c;
            }
        }
        if best == y {
            correct += 1;
        }
        let mut s = 0.0f32;
        for (dv, &v) in d.iter_mut().zip(z) {
            *dv = (v - m).exp();
            s += *dv;
        }
        total += (m + s.ln() - z[y]) as f64;
        for dv in d.iter_mut() {
            *dv *= inv / s;
        }
        d[y] -= inv;
    }
    ((total / batch.max(1) as f64) as f32, correct)
}
