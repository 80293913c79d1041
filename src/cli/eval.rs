//! `textcnn eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use textcnn::eval::ConfusionMatrix;
use textcnn::predict::Classifier;
use textcnn::report;
use textcnn::train::label_ids;

use super::common::{ReadArgs, load_dataset, thread_pool};

/// Evaluate a model bundle on labelled data: accuracy, per-class precision/recall/F1, macro and
/// weighted averages, confusion matrix.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model bundle directory (the --output of `textcnn train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled data: `imdb:test`, or a file/folder in any supported format.
    #[arg(long)]
    pub data: String,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Worker threads, 0 = all cores.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also write the pictures (DIR/plots/*.svg: confusion matrices, per-class F1, the model's
    /// learning curves) and DIR/report.html for this data.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Replace an existing DIR/report.html and DIR/plots/ of --plots.
    #[arg(long, requires = "plots")]
    pub force: bool,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub multi: super::multilabel::MultiLabelArgs,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let classifier = Classifier::load(&args.model)?;
    if let Some(dir) = &args.plots
        && super::common::is_bundle_dir(dir)
    {
        anyhow::bail!(
            "--plots {} is a model bundle folder: its training report and pictures would be \
             replaced; give another directory",
            dir.display()
        );
    }
    if let Some(dir) = &args.plots
        && !args.force
    {
        for existing in [dir.join(report::REPORT_HTML), dir.join(report::PLOTS_DIR)] {
            if existing.exists() {
                anyhow::bail!(
                    "--plots: {} already exists; give another folder or --force to replace it",
                    existing.display()
                );
            }
        }
    }
    if classifier.multi_label().is_some() {
        if args.plots.is_some() {
            anyhow::bail!(
                "--plots is not available for multi-label models yet (no pictures or report.html \
                 are written for them)"
            );
        }
        return super::multilabel::eval(
            &classifier,
            &args.model,
            &args.data,
            &args.read,
            &args.multi,
            args.json,
            args.threads,
        );
    }
    let ds = load_dataset(&args.data, &args.read)?;
    let labels = classifier.labels().to_vec();
    let all_y = label_ids(&ds, &labels)?;
    let texts: Vec<&str> = ds.examples.iter().map(|e| e.text.as_str()).collect();
    let pool = thread_pool(args.threads)?;
    let encoded = pool.install(|| classifier.pipeline().encode_batch(&texts));
    // Examples without tokens (only markup or stop words) are skipped as rows without text are,
    // and reported, as `predict` and `serve` refuse them.
    let no_tokens: Vec<usize> = (0..encoded.len())
        .filter(|&i| encoded[i].n_tokens == 0)
        .collect();
    if !no_tokens.is_empty() {
        let first: Vec<String> = no_tokens
            .iter()
            .take(5)
            .map(|i| (i + 1).to_string())
            .collect();
        eprintln!(
            "warning: {}: skipped {} example(s) with no tokens after tokenization (examples {}{})",
            ds.name,
            no_tokens.len(),
            first.join(", "),
            if no_tokens.len() > 5 { ", ..." } else { "" }
        );
    }
    let (texts, y): (Vec<&str>, Vec<usize>) = texts
        .iter()
        .zip(all_y)
        .zip(&encoded)
        .filter(|(_, e)| e.n_tokens > 0)
        .map(|((t, y), _)| (*t, y))
        .unzip();
    if y.is_empty() {
        anyhow::bail!(
            "{}: no example has any token after tokenization; nothing to evaluate",
            ds.name
        );
    }
    let (_, probs) = pool.install(|| classifier.probabilities(&texts));
    let (loss, _, predicted) = textcnn::eval::score(&probs, &y, labels.len());
    let report = ConfusionMatrix::from_indices(labels, &y, &predicted).report();
    if let Some(dir) = &args.plots {
        let history = report::read_history(&args.model)?;
        let mut run = report::RunReport::of_bundle(
            classifier.bundle(),
            &history,
            &ds.name,
            &texts,
            &y,
            &probs,
        );
        pool.install(|| run.highlight(&classifier, &texts));
        let written = report::write_run_report(dir, &run)?;
        eprintln!(
            "pictures in {}, report {}",
            dir.join(report::PLOTS_DIR).display(),
            written.html.display()
        );
    }
    if args.json {
        let json = serde_json::json!({
            "model": args.model,
            "data": ds.name,
            "examples": y.len(),
            "skipped_rows": ds.skipped.len() + no_tokens.len(),
            "no_token_examples": no_tokens.len(),
            "loss": loss,
            "report": report,
        });
        println!("{}", serde_json::to_string(&json)?);
    } else {
        println!(
            "model {} on {} ({} examples, mean loss {loss:.4})\n",
            args.model.display(),
            ds.name,
            y.len()
        );
        print!("{report}");
    }
    Ok(())
}
