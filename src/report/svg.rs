//! The pictures of a run as SVG documents, written element by element: learning curves,
//! confusion matrices (counts and row-normalised), per-class F1 bars and several runs' curves.
//!
//! No font file is read and no text is measured: labels use the generic `sans-serif` family
//! that every SVG viewer has, and widths are estimated from character counts (0.6 em per
//! character, an upper bound for sans-serif digits and most letters). A plotting crate would
//! need font files to lay out text; these four chart types do not.

use std::fmt::Write;

use crate::eval::{ConfusionMatrix, Scores};
pub use crate::explain::html::escape;
use crate::train::EpochMetrics;

/// Ten distinguishable line colours (matplotlib's `tab10`), reused in order.
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// At most `max` characters of `text`, with "…" when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Estimated width in pixels of `chars` characters at `font_px` (0.6 em each).
fn text_width(chars: usize, font_px: f64) -> f64 {
    chars as f64 * font_px * 0.6
}

/// "Nice" tick values (steps of 1, 2 or 5 × 10^k) covering `[lo, hi]`, about `target` of them.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() {
        return Vec::new();
    }
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        // A relative tolerance: (0.91 - 0.83) / 4 is 0.0200000000000001 in floating point.
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    // Rounded to 12 decimals, so that 3 × 0.2 is 0.6 and not 0.6000000000000001.
    (first..=last)
        .map(|i| (i as f64 * step * 1e12).round() / 1e12)
        .collect()
}

/// A tick label with as many decimals as the step needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{v:.decimals$}")
}

/// One line of a [`LinePanel`].
pub struct Series<'a> {
    /// Shown in the points' tooltips.
    pub name: &'a str,
    /// An SVG colour (`#rrggbb`).
    pub color: &'a str,
    /// Drawn dashed (e.g. training loss beside solid validation loss).
    pub dashed: bool,
    /// `(x, y)` points in drawing order; non-finite y values are left out.
    pub points: Vec<(f64, f64)>,
}

impl<'a> Series<'a> {
    /// A series named `name`, drawn in `color` (dashed or solid) through `points`.
    pub fn line(name: &'a str, color: &'a str, dashed: bool, points: Vec<(f64, f64)>) -> Self {
        Series {
            name,
            color,
            dashed,
            points,
        }
    }
}

/// A line chart in a box of the document: axes with ticks, a title, lines with dots, and an
/// optional marked x (the best epoch: a dashed vertical line and its label).
pub struct LinePanel<'a> {
    /// Above the plot box.
    pub title: &'a str,
    /// Under the x axis ("epoch").
    pub x_label: &'a str,
    /// The lines, drawn in order.
    pub series: Vec<Series<'a>>,
    /// An x value to mark and its label ("best epoch 4").
    pub marker: Option<(f64, String)>,
    /// Lower and upper bound the y axis must include (e.g. accuracy's 1.0), if any.
    pub y_include: Option<(f64, f64)>,
}

impl LinePanel<'_> {
    /// Appends the panel's elements to `out`, in the box with top-left `(x0, y0)` and size
    /// `w × h` pixels.
    fn draw(&self, out: &mut String, x0: f64, y0: f64, w: f64, h: f64) {
        let (left, right, top, bottom) = (52.0, 12.0, 26.0, 40.0);
        let plot = PlotBox::fit(
            self,
            (x0 + left, y0 + top, w - left - right, h - top - bottom),
        );
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="14" font-weight="bold">{}</text>"##,
            plot.px,
            y0 + 16.0,
            escape(self.title)
        );
        plot.axes(out, self.x_label);
        if let Some((x, label)) = &self.marker
            && x.is_finite()
        {
            plot.marker(out, *x, label);
        }
        for s in &self.series {
            plot.series(out, s, self.x_label);
        }
    }
}

/// The plot area of a [`LinePanel`] in pixels (top-left `(px, py)`, size `pw × ph`) and the
/// data ranges it shows (padded, the y range 6% each side).
struct PlotBox {
    px: f64,
    py: f64,
    pw: f64,
    ph: f64,
    xmin: f64,
    xmax: f64,
    ymin: f64,
    ymax: f64,
}

impl PlotBox {
    /// The ranges of the panel's finite points (and its `y_include`).
    fn fit(panel: &LinePanel, (px, py, pw, ph): (f64, f64, f64, f64)) -> PlotBox {
        let points = panel.series.iter().flat_map(|s| s.points.iter());
        let finite: Vec<(f64, f64)> = points.filter(|p| p.1.is_finite()).copied().collect();
        let (mut xmin, mut xmax) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.0), b.max(p.0))
            });
        let (mut ymin, mut ymax) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        if finite.is_empty() {
            (xmin, xmax, ymin, ymax) = (1.0, 2.0, 0.0, 1.0);
        }
        if let Some((lo, hi)) = panel.y_include {
            ymin = ymin.min(lo);
            ymax = ymax.max(hi);
        }
        if xmax <= xmin {
            xmin -= 0.5;
            xmax += 0.5;
        }
        let pad = ((ymax - ymin) * 0.06).max(1e-6);
        ymin -= pad;
        ymax += pad;
        PlotBox {
            px,
            py,
            pw,
            ph,
            xmin,
            xmax,
            ymin,
            ymax,
        }
    }

    /// Pixel x of data x.
    fn sx(&self, x: f64) -> f64 {
        self.px + (x - self.xmin) / (self.xmax - self.xmin) * self.pw
    }

    /// Pixel y of data y.
    fn sy(&self, y: f64) -> f64 {
        self.py + self.ph - (y - self.ymin) / (self.ymax - self.ymin) * self.ph
    }

    /// The frame, the y grid with its labels, the x ticks (whole numbers) and the x label.
    fn axes(&self, out: &mut String, x_label: &str) {
        let (px, py, pw, ph) = (self.px, self.py, self.pw, self.ph);
        let _ = write!(
            out,
            r##"<rect x="{px:.1}" y="{py:.1}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="#999"/>"##
        );
        let yt = nice_ticks(self.ymin, self.ymax, 5);
        let ystep = if yt.len() > 1 { yt[1] - yt[0] } else { 1.0 };
        for v in &yt {
            let y = self.sy(*v);
            let _ = write!(
                out,
                r##"<line x1="{px:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                px + pw,
                px - 5.0,
                y + 4.0,
                tick_label(*v, ystep)
            );
        }
        let mut xt = nice_ticks(self.xmin, self.xmax, 8);
        // Epochs are whole numbers.
        xt.retain(|v| v.fract() == 0.0);
        for v in &xt {
            let x = self.sx(*v);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
                py + ph,
                py + ph + 4.0,
                py + ph + 16.0,
                tick_label(*v, 1.0)
            );
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"##,
            px + pw / 2.0,
            py + ph + 32.0,
            escape(x_label)
        );
    }

    /// A dashed vertical line at data x `x` with its label.
    fn marker(&self, out: &mut String, x: f64, label: &str) {
        let (px, py, pw, ph) = (self.px, self.py, self.pw, self.ph);
        let mx = self.sx(x);
        // The label on the side with room: left of the line in the right third.
        let (tx, anchor) = if mx > px + pw * 0.66 {
            (mx - 4.0, "end")
        } else {
            (mx + 4.0, "start")
        };
        let _ = write!(
            out,
            r##"<line class="best" x1="{mx:.1}" y1="{py:.1}" x2="{mx:.1}" y2="{:.1}" stroke="#444" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{:.1}" font-size="11" fill="#444" text-anchor="{anchor}">{}</text>"##,
            py + ph,
            py + 12.0,
            escape(label)
        );
    }

    /// A series' line and its points (with a tooltip each); nothing without a finite point.
    fn series(&self, out: &mut String, s: &Series, x_label: &str) {
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", self.sx(x), self.sy(y)))
            .collect();
        if pts.is_empty() {
            return;
        }
        let _ = write!(
            out,
            r##"<polyline class="series" data-name="{}" points="{}" fill="none" stroke="{}" stroke-width="2"{}/>"##,
            escape(s.name),
            pts.join(" "),
            s.color,
            if s.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            }
        );
        for &(x, y) in s.points.iter().filter(|p| p.1.is_finite()) {
            let _ = write!(
                out,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"><title>{}: {} {}, {:.4}</title></circle>"##,
                self.sx(x),
                self.sy(y),
                s.color,
                escape(s.name),
                escape(x_label),
                x,
                y
            );
        }
    }
}

/// A legend row of (name, colour, dashed) entries starting at `(x, y)`; returns its height.
fn legend(out: &mut String, entries: &[(String, &str, bool)], x: f64, y: f64, width: f64) -> f64 {
    let (mut cx, mut cy) = (x, y);
    for (name, color, dashed) in entries {
        let w = 34.0 + text_width(name.chars().count(), 12.0);
        if cx + w > x + width && cx > x {
            cx = x;
            cy += 18.0;
        }
        let _ = write!(
            out,
            r##"<line x1="{cx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2"{}/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"##,
            cy - 4.0,
            cx + 24.0,
            cy - 4.0,
            if *dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            },
            cx + 28.0,
            cy,
            escape(name)
        );
        cx += w + 12.0;
    }
    cy - y + 18.0
}

fn document(width: f64, height: f64, title: &str, body: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif"><title>{}</title><rect width="100%" height="100%" fill="#fff"/>{body}</svg>
"##,
        escape(title)
    )
}

/// Learning curves of one run: loss (left) and accuracy (right) per epoch, training and
/// validation, with the best epoch marked (a dashed vertical line). `history` is the run's
/// `metrics.jsonl`; `best_epoch` the epoch whose parameters were kept.
pub fn learning_curves(history: &[EpochMetrics], best_epoch: Option<usize>) -> String {
    let pick = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|m| f(m).map(|v| (m.epoch as f64, v)))
            .collect()
    };
    // The training and validation series of one figure.
    let pair = |train: fn(&EpochMetrics) -> f64, valid: fn(&EpochMetrics) -> f64| {
        let (t, v) = (pick(&|m| Some(train(m))), pick(&|m| Some(valid(m))));
        vec![
            Series::line("train", PALETTE[0], false, t),
            Series::line("valid", PALETTE[1], false, v),
        ]
    };
    let marker = best_epoch.map(|e| (e as f64, format!("best epoch {e}")));
    let loss = LinePanel {
        title: "loss (cross-entropy)",
        x_label: "epoch",
        series: pair(|m| m.train_loss, |m| m.valid_loss),
        marker: marker.clone(),
        y_include: None,
    };
    let mut acc_series = pair(|m| m.train_acc, |m| m.valid_acc);
    // Multi-label runs: accuracy is subset accuracy; micro-F1 is the figure they stop on.
    let micro = history.iter().any(|m| m.valid_micro_f1.is_some());
    if micro {
        let points = pick(&|m| m.valid_micro_f1);
        acc_series.push(Series::line("valid micro-F1", PALETTE[2], true, points));
    }
    let acc = LinePanel {
        title: if micro {
            "subset accuracy, micro-F1"
        } else {
            "accuracy"
        },
        x_label: "epoch",
        series: acc_series,
        marker,
        y_include: None,
    };
    let (w, h) = (420.0, 280.0);
    let mut body = String::new();
    loss.draw(&mut body, 0.0, 0.0, w, h);
    acc.draw(&mut body, w, 0.0, w, h);
    let mut entries = vec![
        ("train".to_string(), PALETTE[0], false),
        ("valid".to_string(), PALETTE[1], false),
    ];
    if micro {
        entries.push(("valid micro-F1".to_string(), PALETTE[2], true));
    }
    let lh = legend(&mut body, &entries, 52.0, h + 12.0, 2.0 * w - 64.0);
    document(2.0 * w, h + lh + 6.0, "learning curves", &body)
}

/// Several runs on one chart: validation loss (solid) and training loss (dashed) on the left,
/// validation accuracy on the right, one colour per run. `runs` are (name, history) pairs.
pub fn compare_curves(runs: &[(String, Vec<EpochMetrics>)]) -> String {
    let pick = |h: &[EpochMetrics], f: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        h.iter().map(|m| (m.epoch as f64, f(m))).collect()
    };
    let color = |i: usize| PALETTE[i % PALETTE.len()];
    let mut loss_series = Vec::new();
    let mut acc_series = Vec::new();
    for (i, (name, h)) in runs.iter().enumerate() {
        loss_series.push(Series {
            name,
            color: color(i),
            dashed: false,
            points: pick(h, |m| m.valid_loss),
        });
        loss_series.push(Series {
            name,
            color: color(i),
            dashed: true,
            points: pick(h, |m| m.train_loss),
        });
        acc_series.push(Series {
            name,
            color: color(i),
            dashed: false,
            points: pick(h, |m| m.valid_acc),
        });
    }
    let loss = LinePanel {
        title: "loss: valid (solid), train (dashed)",
        x_label: "epoch",
        series: loss_series,
        marker: None,
        y_include: None,
    };
    let acc = LinePanel {
        title: "valid accuracy",
        x_label: "epoch",
        series: acc_series,
        marker: None,
        y_include: None,
    };
    let (w, h) = (420.0, 280.0);
    let mut body = String::new();
    loss.draw(&mut body, 0.0, 0.0, w, h);
    acc.draw(&mut body, w, 0.0, w, h);
    let entries: Vec<(String, &str, bool)> = runs
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (shorten(name, 60), color(i), false))
        .collect();
    let lh = legend(&mut body, &entries, 52.0, h + 12.0, 2.0 * w - 64.0);
    document(
        2.0 * w,
        h + lh + 6.0,
        "learning curves of several runs",
        &body,
    )
}

/// Blue of intensity `v` in [0, 1] (white at 0), and a text colour readable on it.
fn shade(v: f64) -> (String, &'static str) {
    let v = v.clamp(0.0, 1.0);
    let mix = |lo: f64, hi: f64| (hi + (lo - hi) * v).round() as u8;
    // From white to #08306b (the dark end of matplotlib's "Blues").
    let rgb = (mix(8.0, 255.0), mix(48.0, 255.0), mix(107.0, 255.0));
    (
        format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2),
        if v > 0.5 { "#fff" } else { "#000" },
    )
}

/// The confusion matrix as a heat map: rows are true classes, columns predicted classes.
/// `normalize` divides each row by its total (recall on the diagonal); otherwise cells show
/// counts, shaded by count / largest count. Cells are 10–48 px so that 77+ classes stay
/// readable (zoom the SVG); each cell names its pair and value in a tooltip, and numbers are
/// printed in cells of at least 22 px.
pub fn confusion_matrix(cm: &ConfusionMatrix, normalize: bool) -> String {
    let n = cm.labels.len().max(1);
    let cell = (640.0 / n as f64).clamp(10.0, 48.0).floor();
    let font = (cell * 0.7).clamp(8.0, 12.0);
    let max_label = cm
        .labels
        .iter()
        .map(|l| shorten(l, 28).chars().count())
        .max()
        .unwrap_or(1);
    let margin = text_width(max_label, font) + 14.0;
    let (x0, y0) = (margin + 24.0, margin + 40.0);
    let grid = cell * n as f64;
    let row_sums: Vec<usize> = cm.counts.iter().map(|r| r.iter().sum()).collect();
    let max_count = cm
        .counts
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let mut body = String::new();
    let title = if normalize {
        "confusion matrix, row-normalised (recall on the diagonal)"
    } else {
        "confusion matrix, counts"
    };
    let _ = write!(
        body,
        r##"<text x="8" y="18" font-size="14" font-weight="bold">{title}</text><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">predicted</text><text x="14" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {:.1})">true</text>"##,
        x0 + grid / 2.0,
        36.0,
        y0 + grid / 2.0,
        y0 + grid / 2.0,
    );
    for (t, row) in cm.counts.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            let frac = if row_sums[t] == 0 {
                0.0
            } else {
                count as f64 / row_sums[t] as f64
            };
            let v = if normalize {
                frac
            } else {
                count as f64 / max_count as f64
            };
            let (fill, ink) = shade(v);
            let (x, y) = (x0 + p as f64 * cell, y0 + t as f64 * cell);
            let _ = write!(
                body,
                r##"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{fill}" stroke="#eee" stroke-width="0.5"><title>true {} → predicted {}: {count} ({:.1} % of the row)</title></rect>"##,
                escape(&cm.labels[t]),
                escape(&cm.labels[p]),
                frac * 100.0
            );
            if cell >= 22.0 && (count > 0 || normalize) {
                let text = if normalize {
                    format!("{frac:.2}")
                } else {
                    count.to_string()
                };
                let size = (cell * 0.32).min(12.0);
                let _ = write!(
                    body,
                    r##"<text x="{:.1}" y="{:.1}" font-size="{size:.0}" text-anchor="middle" fill="{ink}">{text}</text>"##,
                    x + cell / 2.0,
                    y + cell / 2.0 + size * 0.35,
                );
            }
        }
    }
    for (i, label) in cm.labels.iter().enumerate() {
        let c = x0 + (i as f64 + 0.5) * cell;
        let label = escape(&shorten(label, 28));
        let _ = write!(
            body,
            r##"<text x="{:.1}" y="{:.1}" font-size="{font:.0}" text-anchor="end">{label}</text><text x="{c:.1}" y="{:.1}" font-size="{font:.0}" text-anchor="start" transform="rotate(-90 {c:.1} {:.1})">{label}</text>"##,
            x0 - 4.0,
            y0 + (i as f64 + 0.5) * cell + font * 0.35,
            y0 - 4.0 + font * 0.35,
            y0 - 4.0,
        );
    }
    let _ = write!(
        body,
        r##"<rect x="{x0:.1}" y="{y0:.1}" width="{grid:.1}" height="{grid:.1}" fill="none" stroke="#666"/>"##
    );
    let width = (x0 + grid + 16.0).max(text_width(title.chars().count(), 14.0) + 16.0);
    document(width, y0 + grid + 16.0, title, &body)
}

/// Per-label F1 as horizontal bars (one row per label, in label order, from a report's
/// [`Scores::per_label`]), with precision, recall and support in each bar's tooltip and the F1
/// value beside it; the macro average is the dashed line.
pub fn per_class_f1(scores: &dyn Scores) -> String {
    let per_label = scores.per_label();
    let macro_f1 = scores
        .averages()
        .iter()
        .find(|a| a.label == "macro avg")
        .map_or(0.0, |a| a.f1);
    let rows = per_label.len();
    let row_h = 18.0;
    let max_label = per_label
        .iter()
        .map(|m| shorten(&m.label, 28).chars().count())
        .max()
        .unwrap_or(1);
    let left = text_width(max_label, 12.0) + 16.0;
    let bar_w = 420.0;
    let (top, right) = (44.0, 150.0);
    let mut body = String::new();
    let _ = write!(
        body,
        r##"<text x="8" y="18" font-size="14" font-weight="bold">F1 per class</text><text x="8" y="34" font-size="11" fill="#555">dashed: macro average {:.4}</text>"##,
        macro_f1
    );
    for (i, m) in per_label.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let w = (m.f1.clamp(0.0, 1.0) * bar_w).max(0.0);
        let _ = write!(
            body,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text><rect class="bar" x="{left:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{}: precision {:.4}, recall {:.4}, F1 {:.4}, support {}</title></rect><text x="{:.1}" y="{:.1}" font-size="11">{:.3} (n={})</text>"##,
            left - 6.0,
            y + row_h * 0.7,
            escape(&shorten(&m.label, 28)),
            y + 2.0,
            row_h - 4.0,
            PALETTE[0],
            escape(&m.label),
            m.precision,
            m.recall,
            m.f1,
            m.support,
            left + w + 4.0,
            y + row_h * 0.7,
            m.f1,
            m.support
        );
    }
    let bottom = top + rows as f64 * row_h;
    let mx = left + macro_f1.clamp(0.0, 1.0) * bar_w;
    let _ = write!(
        body,
        r##"<line x1="{left:.1}" y1="{:.1}" x2="{left:.1}" y2="{bottom:.1}" stroke="#999"/><line x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{bottom:.1}" stroke="#d62728" stroke-dasharray="4 3"/>"##,
        top - 2.0,
        top - 2.0
    );
    for v in [0.0, 0.5, 1.0] {
        let x = left + v * bar_w;
        let _ = write!(
            body,
            r##"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{v:.1}</text>"##,
            bottom + 14.0
        );
    }
    document(left + bar_w + right, bottom + 24.0, "F1 per class", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(epoch: usize, valid_acc: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 1.0 / epoch as f64,
            train_acc: 0.5 + 0.1 * epoch as f64,
            valid_loss: 0.8,
            valid_acc,
            valid_macro_f1: valid_acc,
            valid_micro_f1: None,
            valid_jaccard: None,
            lr: 0.001,
            seconds: 1.0,
            examples_per_s: 100.0,
        }
    }

    #[test]
    fn nice_ticks_are_round_steps_inside_the_range() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(1.0, 10.0, 8), vec![2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(0.83, 0.91, 4), vec![0.84, 0.86, 0.88, 0.9]);
        // A flat range still gets ticks around its value.
        assert_eq!(nice_ticks(3.0, 3.0, 4), vec![2.5, 3.0, 3.5]);
        assert_eq!(tick_label(0.84, 0.02), "0.84");
        assert_eq!(tick_label(4.0, 2.0), "4");
    }

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }

    #[test]
    fn learning_curves_place_points_and_the_best_epoch() {
        let h = vec![metrics(1, 0.80), metrics(2, 0.90), metrics(3, 0.85)];
        let svg = learning_curves(&h, Some(2));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        // Two panels × (train, valid) lines, 3 points each.
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert_eq!(svg.matches("<circle").count(), 12);
        assert_eq!(svg.matches("class=\"best\"").count(), 2);
        assert!(svg.contains(">best epoch 2</text>"));
        // The loss panel's plot box spans x 52..828/2-12 = 52..408 for epochs 1..3: epoch 2 is
        // in the middle, x = 230.
        assert!(svg.contains(r#"<line class="best" x1="230.0""#), "{svg}");
        assert!(svg.contains("<title>valid: epoch 2, 0.9000</title>"));
    }

    #[test]
    fn confusion_matrix_cells_hold_counts_and_row_fractions() {
        let labels = vec!["a".to_string(), "b<".to_string()];
        let cm = ConfusionMatrix::from_indices(labels, &[0, 0, 0, 1], &[0, 0, 1, 1]);
        let counts = confusion_matrix(&cm, false);
        assert_eq!(counts.matches("class=\"cell\"").count(), 4);
        assert!(counts.contains("<title>true a → predicted a: 2 (66.7 % of the row)</title>"));
        assert!(counts.contains("<title>true b&lt; → predicted a: 0 (0.0 % of the row)</title>"));
        let norm = confusion_matrix(&cm, true);
        assert!(norm.contains(">0.67</text>") && norm.contains(">0.33</text>"));
        assert!(norm.contains(">1.00</text>"));
        // The darkest cell is the full row b → b.
        assert!(norm.contains(r##"fill="#08306b""##));
        assert_eq!(shade(0.0).0, "#ffffff");
    }

    #[test]
    fn confusion_matrix_of_many_classes_keeps_cells_of_ten_pixels() {
        let labels: Vec<String> = (0..80).map(|i| format!("class_{i}")).collect();
        let y: Vec<usize> = (0..80).collect();
        let svg = confusion_matrix(&ConfusionMatrix::from_indices(labels, &y, &y), true);
        assert_eq!(svg.matches("class=\"cell\"").count(), 6400);
        assert!(svg.contains(r#"width="10.0" height="10.0""#));
        // Too small for numbers: they are in the tooltips only.
        assert!(!svg.contains(">1.00</text>"));
    }

    #[test]
    fn f1_bars_have_the_width_of_their_score() {
        let labels = vec!["x".to_string(), "y".to_string()];
        let report = ConfusionMatrix::from_indices(labels, &[0, 0, 1, 1], &[0, 1, 1, 1]).report();
        let svg = per_class_f1(&report);
        // F1 of x = 2·1·0.5/1.5 = 0.6667 → 280.0 px of 420; y: 2·(2/3)·1/(5/3) = 0.8 → 336.
        assert!(svg.contains(r#"width="280.0""#), "{svg}");
        assert!(svg.contains(r#"width="336.0""#));
        assert!(svg.contains(">0.667 (n=2)</text>"));
    }

    #[test]
    fn compare_curves_draw_every_run_in_its_colour() {
        let runs = vec![
            ("a".to_string(), vec![metrics(1, 0.8), metrics(2, 0.9)]),
            ("b".to_string(), vec![metrics(1, 0.7)]),
        ];
        let svg = compare_curves(&runs);
        // Per run: valid loss, train loss (dashed), valid acc.
        assert_eq!(svg.matches("<polyline").count(), 6);
        assert_eq!(
            svg.matches(&format!("stroke=\"{}\" stroke-width=\"2\"", PALETTE[1]))
                .count(),
            4
        );
    }
}
