//! `textcnn bench --workload imdb`: the Kim CNN on real text — IMDB training reviews with the
//! default tokenizer, vocabulary (80,000 words) and input length (400 tokens, head+tail) —
//! through both convolution paths, the GEMM over windows and the per-token projection
//! ([`textcnn::nn::token_proj`]). Random token ids (workload `kim`) have far more distinct tokens
//! per batch than text does, so they understate the projection's gain.

use std::time::Instant;

use anyhow::{Result, ensure};
use textcnn::batch::PaddedBatch;
use textcnn::data::{ReadOptions, load_dataset};
use textcnn::model::{ConvPath, KimCnn, KimConfig, Model};
use textcnn::nn::thread_pool;
use textcnn::text::{Encoded, Tokenizer, Vocab, encode, tokenize_all};
use textcnn::train::TrainConfig;

use super::bench::{BenchArgs, WARMUP, median, time_training_batches};

/// Reviews read (the first ones of `imdb:train`).
const REVIEWS: usize = 2_048;

pub fn run(args: &BenchArgs) -> Result<()> {
    let ds = load_dataset("imdb:train", &ReadOptions::default())?;
    ensure!(
        ds.len() >= REVIEWS,
        "imdb:train has only {} reviews",
        ds.len()
    );
    let defaults = TrainConfig::default();
    let tokenizer = Tokenizer::new(defaults.tokenizer.clone());
    let texts: Vec<&str> = ds.examples.iter().map(|e| e.text.as_str()).collect();
    let tokens = tokenize_all(&tokenizer, &texts);
    let vocab = Vocab::build(
        tokens.iter().map(|t| t.as_slice()),
        defaults.min_count,
        Some(defaults.vocab_size),
    );
    let enc_cfg = defaults.encode();
    let encoded: Vec<Encoded> = tokens[..REVIEWS]
        .iter()
        .map(|t| encode(t, &vocab, &enc_cfg))
        .collect();
    let labels: Vec<u32> = ds.examples[..REVIEWS]
        .iter()
        .map(|e| u32::from(e.label() == "pos"))
        .collect();
    let config = KimConfig {
        vocab_size: vocab.len(),
        emb_dim: defaults.emb_dim,
        region_sizes: defaults.region_sizes.clone(),
        feature_maps: defaults.feature_maps,
        num_classes: 2,
        dropout: defaults.dropout,
        multichannel: false,
        pooling: Default::default(),
    };
    let batches = |size: usize| -> Vec<(PaddedBatch, Vec<u32>)> {
        encoded
            .chunks(size)
            .zip(labels.chunks(size))
            .map(|(rows, y)| {
                let refs: Vec<&Encoded> = rows.iter().collect();
                (PaddedBatch::new(&refs, enc_cfg.min_len), y.to_vec())
            })
            .collect()
    };
    let train = batches(defaults.batch_size);
    let infer = batches(256);
    let long = encoded
        .iter()
        .find(|e| e.len_unpadded() >= enc_cfg.max_len)
        .expect("a review of max_len tokens");
    let single = PaddedBatch::new(&[long], enc_cfg.min_len);
    println!(
        "workload imdb: {} IMDB training reviews, vocabulary {}, {} tokens {:?}, emb {}, regions {:?} x {}, batch {} (train) / 256 (inference)",
        REVIEWS,
        vocab.len(),
        enc_cfg.max_len,
        enc_cfg.truncation,
        config.emb_dim,
        config.region_sizes,
        config.feature_maps,
        defaults.batch_size
    );
    println!(
        "| threads | convolution | train ms/step (median of {}) | inference reviews/s (batch 256) | latency ms (batch 1, {} tokens) | projection cache: words, build ms |",
        args.steps, enc_cfg.max_len
    );
    println!("|---|---|---|---|---|---|");
    for &threads in &args.threads {
        let pool = thread_pool(threads);
        let n = pool.current_num_threads();
        let chosen = ConvPath::from(args.conv_path);
        let name = format!("{:?}", args.conv_path).to_lowercase();
        for (name, path) in [("gemm", ConvPath::Gemm), (name.as_str(), chosen)] {
            let row = pool.install(|| measure(&config, path, &train, &infer, &single, args));
            println!(
                "| {n} | {name} | {:.1} | {:.0} | {:.2} | {}, {:.0} |",
                row.0, row.1, row.2, row.3, row.4
            );
        }
    }
    Ok(())
}

/// Training ms/step, inference reviews/s, batch-1 latency ms and the projection cache's words
/// and build ms of a Kim CNN of `config` on convolution path `path` (in the current pool).
fn measure(
    config: &KimConfig,
    path: ConvPath,
    train: &[(PaddedBatch, Vec<u32>)],
    infer: &[(PaddedBatch, Vec<u32>)],
    single: &PaddedBatch,
    args: &BenchArgs,
) -> (f64, f64, f64, usize, f64) {
    let mut model = KimCnn::new(config.clone(), 42);
    model.set_conv_path(path);
    model.set_proj_cache_bytes(args.proj_cache_mb.saturating_mul(1 << 20));
    let views: Vec<_> = train
        .iter()
        .map(|(b, y)| (b.view(), y.as_slice()))
        .collect();
    let (ms, _, _) = time_training_batches(Model::Kim(model.clone()), &views, args.steps);
    let t0 = Instant::now();
    let words = model.warm_proj_cache();
    let build_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut times = Vec::new();
    for i in 0..WARMUP + args.steps {
        let (b, _) = &infer[i % infer.len()];
        let t0 = Instant::now();
        std::hint::black_box(model.logits(&b.view()));
        if i >= WARMUP {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    // Throughput over the batches timed: their real sizes.
    let rps = 256.0 / median(&mut times);
    let mut lat = Vec::new();
    for i in 0..WARMUP + 4 * args.steps {
        let t0 = Instant::now();
        std::hint::black_box(model.logits(&single.view()));
        if i >= WARMUP {
            lat.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    (ms, rps, median(&mut lat), words, build_ms)
}
