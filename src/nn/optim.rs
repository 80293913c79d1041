//! Optimizers: Adam, AdamW, SGD with momentum, Adadelta — elementwise updates with PyTorch's
//! formulas (`torch.optim`, default `foreach=False` semantics), plus the options of Kim (2014):
//! L2 weight decay, a max-norm constraint on the softmax weight vectors, clipping by global
//! gradient norm, and sparse (lazy) updates of embedding rows.
//!
//! The update functions work on one tensor (or one embedding row) at a time; the trainer
//! (`model::trainer`) decides which tensors and rows are updated and computes the clipping
//! factor. Each element's update depends only on its own gradient and state, so splitting the
//! work over threads cannot change the result.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use super::DisjointPtr;

/// Which update rule to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba 2015), betas (0.9, 0.999), eps 1e-8; weight decay is L2 (added to the gradient).
    Adam,
    /// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay `p -= lr · wd · p`.
    Adamw,
    /// SGD with (heavy-ball, PyTorch-style) momentum; `momentum = 0` is plain SGD.
    Sgd,
    /// Adadelta (Zeiler 2012), rho 0.95, eps 1e-6 as in Kim's code; `lr` scales the update (use 1.0).
    Adadelta,
}

/// Optimizer settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Learning rate (multiplies the update for every kind, Adadelta included).
    pub lr: f32,
    /// Weight decay: L2 penalty added to the gradient (Adam, SGD, Adadelta) or decoupled (AdamW).
    pub weight_decay: f32,
    /// SGD momentum (ignored by the other kinds).
    pub momentum: f32,
    /// Kim's max-norm constraint: after each update, every class row of the softmax weight
    /// (`fc.weight`, `[num_classes, features]`) with L2 norm above this is rescaled to it.
    pub max_norm: Option<f32>,
    /// Clip the gradient by its global L2 norm (all parameters together) before the update.
    pub clip_grad_norm: Option<f32>,
    /// Update only the embedding rows present in the batch, with their optimizer state only
    /// (lazy, like `torch.optim.SparseAdam`; weight decay then also reaches only those rows, and
    /// Adam's bias correction uses the global step count). `false`: dense update of every row
    /// (absent rows still move through their momentum / moments and weight decay), as
    /// `torch.optim.Adam` on a dense gradient.
    pub sparse_embedding: bool,
    /// Never update the embedding table (static vectors, Kim's "CNN-static").
    pub freeze_embedding: bool,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            momentum: 0.9,
            max_norm: None,
            clip_grad_norm: None,
            sparse_embedding: true,
            freeze_embedding: false,
        }
    }
}

/// Adam / AdamW first-moment decay.
pub const ADAM_BETA1: f32 = 0.9;
/// Adam / AdamW second-moment decay.
pub const ADAM_BETA2: f32 = 0.999;
/// Adam / AdamW denominator epsilon.
pub const ADAM_EPS: f32 = 1e-8;
/// Adadelta running-average decay (Kim's code).
pub const ADADELTA_RHO: f32 = 0.95;
/// Adadelta epsilon (Kim's code).
pub const ADADELTA_EPS: f32 = 1e-6;

impl OptimizerKind {
    /// Names of the per-parameter state tensors, PyTorch's names: Adam/AdamW
    /// `exp_avg`, `exp_avg_sq`; SGD `momentum_buffer`; Adadelta `square_avg`, `acc_delta`.
    pub fn state_names(self) -> &'static [&'static str] {
        match self {
            OptimizerKind::Adam | OptimizerKind::Adamw => &["exp_avg", "exp_avg_sq"],
            OptimizerKind::Sgd => &["momentum_buffer"],
            OptimizerKind::Adadelta => &["square_avg", "acc_delta"],
        }
    }
}

/// Per-step constants of an update: the config plus the bias corrections of step `t` and the
/// gradient clipping factor.
#[derive(Clone, Copy, Debug)]
pub struct StepConsts {
    kind: OptimizerKind,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    bias_correction1: f32,
    bias_correction2_sqrt: f32,
    grad_scale: f32,
}

impl StepConsts {
    /// Constants for step `step` (1-based, after incrementing) with gradients multiplied by
    /// `grad_scale` (the clipping factor, 1.0 when not clipping).
    pub fn new(cfg: &OptimizerConfig, step: u64, grad_scale: f32) -> StepConsts {
        let t = step.max(1) as i32;
        StepConsts {
            kind: cfg.kind,
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            momentum: cfg.momentum,
            bias_correction1: 1.0 - ADAM_BETA1.powi(t),
            bias_correction2_sqrt: (1.0 - ADAM_BETA2.powi(t)).sqrt(),
            grad_scale,
        }
    }
}

super::simd::simd_fn! {
    /// Update a slice of parameters in place (sequentially).
    ///
    /// * `param`, `grad`: `[n]`
    /// * `s1`, `s2`: the state tensors named by [`OptimizerKind::state_names`], `[n]` each
    ///   (`s2` is empty for SGD)
    ///
    /// Runs the same code compiled for AVX-512 or AVX2 + FMA when the CPU has them (runtime check).
    /// Rust never fuses multiply and add on its own, so every path gives bit-identical results.
    pub fn update_slice(
        c: &StepConsts,
        param: &mut [f32],
        grad: &[f32],
        s1: &mut [f32],
        s2: &mut [f32],
    ) {
        let n = param.len();
        assert!(grad.len() == n && s1.len() == n);
        let (lr, wd, gs) = (c.lr, c.weight_decay, c.grad_scale);
        match c.kind {
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                assert_eq!(s2.len(), n);
                let decoupled = c.kind == OptimizerKind::Adamw;
                let step_size = lr / c.bias_correction1;
                for i in 0..n {
                    let mut p = param[i];
                    let mut g = grad[i] * gs;
                    if decoupled {
                        p *= 1.0 - lr * wd;
                    } else {
                        g += wd * p;
                    }
                    let m = ADAM_BETA1 * s1[i] + (1.0 - ADAM_BETA1) * g;
                    let v = ADAM_BETA2 * s2[i] + (1.0 - ADAM_BETA2) * g * g;
                    s1[i] = m;
                    s2[i] = v;
                    let denom = v.sqrt() / c.bias_correction2_sqrt + ADAM_EPS;
                    param[i] = p - step_size * m / denom;
                }
            }
            OptimizerKind::Sgd => {
                for i in 0..n {
                    let g = grad[i] * gs + wd * param[i];
                    let b = c.momentum * s1[i] + g;
                    s1[i] = b;
                    param[i] -= lr * b;
                }
            }
            OptimizerKind::Adadelta => {
                assert_eq!(s2.len(), n);
                let rho = ADADELTA_RHO;
                for i in 0..n {
                    let g = grad[i] * gs + wd * param[i];
                    let sq = rho * s1[i] + (1.0 - rho) * g * g;
                    let delta = (s2[i] + ADADELTA_EPS).sqrt() / (sq + ADADELTA_EPS).sqrt() * g;
                    s1[i] = sq;
                    s2[i] = rho * s2[i] + (1.0 - rho) * delta * delta;
                    param[i] -= lr * delta;
                }
            }
        }
    }
}

/// [`update_slice`] split over the current rayon pool in fixed-size chunks.
pub fn update_dense(
    c: &StepConsts,
    param: &mut [f32],
    grad: &[f32],
    s1: &mut [f32],
    s2: &mut [f32],
) {
    const CHUNK: usize = 16 * 1024;
    if param.len() <= CHUNK {
        return update_slice(c, param, grad, s1, s2);
    }
    if s2.is_empty() {
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(s1.par_chunks_mut(CHUNK))
            .for_each(|((p, g), s1)| update_slice(c, p, g, s1, &mut []));
    } else {
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(s1.par_chunks_mut(CHUNK))
            .zip(s2.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), s1), s2)| update_slice(c, p, g, s1, s2));
    }
}

/// Lazy update of selected rows of a `[rows_total, width]` tensor: row `rows[i]` of `param`, `s1`,
/// `s2` is updated with gradient row `grad[i]`. Rows must be distinct (checked in debug builds).
///
/// * `param`, `s1`, `s2`: `[rows_total, width]` (`s2` empty for SGD)
/// * `rows`: `[n]`, `grad`: `[n, width]`
pub fn update_rows(
    c: &StepConsts,
    param: &mut [f32],
    width: usize,
    rows: &[u32],
    grad: &[f32],
    s1: &mut [f32],
    s2: &mut [f32],
) {
    let total = param.len() / width;
    assert!(
        rows.iter().all(|&r| (r as usize) < total),
        "row out of range"
    );
    assert!(s1.len() == param.len() && (s2.is_empty() || s2.len() == param.len()));
    debug_assert!({
        let mut r = rows.to_vec();
        r.sort_unstable();
        r.windows(2).all(|w| w[0] != w[1])
    });
    let has_s2 = !s2.is_empty();
    let (pp, p1, p2) = (
        DisjointPtr(param.as_mut_ptr()),
        DisjointPtr(s1.as_mut_ptr()),
        DisjointPtr(s2.as_mut_ptr()),
    );
    rows.par_iter()
        .with_min_len(64)
        .enumerate()
        .for_each(|(i, &r)| {
            let off = r as usize * width;
            // SAFETY: `rows` are distinct and `< total`, so each task touches its own in-bounds row of
            // `param`, `s1` and (when non-empty) `s2`; the borrows of the three slices outlive the loop.
            let (p, a, b) = unsafe {
                (
                    std::slice::from_raw_parts_mut(pp.get().add(off), width),
                    std::slice::from_raw_parts_mut(p1.get().add(off), width),
                    if has_s2 {
                        std::slice::from_raw_parts_mut(p2.get().add(off), width)
                    } else {
                        &mut [][..]
                    },
                )
            };
            update_slice(c, p, &grad[i * width..(i + 1) * width], a, b);
        });
}

/// Kim's max-norm constraint: rescale every row of `weight` (`[rows, width]`) whose L2 norm
/// exceeds `max_norm` to norm `max_norm`.
pub fn apply_max_norm(weight: &mut [f32], width: usize, max_norm: f32) {
    for row in weight.chunks_exact_mut(width) {
        let norm = row
            .iter()
            .map(|&v| (v as f64) * (v as f64))
            .sum::<f64>()
            .sqrt() as f32;
        if norm > max_norm {
            let s = max_norm / norm;
            row.iter_mut().for_each(|v| *v *= s);
        }
    }
}

/// Squared L2 norm accumulated in f64, fixed order.
pub fn sum_squares(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64) * (v as f64)).sum()
}

/// Clipping factor of PyTorch's `clip_grad_norm_`: `min(1, max_norm / (total_norm + 1e-6))`.
pub fn clip_factor(total_norm: f64, max_norm: f32) -> f32 {
    let c = max_norm as f64 / (total_norm + 1e-6);
    if c < 1.0 { c as f32 } else { 1.0 }
}

/// Per-parameter optimizer state of a model as named tensors, for `--resume`: `step` (`[1]`, the
/// step count as f32 — exact below 2^24 steps) and `{param}.{state}` for each state tensor of
/// [`OptimizerKind::state_names`] (PyTorch's names), shaped like the parameter. `params` are the
/// model's `(name, shape)` in the order of `state`; a parameter with empty state (a frozen one)
/// is left out. The state tensors are borrowed, not copied (a checkpoint of IMDB's model
/// writes 83 MB of Adam moments every epoch).
pub fn export_state<'a>(
    kind: OptimizerKind,
    step: u64,
    params: &[(String, Vec<usize>)],
    state: &'a [[Vec<f32>; 2]],
) -> Vec<(String, Vec<usize>, Cow<'a, [f32]>)> {
    let mut out = vec![("step".to_string(), vec![1], Cow::Owned(vec![step as f32]))];
    for ((name, shape), st) in params.iter().zip(state) {
        if st[0].is_empty() {
            continue;
        }
        for (k, sname) in kind.state_names().iter().enumerate() {
            out.push((
                format!("{name}.{sname}"),
                shape.clone(),
                Cow::Borrowed(st[k].as_slice()),
            ));
        }
    }
    out
}

/// Restores state written by [`export_state`] for the same optimizer kind, parameters and frozen
/// set, returning the step count.
///
/// # Errors
/// A missing, unexpected or mis-shaped tensor, named in the message; `state` is unchanged then.
pub fn import_state(
    kind: OptimizerKind,
    params: &[(String, Vec<usize>)],
    state: &mut [[Vec<f32>; 2]],
    tensors: &std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
) -> anyhow::Result<u64> {
    let expected: Vec<(String, Vec<usize>)> = export_state(kind, 0, params, state)
        .into_iter()
        .map(|(n, s, _)| (n, s))
        .collect();
    for name in tensors.keys() {
        if !expected.iter().any(|(n, _)| n == name) {
            anyhow::bail!("unexpected optimizer tensor {name:?} (optimizer {kind:?})");
        }
    }
    for (name, shape) in &expected {
        let Some((found, values)) = tensors.get(name) else {
            anyhow::bail!("missing optimizer tensor {name:?} (expected shape {shape:?})");
        };
        anyhow::ensure!(
            found == shape,
            "optimizer tensor {name:?}: expected shape {shape:?}, found {found:?}"
        );
        let n: usize = shape.iter().product();
        anyhow::ensure!(
            values.len() == n,
            "optimizer tensor {name:?}: expected {n} values, found {}",
            values.len()
        );
    }
    for ((pname, _), st) in params.iter().zip(state.iter_mut()) {
        if st[0].is_empty() {
            continue;
        }
        for (k, sname) in kind.state_names().iter().enumerate() {
            st[k].copy_from_slice(&tensors[&format!("{pname}.{sname}")].1);
        }
    }
    Ok(tensors["step"].1[0] as u64)
}
