//! Classifying raw text with a trained bundle: the one code path shared by `textcnn predict`,
//! `textcnn eval`, the library API and the HTTP service, so all give the same probabilities.

use std::path::Path;

use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::batch::{PaddedBatch, bucketed_batches, real_length};
use crate::bundle::Bundle;
use crate::head::{Head, MultiLabelConfig};
use crate::model::Model;
use crate::ngram::NgramModel;
pub use crate::nn::{argmax, softmax_in_place};
use crate::text::{Encoded, TextPipeline, Tokenizer};

/// Texts per forward pass at inference time.
pub const INFERENCE_BATCH: usize = 256;

/// The classification of one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// Most probable label.
    pub label: String,
    /// Its probability, in [0, 1] (softmax; multi-label bundles: its sigmoid).
    pub probability: f32,
    /// Softmax probability of every label, in the bundle's label order (multi-label bundles:
    /// one sigmoid per label; see [`Classifier::decided_labels`]).
    pub probabilities: Vec<f32>,
    /// Tokens in the text after tokenization.
    pub n_tokens: usize,
    /// Tokens not in the vocabulary (mapped to `<unk>`).
    pub n_oov: usize,
    /// Whether the text was longer than the model's `max_len` and was cut.
    pub truncated: bool,
}

/// A loaded model bundle ready to classify text. `Send + Sync`: one instance can serve many
/// threads.
pub struct Classifier {
    bundle: Bundle,
    pipeline: TextPipeline,
    head: Arc<dyn Head>,
}

impl Classifier {
    /// Loads and validates the bundle in `dir` (see [`Bundle::load`] for the errors).
    pub fn load(dir: &Path) -> Result<Classifier> {
        Classifier::from_bundle(Bundle::load(dir)?)
    }

    /// Wraps an already loaded bundle.
    ///
    /// # Errors
    /// A head record that does not fit the labels (see [`crate::bundle::BundleConfig::head`]).
    pub fn from_bundle(bundle: Bundle) -> Result<Classifier> {
        let pipeline = bundle.pipeline();
        let head = bundle.config.head()?;
        Ok(Classifier {
            bundle,
            pipeline,
            head,
        })
    }

    /// The model's head: what its outputs mean and how labels are decided.
    pub fn head(&self) -> &dyn Head {
        self.head.as_ref()
    }

    /// Sets the memory cap of the model's inference projection cache, in bytes (default 256
    /// MiB, 0 turns it off; see [`crate::model::KimCnn::set_proj_cache_bytes`]). The cache
    /// holds the convolution filters' projection of the most frequent words, built once
    /// inference has read as many text positions as it has rows (or at once by
    /// [`Classifier::warm_proj_cache`]); it makes inference on large inputs faster (measured
    /// 1.1–3× on real text, see the README) and costs its size in memory.
    pub fn set_proj_cache_bytes(&mut self, bytes: usize) {
        self.bundle.model.set_proj_cache_bytes(bytes);
    }

    /// Builds the projection cache now, in the current rayon pool, rather than once inference
    /// has read enough text: `(words covered, bytes)`.
    pub fn warm_proj_cache(&self) -> (usize, usize) {
        self.bundle.model.warm_proj_cache()
    }

    /// Class names in output order.
    pub fn labels(&self) -> &[String] {
        &self.bundle.config.labels
    }

    /// The underlying bundle (config, model, vocabulary).
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The tokenizer, vocabulary and encoding settings of the bundle.
    pub fn pipeline(&self) -> &TextPipeline {
        &self.pipeline
    }

    /// Classifies `texts`, returning one prediction per text in input order. Texts are encoded
    /// in parallel and run through the model in batches of texts of similar length.
    pub fn predict(&self, texts: &[&str]) -> Vec<Prediction> {
        let (encoded, probs) = self.probabilities(texts);
        let k = self.labels().len();
        encoded
            .iter()
            .zip(probs.chunks(k))
            .map(|(e, p)| {
                let best = argmax(p);
                Prediction {
                    label: self.labels()[best].clone(),
                    probability: p[best],
                    probabilities: p.to_vec(),
                    n_tokens: e.n_tokens,
                    n_oov: e.n_oov,
                    truncated: e.truncated,
                }
            })
            .collect()
    }
}

/// Texts tokenized at a time for the n-gram branch by [`Classifier::probabilities`] and
/// [`Classifier::probabilities_of_encoded`]: their token lists (about 13 KB a review for IMDB)
/// are dropped before the next chunk, so a large input is never held as tokens all at once.
pub const TOKENIZE_CHUNK: usize = 4096;

/// The n-gram branch's logits `[texts, labels]` of raw texts, tokenized by `tokenizer`
/// [`TOKENIZE_CHUNK`] texts at a time (each text's logits do not depend on the others).
pub fn ngram_logits(model: &NgramModel, tokenizer: &Tokenizer, texts: &[&str]) -> Vec<f32> {
    let mut z = Vec::with_capacity(texts.len() * model.logreg.classes);
    for chunk in texts.chunks(TOKENIZE_CHUNK) {
        let docs = crate::text::tokenize_all(tokenizer, chunk);
        z.extend(model.logreg.logits(&model.featurizer.transform_all(&docs)));
    }
    z
}

impl Classifier {
    /// The encoded texts and their probabilities `[texts, labels]` (label order; see
    /// [`Classifier::probabilities_of`]). A model with an n-gram branch tokenizes
    /// [`TOKENIZE_CHUNK`] texts at a time; each text's probabilities do not depend on the
    /// others, so the chunking changes no figure.
    pub fn probabilities(&self, texts: &[&str]) -> (Vec<Encoded>, Vec<f32>) {
        if self.bundle.ngram.is_some() {
            let mut encoded = Vec::with_capacity(texts.len());
            let mut probs = Vec::with_capacity(texts.len() * self.labels().len());
            for chunk in texts.chunks(TOKENIZE_CHUNK) {
                let (docs, enc) = self.pipeline.tokenize_and_encode(chunk);
                probs.extend(self.probabilities_of(&docs, &enc));
                encoded.extend(enc);
            }
            (encoded, probs)
        } else {
            let encoded = self.pipeline.encode_batch(texts);
            let probs = self.probabilities_of(&[], &encoded);
            (encoded, probs)
        }
    }

    /// Probabilities `[texts, labels]` of `texts` already encoded by [`Classifier::pipeline`]
    /// (`encoded[i]` is `texts[i]`'s): as [`Classifier::probabilities_of`], with the n-gram
    /// branch's token lists made [`TOKENIZE_CHUNK`] texts at a time (the same figures).
    ///
    /// # Panics
    /// If `texts` and `encoded` differ in length.
    pub fn probabilities_of_encoded(&self, texts: &[&str], encoded: &[Encoded]) -> Vec<f32> {
        assert_eq!(texts.len(), encoded.len(), "one encoding per text");
        if self.bundle.ngram.is_none() {
            return self.probabilities_of(&[], encoded);
        }
        let mut probs = Vec::with_capacity(texts.len() * self.labels().len());
        for (t, e) in texts
            .chunks(TOKENIZE_CHUNK)
            .zip(encoded.chunks(TOKENIZE_CHUNK))
        {
            let docs = crate::text::tokenize_all(&self.pipeline.tokenizer, t);
            probs.extend(self.probabilities_of(&docs, e));
        }
        probs
    }

    /// Probabilities `[texts, labels]` (label order) of texts already tokenized (`docs`, read
    /// only by the n-gram branch; may be empty for a bundle without one) and encoded by
    /// [`Classifier::pipeline`]: the head's activation of the CNN's logits (softmax, or one
    /// sigmoid per label), mixed with the n-gram branch when the bundle has one.
    ///
    /// # Panics
    /// If the bundle has an n-gram branch and `docs` and `encoded` differ in length.
    pub fn probabilities_of(&self, docs: &[Vec<String>], encoded: &[Encoded]) -> Vec<f32> {
        let read = self.bundle.model.embedding().is_none() || self.bundle.config.ngram.is_some();
        let ngram_logits = self.bundle.ngram.as_ref().filter(|_| read).map(|ngram| {
            assert_eq!(docs.len(), encoded.len(), "one token list per encoded text");
            ngram.logreg.logits(&ngram.featurizer.transform_all(docs))
        });
        self.mixed(encoded, ngram_logits)
    }

    /// [`Classifier::probabilities_of_encoded`] with the n-gram branch's logits `[texts,
    /// labels]` of the same texts already computed by this bundle's branch (a training run
    /// scores its test set that way beside the CNN's epochs). The CNN's part runs a chunk of
    /// [`TOKENIZE_CHUNK`] texts at a time, as there, so the figures are the same.
    ///
    /// # Panics
    /// If `ngram_logits` is not `[encoded, labels]`.
    pub fn probabilities_with_ngram_logits(
        &self,
        encoded: &[Encoded],
        ngram_logits: &[f32],
    ) -> Vec<f32> {
        let k = self.labels().len();
        assert_eq!(ngram_logits.len(), encoded.len() * k, "[texts, labels]");
        let mut probs = Vec::with_capacity(ngram_logits.len());
        let chunks = ngram_logits.chunks(TOKENIZE_CHUNK * k);
        for (e, z) in encoded.chunks(TOKENIZE_CHUNK).zip(chunks) {
            probs.extend(self.mixed(e, Some(z.to_vec())));
        }
        probs
    }

    /// The head's probabilities of the CNN's logits of `encoded`, mixed with the n-gram
    /// branch's logits `[encoded, labels]` when given; without a network (`--arch ngram`), the
    /// branch's alone.
    fn mixed(&self, encoded: &[Encoded], ngram_logits: Option<Vec<f32>>) -> Vec<f32> {
        let k = self.labels().len();
        let ngram_logits = match (self.bundle.model.embedding(), ngram_logits) {
            (None, Some(mut z)) => {
                self.head.activate(&mut z, k);
                return z;
            }
            (_, z) => z,
        };
        let mut cnn = logits(&self.bundle.model, encoded, self.pipeline.encode.min_len);
        match (ngram_logits, &self.bundle.config.ngram) {
            (Some(z), Some(branch)) => self.head.mix(&cnn, &z, branch.mix, k),
            _ => {
                self.head.activate(&mut cnn, k);
                cnn
            }
        }
    }

    /// The multi-label settings (thresholds) of a multi-label bundle; `None` for a
    /// single-label one.
    pub fn multi_label(&self) -> Option<&MultiLabelConfig> {
        self.bundle.config.multi_label.as_ref()
    }

    /// The labels decided for prediction `p` by the head, most probable first, with their
    /// probabilities: the most probable label if its probability reaches `threshold` (default
    /// 0); for a multi-label model every label whose probability reaches its threshold
    /// (`threshold` overrides them all), possibly none.
    pub fn decided_labels(&self, p: &Prediction, threshold: Option<f32>) -> Vec<(&str, f32)> {
        self.head
            .decide(&p.probabilities, threshold)
            .into_iter()
            .map(|(c, prob)| (self.labels()[c].as_str(), prob))
            .collect()
    }

    /// The head's mean loss and scores of `texts` against `targets` (see
    /// [`Head::evaluate`]).
    pub fn evaluate(
        &self,
        texts: &[&str],
        targets: &crate::head::Targets,
    ) -> (f64, Box<dyn crate::eval::Scores>) {
        let (_, probs) = self.probabilities(texts);
        (
            self.head.mean_loss(&probs, targets),
            self.head.evaluate(self.labels(), targets, &probs),
        )
    }
}

/// Which part of a model gives the probabilities that [`Classifier::evaluate_dataset`] scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch {
    /// The model as it predicts: the mixture for `ngram-cnn`, else its only branch.
    Model,
    /// The CNN alone (the head's activation of its logits).
    Cnn,
    /// The n-gram branch alone (`ngram-cnn` and `ngram` bundles).
    Ngram,
}

/// A model's scores on a labelled dataset ([`Classifier::evaluate_dataset`]).
pub struct Evaluation {
    /// The scores (the report of `textcnn eval`).
    pub scores: Box<dyn crate::eval::Scores>,
    /// The head's mean loss over the scored examples.
    pub loss: f64,
    /// Indices (in the dataset's example order) of the examples scored.
    pub kept: Vec<usize>,
    /// The head's targets of the scored examples.
    pub targets: crate::head::Targets,
    /// The probabilities `[kept, labels]` scored.
    pub probs: Vec<f32>,
    /// Indices (in the dataset's example order) of examples with no token after tokenization,
    /// left out as `predict` refuses them.
    pub no_tokens: Vec<usize>,
    /// Labels of the data the model lacks, with counts (left out of the scores).
    pub unknown: crate::head::Unknown,
}

impl Classifier {
    /// Probabilities `[texts, labels]` of `texts` by `branch`; `None` when the bundle lacks
    /// that branch (an n-gram branch of a `kim` model, the CNN of an `--arch ngram` model).
    pub fn branch_probabilities(&self, texts: &[&str], branch: Branch) -> Option<Vec<f32>> {
        let k = self.labels().len();
        match branch {
            Branch::Model => Some(self.probabilities(texts).1),
            Branch::Cnn => {
                self.bundle.model.embedding()?;
                let encoded = self.pipeline.encode_batch(texts);
                let mut z = logits(&self.bundle.model, &encoded, self.pipeline.encode.min_len);
                self.head.activate(&mut z, k);
                Some(z)
            }
            Branch::Ngram => {
                let ngram = self.bundle.ngram.as_ref()?;
                let mut z = ngram_logits(ngram, &self.pipeline.tokenizer, texts);
                self.head.activate(&mut z, k);
                Some(z)
            }
        }
    }

    /// Scores `branch` on the labelled dataset `ds` as `textcnn eval` does: labels the model
    /// lacks are left out (and counted), examples without tokens are left out (and listed).
    /// `Ok(None)` when the bundle lacks `branch`.
    ///
    /// # Errors
    /// When no example has a token, or the head cannot read the dataset's labels.
    pub fn evaluate_dataset(
        &self,
        ds: &crate::data::Dataset,
        branch: Branch,
    ) -> Result<Option<Evaluation>> {
        let labels = self.labels().to_vec();
        let (all_targets, unknown) = self.head.targets(ds, &labels)?;
        let all_texts = ds.texts();
        let encoded = self.pipeline.encode_batch(&all_texts);
        let (keep, no_tokens): (Vec<usize>, Vec<usize>) =
            (0..encoded.len()).partition(|&i| encoded[i].n_tokens > 0);
        if keep.is_empty() {
            anyhow::bail!(
                "{}: no example has any token after tokenization; nothing to evaluate",
                ds.name
            );
        }
        let texts: Vec<&str> = keep.iter().map(|&i| all_texts[i]).collect();
        let targets = all_targets.rows(&keep);
        let Some(probs) = self.branch_probabilities(&texts, branch) else {
            return Ok(None);
        };
        Ok(Some(Evaluation {
            loss: self.head.mean_loss(&probs, &targets),
            scores: self.head.evaluate(&labels, &targets, &probs),
            kept: keep,
            targets,
            probs,
            no_tokens,
            unknown,
        }))
    }
}

impl Prediction {
    /// The `k` most probable `(label, probability)` pairs, most probable first (ties by label
    /// order).
    pub fn top_k<'a>(&self, labels: &'a [String], k: usize) -> Vec<(&'a str, f32)> {
        let mut idx: Vec<usize> = (0..self.probabilities.len()).collect();
        idx.sort_by(|&a, &b| {
            self.probabilities[b]
                .total_cmp(&self.probabilities[a])
                .then(a.cmp(&b))
        });
        idx.into_iter()
            .take(k)
            .map(|i| (labels[i].as_str(), self.probabilities[i]))
            .collect()
    }
}

/// Logits `[n, num_classes]` (row-major, input order) of encoded texts, computed in batches of
/// [`INFERENCE_BATCH`] texts sorted by length. Padding does not change a text's logits (the
/// model ignores windows past each row's length), so the grouping does not matter.
pub fn logits(model: &Model, encoded: &[Encoded], min_len: usize) -> Vec<f32> {
    let k = model.num_classes();
    let lengths: Vec<usize> = encoded.iter().map(real_length).collect();
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let mut out = vec![0.0; encoded.len() * k];
    for batch in bucketed_batches(&order, &lengths, INFERENCE_BATCH, 1) {
        let rows: Vec<&Encoded> = batch.iter().map(|&i| &encoded[i]).collect();
        let padded = PaddedBatch::new(&rows, min_len);
        let z = model.logits(&padded.view());
        for (r, &i) in batch.iter().enumerate() {
            out[i * k..(i + 1) * k].copy_from_slice(&z[r * k..(r + 1) * k]);
        }
    }
    out
}

/// Softmax probabilities `[n, num_classes]` of encoded texts by the CNN alone (see
/// [`logits`]; a classifier's probabilities are its head's, [`Classifier::probabilities_of`]).
pub fn probabilities(model: &Model, encoded: &[Encoded], min_len: usize) -> Vec<f32> {
    let k = model.num_classes();
    let mut z = logits(model, encoded, min_len);
    for row in z.chunks_mut(k) {
        softmax_in_place(row);
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_probability_then_label_order() {
        let p = Prediction {
            label: "b".into(),
            probability: 0.5,
            probabilities: vec![0.25, 0.5, 0.25],
            n_tokens: 1,
            n_oov: 0,
            truncated: false,
        };
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(p.top_k(&labels, 2), vec![("b", 0.5), ("a", 0.25)]);
        assert_eq!(p.top_k(&labels, 9).len(), 3);
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
    }
}
