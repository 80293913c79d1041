//! `textcnn data …`: dataset statistics and the text-pipeline benchmark.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use rayon::prelude::*;
use textcnn::data::{DatasetStats, ReadOptions, load_dataset, resolve_imdb};

use super::common::ReadArgs;
use textcnn::text::{
    EncodeConfig, Tokenizer, TokenizerConfig, Truncation, Vocab, encode, tokenize_all,
};

/// Inspect datasets.
#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Rows per label (multi-label data: every label of a text, and the texts without one),
    /// token-length percentiles, vocabulary size, OOV rate, skipped rows.
    Stats(StatsArgs),
    /// Time reading, tokenizing and encoding imdb:train from the archive.
    Bench(BenchArgs),
    /// Split a dataset in two, seeded, written as JSONL (`{"text", "label"}` per line,
    /// stratified by label; multi-label data: `{"text", "labels"}`, one shuffle), e.g. halves
    /// of imdb:train to test fine-tuning.
    Split(SplitArgs),
}

#[derive(Args, Debug)]
pub struct SplitArgs {
    /// imdb:train, imdb:test, or a file / folder.
    pub data: String,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Fraction of each class (multi-label data: of the examples) that goes to the second file.
    #[arg(long, default_value_t = 0.5)]
    pub fraction: f64,
    /// Seed of the shuffle.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// JSONL file for the rest (1 − fraction).
    #[arg(long)]
    pub first: PathBuf,
    /// JSONL file for the fraction.
    #[arg(long)]
    pub second: PathBuf,
    /// Replace --first and --second when they exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// imdb:train, imdb:test, or a file / folder.
    pub data: String,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Vocabulary file to measure the OOV rate against.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Minimum token count for the vocabulary built here.
    #[arg(long, default_value_t = 1)]
    pub min_count: usize,
    /// Maximum vocabulary size (real tokens, excluding <pad>/<unk>).
    #[arg(long)]
    pub max_size: Option<usize>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Folder holding the IMDB archive (else $TEXTCNN_DATA_DIR, then the user cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Maximum encoded length, in tokens.
    #[arg(long, default_value_t = 400)]
    pub max_len: usize,
}

pub fn run(args: DataArgs) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Stats(a) => stats(a),
        DataCommand::Bench(a) => bench(a),
        DataCommand::Split(a) => split(a),
    }
}

fn split(a: SplitArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.fraction > 0.0 && a.fraction < 1.0,
        "--fraction must be in (0, 1)"
    );
    check_split_outputs(&a)?;
    let read = a.read.options_for(&a.data, false);
    let ds = super::common::load_dataset(&a.data, &read)?;
    // Label sets keep every label; one label per text is stratified by label.
    let sets = read.multi_label;
    if !sets {
        for w in textcnn::data::split_warnings(&ds, a.fraction, "the second file") {
            eprintln!("warning: {}: {w}", ds.name);
        }
    }
    let (first, second) = textcnn::data::split(&ds, a.fraction, a.seed, !sets);
    for (part, path) in [(&first, &a.first), (&second, &a.second)] {
        let mut out = String::new();
        for e in &part.examples {
            let row = if sets {
                serde_json::json!({ "text": e.text, "labels": e.labels })
            } else {
                serde_json::json!({ "text": e.text, "label": e.label() })
            };
            out.push_str(&serde_json::to_string(&row)?);
            out.push('\n');
        }
        textcnn::fsutil::write_atomic(path, out.as_bytes())?;
        println!("{} examples -> {}", part.len(), path.display());
    }
    Ok(())
}

/// Refuses `--first`/`--second` naming the same file (the second would replace the first), the
/// input itself (it would be replaced before it is read whole, or with half its rows), or an
/// existing file without `--force`.
fn check_split_outputs(a: &SplitArgs) -> anyhow::Result<()> {
    use textcnn::fsutil::same_file;
    if same_file(&a.first, &a.second) {
        anyhow::bail!(
            "--first and --second are the same file ({}); give two different files",
            a.first.display()
        );
    }
    let input = std::path::Path::new(&a.data);
    for (flag, path) in [("--first", &a.first), ("--second", &a.second)] {
        if path.is_dir() {
            anyhow::bail!("{flag} {} is a directory; give a file", path.display());
        }
        if input.exists() && (same_file(path, input) || path.starts_with(input)) {
            anyhow::bail!(
                "{flag} {} is the input {}; give a new file so that the input is kept",
                path.display(),
                a.data
            );
        }
        if path.exists() && !a.force {
            anyhow::bail!(
                "{flag} {} already exists; give another name or --force to replace it",
                path.display()
            );
        }
    }
    Ok(())
}

fn stats(a: StatsArgs) -> anyhow::Result<()> {
    let ds = load_dataset(&a.data, &a.read.options_for(&a.data, false))?;
    let given = match &a.vocab {
        Some(p) => Some((p.display().to_string(), Vocab::load(p)?)),
        None => None,
    };
    let tokenizer = Tokenizer::new(TokenizerConfig::default());
    let s = DatasetStats::compute(
        &ds,
        &tokenizer,
        a.min_count,
        a.max_size,
        given.as_ref().map(|(n, v)| (n.as_str(), v)),
    );
    print!("{s}");
    Ok(())
}

fn bench(a: BenchArgs) -> anyhow::Result<()> {
    let source = resolve_imdb(a.data_dir.as_deref())?;
    let opts = ReadOptions {
        data_dir: a.data_dir.clone(),
        ..Default::default()
    };
    let t0 = Instant::now();
    let ds = load_dataset("imdb:train", &opts).context("reading imdb:train")?;
    let t_read = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let tokenizer = Tokenizer::new(TokenizerConfig::default());
    let docs = tokenize_all(&tokenizer, &ds.texts());
    let t_tok = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let vocab = Vocab::build(docs.iter().map(Vec::as_slice), 1, None);
    let t_vocab = t2.elapsed().as_secs_f64();

    let t3 = Instant::now();
    let cfg = EncodeConfig {
        max_len: a.max_len,
        truncation: Truncation::Head,
        min_len: 5,
    };
    let encoded: Vec<_> = docs.par_iter().map(|d| encode(d, &vocab, &cfg)).collect();
    let t_enc = t3.elapsed().as_secs_f64();

    let total = t0.elapsed().as_secs_f64();
    let n = ds.len() as f64;
    let tokens: usize = encoded.iter().map(|e| e.n_tokens).sum();
    println!("source:  {}", source.display());
    println!(
        "reviews: {}   tokens: {}   vocabulary: {}   threads: {}",
        ds.len(),
        tokens,
        vocab.len(),
        rayon::current_num_threads()
    );
    println!();
    println!("{:<28} {:>9} {:>12}", "stage", "seconds", "reviews/s");
    for (stage, t) in [
        (
            if source.is_file() {
                "read (.tar.gz → text)"
            } else {
                "read (folder → text)"
            },
            t_read,
        ),
        ("tokenize (rayon)", t_tok),
        ("build vocabulary", t_vocab),
        (&*format!("encode (max_len {})", a.max_len), t_enc),
        ("total", total),
    ] {
        println!("{stage:<28} {t:>9.3} {:>12.0}", n / t);
    }
    Ok(())
}
