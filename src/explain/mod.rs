//! Explanations: which windows of words, which n-grams and which tokens decided a label.
//!
//! # What is explained
//!
//! The **centered logit** of label `c`, `s_c = z_c − (1/K) Σ_k z_k` over the `K` labels. Softmax
//! ignores a shift shared by all labels, so `s_c = ln p_c − (1/K) Σ_k ln p_k`: it is fixed by the
//! probabilities alone, and a positive contribution always means "pushes label `c` above the
//! average label" (for two labels `s_c` is half the log-odds of `c`).
//!
//! * `--arch kim`: `z = W · pooled + b`, and after ReLU and max-over-time pooling each feature
//!   map's value comes from one window of `h` tokens (its argmax; dropout is off at inference;
//!   Kim 2014, §2). So `s_c = (b_c − b̄) + Σ_windows Σ_{maps won by the window} (W[c,m] − W̄[m]) ·
//!   pooled[m]`: an exact sum of per-window contributions plus a bias. Static and multichannel
//!   embeddings change only the window's value (the two channels' rows are summed), not the sum.
//! * `ngram-cnn`: the mixture `p = softmax(a · ln p_cnn + b · ln p_ngram)` has
//!   `s_c = a · s_c(cnn) + b · s_c(ngram)`, and the n-gram branch's logits are linear in its
//!   TF-IDF features, `z_ngram = Σ_f x_f W[f, ·] + bias`. So the CNN's windows (× a), each n-gram
//!   occurrence (× b; a column's value shared equally by its occurrences in the text) and the
//!   biases add up exactly to `s_c`. When a branch gives some label a probability under 1e-7,
//!   the mixture reads 1e-7 instead (so that one confident branch cannot veto a label
//!   outright), which raises that label's log-probability by `δ_k = ln 1e-7 − ln p_k`: the
//!   model's `s_c` then also holds `a · (δ_c − mean δ)` and the same for the branch, reported
//!   as its own term, [`Explanation::clamp`], so that windows + bias + clamp = `s_c` of the
//!   probabilities the model gives.
//! * conv2d (`--arch conv2d`, `seed`): 2-D pooling and hidden layers mix the windows, so no exact
//!   sum exists. Each token's contribution is its **occlusion** effect (Zeiler & Fergus 2014):
//!   `s_c` of the text minus `s_c` with that token replaced by `<pad>`. Method `occlusion`; the
//!   contributions do not add up to `s_c` and there is no bias.
//!
//! Token scores spread each window's contribution equally over the tokens it covers, so for an
//! exact explanation they too add up (with the bias) to `s_c`.

pub mod global;
pub mod html;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::batch::PaddedBatch;
pub use crate::head::{EXPLAINED, EXPLAINED_MULTI_LABEL, Explained};
use crate::model::Model;
use crate::model::kim::KimCnn;
use crate::ngram::{Csr, MixWeights};
use crate::predict::Classifier;
use crate::text::{Encoded, PAD_ID, TokenSpan, Truncation, char_offsets, encode};

/// How the contributions were computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Exact decomposition: contributions + bias = the explained logit.
    Exact,
    /// Occlusion of one token at a time (conv2d): the logit's drop when it is replaced by
    /// `<pad>`; the contributions need not add up to the logit.
    Occlusion,
}

/// Which part of the model a window belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A window of the CNN (the argmax window of one or more feature maps), or for conv2d a
    /// token whose occlusion was measured.
    Cnn,
    /// One occurrence of an n-gram of the n-gram branch.
    Ngram,
}

/// One contributing window: consecutive tokens read together by a feature map, or one
/// occurrence of an n-gram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Window {
    /// CNN window or n-gram occurrence.
    pub source: Source,
    /// Region size `h` of the CNN filters (tokens), or the n-gram's order `n` (words, or
    /// characters for a character n-gram).
    pub region_size: usize,
    /// The tokens joined by spaces, or the n-gram as the branch names it (`c:好吃` for a
    /// character n-gram).
    pub text: String,
    /// Indices of the tokens covered, into [`Explanation::tokens`], ascending.
    pub tokens: Vec<usize>,
    /// Character (Unicode scalar) offset in the original text of the first covered token's
    /// first character.
    pub start: usize,
    /// Character offset just past the last covered token.
    pub end: usize,
    /// Byte offsets of the same span (`byte_start..byte_end` slices the original `&str`).
    pub byte_start: usize,
    /// See [`Window::byte_start`].
    pub byte_end: usize,
    /// Contribution to the explained logit (in logit units, natural log).
    pub contribution: f32,
    /// CNN windows: the feature maps whose max-over-time value came from this window.
    #[serde(skip_serializing_if = "is_zero")]
    pub maps: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One token of the text with its share of the windows covering it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenScore {
    /// The token as the tokenizer gives it (lowercased, ...).
    pub text: String,
    /// Character offsets of the token in the original text.
    pub start: usize,
    /// See [`TokenScore::start`].
    pub end: usize,
    /// Byte offsets of the token in the original text.
    pub byte_start: usize,
    /// See [`TokenScore::byte_start`].
    pub byte_end: usize,
    /// Sum over the windows covering the token of the window's contribution divided by the
    /// number of tokens it covers.
    pub contribution: f32,
    /// Whether the CNN read the token (false for tokens cut by `max_len`; the n-gram branch
    /// reads every token).
    pub read_by_cnn: bool,
}

/// Why a text got a label: the explained logit, its bias and every contributing window and
/// token. See the [module documentation](self) for the definitions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The explained label.
    pub label: String,
    /// Its index in the bundle's label order.
    pub label_index: usize,
    /// Its probability (the same as [`Classifier::predict`] gives).
    pub probability: f32,
    /// Every label's probability, in the bundle's label order.
    pub probabilities: Vec<f32>,
    /// Exact decomposition or occlusion.
    pub method: Method,
    /// The explained logit: the centered logit `z_c − mean_k z_k` (of the mixture for
    /// `ngram-cnn`).
    pub logit: f32,
    /// The part of `logit` no window explains (output biases); `None` for occlusion.
    pub bias: Option<f32>,
    /// `ngram-cnn` with one label per text: the part of `logit` that comes from the mixture's
    /// floor (a branch's probability under 1e-7 read as 1e-7; see the [module
    /// documentation](self)); `None` when no probability was floored. Windows + bias + clamp
    /// = `logit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clamp: Option<f32>,
    /// `ngram-cnn`: the mixture's exponents (CNN, n-gram branch) that scale the two parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mix: Option<MixWeights>,
    /// Every window with a non-zero contribution, largest absolute contribution first (ties in
    /// text order).
    pub windows: Vec<Window>,
    /// Every token of the text, in text order.
    pub tokens: Vec<TokenScore>,
    /// Tokens in the text.
    pub n_tokens: usize,
    /// Tokens not in the CNN's vocabulary.
    pub n_oov: usize,
    /// Whether the CNN read only `max_len` of the tokens.
    pub truncated: bool,
    /// What [`Explanation::logit`] is, by the model's head: the centered logit of a softmax
    /// ([`EXPLAINED`]), or a label's own logit of a sigmoid ([`EXPLAINED_MULTI_LABEL`]).
    #[serde(skip)]
    pub explained_as: Explained,
}

/// An explanation with a few fields of context, serialized flat (f32 values in their shortest
/// exact form): what the CLI's `--json` lines and `POST /v1/explain` write.
#[derive(Serialize)]
pub struct Tagged<'a, T: Serialize> {
    /// The context fields (`line`, `n_windows`, ...).
    #[serde(flatten)]
    pub tags: T,
    /// [`EXPLAINED`].
    pub explained: &'static str,
    /// The explanation.
    #[serde(flatten)]
    pub explanation: &'a Explanation,
}

impl Explanation {
    /// What [`Explanation::logit`] is, as the JSON `"explained"` says it: [`EXPLAINED`] or
    /// [`EXPLAINED_MULTI_LABEL`].
    pub fn explained(&self) -> &'static str {
        self.explained_as.json
    }

    /// Sum of the window contributions plus the bias and the clamp: equals
    /// [`Explanation::logit`] to float rounding when the method is exact.
    pub fn reconstructed_logit(&self) -> f32 {
        let rest = self.bias.unwrap_or(0.0) as f64 + self.clamp.unwrap_or(0.0) as f64;
        (self.windows_total() as f64 + rest) as f32
    }

    /// Sum of the window contributions.
    pub fn windows_total(&self) -> f32 {
        self.windows
            .iter()
            .map(|w| w.contribution as f64)
            .sum::<f64>() as f32
    }
}

/// The forward pass of one text, kept for explaining any of its labels.
struct Analysis {
    spans: Vec<TokenSpan>,
    /// Character offsets `(start, end)` of every token.
    chars: Vec<(usize, usize)>,
    encoded: Encoded,
    /// Token index of every position the CNN reads.
    positions: Vec<usize>,
    probabilities: Vec<f32>,
    cnn: CnnPart,
    ngram: Option<NgramPart>,
}

enum CnnPart {
    /// Pooled features `[num_features]`, their argmax windows, the logits `[classes]` and, with
    /// mean pooling, every window's convolution without bias `[R, seq_len, maps]` (else empty).
    Kim {
        pooled: Vec<f32>,
        argmax: Vec<u32>,
        logits: Vec<f32>,
        windows: Vec<f32>,
    },
    /// Logits of the text `[classes]` and of the text with position `i` occluded, `[L, classes]`.
    Occlusion {
        logits: Vec<f32>,
        occluded: Vec<f32>,
    },
    /// No network (`--arch ngram`): only the n-gram branch is explained.
    Absent,
}

struct NgramPart {
    row: Vec<(u32, f32)>,
    /// `(column, order, tokens)` of every occurrence.
    occurrences: Vec<(u32, usize, std::ops::Range<usize>)>,
    logits: Vec<f32>,
    mix: MixWeights,
}

/// Token index of every position of an encoding of `n` tokens (see [`crate::text::encode`]).
fn kept_positions(n: usize, max_len: usize, truncation: Truncation) -> Vec<usize> {
    let max_len = if max_len == 0 { usize::MAX } else { max_len };
    if n <= max_len {
        return (0..n).collect();
    }
    let (head, tail) = match truncation {
        Truncation::Head => (max_len, 0),
        Truncation::Tail => (0, max_len),
        Truncation::HeadTail => (max_len / 2, max_len - max_len / 2),
    };
    (0..head).chain(n - tail..n).collect()
}

impl Classifier {
    /// Explains the label `label` of `text` (by name; `None`: the predicted label).
    ///
    /// # Errors
    /// A label the model does not have (the message lists them), or a text with no token after
    /// tokenization.
    pub fn explain(&self, text: &str, label: Option<&str>) -> Result<Explanation> {
        let a = self.analyze(text)?;
        let c = match label {
            None => crate::nn::argmax(&a.probabilities),
            Some(l) => self.label_index(l)?,
        };
        Ok(self.explanation(&a, c))
    }

    /// Explains the decided labels of `text`: the predicted label of a single-label model; every
    /// label over its threshold of a multi-label model (the most probable one when none is),
    /// most probable first. The model runs once.
    ///
    /// # Errors
    /// A text with no token after tokenization.
    pub fn explain_decided(&self, text: &str) -> Result<Vec<Explanation>> {
        let a = self.analyze(text)?;
        let mut labels: Vec<usize> = self
            .head()
            .decide(&a.probabilities, None)
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        if labels.is_empty() {
            labels.push(crate::nn::argmax(&a.probabilities));
        }
        Ok(labels.iter().map(|&c| self.explanation(&a, c)).collect())
    }

    /// Explains several labels of one text (label indices, e.g. every label a multi-label model
    /// predicts), running the model once.
    ///
    /// # Errors
    /// An index past the label count, or a text with no token after tokenization.
    pub fn explain_labels(&self, text: &str, labels: &[usize]) -> Result<Vec<Explanation>> {
        if let Some(&bad) = labels.iter().find(|&&c| c >= self.labels().len()) {
            bail!(
                "label index {bad} is out of range: the model has {} labels",
                self.labels().len()
            );
        }
        let a = self.analyze(text)?;
        Ok(labels.iter().map(|&c| self.explanation(&a, c)).collect())
    }

    /// Index of the label named `label`.
    ///
    /// # Errors
    /// When the model has no such label (the message lists the labels).
    pub fn label_index(&self, label: &str) -> Result<usize> {
        match self.labels().iter().position(|l| l == label) {
            Some(i) => Ok(i),
            None => bail!(
                "the model has no label {label:?}; its labels are {}",
                self.labels().join(", ")
            ),
        }
    }

    fn analyze(&self, text: &str) -> Result<Analysis> {
        let pipeline = self.pipeline();
        let spans = pipeline.tokenizer.tokenize_with_offsets(text);
        if spans.is_empty() {
            bail!(
                "the text has no tokens after tokenization (only markup, stop words or characters \
                 the tokenizer drops): nothing to explain"
            );
        }
        let offsets: Vec<usize> = spans.iter().flat_map(|s| [s.start, s.end]).collect();
        let chars: Vec<(usize, usize)> = char_offsets(text, &offsets)
            .chunks_exact(2)
            .map(|p| (p[0], p[1]))
            .collect();
        let tokens: Vec<String> = spans.iter().map(|s| s.text.clone()).collect();
        let encoded = encode(&tokens, &pipeline.vocab, &pipeline.encode);
        let mut positions = kept_positions(
            tokens.len(),
            pipeline.encode.max_len,
            pipeline.encode.truncation,
        );
        let bundle = self.bundle();
        let k = self.labels().len();
        let padded = PaddedBatch::new(&[&encoded], pipeline.encode.min_len);
        // The CNN's part, and its logits as prediction computes them (the probabilities are
        // those of `Classifier::predict`).
        let (cnn, cnn_logits) = match &bundle.model {
            Model::Kim(m) => kim_part(m, &padded, k),
            // No network (`--arch ngram`): the n-gram branch is the whole model.
            Model::Ngram(_) => (CnnPart::Absent, vec![0.0; k]),
            // Any other architecture: occlusion (one forward pass per token).
            model => {
                // A fixed-length model (conv2d) reads at most its input length.
                if let Some(n) = model.architecture().fixed_len() {
                    positions.truncate(n);
                }
                let predicted = crate::predict::logits(
                    &bundle.model,
                    std::slice::from_ref(&encoded),
                    pipeline.encode.min_len,
                );
                let (logits, occluded) = occlusion(&bundle.model, &padded, positions.len(), k);
                (CnnPart::Occlusion { logits, occluded }, predicted)
            }
        };
        let (ngram, probabilities) = self.ngram_part(&tokens, cnn_logits);
        Ok(Analysis {
            spans,
            chars,
            encoded,
            positions,
            probabilities,
            cnn,
            ngram,
        })
    }

    /// The n-gram branch's part of an analysis of `tokens` (when the model has the branch)
    /// and the model's probabilities: the mixture's with `cnn_logits`, or their activation.
    fn ngram_part(&self, tokens: &[String], cnn_logits: Vec<f32>) -> (Option<NgramPart>, Vec<f32>) {
        let bundle = self.bundle();
        let (k, head) = (self.labels().len(), self.head());
        match (&bundle.ngram, &bundle.config.ngram) {
            (Some(model), Some(branch)) => {
                let row = model.featurizer.transform(tokens);
                let logits = model.logreg.logits(&Csr::from_rows(
                    std::slice::from_ref(&row),
                    model.featurizer.num_features(),
                ));
                let probs = head.mix(&cnn_logits, &logits, branch.mix, k);
                let part = NgramPart {
                    occurrences: model.featurizer.occurrences(tokens),
                    row,
                    logits,
                    mix: branch.mix,
                };
                (Some(part), probs)
            }
            _ => {
                let mut probs = cnn_logits;
                head.activate(&mut probs, k);
                (None, probs)
            }
        }
    }

    fn explanation(&self, a: &Analysis, c: usize) -> Explanation {
        let bundle = self.bundle();
        let k = self.labels().len();
        let head = self.head();
        let centered = |v: &dyn Fn(usize) -> f32, k: usize, c: usize| head.explained_value(v, k, c);
        let cnn_weight = a.ngram.as_ref().map_or(1.0, |n| n.mix.cnn as f64);
        let mut windows: Vec<Window> = Vec::new();
        let mut logit = 0.0f64;
        let mut bias = Some(0.0f64);
        let method;
        match (&a.cnn, &bundle.model) {
            (
                CnnPart::Kim {
                    pooled,
                    argmax,
                    logits,
                    windows: all_windows,
                },
                Model::Kim(m),
            ) => {
                method = Method::Exact;
                let parts = (&pooled[..], &argmax[..], &logits[..], &all_windows[..]);
                let (l, b) = self.kim_windows(a, c, m, parts, cnn_weight, &mut windows);
                logit += l;
                bias = bias.map(|x| x + b);
            }
            (CnnPart::Absent, _) => method = Method::Exact,
            (CnnPart::Occlusion { logits, occluded }, _) => {
                method = Method::Occlusion;
                bias = None;
                let full = centered(&|i| logits[i], k, c);
                logit += cnn_weight * full;
                for (p, &token) in a.positions.iter().enumerate() {
                    let row = &occluded[p * k..(p + 1) * k];
                    let value = cnn_weight * (full - centered(&|i| row[i], k, c));
                    windows.push(self.window(a, Source::Cnn, 1, None, vec![token], value, 0));
                }
            }
            _ => unreachable!("the analysis was made for this model"),
        }
        if let Some((l, b)) = self.ngram_windows(a, c, &mut windows) {
            logit += l;
            bias = bias.map(|x| x + b);
        }
        // No network (`--arch ngram`): the CNN's part of the mixture is 0 (exponent 0).
        let no_cnn = vec![0.0; k];
        let cnn_logits = match &a.cnn {
            CnnPart::Kim { logits, .. } | CnnPart::Occlusion { logits, .. } => logits,
            CnnPart::Absent => &no_cnn,
        };
        let clamp = a
            .ngram
            .as_ref()
            .map(|n| head.mix_floor(cnn_logits, &n.logits, n.mix, c))
            .filter(|&v| v != 0.0);
        logit += clamp.unwrap_or(0.0);
        windows.retain(|w| w.contribution != 0.0);
        let tokens = token_scores(a, &windows);
        windows.sort_by(|x, y| {
            y.contribution
                .abs()
                .total_cmp(&x.contribution.abs())
                .then(x.byte_start.cmp(&y.byte_start))
        });
        Explanation {
            label: self.labels()[c].clone(),
            label_index: c,
            probability: a.probabilities[c],
            probabilities: a.probabilities.clone(),
            method,
            logit: logit as f32,
            bias: bias.map(|b| b as f32),
            clamp: clamp.map(|v| v as f32),
            mix: a.ngram.as_ref().map(|n| n.mix),
            windows,
            tokens,
            n_tokens: a.encoded.n_tokens,
            n_oov: a.encoded.n_oov,
            truncated: a.encoded.truncated,
            explained_as: head.explained(),
        }
    }

    /// The exact decomposition of a Kim CNN's centered logit of label `c` (weighted by
    /// `cnn_weight`, the mixture's CNN weight): one window per (region, window) that wins a
    /// map's max or adds to its mean, appended to `windows`; returns the CNN's share of the
    /// logit and of the bias.
    fn kim_windows(
        &self,
        a: &Analysis,
        c: usize,
        m: &KimCnn,
        (pooled, argmax, logits, all_windows): (&[f32], &[u32], &[f32], &[f32]),
        cnn_weight: f64,
        windows: &mut Vec<Window>,
    ) -> (f64, f64) {
        let k = self.labels().len();
        let head = self.head();
        let centered = |v: &dyn Fn(usize) -> f32, k: usize, c: usize| head.explained_value(v, k, c);
        let logit_share = cnn_weight * centered(&|i| logits[i], k, c);
        let bias_share = cnn_weight * centered(&|i| m.fc_bias[i], k, c);
        let cfg = m.config();
        let (maps, nf) = (cfg.feature_maps, cfg.num_features());
        let length = a.positions.len();
        // (region, window) -> (contribution, maps), in region then window order.
        let mut sums: Vec<Vec<(f64, usize)>> = cfg
            .region_sizes
            .iter()
            .map(|&h| vec![(0.0, 0); crate::model::kim::valid_windows(length, h)])
            .collect();
        let mf = cfg.max_features();
        for j in 0..mf {
            if pooled[j] <= 0.0 {
                continue; // ReLU output 0: the map adds nothing.
            }
            let w = centered(&|i| m.fc_weight[i * nf + j], k, c);
            let slot = &mut sums[j / maps][argmax[j] as usize];
            slot.0 += cnn_weight * w * pooled[j] as f64;
            slot.1 += 1;
        }
        // Mean pooling: feature `mf + r·maps + f` is the mean of relu(window + bias)
        // over the region's windows, so each window adds its share.
        let seq_len = all_windows.len() / (maps * cfg.region_sizes.len()).max(1);
        for (j, &p) in pooled.iter().enumerate().take(nf).skip(mf) {
            if p <= 0.0 {
                continue;
            }
            let (r, f) = ((j - mf) / maps, (j - mf) % maps);
            let w = centered(&|i| m.fc_weight[i * nf + j], k, c);
            let bias = m.convs[r].bias[f];
            let nw = sums[r].len();
            for (t, slot) in sums[r].iter_mut().enumerate() {
                let v = (all_windows[(r * seq_len + t) * maps + f] + bias).max(0.0);
                if v > 0.0 {
                    slot.0 += cnn_weight * w * (v / nw as f32) as f64;
                    slot.1 += 1;
                }
            }
        }
        for (r, region) in sums.iter().enumerate() {
            let h = cfg.region_sizes[r];
            for (t, &(value, n_maps)) in region.iter().enumerate() {
                if n_maps == 0 {
                    continue;
                }
                let tokens: Vec<usize> = a.positions[t..(t + h).min(length)].to_vec();
                windows.push(self.window(a, Source::Cnn, h, None, tokens, value, n_maps));
            }
        }
        (logit_share, bias_share)
    }

    /// The n-gram branch's windows of label `c` (one per n-gram occurrence, a column's value
    /// shared by its occurrences), added to `windows`; returns the branch's share of the logit
    /// and of the bias (`None` without a branch).
    fn ngram_windows(
        &self,
        a: &Analysis,
        c: usize,
        windows: &mut Vec<Window>,
    ) -> Option<(f64, f64)> {
        let (part, model) = a.ngram.as_ref().zip(self.bundle().ngram.as_ref())?;
        let k = self.labels().len();
        let head = self.head();
        let centered = |v: &dyn Fn(usize) -> f32| head.explained_value(v, k, c);
        let b = part.mix.ngram as f64;
        let lr = &model.logreg;
        let mut count = std::collections::HashMap::new();
        for (col, _, _) in &part.occurrences {
            *count.entry(*col).or_insert(0usize) += 1;
        }
        let value: std::collections::HashMap<u32, f64> = part
            .row
            .iter()
            .map(|&(col, x)| {
                let w = centered(&|i| lr.weights[col as usize * k + i]);
                (col, b * x as f64 * w / count[&col] as f64)
            })
            .collect();
        for (col, n, tokens) in &part.occurrences {
            let name = model.featurizer.ngram_text(*col as usize);
            let tokens: Vec<usize> = tokens.clone().collect();
            windows.push(self.window(a, Source::Ngram, *n, Some(name), tokens, value[col], 0));
        }
        Some((
            b * centered(&|i| part.logits[i]),
            b * centered(&|i| lr.bias[i]),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn window(
        &self,
        a: &Analysis,
        source: Source,
        region_size: usize,
        name: Option<String>,
        tokens: Vec<usize>,
        value: f64,
        maps: usize,
    ) -> Window {
        let (first, last) = (tokens[0], *tokens.last().expect("a window covers a token"));
        let text = name.unwrap_or_else(|| {
            tokens
                .iter()
                .map(|&t| a.spans[t].text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        });
        Window {
            source,
            region_size,
            text,
            start: a.chars[first].0,
            end: a.chars[last].1,
            byte_start: a.spans[first].start,
            byte_end: a.spans[last].end,
            tokens,
            contribution: value as f32,
            maps,
        }
    }
}

/// Every token of the analysed text with its share of the windows covering it (from the
/// unrounded window values), and whether the CNN read it.
fn token_scores(a: &Analysis, windows: &[Window]) -> Vec<TokenScore> {
    let mut token_sums = vec![0.0f64; a.spans.len()];
    for w in windows {
        let share = w.contribution as f64 / w.tokens.len() as f64;
        for &t in &w.tokens {
            token_sums[t] += share;
        }
    }
    let mut read = vec![false; a.spans.len()];
    for &p in &a.positions {
        read[p] = true;
    }
    a.spans
        .iter()
        .zip(&a.chars)
        .enumerate()
        .map(|(i, (s, &(start, end)))| TokenScore {
            text: s.text.clone(),
            start,
            end,
            byte_start: s.start,
            byte_end: s.end,
            contribution: token_sums[i] as f32,
            read_by_cnn: read[i],
        })
        .collect()
}

/// The Kim CNN's part of an analysis of the text in `padded` (one example), `k` labels: the
/// pooled features, their argmax windows and (mean pooling) every window, from the same pass
/// as its logits; and the logits as prediction computes them.
fn kim_part(m: &KimCnn, padded: &PaddedBatch, k: usize) -> (CnnPart, Vec<f32>) {
    let nf = m.config().num_features();
    let (mut pooled, mut argmax) = (vec![0.0; nf], vec![0u32; nf]);
    let batch = padded.view();
    m.check_batch(&batch);
    // Mean pooling: every window counts, so they are kept (pooled and windows from
    // the same pass, so that the decomposition adds up exactly).
    let mut windows = Vec::new();
    if m.config().pooling.has_mean() {
        let cfg = m.config();
        windows = vec![0.0; cfg.region_sizes.len() * batch.seq_len * cfg.feature_maps];
        m.features_gemm(&batch, &mut pooled, &mut argmax, Some(&mut windows));
    } else {
        m.features_inference(&batch, &mut pooled, &mut argmax);
    }
    let mut logits = vec![0.0; k];
    crate::nn::dense::dense_forward(&pooled, &m.fc_weight, &m.fc_bias, nf, k, &mut logits);
    let predicted = logits.clone();
    (
        CnnPart::Kim {
            pooled,
            argmax,
            logits,
            windows,
        },
        predicted,
    )
}

/// Logits `[classes]` of the text in `padded` (one row) and `[length, classes]` of the text
/// with each of its first `length` positions replaced by `<pad>` in turn, in one batch.
fn occlusion(model: &Model, padded: &PaddedBatch, length: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    let s = padded.seq_len;
    let rows = length + 1;
    let mut ids = Vec::with_capacity(rows * s);
    for r in 0..rows {
        ids.extend_from_slice(&padded.ids[..s]);
        if r > 0 {
            ids[r * s + r - 1] = PAD_ID;
        }
    }
    let lengths = vec![padded.lengths[0]; rows];
    let batch = crate::batch::Batch {
        ids: &ids,
        lengths: &lengths,
        batch: rows,
        seq_len: s,
    };
    let z = model.logits(&batch);
    (z[..k].to_vec(), z[k..].to_vec())
}
