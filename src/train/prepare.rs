//! Stage 1 of a training run: the labels (the parent's first when fine-tuning), the head's
//! targets of every split, the tokenizer, vocabulary and encodings, and the dataset summary
//! recorded in the bundle.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::config::{ArchKind, TrainConfig};
use super::fit::{TrainData, TrainOptions};
use super::observer::{MessageKind, TrainObserver};
use super::transfer::{self, EmbeddingInit, StartFrom};
use crate::data::Dataset;
use crate::head::{Head, Targets, describe_unknown};
use crate::text::{Encoded, TextPipeline, Tokenizer, Vocab, encode, tokenize_all};

/// What the first stage prepares: labels, targets, the text pipeline and the encoded splits.
pub(super) struct Prepared {
    pub labels: Vec<String>,
    /// Labels a fine-tuned model gains.
    pub new_labels: Vec<String>,
    pub train_t: Targets,
    pub valid_t: Targets,
    pub test_t: Option<Targets>,
    /// Labels of the test data the model lacks, with counts (heads that tolerate them).
    pub test_unknown: BTreeMap<String, usize>,
    pub pipeline: TextPipeline,
    pub train_enc: Vec<Encoded>,
    pub valid_enc: Vec<Encoded>,
    pub test_enc: Option<Vec<Encoded>>,
    pub wants_ngram: bool,
    pub init: Option<EmbeddingInit>,
    /// Words a fine-tuned model's vocabulary gains.
    pub added_words: usize,
    pub summary: serde_json::Value,
}

/// The labels of the run (the parent's first when fine-tuning) and the new ones, checked.
fn run_labels(
    head: &dyn Head,
    data: &TrainData,
    start: Option<&StartFrom>,
) -> Result<(Vec<String>, Vec<String>)> {
    let (labels, new_labels) = match start {
        Some(s) => s.labels(head, data.train, data.valid)?,
        None => (head.label_universe(data.train, data.valid), Vec::new()),
    };
    if labels.iter().any(|l| l.is_empty()) {
        bail!(
            "the training data {} has examples without a label (plain lines?); give labelled data \
             (fastText, CSV/TSV, JSONL, folder per class or imdb:train)",
            data.train.name
        );
    }
    crate::bundle::check_labels(&labels)
        .with_context(|| format!("the training data {}", data.train.name))?;
    if data.valid.is_empty() {
        bail!(
            "the validation data {} has no examples (a split holds none out of classes with a \
             single example); give validation data (--valid) or more examples per class",
            data.valid.name
        );
    }
    head.check_label_count(labels.len(), &data.train.name)?;
    Ok((labels, new_labels))
}

/// Whether the n-gram branch is fitted: `ngram-cnn`, or a fine-tuned model that has one and
/// whose new data has every label (warns otherwise).
fn ngram_wanted(
    config: &TrainConfig,
    head: &dyn Head,
    data: &TrainData,
    labels: &[String],
    start: Option<&StartFrom>,
    observer: &mut dyn TrainObserver,
) -> bool {
    // The n-gram branch of `ngram-cnn` tokenizes the texts again (see `finish::BranchJob`).
    // Fine-tuning refits the branch on the new data alone, which would forget every label the
    // new data lacks: then the fine-tuned model is the CNN alone (the CNN keeps its old
    // weights as a starting point; the n-gram branch would start from nothing).
    let new_data_labels = head.label_universe(data.train, data.valid);
    let missing: Vec<&String> = labels
        .iter()
        .filter(|l| !new_data_labels.contains(l))
        .collect();
    let wants_ngram = match start {
        Some(s) => s.bundle.config.ngram.is_some() && missing.is_empty(),
        None => matches!(config.arch, ArchKind::NgramCnn | ArchKind::Ngram),
    };
    if let Some(s) = start
        && s.bundle.config.ngram.is_some()
        && !missing.is_empty()
    {
        observer.message(
            MessageKind::Warning,
            &format!(
                "the new training data has no example of {}; the n-gram branch of {} is \
                 dropped (it is refitted on the new data only and would forget those labels), so the \
                 fine-tuned model is the CNN alone",
                missing
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.path.display()
            ),
        );
    }
    wants_ngram
}

/// The head's targets of one split against the run's labels; labels of the split that the
/// model lacks are reported to `observer` (heads that tolerate them leave them out).
fn targets_of(
    head: &dyn Head,
    ds: &Dataset,
    labels: &[String],
    observer: &mut dyn TrainObserver,
) -> Result<(Targets, BTreeMap<String, usize>)> {
    let (t, unknown) = head.targets(ds, labels)?;
    if !unknown.is_empty() {
        observer.message(
            MessageKind::Warning,
            &format!(
                "{}: labels the model lacks are left out: {}",
                ds.name,
                describe_unknown(&unknown)
            ),
        );
    }
    Ok((t, unknown))
}

/// Stage 1: labels, targets, tokenizer, vocabulary, encodings of every split.
pub(super) fn prepare_data(
    config: &TrainConfig,
    head: &dyn Head,
    data: &TrainData,
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
    started: Instant,
) -> Result<Prepared> {
    let start = options.start_from.as_ref();
    let (labels, new_labels) = run_labels(head, data, start)?;
    let (train_t, _) = targets_of(head, data.train, &labels, observer)?;
    let (valid_t, _) = targets_of(head, data.valid, &labels, observer)?;
    let (test_t, test_unknown) = match data.test {
        Some(t) => {
            let (tt, unknown) = targets_of(head, t, &labels, observer)?;
            (Some(tt), unknown)
        }
        None => (None, BTreeMap::new()),
    };

    // The training texts' token lists are dropped once encoded: the n-gram branch tokenizes
    // them again in its stage (holding them through the epochs cost ~300 MB for IMDB's 22,500
    // training reviews; tokenizing them costs about a second).
    let TrainText {
        pipeline,
        train_enc,
        init,
        added_words,
    } = train_text(config, data, start)?;
    let wants_ngram = ngram_wanted(config, head, data, &labels, start, observer);
    let valid_enc = pipeline.encode_batch(&data.valid.texts());
    // The test texts' tokens are not kept: the n-gram branch of the final evaluation
    // tokenizes them again then (holding them through the epochs cost more memory than the
    // tokenizing costs time: ~330 MB for IMDB's 25,000 test reviews).
    let test_enc = data.test.map(|t| pipeline.encode_batch(&t.texts()));
    let summary = dataset_summary(head, data, &train_enc, &valid_enc, test_enc.as_deref());
    observer.message(
        MessageKind::Info,
        &format!(
            "data: {} train / {} valid{} examples, {} {}, vocabulary {} (prep {:.1} s)",
            data.train.len(),
            data.valid.len(),
            data.test
                .map(|t| format!(" / {} test", t.len()))
                .unwrap_or_default(),
            labels.len(),
            if head.reads_label_sets() {
                "labels"
            } else {
                "classes"
            },
            pipeline.vocab.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(Prepared {
        labels,
        new_labels,
        train_t,
        valid_t,
        test_t,
        test_unknown,
        pipeline,
        train_enc,
        valid_enc,
        test_enc,
        wants_ngram,
        init,
        added_words,
        summary,
    })
}

/// The text side of the training data: the pipeline (tokenizer, vocabulary, encoding), the
/// training texts' tokens and encodings, the initial vectors, the words a parent's vocabulary
/// gained.
struct TrainText {
    pipeline: TextPipeline,
    train_enc: Vec<Encoded>,
    init: Option<EmbeddingInit>,
    added_words: usize,
}

/// The tokenizer and encoding (the parent's when fine-tuning), the vocabulary of the training
/// split (or the parent's, possibly extended), the initial vectors, and the training texts
/// encoded.
///
/// # Errors
/// An empty vocabulary, or unreadable initial vectors.
fn train_text(
    config: &TrainConfig,
    data: &TrainData,
    start: Option<&StartFrom>,
) -> Result<TrainText> {
    // Vocabulary from the training split only (or the parent's, possibly extended).
    let tokenizer = Tokenizer::new(match start {
        Some(s) => s.bundle.config.tokenizer.clone(),
        None => config.tokenizer.clone(),
    });
    let train_tokens = tokenize_all(&tokenizer, &data.train.texts());
    let mut vocab = match start {
        Some(s) => s.bundle.vocab.clone(),
        None => Vocab::build(
            train_tokens.iter().map(|t| t.as_slice()),
            config.min_count,
            Some(config.vocab_size),
        ),
    };
    let mut added_words = 0;
    if start.is_some() && config.extend_vocab {
        added_words = transfer::extend_vocab_from_tokens(
            &mut vocab,
            &train_tokens,
            config.min_count,
            config.vocab_size,
        );
    }
    if vocab.len() <= 2 {
        bail!(
            "the vocabulary is empty: no token of {} occurs at least --min-count {} times",
            data.train.name,
            config.min_count
        );
    }
    let init = EmbeddingInit::read(config, &mut vocab, &tokenizer, &train_tokens)?;
    let encode_config = match start {
        Some(s) => s.bundle.config.encode.clone(),
        None => config.encode(),
    };
    let train_enc: Vec<Encoded> = train_tokens
        .iter()
        .map(|t| encode(t, &vocab, &encode_config))
        .collect();
    let pipeline = TextPipeline {
        tokenizer,
        vocab,
        encode: encode_config,
    };
    Ok(TrainText {
        pipeline,
        train_enc,
        init,
        added_words,
    })
}

/// `tokens`, `oov_rate` (share of tokens outside the vocabulary) and `truncated` (texts cut at
/// `max_len`) of encoded texts, for the bundle's dataset summary.
pub(crate) fn encoding_summary(enc: &[Encoded]) -> serde_json::Map<String, serde_json::Value> {
    let tokens: usize = enc.iter().map(|e| e.n_tokens).sum();
    let oov: usize = enc.iter().map(|e| e.n_oov).sum();
    let mut m = serde_json::Map::new();
    m.insert("tokens".into(), tokens.into());
    m.insert(
        "oov_rate".into(),
        (if tokens == 0 {
            0.0
        } else {
            oov as f64 / tokens as f64
        })
        .into(),
    );
    m.insert(
        "truncated".into(),
        enc.iter().filter(|e| e.truncated).count().into(),
    );
    m
}

/// The bundle's `dataset` record: per split its name, examples, label counts (`classes`),
/// skipped rows, encoding figures and the head's own figures.
fn dataset_summary(
    head: &dyn Head,
    data: &TrainData,
    train: &[Encoded],
    valid: &[Encoded],
    test: Option<&[Encoded]>,
) -> serde_json::Value {
    let part = |ds: &Dataset, enc: &[Encoded]| {
        let mut summary = encoding_summary(enc);
        summary.insert("name".into(), ds.name.clone().into());
        summary.insert("examples".into(), ds.len().into());
        summary.insert("classes".into(), serde_json::json!(ds.label_counts()));
        summary.insert("skipped_rows".into(), ds.skipped.len().into());
        head.summarize(ds, &mut summary);
        serde_json::Value::Object(summary)
    };
    serde_json::json!({
        "train": part(data.train, train),
        "valid": part(data.valid, valid),
        "test": data.test.zip(test).map(|(ds, enc)| part(ds, enc)),
    })
}
