//! Cost of an explanation against a prediction (a benchmark, not a test): IMDB test reviews of
//! about 300 tokens (280–320 after tokenization), one text per call, as a person explaining one
//! review would; each call timed alone, medians over the reviews after a warm-up pass.
//!
//! ```text
//! cargo run --release --example explain_bench -- --model runs/imdb \
//!     --data-dir ../shared/data/imdb --threads 1,2 --texts 200
//! ```
//!
//! Prints a Markdown table per thread count: `Classifier::predict` of one text, `explain`
//! (the library call) and `explain` + JSON serialization (what `textcnn explain --json` and
//! `POST /v1/explain` add), in milliseconds, and their ratio to the prediction.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use textcnn::data::{ReadOptions, load_dataset};
use textcnn::predict::Classifier;

struct Args {
    model: PathBuf,
    data_dir: Option<PathBuf>,
    threads: Vec<usize>,
    texts: usize,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        model: PathBuf::from("runs/imdb"),
        data_dir: None,
        threads: vec![1, 2],
        texts: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--model" => a.model = value()?.into(),
            "--data-dir" => a.data_dir = Some(value()?.into()),
            "--threads" => {
                a.threads = value()?
                    .split(',')
                    .map(|x| x.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--texts" => a.texts = value()?.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let classifier = Classifier::load(&args.model)?;
    let opts = ReadOptions {
        data_dir: args.data_dir.clone(),
        ..ReadOptions::default()
    };
    let ds = load_dataset("imdb:test", &opts)?;
    let tokenizer = &classifier.pipeline().tokenizer;
    let texts: Vec<&str> = ds
        .examples
        .iter()
        .map(|e| e.text.as_str())
        .filter(|t| (280..=320).contains(&tokenizer.tokenize(t).len()))
        .take(args.texts)
        .collect();
    if texts.is_empty() {
        bail!("no review of 280-320 tokens");
    }
    println!(
        "model {}, {} reviews of 280-320 tokens (mean {:.0}), one text per call",
        args.model.display(),
        texts.len(),
        texts
            .iter()
            .map(|t| tokenizer.tokenize(t).len())
            .sum::<usize>() as f64
            / texts.len() as f64
    );
    for &threads in &args.threads {
        let pool = textcnn::nn::thread_pool(threads);
        let (predict, explain, json) = pool.install(|| {
            let (mut p, mut e, mut j) = (Vec::new(), Vec::new(), Vec::new());
            for pass in 0..2 {
                for t in &texts {
                    let start = Instant::now();
                    let pred = classifier.predict(&[t]);
                    let t1 = start.elapsed().as_secs_f64() * 1e3;
                    let start = Instant::now();
                    let expl = classifier.explain(t, None).expect("the review has tokens");
                    let t2 = start.elapsed().as_secs_f64() * 1e3;
                    let start = Instant::now();
                    let s = serde_json::to_string(&expl).expect("serializable");
                    let t3 = start.elapsed().as_secs_f64() * 1e3;
                    assert_eq!(pred[0].probability, expl.probability);
                    std::hint::black_box(s);
                    if pass == 1 {
                        p.push(t1);
                        e.push(t2);
                        j.push(t2 + t3);
                    }
                }
            }
            (median(p), median(e), median(j))
        });
        println!("\nthreads {threads}\n");
        println!("| call | median ms per review | × predict |");
        println!("|---|---:|---:|");
        println!("| `predict` (one text) | {predict:.3} | 1.00 |");
        println!(
            "| `explain` (one text, predicted label) | {explain:.3} | {:.2} |",
            explain / predict
        );
        println!("| `explain` + JSON | {json:.3} | {:.2} |", json / predict);
    }
    Ok(())
}
