//! Multi-label flags of `train` and `eval`, and the multi-label training and evaluation runs.

use std::path::Path;

use anyhow::{Result, bail};
use clap::Args;
use textcnn::multilabel::train::{MultiTrainData, report_of};
use textcnn::multilabel::{MultiDataset, MultiReadOptions, detect_multi_label, load_multi_dataset};
use textcnn::predict::Classifier;
use textcnn::train::TrainConfig;

use super::common::{ReadArgs, thread_pool};

/// Multi-label data: several labels per text (none allowed).
#[derive(Args, Clone, Debug, Default)]
pub struct MultiLabelArgs {
    /// Train a multi-label model: one sigmoid per label, binary cross-entropy, per-label
    /// thresholds tuned on validation (also chosen automatically for fastText lines with
    /// several labels, JSONL label lists, --label-sep and indicator columns)
    #[arg(long)]
    pub multi_label: bool,
    /// Separator of the labels inside the CSV/TSV label column (or a JSONL label string), e.g. `,` or `|`
    #[arg(long)]
    pub label_sep: Option<String>,
    /// CSV/TSV indicator columns, one 0/1 column per label, comma-separated (the column names are the labels)
    #[arg(long, value_delimiter = ',')]
    pub label_columns: Option<Vec<String>>,
    /// CSV/TSV indicator columns: every column whose name starts with this (the label is the rest of the name)
    #[arg(long)]
    pub label_column_prefix: Option<String>,
}

impl MultiLabelArgs {
    /// The reader options.
    pub fn options(&self) -> MultiReadOptions {
        MultiReadOptions {
            label_sep: self.label_sep.clone(),
            label_columns: self.label_columns.clone().unwrap_or_default(),
            label_column_prefix: self.label_column_prefix.clone(),
        }
    }

    /// Whether to train multi-label on `train_spec`: asked for, implied by a layout flag, or
    /// detected from the data (said on standard error).
    pub fn wanted(&self, train_spec: &str, read: &ReadArgs, quiet: bool) -> bool {
        if self.multi_label || self.options().any() {
            return true;
        }
        match detect_multi_label(train_spec, &read.options()) {
            Some(reason) => {
                if !quiet {
                    eprintln!(
                        "multi-label data detected ({reason}): training one sigmoid per label \
                         (pass --multi-label to say so, or --format to read it otherwise)"
                    );
                }
                true
            }
            None => false,
        }
    }
}

/// Loads a multi-label dataset and prints its summary, skipped rows and warnings.
fn load(
    spec: &str,
    read: &ReadArgs,
    multi: &MultiReadOptions,
    quiet: bool,
) -> Result<MultiDataset> {
    let ds = load_multi_dataset(spec, &read.options(), multi)?;
    for w in &ds.warnings {
        eprintln!("warning: {}: {w}", ds.name);
    }
    if !ds.skipped.is_empty() {
        eprintln!("warning: {}: skipped {} row(s):", ds.name, ds.skipped.len());
        for s in ds.skipped.iter().take(5) {
            eprintln!("  {}:{}: {}", s.file, s.line, s.reason);
        }
    }
    if !quiet {
        eprintln!("{}", ds.summary());
    }
    Ok(ds)
}

/// The multi-label training run of `textcnn train` (output folder checked and locked).
pub(super) fn train(
    config: TrainConfig,
    info: &super::train::RunInfo,
    multi: &MultiReadOptions,
    output: &Path,
    quiet: bool,
    log: &super::train::LogArgs,
) -> Result<()> {
    let (train_spec, valid_spec, test_spec, read) = (
        info.train.as_str(),
        info.valid.as_deref(),
        info.test.as_deref(),
        &info.read,
    );
    let run_info = serde_json::to_value(info)?;
    if config.pretrained.is_some() || config.init_from.is_some() {
        bail!("--pretrained and --init-from are not supported with multi-label training yet");
    }
    let full = load(train_spec, read, multi, quiet)?;
    let (train_ds, valid_ds) = match valid_spec {
        Some(spec) => (full, load(spec, read, multi, quiet)?),
        None => {
            if config.valid_fraction <= 0.0 {
                bail!("no validation data: give --valid or a --valid-fraction above 0");
            }
            full.split(config.valid_fraction, config.seed)
        }
    };
    let test_ds = test_spec
        .map(|spec| load(spec, read, multi, quiet))
        .transpose()?;
    let interrupt = super::train::on_ctrl_c(
        "finishing the current batch; the run then ends with the best epoch so far (Ctrl-C again to quit now)",
    );
    let data = MultiTrainData {
        train: &train_ds,
        valid: &valid_ds,
        test: test_ds.as_ref(),
        interrupt: Some(&interrupt),
    };
    let mut tensorboard = super::train::tensorboard_writer(log, output)?;
    let mut printer = super::progress::TerminalPrinter::new(quiet);
    let outcome = {
        let mut observers = textcnn::train::Observers::new();
        observers.push(&mut printer);
        observers.push(&mut tensorboard);
        textcnn::multilabel::train_multi_label(&config, &data, output, &mut observers, run_info)?
    };
    if let Err(e) = tensorboard.finish() {
        eprintln!("warning: TensorBoard log incomplete: {e:#}");
    }
    let b = &outcome.best;
    println!(
        "best epoch {}: valid micro-f1 {:.4}, macro-f1 {:.4}, subset acc {:.4} (the CNN alone, thresholds 0.5)",
        b.epoch, b.valid_micro_f1, b.valid_macro_f1, b.valid_subset_acc
    );
    println!(
        "valid micro-f1 of the final model (tuned thresholds) {:.4}",
        outcome.valid.micro_avg.f1
    );
    if let Some(report) = &outcome.test {
        if !outcome.test_unknown_labels.is_empty() {
            eprintln!(
                "warning: labels of the test data unknown to the model (left out): {}",
                outcome
                    .test_unknown_labels
                    .iter()
                    .map(|(l, n)| format!("{l} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        println!("test ({}):\n{report}", test_spec.unwrap_or("test"));
        println!("test micro-f1 {:.4}", report.micro_avg.f1);
    }
    println!(
        "model saved in {} ({:.1} s in all)",
        output.display(),
        outcome.seconds
    );
    if outcome.interrupted {
        // As a single-label run stopped by Ctrl-C: the model is saved, the exit says why.
        std::process::exit(130);
    }
    Ok(())
}

/// `textcnn eval` of a multi-label bundle.
pub fn eval(
    classifier: &Classifier,
    model: &Path,
    data: &str,
    read: &ReadArgs,
    multi: &MultiLabelArgs,
    json: bool,
    threads: usize,
) -> Result<()> {
    let ds = load(data, read, &multi.options(), true)?;
    let labels = classifier.labels().to_vec();
    let (targets, unknown) = ds.targets(&labels);
    if !unknown.is_empty() {
        eprintln!(
            "warning: {}: labels unknown to the model are left out: {}",
            ds.name,
            unknown
                .iter()
                .map(|(l, n)| format!("{l} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let pool = thread_pool(threads)?;
    let texts = ds.texts();
    let (encoded, probs) = pool.install(|| classifier.probabilities(&texts));
    let k = labels.len();
    // Texts without tokens are skipped, as single-label evaluation does.
    let keep: Vec<usize> = (0..encoded.len())
        .filter(|&i| encoded[i].n_tokens > 0)
        .collect();
    let skipped = encoded.len() - keep.len();
    if skipped > 0 {
        eprintln!(
            "warning: {}: skipped {skipped} example(s) with no tokens after tokenization",
            ds.name
        );
    }
    if keep.is_empty() {
        bail!(
            "{}: no example has any token after tokenization; nothing to evaluate",
            ds.name
        );
    }
    let pick = |m: &[f32]| -> Vec<f32> {
        keep.iter()
            .flat_map(|&i| m[i * k..(i + 1) * k].iter().copied())
            .collect()
    };
    let (targets, probs) = (pick(&targets), pick(&probs));
    let thresholds = &classifier
        .multi_label()
        .expect("a multi-label bundle")
        .thresholds;
    let report = report_of(&labels, &targets, &probs, thresholds, true);
    if json {
        let out = serde_json::json!({
            "model": model,
            "data": ds.name,
            "multi_label": true,
            "examples": keep.len(),
            "skipped_rows": ds.skipped.len() + skipped,
            "no_token_examples": skipped,
            "unknown_labels": unknown,
            "report": report,
        });
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "model {} on {} ({} examples, multi-label, per-label thresholds)\n",
            model.display(),
            ds.name,
            keep.len()
        );
        print!("{report}");
    }
    Ok(())
}
