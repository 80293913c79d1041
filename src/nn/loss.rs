//! Numerically stable losses on logits: softmax cross-entropy (one class per example) and
//! sigmoid binary cross-entropy (any number of labels per example), with their gradients.

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

/// What a batch is trained against: one class per example (softmax cross-entropy), or a 0/1
/// target per label (one sigmoid per label, binary cross-entropy). The training step passes it
/// to [`loss_and_gradient`], the one place where the two losses part.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// Class index per example, `[batch]`.
    Classes(&'a [u32]),
    /// Multi-hot targets `[batch, num_labels]`, each 0 or 1 (values in between act as soft
    /// targets).
    MultiHot(&'a [f32]),
}

impl Targets<'_> {
    /// Number of examples.
    pub fn batch(&self, num_classes: usize) -> usize {
        match self {
            Targets::Classes(y) => y.len(),
            Targets::MultiHot(t) => t.len() / num_classes.max(1),
        }
    }
}

/// The training loss of `logits [batch, num_classes]` against `targets` and its gradient
/// `dlogits [batch, num_classes]`: [`weighted_softmax_cross_entropy`] for
/// [`Targets::Classes`] (`weights` per class), [`sigmoid_binary_cross_entropy`] for
/// [`Targets::MultiHot`] (`weights` = positive weight per label). Returns `(loss, rows right)`
/// as those do.
pub fn loss_and_gradient(
    logits: &[f32],
    targets: Targets,
    num_classes: usize,
    weights: Option<&[f32]>,
    dlogits: &mut [f32],
) -> (f32, usize) {
    match targets {
        Targets::Classes(y) => {
            weighted_softmax_cross_entropy(logits, y, num_classes, weights, dlogits)
        }
        Targets::MultiHot(t) => {
            sigmoid_binary_cross_entropy(logits, t, num_classes, weights, dlogits)
        }
    }
}

/// `ln(1 + e^x)` without overflow: `max(x, 0) + ln(1 + e^(−|x|))`.
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The logistic function `1 / (1 + e^(−x))`, computed without overflow for any sign of `x`.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Binary cross-entropy of one sigmoid per label, summed over labels and averaged over the
/// batch, with an optional weight on each label's positive term (PyTorch's
/// `BCEWithLogitsLoss(pos_weight=w, reduction="sum") / batch`):
///
/// `loss = (1/B) Σ_b Σ_l [ w_l · t_bl · softplus(−z_bl) + (1 − t_bl) · softplus(z_bl) ]`
///
/// since `−ln σ(z) = softplus(−z)` and `−ln(1 − σ(z)) = softplus(z)`; so no logit overflows.
///
/// * `logits`, `targets`: `[batch, num_labels]`, targets in [0, 1];
/// * `pos_weight`: `[num_labels]` (`None`: all 1), e.g. `n_negative / n_positive` per label to
///   let rare labels count as much as frequent ones;
/// * `dlogits`: `[batch, num_labels]`, overwritten with
///   `∂loss/∂z = (w·t·(σ(z) − 1) + (1 − t)·σ(z)) / B`.
///
/// Returns `(loss, rows whose every label is right at probability 0.5)` (a logit > 0 predicts
/// the label), the multi-label counterpart of "correct".
///
/// # Panics
/// When the lengths do not fit `num_labels`.
pub fn sigmoid_binary_cross_entropy(
    logits: &[f32],
    targets: &[f32],
    num_labels: usize,
    pos_weight: Option<&[f32]>,
    dlogits: &mut [f32],
) -> (f32, usize) {
    assert!(num_labels > 0, "no labels");
    assert_eq!(
        logits.len(),
        targets.len(),
        "logits and targets differ in size"
    );
    assert_eq!(
        logits.len(),
        dlogits.len(),
        "logits and dlogits differ in size"
    );
    assert_eq!(
        logits.len() % num_labels,
        0,
        "logits are not [batch, labels]"
    );
    if let Some(w) = pos_weight {
        assert!(w.len() >= num_labels, "a positive weight per label");
    }
    let batch = logits.len() / num_labels;
    let inv = 1.0 / batch.max(1) as f32;
    let mut total = 0.0f64;
    let mut right = 0;
    for ((z, t), d) in logits
        .chunks_exact(num_labels)
        .zip(targets.chunks_exact(num_labels))
        .zip(dlogits.chunks_exact_mut(num_labels))
    {
        let mut all_right = true;
        for (l, ((&z, &t), d)) in z.iter().zip(t).zip(d.iter_mut()).enumerate() {
            let w = pos_weight.map_or(1.0, |w| w[l]);
            total += (w * t * softplus(-z) + (1.0 - t) * softplus(z)) as f64;
            let p = sigmoid(z);
            *d = (w * t * (p - 1.0) + (1.0 - t) * p) * inv;
            all_right &= (z > 0.0) == (t >= 0.5);
        }
        right += all_right as usize;
    }
    ((total / batch.max(1) as f64) as f32, right)
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

    /// Loss of one row computed the naive way, in f64, for reference.
    fn naive_bce(z: &[f32], t: &[f32], w: &[f32]) -> f64 {
        z.iter()
            .zip(t)
            .zip(w)
            .map(|((&z, &t), &w)| {
                let p = 1.0 / (1.0 + (-(z as f64)).exp());
                -(w as f64 * t as f64 * p.ln() + (1.0 - t as f64) * (1.0 - p).ln())
            })
            .sum()
    }

    #[test]
    fn bce_matches_its_definition_and_counts_fully_right_rows() {
        // Two rows of three labels; row 0 is right at 0.5 on every label, row 1 is not.
        let z = [2.0, -1.0, 0.5, -0.25, 1.5, -3.0];
        let t = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let w = [1.0, 2.0, 0.5];
        let mut d = [0.0; 6];
        let (loss, right) = sigmoid_binary_cross_entropy(&z, &t, 3, Some(&w), &mut d);
        let expected = (naive_bce(&z[..3], &t[..3], &w) + naive_bce(&z[3..], &t[3..], &w)) / 2.0;
        assert!(
            (loss as f64 - expected).abs() < 1e-6,
            "{loss} vs {expected}"
        );
        assert_eq!(right, 1);
        // Hand value of one entry: z = 2, t = 1, w = 1: ∂/∂z = (σ(2) − 1) / 2.
        let s2 = 1.0 / (1.0 + (-2.0f32).exp());
        assert!((d[0] - (s2 - 1.0) / 2.0).abs() < 1e-7);
        // An all-negative row (no label) is a valid example: loss Σ softplus(z).
        let mut d1 = [0.0; 3];
        let (l0, r0) = sigmoid_binary_cross_entropy(&[0.0, 0.0, 0.0], &[0.0; 3], 3, None, &mut d1);
        assert!((l0 - 3.0 * 2f32.ln()).abs() < 1e-6);
        assert_eq!((r0, d1), (1, [0.5; 3]));
    }

    #[test]
    fn bce_gradient_matches_finite_differences() {
        let z = [0.3f32, -1.2, 2.5, 0.0, -0.7, 1.1, 4.0, -2.0];
        let t = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let w = [3.0, 1.0, 0.5, 2.0];
        let mut d = [0.0; 8];
        sigmoid_binary_cross_entropy(&z, &t, 4, Some(&w), &mut d);
        let f = |z: &[f32]| -> f64 {
            (naive_bce(&z[..4], &t[..4], &w) + naive_bce(&z[4..], &t[4..], &w)) / 2.0
        };
        let h = 1e-3f32;
        for i in 0..z.len() {
            let (mut zp, mut zm) = (z, z);
            zp[i] += h;
            zm[i] -= h;
            let numeric = (f(&zp) - f(&zm)) / (2.0 * h as f64);
            assert!(
                (numeric - d[i] as f64).abs() < 1e-4,
                "entry {i}: numeric {numeric} vs analytic {}",
                d[i]
            );
        }
    }

    #[test]
    fn bce_is_finite_for_huge_logits() {
        let mut d = [0.0; 2];
        let (loss, _) =
            sigmoid_binary_cross_entropy(&[1000.0, -1000.0], &[0.0, 1.0], 2, None, &mut d);
        assert_eq!(loss, 2000.0);
        assert_eq!(d, [1.0, -1.0]);
        assert_eq!((sigmoid(1000.0), sigmoid(-1000.0)), (1.0, 0.0));
    }

    #[test]
    fn loss_and_gradient_dispatches_on_the_targets() {
        let z = [0.5, -0.5, 1.0, 0.25];
        let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
        let soft = loss_and_gradient(&z, Targets::Classes(&[0, 1]), 2, None, &mut a);
        assert_eq!(soft, softmax_cross_entropy(&z, &[0, 1], 2, &mut b));
        assert_eq!(a, b);
        let t = [1.0, 0.0, 0.0, 1.0];
        let multi = loss_and_gradient(&z, Targets::MultiHot(&t), 2, None, &mut a);
        assert_eq!(multi, sigmoid_binary_cross_entropy(&z, &t, 2, None, &mut b));
        assert_eq!(a, b);
        assert_eq!(Targets::MultiHot(&t).batch(2), 2);
    }
}
