//! Behaviour of word-vector training on small synthetic corpora.

use std::ops::ControlFlow;

use super::*;
use crate::text::vectors::{VectorFilter, read_vectors};
use crate::text::{VectorFormat, Vocab};

/// A random lowercase word of 5 letters (distinct words share few character n-grams).
fn word(rng: &mut kernels::SplitMix64) -> String {
    (0..5)
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect()
}

/// Sentences `c1 c2 TARGET c3 c4` where every target word has its own three context words,
/// except the planted pair, which share one context set: the pair occurs in identical
/// contexts, and in no context of any other word.
fn planted_corpus(sentences: usize) -> (Vec<Vec<String>>, String, String) {
    let mut rng = kernels::SplitMix64::new(42);
    let targets: Vec<String> = (0..20).map(|_| word(&mut rng)).collect();
    let contexts: Vec<Vec<String>> = (0..20)
        .map(|_| (0..3).map(|_| word(&mut rng)).collect())
        .collect();
    let (a, b) = ("planted".to_string(), "synonym".to_string());
    let mut out = Vec::with_capacity(sentences);
    for _ in 0..sentences {
        // Target 20 stands for the pair, which uses context set 0 and no other word does.
        let t = rng.below(21);
        let (target, set) = match t {
            20 => (if rng.below(2) == 0 { &a } else { &b }, 0),
            0 => (&targets[0], 1),
            _ => (&targets[t], t),
        };
        let c = |rng: &mut kernels::SplitMix64| contexts[set][rng.below(3)].clone();
        out.push(vec![
            c(&mut rng),
            c(&mut rng),
            target.clone(),
            c(&mut rng),
            c(&mut rng),
        ]);
    }
    (out, a, b)
}

fn small(threads: usize) -> VectorSettings {
    VectorSettings {
        dim: 24,
        epoch: 10,
        min_count: 1,
        bucket: 20_000,
        // Keep every token: subsampling is for corpora with very frequent words.
        t: 1.0,
        threads,
        seed: 7,
        round_tokens: 600,
        ..VectorSettings::default()
    }
}

fn train(texts: &[Vec<String>], settings: &VectorSettings) -> SubwordVectors {
    train_vectors(texts.iter().map(Vec::as_slice), settings, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap()
}

#[test]
fn loss_falls_and_progress_reaches_the_end() {
    let (texts, _, _) = planted_corpus(3000);
    for model in [VectorModel::Skipgram, VectorModel::Cbow] {
        let settings = VectorSettings { model, ..small(2) };
        let mut reports = Vec::new();
        let v = train_vectors(texts.iter().map(Vec::as_slice), &settings, &mut |p| {
            reports.push(p.clone());
            ControlFlow::Continue(())
        })
        .unwrap();
        let losses = &v.summary().epoch_losses;
        assert_eq!(losses.len(), 10);
        // Logistic loss of the target and 5 negatives: 6 ln 2 = 4.16 at the start.
        assert!(losses[0] > 1.5 && losses[0] < 4.2, "{model:?} {losses:?}");
        assert!(losses[9] < 0.75 * losses[0], "{model:?} {losses:?}");
        assert!(
            losses.windows(2).filter(|w| w[1] < w[0]).count() >= 8,
            "{losses:?}"
        );
        let last = reports.last().unwrap();
        assert_eq!(last.tokens_done, 10 * 15_000);
        assert_eq!(last.tokens_total, 10 * 15_000);
        assert_eq!(last.epoch, 10);
        assert!(last.lr.abs() < 1e-12);
        assert!(
            reports
                .windows(2)
                .all(|w| w[1].tokens_done > w[0].tokens_done)
        );
        assert_eq!(v.summary().rounds, reports.len());
        assert_eq!(v.summary().tokens, 15_000);
        assert_eq!(v.summary().threads, 2);
        // Skip-gram: one update per context word (2 on average per side and more); CBOW: one per
        // middle word, every token of every epoch here (none subsampled, no line of one word).
        match model {
            VectorModel::Skipgram => assert!(v.summary().updates > 2 * 10 * 15_000),
            VectorModel::Cbow => assert_eq!(v.summary().updates, 10 * 15_000),
        }
    }
}

#[test]
fn words_in_identical_contexts_are_each_others_nearest_neighbours() {
    let (texts, a, b) = planted_corpus(3000);
    for threads in [1, 2] {
        let v = train(&texts, &small(threads));
        let na = v.nearest(&a, 3);
        let nb = v.nearest(&b, 3);
        assert_eq!(na[0].0, b, "{threads} threads: {na:?}");
        assert_eq!(nb[0].0, a, "{threads} threads: {nb:?}");
        assert!(na[0].1 > 0.8 && na[0].1 > na[1].1 + 0.1, "{na:?}");
    }
}

#[test]
fn vec_file_round_trips_through_the_pretrained_reader() {
    let (texts, a, _) = planted_corpus(500);
    let v = train(
        &texts,
        &VectorSettings {
            epoch: 1,
            ..small(1)
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vec");
    v.write_vec(&path).unwrap();
    let head = std::fs::read_to_string(&path).unwrap();
    let words = v.dictionary().words();
    assert!(head.starts_with(&format!("{} 24\n{} ", words.len(), words[0])));
    let mut vocab = Vocab::empty();
    vocab.push("absent", 1);
    for w in words.iter().rev() {
        vocab.push(w, 1);
    }
    let pv = read_vectors(
        &path,
        VectorFormat::Auto,
        &mut vocab,
        &VectorFilter::default(),
    )
    .unwrap();
    assert_eq!(pv.report.format, VectorFormat::Word2vecText);
    assert_eq!(pv.dim, 24);
    assert_eq!(pv.report.rows_read, words.len());
    assert_eq!(pv.report.found, words.len());
    assert!(!pv.found[vocab.id("absent") as usize]);
    let id = vocab.id(&a) as usize;
    assert_eq!(
        &pv.table[id * 24..(id + 1) * 24],
        v.word_vector(&a).as_slice()
    );
    let all = v.dictionary_vectors();
    for (i, w) in words.iter().enumerate() {
        let id = vocab.id(w) as usize;
        assert_eq!(
            &pv.table[id * 24..(id + 1) * 24],
            &all[i * 24..(i + 1) * 24],
            "{w}"
        );
    }
}

#[test]
fn same_seed_and_threads_give_identical_bytes() {
    let (texts, _, _) = planted_corpus(1500);
    let bytes = |threads, seed| {
        train(
            &texts,
            &VectorSettings {
                epoch: 3,
                seed,
                ..small(threads)
            },
        )
        .to_vec_bytes()
    };
    let one = bytes(1, 7);
    assert_eq!(one, bytes(1, 7));
    let two = bytes(2, 7);
    assert_eq!(two, bytes(2, 7));
    let three = bytes(3, 7);
    assert_eq!(three, bytes(3, 7));
    assert_ne!(one, two);
    assert_ne!(two, three);
    assert_ne!(one, bytes(1, 8));
}

#[test]
fn an_unseen_word_is_the_mean_of_its_ngram_rows() {
    let (texts, a, _) = planted_corpus(1000);
    let v = train(&texts, &small(2));
    let nwords = v.dictionary().len() as u32;
    // Shares n-grams with the planted word, which trained them.
    let oov = "plantedness";
    assert!(v.dictionary().id(oov).is_none());
    let rows = v.subword_rows(oov);
    let mut buckets = Vec::new();
    push_ngram_buckets(oov, 3, 6, 20_000, &mut buckets);
    // `<plantedness>`: 13 characters, n-grams of 3 to 6: 11 + 10 + 9 + 8.
    assert_eq!(rows.len(), 38);
    assert_eq!(
        rows,
        buckets.iter().map(|b| nwords + b).collect::<Vec<u32>>()
    );
    let got = v.word_vector(oov);
    for (j, &g) in got.iter().enumerate() {
        let mean: f64 =
            rows.iter().map(|&r| v.input_row(r)[j] as f64).sum::<f64>() / rows.len() as f64;
        assert!((g as f64 - mean).abs() < 1e-6, "{j}: {g} vs {mean}");
    }
    // A dictionary word adds its own row, first.
    let id = v.dictionary().id(&a).unwrap();
    assert_eq!(v.subword_rows(&a)[0], id);
    // Trained n-grams moved away from their initial U(-1/24, 1/24) draw.
    assert!(
        got.iter().map(|x| x * x).sum::<f32>().sqrt() > 0.1,
        "{got:?}"
    );
    // Without subwords an unseen word has no rows and a zero vector.
    let plain = train(
        &texts,
        &VectorSettings {
            maxn: 0,
            epoch: 1,
            ..small(1)
        },
    );
    assert!(plain.subword_rows(oov).is_empty());
    assert_eq!(plain.word_vector(oov), vec![0.0; 24]);
    assert_eq!(plain.subword_rows(&a), [plain.dictionary().id(&a).unwrap()]);
}

#[test]
fn a_classifier_vocabulary_gets_dictionary_and_subword_vectors() {
    let (texts, a, b) = planted_corpus(1000);
    // Buckets enough that no n-gram of "qqqqqqqq" shares a row with a trained one.
    let v = train(
        &texts,
        &VectorSettings {
            bucket: 2_000_000,
            ..small(1)
        },
    );
    let mut vocab = Vocab::empty();
    for w in [a.as_str(), "plantedness", "qqqqqqqq", b.as_str()] {
        vocab.push(w, 1);
    }
    let mut pv = v.for_vocab(&vocab);
    assert_eq!(pv.found, [false, false, true, true, false, true]);
    assert_eq!(&pv.table[..2 * 24], &[0.0; 48]);
    assert_eq!(&pv.table[2 * 24..3 * 24], v.word_vector(&a).as_slice());
    assert_eq!(
        &pv.table[3 * 24..4 * 24],
        v.word_vector("plantedness").as_slice()
    );
    assert_eq!(&pv.table[4 * 24..5 * 24], &[0.0; 24]);
    assert_eq!(pv.report.found, 3);
    assert_eq!(pv.report.vocab_words, 4);
    let mut emb = vec![0.0; 6 * 24];
    let bound = pv.init_embedding(&mut emb, 1);
    assert!(bound > 0.0 && emb[4 * 24..5 * 24].iter().any(|&x| x != 0.0));
    assert_eq!(&emb[5 * 24..], v.word_vector(&b).as_slice());
}

#[test]
fn more_threads_than_sentences_and_a_one_word_dictionary_train() {
    let texts = vec![vec!["solo".to_string(); 7]];
    let v = train(&texts, &small(4));
    assert_eq!(v.dictionary().words(), ["solo"]);
    assert!(v.word_vector("solo").iter().all(|x| x.is_finite()));
}

#[test]
fn bad_settings_and_a_stop_are_errors() {
    let texts = [vec!["a".to_string()]];
    for (s, what) in [
        (VectorSettings { dim: 0, ..small(1) }, "dim"),
        (
            VectorSettings {
                minn: 7,
                ..small(1)
            },
            "minn",
        ),
        (
            VectorSettings {
                lr: -1.0,
                ..small(1)
            },
            "lr",
        ),
        (VectorSettings { t: 0.0, ..small(1) }, "t "),
    ] {
        let e = train_vectors(texts.iter().map(Vec::as_slice), &s, &mut |_| {
            ControlFlow::Continue(())
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.starts_with(what), "{e}");
    }
    let e = train_vectors(texts.iter().map(Vec::as_slice), &small(1), &mut |_| {
        ControlFlow::Break(())
    })
    .err()
    .unwrap();
    assert!(e.to_string().contains("stopped"), "{e}");
}
