//! Deterministic parallel training of skip-gram and CBOW with subwords (fastText's
//! `FastText::skipgram`, `FastText::cbow`, `Model::update`, `NegativeSamplingLoss`).
//!
//! # Rounds instead of Hogwild
//! fastText's threads update the shared matrices without locks (Hogwild, Recht et al. 2011):
//! fast, but the result depends on the timing of the threads. Here training runs in **rounds**.
//! In every epoch each of the `T` threads owns a fixed shard of the sentences (contiguous, about
//! `tokens / T` tokens each, as fastText's threads each read their own part of the file). In a
//! round each thread trains on its next `round_tokens` tokens reading the shared matrices,
//! which nobody writes during the round, through a private copy of every row it touches: the
//! first time a round touches a row, the thread copies it into a slot (and keeps the copy as
//! first read), and all its reads and updates of that row go to the slot, so a thread sees its
//! own updates at once (sequential SGD within its shard) and the others' from the next round. At
//! the end of the round the threads' changes (`slot − first read`) are added to the shared
//! matrices in thread order. Every random draw comes from a generator seeded by
//! `(seed, epoch, round, thread)`. The result therefore depends on the seed, the thread count
//! and the round size, never on timing: it is the same bits on every run, in safe Rust.
//!
//! Rows are initialised lazily: input row `r` starts as U(−1/dim, 1/dim) drawn from a generator
//! seeded by `(seed, r)` the first time it is read, so the millions of bucket rows never touched
//! cost neither time nor (their pages untouched) memory. Output rows start at zero, as fastText's.

use std::ops::ControlFlow;

use anyhow::{Result, bail};

use super::corpus::Corpus;
use super::dictionary::SubwordTable;
use super::kernels::{SplitMix64, Tables, add, dot, output_update, scale, stream_seed};
use super::{VectorModel, VectorSettings, VectorsProgress};

/// Calls the `#[inline(always)]` function `$f` compiled for AVX-512F, or for AVX2 + FMA, when
/// the CPU has them (detected at run time), else its portable build (the pattern of
/// [`crate::nn::token_proj`]). Expands to the body of the calling function, whose parameters are
/// the listed ones.
macro_rules! simd_dispatch {
    ($f:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512($($arg: $ty),*) {
                $f($($arg),*)
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                $f($($arg),*)
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F (checked just above).
                return unsafe { avx512($($arg),*) };
            } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                return unsafe { avx2($($arg),*) };
            }
        }
        $f($($arg),*)
    }};
}

/// Entries of the negative-sampling table at most (fastText's `NEGATIVE_TABLE_SIZE`).
const NEGATIVE_TABLE_SIZE: usize = 10_000_000;
/// Entries per dictionary word below that cap, so small vocabularies get a small table.
const NEGATIVE_ENTRIES_PER_WORD: usize = 1000;
/// Salt of the row-initialisation streams.
const INIT_SALT: u64 = 0x696E_6974_726F_7773;

/// Input row `row` as it is before training: U(−1/dim, 1/dim) from the stream `(seed, row)`.
pub(super) fn init_row(seed: u64, row: u32, out: &mut [f32]) {
    let a = 1.0 / out.len() as f32;
    let mut rng = SplitMix64::new(stream_seed(&[seed ^ INIT_SALT, row as u64]));
    for v in out {
        *v = (2.0 * rng.unit() - 1.0) * a;
    }
}

/// Whether bit `r` of a bit set is on.
#[inline(always)]
pub(super) fn bit(set: &[u64], r: u32) -> bool {
    set[r as usize / 64] >> (r % 64) & 1 == 1
}

/// The trained input matrix and which of its rows hold values (the others are still at
/// [`init_row`]).
pub(super) struct Trained {
    /// `[rows, dim]`: the dictionary words, then the buckets.
    pub input: Vec<f32>,
    /// Bit `r` on when row `r` of `input` holds its value.
    pub ready: Vec<u64>,
    /// Mean loss of each epoch (per update: the target's and the negatives' logistic losses).
    pub epoch_losses: Vec<f64>,
    /// Rounds run.
    pub rounds: usize,
}

/// Everything a round reads; nothing in it changes during the round.
struct Shared<'a> {
    corpus: &'a Corpus,
    subwords: &'a SubwordTable,
    input: &'a [f32],
    ready: &'a [u64],
    output: &'a [f32],
    /// Probability of keeping each word (fastText's `pdiscard`).
    keep: &'a [f32],
    negatives: &'a [u32],
    /// Negatives per update: `neg`, or 0 when the dictionary has one word (none to sample).
    neg: usize,
    tables: &'a Tables,
    settings: &'a VectorSettings,
    threads: usize,
    /// `epoch × tokens`: the denominator of the learning-rate schedule.
    total_tokens: f64,
}

/// What a round asks of one thread.
struct RoundJob {
    epoch: usize,
    round: usize,
    /// Tokens all threads had trained on before this round.
    tokens_before: u64,
}

/// A thread's private copies of the rows of one matrix it touched this round.
struct LocalRows {
    dim: usize,
    /// `[matrix rows]`: the slot of each row, `u32::MAX` when not copied this round.
    slot: Vec<u32>,
    /// The row of each slot, in order of first touch.
    rows: Vec<u32>,
    /// `[slots, dim]`: the rows as trained by this thread.
    local: Vec<f32>,
    /// `[slots, dim]`: the rows as first read this round.
    first: Vec<f32>,
}

impl LocalRows {
    fn new(matrix_rows: usize, dim: usize) -> LocalRows {
        LocalRows {
            dim,
            slot: vec![u32::MAX; matrix_rows],
            rows: Vec::new(),
            local: Vec::new(),
            first: Vec::new(),
        }
    }

    /// The slot of row `r`, copying it (`fetch` writes its current value) on first touch.
    #[inline(always)]
    fn slot_of(&mut self, r: u32, fetch: impl FnOnce(&mut [f32])) -> u32 {
        let s = self.slot[r as usize];
        if s != u32::MAX {
            return s;
        }
        let s = self.rows.len() as u32;
        self.slot[r as usize] = s;
        self.rows.push(r);
        let at = self.local.len();
        self.local.resize(at + self.dim, 0.0);
        fetch(&mut self.local[at..]);
        self.first.extend_from_slice(&self.local[at..]);
        s
    }

    #[inline(always)]
    fn row(&self, s: u32) -> &[f32] {
        let at = s as usize * self.dim;
        &self.local[at..at + self.dim]
    }

    #[inline(always)]
    fn row_mut(&mut self, s: u32) -> &mut [f32] {
        let at = s as usize * self.dim;
        &mut self.local[at..at + self.dim]
    }

    /// Adds this round's changes to `matrix` (`init` gives a row's value where `ready` is off,
    /// and the row is then marked ready), then forgets the slots.
    fn merge_into(
        &mut self,
        matrix: &mut [f32],
        mut ready: Option<&mut [u64]>,
        init: impl Fn(u32, &mut [f32]),
    ) {
        let d = self.dim;
        for (s, &r) in self.rows.iter().enumerate() {
            let row = &mut matrix[r as usize * d..(r as usize + 1) * d];
            if let Some(ready) = ready.as_deref_mut()
                && !bit(ready, r)
            {
                init(r, row);
                ready[r as usize / 64] |= 1 << (r % 64);
            }
            let (local, first) = (
                &self.local[s * d..(s + 1) * d],
                &self.first[s * d..(s + 1) * d],
            );
            for ((m, l), f) in row.iter_mut().zip(local).zip(first) {
                *m += l - f;
            }
            self.slot[r as usize] = u32::MAX;
        }
        self.rows.clear();
        self.local.clear();
        self.first.clear();
    }
}

/// One training thread: its shard, its private rows and its scratch buffers.
struct Worker {
    id: usize,
    /// Sentences of this thread's shard: `next..end` are left in the current epoch.
    start: usize,
    next: usize,
    end: usize,
    input: LocalRows,
    output: LocalRows,
    /// `[nwords]`: where the input slots of each word's rows start in `slot_lists`
    /// (`u32::MAX`: not yet this round).
    word_slots: Vec<u32>,
    touched_words: Vec<u32>,
    slot_lists: Vec<u32>,
    line: Vec<u32>,
    bow: Vec<u32>,
    hidden: Vec<f32>,
    grad: Vec<f32>,
    /// This round's tokens, summed losses and updates.
    tokens: u64,
    loss: f64,
    updates: u64,
}

impl Worker {
    /// The input slots of word `w`'s rows, copying the rows on their first touch this round.
    #[inline(always)]
    fn word_slots(&mut self, w: u32, sh: &Shared) -> (usize, usize) {
        let n = sh.subwords.rows(w).len();
        let start = self.word_slots[w as usize];
        if start != u32::MAX {
            return (start as usize, start as usize + n);
        }
        let start = self.slot_lists.len();
        self.word_slots[w as usize] = start as u32;
        self.touched_words.push(w);
        let seed = sh.settings.seed;
        for &r in sh.subwords.rows(w) {
            let s = self.input.slot_of(r, |dst| {
                if bit(sh.ready, r) {
                    let d = dst.len();
                    dst.copy_from_slice(&sh.input[r as usize * d..(r as usize + 1) * d]);
                } else {
                    init_row(seed, r, dst);
                }
            });
            self.slot_lists.push(s);
        }
        (start, start + n)
    }

    /// Forgets this round's word slot lists.
    fn clear_word_slots(&mut self) {
        for &w in &self.touched_words {
            self.word_slots[w as usize] = u32::MAX;
        }
        self.touched_words.clear();
        self.slot_lists.clear();
    }
}

/// One update (fastText's `Model::update` with negative sampling): the hidden vector is the mean
/// of the input rows in `slots`; the target and `neg` sampled negatives each take a logistic
/// step; the summed gradient is added to every input row (not divided by their number, as in
/// fastText's unsupervised models). Returns the loss.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn update(
    sh: &Shared,
    input: &mut LocalRows,
    output: &mut LocalRows,
    slots: &[u32],
    target: u32,
    lr: f32,
    hidden: &mut [f32],
    grad: &mut [f32],
    rng: &mut SplitMix64,
) -> f32 {
    if slots.is_empty() {
        return 0.0;
    }
    hidden.copy_from_slice(input.row(slots[0]));
    for &s in &slots[1..] {
        add(input.row(s), hidden);
    }
    scale(1.0 / slots.len() as f32, hidden);
    grad.fill(0.0);
    let dim = hidden.len();
    let mut loss = 0.0;
    for n in 0..=sh.neg {
        let (word, label) = if n == 0 {
            (target, 1.0)
        } else {
            let w = loop {
                let w = sh.negatives[rng.below(sh.negatives.len())];
                if w != target {
                    break w;
                }
            };
            (w, 0.0)
        };
        let s = output.slot_of(word, |dst| {
            dst.copy_from_slice(&sh.output[word as usize * dim..(word as usize + 1) * dim]);
        });
        let row = output.row_mut(s);
        let score = sh.tables.sigmoid(dot(row, hidden));
        let alpha = lr * (label - score);
        output_update(alpha, row, hidden, grad);
        loss -= if n == 0 {
            sh.tables.log(score)
        } else {
            sh.tables.log(1.0 - score)
        };
    }
    for &s in slots {
        add(grad, input.row_mut(s));
    }
    loss
}

/// Trains `w` on its share of one round.
#[inline(always)]
fn round_kernel(w: &mut Worker, sh: &Shared, job: &RoundJob) {
    let st = sh.settings;
    let mut rng = SplitMix64::new(stream_seed(&[
        st.seed,
        job.epoch as u64,
        job.round as u64,
        w.id as u64,
    ]));
    let (mut loss, mut updates, mut tokens) = (0.0f64, 0u64, 0u64);
    let budget = st.round_tokens as u64;
    let lr0 = st.lr as f32;
    let mut hidden = std::mem::take(&mut w.hidden);
    let mut grad = std::mem::take(&mut w.grad);
    let mut line = std::mem::take(&mut w.line);
    let mut bow = std::mem::take(&mut w.bow);
    while w.next < w.end && tokens < budget {
        let sentence = sh.corpus.sentence(w.next);
        w.next += 1;
        let progress = (job.tokens_before + tokens * sh.threads as u64) as f64 / sh.total_tokens;
        let lr = lr0 * (1.0 - progress.min(1.0) as f32);
        tokens += sentence.len() as u64;
        line.clear();
        for &t in sentence {
            // fastText's `discard`: a word is dropped when a uniform draw exceeds its keep
            // probability.
            if rng.unit() <= sh.keep[t as usize] {
                line.push(t);
            }
        }
        let n = line.len();
        for pos in 0..n {
            let boundary = 1 + rng.below(st.ws);
            let lo = pos.saturating_sub(boundary);
            let hi = (pos + boundary).min(n - 1);
            match st.model {
                VectorModel::Skipgram => {
                    let (a, b) = w.word_slots(line[pos], sh);
                    for c in lo..=hi {
                        if c == pos {
                            continue;
                        }
                        let slots = &w.slot_lists[a..b];
                        loss += update(
                            sh,
                            &mut w.input,
                            &mut w.output,
                            slots,
                            line[c],
                            lr,
                            &mut hidden,
                            &mut grad,
                            &mut rng,
                        ) as f64;
                        updates += 1;
                    }
                }
                VectorModel::Cbow => {
                    bow.clear();
                    for c in lo..=hi {
                        if c != pos {
                            let (a, b) = w.word_slots(line[c], sh);
                            bow.extend_from_slice(&w.slot_lists[a..b]);
                        }
                    }
                    loss += update(
                        sh,
                        &mut w.input,
                        &mut w.output,
                        &bow,
                        line[pos],
                        lr,
                        &mut hidden,
                        &mut grad,
                        &mut rng,
                    ) as f64;
                    updates += 1;
                }
            }
        }
    }
    w.hidden = hidden;
    w.grad = grad;
    w.line = line;
    w.bow = bow;
    w.tokens = tokens;
    w.loss = loss;
    w.updates = updates;
}

/// [`round_kernel`] built for the best instruction set of this CPU.
fn run_round(w: &mut Worker, sh: &Shared, job: &RoundJob) {
    simd_dispatch!(round_kernel(w: &mut Worker, sh: &Shared, job: &RoundJob))
}

/// Keep probabilities of frequent-word subsampling (Mikolov et al. 2013, as fastText's
/// `initTableDiscard`): `sqrt(t / f) + t / f` for a word of frequency `f = count / tokens_read`.
fn keep_probabilities(corpus: &Corpus, t: f64) -> Vec<f32> {
    let total = corpus.tokens_read() as f32;
    let t = t as f32;
    corpus
        .dictionary()
        .counts()
        .iter()
        .map(|&c| {
            let f = c as f32 / total;
            (t / f).sqrt() + t / f
        })
        .collect()
}

/// The negative-sampling table: word `w` fills a share `sqrt(count_w) / Σ sqrt(count)` of it
/// (fastText's `NegativeSamplingLoss` uses the square root of the counts, not word2vec's 3/4
/// power), every word at least one entry, in id order; negatives are drawn uniformly from it.
fn negative_table(counts: &[u64]) -> Vec<u32> {
    let size = NEGATIVE_TABLE_SIZE.min(NEGATIVE_ENTRIES_PER_WORD * counts.len()) as f64;
    let z: f64 = counts.iter().map(|&c| (c as f64).sqrt()).sum();
    let mut table = Vec::with_capacity(size as usize + counts.len());
    for (w, &c) in counts.iter().enumerate() {
        let n = ((c as f64).sqrt() * size / z).ceil() as usize;
        table.extend(std::iter::repeat_n(w as u32, n.max(1)));
    }
    table
}

/// Sentence ranges of the `threads` shards: about `tokens / threads` tokens each, contiguous.
fn shards(corpus: &Corpus, threads: usize) -> Vec<(usize, usize)> {
    let n = corpus.sentences();
    let tokens = corpus.tokens() as u128;
    let cut = |t: usize| -> usize {
        let target = (tokens * t as u128 / threads as u128) as usize;
        // First sentence starting at or after `target`.
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if corpus.sentence_start(mid) < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };
    (0..threads).map(|t| (cut(t), cut(t + 1))).collect()
}

/// Trains the input matrix of a subword model on `corpus` (see the module documentation).
/// `threads` is the resolved thread count (≥ 1). `progress` is called after every round; a
/// `Break` stops training with an error.
pub(super) fn train(
    corpus: &Corpus,
    subwords: &SubwordTable,
    settings: &VectorSettings,
    threads: usize,
    progress: &mut dyn FnMut(&VectorsProgress) -> ControlFlow<()>,
) -> Result<Trained> {
    let dim = settings.dim;
    let nwords = corpus.dictionary().len();
    let in_rows = nwords
        + if settings.maxn > 0 {
            settings.bucket
        } else {
            0
        };
    let mut input = vec![0.0f32; in_rows * dim];
    let mut ready = vec![0u64; in_rows.div_ceil(64)];
    let mut output = vec![0.0f32; nwords * dim];
    let keep = keep_probabilities(corpus, settings.t);
    let negatives = negative_table(corpus.dictionary().counts());
    let tables = Tables::new();
    let shards = shards(corpus, threads);
    let mut workers: Vec<Worker> = shards
        .iter()
        .enumerate()
        .map(|(id, &(start, end))| Worker {
            id,
            start,
            next: start,
            end,
            input: LocalRows::new(in_rows, dim),
            output: LocalRows::new(nwords, dim),
            word_slots: vec![u32::MAX; nwords],
            touched_words: Vec::new(),
            slot_lists: Vec::new(),
            line: Vec::with_capacity(super::corpus::MAX_SENTENCE),
            bow: Vec::new(),
            hidden: vec![0.0; dim],
            grad: vec![0.0; dim],
            tokens: 0,
            loss: 0.0,
            updates: 0,
        })
        .collect();
    let total_tokens = (settings.epoch as u64 * corpus.tokens()) as f64;
    let mut tokens_done = 0u64;
    let mut rounds = 0usize;
    let mut epoch_losses = Vec::with_capacity(settings.epoch);
    for epoch in 0..settings.epoch {
        for w in &mut workers {
            w.next = w.start;
        }
        let (mut loss, mut updates) = (0.0f64, 0u64);
        let mut round = 0;
        while workers.iter().any(|w| w.next < w.end) {
            let job = RoundJob {
                epoch,
                round,
                tokens_before: tokens_done,
            };
            let sh = Shared {
                corpus,
                subwords,
                input: &input,
                ready: &ready,
                output: &output,
                keep: &keep,
                negatives: &negatives,
                neg: if nwords > 1 { settings.neg } else { 0 },
                tables: &tables,
                settings,
                threads,
                total_tokens,
            };
            std::thread::scope(|scope| {
                let (first, rest) = workers.split_first_mut().expect("one thread at least");
                for w in rest {
                    let (sh, job) = (&sh, &job);
                    scope.spawn(move || run_round(w, sh, job));
                }
                run_round(first, &sh, &job);
            });
            let seed = settings.seed;
            for w in &mut workers {
                w.input.merge_into(&mut input, Some(&mut ready), |r, row| {
                    init_row(seed, r, row)
                });
                w.output.merge_into(&mut output, None, |_, _| {});
                w.clear_word_slots();
                tokens_done += w.tokens;
                loss += w.loss;
                updates += w.updates;
            }
            round += 1;
            rounds += 1;
            let report = VectorsProgress {
                epoch: epoch + 1,
                epochs: settings.epoch,
                tokens_done,
                tokens_total: total_tokens as u64,
                loss: loss / updates.max(1) as f64,
                lr: settings.lr * (1.0 - (tokens_done as f64 / total_tokens).min(1.0)),
            };
            if progress(&report).is_break() {
                bail!("training of the word vectors was stopped");
            }
        }
        epoch_losses.push(loss / updates.max(1) as f64);
    }
    Ok(Trained {
        input,
        ready,
        epoch_losses,
        rounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_table_follows_square_root_counts() {
        let t = negative_table(&[400, 100, 1]);
        let count = |w: u32| t.iter().filter(|&&x| x == w).count();
        // sqrt: 20 : 10 : 1 of 3,000 entries.
        assert_eq!(count(0), (20.0f64 * 3000.0 / 31.0).ceil() as usize);
        assert_eq!(count(1), (10.0f64 * 3000.0 / 31.0).ceil() as usize);
        assert_eq!(count(2), (3000.0f64 / 31.0).ceil() as usize);
    }

    #[test]
    fn shards_split_tokens_evenly_at_sentence_bounds() {
        let texts: Vec<Vec<String>> = (0..10)
            .map(|i| vec!["w".to_string(); if i < 5 { 1 } else { 3 }])
            .collect();
        let c = Corpus::from_token_lists(texts.iter().map(Vec::as_slice), 1).unwrap();
        // 20 tokens: sentence starts 0,1,2,3,4,5,8,11,14,17.
        assert_eq!(shards(&c, 1), [(0, 10)]);
        assert_eq!(shards(&c, 2), [(0, 7), (7, 10)]);
        assert_eq!(shards(&c, 4), [(0, 5), (5, 7), (7, 9), (9, 10)]);
    }

    #[test]
    fn rows_initialise_from_their_own_stream() {
        let (mut a, mut b, mut c) = (vec![0.0; 50], vec![0.0; 50], vec![0.0; 50]);
        init_row(3, 17, &mut a);
        init_row(3, 17, &mut b);
        init_row(3, 18, &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|v| v.abs() <= 1.0 / 50.0) && a.iter().any(|v| v.abs() > 0.01));
    }
}
