//! The output folder of a run: refused when it would replace the user's files, locked for the
//! whole training, and removed again when a failed run created it and left nothing in it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::bundle;

pub use crate::bundle::LOCK_FILE;

/// The files a run writes beside its checkpoint: what a run killed before its first
/// checkpoint can have left (see [`abandoned_run`]).
const RUN_FILES: [&str; 8] = [
    bundle::CONFIG_FILE,
    bundle::MODEL_FILE,
    bundle::VOCAB_FILE,
    bundle::METRICS_FILE,
    bundle::REPORT_FILE,
    bundle::PARENT_METRICS_FILE,
    crate::ngram::NGRAM_TENSORS_FILE,
    crate::ngram::NGRAM_TOKENS_FILE,
];

/// Refuses an output that is a file, holds a model, or holds anything else: training writes
/// several files there and must not replace what the user had. Returns the leftovers of an
/// earlier run that never saved a checkpoint (hidden temporary files, the lock file, an empty
/// `checkpoint/`, the TensorBoard folder of a run that failed early, and the files of a run
/// killed in its first save, see [`abandoned_run`]), which do not count.
///
/// # Errors
/// Names the folder and what it holds.
pub fn check_new_output(output: &Path) -> Result<Vec<PathBuf>> {
    if output.is_file() {
        bail!(
            "the output {} is a file; give a directory",
            output.display()
        );
    }
    if output.join(bundle::CONFIG_FILE).exists() && !abandoned_run(output) {
        let resumable = output
            .join(bundle::CHECKPOINT_DIR)
            .join(bundle::CHECKPOINT_STATE)
            .is_file();
        let d = output.display();
        // A finished run has nothing to resume: it trains further by fine-tuning.
        if resumable && unfinished_bundle(output) {
            bail!(
                "{d} already holds a model of a run that has not finished; choose another \
                 output, delete it, or continue it with `textcnn train --resume {d}`"
            );
        }
        bail!(
            "{d} already holds a model; choose another output, delete it, or train it further \
             with `textcnn finetune --model {d} --train NEW_DATA --output NEW_DIR`"
        );
    }
    if !output.is_dir() {
        return Ok(Vec::new());
    }
    let (leftovers, others) = leftovers(output)?;
    if !others.is_empty() {
        bail!(
            "the output {} is a directory that is not empty (it holds {}); give a new or empty directory so no file of yours is replaced",
            output.display(),
            others.join(", ")
        );
    }
    Ok(leftovers)
}

/// Whether `dir/config.json` is the best epoch so far of a run that has not finished
/// (`"contents"` → `"complete": false`).
fn unfinished_bundle(dir: &Path) -> bool {
    crate::fsutil::read_file(
        &dir.join(bundle::CONFIG_FILE),
        crate::fsutil::Source::RegularFile,
        Some(64 << 20),
    )
    .ok()
    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    .is_some_and(|c| c["contents"]["complete"] == false)
}

/// Whether `dir` holds what a training run left when it was killed before its first
/// checkpoint: its lock file, no `checkpoint/state.json`, and no `config.json` or one that
/// says the bundle is unfinished. Then the run's own files (`model.safetensors`,
/// `metrics.jsonl`, ... of its first save) are leftovers that a new run may remove: there is
/// no checkpoint to resume from, and no complete model.
pub fn abandoned_run(dir: &Path) -> bool {
    dir.join(LOCK_FILE).is_file()
        && !dir
            .join(bundle::CHECKPOINT_DIR)
            .join(bundle::CHECKPOINT_STATE)
            .exists()
        && (!dir.join(bundle::CONFIG_FILE).exists() || unfinished_bundle(dir))
}

/// Whether `name` is a checkpoint's tensor file, `state-e<epoch>-b<batch>.safetensors`.
fn is_checkpoint_tensors(name: &str) -> bool {
    name.strip_prefix("state-e")
        .and_then(|n| n.strip_suffix(".safetensors"))
        .and_then(|n| n.split_once("-b"))
        .is_some_and(|(e, b)| {
            [e, b]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        })
}

/// The entries of a run directory, split into the leftovers of an interrupted save (hidden
/// `.NAME.PID.tmp` files, the lock file, an empty `checkpoint/`, a `tb/` of event files only,
/// and in an [`abandoned_run`] its own files and a `checkpoint/` without state) and the others
/// (their names).
fn leftovers(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let (mut stale, mut others) = (Vec::new(), Vec::new());
    let abandoned = abandoned_run(dir);
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let temp = is_temp_name(&name);
        let stateless_checkpoint = name == bundle::CHECKPOINT_DIR
            && path.is_dir()
            && std::fs::read_dir(&path).is_ok_and(|entries| {
                entries.into_iter().all(|e| {
                    e.is_ok_and(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        e.path().is_file()
                            && (is_temp_name(&n) || (abandoned && is_checkpoint_tensors(&n)))
                    })
                })
            });
        let run_file = abandoned && RUN_FILES.contains(&name.as_str()) && path.is_file();
        if temp
            || name == LOCK_FILE
            || stateless_checkpoint
            || run_file
            || is_tensorboard_log(&path)
        {
            stale.push(path);
        } else {
            others.push(name);
        }
    }
    stale.sort();
    others.sort();
    Ok((stale, others))
}

/// Whether `path` is the `tb` folder of a run that failed before its first checkpoint: only
/// TensorBoard event files (a folder of the user's with other files is not).
fn is_tensorboard_log(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tb")
        && path.is_dir()
        && std::fs::read_dir(path).is_ok_and(|entries| {
            entries.into_iter().all(|e| {
                e.is_ok_and(|e| {
                    e.path().is_file()
                        && e.file_name()
                            .to_string_lossy()
                            .starts_with("events.out.tfevents.")
                })
            })
        })
}

/// Whether `name` is one of textcnn's temporary files: `.NAME.PID.tmp` (see
/// [`crate::fsutil::write_atomic`]), or `.tmpXXXXXX` (six letters or digits: the file
/// `safetensors` streams a checkpoint's tensors into before renaming it to textcnn's, left by a
/// process killed during that write); a hidden file of the user's is not.
fn is_temp_name(name: &str) -> bool {
    let ours = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(base, pid)| {
            !base.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        });
    let streamed = name
        .strip_prefix(".tmp")
        .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    ours || streamed
}

/// Removes the leftovers found by [`check_new_output`]; returns a note naming them (none when
/// only the lock file was there).
pub fn remove_leftovers(dir: &Path, stale: &[PathBuf]) -> Option<String> {
    let temps: Vec<String> = stale
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != LOCK_FILE)
        .collect();
    for p in stale.iter().filter(|p| !p.ends_with(LOCK_FILE)) {
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        };
    }
    (!temps.is_empty()).then(|| {
        format!(
            "{} holds only what an interrupted run left behind ({}); removing it",
            dir.display(),
            temps.join(", ")
        )
    })
}

/// `--resume DIR` without a checkpoint: says what was found instead.
///
/// # Errors
/// A directory holding only leftovers (nothing to resume).
pub fn check_resumable(dir: &Path) -> Result<()> {
    if !dir.is_dir()
        || dir
            .join(bundle::CHECKPOINT_DIR)
            .join(bundle::CHECKPOINT_STATE)
            .is_file()
    {
        return Ok(());
    }
    if crate::bundle::Bundle::load(dir).is_ok() {
        bail!(
            "{} holds a finished model without its training checkpoint (a finished run drops \
             checkpoint/ unless trained with --keep-checkpoint): there is nothing to resume. To \
             train it further, fine-tune it: `textcnn finetune --model {} --train DATA --output NEW_DIR`",
            dir.display(),
            dir.display()
        );
    }
    let (stale, others) = leftovers(dir)?;
    let temps: Vec<String> = stale
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != LOCK_FILE && n != bundle::CHECKPOINT_DIR)
        .collect();
    if others.is_empty() {
        bail!(
            "no checkpoint to resume in {}: {}the run stopped before its first checkpoint was saved; \
             start it again with `textcnn train --output {}` (which removes what was left)",
            dir.display(),
            if temps.is_empty() {
                "the directory is empty; ".to_string()
            } else if temps.iter().all(|t| is_temp_name(t)) {
                format!(
                    "it holds only temporary files of an interrupted save ({}); ",
                    temps.join(", ")
                )
            } else {
                format!(
                    "it holds only what a run killed in its first save left ({}); ",
                    temps.join(", ")
                )
            },
            dir.display()
        );
    }
    Ok(())
}

/// What interrupted saves left in `dir` and its checkpoint folder: hidden `.NAME.PID.tmp`
/// files, and checkpoint tensor files other than `keep` (see [`remove_stale_saves`]).
pub fn stale_saves(dir: &Path, keep: &str) -> Vec<PathBuf> {
    let mut stale = Vec::new();
    for folder in [dir.to_path_buf(), dir.join(bundle::CHECKPOINT_DIR)] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let in_checkpoint = folder != dir;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (is_temp_name(&name)
                || (in_checkpoint && is_checkpoint_tensors(&name) && name != keep))
                && entry.path().is_file()
            {
                stale.push(entry.path());
            }
        }
    }
    stale
}

/// Before a resumed run trains: removes what interrupted saves left in `dir` and its
/// checkpoint folder (hidden `.NAME.PID.tmp` files, and checkpoint tensor files other than
/// `keep`, the one the checkpoint's state names); returns a note naming them. Call it with the
/// run's lock held (no other training writes there).
pub fn remove_stale_saves(dir: &Path, keep: &str) -> Option<String> {
    let mut removed: Vec<String> = stale_saves(dir, keep)
        .into_iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .filter_map(|p| {
            p.strip_prefix(dir)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        })
        .collect();
    removed.sort();
    (!removed.is_empty()).then(|| {
        format!(
            "removed what an interrupted save left in {}: {}",
            dir.display(),
            removed.join(", ")
        )
    })
}

/// An exclusive lock on a run directory, held for the whole training (released when dropped or
/// when the process exits, however it exits).
#[derive(Debug)]
pub struct OutputLock {
    _file: std::fs::File,
    /// The directory did not exist before this run.
    created: bool,
    dir: PathBuf,
}

impl OutputLock {
    /// Creates `dir` if needed, checks that files can be written there, and locks it.
    ///
    /// # Errors
    /// A directory that cannot be created or written, or that another training holds.
    pub fn acquire(dir: &Path) -> Result<OutputLock> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the output {}", dir.display()))?;
        // Writability before any data is read or epoch trained: a probe file, written and removed.
        let probe = dir.join(format!(".write-test.{}.tmp", std::process::id()));
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .with_context(|| {
                format!(
                    "the output {} is not writable; give a directory where files can be created",
                    dir.display()
                )
            })?;
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot create the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "the output {} is in use by another training (it holds {}); wait for it to finish or choose another output",
                dir.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        Ok(OutputLock {
            _file: file,
            created,
            dir: dir.to_path_buf(),
        })
    }

    /// After a failed run: removes the directory again when this run created it and left
    /// nothing in it but the lock and leftovers.
    pub fn discard_if_unused(&self) {
        if self.created
            && let Ok((stale, others)) = leftovers(&self.dir)
            && others.is_empty()
        {
            for p in stale {
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_textcnns_only() {
        assert!(is_temp_name(".config.json.1234.tmp"));
        assert!(!is_temp_name(".config.json.tmp"));
        assert!(!is_temp_name(".notes.tmp"));
        assert!(!is_temp_name("config.json.1234.tmp"));
        // safetensors' own temporary file (tempfile's `.tmp` and six letters or digits).
        assert!(is_temp_name(".tmpAIBFQO"));
        assert!(is_temp_name(".tmp9x2Kq0"));
        assert!(!is_temp_name(".tmpAIBFQ"));
        assert!(!is_temp_name(".tmp-AIBFQ"));
        assert!(!is_temp_name("tmpAIBFQO"));
    }

    #[test]
    fn leftovers_are_removed_and_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".vocab.txt.77.tmp"), b"x").unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), b"").unwrap();
        let stale = check_new_output(dir.path()).unwrap();
        assert_eq!(stale.len(), 2);
        let note = remove_leftovers(dir.path(), &stale).unwrap();
        assert!(note.contains(".vocab.txt.77.tmp"), "{note}");
        assert!(!dir.path().join(".vocab.txt.77.tmp").exists());
        std::fs::write(dir.path().join("mine.txt"), b"x").unwrap();
        let err = check_new_output(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("is a directory that is not empty (it holds mine.txt)"),
            "{err}"
        );
    }
}
