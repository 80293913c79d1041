//! The last training stage of the default `ngram-cnn` model: fit the n-gram branch
//! ([`crate::ngram`]) and choose its regularisation and its weight in the mixture with the CNN
//! on the validation split.
//!
//! The logistic regression is NB-weighted (Wang & Manning 2012): each weight's L2 penalty is
//! divided by the square of its naive-Bayes log-count ratio, so discriminative n-grams are
//! penalised less ([`crate::ngram::LogReg::fit_scaled`]).
//!
//! Rules (chosen on validation splits of the development suite and IMDB, see the README's
//! accuracy table):
//! - Chinese (more than 30 % of the training characters Han): character 1–3-grams (over the
//!   tokens joined by spaces) with word 1–2-grams, or with word unigrams when that is strictly
//!   better on validation.
//! - Other texts: word 1–2-grams; for texts of at most 100 tokens on average and fewer than
//!   100,000 training texts, also word 1–2-grams plus character 1–3-grams, kept only when
//!   strictly better on validation (they help noisy short texts — SMS spam, tweets — and tie or
//!   hurt on clean ones, on long texts and on large sets).
//! - `min_df` 1 below 20,000 training texts, 2 above (keeps IMDB's bigram table at ~1.4M
//!   columns instead of ~4M for no loss).
//! - `C` from {1, 10, 100, 1000} for each feature set (in that order, stopping after the first
//!   `C` less accurate than the one before), the pair with the best validation
//!   accuracy kept (as `../shared/bench/baselines_tsv.py` picks C from {1, 10, 100}); then the
//!   mixture weights by validation log-loss; then a refit on training + validation texts with
//!   the chosen features and `C`.
//!
//! Measured on validation splits when the rule was chosen (the suite's training files, 10 % held
//! out): character n-grams raised the branch from 0.7780 to 0.8160 on germeval and from 0.9892 to
//! 0.9957 on sms, tied on snips, and lowered finphrase (0.9310 → 0.9113) and news20 (0.9656 →
//! 0.9631). On many short texts they stop paying for themselves: on `bench/scale.py`'s IMDB
//! sentences (one label per review, so noisy) word 1–2-grams plus characters scored 0.7048
//! against 0.7034 on validation at 50,000 texts, but 0.7344 against 0.7349 at 150,000 and
//! 0.7554 against 0.7587 at 500,000, while their rows hold six times the entries of the word
//! rows: at 150,000 texts their two fits took 47 of the branch's 77 s and doubled its peak
//! memory. Hence no characters from 100,000 texts on (Chinese keeps them: they are its words).
//!
//! Tried and not adopted (5-fold cross-validation on training files only, `bench/suite_cv.py`
//! and two Chinese sets from `SophonPlus/ChineseNlpCorpus`, hotel reviews and 10 product
//! categories): Chinese character n-grams without the word segmenter's spaces (as scikit-learn's
//! `analyzer="char"` reads raw text) scored 0.8991 / 0.9042 / 0.8872 against 0.8991 / 0.9033 /
//! 0.8889 with them (waimai / hotels / products); with that variant, adding `C` 0.1 and 0.3 to
//! the grid: 0.9003 against 0.8991 on waimai; a character-level Kim CNN's probabilities mixed into
//! the default's (exponent 0.25 to 1; both with that variant and seed 1): 0.8987 to 0.9005 against
//! 0.8987; character 1–4-grams, screened with scikit-learn's TF-IDF + LR only (5 folds, `C` from
//! {1, 10}): 0.9001 against 0.8989 on waimai, 0.8975 against 0.8989 on hotels, so not implemented
//! (a 4-gram does not fit [`crate::ngram`]'s packed three-symbol key); a multinomial naive Bayes
//! model (binary character 1–3- and word 1–2-grams) mixed with the LR, same screen: the validation
//! split gave it weight 0 on all five waimai folds. All within noise. Extending the `C` path
//! below 1 when `C` 1 scores best of a feature set (0.1, then 0.01 while strictly better; 2026-12-08,
//! validation accuracy of the fits): waimai 0.9109 and 0.9090 at 0.1 against 0.9174 and 0.9183 at
//! 1 (its two feature sets); `bench/scale.py`'s IMDB sentences 0.6972 / 0.6828 against 0.7044 /
//! 0.7056 at 50,000 texts and 0.7215 against 0.7353 at 150,000: `C` 1 was the best wherever
//! it was the path's best, so the path starts there.

use anyhow::Result;

use crate::bundle::NgramBranch;
use crate::head::{BranchFit, Head, Targets};
use crate::ngram::{
    Csr, DocRef, LogReg, LogRegFit, MixWeights, NgramConfig, NgramFeaturizer, NgramModel,
    StopFlags, Tokens, han_share,
};
pub use crate::ngram::{NB_FLOOR, NB_SMOOTHING};

/// Inverse L2 strengths tried, in this order (each fit warm-starts from the previous one; the
/// path stops early when the validation score falls, see [`path_turned`]).
pub(crate) const C_PATH: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];
/// Whether a feature set's C path stops after a `C` scoring `acc` on validation (the head's
/// branch score: accuracy; micro-F1 for multi-label models), the previous (smaller) `C` having
/// scored `prev`. When the score fell, the weaker regularisation already overfits, and the
/// larger `C` values left would fit slowest and score lower still. On every suite set and IMDB
/// no `C` after such a fall was more accurate than the best before it (the `c_path` records of
/// `bench/suite.py`); on 120,000 short texts it halves the branch's fits.
pub(crate) fn path_turned(prev: Option<f64>, acc: f64) -> bool {
    prev.is_some_and(|p| acc < p)
}

/// Han share of training characters above which character n-grams are added.
const HAN_SHARE_FOR_CHARS: f64 = 0.3;
/// Training texts from which n-grams must occur in two documents.
const MIN_DF_2_FROM: usize = 20_000;

/// Mean tokens per training text up to which character n-grams are also tried for non-Chinese
/// text (longer texts: word n-grams carry the signal, and the character table grows with length).
const CHARS_TRIED_UP_TO_MEAN_TOKENS: f64 = 100.0;
/// Training texts from which character n-grams are no longer tried for non-Chinese text (word
/// n-grams are then frequent enough; see the module documentation for the scale benchmark's
/// figures).
const CHARS_TRIED_BELOW_TEXTS: usize = 100_000;

/// The n-gram feature sets tried for a training set, in order of preference (see the module
/// documentation): for Chinese, word 1–2-grams plus character 1–3-grams, then word unigrams plus
/// character 1–3-grams; otherwise word 1–2-grams, then (short texts, fewer than 100,000 of them,
/// only) word 1–2-grams plus character 1–3-grams.
pub fn ngram_configs<D: Tokens>(train_docs: &[D]) -> Vec<NgramConfig> {
    let min_df = if train_docs.len() >= MIN_DF_2_FROM {
        2
    } else {
        1
    };
    let with_chars = NgramConfig {
        word_n: 2,
        char_n: 3,
        min_df,
    };
    if han_share(train_docs) > HAN_SHARE_FOR_CHARS {
        // Chinese: characters always; jieba's word bigrams only when they help.
        let unigrams = NgramConfig {
            word_n: 1,
            ..with_chars.clone()
        };
        return vec![with_chars, unigrams];
    }
    let words = NgramConfig {
        char_n: 0,
        ..with_chars.clone()
    };
    let tokens: usize = train_docs.iter().map(Tokens::count).sum();
    let mean = tokens as f64 / train_docs.len().max(1) as f64;
    if mean <= CHARS_TRIED_UP_TO_MEAN_TOKENS && train_docs.len() < CHARS_TRIED_BELOW_TEXTS {
        vec![words, with_chars]
    } else {
        vec![words]
    }
}

/// The data the stage reads: token lists and the head's targets of both splits, and the
/// CNN's validation logits `[valid, labels]`.
pub struct BranchData<'a> {
    /// Token lists of the training texts.
    pub train_docs: &'a [DocRef<'a>],
    /// Their targets.
    pub train: &'a Targets,
    /// Token lists of the validation texts.
    pub valid_docs: &'a [DocRef<'a>],
    /// Their targets.
    pub valid: &'a Targets,
    /// The CNN's validation logits `[valid, labels]`; `None` for a model without a CNN
    /// (`--arch ngram`: the branch alone, mixture exponents 0 and 1).
    pub cnn_valid_logits: Option<&'a [f32]>,
    /// Number of labels.
    pub labels: usize,
    /// When fine-tuning a model with an n-gram branch over the same labels: that branch and its
    /// record, kept instead of the branch fitted on the new texts when it scores better on
    /// the validation split (the new texts alone may be too few to refit it).
    pub parent: Option<(&'a NgramModel, &'a NgramBranch)>,
    /// Flags that stop the stage (Ctrl-C; the failure of the CNN trained beside it): the
    /// running fit ends at its next iteration and nothing is returned.
    pub stop: StopFlags<'a>,
}

impl BranchData<'_> {
    /// Whether the stage was asked to stop.
    fn stopped(&self) -> bool {
        self.stop.is_set()
    }

    /// The solver settings of one fit with `C` = `c` (and the stop flag), on a matrix whose
    /// transpose `xt` the caller may already have (see [`LogRegFit::xt`]).
    fn settings<'s>(&'s self, c: f64, xt: Option<&'s Csr>) -> LogRegFit<'s> {
        LogRegFit {
            c,
            stop: self.stop,
            xt,
            ..LogRegFit::default()
        }
    }
}

/// The best (feature set, C) so far.
struct Selected {
    score: f64,
    c: f64,
    logits: Vec<f32>,
    probs: Vec<f32>,
    model: LogReg,
    config: NgramConfig,
    featurizer: NgramFeaturizer,
}

/// The head's probabilities of logits `[n, labels]`.
fn activated(head: &dyn Head, logits: &[f32], labels: usize) -> Vec<f32> {
    let mut p = logits.to_vec();
    head.activate(&mut p, labels);
    p
}

/// The validation split as the mixture reads it: the head's targets, the CNN's logits
/// `[valid, labels]` (`None` without a CNN) and the number of labels.
#[derive(Clone, Copy)]
pub struct MixInputs<'a> {
    /// The validation targets.
    pub valid: &'a Targets,
    /// The CNN's validation logits `[valid, labels]`; `None` for `--arch ngram`.
    pub cnn_valid_logits: Option<&'a [f32]>,
    /// Number of labels.
    pub labels: usize,
}

impl<'a> BranchData<'a> {
    /// What the mixture reads of these data.
    fn mix_inputs(&self) -> MixInputs<'a> {
        MixInputs {
            valid: self.valid,
            cnn_valid_logits: self.cnn_valid_logits,
            labels: self.labels,
        }
    }
}

/// The mixture of the CNN's and the branch's validation logits `[valid, labels]`: its
/// exponents, chosen on the validation split by the head, and the mixed probabilities. Without
/// a CNN (`--arch ngram`) the exponents are 0 and 1: the branch alone.
fn mixture(head: &dyn Head, data: MixInputs, ngram_logits: &[f32]) -> (MixWeights, Vec<f32>) {
    match data.cnn_valid_logits {
        Some(cnn) => {
            let mix = head.choose_mix(cnn, ngram_logits, data.valid);
            (mix, head.mix(cnn, ngram_logits, mix, data.labels))
        }
        None => {
            let mix = MixWeights {
                cnn: 0.0,
                ngram: 1.0,
            };
            let zeros = vec![0.0; ngram_logits.len()];
            (mix, head.mix(&zeros, ngram_logits, mix, data.labels))
        }
    }
}

/// Fits the branch and returns it with its `config.json` record; `None` when
/// [`BranchData::stop`] was set.
///
/// # Errors
/// Only from [`NgramFeaturizer::fit`] (more than 2^21 distinct tokens).
pub fn fit_branch(head: &dyn Head, data: &BranchData) -> Result<Option<(NgramModel, NgramBranch)>> {
    Ok(fit_branch_held_out(head, data)?.map(|(model, branch, _)| (model, branch)))
}

/// A fitted branch, its record and the mixture's held-out validation probabilities.
pub type HeldOutBranch = (NgramModel, NgramBranch, Vec<f32>);

/// [`fit_branch`], also returning the mixture's validation probabilities `[valid, labels]`
/// from before the refit on all texts (the returned model has seen the validation texts, so
/// its own validation predictions are not held out): [`fit_branch_alone`], then
/// [`BranchAlone::mixed`] with [`BranchData::cnn_valid_logits`].
///
/// The head supplies the regression (multinomial, or one-vs-rest), its naive-Bayes scale, the
/// score that chooses `C`, the feature sets searched and the mixture. `None` when
/// [`BranchData::stop`] was set (checked at every iteration of every fit).
///
/// # Errors
/// Only from [`NgramFeaturizer::fit`] (more than 2^21 distinct tokens).
pub fn fit_branch_held_out(head: &dyn Head, data: &BranchData) -> Result<Option<HeldOutBranch>> {
    Ok(fit_branch_alone(head, data)?.map(|alone| alone.mixed(head, data.mix_inputs())))
}

/// The branch fitted without the CNN: the `C` path's choice (or, fine-tuning, the parent's
/// branch when it is better), refitted on every labelled text. Nothing of it reads the CNN, so
/// a training run fits it beside the CNN's epochs; [`BranchAlone::mixed`] then adds the mixture.
pub struct BranchAlone {
    /// The fitted featurizer and regression.
    model: NgramModel,
    /// Its record, whose `mix` and `validation` [`BranchAlone::mixed`] sets.
    record: NgramBranch,
    /// The branch's held-out validation logits `[valid, labels]`: the chosen fit's before the
    /// refit, or the kept parent's.
    logits: Vec<f32>,
    /// Their probabilities.
    probs: Vec<f32>,
    /// The `C` path's record.
    path: Vec<serde_json::Value>,
    /// The kept parent branch's scores, when it was kept.
    kept: Option<serde_json::Value>,
}

impl BranchAlone {
    /// The fitted featurizer and regression.
    pub fn model(&self) -> &NgramModel {
        &self.model
    }

    /// The branch with its mixture with the CNN, chosen on the validation split (see
    /// [`HeldOutBranch`]).
    pub fn mixed(self, head: &dyn Head, data: MixInputs) -> HeldOutBranch {
        let (mix, mixed) = mixture(head, data, &self.logits);
        let validation = branch_validation(head, data, &self.probs, &mixed, self.path, self.kept);
        let branch = NgramBranch {
            mix,
            validation,
            ..self.record
        };
        (self.model, branch, mixed)
    }
}

/// The part of [`fit_branch_held_out`] that does not read the CNN (see [`BranchAlone`]);
/// [`BranchData::cnn_valid_logits`] is not read. `None` when [`BranchData::stop`] was set.
///
/// # Errors
/// Only from [`NgramFeaturizer::fit`] (more than 2^21 distinct tokens).
pub fn fit_branch_alone(head: &dyn Head, data: &BranchData) -> Result<Option<BranchAlone>> {
    let Some((path, best)) = search(head, data)? else {
        return Ok(None);
    };
    if let Some(kept) = keep_parent(head, data, best.as_ref().map_or(0.0, |b| b.score), &path) {
        return Ok(Some(kept));
    }
    let Selected {
        c,
        logits,
        probs,
        model: chosen,
        config,
        featurizer,
        ..
    } = best.expect("at least one feature set and C");

    // Refit on every labelled text with the chosen C, starting from the chosen model's
    // weights for the n-grams both tables share.
    let all_docs: Vec<DocRef> = data
        .train_docs
        .iter()
        .chain(data.valid_docs)
        .copied()
        .collect();
    let all = data.train.concat(data.valid);
    if data.stopped() {
        return Ok(None);
    }
    let refit_featurizer = NgramFeaturizer::fit(&all_docs, config.clone())?;
    if data.stopped() {
        return Ok(None);
    }
    let x_all = refit_featurizer.transform_all(&all_docs);
    let start = chosen.remap(&featurizer, &refit_featurizer);
    // The search's table and weights are not read again: freed before the refit allocates its
    // matrix and solver buffers (beside the CNN's epochs, every resident byte counts).
    drop((featurizer, chosen));
    let scale = head.branch_scale(&x_all, &all);
    let fit = BranchFit {
        settings: data.settings(c, None),
        warm: Some(&start),
        scale: &scale,
    };
    let logreg = head.branch_fit(&x_all, &all, &fit).0;
    crate::fault::point("ngram-fit");
    if data.stopped() {
        return Ok(None);
    }
    let featurizer = refit_featurizer;
    let record = NgramBranch {
        model: "ngram-cnn".to_string(),
        features: config,
        num_features: featurizer.num_features(),
        c,
        mix: MixWeights {
            cnn: 0.0,
            ngram: 1.0,
        },
        validation: serde_json::Value::Null,
    };
    Ok(Some(BranchAlone {
        model: NgramModel { featurizer, logreg },
        record,
        logits,
        probs,
        path,
        kept: None,
    }))
}

/// The branch's validation record: the head's figure of the CNN, the branch and the mixture
/// (`cnn`, `ngram`, `mixed`), the `c_path`, the kept parent branch's scores when it was kept,
/// and the head's own fields.
fn branch_validation(
    head: &dyn Head,
    data: MixInputs,
    ngram_probs: &[f32],
    mixed: &[f32],
    path: Vec<serde_json::Value>,
    kept: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ngram": head.figure(ngram_probs, data.valid),
        "mixed": head.figure(mixed, data.valid),
        "c_path": path,
    });
    if let Some(cnn) = data.cnn_valid_logits {
        let cnn_probs = activated(head, cnn, data.labels);
        v["cnn"] = head.figure(&cnn_probs, data.valid).into();
    }
    if let Some(kept) = kept {
        v["kept_parent_branch"] = kept;
    }
    if let Some(map) = v.as_object_mut() {
        map.extend(head.branch_record());
    }
    v
}

/// The path's record and the best (feature set, `C`) found.
type Search = (Vec<serde_json::Value>, Option<Selected>);

/// The `C` path of every feature set the head searches (see the module documentation): the
/// path's record and the best (feature set, `C`) by the head's branch score; `None` when
/// stopped.
///
/// # Errors
/// Only from [`NgramFeaturizer::fit`].
fn search(head: &dyn Head, data: &BranchData) -> Result<Option<Search>> {
    let (k, score_name) = (data.labels, head.branch_score_name());
    // The table, IDF and NB ratios of the selection runs come from the training rows only:
    // validation rows must look like unseen text (n-grams absent from training dropped), or
    // C and the mixture would be chosen on rows that differ from those met at prediction.
    // Each feature set's C path; a later set must be strictly better on validation.
    let mut path = Vec::new();
    let mut best: Option<Selected> = None;
    for config in head.branch_feature_sets(ngram_configs(data.train_docs)) {
        // The steps before the solver's first iteration check the stop flags too: on long texts
        // they take seconds, and a run whose epochs failed or were interrupted waits for them.
        if data.stopped() {
            return Ok(None);
        }
        let featurizer = NgramFeaturizer::fit(data.train_docs, config.clone())?;
        if data.stopped() {
            return Ok(None);
        }
        let x_train = featurizer.transform_all(data.train_docs);
        let x_valid = featurizer.transform_all(data.valid_docs);
        let mut warm: Option<LogReg> = None;
        let mut prev: Option<f64> = None;
        let scale = head.branch_scale(&x_train, data.train);
        if data.stopped() {
            return Ok(None);
        }
        // Every fit of the path reads the same matrix: one transpose for all of them.
        let xt = x_train.transpose();
        for c in C_PATH {
            let fit = BranchFit {
                settings: data.settings(c, Some(&xt)),
                warm: warm.as_ref(),
                scale: &scale,
            };
            let (model, iters) = head.branch_fit(&x_train, data.train, &fit);
            crate::fault::point("ngram-fit");
            if data.stopped() {
                return Ok(None);
            }
            let logits = model.logits(&x_valid);
            let probs = activated(head, &logits, k);
            let score = head.branch_score(&probs, data.valid);
            let mut step = serde_json::json!({
                "word_n": config.word_n,
                "char_n": config.char_n,
                "c": c,
                "iters": iters,
            });
            step[score_name] = score.into();
            path.push(step);
            if best.as_ref().is_none_or(|b| score > b.score) {
                best = Some(Selected {
                    score,
                    c,
                    logits,
                    probs,
                    model: model.clone(),
                    config: config.clone(),
                    featurizer: featurizer.clone(),
                });
            }
            if path_turned(prev, score) {
                break;
            }
            prev = Some(score);
            warm = Some(model);
        }
    }
    Ok(Some((path, best)))
}

/// Fine-tuning: the parent's branch (unchanged; [`BranchAlone::mixed`] gives it a new
/// mixture) when it scores strictly better on the validation split than `refit_score`, the best
/// branch fitted on the new texts.
fn keep_parent(
    head: &dyn Head,
    data: &BranchData,
    refit_score: f64,
    path: &[serde_json::Value],
) -> Option<BranchAlone> {
    let (model, record) = data.parent?;
    let k = data.labels;
    if model.logreg.classes != k {
        return None;
    }
    let logits = model
        .logreg
        .logits(&model.featurizer.transform_all(data.valid_docs));
    let probs = activated(head, &logits, k);
    let score = head.branch_score(&probs, data.valid);
    if score <= refit_score {
        return None;
    }
    let name = head.branch_score_name();
    let mut kept = serde_json::Map::new();
    kept.insert(name.to_string(), score.into());
    kept.insert(format!("refit_{name}"), refit_score.into());
    Some(BranchAlone {
        model: model.clone(),
        record: record.clone(),
        logits,
        probs,
        path: path.to_vec(),
        kept: Some(serde_json::Value::Object(kept)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Head;

    fn docs(text: &str, copies: usize) -> Vec<Vec<String>> {
        let doc: Vec<String> = text.split(' ').map(str::to_string).collect();
        vec![doc; copies]
    }

    /// `lists` interned (the stage's form of token lists).
    fn interned(lists: Vec<Vec<String>>) -> crate::ngram::InternedDocs {
        let mut docs = crate::ngram::InternedDocs::default();
        for l in lists {
            docs.push(l);
        }
        docs
    }

    fn orders(configs: &[NgramConfig]) -> Vec<(usize, usize, usize)> {
        configs
            .iter()
            .map(|c| (c.word_n, c.char_n, c.min_df))
            .collect()
    }

    /// `n` texts of class `i % 2`, class 0 with a cue word of its own, class 1 with another,
    /// each cue only in the texts `keep` accepts; the rest is shared filler.
    fn cued(n: usize, keep: impl Fn(usize) -> bool) -> (Vec<Vec<String>>, Vec<usize>) {
        (0..n)
            .map(|i| {
                let y = i % 2;
                let mut doc: Vec<String> = ["the", "film", "was", "seen"]
                    .iter()
                    .map(|w| w.to_string())
                    .collect();
                if keep(i) {
                    doc.push(if y == 0 { "awful" } else { "great" }.to_string());
                }
                doc.push(format!("w{}", i % 7));
                (doc, y)
            })
            .unzip()
    }

    #[test]
    fn fine_tuning_keeps_the_parents_branch_when_it_is_better_on_validation() {
        // The parent learnt the cues from 200 texts.
        let (train, y) = cued(200, |_| true);
        let (valid, vy) = cued(40, |_| true);
        let (train, valid) = (interned(train), interned(valid));
        let (train, valid) = (train.docs(), valid.docs());
        // Flat CNN logits: probability 0.5 for both classes.
        let flat = vec![0.0f32; valid.len() * 2];
        let (y, vy) = (Targets::classes(2, y), Targets::classes(2, vy));
        let head = crate::head::SingleLabel;
        let data = BranchData {
            train_docs: &train,
            train: &y,
            valid_docs: &valid,
            valid: &vy,
            cnn_valid_logits: Some(&flat),
            labels: 2,
            parent: None,
            stop: StopFlags::default(),
        };
        let (parent, record) = fit_branch(&head, &data).unwrap().unwrap();
        assert_eq!(record.validation["ngram"], 1.0);
        // The new texts have no cues: a branch refitted on them alone is at chance.
        let (new_train, new_y) = cued(20, |_| false);
        let new_train = interned(new_train);
        let new_train = new_train.docs();
        let new_y = Targets::classes(2, new_y);
        let data = BranchData {
            train_docs: &new_train,
            train: &new_y,
            parent: Some((&parent, &record)),
            ..data
        };
        let (model, branch, mixed) = fit_branch_held_out(&head, &data).unwrap().unwrap();
        let kept = &branch.validation["kept_parent_branch"];
        assert_eq!(kept["valid_acc"], 1.0);
        assert!(kept["refit_valid_acc"].as_f64().unwrap() < 1.0);
        assert_eq!(model.logreg.weights, parent.logreg.weights);
        assert_eq!(branch.features, record.features);
        assert_eq!(head.figure(&mixed, &vy), 1.0);
        // Without the parent, the refit branch is used.
        let data = BranchData {
            parent: None,
            ..data
        };
        let (_, branch, _) = fit_branch_held_out(&head, &data).unwrap().unwrap();
        assert!(branch.validation.get("kept_parent_branch").is_none());
        assert!(branch.validation.get("metric").is_none());
    }

    #[test]
    fn the_c_path_stops_after_the_first_fall_in_validation_accuracy() {
        assert!(!path_turned(None, 0.5));
        assert!(!path_turned(Some(0.90), 0.91));
        assert!(
            !path_turned(Some(0.90), 0.90),
            "a tie goes on: a larger C may still help"
        );
        assert!(path_turned(Some(0.90), 0.8999));
    }

    #[test]
    fn feature_sets_follow_language_length_and_size() {
        // Short English texts: words, then words + characters.
        assert_eq!(
            orders(&ngram_configs(&docs("free entry now", 10))),
            vec![(2, 0, 1), (2, 3, 1)]
        );
        // Long texts (101 tokens on average): words only.
        let long = vec!["w"; 101].join(" ");
        assert_eq!(orders(&ngram_configs(&docs(&long, 10))), vec![(2, 0, 1)]);
        // Chinese: characters with word bigrams, then with unigrams.
        assert_eq!(
            orders(&ngram_configs(&docs("送餐 很 快", 10))),
            vec![(2, 3, 1), (1, 3, 1)]
        );
        // 20,000 texts or more: min_df 2.
        assert_eq!(
            orders(&ngram_configs(&docs("a b", MIN_DF_2_FROM))),
            vec![(2, 0, 2), (2, 3, 2)]
        );
        // 100,000 short texts or more: words only; Chinese keeps its characters.
        assert_eq!(
            orders(&ngram_configs(&docs("a b", CHARS_TRIED_BELOW_TEXTS - 1))),
            vec![(2, 0, 2), (2, 3, 2)]
        );
        assert_eq!(
            orders(&ngram_configs(&docs("a b", CHARS_TRIED_BELOW_TEXTS))),
            vec![(2, 0, 2)]
        );
        assert_eq!(
            orders(&ngram_configs(&docs("送餐 很 快", CHARS_TRIED_BELOW_TEXTS))),
            vec![(2, 3, 2), (1, 3, 2)]
        );
    }
}
