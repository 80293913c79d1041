//! `textcnn predict`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use textcnn::predict::Classifier;

use textcnn::data::Encoding;
use textcnn::data::stream::{
    MAX_LINE_BYTES, Record, RecordStream, StreamFormat, StreamOptions, Unreadable,
};

use super::common::thread_pool;

/// The error record of a text that has no tokens once tokenized.
const NO_TOKENS: &str =
    "no tokens after tokenization (only markup, stop words or characters the tokenizer drops)";

/// Classify text: one text per input line (plain text, or JSONL with --format jsonl), one output
/// line per input line, in order. Input is read as it arrives and answered in chunks of up to
/// --batch-size lines, so predict works inside pipes (`RDD.pipe`, shell pipelines) without
/// waiting for the end of its input. A line that holds no text to classify (blank, not valid
/// UTF-8, over 16 MiB, a bad JSONL record) gets an error line in its place (`error<TAB>why (line
/// N)`, or a JSON record with "error") and the stream goes on.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model bundle directory (the --output of `textcnn train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Input file with one text per line, or `-` for standard input.
    #[arg(long, default_value = "-")]
    pub input: String,
    /// Print the K most probable labels (multi-label models: at most K of the labels over
    /// their thresholds) [default: 1; multi-label: all]
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Only report labels whose probability is at least this (multi-label models: in place of
    /// the per-label thresholds) [default: 0; multi-label: each label's tuned threshold]
    #[arg(long)]
    pub threshold: Option<f32>,
    /// JSON Lines output: {"label", "probability", "top_k": [{"label", "probability"}], ...}
    /// (multi-label models: {"labels": [{"label", "probability"}], "probabilities": {label: p}, ...}).
    #[arg(long)]
    pub json: bool,
    /// Worker threads, 0 = all cores.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Character encoding of the input.
    #[arg(long, value_enum, default_value = "utf8")]
    pub encoding: Encoding,
    /// Input format: `lines` (one text per line) or `jsonl` (one JSON object per line with the
    /// text under --text-column and an optional "id" carried to the output; implies --json).
    #[arg(long, value_enum, default_value = "lines")]
    pub format: StreamFormat,
    /// JSONL key holding the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Most texts per call of the model: a chunk is the lines that have arrived, up to this many
    /// (bounds memory; larger chunks use the cores better).
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Memory cap in MiB of the projection cache of the most frequent words (Kim models: built
    /// once the texts read hold as many tokens as the cache has words, then faster inference on
    /// large inputs; 0 = off).
    #[arg(long, default_value_t = textcnn::nn::token_proj::DEFAULT_PROJ_CACHE_BYTES >> 20)]
    pub proj_cache_mb: usize,
}

pub fn run(args: PredictArgs) -> Result<()> {
    if args.top_k == Some(0) {
        bail!("--top-k must be at least 1");
    }
    if let Some(t) = args.threshold
        && !(0.0..=1.0).contains(&t)
    {
        bail!("--threshold must be in [0, 1], got {t}");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let mut classifier = Classifier::load(&args.model)?;
    classifier.set_proj_cache_bytes(args.proj_cache_mb.saturating_mul(1 << 20));
    let mut stream = RecordStream::open(
        &args.input,
        StreamOptions {
            format: args.format,
            encoding: args.encoding,
            text_key: args.text_column.clone(),
            read_ahead: args.batch_size.saturating_mul(2),
            max_line_bytes: MAX_LINE_BYTES,
        },
    )?;
    let json = args.json || args.format == StreamFormat::Jsonl;
    let pool = thread_pool(args.threads)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut unreadable = Unreadables::default();
    loop {
        let chunk = stream.next_chunk(args.batch_size)?;
        if chunk.is_empty() {
            break;
        }
        unreadable.count(&chunk);
        let texts: Vec<&str> = chunk
            .iter()
            .map(|r| r.text.as_deref().unwrap_or(""))
            .collect();
        let predictions = pool.install(|| classifier.predict(&texts));
        for (record, p) in chunk.iter().zip(&predictions) {
            write_record(&mut out, record, p, &classifier, &args, json)?;
        }
        // Answer this chunk now: the reader may be waiting for it before sending more.
        out.flush()?;
    }
    out.flush()?;
    let input = if args.input == "-" {
        "<stdin>"
    } else {
        &args.input
    };
    for warning in unreadable.warnings(input) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// The lines that could not be read as text: how many, and the first, per reason.
#[derive(Default)]
struct Unreadables {
    invalid_utf8: (usize, usize),
    too_long: (usize, usize),
}

impl Unreadables {
    fn count(&mut self, chunk: &[Record]) {
        for r in chunk {
            let seen = match r.unreadable {
                Some(Unreadable::InvalidUtf8) => &mut self.invalid_utf8,
                Some(Unreadable::TooLong) => &mut self.too_long,
                None => continue,
            };
            if seen.0 == 0 {
                seen.1 = r.line;
            }
            seen.0 += 1;
        }
    }

    /// What to tell about them once the input has ended.
    fn warnings(&self, input: &str) -> Vec<String> {
        // "1 line was ... (line 3)", "2 lines were ... (the first: line 3)".
        let said = |(n, first): (usize, usize), what: &str| {
            if n == 1 {
                format!("{input}: 1 line was {what} (line {first})")
            } else {
                format!("{input}: {n} lines were {what} (the first: line {first})")
            }
        };
        let mut out = Vec::new();
        if self.invalid_utf8.0 > 0 {
            out.push(format!(
                "{}; answered with error records. If the input is Latin-1 / Windows-1252, pass \
                 `--encoding latin1`",
                said(self.invalid_utf8, "not valid UTF-8")
            ));
        }
        if self.too_long.0 > 0 {
            let what = format!("longer than the limit of {} MiB", MAX_LINE_BYTES >> 20);
            out.push(format!(
                "{}; answered with error records",
                said(self.too_long, &what)
            ));
        }
        out
    }
}

/// Writes the output line of one input record.
fn write_record(
    out: &mut impl Write,
    record: &Record,
    p: &textcnn::predict::Prediction,
    classifier: &Classifier,
    args: &PredictArgs,
    json: bool,
) -> Result<()> {
    let labels = classifier.labels();
    let line_no = record.line;
    // A text without tokens (blank, or only markup or stop words) has nothing to classify: an
    // error record, not the label the biases alone would give.
    let error = match &record.text {
        Err(e) => Some(e.as_str()),
        Ok(text) if text.trim().is_empty() => Some("empty text"),
        Ok(_) if p.n_tokens == 0 => Some(NO_TOKENS),
        Ok(_) => None,
    };
    if let Some(error) = error {
        if json {
            let v = serde_json::json!({ "line": line_no, "error": error, "n_tokens": 0 });
            write_json(out, v, record)?;
        } else {
            writeln!(out, "error\t{error} (line {line_no})")?;
        }
        return Ok(());
    }
    if classifier.head().reads_label_sets() {
        // Every label over its threshold (or --threshold), at most --top-k, possibly none.
        let mut decided = classifier.decided_labels(p, args.threshold);
        decided.truncate(args.top_k.unwrap_or(usize::MAX));
        if !json {
            return write_pairs(out, &decided, "no label over its threshold");
        }
        let v = serde_json::json!({
            "line": record.line,
            "labels": pairs_json(&decided),
            "probabilities": labels.iter().zip(&p.probabilities)
                .map(|(l, prob)| (l.clone(), serde_json::json!(prob)))
                .collect::<serde_json::Map<_, _>>(),
            "truncated": p.truncated,
            "n_tokens": p.n_tokens,
            "n_oov": p.n_oov,
        });
        return write_json(out, v, record);
    }
    let threshold = args.threshold.unwrap_or(0.0);
    let top: Vec<(&str, f32)> = p
        .top_k(labels, args.top_k.unwrap_or(1))
        .into_iter()
        .filter(|(_, prob)| *prob >= threshold)
        .collect();
    if json {
        let v = serde_json::json!({
            "line": line_no,
            "label": top.first().map(|t| t.0),
            "probability": top.first().map(|t| t.1),
            "top_k": pairs_json(&top),
            "truncated": p.truncated,
            "n_tokens": p.n_tokens,
            "n_oov": p.n_oov,
        });
        write_json(out, v, record)
    } else {
        write_pairs(
            out,
            &top,
            &format!("no label with probability >= {threshold}"),
        )
    }
}

/// `[{"label", "probability"}, ...]` of `(label, probability)` pairs.
fn pairs_json(pairs: &[(&str, f32)]) -> Vec<serde_json::Value> {
    pairs
        .iter()
        .map(|(l, prob)| serde_json::json!({ "label": l, "probability": prob }))
        .collect()
}

/// Writes the JSON object `v` on one line, with the input's `id` as written when it had one.
/// The keys come sorted, the id's among them, as `serde_json::Value` writes them.
fn write_json(out: &mut impl Write, v: serde_json::Value, record: &Record) -> Result<()> {
    /// A field's value: one the program made, or the input's id verbatim.
    #[derive(serde::Serialize)]
    #[serde(untagged)]
    enum Field<'a> {
        Made(&'a serde_json::Value),
        AsWritten(&'a serde_json::value::RawValue),
    }
    match (&record.id, &v) {
        (Some(id), serde_json::Value::Object(map)) => {
            let mut fields: std::collections::BTreeMap<&str, Field> = map
                .iter()
                .map(|(k, v)| (k.as_str(), Field::Made(v)))
                .collect();
            fields.insert("id", Field::AsWritten(id));
            writeln!(out, "{}", serde_json::to_string(&fields)?)?;
        }
        _ => writeln!(out, "{v}")?,
    }
    Ok(())
}

/// The text output line: `label<TAB>probability` pairs, or `none<TAB>(why)` when there are none.
fn write_pairs(out: &mut impl Write, pairs: &[(&str, f32)], why_none: &str) -> Result<()> {
    if pairs.is_empty() {
        writeln!(out, "none\t({why_none})")?;
    } else {
        let fields: Vec<String> = pairs
            .iter()
            .map(|(l, prob)| format!("{l}\t{prob:.6}"))
            .collect();
        writeln!(out, "{}", fields.join("\t"))?;
    }
    Ok(())
}
