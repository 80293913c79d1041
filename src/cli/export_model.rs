//! `textcnn export`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

/// Model formats of `export`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModelFormat {
    /// ONNX (opset 13): token ids in, label probabilities out (ONNX Runtime, Triton, ...).
    Onnx,
}

/// Write a model bundle in a standard format for other runtimes (ONNX). The graph reads token
/// ids, not text: make them with the Python `Classifier.onnx_inputs(texts)` (docs/export.md
/// says what each input holds).
#[derive(Args, Debug)]
pub struct ExportModelArgs {
    /// Model bundle directory (kim, ngram-cnn or ngram; read only).
    #[arg(long)]
    pub model: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "onnx")]
    pub format: ModelFormat,
    /// Output file, e.g. model.onnx (written atomically).
    #[arg(long)]
    pub output: PathBuf,
    /// Replace an existing --output file (never one inside the model bundle).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ExportModelArgs) -> Result<()> {
    super::common::check_output_file("--output", &args.output, &[&args.model], args.force)?;
    let ModelFormat::Onnx = args.format;
    let s = textcnn::export::onnx::export_onnx(&args.model, &args.output)?;
    println!(
        "{} written: ONNX opset {}, {:.1} MB, inputs {}",
        args.output.display(),
        textcnn::export::onnx::OPSET,
        s.bytes as f64 / 1e6,
        s.inputs.join(", ")
    );
    Ok(())
}
