//! Transfer learning around the training loop: the initial embedding from pretrained word
//! vectors or from another bundle (`--pretrained`, `--init-from`), and continuing a saved bundle
//! on new data (`textcnn finetune`): its tokenizer, vocabulary (optionally extended), labels
//! (optionally grown) and parameters are the starting point.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::config::TrainConfig;
use crate::bundle::{self, Bundle, TensorMap};
use crate::data::{Dataset, ReadOptions};
use crate::embed::{CorpusBuilder, VectorSettings, read_texts, train_on_corpus};
use crate::head::Head;
use crate::model::{Architecture, Model, ParamRole};
use crate::text::vectors::{
    PretrainedVectors, VectorFilter, VectorsReport, matching_uniform_bound, read_vectors,
    uniform_fill,
};
use crate::text::{Tokenizer, VectorFormat, Vocab};

/// Half-width of U(−b, b) for the output rows of labels added by `--allow-new-labels`.
pub const NEW_LABEL_INIT: f32 = 0.01;

/// A saved bundle to continue training from (fine-tuning).
pub struct StartFrom {
    /// The parent bundle (never written to).
    pub bundle: Bundle,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Labels of the new data that the parent does not know grow the output layer instead of
    /// being an error.
    pub allow_new_labels: bool,
}

impl StartFrom {
    /// Loads the parent bundle in `dir`.
    pub fn load(dir: &Path, allow_new_labels: bool) -> Result<StartFrom> {
        Ok(StartFrom {
            bundle: Bundle::load(dir)?,
            path: dir.to_path_buf(),
            allow_new_labels,
        })
    }

    /// The parent's labels, then (with `allow_new_labels`) the new labels of the data (those
    /// the `head` learns from `train` and `valid`) in sorted order; and the list of those new
    /// labels.
    ///
    /// # Errors
    /// A label of the data that the parent does not know, without `allow_new_labels`; the
    /// message names it.
    pub fn labels(
        &self,
        head: &dyn Head,
        train: &Dataset,
        valid: &Dataset,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let mut labels = self.bundle.config.labels.clone();
        let new: Vec<String> = head
            .label_universe(train, valid)
            .into_iter()
            .filter(|l| !labels.contains(l))
            .collect();
        if !new.is_empty() && !self.allow_new_labels {
            bail!(
                "{}: label {:?} is not one of the model's labels ({}); pass --allow-new-labels to add \
                 it to the output layer",
                train.name,
                new[0],
                labels.join(", ")
            );
        }
        labels.extend(new.iter().cloned());
        Ok((labels, new))
    }

    /// `{"path", "sha256"}` of the parent (SHA-256 of its `model.safetensors`), plus its best
    /// metrics and its own parent record.
    pub fn record(&self) -> Result<serde_json::Value> {
        let model = self.path.join(bundle::MODEL_FILE);
        let f = std::fs::File::open(&model)
            .with_context(|| format!("cannot read {}", model.display()))?;
        let sha = crate::data::imdb::sha256_hex(std::io::BufReader::new(f))?;
        let path = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        Ok(serde_json::json!({
            "path": path,
            "sha256": sha,
            "best": self.bundle.config.best,
            "parent": self.bundle.config.parent,
        }))
    }
}

/// The training settings for fine-tuning `parent`: its recorded training settings (defaults
/// where absent) with its architecture, tokenizer and encoding, its embedding mode, no
/// pretrained/init source, and a learning rate ten times smaller than the parent's (1e-4 after
/// Adam's 1e-3). Command-line flags then override what they name.
pub fn finetune_config(parent: &Bundle) -> TrainConfig {
    let mut c: TrainConfig = parent
        .config
        .training
        .get("config")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    super::arch_settings::architecture_to_settings(&parent.config.architecture, &mut c);
    c.tokenizer = parent.config.tokenizer.clone();
    c.max_len = parent.config.encode.max_len;
    c.truncation = parent.config.encode.truncation;
    c.pretrained = None;
    c.unlabeled = None;
    c.pretrained_format = VectorFormat::Auto;
    c.init_from = None;
    c.init_conv = false;
    c.extend_vocab = false;
    c.lr /= 10.0;
    c
}

/// Appends to `vocab` the tokens of `docs` it lacks that occur at least `min_count` times, most
/// frequent first (ties by token), at most `max_new`; returns how many were added.
pub fn extend_vocab_from_tokens(
    vocab: &mut Vocab,
    docs: &[Vec<String>],
    min_count: usize,
    max_new: usize,
) -> usize {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for t in docs.iter().flatten() {
        if vocab.get(t).is_none() {
            *counts.entry(t.as_str()).or_insert(0) += 1;
        }
    }
    let mut new: Vec<(&str, u64)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= min_count as u64)
        .collect();
    new.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    new.truncate(max_new);
    for (t, c) in &new {
        vocab.push(t, *c);
    }
    new.len()
}

/// The parent model with room for a larger vocabulary and more classes (`arch` gives the new
/// sizes; everything else must equal the parent's). Works through the declared parameter roles
/// ([`ParamRole`]), for any architecture: new rows of every embedding (both channels of a
/// multichannel model, the same values) ~ U(−a, a) with `a` matching the variance of the
/// parent's trained rows; new output-weight rows ~ U(−0.01, 0.01) with bias 0; all other
/// parameters are the parent's.
///
/// # Errors
/// When `arch` is smaller than the parent or differs in anything but the two sizes.
pub fn grow_model(parent: &Model, arch: &Architecture, seed: u64) -> Result<Model> {
    let specs = parent.param_specs();
    let params = parent.named_params();
    let Some((emb, e)) = parent.embedding() else {
        // No network (`--arch ngram`): nothing to carry over.
        return Ok(Model::new(arch, seed));
    };
    let (old_vocab, old_classes) = (specs[0].shape[0], parent.num_classes());
    let (vocab, classes) = (arch.vocab_size(), arch.num_classes());
    ensure!(
        vocab >= old_vocab && classes >= old_classes,
        "a model can only grow"
    );
    let n_in = specs
        .iter()
        .find(|s| s.role == ParamRole::OutputWeight)
        .map_or(0, |s| s.shape[1]);
    let a = matching_uniform_bound(emb, e);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6772_6f77_6d6f_6465);
    let mut fresh = vec![0.0; (vocab - old_vocab) * e];
    uniform_fill(&mut rng, a, &mut fresh);
    let mut out_new = vec![0.0; (classes - old_classes) * n_in];
    uniform_fill(&mut rng, NEW_LABEL_INIT, &mut out_new);
    let mut map = TensorMap::new();
    for (spec, (name, mut shape, data)) in specs.iter().zip(params) {
        let mut data = data.to_vec();
        match spec.role {
            ParamRole::Embedding | ParamRole::FrozenEmbedding => {
                data.extend_from_slice(&fresh);
                shape[0] = vocab;
            }
            ParamRole::OutputWeight => {
                data.extend_from_slice(&out_new);
                shape[0] = classes;
            }
            ParamRole::OutputBias => {
                data.resize(classes, 0.0);
                shape[0] = classes;
            }
            ParamRole::Weight | ParamRole::Bias => {}
        }
        map.insert(name, (shape, data));
    }
    Model::from_named_params(arch, &map)
}

/// Word vectors trained for `vocab` on the text of `path` (a plain text file, one text per line,
/// or any dataset file, its texts; see [`crate::embed::read_texts`]) plus the training texts
/// `train_tokens`, both tokenized by `tokenizer`: fastText's skip-gram with subwords
/// ([`VectorSettings::FASTTEXT`]) at dimension `config.emb_dim`, with `config.seed` and
/// `config.threads`, so the run stays deterministic for a seed and thread count. Vocabulary words
/// the vectors' dictionary lacks (rarer than its minimum count) get the mean of their trained
/// n-gram rows ([`crate::embed::SubwordVectors::for_vocab`]).
///
/// # Errors
/// An unreadable `path` (naming file and line), or no word frequent enough to train on.
pub fn unlabeled_vectors(
    config: &TrainConfig,
    path: &Path,
    tokenizer: &Tokenizer,
    train_tokens: &[Vec<String>],
    vocab: &Vocab,
) -> Result<PretrainedVectors> {
    let spec = path
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the path is not valid UTF-8"))?;
    let mut builder = CorpusBuilder::new();
    read_texts(spec, &ReadOptions::default(), tokenizer, &mut builder)?;
    for t in train_tokens {
        builder.add_tokens(t);
    }
    let settings = VectorSettings {
        dim: config.emb_dim,
        seed: config.seed,
        threads: config.threads,
        ..VectorSettings::FASTTEXT
    };
    let corpus = builder.finish(settings.min_count)?;
    let trained = train_on_corpus(&corpus, &settings, &mut |_| ControlFlow::Continue(()))?;
    Ok(trained.for_vocab(vocab))
}

/// Where the initial embedding comes from (`--pretrained` or `--init-from`).
pub struct EmbeddingInit {
    /// Vectors for our vocabulary (words without one get matched-variance uniform rows).
    pub vectors: PretrainedVectors,
    /// The `--init-from` model, kept when its convolution filters are to be copied.
    conv_source: Option<Model>,
}

impl EmbeddingInit {
    /// Reads `config.pretrained` or `config.init_from` (if either is set) for `vocab`; with
    /// `config.extend_vocab`, up to `config.vocab_size` words of the source that the tokenizer
    /// can produce and the vocabulary lacks are appended to `vocab` (source order). With
    /// `config.unlabeled`, trains the vectors instead on that text plus `train_tokens` (the
    /// training texts, tokenized) — see [`unlabeled_vectors`].
    ///
    /// # Errors
    /// Unreadable source, a malformed vector file, a dimension other than `config.emb_dim`, or
    /// `init_conv` with an architecture that differs.
    pub fn read(
        config: &TrainConfig,
        vocab: &mut Vocab,
        tokenizer: &Tokenizer,
        train_tokens: &[Vec<String>],
    ) -> Result<Option<EmbeddingInit>> {
        let accept = |w: &str| {
            let t = tokenizer.tokenize(w);
            t.len() == 1 && t[0] == w
        };
        let filter = VectorFilter {
            extend: if config.extend_vocab {
                config.vocab_size
            } else {
                0
            },
            accept_new: &accept,
        };
        let (vectors, conv_source) = if let Some(path) = &config.pretrained {
            let v = read_vectors(path, config.pretrained_format, vocab, &filter)?;
            (v, None)
        } else if let Some(dir) = &config.init_from {
            let b = Bundle::load(dir).with_context(|| format!("--init-from {}", dir.display()))?;
            let v = vectors_from_bundle(&b, dir, vocab, &filter)?;
            if config.init_conv {
                check_feature_layers(&b.model, &config.try_architecture(2, 2)?)
                    .with_context(|| format!("--init-conv: {}", dir.display()))?;
            }
            (v, config.init_conv.then_some(b.model))
        } else if let Some(path) = &config.unlabeled {
            let v = unlabeled_vectors(config, path, tokenizer, train_tokens, vocab)
                .with_context(|| format!("--unlabeled {}", path.display()))?;
            (v, None)
        } else {
            return Ok(None);
        };
        if vectors.dim != config.emb_dim {
            bail!(
                "the vectors of {} have dimension {}, but the embedding dimension is {} (set --emb-dim {} \
                 or leave --emb-dim out to take the vectors' dimension)",
                vectors.report.path,
                vectors.dim,
                config.emb_dim,
                vectors.dim
            );
        }
        Ok(Some(EmbeddingInit {
            vectors,
            conv_source,
        }))
    }

    /// Writes the embedding (the [`ParamRole::Embedding`], copied into any
    /// [`ParamRole::FrozenEmbedding`] channel) and, with `init_conv`, the feature layers (the
    /// [`ParamRole::Weight`] and [`ParamRole::Bias`] parameters: Kim's convolution filters,
    /// conv2d's blocks and hidden layers; same names and shapes) into `model`, whatever its
    /// architecture.
    pub fn apply(&mut self, model: &mut Model, seed: u64) {
        let specs = model.param_specs();
        let conv: HashMap<String, Vec<f32>> = match &self.conv_source {
            Some(src) => feature_layers(src)
                .map(|(n, _, d)| (n, d.to_vec()))
                .collect(),
            None => HashMap::new(),
        };
        let mut params = model.params_mut();
        self.vectors.init_embedding(params[0], seed);
        let emb = params[0].to_vec();
        for (spec, p) in specs.iter().zip(params.iter_mut()) {
            if spec.role == ParamRole::FrozenEmbedding {
                p.copy_from_slice(&emb);
            } else if let Some(v) = conv.get(&spec.name)
                && v.len() == p.len()
            {
                p.copy_from_slice(v);
            }
        }
    }

    /// The reading report, for the log and the bundle's `training` record.
    pub fn report(&self) -> &VectorsReport {
        &self.vectors.report
    }

    /// Whether the convolution filters are copied too.
    pub fn copies_convs(&self) -> bool {
        self.conv_source.is_some()
    }
}

/// The feature layers of `model` (`name, shape, data` of its [`ParamRole::Weight`] and
/// [`ParamRole::Bias`] parameters: everything between the embedding and the output layer).
fn feature_layers(model: &Model) -> impl Iterator<Item = (String, Vec<usize>, &[f32])> {
    model
        .param_specs()
        .into_iter()
        .zip(model.named_params())
        .filter(|(spec, _)| matches!(spec.role, ParamRole::Weight | ParamRole::Bias))
        .map(|(_, p)| p)
}

/// Refuses `--init-conv` from `src` into a model of `target` unless every feature layer of
/// `src` has a parameter of the same name and shape in `target`, and `target` has no other.
fn check_feature_layers(src: &Model, target: &Architecture) -> Result<()> {
    let ours: Vec<(String, Vec<usize>)> = feature_layers(src)
        .map(|(n, shape, _)| (n, shape))
        .collect();
    let theirs: Vec<(String, Vec<usize>)> = target
        .param_specs()
        .into_iter()
        .filter(|s| matches!(s.role, ParamRole::Weight | ParamRole::Bias))
        .map(|s| (s.name, s.shape))
        .collect();
    if ours != theirs {
        let show = |v: &[(String, Vec<usize>)]| {
            v.iter()
                .map(|(n, s)| format!("{n} {s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let flags = shape_flags(&src.architecture(), target);
        let hint = if flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", flags.join(" "))
        };
        bail!(
            "its layers ({}: {}) differ from this run's ({}: {}); give the same architecture \
             settings{hint}",
            src.architecture().describe(),
            show(&ours),
            target.describe(),
            show(&theirs)
        );
    }
    Ok(())
}

/// The flags that give a run of `target`'s kind `src`'s feature layers: each shape setting of
/// `src` that differs from `target`'s, as the command line writes it (`--region-sizes 1,2,3`).
/// Empty when the two are of different kinds (the message names both).
fn shape_flags(src: &Architecture, target: &Architecture) -> Vec<String> {
    use super::arch_settings::architecture_to_settings;
    if std::mem::discriminant(src) != std::mem::discriminant(target) {
        return Vec::new();
    }
    let (mut a, mut b) = (TrainConfig::default(), TrainConfig::default());
    architecture_to_settings(src, &mut a);
    architecture_to_settings(target, &mut b);
    shape_differences(&a, &b)
        .into_iter()
        .map(|(_, flag)| flag)
        .collect()
}

/// With `--init-conv`: sets on `config` the shape settings of the source architecture `src`'s
/// feature layers (kim: region sizes, feature maps, pooling; conv2d: blocks, hidden layers)
/// that the caller did not name in `explicit`, when `config` builds the same kind of
/// architecture. Returns them as the command line writes them, in that order. Settings the
/// caller named stay; a mismatch is then refused with the flags that match
/// ([`EmbeddingInit::read`]).
pub(crate) fn take_feature_shape(
    config: &mut TrainConfig,
    src: &Architecture,
    explicit: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let Ok(target) = config.try_architecture(2, 2) else {
        return Vec::new();
    };
    if std::mem::discriminant(src) != std::mem::discriminant(&target) {
        return Vec::new();
    }
    let mut from = config.clone();
    super::arch_settings::architecture_to_settings(src, &mut from);
    let mut set = Vec::new();
    for (name, flag) in shape_differences(&from, config) {
        if explicit.contains(name) {
            continue;
        }
        match name {
            "region_sizes" => config.region_sizes = from.region_sizes.clone(),
            "feature_maps" => config.feature_maps = from.feature_maps,
            "pooling" => config.pooling = from.pooling,
            "conv2d_blocks" => config.conv2d_blocks = from.conv2d_blocks.clone(),
            "hidden" => config.hidden = from.hidden.clone(),
            _ => unreachable!("shape_differences names only these settings"),
        }
        set.push(flag);
    }
    set
}

/// The feature layers' shape settings where `a` and `b` differ: each setting's name
/// (snake_case) and the flag that gives `a`'s value, as the command line writes it.
fn shape_differences(a: &TrainConfig, b: &TrainConfig) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if a.region_sizes != b.region_sizes {
        let sizes = super::config::region_list(&a.region_sizes);
        out.push(("region_sizes", format!("--region-sizes {sizes}")));
    }
    if a.feature_maps != b.feature_maps {
        out.push(("feature_maps", format!("--feature-maps {}", a.feature_maps)));
    }
    if a.pooling != b.pooling
        && let Some(v) = clap::ValueEnum::to_possible_value(&a.pooling)
    {
        out.push(("pooling", format!("--pooling {}", v.get_name())));
    }
    if a.conv2d_blocks != b.conv2d_blocks {
        let blocks = a.conv2d_blocks.join(",");
        out.push(("conv2d_blocks", format!("--conv2d-blocks {blocks}")));
    }
    if a.hidden != b.hidden {
        let hidden: Vec<String> = a.hidden.iter().map(|h| h.to_string()).collect();
        let hidden = if hidden.is_empty() {
            "none".to_string()
        } else {
            hidden.join(",")
        };
        out.push(("hidden", format!("--hidden {hidden}")));
    }
    out
}

/// The (trained-channel) embedding rows of bundle `b` for the words of `vocab`, as pretrained
/// vectors; `filter` may extend `vocab` with the bundle's words (in its id order).
pub fn vectors_from_bundle(
    b: &Bundle,
    dir: &Path,
    vocab: &mut Vocab,
    filter: &VectorFilter,
) -> Result<PretrainedVectors> {
    let (emb, e) = b
        .model
        .embedding()
        .ok_or_else(|| super::run::no_embedding(dir))?;
    let mut found = vec![false; vocab.len()];
    let mut table = vec![0.0; vocab.len() * e];
    let mut added = 0;
    for (bid, tok) in b.vocab.tokens().iter().enumerate().skip(2) {
        let id = match vocab.get(tok) {
            Some(id) => id as usize,
            None => {
                if added >= filter.extend || !(filter.accept_new)(tok) {
                    continue;
                }
                added += 1;
                let id = vocab.push(tok, 0) as usize;
                found.resize(vocab.len(), false);
                table.resize(vocab.len() * e, 0.0);
                id
            }
        };
        if id < 2 {
            continue;
        }
        found[id] = true;
        table[id * e..(id + 1) * e].copy_from_slice(&emb[bid * e..(bid + 1) * e]);
    }
    let mut report = VectorsReport {
        path: dir.display().to_string(),
        format: VectorFormat::Auto,
        dim: e,
        rows_read: b.vocab.len().saturating_sub(2),
        added,
        ..VectorsReport::default()
    };
    report.set_coverage(vocab, &found);
    Ok(PretrainedVectors {
        dim: e,
        table,
        found,
        report,
    })
}
