//! Transfer learning through the library and the binary, on small synthetic tasks (each run
//! well under a second): pretrained vectors in the three embedding modes, vocabulary extension
//! from a vector file, `--init-from`, fine-tuning (parent untouched and recorded, vocabulary
//! extension, new labels), `export-vectors` round trips and `compare`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::{NEG, POS, synthetic_with};
use textcnn::bundle::{self, Bundle, load_tensors};
use textcnn::data::Dataset;
use textcnn::model::KimCnn;
use textcnn::model::kim::STATIC_EMBEDDING;
use textcnn::predict::Classifier;
use textcnn::text::vectors::{VectorFilter, encode_vectors, read_vectors};
use textcnn::text::{EmbeddingMode, Tokenizer, VectorFormat, Vocab};
use textcnn::train::transfer::{EmbeddingInit, grow_model, unlabeled_vectors};
use textcnn::train::{
    ArchKind, StartFrom, TrainConfig, TrainData, TrainOptions, finetune_config, train,
};

/// Filler words plus one cue word; the label follows the cue. `labels` cycles through
/// pos / neg (/ meh, cue "okay"); `extra` cue words are mixed in with their class's cues.
fn synthetic(n: usize, seed: usize, labels: usize, extra: &[(&str, &str)]) -> Dataset {
    let label = |i: usize| ["pos", "neg", "meh"][i % labels];
    synthetic_with(
        n,
        format!("synthetic-{seed}"),
        |i| i * 7 + seed * 13,
        label,
        |i, k| {
            let mut cues: Vec<&str> = match label(i) {
                "pos" => POS.to_vec(),
                "neg" => NEG.to_vec(),
                _ => vec!["okay", "fine", "average"],
            };
            cues.extend(extra.iter().filter(|e| e.1 == label(i)).map(|e| e.0));
            cues[(k / 3) % cues.len()]
        },
    )
}

fn small_config() -> TrainConfig {
    TrainConfig {
        epochs: Some(4),
        batch_size: 16,
        emb_dim: 16,
        feature_maps: 8,
        region_sizes: vec![2, 3],
        patience: Some(10),
        threads: 2,
        lr: 3e-3,
        // These tests are about the CNN's embedding and filters, without the n-gram branch.
        arch: ArchKind::Kim,
        ..TrainConfig::default()
    }
}

fn fit(config: &TrainConfig, tr: &Dataset, out: &Path, start: Option<StartFrom>) -> f64 {
    let (va, te) = (synthetic(60, 20, 2, &[]), synthetic(100, 21, 2, &[]));
    let data = TrainData {
        train: tr,
        valid: &va,
        test: Some(&te),
    };
    let options = TrainOptions {
        start_from: start,
        ..TrainOptions::default()
    };
    train(config, &data, out, &options)
        .unwrap()
        .test
        .unwrap()
        .headline()
}

/// Rows of `emb` (`[vocab, dim]`) for `words` of `vocab`.
fn rows(emb: &[f32], vocab: &Vocab, words: &[&str], dim: usize) -> Vec<Vec<f32>> {
    words
        .iter()
        .map(|w| {
            let id = vocab.get(w).unwrap() as usize;
            emb[id * dim..(id + 1) * dim].to_vec()
        })
        .collect()
}

fn tensor(dir: &Path, name: &str) -> Vec<f32> {
    load_tensors(&dir.join(bundle::MODEL_FILE)).unwrap()[name]
        .1
        .clone()
}

/// Writes the embedding of the bundle in `dir` as a word-vector file.
fn export(dir: &Path, format: VectorFormat, path: &Path) {
    let b = Bundle::load(dir).unwrap();
    let e = b.model.kim().unwrap().config().emb_dim;
    let words: Vec<&str> = b.vocab.tokens()[2..].iter().map(String::as_str).collect();
    let (bytes, skipped) = encode_vectors(format, &words, &b.model.named_params()[0].2[2 * e..], e);
    assert_eq!(skipped, 0);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn pretrained_vectors_train_in_all_three_embedding_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let tr = synthetic(400, 1, 2, &[]);
    let source = tmp.path().join("source");
    assert!(fit(&small_config(), &tr, &source, None) > 0.95);
    let vec_file = tmp.path().join("source.vec");
    export(&source, VectorFormat::Word2vecText, &vec_file);
    let src = Bundle::load(&source).unwrap();
    let words = ["great", "awful", "film", "the"];
    let src_rows = rows(src.model.named_params()[0].2, &src.vocab, &words, 16);

    for mode in [
        EmbeddingMode::Static,
        EmbeddingMode::NonStatic,
        EmbeddingMode::Multichannel,
    ] {
        let out = tmp.path().join(format!("{mode:?}"));
        let config = TrainConfig {
            pretrained: Some(vec_file.clone()),
            embedding: mode,
            seed: 7,
            ..small_config()
        };
        let acc = fit(&config, &synthetic(400, 2, 2, &[]), &out, None);
        assert!(acc > 0.95, "{mode:?}: {acc}");
        let b = Bundle::load(&out).unwrap();
        let emb = tensor(&out, "embedding.weight");
        let trained = rows(&emb, &b.vocab, &words, 16);
        match mode {
            EmbeddingMode::Static => assert_eq!(trained, src_rows, "frozen"),
            _ => assert_ne!(trained, src_rows, "fine-tuned"),
        }
        let names: Vec<String> = load_tensors(&out.join(bundle::MODEL_FILE))
            .unwrap()
            .into_keys()
            .collect();
        assert_eq!(
            names.contains(&STATIC_EMBEDDING.to_string()),
            mode == EmbeddingMode::Multichannel
        );
        if mode == EmbeddingMode::Multichannel {
            let stat = tensor(&out, STATIC_EMBEDDING);
            assert_eq!(
                rows(&stat, &b.vocab, &words, 16),
                src_rows,
                "static channel"
            );
        }
        // The coverage report is in the bundle: the same training texts → every word found.
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(bundle::CONFIG_FILE)).unwrap()).unwrap();
        let report = &config["training"]["transfer"]["pretrained"];
        assert_eq!(report["vocab_coverage"], 1.0, "{report}");
        assert_eq!(report["format"], "word2vec-text");
        // The reloaded bundle predicts like the training run's test evaluation.
        Classifier::load(&out).unwrap();
    }
}

#[test]
fn extend_vocab_brings_in_words_seen_only_in_the_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    // Vectors trained on data where "fantastic" is a positive cue...
    let source = tmp.path().join("source");
    fit(
        &TrainConfig {
            epochs: Some(6),
            ..small_config()
        },
        &synthetic(400, 1, 2, &[("fantastic", "pos"), ("dreadful", "neg")]),
        &source,
        None,
    );
    let vec_file = tmp.path().join("v.bin");
    export(&source, VectorFormat::Word2vecBin, &vec_file);
    // ...used by a static model whose training data never contains those words.
    let out = tmp.path().join("static");
    let config = TrainConfig {
        pretrained: Some(vec_file.clone()),
        embedding: EmbeddingMode::Static,
        extend_vocab: true,
        ..small_config()
    };
    fit(&config, &synthetic(400, 2, 2, &[]), &out, None);
    let c = Classifier::load(&out).unwrap();
    assert!(c.pipeline().vocab.get("fantastic").is_some());
    let p = c.predict(&[
        "the film was a fantastic story",
        "the film was a dreadful story",
    ]);
    assert_eq!((p[0].label.as_str(), p[1].label.as_str()), ("pos", "neg"));
    // Without --extend-vocab the words stay unknown.
    let out2 = tmp.path().join("plain");
    fit(
        &TrainConfig {
            extend_vocab: false,
            ..config
        },
        &synthetic(400, 2, 2, &[]),
        &out2,
        None,
    );
    let c2 = Classifier::load(&out2).unwrap();
    assert!(c2.pipeline().vocab.get("fantastic").is_none());
}

#[test]
fn init_from_copies_shared_rows_and_optionally_the_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("source");
    fit(&small_config(), &synthetic(400, 1, 2, &[]), &source, None);
    let src = Bundle::load(&source).unwrap();
    let config = TrainConfig {
        init_from: Some(source.clone()),
        init_conv: true,
        ..small_config()
    };
    let tokenizer = Tokenizer::new(config.tokenizer.clone());
    let docs = [
        tokenizer.tokenize("great film never seen before"),
        tokenizer.tokenize("great"),
    ];
    let mut vocab = Vocab::build(docs.iter().map(Vec::as_slice), 1, None);
    let mut init = EmbeddingInit::read(&config, &mut vocab, &tokenizer, &[])
        .unwrap()
        .unwrap();
    // 2 of the 5 real words are in the source vocabulary; "great" is 2 of 6 tokens.
    assert_eq!(init.report().found, 2);
    assert!((init.report().token_coverage - 3.0 / 6.0).abs() < 1e-9);
    let kim = textcnn::model::KimConfig {
        vocab_size: vocab.len(),
        num_classes: 2,
        ..src.model.kim().unwrap().config().clone()
    };
    let mut m = textcnn::model::Model::Kim(KimCnn::new(kim, 3));
    init.apply(&mut m, 3);
    let shared = ["great", "film"];
    assert_eq!(
        rows(m.named_params()[0].2, &vocab, &shared, 16),
        rows(src.model.named_params()[0].2, &src.vocab, &shared, 16)
    );
    for ((n, _, a), (_, _, b)) in m.named_params().iter().zip(src.model.named_params()) {
        if n.starts_with("conv") {
            assert_eq!(*a, b, "{n}");
        }
    }
    // A mismatching architecture is refused for --init-conv, naming the flags that match it.
    let bad = TrainConfig {
        feature_maps: 4,
        region_sizes: vec![1, 2, 3],
        ..config
    };
    let err = EmbeddingInit::read(&bad, &mut vocab, &tokenizer, &[])
        .err()
        .unwrap();
    assert!(err.to_string().contains("--init-conv"), "{err}");
    assert!(
        format!("{err:#}")
            .ends_with("give the same architecture settings (--region-sizes 2,3 --feature-maps 8)"),
        "{err:#}"
    );
}

fn file_hashes(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        let bytes = std::fs::read(&e).unwrap();
        out.insert(
            e.strip_prefix(dir).unwrap().display().to_string(),
            textcnn::data::imdb::sha256_hex(&bytes[..]).unwrap(),
        );
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

#[test]
fn finetune_continues_a_bundle_extends_its_vocab_and_leaves_it_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("parent");
    let first = fit(&small_config(), &synthetic(400, 1, 2, &[]), &parent, None);
    let before = file_hashes(&parent);
    let pb = Bundle::load(&parent).unwrap();
    let config = TrainConfig {
        extend_vocab: true,
        lr: 3e-3,
        ..finetune_config(&pb)
    };
    assert_eq!(finetune_config(&pb).lr, small_config().lr / 10.0);
    let child = tmp.path().join("child");
    let new_data = synthetic(300, 3, 2, &[("marvellous", "pos"), ("dire", "neg")]);
    let second = fit(
        &config,
        &new_data,
        &child,
        Some(StartFrom::load(&parent, false).unwrap()),
    );
    assert!(first > 0.95 && second > 0.95, "{first} {second}");
    assert_eq!(
        file_hashes(&parent),
        before,
        "the parent bundle must not change"
    );
    let cb = Bundle::load(&child).unwrap();
    assert_eq!(cb.config.labels, pb.config.labels);
    assert_eq!(cb.config.tokenizer, pb.config.tokenizer);
    assert_eq!(&cb.vocab.tokens()[..pb.vocab.len()], pb.vocab.tokens());
    assert_eq!(cb.vocab.len(), pb.vocab.len() + 2);
    for w in ["marvellous", "dire"] {
        assert!(cb.vocab.get(w).unwrap() >= pb.vocab.len() as u32, "{w}");
    }
    let p = cb.config.parent.as_ref().unwrap();
    assert_eq!(
        p["sha256"],
        before[bundle::MODEL_FILE].as_str(),
        "parent hash recorded"
    );
    assert!(p["path"].as_str().unwrap().ends_with("parent"));
    assert_eq!(
        std::fs::read(child.join(bundle::PARENT_METRICS_FILE)).unwrap(),
        std::fs::read(parent.join(bundle::METRICS_FILE)).unwrap()
    );
    assert!(child.join(bundle::METRICS_FILE).exists());
    let c = Classifier::load(&child).unwrap();
    let pr = c.predict(&["the film was marvellous", "the film was dire"]);
    assert_eq!((pr[0].label.as_str(), pr[1].label.as_str()), ("pos", "neg"));
}

#[test]
fn new_labels_are_an_error_unless_allowed_and_then_grow_the_output_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("parent");
    fit(&small_config(), &synthetic(400, 1, 2, &[]), &parent, None);
    let three = synthetic(600, 4, 3, &[]);
    let pb = Bundle::load(&parent).unwrap();
    let config = TrainConfig {
        lr: 3e-3,
        epochs: Some(6),
        extend_vocab: true,
        ..finetune_config(&pb)
    };
    let (va, te) = (synthetic(90, 5, 3, &[]), synthetic(150, 6, 3, &[]));
    let data = TrainData {
        train: &three,
        valid: &va,
        test: Some(&te),
    };
    let err = train(
        &config,
        &data,
        &tmp.path().join("refused"),
        &TrainOptions {
            start_from: Some(StartFrom::load(&parent, false).unwrap()),
            ..TrainOptions::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("\"meh\"") && err.contains("--allow-new-labels"),
        "{err}"
    );

    // Growing keeps every old parameter and adds small rows.
    let kim = textcnn::model::KimConfig {
        vocab_size: pb.vocab.len() + 3,
        num_classes: 3,
        ..pb.model.kim().unwrap().config().clone()
    };
    let grown = grow_model(&pb.model, &textcnn::model::Architecture::Kim(kim), 1).unwrap();
    for ((n, _, old), (_, _, new)) in pb.model.named_params().iter().zip(grown.named_params()) {
        assert_eq!(&new[..old.len()], *old, "{n}");
        if n == "fc.weight" {
            assert!(new[old.len()..].iter().all(|v| v.abs() <= 0.01));
        }
        if n == "fc.bias" {
            assert_eq!(new[2], 0.0);
        }
    }

    let out = tmp.path().join("grown");
    let report = train(
        &config,
        &data,
        &out,
        &TrainOptions {
            start_from: Some(StartFrom::load(&parent, true).unwrap()),
            ..TrainOptions::default()
        },
    )
    .unwrap()
    .test
    .unwrap();
    assert!(report.headline() > 0.9, "{}", report.headline());
    let b = Bundle::load(&out).unwrap();
    assert_eq!(b.config.labels, ["neg", "pos", "meh"]);
}

fn textcnn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(args)
        .output()
        .expect("run textcnn")
}

#[test]
fn cli_export_vectors_round_trips_and_compare_and_finetune_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    fit(&small_config(), &synthetic(200, 1, 2, &[]), &model, None);
    let b = Bundle::load(&model).unwrap();
    let emb = b.model.named_params()[0].2.to_vec();
    for (flag, fmt) in [
        ("vec", VectorFormat::Word2vecText),
        ("glove", VectorFormat::Glove),
        ("word2vec-bin", VectorFormat::Word2vecBin),
    ] {
        let file = tmp.path().join(format!("v.{flag}"));
        let o = textcnn(&[
            "export-vectors",
            "--model",
            model.to_str().unwrap(),
            "--format",
            flag,
            "--output",
            file.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut vocab = b.vocab.clone();
        let pv = read_vectors(
            &file,
            VectorFormat::Auto,
            &mut vocab,
            &VectorFilter::default(),
        )
        .unwrap();
        assert_eq!(pv.report.format, fmt);
        assert_eq!(pv.report.vocab_coverage, 1.0);
        assert_eq!(&pv.table[32..], &emb[32..], "{flag}: exact round trip");
    }

    // Data files for the binary.
    let write = |name: &str, ds: &Dataset| {
        let p = tmp.path().join(name);
        let text: String = ds
            .examples
            .iter()
            .map(|e| serde_json::json!({"text": e.text, "label": e.label()}).to_string() + "\n")
            .collect();
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let new = write("new.jsonl", &synthetic(200, 8, 2, &[]));
    let test = write("test.jsonl", &synthetic(100, 9, 2, &[]));
    let m = model.to_str().unwrap();
    let o = textcnn(&[
        "finetune", "--model", m, "--train", &new, "--output", m, "--epochs", "1",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--output must differ"));
    let child = tmp.path().join("child");
    let o = textcnn(&[
        "finetune",
        "--model",
        m,
        "--train",
        &new,
        "--output",
        child.to_str().unwrap(),
        "--epochs",
        "1",
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = textcnn(&[
        "compare",
        "--models",
        &format!("{m},{}", child.display()),
        "--data",
        &test,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    for row in ["accuracy", "macro F1", "F1 pos", "F1 neg"] {
        assert!(out.contains(row), "{out}");
    }
    // --embedding static without vectors is refused.
    let o = textcnn(&[
        "train",
        "--train",
        &new,
        "--output",
        tmp.path().join("x").to_str().unwrap(),
        "--embedding",
        "static",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--pretrained"));
}

#[test]
fn an_interrupted_finetune_resumes_to_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("parent");
    fit(&small_config(), &synthetic(200, 1, 2, &[]), &parent, None);
    let config = TrainConfig {
        extend_vocab: true,
        epochs: Some(2),
        ..finetune_config(&Bundle::load(&parent).unwrap())
    };
    let (tr, va) = (
        synthetic(200, 3, 2, &[("marvellous", "pos")]),
        synthetic(60, 4, 2, &[]),
    );
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let start = || Some(StartFrom::load(&parent, false).unwrap());
    let straight = tmp.path().join("straight");
    let opts = |resume: bool, stop: bool| TrainOptions {
        resume,
        start_from: start(),
        interrupt: stop.then(|| std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true))),
        ..TrainOptions::default()
    };
    train(&config, &data, &straight, &opts(false, false)).unwrap();
    let resumed = tmp.path().join("resumed");
    train(&config, &data, &resumed, &opts(false, true)).unwrap();
    train(&config, &data, &resumed, &opts(true, false)).unwrap();
    assert_eq!(
        std::fs::read(straight.join(bundle::MODEL_FILE)).unwrap(),
        std::fs::read(resumed.join(bundle::MODEL_FILE)).unwrap()
    );
}

/// Issue 18, item 2: `export-vectors --output` inside the bundle overwrote the model and exited
/// 0. Paths inside the bundle are refused even with `--force`; other existing files need it.
#[test]
fn export_vectors_refuses_the_bundles_files_and_existing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    fit(&small_config(), &synthetic(200, 1, 2, &[]), &model, None);
    let before: Vec<Vec<u8>> = ["model.safetensors", "vocab.txt", "config.json"]
        .iter()
        .map(|f| std::fs::read(model.join(f)).unwrap())
        .collect();
    let m = model.to_str().unwrap();
    let export = |output: &Path, force: bool| {
        let mut args = vec![
            "export-vectors",
            "--model",
            m,
            "--output",
            output.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        textcnn(&args)
    };
    for (target, force) in [
        (model.join("model.safetensors"), false),
        (model.join("vocab.txt"), true),
        (model.join("new.vec"), true),
        (tmp.path().join("m/../m/config.json"), true),
    ] {
        let o = export(&target, force);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{target:?} accepted");
        assert!(err.contains("is inside the model bundle"), "{err}");
    }
    let after: Vec<Vec<u8>> = ["model.safetensors", "vocab.txt", "config.json"]
        .iter()
        .map(|f| std::fs::read(model.join(f)).unwrap())
        .collect();
    assert_eq!(before, after, "the bundle was modified");
    assert!(!model.join("new.vec").exists());

    let mine = tmp.path().join("mine.vec");
    std::fs::write(&mine, "keep me").unwrap();
    let o = export(&mine, false);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already exists; give another name or --force"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "keep me");
    let o = export(&mine, true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_ne!(std::fs::read_to_string(&mine).unwrap(), "keep me");
}

/// Writes 40 fastText lines of two classes told apart by "great" / "awful".
fn two_class_data(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("d.ft");
    let lines: String = (0..20)
        .map(|i| format!("__label__pos great film {i}\n__label__neg awful film {i}\n"))
        .collect();
    std::fs::write(&data, lines).unwrap();
    data
}

/// `textcnn train` on `data` into `dir/out` with `--pretrained vectors` (one epoch).
fn train_pretrained(dir: &Path, data: &Path, vectors: &str, out: &str) -> std::process::Output {
    textcnn(&[
        "train",
        "--train",
        data.to_str().unwrap(),
        "--output",
        dir.join(out).to_str().unwrap(),
        "--pretrained",
        vectors,
        "--epochs",
        "1",
        "--feature-maps",
        "4",
    ])
}

/// Issue 18, item 12 (`--pretrained`): `/dev/zero` was read until the allocation failed
/// (exit 134). A word-vector file that is not a regular file is refused.
#[test]
fn pretrained_vectors_from_a_device_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = two_class_data(tmp.path());
    let o = train_pretrained(tmp.path(), &data, "/dev/zero", "z");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("/dev/zero is not a regular file"), "{err}");
}

/// Issue 18, item 19 (first half): a gzipped `.vec` gave "2: 0 values, expected 4"; it is now
/// read (gzip is recognised by its magic bytes, whatever the file's name).
#[test]
fn pretrained_vectors_are_read_from_gzip() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let data = two_class_data(tmp.path());
    let vec_text = "3 4\ngreat 1 0 0 0.5\nawful -1 0 0 0.5\nfilm 0 1 0 0\n";
    let gz = tmp.path().join("v.vec.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(vec_text.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let o = train_pretrained(tmp.path(), &data, gz.to_str().unwrap(), "m");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("dim 4, 3 rows read"), "{err}");
}

/// `finetune --class-weight` and `--metric` override the parent's settings (issue 18, class
/// imbalance).
#[test]
fn finetune_takes_class_weights_and_the_macro_f1_metric() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("parent");
    fit(&small_config(), &synthetic(200, 1, 2, &[]), &parent, None);
    let new = tmp.path().join("new.jsonl");
    let text: String = synthetic(100, 8, 2, &[])
        .examples
        .iter()
        .map(|e| serde_json::json!({"text": e.text, "label": e.label()}).to_string() + "\n")
        .collect();
    std::fs::write(&new, text).unwrap();
    let child = tmp.path().join("child");
    let o = textcnn(&[
        "finetune",
        "--model",
        parent.to_str().unwrap(),
        "--train",
        new.to_str().unwrap(),
        "--output",
        child.to_str().unwrap(),
        "--epochs",
        "1",
        "--class-weight",
        "balanced",
        "--metric",
        "macro-f1",
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(child.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["training"]["config"]["metric"], "macro-f1");
    assert_eq!(config["training"]["config"]["class_weight"], "balanced");
    assert!(
        config["training"]["class_weights"]["pos"].is_number(),
        "{config}"
    );
}

/// Growing works through the declared parameter roles for any architecture: a conv2d network
/// keeps every old value, gains embedding rows and output rows (small) with zero bias.
#[test]
fn grow_model_conv2d_by_roles() {
    use textcnn::model::{Architecture, Conv2dConfig, Conv2dNet, InitScheme, Model};
    let cfg = Conv2dConfig {
        vocab_size: 9,
        emb_dim: 4,
        seq_len: 6,
        blocks: vec!["3x2:max2".parse().unwrap()],
        hidden: vec![5],
        dropout: 0.5,
        num_classes: 2,
        init: InitScheme::Torch,
    };
    let parent = Model::Conv2d(Conv2dNet::new(cfg.clone(), 7));
    let bigger = Architecture::Conv2d(Conv2dConfig {
        vocab_size: 12,
        num_classes: 4,
        ..cfg
    });
    let grown = grow_model(&parent, &bigger, 1).unwrap();
    let (old, new) = (parent.named_params(), grown.named_params());
    let n = old.len();
    for (i, ((name, old_shape, a), (_, new_shape, b))) in old.iter().zip(&new).enumerate() {
        assert_eq!(&b[..a.len()], *a, "{name}");
        match i {
            0 => {
                assert_eq!(new_shape, &vec![12, 4]);
                assert!(b[a.len()..].iter().any(|&v| v != 0.0));
            }
            _ if i == n - 2 => {
                assert_eq!(new_shape[0], 4);
                assert!(b[a.len()..].iter().all(|v| v.abs() <= 0.01 && *v != 0.0));
            }
            _ if i == n - 1 => assert_eq!(&b[a.len()..], &[0.0, 0.0]),
            _ => assert_eq!(new_shape, old_shape, "{name}"),
        }
    }
    // Shrinking is refused.
    assert!(grow_model(&grown, &parent.architecture(), 1).is_err());
}

/// Issue 26, `train --unlabeled`: vectors trained on unlabeled text plus the training texts
/// initialise the embedding in the same run. With a multichannel embedding the frozen channel's
/// rows are exactly the vectors that `unlabeled_vectors` trains for the bundle's vocabulary
/// (deterministic for the seed and thread count), the transfer record names them, and the
/// network learns the task.
#[test]
fn unlabeled_text_trains_the_initial_vectors_in_the_same_run() {
    let tmp = tempfile::tempdir().unwrap();
    let unlabeled = tmp.path().join("unlabeled.txt");
    let texts: Vec<String> = synthetic(600, 5, 2, &[])
        .examples
        .iter()
        .map(|e| e.text.clone())
        .collect();
    std::fs::write(&unlabeled, texts.join("\n") + "\n").unwrap();
    let tr = synthetic(400, 1, 2, &[]);
    let out = tmp.path().join("multichannel");
    let config = TrainConfig {
        unlabeled: Some(unlabeled.clone()),
        embedding: EmbeddingMode::Multichannel,
        seed: 7,
        ..small_config()
    };
    let acc = fit(&config, &tr, &out, None);
    assert!(acc > 0.9, "{acc}");

    let b = Bundle::load(&out).unwrap();
    let tokenizer = Tokenizer::new(b.config.tokenizer.clone());
    let train_tokens: Vec<Vec<String>> = tr
        .examples
        .iter()
        .map(|e| tokenizer.tokenize(&e.text))
        .collect();
    let expected =
        unlabeled_vectors(&config, &unlabeled, &tokenizer, &train_tokens, &b.vocab).unwrap();
    assert_eq!(expected.dim, 16);
    let words = ["great", "awful", "film", "the"];
    let frozen = tensor(&out, STATIC_EMBEDDING);
    assert_eq!(
        rows(&frozen, &b.vocab, &words, 16),
        rows(&expected.table, &b.vocab, &words, 16),
        "the frozen channel holds the trained vectors"
    );
    // Trained, not random: a planted cue pair of one class is closer than a cross-class pair.
    let cos = |a: &str, c: &str| {
        let r = rows(&expected.table, &b.vocab, &[a, c], 16);
        let dot: f32 = r[0].iter().zip(&r[1]).map(|(x, y)| x * y).sum();
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (n(&r[0]) * n(&r[1]))
    };
    assert!(
        cos(POS[0], POS[1]) > cos(POS[0], NEG[0]),
        "{} vs {}",
        cos(POS[0], POS[1]),
        cos(POS[0], NEG[0])
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(bundle::CONFIG_FILE)).unwrap()).unwrap();
    let report = &record["training"]["transfer"]["unlabeled"];
    assert!(
        report["path"]
            .as_str()
            .unwrap()
            .starts_with("subword vectors"),
        "{report}"
    );
    assert_eq!(report["vocab_coverage"], 1.0, "{report}");
}

#[test]
fn cli_unlabeled_conflicts_with_other_vector_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let vec_file = tmp.path().join("v.vec");
    std::fs::write(&vec_file, "1 2\ngood 0.1 0.2\n").unwrap();
    let o = textcnn(&[
        "train",
        "--train",
        "t.tsv",
        "--output",
        tmp.path().join("o").to_str().unwrap(),
        "--unlabeled",
        "u.txt",
        "--pretrained",
        vec_file.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--unlabeled") && err.contains("--pretrained"),
        "{err}"
    );
}

/// `textcnn vectors` never writes over its own input text, even with `--force`.
#[test]
fn cli_vectors_refuses_to_write_over_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("corpus.txt");
    let corpus = "the cat sat on the mat\nthe dog sat on the log\n".repeat(20);
    std::fs::write(&text, &corpus).unwrap();
    let t = text.to_str().unwrap();
    let o = textcnn(&["vectors", "--input", t, "--output", t, "--force"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is the --input text itself"), "{err}");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), corpus);
}
