//! Finite-difference gradient checks and reference values for the conv2d layers:
//! `nn::conv2d` (im2col + GEMM and direct), `nn::pool2d` (max, average, ReLU) and
//! `nn::dense_gemm` (against `nn::dense`).
//!
//! Tolerances as in `tests/nn_layers.rs`: f32 layers, f64 test losses, central differences; the
//! convolution and dense layers are linear in each parameter and input (difference exact up to
//! f32 rounding, ≈ 1e-5 after dividing by 2ε = 2e-2), pooling and ReLU are piecewise linear and
//! the test data keeps ε = 1e-3 away from ties and kinks. Bound `|a − n| ≤ 2e-3 + 2e-3·|a|`.

#![allow(clippy::needless_range_loop)]

use crate::common::{Gen, close, numeric, wsum};
use textcnn::nn::conv2d::{col2im, conv2d_backward, conv2d_forward, conv2d_forward_direct, im2col};
use textcnn::nn::dense::{dense_backward, dense_forward};
use textcnn::nn::dense_gemm::{dense_gemm_backward, dense_gemm_forward};
use textcnn::nn::pool2d::{
    avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward,
    relu_backward, relu_forward,
};
use textcnn::nn::thread_pool;

/// Naive 'same' convolution straight from the definition (PyTorch `padding="same"`).
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f32],
    c_in: usize,
    h: usize,
    w: usize,
    k: usize,
    weight: &[f32],
    bias: &[f32],
    c_out: usize,
) -> Vec<f32> {
    let pad = (k - 1) / 2;
    let mut out = vec![0.0; c_out * h * w];
    for o in 0..c_out {
        for y in 0..h {
            for xo in 0..w {
                let mut s = bias[o] as f64;
                for c in 0..c_in {
                    for i in 0..k {
                        for j in 0..k {
                            let (sy, sx) = (y + i, xo + j);
                            if sy < pad || sx < pad || sy - pad >= h || sx - pad >= w {
                                continue;
                            }
                            s += weight[((o * c_in + c) * k + i) * k + j] as f64
                                * x[(c * h + sy - pad) * w + sx - pad] as f64;
                        }
                    }
                }
                out[(o * h + y) * w + xo] = s as f32;
            }
        }
    }
    out
}

#[test]
fn conv2d_forward_im2col_and_direct_match_the_definition() {
    let mut g = Gen(1);
    for &(c_in, h, w, k, c_out) in &[
        (1, 5, 4, 3, 2),
        (2, 4, 6, 2, 3),
        (3, 3, 3, 5, 2),
        (1, 1, 7, 3, 1),
    ] {
        let x = g.vec(c_in * h * w);
        let weight = g.vec(c_out * c_in * k * k);
        let bias = g.vec(c_out);
        let expect = naive_conv(&x, c_in, h, w, k, &weight, &bias, c_out);
        let mut col = vec![0.0; c_in * k * k * h * w];
        let mut out = vec![0.0; c_out * h * w];
        conv2d_forward(&x, c_in, h, w, k, &weight, &bias, c_out, &mut col, &mut out);
        let mut direct = vec![0.0; c_out * h * w];
        conv2d_forward_direct(&x, c_in, h, w, k, &weight, &bias, c_out, &mut direct);
        for i in 0..expect.len() {
            assert!(
                (out[i] - expect[i]).abs() < 1e-5,
                "im2col {i}: {} vs {}",
                out[i],
                expect[i]
            );
            assert!((direct[i] - expect[i]).abs() < 1e-5, "direct {i}");
        }
    }
}

#[test]
fn col2im_is_the_adjoint_of_im2col() {
    // <im2col(x), r> == <x, col2im(r)> for random x, r.
    let mut g = Gen(2);
    let (c, h, w, k) = (2, 5, 4, 3);
    let x = g.vec(c * h * w);
    let r = g.vec(c * k * k * h * w);
    let mut col = vec![0.0; r.len()];
    im2col(&x, c, h, w, k, &mut col);
    let mut back = vec![0.0; x.len()];
    col2im(&r, c, h, w, k, &mut back);
    assert!((wsum(&col, &r) - wsum(&x, &back)).abs() < 1e-4);
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    let mut g = Gen(3);
    for &(c_in, h, w, k, c_out) in &[(1, 4, 5, 3, 2), (2, 3, 4, 2, 3)] {
        let mut x = g.vec(c_in * h * w);
        let mut weight = g.vec(c_out * c_in * k * k);
        let mut bias = g.vec(c_out);
        let r = g.vec(c_out * h * w); // loss = Σ out · r
        let n_col = c_in * k * k * h * w;
        let fwd = |x: &[f32], wt: &[f32], b: &[f32]| {
            let mut col = vec![0.0; n_col];
            let mut out = vec![0.0; c_out * h * w];
            conv2d_forward(x, c_in, h, w, k, wt, b, c_out, &mut col, &mut out);
            wsum(&out, &r)
        };
        let mut dw = vec![0.0; weight.len()];
        let mut db = vec![0.0; c_out];
        let mut dx = vec![0.0; x.len()];
        let (mut col, mut dcol) = (vec![0.0; n_col], vec![0.0; n_col]);
        conv2d_backward(
            &x,
            c_in,
            h,
            w,
            k,
            &weight,
            c_out,
            &r,
            &mut dw,
            &mut db,
            Some(&mut dx),
            &mut col,
            &mut dcol,
        );
        let eps = 1e-2;
        for i in 0..weight.len() {
            let (xc, bc) = (x.clone(), bias.clone());
            let n = numeric(&mut weight, i, eps, &mut |wt| fwd(&xc, wt, &bc));
            close(dw[i], n, &format!("dweight[{i}]"));
        }
        for i in 0..c_out {
            let (xc, wc) = (x.clone(), weight.clone());
            let n = numeric(&mut bias, i, eps, &mut |b| fwd(&xc, &wc, b));
            close(db[i], n, &format!("dbias[{i}]"));
        }
        for i in 0..x.len() {
            let (wc, bc) = (weight.clone(), bias.clone());
            let n = numeric(&mut x, i, eps, &mut |xv| fwd(xv, &wc, &bc));
            close(dx[i], n, &format!("dx[{i}]"));
        }
        // Accumulation: a second backward adds the same gradient again.
        let dw1 = dw.clone();
        conv2d_backward(
            &x, c_in, h, w, k, &weight, c_out, &r, &mut dw, &mut db, None, &mut col, &mut dcol,
        );
        for i in 0..dw.len() {
            assert!((dw[i] - 2.0 * dw1[i]).abs() < 1e-5);
        }
    }
}

/// Input whose values are all distinct and at least 0.01 apart (no ties within ε = 1e-3).
fn distinct(n: usize, seed: u64) -> Vec<f32> {
    let mut g = Gen(seed);
    let mut idx: Vec<(f32, usize)> = (0..n).map(|i| (g.f(), i)).collect();
    idx.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let mut x = vec![0.0; n];
    for (rank, (_, i)) in idx.into_iter().enumerate() {
        x[i] = rank as f32 * 0.01 - 0.3;
    }
    x
}

#[test]
fn max_pool2d_values_argmax_and_gradient() {
    // One 1×3×5 plane, p = 2: floor mode keeps 1×2 windows (rows 0-1, columns 0-3).
    let x = [
        1.0, 5.0, 2.0, 0.0, 9.0, //
        3.0, 4.0, 7.0, 7.0, 9.0, //
        8.0, 8.0, 8.0, 8.0, 8.0,
    ];
    let (mut y, mut am) = (vec![0.0; 2], vec![0u32; 2]);
    max_pool2d_forward(&x, 1, 3, 5, 2, &mut y, &mut am);
    assert_eq!(y, vec![5.0, 7.0]);
    assert_eq!(am, vec![1, 7]); // tie 7/7: the first in row-major window order
    let mut dx = vec![1.0; 15];
    max_pool2d_backward(&[0.5, -2.0], &am, 1, 3, 5, 2, &mut dx);
    let mut expect = vec![0.0; 15];
    expect[1] = 0.5;
    expect[7] = -2.0;
    assert_eq!(dx, expect);

    // Finite differences, p = 2 and p = 3, two channels.
    for &(c, h, w, p) in &[(2, 4, 6, 2), (2, 7, 6, 3)] {
        let mut x = distinct(c * h * w, 7 + p as u64);
        let (ho, wo) = (h / p, w / p);
        let r = Gen(9).vec(c * ho * wo);
        let loss = |x: &[f32]| {
            let (mut y, mut am) = (vec![0.0; c * ho * wo], vec![0u32; c * ho * wo]);
            max_pool2d_forward(x, c, h, w, p, &mut y, &mut am);
            wsum(&y, &r)
        };
        let (mut y, mut am) = (vec![0.0; c * ho * wo], vec![0u32; c * ho * wo]);
        max_pool2d_forward(&x, c, h, w, p, &mut y, &mut am);
        let mut dx = vec![0.0; x.len()];
        max_pool2d_backward(&r, &am, c, h, w, p, &mut dx);
        for i in 0..x.len() {
            let n = numeric(&mut x, i, 1e-3, &mut |v| loss(v));
            close(dx[i], n, &format!("max pool p={p} dx[{i}]"));
        }
    }
}

#[test]
fn avg_pool2d_values_and_gradient() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0f32]; // 1×3×3
    let mut y = vec![0.0; 1];
    avg_pool2d_forward(&x, 1, 3, 3, 2, &mut y);
    assert_eq!(y, vec![3.0]); // (1 + 2 + 4 + 5) / 4
    let (c, h, w, p) = (2, 5, 4, 2);
    let mut x = Gen(11).vec(c * h * w);
    let r = Gen(12).vec(c * (h / p) * (w / p));
    let loss = |x: &[f32]| {
        let mut y = vec![0.0; r.len()];
        avg_pool2d_forward(x, c, h, w, p, &mut y);
        wsum(&y, &r)
    };
    let mut dx = vec![7.0; x.len()];
    avg_pool2d_backward(&r, c, h, w, p, &mut dx);
    for i in 0..x.len() {
        let n = numeric(&mut x, i, 1e-2, &mut |v| loss(v));
        close(dx[i], n, &format!("avg pool dx[{i}]"));
    }
}

#[test]
fn relu_forward_backward() {
    let mut x = vec![-1.0, 0.0, 2.0, -0.5, 3.0];
    relu_forward(&mut x);
    assert_eq!(x, vec![0.0, 0.0, 2.0, 0.0, 3.0]);
    let mut d = vec![1.0; 5];
    relu_backward(&x, &mut d);
    assert_eq!(d, vec![0.0, 0.0, 1.0, 0.0, 1.0]);
}

#[test]
fn dense_gemm_matches_dense_and_is_thread_count_independent() {
    // in_features spans several CHUNKs so the chunked paths run.
    let (b, n_in, n_out) = (3, 2 * textcnn::nn::dense_gemm::CHUNK + 37, 5);
    let mut g = Gen(13);
    let x = g.vec(b * n_in);
    let weight = g.vec(n_out * n_in);
    let bias = g.vec(n_out);
    let dy = g.vec(b * n_out);
    let mut y_ref = vec![0.0; b * n_out];
    dense_forward(&x, &weight, &bias, n_in, n_out, &mut y_ref);
    let (mut dw_ref, mut db_ref, mut dx_ref) = (
        vec![0.0; n_out * n_in],
        vec![0.0; n_out],
        vec![0.0; b * n_in],
    );
    dense_backward(
        &dy,
        &x,
        &weight,
        n_in,
        n_out,
        &mut dw_ref,
        &mut db_ref,
        &mut dx_ref,
    );
    let run = |threads: usize| {
        thread_pool(threads).install(|| {
            let mut y = vec![0.0; b * n_out];
            dense_gemm_forward(&x, &weight, &bias, b, n_in, n_out, &mut y);
            let (mut dw, mut db, mut dx) = (
                vec![9.0; n_out * n_in],
                vec![9.0; n_out],
                vec![9.0; b * n_in],
            );
            dense_gemm_backward(
                &dy,
                &x,
                &weight,
                b,
                n_in,
                n_out,
                &mut dw,
                &mut db,
                Some(&mut dx),
            );
            (y, dw, db, dx)
        })
    };
    let one = run(1);
    assert_eq!(one, run(2), "results depend on the thread count");
    let (y, dw, db, dx) = one;
    let near = |a: &[f32], b: &[f32], what: &str| {
        for (i, (&u, &v)) in a.iter().zip(b).enumerate() {
            assert!(
                (u - v).abs() <= 1e-4 + 1e-4 * v.abs(),
                "{what}[{i}]: {u} vs {v}"
            );
        }
    };
    near(&y, &y_ref, "y");
    near(&dw, &dw_ref, "dweight");
    near(&db, &db_ref, "dbias");
    near(&dx, &dx_ref, "dx");
}
