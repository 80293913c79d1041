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
use super::kernels::{
    AliasTable, SplitMix64, Tables, add, add_scaled, dot, output_update, scale, stream_seed,
};
use super::{VectorModel, VectorSettings, VectorsProgress};
use crate::nn::simd::simd_dispatch;

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
    /// Updates made.
    pub updates: u64,
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
    negatives: &'a AliasTable,
    /// Negatives per update: `neg`, or 0 when the dictionary has one word (none to sample).
    neg: usize,
    /// Per word: how far the mean of its input rows moves per unit of gradient.
    gains: &'a [f32],
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
    /// `[slots, dim]`: the rows as trained by this thread; after [`LocalRows::to_deltas`], the
    /// change of each row over the round.
    local: Vec<f32>,
}

impl LocalRows {
    fn new(matrix_rows: usize, dim: usize) -> LocalRows {
        LocalRows {
            dim,
            slot: vec![u32::MAX; matrix_rows],
            rows: Vec::new(),
            local: Vec::new(),
        }
    }

    /// The slot of row `r`, copying it on first touch (`fetch` appends its `dim` values).
    #[inline(always)]
    fn slot_of(&mut self, r: u32, fetch: impl FnOnce(&mut Vec<f32>)) -> u32 {
        let s = self.slot[r as usize];
        if s != u32::MAX {
            return s;
        }
        let s = self.rows.len() as u32;
        self.slot[r as usize] = s;
        self.rows.push(r);
        fetch(&mut self.local);
        debug_assert_eq!(self.local.len(), self.rows.len() * self.dim);
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

    /// Forgets last round's rows (after the merge has read them), before a new round.
    fn begin_round(&mut self) {
        for &r in &self.rows {
            self.slot[r as usize] = u32::MAX;
        }
        self.rows.clear();
        self.local.clear();
    }
}

/// Rows per part of a parallel merge: a multiple of 64 so that each part owns whole words of
/// the `ready` bit set.
fn merge_part_rows(rows: usize, parts: usize) -> usize {
    rows.div_ceil(parts).next_multiple_of(64).max(64)
}

/// Writes the round's changes of every thread back into `matrix` (`[rows, dim]`): a row that
/// one thread touched takes that thread's copy; a row that several touched takes its value at
/// the start of the round plus each one's change (`copy − start`), added in thread order. A row
/// whose `ready` bit is off was at its [`init_row`] draw and is marked. The rows are split into
/// `parts` ranges merged in parallel; the result does not depend on `parts`.
fn merge(
    matrix: &mut [f32],
    ready: Option<&mut [u64]>,
    dim: usize,
    threads: &[&LocalRows],
    seed: u64,
    parts: usize,
) {
    let rows = matrix.len() / dim;
    if rows == 0 {
        return;
    }
    let per = merge_part_rows(rows, parts);
    let chunks = matrix.chunks_mut(per * dim);
    let mut ready_chunks: Vec<Option<&mut [u64]>> = match ready {
        Some(r) => r.chunks_mut(per / 64).map(Some).collect(),
        None => (0..rows.div_ceil(per)).map(|_| None).collect(),
    };
    let merge_part = |k: usize, chunk: &mut [f32], mut ready: Option<&mut [u64]>| {
        let first = (k * per) as u32;
        let last = first + (chunk.len() / dim) as u32;
        let mut start = vec![0.0f32; dim];
        let touched = |o: &&LocalRows, r: u32| o.slot[r as usize] != u32::MAX;
        for (t, lr) in threads.iter().enumerate() {
            for (s, &r) in lr.rows.iter().enumerate() {
                // Each row once, by the first thread that touched it.
                if r < first || r >= last || threads[..t].iter().any(|o| touched(o, r)) {
                    continue;
                }
                let i = (r - first) as usize;
                let row = &mut chunk[i * dim..(i + 1) * dim];
                let fresh = ready.as_deref().is_some_and(|ready| !bit(ready, i as u32));
                if let Some(ready) = ready.as_deref_mut() {
                    ready[i / 64] |= 1 << (i % 64);
                }
                let mut later = threads[t + 1..].iter().filter(|o| touched(o, r)).peekable();
                if later.peek().is_none() {
                    row.copy_from_slice(lr.row(s as u32));
                    continue;
                }
                if fresh {
                    init_row(seed, r, &mut start);
                } else {
                    start.copy_from_slice(row);
                }
                row.copy_from_slice(lr.row(s as u32));
                for o in later {
                    let copy = o.row(o.slot[r as usize]);
                    for ((m, c), b) in row.iter_mut().zip(copy).zip(&start) {
                        *m += c - b;
                    }
                }
            }
        }
    };
    std::thread::scope(|scope| {
        let mut jobs: Vec<_> = chunks.zip(ready_chunks.drain(..)).enumerate().collect();
        let last = jobs.pop();
        for (k, (chunk, ready)) in jobs {
            let merge_part = &merge_part;
            scope.spawn(move || merge_part(k, chunk, ready));
        }
        if let Some((k, (chunk, ready))) = last {
            merge_part(k, chunk, ready);
        }
    });
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
    /// Sum of the gradients of a centre word's updates (skip-gram).
    total: Vec<f32>,
    /// This round's tokens, summed losses and updates.
    tokens: u64,
    loss: f64,
    updates: u64,
}

impl Worker {
    /// Thread `id` over the sentences `shard`, for `in_rows` input rows, `nwords` words and
    /// vectors of `dim`.
    fn new(
        id: usize,
        shard: std::ops::Range<usize>,
        in_rows: usize,
        nwords: usize,
        dim: usize,
    ) -> Worker {
        Worker {
            id,
            start: shard.start,
            next: shard.start,
            end: shard.end,
            input: LocalRows::new(in_rows, dim),
            output: LocalRows::new(nwords, dim),
            word_slots: vec![u32::MAX; nwords],
            touched_words: Vec::new(),
            slot_lists: Vec::new(),
            line: Vec::with_capacity(super::corpus::MAX_SENTENCE),
            bow: Vec::new(),
            hidden: vec![0.0; dim],
            grad: vec![0.0; dim],
            total: vec![0.0; dim],
            tokens: 0,
            loss: 0.0,
            updates: 0,
        }
    }

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
        let d = self.input.dim;
        for &r in sh.subwords.rows(w) {
            let s = self.input.slot_of(r, |local| {
                if bit(sh.ready, r) {
                    local.extend_from_slice(&sh.input[r as usize * d..(r as usize + 1) * d]);
                } else {
                    let at = local.len();
                    local.resize(at + d, 0.0);
                    init_row(seed, r, &mut local[at..]);
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

/// `hidden` = the mean of the input rows in `slots` (fastText's `computeHidden`).
#[inline(always)]
fn mean_rows(input: &LocalRows, slots: &[u32], hidden: &mut [f32]) {
    hidden.copy_from_slice(input.row(slots[0]));
    for &s in &slots[1..] {
        add(input.row(s), hidden);
    }
    scale(1.0 / slots.len() as f32, hidden);
}

/// The logistic steps of one update with negative sampling (fastText's
/// `NegativeSamplingLoss::forward`): the target and `neg` negatives drawn from the sampler (never
/// the target) each move their output row and add their share to `grad`. Returns the summed
/// loss.
#[inline(always)]
fn logistic_steps(
    sh: &Shared,
    output: &mut LocalRows,
    hidden: &[f32],
    grad: &mut [f32],
    target: u32,
    lr: f32,
    rng: &mut SplitMix64,
) -> f32 {
    let dim = hidden.len();
    let mut loss = 0.0;
    for n in 0..=sh.neg {
        let (word, label) = if n == 0 {
            (target, 1.0)
        } else {
            let w = loop {
                let w = sh.negatives.sample(rng);
                if w != target {
                    break w;
                }
            };
            (w, 0.0)
        };
        let s = output.slot_of(word, |local| {
            local.extend_from_slice(&sh.output[word as usize * dim..(word as usize + 1) * dim]);
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
    loss
}

/// How much the mean of a word's input rows moves when `g` is added to the row of every entry
/// of its row list: `Σ m² / Σ m` times `g`, `m` the multiplicity of each distinct row (1 when the
/// rows are distinct; a repeated n-gram or a bucket collision counts more).
fn hidden_gains(subwords: &SubwordTable, nwords: usize) -> Vec<f32> {
    let mut rows = Vec::new();
    (0..nwords as u32)
        .map(|w| {
            rows.clear();
            rows.extend_from_slice(subwords.rows(w));
            rows.sort_unstable();
            let mut squares = 0usize;
            for run in rows.chunk_by(|a, b| a == b) {
                squares += run.len() * run.len();
            }
            squares as f32 / rows.len() as f32
        })
        .collect()
}

/// Trains `w` on its share of one round.
///
/// Skip-gram makes one update per context word of a centre word, each with the same input rows
/// (the centre word's); fastText recomputes their mean for every update and adds the gradient to
/// every row after every update. Here the mean is computed once per centre word and moved by
/// each update's gradient (times the word's [`hidden_gains`]), and the gradients are summed and
/// added to the rows once, after the last context: the same arithmetic, since nothing else
/// reads those rows in between, with about half the memory traffic.
/// The random stream of worker `w` in one round: fixed by the seed, epoch, round and worker,
/// so a run is the same for a seed and thread count whatever the scheduling.
fn round_rng(w: &Worker, sh: &Shared, job: &RoundJob) -> SplitMix64 {
    SplitMix64::new(stream_seed(&[
        sh.settings.seed,
        job.epoch as u64,
        job.round as u64,
        w.id as u64,
    ]))
}

#[inline(always)]
fn round_kernel(w: &mut Worker, sh: &Shared, job: &RoundJob) {
    let st = sh.settings;
    let mut rng = round_rng(w, sh, job);
    let (mut loss, mut updates, mut tokens) = (0.0f64, 0u64, 0u64);
    let budget = st.round_tokens as u64;
    let lr0 = st.lr as f32;
    let mut hidden = std::mem::take(&mut w.hidden);
    let mut grad = std::mem::take(&mut w.grad);
    let mut total = std::mem::take(&mut w.total);
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
                    let slots = &w.slot_lists[a..b];
                    let gain = sh.gains[line[pos] as usize];
                    mean_rows(&w.input, slots, &mut hidden);
                    total.fill(0.0);
                    for (c, &target) in (lo..).zip(&line[lo..=hi]) {
                        if c == pos {
                            continue;
                        }
                        grad.fill(0.0);
                        loss += logistic_steps(
                            sh,
                            &mut w.output,
                            &hidden,
                            &mut grad,
                            target,
                            lr,
                            &mut rng,
                        ) as f64;
                        updates += 1;
                        add_scaled(gain, &grad, &mut hidden);
                        add(&grad, &mut total);
                    }
                    for &s in slots {
                        add(&total, w.input.row_mut(s));
                    }
                }
                VectorModel::Cbow => {
                    bow.clear();
                    for (c, &word) in (lo..).zip(&line[lo..=hi]) {
                        if c != pos {
                            let (a, b) = w.word_slots(word, sh);
                            bow.extend_from_slice(&w.slot_lists[a..b]);
                        }
                    }
                    if bow.is_empty() {
                        continue;
                    }
                    mean_rows(&w.input, &bow, &mut hidden);
                    grad.fill(0.0);
                    loss += logistic_steps(
                        sh,
                        &mut w.output,
                        &hidden,
                        &mut grad,
                        line[pos],
                        lr,
                        &mut rng,
                    ) as f64;
                    updates += 1;
                    for &s in &bow {
                        add(&grad, w.input.row_mut(s));
                    }
                }
            }
        }
    }
    w.hidden = hidden;
    w.grad = grad;
    w.total = total;
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

/// The negative sampler: word `w` is drawn with probability `sqrt(count_w) / Σ sqrt(count)`,
/// the distribution of fastText's `NegativeSamplingLoss` table (fastText uses the square root of
/// the counts, not word2vec's 3/4 power), sampled by the alias method.
fn negative_sampler(counts: &[u64]) -> AliasTable {
    let weights: Vec<f64> = counts.iter().map(|&c| (c as f64).sqrt()).collect();
    AliasTable::new(&weights)
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

/// One round of every worker, each on its own thread (the first on this one), over the
/// shared matrices as they were at the start of the round.
fn run_workers(workers: &mut [Worker], sh: &Shared, job: &RoundJob) {
    let round_of = |w: &mut Worker, sh: &Shared, job: &RoundJob| {
        w.input.begin_round();
        w.output.begin_round();
        run_round(w, sh, job);
        w.clear_word_slots();
    };
    std::thread::scope(|scope| {
        let (first, rest) = workers.split_first_mut().expect("one thread at least");
        for w in rest {
            let round_of = &round_of;
            scope.spawn(move || round_of(w, sh, job));
        }
        round_of(first, sh, job);
    });
}

/// Merges the round's changes of every worker into the input matrix (with its `ready` bits)
/// and the output matrix (see [`merge`]).
fn merge_workers(
    workers: &[Worker],
    (input, ready, output): (&mut [f32], &mut [u64], &mut [f32]),
    dim: usize,
    seed: u64,
    threads: usize,
) {
    let copies: Vec<&LocalRows> = workers.iter().map(|w| &w.input).collect();
    merge(input, Some(ready), dim, &copies, seed, threads);
    let copies: Vec<&LocalRows> = workers.iter().map(|w| &w.output).collect();
    merge(output, None, dim, &copies, seed, threads);
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
    let negatives = negative_sampler(corpus.dictionary().counts());
    let tables = Tables::new();
    let gains = hidden_gains(subwords, nwords);
    let shards = shards(corpus, threads);
    let mut workers: Vec<Worker> = shards
        .iter()
        .enumerate()
        .map(|(id, &(start, end))| Worker::new(id, start..end, in_rows, nwords, dim))
        .collect();
    let total_tokens = (settings.epoch as u64 * corpus.tokens()) as f64;
    let mut tokens_done = 0u64;
    let mut rounds = 0usize;
    let mut total_updates = 0u64;
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
                gains: &gains,
                tables: &tables,
                settings,
                threads,
                total_tokens,
            };
            run_workers(&mut workers, &sh, &job);
            let matrices = (&mut input[..], &mut ready[..], &mut output[..]);
            merge_workers(&workers, matrices, dim, settings.seed, threads);
            for w in &workers {
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
        epoch_losses.push(if updates > 0 {
            loss / updates as f64
        } else {
            f64::NAN
        });
        total_updates += updates;
    }
    Ok(Trained {
        input,
        ready,
        epoch_losses,
        rounds,
        updates: total_updates,
    })
}

#[cfg(test)]
mod tests;
