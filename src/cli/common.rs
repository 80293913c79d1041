//! Arguments shared by several subcommands.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};
use textcnn::data::{Encoding, Format, ReadOptions};

/// How to read a dataset (`imdb:train`, `imdb:test`, a file or a folder).
#[derive(Args, Clone, Debug, Serialize, Deserialize)]
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
}

impl ReadArgs {
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            format: self.format,
            text_column: self.text_column.clone(),
            label_column: self.label_column.clone(),
            label_prefix: self.label_prefix.clone(),
            encoding: self.encoding,
            data_dir: self.data_dir.clone(),
        }
    }
}

/// Loads a dataset and reports skipped rows and warnings on standard error.
pub fn load_dataset(spec: &str, read: &ReadArgs) -> anyhow::Result<textcnn::data::Dataset> {
    let ds = textcnn::data::load_dataset(spec, &read.options())?;
    report_dataset_issues(&ds);
    Ok(ds)
}

/// Prints the skipped rows (first few, with file and line) and reader warnings of a dataset.
pub fn report_dataset_issues(ds: &textcnn::data::Dataset) {
    for w in &ds.warnings {
        eprintln!("warning: {}: {w}", ds.name);
    }
    if !ds.skipped.is_empty() {
        eprintln!("warning: {}: skipped {} row(s):", ds.name, ds.skipped.len());
        for s in ds.skipped.iter().take(5) {
            eprintln!("  {}:{}: {}", s.file, s.line, s.reason);
        }
        if ds.skipped.len() > 5 {
            eprintln!("  ... and {} more", ds.skipped.len() - 5);
        }
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

/// Whether `dir` holds a model bundle (`config.json` and `model.safetensors`).
pub fn is_bundle_dir(dir: &std::path::Path) -> bool {
    dir.join(textcnn::bundle::CONFIG_FILE).is_file() && dir.join("model.safetensors").is_file()
}

/// Refuses to write the file `output` of option `flag` when it is a directory, lies inside one of
/// `models` or any model bundle (its files would be replaced), or exists and `force` is off.
///
/// # Errors
/// Names the option, the path and the way out.
pub fn check_output_file(
    flag: &str,
    output: &std::path::Path,
    models: &[&std::path::Path],
    force: bool,
) -> anyhow::Result<()> {
    if output.is_dir() {
        anyhow::bail!(
            "{flag} {} is a directory; give a file name",
            output.display()
        );
    }
    // Compare real paths: the file's folder may be named through a link or `..`.
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let real = std::fs::canonicalize(folder).ok();
    let inside = models.iter().find(|m| {
        let model = std::fs::canonicalize(m).ok();
        matches!((&real, &model), (Some(f), Some(m)) if f.starts_with(m))
    });
    if let Some(model) = inside {
        anyhow::bail!(
            "{flag} {} is inside the model bundle {}; writing there could replace the model's files, \
             so give a path outside it",
            output.display(),
            model.display()
        );
    }
    if is_bundle_dir(folder) {
        anyhow::bail!(
            "{flag} {} is inside the model bundle {}; writing there could replace the model's files, \
             so give a path outside it",
            output.display(),
            folder.display()
        );
    }
    if output.exists() && !force {
        anyhow::bail!(
            "{flag} {} already exists; give another name or --force to replace it",
            output.display()
        );
    }
    Ok(())
}
