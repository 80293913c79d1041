//! `textcnn export-vectors`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use textcnn::bundle::Bundle;
use textcnn::fsutil::write_atomic;
use textcnn::text::VectorFormat;
use textcnn::text::vectors::encode_vectors;

/// Output format of `export-vectors`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// Text with a `count dim` header (fastText .vec / word2vec text).
    Vec,
    /// GloVe text (no header).
    Glove,
    /// word2vec binary.
    #[value(name = "word2vec-bin")]
    Word2vecBin,
}

/// Write a model bundle's word embeddings as a word-vector file (.vec, GloVe, word2vec binary).
///
/// Every vocabulary word but <pad> and <unk>, in id order; `train --pretrained` and other
/// tools read the file.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Model bundle directory.
    #[arg(long)]
    pub model: PathBuf,
    /// File format.
    #[arg(long, value_enum, default_value = "vec")]
    pub format: ExportFormat,
    /// Output file (written atomically).
    #[arg(long)]
    pub output: PathBuf,
    /// Export the frozen channel of a multichannel model instead of the fine-tuned one.
    #[arg(long)]
    pub static_channel: bool,
    /// Replace an existing --output file (never one inside the model bundle).
    #[arg(long)]
    pub force: bool,
}

/// Refuses an `--output` inside the model bundle (it would replace the model's own files) and,
/// without `--force`, an existing file.
fn check_output(args: &ExportArgs) -> Result<()> {
    super::common::check_output_file("--output", &args.output, &[&args.model], args.force)
}

pub fn run(args: ExportArgs) -> Result<()> {
    check_output(&args)?;
    let bundle = Bundle::load(&args.model)?;
    let (trained, dim) = bundle.model.embedding().ok_or_else(|| {
        anyhow::anyhow!(
            "{} is an n-gram model (--arch ngram): it has no word embedding to export",
            args.model.display()
        )
    })?;
    let emb: &[f32] = if args.static_channel {
        bundle.model.frozen_embedding().ok_or_else(|| {
            anyhow::anyhow!("{} is not a multichannel model", args.model.display())
        })?
    } else {
        trained
    };
    let words: Vec<&str> = bundle.vocab.tokens()[2..]
        .iter()
        .map(String::as_str)
        .collect();
    let format = match args.format {
        ExportFormat::Vec => VectorFormat::Word2vecText,
        ExportFormat::Glove => VectorFormat::Glove,
        ExportFormat::Word2vecBin => VectorFormat::Word2vecBin,
    };
    let (bytes, skipped) = encode_vectors(format, &words, &emb[2 * dim..], dim);
    write_atomic(&args.output, &bytes)?;
    if skipped > 0 {
        eprintln!("warning: {skipped} words containing whitespace were left out");
    }
    println!(
        "{} vectors of dimension {dim} written to {}",
        words.len() - skipped,
        args.output.display()
    );
    Ok(())
}
