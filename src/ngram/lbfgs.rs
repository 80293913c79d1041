//! Limited-memory BFGS (Nocedal & Wright 2006, *Numerical Optimization*, Algorithm 7.4 with a
//! backtracking Armijo line search) for the n-gram branch's logistic regressions.
//!
//! Every vector operation runs over fixed chunks of [`VCHUNK`] entries in parallel, sums added
//! in chunk order, so a minimisation is bit-identical for any thread count. The history pairs
//! are kept in f32 (see [`History`]).

use rayon::prelude::*;

use super::logreg::StopFlags;
use crate::nn::simd::simd_fn;

/// L-BFGS history length.
const MEMORY: usize = 7;

/// Entries per parallel chunk of the solver's vector operations (fixed, so sums do not depend
/// on the thread count).
pub(super) const VCHUNK: usize = 1 << 14;

/// Independent partial sums of [`dot`]: one AVX-512 register of f64 (two AVX2 ones).
const LANES: usize = 8;

/// `a · b` in f64 over one chunk: entry `j` goes to partial sum `j % LANES`, the partial sums
/// then added in order. A single running sum would wait on each addition's latency (about 4
/// cycles an entry); [`LANES`] sums vectorise. The order depends on the length only, so the
/// result does not depend on the thread count, and no instruction set fuses a multiply and an
/// add, so it does not depend on the CPU either.
#[inline(always)]
fn dot_lanes<A: Copy + Into<f64>, B: Copy + Into<f64>>(a: &[A], b: &[B]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; LANES];
    let (body_a, tail_a) = a.split_at(n / LANES * LANES);
    let (body_b, tail_b) = b.split_at(n / LANES * LANES);
    for (x, y) in body_a.chunks_exact(LANES).zip(body_b.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += x[l].into() * y[l].into();
        }
    }
    for (l, (&x, &y)) in tail_a.iter().zip(tail_b).enumerate() {
        acc[l] += x.into() * y.into();
    }
    acc.iter().sum()
}

simd_fn! {
    /// [`dot_lanes`] of two f64 slices, compiled for the CPU's vector instructions.
    fn dot_f64(a: &[f64], b: &[f64], out: &mut f64) {
        *out = dot_lanes(a, b);
    }
}

simd_fn! {
    /// [`dot_lanes`] of an f32 history vector and an f64 one.
    fn dot_f32_f64(a: &[f32], b: &[f64], out: &mut f64) {
        *out = dot_lanes(a, b);
    }
}

simd_fn! {
    /// [`dot_lanes`] of two f32 history vectors (in f64).
    fn dot_f32(a: &[f32], b: &[f32], out: &mut f64) {
        *out = dot_lanes(a, b);
    }
}

simd_fn! {
    /// `o += a * x` entry by entry (`x` widened to f64), compiled for the CPU's vector
    /// instructions (each entry on its own, so the same on every CPU).
    fn axpy_f32(o: &mut [f64], a: f64, x: &[f32]) {
        for (o, &x) in o.iter_mut().zip(x) {
            *o += a * f64::from(x);
        }
    }
}

/// The slice types [`dot`] takes: f64 · f64 and the f32 history with f32 or f64.
pub(super) trait Dot<B>: Sized {
    /// `a · b` (see [`dot_lanes`]).
    fn dot(a: &[Self], b: &[B]) -> f64;
}

impl Dot<f64> for f64 {
    fn dot(a: &[f64], b: &[f64]) -> f64 {
        let mut out = 0.0;
        dot_f64(a, b, &mut out);
        out
    }
}

impl Dot<f64> for f32 {
    fn dot(a: &[f32], b: &[f64]) -> f64 {
        let mut out = 0.0;
        dot_f32_f64(a, b, &mut out);
        out
    }
}

impl Dot<f32> for f32 {
    fn dot(a: &[f32], b: &[f32]) -> f64 {
        let mut out = 0.0;
        dot_f32(a, b, &mut out);
        out
    }
}

/// `a · b` in f64 over one chunk, in [`LANES`] partial sums (see [`dot_lanes`]).
pub(super) fn dot<A: Dot<B>, B>(a: &[A], b: &[B]) -> f64 {
    A::dot(a, b)
}

/// `a · b` in f64, summed per fixed chunk in parallel, the chunks' sums added in order.
fn pdot<A: Dot<B> + Sync, B: Sync>(a: &[A], b: &[B]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(VCHUNK)
        .zip(b.par_chunks(VCHUNK))
        .map(|(x, y)| dot(x, y))
        .collect();
    parts.iter().sum()
}

/// One pass over `d` in the fixed chunks of [`pdot`], in parallel: `f(range, chunk)` updates
/// the chunk (at `range` of `d`) and returns a dot product over it, taken after the update;
/// returns those dot products added in chunk order. A fused pass: a chunk is read from memory
/// once for its update and its dot product, where [`pzip`] and then [`pdot`] read it twice, and
/// every sum takes the same steps, so the results are the same bit for bit.
fn pass(d: &mut [f64], f: impl Fn(std::ops::Range<usize>, &mut [f64]) -> f64 + Sync) -> f64 {
    let parts: Vec<f64> = d
        .par_chunks_mut(VCHUNK)
        .enumerate()
        .map(|(i, c)| f(i * VCHUNK..i * VCHUNK + c.len(), c))
        .collect();
    parts.iter().sum()
}

/// `out[i] = f(out[i], a[i])`, in parallel over fixed chunks.
fn pzip<O: Send, A: Copy + Sync>(out: &mut [O], a: &[A], f: impl Fn(&O, A) -> O + Sync) {
    out.par_chunks_mut(VCHUNK)
        .zip(a.par_chunks(VCHUNK))
        .for_each(|(o, a)| {
            for (o, &a) in o.iter_mut().zip(a) {
                *o = f(o, a);
            }
        });
}

/// The accepted step, in one pass over fixed chunks in parallel: `s = new_theta - theta` and
/// `y = new_grad - grad` rounded to f32, `theta = new_theta`; returns `s · y` (in f64, summed as
/// [`pdot`] sums).
fn step_pair(
    s: &mut [f32],
    y: &mut [f32],
    theta: &mut [f64],
    new_theta: &[f64],
    grad: &[f64],
    new_grad: &[f64],
) -> f64 {
    let parts: Vec<f64> = s
        .par_chunks_mut(VCHUNK)
        .zip(y.par_chunks_mut(VCHUNK))
        .zip(theta.par_chunks_mut(VCHUNK))
        .enumerate()
        .map(|(i, ((s, y), t))| {
            let r = i * VCHUNK..i * VCHUNK + s.len();
            for ((o, a), b) in s.iter_mut().zip(&new_theta[r.clone()]).zip(&t[..]) {
                *o = (a - b) as f32;
            }
            for ((o, a), b) in y.iter_mut().zip(&new_grad[r.clone()]).zip(&grad[r.clone()]) {
                *o = (a - b) as f32;
            }
            t.copy_from_slice(&new_theta[r]);
            dot(s, y)
        })
        .collect();
    parts.iter().sum()
}

/// The L-BFGS memory: the last [`MEMORY`] steps `s`, gradient changes `y` (in f32: they only
/// shape the search direction, while the gradient and the stopping rule stay f64, and f32
/// halves the solver's largest buffers, 14 of `features × classes`) and `1 / (s · y)` of the
/// stored values, oldest first, their buffers reused once full.
#[derive(Default)]
struct History {
    s: Vec<Vec<f32>>,
    y: Vec<Vec<f32>>,
    rho: Vec<f64>,
}

impl History {
    fn clear(&mut self) {
        self.s.clear();
        self.y.clear();
        self.rho.clear();
    }

    /// Stores the pair in `s`, `y` (with `rho = 1 / (s · y)`), and leaves in them buffers for
    /// the next one: the oldest pair's once the memory is full.
    fn push(&mut self, s: &mut Vec<f32>, y: &mut Vec<f32>, rho: f64) {
        let dim = s.len();
        let (old_s, old_y) = if self.s.len() == MEMORY {
            self.rho.remove(0);
            (self.s.remove(0), self.y.remove(0))
        } else {
            (vec![0.0; dim], vec![0.0; dim])
        };
        self.s.push(std::mem::replace(s, old_s));
        self.y.push(std::mem::replace(y, old_y));
        self.rho.push(rho);
    }

    /// `d = -H g` by the two-loop recursion (Nocedal & Wright, Algorithm 7.4); returns the
    /// slope `g · d`. Each update of `d` is fused with the dot product the next step needs
    /// ([`pass`]): `2m + 1` passes over `d` instead of `4m + 2`, the same arithmetic.
    fn direction(&self, grad: &[f64], d: &mut [f64], alphas: &mut Vec<f64>) -> f64 {
        let m = self.s.len();
        alphas.clear();
        alphas.resize(m, 0.0);
        let gamma = match (self.s.last(), self.y.last()) {
            (Some(s), Some(y)) => pdot(s, y) / pdot(y, y),
            _ => 1.0 / pdot(grad, grad).sqrt().max(1e-12),
        };
        // `d = -g`, then the first loop from the newest pair: `alpha_i = rho_i s_i · d`,
        // `d -= alpha_i y_i`.
        let mut next = pass(d, |r, c| {
            for (o, &g) in c.iter_mut().zip(&grad[r.clone()]) {
                *o = -g;
            }
            m.checked_sub(1).map_or(0.0, |i| dot(&self.s[i][r], c))
        });
        for i in (0..m).rev() {
            alphas[i] = self.rho[i] * next;
            let a = alphas[i];
            next = pass(d, |r, c| {
                // `o - a·y` is `o + (-a)·y` exactly.
                axpy_f32(c, -a, &self.y[i][r.clone()]);
                i.checked_sub(1).map_or(0.0, |j| dot(&self.s[j][r], c))
            });
        }
        // `d *= gamma`, then the second loop from the oldest pair: `beta = rho_i y_i · d`,
        // `d += (alpha_i - beta) s_i`; the last pass takes the slope `g · d`.
        let after = |i: usize, r: std::ops::Range<usize>, c: &[f64]| match self.y.get(i) {
            Some(y) => dot(&y[r], c),
            None => dot(&grad[r], c),
        };
        next = pass(d, |r, c| {
            for o in c.iter_mut() {
                *o *= gamma;
            }
            after(0, r, c)
        });
        for (i, alpha) in alphas.iter().enumerate() {
            let a = *alpha - self.rho[i] * next;
            next = pass(d, |r, c| {
                axpy_f32(c, a, &self.s[i][r.clone()]);
                after(i + 1, r, c)
            });
        }
        next
    }
}

/// Minimises the objective `eval(theta, grad) -> value` (writing the gradient into `grad`)
/// from `theta` in place; returns the iterations run. Stops when the largest absolute gradient
/// entry falls below `tol`, after two iterations in a row that lowered the value by at most
/// 1e-7 of it, when the line search finds no decrease, after `max_iter` iterations, or (the
/// weights unfinished) once `stop` is set.
pub(super) fn lbfgs(
    mut eval: impl FnMut(&[f64], &mut [f64]) -> f64,
    theta: &mut [f64],
    max_iter: usize,
    tol: f64,
    stop: StopFlags,
) -> usize {
    let dim = theta.len();
    let mut grad = vec![0.0; dim];
    let mut f = eval(theta, &mut grad);
    let mut hist = History::default();
    let mut alphas = Vec::new();
    let mut d = vec![0.0; dim];
    let mut new_theta = vec![0.0; dim];
    let mut new_grad = vec![0.0; dim];
    let (mut s, mut yv) = (vec![0f32; dim], vec![0f32; dim]);
    let mut small_steps = 0;
    for iter in 0..max_iter {
        let gmax = grad
            .par_chunks(VCHUNK)
            .map(|c| c.iter().fold(0.0f64, |m, g| m.max(g.abs())))
            .reduce(|| 0.0, f64::max);
        if gmax < tol || stop.is_set() {
            return iter;
        }
        let mut slope = hist.direction(&grad, &mut d, &mut alphas);
        if slope >= 0.0 {
            // Not a descent direction (curvature went wrong): restart from steepest descent.
            hist.clear();
            let norm = pdot(&grad, &grad).sqrt().max(1e-12);
            pzip(&mut d, &grad, |_, g| -g / norm);
            slope = pdot(&grad, &d);
        }
        // Backtracking line search with the Armijo condition.
        let mut step = 1.0;
        let mut new_f;
        let mut tries = 0;
        loop {
            new_theta
                .par_chunks_mut(VCHUNK)
                .zip(theta.par_chunks(VCHUNK).zip(d.par_chunks(VCHUNK)))
                .for_each(|(o, (t, d))| {
                    for ((o, &t), &dj) in o.iter_mut().zip(t).zip(d) {
                        *o = t + step * dj;
                    }
                });
            new_f = eval(&new_theta, &mut new_grad);
            if new_f <= f + 1e-4 * step * slope || tries >= 30 {
                break;
            }
            step *= 0.5;
            tries += 1;
        }
        if new_f > f {
            return iter + 1;
        }
        let sy = step_pair(&mut s, &mut yv, theta, &new_theta, &grad, &new_grad);
        std::mem::swap(&mut grad, &mut new_grad);
        let decrease = f - new_f;
        f = new_f;
        if sy > 1e-12 {
            hist.push(&mut s, &mut yv, 1.0 / sy);
        }
        // Two iterations in a row with a negligible decrease: converged for our purposes.
        if decrease <= 1e-7 * f.abs().max(1e-12) {
            if small_steps == 1 {
                return iter + 1;
            }
            small_steps = 1;
        } else {
            small_steps = 0;
        }
    }
    max_iter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_dot_products_are_exact_on_integers_for_every_tail_length() {
        // Integer entries: every partial sum is exact, so any lost or doubled entry (body or
        // tail) shows; lengths 0..=20 cover empty, tail-only and body-plus-tail slices.
        for n in 0..=20usize {
            let a: Vec<f64> = (1..=n).map(|i| i as f64).collect();
            let b: Vec<f64> = (1..=n).map(|i| (i % 3) as f64 - 1.0).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
            let b32: Vec<f32> = b.iter().map(|&v| v as f32).collect();
            assert_eq!(dot(&a, &b), want, "f64, n = {n}");
            assert_eq!(dot(&a32, &b), want, "f32 · f64, n = {n}");
            assert_eq!(dot(&a32, &b32), want, "f32, n = {n}");
        }
    }

    #[test]
    fn lanes_sum_in_a_fixed_order() {
        // 1e16 + 1 rounds the first 1 away in one running sum (which ends at 1); in lanes the
        // ones (entries 1 and 9)
        // share lane 1 and survive: lane 0 holds 1e16 - 1e16 = 0, lane 1 holds 2.
        let mut a = vec![0.0f64; 10];
        a[0] = 1e16;
        a[1] = 1.0;
        a[8] = -1e16;
        a[9] = 1.0;
        let ones = vec![1.0f64; 10];
        assert_eq!(dot(&a, &ones), 2.0);
        let running: f64 = a.iter().sum();
        assert_eq!(running, 1.0);
    }

    #[test]
    fn minimises_a_quadratic_to_its_known_optimum() {
        // f(x) = Σ c_i (x_i - i mod 7)^2 with c_i from 1 to 10: optimum x_i = i mod 7, over
        // more entries than one chunk so every fused pass crosses chunks.
        let n = VCHUNK + 1000;
        let c: Vec<f64> = (0..n).map(|i| 1.0 + (i % 10) as f64).collect();
        let eval = |x: &[f64], g: &mut [f64]| {
            let mut f = 0.0;
            for i in 0..x.len() {
                let r = x[i] - (i % 7) as f64;
                f += c[i] * r * r;
                g[i] = 2.0 * c[i] * r;
            }
            f
        };
        let mut x = vec![0.0; n];
        let iters = lbfgs(eval, &mut x, 500, 1e-8, StopFlags::default());
        assert!(iters < 500, "converged");
        for (i, v) in x.iter().enumerate() {
            assert!((v - (i % 7) as f64).abs() < 1e-6, "x[{i}] = {v}");
        }
    }
}
