//! The IMDB Large Movie Review Dataset (Maas et al. 2011, "Learning Word Vectors for Sentiment
//! Analysis"): 25,000 training and 25,000 test reviews, labels `neg` / `pos`, star rating in the
//! file name `<id>_<rating>.txt`.
//!
//! Read from an extracted `aclImdb/` folder or streamed straight out of `aclImdb_v1.tar.gz` (the
//! official archive, whose `train/unsup/` reviews are skipped) or `aclImdb_v1_labeled.tar.gz`.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::Digest;

use super::{Dataset, Encoding, Example, SkippedRow, decode_bytes};

/// Official download location of the archive.
pub const IMDB_URL: &str = "http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz";
/// SHA-256 of `aclImdb_v1.tar.gz`, as published by TensorFlow Datasets in
/// `tensorflow_datasets/url_checksums/imdb_reviews.txt`
/// (<https://github.com/tensorflow/datasets/blob/master/tensorflow_datasets/url_checksums/imdb_reviews.txt>).
pub const IMDB_SHA256: &str = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe";
/// Size in bytes of `aclImdb_v1.tar.gz` (same source as [`IMDB_SHA256`]).
pub const IMDB_SIZE: u64 = 84_125_825;
/// Archive names looked for, in order of preference.
pub const ARCHIVE_NAMES: [&str; 2] = ["aclImdb_v1_labeled.tar.gz", "aclImdb_v1.tar.gz"];
/// Environment variable naming a folder that holds the archive (or `aclImdb/`).
pub const DATA_DIR_ENV: &str = "TEXTCNN_DATA_DIR";

/// IMDB split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// `train/`: 12,500 `neg` + 12,500 `pos`.
    Train,
    /// `test/`: 12,500 `neg` + 12,500 `pos`.
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn parse(s: &str) -> anyhow::Result<Split> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => bail!("unknown IMDB split {s:?}: use train or test"),
        }
    }

    /// Folder name in the archive.
    pub fn dir_name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Whether `dir` holds an extracted aclImdb split: `pos/` and `neg/`, and nothing but `unsup/`
/// and plain files besides.
pub fn is_split_dir(dir: &Path) -> bool {
    if !(dir.join("pos").is_dir() && dir.join("neg").is_dir()) {
        return false;
    }
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().all(|e| {
            let n = e.file_name();
            !e.path().is_dir() || n == "pos" || n == "neg" || n == "unsup"
        })
    })
}

/// The extracted root (`…/aclImdb`, the folder holding `train/` and `test/`) under `dir`, if any.
fn extracted_root(dir: &Path) -> Option<PathBuf> {
    let has =
        |d: &Path| d.join("train").join("pos").is_dir() && d.join("test").join("pos").is_dir();
    if has(dir) {
        Some(dir.to_path_buf())
    } else if has(&dir.join("aclImdb")) {
        Some(dir.join("aclImdb"))
    } else {
        None
    }
}

/// The archive or extracted root inside `dir`, if any.
fn find_in(dir: &Path) -> Option<PathBuf> {
    if dir.is_file() {
        return Some(dir.to_path_buf());
    }
    for name in ARCHIVE_NAMES {
        let p = dir.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    extracted_root(dir)
}

/// Default cache folder: `dirs::cache_dir()/textcnn` (e.g. `~/.cache/textcnn` on Linux).
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("textcnn"))
}

/// Resolves the IMDB data: a `.tar.gz` archive path or an extracted `aclImdb` folder.
///
/// Looks in `data_dir`, then `$TEXTCNN_DATA_DIR`, then [`cache_dir`]; in each, for
/// `aclImdb_v1_labeled.tar.gz`, `aclImdb_v1.tar.gz`, or an extracted `aclImdb/` (the location may
/// also be the archive or the `aclImdb` folder itself). When none is set and the cache has nothing,
/// downloads [`IMDB_URL`] into the cache (progress bar, SHA-256 checked, temp file then rename).
///
/// # Errors
/// When `data_dir` or `$TEXTCNN_DATA_DIR` is given but holds no IMDB data (no download happens
/// then: an explicit location that is wrong is a mistake to report), or when the download fails.
pub fn resolve_imdb(data_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let explicit = data_dir
        .map(|d| (d.to_path_buf(), "--data-dir"))
        .or_else(|| {
            std::env::var_os(DATA_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(|v| (PathBuf::from(v), DATA_DIR_ENV))
        });
    if let Some((dir, source)) = explicit {
        return find_in(&dir).with_context(|| {
            format!(
                "{} (from {source}) holds no IMDB data: expected {} or {} or an extracted aclImdb/ folder",
                dir.display(),
                ARCHIVE_NAMES[0],
                ARCHIVE_NAMES[1]
            )
        });
    }
    let cache = cache_dir().context("no user cache directory on this system; pass --data-dir")?;
    if let Some(p) = find_in(&cache) {
        return Ok(p);
    }
    let dest = cache.join(ARCHIVE_NAMES[1]);
    download_verified(IMDB_URL, &dest, IMDB_SHA256, Some(IMDB_SIZE))?;
    Ok(dest)
}

pub use crate::fsutil::sha256_hex;

/// Whether a download tells the terminal about itself ([`show_download_progress`]).
static SHOW_DOWNLOAD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets downloads print what they fetch and a progress bar on stderr. Off by default: the
/// library prints nothing unless the application (the `textcnn` command) asks for it.
pub fn show_download_progress(on: bool) {
    SHOW_DOWNLOAD.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Downloads `url` to `dest` (with a progress bar on stderr when [`show_download_progress`] is
/// on): written to a temporary file next to `dest`, its size and SHA-256 checked, then renamed
/// into place.
///
/// # Errors
/// Network errors, a size or checksum mismatch (the temporary file is removed), I/O errors.
pub fn download_verified(
    url: &str,
    dest: &Path,
    sha256: &str,
    size: Option<u64>,
) -> anyhow::Result<()> {
    let dir = dest
        .parent()
        .context("download destination has no parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let show = SHOW_DOWNLOAD.load(std::sync::atomic::Ordering::Relaxed);
    if show {
        eprintln!("downloading {url} to {}", dest.display());
    }
    let mut resp = ureq::get(url)
        .call()
        .with_context(|| format!("downloading {url} (offline? point --data-dir or TEXTCNN_DATA_DIR at a folder holding aclImdb_v1_labeled.tar.gz, aclImdb_v1.tar.gz or aclImdb/)"))?;
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or(size);
    let bar = if show {
        indicatif::ProgressBar::new(len.unwrap_or(0))
    } else {
        indicatif::ProgressBar::hidden()
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    let tmp = dir.join(format!(
        ".{}.{}.part",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let mut file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut hasher = sha2::Sha256::new();
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .with_context(|| format!("downloading {url}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
            total += n as u64;
            bar.set_position(total);
        }
        file.sync_all()?;
        bar.finish_and_clear();
        if let Some(size) = size
            && total != size
        {
            bail!("download of {url} is {total} bytes, expected {size}");
        }
        let got: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != sha256 {
            bail!("download of {url} has SHA-256 {got}, expected {sha256}");
        }
        std::fs::rename(&tmp, dest).with_context(|| format!("renaming into {}", dest.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Parses `<id>_<rating>.txt` into the rating.
fn rating(file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix(".txt")?;
    let (_, r) = stem.rsplit_once('_')?;
    (!r.is_empty() && r.bytes().all(|b| b.is_ascii_digit())).then(|| r.to_string())
}

/// Reads one split from an archive or an extracted folder (the `aclImdb` root, the folder holding
/// it, or the split folder itself when `split` matches its name).
pub(super) fn read_imdb(
    root: &Path,
    split: Split,
    encoding: Encoding,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
    if root.is_file() {
        let f = std::fs::File::open(root).with_context(|| format!("opening {}", root.display()))?;
        return read_imdb_tar_gz(f, &root.display().to_string(), split, encoding, ds);
    }
    if let Some(r) = extracted_root(root) {
        return read_split_dir(&r.join(split.dir_name()), encoding, ds);
    }
    if is_split_dir(root) {
        return read_split_dir(root, encoding, ds);
    }
    bail!(
        "{}: not an IMDB archive or aclImdb folder (expected {{train,test}}/{{pos,neg}}/)",
        root.display()
    )
}

fn push_review(
    ds: &mut Dataset,
    name: String,
    bytes: &[u8],
    label: &str,
    file_name: &str,
    encoding: Encoding,
) -> anyhow::Result<()> {
    let text = decode_bytes(bytes, &name, encoding)?;
    if text.trim().is_empty() {
        ds.skipped.push(SkippedRow {
            file: name,
            line: 0,
            reason: "no text".into(),
        });
        return Ok(());
    }
    ds.examples.push(Example {
        text,
        labels: vec![label.to_string()],
        meta: rating(file_name),
    });
    Ok(())
}

/// Reads `pos/` and `neg/` of an extracted split folder (`unsup/` and other entries are ignored),
/// in path order.
pub(super) fn read_split_dir(
    dir: &Path,
    encoding: Encoding,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
    for label in ["neg", "pos"] {
        let sub = dir.join(label);
        let mut files: Vec<(String, PathBuf)> = super::readers::sorted_entries(&sub)?
            .into_iter()
            .filter(|p| p.is_file())
            .map(|p| {
                (
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                    p,
                )
            })
            .collect();
        files.sort();
        for (fname, path) in files {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let source = path.display().to_string();
            push_review(ds, source, &bytes, label, &fname, encoding)?;
        }
    }
    Ok(())
}

/// Streams one split out of a gzip-compressed aclImdb tar archive, without extracting it.
/// Members are matched by their path `…/<split>/{pos,neg}/<file>`; everything else (`unsup/`,
/// the other split, `README`, …) is passed over. Examples are sorted by member path.
pub fn read_imdb_tar_gz<R: Read>(
    reader: R,
    archive_name: &str,
    split: Split,
    encoding: Encoding,
    ds: &mut Dataset,
) -> anyhow::Result<()> {
    let gz = flate2::read::GzDecoder::new(BufReader::with_capacity(1 << 20, reader));
    let mut archive = tar::Archive::new(gz);
    let mut members: Vec<(String, &'static str, Vec<u8>)> = Vec::with_capacity(25_000);
    let ctx = || format!("reading archive {archive_name}");
    for entry in archive.entries().with_context(ctx)? {
        let mut entry = entry.with_context(ctx)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .with_context(ctx)?
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        let n = parts.len();
        if n < 3 || parts[n - 3] != split.dir_name() {
            continue;
        }
        let label = match parts[n - 2] {
            "neg" => "neg",
            "pos" => "pos",
            _ => continue,
        };
        let mut buf = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut buf).with_context(ctx)?;
        members.push((path, label, buf));
    }
    if members.is_empty() {
        bail!(
            "{archive_name}: no {}/pos or {}/neg reviews in the archive",
            split.dir_name(),
            split.dir_name()
        );
    }
    members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    ds.examples.reserve(members.len());
    for (path, label, bytes) in members {
        let fname = path.rsplit('/').next().unwrap_or("").to_string();
        let source = format!("{archive_name}!{path}");
        push_review(ds, source, &bytes, label, &fname, encoding)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rating_from_file_name() {
        assert_eq!(rating("123_7.txt").as_deref(), Some("7"));
        assert_eq!(rating("0_10.txt").as_deref(), Some("10"));
        assert_eq!(rating("readme.txt"), None);
        assert_eq!(rating("1_x.txt"), None);
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(&b"abc"[..]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Serves `body` once over HTTP on a loopback port; returns the URL.
    fn serve_once(body: &'static [u8]) -> String {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let mut stream = stream;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        format!("http://{addr}/archive.tar.gz")
    }

    #[test]
    fn download_verifies_checksum_and_renames() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub").join("a.tar.gz");
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        download_verified(&serve_once(b"abc"), &dest, abc, Some(3)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"abc");
        assert_eq!(
            std::fs::read_dir(dest.parent().unwrap()).unwrap().count(),
            1
        );

        let bad = dir.path().join("bad.tar.gz");
        let e = format!(
            "{:#}",
            download_verified(&serve_once(b"abd"), &bad, abc, Some(3)).unwrap_err()
        );
        assert!(
            e.contains("has SHA-256 a52d159f") && e.contains(&format!("expected {abc}")),
            "{e}"
        );
        let e = format!(
            "{:#}",
            download_verified(&serve_once(b"abcd"), &bad, abc, Some(3)).unwrap_err()
        );
        assert!(e.contains("is 4 bytes, expected 3"), "{e}");
        // Nothing left behind: no destination, no temporary file.
        assert!(!bad.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn split_names() {
        assert_eq!(Split::parse("train").unwrap(), Split::Train);
        assert!(format!("{}", Split::parse("valid").unwrap_err()).contains("train or test"));
    }
}
