//! Limited-memory BFGS (Nocedal & Wright 2006, *Numerical Optimization*, Algorithm 7.4 with a
//! backtracking Armijo line search) for the n-gram branch's logistic regressions.
//!
//! Every vector operation runs over fixed chunks of [`VCHUNK`] entries in parallel, sums added
//! in chunk order, so a minimisation is bit-identical for any thread count. The history pairs
//! are kept in f32 (see [`History`]).

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

/// L-BFGS history length.
const MEMORY: usize = 7;

/// Entries per parallel chunk of the solver's vector operations (fixed, so sums do not depend
/// on the thread count).
pub(super) const VCHUNK: usize = 1 << 14;

/// `a · b` in f64, summed per fixed chunk in parallel, the chunks' sums added in order.
fn pdot<A: Copy + Into<f64> + Sync, B: Copy + Into<f64> + Sync>(a: &[A], b: &[B]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(VCHUNK)
        .zip(b.par_chunks(VCHUNK))
        .map(|(x, y)| x.iter().zip(y).map(|(&x, &y)| x.into() * y.into()).sum())
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

/// `out = (a - b)` rounded to f32, in parallel over fixed chunks.
fn pdiff32(out: &mut [f32], a: &[f64], b: &[f64]) {
    out.par_chunks_mut(VCHUNK)
        .zip(a.par_chunks(VCHUNK).zip(b.par_chunks(VCHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, a), b) in o.iter_mut().zip(a).zip(b) {
                *o = (a - b) as f32;
            }
        });
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

    /// `d = -H g` by the two-loop recursion (Nocedal & Wright, Algorithm 7.4).
    fn direction(&self, grad: &[f64], d: &mut [f64], alphas: &mut Vec<f64>) {
        pzip(d, grad, |_, g: f64| -g);
        alphas.clear();
        alphas.resize(self.s.len(), 0.0);
        for i in (0..self.s.len()).rev() {
            alphas[i] = self.rho[i] * pdot(&self.s[i], d);
            let a = alphas[i];
            pzip(d, &self.y[i], |dj, yj| dj - a * f64::from(yj));
        }
        let gamma = match (self.s.last(), self.y.last()) {
            (Some(s), Some(y)) => pdot(s, y) / pdot(y, y),
            _ => 1.0 / pdot(grad, grad).sqrt().max(1e-12),
        };
        pzip(d, grad, |dj, _| dj * gamma);
        for (((s, y), rho), alpha) in self.s.iter().zip(&self.y).zip(&self.rho).zip(alphas) {
            let a = *alpha - rho * pdot(y, d);
            pzip(d, s, |dj, sj| dj + a * f64::from(sj));
        }
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
    stop: Option<&AtomicBool>,
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
        let gmax = grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        if gmax < tol || stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            return iter;
        }
        hist.direction(&grad, &mut d, &mut alphas);
        let mut slope = pdot(&grad, &d);
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
            new_theta.copy_from_slice(theta);
            pzip(&mut new_theta, &d, |t, dj| t + step * dj);
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
        pdiff32(&mut s, &new_theta, theta);
        pdiff32(&mut yv, &new_grad, &grad);
        let sy = pdot(&s, &yv);
        theta.copy_from_slice(&new_theta);
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
