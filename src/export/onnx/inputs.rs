//! The inputs of an exported ONNX graph, made from texts by the bundle's own tokenizer.

use crate::batch::real_length;
use crate::ngram::{NgramFeaturizer, key_symbols};
use crate::predict::Classifier;

/// A row-major int64 matrix `[rows, cols]`, rows padded with 0 after their values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMatrix {
    /// Rows (texts).
    pub rows: usize,
    /// Columns: the longest row's length, at least 1.
    pub cols: usize,
    /// `rows × cols` values.
    pub data: Vec<i64>,
}

impl IdMatrix {
    /// Pads `rows` with 0 to a common width (the longest, at least 1).
    pub fn from_rows(rows: &[Vec<i64>]) -> IdMatrix {
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut data = vec![0i64; rows.len() * cols];
        for (r, row) in rows.iter().enumerate() {
            data[r * cols..r * cols + row.len()].copy_from_slice(row);
        }
        IdMatrix {
            rows: rows.len(),
            cols,
            data,
        }
    }
}

/// The named int64 inputs of a bundle's ONNX graph for a list of texts, in the graph's input
/// order (see [`super`] for what each holds): `input_ids` for a model with a network,
/// `ngram_ids` for one with an n-gram branch of word n-grams, `char_ids` for one with
/// character n-grams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxInputs {
    /// `(name, values)` per graph input.
    pub inputs: Vec<(&'static str, IdMatrix)>,
}

impl OnnxInputs {
    /// Tokenizes and encodes `texts` as [`Classifier::predict`] does and returns the graph's
    /// inputs for them.
    pub fn encode(classifier: &Classifier, texts: &[&str]) -> OnnxInputs {
        let bundle = classifier.bundle();
        let (docs, encoded) = classifier.pipeline().tokenize_and_encode(texts);
        let mut inputs = Vec::new();
        if bundle.model.embedding().is_some() {
            let rows: Vec<Vec<i64>> = encoded
                .iter()
                .map(|e| e.ids[..real_length(e)].iter().map(|&i| i as i64).collect())
                .collect();
            inputs.push(("input_ids", IdMatrix::from_rows(&rows)));
        }
        if let Some(ngram) = &bundle.ngram {
            inputs.extend(ngram_inputs(&ngram.featurizer, &docs));
        }
        OnnxInputs { inputs }
    }
}

/// The n-gram branch's inputs for token lists `docs`: `ngram_ids` when `f` has word n-grams,
/// `char_ids` when it has character n-grams.
pub(crate) fn ngram_inputs(
    f: &NgramFeaturizer,
    docs: &[Vec<String>],
) -> Vec<(&'static str, IdMatrix)> {
    let (_, _, keys, _) = f.parts();
    let chars = keys.iter().filter(|&&k| key_symbols(k).0).count();
    let mut out = Vec::new();
    if chars < keys.len() {
        let rows: Vec<Vec<i64>> = docs
            .iter()
            .map(|d| d.iter().map(|t| f.token_id(t) as i64).collect())
            .collect();
        out.push(("ngram_ids", IdMatrix::from_rows(&rows)));
    }
    if chars > 0 {
        let rows: Vec<Vec<i64>> = docs.iter().map(|d| char_symbols(d)).collect();
        out.push(("char_ids", IdMatrix::from_rows(&rows)));
    }
    out
}

/// Unicode scalar value + 1 of each character of `tokens` joined by single spaces (the
/// symbols of the branch's character n-grams).
fn char_symbols(tokens: &[String]) -> Vec<i64> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(' ' as i64 + 1);
        }
        out.extend(t.chars().map(|c| c as i64 + 1));
    }
    out
}
