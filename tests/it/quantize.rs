//! `textcnn quantize` (issue 31): an f16 or int8 copy of a bundle loads like any bundle, is
//! smaller, and predicts within a stated tolerance of the f32 model.

use crate::common::synthetic;
use crate::serve_util::model_dir;
use textcnn::bundle::Bundle;
use textcnn::export::quantize;
use textcnn::predict::Classifier;
use textcnn::quant::StoredDtype;

/// The dtype a safetensors file stores `name` in.
fn stored_dtype(file: &std::path::Path, name: &str) -> safetensors::Dtype {
    let bytes = std::fs::read(file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name).unwrap().dtype()
}

#[test]
fn quantized_bundles_are_smaller_and_predict_like_the_f32_model() {
    let f32_model = Classifier::load(model_dir()).unwrap();
    assert!(
        f32_model.bundle().ngram.is_some(),
        "the fixture is ngram-cnn"
    );
    let texts: Vec<String> = synthetic(40, 11)
        .examples
        .into_iter()
        .map(|e| e.text)
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let want = f32_model.predict(&refs);
    let tmp = tempfile::tempdir().unwrap();
    // (dtype, largest probability difference allowed, stored dtype of the embedding)
    for (dtype, tolerance, stored) in [
        (StoredDtype::F16, 2e-3, safetensors::Dtype::F16),
        (StoredDtype::Int8, 2e-2, safetensors::Dtype::I8),
    ] {
        let out = tmp.path().join(format!("{dtype:?}"));
        let sizes = quantize(model_dir(), &out, dtype).unwrap();
        assert!(sizes.after < sizes.before, "{dtype:?}: {sizes:?}");
        assert_eq!(
            stored_dtype(&out.join("model.safetensors"), "embedding.weight"),
            stored
        );
        let bundle = Bundle::load(&out).unwrap();
        assert_eq!(bundle.config.dtype, dtype);
        assert_eq!(bundle.config.labels, f32_model.labels());
        let q = Classifier::from_bundle(bundle).unwrap();
        let got = q.predict(&refs);
        for (g, w) in got.iter().zip(&want) {
            for (a, b) in g.probabilities.iter().zip(&w.probabilities) {
                assert!((a - b).abs() <= tolerance, "{dtype:?}: {a} vs {b}");
            }
        }
        let agree = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| g.label == w.label)
            .count();
        assert!(
            agree >= texts.len() - 1,
            "{dtype:?}: {agree}/{} labels agree",
            texts.len()
        );
        // The copy is never written over, and is not rounded a second time.
        let err = quantize(model_dir(), &out, dtype).unwrap_err().to_string();
        assert!(err.contains("already holds a model"), "{err}");
        let again = tmp.path().join(format!("{dtype:?}-again"));
        let err = quantize(&out, &again, StoredDtype::Int8)
            .unwrap_err()
            .to_string();
        assert!(err.contains("already quantized"), "{err}");
        assert!(!again.exists(), "nothing written");
    }
    let err = quantize(model_dir(), model_dir(), StoredDtype::Int8)
        .unwrap_err()
        .to_string();
    assert!(err.contains("must differ"), "{err}");
    // A folder of the user's is never written into, nor a folder inside the source bundle.
    let mine = tempfile::tempdir().unwrap();
    std::fs::write(mine.path().join("notes.txt"), "mine").unwrap();
    let err = quantize(model_dir(), mine.path(), StoredDtype::F16)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an empty folder"), "{err}");
    assert_eq!(
        std::fs::read_to_string(mine.path().join("notes.txt")).unwrap(),
        "mine"
    );
    let inside = model_dir().join("int8");
    let err = quantize(model_dir(), &inside, StoredDtype::Int8)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is inside --model"), "{err}");
    assert!(!inside.exists());
}
