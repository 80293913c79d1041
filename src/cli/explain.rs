//! `textcnn explain`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use textcnn::explain::{Explanation, Method, Source, Tagged, global, html};
use textcnn::predict::Classifier;

use super::common::{ReadArgs, load_dataset, thread_pool};

/// Explain a classification: which windows of words, which n-grams and which tokens decided the
/// label, and by how much (exact for Kim and ngram-cnn models; occlusion for conv2d). One text
/// per input line; with --global, the n-grams that most often drive each label over a dataset.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Model bundle directory (the --output of `textcnn train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Input file with one text per line, or `-` for standard input.
    #[arg(long, default_value = "-", conflicts_with_all = ["text", "global"])]
    pub input: String,
    /// Explain this text instead of reading --input.
    #[arg(long, conflicts_with = "global")]
    pub text: Option<String>,
    /// The label to explain (default: the predicted one).
    #[arg(long, conflicts_with = "global")]
    pub label: Option<String>,
    /// Windows (or, with --global, n-grams per label) to show.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// JSON Lines output: one explanation object per input line (with every window and token).
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// Write a self-contained HTML page (highlighted texts, legend, top windows) to this file.
    #[arg(long, conflicts_with = "global")]
    pub html: Option<PathBuf>,
    /// Replace an existing --html file (never one inside a model bundle).
    #[arg(long, requires = "html")]
    pub force: bool,
    /// Per label, the n-grams that most often drive it over --data.
    #[arg(long, requires = "data")]
    pub global: bool,
    /// The dataset of --global (labels are not needed): `imdb:test`, or a file/folder.
    #[arg(long, requires = "global")]
    pub data: Option<String>,
    /// --global: only windows of this source (`cnn`: the CNN's feature-map windows; `ngram`:
    /// the n-gram branch's n-grams); default both.
    #[arg(long, value_enum, requires = "global")]
    pub source: Option<Source>,
    /// --global: the largest positive contributions of each text that count as its drivers.
    #[arg(long, default_value_t = 5)]
    pub per_text: usize,
    /// Worker threads, 0 = all cores.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub read: ReadArgs,
}

pub fn run(args: ExplainArgs) -> Result<()> {
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    if let Some(path) = &args.html {
        super::common::check_output_file("--html", path, &[&args.model], args.force)?;
    }
    let classifier = Classifier::load(&args.model)?;
    if let Some(l) = &args.label {
        classifier.label_index(l)?;
    }
    let pool = thread_pool(args.threads)?;
    if args.global {
        return run_global(&args, &classifier, &pool);
    }
    let lines: Vec<String> = match &args.text {
        Some(t) => vec![t.clone()],
        None => {
            let read = textcnn::data::ReadOptions {
                encoding: args.read.encoding,
                ..Default::default()
            };
            textcnn::data::read_lines(&args.input, &read)?
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut pages: Vec<(&str, Vec<Explanation>)> = Vec::new();
    let mut failed = 0usize;
    for (i, text) in lines.iter().enumerate() {
        let line_no = i + 1;
        // No --label: the decided labels (multi-label models: every label over its threshold).
        let result = pool.install(|| match &args.label {
            Some(l) => classifier.explain(text, Some(l)).map(|e| vec![e]),
            None => classifier.explain_decided(text),
        });
        let explanations = match result {
            Ok(es) => es,
            Err(err) => {
                let error = if text.trim().is_empty() {
                    "empty text".to_string()
                } else {
                    format!("{err:#}")
                };
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({ "line": line_no, "error": error, "n_tokens": 0 })
                    )?;
                } else {
                    writeln!(out, "line {line_no}: error: {error}")?;
                }
                failed += 1;
                continue;
            }
        };
        for e in &explanations {
            if args.json {
                let tagged = Tagged {
                    tags: serde_json::json!({ "line": line_no }),
                    explained: e.explained(),
                    explanation: e,
                };
                writeln!(out, "{}", serde_json::to_string(&tagged)?)?;
            } else if args.html.is_none() {
                print_text(&mut out, line_no, e, args.top)?;
            }
        }
        if args.html.is_some() {
            pages.push((text.as_str(), explanations));
        }
    }
    out.flush()?;
    // Each failed line has its record in the output; the exit status says whether any text
    // was explained at all.
    if failed > 0 && failed == lines.len() {
        bail!(
            "no text could be explained ({failed} line{} failed; see the records above)",
            if failed == 1 { "" } else { "s" }
        );
    } else if failed > 0 {
        eprintln!(
            "warning: {failed} of {} lines could not be explained (see their records)",
            lines.len()
        );
    }
    if let Some(path) = &args.html {
        textcnn::fsutil::write_atomic(path, html::page(&pages, args.top).as_bytes())?;
        eprintln!(
            "wrote {} ({} text{})",
            path.display(),
            pages.len(),
            if pages.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

fn source_name(e: &Explanation, s: Source) -> &'static str {
    match s {
        Source::Cnn if e.method == Method::Occlusion => "token",
        Source::Cnn => "cnn",
        Source::Ngram => "n-gram",
    }
}

fn print_text(out: &mut impl Write, line: usize, e: &Explanation, top: usize) -> Result<()> {
    let method = match e.method {
        Method::Exact => "exact decomposition",
        Method::Occlusion => "occlusion (each token replaced by <pad>; not additive)",
    };
    let p = e.probability;
    let prob = if p > 0.0 && p < 1e-3 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    };
    writeln!(
        out,
        "line {line}: label {} (probability {prob}), {method}",
        e.label
    )?;
    match e.bias {
        Some(b) => {
            let sum = e.windows_total();
            let sign = |v: f32| if v < 0.0 { "-" } else { "+" };
            let clamp = e.clamp.map_or(String::new(), |v| {
                format!(
                    " {} clamp {:.4} (a branch's probability under 1e-7, read as 1e-7)",
                    sign(v),
                    v.abs()
                )
            });
            writeln!(
                out,
                "  logit ({}) {:.4} = bias {b:.4} {} {:.4} from {} windows{clamp}",
                e.explained_as.short,
                e.logit,
                sign(sum),
                sum.abs(),
                e.windows.len()
            )?
        }
        None => writeln!(out, "  logit ({}) {:.4}", e.explained_as.short, e.logit)?,
    }
    if let Some(m) = e.mix {
        writeln!(
            out,
            "  mixture exponents: CNN {}, n-gram {} (windows are scaled by them)",
            m.cnn, m.ngram
        )?;
    }
    writeln!(
        out,
        "  {:>9}  {:<6}  {:>4}  {:<13}  window",
        "contrib", "source", "size", "characters"
    )?;
    for w in e.windows.iter().take(top) {
        writeln!(
            out,
            "  {:>+9.4}  {:<6}  {:>4}  {:<13}  {}",
            w.contribution,
            source_name(e, w.source),
            w.region_size,
            format!("{}-{}", w.start, w.end),
            w.text
        )?;
    }
    let mut tokens: Vec<&textcnn::explain::TokenScore> = e.tokens.iter().collect();
    tokens.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    let shown: Vec<String> = tokens
        .iter()
        .take(top)
        .map(|t| format!("{} {:+.4}", t.text, t.contribution))
        .collect();
    writeln!(out, "  tokens: {}", shown.join(", "))?;
    Ok(())
}

fn run_global(args: &ExplainArgs, classifier: &Classifier, pool: &rayon::ThreadPool) -> Result<()> {
    if args.per_text == 0 {
        bail!("--per-text must be at least 1");
    }
    let spec = args.data.as_deref().expect("clap requires --data");
    let ds = load_dataset(spec, &args.read.options_for(spec, true))?;
    let texts: Vec<&str> = ds.examples.iter().map(|e| e.text.as_str()).collect();
    let (labels, skipped) =
        pool.install(|| global::drivers(classifier, &texts, args.per_text, args.top, args.source));
    if skipped > 0 {
        eprintln!(
            "warning: {}: skipped {skipped} text(s) with no tokens",
            ds.name
        );
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "data": ds.name,
                "texts": texts.len(),
                "skipped": skipped,
                "per_text": args.per_text,
                "labels": labels,
            })
        )?;
    } else {
        writeln!(
            out,
            "{} texts of {}; per label, the n-grams most often among a text's {} largest positive contributions",
            texts.len(),
            ds.name,
            args.per_text
        )?;
        for l in &labels {
            writeln!(out, "\nlabel {} ({} texts predicted)", l.label, l.texts)?;
            writeln!(
                out,
                "  {:>6}  {:>9}  {:<6}  {:>4}  n-gram",
                "texts", "mean", "source", "size"
            )?;
            for d in &l.drivers {
                writeln!(
                    out,
                    "  {:>6}  {:>+9.4}  {:<6}  {:>4}  {}",
                    d.count,
                    d.mean_contribution,
                    match d.source {
                        Source::Cnn => "cnn",
                        Source::Ngram => "n-gram",
                    },
                    d.region_size,
                    d.text
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
