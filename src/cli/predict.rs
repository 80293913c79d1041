//! `textcnn predict`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use textcnn::predict::Classifier;

use textcnn::data::{Encoding, ReadOptions};

use super::common::thread_pool;

/// Texts classified per call of the model; bounds memory on large inputs.
const CHUNK: usize = 4096;

/// The error record of a text that has no tokens once tokenized.
const NO_TOKENS: &str =
    "no tokens after tokenization (only markup, stop words or characters the tokenizer drops)";

/// Classify text: one text per input line (plain text, not CSV/JSONL), one output line per input line, in order.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model bundle directory (the --output of `textcnn train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Input file with one text per line, or `-` for standard input.
    #[arg(long, default_value = "-")]
    pub input: String,
    /// Print the K most probable labels (multi-label models: at most K of the labels over
    /// their thresholds) [default: 1; multi-label: all]
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Only report labels whose probability is at least this (multi-label models: in place of
    /// the per-label thresholds) [default: 0; multi-label: each label's tuned threshold]
    #[arg(long)]
    pub threshold: Option<f32>,
    /// JSON Lines output: {"label", "probability", "top_k": [{"label", "probability"}], ...}
    /// (multi-label models: {"labels": [{"label", "probability"}], "probabilities": {label: p}, ...}).
    #[arg(long)]
    pub json: bool,
    /// Worker threads, 0 = all cores.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Character encoding of the input.
    #[arg(long, value_enum, default_value = "utf8")]
    pub encoding: Encoding,
}

pub fn run(args: PredictArgs) -> Result<()> {
    if args.top_k == Some(0) {
        bail!("--top-k must be at least 1");
    }
    if let Some(t) = args.threshold
        && !(0.0..=1.0).contains(&t)
    {
        bail!("--threshold must be in [0, 1], got {t}");
    }
    let classifier = Classifier::load(&args.model)?;
    let multi = classifier.multi_label().is_some();
    let (top_k, threshold) = (args.top_k.unwrap_or(1), args.threshold.unwrap_or(0.0));
    let read = ReadOptions {
        encoding: args.encoding,
        ..ReadOptions::default()
    };
    let lines = textcnn::data::read_lines(&args.input, &read)?;
    let labels = classifier.labels();
    let pool = thread_pool(args.threads)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (chunk_no, chunk) in lines.chunks(CHUNK).enumerate() {
        let texts: Vec<&str> = chunk.iter().map(|s| s.as_str()).collect();
        let predictions = pool.install(|| classifier.predict(&texts));
        for (i, (text, p)) in texts.iter().zip(&predictions).enumerate() {
            let line_no = chunk_no * CHUNK + i + 1;
            // A text without tokens (blank, or only markup or stop words) has nothing to
            // classify: an error record, not the label the biases alone would give.
            let error = if text.trim().is_empty() {
                Some("empty text")
            } else if p.n_tokens == 0 {
                Some(NO_TOKENS)
            } else {
                None
            };
            if let Some(error) = error {
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({ "line": line_no, "error": error, "n_tokens": 0 })
                    )?;
                } else {
                    writeln!(out, "error\t{error} (line {line_no})")?;
                }
                continue;
            }
            if multi {
                // Every label over its threshold (or --threshold), at most --top-k of them.
                let mut decided = classifier.decided_labels(p, args.threshold);
                decided.truncate(args.top_k.unwrap_or(usize::MAX));
                if args.json {
                    let labels_json: Vec<_> = decided
                        .iter()
                        .map(|(l, prob)| serde_json::json!({ "label": l, "probability": prob }))
                        .collect();
                    let json = serde_json::json!({
                        "line": line_no,
                        "labels": labels_json,
                        "probabilities": labels.iter().zip(&p.probabilities)
                            .map(|(l, prob)| (l.clone(), serde_json::json!(prob)))
                            .collect::<serde_json::Map<_, _>>(),
                        "truncated": p.truncated,
                        "n_tokens": p.n_tokens,
                        "n_oov": p.n_oov,
                    });
                    writeln!(out, "{json}")?;
                } else if decided.is_empty() {
                    writeln!(out, "none\t(no label over its threshold)")?;
                } else {
                    let fields: Vec<String> = decided
                        .iter()
                        .map(|(l, prob)| format!("{l}\t{prob:.6}"))
                        .collect();
                    writeln!(out, "{}", fields.join("\t"))?;
                }
                continue;
            }
            let top: Vec<(&str, f32)> = p
                .top_k(labels, top_k)
                .into_iter()
                .filter(|(_, prob)| *prob >= threshold)
                .collect();
            if args.json {
                let top_json: Vec<_> = top
                    .iter()
                    .map(|(l, prob)| serde_json::json!({ "label": l, "probability": prob }))
                    .collect();
                let json = serde_json::json!({
                    "line": line_no,
                    "label": top.first().map(|t| t.0),
                    "probability": top.first().map(|t| t.1),
                    "top_k": top_json,
                    "truncated": p.truncated,
                    "n_tokens": p.n_tokens,
                    "n_oov": p.n_oov,
                });
                writeln!(out, "{json}")?;
            } else if top.is_empty() {
                writeln!(out, "none\t(no label with probability >= {threshold})")?;
            } else {
                let fields: Vec<String> = top
                    .iter()
                    .map(|(l, prob)| format!("{l}\t{prob:.6}"))
                    .collect();
                writeln!(out, "{}", fields.join("\t"))?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
