//! A hidden fault hook for the kill-anywhere tests (`tests/it/kill_anywhere.rs`): with
//! `TEXTCNN_FAULT_AT=<point>:<n>` in its environment, the process kills itself with `SIGKILL`
//! (as `kill -9`, an OOM kill or a second Ctrl-C would end it: no destructor runs, nothing is
//! flushed) the `n`-th time (1-based) it reaches the named point. Without the variable (always,
//! outside those tests) a point costs one load of an initialised `OnceLock`. A value that is not
//! `<point>:<n>` is ignored.
//!
//! The points:
//!
//! | point | where |
//! |---|---|
//! | `step` | after each training batch (its optimizer step done, before the Ctrl-C check) |
//! | `epoch` | at the end of each epoch, after validation, before anything of it is written |
//! | `rename` | before each atomic rename of `write_atomic` (the file-system helpers) (the temporary file written and synced): every file of every save (`metrics.jsonl`, each bundle file, the checkpoint's tensors and state, `report.json`) |
//! | `renamed` | right after each such rename |
//! | `checkpoint` | after a checkpoint is saved (its state written, the previous tensor file removed) |
//! | `ngram-fit` | after each logistic-regression fit of the n-gram stage (each `C` of each feature set, and the refit on all texts) |

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable read.
pub const FAULT_ENV: &str = "TEXTCNN_FAULT_AT";

/// The point to fault at and the hit that faults, from [`FAULT_ENV`].
static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
/// Hits of the target point so far.
static HITS: AtomicU64 = AtomicU64::new(0);

/// Parses `<point>:<n>` (`n` ≥ 1).
fn parse(value: &str) -> Option<(String, u64)> {
    let (point, n) = value.rsplit_once(':')?;
    let n: u64 = n.parse().ok().filter(|&n| n >= 1)?;
    (!point.is_empty()).then(|| (point.to_string(), n))
}

/// Marks the point `name`: kills the process when [`FAULT_ENV`] names this point and this is
/// its `n`-th hit; does nothing otherwise.
pub fn point(name: &str) {
    let target = TARGET.get_or_init(|| std::env::var(FAULT_ENV).ok().and_then(|v| parse(&v)));
    let Some((point, n)) = target else {
        return;
    };
    if point == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        // SAFETY: kill(2) on our own pid; no memory is touched.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_point_and_positive_count_parse() {
        assert_eq!(parse("rename:3"), Some(("rename".to_string(), 3)));
        assert_eq!(parse("ngram-fit:1"), Some(("ngram-fit".to_string(), 1)));
        assert_eq!(parse("rename:0"), None);
        assert_eq!(parse("rename"), None);
        assert_eq!(parse(":2"), None);
        assert_eq!(parse("step:x"), None);
    }
}
