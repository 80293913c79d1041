//! The n-gram branch of the default model: a bag of word 1–2-grams (plus character 1–3-grams for
//! Chinese) weighted by TF-IDF, and a multinomial logistic regression over it
//! ([`logreg`]). Its class probabilities are mixed with the CNN's (see [`mix_probabilities`]);
//! the mixing weights are chosen on the validation split ([`choose_mix`]).
//!
//! Why: a linear model over n-gram counts is the strongest simple text classifier on short texts
//! and a complement to the CNN on long ones (Wang & Manning 2012, "Baselines and Bigrams";
//! Johnson & Zhang 2015, "Effective Use of Word Order for Text Categorization with CNNs", §3.2,
//! combine a bag-of-n-grams with convolution features). The weighting follows scikit-learn's
//! `TfidfVectorizer(sublinear_tf=True)`: `tf = 1 + ln(count)`, `idf = ln((1 + n) / (1 + df)) + 1`,
//! each document's vector scaled to unit L2 norm.

mod lbfgs;
pub mod logreg;

use rustc_hash::FxHashMap as HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::quant::StoredDtype;

pub use logreg::{Csr, LogReg, LogRegFit, StopFlags};

/// Add-one smoothing of the naive-Bayes counts of the branch's weight scale
/// ([`logreg::nb_scale`]).
pub const NB_SMOOTHING: f64 = 1.0;
/// The floor added to `|r|` in the naive-Bayes weight scale, chosen among 0.02, 0.1, 0.3 and 1
/// on the validation splits of five suite sets (mean best valid accuracy 0.8778 at 0.3, 0.8711
/// without NB weighting).
pub const NB_FLOOR: f64 = 0.3;

/// Which n-grams the branch reads. Saved in the bundle's `config.json` under `"ngram"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NgramConfig {
    /// Longest word n-gram (1 = unigrams only; at most 3).
    pub word_n: usize,
    /// Longest character n-gram over the tokens joined by single spaces (0 = none; at most 3).
    pub char_n: usize,
    /// Minimum number of training documents an n-gram must occur in.
    pub min_df: usize,
}

impl NgramConfig {
    /// The n-grams in words, for messages: `word 1–2-grams`, `word 1-grams + character
    /// 1–3-grams`.
    pub fn describe(&self) -> String {
        let orders = |n: usize| match n {
            1 => "1-grams".to_string(),
            n => format!("1–{n}-grams"),
        };
        match self.char_n {
            0 => format!("word {}", orders(self.word_n)),
            c => format!("word {} + character {}", orders(self.word_n), orders(c)),
        }
    }

    /// Checks the orders (word n-grams 1..=3, character n-grams 0..=3) and `min_df >= 1`.
    pub fn validate(&self) -> Result<()> {
        if !(1..=3).contains(&self.word_n) {
            bail!("ngram word_n must be 1, 2 or 3 (got {})", self.word_n);
        }
        if self.char_n > 3 {
            bail!("ngram char_n must be 0..=3 (got {})", self.char_n);
        }
        if self.min_df == 0 {
            bail!("ngram min_df must be at least 1");
        }
        Ok(())
    }
}

/// Bits per symbol in a packed n-gram key: token ids and Unicode scalar values (+1) both fit.
const SYMBOL_BITS: u32 = 21;
const SYMBOL_MASK: u64 = (1 << SYMBOL_BITS) - 1;
/// Marks character n-gram keys (word keys have the top bit clear).
const CHAR_FLAG: u64 = 1 << 63;

/// Packs up to three symbols (each `1..2^21`) into one key; the order is implied because every
/// symbol is non-zero.
fn pack(symbols: &[u64]) -> u64 {
    symbols
        .iter()
        .fold(0u64, |key, &s| (key << SYMBOL_BITS) | (s & SYMBOL_MASK))
}

/// A document's tokens as the n-gram branch reads them: a token list (`[String]`,
/// `Vec<String>`) or a row of [`InternedDocs`].
pub trait Tokens: Sync {
    /// Number of tokens.
    fn count(&self) -> usize;
    /// Token `i` (`i < count()`).
    fn token(&self, i: usize) -> &str;
}

impl Tokens for [String] {
    fn count(&self) -> usize {
        self.len()
    }
    fn token(&self, i: usize) -> &str {
        &self[i]
    }
}

impl Tokens for Vec<String> {
    fn count(&self) -> usize {
        self.len()
    }
    fn token(&self, i: usize) -> &str {
        &self[i]
    }
}

impl<T: Tokens + ?Sized> Tokens for &T {
    fn count(&self) -> usize {
        (**self).count()
    }
    fn token(&self, i: usize) -> &str {
        (**self).token(i)
    }
}

/// The tokens of `doc`, in order.
fn tokens_of<D: Tokens + ?Sized>(doc: &D) -> impl Iterator<Item = &str> {
    (0..doc.count()).map(move |i| doc.token(i))
}

/// Token lists of many documents with each distinct token stored once: a document is a list of
/// `u32` ids into one table (about 4 bytes a token, where a `Vec<String>` holds 24 bytes and an
/// allocation of its own per token: ~380 MB against ~30 MB for IMDB's 25,000 training and
/// validation reviews).
#[derive(Debug, Default)]
pub struct InternedDocs {
    words: Vec<String>,
    index: HashMap<String, u32>,
    docs: Vec<Vec<u32>>,
}

impl InternedDocs {
    /// Appends a document.
    pub fn push(&mut self, tokens: Vec<String>) {
        let ids = tokens
            .into_iter()
            .map(|t| match self.index.get(t.as_str()) {
                Some(&id) => id,
                None => {
                    let id = self.words.len() as u32;
                    self.index.insert(t.clone(), id);
                    self.words.push(t);
                    id
                }
            })
            .collect();
        self.docs.push(ids);
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether there is no document.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Every document, in the order pushed.
    pub fn docs(&self) -> Vec<DocRef<'_>> {
        self.docs
            .iter()
            .map(|ids| DocRef {
                words: &self.words,
                ids,
            })
            .collect()
    }
}

/// One document of an [`InternedDocs`].
#[derive(Clone, Copy, Debug)]
pub struct DocRef<'a> {
    words: &'a [String],
    ids: &'a [u32],
}

impl Tokens for DocRef<'_> {
    fn count(&self) -> usize {
        self.ids.len()
    }
    fn token(&self, i: usize) -> &str {
        &self.words[self.ids[i] as usize]
    }
}

/// The symbols of a packed n-gram key, first symbol first, and whether it is a character
/// n-gram: word keys hold token ids (`1..`, see [`NgramFeaturizer::token_id`]), character keys
/// Unicode scalar values + 1 (a space joins two tokens). The inverse of the packing used for
/// the columns of [`NgramFeaturizer::parts`].
pub fn key_symbols(key: u64) -> (bool, Vec<u64>) {
    let is_char = key & CHAR_FLAG != 0;
    let mut rest = key & !CHAR_FLAG;
    let mut symbols = Vec::with_capacity(3);
    while rest != 0 {
        symbols.push(rest & SYMBOL_MASK);
        rest >>= SYMBOL_BITS;
    }
    symbols.reverse();
    (is_char, symbols)
}

/// Documents per parallel chunk of [`doc_freqs`].
const DF_CHUNK: usize = 2048;

/// The document frequency of every item `items(doc, out)` appends for some document: in how
/// many of `docs` it occurs (repeats within a document count once). Counted over fixed chunks
/// of documents in parallel, then added up; counts are integers, so the result does not depend
/// on the thread count.
fn doc_freqs<'d, D: Tokens, K: std::hash::Hash + Ord + Copy + Send + 'd>(
    docs: &'d [D],
    items: impl Fn(&'d D, &mut Vec<K>) + Sync,
) -> HashMap<K, u32> {
    use rayon::prelude::*;
    docs.par_chunks(DF_CHUNK)
        .map(|chunk| {
            let mut counts: HashMap<K, u32> = HashMap::default();
            let mut seen = Vec::new();
            for doc in chunk {
                seen.clear();
                items(doc, &mut seen);
                seen.sort_unstable();
                seen.dedup();
                for &k in &seen {
                    *counts.entry(k).or_insert(0) += 1;
                }
            }
            counts
        })
        .reduce(HashMap::default, |mut a, mut b| {
            if a.len() < b.len() {
                std::mem::swap(&mut a, &mut b);
            }
            for (k, c) in b {
                *a.entry(k).or_insert(0) += c;
            }
            a
        })
}

/// Turns token lists into TF-IDF vectors over the n-grams seen in training.
#[derive(Clone, Debug)]
pub struct NgramFeaturizer {
    config: NgramConfig,
    /// Token → id (`1..`); tokens seen in fewer than `min_df` training documents are left out
    /// (an n-gram containing one could not reach `min_df` either).
    tokens: HashMap<String, u32>,
    /// Tokens in id order (id `i + 1` is `token_list[i]`).
    token_list: Vec<String>,
    /// Packed n-gram key → column.
    columns: HashMap<u64, u32>,
    /// Keys in column order (sorted ascending).
    keys: Vec<u64>,
    /// Inverse document frequency per column.
    idf: Vec<f32>,
}

impl NgramFeaturizer {
    /// Builds the token table, the n-gram columns and their IDF from training documents
    /// (each a token list from the bundle's tokenizer).
    ///
    /// # Errors
    /// An invalid config, or more than 2^21 − 1 distinct tokens with `min_df` documents (raise
    /// `min_df`).
    pub fn fit<D: Tokens>(docs: &[D], config: NgramConfig) -> Result<NgramFeaturizer> {
        config.validate()?;
        let df = doc_freqs(docs, |doc, out| out.extend(tokens_of(doc)));
        // Ids in first-occurrence order, so the table does not depend on hashing.
        let mut token_list = Vec::new();
        let mut tokens = HashMap::default();
        for doc in docs {
            for t in tokens_of(doc) {
                if df[t] as usize >= config.min_df && !tokens.contains_key(t) {
                    token_list.push(t.to_string());
                    tokens.insert(t.to_string(), token_list.len() as u32);
                }
            }
        }
        if token_list.len() as u64 >= SYMBOL_MASK {
            bail!(
                "the n-gram branch holds at most {} distinct tokens; the training data has {} \
                 (`--arch kim` trains the CNN alone, without the branch)",
                SYMBOL_MASK - 1,
                token_list.len()
            );
        }
        let mut f = NgramFeaturizer {
            config,
            tokens,
            token_list,
            columns: HashMap::default(),
            keys: Vec::new(),
            idf: Vec::new(),
        };
        let key_df = doc_freqs(docs, |doc, out| f.keys_of(doc, out));
        let mut kept: Vec<(u64, u32)> = key_df
            .into_iter()
            .filter(|&(_, c)| c as usize >= f.config.min_df)
            .collect();
        kept.sort_unstable();
        let n = docs.len() as f64;
        f.idf = kept
            .iter()
            .map(|&(_, c)| (((1.0 + n) / (1.0 + c as f64)).ln() + 1.0) as f32)
            .collect();
        f.keys = kept.iter().map(|&(k, _)| k).collect();
        f.columns = f
            .keys
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i as u32))
            .collect();
        Ok(f)
    }

    /// Rebuilds a featurizer from its saved parts (see [`NgramFeaturizer::parts`]).
    ///
    /// # Errors
    /// Keys not strictly ascending, `idf` of another length, or duplicate tokens.
    pub fn from_parts(
        config: NgramConfig,
        token_list: Vec<String>,
        keys: Vec<u64>,
        idf: Vec<f32>,
    ) -> Result<NgramFeaturizer> {
        config.validate()?;
        if keys.len() != idf.len() {
            bail!("{} n-gram keys but {} idf values", keys.len(), idf.len());
        }
        if keys.windows(2).any(|w| w[0] >= w[1]) {
            bail!("the n-gram keys are not strictly ascending");
        }
        if idf.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            bail!("the n-gram idf values are not all finite and positive");
        }
        for &key in &keys {
            let orders = if key & CHAR_FLAG != 0 {
                config.char_n
            } else {
                config.word_n
            };
            let mut k = key & !CHAR_FLAG;
            let mut n = 0;
            while k != 0 {
                let symbol = k & SYMBOL_MASK;
                let bad = symbol == 0
                    || (key & CHAR_FLAG == 0 && symbol as usize > token_list.len())
                    || (key & CHAR_FLAG != 0 && char::from_u32(symbol as u32 - 1).is_none());
                if bad {
                    bail!(
                        "n-gram key {key:#x} names a token or character outside the table of {} tokens",
                        token_list.len()
                    );
                }
                k >>= SYMBOL_BITS;
                n += 1;
            }
            if n == 0 || n > orders {
                bail!("n-gram key {key:#x} has {n} symbols, outside the configured orders");
            }
        }
        let mut tokens = HashMap::with_capacity_and_hasher(token_list.len(), Default::default());
        for (i, t) in token_list.iter().enumerate() {
            if tokens.insert(t.clone(), i as u32 + 1).is_some() {
                bail!("the n-gram token {t:?} is listed twice");
            }
        }
        let columns = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i as u32))
            .collect();
        Ok(NgramFeaturizer {
            config,
            tokens,
            token_list,
            columns,
            keys,
            idf,
        })
    }

    /// `(config, tokens in id order, keys in column order, idf per column)`.
    pub fn parts(&self) -> (&NgramConfig, &[String], &[u64], &[f32]) {
        (&self.config, &self.token_list, &self.keys, &self.idf)
    }

    /// Number of feature columns (n-grams).
    pub fn num_features(&self) -> usize {
        self.keys.len()
    }

    /// The id of `token` in the branch's token table (`1..`; the line number in
    /// `ngram_tokens.txt`), or 0 for a token outside it (no kept n-gram contains such a token).
    pub fn token_id(&self, token: &str) -> u32 {
        self.tokens.get(token).copied().unwrap_or(0)
    }

    /// Appends the packed keys of every n-gram occurrence in `doc` (with repeats).
    fn keys_of<D: Tokens + ?Sized>(&self, doc: &D, out: &mut Vec<u64>) {
        self.for_each_key(doc, |key, _, _| out.push(key));
    }

    /// Calls `f(key, n, tokens)` for every n-gram occurrence in `doc` (with repeats): its
    /// packed key, its order `n` (words or characters) and the tokens of `doc` it covers
    /// (a character n-gram covers the tokens of its characters; the space joining two tokens
    /// belongs to the token before it).
    fn for_each_key<D: Tokens + ?Sized>(
        &self,
        doc: &D,
        mut f: impl FnMut(u64, usize, std::ops::Range<usize>),
    ) {
        let ids: Vec<u64> = tokens_of(doc)
            .map(|t| self.tokens.get(t).copied().unwrap_or(0) as u64)
            .collect();
        for n in 1..=self.config.word_n {
            for (i, w) in ids.windows(n).enumerate() {
                // An n-gram with a token outside the table cannot have been kept.
                if w.iter().all(|&s| s != 0) {
                    f(pack(w), n, i..i + n);
                }
            }
        }
        if self.config.char_n > 0 {
            let mut chars: Vec<u64> = Vec::new();
            let mut owner: Vec<usize> = Vec::new();
            for (i, t) in tokens_of(doc).enumerate() {
                if i > 0 {
                    chars.push(' ' as u64 + 1);
                    owner.push(i - 1);
                }
                for c in t.chars() {
                    chars.push(c as u64 + 1);
                    owner.push(i);
                }
            }
            for n in 1..=self.config.char_n {
                for (i, w) in chars.windows(n).enumerate() {
                    f(CHAR_FLAG | pack(w), n, owner[i]..owner[i + n - 1] + 1);
                }
            }
        }
    }

    /// Every occurrence in `doc` of an n-gram this featurizer has a column for, in the order
    /// [`NgramFeaturizer::transform`] reads them: `(column, order n, tokens covered)` (see
    /// `for_each_key` for the tokens of a character n-gram). For explanations: the TF-IDF value
    /// of a column is shared by its occurrences.
    pub fn occurrences<D: Tokens + ?Sized>(
        &self,
        doc: &D,
    ) -> Vec<(u32, usize, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        self.for_each_key(doc, |key, n, tokens| {
            if let Some(&c) = self.columns.get(&key) {
                out.push((c, n, tokens));
            }
        });
        out
    }

    /// The TF-IDF row of one document: `(column, value)` sorted by column, unit L2 norm (empty
    /// when no n-gram of the document was seen in training).
    pub fn transform<D: Tokens + ?Sized>(&self, doc: &D) -> Vec<(u32, f32)> {
        let mut keys = Vec::new();
        self.keys_of(doc, &mut keys);
        let mut cols: Vec<u32> = keys
            .iter()
            .filter_map(|k| self.columns.get(k).copied())
            .collect();
        cols.sort_unstable();
        let mut row: Vec<(u32, f32)> = Vec::new();
        for c in cols {
            match row.last_mut() {
                Some((last, count)) if *last == c => *count += 1.0,
                _ => row.push((c, 1.0)),
            }
        }
        let mut norm = 0.0f64;
        for (c, v) in row.iter_mut() {
            *v = (1.0 + v.ln()) * self.idf[*c as usize];
            norm += (*v as f64) * (*v as f64);
        }
        if norm > 0.0 {
            let inv = (1.0 / norm.sqrt()) as f32;
            for (_, v) in row.iter_mut() {
                *v *= inv;
            }
        }
        row
    }

    /// TF-IDF rows of many documents as a sparse matrix `[docs, num_features]`, computed in
    /// parallel.
    pub fn transform_all<D: Tokens>(&self, docs: &[D]) -> Csr {
        use rayon::prelude::*;
        let rows: Vec<Vec<(u32, f32)>> = docs.par_iter().map(|d| self.transform(d)).collect();
        Csr::from_rows(&rows, self.num_features())
    }

    /// Column of every column of `self` in `other` (by n-gram), `None` where `other` lacks it.
    pub fn column_map(&self, other: &NgramFeaturizer) -> Vec<Option<u32>> {
        // Keys are packed from token ids, which differ between tables: compare by n-gram text.
        let by_text: HashMap<String, u32> = (0..other.num_features())
            .map(|c| (other.ngram_text(c), c as u32))
            .collect();
        (0..self.num_features())
            .map(|c| by_text.get(&self.ngram_text(c)).copied())
            .collect()
    }

    /// A readable form of column `col`'s n-gram (`"not good"`, or `'c:好吃'` for characters).
    pub fn ngram_text(&self, col: usize) -> String {
        let key = self.keys[col];
        let mut symbols = Vec::new();
        let mut k = key & !CHAR_FLAG;
        while k != 0 {
            symbols.push(k & SYMBOL_MASK);
            k >>= SYMBOL_BITS;
        }
        symbols.reverse();
        if key & CHAR_FLAG != 0 {
            let s: String = symbols
                .iter()
                .filter_map(|&c| char::from_u32(c as u32 - 1))
                .collect();
            format!("c:{s}")
        } else {
            symbols
                .iter()
                .map(|&i| self.token_list[i as usize - 1].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        }
    }
}

/// File of the n-gram branch's tensors in a bundle: `ngram.weight [features, classes]`,
/// `ngram.bias [classes]`, `ngram.idf [features]` (f32) and `ngram.keys [features]` (u64,
/// packed n-grams, ascending); a quantized bundle stores them as described at
/// [`NgramModel::to_bytes_as`].
pub const NGRAM_TENSORS_FILE: &str = "ngram.safetensors";
/// The n-gram keys of a quantized bundle: varint gaps ([`crate::quant::delta_encode`]), U8.
const KEY_GAPS: &str = "ngram.key_gaps";
/// File of the n-gram branch's token table: one JSON string per line, line `i` is token id `i + 1`.
pub const NGRAM_TOKENS_FILE: &str = "ngram_tokens.txt";

/// The n-gram branch of a trained model: featurizer, linear classifier and its mixing weight.
#[derive(Clone, Debug)]
pub struct NgramModel {
    pub featurizer: NgramFeaturizer,
    pub logreg: LogReg,
}

impl NgramModel {
    /// Class probabilities `[docs, classes]` of token lists.
    pub fn probabilities(&self, docs: &[Vec<String>]) -> Vec<f32> {
        self.logreg
            .probabilities(&self.featurizer.transform_all(docs))
    }

    /// The contents of [`NGRAM_TENSORS_FILE`] and [`NGRAM_TOKENS_FILE`], weights in f32.
    ///
    /// # Errors
    /// Only if safetensors cannot serialize the tensors.
    pub fn to_bytes(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        self.to_bytes_as(StoredDtype::F32)
    }

    /// [`NgramModel::to_bytes`] with the weights and IDF stored as `dtype` (a quantized
    /// bundle): f16 stores both in f16; int8 stores the weights in int8 blocks of 64 values
    /// ([`crate::quant::encode_blocks`]: a row of a few classes is too short for its own
    /// scale) and the IDF in f16. Both store the sorted keys as varint gaps
    /// ([`crate::quant::delta_encode`], `ngram.key_gaps`) instead of u64.
    ///
    /// # Errors
    /// Only if safetensors cannot serialize the tensors.
    pub fn to_bytes_as(&self, dtype: StoredDtype) -> Result<(Vec<u8>, Vec<u8>)> {
        let (_, tokens, keys, idf) = self.featurizer.parts();
        let k = self.logreg.classes;
        let n = keys.len();
        let mut raw = match dtype {
            StoredDtype::Int8 => crate::quant::encode_blocks("ngram.weight", &self.logreg.weights),
            d => crate::quant::encode("ngram.weight", &[n, k], &self.logreg.weights, d),
        };
        let idf_dtype = match dtype {
            StoredDtype::Int8 => StoredDtype::F16,
            d => d,
        };
        raw.extend(crate::quant::encode(
            "ngram.bias",
            &[k],
            &self.logreg.bias,
            StoredDtype::F32,
        ));
        raw.extend(crate::quant::encode("ngram.idf", &[n], idf, idf_dtype));
        if dtype == StoredDtype::F32 {
            let keys_b: Vec<u8> = keys.iter().flat_map(|x| x.to_le_bytes()).collect();
            raw.push(("ngram.keys".to_string(), Dtype::U64, vec![n], keys_b));
        } else {
            let packed = crate::quant::delta_encode(keys);
            raw.push((KEY_GAPS.to_string(), Dtype::U8, vec![packed.len()], packed));
        }
        let tensors = crate::quant::serialize(&raw)
            .with_context(|| format!("cannot serialize {NGRAM_TENSORS_FILE}"))?;
        let mut text = String::new();
        for t in tokens {
            text.push_str(&serde_json::to_string(t)?);
            text.push('\n');
        }
        Ok((tensors, text.into_bytes()))
    }

    /// Parses the contents of [`NGRAM_TENSORS_FILE`] and [`NGRAM_TOKENS_FILE`] (written by
    /// [`NgramModel::to_bytes`]; the bundle reads and writes the files) for a
    /// model of `classes` outputs; `dir` only names the files in errors.
    ///
    /// # Errors
    /// Corrupt files, tensors of the wrong dtype or shape, non-finite weights, keys out of
    /// order or a malformed token line; the message names the file.
    pub fn from_bytes(
        tensor_bytes: &[u8],
        token_bytes: &[u8],
        dir: &Path,
        config: NgramConfig,
        classes: usize,
    ) -> Result<NgramModel> {
        let path = dir.join(NGRAM_TENSORS_FILE);
        let st = SafeTensors::deserialize(tensor_bytes).map_err(|e| {
            anyhow::anyhow!(
                "{} is truncated or not a safetensors file ({e})",
                path.display()
            )
        })?;
        let get = |name: &str, dtype: Dtype| -> Result<(Vec<usize>, &[u8])> {
            let v = st
                .tensor(name)
                .map_err(|_| anyhow::anyhow!("{}: missing tensor {name}", path.display()))?;
            if v.dtype() != dtype {
                bail!(
                    "{}: tensor {name} has dtype {:?}, expected {dtype:?}",
                    path.display(),
                    v.dtype()
                );
            }
            Ok((v.shape().to_vec(), v.data()))
        };
        let keys: Vec<u64> = if st.names().contains(&KEY_GAPS) {
            let (_, kb) = get(KEY_GAPS, Dtype::U8)?;
            crate::quant::delta_decode(kb)
                .with_context(|| format!("{}: tensor {KEY_GAPS}", path.display()))?
        } else {
            let (ks, kb) = get("ngram.keys", Dtype::U64)?;
            if ks.len() != 1 {
                bail!(
                    "{}: tensor ngram.keys must be 1-D, not {ks:?}",
                    path.display()
                );
            }
            kb.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        };
        let n = keys.len();
        let weights = crate::quant::decode_as(&st, "ngram.weight", &path, &[n, classes])?;
        let (bs, bias) = crate::quant::decode(&st, "ngram.bias", &path)?;
        let (is, idf) = crate::quant::decode(&st, "ngram.idf", &path)?;
        if bs != [classes] || is != [n] {
            bail!(
                "{}: tensor shapes bias {bs:?}, idf {is:?} do not fit \
                 {n} n-grams and {classes} classes",
                path.display()
            );
        }
        let tokens_path = dir.join(NGRAM_TOKENS_FILE);
        let text = std::str::from_utf8(token_bytes)
            .with_context(|| format!("{} is not UTF-8", tokens_path.display()))?;
        let tokens = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str::<String>(l).with_context(|| {
                    format!("{}:{}: not a JSON string", tokens_path.display(), i + 1)
                })
            })
            .collect::<Result<Vec<String>>>()?;
        let featurizer = NgramFeaturizer::from_parts(config, tokens, keys, idf)
            .with_context(|| format!("{}", path.display()))?;
        Ok(NgramModel {
            featurizer,
            logreg: LogReg {
                weights,
                bias,
                classes,
            },
        })
    }
}

/// Share of Han (CJK unified ideograph) characters among the non-space characters of `docs`,
/// in [0, 1]; used to turn character n-grams on for Chinese.
pub fn han_share<D: Tokens>(docs: &[D]) -> f64 {
    let (mut han, mut all) = (0usize, 0usize);
    for t in docs.iter().flat_map(|d| tokens_of(d)) {
        for c in t.chars() {
            all += 1;
            if matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF) {
                han += 1;
            }
        }
    }
    if all == 0 {
        0.0
    } else {
        han as f64 / all as f64
    }
}

/// Weights of the log-linear mixture of the two branches: `p = softmax(cnn * ln p_cnn + ngram *
/// ln p_ngram)` row by row. Each weight also acts as an inverse temperature, so the mixture
/// calibrates the two branches as it combines them (a product of experts, Hinton 2002, with
/// the two exponents fitted on held-out data as in stacking, Wolpert 1992).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixWeights {
    pub cnn: f32,
    pub ngram: f32,
}

impl MixWeights {
    /// The grid mixtures are chosen from: each weight in {0, 0.1, …, 4}, not both 0, in the
    /// order (0, 0.1), (0, 0.2), …, (0.1, 0), …, (4, 4) (`(cnn, ngram)`).
    pub fn grid() -> impl Iterator<Item = MixWeights> {
        (0..=40u8)
            .flat_map(|i| (0..=40u8).map(move |j| (i, j)))
            .filter(|&(i, j)| i != 0 || j != 0)
            .map(|(i, j)| MixWeights {
                cnn: i as f32 / 10.0,
                ngram: j as f32 / 10.0,
            })
    }
}

/// Smallest probability entering a logarithm, so that one confident mistake stays finite.
pub const MIN_PROB: f32 = 1e-7;

/// The mixture of two `[n, classes]` probability tables (see [`MixWeights`]).
pub fn mix_probabilities(cnn: &[f32], ngram: &[f32], w: MixWeights, classes: usize) -> Vec<f32> {
    let mut out: Vec<f32> = cnn
        .iter()
        .zip(ngram)
        .map(|(&a, &b)| w.cnn * a.max(MIN_PROB).ln() + w.ngram * b.max(MIN_PROB).ln())
        .collect();
    for row in out.chunks_mut(classes) {
        crate::nn::softmax_in_place(row);
    }
    out
}

/// How much the floor of [`mix_probabilities`] raises each label's log-probability for one
/// branch's logits `[classes]` of one text: `max(0, ln 1e-7 − ln softmax(z)_k)`, from the
/// logits in f64 (so 0 for every label the branch gives at least 1e-7, however small the
/// others). The mixture reads `ln max(p_k, 1e-7) = ln p_k + lift_k`.
pub fn floor_lift(logits: &[f32]) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &z| m.max(z as f64));
    let lse = max
        + logits
            .iter()
            .map(|&z| (z as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let floor = (MIN_PROB as f64).ln();
    logits
        .iter()
        .map(|&z| (floor - (z as f64 - lse)).max(0.0))
        .collect()
}

/// Mean negative log-likelihood of the true classes under probabilities `[n, classes]`
/// (clamped at 1e-7).
pub fn mean_nll(probs: &[f32], y: &[usize], classes: usize) -> f64 {
    if y.is_empty() {
        return 0.0;
    }
    let s: f64 = y
        .iter()
        .enumerate()
        .map(|(i, &c)| -(probs[i * classes + c].max(MIN_PROB) as f64).ln())
        .sum();
    s / y.len() as f64
}

/// The mixture weights, each in {0, 0.1, ..., 4}, that minimise the validation log-loss of
/// [`mix_probabilities`] (the first in grid order on ties; both zero is excluded). Log-loss
/// rather than accuracy: it is smooth, so a few hundred validation texts still choose stable
/// weights, and it corrects the branches' different confidence (a TF-IDF logistic regression
/// is under-confident, a CNN over-confident).
pub fn choose_mix(cnn: &[f32], ngram: &[f32], y: &[usize], classes: usize) -> MixWeights {
    // Log-probabilities once; each grid point is then one weighted sum and a log-sum-exp per row.
    let ln = |p: &[f32]| -> Vec<f32> { p.iter().map(|v| v.max(MIN_PROB).ln()).collect() };
    let (lc, ln_ng) = (ln(cnn), ln(ngram));
    let nll = |w: MixWeights| -> f64 {
        let mut total = 0.0f64;
        for (i, &c) in y.iter().enumerate() {
            let row = i * classes..(i + 1) * classes;
            let z = lc[row.clone()]
                .iter()
                .zip(&ln_ng[row])
                .map(|(a, b)| w.cnn * a + w.ngram * b);
            let zs: Vec<f32> = z.collect();
            let max = zs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = zs.iter().map(|v| (v - max).exp()).sum();
            let p = ((zs[c] - max).exp() / sum).max(MIN_PROB);
            total -= (p as f64).ln();
        }
        total / y.len().max(1) as f64
    };
    let mut best = (
        f64::INFINITY,
        MixWeights {
            cnn: 1.0,
            ngram: 0.0,
        },
    );
    for w in MixWeights::grid() {
        let v = nll(w);
        if v < best.0 - 1e-12 {
            best = (v, w);
        }
    }
    best.1
}

#[cfg(test)]
pub(crate) mod tests;
