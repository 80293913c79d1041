//! `textcnn eval`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use textcnn::predict::{Branch, Classifier, Evaluation};
use textcnn::report;

use super::common::{ReadArgs, load_dataset, thread_pool};

/// Evaluate a model bundle on labelled data: accuracy, per-class precision/recall/F1, macro and
/// weighted averages, confusion matrix (multi-label models: per-label scores, micro, macro,
/// weighted and samples averages, subset accuracy, Jaccard, Hamming loss, P@k and R@k).
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
}

pub fn run(args: EvalArgs) -> Result<()> {
    let classifier = Classifier::load(&args.model)?;
    if let Some(dir) = &args.plots {
        check_plots_dir(dir, args.force)?;
    }
    let head = classifier.head();
    let mut read = args.read.options();
    read.multi_label = head.reads_label_sets();
    let ds = load_dataset(&args.data, &read)?;
    let pool = thread_pool(args.threads)?;
    let evaluation = pool
        .install(|| classifier.evaluate_dataset(&ds, Branch::Model))?
        .expect("a model has its own probabilities");
    let Evaluation {
        scores,
        loss,
        kept: keep,
        targets,
        probs,
        no_tokens,
        unknown,
    } = evaluation;
    if !unknown.is_empty() {
        let unknown = textcnn::head::describe_unknown(&unknown);
        eprintln!(
            "warning: {}: labels unknown to the model are left out: {unknown}",
            ds.name
        );
    }
    // Examples without tokens (only markup or stop words) are skipped as rows without text are,
    // and reported, as `predict` and `serve` refuse them.
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
    let all_texts = ds.texts();
    let texts: Vec<&str> = keep.iter().map(|&i| all_texts[i]).collect();
    if let Some(dir) = &args.plots {
        let history = report::read_history(&args.model)?;
        let mut run = report::RunReport::of_bundle(
            classifier.bundle(),
            head,
            &history,
            &ds.name,
            &texts,
            &targets,
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
        let mut json = serde_json::Map::new();
        json.insert("model".into(), serde_json::json!(args.model));
        json.insert("data".into(), ds.name.clone().into());
        json.extend(head.json_tags(&unknown));
        json.insert("examples".into(), keep.len().into());
        json.insert(
            "skipped_rows".into(),
            (ds.skipped.len() + no_tokens.len()).into(),
        );
        json.insert("no_token_examples".into(), no_tokens.len().into());
        json.insert("loss".into(), loss.into());
        json.insert("report".into(), scores.to_json());
        println!("{}", serde_json::Value::Object(json));
    } else {
        println!(
            "model {} on {} ({} examples, mean loss {loss:.4})\n",
            args.model.display(),
            ds.name,
            keep.len()
        );
        print!("{scores}");
    }
    Ok(())
}

/// Refuses a `--plots` folder that is a model bundle (its training report would be replaced),
/// or that holds a report or pictures already, unless `force`.
fn check_plots_dir(dir: &Path, force: bool) -> Result<()> {
    if super::common::is_bundle_dir(dir) {
        anyhow::bail!(
            "--plots {} is a model bundle folder: its training report and pictures would be \
             replaced; give another directory",
            dir.display()
        );
    }
    if !force {
        for existing in [dir.join(report::REPORT_HTML), dir.join(report::PLOTS_DIR)] {
            if existing.exists() {
                anyhow::bail!(
                    "--plots: {} already exists; give another folder or --force to replace it",
                    existing.display()
                );
            }
        }
    }
    Ok(())
}
