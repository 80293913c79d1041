//! `textcnn eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use textcnn::eval::ConfusionMatrix;
use textcnn::predict::Classifier;
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
    #[command(flatten)]
    pub read: ReadArgs,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let classifier = Classifier::load(&args.model)?;
    let ds = load_dataset(&args.data, &args.read)?;
    let labels = classifier.labels().to_vec();
    let y = label_ids(&ds, &labels)?;
    let texts: Vec<&str> = ds.examples.iter().map(|e| e.text.as_str()).collect();
    let pool = thread_pool(args.threads)?;
    let (loss, _, predicted) = pool.install(|| classifier.evaluate(&texts, &y));
    let report = ConfusionMatrix::from_indices(labels, &y, &predicted).report();
    if args.json {
        let json = serde_json::json!({
            "model": args.model,
            "data": ds.name,
            "examples": ds.len(),
            "skipped_rows": ds.skipped.len(),
            "loss": loss,
            "report": report,
        });
        println!("{}", serde_json::to_string(&json)?);
    } else {
        println!(
            "model {} on {} ({} examples, mean loss {loss:.4})\n",
            args.model.display(),
            ds.name,
            ds.len()
        );
        print!("{report}");
    }
    Ok(())
}
