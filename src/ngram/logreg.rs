//! Multinomial logistic regression with L2 penalty on sparse features, fitted by L-BFGS
//! (Nocedal & Wright 2006, *Numerical Optimization*, Algorithm 7.4 with a backtracking Armijo
//! line search), as scikit-learn's `LogisticRegression(solver="lbfgs")` does.
//!
//! Objective, for `n` documents `x_i` with classes `y_i` and weights `W [features, classes]`,
//! bias `b [classes]` (not penalised):
//! `f(W, b) = (1/n) * (sum_i CE(softmax(x_i W + b), y_i) + ||W||^2 / (2 C))`,
//! the same minimiser as scikit-learn's `C * sum_i CE_i + ||W||^2 / 2`. Two classes are solved as
//! one binary logistic regression with `2 C`, the same optimum at half the work
//! ([`LogReg::fit_scaled`]).
//!
//! Every sum runs over fixed chunks in a fixed order, so a fit is bit-identical for any thread
//! count.

use std::borrow::Cow;

use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

use super::lbfgs::{VCHUNK, dot, lbfgs};
use crate::nn::simd::simd_fn;

/// Documents per parallel chunk (fixed, so results do not depend on the thread count).
const CHUNK: usize = 512;

/// A sparse matrix `[rows, cols]` in compressed sparse row form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Csr {
    pub rows: usize,
    pub cols: usize,
    /// Start of each row in `indices`/`values`; `rows + 1` entries.
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl Csr {
    /// Builds a matrix from rows of `(column, value)` (columns below `cols`).
    pub fn from_rows(rows: &[Vec<(u32, f32)>], cols: usize) -> Csr {
        let mut m = Csr {
            rows: rows.len(),
            cols,
            indptr: Vec::with_capacity(rows.len() + 1),
            ..Csr::default()
        };
        m.indptr.push(0);
        for r in rows {
            for &(c, v) in r {
                debug_assert!((c as usize) < cols);
                m.indices.push(c);
                m.values.push(v);
            }
            m.indptr.push(m.indices.len());
        }
        m
    }

    /// Entries of row `r` as `(columns, values)`.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// Rows `range` as a matrix of their own (same columns).
    pub fn slice_rows(&self, range: std::ops::Range<usize>) -> Csr {
        let (a, b) = (self.indptr[range.start], self.indptr[range.end]);
        Csr {
            rows: range.len(),
            cols: self.cols,
            indptr: self.indptr[range.clone()]
                .iter()
                .chain(std::iter::once(&b))
                .map(|p| p - a)
                .collect(),
            indices: self.indices[a..b].to_vec(),
            values: self.values[a..b].to_vec(),
        }
    }

    /// The transpose `[cols, rows]` (column-sorted rows become row-sorted columns).
    pub fn transpose(&self) -> Csr {
        let mut counts = vec![0usize; self.cols + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for i in 0..self.cols {
            counts[i + 1] += counts[i];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.indices.len()];
        let mut values = vec![0f32; self.values.len()];
        for r in 0..self.rows {
            let (cs, vs) = self.row(r);
            for (&c, &v) in cs.iter().zip(vs) {
                let at = next[c as usize];
                indices[at] = r as u32;
                values[at] = v;
                next[c as usize] += 1;
            }
        }
        Csr {
            rows: self.cols,
            cols: self.rows,
            indptr,
            indices,
            values,
        }
    }
}

/// A fitted linear classifier: `logits = x W + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogReg {
    /// `[features, classes]`, row-major.
    pub weights: Vec<f32>,
    /// `[classes]`.
    pub bias: Vec<f32>,
    pub classes: usize,
}

/// Up to two flags that stop a fit at its next iteration when either is set: a run's Ctrl-C
/// flag and the halt its caller raises (the n-gram branch is fitted beside the CNN, and stops
/// when the CNN's epochs fail).
#[derive(Clone, Copy, Debug, Default)]
pub struct StopFlags<'a>([Option<&'a AtomicBool>; 2]);

impl<'a> StopFlags<'a> {
    /// The flags `first` and `second`, each optional.
    pub fn new(first: Option<&'a AtomicBool>, second: Option<&'a AtomicBool>) -> StopFlags<'a> {
        StopFlags([first, second])
    }

    /// Whether a flag is set.
    pub fn is_set(&self) -> bool {
        self.0.iter().flatten().any(|f| f.load(Ordering::SeqCst))
    }
}

/// Settings of one fit.
#[derive(Clone, Copy, Debug)]
pub struct LogRegFit<'a> {
    /// Inverse regularisation strength (scikit-learn's `C`).
    pub c: f64,
    /// Iteration cap (default 100, scikit-learn's `LogisticRegression` default). Every fit of
    /// the development suite's sets converges in fewer iterations (at most 86); on many short
    /// texts the fits reach the cap, and running them on to 200 iterations changed nothing that
    /// validation could see: `bench/scale.py`'s IMDB sentences, `--arch ngram`, scored test
    /// accuracy 0.7046 / 0.7256 / 0.7481 with a cap of 200 and 0.7048 / 0.7257 / 0.7483 with
    /// 100, at 50,000 / 150,000 / 500,000 training texts, the fits' time halved.
    pub max_iter: usize,
    /// Stop when the largest absolute gradient entry falls below this.
    pub tol: f64,
    /// Flags that end the fit at its next iteration when one is set (Ctrl-C; the failure of
    /// the CNN trained beside it): the weights are then unfinished, for a caller that drops them.
    pub stop: StopFlags<'a>,
    /// The transpose of the fit's matrix `x` (`x.transpose()`, `[features, rows]`) when the
    /// caller already has it: fits of one `C` path share it instead of each building its own.
    /// Its shape is checked against `x`.
    pub xt: Option<&'a Csr>,
}

impl Default for LogRegFit<'_> {
    fn default() -> Self {
        LogRegFit {
            c: 10.0,
            max_iter: 100,
            tol: 1e-5,
            stop: StopFlags::default(),
            xt: None,
        }
    }
}

impl LogReg {
    /// All-zero weights.
    pub fn zeros(features: usize, classes: usize) -> LogReg {
        LogReg {
            weights: vec![0.0; features * classes],
            bias: vec![0.0; classes],
            classes,
        }
    }

    /// These weights moved to the columns of featurizer `to` (from those of `from`, matched by
    /// n-gram); n-grams `to` has and `from` lacks start at zero. A warm start for a refit on
    /// more data.
    pub fn remap(&self, from: &super::NgramFeaturizer, to: &super::NgramFeaturizer) -> LogReg {
        let k = self.classes;
        let mut out = LogReg::zeros(to.num_features(), k);
        out.bias.copy_from_slice(&self.bias);
        for (c, target) in from.column_map(to).into_iter().enumerate() {
            if let Some(t) = target {
                let t = t as usize;
                out.weights[t * k..(t + 1) * k].copy_from_slice(&self.weights[c * k..(c + 1) * k]);
            }
        }
        out
    }

    /// Number of feature rows.
    pub fn features(&self) -> usize {
        self.weights.len() / self.classes.max(1)
    }

    /// Logits `[rows, classes]` of the rows of `x`.
    pub fn logits(&self, x: &Csr) -> Vec<f32> {
        let k = self.classes;
        let mut out = vec![0f32; x.rows * k];
        out.par_chunks_mut(CHUNK * k)
            .enumerate()
            .for_each(|(ci, block)| {
                for (j, z) in block.chunks_mut(k).enumerate() {
                    let (cs, vs) = x.row(ci * CHUNK + j);
                    z.copy_from_slice(&self.bias);
                    for (&c, &v) in cs.iter().zip(vs) {
                        let w = &self.weights[c as usize * k..(c as usize + 1) * k];
                        for (zi, wi) in z.iter_mut().zip(w) {
                            *zi += v * wi;
                        }
                    }
                }
            });
        out
    }

    /// Softmax probabilities `[rows, classes]` of the rows of `x`.
    pub fn probabilities(&self, x: &Csr) -> Vec<f32> {
        let mut z = self.logits(x);
        for row in z.chunks_mut(self.classes) {
            crate::nn::softmax_in_place(row);
        }
        z
    }

    /// One sigmoid per class `[rows, classes]` of the rows of `x` (for a model fitted by
    /// [`LogReg::fit_multi_label`]).
    pub fn sigmoid_probabilities(&self, x: &Csr) -> Vec<f32> {
        let mut z = self.logits(x);
        for v in z.iter_mut() {
            *v = crate::nn::loss::sigmoid(*v);
        }
        z
    }

    /// One-vs-rest binary logistic regression: for every label `c`, an L2-penalised logistic
    /// regression of `targets[:, c]` (multi-hot `[n, labels]`, values 0 or 1) on `x`, as
    /// scikit-learn's `OneVsRestClassifier(LogisticRegression(C=c))`. The labels' problems are
    /// independent and are fitted one per label, labels in parallel (each fit is the same for
    /// any thread count), so memory grows with the features, not features × labels. `start`
    /// warm-starts every label from its column; `scale` `[features, labels]` as in
    /// [`LogReg::fit_scaled`] (see [`nb_scale_multi_label`]). Returns the model (`classes` =
    /// labels) and the most iterations any label took.
    pub fn fit_multi_label(
        x: &Csr,
        targets: &[f32],
        labels: usize,
        settings: LogRegFit,
        start: Option<&LogReg>,
        scale: Option<&[f32]>,
    ) -> (LogReg, usize) {
        assert_eq!(
            targets.len(),
            x.rows * labels,
            "targets are not [rows, labels]"
        );
        let no_classes = vec![0usize; x.rows];
        let xt = transpose_of(x, settings.xt);
        let column = |m: &[f32], c: usize| -> Vec<f32> {
            m.iter().skip(c).step_by(labels).copied().collect()
        };
        let fits: Vec<(LogReg, usize)> = (0..labels)
            .into_par_iter()
            .map(|c| {
                let t = column(targets, c);
                let start_c = start
                    .filter(|m| m.classes == labels && m.features() == x.cols)
                    .map(|m| LogReg {
                        weights: column(&m.weights, c),
                        bias: vec![m.bias[c]],
                        classes: 1,
                    });
                let scale_c = scale.map(|s| column(s, c));
                let problem = Problem {
                    x,
                    xt: Cow::Borrowed(&*xt),
                    y: &no_classes,
                    k: 1,
                    c: settings.c,
                    scale: scale_c.as_deref(),
                    multi: Some(&t),
                };
                Self::solve(problem, settings, start_c.as_ref())
            })
            .collect();
        let mut model = LogReg::zeros(x.cols, labels);
        let mut iters = 0;
        for (c, (m, it)) in fits.into_iter().enumerate() {
            for (f, w) in m.weights.iter().enumerate() {
                model.weights[f * labels + c] = *w;
            }
            model.bias[c] = m.bias[0];
            iters = iters.max(it);
        }
        (model, iters)
    }

    /// Fits weights on `x [n, features]` with classes `y` (each `< classes`), starting from
    /// `start` when given (warm start, e.g. along a path of growing `C`) or from zero.
    /// Returns the model and the number of iterations run.
    pub fn fit(
        x: &Csr,
        y: &[usize],
        classes: usize,
        settings: LogRegFit,
        start: Option<&LogReg>,
    ) -> (LogReg, usize) {
        Self::fit_scaled(x, y, classes, settings, start, None)
    }

    /// As [`LogReg::fit`], with the weights parametrised as `W = S ∘ Θ` for a positive scale
    /// `S [features, classes]` and the penalty on `Θ`: feature `f` of class `c` is penalised
    /// `1 / S[f,c]^2` times as much. With `S = |r|`, the naive-Bayes log-count ratios
    /// ([`nb_scale`]), this is the NB-weighted logistic regression of Wang & Manning (2012),
    /// §2.3 (there with an SVM), whose features are `r ∘ x`. The returned weights are `W`, so
    /// prediction is unchanged.
    ///
    /// Two classes are fitted as one binary logistic regression ([`LogReg::fit_binary`]): the
    /// same optimum at half the work.
    pub fn fit_scaled(
        x: &Csr,
        y: &[usize],
        classes: usize,
        settings: LogRegFit,
        start: Option<&LogReg>,
        scale: Option<&[f32]>,
    ) -> (LogReg, usize) {
        if classes == 2 && scale.is_none_or(symmetric_pairs) {
            return Self::fit_binary(x, y, settings, start, scale);
        }
        let mut problem = Problem::new(x, y, classes, settings.c, settings.xt);
        problem.scale = scale;
        Self::solve(problem, settings, start)
    }

    /// The two-class softmax problem of [`LogReg::fit_scaled`] solved as one binary logistic
    /// regression on `v = w_1 - w_0` (and `b_1 - b_0`) with `C` doubled, whose scale is the
    /// classes' shared one (`scale [features, 2]` holds equal columns). Only the difference of
    /// the two logits enters the loss, and for a given difference `d` the penalty
    /// `(θ_0² + θ_1²) / 2` is smallest at `θ_1 = -θ_0 = d / 2`, where it is `d² / 4`: the binary
    /// problem's penalty with `2 C`. The objective values and gradient entries agree at those
    /// points, so the stopping rule does too; each iteration does half the work (one logit per
    /// document and one weight per feature). Returns `W = [-v / 2, v / 2]`, `b` likewise (the
    /// softmax problem's own optimum), and the iterations run.
    fn fit_binary(
        x: &Csr,
        y: &[usize],
        settings: LogRegFit,
        start: Option<&LogReg>,
        scale: Option<&[f32]>,
    ) -> (LogReg, usize) {
        let targets: Vec<f32> = y.iter().map(|&c| f32::from(u8::from(c == 1))).collect();
        let diff = |a: &[f32]| -> Vec<f32> { a.chunks(2).map(|p| p[1] - p[0]).collect() };
        let start = start
            .filter(|m| m.classes == 2 && m.features() == x.cols)
            .map(|m| LogReg {
                weights: diff(&m.weights),
                bias: diff(&m.bias),
                classes: 1,
            });
        let scale: Option<Vec<f32>> = scale.map(|s| s.chunks(2).map(|p| p[1]).collect());
        let settings = LogRegFit {
            c: 2.0 * settings.c,
            ..settings
        };
        let (v, iters) =
            Self::fit_multi_label(x, &targets, 1, settings, start.as_ref(), scale.as_deref());
        let split =
            |a: &[f32]| -> Vec<f32> { a.iter().flat_map(|&d| [-d / 2.0, d / 2.0]).collect() };
        let model = LogReg {
            weights: split(&v.weights),
            bias: split(&v.bias),
            classes: 2,
        };
        (model, iters)
    }

    /// Minimises `problem` (with its optional weight scale) from `start` or zero.
    fn solve(problem: Problem, settings: LogRegFit, start: Option<&LogReg>) -> (LogReg, usize) {
        let (x, classes) = (problem.x, problem.k);
        let split = x.cols * classes;
        let mut theta: Vec<f64> = match start {
            Some(m) if m.classes == classes && m.features() == x.cols => {
                m.weights.iter().chain(&m.bias).map(|&v| v as f64).collect()
            }
            _ => vec![0.0; (x.cols + 1) * classes],
        };
        if let Some(s) = problem.scale {
            for (t, &sv) in theta[..split].iter_mut().zip(s) {
                *t /= sv as f64;
            }
        }
        let mut work = Work::default();
        let eval = |t: &[f64], g: &mut [f64]| problem.eval(t, g, &mut work);
        let iters = lbfgs(
            eval,
            &mut theta,
            settings.max_iter,
            settings.tol,
            settings.stop,
        );
        if let Some(s) = problem.scale {
            for (t, &sv) in theta[..split].iter_mut().zip(s) {
                *t *= sv as f64;
            }
        }
        let model = LogReg {
            weights: theta[..split].iter().map(|&v| v as f32).collect(),
            bias: theta[split..].iter().map(|&v| v as f32).collect(),
            classes,
        };
        (model, iters)
    }
}

/// Whether a `[features, 2]` scale has equal columns, to rounding (as [`nb_scale`]'s two-class
/// ratios do: `r_0 = -r_1`, computed as `ln(a / b)` and `ln(b / a)`), so a two-class fit with it
/// is a binary one ([`LogReg::fit_binary`]).
fn symmetric_pairs(scale: &[f32]) -> bool {
    scale
        .chunks(2)
        .all(|p| p.len() == 2 && (p[0] - p[1]).abs() <= 1e-5 * p[0].abs().max(p[1].abs()))
}

/// `given` (the caller's transpose of `x`, see [`LogRegFit::xt`]) or a new one.
///
/// # Panics
/// When `given` does not have the transposed shape of `x` (a caller's bug).
fn transpose_of<'a>(x: &Csr, given: Option<&'a Csr>) -> Cow<'a, Csr> {
    match given {
        Some(t) => {
            assert!(
                t.rows == x.cols && t.cols == x.rows && t.indices.len() == x.indices.len(),
                "LogRegFit::xt is not the transpose of x"
            );
            Cow::Borrowed(t)
        }
        None => Cow::Owned(x.transpose()),
    }
}

/// The objective on one dataset; parameters are `[W (features × classes) ; b (classes)]`.
struct Problem<'a> {
    x: &'a Csr,
    /// `x` transposed (one-vs-rest: shared by the labels' problems).
    xt: Cow<'a, Csr>,
    y: &'a [usize],
    k: usize,
    c: f64,
    /// Optional positive scale `[features, classes]` of the weights (see [`LogReg::fit_scaled`]).
    scale: Option<&'a [f32]>,
    /// Multi-hot targets `[n, classes]`: one binary logistic regression per class (one-vs-rest,
    /// summed) instead of the softmax (see [`LogReg::fit_multi_label`]); `y` is then unused.
    multi: Option<&'a [f32]>,
}

impl<'a> Problem<'a> {
    /// The softmax problem; `xt`: the caller's transpose of `x`, if any (see [`transpose_of`]).
    fn new(x: &'a Csr, y: &'a [usize], k: usize, c: f64, xt: Option<&'a Csr>) -> Problem<'a> {
        Problem {
            x,
            xt: transpose_of(x, xt),
            y,
            k,
            c,
            scale: None,
            multi: None,
        }
    }

    /// Objective value and gradient at `theta`; `work` holds the buffers reused between calls.
    fn eval(&self, theta: &[f64], grad: &mut [f64], work: &mut Work) -> f64 {
        let (k, n) = (self.k, self.x.rows);
        let split = self.x.cols * k;
        let (theta_w, b) = theta.split_at(split);
        let w: &[f64] = match self.scale {
            Some(s) => {
                work.scaled.resize(split, 0.0);
                work.scaled
                    .par_chunks_mut(VCHUNK)
                    .zip(theta_w.par_chunks(VCHUNK).zip(s.par_chunks(VCHUNK)))
                    .for_each(|(o, (t, s))| {
                        for ((o, t), &s) in o.iter_mut().zip(t).zip(s) {
                            *o = t * s as f64;
                        }
                    });
                &work.scaled
            }
            None => theta_w,
        };
        let inv_n = 1.0 / n.max(1) as f64;
        let losses = self.residuals(w, b, inv_n, &mut work.resid);
        let resid: &[f64] = &work.resid;
        let data_loss: f64 = losses.iter().sum::<f64>() * inv_n;
        let lambda = inv_n / self.c;
        let (gw, gb) = grad.split_at_mut(split);
        let penalties = self.weight_grad(theta_w, resid, lambda, gw);
        gb.fill(0.0);
        for rr in resid.chunks(k) {
            for (gi, ri) in gb.iter_mut().zip(rr) {
                *gi += ri;
            }
        }
        data_loss + 0.5 * lambda * penalties.iter().sum::<f64>()
    }

    /// The residuals `(p - onehot(y)) / n` per document into `resid [n, k]` (multi-label:
    /// `(sigmoid(z) - t) / n` per class), for the weights `w [features, k]` (scaled) and bias
    /// `b [k]`; returns the loss summed per chunk of documents (natural log, not yet / n).
    #[inline]
    fn residuals(&self, w: &[f64], b: &[f64], inv_n: f64, resid: &mut Vec<f64>) -> Vec<f64> {
        let (k, n) = (self.k, self.x.rows);
        resid.resize(n * k, 0.0);
        resid
            .par_chunks_mut(CHUNK * k)
            .enumerate()
            .map(|(ci, block)| {
                let mut loss = 0.0;
                for (j, z) in block.chunks_mut(k).enumerate() {
                    let r = ci * CHUNK + j;
                    let (cs, vs) = self.x.row(r);
                    z.copy_from_slice(b);
                    add_rows(z, cs, vs, w);
                    if let Some(t) = self.multi {
                        // One sigmoid per class: loss softplus(-z) for a positive, softplus(z)
                        // for a negative; residual sigmoid(z) - t.
                        let t = &t[r * k..(r + 1) * k];
                        for (zi, &ti) in z.iter_mut().zip(t) {
                            let (v, ti) = (*zi, ti as f64);
                            let sp = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
                            loss += ti * sp(-v) + (1.0 - ti) * sp(v);
                            *zi = (1.0 / (1.0 + (-v).exp()) - ti) * inv_n;
                        }
                        continue;
                    }
                    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let mut sum = 0.0;
                    for zi in z.iter_mut() {
                        *zi = (*zi - max).exp();
                        sum += *zi;
                    }
                    let yi = self.y[r];
                    loss += -(z[yi] / sum).ln();
                    for zi in z.iter_mut() {
                        *zi = *zi / sum * inv_n;
                    }
                    z[yi] -= inv_n;
                }
                loss
            })
            .collect()
    }

    /// The weight gradient, feature by feature through the transpose: `X^T R + lambda W` (times
    /// the scale, when any) into `gw [features, k]`; returns `Σ theta²` per chunk of features.
    #[inline]
    fn weight_grad(&self, theta_w: &[f64], resid: &[f64], lambda: f64, gw: &mut [f64]) -> Vec<f64> {
        let k = self.k;
        gw.par_chunks_mut(CHUNK * k)
            .enumerate()
            .map(|(ci, block)| {
                for (j, g) in block.chunks_mut(k).enumerate() {
                    let f = ci * CHUNK + j;
                    g.fill(0.0);
                    let (rs, vs) = self.xt.row(f);
                    add_rows(g, rs, vs, resid);
                    if let Some(s) = self.scale {
                        for (gi, &si) in g.iter_mut().zip(&s[f * k..(f + 1) * k]) {
                            *gi *= si as f64;
                        }
                    }
                    let tf = &theta_w[f * k..(f + 1) * k];
                    for (gi, ti) in g.iter_mut().zip(tf) {
                        *gi += lambda * ti;
                    }
                }
                let first = ci * CHUNK * k;
                let tw = &theta_w[first..first + block.len()];
                dot(tw, tw)
            })
            .collect()
    }
}

/// `acc += Σ_e vals[e] · m[idx[e]]`, where `m` holds rows of `acc.len()` (= `k`) entries:
/// one sparse row times a dense `[_, k]` matrix (the logits of a document from the weights, or
/// a feature's gradient from the residuals), the entries added in the order of `idx`. Unrolled
/// for `k` up to 4 (binary problems, one-vs-rest labels, few classes) with the partial sums in
/// registers; every sum takes the same steps as the plain loop, so the results are the same
/// bit for bit.
#[inline]
fn add_rows(acc: &mut [f64], idx: &[u32], vals: &[f32], m: &[f64]) {
    match acc.len() {
        1 => add_rows_k::<1>(acc, idx, vals, m),
        2 => add_rows_k::<2>(acc, idx, vals, m),
        3 => add_rows_k::<3>(acc, idx, vals, m),
        4 => add_rows_k::<4>(acc, idx, vals, m),
        _ => add_rows_any(acc, idx, vals, m),
    }
}

simd_fn! {
    /// [`add_rows`] for any `k`: the row loop over `k` compiled for the CPU's vector
    /// instructions (each entry on its own, so the same on every CPU).
    fn add_rows_any(acc: &mut [f64], idx: &[u32], vals: &[f32], m: &[f64]) {
        let k = acc.len();
        for (&i, &v) in idx.iter().zip(vals) {
            let row = &m[i as usize * k..(i as usize + 1) * k];
            for (a, r) in acc.iter_mut().zip(row) {
                *a += v as f64 * r;
            }
        }
    }
}

/// [`add_rows`] for a `k` known at compile time.
#[inline(always)]
fn add_rows_k<const K: usize>(acc: &mut [f64], idx: &[u32], vals: &[f32], m: &[f64]) {
    let mut a = [0.0f64; K];
    a.copy_from_slice(acc);
    for (&i, &v) in idx.iter().zip(vals) {
        let at = i as usize * K;
        let row = &m[at..at + K];
        let v = v as f64;
        for j in 0..K {
            a[j] += v * row[j];
        }
    }
    acc.copy_from_slice(&a);
}

/// [`nb_scale`] for multi-label data: label `c`'s ratio compares the texts that have `c`
/// (multi-hot `targets [n, labels]`) with those that do not, so a text counts for each of its
/// labels and a text without labels only on the negative side.
pub fn nb_scale_multi_label(
    x: &Csr,
    targets: &[f32],
    labels: usize,
    smoothing: f64,
    floor: f64,
) -> Vec<f32> {
    nb_scale_by(x, labels, smoothing, floor, |r, out| {
        out.extend((0..labels).filter(|&c| targets[r * labels + c] >= 0.5))
    })
}

/// Naive-Bayes log-count ratios as a weight scale `[features, classes]` (Wang & Manning 2012,
/// §2.1, one class against the rest): `|ln((p_c[f] / |p_c|) / (q_c[f] / |q_c|))|` where `p_c`
/// sums the binarised features of class `c` plus `smoothing`, and `q_c` those of the other
/// classes. A floor of `floor` keeps every feature learnable.
pub fn nb_scale(x: &Csr, y: &[usize], classes: usize, smoothing: f64, floor: f64) -> Vec<f32> {
    assert_eq!(y.len(), x.rows, "one class per row");
    nb_scale_by(x, classes, smoothing, floor, |r, out| out.push(y[r]))
}

/// [`nb_scale`] with the classes of row `r` pushed by `classes_of(r, out)`.
fn nb_scale_by(
    x: &Csr,
    classes: usize,
    smoothing: f64,
    floor: f64,
    classes_of: impl Fn(usize, &mut Vec<usize>),
) -> Vec<f32> {
    let f = x.cols;
    let mut counts = vec![0f64; f * classes];
    let mut totals = vec![0f64; f];
    let mut of_row = Vec::new();
    for r in 0..x.rows {
        of_row.clear();
        classes_of(r, &mut of_row);
        let (cs, _) = x.row(r);
        for &col in cs {
            for &c in &of_row {
                counts[col as usize * classes + c] += 1.0;
            }
            totals[col as usize] += 1.0;
        }
    }
    let mut norm_p = vec![0f64; classes];
    let mut all = 0.0;
    for (i, v) in counts.iter().enumerate() {
        norm_p[i % classes] += v + smoothing;
    }
    for t in &totals {
        all += t;
    }
    let mut out = vec![0f32; f * classes];
    for col in 0..f {
        for c in 0..classes {
            let p = counts[col * classes + c] + smoothing;
            let q = totals[col] - counts[col * classes + c] + smoothing;
            let norm_q = all + smoothing * f as f64 - (norm_p[c] - smoothing * f as f64);
            let r = ((p / norm_p[c]) / (q / norm_q)).ln().abs();
            out[col * classes + c] = (r + floor) as f32;
        }
    }
    out
}

/// Buffers [`Problem::eval`] reuses from one call to the next: the scaled weights
/// `[features × classes]` and the residuals `[rows × classes]`.
#[derive(Default)]
struct Work {
    scaled: Vec<f64>,
    resid: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> (Csr, Vec<usize>) {
        let rows = vec![
            vec![(0, 1.0), (2, 0.5)],
            vec![(1, 1.0)],
            vec![(0, 0.3), (1, 0.7)],
            vec![(2, 1.0)],
            vec![],
        ];
        (Csr::from_rows(&rows, 3), vec![0, 1, 1, 2, 0])
    }

    /// [`small`] with class 1 against the rest.
    fn small_binary() -> (Csr, Vec<usize>) {
        let (x, y) = small();
        (x, y.iter().map(|&c| usize::from(c == 1)).collect())
    }

    /// The two-class problem by the softmax solver itself (what [`LogReg::fit_scaled`] does
    /// for more classes), from zero: the reference for the binary path.
    fn softmax_fit(
        x: &Csr,
        y: &[usize],
        settings: LogRegFit,
        scale: Option<&[f32]>,
    ) -> (LogReg, usize) {
        let mut problem = Problem::new(x, y, 2, settings.c, None);
        problem.scale = scale;
        LogReg::solve(problem, settings, None)
    }

    /// Settings that run a small fit to its optimum.
    fn tight_fit(c: f64) -> LogRegFit<'static> {
        LogRegFit {
            c,
            max_iter: 500,
            tol: 1e-9,
            ..LogRegFit::default()
        }
    }

    #[test]
    fn nb_scale_matches_hand_computed_ratios() {
        // Binarised features; class 0 rows 0 and 4, class 1 rows 1 and 2 (rows 3: class 2).
        let (x, y) = small();
        let y2: Vec<usize> = y.iter().map(|&c| usize::from(c != 0)).collect();
        let s = nb_scale(&x, &y2, 2, 1.0, 0.0);
        // Class 0 ("not 1") holds rows 0, 4: features {0, 2}; class 1 rows 1, 2, 3: {1}, {0, 1}, {2}.
        // p_0 = 1 + [1, 0, 1] = [2, 1, 2] (sum 5); q_0 = 1 + [1, 2, 1] = [2, 3, 2] (sum 7).
        let r00 = ((2.0f64 / 5.0) / (2.0 / 7.0)).ln().abs();
        let r01 = ((1.0f64 / 5.0) / (3.0 / 7.0)).ln().abs();
        assert!((s[0] as f64 - r00).abs() < 1e-6, "{s:?}");
        assert!((s[2] as f64 - r01).abs() < 1e-6, "{s:?}");
        // Two classes: the ratio of class 1 is the mirror of class 0's.
        assert!((s[1] - s[0]).abs() < 1e-6 && (s[3] - s[2]).abs() < 1e-6);
    }

    #[test]
    fn unrolled_row_sums_equal_the_plain_loop_bit_for_bit() {
        // Values with many significant bits, so any change in the order of the additions
        // would show in the last bits.
        let idx = [3u32, 0, 5, 3, 1];
        let vals = [0.1f32, -1.7, 3.3, 0.7, 2.9];
        for k in 1..=6 {
            let m: Vec<f64> = (0..6 * k).map(|i| (i as f64 * 0.37).sin() / 3.0).collect();
            let start: Vec<f64> = (0..k).map(|j| 0.1 * j as f64 - 0.05).collect();
            let mut plain = start.clone();
            for (&i, &v) in idx.iter().zip(&vals) {
                for j in 0..k {
                    plain[j] += v as f64 * m[i as usize * k + j];
                }
            }
            let mut fast = start;
            add_rows(&mut fast, &idx, &vals, &m);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&plain), "k = {k}");
        }
    }

    #[test]
    fn transpose_round_trips() {
        let (x, _) = small();
        let t = x.transpose();
        assert_eq!((t.rows, t.cols), (3, 5));
        assert_eq!(t.row(0), (&[0u32, 2][..], &[1.0f32, 0.3][..]));
        assert_eq!(t.transpose(), x);
        let mid = x.slice_rows(1..3);
        assert_eq!((mid.rows, mid.cols), (2, 3));
        assert_eq!(mid.row(1), x.row(2));
        assert_eq!(x.slice_rows(4..5).row(0).0.len(), 0);
    }

    /// Central differences (step 1e-6) of `p.eval` at `theta` agree with its gradient to 1e-7.
    fn assert_gradient_matches_finite_differences(p: &Problem, theta: &[f64]) {
        let dim = theta.len();
        let mut g = vec![0.0; dim];
        p.eval(theta, &mut g, &mut Work::default());
        let mut scratch = vec![0.0; dim];
        for i in 0..dim {
            let h = 1e-6;
            let mut a = theta.to_vec();
            a[i] += h;
            let fa = p.eval(&a, &mut scratch, &mut Work::default());
            a[i] -= 2.0 * h;
            let fb = p.eval(&a, &mut scratch, &mut Work::default());
            let num = (fa - fb) / (2.0 * h);
            assert!((num - g[i]).abs() < 1e-7, "param {i}: {num} vs {}", g[i]);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = small();
        let mut p = Problem::new(&x, &y, 3, 2.0, None);
        // A non-uniform weight scale, as the NB-weighted fit uses.
        let scale: Vec<f32> = (0..9).map(|i| 0.5 + 0.25 * i as f32).collect();
        p.scale = Some(&scale);
        let dim = (3 + 1) * 3;
        let theta: Vec<f64> = (0..dim).map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.3).collect();
        assert_gradient_matches_finite_differences(&p, &theta);
    }

    #[test]
    fn multi_label_gradient_matches_finite_differences() {
        let (x, _) = small();
        // Multi-hot targets [5 rows, 2 labels]; row 4 has no label.
        let t = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let no = vec![0; 5];
        let mut p = Problem::new(&x, &no, 2, 3.0, None);
        p.multi = Some(&t);
        let scale: Vec<f32> = (0..6).map(|i| 0.5 + 0.3 * i as f32).collect();
        p.scale = Some(&scale);
        let dim = (3 + 1) * 2;
        let theta: Vec<f64> = (0..dim).map(|i| ((i * 5 % 7) as f64 - 3.0) * 0.2).collect();
        assert_gradient_matches_finite_differences(&p, &theta);
    }

    #[test]
    fn one_vs_rest_equals_two_class_softmax_at_twice_c() {
        // A 2-class softmax with weights (w0, w1) penalised by C is a binary logistic
        // regression on w1 - w0 penalised by 2C (at the optimum w0 = -w1), so their logits agree.
        let (x, y2) = small_binary();
        let t: Vec<f32> = y2.iter().map(|&c| c as f32).collect();
        let tight = tight_fit(1.5);
        let (soft, _) = softmax_fit(&x, &y2, tight, None);
        let (ovr, _) =
            LogReg::fit_multi_label(&x, &t, 1, LogRegFit { c: 3.0, ..tight }, None, None);
        let zs = soft.logits(&x);
        let zb = ovr.logits(&x);
        for r in 0..5 {
            let diff = zs[r * 2 + 1] - zs[r * 2];
            assert!((diff - zb[r]).abs() < 1e-4, "row {r}: {diff} vs {}", zb[r]);
        }
        let p = ovr.sigmoid_probabilities(&x);
        assert!((p[1] - crate::nn::loss::sigmoid(zb[1])).abs() < 1e-7);
    }

    #[test]
    fn multi_label_fit_is_per_label_and_thread_count_independent() {
        let (x, _) = small();
        let t = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let settings = LogRegFit::default();
        let run = |threads| {
            crate::nn::thread_pool(threads)
                .install(|| LogReg::fit_multi_label(&x, &t, 2, settings, None, None).0)
        };
        let both = run(1);
        assert_eq!(both, run(2));
        // Label 1 fitted alone gives label 1's column of the joint model.
        let t1: Vec<f32> = t.iter().skip(1).step_by(2).copied().collect();
        let (alone, _) = LogReg::fit_multi_label(&x, &t1, 1, settings, None, None);
        let col: Vec<f32> = both.weights.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(col, alone.weights);
        assert_eq!(both.bias[1], alone.bias[0]);
    }

    #[test]
    fn a_given_transpose_gives_the_same_fits() {
        let (x, y) = small();
        let xt = x.transpose();
        let t = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let own = LogRegFit::default();
        let shared = LogRegFit {
            xt: Some(&xt),
            ..own
        };
        let single = |s| LogReg::fit_scaled(&x, &y, 3, s, None, None);
        assert_eq!(single(own), single(shared));
        let multi = |s| LogReg::fit_multi_label(&x, &t, 2, s, None, None);
        assert_eq!(multi(own), multi(shared));
    }

    #[test]
    fn either_stop_flag_ends_a_fit_at_its_first_iteration() {
        let (x, y) = small();
        let (ctrl_c, halt) = (AtomicBool::new(false), AtomicBool::new(false));
        let fit = |stop| {
            LogReg::fit_scaled(
                &x,
                &y,
                3,
                LogRegFit {
                    stop,
                    ..LogRegFit::default()
                },
                None,
                None,
            )
            .1
        };
        let both = StopFlags::new(Some(&ctrl_c), Some(&halt));
        assert!(!both.is_set());
        assert!(fit(both) > 0, "no flag set: the fit iterates");
        halt.store(true, Ordering::SeqCst);
        assert!(both.is_set());
        assert_eq!(fit(both), 0);
        assert_eq!(fit(StopFlags::new(None, Some(&halt))), 0);
        assert!(fit(StopFlags::new(Some(&ctrl_c), None)) > 0);
        ctrl_c.store(true, Ordering::SeqCst);
        assert_eq!(fit(StopFlags::new(Some(&ctrl_c), None)), 0);
        assert!(!StopFlags::default().is_set());
    }

    #[test]
    #[should_panic(expected = "not the transpose")]
    fn a_transpose_of_another_shape_is_refused() {
        let (x, y) = small();
        let wrong = x.clone();
        let s = LogRegFit {
            xt: Some(&wrong),
            ..LogRegFit::default()
        };
        LogReg::fit_scaled(&x, &y, 3, s, None, None);
    }

    #[test]
    fn nb_scale_multi_label_counts_a_text_for_each_of_its_labels() {
        let (x, y2) = small_binary();
        // One label = "class 1": the same ratios as the single-label scale of 2 classes.
        let t: Vec<f32> = y2.iter().map(|&c| c as f32).collect();
        let single = nb_scale(&x, &y2, 2, 1.0, 0.3);
        let multi = nb_scale_multi_label(&x, &t, 1, 1.0, 0.3);
        let class1: Vec<f32> = single.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(multi, class1);
    }

    #[test]
    fn two_classes_are_fitted_as_one_binary_regression_with_the_softmax_optimum() {
        // With and without the NB scale (whose two columns agree), a two-class fit goes the
        // binary way and lands on the softmax problem's optimum: W = [-v/2, v/2], the same
        // logits as the softmax solver's to the solvers' tolerance.
        let (x, y2) = small_binary();
        let tight = tight_fit(1.5);
        let scale = nb_scale(&x, &y2, 2, 1.0, 0.1);
        assert!(symmetric_pairs(&scale), "{scale:?}");
        for s in [None, Some(&scale[..])] {
            let (soft, _) = softmax_fit(&x, &y2, tight, s);
            let (bin, _) = LogReg::fit_scaled(&x, &y2, 2, tight, None, s);
            for pair in bin.weights.chunks(2).chain([&bin.bias[..]]) {
                assert_eq!(pair[0], -pair[1], "{pair:?}");
            }
            for (a, b) in soft.weights.iter().zip(&bin.weights) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
            let (zs, zb) = (soft.logits(&x), bin.logits(&x));
            for (a, b) in zs.iter().zip(&zb) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
        // A warm start from a two-class model is read as its difference: started at the
        // optimum (rounded to f32) shifted by 5 in both columns, the same difference, the
        // binary fit has next to nothing left to do.
        let (bin, cold) = LogReg::fit_scaled(&x, &y2, 2, tight, None, None);
        let mut shifted = bin.clone();
        shifted.weights.iter_mut().for_each(|w| *w += 5.0);
        let (again, iters) = LogReg::fit_scaled(&x, &y2, 2, tight, Some(&shifted), None);
        assert!(
            iters <= 2 && iters < cold,
            "{iters} from the optimum, {cold} from 0"
        );
        for (a, b) in bin.weights.iter().zip(&again.weights) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // Unequal columns (not NB ratios): the softmax solver, whose optimum is not
        // antisymmetric.
        let lopsided: Vec<f32> = (0..6).map(|i| if i % 2 == 0 { 1.0 } else { 3.0 }).collect();
        assert!(!symmetric_pairs(&lopsided));
        let (m, _) = LogReg::fit_scaled(&x, &y2, 2, tight, None, Some(&lopsided));
        let (soft, _) = softmax_fit(&x, &y2, tight, Some(&lopsided));
        assert_eq!(m, soft);
        assert!(m.weights.chunks(2).any(|p| (p[0] + p[1]).abs() > 1e-3));
    }

    #[test]
    fn fit_reaches_the_optimum_of_a_one_feature_problem() {
        // One feature, always 1, two classes with counts 3:1 and no penalty to speak of: the
        // optimum predicts p(class 0) = 3/4 (only the difference of the logits matters).
        let rows = vec![vec![(0u32, 1.0f32)]; 4];
        let x = Csr::from_rows(&rows, 1);
        let y = vec![0, 0, 0, 1];
        let settings = tight_fit(1e9);
        let (m, _) = LogReg::fit(&x, &y, 2, settings, None);
        let p = m.probabilities(&x);
        assert!((p[0] - 0.75).abs() < 1e-4, "{p:?}");
        // A strong penalty on W (lambda = 1 / (n C) = 2,500) leaves the bias (unpenalised) to
        // fit the same prior.
        let (m, _) = LogReg::fit(
            &x,
            &y,
            2,
            LogRegFit {
                c: 1e-4,
                ..settings
            },
            None,
        );
        assert!(m.weights.iter().all(|w| w.abs() < 1e-3), "{:?}", m.weights);
        assert!(
            (m.probabilities(&x)[0] - 0.75).abs() < 1e-3,
            "{:?}",
            m.probabilities(&x)
        );
    }

    #[test]
    fn fit_separates_and_is_thread_count_independent() {
        let (x, y) = small();
        let settings = LogRegFit::default();
        let run = |threads| {
            crate::nn::thread_pool(threads).install(|| LogReg::fit(&x, &y, 3, settings, None).0)
        };
        let m1 = run(1);
        assert_eq!(m1, run(2));
        let p = m1.probabilities(&x);
        for (r, &c) in y.iter().enumerate().take(4) {
            let row = &p[r * 3..r * 3 + 3];
            assert_eq!(crate::predict::argmax(row), c, "row {r}: {row:?}");
        }
        // Warm start from the solution converges at once.
        let (m2, iters) = LogReg::fit(&x, &y, 3, settings, Some(&m1));
        assert!(iters <= 2, "{iters}");
        assert!(
            m1.weights
                .iter()
                .zip(&m2.weights)
                .all(|(a, b)| (a - b).abs() < 1e-3)
        );
    }
}
