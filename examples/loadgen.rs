//! Load generator for `textcnn serve` (a benchmark, not a test): closed-loop clients on
//! loopback, each with its own keep-alive connection, posting real IMDB test reviews.
//!
//! ```text
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8080 \
//!     --data-dir ../shared/data/imdb --concurrency 1,8,64 --batch 1,64 --seconds 10
//! ```
//!
//! Prints one Markdown table row per (batch, concurrency): requests/s, texts/s and latency
//! percentiles. Only loopback URLs are accepted, and every run is bounded in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};

struct Args {
    url: String,
    data_dir: Option<std::path::PathBuf>,
    concurrency: Vec<usize>,
    batch: Vec<usize>,
    seconds: f64,
    warmup: f64,
    min_words: usize,
    max_words: usize,
}

fn parse_list(s: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|x| Ok(x.trim().parse::<usize>()?))
        .collect()
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        data_dir: None,
        concurrency: vec![1, 8, 64],
        batch: vec![1, 64],
        seconds: 10.0,
        warmup: 1.0,
        min_words: 200,
        max_words: 260,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--data-dir" => a.data_dir = Some(value()?.into()),
            "--concurrency" => a.concurrency = parse_list(&value()?)?,
            "--batch" => a.batch = parse_list(&value()?)?,
            "--seconds" => a.seconds = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "--min-words" => a.min_words = value()?.parse()?,
            "--max-words" => a.max_words = value()?.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    ensure!(
        a.url.starts_with("http://127.0.0.1:") || a.url.starts_with("http://localhost:"),
        "only loopback URLs (http://127.0.0.1:PORT) are allowed"
    );
    ensure!(
        a.seconds > 0.0 && a.seconds <= 120.0,
        "--seconds must be in (0, 120]"
    );
    ensure!(
        a.concurrency.iter().all(|&c| (1..=256).contains(&c)),
        "--concurrency values must be in 1..=256"
    );
    ensure!(
        a.batch.iter().all(|&b| b >= 1),
        "--batch values must be >= 1"
    );
    Ok(a)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct RunResult {
    latencies_ms: Vec<f64>,
    errors: usize,
    elapsed: f64,
}

/// `concurrency` closed-loop clients, each posting bodies from `bodies` round-robin.
fn run(
    url: &str,
    bodies: &Arc<Vec<String>>,
    concurrency: usize,
    warmup: f64,
    seconds: f64,
) -> RunResult {
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..concurrency)
        .map(|c| {
            let (url, bodies, stop, measuring) = (
                url.to_string(),
                bodies.clone(),
                stop.clone(),
                measuring.clone(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                let mut lat = Vec::new();
                let mut errors = 0;
                let mut i = c * 7919;
                while !stop.load(Ordering::Relaxed) {
                    let body = &bodies[i % bodies.len()];
                    i += 1;
                    let t = Instant::now();
                    let ok = match agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(body.as_str())
                    {
                        Ok(mut r) => {
                            let status = r.status().as_u16();
                            let _ = r.body_mut().read_to_vec();
                            status == 200
                        }
                        Err(_) => false,
                    };
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    if measuring.load(Ordering::Relaxed) {
                        if ok {
                            lat.push(ms);
                        } else {
                            errors += 1;
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(warmup));
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies_ms = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().expect("client thread panicked");
        latencies_ms.extend(l);
        errors += e;
    }
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    RunResult {
        latencies_ms,
        errors,
        elapsed,
    }
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let opts = textcnn::data::ReadOptions {
        data_dir: args.data_dir.clone(),
        ..Default::default()
    };
    let test = textcnn::data::load_dataset("imdb:test", &opts)?;
    let reviews: Vec<&str> = test
        .examples
        .iter()
        .map(|e| e.text.as_str())
        .filter(|t| (args.min_words..=args.max_words).contains(&t.split_whitespace().count()))
        .take(4096)
        .collect();
    ensure!(
        !reviews.is_empty(),
        "no review with {}..={} words",
        args.min_words,
        args.max_words
    );
    let mean_words = reviews
        .iter()
        .map(|t| t.split_whitespace().count())
        .sum::<usize>() as f64
        / reviews.len() as f64;
    let url = format!("{}/v1/predict", args.url.trim_end_matches('/'));
    println!(
        "{} IMDB test reviews of {}..={} words (mean {mean_words:.0}); {} s per row after {} s warm-up",
        reviews.len(),
        args.min_words,
        args.max_words,
        args.seconds,
        args.warmup
    );
    println!();
    println!(
        "| texts/request | concurrency | requests/s | texts/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &batch in &args.batch {
        let bodies: Vec<String> = (0..reviews.len().max(batch))
            .step_by(batch)
            .map(|start| {
                let texts: Vec<&str> = (start..start + batch)
                    .map(|i| reviews[i % reviews.len()])
                    .collect();
                serde_json::json!({ "texts": texts }).to_string()
            })
            .collect();
        let bodies = Arc::new(bodies);
        for &c in &args.concurrency {
            let r = run(&url, &bodies, c, args.warmup, args.seconds);
            let n = r.latencies_ms.len() as f64;
            println!(
                "| {batch} | {c} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                n / r.elapsed,
                n * batch as f64 / r.elapsed,
                percentile(&r.latencies_ms, 0.5),
                percentile(&r.latencies_ms, 0.9),
                percentile(&r.latencies_ms, 0.99),
                r.latencies_ms.last().copied().unwrap_or(f64::NAN),
                r.errors
            );
        }
    }
    Ok(())
}
