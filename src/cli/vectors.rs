//! `textcnn vectors`.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use textcnn::embed::{
    Corpus, CorpusBuilder, VectorModel, VectorSettings, read_texts, train_on_corpus,
};
use textcnn::text::{Tokenizer, TokenizerConfig};

use super::common::ReadArgs;

/// Train word vectors with subword n-grams on unlabeled text (fastText's skipgram or cbow) and
/// write them as a .vec file that `train --pretrained` reads.
///
/// The text is tokenized as the classifier tokenizes it, so the words match its vocabulary.
/// The vectors are the same on every run for the same --seed, --threads and --round-tokens.
#[derive(Args, Debug)]
pub struct VectorsArgs {
    /// Text to train on: a plain-text file (one text per line; `-` for standard input), or a
    /// dataset (`imdb:train`, .tsv, .csv, .jsonl, fastText, a folder) whose texts are used.
    #[arg(long)]
    pub input: String,
    /// Output .vec file (word2vec text format; written atomically).
    #[arg(long)]
    pub output: PathBuf,
    /// skipgram: a word predicts its neighbours; cbow: the neighbours predict the word.
    #[arg(long, value_enum, default_value = "skipgram")]
    pub model: VectorModel,
    /// Vector dimension.
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.dim)]
    pub dim: usize,
    /// Passes over the text.
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.epoch)]
    pub epoch: usize,
    /// Initial learning rate (decays linearly to 0).
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.lr)]
    pub lr: f64,
    /// Largest window half-width (each word draws 1..=ws).
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.ws)]
    pub ws: usize,
    /// Negatives sampled per target.
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.neg)]
    pub neg: usize,
    /// Words seen fewer times get no vector of their own.
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.min_count)]
    pub min_count: u64,
    /// Shortest character n-gram.
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.minn)]
    pub minn: usize,
    /// Longest character n-gram (0: no subwords).
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.maxn)]
    pub maxn: usize,
    /// Hash buckets of the character n-grams.
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.bucket)]
    pub bucket: usize,
    /// Subsampling threshold of frequent words.
    #[arg(long = "t", default_value_t = VectorSettings::FASTTEXT.t)]
    pub t: f64,
    /// Training threads (0 = all cores); the vectors depend on it.
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.threads)]
    pub threads: usize,
    /// Random seed.
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.seed)]
    pub seed: u64,
    /// Tokens each thread trains on between two exchanges of the threads' updates (advanced;
    /// the vectors depend on it).
    #[arg(long, default_value_t = VectorSettings::FASTTEXT.round_tokens)]
    pub round_tokens: usize,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Replace an existing --output file.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

impl VectorsArgs {
    fn settings(&self) -> VectorSettings {
        VectorSettings {
            model: self.model,
            dim: self.dim,
            epoch: self.epoch,
            lr: self.lr,
            ws: self.ws,
            neg: self.neg,
            min_count: self.min_count,
            minn: self.minn,
            maxn: self.maxn,
            bucket: self.bucket,
            t: self.t,
            threads: self.threads,
            seed: self.seed,
            round_tokens: self.round_tokens,
        }
    }
}

pub fn run(args: VectorsArgs) -> Result<()> {
    super::common::check_output_file("--output", &args.output, &[], args.force)?;
    if textcnn::fsutil::same_file(std::path::Path::new(&args.input), &args.output) {
        anyhow::bail!(
            "--output {} is the --input text itself; give another file name (the text is never written over)",
            args.output.display()
        );
    }
    let mut settings = args.settings();
    settings.validate().map_err(|e| anyhow::anyhow!("--{e}"))?;
    settings.threads = settings.resolved_threads();
    let pool = super::common::thread_pool(settings.threads)?;
    let started = Instant::now();

    let corpus = read_corpus(&args, &settings, &pool)?;

    let bar = (!args.quiet).then(|| {
        let b = ProgressBar::new(settings.epoch as u64 * corpus.tokens());
        b.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b
    });
    let vectors = train_on_corpus(&corpus, &settings, &mut |p| {
        if let Some(b) = &bar {
            b.set_prefix(format!("epoch {}/{}", p.epoch, p.epochs));
            b.set_position(p.tokens_done);
            b.set_message(format!("loss {:.4} lr {:.5}", p.loss, p.lr));
        }
        ControlFlow::Continue(())
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let vectors = vectors?;
    vectors.write_vec(&args.output)?;
    let s = vectors.summary();
    if !args.quiet {
        let losses: Vec<String> = s.epoch_losses.iter().map(|&l| loss_text(l)).collect();
        eprintln!(
            "loss by epoch (mean per update): {}; {} rounds",
            losses.join(" "),
            s.rounds
        );
    }
    if s.updates == 0 {
        eprintln!(
            "warning: no training pair: every word was subsampled away or stood alone on its line \
             (give more text, or raise --t); the vectors are their random initial values"
        );
    }
    println!(
        "{} vectors of dimension {} written to {}: {} tokens x {} epochs ({}), loss {} (epoch 1: {}), {} threads, seed {}, {:.1} s",
        s.words,
        settings.dim,
        args.output.display(),
        s.tokens,
        settings.epoch,
        match settings.model {
            VectorModel::Skipgram => "skipgram",
            VectorModel::Cbow => "cbow",
        },
        loss_text(s.epoch_losses.last().copied().unwrap_or(f64::NAN)),
        loss_text(s.epoch_losses.first().copied().unwrap_or(f64::NAN)),
        s.threads,
        settings.seed,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A mean loss with 4 decimals, or `n/a` for an epoch without any update (its mean is 0/0).
fn loss_text(loss: f64) -> String {
    if loss.is_nan() {
        "n/a".to_string()
    } else {
        format!("{loss:.4}")
    }
}

/// Reads and tokenizes `--input` (a spinner unless `--quiet`) into the training corpus of the
/// words seen `min_count` times; warns of skipped rows and prints its size.
fn read_corpus(
    args: &VectorsArgs,
    settings: &VectorSettings,
    pool: &rayon::ThreadPool,
) -> Result<Corpus> {
    let spinner = (!args.quiet).then(|| {
        let s = ProgressBar::new_spinner();
        s.set_message(format!("reading and tokenizing {}", args.input));
        s.enable_steady_tick(Duration::from_millis(120));
        s
    });
    let tokenizer = Tokenizer::new(TokenizerConfig::default());
    let mut builder = CorpusBuilder::new();
    let read =
        pool.install(|| read_texts(&args.input, &args.read.options(), &tokenizer, &mut builder));
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    let read = read?;
    for w in &read.warnings {
        eprintln!("warning: {}: {w}", args.input);
    }
    if !read.skipped.is_empty() {
        let first = &read.skipped[0];
        eprintln!(
            "warning: {}: skipped {} row(s) (first: {}:{}: {})",
            args.input,
            read.skipped.len(),
            first.file,
            first.line,
            first.reason
        );
    }
    let corpus = builder
        .finish(settings.min_count)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.input))?;
    if !args.quiet {
        eprintln!(
            "{}: {} texts, {} tokens; {} words seen at least {} times ({} tokens); {} threads",
            args.input,
            read.texts,
            corpus.tokens_read(),
            corpus.dictionary().len(),
            settings.min_count,
            corpus.tokens(),
            settings.threads
        );
    }
    Ok(corpus)
}

#[cfg(test)]
mod loss_tests {
    use super::loss_text;

    #[test]
    fn an_epoch_without_updates_reads_n_a_not_nan() {
        assert_eq!(loss_text(f64::NAN), "n/a");
        assert_eq!(loss_text(1.234_56), "1.2346");
        assert_eq!(loss_text(0.0), "0.0000");
    }
}
