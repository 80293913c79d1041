//! Whole-model checks of the Kim CNN: gradient check, padding invariance, determinism,
//! optimizer options, parameter and optimizer-state round trips.

// Finite-difference loops perturb element k of a buffer while reading element k of another.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use textcnn::model::Network;
use textcnn::model::{Batch, KimCnn, KimConfig, KimTrainer, Pooling};
use textcnn::nn::optim::{OptimizerConfig, OptimizerKind};
use textcnn::nn::thread_pool;

fn tiny_config(dropout: f32) -> KimConfig {
    tiny_config_pooled(dropout, Pooling::Max)
}

fn tiny_config_pooled(dropout: f32, pooling: Pooling) -> KimConfig {
    KimConfig {
        vocab_size: 12,
        emb_dim: 4,
        region_sizes: vec![2, 3],
        feature_maps: 3,
        num_classes: 3,
        dropout,
        multichannel: false,
        pooling,
    }
}

/// Deterministic ids in 1..vocab.
fn ids_for(n: usize, vocab: usize, salt: u64) -> Vec<u32> {
    (0..n as u64)
        .map(|i| {
            let z = textcnn::nn::dropout::mix64(i ^ (salt << 32));
            1 + (z % (vocab as u64 - 1)) as u32
        })
        .collect()
}

/// Pad rows of different lengths to `seq_len` with id 0.
fn pad(rows: &[Vec<u32>], seq_len: usize) -> (Vec<u32>, Vec<usize>) {
    let mut ids = vec![0u32; rows.len() * seq_len];
    for (b, r) in rows.iter().enumerate() {
        ids[b * seq_len..b * seq_len + r.len()].copy_from_slice(r);
    }
    (ids, rows.iter().map(|r| r.len()).collect())
}

/// Whole-model finite-difference check: loss (mean CE with a fixed dropout mask) vs the gradient
/// of every parameter. f32 forward, central differences with ε = 1e-3: the loss (≈ 1.1) is
/// rounded to ≈ 1e-7, i.e. ≈ 1e-4 after dividing by 2ε; the model is piecewise smooth and the
/// test data keeps ε away from argmax ties and ReLU kinks (a kink crossing would show as an error
/// of the order of the gradient itself). Bound: `|a − n| ≤ 1e-3 + 1e-2·|a|`.
fn gradient_check(opt: OptimizerConfig, dropout: f32) {
    gradient_check_pooled(opt, dropout, Pooling::Max)
}

fn gradient_check_pooled(opt: OptimizerConfig, dropout: f32, pooling: Pooling) {
    let config = tiny_config_pooled(dropout, pooling);
    let mut model = KimCnn::new(config.clone(), 5);
    // Larger weights than the default init, so that gradients are well above the rounding noise.
    for (_, _, d) in model.named_params_mut() {
        let pad_row = d.len() == 12 * 4;
        for (i, v) in d.iter_mut().enumerate() {
            if !(pad_row && i < 4) {
                *v *= 3.0;
            }
        }
    }
    let rows = vec![
        ids_for(7, 12, 1),
        ids_for(2, 12, 2),
        ids_for(5, 12, 3),
        vec![],
    ];
    let (ids, lengths) = pad(&rows, 7);
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 7,
    };
    let labels = [0u32, 2, 1, 1];
    let mut tr = KimTrainer::new(model, opt.clone());
    tr.forward_backward(&batch, &labels, 99);
    let grads = tr.named_grads();
    let eps = 1e-3f32;
    let mut checked = 0;
    for (pi, (name, _, g)) in grads.iter().enumerate() {
        for k in 0..g.len() {
            if name == "embedding.weight" && k < 4 {
                continue; // <pad> row: no gradient by design
            }
            let mut at = |delta: f32| {
                let old = tr.model.named_params()[pi].2[k];
                tr.model.named_params_mut()[pi].2[k] = old + delta;
                let l = tr.forward_backward(&batch, &labels, 99).loss as f64;
                tr.model.named_params_mut()[pi].2[k] = old;
                l
            };
            let num = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let ana = g[k] as f64;
            assert!(
                (ana - num).abs() <= 1e-3 + 1e-2 * ana.abs(),
                "{name}[{k}]: analytic {ana} vs numeric {num}"
            );
            checked += 1;
        }
    }
    // Max pooling: 48 embedding + 2·3·4 + 3 + 3·3·4 + 3 conv + 3·6 + 3 dense, less the <pad>
    // row; mean pooling doubles the dense layer's inputs (3·12 weights).
    let want = if pooling == Pooling::Max { 131 } else { 149 };
    assert_eq!(checked, want, "every parameter but the <pad> row");
    // Something non-trivial was checked: the embedding and conv gradients are not all zero.
    assert!(grads[0].2.iter().any(|&v| v.abs() > 1e-3));
    assert!(grads[1].2.iter().any(|&v| v.abs() > 1e-3));
}

#[test]
fn whole_model_gradient_matches_finite_differences() {
    gradient_check(OptimizerConfig::default(), 0.0);
}

#[test]
fn whole_model_gradient_with_dropout_matches_finite_differences() {
    gradient_check(OptimizerConfig::default(), 0.5);
}

#[test]
fn max_and_mean_pooling_gradient_matches_finite_differences() {
    // Every window receives gradient through the mean block (the per-token projection's
    // transpose, `backward_by_windows`), the max window through the max block too.
    gradient_check_pooled(OptimizerConfig::default(), 0.0, Pooling::MaxMean);
    gradient_check_pooled(OptimizerConfig::default(), 0.5, Pooling::MaxMean);
}

#[test]
fn frozen_embedding_has_no_gradient_and_does_not_move() {
    let model = KimCnn::new(tiny_config(0.5), 3);
    let before = model.named_params()[0].2.to_vec();
    let mut tr = KimTrainer::new(
        model,
        OptimizerConfig {
            freeze_embedding: true,
            ..Default::default()
        },
    );
    let (ids, lengths) = pad(&[ids_for(6, 12, 1), ids_for(4, 12, 2)], 6);
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 2,
        seq_len: 6,
    };
    tr.train_step(&batch, &[1, 2], 1);
    assert!(tr.named_grads()[0].2.iter().all(|&v| v == 0.0));
    assert_eq!(tr.model.named_params()[0].2, &before[..]);
    assert!(
        tr.optimizer_state()
            .iter()
            .all(|(n, _, _)| !n.starts_with("embedding"))
    );
}

#[test]
fn padding_never_matters() {
    let config = KimConfig {
        vocab_size: 50,
        emb_dim: 8,
        region_sizes: vec![3, 4, 5],
        feature_maps: 20,
        num_classes: 2,
        dropout: 0.5,
        multichannel: false,
        pooling: Default::default(),
    };
    let model = KimCnn::new(config, 11);
    for text in [
        ids_for(20, 50, 4),
        ids_for(2, 50, 5),
        vec![],
        ids_for(50, 50, 6),
    ] {
        let (ids50, l50) = pad(std::slice::from_ref(&text), 50);
        let alone50 = model.logits(&Batch {
            ids: &ids50,
            lengths: &l50,
            batch: 1,
            seq_len: 50,
        });
        let (ids400, l400) = pad(std::slice::from_ref(&text), 400);
        let alone400 = model.logits(&Batch {
            ids: &ids400,
            lengths: &l400,
            batch: 1,
            seq_len: 400,
        });
        // Inside a batch of longer texts, at position 1 of 3.
        let rows = vec![ids_for(400, 50, 7), text.clone(), ids_for(333, 50, 8)];
        let (idsb, lb) = pad(&rows, 400);
        let inside = model.logits(&Batch {
            ids: &idsb,
            lengths: &lb,
            batch: 3,
            seq_len: 400,
        });
        // Garbage after the length is still padding.
        let mut dirty = ids400.clone();
        dirty[text.len()..].fill(7);
        let garbage = model.logits(&Batch {
            ids: &dirty,
            lengths: &l400,
            batch: 1,
            seq_len: 400,
        });
        for c in 0..2 {
            for other in [alone400[c], inside[2 + c], garbage[c]] {
                assert!(
                    (alone50[c] - other).abs() <= 1e-5,
                    "len {}: {} vs {other}",
                    text.len(),
                    alone50[c]
                );
            }
        }
    }
}

#[test]
fn logits_do_not_depend_on_the_thread_count() {
    let config = KimConfig {
        vocab_size: 300,
        emb_dim: 32,
        region_sizes: vec![3, 4, 5],
        feature_maps: 40,
        num_classes: 2,
        dropout: 0.5,
        multichannel: false,
        pooling: Default::default(),
    };
    let model = KimCnn::new(config, 3);
    // Batch 1 (GEMM split over threads when there are more threads than examples) and batch 5.
    for n in [1usize, 5] {
        let rows: Vec<Vec<u32>> = (0..n)
            .map(|b| ids_for(200 - 30 * b, 300, b as u64))
            .collect();
        let (ids, lengths) = pad(&rows, 200);
        let batch = Batch {
            ids: &ids,
            lengths: &lengths,
            batch: n,
            seq_len: 200,
        };
        let one = thread_pool(1).install(|| model.logits(&batch));
        let two = thread_pool(2).install(|| model.logits(&batch));
        let three = thread_pool(3).install(|| model.logits(&batch));
        assert!(
            one == two && one == three,
            "batch {n}: {one:?} {two:?} {three:?}"
        );
    }
}

fn train_some(threads: usize, opt: OptimizerConfig) -> KimTrainer {
    let config = KimConfig {
        vocab_size: 300,
        emb_dim: 16,
        region_sizes: vec![3, 4, 5],
        feature_maps: 10,
        num_classes: 2,
        dropout: 0.5,
        multichannel: false,
        pooling: Default::default(),
    };
    let pool = thread_pool(threads);
    pool.install(|| {
        let mut tr = KimTrainer::new(KimCnn::new(config, 42), opt);
        for step in 0..5u64 {
            let rows: Vec<Vec<u32>> = (0..16)
                .map(|b| ids_for(5 + (b * 7 + step as usize) % 40, 300, step * 100 + b as u64))
                .collect();
            let (ids, lengths) = pad(&rows, 48);
            let labels: Vec<u32> = (0..16).map(|b| (b % 2) as u32).collect();
            tr.train_step(
                &Batch {
                    ids: &ids,
                    lengths: &lengths,
                    batch: 16,
                    seq_len: 48,
                },
                &labels,
                1000 + step,
            );
        }
        tr
    })
}

fn params_of(tr: &KimTrainer) -> Vec<Vec<f32>> {
    tr.model
        .named_params()
        .into_iter()
        .map(|(_, _, d)| d.to_vec())
        .collect()
}

#[test]
fn training_is_deterministic_and_thread_count_independent() {
    for kind in [
        OptimizerKind::Adam,
        OptimizerKind::Sgd,
        OptimizerKind::Adadelta,
        OptimizerKind::Adamw,
    ] {
        let opt = OptimizerConfig {
            kind,
            clip_grad_norm: Some(1.0),
            max_norm: Some(3.0),
            ..Default::default()
        };
        let a = params_of(&train_some(2, opt.clone()));
        let b = params_of(&train_some(2, opt.clone()));
        let c = params_of(&train_some(1, opt.clone()));
        assert!(
            a == b,
            "{kind:?}: same seed, same thread count → bit-identical"
        );
        assert!(a == c, "{kind:?}: 1 vs 2 threads → bit-identical");
        let init = KimCnn::new(train_some(1, opt).model.config().clone(), 42);
        assert!(a[1] != init.named_params()[1].2, "parameters moved");
    }
}

#[test]
fn sparse_updates_touch_only_batch_rows_and_pad_stays_zero() {
    let config = tiny_config(0.5);
    let init = KimCnn::new(config, 8);
    let (ids, lengths) = pad(&[vec![3, 0, 5, 3], vec![7, 9]], 6);
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 2,
        seq_len: 6,
    };
    let mut sparse = KimTrainer::new(init.clone(), OptimizerConfig::default());
    let mut dense = KimTrainer::new(
        init.clone(),
        OptimizerConfig {
            sparse_embedding: false,
            ..Default::default()
        },
    );
    for s in 0..3 {
        sparse.train_step(&batch, &[0, 1], s);
        dense.train_step(&batch, &[0, 1], s);
    }
    let e0 = init.named_params()[0].2;
    let es = sparse.model.named_params()[0].2;
    let ed = dense.model.named_params()[0].2;
    for r in 0..12 {
        let moved = es[r * 4..(r + 1) * 4] != e0[r * 4..(r + 1) * 4];
        assert_eq!(moved, [3, 5, 7, 9].contains(&r), "row {r}");
    }
    assert!(
        es[..4].iter().all(|&v| v == 0.0) && ed[..4].iter().all(|&v| v == 0.0),
        "<pad> row stays zero"
    );
    // With identical gradients on every step, lazy and dense Adam agree on the batch rows and
    // dense Adam leaves never-seen rows alone too (zero gradient, zero moments).
    assert_eq!(es, ed);
}

#[test]
fn max_norm_holds_after_every_step() {
    let opt = OptimizerConfig {
        kind: OptimizerKind::Sgd,
        lr: 5.0,
        max_norm: Some(0.5),
        ..Default::default()
    };
    let tr = train_some(1, opt);
    let nf = tr.model.config().num_features();
    let fc = &tr.model.named_params()[7];
    assert_eq!(fc.0, "fc.weight");
    for row in fc.2.chunks(nf) {
        let n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(n <= 0.5 + 1e-5, "row norm {n}");
    }
}

#[test]
fn gradient_clipping_limits_the_sgd_step() {
    // Plain SGD with lr 1: the parameter change equals the (clipped) gradient.
    let config = tiny_config(0.0);
    let (ids, lengths) = pad(&[ids_for(6, 12, 1), ids_for(4, 12, 2)], 6);
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 2,
        seq_len: 6,
    };
    let opt = OptimizerConfig {
        kind: OptimizerKind::Sgd,
        lr: 1.0,
        momentum: 0.0,
        clip_grad_norm: Some(0.01),
        ..Default::default()
    };
    let init = KimCnn::new(config, 4);
    let mut tr = KimTrainer::new(init.clone(), opt);
    tr.train_step(&batch, &[0, 2], 3);
    let step_norm: f64 = tr
        .model
        .named_params()
        .iter()
        .zip(init.named_params())
        .map(|((_, _, a), (_, _, b))| {
            a.iter()
                .zip(b)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        .sqrt();
    assert!((step_norm - 0.01).abs() < 1e-4, "step norm {step_norm}");
}

#[test]
fn named_params_round_trip_and_errors() {
    let model = KimCnn::new(tiny_config(0.5), 1);
    let names: Vec<String> = model
        .named_params()
        .iter()
        .map(|(n, _, _)| n.clone())
        .collect();
    assert_eq!(
        names,
        [
            "embedding.weight",
            "conv2.weight",
            "conv2.bias",
            "conv3.weight",
            "conv3.bias",
            "fc.weight",
            "fc.bias"
        ]
    );
    assert_eq!(model.named_params()[3].1, vec![3, 3, 4]);
    let mut map: HashMap<String, (Vec<usize>, Vec<f32>)> = model
        .named_params()
        .into_iter()
        .map(|(n, s, d)| (n, (s, d.to_vec())))
        .collect();
    let back = KimCnn::from_named_params(tiny_config(0.5), &map).unwrap();
    let (ids, lengths) = pad(&[ids_for(6, 12, 1)], 6);
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 1,
        seq_len: 6,
    };
    assert_eq!(model.logits(&batch), back.logits(&batch));

    map.get_mut("conv3.weight").unwrap().0 = vec![3, 4, 3];
    let err = KimCnn::from_named_params(tiny_config(0.5), &map)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("conv3.weight") && err.contains("[3, 3, 4]") && err.contains("[3, 4, 3]"),
        "{err}"
    );
    map.remove("conv3.weight");
    let err = KimCnn::from_named_params(tiny_config(0.5), &map)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing") && err.contains("conv3.weight"),
        "{err}"
    );
    map.insert("conv9.weight".into(), (vec![1], vec![0.0]));
    let err = KimCnn::from_named_params(tiny_config(0.5), &map)
        .unwrap_err()
        .to_string();
    assert!(err.contains("conv9.weight"), "{err}");
}

#[test]
fn duplicate_region_sizes_get_distinct_names() {
    let config = KimConfig {
        region_sizes: vec![3, 3, 4],
        ..tiny_config(0.0)
    };
    let names: Vec<String> = KimCnn::new(config, 1)
        .named_params()
        .iter()
        .map(|(n, _, _)| n.clone())
        .collect();
    assert_eq!(
        &names[1..7],
        [
            "conv3.weight",
            "conv3.bias",
            "conv3_1.weight",
            "conv3_1.bias",
            "conv4.weight",
            "conv4.bias"
        ]
    );
}

#[test]
fn optimizer_state_round_trip_resumes_exactly() {
    for kind in [
        OptimizerKind::Adam,
        OptimizerKind::Sgd,
        OptimizerKind::Adadelta,
    ] {
        let opt = OptimizerConfig {
            kind,
            ..Default::default()
        };
        let mut tr = train_some(1, opt.clone());
        let state: HashMap<String, (Vec<usize>, Vec<f32>)> = tr
            .optimizer_state()
            .into_iter()
            .map(|(n, s, d)| (n, (s, d.into_owned())))
            .collect();
        assert_eq!(state["step"].1, vec![5.0]);
        let mut resumed = KimTrainer::new(tr.model.clone(), opt.clone());
        resumed.load_optimizer_state(&state).unwrap();
        let (ids, lengths) = pad(&[ids_for(9, 300, 77), ids_for(30, 300, 78)], 30);
        let batch = Batch {
            ids: &ids,
            lengths: &lengths,
            batch: 2,
            seq_len: 30,
        };
        tr.train_step(&batch, &[0, 1], 5);
        resumed.train_step(&batch, &[0, 1], 5);
        assert!(params_of(&tr) == params_of(&resumed), "{kind:?}");
        let key = format!("fc.bias.{}", kind.state_names()[0]);
        let mut bad = state.clone();
        bad.remove(&key);
        let err = KimTrainer::new(tr.model.clone(), opt)
            .load_optimizer_state(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&key), "{err}");
    }
}

#[test]
#[should_panic(expected = "shorter than the largest region size")]
fn seq_len_shorter_than_region_is_rejected() {
    let model = KimCnn::new(tiny_config(0.0), 1);
    model.logits(&Batch {
        ids: &[1, 2],
        lengths: &[2],
        batch: 1,
        seq_len: 2,
    });
}

#[test]
fn init_is_deterministic_and_pad_row_zero() {
    let a = KimCnn::new(tiny_config(0.5), 9);
    let b = KimCnn::new(tiny_config(0.5), 9);
    let c = KimCnn::new(tiny_config(0.5), 10);
    let pa: Vec<Vec<f32>> = a.named_params().iter().map(|p| p.2.to_vec()).collect();
    let pb: Vec<Vec<f32>> = b.named_params().iter().map(|p| p.2.to_vec()).collect();
    assert!(pa == pb);
    assert!(pa[0] != c.named_params()[0].2);
    assert!(pa[0][..4].iter().all(|&v| v == 0.0));
    assert!(
        pa[0][4..].iter().all(|&v| v.abs() <= 0.25) && pa[0][4..].iter().any(|&v| v.abs() > 0.2)
    );
    let bound = 1.0 / (2.0f32 * 4.0).sqrt();
    assert!(
        pa[1].iter().all(|&v| v.abs() <= bound) && pa[1].iter().any(|&v| v.abs() > 0.8 * bound)
    );
}
