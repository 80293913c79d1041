use super::*;

/// A batch of `lengths.len()` rows of `seq_len` positions with pseudo-random ids from a
/// small vocabulary (many repeats); padding positions hold arbitrary ids, not 0.
fn batch_ids(lengths: &[usize], seq_len: usize, vocab: usize) -> Vec<u32> {
    (0..lengths.len() * seq_len)
        .map(|i| ((i * 7919 + 13) % (vocab - 1) + 1) as u32)
        .collect()
}

fn assert_paths_agree(config: KimConfig, lengths: &[usize], seq_len: usize) {
    let mut model = KimCnn::new(config.clone(), 3);
    if config.multichannel {
        let v = model.embedding_static.len();
        model.embedding_static = (0..v).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
    }
    let ids = batch_ids(lengths, seq_len, config.vocab_size);
    let batch = Batch {
        ids: &ids,
        lengths,
        batch: lengths.len(),
        seq_len,
    };
    let nf = config.num_features();
    let n = lengths.len() * nf;
    let (mut p1, mut a1) = (vec![0.0; n], vec![0u32; n]);
    let (mut p2, mut a2) = (vec![0.0; n], vec![0u32; n]);
    // Every window's convolution, as training keeps it for mean pooling: `[batch, R,
    // seq_len, maps]`, compared over the valid windows.
    let per = config.region_sizes.len() * seq_len * config.feature_maps;
    let (mut w1, mut w2, mut w3) = (
        vec![f32::NAN; lengths.len() * per],
        vec![f32::NAN; lengths.len() * per],
        vec![f32::NAN; lengths.len() * per],
    );
    model.features_gemm(&batch, &mut p1, &mut a1, Some(&mut w1));
    let d = DistinctTokens::new(&ids, lengths, seq_len, config.vocab_size);
    model.features_projected(&batch, &d, &mut p2, &mut a2, Some(&mut w2));
    let mut scatter = model.clone();
    scatter.set_conv_path(ConvPath::Scatter);
    let (mut p3, mut a3) = (vec![0.0; n], vec![0u32; n]);
    scatter.features_path(
        &batch,
        &mut p3,
        &mut a3,
        Some(&mut w3),
        false,
        &mut Vec::new(),
    );
    let maps = config.feature_maps;
    for (b, &len) in lengths.iter().enumerate() {
        for (r, &h) in config.region_sizes.iter().enumerate() {
            let at = b * per + r * seq_len * maps;
            let valid = at..at + valid_windows(len, h) * maps;
            for i in valid {
                let tol = 1e-5 * w1[i].abs().max(1.0);
                assert!((w1[i] - w2[i]).abs() <= tol, "window value {i}");
                assert!((w1[i] - w3[i]).abs() <= tol, "window value {i}");
            }
        }
    }
    // Mean pooling: the mean block is relu(window + bias) averaged over the valid windows.
    if config.pooling.has_mean() {
        let mf = config.max_features();
        for (b, &len) in lengths.iter().enumerate() {
            for (r, &h) in config.region_sizes.iter().enumerate() {
                let nw = valid_windows(len, h);
                for f in 0..maps {
                    let bias = model.convs[r].bias[f];
                    let want: f32 = (0..nw)
                        .map(|t| (w1[b * per + (r * seq_len + t) * maps + f] + bias).max(0.0))
                        .sum::<f32>()
                        / nw as f32;
                    let got = p3[b * nf + mf + r * maps + f];
                    assert!(
                        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                        "mean {b} {r} {f}: {got} vs {want}"
                    );
                }
            }
        }
    }
    for i in 0..n {
        let tol = 1e-5 * p1[i].abs().max(1.0);
        assert!(
            (p1[i] - p2[i]).abs() <= tol,
            "feature {i}: {} vs {}",
            p1[i],
            p2[i]
        );
    }
    // The same windows win (no near-ties in these random weights).
    assert_eq!(a1, a2);

    // Scatter: in training (every token projected per batch), and at inference with a
    // projection cache of no word, of part of the vocabulary (the other tokens projected
    // per batch) and of all of it.
    let width: usize = config.region_sizes.iter().sum::<usize>() * config.feature_maps;
    let v = config.vocab_size;
    let mut scattered = Vec::new();
    for (inference, cache_rows) in [(false, v), (true, 0), (true, v / 2), (true, v)] {
        let mut m = model.clone();
        m.set_conv_path(ConvPath::Scatter);
        m.set_proj_cache_bytes(cache_rows * width * 4);
        assert_eq!(m.proj_cache_rows(), cache_rows);
        if inference {
            // Built now: a small batch alone would not build it (see the next test).
            assert_eq!(m.warm_proj_cache(), cache_rows);
        }
        let (mut p4, mut a4) = (vec![f32::NAN; n], vec![u32::MAX; n]);
        if inference {
            m.features_inference(&batch, &mut p4, &mut a4);
        } else {
            m.features(&batch, &mut p4, &mut a4);
        }
        for i in 0..n {
            let tol = 1e-5 * p1[i].abs().max(1.0);
            assert!(
                (p1[i] - p4[i]).abs() <= tol,
                "scatter (inference {inference}, cache {cache_rows}) feature {i}: {} vs {}",
                p1[i],
                p4[i]
            );
        }
        assert_eq!(a1, a4, "inference {inference}, cache {cache_rows}");
        // The logits of the default path (cache + scatter) against the GEMM path's:
        // within 1e-5 relative, the same class.
        let mut g = model.clone();
        g.set_conv_path(ConvPath::Gemm);
        m.set_conv_path(ConvPath::Auto);
        let (zg, zs) = (g.logits(&batch), m.logits(&batch));
        for (row_g, row_s) in zg
            .chunks(config.num_classes)
            .zip(zs.chunks(config.num_classes))
        {
            for (a, b) in row_g.iter().zip(row_s) {
                assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
            }
            assert_eq!(crate::nn::argmax(row_g), crate::nn::argmax(row_s));
        }
        scattered.push(p4);
    }
    // Scatter without a cache in training and at inference: the same computation.
    assert_eq!(scattered[0], scattered[1]);
    // Whichever path `features` picks (GEMM or scatter), it gives one of these results.
    let (mut p3, mut a3) = (vec![0.0; n], vec![0u32; n]);
    model.features(&batch, &mut p3, &mut a3);
    assert!(p3 == p1 || p3 == scattered[0]);
    // With and without keeping the windows, the same features.
    let (mut p5, mut a5) = (vec![0.0; n], vec![0u32; n]);
    model.features_gemm(&batch, &mut p5, &mut a5, None);
    assert_eq!(p5, p1);
}

#[test]
fn training_by_scatter_follows_the_gemm_path_in_every_embedding_mode() {
    // Non-static, static (frozen table) and multichannel: a few Adam steps by each path
    // from the same start give the same losses, and the trained models the same logits
    // (inference through the projection cache, built after training).
    use crate::model::{Model, Trainer};
    use crate::nn::optim::OptimizerConfig;
    let lengths = [11, 4, 0, 9];
    let ids = batch_ids(&lengths, 11, 50);
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 4,
        seq_len: 11,
    };
    let labels = [0, 1, 1, 0];
    for (multichannel, freeze) in [(false, false), (false, true), (true, false)] {
        let config = KimConfig {
            vocab_size: 50,
            emb_dim: 12,
            region_sizes: vec![2, 3, 5],
            feature_maps: 7,
            num_classes: 2,
            dropout: 0.5,
            multichannel,
            pooling: Default::default(),
        };
        let run = |path: ConvPath| {
            let mut m = KimCnn::new(config.clone(), 9);
            m.set_conv_path(path);
            let optim = OptimizerConfig {
                freeze_embedding: freeze,
                ..OptimizerConfig::default()
            };
            let mut tr = Trainer::new(Model::Kim(m), optim);
            let losses: Vec<f32> = (0..4)
                .map(|i| tr.train_step(&batch, &labels, i).loss)
                .collect();
            let Model::Kim(mut m) = tr.model() else {
                unreachable!()
            };
            m.set_conv_path(ConvPath::Auto);
            (losses, m.logits(&batch), m.embedding.clone())
        };
        let (lg, zg, eg) = run(ConvPath::Gemm);
        let (ls, zs, es) = run(ConvPath::Scatter);
        let close = |a: &[f32], b: &[f32], tol: f32| {
            a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= tol * x.abs().max(1.0))
        };
        let mode = (multichannel, freeze);
        assert!(close(&lg, &ls, 1e-5), "{mode:?}: {lg:?} vs {ls:?}");
        assert!(close(&zg, &zs, 1e-4), "{mode:?}: {zg:?} vs {zs:?}");
        assert!(close(&eg, &es, 1e-4), "{mode:?}");
        // Static: the table did not move.
        if freeze {
            assert_eq!(eg, KimCnn::new(config.clone(), 9).embedding);
        }
    }
}

#[test]
fn projection_cache_follows_parameter_changes_and_thread_counts() {
    let config = KimConfig {
        vocab_size: 30,
        emb_dim: 8,
        region_sizes: vec![2, 3],
        feature_maps: 6,
        num_classes: 2,
        dropout: 0.0,
        multichannel: false,
        pooling: Default::default(),
    };
    let mut model = KimCnn::new(config.clone(), 5);
    let lengths = [7, 3, 9];
    let ids = batch_ids(&lengths, 9, 30);
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 3,
        seq_len: 9,
    };
    let gemm_logits = |m: &KimCnn| {
        let mut g = m.clone();
        g.set_conv_path(ConvPath::Gemm);
        g.logits(&batch)
    };
    let close = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-5 * x.abs().max(1.0))
    };
    assert_eq!(model.proj_cache_rows(), 30);
    assert_eq!(model.warm_proj_cache(), 30);
    assert!(close(&model.logits(&batch), &gemm_logits(&model)));
    // Changing a parameter drops the cache: the logits follow the new weights.
    use crate::model::network::Network;
    for p in model.params_mut() {
        for (i, v) in p.iter_mut().enumerate() {
            *v += (i % 5) as f32 * 0.01;
        }
    }
    model.embedding_mut()[..8].fill(0.0);
    let changed = gemm_logits(&model);
    assert!(close(&model.logits(&batch), &changed));
    model.embedding_mut()[ids[0] as usize * 8] += 1.0;
    assert!(close(&model.logits(&batch), &gemm_logits(&model)));
    assert!(!close(&changed, &gemm_logits(&model)));
    // The same bits for 1 and 2 threads, with and without a cache (building it included).
    for cap in [DEFAULT_PROJ_CACHE_BYTES, 10 * 5 * 6 * 4, 0] {
        let run = |threads: usize| {
            let mut m = model.clone();
            m.set_proj_cache_bytes(cap);
            crate::nn::thread_pool(threads).install(|| m.logits(&batch))
        };
        assert_eq!(run(1), run(2), "cap {cap}");
    }
}

#[test]
fn the_cache_is_built_once_inference_has_read_as_many_positions_as_it_has_rows() {
    let config = KimConfig {
        vocab_size: 100,
        emb_dim: 4,
        region_sizes: vec![2],
        feature_maps: 3,
        num_classes: 2,
        dropout: 0.0,
        multichannel: false,
        pooling: Default::default(),
    };
    let mut model = KimCnn::new(config, 1);
    model.set_conv_path(ConvPath::Scatter);
    assert_eq!(model.proj_cache_rows(), 100);
    let ids: Vec<u32> = (1..=30).collect();
    let lengths = [30];
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: 1,
        seq_len: 30,
    };
    let (mut p, mut a) = (vec![0.0; 3], vec![0u32; 3]);
    // 30, 60, 90 positions read: below the 100 rows, no table.
    for _ in 0..3 {
        model.features_inference(&batch, &mut p, &mut a);
        assert!(model.proj_cache.table.get().is_none());
    }
    let before = p.clone();
    // 120 positions: the table is built and used, with the same features.
    model.features_inference(&batch, &mut p, &mut a);
    assert_eq!(model.proj_cache.table.get().map(|t| t.rows), Some(100));
    for (x, y) in before.iter().zip(&p) {
        assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0));
    }
    // A clone shares the built table; a parameter change drops it and counts again.
    assert!(model.clone().proj_cache.table.get().is_some());
    model.embedding_mut()[4] += 1.0;
    assert!(model.proj_cache.table.get().is_none());
}

#[test]
fn projection_and_gemm_paths_agree() {
    let config = KimConfig {
        vocab_size: 40,
        emb_dim: 24,
        region_sizes: vec![1, 3, 5],
        feature_maps: 19,
        num_classes: 3,
        dropout: 0.5,
        multichannel: false,
        pooling: Default::default(),
    };
    // Padding, texts shorter than the widest region, an empty text, one long text.
    assert_paths_agree(config.clone(), &[12, 2, 0, 5, 30, 4], 30);
    assert_paths_agree(config.clone(), &[1], 5);
    // Texts full length (every window valid) and only padding.
    assert_paths_agree(config.clone(), &[8, 8, 8], 8);
    assert_paths_agree(config.clone(), &[0, 0], 6);
    assert_paths_agree(
        KimConfig {
            multichannel: true,
            ..config.clone()
        },
        &[9, 3, 17],
        17,
    );
    // Max and mean pooling, every path.
    let mean = KimConfig {
        pooling: Pooling::MaxMean,
        ..config
    };
    assert_paths_agree(mean.clone(), &[12, 2, 0, 5, 30, 4], 30);
    assert_paths_agree(mean.clone(), &[0, 0], 6);
    assert_paths_agree(
        KimConfig {
            multichannel: true,
            ..mean
        },
        &[9, 3, 17],
        17,
    );
}
