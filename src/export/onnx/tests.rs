//! The n-gram part of the graph against the featurizer: ONNX's `TfIdfVectorizer` semantics
//! (ai.onnx opset 9, mode TF, no skips), simulated here over the exported pool and the encoded
//! inputs, must count exactly the n-grams [`NgramFeaturizer::transform`] reads.

use std::collections::HashMap;

use super::graph::Graph;
use super::inputs::{IdMatrix, ngram_inputs};
use super::proto::NodeProto;
use super::vectorizer;
use crate::ngram::{NgramConfig, NgramFeaturizer, key_symbols};

fn attr_ints<'a>(node: &'a NodeProto, name: &str) -> &'a [i64] {
    &node.attribute.iter().find(|a| a.name == name).unwrap().ints
}

fn attr_int(node: &NodeProto, name: &str) -> i64 {
    node.attribute.iter().find(|a| a.name == name).unwrap().i
}

/// ONNX `TfIdfVectorizer` in mode TF with `max_skip_count` 0: for each row, the count of every
/// pool n-gram (of lengths `min_gram_length..=max_gram_length`) among the row's contiguous
/// n-grams, at column `ngram_indexes[i]`. Written from the operator's specification.
fn tfidf_vectorizer_tf(node: &NodeProto, x: &IdMatrix) -> (usize, Vec<f32>) {
    let pool = attr_ints(node, "pool_int64s");
    let starts = attr_ints(node, "ngram_counts");
    let indexes = attr_ints(node, "ngram_indexes");
    let (lo, hi) = (
        attr_int(node, "min_gram_length") as usize,
        attr_int(node, "max_gram_length") as usize,
    );
    assert_eq!(attr_int(node, "max_skip_count"), 0);
    let mut lookup: HashMap<Vec<i64>, usize> = HashMap::new();
    let mut k = 0;
    for n in 1..=starts.len() {
        let end = starts.get(n).map_or(pool.len(), |&e| e as usize);
        for gram in pool[starts[n - 1] as usize..end].chunks(n) {
            assert!(lookup.insert(gram.to_vec(), indexes[k] as usize).is_none());
            k += 1;
        }
    }
    assert_eq!(k, indexes.len(), "one index per pool n-gram");
    let width = indexes.iter().max().map_or(0, |&m| m as usize + 1);
    let mut out = vec![0f32; x.rows * width];
    for r in 0..x.rows {
        let row = &x.data[r * x.cols..(r + 1) * x.cols];
        for n in lo..=hi {
            for gram in row.windows(n) {
                if let Some(&c) = lookup.get(gram) {
                    out[r * width + c] += 1.0;
                }
            }
        }
    }
    (width, out)
}

#[test]
fn exported_pool_and_inputs_count_what_the_featurizer_reads() {
    let docs = crate::ngram::tests::token_lists(&[
        "好 吃 的 菜 很 好 吃",
        "the film was good , the film was long",
        "good good good 菜",
        "unknown words only here",
        "",
    ]);
    let config = NgramConfig {
        word_n: 2,
        char_n: 3,
        min_df: 1,
    };
    // Fitted on the first three documents: the fourth has only words outside the table.
    let f = NgramFeaturizer::fit(&docs[..3], config.clone()).unwrap();
    let (_, _, keys, idf) = f.parts();
    let split = keys.partition_point(|&k| !key_symbols(k).0);
    assert!(
        split > 0 && split < keys.len(),
        "word and character n-grams"
    );
    let inputs = ngram_inputs(&f, &docs);
    assert_eq!(
        inputs.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["ngram_ids", "char_ids"]
    );
    let mut g = Graph::default();
    vectorizer(&mut g, "ngram_ids", &keys[..split], config.word_n);
    vectorizer(&mut g, "char_ids", &keys[split..], config.char_n);
    let (w_words, words) = tfidf_vectorizer_tf(&g.nodes[0], &inputs[0].1);
    let (w_chars, chars) = tfidf_vectorizer_tf(&g.nodes[1], &inputs[1].1);
    assert_eq!((w_words, w_words + w_chars), (split, keys.len()));
    for (d, doc) in docs.iter().enumerate() {
        // The graph's arithmetic: concatenated counts → (1 + ln c) · idf → unit L2 norm.
        let counts: Vec<f32> = words[d * w_words..(d + 1) * w_words]
            .iter()
            .chain(&chars[d * w_chars..(d + 1) * w_chars])
            .copied()
            .collect();
        let mut x: Vec<f32> = counts
            .iter()
            .zip(idf)
            .map(|(&c, &i)| if c > 0.0 { (1.0 + c.ln()) * i } else { 0.0 })
            .collect();
        let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            x.iter_mut().for_each(|v| *v /= norm);
        }
        let mut want = vec![0f32; keys.len()];
        for (c, v) in f.transform(doc) {
            want[c as usize] = v;
        }
        for (c, (a, b)) in x.iter().zip(&want).enumerate() {
            assert!((a - b).abs() < 1e-6, "doc {d} column {c}: {a} vs {b}");
        }
        let present = want.iter().filter(|&&v| v > 0.0).count();
        let known_words = want[..split].iter().filter(|&&v| v > 0.0).count();
        match d {
            // Only tokens outside the table: character n-grams, no word n-gram.
            3 => assert!(known_words == 0 && present > 3, "doc 3: {present} n-grams"),
            4 => assert_eq!(present, 0, "the empty document"),
            _ => assert!(known_words > 3, "doc {d}: {known_words} word n-grams"),
        }
    }
}

#[test]
fn key_symbols_unpack_word_and_character_keys() {
    let f = NgramFeaturizer::fit(
        &[vec!["a".to_string(), "b".to_string()]],
        NgramConfig {
            word_n: 2,
            char_n: 2,
            min_df: 1,
        },
    )
    .unwrap();
    let (_, tokens, keys, _) = f.parts();
    assert_eq!(tokens, ["a", "b"]);
    let unpacked: Vec<(bool, Vec<u64>)> = keys.iter().map(|&k| key_symbols(k)).collect();
    let a = 'a' as u64 + 1;
    let b = 'b' as u64 + 1;
    let sp = ' ' as u64 + 1;
    assert_eq!(
        unpacked,
        vec![
            (false, vec![1]),
            (false, vec![2]),
            (false, vec![1, 2]),
            (true, vec![sp]),
            (true, vec![a]),
            (true, vec![b]),
            (true, vec![sp, b]),
            (true, vec![a, sp]),
        ]
    );
}
