use std::path::Path;

use super::*;

fn vocab(words: &[(&str, u64)]) -> Vocab {
    let mut v = Vocab::empty();
    for (w, c) in words {
        v.push(w, *c);
    }
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The error of reading `p` as `format` (with the default filter), with its causes.
fn read_error(p: &Path, format: VectorFormat, v: &mut Vocab) -> String {
    let e = read_vectors(p, format, v, &VectorFilter::default()).err();
    format!("{:#}", e.expect("the file is refused"))
}

fn bin(rows: &[(&[u8], &[f32])], header: &str, newline: bool) -> Vec<u8> {
    let mut out = header.as_bytes().to_vec();
    for (w, v) in rows {
        out.extend_from_slice(w);
        out.push(b' ');
        for x in *v {
            out.extend_from_slice(&x.to_le_bytes());
        }
        if newline {
            out.push(b'\n');
        }
    }
    out
}

#[test]
fn detects_glove_vs_word2vec_text_even_for_two_words() {
    let d = tempfile::tempdir().unwrap();
    let with = write(d.path(), "a.vec", b"2 3\ngood 1 2 3\nbad 4 5 6\n");
    let without = write(d.path(), "a.txt", b"good 1 2 3\nbad 4 5 6\n");
    assert_eq!(detect_format(&with).unwrap(), VectorFormat::Word2vecText);
    assert_eq!(detect_format(&without).unwrap(), VectorFormat::Glove);
    let mut v = vocab(&[("good", 3), ("bad", 1), ("ugly", 1)]);
    for p in [&with, &without] {
        let pv = read_vectors(p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
        assert_eq!(pv.dim, 3);
        assert_eq!(pv.report.rows_read, 2);
        assert_eq!(&pv.table[2 * 3..4 * 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(pv.found, vec![false, false, true, true, false]);
        assert_eq!(pv.report.found, 2);
        assert!((pv.report.vocab_coverage - 2.0 / 3.0).abs() < 1e-12);
        assert!((pv.report.token_coverage - 4.0 / 5.0).abs() < 1e-12);
    }
}

#[test]
fn glove_with_dimension_one_is_not_taken_for_a_header() {
    let d = tempfile::tempdir().unwrap();
    // Integer words with one value each: the first line looks like `count dim`.
    let g = write(d.path(), "g.txt", b"3 300\n7 0.5\n");
    assert_eq!(detect_format(&g).unwrap(), VectorFormat::Glove);
    // `5 1` followed by two 2-field rows: a header would promise 5 rows → GloVe, dim 1.
    let g1 = write(d.path(), "g1.txt", b"5 1\n6 0.5\n7 0.25\n");
    assert_eq!(detect_format(&g1).unwrap(), VectorFormat::Glove);
    // `2 1` followed by exactly 2 rows (blank lines ignored): consistent with a header.
    let h = write(d.path(), "h.vec", b"2 1\nx 0.5\ny 0.25\n\n");
    assert_eq!(detect_format(&h).unwrap(), VectorFormat::Word2vecText);
    let one = write(d.path(), "one.txt", b"3 300\n");
    assert_eq!(detect_format(&one).unwrap(), VectorFormat::Glove);
    let empty_header = write(d.path(), "e.vec", b"0 300\n");
    assert_eq!(
        detect_format(&empty_header).unwrap(),
        VectorFormat::Word2vecText
    );
    let mut v = vocab(&[("3", 1), ("7", 1)]);
    let pv = read_vectors(&g, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
    assert_eq!(pv.dim, 1);
    assert_eq!(pv.table, vec![0.0, 0.0, 300.0, 0.5]);
}

#[test]
fn dimension_mismatch_names_the_line() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "bad.vec", b"3 3\na 1 2 3\nb 1 2\nc 1 2 3\n");
    let mut v = vocab(&[("a", 1)]);
    let e = read_error(&p, VectorFormat::Auto, &mut v);
    assert!(
        e.contains("bad.vec:3") && e.contains("2 values, expected 3"),
        "{e}"
    );
    let p = write(d.path(), "bad.txt", b"a 1 2 3\nb 1 2 3\nc 1 2 3 4\n");
    let e = read_error(&p, VectorFormat::Glove, &mut v);
    assert!(
        e.contains("bad.txt:3") && e.contains("4 values, expected 3"),
        "{e}"
    );
    // Forcing word2vec-text on a headerless file is an error naming line 1.
    let e = read_error(&p, VectorFormat::Word2vecText, &mut v);
    assert!(e.contains("bad.txt:1") && e.contains("header"), "{e}");
}

#[test]
fn invalid_utf8_words_are_decoded_lossily_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let mut text = b"2 2\n".to_vec();
    text.extend_from_slice(b"caf\xe9 1 2\nok 3 4\n");
    let p = write(d.path(), "latin.vec", &text);
    assert_eq!(detect_format(&p).unwrap(), VectorFormat::Word2vecText);
    let mut v = vocab(&[("ok", 1), ("caf\u{fffd}", 1)]);
    let pv = read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
    assert_eq!(pv.report.invalid_utf8_words, 1);
    assert_eq!(pv.report.found, 2);
    assert_eq!(&pv.table[3 * 2..4 * 2], &[1.0, 2.0]);

    let b = bin(
        &[(b"\xff\xfebad", &[1.0, 2.0]), (b"ok", &[3.0, 4.0])],
        "2 2\n",
        true,
    );
    let p = write(d.path(), "bad.bin", &b);
    assert_eq!(detect_format(&p).unwrap(), VectorFormat::Word2vecBin);
    let pv = read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
    assert_eq!(pv.report.invalid_utf8_words, 1);
    assert_eq!(pv.report.rows_read, 2);
    assert_eq!(&pv.table[2 * 2..3 * 2], &[3.0, 4.0]);
}

#[test]
fn binary_with_and_without_trailing_newlines() {
    let d = tempfile::tempdir().unwrap();
    let rows: [(&[u8], &[f32]); 3] = [
        (b"good", &[0.5, -1.25, 3.0]),
        (b"bad", &[10.0, 0.0, -0.0625]),
        (b"other", &[1.0, 1.0, 1.0]),
    ];
    for newline in [true, false] {
        let p = write(d.path(), "v.bin", &bin(&rows, "3 3\n", newline));
        assert_eq!(
            detect_format(&p).unwrap(),
            VectorFormat::Word2vecBin,
            "{newline}"
        );
        let mut v = vocab(&[("bad", 2), ("good", 1), ("none", 1)]);
        let pv = read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
        assert_eq!(pv.report.rows_read, 3);
        assert_eq!(&pv.table[2 * 3..3 * 3], &[10.0, 0.0, -0.0625]);
        assert_eq!(&pv.table[3 * 3..4 * 3], &[0.5, -1.25, 3.0]);
        assert_eq!(pv.report.found, 2);
    }
    // A file cut inside a vector is an error naming the vector.
    let full = bin(&rows, "3 3\n", true);
    let p = write(d.path(), "cut.bin", &full[..full.len() - 6]);
    let mut v = vocab(&[]);
    let e = read_error(&p, VectorFormat::Word2vecBin, &mut v);
    assert!(e.contains("vector 3") && e.contains("other"), "{e}");
}

#[test]
fn extend_vocab_adds_capped_new_words_in_file_order() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "v.txt",
        b"the 1 1\nNew 2 2\nfresh 3 3\nnovel 4 4\nthe 9 9\n<unk> 5 5\n",
    );
    let mut v = vocab(&[("the", 5)]);
    let accept = |w: &str| w.chars().all(|c| c.is_lowercase());
    let pv = read_vectors(
        &p,
        VectorFormat::Auto,
        &mut v,
        &VectorFilter {
            extend: 2,
            accept_new: &accept,
        },
    )
    .unwrap();
    assert_eq!(v.tokens(), ["<pad>", "<unk>", "the", "fresh", "novel"]);
    assert_eq!(pv.report.added, 2);
    assert_eq!(pv.report.duplicate_words, 1);
    assert_eq!(pv.table.len(), 5 * 2);
    assert_eq!(&pv.table[2 * 2..], &[1.0, 1.0, 3.0, 3.0, 4.0, 4.0]);
    assert!(!pv.found[crate::text::UNK_ID as usize]);
}

#[test]
fn round_trip_through_every_writer_and_matched_variance_init() {
    let d = tempfile::tempdir().unwrap();
    let words = ["alpha", "beta", "has space", "gamma"];
    let vecs: Vec<f32> = (0..8).map(|i| (i as f32 - 3.5) * 0.1 + 1e-7).collect();
    for (fmt, name) in [
        (VectorFormat::Word2vecBin, "x.bin"),
        (VectorFormat::Word2vecText, "x.vec"),
        (VectorFormat::Glove, "x.txt"),
    ] {
        let (bytes, skipped) = encode_vectors(fmt, &words, &vecs, 2);
        assert_eq!(skipped, 1);
        let p = write(d.path(), name, &bytes);
        assert_eq!(detect_format(&p).unwrap(), fmt);
        assert_eq!(peek_dim(&p, VectorFormat::Auto).unwrap(), 2);
        let mut v = vocab(&[("gamma", 1), ("alpha", 1), ("missing", 1)]);
        let mut pv =
            read_vectors(&p, VectorFormat::Auto, &mut v, &VectorFilter::default()).unwrap();
        assert_eq!(&pv.table[2 * 2..3 * 2], &vecs[6..8], "{fmt:?}");
        assert_eq!(&pv.table[3 * 2..4 * 2], &vecs[0..2], "{fmt:?}");
        let mut emb = vec![9.0; 5 * 2];
        let a = pv.init_embedding(&mut emb, 1);
        let var = pv.variance();
        assert!((a as f64 - (3.0 * var).sqrt()).abs() < 1e-6);
        assert_eq!(&emb[..2], &[0.0, 0.0]);
        assert_eq!(&emb[2 * 2..4 * 2], &pv.table[2 * 2..4 * 2]);
        assert!(emb[4 * 2..].iter().all(|x| x.abs() <= a && *x != 9.0));
    }
}
