//! The terminal side of a training run: a [`TrainObserver`] that draws a progress bar per epoch
//! and prints the run's messages and per-epoch lines on standard error.

use indicatif::{ProgressBar, ProgressStyle};
use textcnn::train::{EpochEnd, MessageKind, Metric, StageCost, StepEvent, TrainObserver};

/// Prints a training run on standard error; when `quiet`, only an interruption's message.
pub struct TerminalPrinter {
    quiet: bool,
    verbose: bool,
    bar: Option<ProgressBar>,
}

impl TerminalPrinter {
    /// A printer; `quiet` keeps only the message of an interruption.
    pub fn new(quiet: bool) -> Self {
        TerminalPrinter {
            quiet,
            verbose: false,
            bar: None,
        }
    }

    /// Also prints each stage's time and memory (`--verbose`).
    pub fn verbose(self, verbose: bool) -> Self {
        TerminalPrinter { verbose, ..self }
    }
}

/// `stage <name>: <s> s, peak RSS <MiB> MiB (now <MiB> MiB)`.
fn stage_line(cost: &StageCost) -> String {
    let mib = |v: Option<f64>| v.map_or("n/a".to_string(), |m| format!("{m:.0} MiB"));
    format!(
        "stage {}: {:.1} s, peak RSS {} (now {})",
        cost.stage.name(),
        cost.seconds,
        mib(cost.peak_rss_mib),
        mib(cost.rss_mib)
    )
}

impl TrainObserver for TerminalPrinter {
    fn stage_cost(&mut self, cost: &StageCost) {
        if self.verbose && !self.quiet {
            eprintln!("{}", stage_line(cost));
        }
    }

    fn epoch_started(&mut self, epoch: usize, max_epochs: usize, steps: usize, done: usize) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{max_epochs}"));
        bar.set_position(done as u64);
        self.bar = Some(bar);
    }

    fn step(&mut self, e: &StepEvent) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.4} acc {:.4} {:.0} ex/s",
                e.epoch_loss, e.epoch_acc, e.examples_per_s
            ));
        }
    }

    fn epoch_finished(&mut self, e: &EpochEnd) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        let m = e.metrics;
        if let Some(micro) = m.valid_micro_f1 {
            eprintln!(
                "epoch {:>2}/{}: train loss {:.4} | valid loss {:.4} micro-f1 {micro:.4} macro-f1 {:.4} jaccard {:.4} subset acc {:.4} | {:.1} s{}",
                m.epoch,
                e.max_epochs,
                m.train_loss,
                m.valid_loss,
                m.valid_macro_f1,
                m.valid_jaccard.unwrap_or(f64::NAN),
                m.valid_acc,
                m.seconds,
                if e.improved { " *" } else { "" }
            );
            return;
        }
        eprintln!(
            "epoch {:>2}/{}: train loss {:.4} acc {:.4} | valid loss {:.4} acc {:.4}{} | {:.1} s, {:.0} ex/s{}",
            m.epoch,
            e.max_epochs,
            m.train_loss,
            m.train_acc,
            m.valid_loss,
            m.valid_acc,
            if e.metric == Metric::MacroF1 {
                format!(" macro-f1 {:.4}", m.valid_macro_f1)
            } else {
                String::new()
            },
            m.seconds,
            m.examples_per_s,
            if e.improved { " *" } else { "" }
        );
    }

    fn early_stopped(&mut self, metric: Metric, bad_epochs: usize) {
        if !self.quiet {
            // The metric as the user names it (`--metric micro-f1`), not its Rust name.
            let name = clap::ValueEnum::to_possible_value(&metric)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            eprintln!("early stopping: no improvement of valid {name} for {bad_epochs} epoch(s)");
        }
    }

    fn message(&mut self, kind: MessageKind, text: &str) {
        match kind {
            MessageKind::Info if !self.quiet => eprintln!("{text}"),
            MessageKind::Warning if !self.quiet => eprintln!("warning: {text}"),
            MessageKind::Interrupted => eprintln!("{text}"),
            _ => {}
        }
    }

    fn interrupted(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}
