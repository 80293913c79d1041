//! What a run leaves to look at: TensorBoard event files ([`tensorboard`]), SVG pictures
//! ([`svg`]: learning curves, confusion matrices, per-class F1) and one self-contained HTML page
//! per run, `report.html` (settings, data summary, the pictures inline, the per-class table
//! and a few right and wrong examples).
//!
//! `textcnn train` writes them at the end of a finished run (evaluated on the validation data);
//! `textcnn eval --plots DIR` writes them for any labelled data. Every head is shown through
//! its [`Scores`] (per-label table and F1 bars for all, the confusion matrix for one label per
//! text) and its decisions (the examples' true and predicted label sets).

pub mod svg;
pub mod tensorboard;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::bundle::{self, Bundle};
use crate::eval::Scores;
use crate::fsutil::write_atomic;
use crate::head::{Head, Targets};
use crate::predict::Classifier;
use crate::train::{EpochMetrics, StageCost, TrainData, TrainOutcome, describe_architecture};

pub use tensorboard::TensorBoardWriter;

/// The page's file name in a run directory.
pub const REPORT_HTML: &str = "report.html";
/// The pictures' folder in a run directory.
pub const PLOTS_DIR: &str = "plots";
/// Right and wrong examples shown on the page, each.
pub const EXAMPLES_SHOWN: usize = 5;
/// Characters of an example's text shown (the rest is cut, marked "…").
const EXAMPLE_CHARS: usize = 400;

/// One classified example shown on the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The text (at most 400 characters, cut with "…").
    pub text: String,
    /// The true label (label sets: the labels, joined by ", "; "(none)" for none).
    pub truth: String,
    /// The predicted label (label sets: the decided labels, most probable first).
    pub predicted: String,
    /// Probability of the (most probable) predicted label; with no label decided, the highest
    /// probability of any label.
    pub probability: f32,
    /// Position of the example in the evaluated texts.
    pub index: usize,
    /// The whole text as HTML with each token highlighted by its contribution to the predicted
    /// label's logit ([`crate::explain`]), once [`RunReport::highlight`] has run.
    pub highlighted: Option<String>,
}

/// Everything `report.html` and the pictures show.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The page's heading (the run's name).
    pub title: String,
    /// One line describing the model (architecture, sizes, parameter count).
    pub model: String,
    /// The training settings (`config.json` → `training.config`).
    pub settings: serde_json::Value,
    /// The data summary (`config.json` → `dataset`).
    pub dataset: serde_json::Value,
    /// The n-gram branch of `ngram-cnn` (C, mixture weights, validation accuracies), if any.
    pub ngram: Option<serde_json::Value>,
    /// `metrics.jsonl`: one entry per epoch.
    pub history: Vec<EpochMetrics>,
    /// The epoch whose parameters the bundle holds.
    pub best_epoch: Option<usize>,
    /// What the evaluation ran on ("validation data (imdb:train)").
    pub evaluated_on: String,
    /// Scores of the evaluation (the head's: [`crate::eval::ClassificationReport`] or
    /// [`crate::eval::MultiLabelReport`]).
    pub scores: Arc<dyn Scores>,
    /// The main test figure, when training had a test set: the data's name, the figure's name
    /// and value (`accuracy`, `micro F1`).
    pub test: Option<(String, &'static str, f64)>,
    /// What the run's stages cost: wall time and memory ([`TrainOutcome::stages`]; empty
    /// when the report is not of a training run).
    pub cost: Vec<StageCost>,
    /// The most confident mistakes, most confident first (at most [`EXAMPLES_SHOWN`]).
    pub wrong: Vec<Example>,
    /// The first correctly classified examples in data order (at most [`EXAMPLES_SHOWN`]).
    pub correct: Vec<Example>,
}

/// Label names of the indices `c`, joined by ", " ("(none)" for none).
fn names(labels: &[String], c: impl IntoIterator<Item = usize>) -> String {
    let v: Vec<&str> = c.into_iter().map(|i| labels[i].as_str()).collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

impl RunReport {
    /// The report of `bundle` (with its `head`) evaluated on `texts` with the head's `targets`
    /// and the bundle's probabilities `probs [n, labels]` (`Classifier::probabilities_of`).
    /// An example is right when the labels the head decides are its true labels.
    ///
    /// # Panics
    /// If `probs` does not hold `texts.len() × labels` values or the targets do not fit (a
    /// programming error).
    pub fn of_bundle(
        bundle: &Bundle,
        head: &dyn Head,
        history: &[EpochMetrics],
        evaluated_on: &str,
        texts: &[&str],
        targets: &Targets,
        probs: &[f32],
    ) -> RunReport {
        let labels = &bundle.config.labels;
        let k = labels.len();
        assert_eq!(probs.len(), texts.len() * k, "one probability row per text");
        let scores: Arc<dyn Scores> = head.evaluate(labels, targets, probs).into();
        // Per example: decided labels (most probable first), their probability, right or not.
        let decided: Vec<(Vec<usize>, f32, bool)> = (0..texts.len())
            .map(|i| {
                let row = &probs[i * k..(i + 1) * k];
                let d: Vec<(usize, f32)> = head.decide(row, None);
                let p = d
                    .first()
                    .map_or_else(|| row.iter().copied().fold(0.0, f32::max), |x| x.1);
                let mut set: Vec<usize> = d.iter().map(|x| x.0).collect();
                let shown = set.clone();
                set.sort_unstable();
                (shown, p, set == targets.truth(i))
            })
            .collect();
        let example = |i: usize| Example {
            text: cut(texts[i], EXAMPLE_CHARS),
            truth: names(labels, targets.truth(i)),
            predicted: names(labels, decided[i].0.iter().copied()),
            probability: decided[i].1,
            index: i,
            highlighted: None,
        };
        let mut wrong: Vec<usize> = (0..texts.len()).filter(|&i| !decided[i].2).collect();
        // Most confident mistakes first; ties in data order (a stable sort).
        wrong.sort_by(|&a, &b| decided[b].1.total_cmp(&decided[a].1));
        let correct = (0..texts.len())
            .filter(|&i| decided[i].2)
            .take(EXAMPLES_SHOWN)
            .map(example)
            .collect();
        let name = bundle.config.training["run"]["train"]
            .as_str()
            .map(|t| format!("textcnn run on {t}"))
            .unwrap_or_else(|| "textcnn run".to_string());
        RunReport {
            title: name,
            model: format!(
                "{}{}{}",
                if bundle.config.ngram.is_some() {
                    "ngram-cnn = n-gram branch + "
                } else {
                    ""
                },
                describe_architecture(&bundle.config.architecture),
                match head.describe() {
                    "" => String::new(),
                    d => format!(", {d}"),
                }
            ),
            settings: settings_in_force(&bundle.config.training),
            dataset: bundle.config.dataset.clone(),
            ngram: bundle
                .config
                .ngram
                .as_ref()
                .and_then(|n| serde_json::to_value(n).ok()),
            history: history.to_vec(),
            best_epoch: bundle.config.best["epoch"].as_u64().map(|e| e as usize),
            evaluated_on: evaluated_on.to_string(),
            scores,
            test: None,
            cost: Vec::new(),
            wrong: wrong
                .into_iter()
                .take(EXAMPLES_SHOWN)
                .map(example)
                .collect(),
            correct,
        }
    }

    /// The report of a finished training run on its validation data (the final model's
    /// held-out probabilities, [`crate::train::TrainOutcome::valid`]), with the examples
    /// highlighted and the test figure when there was a test set; `None` for an interrupted
    /// run. `classifier` is the run's saved bundle.
    pub fn of_run(
        classifier: &Classifier,
        outcome: &TrainOutcome,
        data: &TrainData,
    ) -> Option<RunReport> {
        let valid = outcome.valid.as_ref()?;
        let texts = data.valid.texts();
        let mut report = RunReport::of_bundle(
            classifier.bundle(),
            classifier.head(),
            &outcome.history,
            &format!("validation data ({})", data.valid.name),
            &texts,
            &valid.targets,
            &valid.probs,
        );
        report.highlight(classifier, &texts);
        report.cost = outcome.stages.clone();
        report.test = outcome.test.as_ref().map(|t| {
            let (name, value) = t.figures()[0];
            (
                data.test.map_or(String::new(), |d| d.name.clone()),
                name,
                value,
            )
        });
        Some(report)
    }

    /// Highlights the shown examples' words by their contribution to the (first) predicted
    /// label ([`Classifier::explain_decided`]; `texts` are the evaluated texts of
    /// [`RunReport::of_bundle`]). Examples the classifier cannot explain stay plain.
    pub fn highlight(&mut self, classifier: &Classifier, texts: &[&str]) {
        for x in self.wrong.iter_mut().chain(self.correct.iter_mut()) {
            let text = texts[x.index];
            if let Ok(es) = classifier.explain_decided(text)
                && let Some(e) = es.first()
            {
                x.highlighted = Some(crate::explain::html::highlighted_text(text, e));
            }
        }
    }
}

/// At most `max` characters of `text`, with "…" when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// Reads a run's `metrics.jsonl` (no file: an empty history).
///
/// # Errors
/// The file cannot be read or a line is not an epoch record (names the file and line).
pub fn read_history(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = dir.join(bundle::METRICS_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "{}:{}: not an epoch record of metrics.jsonl",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

/// The files [`write_run_report`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    /// `report.html`.
    pub html: PathBuf,
    /// The SVG files, in the order of [`pictures`].
    pub plots: Vec<PathBuf>,
}

/// Writes the pictures to `dir/plots/` (`learning_curves.svg` when there is a history,
/// `confusion_matrix.svg` and `confusion_matrix_normalized.svg` when the head has a confusion
/// matrix, `per_class_f1.svg`) and the page
/// `dir/report.html`, each atomically.
///
/// # Errors
/// A file cannot be written.
pub fn write_run_report(dir: &Path, run: &RunReport) -> Result<Written> {
    let plots_dir = dir.join(PLOTS_DIR);
    std::fs::create_dir_all(&plots_dir)
        .with_context(|| format!("cannot create {}", plots_dir.display()))?;
    let mut plots = Vec::new();
    for (name, svg) in pictures(run) {
        let path = plots_dir.join(format!("{name}.svg"));
        write_atomic(&path, svg.as_bytes())?;
        plots.push(path);
    }
    let html = dir.join(REPORT_HTML);
    write_atomic(&html, render_html(run).as_bytes())?;
    Ok(Written { html, plots })
}

/// The pictures of `run` as (file stem, SVG) pairs.
pub fn pictures(run: &RunReport) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !run.history.is_empty() {
        out.push((
            "learning_curves",
            svg::learning_curves(&run.history, run.best_epoch),
        ));
    }
    if let Some(cm) = run.scores.confusion() {
        out.push(("confusion_matrix", svg::confusion_matrix(cm, false)));
        out.push((
            "confusion_matrix_normalized",
            svg::confusion_matrix(cm, true),
        ));
    }
    out.push(("per_class_f1", svg::per_class_f1(run.scores.as_ref())));
    out
}

const STYLE: &str = r#"
:root { --muted: #666; --line: #ddd; --ok: #2ca02c; --bad: #d62728; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 64rem; padding: 0 1rem; line-height: 1.4; color: #222; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 1rem 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 0.9rem; }
.card b { display: block; font-size: 1.3rem; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: 0.2rem 0.6rem; text-align: left;
         vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.figure { overflow: auto; max-width: 100%; margin: 0.5rem 0; }
.figure svg { display: block; }
.examples td.text { max-width: 40rem; }
.examples .hl { max-height: 12rem; overflow-y: auto; }
.examples mark { color: inherit; border-radius: 2px; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
details { margin: 0.5rem 0; }
"#;

/// The run's settings (`training.config`) with the word-dropout rate in force
/// (`training.word_dropout`) in place of an automatic (null) `word_dropout`.
fn settings_in_force(training: &serde_json::Value) -> serde_json::Value {
    let mut settings = training["config"].clone();
    if let Some(map) = settings.as_object_mut() {
        let automatic = map.get("word_dropout").is_some_and(|v| v.is_null());
        if automatic {
            let rate = training.get("word_dropout").cloned().unwrap_or(0.0.into());
            map.insert("word_dropout".into(), rate);
        }
    }
    settings
}

/// A JSON value as page text: strings as they are, floats with at most 4 decimals (the f32
/// settings' 0.4000000059604645 as 0.4).
fn num(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            let s = format!("{:.4}", n.as_f64().unwrap_or(f64::NAN));
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        serde_json::Value::String(s) => svg::escape(s),
        serde_json::Value::Null => "none".into(),
        other => svg::escape(&other.to_string()),
    }
}

/// An element id from a figure's name (`micro F1` → `micro-f1`).
fn slug(name: &str) -> String {
    name.to_lowercase().replace(' ', "-")
}

/// The whole page: no external script, style, font or image (the pictures are inline SVG).
pub fn render_html(run: &RunReport) -> String {
    let mut h = String::new();
    write_head_and_cards(&mut h, run);
    write_evaluation(&mut h, run);
    write_data_and_branch(&mut h, run);
    write_epochs_and_settings(&mut h, run);
    h
}

/// The page's head, title and summary cards (best epoch, figures, examples, test figure).
fn write_head_and_cards(h: &mut String, run: &RunReport) {
    let e = svg::escape;
    let r = run.scores.as_ref();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"muted\">{}</p>\n",
        e(&run.title),
        e(&run.title),
        e(&run.model)
    );
    h.push_str("<div class=\"cards\">");
    if let Some(best) = run
        .best_epoch
        .and_then(|b| run.history.iter().find(|m| m.epoch == b))
    {
        let (name, value) = match best.valid_micro_f1 {
            Some(f1) => ("micro F1", f1),
            None => ("accuracy", best.valid_acc),
        };
        let _ = write!(
            h,
            "<div class=\"card\">best epoch<b>{} of {}</b></div><div class=\"card\">CNN valid {name}<b>{value:.4}</b></div>",
            best.epoch,
            run.history.len(),
        );
    }
    for (i, (name, value)) in r.figures().into_iter().enumerate() {
        let on = if i == 0 {
            format!(" on {}", e(&run.evaluated_on))
        } else {
            String::new()
        };
        let _ = write!(
            h,
            "<div class=\"card\">{name}{on}<b id=\"{}\">{value:.4}</b></div>",
            slug(name)
        );
    }
    let _ = write!(
        h,
        "<div class=\"card\">examples<b>{}</b></div>",
        r.examples()
    );
    if let Some((data, name, value)) = &run.test {
        let _ = write!(
            h,
            "<div class=\"card\">test {name} ({})<b id=\"test-{}\">{value:.4}</b></div>",
            e(data),
            slug(name)
        );
    }
    h.push_str("</div>\n");
}

/// Learning curves, the per-label table and F1 bars, the confusion matrix (one label per text) and the right and wrong examples.
fn write_evaluation(h: &mut String, run: &RunReport) {
    let e = svg::escape;
    let r = run.scores.as_ref();
    if !run.history.is_empty() {
        let _ = write!(
            h,
            "<h2>Learning curves</h2>\n<p class=\"muted\">Per epoch; the CNN alone{}. The dashed line marks the best epoch (kept in the bundle).</p>\n<div class=\"figure\" id=\"curves\">{}</div>\n",
            if run.ngram.is_some() {
                " (the n-gram branch is fitted once, beside the CNN's epochs)"
            } else {
                ""
            },
            svg::learning_curves(&run.history, run.best_epoch)
        );
    }
    let _ = write!(
        h,
        "<h2>Evaluation on {}</h2>\n<table id=\"per-class\"><tr><th>label</th><th class=\"num\">precision</th><th class=\"num\">recall</th><th class=\"num\">F1</th><th class=\"num\">support</th></tr>\n",
        e(&run.evaluated_on)
    );
    for m in r.per_label().iter().chain(r.averages()) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{}</td></tr>",
            e(&m.label),
            m.precision,
            m.recall,
            m.f1,
            m.support
        );
    }
    let _ = write!(
        h,
        "</table>\n<div class=\"figure\" id=\"f1\">{}</div>\n",
        svg::per_class_f1(r)
    );
    if let Some(cm) = r.confusion() {
        let _ = write!(
            h,
            "<h3>Confusion matrix</h3>\n<p class=\"muted\">Rows: true label; columns: predicted. Hover a cell for its count.</p>\n<div class=\"figure\" id=\"confusion\">{}</div>\n<details><summary>counts</summary><div class=\"figure\">{}</div></details>\n",
            svg::confusion_matrix(cm, true),
            svg::confusion_matrix(cm, false)
        );
    }
    if run
        .wrong
        .iter()
        .chain(&run.correct)
        .any(|x| x.highlighted.is_some())
    {
        h.push_str("<p class=\"muted\" id=\"highlight-legend\">Words are highlighted by their contribution to the predicted label's logit in the saved model (<code>textcnn explain</code>): <mark style=\"background:rgba(22,163,74,0.6)\">for</mark> / <mark style=\"background:rgba(220,38,38,0.6)\">against</mark>; hover a word for its value.</p>\n");
    }
    for (title, list, class) in [
        (
            "Wrongly classified (most confident first)",
            &run.wrong,
            "bad",
        ),
        ("Correctly classified", &run.correct, "ok"),
    ] {
        let _ = write!(
            h,
            "<h3>{title}</h3>\n<table class=\"examples {class}-examples\"><tr><th>text</th><th>true</th><th>predicted</th><th class=\"num\">probability</th></tr>\n"
        );
        if list.is_empty() {
            h.push_str("<tr><td colspan=\"4\" class=\"muted\">none</td></tr>\n");
        }
        for x in list.iter() {
            let text = match &x.highlighted {
                Some(html) => format!("<div class=\"hl\">{html}</div>"),
                None => e(&x.text),
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"text\">{}</td><td>{}</td><td class=\"{class}\">{}</td><td class=\"num\">{:.3}</td></tr>",
                text,
                e(&x.truth),
                e(&x.predicted),
                x.probability
            );
        }
        h.push_str("</table>\n");
    }
}

/// The data table, the training examples per label and the n-gram branch.
fn write_data_and_branch(h: &mut String, run: &RunReport) {
    let e = svg::escape;
    h.push_str("<h2>Data</h2>\n<table id=\"data\"><tr><th>split</th><th>name</th><th class=\"num\">examples</th><th class=\"num\">classes</th><th class=\"num\">tokens</th><th class=\"num\">OOV rate</th><th class=\"num\">truncated</th><th class=\"num\">skipped rows</th></tr>\n");
    for split in ["train", "valid", "test"] {
        let d = &run.dataset[split];
        if d.is_null() {
            continue;
        }
        let _ = writeln!(
            h,
            "<tr><td>{split}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            num(&d["name"]),
            num(&d["examples"]),
            d["classes"].as_object().map_or(0, |c| c.len()),
            num(&d["tokens"]),
            d["oov_rate"]
                .as_f64()
                .map_or("-".into(), |v| format!("{:.2} %", v * 100.0)),
            num(&d["truncated"]),
            num(&d["skipped_rows"])
        );
    }
    h.push_str("</table>\n");
    if let Some(classes) = run.dataset["train"]["classes"].as_object() {
        h.push_str("<details><summary>training examples per class</summary><table>");
        for (label, n) in classes {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
                e(label),
                num(n)
            );
        }
        h.push_str("</table></details>\n");
    }
    if let Some(n) = &run.ngram {
        let _ = write!(
            h,
            "<h2>n-gram branch</h2>\n<table><tr><td>n-grams</td><td class=\"num\">{}</td></tr><tr><td>C</td><td class=\"num\">{}</td></tr><tr><td>mixture weights (CNN, n-gram)</td><td class=\"num\">{}, {}</td></tr><tr><td>valid {}: CNN, n-gram, mixed</td><td class=\"num\">{}, {}, {}</td></tr></table>\n",
            num(&n["num_features"]),
            num(&n["c"]),
            num(&n["mix"]["cnn"]),
            num(&n["mix"]["ngram"]),
            e(n["validation"]["metric"].as_str().unwrap_or("accuracy")),
            num(&n["validation"]["cnn"]),
            num(&n["validation"]["ngram"]),
            num(&n["validation"]["mixed"])
        );
        let note = serde_json::from_value::<bundle::NgramBranch>(n.clone())
            .ok()
            .and_then(|b| b.cnn_unused_note());
        if let Some(note) = note {
            let _ = writeln!(h, "<p><b>Note:</b> {}</p>", e(&note));
        }
    }
}

/// The stages' time and memory, when the report is of a training run.
fn write_cost(h: &mut String, run: &RunReport) {
    if run.cost.is_empty() {
        return;
    }
    let mib = |v: Option<f64>| v.map_or("n/a".to_string(), |m| format!("{m:.0}"));
    h.push_str("<h2>Cost</h2>\n<table id=\"cost\"><tr><th>stage</th><th class=\"num\">seconds</th><th class=\"num\">peak RSS so far (MiB)</th><th class=\"num\">RSS at its end (MiB)</th></tr>");
    for c in &run.cost {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            c.stage.name(),
            c.seconds,
            mib(c.peak_rss_mib),
            mib(c.rss_mib)
        );
    }
    h.push_str("</table>\n");
}

/// The epochs' table and the settings, closing the page.
fn write_epochs_and_settings(h: &mut String, run: &RunReport) {
    let e = svg::escape;
    write_cost(h, run);
    if !run.history.is_empty() {
        let micro = run.history.iter().any(|m| m.valid_micro_f1.is_some());
        let _ = writeln!(
            h,
            "<h2>Epochs</h2>\n<table id=\"epochs\"><tr><th class=\"num\">epoch</th><th class=\"num\">train loss</th><th class=\"num\">train acc</th><th class=\"num\">valid loss</th><th class=\"num\">valid acc</th><th class=\"num\">valid macro F1</th>{}<th class=\"num\">lr</th><th class=\"num\">seconds</th><th class=\"num\">examples/s</th></tr>",
            if micro {
                "<th class=\"num\">valid micro F1</th>"
            } else {
                ""
            }
        );
        for m in &run.history {
            let micro_cell = match (micro, m.valid_micro_f1) {
                (true, Some(v)) => format!("<td class=\"num\">{v:.4}</td>"),
                (true, None) => "<td class=\"num\">-</td>".to_string(),
                (false, _) => String::new(),
            };
            let _ = writeln!(
                h,
                "<tr{}><td class=\"num\">{}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td>{micro_cell}<td class=\"num\">{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.0}</td></tr>",
                if Some(m.epoch) == run.best_epoch {
                    " style=\"font-weight:bold\""
                } else {
                    ""
                },
                m.epoch,
                m.train_loss,
                m.train_acc,
                m.valid_loss,
                m.valid_acc,
                m.valid_macro_f1,
                m.lr,
                m.seconds,
                m.examples_per_s
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Settings</h2>\n<table id=\"settings\">");
    if let Some(map) = run.settings.as_object() {
        for (k, v) in map {
            let shown = match v {
                serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                    svg::escape(&v.to_string())
                }
                other => num(other),
            };
            let _ = write!(h, "<tr><td>{}</td><td>{shown}</td></tr>", e(k));
        }
    }
    h.push_str("</table>\n</body>\n</html>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_automatic_word_dropout_shows_the_rate_in_force() {
        let training = |config, rate: Option<f32>| {
            let mut t = serde_json::json!({ "config": config });
            if let Some(r) = rate {
                t["word_dropout"] = serde_json::json!(r);
            }
            settings_in_force(&t)["word_dropout"].clone()
        };
        let automatic = serde_json::json!({"word_dropout": null, "lr": 0.001});
        assert_eq!(num(&training(automatic.clone(), Some(0.4))), "0.4");
        assert_eq!(num(&training(automatic, None)), "0");
        // A given rate stays as given; settings without the key are left alone.
        let given = serde_json::json!({"word_dropout": 0.2});
        assert_eq!(num(&training(given, Some(0.2))), "0.2");
        let old = serde_json::json!({"lr": 0.001});
        assert_eq!(training(old, None), serde_json::Value::Null);
    }

    #[test]
    fn cut_keeps_short_texts_and_marks_long_ones() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo", 2), "hé…");
    }
}
