//! Where the time of a Kim CNN training step on random token ids goes (a benchmark, not a test):
//! the workload `kim` of `textcnn bench` (vocab 30,000, emb 128, 400 tokens, batch 64, region
//! sizes 3/4/5 × 100 maps, Adam), with the parts of the forward pass timed alone.
//!
//! ```text
//! cargo run --release --example kim_step_parts -- 1,2 20
//! ```
//!
//! Per thread count, medians in ms of: a whole training step by the GEMM path and by the
//! scatter path ([`ConvPath`]); the forward pass alone by each (logits of the batch); and the
//! scatter path's two parts: the projection GEMM of the batch's distinct tokens
//! (`[distinct, 128] × [128, 1200]`) and the scatter over the projected rows. It also prints the
//! batch's distinct tokens, the multiply-adds of each GEMM and the bytes the scatter path must
//! move at least (the projected table written once, one row read per position).

use std::time::Instant;

use rayon::prelude::*;
use textcnn::model::{Batch, ConvPath, KimCnn, KimConfig, Model, Trainer};
use textcnn::nn::dropout::mix64;
use textcnn::nn::optim::OptimizerConfig;
use textcnn::nn::thread_pool;
use textcnn::nn::token_proj::{DistinctTokens, gather_rows, project, scatter_max, stacked_taps};

const VOCAB: usize = 30_000;
const LEN: usize = 400;
const BATCH: usize = 64;
const REGIONS: [usize; 3] = [3, 4, 5];
const MAPS: usize = 100;
const EMB: usize = 128;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median ms of `f` over `steps` runs after 3 warm-up ones.
fn time(steps: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut t = Vec::new();
    for i in 0..3 + steps {
        let t0 = Instant::now();
        f(i);
        if i >= 3 {
            t.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    median(t)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: Vec<usize> = args
        .get(1)
        .map_or("1,2", String::as_str)
        .split(',')
        .map(|s| s.parse().expect("thread counts, e.g. 1,2"))
        .collect();
    let steps: usize = args.get(2).map_or(20, |s| s.parse().expect("steps"));
    let config = KimConfig {
        vocab_size: VOCAB,
        emb_dim: EMB,
        region_sizes: REGIONS.to_vec(),
        feature_maps: MAPS,
        num_classes: 2,
        dropout: 0.5,
        multichannel: false,
        pooling: Default::default(),
    };
    // Four batches of random ids in 1..VOCAB, as `textcnn bench` makes them.
    let data: Vec<(Vec<u32>, Vec<u32>)> = (0..4u64)
        .map(|k| {
            let ids = (0..BATCH * LEN)
                .map(|i| 1 + (mix64(1 ^ (k << 40) ^ i as u64) % (VOCAB as u64 - 1)) as u32)
                .collect();
            let labels = (0..BATCH as u64)
                .map(|i| (mix64(k ^ i) % 2) as u32)
                .collect();
            (ids, labels)
        })
        .collect();
    let lengths = vec![LEN; BATCH];
    let batch = |i: usize| Batch {
        ids: &data[i % 4].0,
        lengths: &lengths,
        batch: BATCH,
        seq_len: LEN,
    };
    let width: usize = REGIONS.iter().sum::<usize>() * MAPS;
    let split: Vec<DistinctTokens> = (0..4)
        .map(|i| DistinctTokens::beyond(&data[i].0, &lengths, LEN, VOCAB, 0))
        .collect();
    let distinct = split.iter().map(|d| d.ids.len()).sum::<usize>() / 4;
    println!(
        "batch {BATCH} x {LEN} random ids of {VOCAB}: {distinct} distinct tokens (mean of 4 batches) among {} positions",
        BATCH * LEN
    );
    println!(
        "multiply-adds: GEMM forward {:.2} G; projection of the distinct tokens {:.2} G; scatter path moves at least {:.0} MB (table written once + one {} B row read per position)",
        REGIONS
            .iter()
            .map(|h| BATCH * (LEN - h + 1) * MAPS * h * EMB)
            .sum::<usize>() as f64
            / 1e9,
        (distinct * EMB * width) as f64 / 1e9,
        ((distinct + BATCH * LEN) * width * 4) as f64 / 1e6,
        width * 4
    );
    println!(
        "| threads | step, GEMM path | step, scatter path | forward, GEMM path | forward, scatter path | projection GEMM alone | scatter alone |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &n in &threads {
        let pool = thread_pool(n);
        let row = pool.install(|| {
            let step = |path: ConvPath| {
                let mut m = KimCnn::new(config.clone(), 42);
                m.set_conv_path(path);
                let mut tr = Trainer::new(Model::Kim(m), OptimizerConfig::default());
                time(steps, |i| {
                    let b = batch(i);
                    std::hint::black_box(tr.train_step(&b, &data[i % 4].1, i as u64));
                })
            };
            let forward = |path: ConvPath| {
                let mut m = KimCnn::new(config.clone(), 42);
                m.set_conv_path(path);
                m.set_proj_cache_bytes(0);
                time(steps, |i| {
                    std::hint::black_box(m.logits(&batch(i)));
                })
            };
            // The scatter path's parts, on weights of the model's shapes.
            let weights: Vec<Vec<f32>> = REGIONS
                .iter()
                .map(|&h| {
                    (0..MAPS * h * EMB)
                        .map(|i| ((i * 31 % 97) as f32 - 48.0) * 1e-3)
                        .collect()
                })
                .collect();
            let taps = stacked_taps(
                weights.iter().zip(REGIONS).map(|(w, h)| (w.as_slice(), h)),
                MAPS,
                EMB,
            );
            let emb: Vec<f32> = (0..VOCAB * EMB)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 5e-4)
                .collect();
            let mut table = vec![0.0f32; VOCAB * width];
            let proj = time(steps, |i| {
                let d = &split[i % 4];
                let rows = gather_rows(&emb, None, EMB, &d.ids);
                project(
                    &rows,
                    d.ids.len(),
                    EMB,
                    &taps,
                    &mut table,
                    gemm::Parallelism::Rayon(rayon::current_num_threads()),
                );
            });
            let scatter = time(steps, |i| {
                let d = &split[i % 4];
                let mut out = vec![0.0f32; BATCH * 2 * REGIONS.len() * MAPS];
                out.par_chunks_mut(2 * REGIONS.len() * MAPS)
                    .enumerate()
                    .for_each_init(
                        || vec![0.0f32; width],
                        |ring, (b, o)| {
                            let (max, arg) = o.split_at_mut(REGIONS.len() * MAPS);
                            let mut argmax = vec![0u32; arg.len()];
                            scatter_max(
                                &[],
                                0,
                                &table,
                                &REGIONS,
                                MAPS,
                                &d.local[b * LEN..(b + 1) * LEN],
                                ring,
                                max,
                                &mut argmax,
                                None,
                                None,
                            );
                        },
                    );
                std::hint::black_box(&out);
            });
            (
                step(ConvPath::Gemm),
                step(ConvPath::Scatter),
                forward(ConvPath::Gemm),
                forward(ConvPath::Scatter),
                proj,
                scatter,
            )
        });
        println!(
            "| {n} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            row.0, row.1, row.2, row.3, row.4, row.5
        );
    }
}
