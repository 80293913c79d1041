//! `textcnn quantize`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use textcnn::quant::StoredDtype;

/// Storage precision of `quantize`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DtypeArg {
    /// Half precision: half the size, predictions within about 1e-3 of the f32 model's.
    F16,
    /// One signed byte per weight with a scale per row (per word for the embedding): about a
    /// quarter of the size.
    Int8,
}

/// Write a smaller copy of a model bundle with f16 or int8 weights (int8: per-row scales, the n-gram
/// weights in int8 blocks of 64 and their IDF in f16);
/// predict, eval, explain and serve load it like any bundle.
#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// Model bundle directory (read only).
    #[arg(long)]
    pub model: PathBuf,
    /// Directory for the new bundle (must not hold a model).
    #[arg(long)]
    pub output: PathBuf,
    /// How to store the weights.
    #[arg(long, value_enum, default_value = "int8")]
    pub dtype: DtypeArg,
}

pub fn run(args: QuantizeArgs) -> Result<()> {
    let dtype = match args.dtype {
        DtypeArg::F16 => StoredDtype::F16,
        DtypeArg::Int8 => StoredDtype::Int8,
    };
    let s = textcnn::export::quantize(&args.model, &args.output, dtype)?;
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "{} written: model files {:.1} MB (from {:.1} MB)",
        args.output.display(),
        mb(s.after),
        mb(s.before)
    );
    Ok(())
}
