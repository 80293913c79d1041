//! The conv2d architecture through the library's training loop on a small synthetic task:
//! train → save → reload → predict, interrupt + resume, the seed preset and TOML settings.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::common::{NEG, POS, synthetic_with};
use textcnn::bundle::{self, Architecture, Bundle, load_tensors};
use textcnn::data::Dataset;
use textcnn::model::{Conv2dConfig, InitScheme, PoolKind};
use textcnn::predict::Classifier;
use textcnn::train::{ArchKind, StopReason, TrainConfig, TrainData, TrainOptions, train};

/// Texts made of filler words plus one sentiment word; the label follows the sentiment word.
/// Examples `2m` and `2m + 1` share their filler words and cue position, so (unlike the generator
/// of `tests/train_loop.rs`, whose filler patterns happen to predict the label with a
/// seed-dependent sign) only the sentiment word carries the label: a position-sensitive model
/// such as conv2d cannot succeed by memorizing filler positions.
fn synthetic(n: usize, seed: usize) -> Dataset {
    synthetic_with(
        n,
        format!("synthetic-{seed}"),
        |i| (i / 2) * 7 + seed * 13,
        |i| if i % 2 == 0 { "pos" } else { "neg" },
        |i, k| if i % 2 == 0 { POS[k % 3] } else { NEG[k % 3] },
    )
}

fn small_config() -> TrainConfig {
    TrainConfig {
        arch: ArchKind::Conv2d,
        conv2d_blocks: vec!["3x4:max2".into()],
        hidden: vec![16],
        epochs: Some(4),
        batch_size: 16,
        emb_dim: 8,
        max_len: 16,
        dropout: 0.2,
        patience: Some(10),
        threads: 2,
        lr: 3e-3,
        ..TrainConfig::default()
    }
}

/// Trains `config` on `n` synthetic examples (`seed`) validated on `n / 4` others (`seed + 1`)
/// into a fresh temporary directory.
fn train_synthetic(config: &TrainConfig, n: usize, seed: usize) -> tempfile::TempDir {
    let (tr, va) = (synthetic(n, seed), synthetic(n / 4, seed + 1));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let dir = tempfile::tempdir().unwrap();
    train(config, &data, dir.path(), &TrainOptions::default()).unwrap();
    dir
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
fn conv2d_trains_saves_reloads_and_predicts() {
    let (tr, va, te) = (synthetic(3000, 1), synthetic(100, 2), synthetic(100, 3));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: Some(&te),
    };
    let dir = tempfile::tempdir().unwrap();
    let out = train(&small_config(), &data, dir.path(), &TrainOptions::default()).unwrap();
    assert_eq!(out.stop, StopReason::Completed);
    let acc = out.test.as_ref().unwrap().headline();
    assert!(acc > 0.9, "test accuracy {acc}");
    let b = Bundle::load(dir.path()).unwrap();
    let Architecture::Conv2d(cfg) = &b.config.architecture else {
        panic!("not a conv2d bundle: {:?}", b.config.architecture);
    };
    assert_eq!((cfg.seq_len, cfg.hidden.clone()), (16, vec![16]));
    // Every text is padded (or cut) to exactly seq_len.
    assert_eq!((b.config.encode.min_len, b.config.encode.max_len), (16, 16));
    let c = Classifier::from_bundle(b).unwrap();
    let texts: Vec<&str> = te.examples.iter().map(|e| e.text.as_str()).collect();
    let preds = c.predict(&texts);
    let correct = preds
        .iter()
        .zip(&te.examples)
        .filter(|(p, e)| p.label == e.label())
        .count();
    assert_eq!(correct as f64 / te.len() as f64, acc);
    // A long text is cut to seq_len and still classified; an empty one too.
    let long = "great ".repeat(100);
    let p = c.predict(&[long.as_str(), ""]);
    assert!(p[0].truncated && p[0].label == "pos", "{:?}", p[0]);
    assert!((p[1].probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn conv2d_interrupted_then_resumed_run_equals_an_uninterrupted_one() {
    let (tr, va) = (synthetic(200, 4), synthetic(40, 5));
    let data = TrainData {
        train: &tr,
        valid: &va,
        test: None,
    };
    let config = TrainConfig {
        epochs: Some(2),
        conv2d_blocks: vec!["3x4:avg2".into(), "3x2".into()],
        ..small_config()
    };
    let straight = tempfile::tempdir().unwrap();
    train(&config, &data, straight.path(), &TrainOptions::default()).unwrap();
    let resumed = tempfile::tempdir().unwrap();
    let stop_now = TrainOptions {
        interrupt: Some(Arc::new(AtomicBool::new(true))),
        ..TrainOptions::default()
    };
    let first = train(&config, &data, resumed.path(), &stop_now).unwrap();
    assert_eq!(first.stop, StopReason::Interrupted);
    train(
        &config,
        &data,
        resumed.path(),
        &TrainOptions {
            resume: true,
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(params(straight.path()), params(resumed.path()));
}

#[test]
fn seed_preset_and_toml_settings() {
    let mut c = TrainConfig::default();
    c.apply_seed_preset();
    assert_eq!(c.arch, ArchKind::Conv2d);
    assert_eq!(
        (c.emb_dim, c.batch_size, c.epochs, c.vocab_size),
        (100, 32, Some(10), 10_000)
    );
    assert_eq!(c.conv2d_blocks, vec!["3x64:max2".to_string()]);
    assert_eq!(c.hidden, vec![64]);
    let e = c.encode();
    assert_eq!(e.min_len, e.max_len);
    c.validate().unwrap();
    let Architecture::Conv2d(a) = c.architecture(10_002, 2) else {
        panic!()
    };
    assert_eq!(a.num_features(), 64 * (c.max_len / 2) * 50);
    assert_eq!(a.init, InitScheme::Keras);

    // `init` is a config key; a bundle config written before it existed reads as torch.
    let t: TrainConfig = toml::from_str("arch = \"conv2d\"\ninit = \"torch\"\n").unwrap();
    assert_eq!(t.init, InitScheme::Torch);
    assert!(toml::from_str::<TrainConfig>("init = \"xavier\"\n").is_err());

    // `arch = "seed"` in a config file is the preset, with the file's other keys on top.
    let s = TrainConfig::from_toml_str(
        "arch = \"seed\"\nepochs = 3\nhidden = [32]\n[tokenizer]\nlowercase = false\n",
    )
    .unwrap();
    let mut want = TrainConfig::default();
    want.apply_seed_preset();
    want.epochs = Some(3);
    want.hidden = vec![32];
    want.tokenizer.lowercase = false;
    assert_eq!(s, want);
    let err = format!(
        "{:#}",
        TrainConfig::from_toml_str("arch = \"seed\"\nepoch = 3\n").unwrap_err()
    );
    assert!(err.contains("unknown field `epoch`"), "{err}");
    let err = format!(
        "{:#}",
        TrainConfig::from_toml_str("epochs = 2\narch = \"seeds\"\n").unwrap_err()
    );
    assert_eq!(
        err,
        "line 2: arch = \"seeds\": expected \"ngram-cnn\", \"kim\", \"conv2d\", \"ngram\" or \"seed\""
    );
    // With the preset, a typo is still reported at its line.
    let err = format!(
        "{:#}",
        TrainConfig::from_toml_str("arch = \"seed\"\nemb_dim = 8\nhiden = [4]\n").unwrap_err()
    );
    assert!(
        err.contains("line 3") && err.contains("unknown field `hiden`"),
        "{err}"
    );
    let mut json = serde_json::to_value(&a).unwrap();
    json.as_object_mut().unwrap().remove("init");
    let legacy: Conv2dConfig = serde_json::from_value(json).unwrap();
    assert_eq!(legacy.init, InitScheme::Torch);

    let t: TrainConfig = toml::from_str(
        "arch = \"conv2d\"\nconv2d_blocks = [\"3x8:2\", \"5x4:max3\"]\nhidden = [32, 16]\npool = \"avg\"\nmax_len = 60\n",
    )
    .unwrap();
    let blocks = t.blocks().unwrap();
    assert_eq!(blocks[0].pool_kind, PoolKind::Avg);
    assert_eq!(blocks[1].pool_kind, PoolKind::Max);
    t.validate().unwrap();
    // Configs without `arch` get the default, the Kim CNN with the n-gram branch.
    let old: TrainConfig = toml::from_str("epochs = 3\n").unwrap();
    assert_eq!(old.arch, ArchKind::NgramCnn);
    let bad = TrainConfig {
        conv2d_blocks: vec!["3y8".into()],
        ..t
    };
    let err = format!("{:#}", bad.validate().unwrap_err());
    assert!(err.contains("3y8"), "{err}");
}

#[test]
fn absurd_sizes_are_refused_before_any_allocation() {
    // Counts that overflow: a clear error, not a panic.
    for bad in [
        TrainConfig {
            hidden: vec![usize::MAX],
            ..small_config()
        },
        TrainConfig {
            conv2d_blocks: vec![format!("3x{}:max1", 1usize << 62)],
            ..small_config()
        },
        TrainConfig {
            max_len: 1 << 62,
            ..small_config()
        },
        TrainConfig {
            emb_dim: 1 << 40,
            feature_maps: 1 << 40,
            ..TrainConfig::default()
        },
    ] {
        let err = format!("{:#}", bad.validate().unwrap_err());
        assert!(err.contains("too large"), "{err}");
    }
    // A kernel larger than its input in both directions.
    let err = format!(
        "{:#}",
        TrainConfig {
            conv2d_blocks: vec!["99x4:max2".into()],
            ..small_config()
        }
        .validate()
        .unwrap_err()
    );
    assert!(
        err.contains("a 99x99 kernel is larger than its 16x8 input"),
        "{err}"
    );
    // 10^8 hidden units on 4·8·4 = 128 features: with the 2-word vocabulary of the early check,
    // 2·8 + (4·9 + 4) + (128·10^8 + 10^8) + (2·10^8 + 2) = 13,100,000,058 parameters, 16 bytes
    // each with gradients and Adam's moments. The check compares with /proc/meminfo, where
    // there is one.
    let huge = TrainConfig {
        hidden: vec![100_000_000],
        ..small_config()
    };
    if std::path::Path::new("/proc/meminfo").exists() {
        let err = format!("{:#}", huge.validate().unwrap_err());
        assert!(
            err.contains("needs at least")
                && err.contains("(13100000058 parameters with gradients and Adam state: 209.6 GB;"),
            "{err}"
        );
    }
    // A large vocabulary cap is no problem: the real vocabulary is what gets allocated.
    TrainConfig {
        vocab_size: usize::MAX,
        ..small_config()
    }
    .validate()
    .unwrap();
}

#[test]
fn arch_seed_flag_keeps_the_config_file_on_top_of_the_preset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "emb_dim = 16\nmax_len = 32\nhidden = []\n").unwrap();
    let mut preset = TrainConfig::default();
    preset.apply_seed_preset();
    let c = TrainConfig::from_toml_file_over(&path, &preset).unwrap();
    assert_eq!((c.emb_dim, c.max_len, c.hidden.clone()), (16, 32, vec![]));
    assert_eq!((c.batch_size, c.vocab_size), (32, 10_000));
    // Errors still carry the line.
    std::fs::write(&path, "emb_dim = 16\nepochz = 3\n").unwrap();
    let err = format!(
        "{:#}",
        TrainConfig::from_toml_file_over(&path, &preset).unwrap_err()
    );
    assert!(err.contains("line 2") && err.contains("epochz"), "{err}");
}

#[test]
fn tampered_conv2d_bundles_are_refused_with_the_reason() {
    let config = TrainConfig {
        epochs: Some(1),
        ..small_config()
    };
    let dir = train_synthetic(&config, 200, 6);
    let path = dir.path().join(bundle::CONFIG_FILE);
    let original = std::fs::read_to_string(&path).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
        f(&mut v);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        format!(
            "{:#}",
            Bundle::load(dir.path()).err().expect("load must fail")
        )
    };
    let err = edit(&|v| v["encode"]["max_len"] = 64.into());
    assert!(
        err.contains("pads and cuts texts to 16..64 tokens")
            && err.contains("reads exactly seq_len = 16"),
        "{err}"
    );
    let err = edit(&|v| v["architecture"]["seq_len"] = 0.into());
    assert!(err.contains("seq_len must be >= 1"), "{err}");
    let err = edit(&|v| v["architecture"]["init"] = "xavier".into());
    assert!(
        err.contains("unknown variant `xavier`") && err.contains("line "),
        "{err}"
    );
    std::fs::write(&path, &original).unwrap();
    Bundle::load(dir.path()).unwrap();
}

#[test]
fn lr_decay_multiplies_the_learning_rate_after_every_epoch() {
    let config = TrainConfig {
        epochs: Some(3),
        lr: 4e-3,
        lr_decay: 0.5,
        ..small_config()
    };
    let dir = train_synthetic(&config, 64, 8);
    let metrics = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let lrs: Vec<f64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["lr"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(lrs.len(), 3);
    for (got, want) in lrs.iter().zip([4e-3, 2e-3, 1e-3]) {
        assert!((got - want).abs() < 1e-9, "{lrs:?}");
    }
}
