//! `Classifier::explain`: the exact decomposition (a hand-computed model, and contributions that
//! add up to the logit on trained Kim, ngram-cnn and multichannel models), occlusion for conv2d,
//! faithfulness on a model trained on IMDB reviews, the CLI, and `POST /v1/explain`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::serve_util::{TestServer, get, json, model_dir, post};
use textcnn::bundle::Bundle;
use textcnn::data::{ReadOptions, load_dataset, stratified_split};
use textcnn::explain::{Explanation, Method, Source};
use textcnn::model::{
    Conv2dBlock, Conv2dConfig, Conv2dNet, InitScheme, KimCnn, KimConfig, Model, Network,
};
use textcnn::predict::Classifier;
use textcnn::serve::ServeConfig;
use textcnn::text::encode;
use textcnn::train::{ArchKind, TrainConfig, TrainData, TrainOptions, train};

/// Texts that exercise short inputs (shorter than the widest region), truncation past
/// `MAX_LEN`, HTML, entities, emoji and unknown words.
fn texts() -> Vec<String> {
    let long: Vec<&str> = (0..70)
        .map(|i| ["the", "film", "was", "great", "plot", "boring", "actor"][i % 7])
        .collect();
    vec![
        "great".into(),
        "awful film".into(),
        "The <b>plot</b> was GREAT &amp; the actor superb 😀 zzqx".into(),
        "it was a boring story of the actor, and terrible".into(),
        long.join(" "),
    ]
}

/// `z[c] − mean_k z[k]` in f64.
fn centered(z: &[f32], c: usize) -> f64 {
    z[c] as f64 - z.iter().map(|&v| v as f64).sum::<f64>() / z.len() as f64
}

/// Checks the additivity of an exact explanation: windows + bias and tokens + bias both give
/// the logit to 1e-4, and the token shares of every window add up to it.
fn assert_additive(e: &Explanation, what: &str) {
    assert_eq!(e.method, Method::Exact, "{what}");
    // The mixture's floor, when it floored a probability, is part of the sum.
    let clamp = serde_json::to_value(e).unwrap()["clamp"]
        .as_f64()
        .unwrap_or(0.0);
    let bias = e.bias.expect("an exact explanation has a bias") as f64 + clamp;
    let windows: f64 = e.windows.iter().map(|w| w.contribution as f64).sum();
    let tokens: f64 = e.tokens.iter().map(|t| t.contribution as f64).sum();
    assert!(
        (windows + bias - e.logit as f64).abs() < 1e-4,
        "{what}: windows {windows} + bias {bias} != logit {}",
        e.logit
    );
    assert!(
        (tokens + bias - e.logit as f64).abs() < 1e-4,
        "{what}: tokens {tokens} + bias {bias} != logit {}",
        e.logit
    );
    for pair in e.windows.windows(2) {
        assert!(pair[0].contribution.abs() >= pair[1].contribution.abs());
    }
}

/// The synthetic ngram-cnn bundle of the serve tests, and the same without its n-gram branch
/// (a plain Kim model).
fn ngram_cnn_and_kim() -> (Classifier, Classifier) {
    let both = Classifier::load(model_dir()).unwrap();
    let mut bundle = Bundle::load(model_dir()).unwrap();
    bundle.ngram = None;
    bundle.config.ngram = None;
    (both, Classifier::from_bundle(bundle).unwrap())
}

#[test]
fn a_hand_computed_kim_model_is_decomposed_exactly() {
    // Embedding width 1, one map per region size 1 and 2, two labels.
    let mut bundle = Bundle::load(model_dir()).unwrap();
    bundle.ngram = None;
    bundle.config.ngram = None;
    let vocab_size = bundle.vocab.len();
    let config = KimConfig {
        vocab_size,
        emb_dim: 1,
        region_sizes: vec![1, 2],
        feature_maps: 1,
        num_classes: 2,
        dropout: 0.0,
        multichannel: false,
        pooling: Default::default(),
    };
    let mut m = KimCnn::new(config, 0);
    let id = |w: &str| bundle.vocab.id(w) as usize;
    let (film, great, awful) = (id("film"), id("great"), id("awful"));
    for (name, _, data) in m.named_params_mut() {
        match name.as_str() {
            "embedding.weight" => {
                data.fill(0.0);
                data[film] = 0.5;
                data[great] = 2.0;
                data[awful] = -1.0;
            }
            "conv1.weight" => data.copy_from_slice(&[1.0]),
            "conv1.bias" => data.copy_from_slice(&[0.0]),
            "conv2.weight" => data.copy_from_slice(&[1.0, -1.0]),
            "conv2.bias" => data.copy_from_slice(&[0.1]),
            "fc.weight" => data.copy_from_slice(&[1.0, 2.0, -1.0, 0.5]),
            "fc.bias" => data.copy_from_slice(&[0.3, -0.3]),
            other => panic!("unexpected parameter {other}"),
        }
    }
    bundle.model = Model::Kim(m);
    let classifier = Classifier::from_bundle(bundle).unwrap();
    let label0 = classifier.labels()[0].clone();
    // Windows: h=1 values 0.5, 2, -1, 0.5 (max 2, "great"); h=2 values e(t) - e(t+1) + 0.1:
    // -1.4, 3.1, -1.4 (max 3.1, "great awful"). z = [2 + 6.2 + 0.3, -2 + 1.55 - 0.3] =
    // [8.5, -0.75]; centered logit of label 0: 4.625 = bias 0.3 + 1·2 + (2 - 1.25)·3.1.
    let text = "Film GREAT awful film";
    let e = classifier.explain(text, Some(&label0)).unwrap();
    assert!((e.logit - 4.625).abs() < 1e-5, "{}", e.logit);
    assert!((e.bias.unwrap() - 0.3).abs() < 1e-6);
    let got: Vec<(Source, usize, &str, usize, usize, f32, usize)> = e
        .windows
        .iter()
        .map(|w| {
            (
                w.source,
                w.region_size,
                w.text.as_str(),
                w.start,
                w.end,
                w.contribution,
                w.maps,
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|g| g.0 == Source::Cnn), "{got:?}");
    assert_eq!(
        (got[0].1, got[0].2, got[0].3, got[0].4),
        (2, "great awful", 5, 16)
    );
    assert!((got[0].5 - 2.325).abs() < 1e-5 && got[0].6 == 1);
    assert_eq!(
        (got[1].1, got[1].2, got[1].3, got[1].4),
        (1, "great", 5, 10)
    );
    assert!((got[1].5 - 2.0).abs() < 1e-6);
    let tokens: Vec<(&str, f32)> = e
        .tokens
        .iter()
        .map(|t| (t.text.as_str(), t.contribution))
        .collect();
    for (i, want) in [0.0, 3.1625, 1.1625, 0.0].into_iter().enumerate() {
        assert!((tokens[i].1 - want).abs() < 1e-5, "{tokens:?}");
    }
    assert_eq!(&text[e.tokens[1].byte_start..e.tokens[1].byte_end], "GREAT");
    // The other label mirrors it (two labels: centered logits are opposite).
    let other = classifier
        .explain(text, Some(&classifier.labels()[1].clone()))
        .unwrap();
    assert!((other.logit + 4.625).abs() < 1e-5);
    assert_additive(&other, "label 1");
}

/// Issue 29, M1: where a branch gives a label a probability under 1e-7, the mixture reads
/// 1e-7 instead; the explained logit is the model's (`ln p_c − mean_k ln p_k` of the
/// probabilities it gives), with the floor's share reported as its own term. A hand-built
/// ngram-cnn: the CNN says 0.5 / 0.5 (zero output layer), the n-gram branch has no weights and
/// biases ±20 (probability e^-40 ≈ 4e-18 for the second label, floored to 1e-7), mixture 1 / 1.
#[test]
fn the_mixtures_floor_is_its_own_term_of_an_exact_decomposition() {
    let mut bundle = Bundle::load(model_dir()).unwrap();
    let mut kim = KimCnn::new(bundle.model.kim().unwrap().config().clone(), 3);
    for (name, _, data) in kim.named_params_mut() {
        if name.starts_with("fc.") {
            data.fill(0.0);
        }
    }
    bundle.model = Model::Kim(kim);
    let ngram = bundle.ngram.as_mut().unwrap();
    ngram.logreg.weights.fill(0.0);
    ngram.logreg.bias = vec![20.0, -20.0];
    bundle.config.ngram.as_mut().unwrap().mix = textcnn::ngram::MixWeights {
        cnn: 1.0,
        ngram: 1.0,
    };
    let c = Classifier::from_bundle(bundle).unwrap();
    let text = "profit rose";
    let e = c.explain(text, Some(&c.labels()[0].clone())).unwrap();
    // Mixed log-probabilities: label 0: ln 0.5 + ln 1; label 1: ln 0.5 + ln 1e-7. The centered
    // logit of label 0 is half their difference: -ln(1e-7) / 2 = 8.0590.
    let want = -(1e-7f32 as f64).ln() / 2.0;
    let p = &e.probabilities;
    let from_probs = (p[0] as f64).ln() - ((p[0] as f64).ln() + (p[1] as f64).ln()) / 2.0;
    assert!((from_probs - want).abs() < 1e-3, "{from_probs} vs {want}");
    assert!(
        (e.logit as f64 - want).abs() < 1e-4,
        "logit {} vs the model's {want}",
        e.logit
    );
    // Bias: the branch's centered bias, 20; the floor: ln(1e-7) + 40 raises label 1, so label
    // 0 loses half of it: -(40 + ln 1e-7) / 2 = -11.9410, reported as "clamp". No window adds
    // anything.
    assert!((e.bias.unwrap() - 20.0).abs() < 1e-5, "{:?}", e.bias);
    let clamp = -(40.0 + (1e-7f32 as f64).ln()) / 2.0;
    let json = serde_json::to_value(&e).unwrap();
    let got = json["clamp"].as_f64();
    assert!(
        got.is_some_and(|v| (v - clamp).abs() < 1e-4),
        "{got:?} vs {clamp}"
    );
    assert!(e.windows.iter().all(|w| w.contribution.abs() < 1e-6));
    assert!((e.reconstructed_logit() - e.logit).abs() < 1e-4);
    // The other label mirrors it.
    let other = c.explain(text, Some(&c.labels()[1].clone())).unwrap();
    assert!((other.logit as f64 + want).abs() < 1e-4, "{}", other.logit);
    let got = serde_json::to_value(&other).unwrap()["clamp"].as_f64();
    assert!(got.is_some_and(|v| (v + clamp).abs() < 1e-4), "{got:?}");
    // Without a floored probability there is no such term.
    let (both, _) = ngram_cnn_and_kim();
    let plain = both.explain(text, None).unwrap();
    assert!(serde_json::to_value(&plain).unwrap().get("clamp").is_none());
}

#[test]
fn a_hand_computed_max_and_mean_pooling_model_is_decomposed_exactly() {
    // The model above with max and mean pooling: features [max h1, max h2, mean h1, mean h2].
    let mut bundle = Bundle::load(model_dir()).unwrap();
    bundle.ngram = None;
    bundle.config.ngram = None;
    let config = KimConfig {
        vocab_size: bundle.vocab.len(),
        emb_dim: 1,
        region_sizes: vec![1, 2],
        feature_maps: 1,
        num_classes: 2,
        dropout: 0.0,
        multichannel: false,
        pooling: textcnn::model::Pooling::MaxMean,
    };
    let mut m = KimCnn::new(config, 0);
    let id = |w: &str| bundle.vocab.id(w) as usize;
    let (film, great, awful) = (id("film"), id("great"), id("awful"));
    for (name, _, data) in m.named_params_mut() {
        match name.as_str() {
            "embedding.weight" => {
                data.fill(0.0);
                data[film] = 0.5;
                data[great] = 2.0;
                data[awful] = -1.0;
            }
            "conv1.weight" => data.copy_from_slice(&[1.0]),
            "conv1.bias" => data.copy_from_slice(&[0.0]),
            "conv2.weight" => data.copy_from_slice(&[1.0, -1.0]),
            "conv2.bias" => data.copy_from_slice(&[0.1]),
            "fc.weight" => data.copy_from_slice(&[1.0, 2.0, 0.4, -1.0, -1.0, 0.5, 0.0, 1.0]),
            "fc.bias" => data.copy_from_slice(&[0.3, -0.3]),
            other => panic!("unexpected parameter {other}"),
        }
    }
    bundle.model = Model::Kim(m);
    let classifier = Classifier::from_bundle(bundle).unwrap();
    let label0 = classifier.labels()[0].clone();
    // h=1 windows after ReLU: 0.5, 2, 0, 0.5 (max 2, mean 0.75); h=2: 0, 3.1, 0 (max 3.1, mean
    // 3.1/3). Centered weights of label 0: (1, 0.75, 0.2, -1), centered bias 0.3. Logit:
    // 0.3 + 2 + 0.75·3.1 + 0.2·0.75 - 3.1/3 = 3.741667. Windows: "great" (h=1) 2 + 0.2·2/4 =
    // 2.1; "great awful" (h=2) 2.325 - 3.1/3 = 1.291667; each "film" (h=1) 0.2·0.5/4 = 0.025.
    let e = classifier
        .explain("Film GREAT awful film", Some(&label0))
        .unwrap();
    assert!((e.logit - 3.741667).abs() < 1e-5, "{}", e.logit);
    assert!((e.bias.unwrap() - 0.3).abs() < 1e-6);
    let mut got: Vec<(usize, &str, usize, f32, usize)> = e
        .windows
        .iter()
        .map(|w| {
            (
                w.region_size,
                w.text.as_str(),
                w.start,
                w.contribution,
                w.maps,
            )
        })
        .collect();
    got.sort_by_key(|g| (g.0, g.2));
    let want = [
        (1, "film", 0, 0.025, 1),
        (1, "great", 5, 2.1, 2),
        (1, "film", 17, 0.025, 1),
        (2, "great awful", 5, 1.291667, 2),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0, g.1, g.2, g.4), (w.0, w.1, w.2, w.4), "{got:?}");
        assert!((g.3 - w.3).abs() < 1e-5, "{got:?}");
    }
    assert_additive(&e, "max and mean pooling");
}

#[test]
fn contributions_add_up_to_the_logit_for_kim_ngram_cnn_and_multichannel() {
    let (both, kim) = ngram_cnn_and_kim();
    // A multichannel model with random weights and a static channel unlike the trained one.
    let mut bundle = Bundle::load(model_dir()).unwrap();
    bundle.ngram = None;
    bundle.config.ngram = None;
    let mut config = bundle.model.kim().unwrap().config().clone();
    config.multichannel = true;
    let mut mc = KimCnn::new(config, 5);
    for (i, v) in mc.embedding_static_mut().unwrap().iter_mut().enumerate() {
        *v = if i < 16 {
            0.0
        } else {
            ((i * 37 % 101) as f32 - 50.0) * 0.01
        };
    }
    bundle.model = Model::Kim(mc);
    let multichannel = Classifier::from_bundle(bundle).unwrap();
    for (name, c) in [
        ("ngram-cnn", &both),
        ("kim", &kim),
        ("multichannel", &multichannel),
    ] {
        for text in texts() {
            let predicted = c.predict(&[&text]).remove(0);
            for label in c.labels() {
                let e = c.explain(&text, Some(label)).unwrap();
                let what = format!("{name} {label:?} {text:?}");
                assert_additive(&e, &what);
                assert_eq!(e.probabilities, predicted.probabilities, "{what}");
                assert_eq!(e.truncated, predicted.truncated);
                // The logit agrees with an independent computation: the model's own logits
                // (Kim), or the mixture's log-probabilities (softmax ignores the mean).
                let p = &predicted.probabilities;
                let ln_p: Vec<f32> = p.iter().map(|v| v.ln()).collect();
                assert!(
                    (e.logit as f64 - centered(&ln_p, e.label_index)).abs() < 2e-3,
                    "{what}: {} vs {ln_p:?}",
                    e.logit
                );
                if name != "ngram-cnn" {
                    let pipeline = c.pipeline();
                    let enc = encode(
                        &pipeline.tokenizer.tokenize(&text),
                        &pipeline.vocab,
                        &pipeline.encode,
                    );
                    let z = textcnn::predict::logits(&c.bundle().model, &[enc], 5);
                    assert!((e.logit as f64 - centered(&z, e.label_index)).abs() < 1e-4);
                }
                // The CNN read only max_len tokens of the long text: the others get nothing
                // from the CNN (the n-gram branch reads them all).
                if e.truncated {
                    assert!(e.tokens.iter().any(|t| !t.read_by_cnn));
                    if name != "ngram-cnn" {
                        assert!(
                            e.tokens
                                .iter()
                                .filter(|t| !t.read_by_cnn)
                                .all(|t| t.contribution == 0.0)
                        );
                    }
                }
            }
        }
    }
    // The default label is the predicted one; a label the model lacks is named.
    let e = both.explain("great film", None).unwrap();
    assert_eq!(e.label, both.predict(&["great film"])[0].label);
    let err = both.explain("great film", Some("maybe")).unwrap_err();
    assert!(format!("{err}").contains("no label \"maybe\""), "{err}");
    let err = both.explain("<br/> ", None).unwrap_err();
    assert!(format!("{err}").contains("no tokens"), "{err}");
    // Several labels at once give the same explanations as one at a time.
    let all = both.explain_labels(&texts()[2], &[1, 0]).unwrap();
    assert_eq!(
        all[0],
        both.explain(&texts()[2], Some(&both.labels()[1])).unwrap()
    );
    assert!(both.explain_labels("great", &[2]).is_err());
}

#[test]
fn ngram_windows_name_their_ngram_and_its_characters() {
    let (both, _) = ngram_cnn_and_kim();
    let text = "An  AWFUL <i>film</i> 😀 awful";
    let e = both.explain(text, None).unwrap();
    let ngrams: Vec<_> = e
        .windows
        .iter()
        .filter(|w| w.source == Source::Ngram)
        .collect();
    assert!(!ngrams.is_empty());
    let chars: Vec<char> = text.chars().collect();
    for w in &ngrams {
        // Character offsets and byte offsets slice the same original text.
        let by_chars: String = chars[w.start..w.end].iter().collect();
        assert_eq!(by_chars, &text[w.byte_start..w.byte_end]);
        let words: Vec<&str> = w.text.split(' ').collect();
        assert_eq!(words.len(), w.region_size, "{w:?}");
        assert_eq!(w.tokens.len(), w.region_size);
    }
    // "awful" occurs twice: its column's value is shared by both occurrences.
    let awful: Vec<_> = ngrams.iter().filter(|w| w.text == "awful").collect();
    assert_eq!(awful.len(), 2);
    assert_eq!(awful[0].contribution, awful[1].contribution);
    let spans: Vec<&str> = awful
        .iter()
        .map(|w| &text[w.byte_start..w.byte_end])
        .collect();
    let mut spans = spans;
    spans.sort();
    assert_eq!(spans, ["AWFUL", "awful"]);
}

#[test]
fn conv2d_is_explained_by_occlusion() {
    let mut bundle = Bundle::load(model_dir()).unwrap();
    bundle.ngram = None;
    bundle.config.ngram = None;
    let config = Conv2dConfig {
        vocab_size: bundle.vocab.len(),
        emb_dim: 8,
        seq_len: 12,
        blocks: vec!["3x4:max2".parse::<Conv2dBlock>().unwrap()],
        hidden: vec![6],
        dropout: 0.0,
        num_classes: 2,
        init: InitScheme::Torch,
    };
    let model = Model::Conv2d(Conv2dNet::new(config, 3));
    bundle.model = model.clone();
    let c = Classifier::from_bundle(bundle).unwrap();
    let text = "the plot was GREAT but the actor was awful and the film boring too long";
    let e = c.explain(text, None).unwrap();
    assert_eq!(e.method, Method::Occlusion);
    assert_eq!(e.bias, None);
    assert_eq!(e.probabilities, c.predict(&[text])[0].probabilities);
    // One window per token the model reads (its seq_len of 12), each the drop of the centered
    // logit when that token becomes <pad>.
    let pipeline = c.pipeline();
    let enc = encode(
        &pipeline.tokenizer.tokenize(text),
        &pipeline.vocab,
        &pipeline.encode,
    );
    let z = textcnn::predict::logits(&model, std::slice::from_ref(&enc), 5);
    let full = centered(&z, e.label_index);
    assert!((e.logit as f64 - full).abs() < 1e-5);
    let read: Vec<_> = e.tokens.iter().filter(|t| t.read_by_cnn).collect();
    assert_eq!(read.len(), 12);
    for (i, t) in e.tokens.iter().enumerate().take(12) {
        let mut occluded = enc.clone();
        occluded.ids[i] = 0;
        let zo = textcnn::predict::logits(&model, &[occluded], 5);
        let want = full - centered(&zo, e.label_index);
        assert!(
            (t.contribution as f64 - want).abs() < 1e-4,
            "token {i}: {} vs {want}",
            t.contribution
        );
    }
    assert!(e.tokens[12..].iter().all(|t| t.contribution == 0.0));
}

fn data_dir() -> PathBuf {
    std::env::var_os("TEXTCNN_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/imdb"))
}

/// An ngram-cnn model trained on 2,500 IMDB reviews (once per test binary) and 60 test reviews.
fn imdb_model() -> &'static (tempfile::TempDir, Vec<String>) {
    static MODEL: OnceLock<(tempfile::TempDir, Vec<String>)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let opts = ReadOptions {
            data_dir: Some(data_dir()),
            ..ReadOptions::default()
        };
        let train_full = load_dataset("imdb:train", &opts).unwrap();
        let (_, sample) = stratified_split(&train_full, 0.1, 3);
        let (tr, va) = stratified_split(&sample, 0.1, 4);
        let test_full = load_dataset("imdb:test", &opts).unwrap();
        let (_, test) = stratified_split(&test_full, 0.0024, 5);
        let dir = tempfile::tempdir().unwrap();
        let config = TrainConfig {
            arch: ArchKind::NgramCnn,
            epochs: Some(3),
            max_len: 200,
            emb_dim: 64,
            threads: 2,
            ..TrainConfig::default()
        };
        let data = TrainData {
            train: &tr,
            valid: &va,
            test: None,
        };
        train(&config, &data, dir.path(), &TrainOptions::default()).unwrap();
        let texts = test.examples.iter().map(|e| e.text.clone()).collect();
        (dir, texts)
    })
}

/// `text` with the byte ranges `spans` replaced by one space each (overlaps merged).
fn delete_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.sort();
    let mut out = String::new();
    let mut at = 0;
    for (s, e) in spans {
        if e <= at {
            continue;
        }
        out.push_str(&text[at..s.max(at)]);
        out.push(' ');
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

/// Mean drop of the explained label's probability when deleting the top-k windows by
/// contribution, and when deleting k windows drawn at random (5 draws per text).
fn faithfulness(c: &Classifier, texts: &[String], k: usize) -> (f64, f64, usize) {
    let mut rng = 12345u64;
    let mut next = move |n: usize| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((rng >> 33) as usize) % n
    };
    let (mut top_sum, mut random_sum, mut wins) = (0.0, 0.0, 0);
    for text in texts {
        let e = c.explain(text, None).unwrap();
        let p = |t: &str| c.predict(&[t])[0].probabilities[e.label_index] as f64;
        let spans = |ws: Vec<&textcnn::explain::Window>| {
            ws.iter().map(|w| (w.byte_start, w.byte_end)).collect()
        };
        let top: Vec<_> = e
            .windows
            .iter()
            .filter(|w| w.contribution > 0.0)
            .take(k)
            .collect();
        let top_drop = e.probability as f64 - p(&delete_spans(text, spans(top)));
        let mut random_drop = 0.0;
        for _ in 0..5 {
            let pick: Vec<_> = (0..k).map(|_| &e.windows[next(e.windows.len())]).collect();
            random_drop += (e.probability as f64 - p(&delete_spans(text, spans(pick)))) / 5.0;
        }
        top_sum += top_drop;
        random_sum += random_drop;
        wins += usize::from(top_drop > random_drop);
    }
    let n = texts.len() as f64;
    (top_sum / n, random_sum / n, wins)
}

#[test]
fn deleting_the_top_windows_lowers_the_probability_more_than_random_ones() {
    let (dir, texts) = imdb_model();
    let both = Classifier::load(dir.path()).unwrap();
    let mut bundle = Bundle::load(dir.path()).unwrap();
    bundle.ngram = None;
    bundle.config.ngram = None;
    let kim = Classifier::from_bundle(bundle).unwrap();
    for (name, c) in [("ngram-cnn", &both), ("kim", &kim)] {
        let (top, random, wins) = faithfulness(c, texts, 5);
        eprintln!(
            "{name}: mean probability drop, top-5 windows {top:.4}, 5 random windows {random:.4}; top larger in {wins} of {}",
            texts.len()
        );
        assert!(
            top > 3.0 * random.max(0.0) && top > 0.01,
            "{name}: {top} vs {random}"
        );
        assert!(
            wins * 4 >= texts.len() * 3,
            "{name}: {wins} of {}",
            texts.len()
        );
    }
}

fn textcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(args)
        .output()
        .expect("run textcnn")
}

#[test]
fn the_cli_prints_text_json_html_and_the_global_view() {
    let model = model_dir().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a great film 😀\n\n<b>boring</b> &amp; awful\n").unwrap();
    let input = input.to_str().unwrap();
    let o = textcnn(&["explain", "--model", model, "--input", input, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len(), 3);
    let c = Classifier::load(model_dir()).unwrap();
    let want = c.explain("a great film 😀", None).unwrap();
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["label"], want.label.as_str());
    assert_eq!(lines[0]["method"], "exact");
    assert_eq!(lines[0]["explained"], "centered logit z_c - mean_k z_k");
    assert_eq!(lines[0]["tokens"][3]["text"], "😀");
    assert_eq!(lines[0]["tokens"][3]["start"], 13);
    assert_eq!(
        lines[0]["windows"].as_array().unwrap().len(),
        want.windows.len()
    );
    assert_eq!(lines[1]["error"], "empty text");
    // Some lines explained: success, with a warning counting the others.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("warning: 1 of 3 lines could not be explained"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(lines[2]["tokens"][1]["text"], "&");
    // "<b>boring</b> &amp; awful": the entity's token spans the entity.
    assert_eq!(lines[2]["tokens"][1]["byte_start"], 14);
    assert_eq!(lines[2]["tokens"][1]["byte_end"], 19);
    // Text output: the label line, the sum and the top windows.
    let o = textcnn(&[
        "explain",
        "--model",
        model,
        "--text",
        "a great film",
        "--label",
        "neg",
        "--top",
        "3",
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("line 1: label neg (probability "), "{out}");
    assert!(out.contains("exact decomposition"), "{out}");
    assert!(out.contains("= bias "), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("  cnn  ") || l.contains("n-gram"))
            .count(),
        4,
        "{out}"
    );
    // HTML: self-contained, the text highlighted, the legend.
    let page = dir.path().join("why.html");
    let o = textcnn(&[
        "explain",
        "--model",
        model,
        "--input",
        input,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<mark style=\"background:rgba("), "{html}");
    assert!(html.contains("Legend"));
    assert!(
        html.contains("&lt;b&gt;"),
        "markup of the text is shown escaped"
    );
    assert!(!html.contains("<script") && !html.contains("http"));
    // The global view lists, per label, the n-grams that drive it.
    let data = dir.path().join("data.ft");
    let lines: String = crate::common::synthetic(40, 9)
        .examples
        .iter()
        .map(|e| format!("__label__{} {}\n", e.label(), e.text))
        .collect();
    std::fs::write(&data, lines).unwrap();
    let o = textcnn(&[
        "explain",
        "--model",
        model,
        "--global",
        "--data",
        data.to_str().unwrap(),
        "--json",
        "--top",
        "4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g = json(String::from_utf8(o.stdout).unwrap().trim());
    assert_eq!(g["texts"], 40);
    let labels = g["labels"].as_array().unwrap();
    let total: u64 = labels.iter().map(|l| l["texts"].as_u64().unwrap()).sum();
    assert_eq!(total, 40);
    for l in labels {
        let drivers = l["drivers"].as_array().unwrap();
        assert!(drivers.len() <= 4 && !drivers.is_empty(), "{l}");
        let counts: Vec<u64> = drivers
            .iter()
            .map(|d| d["count"].as_u64().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{l}");
        assert!(counts[0] <= l["texts"].as_u64().unwrap());
    }
    // --source keeps the drivers of one part of the model.
    let o = textcnn(&[
        "explain",
        "--model",
        model,
        "--global",
        "--data",
        data.to_str().unwrap(),
        "--json",
        "--source",
        "cnn",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g = json(String::from_utf8(o.stdout).unwrap().trim());
    let sources: Vec<&str> = g["labels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["drivers"].as_array().unwrap())
        .map(|d| d["source"].as_str().unwrap())
        .collect();
    assert!(
        !sources.is_empty() && sources.iter().all(|&s| s == "cnn"),
        "{sources:?}"
    );
    // Errors name the problem.
    let o = textcnn(&[
        "explain", "--model", model, "--text", "x", "--label", "maybe",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no label \"maybe\""));
    let o = textcnn(&["explain", "--model", model, "--global"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--data"));
}

#[test]
fn the_service_explains_and_the_page_asks_for_it() {
    let server = TestServer::start(ServeConfig::default());
    let text = "The plot was GREAT 😀 &amp; the actor superb";
    let body = serde_json::json!({ "text": text, "top": 3 }).to_string();
    let (status, answer) = post(&server.url("/v1/explain"), &body);
    assert_eq!(status, 200, "{answer}");
    let v = json(&answer);
    let c = Classifier::load(model_dir()).unwrap();
    let want = c.explain(text, None).unwrap();
    let e = &v["explanation"];
    assert_eq!(e["label"], want.label.as_str());
    assert_eq!(e["probability"].as_f64().unwrap() as f32, want.probability);
    assert_eq!(e["windows"].as_array().unwrap().len(), 3);
    assert_eq!(e["n_windows"], want.windows.len());
    assert_eq!(e["tokens"].as_array().unwrap().len(), want.tokens.len());
    assert!(
        v["model"]["version"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let other = &c.labels()[1 - want.label_index];
    let body = serde_json::json!({ "text": text, "label": other }).to_string();
    let (status, answer) = post(&server.url("/v1/explain"), &body);
    assert_eq!(status, 200);
    assert_eq!(json(&answer)["explanation"]["label"], other.as_str());
    for (body, status, needle) in [
        (
            r#"{"text": "good", "label": "maybe"}"#,
            422,
            "no label \"maybe\"",
        ),
        (r#"{"text": "<br/>"}"#, 422, "no tokens"),
        (r#"{"texts": ["good"]}"#, 422, "missing field \"text\""),
    ] {
        let (s, a) = post(&server.url("/v1/explain"), body);
        assert_eq!(s, status, "{body}: {a}");
        assert!(json(&a)["error"].as_str().unwrap().contains(needle), "{a}");
    }
    let (status, _, body) = get(&server.url("/v1/explain"));
    assert_eq!(status, 405);
    assert!(body.contains("(use POST)"), "{body}");
    let (status, _, page) = get(&server.url("/"));
    assert_eq!(status, 200);
    assert!(page.contains("/v1/explain") && page.contains("id=\"why-text\""));
    let (_, _, metrics) = get(&server.url("/metrics"));
    assert!(
        metrics.contains("textcnn_http_requests_total{endpoint=\"/v1/explain\",status=\"200\"} 2"),
        "{metrics}"
    );
}
