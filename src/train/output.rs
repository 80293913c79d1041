//! The output folder of a run: refused when it would replace the user's files, locked for the
//! whole training, and removed again when a failed run created it and left nothing in it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The lock file that marks a run directory as in use by one training process.
pub const LOCK_FILE: &str = ".textcnn.lock";

/// Refuses an output that is a file, holds a model, or holds anything else: training writes
/// several files there and must not replace what the user had. Returns the leftovers of an
/// earlier run that never saved anything (hidden temporary files, the lock file, an empty
/// `checkpoint/`, the TensorBoard folder of a run that failed early), which do not count.
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
    if output.join(crate::bundle::CONFIG_FILE).exists() {
        bail!(
            "{} already holds a model; choose another output, delete it, or continue it with --resume",
            output.display()
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

/// The entries of a run directory, split into the leftovers of an interrupted save (hidden
/// `.NAME.PID.tmp` files, the lock file, an empty `checkpoint/`, a `tb/` of event files only)
/// and the others (their names).
fn leftovers(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let (mut stale, mut others) = (Vec::new(), Vec::new());
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let temp = is_temp_name(&name);
        let empty_checkpoint = name == "checkpoint"
            && path.is_dir()
            && leftovers(&path).is_ok_and(|(_, o)| o.is_empty());
        if temp || name == LOCK_FILE || empty_checkpoint || is_tensorboard_log(&path) {
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

/// Whether `name` is one of textcnn's temporary files, `.NAME.PID.tmp` (see
/// [`crate::fsutil::write_atomic`]); a hidden file of the user's is not.
fn is_temp_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(base, pid)| {
            !base.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        })
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
    if !dir.is_dir() || dir.join("checkpoint").join("state.json").is_file() {
        return Ok(());
    }
    let (stale, others) = leftovers(dir)?;
    let temps: Vec<String> = stale
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != LOCK_FILE && n != "checkpoint")
        .collect();
    if others.is_empty() {
        bail!(
            "no checkpoint to resume in {}: {}the run stopped before its first checkpoint was saved; \
             start it again with `textcnn train --output {}` (which removes what was left)",
            dir.display(),
            if temps.is_empty() {
                "the directory is empty; ".to_string()
            } else {
                format!(
                    "it holds only temporary files of an interrupted save ({}); ",
                    temps.join(", ")
                )
            },
            dir.display()
        );
    }
    Ok(())
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
