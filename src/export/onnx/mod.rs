//! `textcnn export --format onnx`: a bundle's model as an ONNX graph (opset 13), runnable by
//! ONNX Runtime and other ONNX engines, giving the probabilities of [`Classifier::predict`].
//!
//! Tokenization stays outside the graph (it is the bundle's tokenizer, with Chinese word
//! segmentation); the graph reads integer ids, which [`OnnxInputs::encode`] (Python:
//! `Classifier.onnx_inputs`) makes from texts:
//!
//! * `input_ids` int64 `[batch, seq_len]`: the CNN's vocabulary ids (`vocab.txt`, line `i` is
//!   id `i`; `<unk>` for unknown words), cut at the model's `max_len` as `predict` cuts them, 0
//!   (`<pad>`) after the text. Any `seq_len` works; a row's length is its count of non-zero ids.
//! * `ngram_ids` int64 `[batch, n_tokens]` (models with an n-gram branch): every token of the
//!   text (not cut) as its id in the branch's token table (`ngram_tokens.txt`, line `i` is id
//!   `i + 1`), 0 for a token outside it and after the text.
//! * `char_ids` int64 `[batch, n_chars]` (n-gram branches with character n-grams, i.e. Chinese
//!   models): the Unicode scalar value + 1 of each character of the tokens joined by single
//!   spaces, 0 after the text.
//!
//! Output `probabilities` float `[batch, labels]`, in the label order of the metadata entry
//! `labels` (softmax, or one sigmoid per label for a multi-label model, whose thresholds are in
//! the entry `thresholds`).
//!
//! The graph: the Kim CNN (Kim 2014) as `Gather` (embedding; a multichannel model's two tables
//! summed, which is what its convolution sees) → one `Conv` per region size (kernel
//! `[maps, 1, h, emb_dim]`) → windows past each text's valid ones masked → `ReduceMax` (and the
//! masked mean for max-mean pooling) → `Relu` → `Concat` → `Gemm`. The n-gram branch as ONNX's
//! `TfIdfVectorizer` (mode TF: n-gram counts over a pool of the branch's n-grams) → sublinear
//! TF `1 + ln(count)` × IDF → L2 normalization → `MatMul` → logits; the two mixed as in
//! [`crate::ngram::mix_probabilities`] (softmax) or [`crate::head::mix_logits`] (sigmoid). The
//! n-gram counts are a dense `[batch, features]` tensor: run large models in batches of tens of
//! texts.

mod graph;
mod inputs;
pub mod proto;

use std::path::Path;

use anyhow::{Result, bail};
use prost::Message;

use crate::bundle::Bundle;
use crate::head::HeadKind;
use crate::model::{KimCnn, Model};
use crate::ngram::{NgramModel, key_symbols};
pub use inputs::{IdMatrix, OnnxInputs};

use graph::{Dim, Graph, int, ints, string, value_info};
use proto::{ModelProto, OperatorSetIdProto, StringStringEntryProto, data_type};

/// The `ai.onnx` opset the graph is written for.
pub const OPSET: i64 = 13;
/// ONNX IR version of the file (IR 7 is the one of opset 13).
pub const IR_VERSION: i64 = 7;

/// What [`export_onnx`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxSummary {
    /// Size of the written file, bytes.
    pub bytes: u64,
    /// The graph's input names, in order.
    pub inputs: Vec<String>,
}

/// Writes the model of the bundle in `model` as an ONNX file `output` (atomically).
///
/// # Errors
/// An unreadable bundle, an architecture without an ONNX form (the 2-D CNN, `seed` /
/// `conv2d`), or a file that cannot be written.
pub fn export_onnx(model: &Path, output: &Path) -> Result<OnnxSummary> {
    write_onnx(&Bundle::load(model)?, output)
}

/// [`export_onnx`] of a loaded bundle.
///
/// # Errors
/// An architecture without an ONNX form, or a file that cannot be written.
pub fn write_onnx(bundle: &Bundle, output: &Path) -> Result<OnnxSummary> {
    let proto = onnx_model(bundle)?;
    let bytes = proto.encode_to_vec();
    crate::fsutil::write_atomic(output, &bytes)?;
    let inputs = proto
        .graph
        .as_ref()
        .map(|g| g.input.iter().map(|i| i.name.clone()).collect())
        .unwrap_or_default();
    Ok(OnnxSummary {
        bytes: bytes.len() as u64,
        inputs,
    })
}

/// The ONNX model of a loaded bundle (see the module documentation for its inputs and output).
///
/// # Errors
/// An architecture without an ONNX form (the 2-D CNN, `seed` / `conv2d`).
pub fn onnx_model(bundle: &Bundle) -> Result<ModelProto> {
    let kim = match &bundle.model {
        Model::Kim(m) => Some(m),
        Model::Ngram(_) => None,
        Model::Conv2d(_) => bail!(
            "the 2-D CNN (--arch seed / conv2d) has no ONNX export; export a kim, ngram-cnn or ngram model"
        ),
    };
    let head = bundle.config.head()?.kind();
    let mut g = Graph::default();
    let mut inputs = Vec::new();
    let cnn = kim.map(|m| {
        inputs.push(value_info(
            "input_ids",
            data_type::INT64,
            &[Dim::Named("batch"), Dim::Named("seq_len")],
            "vocabulary ids of the tokens (cut at max_len), 0 after the text",
        ));
        kim_logits(&mut g, m, "input_ids")
    });
    let ngram = match (&bundle.ngram, &bundle.config.ngram) {
        (Some(n), _) => Some((
            ngram_logits(&mut g, n, &mut inputs)?,
            bundle.config.ngram.as_ref(),
        )),
        _ => None,
    };
    let probs = match (cnn, ngram) {
        (Some(c), Some((z, Some(branch)))) => mix(&mut g, head, &c, &z, branch.mix),
        (Some(z), _) | (None, Some((z, _))) => activate(&mut g, head, &z),
        (None, None) => bail!("the bundle has neither a network nor an n-gram branch"),
    };
    g.nodes.push(proto::NodeProto {
        input: vec![probs],
        output: vec!["probabilities".into()],
        name: "output".into(),
        op_type: "Identity".into(),
        ..Default::default()
    });
    let labels = bundle.config.labels.len();
    let outputs = vec![value_info(
        "probabilities",
        data_type::FLOAT,
        &[Dim::Named("batch"), Dim::Fixed(labels)],
        "probability of each label (metadata `labels` gives their order)",
    )];
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "textcnn".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "textcnn text classifier: token ids in, label probabilities out".into(),
        graph: Some(g.finish("textcnn", inputs, outputs)),
        metadata_props: metadata(bundle, head),
    })
}

/// Metadata entries: `labels` (JSON list), `head`, `max_len`, `truncation`, `architecture`;
/// multi-label: `thresholds` (JSON list) and `at_least_one` (`true`: a text with no label over
/// its threshold gets its most probable one, as `predict` decides).
fn metadata(bundle: &Bundle, head: HeadKind) -> Vec<StringStringEntryProto> {
    let c = &bundle.config;
    let mut out = vec![
        (
            "labels",
            serde_json::to_string(&c.labels).unwrap_or_default(),
        ),
        ("head", head.name().to_string()),
        ("max_len", c.encode.max_len.to_string()),
        (
            "truncation",
            serde_json::to_value(c.encode.truncation)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
        (
            "architecture",
            match (&bundle.model, bundle.ngram.is_some()) {
                (Model::Ngram(_), _) => "ngram",
                (_, true) => "ngram-cnn",
                _ => "kim",
            }
            .to_string(),
        ),
    ];
    if let Some(ml) = &c.multi_label {
        out.push((
            "thresholds",
            serde_json::to_string(&ml.thresholds).unwrap_or_default(),
        ));
        out.push(("at_least_one", ml.at_least_one.to_string()));
    }
    out.into_iter()
        .map(|(k, v)| StringStringEntryProto {
            key: k.into(),
            value: v,
        })
        .collect()
}

/// The Kim CNN's logits `[batch, labels]` from the ids in `ids` (`[batch, seq_len]` int64).
fn kim_logits(g: &mut Graph, m: &KimCnn, ids: &str) -> String {
    let cfg = &m.config;
    let e = cfg.emb_dim;
    let max_h = cfg.max_region_size();
    // What the convolution sees: the trained table, plus the frozen one when multichannel.
    let table: Vec<f32> = if cfg.multichannel {
        m.embedding
            .iter()
            .zip(&m.embedding_static)
            .map(|(a, b)| a + b)
            .collect()
    } else {
        m.embedding.clone()
    };
    let table = g.f32s("embedding", &[cfg.vocab_size, e], &table);
    // Real length of each row: its non-zero ids, `[batch, 1]` as f32.
    let zero = g.i64s("zero_id", &[], &[0]);
    let real = g.op("Greater", &[ids, &zero], vec![], "is_token");
    let real = g.op("Cast", &[&real], vec![int("to", 1)], "is_token_f");
    let axis1 = g.i64s("axis_1", &[1], &[1]);
    let len = g.op(
        "ReduceSum",
        &[&real, &axis1],
        vec![int("keepdims", 1)],
        "length",
    );
    // Zeros after the text so that every region has a window (as the encoder's min_len does).
    let pads = g.i64s("id_pads", &[4], &[0, 0, 0, max_h as i64 - 1]);
    let padded = g.op("Pad", &[ids, &pads], vec![], "ids_padded");
    let x = g.op(
        "Gather",
        &[&table, &padded],
        vec![int("axis", 0)],
        "embedded",
    );
    let x = g.op("Unsqueeze", &[&x, &axis1], vec![], "image"); // [batch, 1, L, emb_dim]
    let (mut max_blocks, mut mean_blocks) = (Vec::new(), Vec::new());
    for conv in &m.convs {
        let (max, mean) = region_pooling(g, &x, &len, conv, cfg);
        max_blocks.push(max);
        mean_blocks.extend(mean);
    }
    let blocks: Vec<&str> = max_blocks
        .iter()
        .chain(&mean_blocks)
        .map(String::as_str)
        .collect();
    let feats = g.op("Concat", &blocks, vec![int("axis", 1)], "features");
    let nf = cfg.num_features();
    let fw = g.f32s("fc.weight", &[cfg.num_classes, nf], &m.fc_weight);
    let fb = g.f32s("fc.bias", &[cfg.num_classes], &m.fc_bias);
    g.op(
        "Gemm",
        &[&feats, &fw, &fb],
        vec![int("transB", 1)],
        "cnn_logits",
    )
}

/// One region size's pooled features `[batch, maps]` from the embedded image `x`
/// (`[batch, 1, L, emb_dim]`) and the texts' lengths `len` (`[batch, 1]`): the max over its
/// valid windows after bias and ReLU, and with max-mean pooling the mean of `relu(window + bias)`
/// over them. Window `k` is valid when `k < max(length − h + 1, 1)` ([`crate::model::kim::valid_windows`]).
fn region_pooling(
    g: &mut Graph,
    x: &str,
    len: &str,
    conv: &crate::model::kim::ConvParams,
    cfg: &crate::model::KimConfig,
) -> (String, Option<String>) {
    let (h, e, maps) = (conv.h, cfg.emb_dim, cfg.feature_maps);
    let (one, zero) = (g.scalar("one", 1.0), g.scalar("zero", 0.0));
    let neg = g.scalar("neg_max", f32::MIN);
    let (axis1, axis3) = (g.i64s("axis_1", &[1], &[1]), g.i64s("axis_3", &[1], &[3]));
    let w = g.f32s(&format!("conv{h}.weight"), &[maps, 1, h, e], &conv.weight);
    let b = g.f32s(&format!("conv{h}.bias"), &[maps], &conv.bias);
    let kernel = ints("kernel_shape", vec![h as i64, e as i64]);
    let c = g.op("Conv", &[x, &w, &b], vec![kernel], &format!("conv{h}"));
    let c = g.op("Squeeze", &[&c, &axis3], vec![], "windows"); // [batch, maps, W]
    let shape = g.op("Shape", &[&c], vec![], "shape");
    let two = g.i64s("dim_2", &[], &[2]);
    let n = g.op("Gather", &[&shape, &two], vec![int("axis", 0)], "n_windows");
    let n = g.op("Cast", &[&n], vec![int("to", 1)], "n_windows_f");
    let pos = g.op("Range", &[&zero, &n, &one], vec![], "window_pos");
    let back = g.scalar(&format!("h_minus_1_{h}"), (h - 1) as f32);
    let nw = g.op("Sub", &[len, &back], vec![], "nw");
    let nw = g.op("Max", &[&nw, &one], vec![], "nw"); // [batch, 1]
    let valid = g.op("Less", &[&pos, &nw], vec![], "valid"); // [batch, W]
    let valid = g.op("Unsqueeze", &[&valid, &axis1], vec![], "valid"); // [batch, 1, W]
    let masked = g.op("Where", &[&valid, &c, &neg], vec![], "masked");
    let axes = vec![ints("axes", vec![2]), int("keepdims", 0)];
    let mx = g.op("ReduceMax", &[&masked], axes, "max");
    let max = g.op("Relu", &[&mx], vec![], "pooled_max");
    let mean = cfg.pooling.has_mean().then(|| {
        let axis2 = g.i64s("axis_2", &[1], &[2]);
        let act = g.op("Relu", &[&c], vec![], "act");
        let act = g.op("Where", &[&valid, &act, &zero], vec![], "act_masked");
        let sum = g.op(
            "ReduceSum",
            &[&act, &axis2],
            vec![int("keepdims", 0)],
            "sum",
        );
        g.op("Div", &[&sum, &nw], vec![], "pooled_mean")
    });
    (max, mean)
}

/// The n-gram branch's logits `[batch, labels]`; adds its inputs (`ngram_ids`, and `char_ids`
/// when it reads character n-grams) to `inputs`.
fn ngram_logits(
    g: &mut Graph,
    n: &NgramModel,
    inputs: &mut Vec<proto::ValueInfoProto>,
) -> Result<String> {
    let (config, _, keys, idf) = n.featurizer.parts();
    if keys.is_empty() {
        bail!("the n-gram branch has no features; nothing to export");
    }
    let split = keys.partition_point(|&k| !key_symbols(k).0);
    let mut counts = Vec::new();
    if split > 0 {
        inputs.push(value_info(
            "ngram_ids",
            data_type::INT64,
            &[Dim::Named("batch"), Dim::Named("n_tokens")],
            "ids of every token in the n-gram token table (0 = not in it), 0 after the text",
        ));
        counts.push(vectorizer(g, "ngram_ids", &keys[..split], config.word_n));
    }
    if split < keys.len() {
        inputs.push(value_info(
            "char_ids",
            data_type::INT64,
            &[Dim::Named("batch"), Dim::Named("n_chars")],
            "Unicode scalar value + 1 of each character of the tokens joined by spaces, 0 after",
        ));
        counts.push(vectorizer(g, "char_ids", &keys[split..], config.char_n));
    }
    let refs: Vec<&str> = counts.iter().map(String::as_str).collect();
    let c = if refs.len() == 1 {
        counts[0].clone()
    } else {
        g.op("Concat", &refs, vec![int("axis", 1)], "counts")
    };
    // Sublinear TF (1 + ln c for c ≥ 1, else 0) × IDF, then unit L2 norm (`transform`).
    let one = g.scalar("ng_one", 1.0);
    let at_least_one = g.op("Max", &[&c, &one], vec![], "c1");
    let log = g.op("Log", &[&at_least_one], vec![], "log_c");
    let present = g.op("Min", &[&c, &one], vec![], "present");
    let tf = g.op("Add", &[&log, &present], vec![], "tf");
    let idf = g.f32s("ngram.idf", &[idf.len()], idf);
    let x = g.op("Mul", &[&tf, &idf], vec![], "tfidf");
    let sq = g.op(
        "ReduceSumSquare",
        &[&x],
        vec![ints("axes", vec![1]), int("keepdims", 1)],
        "sq",
    );
    let norm = g.op("Sqrt", &[&sq], vec![], "norm");
    let tiny = g.scalar("ng_tiny", f32::MIN_POSITIVE);
    let norm = g.op("Max", &[&norm, &tiny], vec![], "norm");
    let x = g.op("Div", &[&x, &norm], vec![], "features_l2");
    let lr = &n.logreg;
    let w = g.f32s("ngram.weight", &[keys.len(), lr.classes], &lr.weights);
    let b = g.f32s("ngram.bias", &[lr.classes], &lr.bias);
    let z = g.op("MatMul", &[&x, &w], vec![], "ngram_mm");
    Ok(g.op("Add", &[&z, &b], vec![], "ngram_logits"))
}

/// A `TfIdfVectorizer` (mode TF) counting the n-grams `keys` (sorted packed keys of one kind,
/// word or character) in `input`; output `[batch, keys.len()]`, column `i` counting `keys[i]`.
fn vectorizer(g: &mut Graph, input: &str, keys: &[u64], max_n: usize) -> String {
    let mut pool = Vec::new();
    let mut indexes = Vec::new();
    let mut starts = Vec::new();
    for n in 1..=max_n {
        starts.push(pool.len() as i64);
        for (i, &k) in keys.iter().enumerate() {
            let (_, symbols) = key_symbols(k);
            if symbols.len() == n {
                pool.extend(symbols.iter().map(|&s| s as i64));
                indexes.push(i as i64);
            }
        }
    }
    debug_assert_eq!(indexes.len(), keys.len(), "key orders within 1..=max_n");
    g.op(
        "TfIdfVectorizer",
        &[input],
        vec![
            string("mode", "TF"),
            int("min_gram_length", 1),
            int("max_gram_length", max_n as i64),
            int("max_skip_count", 0),
            ints("ngram_counts", starts),
            ints("ngram_indexes", indexes),
            ints("pool_int64s", pool),
        ],
        "ngram_counts",
    )
}

/// The head's activation of logits `z`: softmax or sigmoid.
fn activate(g: &mut Graph, head: HeadKind, z: &str) -> String {
    match head {
        HeadKind::SingleLabel => g.op("Softmax", &[z], vec![int("axis", -1)], "probs"),
        HeadKind::MultiLabel => g.op("Sigmoid", &[z], vec![], "probs"),
    }
}

/// The mixture of the CNN's and the branch's logits with weights `mix`: softmax of
/// `a·ln max(p_cnn, 1e-7) + b·ln max(p_ngram, 1e-7)` (single-label), or
/// `sigmoid(a·z_cnn + b·z_ngram)` (multi-label).
fn mix(
    g: &mut Graph,
    head: HeadKind,
    cnn: &str,
    ngram: &str,
    w: crate::ngram::MixWeights,
) -> String {
    let (a, b) = (g.scalar("mix_cnn", w.cnn), g.scalar("mix_ngram", w.ngram));
    match head {
        HeadKind::SingleLabel => {
            let floor = g.scalar("min_prob", crate::ngram::MIN_PROB);
            let mut terms = Vec::new();
            for (z, wgt) in [(cnn, &a), (ngram, &b)] {
                let p = g.op("Softmax", &[z], vec![int("axis", -1)], "branch_probs");
                let p = g.op("Max", &[&p, &floor], vec![], "floored");
                let l = g.op("Log", &[&p], vec![], "log_p");
                terms.push(g.op("Mul", &[&l, wgt], vec![], "weighted"));
            }
            let s = g.op("Add", &[&terms[0], &terms[1]], vec![], "mixed");
            g.op("Softmax", &[&s], vec![int("axis", -1)], "probs")
        }
        HeadKind::MultiLabel => {
            let x = g.op("Mul", &[cnn, &a], vec![], "weighted");
            let y = g.op("Mul", &[ngram, &b], vec![], "weighted");
            let s = g.op("Add", &[&x, &y], vec![], "mixed");
            g.op("Sigmoid", &[&s], vec![], "probs")
        }
    }
}

#[cfg(test)]
mod tests;
