//! Kim's CNN-multichannel: a frozen and a trained embedding channel convolved by the same
//! filters, summed. Gradient check of the new path, equivalence with the single-channel model,
//! the static channel never moving, and parameter round trips.

#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use textcnn::model::Network;
use textcnn::model::kim::STATIC_EMBEDDING;
use textcnn::model::{Batch, KimCnn, KimConfig, KimTrainer};
use textcnn::nn::optim::OptimizerConfig;

fn config(multichannel: bool, dropout: f32) -> KimConfig {
    KimConfig {
        vocab_size: 12,
        emb_dim: 4,
        region_sizes: vec![2, 3],
        feature_maps: 3,
        num_classes: 3,
        dropout,
        multichannel,
        pooling: Default::default(),
    }
}

fn ids_for(n: usize, vocab: usize, salt: u64) -> Vec<u32> {
    (0..n as u64)
        .map(|i| {
            let z = textcnn::nn::dropout::mix64(i ^ (salt << 32));
            1 + (z % (vocab as u64 - 1)) as u32
        })
        .collect()
}

fn pad(rows: &[Vec<u32>], seq_len: usize) -> (Vec<u32>, Vec<usize>) {
    let mut ids = vec![0u32; rows.len() * seq_len];
    for (b, r) in rows.iter().enumerate() {
        ids[b * seq_len..b * seq_len + r.len()].copy_from_slice(r);
    }
    (ids, rows.iter().map(|r| r.len()).collect())
}

/// A multichannel model whose two channels differ (as after some fine-tuning), weights scaled
/// up so gradients stand well above rounding noise.
fn model(dropout: f32) -> KimCnn {
    let mut m = KimCnn::new(config(true, dropout), 5);
    for (name, _, d) in m.named_params_mut() {
        for (i, v) in d.iter_mut().enumerate() {
            if name.starts_with("embedding") && i < 4 {
                continue; // <pad> rows stay zero
            }
            *v *= 3.0;
            if name == STATIC_EMBEDDING {
                *v = -0.7 * *v + 0.05 * ((i % 7) as f32 - 3.0);
            }
        }
    }
    m
}

fn batch_data() -> (Vec<u32>, Vec<usize>) {
    pad(
        &[
            ids_for(7, 12, 1),
            ids_for(2, 12, 2),
            ids_for(5, 12, 3),
            vec![],
        ],
        7,
    )
}

/// Same bound and reasoning as the single-channel check in `nn_model.rs`:
/// `|analytic − numeric| ≤ 1e-3 + 1e-2·|analytic|`, central differences with ε = 1e-3.
fn gradient_check(dropout: f32) {
    let (ids, lengths) = batch_data();
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 7,
    };
    let labels = [0u32, 2, 1, 1];
    let mut tr = KimTrainer::new(model(dropout), OptimizerConfig::default());
    tr.forward_backward(&batch, &labels, 99);
    let grads = tr.named_grads();
    assert_eq!(grads.last().unwrap().0, STATIC_EMBEDDING);
    let eps = 1e-3f32;
    let mut checked = 0;
    for (pi, (name, _, g)) in grads.iter().enumerate() {
        if name == STATIC_EMBEDDING {
            assert!(g.iter().all(|&v| v == 0.0), "the static channel is frozen");
            continue;
        }
        for k in 0..g.len() {
            if name == "embedding.weight" && k < 4 {
                continue;
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
    assert_eq!(checked, 131, "every trained parameter but the <pad> row");
    // The conv weight gradient includes the static channel's windows: it differs from the
    // gradient of a model that only has the trained channel.
    let mut single = KimTrainer::new(
        {
            let m = model(dropout);
            let mut t: HashMap<String, (Vec<usize>, Vec<f32>)> = m
                .named_params()
                .into_iter()
                .map(|(n, s, d)| (n, (s, d.to_vec())))
                .collect();
            t.remove(STATIC_EMBEDDING);
            KimCnn::from_named_params(config(false, dropout), &t).unwrap()
        },
        OptimizerConfig::default(),
    );
    single.forward_backward(&batch, &labels, 99);
    assert_ne!(single.named_grads()[1].2, grads[1].2);
}

#[test]
fn multichannel_gradient_matches_finite_differences() {
    gradient_check(0.0);
}

#[test]
fn multichannel_gradient_with_dropout_matches_finite_differences() {
    gradient_check(0.5);
}

#[test]
fn channels_are_convolved_by_the_same_filters_and_summed() {
    let m = model(0.0);
    let params: HashMap<String, (Vec<usize>, Vec<f32>)> = m
        .named_params()
        .into_iter()
        .map(|(n, s, d)| (n, (s, d.to_vec())))
        .collect();
    let (ids, lengths) = batch_data();
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 7,
    };
    // By linearity W·x₁ + W·x₂ = W·(x₁ + x₂): a single-channel model whose embedding is the sum
    // of the two channels has the same logits.
    let mut summed = params.clone();
    let stat = summed.remove(STATIC_EMBEDDING).unwrap().1;
    for (v, s) in summed
        .get_mut("embedding.weight")
        .unwrap()
        .1
        .iter_mut()
        .zip(&stat)
    {
        *v += s;
    }
    let single = KimCnn::from_named_params(config(false, 0.0), &summed).unwrap();
    let (a, b) = (m.logits(&batch), single.logits(&batch));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
    // A zero static channel gives exactly the single-channel model.
    let mut zero = params.clone();
    zero.get_mut(STATIC_EMBEDDING).unwrap().1.fill(0.0);
    let mc = KimCnn::from_named_params(config(true, 0.0), &zero).unwrap();
    zero.remove(STATIC_EMBEDDING);
    let sc = KimCnn::from_named_params(config(false, 0.0), &zero).unwrap();
    assert_eq!(mc.logits(&batch), sc.logits(&batch));
}

#[test]
fn static_channel_never_moves_and_has_no_optimizer_state() {
    let m = KimCnn::new(config(true, 0.5), 3);
    let named = m.named_params();
    assert_eq!(
        named[0].2,
        named.last().unwrap().2,
        "both channels start equal"
    );
    let before = named.last().unwrap().2.to_vec();
    let emb_before = named[0].2.to_vec();
    let mut tr = KimTrainer::new(m, OptimizerConfig::default());
    let (ids, lengths) = batch_data();
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 7,
    };
    for s in 0..3 {
        tr.train_step(&batch, &[0, 1, 2, 1], s);
    }
    let after = tr.model.named_params();
    assert_eq!(after.last().unwrap().2, &before[..]);
    assert_ne!(after[0].2, &emb_before[..], "the other channel is trained");
    assert!(
        tr.optimizer_state()
            .iter()
            .all(|(n, _, _)| !n.starts_with(STATIC_EMBEDDING))
    );
    // Round trip of parameters and optimizer state.
    let t: HashMap<String, (Vec<usize>, Vec<f32>)> = after
        .into_iter()
        .map(|(n, s, d)| (n, (s, d.to_vec())))
        .collect();
    let back = KimCnn::from_named_params(config(true, 0.5), &t).unwrap();
    assert_eq!(back.logits(&batch), tr.model.logits(&batch));
    let st: HashMap<String, (Vec<usize>, Vec<f32>)> = tr
        .optimizer_state()
        .into_iter()
        .map(|(n, s, d)| (n, (s, d.into_owned())))
        .collect();
    let mut tr2 = KimTrainer::new(back, OptimizerConfig::default());
    tr2.load_optimizer_state(&st).unwrap();
    // A single-channel config rejects the extra tensor.
    let err = KimCnn::from_named_params(config(false, 0.5), &t)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(STATIC_EMBEDDING), "{err}");
}

#[test]
fn configs_without_the_field_load_as_single_channel_and_omit_it() {
    let old = r#"{"vocab_size":12,"emb_dim":4,"region_sizes":[2,3],"feature_maps":3,"num_classes":3,"dropout":0.5}"#;
    let c: KimConfig = serde_json::from_str(old).unwrap();
    assert!(!c.multichannel);
    assert_eq!(serde_json::to_string(&c).unwrap(), old);
    let mc = serde_json::to_string(&config(true, 0.5)).unwrap();
    assert!(mc.contains("\"multichannel\":true"));
}
