//! The last training stage of the default `ngram-cnn` model: fit the n-gram branch
//! ([`crate::ngram`]) and choose its regularisation and its weight in the mixture with the CNN
//! on the validation split.
//!
//! The logistic regression is NB-weighted (Wang & Manning 2012): each weight's L2 penalty is
//! divided by the square of its naive-Bayes log-count ratio, so discriminative n-grams are
//! penalised less ([`crate::ngram::LogReg::fit_scaled`]).
//!
//! Rules (chosen on validation splits of the development suite and IMDB, see the README's
//! accuracy table): word 1–2-grams always, character 1–3-grams when more than 30 % of the
//! training characters are Han (Chinese); `min_df` 1 below 20,000 training texts, 2 above (keeps
//! IMDB's bigram table at ~1.4M columns instead of ~4M for no loss); `C` from {1, 10, 100, 1000}
//! by validation accuracy (as `../shared/bench/baselines_tsv.py` does from {1, 10, 100}), then the
//! mixture weights by validation log-loss, then a refit on training + validation texts with the
//! chosen `C`.

use anyhow::Result;

use crate::bundle::NgramBranch;
use crate::ngram::{
    LogReg, LogRegFit, NgramConfig, NgramFeaturizer, NgramModel, choose_mix, han_share,
    logreg::nb_scale, mix_probabilities,
};

/// Inverse L2 strengths tried, in this order (each fit warm-starts from the previous one).
pub(crate) const C_PATH: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];
/// Add-one smoothing of the naive-Bayes counts and the floor added to `|r|` (see
/// [`nb_scale`]); the floor was chosen among 0.02, 0.1, 0.3 and 1 on the validation splits of
/// five suite sets (mean best valid accuracy 0.8778 at 0.3, 0.8711 without NB weighting).
pub(crate) const NB_SMOOTHING: f64 = 1.0;
pub(crate) const NB_FLOOR: f64 = 0.3;
/// Han share of training characters above which character n-grams are added.
const HAN_SHARE_FOR_CHARS: f64 = 0.3;
/// Training texts from which n-grams must occur in two documents.
const MIN_DF_2_FROM: usize = 20_000;

/// The n-gram settings for a training set (see the module documentation).
pub fn ngram_config(train_docs: &[Vec<String>]) -> NgramConfig {
    NgramConfig {
        word_n: 2,
        char_n: if han_share(train_docs) > HAN_SHARE_FOR_CHARS {
            3
        } else {
            0
        },
        min_df: if train_docs.len() >= MIN_DF_2_FROM {
            2
        } else {
            1
        },
    }
}

/// The data the stage reads: token lists and class indices of both splits, and the CNN's
/// validation probabilities `[valid, classes]`.
pub struct BranchData<'a> {
    pub train_docs: &'a [Vec<String>],
    pub train_y: &'a [usize],
    pub valid_docs: &'a [Vec<String>],
    pub valid_y: &'a [usize],
    pub cnn_valid_probs: &'a [f32],
    pub classes: usize,
}

fn accuracy(probs: &[f32], y: &[usize], classes: usize) -> f64 {
    crate::eval::score(probs, y, classes).1
}

/// Fits the branch and returns it with its `config.json` record.
///
/// # Errors
/// Only from [`NgramFeaturizer::fit`] (more than 2^21 distinct tokens).
pub fn fit_branch(data: &BranchData) -> Result<(NgramModel, NgramBranch)> {
    let k = data.classes;
    // The table, IDF and NB ratios of the selection runs come from the training rows only:
    // validation rows must look like unseen text (n-grams absent from training dropped), or
    // C and the mixture would be chosen on rows that differ from those met at prediction.
    let config = ngram_config(data.train_docs);
    let featurizer = NgramFeaturizer::fit(data.train_docs, config.clone())?;
    let x_train = featurizer.transform_all(data.train_docs);
    let x_valid = featurizer.transform_all(data.valid_docs);
    let mut path = Vec::new();
    let mut best: Option<(f64, f64, Vec<f32>, LogReg)> = None;
    let mut warm: Option<LogReg> = None;
    let scale = nb_scale(&x_train, data.train_y, k, NB_SMOOTHING, NB_FLOOR);
    for c in C_PATH {
        let settings = LogRegFit {
            c,
            ..LogRegFit::default()
        };
        let (model, _) = LogReg::fit_scaled(
            &x_train,
            data.train_y,
            k,
            settings,
            warm.as_ref(),
            Some(&scale),
        );
        let probs = model.probabilities(&x_valid);
        let acc = accuracy(&probs, data.valid_y, k);
        path.push(serde_json::json!({ "c": c, "valid_acc": acc }));
        if best.as_ref().is_none_or(|b| acc > b.0) {
            best = Some((acc, c, probs, model.clone()));
        }
        warm = Some(model);
    }
    let (ngram_acc, c, ngram_probs, chosen) = best.expect("C_PATH is not empty");
    let mix = choose_mix(data.cnn_valid_probs, &ngram_probs, data.valid_y, k);
    let mixed = mix_probabilities(data.cnn_valid_probs, &ngram_probs, mix, k);
    let validation = serde_json::json!({
        "cnn": accuracy(data.cnn_valid_probs, data.valid_y, k),
        "ngram": ngram_acc,
        "mixed": accuracy(&mixed, data.valid_y, k),
        "c_path": path,
    });

    // Refit on every labelled text with the chosen C, starting from the chosen model's
    // weights for the n-grams both tables share.
    let all_docs: Vec<&Vec<String>> = data.train_docs.iter().chain(data.valid_docs).collect();
    let all_y: Vec<usize> = data.train_y.iter().chain(data.valid_y).copied().collect();
    let refit_featurizer = NgramFeaturizer::fit(&all_docs, config.clone())?;
    let x_all = refit_featurizer.transform_all(&all_docs);
    let start = chosen.remap(&featurizer, &refit_featurizer);
    let settings = LogRegFit {
        c,
        ..LogRegFit::default()
    };
    let scale = nb_scale(&x_all, &all_y, k, NB_SMOOTHING, NB_FLOOR);
    let (logreg, _) = LogReg::fit_scaled(&x_all, &all_y, k, settings, Some(&start), Some(&scale));
    let featurizer = refit_featurizer;
    let branch = NgramBranch {
        model: "ngram-cnn".to_string(),
        features: config,
        num_features: featurizer.num_features(),
        c,
        mix,
        validation,
    };
    Ok((NgramModel { featurizer, logreg }, branch))
}
