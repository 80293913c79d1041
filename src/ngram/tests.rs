use super::*;

fn cfg(word_n: usize, char_n: usize, min_df: usize) -> NgramConfig {
    NgramConfig {
        word_n,
        char_n,
        min_df,
    }
}

fn doc(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn tfidf_matches_hand_computed_values() {
    // Three documents, unigrams and bigrams, min_df 1 (scikit-learn's smooth idf).
    let docs = vec![doc("a b a"), doc("b c"), doc("a")];
    let cfg = cfg(2, 0, 1);
    let f = NgramFeaturizer::fit(&docs, cfg).unwrap();
    // n-grams: a, b, c, "a b", "b a", "b c" → 6 columns.
    assert_eq!(f.num_features(), 6);
    let row = f.transform(&docs[0]);
    let text: Vec<(String, f32)> = row
        .iter()
        .map(|&(c, v)| (f.ngram_text(c as usize), v))
        .collect();
    // Raw weights: a: (1 + ln 2) * (ln(4/3) + 1); b: ln(4/3) + 1; "a b", "b a": ln(4/2) + 1.
    let idf_a = (4.0f64 / 3.0).ln() + 1.0;
    let idf_ab = 2.0f64.ln() + 1.0;
    let raw = [
        ("a", (1.0 + 2.0f64.ln()) * idf_a),
        ("b", idf_a),
        ("a b", idf_ab),
        ("b a", idf_ab),
    ];
    let norm = raw.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
    assert_eq!(text.len(), 4);
    for (name, v) in raw {
        let got = text.iter().find(|(t, _)| t == name).unwrap().1;
        assert!((got as f64 - v / norm).abs() < 1e-6, "{name}: {got}");
    }
    // An unseen document has an empty row; a partly seen one keeps the known n-grams.
    assert!(f.transform(&doc("z y")).is_empty());
    assert_eq!(f.transform(&doc("c z")).len(), 1);
}

#[test]
fn occurrences_name_the_tokens_of_each_ngram() {
    let docs = vec![doc("好 吃 好"), doc("吃")];
    let cfg = cfg(2, 2, 1);
    let f = NgramFeaturizer::fit(&docs, cfg).unwrap();
    let got: Vec<(String, usize, std::ops::Range<usize>)> = f
        .occurrences(&docs[0])
        .into_iter()
        .map(|(c, n, r)| (f.ngram_text(c as usize), n, r))
        .collect();
    let want = [
        ("好", 1, 0..1),
        ("吃", 1, 1..2),
        ("好", 1, 2..3),
        ("好 吃", 2, 0..2),
        ("吃 好", 2, 1..3),
        ("c:好", 1, 0..1),
        ("c: ", 1, 0..1),
        ("c:吃", 1, 1..2),
        ("c: ", 1, 1..2),
        ("c:好", 1, 2..3),
        ("c:好 ", 2, 0..1),
        ("c: 吃", 2, 0..2),
        ("c:吃 ", 2, 1..2),
        ("c: 好", 2, 1..3),
    ];
    let want: Vec<(String, usize, std::ops::Range<usize>)> = want
        .into_iter()
        .map(|(t, n, r)| (t.to_string(), n, r))
        .collect();
    assert_eq!(got, want);
    // Each column's occurrences are what transform counts: "好" twice.
    let row = f.transform(&docs[0]);
    let mut counts = std::collections::HashMap::new();
    for (c, _, _) in f.occurrences(&docs[0]) {
        *counts.entry(c).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), row.len());
}

#[test]
fn min_df_drops_rare_ngrams_and_tokens() {
    let docs = vec![doc("good film"), doc("good plot"), doc("bad film")];
    let cfg = cfg(2, 0, 2);
    let f = NgramFeaturizer::fit(&docs, cfg).unwrap();
    let names: Vec<String> = (0..f.num_features()).map(|c| f.ngram_text(c)).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["film", "good"]);
}

#[test]
fn character_ngrams_span_tokens() {
    let docs = vec![doc("好 吃"), doc("好")];
    let cfg = cfg(1, 3, 1);
    let f = NgramFeaturizer::fit(&docs, cfg).unwrap();
    let mut names: Vec<String> = (0..f.num_features()).map(|c| f.ngram_text(c)).collect();
    names.sort();
    // words 好, 吃; chars 好, ' ', 吃, "好 ", " 吃", "好 吃".
    assert_eq!(
        names,
        vec![
            "c: ",
            "c: 吃",
            "c:吃",
            "c:好",
            "c:好 ",
            "c:好 吃",
            "吃",
            "好"
        ]
    );
    assert!((han_share(&docs) - 1.0).abs() < 1e-12);
}

#[test]
fn weights_move_to_a_larger_table_by_ngram() {
    let cfg = cfg(2, 0, 1);
    let small = NgramFeaturizer::fit(&[doc("b a")], cfg.clone()).unwrap();
    let large = NgramFeaturizer::fit(&[doc("c"), doc("a b a")], cfg).unwrap();
    let k = 2;
    let mut m = LogReg::zeros(small.num_features(), k);
    for c in 0..small.num_features() {
        m.weights[c * k] = c as f32 + 1.0;
    }
    m.bias = vec![0.5, -0.5];
    let moved = m.remap(&small, &large);
    assert_eq!(moved.bias, m.bias);
    for c in 0..large.num_features() {
        let name = large.ngram_text(c);
        let want = (0..small.num_features())
            .find(|&s| small.ngram_text(s) == name)
            .map_or(0.0, |s| s as f32 + 1.0);
        assert_eq!(moved.weights[c * k], want, "{name}");
    }
}

#[test]
fn parts_round_trip() {
    let docs = vec![doc("x y z"), doc("y z w")];
    let cfg = cfg(3, 2, 1);
    let f = NgramFeaturizer::fit(&docs, cfg).unwrap();
    let (c, t, k, i) = f.parts();
    let g = NgramFeaturizer::from_parts(c.clone(), t.to_vec(), k.to_vec(), i.to_vec()).unwrap();
    for d in &docs {
        assert_eq!(f.transform(d), g.transform(d));
    }
    assert!(
        NgramFeaturizer::from_parts(c.clone(), t.to_vec(), vec![2, 1], vec![1.0, 1.0]).is_err()
    );
    // A key naming a token past the table, or with more symbols than the orders allow, and
    // a non-positive idf are refused.
    let part = |keys: Vec<u64>, idf: Vec<f32>| {
        NgramFeaturizer::from_parts(c.clone(), t.to_vec(), keys, idf)
    };
    assert!(part(vec![pack(&[t.len() as u64 + 1])], vec![1.0]).is_err());
    let chars = |s: &str| s.chars().map(|ch| ch as u64 + 1).collect::<Vec<u64>>();
    assert!(part(vec![CHAR_FLAG | pack(&chars("abc"))], vec![1.0]).is_err());
    assert!(part(vec![pack(&[1])], vec![-1.0]).is_err());
    assert!(part(vec![pack(&[1])], vec![1.0]).is_ok());
}

#[test]
fn model_save_load_round_trip() {
    let docs = vec![doc("好 吃 good"), doc("bad 吃")];
    let cfg = cfg(2, 2, 1);
    let featurizer = NgramFeaturizer::fit(&docs, cfg.clone()).unwrap();
    let x = featurizer.transform_all(&docs);
    let (logreg, _) = LogReg::fit(&x, &[0, 1], 2, LogRegFit::default(), None);
    let m = NgramModel { featurizer, logreg };
    let dir = std::path::Path::new("bundle");
    let (tensors, tokens) = m.to_bytes().unwrap();
    let back = NgramModel::from_bytes(&tensors, &tokens, dir, cfg.clone(), 2).unwrap();
    assert_eq!(back.probabilities(&docs), m.probabilities(&docs));
    assert!(NgramModel::from_bytes(&tensors, &tokens, dir, cfg.clone(), 3).is_err());
    let err = NgramModel::from_bytes(&tensors, b"not json\n", dir, cfg, 2).unwrap_err();
    assert!(format!("{err:#}").contains("ngram_tokens.txt:1"), "{err:#}");
}

#[test]
fn mixture_is_a_weighted_product() {
    // p ∝ 0.8^1 * 0.25^2 vs 0.2^1 * 0.75^2: 0.05 vs 0.1125.
    let m = mix_probabilities(
        &[0.8, 0.2],
        &[0.25, 0.75],
        MixWeights {
            cnn: 1.0,
            ngram: 2.0,
        },
        2,
    );
    assert!((m[0] - 0.05 / 0.1625).abs() < 1e-6, "{m:?}");
    assert!((m[0] + m[1] - 1.0).abs() < 1e-6);
}

#[test]
fn choose_mix_minimises_the_mixture_log_loss_over_the_grid() {
    // Three classes, five rows of made-up probabilities.
    let cnn = [
        0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4, 0.6, 0.3, 0.1, 0.2, 0.2, 0.6,
    ];
    let ngram = [
        0.5, 0.3, 0.2, 0.4, 0.4, 0.2, 0.2, 0.2, 0.6, 0.3, 0.5, 0.2, 0.1, 0.3, 0.6,
    ];
    let y = [0usize, 1, 2, 1, 2];
    let w = choose_mix(&cnn, &ngram, &y, 3);
    let best = mean_nll(&mix_probabilities(&cnn, &ngram, w, 3), &y, 3);
    for i in 0..=40 {
        for j in 0..=40 {
            if i + j == 0 {
                continue;
            }
            let v = MixWeights {
                cnn: i as f32 / 10.0,
                ngram: j as f32 / 10.0,
            };
            let other = mean_nll(&mix_probabilities(&cnn, &ngram, v, 3), &y, 3);
            assert!(best <= other + 1e-6, "{w:?} {best} > {v:?} {other}");
        }
    }
}

#[test]
fn mix_prefers_the_better_branch() {
    // The n-gram branch is right on every row but under-confident; the CNN says class 0
    // whatever the text (no information on balanced classes): the CNN gets no weight and
    // the n-gram branch is sharpened (the largest weight of the grid).
    let y = [0usize, 1, 0, 1];
    let cnn = [0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1];
    let ngram = [0.6, 0.4, 0.4, 0.6, 0.6, 0.4, 0.4, 0.6];
    let w = choose_mix(&cnn, &ngram, &y, 2);
    assert_eq!(w.cnn, 0.0, "{w:?}");
    assert_eq!(w.ngram, 4.0, "{w:?}");
}

#[test]
fn interned_documents_give_the_featurizer_of_token_lists() {
    let lists = token_lists(&[
        "the film was good and the cast was good",
        "a dull film",
        "好 吃 的 菜",
        "",
        "good good dull",
    ]);
    let mut interned = InternedDocs::default();
    for l in &lists {
        interned.push(l.clone());
    }
    assert_eq!(interned.len(), lists.len());
    let docs = interned.docs();
    for (d, l) in docs.iter().zip(&lists) {
        let tokens: Vec<&str> = (0..d.count()).map(|i| d.token(i)).collect();
        assert_eq!(tokens, *l);
    }
    for config in [
        NgramConfig {
            word_n: 2,
            char_n: 0,
            min_df: 1,
        },
        NgramConfig {
            word_n: 1,
            char_n: 3,
            min_df: 2,
        },
    ] {
        let a = NgramFeaturizer::fit(&lists, config.clone()).unwrap();
        let b = NgramFeaturizer::fit(&docs, config).unwrap();
        assert_eq!(a.parts(), b.parts());
        assert!(a.num_features() > 0);
        let (xa, xb) = (a.transform_all(&lists), b.transform_all(&docs));
        for r in 0..lists.len() {
            assert_eq!(xa.row(r), xb.row(r));
        }
        assert_eq!(han_share(&lists), han_share(&docs));
    }
}

/// Token lists of texts whose tokens are separated by single spaces.
pub(crate) fn token_lists(texts: &[&str]) -> Vec<Vec<String>> {
    texts
        .iter()
        .map(|d| {
            d.split(' ')
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

#[test]
fn document_frequencies_over_many_chunks_are_exact() {
    // 5,001 documents (three chunks of `doc_freqs`): "x" in every document (twice in the even
    // ones), "y" in every third, "z" only in the last, "x y" wherever "y" follows "x".
    let docs: Vec<Vec<String>> = (0..5001)
        .map(|i| {
            let mut d = if i % 2 == 0 { "x x" } else { "x" }.to_string();
            if i % 3 == 0 {
                d.push_str(" y");
            }
            if i == 5000 {
                d.push_str(" z");
            }
            doc(&d)
        })
        .collect();
    let df = doc_freqs(&docs, |d, out| out.extend(tokens_of(d)));
    assert_eq!((df["x"], df["y"], df["z"]), (5001, 1667, 1));
    // min_df 2 drops "z" (and every n-gram with it); idf is ln((1 + n) / (1 + df)) + 1.
    let f = NgramFeaturizer::fit(&docs, cfg(2, 0, 2)).unwrap();
    let idf = |text: &str| {
        let col = (0..f.num_features())
            .find(|&c| f.ngram_text(c) == text)
            .unwrap_or_else(|| panic!("no column {text}"));
        f.parts().3[col] as f64
    };
    let expect = |df: f64| ((1.0 + 5001.0) / (1.0 + df)).ln() + 1.0;
    assert!((idf("x") - expect(5001.0)).abs() < 1e-6);
    assert!((idf("y") - expect(1667.0)).abs() < 1e-6);
    assert!((idf("x y") - expect(1667.0)).abs() < 1e-6);
    assert!((idf("x x") - expect(2501.0)).abs() < 1e-6);
    assert_eq!(f.token_id("z"), 0);
    assert_eq!(f.num_features(), 4);
}

#[test]
fn feature_sets_are_described_in_words() {
    let config = |word_n, char_n| NgramConfig {
        word_n,
        char_n,
        min_df: 1,
    };
    assert_eq!(config(2, 0).describe(), "word 1–2-grams");
    assert_eq!(
        config(2, 3).describe(),
        "word 1–2-grams + character 1–3-grams"
    );
    assert_eq!(
        config(1, 3).describe(),
        "word 1-grams + character 1–3-grams"
    );
}
