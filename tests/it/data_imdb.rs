//! IMDB reader: a small synthetic aclImdb archive / folder, and the real shared archive.

use std::path::{Path, PathBuf};

use textcnn::data::{Dataset, ReadOptions, load_dataset, resolve_imdb};

/// (path inside the archive, content)
const FILES: &[(&str, &str)] = &[
    ("aclImdb/README", "readme"),
    ("aclImdb/imdb.vocab", "the\n"),
    ("aclImdb/train/urls_pos.txt", "http://x\n"),
    ("aclImdb/train/pos/10_9.txt", "Loved it.<br />Great."),
    ("aclImdb/train/pos/2_7.txt", "Good film"),
    ("aclImdb/train/neg/5_1.txt", "Terrible"),
    ("aclImdb/train/neg/11_4.txt", ""),
    ("aclImdb/train/unsup/0_0.txt", "unlabeled review"),
    ("aclImdb/test/pos/0_10.txt", "Best ever"),
    ("aclImdb/test/neg/1_2.txt", "Boring"),
];

fn make_archive(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, text) in FILES {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

fn make_dir(root: &Path) {
    for (name, text) in FILES {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn summary(ds: &Dataset) -> Vec<(String, String, Option<String>)> {
    ds.examples
        .iter()
        .map(|e| (e.label().to_string(), e.text.clone(), e.meta.clone()))
        .collect()
}

fn s(label: &str, text: &str, meta: &str) -> (String, String, Option<String>) {
    (label.into(), text.into(), Some(meta.into()))
}

#[test]
fn synthetic_archive_and_folder_agree() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("aclImdb_v1.tar.gz");
    make_archive(&archive);
    let extracted = tempfile::tempdir().unwrap();
    make_dir(extracted.path());

    let opts = ReadOptions {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let train = load_dataset("imdb:train", &opts).unwrap();
    // Sorted by path: neg before pos, file names in byte order ("10_9" < "2_7"); unsup skipped.
    let expected = vec![
        s("neg", "Terrible", "1"),
        s("pos", "Loved it.<br />Great.", "9"),
        s("pos", "Good film", "7"),
    ];
    assert_eq!(summary(&train), expected);
    assert_eq!(train.skipped.len(), 1);
    assert_eq!(train.skipped[0].reason, "no text");
    assert!(
        train.skipped[0]
            .file
            .ends_with("aclImdb_v1.tar.gz!aclImdb/train/neg/11_4.txt")
    );
    let test = load_dataset("imdb:test", &opts).unwrap();
    assert_eq!(
        summary(&test),
        [s("neg", "Boring", "2"), s("pos", "Best ever", "10")]
    );

    // Same examples, same order, from the extracted folder (three ways to name it).
    let opts_dir = ReadOptions {
        data_dir: Some(extracted.path().to_path_buf()),
        ..Default::default()
    };
    assert_eq!(
        summary(&load_dataset("imdb:train", &opts_dir).unwrap()),
        expected
    );
    let root = extracted.path().join("aclImdb");
    let spec = format!("{}:train", root.display());
    assert_eq!(
        summary(&load_dataset(&spec, &ReadOptions::default()).unwrap()),
        expected
    );
    let split_dir = root.join("train");
    assert_eq!(
        summary(&load_dataset(split_dir.to_str().unwrap(), &ReadOptions::default()).unwrap()),
        expected
    );
    // And from the archive named directly.
    let spec = format!("{}:test", archive.display());
    assert_eq!(
        summary(&load_dataset(&spec, &ReadOptions::default()).unwrap()).len(),
        2
    );
    let e = format!(
        "{:#}",
        load_dataset(archive.to_str().unwrap(), &ReadOptions::default()).unwrap_err()
    );
    assert!(e.contains("needs a split") && e.contains(":train"), "{e}");
    let e = format!(
        "{:#}",
        load_dataset(root.to_str().unwrap(), &ReadOptions::default()).unwrap_err()
    );
    assert!(e.contains("needs a split"), "{e}");
}

#[test]
fn resolve_prefers_labeled_archive_and_reports_wrong_dirs() {
    let dir = tempfile::tempdir().unwrap();
    make_archive(&dir.path().join("aclImdb_v1.tar.gz"));
    assert_eq!(
        resolve_imdb(Some(dir.path())).unwrap(),
        dir.path().join("aclImdb_v1.tar.gz")
    );
    make_archive(&dir.path().join("aclImdb_v1_labeled.tar.gz"));
    assert_eq!(
        resolve_imdb(Some(dir.path())).unwrap(),
        dir.path().join("aclImdb_v1_labeled.tar.gz")
    );
    let empty = tempfile::tempdir().unwrap();
    let e = format!("{:#}", resolve_imdb(Some(empty.path())).unwrap_err());
    assert!(
        e.contains("(from --data-dir) holds no IMDB data") && e.contains("aclImdb_v1.tar.gz"),
        "{e}"
    );
}

/// The shared data folder: `$TEXTCNN_DATA_DIR`, else `<crate>/../shared/data/imdb`.
fn shared_dir() -> PathBuf {
    std::env::var_os("TEXTCNN_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/imdb"))
}

#[test]
fn real_imdb_archive_has_25000_rows_per_split() {
    let opts = ReadOptions {
        data_dir: Some(shared_dir()),
        ..Default::default()
    };
    for split in ["imdb:train", "imdb:test"] {
        let ds = load_dataset(split, &opts).unwrap();
        assert_eq!(ds.len(), 25_000, "{split}");
        let counts = ds.label_counts();
        assert_eq!(counts.len(), 2);
        assert_eq!(counts["neg"], 12_500, "{split}");
        assert_eq!(counts["pos"], 12_500, "{split}");
        assert!(ds.skipped.is_empty() && ds.warnings.is_empty());
        for e in &ds.examples {
            let r: u32 = e.meta.as_deref().unwrap().parse().unwrap();
            assert!(if e.label() == "neg" {
                (1..=4).contains(&r)
            } else {
                (7..=10).contains(&r)
            });
        }
        // Deterministic order: sorted by member path, so the first review is neg/0_*.txt.
        assert_eq!(ds.examples[0].label(), "neg");
        assert_eq!(ds.examples[24_999].label(), "pos");
    }
}
