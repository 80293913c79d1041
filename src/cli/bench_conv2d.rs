//! `textcnn bench --workload seed|b`: training and inference speed of the conv2d architecture
//! on random full-length inputs, like `shared/bench/torch_kim.py b conv2d train|infer N`.

use std::time::Instant;

use textcnn::model::{Batch, Conv2dBlock, Conv2dConfig, Conv2dNet, InitScheme, Model, PoolKind};
use textcnn::nn::conv2d::{conv2d_forward, conv2d_forward_direct};
use textcnn::nn::dropout::mix64;
use textcnn::nn::thread_pool;
use textcnn::train::SEED_MAX_LEN;

use super::bench::{BenchArgs, Workload, median, peak_rss_mib, random_batches, train_rows};

const INFER_BATCH: usize = 256;

fn workload(w: Workload) -> (Conv2dConfig, usize, &'static str) {
    match w {
        Workload::Seed => (
            Conv2dConfig {
                vocab_size: 10_002,
                emb_dim: 100,
                seq_len: SEED_MAX_LEN,
                blocks: vec![Conv2dBlock {
                    kernel: 3,
                    maps: 64,
                    pool: 2,
                    pool_kind: PoolKind::Max,
                }],
                hidden: vec![64],
                dropout: 0.5,
                num_classes: 2,
                init: InitScheme::Keras,
            },
            32,
            "seed preset",
        ),
        _ => (
            Conv2dConfig {
                vocab_size: 30_000,
                emb_dim: 64,
                seq_len: 256,
                blocks: vec![Conv2dBlock {
                    kernel: 3,
                    maps: 32,
                    pool: 2,
                    pool_kind: PoolKind::Max,
                }],
                hidden: vec![64],
                dropout: 0.0,
                num_classes: 2,
                init: InitScheme::Keras,
            },
            64,
            "torch_kim.py workload B",
        ),
    }
}

/// Runs the conv2d benchmark and prints a markdown table.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let (config, train_batch, name) = workload(args.workload);
    let (l, v) = (config.seq_len, config.vocab_size);
    let train_data = random_batches(4, train_batch, l, v, 1);
    let lengths = vec![l; INFER_BATCH];
    let rows = train_rows(args, &train_data, (train_batch, l), || {
        Model::Conv2d(Conv2dNet::new(config.clone(), 42))
    });
    let train_peak = peak_rss_mib();
    let infer_data = random_batches(2, INFER_BATCH, l, v, 2);
    let model = Conv2dNet::new(config.clone(), 42);
    let mut infer = Vec::new();
    for &threads in &args.threads {
        let pool = thread_pool(threads);
        let rps = pool.install(|| {
            let mut times = Vec::new();
            for i in 0..2 + args.steps.div_ceil(4) {
                let (ids, _) = &infer_data[i % 2];
                let batch = Batch::new(ids, &lengths, l);
                let t0 = Instant::now();
                std::hint::black_box(model.logits(&batch));
                if i >= 2 {
                    times.push(t0.elapsed().as_secs_f64());
                }
            }
            INFER_BATCH as f64 / median(&mut times)
        });
        infer.push(rps);
    }
    let blocks: Vec<String> = config.blocks.iter().map(|b| b.to_string()).collect();
    println!(
        "workload conv2d ({name}): vocab {v}, emb {}, seq_len {l}, blocks {}, hidden {:?}, dropout {}, 2 classes, Adam lr 1e-3; {} parameters",
        config.emb_dim,
        blocks.join(","),
        config.hidden,
        config.dropout,
        config.num_params()
    );
    println!(
        "| threads | train ms/step (batch {train_batch}, median of {}) | inference reviews/s (batch 256) |",
        args.steps
    );
    println!("|---|---|---|");
    for ((n, ms), rps) in rows.iter().zip(&infer) {
        println!("| {n} | {ms:.1} | {rps:.0} |");
    }
    // Forward of the first block for one example: im2col + GEMM vs direct loops (1 thread).
    let (h, w, k, maps) = (
        l,
        config.emb_dim,
        config.blocks[0].kernel,
        config.blocks[0].maps,
    );
    let x: Vec<f32> = (0..h * w)
        .map(|i| (mix64(i as u64) % 1000) as f32 / 1000.0)
        .collect();
    let wt: Vec<f32> = (0..maps * k * k)
        .map(|i| (mix64(7 ^ i as u64) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let bias = vec![0.1; maps];
    let mut col = vec![0.0; k * k * h * w];
    let mut out = vec![0.0; maps * h * w];
    let reps = 3 + args.steps;
    let mut t_gemm = Vec::new();
    let mut t_direct = Vec::new();
    for _ in 0..reps {
        let t0 = Instant::now();
        conv2d_forward(&x, 1, h, w, k, &wt, &bias, maps, &mut col, &mut out);
        t_gemm.push(t0.elapsed().as_secs_f64() * 1e3);
        let t0 = Instant::now();
        conv2d_forward_direct(&x, 1, h, w, k, &wt, &bias, maps, &mut out);
        t_direct.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "conv2d forward, one example [1, {h}, {w}] -> [{maps}, {h}, {w}], {k}x{k}: im2col+GEMM {:.2} ms, direct {:.2} ms (median of {reps})",
        median(&mut t_gemm),
        median(&mut t_direct)
    );
    let fmt = |m: Option<f64>| m.map_or("n/a".to_string(), |m| format!("{m:.0} MiB"));
    println!(
        "peak memory (VmHWM) after training: {}; at exit: {}",
        fmt(train_peak),
        fmt(peak_rss_mib())
    );
    Ok(())
}
