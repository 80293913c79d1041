//! File-system helpers shared by every stage that writes user-visible files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// Writes `bytes` to `path` atomically: the data goes to a temporary file in the same directory,
/// is flushed to disk, and is then renamed over `path`. A crash leaves either the old file or
/// the new one, never a truncated mix.
///
/// # Errors
/// When the directory cannot be created or the file cannot be written or renamed; the message
/// names the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = fs::File::create(tmp)?;
        f.write_all(bytes)?;
        Ok(())
    })
}

/// [`write_atomic`] with the contents written by `write` into the temporary file at the path
/// it is given (e.g. streamed by a serializer), then synced and renamed over `path`.
///
/// # Errors
/// As [`write_atomic`], and any error of `write` (the temporary file is removed).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let tmp = temp_path(path);
    let result = (|| -> std::io::Result<()> {
        write(&tmp)?;
        fs::File::open(&tmp)?.sync_all()?;
        crate::fault::point("rename");
        fs::rename(&tmp, path)?;
        crate::fault::point("renamed");
        // The rename itself survives a power cut only once the directory is synced.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Character encoding of input files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 (a leading BOM is stripped). Invalid bytes are an error.
    #[default]
    Utf8,
    /// ISO-8859-1 / Windows-1252 (decoded as Windows-1252, its superset, per the WHATWG
    /// Encoding Standard as implemented by `encoding_rs`). Never fails.
    Latin1,
}

/// Decodes file contents to a `String`, stripping a UTF-8 BOM.
///
/// # Errors
/// With [`Encoding::Utf8`], invalid UTF-8 is an error naming `name`, the 1-based line and the
/// offending byte, and suggesting `--encoding latin1`.
pub fn decode_bytes(bytes: &[u8], name: &str, encoding: Encoding) -> Result<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match encoding {
        Encoding::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => {
                let at = e.valid_up_to();
                let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
                anyhow::bail!(
                    "{name}:{line}: invalid UTF-8 (byte 0x{:02X} at offset {at}); if the file is \
                     Latin-1 / Windows-1252, pass `--encoding latin1`",
                    bytes[at]
                )
            }
        },
        Encoding::Latin1 => Ok(encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned()),
    }
}

/// What [`read_file`] accepts besides regular files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A regular file only (model files, word vectors).
    RegularFile,
    /// A regular file or a named pipe (input data, e.g. `<(zcat data.gz)`); devices such as
    /// `/dev/zero` are still refused.
    FileOrPipe,
}

/// Reads a whole file, refusing what cannot be read to its end: a folder, a device (such as
/// `/dev/zero`, which never ends), a socket, a pipe unless `source` allows one, and a regular file
/// larger than `max_bytes`, all checked from the file's metadata before reading.
///
/// # Errors
/// The message names the path and what it is.
pub fn read_file(path: &Path, source: Source, max_bytes: Option<u64>) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = check_source(path, source)?;
    if let Some(max) = max_bytes
        && meta.len() > max
    {
        anyhow::bail!(
            "{} is {} bytes, more than the {max} this file can hold; it is not the expected file",
            path.display(),
            meta.len()
        );
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| {
            f.take(max_bytes.map_or(u64::MAX, |m| m + 1))
                .read_to_end(&mut bytes)
        })
        .with_context(|| format!("cannot read {}", path.display()))?;
    if max_bytes.is_some_and(|m| bytes.len() as u64 > m) {
        anyhow::bail!(
            "{} grew past the size it can hold while being read",
            path.display()
        );
    }
    Ok(bytes)
}

/// Opens `path` for reading as a stream, with the checks of [`read_file`] (no folder, device or
/// socket; a named pipe only when `source` allows one), so that `textcnn predict` can answer
/// lines as they arrive.
///
/// # Errors
/// The message names the path and what it is.
pub fn open_checked(path: &Path, source: Source) -> Result<fs::File> {
    check_source(path, source)?;
    fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The metadata of `path`, refusing what [`read_file`] refuses from it.
fn check_source(path: &Path, source: Source) -> Result<fs::Metadata> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let kind = meta.file_type();
    let pipe = is_pipe(&kind);
    if kind.is_dir() {
        anyhow::bail!("{} is a folder, not a file", path.display());
    }
    if !(kind.is_file() || (pipe && source == Source::FileOrPipe)) {
        anyhow::bail!(
            "{} is not a regular file ({}); give a file",
            path.display(),
            if pipe {
                "a pipe"
            } else {
                "a device or a socket"
            }
        );
    }
    Ok(meta)
}

#[cfg(unix)]
fn is_pipe(kind: &fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo()
}

#[cfg(not(unix))]
fn is_pipe(_: &fs::FileType) -> bool {
    false
}

/// Whether `a` and `b` name the same file: the same real path (links, `.` and `..`
/// resolved), or, on Unix, the same inode (hard links). Paths that do not exist yet are compared
/// through their real parent folder.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (fs::metadata(a), fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    match (real_path(a), real_path(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The canonical form of `path`, or of its parent joined with its file name when it does not
/// exist yet.
pub fn real_path(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = fs::canonicalize(path) {
        return Some(p);
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(fs::canonicalize(parent).ok()?.join(path.file_name()?))
}

/// `dir/.name.<pid>.tmp`: hidden, unique per process, in the same directory so `rename` stays on
/// one file system.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Lowercase hex SHA-256 of everything `r` yields.
///
/// # Errors
/// A read error of `r`.
pub fn sha256_hex<R: std::io::Read>(mut r: R) -> std::io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }
}
