//! Completeness of a bundle (format 2's `"contents"`, and how a format 1 bundle is judged):
//! see the [bundle module documentation](super).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, bail};

use super::{
    Architecture, BundleConfig, CHECKPOINT_DIR, CHECKPOINT_STATE, Contents, MAX_CONFIG_BYTES,
    MODEL_FILE, NGRAM_CNN, NGRAM_ONLY, VOCAB_FILE,
};
use crate::fsutil::{Source, read_file};
use crate::ngram::{NGRAM_TENSORS_FILE, NGRAM_TOKENS_FILE};

/// The files a bundle with (or without) an n-gram branch is made of, each with a recorded hash.
pub(super) fn parts(ngram: bool) -> Vec<&'static str> {
    let mut parts = vec![MODEL_FILE, VOCAB_FILE];
    if ngram {
        parts.extend([NGRAM_TENSORS_FILE, NGRAM_TOKENS_FILE]);
    }
    parts
}

/// The `"type"` of an architecture in `config.json` (`kim`, `conv2d`, `ngram`).
fn architecture_type(arch: &Architecture) -> String {
    serde_json::to_value(arch)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// The [`Contents::model`] of a model of architecture `arch`, with or without the n-gram
/// branch: [`NGRAM_CNN`] for a network with it, [`NGRAM_ONLY`] for `--arch ngram` (the branch
/// alone), the network's `"type"` otherwise.
pub(super) fn model_name(arch: &Architecture, branch: bool) -> String {
    let network = architecture_type(arch);
    match (branch, network == NGRAM_ONLY) {
        (true, false) => NGRAM_CNN.to_string(),
        _ => network,
    }
}

/// Whether a model of that name has the n-gram branch.
fn has_branch(model: &str) -> bool {
    model == NGRAM_CNN || model == NGRAM_ONLY
}

/// Refuses a config whose `"files"` name other parts than the model has (an n-gram branch
/// listed without an `"ngram"` object, or the other way round), and a complete bundle whose
/// `"contents"` differ from what the config holds: another head, another network, an
/// `ngram-cnn` without its branch or a branch in a model that says it has none. (An
/// unfinished bundle is refused as such before.)
pub(super) fn check_parts(
    config_path: &Path,
    config: &BundleConfig,
    files: &HashMap<String, String>,
    contents: Option<&Contents>,
) -> Result<()> {
    let has_ngram = config.ngram.is_some();
    let expected = parts(has_ngram);
    let mut listed: Vec<&str> = files.keys().map(String::as_str).collect();
    listed.sort_unstable();
    if let Some(extra) = listed.iter().find(|f| !expected.contains(f)) {
        bail!(
            "{}: \"files\" lists {extra}, which is not part of this model ({}); the config was \
             edited or belongs to another bundle",
            config_path.display(),
            if has_ngram || ![NGRAM_TENSORS_FILE, NGRAM_TOKENS_FILE].contains(extra) {
                "a file textcnn does not write"
            } else {
                "it lists the n-gram branch but there is no \"ngram\" object"
            }
        );
    }
    if let Some(missing) = expected.iter().find(|f| !files.contains_key(**f)) {
        bail!(
            "{}: \"files\" has no hash of {missing}, so it cannot be verified; the config was \
             edited or belongs to another bundle",
            config_path.display()
        );
    }
    let Some(contents) = contents.filter(|c| c.complete) else {
        return Ok(());
    };
    let head = config.head()?.kind();
    let network = architecture_type(&config.architecture);
    let problem = if contents.head != head {
        Some(format!(
            "says the head is {} but the config is that of a {} model",
            contents.head.name(),
            head.name()
        ))
    } else if has_branch(&contents.model) && !has_ngram {
        Some(format!(
            "says the model is {} but it has no n-gram branch (no \"ngram\" object)",
            contents.model
        ))
    } else if !has_branch(&contents.model) && has_ngram {
        Some(format!(
            "says the model is {} but it has an n-gram branch (an \"ngram\" object)",
            contents.model
        ))
    } else if contents.model != model_name(&config.architecture, has_ngram) {
        Some(format!(
            "says the model is {} but its architecture is {network}",
            contents.model
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        bail!(
            "{}: \"contents\" {problem}; the config was edited or its files belong to another \
             bundle: train the model again",
            config_path.display()
        );
    }
    Ok(())
}

/// Refuses a bundle that is not complete: a format 2 bundle whose `"contents"` say so, or a
/// format 1 bundle judged unfinished (see the [module documentation](super)). The message names
/// the fix: `--resume` when the folder holds a checkpoint, a new run otherwise.
pub(super) fn check_complete(
    dir: &Path,
    config: &BundleConfig,
    contents: Option<&Contents>,
) -> Result<()> {
    let why = match contents {
        Some(c) if c.complete => return Ok(()),
        Some(c) => {
            let best = match config.best.get("epoch").and_then(|e| e.as_u64()) {
                Some(e) => format!("the best epoch so far ({e})"),
                None => "the best epoch so far".to_string(),
            };
            let missing = if has_branch(&c.model) {
                ", without its n-gram branch"
            } else {
                ""
            };
            format!(
                "it holds {best} of an unfinished {} run{missing} (the run was stopped or \
                 killed while training)",
                c.model
            )
        }
        None => match legacy_unfinished(dir, config) {
            Some(why) => why,
            None => return Ok(()),
        },
    };
    let checkpoint = dir.join(CHECKPOINT_DIR).join(CHECKPOINT_STATE);
    let fix = if checkpoint.is_file() {
        format!(
            "finish the run with `textcnn train --resume {}` (or train again)",
            dir.display()
        )
    } else {
        format!(
            "it has no checkpoint to resume: train again (`textcnn train --output {}` removes \
             what was left)",
            dir.display()
        )
    };
    bail!("{} is not a complete model: {why}; {fix}", dir.display())
}

/// Why a format 1 bundle is unfinished, if it is: its settings say `ngram-cnn` but it has no
/// n-gram branch and no parent (the old training saved the CNN first and the branch when it
/// ended), or its folder's checkpoint says the run stopped mid-epoch, or before its
/// `--epochs` were done without early stopping.
fn legacy_unfinished(dir: &Path, config: &BundleConfig) -> Option<String> {
    let arch = config.training["config"]["arch"].as_str();
    if arch == Some(NGRAM_CNN) && config.ngram.is_none() && config.parent.is_none() {
        return Some(format!(
            "its settings say {NGRAM_CNN} but it has no n-gram branch: the run was stopped or \
             killed before the branch was fitted (a bundle of an older textcnn, which saved the \
             CNN first)"
        ));
    }
    let path = dir.join(CHECKPOINT_DIR).join(CHECKPOINT_STATE);
    let bytes = read_file(&path, Source::RegularFile, Some(MAX_CONFIG_BYTES)).ok()?;
    let state: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let (progress, settings) = (&state["progress"], &state["config"]);
    let step = progress["step"].as_u64()?;
    let epoch = progress["epoch"].as_u64()?;
    if step > 0 {
        return Some(format!(
            "its checkpoint says the run stopped in epoch {epoch}, after batch {step}"
        ));
    }
    let epochs = settings["epochs"].as_u64()?;
    let patience = settings["patience"].as_u64()?.max(1);
    let stopped_early = progress["bad_epochs"].as_u64()? >= patience;
    (epoch <= epochs && !stopped_early).then(|| {
        format!(
            "its checkpoint says the run stopped after epoch {} of {epochs}",
            epoch - 1
        )
    })
}
