//! `textcnn compare`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use textcnn::eval::{ClassificationReport, ConfusionMatrix};
use textcnn::predict::Classifier;
use textcnn::train::label_ids;

use super::common::{ReadArgs, load_dataset};

/// Evaluate several model bundles on the same data side by side (e.g. before/after finetune).
///
/// Prints accuracy, mean loss, macro and weighted F1 and per-class F1 of each model.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Model bundle directories, comma-separated (or --models repeated).
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    pub models: Vec<PathBuf>,
    /// Labelled data: `imdb:test`, or a file/folder in any supported format (not needed with
    /// --curves alone).
    #[arg(long, required_unless_present = "curves")]
    pub data: Option<String>,
    /// Write the models' learning curves (their metrics.jsonl) on one chart to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub curves: Option<PathBuf>,
    /// Replace an existing --curves file (never one inside a model bundle).
    #[arg(long, requires = "curves")]
    pub force: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads, 0 = all cores.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub read: ReadArgs,
}

pub fn run(args: CompareArgs) -> Result<()> {
    if let Some(path) = &args.curves {
        let models: Vec<&std::path::Path> = args.models.iter().map(|m| m.as_path()).collect();
        super::common::check_output_file("--curves", path, &models, args.force)?;
        let runs = args
            .models
            .iter()
            .map(|m| {
                let history = textcnn::report::read_history(m)?;
                if history.is_empty() {
                    anyhow::bail!(
                        "{}: no {} (is it a training run's --output?)",
                        m.display(),
                        textcnn::bundle::METRICS_FILE
                    );
                }
                Ok((m.display().to_string(), history))
            })
            .collect::<Result<Vec<_>>>()?;
        let svg = textcnn::report::svg::compare_curves(&runs);
        textcnn::fsutil::write_atomic(path, svg.as_bytes())?;
        eprintln!(
            "learning curves of {} runs in {}",
            runs.len(),
            path.display()
        );
    }
    let Some(data) = &args.data else {
        return Ok(());
    };
    let ds = load_dataset(data, &args.read)?;
    let texts: Vec<&str> = ds.examples.iter().map(|e| e.text.as_str()).collect();
    let pool = super::common::thread_pool(args.threads)?;
    let mut rows: Vec<(f64, ClassificationReport)> = Vec::new();
    for dir in &args.models {
        let classifier = Classifier::load(dir)?;
        if classifier.multi_label().is_some() {
            anyhow::bail!(
                "{} is a multi-label model; compare reads single-label data (evaluate it with `textcnn eval`)",
                dir.display()
            );
        }
        let labels = classifier.labels().to_vec();
        let y = label_ids(&ds, &labels).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let (loss, _, predicted) = pool.install(|| classifier.evaluate(&texts, &y));
        rows.push((
            loss,
            ConfusionMatrix::from_indices(labels, &y, &predicted).report(),
        ));
    }
    if args.json {
        let models: Vec<_> = args
            .models
            .iter()
            .zip(&rows)
            .map(|(m, (loss, r))| serde_json::json!({ "model": m, "loss": loss, "report": r }))
            .collect();
        let json = serde_json::json!({ "data": ds.name, "examples": ds.len(), "models": models });
        println!("{}", serde_json::to_string(&json)?);
        return Ok(());
    }
    let mut labels: Vec<String> = Vec::new();
    for (_, r) in &rows {
        for m in &r.per_class {
            if !labels.contains(&m.label) {
                labels.push(m.label.clone());
            }
        }
    }
    let names: Vec<String> = args
        .models
        .iter()
        .map(|m| m.display().to_string())
        .collect();
    let w = names.iter().map(|n| n.len()).max().unwrap_or(0).max(10);
    println!("{} examples of {}\n", ds.len(), ds.name);
    print!("{:<16}", "");
    for n in &names {
        print!(" {n:>w$}");
    }
    println!();
    let line = |name: &str, f: &dyn Fn(&(f64, ClassificationReport)) -> Option<f64>| {
        print!("{name:<16}");
        for r in &rows {
            match f(r) {
                Some(v) => print!(" {v:>w$.4}"),
                None => print!(" {:>w$}", "-"),
            }
        }
        println!();
    };
    line("accuracy", &|r| Some(r.1.accuracy));
    line("mean loss", &|r| Some(r.0));
    line("macro F1", &|r| Some(r.1.macro_avg.f1));
    line("weighted F1", &|r| Some(r.1.weighted_avg.f1));
    for l in &labels {
        line(&format!("F1 {l}"), &|r| {
            r.1.per_class.iter().find(|m| &m.label == l).map(|m| m.f1)
        });
    }
    if rows.len() >= 2 {
        let (a, b) = (&rows[0].1, &rows[rows.len() - 1].1);
        println!(
            "\naccuracy change (last − first): {:+.4}",
            b.accuracy - a.accuracy
        );
    }
    Ok(())
}
