//! The training loop through the library API on a small synthetic task: learning, determinism,
//! interrupt + resume giving the very same model as an uninterrupted run, the NaN guard, and
//! the bundle's load-time validation.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::common::synthetic;
use textcnn::bundle::{self, Bundle, load_tensors, save_tensors};
use textcnn::data::{Dataset, Example};
use textcnn::predict::Classifier;
use textcnn::train::{StopReason, TrainConfig, TrainData, TrainOptions, train};

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
        ..TrainConfig::default()
    }
}

/// Options whose stop flag is already set: training stops after its first batch and writes a
/// checkpoint.
fn stopped_at_once() -> TrainOptions {
    TrainOptions {
        interrupt: Some(Arc::new(AtomicBool::new(true))),
        ..TrainOptions::default()
    }
}

fn params(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let mut t: Vec<_> = load_tensors(&dir.join(bundle::MODEL_FILE))
        .unwrap()
        .into_iter()
        .map(|(k, (_, v))| (k, v))
        .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

#[test]
fn learns_the_task_and_is_deterministic() {
    let (tr, va, te) = (synthetic(400, 1), synthetic(100, 2), synthetic(100, 3));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: Some(&te),
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let out = train(&small_config(), &data, a.path(), &TrainOptions::default()).unwrap();
    assert_eq!(out.stop, StopReason::Completed);
    assert_eq!(out.history.len(), 4);
    assert!(
        out.test.as_ref().unwrap().headline() > 0.95,
        "{:?}",
        out.test.as_ref().unwrap().headline()
    );
    train(&small_config(), &data, b.path(), &TrainOptions::default()).unwrap();
    assert_eq!(
        params(a.path()),
        params(b.path()),
        "same seed and threads must give identical parameters"
    );
    // The best epoch's metrics are in config.json and metrics.jsonl has one line per epoch.
    let metrics = std::fs::read_to_string(a.path().join(bundle::METRICS_FILE)).unwrap();
    assert_eq!(metrics.lines().count(), 4);
    // The library's predictions agree with the test evaluation done at the end of training.
    let c = Classifier::load(a.path()).unwrap();
    let texts: Vec<&str> = te.examples.iter().map(|e| e.text.as_str()).collect();
    let correct = c
        .predict(&texts)
        .iter()
        .zip(&te.examples)
        .filter(|(p, e)| p.label == e.label())
        .count();
    assert_eq!(
        correct as f64 / te.len() as f64,
        out.test.as_ref().unwrap().headline()
    );
}

#[test]
fn interrupted_then_resumed_run_equals_an_uninterrupted_one() {
    let (tr, va) = (synthetic(300, 4), synthetic(60, 5));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let config = TrainConfig {
        patience: Some(10),
        ..small_config()
    };
    let straight = tempfile::tempdir().unwrap();
    train(&config, &data, straight.path(), &TrainOptions::default()).unwrap();

    let resumed = tempfile::tempdir().unwrap();
    let first = train(&config, &data, resumed.path(), &stopped_at_once()).unwrap();
    assert_eq!(first.stop, StopReason::Interrupted);
    assert!(first.history.is_empty());
    let rest = train(
        &config,
        &data,
        resumed.path(),
        &TrainOptions {
            resume: true,
            keep_checkpoint: true,
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(rest.history.len(), 4);
    assert_eq!(params(straight.path()), params(resumed.path()));
    // A finished run drops its checkpoint unless asked to keep it.
    assert!(!straight.path().join("checkpoint").exists());
    assert!(resumed.path().join("checkpoint/state.json").is_file());

    let changed = TrainConfig { lr: 0.5, ..config };
    let err = train(
        &changed,
        &data,
        resumed.path(),
        &TrainOptions {
            resume: true,
            ..TrainOptions::default()
        },
    );
    assert!(err.err().unwrap().to_string().contains("other settings"));
}

/// Word dropout (`--word-dropout`) is drawn from each step's seed: two runs give the same model,
/// a run interrupted after its first batch and resumed gives it too, and it is another model
/// than the one trained without it.
#[test]
fn word_dropout_is_seeded_and_resumes_to_the_same_model() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (tr, va) = (synthetic(300, 4), synthetic(60, 5));
    let config = TrainConfig {
        word_dropout: Some(0.3),
        ..small_config()
    };
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let plain = TrainOptions::default();
    train(&config, &data, dirs[0].path(), &plain).unwrap();
    train(&config, &data, dirs[1].path(), &plain).unwrap();
    assert_eq!(params(dirs[0].path()), params(dirs[1].path()));
    let first = train(&config, &data, dirs[2].path(), &stopped_at_once()).unwrap();
    assert_eq!(first.stop, StopReason::Interrupted);
    let resume = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    train(&config, &data, dirs[2].path(), &resume).unwrap();
    assert_eq!(params(dirs[0].path()), params(dirs[2].path()));
    train(&small_config(), &data, dirs[3].path(), &plain).unwrap();
    assert_ne!(params(dirs[0].path()), params(dirs[3].path()));
}

/// The automatic word dropout of `--arch kim` on long texts: `config.json` records the setting as
/// automatic (null) and the rate in force under `training.word_dropout`. Short texts get none,
/// and nothing is recorded.
#[test]
fn the_automatic_word_dropout_is_recorded_with_the_run() {
    let long = |d: Dataset| Dataset {
        examples: d
            .examples
            .iter()
            .map(|e| Example::new([e.text.as_str(); 12].join(" "), e.label().to_string()))
            .collect(),
        ..d
    };
    let config = TrainConfig {
        arch: textcnn::train::ArchKind::Kim,
        epochs: Some(1),
        ..small_config()
    };
    let training = |tr: &Dataset, va: &Dataset| -> serde_json::Value {
        let data = TrainData {
            train: tr,
            valid: va,
            test: Some(va),
        };
        let dir = tempfile::tempdir().unwrap();
        train(&config, &data, dir.path(), &TrainOptions::default()).unwrap();
        let c = std::fs::read(dir.path().join(bundle::CONFIG_FILE)).unwrap();
        let c: serde_json::Value = serde_json::from_slice(&c).unwrap();
        c["training"].clone()
    };
    // 12 copies of 7 to 15 words: 84 to 180 tokens, about 130 on average.
    let t = training(&long(synthetic(120, 4)), &long(synthetic(30, 5)));
    assert_eq!(t["config"]["word_dropout"], serde_json::Value::Null);
    assert_eq!(t["word_dropout"].as_f64(), Some(0.4f32 as f64));
    let t = training(&synthetic(120, 4), &synthetic(30, 5));
    assert!(t.get("word_dropout").is_none(), "{t}");
}

#[test]
fn resuming_an_early_stopped_run_is_refused() {
    let (tr, va) = (synthetic(200, 8), synthetic(40, 9));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    // Validation accuracy reaches its best (1.0) and cannot rise further: patience 1 stops.
    let config = TrainConfig {
        patience: Some(1),
        epochs: Some(30),
        ..small_config()
    };
    let dir = tempfile::tempdir().unwrap();
    let keep = TrainOptions {
        keep_checkpoint: true,
        ..TrainOptions::default()
    };
    let done = train(&config, &data, dir.path(), &keep).unwrap();
    assert_eq!(done.stop, StopReason::EarlyStopped);
    let before = params(dir.path());
    let err = train(
        &config,
        &data,
        dir.path(),
        &TrainOptions {
            resume: true,
            ..TrainOptions::default()
        },
    )
    .err()
    .expect("nothing to resume")
    .to_string();
    assert!(err.contains("already finished"), "{err}");
    assert_eq!(params(dir.path()), before);

    // Without --keep-checkpoint the finished run has none: the error says so and how to go on.
    let dropped = tempfile::tempdir().unwrap();
    train(&config, &data, dropped.path(), &TrainOptions::default()).unwrap();
    assert!(!dropped.path().join("checkpoint").exists());
    let resume = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    let err = train(&config, &data, dropped.path(), &resume)
        .err()
        .expect("no checkpoint")
        .to_string();
    assert!(
        err.contains("without its training checkpoint") && err.contains("textcnn finetune"),
        "{err}"
    );
}

/// The automatic patience (`patience` unset) waits about 300 optimizer steps, 1 or 2 epochs:
/// 19 batches an epoch get 2 epochs after the best one, 300 batches of one text get 1.
#[test]
fn automatic_patience_counts_epochs_by_their_batches() {
    let (tr, va) = (synthetic(300, 12), synthetic(40, 13));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    for (batch_size, patience) in [(16, 2), (1, 1)] {
        let config = TrainConfig {
            patience: None,
            epochs: Some(30),
            batch_size,
            ..small_config()
        };
        assert_eq!(
            config.patience_epochs(300usize.div_ceil(batch_size)),
            patience
        );
        let dir = tempfile::tempdir().unwrap();
        let out = train(&config, &data, dir.path(), &TrainOptions::default()).unwrap();
        assert_eq!(out.stop, StopReason::EarlyStopped, "batch {batch_size}");
        let best = out.best.as_ref().unwrap().epoch;
        assert_eq!(out.history.len(), best + patience, "batch {batch_size}");
        // Every epoch after the best one failed to improve it (the stopping rule's premise).
        let top = out.best.as_ref().unwrap().valid_acc;
        assert!(out.history[best..].iter().all(|m| m.valid_acc <= top));
    }
}

#[test]
fn a_diverging_loss_stops_with_epoch_step_and_advice() {
    let (tr, va) = (synthetic(64, 6), synthetic(20, 7));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let config = TrainConfig {
        lr: 1e30,
        optimizer: textcnn::nn::optim::OptimizerKind::Sgd,
        ..small_config()
    };
    let dir = tempfile::tempdir().unwrap();
    let err = train(&config, &data, dir.path(), &TrainOptions::default())
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("epoch 1, batch"), "{err}");
    assert!(err.contains("lower the learning rate"), "{err}");
}

#[test]
fn bundle_loading_rejects_edited_and_truncated_files() {
    let (tr, va) = (synthetic(64, 8), synthetic(20, 9));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let dir = tempfile::tempdir().unwrap();
    train(
        &TrainConfig {
            epochs: Some(1),
            ..small_config()
        },
        &data,
        dir.path(),
        &TrainOptions::default(),
    )
    .unwrap();
    Bundle::load(dir.path()).unwrap();
    let model = dir.path().join(bundle::MODEL_FILE);
    let original = std::fs::read(&model).unwrap();

    // Truncated tensor file.
    std::fs::write(&model, &original[..original.len() / 2]).unwrap();
    let err = format!("{:#}", Bundle::load(dir.path()).err().unwrap());
    assert!(err.contains("truncated"), "{err}");

    // A tensor with the wrong shape.
    let mut tensors: Vec<_> = {
        std::fs::write(&model, &original).unwrap();
        load_tensors(&model)
            .unwrap()
            .into_iter()
            .map(|(k, (s, v))| (k, s, v))
            .collect()
    };
    let fc = tensors.iter_mut().find(|t| t.0 == "fc.bias").unwrap();
    fc.1 = vec![1, 2];
    save_tensors(&model, &tensors).unwrap();
    let err = format!("{:#}", Bundle::load(dir.path()).err().unwrap());
    assert!(err.contains("fc.bias"), "{err}");

    // A vocabulary that no longer matches the config.
    std::fs::write(&model, &original).unwrap();
    let vocab = dir.path().join(bundle::VOCAB_FILE);
    let text = std::fs::read_to_string(&vocab).unwrap();
    std::fs::write(
        &vocab,
        text.lines().take(5).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let err = format!("{:#}", Bundle::load(dir.path()).err().unwrap());
    assert!(err.contains("vocab_size"), "{err}");
}

#[test]
fn ngram_branch_is_saved_deterministic_and_mixed_at_prediction() {
    use textcnn::ngram::{NGRAM_TENSORS_FILE, NGRAM_TOKENS_FILE, mix_probabilities};
    use textcnn::text::tokenize_all;
    use textcnn::train::ArchKind;
    let (tr, va, te) = (synthetic(300, 11), synthetic(80, 12), synthetic(60, 13));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: Some(&te),
    };
    let config = small_config();
    assert_eq!(config.arch, ArchKind::NgramCnn, "the default architecture");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    train(&config, &data, a.path(), &TrainOptions::default()).unwrap();
    train(&config, &data, b.path(), &TrainOptions::default()).unwrap();
    for f in [NGRAM_TENSORS_FILE, NGRAM_TOKENS_FILE] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f} differs between two runs with the same seed"
        );
    }
    let c = Classifier::load(a.path()).unwrap();
    let branch = c
        .bundle()
        .config
        .ngram
        .clone()
        .expect("an ngram-cnn bundle");
    assert_eq!(branch.model, "ngram-cnn");
    assert!(branch.num_features > 0 && branch.mix.cnn >= 0.0 && branch.mix.ngram >= 0.0);
    // The classifier's probabilities are exactly the mixture of the two branches.
    let texts: Vec<&str> = te.examples.iter().map(|e| e.text.as_str()).collect();
    let (encoded, got) = c.probabilities(&texts);
    let cnn =
        textcnn::predict::probabilities(&c.bundle().model, &encoded, c.pipeline().encode.min_len);
    let docs = tokenize_all(&c.pipeline().tokenizer, &texts);
    let ngram = c.bundle().ngram.as_ref().unwrap().probabilities(&docs);
    assert_eq!(got, mix_probabilities(&cnn, &ngram, branch.mix, 2));
    // A plain Kim run writes no n-gram branch.
    let k = tempfile::tempdir().unwrap();
    let kim = TrainConfig {
        arch: ArchKind::Kim,
        ..small_config()
    };
    train(&kim, &data, k.path(), &TrainOptions::default()).unwrap();
    assert!(!k.path().join(NGRAM_TENSORS_FILE).exists());
    assert!(
        Classifier::load(k.path())
            .unwrap()
            .bundle()
            .config
            .ngram
            .is_none()
    );
    // Tampered branches are refused with the file named.
    let cfg_path = a.path().join(bundle::CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["ngram"]["mix"]["cnn"] = serde_json::json!(-1.0);
    std::fs::write(&cfg_path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = Bundle::load(a.path()).err().unwrap();
    assert!(format!("{err:#}").contains("mix weights"), "{err:#}");
    std::fs::write(&cfg_path, text).unwrap();
    std::fs::remove_file(a.path().join(NGRAM_TENSORS_FILE)).unwrap();
    let err = Bundle::load(a.path()).err().unwrap();
    assert!(format!("{err:#}").contains(NGRAM_TENSORS_FILE), "{err:#}");
}

#[test]
fn the_ngram_architecture_is_the_branch_alone_with_no_network() {
    use textcnn::explain::Method;
    use textcnn::text::tokenize_all;
    use textcnn::train::{ArchKind, StartFrom, finetune_config};
    let (tr, va, te) = (synthetic(300, 31), synthetic(80, 32), synthetic(60, 33));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: Some(&te),
    };
    let config = TrainConfig {
        arch: ArchKind::Ngram,
        ..small_config()
    };
    let dir = tempfile::tempdir().unwrap();
    let outcome = train(&config, &data, dir.path(), &TrainOptions::default()).unwrap();
    // No epochs; the validation figure is the branch's own.
    assert!(outcome.history.is_empty() && outcome.best.is_none());
    let c = Classifier::load(dir.path()).unwrap();
    assert_eq!(c.bundle().model.architecture().num_params(), 0);
    assert!(c.bundle().model.embedding().is_none());
    let branch = c.bundle().config.ngram.clone().expect("the n-gram branch");
    assert_eq!((branch.mix.cnn, branch.mix.ngram), (0.0, 1.0));
    assert!(branch.validation.get("cnn").is_none());
    assert_eq!(outcome.ngram_valid, branch.validation["ngram"].as_f64());
    // Its probabilities are exactly the branch's.
    let texts: Vec<&str> = te.examples.iter().map(|e| e.text.as_str()).collect();
    let (_, got) = c.probabilities(&texts);
    let docs = tokenize_all(&c.pipeline().tokenizer, &texts);
    assert_eq!(got, c.bundle().ngram.as_ref().unwrap().probabilities(&docs));
    // The cue words decide: every test text is right.
    let targets = c.head().targets(&te, c.labels()).unwrap().0;
    let (_, scores) = c.evaluate(&texts, &targets);
    assert_eq!(scores.figures()[0], ("accuracy", 1.0));
    // The explanation is the n-gram branch's exact decomposition.
    let e = c.explain(texts[0], None).unwrap();
    assert_eq!(e.method, Method::Exact);
    let sum: f64 = e.windows.iter().map(|w| w.contribution as f64).sum();
    assert!(
        (sum + e.bias.unwrap() as f64 - e.logit as f64).abs() < 1e-4,
        "{e:?}"
    );
    // Fine-tuning refits the branch on the new texts; data lacking a label is refused.
    let start = StartFrom::load(dir.path(), false).unwrap();
    let ft = finetune_config(&start.bundle);
    let out = tempfile::tempdir().unwrap();
    let options = TrainOptions {
        start_from: Some(start),
        ..TrainOptions::default()
    };
    let (tr2, va2) = (synthetic(100, 34), synthetic(40, 35));
    let data2 = TrainData {
        train: &tr2,
        valid: &va2,
        test: None,
    };
    train(&ft, &data2, out.path(), &options).unwrap();
    assert!(Bundle::load(out.path()).unwrap().ngram.is_some());
    let pos_only = |d: &Dataset| Dataset {
        examples: d
            .examples
            .iter()
            .filter(|e| e.label() == "pos")
            .cloned()
            .collect(),
        ..d.clone()
    };
    let (tr3, va3) = (pos_only(&tr2), pos_only(&va2));
    let data3 = TrainData {
        train: &tr3,
        valid: &va3,
        test: None,
    };
    let start = StartFrom::load(dir.path(), false).unwrap();
    let options = TrainOptions {
        start_from: Some(start),
        ..TrainOptions::default()
    };
    let out3 = tempfile::tempdir().unwrap();
    let err = train(&ft, &data3, out3.path(), &options).err().unwrap();
    assert!(format!("{err:#}").contains("every label"), "{err:#}");
}

#[test]
fn finetuning_on_data_without_every_label_drops_the_ngram_branch() {
    use textcnn::train::{StartFrom, finetune_config};
    let (tr, va) = (synthetic(200, 21), synthetic(60, 22));
    let parent = tempfile::tempdir().unwrap();
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    train(
        &small_config(),
        &data,
        parent.path(),
        &TrainOptions::default(),
    )
    .unwrap();
    assert!(Bundle::load(parent.path()).unwrap().ngram.is_some());
    let finetune = |keep: &dyn Fn(&Example) -> bool| {
        let only = |d: &Dataset| Dataset {
            examples: d.examples.iter().filter(|e| keep(e)).cloned().collect(),
            ..d.clone()
        };
        let (tr2, va2) = (only(&synthetic(100, 23)), only(&synthetic(40, 24)));
        let out = tempfile::tempdir().unwrap();
        let start = StartFrom::load(parent.path(), false).unwrap();
        let mut config = finetune_config(&start.bundle);
        config.epochs = Some(1);
        let options = TrainOptions {
            start_from: Some(start),
            ..TrainOptions::default()
        };
        let data = TrainData {
            train: &tr2,
            valid: &va2,
            test: None,
        };
        train(&config, &data, out.path(), &options).unwrap();
        Bundle::load(out.path()).unwrap()
    };
    // New data with both labels: the branch is refitted and kept.
    assert!(finetune(&|_| true).ngram.is_some());
    // New data with positive examples only: the branch would forget "neg"; it is dropped.
    let child = finetune(&|e| e.label() == "pos");
    assert!(child.ngram.is_none() && child.config.ngram.is_none());
    assert_eq!(child.config.labels, vec!["neg", "pos"]);
}

#[test]
fn config_listing_ngram_files_without_the_branch_is_refused() {
    let (tr, va) = (synthetic(200, 31), synthetic(60, 32));
    let dir = tempfile::tempdir().unwrap();
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    train(&small_config(), &data, dir.path(), &TrainOptions::default()).unwrap();
    let path = dir.path().join(bundle::CONFIG_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("ngram");
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = Bundle::load(dir.path()).err().unwrap();
    assert!(format!("{err:#}").contains("no \"ngram\""), "{err:#}");
}
