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
    weighted_softmax_cross_entropy(logits, labels, num_classes, None, dlogits)
}

/// [`softmax_cross_entropy`] with a weight per class (PyTorch's `CrossEntropyLoss(weight=w)`):
/// the loss is `Σ w[yᵢ]·ceᵢ / Σ w[yᵢ]` and row `i` of the gradient is scaled by
/// `w[yᵢ] / Σ w[yⱼ]`. `None` (or all weights equal) gives exactly the unweighted mean.
///
/// # Panics
/// When `weights` has fewer than `num_classes` entries or their sum over the batch is not
/// positive.
pub fn weighted_softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    num_classes: usize,
    weights: Option<&[f32]>,
    dlogits: &mut [f32],
) -> (f32, usize) {
    let batch = labels.len();
    assert_eq!(logits.len(), batch * num_classes);
    let weight = |y: u32| weights.map_or(1.0, |w| w[y as usize]);
    let wsum: f32 = match weights {
        None => batch as f32,
        Some(_) => labels.iter().map(|&y| weight(y)).sum(),
    };
    assert!(
        batch == 0 || wsum > 0.0,
        "class weights of the batch sum to {wsum}"
    );
    let mut total = 0.0f64;
    let mut correct = 0;
    for ((z, d), &y) in logits
        .chunks_exact(num_classes)
        .zip(dlogits.chunks_exact_mut(num_classes))
        .zip(labels)
    {
        let w = weight(y);
        let inv = w / wsum;
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
        total += w as f64 * (m + s.ln() - z[y]) as f64;
        for dv in d.iter_mut() {
            *dv *= inv / s;
        }
        d[y] -= inv;
    }
    let denominator = if batch == 0 { 1.0 } else { wsum as f64 };
    ((total / denominator) as f32, correct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_weights_scale_each_rows_loss_and_gradient() {
        let logits = [0.5, -0.25, 1.0, 2.0, -1.0, 0.0];
        let labels = [0, 1, 1];
        let (mut plain, mut ones, mut weighted) = ([0.0; 6], [0.0; 6], [0.0; 6]);
        let a = softmax_cross_entropy(&logits, &labels, 2, &mut plain);
        let b = weighted_softmax_cross_entropy(&logits, &labels, 2, Some(&[1.0, 1.0]), &mut ones);
        assert_eq!((a, plain), (b, ones), "unit weights change nothing");
        let w = [3.0, 1.0];
        let (loss, _) =
            weighted_softmax_cross_entropy(&logits, &labels, 2, Some(&w), &mut weighted);
        // Per-row cross-entropy from the unweighted gradient's row: loss_i = -ln p_i[y].
        let ce: Vec<f32> = logits
            .chunks(2)
            .zip(labels)
            .map(|(z, y)| {
                let m = z[0].max(z[1]);
                m + ((z[0] - m).exp() + (z[1] - m).exp()).ln() - z[y as usize]
            })
            .collect();
        let wsum = 3.0 + 1.0 + 1.0;
        let expected = (3.0 * ce[0] + ce[1] + ce[2]) / wsum;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
        for (i, y) in labels.iter().enumerate() {
            let scale = w[*y as usize] / wsum * 3.0; // plain rows carry 1/3
            for c in 0..2 {
                let (g, p) = (weighted[i * 2 + c], plain[i * 2 + c]);
                assert!(
                    (g - p * scale).abs() < 1e-6,
                    "row {i}: {g} vs {}",
                    p * scale
                );
            }
        }
    }
}
