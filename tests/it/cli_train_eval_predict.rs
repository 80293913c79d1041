//! End to end through the `textcnn` binary on a small IMDB subset from `../shared/data/imdb`:
//! train, check the accuracy is well above chance, reload the bundle in a fresh process and
//! check it predicts exactly what the library predicts; then the commands' bad-input errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use textcnn::data::{Dataset, ReadOptions, load_dataset, stratified_split};
use textcnn::predict::Classifier;

fn data_dir() -> PathBuf {
    std::env::var_os("TEXTCNN_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/imdb"))
}

fn textcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(args)
        .env("TEXTCNN_DATA_DIR", data_dir())
        .output()
        .expect("run textcnn")
}

/// Runs textcnn with `args` and checks that it fails with `needle` in its standard error.
fn fails_with(args: &[&str], needle: &str) {
    let o = textcnn(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A stratified sample of `fraction` of an IMDB split, written as JSONL.
fn write_sample(split: &str, fraction: f64, path: &Path) -> Dataset {
    let opts = ReadOptions {
        data_dir: Some(data_dir()),
        ..ReadOptions::default()
    };
    let full = load_dataset(split, &opts).unwrap();
    let (_, sample) = stratified_split(&full, fraction, 7);
    let mut text = String::new();
    for e in &sample.examples {
        text.push_str(&serde_json::json!({ "text": e.text, "label": e.label() }).to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
    sample
}

#[test]
fn trains_on_an_imdb_subset_and_predicts_identically_after_reload() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.jsonl");
    let test = dir.path().join("test.jsonl");
    write_sample("imdb:train", 0.12, &train); // 3,000 reviews
    let test_ds = write_sample("imdb:test", 0.04, &test); // 1,000 reviews
    let model = dir.path().join("model");
    let o = textcnn(&[
        "train",
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--output",
        model.to_str().unwrap(),
        "--epochs",
        "3",
        "--max-len",
        "200",
        "--seed",
        "1",
        "--quiet",
    ]);
    assert!(o.status.success(), "train failed:\n{}", stderr(&o));
    for f in [
        "model.safetensors",
        "config.json",
        "vocab.txt",
        "metrics.jsonl",
        "report.json",
    ] {
        assert!(model.join(f).is_file(), "missing {f}");
    }
    let metrics = std::fs::read_to_string(model.join("metrics.jsonl")).unwrap();
    assert!(!metrics.lines().collect::<Vec<_>>().is_empty());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("report.json")).unwrap()).unwrap();
    let acc = report["report"]["accuracy"].as_f64().unwrap();
    assert!(acc > 0.70, "test accuracy {acc} is not well above chance");

    // eval in a fresh process reports the same accuracy as training did.
    let o = textcnn(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let eval: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(eval["report"]["accuracy"].as_f64().unwrap(), acc);
    assert_eq!(eval["examples"].as_u64().unwrap(), test_ds.len() as u64);

    // predict in a fresh process == library in this process, line by line, empty line kept.
    let texts: Vec<&str> = test_ds
        .examples
        .iter()
        .take(50)
        .map(|e| e.text.as_str())
        .collect();
    let mut input = texts
        .iter()
        .map(|t| t.replace('\n', " "))
        .collect::<Vec<_>>()
        .join("\n");
    input.push_str("\n\n");
    let input_path = dir.path().join("input.txt");
    std::fs::write(&input_path, &input).unwrap();
    let o = textcnn(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input_path.to_str().unwrap(),
        "--json",
        "--top-k",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 51);
    assert_eq!(lines[50]["error"], "empty text");
    let classifier = Classifier::load(&model).unwrap();
    let flat: Vec<String> = texts.iter().map(|t| t.replace('\n', " ")).collect();
    let refs: Vec<&str> = flat.iter().map(|s| s.as_str()).collect();
    let preds = classifier.predict(&refs);
    for (line, p) in lines.iter().zip(&preds) {
        assert_eq!(line["label"], p.label.as_str());
        let prob = line["probability"].as_f64().unwrap();
        assert!(
            (prob - p.probability as f64).abs() <= 1e-6,
            "{prob} vs {}",
            p.probability
        );
        assert_eq!(line["top_k"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn commands_fail_with_clear_errors_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let o = textcnn(&[
        "eval",
        "--model",
        missing.to_str().unwrap(),
        "--data",
        "imdb:test",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));

    let one_class = dir.path().join("one.jsonl");
    std::fs::write(
        &one_class,
        "{\"text\": \"good\", \"label\": \"pos\"}\n{\"text\": \"fine\", \"label\": \"pos\"}\n",
    )
    .unwrap();
    let out = dir.path().join("m");
    let o = textcnn(&[
        "train",
        "--train",
        one_class.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("at least 2"), "{}", stderr(&o));
    // Metrics of label sets exist for multi-label runs only.
    for metric in ["jaccard", "subset-acc"] {
        let o = textcnn(&[
            "train",
            "--train",
            one_class.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--metric",
            metric,
        ]);
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(
            e.contains(&format!("--metric {metric} scores label sets")),
            "{e}"
        );
        assert!(!out.join("config.json").exists());
    }

    let o = textcnn(&[
        "train",
        "--train",
        "x.csv",
        "--output",
        "y",
        "--dropout",
        "1.5",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--dropout"), "{}", stderr(&o));

    // Flags of the other architecture are refused, not silently ignored.
    let train_y = ["train", "--train", "x.csv", "--output", "y"];
    fails_with(
        &[&train_y[..], &["--hidden", "32", "--init", "torch"]].concat(),
        "--hidden, --init apply only to --arch conv2d",
    );
    fails_with(
        &[&train_y[..], &["--arch", "seed", "--region-sizes", "3,4"]].concat(),
        "--region-sizes applies only to --arch kim",
    );
    fails_with(
        &[&train_y[..], &["--lr-decay", "1.5"]].concat(),
        "--lr-decay must be in (0, 1], got 1.5",
    );

    // eval on data with a label the model does not know names that label.
    let train_file = dir.path().join("tiny.jsonl");
    let rows: Vec<String> = (0..40)
        .map(|i| {
            let (text, label) = if i % 2 == 0 {
                ("a great fine film", "pos")
            } else {
                ("an awful dull film", "neg")
            };
            serde_json::json!({ "text": text, "label": label }).to_string()
        })
        .collect();
    std::fs::write(&train_file, rows.join("\n") + "\n").unwrap();
    let tiny = dir.path().join("tiny");
    let o = textcnn(&[
        "train",
        "--train",
        train_file.to_str().unwrap(),
        "--output",
        tiny.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let unknown = dir.path().join("unknown.jsonl");
    std::fs::write(&unknown, "{\"text\": \"so so\", \"label\": \"neutral\"}\n").unwrap();
    let o = textcnn(&[
        "eval",
        "--model",
        tiny.to_str().unwrap(),
        "--data",
        unknown.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("\"neutral\""), "{}", stderr(&o));
    // Training again into a directory that holds a model is refused (nothing the user had is lost).
    let o = textcnn(&[
        "train",
        "--train",
        train_file.to_str().unwrap(),
        "--output",
        tiny.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already holds a model"),
        "{}",
        stderr(&o)
    );
    // The run finished: the way on is fine-tuning, not `--resume` (which has nothing to do).
    assert!(
        stderr(&o).contains("textcnn finetune --model") && !stderr(&o).contains("--resume"),
        "{}",
        stderr(&o)
    );
    // Nor into a non-empty directory without a model, nor onto a file.
    let occupied = dir.path().join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::write(occupied.join("vocab.txt"), "mine").unwrap();
    let o = textcnn(&[
        "train",
        "--train",
        train_file.to_str().unwrap(),
        "--output",
        occupied.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(occupied.join("vocab.txt")).unwrap(),
        "mine"
    );
    let o = textcnn(&[
        "train",
        "--train",
        train_file.to_str().unwrap(),
        "--output",
        train_file.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(stderr(&o).contains("is a file"), "{}", stderr(&o));
    // --resume takes the recorded settings; other flags are refused, not silently ignored.
    let o = textcnn(&[
        "train",
        "--resume",
        tiny.to_str().unwrap(),
        "--epochs",
        "5",
        "--lr",
        "0.1",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("drop --epochs, --lr"), "{}", stderr(&o));
    let o = textcnn(&[
        "eval",
        "--model",
        train_file.to_str().unwrap(),
        "--data",
        unknown.to_str().unwrap(),
    ]);
    assert!(stderr(&o).contains("is a file"), "{}", stderr(&o));
    // A bundle whose weights hold NaN is refused at load time.
    let nan_model = dir.path().join("nan");
    std::fs::create_dir_all(&nan_model).unwrap();
    for f in ["config.json", "vocab.txt"] {
        std::fs::copy(tiny.join(f), nan_model.join(f)).unwrap();
    }
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> =
        textcnn::bundle::load_tensors(&tiny.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(k, (s, v))| (k, s, v))
            .collect();
    tensors.iter_mut().find(|t| t.0 == "fc.bias").unwrap().2[0] = f32::NAN;
    textcnn::bundle::save_tensors(&nan_model.join("model.safetensors"), &tensors).unwrap();
    let o = textcnn(&[
        "eval",
        "--model",
        nan_model.to_str().unwrap(),
        "--data",
        unknown.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("fc.bias holds a non-finite value"),
        "{}",
        stderr(&o)
    );
    // A Kim bundle whose encoding pads texts beyond its widest region (which would pad every
    // text to that length) is refused at load time.
    let padded = dir.path().join("padded");
    std::fs::create_dir_all(&padded).unwrap();
    for f in ["model.safetensors", "vocab.txt"] {
        std::fs::copy(tiny.join(f), padded.join(f)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tiny.join("config.json")).unwrap()).unwrap();
    config["encode"]["min_len"] = 100_000_000.into();
    config["encode"]["max_len"] = 100_000_000.into();
    std::fs::write(padded.join("config.json"), config.to_string()).unwrap();
    fails_with(
        &["predict", "--model", padded.to_str().unwrap()],
        "\"encode\" has min_len 100000000 and max_len 100000000, but a Kim model pads texts to its widest region size, 5",
    );
    // Single-example classes leave nothing for validation: an error, not accuracy 0.
    let singles = dir.path().join("singles.txt");
    std::fs::write(&singles, "__label__a x y\n__label__b z w\n").unwrap();
    let out = dir.path().join("s");
    fails_with(
        &[
            "train",
            "--train",
            singles.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
        "singles.txt (validation part) has no examples",
    );

    // predict reads standard input by default and checks its flags.
    let o = textcnn(&["predict", "--model", tiny.to_str().unwrap(), "--top-k", "0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--top-k"), "{}", stderr(&o));

    // A bundle of an unknown format version is reported as such.
    let bundle = dir.path().join("b");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), "{\"format_version\": 99}").unwrap();
    let o = textcnn(&[
        "predict",
        "--model",
        bundle.to_str().unwrap(),
        "--input",
        "-",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("format version 99"), "{}", stderr(&o));
}

#[test]
fn hidden_none_trains_a_conv2d_model_without_a_hidden_layer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t.ft");
    let lines: String = (0..40)
        .map(|i| format!("__label__pos great fun {i}\n__label__neg dull awful {i}\n"))
        .collect();
    std::fs::write(&data, lines).unwrap();
    let model = dir.path().join("m");
    let args = |hidden: &'static str| {
        vec![
            "train".to_string(),
            "--train".into(),
            data.to_str().unwrap().into(),
            "--output".into(),
            model.to_str().unwrap().into(),
            "--arch".into(),
            "conv2d".into(),
            "--emb-dim".into(),
            "8".into(),
            "--max-len".into(),
            "8".into(),
            "--conv2d-blocks".into(),
            "3x2:max2".into(),
            "--hidden".into(),
            hidden.into(),
            "--epochs".into(),
            "1".into(),
            "--quiet".into(),
        ]
    };
    let run = |hidden| {
        let a = args(hidden);
        textcnn(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run("none");
    assert!(o.status.success(), "{}", stderr(&o));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architecture"]["hidden"], serde_json::json!([]));
    // 2 maps · 4 · 4 = 32 features straight into the 2-class output layer.
    let tensors = textcnn::bundle::load_tensors(&model.join("model.safetensors")).unwrap();
    assert_eq!(tensors["fc.weight"].0, vec![2, 32]);
    assert!(!tensors.contains_key("hidden0.weight"));
    let o = run("8,x");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("\"x\" is not a layer width"),
        "{}",
        stderr(&o)
    );
}

/// Issue 18, item 1: a `--max-len` below the widest region size trained to the end a bundle
/// that no command could load; it is refused before any data is read (the training file here
/// does not exist).
#[test]
fn max_len_below_the_widest_region_is_refused_before_reading_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let out = out.to_str().unwrap();
    let base = ["train", "--train", "missing.jsonl", "--output", out];
    fails_with(
        &[&base[..], &["--max-len", "4"]].concat(),
        "--max-len 4 is shorter than the widest region size 5 (--region-sizes 3,4,5, or \
         1,2,3,4,5 for kim, or multi-label ngram-cnn, below 20,000 training texts unless given)",
    );
    fails_with(
        &[&base[..], &["--region-sizes", "60", "--max-len", "50"]].concat(),
        "--max-len 50 is shorter than the widest region size 60",
    );
    assert!(!dir.path().join("m").exists());
}

/// Trains a one-epoch Kim model on 40 fastText lines whose two classes are told apart by
/// `words` (pos, neg) and returns its directory.
fn tiny_model(dir: &Path, name: &str, words: [&str; 2], extra: &[&str]) -> PathBuf {
    let data = dir.join(format!("{name}.ft"));
    let lines: String = (0..20)
        .map(|i| {
            format!(
                "__label__pos {} film {i}\n__label__neg {} film {i}\n",
                words[0], words[1]
            )
        })
        .collect();
    std::fs::write(&data, lines).unwrap();
    let model = dir.join(name);
    let o = textcnn(
        &[
            &[
                "train",
                "--train",
                data.to_str().unwrap(),
                "--output",
                model.to_str().unwrap(),
                "--epochs",
                "1",
                "--emb-dim",
                "8",
                "--feature-maps",
                "4",
                "--quiet",
            ][..],
            extra,
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    model
}

/// Issue 18, items 4 and 9: `config.json` records the SHA-256 of `vocab.txt` and
/// `model.safetensors`. Another model's vocabulary of the same size (which flipped predictions)
/// and weights of another save (a kill between two renames left epoch-2 weights under an
/// epoch-1 config) are refused, naming the file.
#[test]
fn a_bundle_with_another_models_vocabulary_or_weights_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The same vocabulary size (4 words + <pad>, <unk>), other words and order.
    let cap = ["--vocab-size", "4"];
    let a = tiny_model(dir.path(), "a", ["good", "bad"], &cap);
    let b = tiny_model(
        dir.path(),
        "b",
        ["nice", "awful"],
        &[&cap[..], &["--seed", "7"]].concat(),
    );
    assert_ne!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(b.join("model.safetensors")).unwrap()
    );
    let size = |m: &Path| {
        std::fs::read_to_string(m.join("vocab.txt"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(size(&a), size(&b));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("config.json")).unwrap()).unwrap();
    assert!(
        config["files"]["vocab.txt"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{config}"
    );
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "good film\n").unwrap();
    let input = input.to_str().unwrap();
    // A copy of a loads; with b's vocabulary, or b's weights, it does not.
    for (file, needle) in [
        ("vocab.txt", "vocab.txt is not the file"),
        ("model.safetensors", "model.safetensors is not the file"),
        ("ngram.safetensors", "ngram.safetensors is not the file"),
        ("ngram_tokens.txt", "ngram_tokens.txt is not the file"),
    ] {
        let mixed = dir.path().join(format!("mixed-{file}"));
        std::fs::create_dir(&mixed).unwrap();
        for f in [
            "config.json",
            "vocab.txt",
            "model.safetensors",
            "ngram.safetensors",
            "ngram_tokens.txt",
        ] {
            std::fs::copy(a.join(f), mixed.join(f)).unwrap();
        }
        let o = textcnn(&[
            "predict",
            "--model",
            mixed.to_str().unwrap(),
            "--input",
            input,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::copy(b.join(file), mixed.join(file)).unwrap();
        fails_with(
            &[
                "predict",
                "--model",
                mixed.to_str().unwrap(),
                "--input",
                input,
            ],
            needle,
        );
        fails_with(
            &[
                "predict",
                "--model",
                mixed.to_str().unwrap(),
                "--input",
                input,
            ],
            // A complete bundle (format 2) with a file of another: not a crash (a save killed
            // before its config leaves a bundle refused as unfinished), so no --resume.
            "restore it or train the model again",
        );
    }
}

/// 40 fastText lines of two classes, for runs that must get past reading the data.
fn tiny_data(dir: &Path) -> PathBuf {
    let data = dir.join("tiny.ft");
    let lines: String = (0..20)
        .map(|i| format!("__label__pos good film {i}\n__label__neg bad film {i}\n"))
        .collect();
    std::fs::write(&data, lines).unwrap();
    data
}

/// Issue 18, item 7: two trainings into the same new `--output` both reported "model saved";
/// one model was lost. A training locks its output directory; a second one is refused while
/// the first holds it (here the test holds the lock).
#[test]
fn a_second_training_into_a_locked_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_data(dir.path());
    let out = dir.path().join("m");
    std::fs::create_dir(&out).unwrap();
    let lock = std::fs::File::create(out.join(".textcnn.lock")).unwrap();
    lock.lock().unwrap();
    let args = [
        "train",
        "--train",
        data.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ];
    fails_with(&args, "is in use by another training");
    assert!(!out.join("config.json").exists());
    drop(lock);
    let o = textcnn(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("config.json").is_file());
}

/// Issue 18, item 8: an unwritable `--output` was discovered only after the first epoch. It is
/// refused before the data is read (the training file here does not exist).
#[test]
fn an_unwritable_output_is_refused_before_training() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Under a file: no one, root included, can create it.
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let mut outputs = vec![file.join("sub")];
    // A read-only directory (root writes there anyway).
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), b"").is_err() {
        outputs.extend([ro.clone(), ro.join("sub")]);
    }
    for out in outputs {
        let o = textcnn(&[
            "train",
            "--train",
            "missing.jsonl",
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(
            err.contains("is not writable") || err.contains("cannot create the output"),
            "{err}"
        );
        assert!(!err.contains("missing.jsonl"), "{err}");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Issue 18, item 10: a crash during the first save left only hidden `.tmp` files; `--resume`
/// said there was no checkpoint and a new `train` said the folder "is not empty" though `ls`
/// showed nothing. Both now say what was found; `train` removes the leftovers and runs.
#[test]
fn leftovers_of_a_crashed_first_save_are_named_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_data(dir.path());
    let out = dir.path().join("m");
    std::fs::create_dir_all(out.join("checkpoint")).unwrap();
    std::fs::write(out.join(".model.safetensors.4242.tmp"), b"half a file").unwrap();
    std::fs::write(out.join("checkpoint/.state.json.4242.tmp"), b"{").unwrap();
    fails_with(
        &["train", "--resume", out.to_str().unwrap()],
        "holds only temporary files of an interrupted save (.model.safetensors.4242.tmp)",
    );
    let o = textcnn(&[
        "train",
        "--train",
        data.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("only what an interrupted run left behind"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join(".model.safetensors.4242.tmp").exists());
    assert!(out.join("config.json").is_file());
    // A hidden file of the user's is not a leftover: the folder is refused and the file kept.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join(".notes.tmp"), b"keep").unwrap();
    fails_with(
        &[
            "train",
            "--train",
            data.to_str().unwrap(),
            "--output",
            mine.to_str().unwrap(),
        ],
        "is a directory that is not empty (it holds .notes.tmp)",
    );
    assert_eq!(std::fs::read(mine.join(".notes.tmp")).unwrap(), b"keep");
}

/// Issue 18, item 11: huge but finite weights gave NaN probabilities; predict printed "none"
/// and exited 0 (serve answered 200). A bundle with which some input could push the logits out
/// of f32's range is refused on load, by every command.
#[test]
fn weights_too_large_for_finite_logits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = tiny_model(dir.path(), "a", ["good", "bad"], &[]);
    let huge = dir.path().join("huge");
    std::fs::create_dir(&huge).unwrap();
    for f in ["config.json", "vocab.txt"] {
        std::fs::copy(tiny.join(f), huge.join(f)).unwrap();
    }
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> =
        textcnn::bundle::load_tensors(&tiny.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(k, (s, v))| (k, s, v))
            .collect();
    for t in &mut tensors {
        if t.0.ends_with(".weight") {
            for v in &mut t.2 {
                *v *= 1e30;
            }
        }
    }
    textcnn::bundle::save_tensors(&huge.join("model.safetensors"), &tensors).unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "good film\nbad film\n").unwrap();
    let data = dir.path().join("a.ft");
    let m = huge.to_str().unwrap();
    for args in [
        vec!["predict", "--model", m, "--input", input.to_str().unwrap()],
        vec!["eval", "--model", m, "--data", data.to_str().unwrap()],
        vec!["serve", "--model", m, "--port", "0"],
    ] {
        fails_with(
            &args,
            "the weights are too large for the model's output to be computed",
        );
    }
}

/// Issue 18, item 13: labels with neither examples nor predictions in the evaluated data
/// entered the macro average (a perfect model showed macro F1 0.667). As scikit-learn, the
/// macro average runs over the labels present in the truth or the predictions, and says so.
#[test]
fn macro_average_counts_only_labels_present_in_the_data_or_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("three.ft");
    let lines: String = (0..30)
        .map(|i| format!("__label__pos good {i}\n__label__neg bad {i}\n__label__meh okay {i}\n"))
        .collect();
    std::fs::write(&data, lines).unwrap();
    let model = dir.path().join("m");
    let o = textcnn(&[
        "train",
        "--train",
        data.to_str().unwrap(),
        "--valid",
        data.to_str().unwrap(),
        "--output",
        model.to_str().unwrap(),
        "--epochs",
        "10",
        "--patience",
        "10",
        "--emb-dim",
        "8",
        "--feature-maps",
        "4",
        "--lr",
        "0.01",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let two = dir.path().join("two.ft");
    std::fs::write(
        &two,
        "__label__pos good 1\n__label__neg bad 2\n__label__pos good 3\n",
    )
    .unwrap();
    let eval = |json: bool| {
        let mut args = vec![
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            two.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        let o = textcnn(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let report: serde_json::Value = serde_json::from_str(&eval(true)).unwrap();
    let report = &report["report"];
    assert_eq!(report["accuracy"], 1.0, "{report}");
    assert_eq!(report["macro_avg"]["f1"], 1.0, "{report}");
    assert_eq!(report["per_class"].as_array().unwrap().len(), 3);
    assert!(eval(false).contains("not counted: meh"));
}

/// Issue 18, item 14: labels holding `\n` or `\t` broke predict's one-line-per-input output.
/// They are refused at training, naming the label.
#[test]
fn labels_with_tabs_or_newlines_are_refused_at_training() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["very\tgood", "very\ngood"] {
        let data = dir.path().join("d.jsonl");
        let rows: String = (0..20)
            .map(|i| {
                let label = if i % 2 == 0 { bad } else { "bad" };
                serde_json::json!({ "text": format!("text {i}"), "label": label }).to_string()
                    + "\n"
            })
            .collect();
        std::fs::write(&data, rows).unwrap();
        let out = dir.path().join("m");
        fails_with(
            &[
                "train",
                "--train",
                data.to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
                "--quiet",
            ],
            &format!("label {bad:?} contains a tab, a newline"),
        );
        assert!(!out.exists());
    }
}

/// Issue 18, item 15: duplicate labels in `config.json` (`["pos", "pos"]`) were accepted and
/// one class became unpredictable. They are refused on load.
#[test]
fn duplicate_labels_in_the_bundle_config_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "a", ["good", "bad"], &[]);
    let path = model.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["labels"] = serde_json::json!(["pos", "pos"]);
    std::fs::write(&path, config.to_string()).unwrap();
    fails_with(
        &["predict", "--model", model.to_str().unwrap()],
        "label \"pos\" is listed twice",
    );
}

/// Issue 18, item 18: `--text-column` equal to `--label-column` was accepted and the model
/// trained on the answer. Refused, by every command that reads labelled data.
#[test]
fn the_same_column_for_text_and_label_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    let rows: String = (0..20)
        .map(|i| format!("{i},{}\n", ["pos", "neg"][i % 2]))
        .collect();
    std::fs::write(&data, format!("id,label\n{rows}")).unwrap();
    let out = dir.path().join("m");
    let d = data.to_str().unwrap();
    for args in [
        vec![
            "train",
            "--train",
            d,
            "--output",
            out.to_str().unwrap(),
            "--quiet",
        ],
        vec!["data", "stats", d],
    ] {
        fails_with(
            &[&args[..], &["--text-column", "label"]].concat(),
            "--text-column and --label-column are both \"label\"",
        );
    }
    assert!(!out.exists());
}

/// Issue 18, item 12: inputs and model files were read whole with no check: `/dev/zero` as
/// input or model file read until memory ran out. What cannot be read to its end (a device) is
/// refused from its metadata, as is a model file larger than its architecture allows.
#[test]
fn devices_and_oversized_model_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "a", ["good", "bad"], &[]);
    let m = model.to_str().unwrap();
    fails_with(
        &["predict", "--model", m, "--input", "/dev/zero"],
        "/dev/zero is not a regular file (a device or a socket)",
    );
    fails_with(
        &[
            "eval",
            "--model",
            m,
            "--data",
            "/dev/zero",
            "--format",
            "jsonl",
        ],
        "/dev/zero is not a regular file",
    );
    for file in ["model.safetensors", "vocab.txt", "config.json"] {
        let copy = dir.path().join(format!("dev-{file}"));
        std::fs::create_dir(&copy).unwrap();
        for f in ["config.json", "vocab.txt", "model.safetensors"] {
            std::fs::copy(model.join(f), copy.join(f)).unwrap();
        }
        std::fs::remove_file(copy.join(file)).unwrap();
        std::os::unix::fs::symlink("/dev/zero", copy.join(file)).unwrap();
        fails_with(
            &["predict", "--model", copy.to_str().unwrap()],
            "is not a regular file",
        );
    }
    // A model file far larger than its parameters can fill.
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    for f in ["config.json", "vocab.txt"] {
        std::fs::copy(model.join(f), big.join(f)).unwrap();
    }
    let f = std::fs::File::create(big.join("model.safetensors")).unwrap();
    f.set_len(200_000_000).unwrap();
    fails_with(
        &["predict", "--model", big.to_str().unwrap()],
        "is 200000000 bytes, more than the",
    );
}

/// Issue 18, item 19 (second half): `"format_version": "1"` (a string) was reported as missing
/// rather than as the wrong type.
#[test]
fn a_format_version_of_the_wrong_type_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        "{\"format_version\": \"1\"}",
    )
    .unwrap();
    fails_with(
        &["predict", "--model", dir.path().to_str().unwrap()],
        "\"format_version\" must be a whole number (this textcnn reads 1 to 2), not \"1\" (a string)",
    );
}

/// Issue 18, item 17: texts with no tokens once tokenized (only HTML tags) got a confident
/// label while blank lines were refused as empty. predict gives them the error record (with
/// `n_tokens: 0`), eval skips and reports them (serve: see serve_api.rs).
#[test]
fn texts_without_tokens_get_the_error_record_in_predict_and_are_skipped_by_eval() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "a", ["good", "bad"], &[]);
    let m = model.to_str().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "good film\n<br /><b></b>\n   \n").unwrap();
    let o = textcnn(&[
        "predict",
        "--model",
        m,
        "--input",
        input.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0]["label"].is_string());
    for (i, error) in [(1, "no tokens after tokenization"), (2, "empty text")] {
        assert!(
            lines[i]["error"].as_str().unwrap().starts_with(error),
            "{}",
            lines[i]
        );
        assert_eq!(lines[i]["n_tokens"], 0);
        assert!(lines[i].get("label").is_none(), "{}", lines[i]);
    }
    let o = textcnn(&["predict", "--model", m, "--input", input.to_str().unwrap()]);
    let plain: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert!(
        plain[1].starts_with("error\tno tokens after tokenization"),
        "{plain:?}"
    );

    let data = dir.path().join("e.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"good film\", \"label\": \"pos\"}\n{\"text\": \"<p></p>\", \"label\": \"neg\"}\n",
    )
    .unwrap();
    let o = textcnn(&[
        "eval",
        "--model",
        m,
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("skipped 1 example(s) with no tokens after tokenization (examples 2)"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["examples"], 1);
    assert_eq!(v["no_token_examples"], 1);
}

/// Issue 18, "class imbalance": `--class-weight balanced|none|FILE` weighs the loss (the weights
/// are recorded in the bundle) and `--metric macro-f1` selects the best epoch by validation
/// macro-F1 (recorded per epoch in metrics.jsonl).
#[test]
fn class_weights_are_recorded_and_early_stopping_can_use_macro_f1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("imbalanced.ft");
    let lines: String = (0..40)
        .map(|i| {
            if i % 10 == 0 {
                format!("__label__neg bad film {i}\n")
            } else {
                format!("__label__pos good film {i}\n")
            }
        })
        .collect();
    std::fs::write(&data, lines).unwrap();
    let d = data.to_str().unwrap();
    let train = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let o = textcnn(
            &[
                &[
                    "train",
                    "--train",
                    d,
                    "--valid",
                    d,
                    "--output",
                    out.to_str().unwrap(),
                    "--epochs",
                    "2",
                    "--emb-dim",
                    "8",
                    "--feature-maps",
                    "4",
                    "--quiet",
                ][..],
                extra,
            ]
            .concat(),
        );
        (o, out)
    };
    let (o, out) = train(
        "balanced",
        &["--class-weight", "balanced", "--metric", "macro-f1"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    // 40 examples, 2 classes: pos 40 / (2 · 36), neg 40 / (2 · 4).
    let w = &config["training"]["class_weights"];
    assert!(
        (w["pos"].as_f64().unwrap() - 40.0 / 72.0).abs() < 1e-6,
        "{w}"
    );
    assert!((w["neg"].as_f64().unwrap() - 5.0).abs() < 1e-6, "{w}");
    assert_eq!(config["training"]["config"]["class_weight"], "balanced");
    assert_eq!(config["training"]["config"]["metric"], "macro-f1");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    assert!(first["valid_macro_f1"].is_number(), "{first}");
    assert_eq!(config["best"]["valid_macro_f1"], {
        let best = metrics
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|m| m["valid_macro_f1"].as_f64().unwrap())
            .fold(f64::NEG_INFINITY, f64::max);
        serde_json::json!(best)
    });
    // The weights change training: other parameters than without them.
    let (o, plain) = train("plain", &["--class-weight", "none"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(config["training"].get("class_weights").is_some());
    assert_ne!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        std::fs::read(plain.join("model.safetensors")).unwrap()
    );
    // A weight file names every label; mistakes are named.
    let file = dir.path().join("w.json");
    std::fs::write(&file, r#"{"pos": 1, "neg": 4}"#).unwrap();
    let f = file.to_str().unwrap();
    let (o, out) = train("file", &["--class-weight", f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["training"]["class_weights"]["neg"], 4.0);
    for (content, needle) in [
        (r#"{"pos": 1}"#, "no weight for label \"neg\""),
        (
            r#"{"pos": 1, "neg": 2, "meh": 3}"#,
            "label \"meh\" does not occur in the training data",
        ),
        (
            r#"{"pos": 1, "neg": -2}"#,
            "the weight of \"neg\" must be a positive number",
        ),
        ("[1, 2]", "must hold a JSON object of label weights"),
    ] {
        std::fs::write(&file, content).unwrap();
        let (o, _) = train("bad", &["--class-weight", f]);
        assert!(!o.status.success(), "{content} accepted");
        assert!(stderr(&o).contains(needle), "{content}: {}", stderr(&o));
    }
}

/// Issue 18, item 12 (settings files): `--config` and `--class-weight` files were read whole
/// with no check; a device such as `/dev/zero` is refused before anything else happens.
#[test]
fn settings_files_that_are_devices_are_refused() {
    let base = ["train", "--train", "missing.jsonl", "--output", "unused"];
    fails_with(
        &[&base[..], &["--config", "/dev/zero"]].concat(),
        "/dev/zero is not a regular file",
    );
    fails_with(
        &[&base[..], &["--class-weight", "/dev/zero"]].concat(),
        "/dev/zero is not a regular file",
    );
    assert!(!Path::new("unused").exists());
}

/// Issue 29, L7: `--class-weight Balanced` was read as a file name ("cannot read Balanced").
/// The keywords are read whatever their case, and a weight file that cannot be read is reported
/// with the values the option takes.
#[test]
fn class_weight_keywords_ignore_case_and_an_unreadable_file_names_the_choices() {
    use textcnn::train::ClassWeight;
    for s in ["balanced", "Balanced", "BALANCED"] {
        assert_eq!(s.parse::<ClassWeight>(), Ok(ClassWeight::Balanced), "{s}");
    }
    assert_eq!("None".parse::<ClassWeight>(), Ok(ClassWeight::None));
    assert_eq!(
        "./Balanced".parse::<ClassWeight>(),
        Ok(ClassWeight::File("./Balanced".into()))
    );
    fails_with(
        &[
            "train",
            "--train",
            "missing.jsonl",
            "--output",
            "unused",
            "--class-weight",
            "Balance",
        ],
        "--class-weight Balance: not none or balanced, and not a readable JSON file of label weights",
    );
    assert!(!Path::new("unused").exists());
}

/// Issue 31: each branch of an `ngram-cnn` bundle alone, the model's probabilities rebuilt by
/// hand from them (softmax of `a·ln p_cnn + b·ln p_ngram`, probabilities clamped at 1e-7), and
/// `evaluate_dataset` scoring each branch as counting its right answers by hand does.
#[test]
fn branch_probabilities_mix_into_the_models_and_each_branch_is_scored() {
    use textcnn::data::Example;
    use textcnn::predict::Branch;

    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "branches", ["good", "bad"], &[]);
    let c = Classifier::load(&model).unwrap();
    let texts = [
        "good film 3",
        "bad film 7",
        "good bad film",
        "film good",
        "bad bad",
    ];
    let labels = ["pos", "neg", "pos", "pos", "neg"];
    let mixed = c.branch_probabilities(&texts, Branch::Model).unwrap();
    assert_eq!(mixed, c.probabilities(&texts).1);
    let cnn = c.branch_probabilities(&texts, Branch::Cnn).unwrap();
    let ngram = c.branch_probabilities(&texts, Branch::Ngram).unwrap();
    let mix = c.bundle().config.ngram.as_ref().expect("ngram-cnn").mix;
    let k = c.labels().len();
    for i in 0..texts.len() {
        let z: Vec<f64> = (0..k)
            .map(|j| {
                let p = |v: &[f32]| f64::from(v[i * k + j].max(1e-7)).ln();
                f64::from(mix.cnn) * p(&cnn) + f64::from(mix.ngram) * p(&ngram)
            })
            .collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = z.iter().map(|v| (v - m).exp()).sum();
        for j in 0..k {
            let by_hand = (z[j] - m).exp() / sum;
            assert!(
                (by_hand - f64::from(mixed[i * k + j])).abs() < 1e-5,
                "text {i} label {j}: {by_hand} by hand, {} by the model",
                mixed[i * k + j]
            );
        }
    }
    let ds = Dataset {
        name: "hand".into(),
        examples: texts
            .iter()
            .zip(labels)
            .map(|(t, l)| Example {
                text: t.to_string(),
                labels: vec![l.to_string()],
                meta: None,
            })
            .collect(),
        ..Dataset::default()
    };
    for (branch, probs) in [
        (Branch::Model, &mixed),
        (Branch::Cnn, &cnn),
        (Branch::Ngram, &ngram),
    ] {
        let e = c.evaluate_dataset(&ds, branch).unwrap().unwrap();
        let right = (0..texts.len())
            .filter(|&i| {
                let row = &probs[i * k..(i + 1) * k];
                let best = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                c.labels()[best] == labels[i]
            })
            .count();
        assert_eq!(e.kept.len(), texts.len());
        assert!(e.no_tokens.is_empty() && e.unknown.is_empty());
        assert_eq!(e.scores.headline(), right as f64 / texts.len() as f64);
    }
}

/// `--arch ngram` trains no network: the network's training flags are refused by name, not
/// silently ignored (before any data is read).
#[test]
fn ngram_architecture_refuses_network_training_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let o = textcnn(&[
        "train",
        "--arch",
        "ngram",
        "--train",
        "imdb:train",
        "--output",
        out.to_str().unwrap(),
        "--epochs",
        "5",
        "--dropout",
        "0.9",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--epochs, --dropout apply only to --arch"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

/// Below 20,000 training texts `--arch kim` takes its small-data settings, except those given
/// by a flag or by the `--config` file, a pipe included (read once: a second read found it
/// empty, refused it, and the rule would have overridden its keys), and says what it set.
#[test]
fn kim_small_data_settings_keep_what_flags_and_a_piped_config_give() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.ft");
    let lines: String = (0..20)
        .map(|i| format!("__label__pos good film {i}\n__label__neg bad film {i}\n"))
        .collect();
    std::fs::write(&data, lines).unwrap();
    let out = dir.path().join("m");
    let (d, m) = (data.to_str().unwrap(), out.to_str().unwrap());
    let o = crate::common::textcnn_with_stdin(
        &[
            "train",
            "--train",
            d,
            "--output",
            m,
            "--arch",
            "kim",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--feature-maps",
            "4",
            "--config",
            "/dev/stdin",
        ],
        b"emb_dim = 16\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "training texts (fewer than 20,000): region sizes 1,2,3,4,5, patience 4 (its \
             small-data settings"
        ),
        "{}",
        stderr(&o)
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    let arch = &config["architecture"];
    assert_eq!(
        (
            &arch["emb_dim"],
            &arch["feature_maps"],
            &arch["region_sizes"]
        ),
        (&16.into(), &4.into(), &serde_json::json!([1, 2, 3, 4, 5]))
    );
    assert_eq!(config["training"]["config"]["patience"], 4);
}

/// `--init-conv` takes the source's feature layers' shape (region sizes, feature maps) when
/// not given, and says so: a `--arch kim` bundle that took its small-data region sizes 1–5 was
/// refused as a source for a run left at 3,4,5. Given settings stay, and a mismatch names the
/// flags that match.
#[test]
fn init_conv_takes_the_sources_region_sizes_and_maps_unless_given() {
    let dir = tempfile::tempdir().unwrap();
    let src = tiny_model(dir.path(), "src", ["good", "bad"], &["--arch", "kim"]);
    let (data, s) = (dir.path().join("src.ft"), src.to_str().unwrap());
    let out = dir.path().join("copy");
    let base = [
        "train",
        "--train",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--threads",
        "1",
        "--init-from",
        s,
        "--init-conv",
    ];
    let o = textcnn(&[&base[..], &["--output", out.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "--init-conv: --region-sizes 1,2,3,4,5 --feature-maps 4 as {s}'s feature layers"
        )),
        "{}",
        stderr(&o)
    );
    let arch = |dir: &Path| -> serde_json::Value {
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        c["architecture"].clone()
    };
    let (a, b) = (arch(&src), arch(&out));
    assert_eq!(b["region_sizes"], serde_json::json!([1, 2, 3, 4, 5]));
    assert_eq!(
        (&a["region_sizes"], &a["feature_maps"], &a["emb_dim"]),
        (&b["region_sizes"], &b["feature_maps"], &b["emb_dim"])
    );
    // Given region sizes stay, and the mismatch is refused with the flags that match.
    let other = dir.path().join("other");
    fails_with(
        &[
            &base[..],
            &[
                "--output",
                other.to_str().unwrap(),
                "--region-sizes",
                "3,4,5",
            ],
        ]
        .concat(),
        "give the same architecture settings (--region-sizes 1,2,3,4,5)",
    );
}
