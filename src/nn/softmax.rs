//! Turning logits into probabilities and picks: the softmax of one row and the arg-max.

/// Numerically stable softmax of one row of logits `[classes]`, in place. Infinite logits get
/// the limit: the `+inf` entries share the probability equally (a NaN logit stays NaN).
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::INFINITY {
        let n = row.iter().filter(|v| **v == f32::INFINITY).count() as f32;
        for v in row.iter_mut() {
            *v = if v.is_nan() {
                f32::NAN
            } else if *v == f32::INFINITY {
                1.0 / n
            } else {
                0.0
            };
        }
        return;
    }
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Index of the largest value (the first one on ties; 0 for an empty row).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_for_large_logits() {
        // 1000 and 1000.5 are exact in f32; exp(1000) alone would overflow.
        let mut row = [1000.0, 1000.5];
        softmax_in_place(&mut row);
        let p1 = 1.0 / (1.0 + (-0.5f32).exp());
        assert!(
            (row[1] - p1).abs() < 1e-6 && (row[0] - (1.0 - p1)).abs() < 1e-6,
            "{row:?}"
        );
    }

    #[test]
    fn softmax_of_infinite_logits_is_their_limit() {
        let mut row = [f32::INFINITY, 3.0, f32::INFINITY, f32::NEG_INFINITY];
        softmax_in_place(&mut row);
        assert_eq!(row, [0.5, 0.0, 0.5, 0.0]);
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
