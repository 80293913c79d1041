//! Smaller and portable copies of a trained bundle: `textcnn quantize` (the same bundle with
//! f16 or int8 weights, [`crate::quant`]) and `textcnn export --format onnx` ([`onnx`]).

pub mod onnx;

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::bundle::{Bundle, CONFIG_FILE, METRICS_FILE, PARENT_METRICS_FILE, REPORT_FILE};
use crate::fsutil::{Source, read_file, write_atomic};
use crate::quant::StoredDtype;

/// Sizes of a bundle before and after [`quantize`] (bytes of the files the model loads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantizeSummary {
    /// Bytes of the source bundle's model files (weights, vocabulary, n-gram files, config).
    pub before: u64,
    /// The same for the written bundle.
    pub after: u64,
}

/// Writes the bundle in `model` to `output` with its weights stored as `dtype`: the same
/// config, vocabulary and n-gram tokens, the weights rounded once (int8: per-row scales; the
/// n-gram weights and IDF in f16), and copies of `metrics.jsonl`, `report.json` and
/// `parent_metrics.jsonl` (which describe the f32 model). The training checkpoint is not
/// copied. `textcnn predict`, `eval`, `explain` and `serve` load the result like any bundle.
///
/// # Errors
/// An unreadable bundle, a bundle that is already quantized, an `output` that is `model`
/// itself, lies inside it, already holds a model or is anything but a new or empty folder, or
/// a file that cannot be written.
pub fn quantize(model: &Path, output: &Path, dtype: StoredDtype) -> Result<QuantizeSummary> {
    if crate::fsutil::same_file(model, output) {
        bail!("--output must differ from --model: the original bundle is never modified");
    }
    if output.join(CONFIG_FILE).exists() {
        bail!(
            "{} already holds a model; choose another --output or delete it",
            output.display()
        );
    }
    if output.exists() {
        let empty = output.is_dir()
            && std::fs::read_dir(output)
                .with_context(|| format!("cannot read {}", output.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "{} already exists and is not an empty folder; choose a new --output (quantize never writes over files)",
                output.display()
            );
        }
    }
    if let (Some(m), Some(o)) = (
        crate::fsutil::real_path(model),
        crate::fsutil::real_path(output),
    ) && o.starts_with(&m)
    {
        bail!(
            "--output {} is inside --model {}: the original bundle is never modified; choose a folder outside it",
            output.display(),
            model.display()
        );
    }
    let mut bundle = Bundle::load(model)?;
    if !bundle.config.dtype.is_f32() {
        bail!(
            "{} is already quantized ({}): its weights were rounded once, and rounding them again only loses more; quantize the f32 bundle it was made from",
            model.display(),
            serde_json::to_value(bundle.config.dtype)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        );
    }
    bundle.config.dtype = dtype;
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    bundle.save(output)?;
    for name in [METRICS_FILE, REPORT_FILE, PARENT_METRICS_FILE] {
        let from = model.join(name);
        if from.is_file() {
            write_atomic(
                &output.join(name),
                &read_file(&from, Source::RegularFile, None)?,
            )?;
        }
    }
    Ok(QuantizeSummary {
        before: model_bytes(model)?,
        after: model_bytes(output)?,
    })
}

/// Bytes of the files a bundle's model is loaded from (weights, vocabulary, n-gram branch,
/// config); reports and the checkpoint are not counted.
///
/// # Errors
/// A directory that cannot be read.
pub fn model_bytes(dir: &Path) -> Result<u64> {
    let files = [
        crate::bundle::MODEL_FILE,
        crate::bundle::VOCAB_FILE,
        CONFIG_FILE,
        crate::ngram::NGRAM_TENSORS_FILE,
        crate::ngram::NGRAM_TOKENS_FILE,
    ];
    let mut total = 0;
    for f in files {
        match std::fs::metadata(dir.join(f)) {
            Ok(m) => total += m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        }
    }
    Ok(total)
}
