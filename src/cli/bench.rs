//! `textcnn bench`: speed and memory of the compute core on the Kim workload (vocab 30,000,
//! emb 128, seq_len 400, batch 64, region sizes 3/4/5 × 100 maps, dropout 0.5, 2 classes,
//! Adam lr 1e-3), on random full-length inputs like `shared/bench/torch_kim.py`.
//!
//! Random ids are a shape check, not a target: their forward pass is at the GEMM bound (every
//! window distinct, so the per-token projection cannot help), as measured. The training-step
//! figure to compare with PyTorch's is the real-text one, `--workload imdb`.

use std::time::Instant;

use clap::Args;
use textcnn::model::{Batch, ConvPath, KimCnn, KimConfig, Model, Trainer};
use textcnn::nn::dropout::mix64;
use textcnn::nn::optim::OptimizerConfig;
use textcnn::nn::thread_pool;

/// Benchmark the compute core: ms per training step, inference reviews/s, peak memory (`--workload imdb`: real reviews, the figure to compare with PyTorch's; the default `kim`: random ids, GEMM-bound, a shape check).
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Thread counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Timed training steps (and inference batches) per thread count, after 3 warm-up ones
    /// (training steps: after at least one pass over the workload's batches, so that the first
    /// updates of each word's optimizer state are not timed: the steps are those of a later
    /// epoch).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Workload: `kim` (random token ids, a shape check), `imdb` (real IMDB reviews: the figure
    /// to compare with PyTorch's), `seed` (the `--arch seed` conv2d preset at batch 32) or `b`
    /// (torch_kim.py's workload B: conv2d emb 64, len 256, 32 maps 3x3, max 2x2, dense 64, batch 64).
    #[arg(long, value_enum, default_value = "kim")]
    pub workload: Workload,
    /// Memory cap in MiB of the inference projection cache (workloads kim and imdb; 0 = off).
    #[arg(long, default_value_t = textcnn::nn::token_proj::DEFAULT_PROJ_CACHE_BYTES >> 20)]
    pub proj_cache_mb: usize,
    /// Convolution path (workloads kim and imdb, training and inference): `auto` (per batch,
    /// by a cost estimate), `gemm`, `projection` (per-batch projection, gather) or `scatter`
    /// (with the projection cache at inference). Workload imdb also times `gemm`.
    #[arg(long, value_enum, default_value = "auto")]
    pub conv_path: BenchConvPath,
}

/// [`ConvPath`] as a command-line value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchConvPath {
    Auto,
    Gemm,
    Projection,
    Scatter,
}

impl From<BenchConvPath> for ConvPath {
    fn from(p: BenchConvPath) -> ConvPath {
        match p {
            BenchConvPath::Auto => ConvPath::Auto,
            BenchConvPath::Gemm => ConvPath::Gemm,
            BenchConvPath::Projection => ConvPath::Projection,
            BenchConvPath::Scatter => ConvPath::Scatter,
        }
    }
}

/// Benchmark workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Kim CNN (vocab 30,000, emb 128, len 400, 3/4/5 x 100, batch 64).
    Kim,
    /// The `--arch seed` preset (vocab 10,002, emb 100, len 256, 3x64:max2, dense 64, batch 32).
    Seed,
    /// PyTorch reference workload B (vocab 30,000, emb 64, len 256, 3x32:max2, dense 64, batch 64).
    B,
    /// The Kim CNN on real IMDB reviews (default vocabulary and length), both convolution paths.
    Imdb,
}

const VOCAB: usize = 30_000;
const SEQ_LEN: usize = 400;
const TRAIN_BATCH: usize = 64;
const INFER_BATCH: usize = 256;
pub(super) const WARMUP: usize = 3;

/// `n` batches of `batch` random texts of `seq_len` token ids in `1..vocab`, with random binary
/// labels; deterministic in `salt`.
pub(super) fn random_batches(
    n: usize,
    batch: usize,
    seq_len: usize,
    vocab: usize,
    salt: u64,
) -> Vec<(Vec<u32>, Vec<u32>)> {
    (0..n)
        .map(|k| {
            let ids = (0..batch * seq_len)
                .map(|i| {
                    1 + (mix64(salt ^ ((k as u64) << 40) ^ i as u64) % (vocab as u64 - 1)) as u32
                })
                .collect();
            let labels = (0..batch)
                .map(|i| (mix64(salt ^ 0xABCD ^ ((k * batch + i) as u64)) % 2) as u32)
                .collect();
            (ids, labels)
        })
        .collect()
}

/// Times `WARMUP + steps` training steps of `model` (Adam, default settings) on `data` (cycled,
/// every text `seq_len` tokens) in the current rayon pool: `(median ms per timed step, first
/// loss, last loss)`.
pub(super) fn time_training(
    model: Model,
    data: &[(Vec<u32>, Vec<u32>)],
    batch: usize,
    seq_len: usize,
    steps: usize,
) -> (f64, f32, f32) {
    let lengths = vec![seq_len; batch];
    let views: Vec<(Batch, &[u32])> = data
        .iter()
        .map(|(ids, labels)| {
            let b = Batch {
                ids,
                lengths: &lengths,
                batch,
                seq_len,
            };
            (b, labels.as_slice())
        })
        .collect();
    time_training_batches(model, &views, steps)
}

/// [`time_training`] of the model `make` builds, in a pool of each of `args.threads` threads
/// (`(batch, seq_len)` of `data`), each printed: `(threads, median ms per step)` rows.
pub(super) fn train_rows(
    args: &BenchArgs,
    data: &[(Vec<u32>, Vec<u32>)],
    (batch, seq_len): (usize, usize),
    make: impl Fn() -> Model + Sync,
) -> Vec<(usize, f64)> {
    let mut rows = Vec::new();
    for &threads in &args.threads {
        let pool = thread_pool(threads);
        let n = pool.current_num_threads();
        let (ms, first, last) =
            pool.install(|| time_training(make(), data, batch, seq_len, args.steps));
        eprintln!("train threads={n}: {ms:.1} ms/step (loss {first:.4} -> {last:.4})");
        rows.push((n, ms));
    }
    rows
}

/// [`time_training`] over prepared batches with their labels (cycled), timed after a warm-up of
/// one pass over them (at least [`WARMUP`] steps): the first step that updates a word's
/// embedding row also first touches its optimizer state, one-off page faults that an epoch
/// pays once per run. On the `imdb` workload (32 batches, 2 threads) the median of 20 steps
/// after 3 warm-up ones was 12.1–12.9 ms, of 200 steps 7.7 ms, so the short run measured the
/// warm-up rather than the step of a later epoch.
pub(super) fn time_training_batches(
    model: Model,
    data: &[(Batch, &[u32])],
    steps: usize,
) -> (f64, f32, f32) {
    let mut tr = Trainer::new(model, OptimizerConfig::default());
    let mut times = Vec::new();
    let (mut first, mut last) = (0.0, 0.0);
    let warmup = WARMUP.max(data.len());
    for i in 0..warmup + steps {
        let (b, labels) = &data[i % data.len()];
        let t0 = Instant::now();
        let st = tr.train_step(b, labels, i as u64);
        let dt = t0.elapsed().as_secs_f64() * 1e3;
        if i == 0 {
            first = st.loss;
        }
        last = st.loss;
        if i >= warmup {
            times.push(dt);
        }
    }
    (median(&mut times), first, last)
}

pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub(super) use textcnn::train::peak_rss_mib;

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.steps >= 1, "--steps must be >= 1");
    if args.workload == Workload::Imdb {
        return super::bench_text::run(&args);
    }
    if args.workload != Workload::Kim {
        return super::bench_conv2d::run(&args);
    }
    let config = KimConfig {
        vocab_size: VOCAB,
        emb_dim: 128,
        region_sizes: vec![3, 4, 5],
        feature_maps: 100,
        num_classes: 2,
        dropout: 0.5,
        multichannel: false,
        pooling: Default::default(),
    };
    let train_data = random_batches(4, TRAIN_BATCH, SEQ_LEN, VOCAB, 1);
    let lengths = vec![SEQ_LEN; INFER_BATCH];
    let train_rows = train_rows(&args, &train_data, (TRAIN_BATCH, SEQ_LEN), || {
        let mut model = KimCnn::new(config.clone(), 42);
        model.set_conv_path(args.conv_path.into());
        Model::Kim(model)
    });
    let train_peak = peak_rss_mib();

    let infer_data = random_batches(4, INFER_BATCH, SEQ_LEN, VOCAB, 2);
    let mut infer_rows = Vec::new();
    for &threads in &args.threads {
        let pool = thread_pool(threads);
        let mut model = KimCnn::new(config.clone(), 42);
        model.set_conv_path(args.conv_path.into());
        model.set_proj_cache_bytes(args.proj_cache_mb.saturating_mul(1 << 20));
        let rps = pool.install(|| {
            let t0 = Instant::now();
            let words = model.warm_proj_cache();
            let build_ms = t0.elapsed().as_secs_f64() * 1e3;
            let mut times = Vec::new();
            for i in 0..WARMUP + args.steps {
                let (ids, _) = &infer_data[i % 4];
                let batch = Batch::new(ids, &lengths, SEQ_LEN);
                let t0 = Instant::now();
                let logits = model.logits(&batch);
                std::hint::black_box(&logits);
                if i >= WARMUP {
                    times.push(t0.elapsed().as_secs_f64());
                }
            }
            let rps = INFER_BATCH as f64 / median(&mut times);
            // Latency of one review (batch 1; the GEMMs are split over the pool's threads).
            let mut times = Vec::new();
            for i in 0..WARMUP + 4 * args.steps {
                let (ids, _) = &infer_data[i % 4];
                let batch = Batch {
                    ids: &ids[..SEQ_LEN],
                    lengths: &lengths[..1],
                    batch: 1,
                    seq_len: SEQ_LEN,
                };
                let t0 = Instant::now();
                std::hint::black_box(model.logits(&batch));
                if i >= WARMUP {
                    times.push(t0.elapsed().as_secs_f64() * 1e3);
                }
            }
            (rps, median(&mut times), words, build_ms)
        });
        infer_rows.push(rps);
    }
    let fmt_mib = |v: Option<f64>| v.map_or("n/a".to_string(), |m| format!("{m:.0} MiB"));
    println!(
        "workload Kim: vocab 30000, emb 128, seq_len 400, regions 3/4/5 x 100, dropout 0.5, 2 classes, Adam lr 1e-3"
    );
    println!(
        "random token ids: GEMM-bound shape check, not a target; real text: `textcnn bench --workload imdb`"
    );
    println!(
        "| threads | train ms/step (batch 64, median of {}) | inference reviews/s (batch 256) | latency ms (batch 1) | projection cache: words, build ms |",
        args.steps
    );
    println!("|---|---|---|---|---|");
    for ((n, ms), (rps, lat, words, build)) in train_rows.iter().zip(&infer_rows) {
        println!("| {n} | {ms:.1} | {rps:.0} | {lat:.2} | {words}, {build:.0} |");
    }
    println!(
        "peak memory (VmHWM) after training: {}; at exit: {}",
        fmt_mib(train_peak),
        fmt_mib(peak_rss_mib())
    );
    Ok(())
}
