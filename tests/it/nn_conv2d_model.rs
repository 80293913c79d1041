//! Whole-model checks of the conv2d network: gradient check of every parameter, determinism
//! across thread counts, consistency of inference with training, parameter and optimizer-state
//! round trips, block specs and parameter counts.

#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use textcnn::model::Network;
use textcnn::model::{
    Batch, Conv2dBlock, Conv2dConfig, Conv2dNet, Conv2dTrainer, InitScheme, Model, PoolKind,
    Trainer,
};
use textcnn::nn::optim::{OptimizerConfig, OptimizerKind};
use textcnn::nn::thread_pool;

fn tiny_config(dropout: f32) -> Conv2dConfig {
    Conv2dConfig {
        vocab_size: 9,
        emb_dim: 4,
        seq_len: 6,
        blocks: vec!["3x2:max2".parse().unwrap(), "2x3:avg1".parse().unwrap()],
        hidden: vec![5],
        dropout,
        num_classes: 3,
        init: InitScheme::Torch,
    }
}

/// Rows of different lengths (one longer than the model's seq_len 6, cut by the model), padded
/// to 8 with id 0.
fn batch_data() -> (Vec<u32>, Vec<usize>, Vec<u32>) {
    let rows: Vec<Vec<u32>> = vec![
        vec![1, 2, 3, 4, 5, 6, 7, 8],
        vec![8, 3, 3],
        vec![2, 7, 1, 4, 6, 5],
        vec![5],
    ];
    let mut ids = vec![0u32; rows.len() * 8];
    for (b, r) in rows.iter().enumerate() {
        ids[b * 8..b * 8 + r.len()].copy_from_slice(r);
    }
    (
        ids,
        rows.iter().map(|r| r.len()).collect(),
        vec![0, 2, 1, 2],
    )
}

/// Central differences of the training loss (fixed dropout mask from the seed) against the
/// analytic gradient of every parameter. ε = 1e-3 on an f32 loss ≈ 1: rounding ≈ 1e-4; ReLU
/// and max-pooling kinks are not crossed by this data. Bound `|a − n| ≤ 1e-3 + 1e-2·|a|`.
fn gradient_check(dropout: f32) {
    let mut model = Conv2dNet::new(tiny_config(dropout), 3);
    for (name, _, d) in model.named_params_mut() {
        let skip = if name == "embedding.weight" { 4 } else { 0 };
        for v in d.iter_mut().skip(skip) {
            *v *= 2.0;
        }
    }
    let (ids, lengths, labels) = batch_data();
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 8,
    };
    let mut tr = Conv2dTrainer::new(model, OptimizerConfig::default());
    let seed = 17;
    tr.forward_backward(&batch, &labels, seed);
    let grads = tr.named_grads();
    let n_params = grads.len();
    let eps = 1e-3f32;
    let mut checked = 0;
    for pi in 0..n_params {
        let (name, _, g) = &grads[pi];
        for k in 0..g.len() {
            if name == "embedding.weight" && k < 4 {
                continue; // <pad> row: never trained
            }
            let old = tr.model.named_params()[pi].2[k];
            let mut loss_at = |v: f32| {
                tr.model.named_params_mut()[pi].2[k] = v;
                tr.forward_backward(&batch, &labels, seed).loss as f64
            };
            let lp = loss_at(old + eps);
            let lm = loss_at(old - eps);
            loss_at(old);
            let n = (lp - lm) / (2.0 * eps as f64);
            let a = g[k] as f64;
            assert!(
                (a - n).abs() <= 1e-3 + 1e-2 * a.abs(),
                "{name}[{k}]: analytic {a} vs numeric {n} (dropout {dropout})"
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
}

#[test]
fn gradients_match_finite_differences() {
    gradient_check(0.0);
}

#[test]
fn gradients_match_finite_differences_with_dropout() {
    gradient_check(0.3);
}

#[test]
fn inference_matches_training_forward_and_ignores_padding_ids() {
    let model = Conv2dNet::new(tiny_config(0.0), 4);
    let (ids, lengths, labels) = batch_data();
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 8,
    };
    let logits = model.logits(&batch);
    // Mean cross-entropy of the inference logits = the training loss without dropout.
    let mut ce = 0.0f64;
    for (b, &y) in labels.iter().enumerate() {
        let z = &logits[b * 3..(b + 1) * 3];
        let m = z.iter().copied().fold(f32::MIN, f32::max) as f64;
        let lse = m + z.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        ce += lse - z[y as usize] as f64;
    }
    let mut tr = Conv2dTrainer::new(model.clone(), OptimizerConfig::default());
    let loss = tr.forward_backward(&batch, &labels, 0).loss as f64;
    assert!((loss - ce / 4.0).abs() < 1e-5, "{loss} vs {}", ce / 4.0);
    // Junk ids past each row's length and a different batch seq_len do not change the logits.
    let mut junk = ids.clone();
    for (b, &len) in lengths.iter().enumerate() {
        for p in len..8 {
            junk[b * 8 + p] = 7;
        }
    }
    let l2 = model.logits(&Batch {
        ids: &junk,
        lengths: &lengths,
        batch: 4,
        seq_len: 8,
    });
    assert_eq!(logits, l2);
    let one = model.logits(&Batch {
        ids: &[2, 7, 1, 4, 6, 5],
        lengths: &[6],
        batch: 1,
        seq_len: 6,
    });
    assert_eq!(&logits[6..9], &one[..]);
}

#[test]
fn training_is_deterministic_across_thread_counts_and_learns() {
    let (ids, lengths, labels) = batch_data();
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 8,
    };
    let run = |threads: usize, dropout: f32| {
        thread_pool(threads).install(|| {
            let opt = OptimizerConfig {
                lr: 0.003,
                ..OptimizerConfig::default()
            };
            let cfg = Conv2dConfig {
                hidden: vec![16],
                ..tiny_config(dropout)
            };
            let mut tr = Conv2dTrainer::new(Conv2dNet::new(cfg, 1), opt);
            let losses: Vec<f32> = (0..30)
                .map(|s| tr.train_step(&batch, &labels, s).loss)
                .collect();
            let params: Vec<Vec<f32>> = tr
                .model
                .named_params()
                .into_iter()
                .map(|(_, _, d)| d.to_vec())
                .collect();
            (losses, params)
        })
    };
    let (l1, p1) = run(1, 0.5);
    let (l2, p2) = run(2, 0.5);
    assert_eq!(l1, l2);
    assert_eq!(p1, p2);
    let (l, _) = run(2, 0.0);
    assert!(l[29] < l[0] - 0.03, "{l:?}");
}

#[test]
fn params_and_optimizer_state_round_trip_through_the_generic_wrappers() {
    let (ids, lengths, labels) = batch_data();
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 8,
    };
    for kind in [OptimizerKind::Adam, OptimizerKind::Sgd] {
        let opt = OptimizerConfig {
            kind,
            lr: 0.01,
            ..OptimizerConfig::default()
        };
        let arch = textcnn::bundle::Architecture::Conv2d(tiny_config(0.2));
        let mut a = Trainer::new(Model::new(&arch, 2), opt.clone());
        for s in 0..2 {
            a.train_step(&batch, &labels, s);
        }
        let tensors: HashMap<String, (Vec<usize>, Vec<f32>)> = a
            .named_params()
            .into_iter()
            .map(|(n, s, d)| (n, (s, d.to_vec())))
            .collect();
        let state: HashMap<String, (Vec<usize>, Vec<f32>)> = a
            .optimizer_state()
            .into_iter()
            .map(|(n, s, d)| (n, (s, d.into_owned())))
            .collect();
        let mut b = Trainer::new(Model::from_named_params(&arch, &tensors).unwrap(), opt);
        b.load_optimizer_state(&state).unwrap();
        a.train_step(&batch, &labels, 5);
        b.train_step(&batch, &labels, 5);
        let pa: Vec<Vec<f32>> = a.named_params().into_iter().map(|x| x.2.to_vec()).collect();
        let pb: Vec<Vec<f32>> = b.named_params().into_iter().map(|x| x.2.to_vec()).collect();
        assert_eq!(pa, pb, "{kind:?}");
    }
}

#[test]
fn from_named_params_checks_names_and_shapes() {
    let cfg = tiny_config(0.0);
    let model = Conv2dNet::new(cfg.clone(), 1);
    let good: HashMap<String, (Vec<usize>, Vec<f32>)> = model
        .named_params()
        .into_iter()
        .map(|(n, s, d)| (n, (s, d.to_vec())))
        .collect();
    let names: Vec<String> = model.named_params().into_iter().map(|x| x.0).collect();
    assert_eq!(
        names,
        [
            "embedding.weight",
            "conv0.weight",
            "conv0.bias",
            "conv1.weight",
            "conv1.bias",
            "hidden0.weight",
            "hidden0.bias",
            "fc.weight",
            "fc.bias"
        ]
    );
    assert_eq!(good["conv1.weight"].0, vec![3, 2, 2, 2]);
    assert_eq!(good["hidden0.weight"].0, vec![5, 18]); // 3 maps × 3 × 2 after pooling 6×4 by 2
    Conv2dNet::from_named_params(cfg.clone(), &good).unwrap();
    let mut missing = good.clone();
    missing.remove("conv0.bias");
    let e = Conv2dNet::from_named_params(cfg.clone(), &missing).unwrap_err();
    assert!(e.to_string().contains("conv0.bias"), "{e}");
    let mut shaped = good.clone();
    shaped.get_mut("fc.weight").unwrap().0 = vec![5, 3];
    let e = Conv2dNet::from_named_params(cfg.clone(), &shaped).unwrap_err();
    assert!(e.to_string().contains("fc.weight"), "{e}");
    let mut extra = good;
    extra.insert("conv9.weight".into(), (vec![1], vec![0.0]));
    assert!(Conv2dNet::from_named_params(cfg, &extra).is_err());
}

#[test]
fn block_specs_parse_and_print_and_parameter_counts() {
    let b: Conv2dBlock = "3x64:max2".parse().unwrap();
    assert_eq!(
        b,
        Conv2dBlock {
            kernel: 3,
            maps: 64,
            pool: 2,
            pool_kind: PoolKind::Max
        }
    );
    assert_eq!(b.to_string(), "3x64:max2");
    assert_eq!(
        "5x8:avg3".parse::<Conv2dBlock>().unwrap().pool_kind,
        PoolKind::Avg
    );
    assert_eq!("5x8".parse::<Conv2dBlock>().unwrap().pool, 1);
    let d = Conv2dBlock::parse_with_default("3x4:2", PoolKind::Avg).unwrap();
    assert_eq!((d.pool, d.pool_kind), (2, PoolKind::Avg));
    assert!("3:max2".parse::<Conv2dBlock>().is_err());
    assert!("3x4:min2".parse::<Conv2dBlock>().is_err());
    // The seed preset at 400 tokens: 64·200·50 = 640,000 features × 64 hidden.
    let seed = Conv2dConfig {
        vocab_size: 10_002,
        emb_dim: 100,
        seq_len: 400,
        blocks: vec![b],
        hidden: vec![64],
        dropout: 0.5,
        num_classes: 2,
        init: InitScheme::Keras,
    };
    assert_eq!(seed.num_features(), 640_000);
    assert_eq!(
        seed.num_params(),
        10_002 * 100 + (64 * 9 + 64) + (640_000 * 64 + 64) + (64 * 2 + 2)
    );
    // A pooling window larger than its input is rejected.
    let bad = Conv2dConfig { seq_len: 1, ..seed };
    assert!(bad.validate().unwrap_err().to_string().contains("pooling"));
}

/// Largest |value| of a tensor.
fn max_abs(d: &[f32]) -> f32 {
    d.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

#[test]
fn init_schemes_use_their_documented_bounds() {
    // A wide first dense layer, as in the seed preset: 8 maps · 20 · 10 = 1,600 features.
    let cfg = |init| Conv2dConfig {
        vocab_size: 50,
        emb_dim: 20,
        seq_len: 40,
        blocks: vec!["3x8:max2".parse().unwrap()],
        hidden: vec![16],
        dropout: 0.5,
        num_classes: 2,
        init,
    };
    // (name, Keras bound, Torch bound) per tensor; fan_in/fan_out of conv 3×3: 9 / 72.
    let glorot = |i: usize, o: usize| (6.0 / (i + o) as f32).sqrt();
    let expect = [
        ("embedding.weight", 0.05, 0.25),
        ("conv0.weight", glorot(9, 72), 1.0 / 3.0),
        ("conv0.bias", 0.0, 1.0 / 3.0),
        ("hidden0.weight", glorot(1600, 16), 1.0 / 40.0),
        ("hidden0.bias", 0.0, 1.0 / 40.0),
        ("fc.weight", glorot(16, 2), 0.25),
        ("fc.bias", 0.0, 0.25),
    ];
    for (init, col) in [(InitScheme::Keras, 0), (InitScheme::Torch, 1)] {
        let model = Conv2dNet::new(cfg(init), 7);
        let params = model.named_params();
        assert_eq!(params.len(), expect.len());
        for ((name, _, data), (ename, kb, tb)) in params.iter().zip(expect) {
            assert_eq!(name, ename);
            let bound = if col == 0 { kb } else { tb };
            let m = max_abs(data);
            assert!(m <= bound, "{init:?} {name}: max |w| {m} > bound {bound}");
            // Uniform draws come close to the bound when the tensor has many entries.
            if data.len() >= 100 {
                assert!(
                    m > 0.9 * bound,
                    "{init:?} {name}: max |w| {m} far below {bound}"
                );
            }
            if bound == 0.0 {
                assert!(data.iter().all(|&v| v == 0.0), "{init:?} {name} not zero");
            }
        }
        // The <pad> row stays zero.
        assert!(params[0].2[..20].iter().all(|&v| v == 0.0));
    }
}
