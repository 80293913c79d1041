//! `textcnn export --format onnx` (issue 31): the file decodes as an ONNX model whose constants
//! are the bundle's weights and whose inputs are what `OnnxInputs::encode` makes. ONNX Runtime
//! itself runs the files in `python/tests/test_onnx.py` (probabilities within 1e-5 of predict).

use std::process::Command;

use prost::Message;
use textcnn::export::onnx::proto::{DimensionValue, ModelProto, TensorProto};
use textcnn::export::onnx::{OPSET, OnnxInputs, export_onnx};
use textcnn::predict::Classifier;

use crate::serve_util::model_dir;

fn f32s(t: &TensorProto) -> Vec<f32> {
    t.raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn onnx_file_holds_the_bundle_weights_inputs_and_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("model.onnx");
    let summary = export_onnx(model_dir(), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(summary.bytes, bytes.len() as u64);
    let model = ModelProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(model.opset_import[0].version, OPSET);
    let graph = model.graph.unwrap();
    let clf = Classifier::load(model_dir()).unwrap();
    // Inputs: the names and order of the encoder's matrices.
    let encoded = OnnxInputs::encode(&clf, &["great film", ""]);
    let names: Vec<&str> = encoded.inputs.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["input_ids", "ngram_ids"]);
    let graph_inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(graph_inputs, names);
    assert_eq!(summary.inputs, names);
    let (_, ids) = &encoded.inputs[0];
    assert_eq!((ids.rows, ids.cols), (2, 2));
    let vocab = &clf.bundle().vocab;
    let want: Vec<i64> = ["great", "film"]
        .iter()
        .map(|w| vocab.id(w) as i64)
        .chain([0, 0])
        .collect();
    assert_eq!(ids.data, want);
    // Output: probabilities [batch, labels].
    assert_eq!(graph.output[0].name, "probabilities");
    let dims = &graph.output[0]
        .r#type
        .as_ref()
        .unwrap()
        .tensor_type
        .as_ref()
        .unwrap()
        .shape
        .as_ref()
        .unwrap()
        .dim;
    assert_eq!(
        dims.iter()
            .map(|d| d.value.clone().unwrap())
            .collect::<Vec<_>>(),
        [
            DimensionValue::DimParam("batch".into()),
            DimensionValue::DimValue(clf.labels().len() as i64)
        ]
    );
    // Constants: the bundle's tensors, bit for bit.
    let init = |name: &str| graph.initializer.iter().find(|t| t.name == name).unwrap();
    let (emb, dim) = clf.bundle().model.embedding().unwrap();
    assert_eq!(f32s(init("embedding")), emb);
    assert_eq!(
        init("embedding").dims,
        [emb.len() as i64 / dim as i64, dim as i64]
    );
    for (name, shape, data) in clf.bundle().model.named_params() {
        if name == "embedding.weight" {
            continue;
        }
        let t = init(&name);
        assert_eq!(f32s(t), data, "{name}");
        assert_eq!(
            t.dims.iter().product::<i64>(),
            shape.iter().product::<usize>() as i64,
            "{name}"
        );
    }
    let ngram = clf.bundle().ngram.as_ref().unwrap();
    assert_eq!(f32s(init("ngram.weight")), ngram.logreg.weights);
    assert_eq!(f32s(init("ngram.bias")), ngram.logreg.bias);
    let meta: Vec<(&str, &str)> = model
        .metadata_props
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    assert!(meta.contains(&("head", "single-label")));
    assert!(meta.contains(&("architecture", "ngram-cnn")));
    let labels = meta.iter().find(|(k, _)| *k == "labels").unwrap().1;
    assert_eq!(
        serde_json::from_str::<Vec<String>>(labels).unwrap(),
        clf.labels()
    );
    // The same bundle gives the same file.
    let again = tmp.path().join("again.onnx");
    export_onnx(model_dir(), &again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
}

#[test]
fn cli_export_refuses_an_output_inside_the_bundle_and_an_existing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &std::path::Path, force: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_textcnn"));
        cmd.args(["export", "--format", "onnx", "--model"])
            .arg(model_dir())
            .arg("--output")
            .arg(out);
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    let inside = run(&model_dir().join("model.onnx"), false);
    assert!(!inside.status.success());
    assert!(!model_dir().join("model.onnx").exists());
    let out = tmp.path().join("m.onnx");
    let first = run(&out, false);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("inputs input_ids, ngram_ids"));
    let second = run(&out, false);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("--force"));
    assert!(run(&out, true).status.success());
    // `--force` replaces a file, never a FIFO or a device with a file.
    let fifo = tmp.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let refused = run(&fifo, true);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a regular file"));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}
