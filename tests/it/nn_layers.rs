//! Finite-difference gradient checks and reference values for every layer of `textcnn::nn`.
//!
//! Tolerances: layers run in f32; the test losses are accumulated in f64 and central differences
//! `(L(p+ε) − L(p−ε)) / 2ε` are taken. The embedding, convolution and dense layers are linear in
//! each parameter and input, so the difference is exact up to f32 rounding of the outputs
//! (≈ 1e-7 relative, i.e. ≈ 1e-5 after dividing by 2ε = 2e-2); max-pooling and ReLU are piecewise
//! linear (exact away from kinks: the test data keeps ε = 1e-3 far from any tie); softmax
//! cross-entropy is smooth (truncation error O(ε²) ≈ 1e-4 with ε = 1e-2). Hence the bound
//! `|analytic − numeric| ≤ 2e-3 + 2e-3·|analytic|` throughout.

// Finite-difference loops perturb element k of a buffer while reading element k of another.
#![allow(clippy::needless_range_loop)]

use crate::common::{Gen, close, numeric, wsum};
use textcnn::nn::conv::{conv_backward_input, conv_backward_weight, conv_forward};
use textcnn::nn::dense::{dense_backward, dense_forward};
use textcnn::nn::dropout::{dropout_backward, dropout_forward};
use textcnn::nn::embedding::{SparseRows, embedding_backward, embedding_forward};
use textcnn::nn::loss::softmax_cross_entropy;
use textcnn::nn::optim::{
    OptimizerConfig, OptimizerKind, StepConsts, apply_max_norm, clip_factor, update_rows,
    update_slice,
};
use textcnn::nn::pool::{bias_backward, bias_relu_max_pool_forward, relu_max_pool_backward};

#[test]
fn embedding_forward_copies_rows_and_zeroes_padding() {
    let (v, e) = (5, 3);
    let weight: Vec<f32> = (0..v * e).map(|i| i as f32).collect();
    let ids = [3u32, 1, 4, 4];
    let mut out = vec![9.0; 5 * e];
    embedding_forward(&weight, e, &ids, 2, &mut out);
    assert_eq!(
        out,
        [
            9.0, 10.0, 11.0, 3.0, 4.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        ]
    );
}

#[test]
fn embedding_gradient_matches_finite_differences() {
    let (v, e, s) = (7, 4, 5);
    let mut g = Gen(1);
    let mut weight = g.vec(v * e);
    weight[..e].fill(0.0);
    let ids = [2u32, 5, 2, 0, 1, /* row 2 */ 5, 6, 3, 3, 3];
    let lengths = [4usize, 3];
    let w_out = g.vec(2 * s * e);
    let mut loss = |wt: &[f32]| {
        let mut total = 0.0;
        for b in 0..2 {
            let mut out = vec![0.0; s * e];
            embedding_forward(wt, e, &ids[b * s..], lengths[b], &mut out);
            total += wsum(&out, &w_out[b * s * e..]);
        }
        total
    };
    let mut grad = SparseRows::default();
    grad.gather_rows(v, e, &ids, &lengths, s);
    // Rows in order of first occurrence; pad id 0 and positions past the length are absent.
    assert_eq!(grad.rows, [2, 5, 6, 3]);
    for b in 0..2 {
        embedding_backward(&w_out[b * s * e..], e, &ids[b * s..], lengths[b], &mut grad);
    }
    for id in 0..v {
        for c in 0..e {
            let num = numeric(&mut weight, id * e + c, 1e-2, &mut loss);
            let ana = grad
                .slot_of(id as u32)
                .map_or(0.0, |s| grad.grad[s * e + c]);
            if id == 0 {
                // <pad> inside a text contributes to the loss but its row is never trained.
                assert!(grad.slot_of(0).is_none());
                continue;
            }
            close(ana, num, &format!("embedding[{id}, {c}]"));
        }
    }
}

#[test]
fn conv_forward_matches_naive_convolution() {
    let (e, h, maps, rows) = (5, 3, 4, 9);
    let mut g = Gen(2);
    let x = g.vec(rows * e);
    let w = g.vec(maps * h * e);
    let nw = rows - h + 1;
    let mut out = vec![0.0; nw * maps];
    conv_forward(&x, e, h, nw, &w, maps, &mut out, gemm::Parallelism::None);
    for t in 0..nw {
        for f in 0..maps {
            let mut s = 0.0f64;
            for i in 0..h {
                for c in 0..e {
                    s += x[(t + i) * e + c] as f64 * w[f * h * e + i * e + c] as f64;
                }
            }
            assert!(
                (out[t * maps + f] as f64 - s).abs() < 1e-5,
                "out[{t}, {f}] = {} vs {s}",
                out[t * maps + f]
            );
        }
    }
}

#[test]
fn conv_gradient_at_selected_windows_matches_finite_differences() {
    // Loss = Σ_f dout[f] · out[sel[f], f]: exactly the gradient max-pooling passes back.
    let (e, h, maps, rows) = (4, 3, 5, 8);
    let mut g = Gen(3);
    let mut x = g.vec(rows * e);
    let mut w = g.vec(maps * h * e);
    let nw = rows - h + 1;
    let sel = [0u32, 5, 2, 5, 3];
    let dout = [0.7f32, -1.3, 0.0, 0.4, 2.0];
    let loss = |x: &[f32], w: &[f32]| {
        let mut out = vec![0.0; nw * maps];
        conv_forward(x, e, h, nw, w, maps, &mut out, gemm::Parallelism::None);
        (0..maps)
            .map(|f| dout[f] as f64 * out[sel[f] as usize * maps + f] as f64)
            .sum::<f64>()
    };
    let mut dw = vec![0.0; maps * h * e];
    let xr = x.clone();
    conv_backward_weight(&mut dw, e, h, 1, &sel, &dout, maps, |_, p| {
        &xr[p * e..(p + 1) * e]
    });
    let mut dx = vec![0.0; rows * e];
    conv_backward_input(&mut dx, e, h, &w, &sel, &dout);
    let wc = w.clone();
    for i in 0..x.len() {
        let num = numeric(&mut x, i, 1e-2, &mut |x| loss(x, &wc));
        close(dx[i], num, &format!("dx[{i}]"));
    }
    for i in 0..w.len() {
        let num = numeric(&mut w, i, 1e-2, &mut |w| loss(&xr, w));
        close(dw[i], num, &format!("dw[{i}]"));
    }
    // Input gradient for a shortened example: taps on padding rows are dropped.
    let mut dx_short = vec![0.0; 6 * e];
    conv_backward_input(&mut dx_short, e, h, &w, &sel, &dout);
    assert_eq!(&dx_short[..], &dx[..6 * e]);
}

#[test]
fn pool_forward_backward() {
    let maps = 3;
    // 4 windows, only the first 3 valid; window 3 holds a huge value that must never win.
    let conv = [
        0.1f32, -2.0, 0.5, //
        0.9, -1.5, 0.2, //
        0.3, -1.0, 0.8, //
        99.0, 99.0, 99.0,
    ];
    let bias = [0.05f32, 0.2, -0.9];
    let mut pooled = [0.0; 3];
    let mut argmax = [0u32; 3];
    bias_relu_max_pool_forward(&conv, maps, 3, &bias, &mut pooled, &mut argmax);
    assert_eq!(argmax, [1, 2, 2]);
    assert!(
        (pooled[0] - 0.95).abs() < 1e-6 && pooled[1] == 0.0 && pooled[2] == 0.0,
        "{pooled:?}"
    );
    let mut dconv = [0.0; 3];
    relu_max_pool_backward(&pooled, &[1.0, 2.0, 3.0], &mut dconv);
    assert_eq!(dconv, [1.0, 0.0, 0.0]);

    // Finite differences of Σ w·pooled w.r.t. the conv output and the bias.
    let mut g = Gen(4);
    let (nw, maps) = (6, 5);
    let mut conv = g.vec(nw * maps);
    let mut bias = g.vec(maps);
    let wout = g.vec(maps);
    let fwd = |conv: &[f32], bias: &[f32]| {
        let mut p = vec![0.0; maps];
        let mut a = vec![0u32; maps];
        bias_relu_max_pool_forward(conv, maps, nw, bias, &mut p, &mut a);
        (p, a)
    };
    let (p, a) = fwd(&conv, &bias);
    let mut dc = vec![0.0; maps];
    relu_max_pool_backward(&p, &wout, &mut dc);
    let mut db = vec![0.0; maps];
    bias_backward(&mut db, &dc, 1, maps);
    let bc = bias.clone();
    for i in 0..conv.len() {
        let (t, f) = (i / maps, i % maps);
        let ana = if a[f] as usize == t { dc[f] } else { 0.0 };
        let num = numeric(&mut conv, i, 1e-3, &mut |c| wsum(&fwd(c, &bc).0, &wout));
        close(ana, num, &format!("dconv[{t}, {f}]"));
    }
    let cc = conv.clone();
    for f in 0..maps {
        let num = numeric(&mut bias, f, 1e-3, &mut |b| wsum(&fwd(&cc, b).0, &wout));
        close(db[f], num, &format!("dbias[{f}]"));
    }
}

#[test]
fn dropout_is_inverted_seeded_and_has_the_right_rate() {
    let n = 100_000;
    let mut x = vec![1.0f32; n];
    let mut mask = vec![0.0; n];
    dropout_forward(&mut x, &mut mask, 0.5, 7);
    let kept = mask.iter().filter(|&&m| m != 0.0).count();
    assert!((kept as f64 / n as f64 - 0.5).abs() < 0.01, "kept {kept}");
    assert!(mask.iter().all(|&m| m == 0.0 || m == 2.0));
    assert_eq!(x, mask);
    let mut x2 = vec![1.0f32; n];
    let mut mask2 = vec![0.0; n];
    dropout_forward(&mut x2, &mut mask2, 0.5, 7);
    assert_eq!(mask, mask2, "same seed, same mask");
    dropout_forward(&mut x2, &mut mask2, 0.5, 8);
    assert_ne!(mask, mask2, "different seed, different mask");
    let mut dy = vec![3.0f32; n];
    dropout_backward(&mut dy, &mask);
    assert!(dy.iter().zip(&mask).all(|(&d, &m)| d == 3.0 * m));
    let mut x3 = vec![1.5f32; 10];
    dropout_forward(&mut x3, &mut [0.0; 10], 0.0, 1);
    assert!(x3.iter().all(|&v| v == 1.5));
}

#[test]
fn dense_gradient_matches_finite_differences() {
    let (b, i, o) = (3, 5, 4);
    let mut g = Gen(5);
    let mut x = g.vec(b * i);
    let mut w = g.vec(o * i);
    let mut bias = g.vec(o);
    let wout = g.vec(b * o);
    let loss = |x: &[f32], w: &[f32], bias: &[f32]| {
        let mut y = vec![0.0; b * o];
        dense_forward(x, w, bias, i, o, &mut y);
        wsum(&y, &wout)
    };
    let (mut dw, mut db, mut dx) = (vec![0.0; o * i], vec![0.0; o], vec![0.0; b * i]);
    dense_backward(&wout, &x, &w, i, o, &mut dw, &mut db, &mut dx);
    let (x0, w0, b0) = (x.clone(), w.clone(), bias.clone());
    for k in 0..x.len() {
        let num = numeric(&mut x, k, 1e-2, &mut |x| loss(x, &w0, &b0));
        close(dx[k], num, &format!("dx[{k}]"));
    }
    for k in 0..w.len() {
        let num = numeric(&mut w, k, 1e-2, &mut |w| loss(&x0, w, &b0));
        close(dw[k], num, &format!("dw[{k}]"));
    }
    for k in 0..o {
        let num = numeric(&mut bias, k, 1e-2, &mut |bb| loss(&x0, &w0, bb));
        close(db[k], num, &format!("db[{k}]"));
    }
}

#[test]
fn softmax_cross_entropy_values_gradient_and_stability() {
    let mut d = vec![0.0; 4];
    let (l, correct) = softmax_cross_entropy(&[0.0, 0.0, 1.0, 3.0], &[0, 1], 2, &mut d);
    let expect = (2f64.ln() + (1.0 + (-2f64).exp()).ln()) / 2.0;
    assert!((l as f64 - expect).abs() < 1e-6, "{l} vs {expect}");
    assert_eq!(correct, 2, "ties go to the first class");
    // Huge logits: no overflow.
    let (l, _) = softmax_cross_entropy(&[1000.0, -1000.0, 500.0], &[2], 3, &mut [0.0; 3]);
    assert!((l - 500.0).abs() < 1e-3, "{l}");

    let (b, c) = (3, 4);
    let mut g = Gen(6);
    let mut z: Vec<f32> = g.vec(b * c).iter().map(|v| v * 3.0).collect();
    let labels = [2u32, 0, 3];
    let mut dz = vec![0.0; b * c];
    softmax_cross_entropy(&z, &labels, c, &mut dz);
    for k in 0..z.len() {
        let num = numeric(&mut z, k, 1e-2, &mut |z| {
            softmax_cross_entropy(z, &labels, c, &mut vec![0.0; b * c]).0 as f64
        });
        close(dz[k], num, &format!("dlogits[{k}]"));
    }
}

fn cfg(kind: OptimizerKind, lr: f32, wd: f32) -> OptimizerConfig {
    OptimizerConfig {
        kind,
        lr,
        weight_decay: wd,
        ..OptimizerConfig::default()
    }
}

#[test]
fn optimizer_updates_match_hand_computed_values() {
    // Adam, step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g² → p -= lr · g / (|g| + eps).
    let c = StepConsts::new(&cfg(OptimizerKind::Adam, 0.1, 0.0), 1, 1.0);
    let (mut p, mut m, mut v) = ([1.0f32, -2.0], [0.0; 2], [0.0; 2]);
    update_slice(&c, &mut p, &[0.5, -4.0], &mut m, &mut v);
    assert!(
        (p[0] - 0.9).abs() < 1e-6 && (p[1] + 1.9).abs() < 1e-6,
        "{p:?}"
    );
    assert!((m[0] - 0.05).abs() < 1e-6 && (v[1] - 0.016).abs() < 1e-6);
    // AdamW: decay first, decoupled: p = 1·(1 − 0.1·0.5) − 0.1.
    let c = StepConsts::new(&cfg(OptimizerKind::Adamw, 0.1, 0.5), 1, 1.0);
    let (mut p, mut m, mut v) = ([1.0f32], [0.0], [0.0]);
    update_slice(&c, &mut p, &[2.0], &mut m, &mut v);
    assert!((p[0] - 0.85).abs() < 1e-6, "{p:?}");
    // SGD momentum 0.9, wd 0.1: step 1 buf = g + wd·p = 1.1, p = 0.89; step 2 buf = 0.9·1.1 + 1.089.
    let c = StepConsts::new(&cfg(OptimizerKind::Sgd, 0.1, 0.1), 1, 1.0);
    let (mut p, mut b) = ([1.0f32], [0.0]);
    update_slice(&c, &mut p, &[1.0], &mut b, &mut []);
    assert!((p[0] - 0.89).abs() < 1e-6);
    update_slice(&c, &mut p, &[1.0], &mut b, &mut []);
    assert!((b[0] - (0.99 + 1.089)).abs() < 1e-6 && (p[0] - (0.89 - 0.1 * 2.079)).abs() < 1e-6);
    // Adadelta step 1 with g = 1: sq = 0.05, delta = sqrt(1e-6)/sqrt(0.05 + 1e-6).
    let c = StepConsts::new(&cfg(OptimizerKind::Adadelta, 1.0, 0.0), 1, 1.0);
    let (mut p, mut s, mut a) = ([0.0f32], [0.0], [0.0]);
    update_slice(&c, &mut p, &[1.0], &mut s, &mut a);
    let delta = (1e-6f64).sqrt() / (0.05f64 + 1e-6).sqrt();
    assert!(
        (p[0] as f64 + delta).abs() < 1e-8 && (a[0] as f64 - 0.05 * delta * delta).abs() < 1e-10
    );
    // Clipping factor scales the gradient.
    assert_eq!(clip_factor(0.5, 1.0), 1.0);
    assert!((clip_factor(10.0, 1.0) - 0.1).abs() < 1e-6);
}

#[test]
fn lazy_row_updates_touch_only_listed_rows() {
    let c = StepConsts::new(&OptimizerConfig::default(), 1, 1.0);
    let width = 3;
    let mut p = vec![1.0f32; 6 * width];
    let (mut m, mut v) = (vec![0.0; 6 * width], vec![0.0; 6 * width]);
    update_rows(
        &c,
        &mut p,
        width,
        &[4, 1],
        &[1.0, 1.0, 1.0, -1.0, -1.0, -1.0],
        &mut m,
        &mut v,
    );
    for r in 0..6 {
        let expect = match r {
            4 => 1.0 - 1e-3,
            1 => 1.0 + 1e-3,
            _ => 1.0,
        };
        for k in 0..width {
            assert!(
                (p[r * width + k] - expect).abs() < 1e-6,
                "row {r}: {}",
                p[r * width + k]
            );
            assert_eq!(m[r * width + k] == 0.0, r != 4 && r != 1);
        }
    }
}

#[test]
fn max_norm_rescales_long_rows_only() {
    let mut w = [3.0f32, 4.0, 0.3, 0.4];
    apply_max_norm(&mut w, 2, 3.0);
    assert!((w[0] - 1.8).abs() < 1e-6 && (w[1] - 2.4).abs() < 1e-6);
    assert_eq!(&w[2..], &[0.3, 0.4]);
}

#[test]
fn pool_wide_blocks_match_naive_max_with_first_argmax() {
    // 37 maps: two full 16-map blocks (the vectorized path) and a remainder of 5.
    let (nw, maps, n_valid) = (23, 37, 19);
    let mut g = Gen(9);
    // Coarse values so that ties happen; the first window holding the max must win.
    let conv: Vec<f32> = g.vec(nw * maps).iter().map(|v| (v * 4.0).round()).collect();
    let bias = g.vec(maps);
    let mut pooled = vec![0.0; maps];
    let mut argmax = vec![0u32; maps];
    bias_relu_max_pool_forward(&conv, maps, n_valid, &bias, &mut pooled, &mut argmax);
    let mut ties = 0;
    for f in 0..maps {
        let col: Vec<f32> = (0..n_valid).map(|t| conv[t * maps + f]).collect();
        let m = col.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let first = col.iter().position(|&v| v == m).unwrap();
        ties += (col.iter().filter(|&&v| v == m).count() > 1) as usize;
        assert_eq!(argmax[f] as usize, first, "map {f}");
        assert_eq!(pooled[f], (m + bias[f]).max(0.0), "map {f}");
    }
    assert!(ties > 5, "the data exercises ties ({ties})");
}
