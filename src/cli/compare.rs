//! `textcnn compare`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use textcnn::data::Dataset;
use textcnn::eval::Scores;
use textcnn::predict::Classifier;

use super::common::{ReadArgs, load_dataset};

/// Evaluate several model bundles on the same data side by side (e.g. before/after finetune).
///
/// Prints accuracy, mean loss, macro and weighted F1 and per-class F1 of each model
/// (multi-label models: micro, macro, weighted and samples F1, subset accuracy, per-label F1).
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

/// One model's mean loss and scores.
type Row = (f64, Box<dyn Scores>);
/// The data as read for one reading mode (label sets or not).
type ReadAs = (bool, Dataset);

pub fn run(args: CompareArgs) -> Result<()> {
    if let Some(path) = &args.curves {
        write_curves(&args, path)?;
    }
    let Some(data) = &args.data else {
        return Ok(());
    };
    let (datasets, rows) = evaluate_all(&args, data)?;
    let ds = &datasets[0].1;
    if args.json {
        let models: Vec<_> = args
            .models
            .iter()
            .zip(&rows)
            .map(|(m, (loss, r))| serde_json::json!({ "model": m, "loss": loss, "report": r.to_json() }))
            .collect();
        let json = serde_json::json!({ "data": ds.name, "examples": ds.len(), "models": models });
        println!("{}", serde_json::to_string(&json)?);
        return Ok(());
    }
    let mut labels: Vec<String> = Vec::new();
    let mut figures: Vec<&'static str> = Vec::new();
    for (_, r) in &rows {
        for m in r.per_label() {
            if !labels.contains(&m.label) {
                labels.push(m.label.clone());
            }
        }
        for (name, _) in r.figures() {
            if !figures.contains(&name) {
                figures.push(name);
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
    let line = |name: &str, f: &dyn Fn(&Row) -> Option<f64>| {
        print!("{name:<16}");
        for r in &rows {
            match f(r) {
                Some(v) => print!(" {v:>w$.4}"),
                None => print!(" {:>w$}", "-"),
            }
        }
        println!();
    };
    let figure = |r: &Row, name: &str| {
        r.1.figures()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    };
    for (i, name) in figures.iter().enumerate() {
        line(name, &|r| figure(r, name));
        if i == 0 {
            line("mean loss", &|r| Some(r.0));
        }
    }
    for l in &labels {
        line(&format!("F1 {l}"), &|r| {
            r.1.per_label().iter().find(|m| &m.label == l).map(|m| m.f1)
        });
    }
    if rows.len() >= 2 {
        let main = figures[0];
        if let (Some(a), Some(b)) = (figure(&rows[0], main), figure(&rows[rows.len() - 1], main)) {
            println!("\n{main} change (last − first): {:+.4}", b - a);
        }
    }
    Ok(())
}

/// `--curves`: the models' learning curves on one chart.
fn write_curves(args: &CompareArgs, path: &std::path::Path) -> Result<()> {
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
    Ok(())
}

/// The data as each model's head reads it (once per reading mode) and each model's mean loss
/// and scores on it.
fn evaluate_all(args: &CompareArgs, data: &str) -> Result<(Vec<ReadAs>, Vec<Row>)> {
    let pool = super::common::thread_pool(args.threads)?;
    // The data as each head reads it (read once per reading mode).
    let mut datasets: Vec<ReadAs> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    for dir in &args.models {
        let classifier = Classifier::load(dir)?;
        let head = classifier.head();
        let sets = head.reads_label_sets();
        if !datasets.iter().any(|(s, _)| *s == sets) {
            let mut read = args.read.options();
            read.multi_label = sets;
            datasets.push((sets, load_dataset(data, &read)?));
        }
        let ds = &datasets.iter().find(|(s, _)| *s == sets).expect("loaded").1;
        let (targets, _) = head
            .targets(ds, classifier.labels())
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let texts = ds.texts();
        rows.push(pool.install(|| classifier.evaluate(&texts, &targets)));
    }
    Ok((datasets, rows))
}
