//! Arguments shared by several subcommands.

use std::path::PathBuf;

use clap::Args;
use textcnn::data::{Encoding, Format, LabelLayout, ReadOptions, detect_multi_label};

/// How to read a dataset (`imdb:train`, `imdb:test`, a file or a folder).
#[derive(Args, Clone, Debug)]
pub struct ReadArgs {
    /// Input format; by default from the file extension (.csv, .tsv, .jsonl, .ft for fastText;
    /// .txt: fastText when its first line starts with the label prefix, else unlabelled lines)
    /// or the folder layout.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// CSV/TSV/JSONL field holding the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// CSV/TSV/JSONL field holding the label.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Label prefix of fastText-format lines.
    #[arg(long, default_value = "__label__")]
    pub label_prefix: String,
    /// Character encoding of the input files.
    #[arg(long, value_enum, default_value = "utf8")]
    pub encoding: Encoding,
    /// Where to look for the IMDB archive (`aclImdb_v1.tar.gz`, `aclImdb_v1_labeled.tar.gz` or
    /// an extracted `aclImdb/`); default: $TEXTCNN_DATA_DIR, then the user cache directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Read several labels per text (multi-label data; `train`: a multi-label model, one
    /// sigmoid per label with per-label thresholds). Chosen automatically for fastText lines
    /// with several labels, JSONL label lists, --label-sep and indicator columns
    #[arg(long)]
    pub multi_label: bool,
    /// Separator of the labels inside the CSV/TSV label column (or a JSONL label string), e.g. `,` or `|` (implies --multi-label)
    #[arg(long)]
    pub label_sep: Option<String>,
    /// CSV/TSV indicator columns, one 0/1 column per label, comma-separated (the column names are the labels; implies --multi-label)
    #[arg(long, value_delimiter = ',')]
    pub label_columns: Option<Vec<String>>,
    /// CSV/TSV indicator columns: every column whose name starts with this (the label is the rest of the name; implies --multi-label)
    #[arg(long)]
    pub label_column_prefix: Option<String>,
}

impl ReadArgs {
    /// The reader options as given (label sets when --multi-label or a label layout says so).
    pub fn options(&self) -> ReadOptions {
        let layout = LabelLayout {
            label_sep: self.label_sep.clone(),
            label_columns: self.label_columns.clone().unwrap_or_default(),
            label_column_prefix: self.label_column_prefix.clone(),
        };
        ReadOptions {
            format: self.format,
            text_column: self.text_column.clone(),
            label_column: self.label_column.clone(),
            label_prefix: self.label_prefix.clone(),
            encoding: self.encoding,
            data_dir: self.data_dir.clone(),
            multi_label: self.multi_label || layout.any(),
            layout,
        }
    }

    /// [`ReadArgs::options`] for reading `spec` when no model says how: label sets also when
    /// the data holds them (said on standard error unless `quiet`).
    pub fn options_for(&self, spec: &str, quiet: bool) -> ReadOptions {
        let mut read = self.options();
        if !read.multi_label
            && let Some(reason) = detect_multi_label(spec, &read)
        {
            if !quiet {
                eprintln!("multi-label data detected ({reason}): every label of a text is kept");
            }
            read.multi_label = true;
        }
        read
    }
}

/// Loads a dataset and reports skipped rows and warnings on standard error.
pub fn load_dataset(spec: &str, read: &ReadOptions) -> anyhow::Result<textcnn::data::Dataset> {
    let ds = textcnn::data::load_dataset(spec, read)?;
    report_dataset_issues(&ds);
    Ok(ds)
}

/// Prints the reader warnings and the skipped rows (first few, with file and line) of a
/// dataset.
pub fn report_dataset_issues(ds: &textcnn::data::Dataset) {
    for issue in ds.issues() {
        eprintln!("warning: {issue}");
    }
}

/// A rayon pool of `threads` workers (0 = all cores), refusing absurd counts.
pub fn thread_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    let max = textcnn::train::MAX_THREADS;
    if threads > max {
        anyhow::bail!("--threads must be at most {max} (0 = all cores), got {threads}");
    }
    Ok(textcnn::nn::thread_pool(threads))
}

pub use textcnn::bundle::{check_output_file, is_bundle_dir};
