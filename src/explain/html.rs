//! A self-contained HTML page of explanations: each text with its tokens highlighted by the
//! sign and strength of their contribution, a legend, and the table of the top windows. No
//! script, no external style, font or image.

use std::fmt::Write;

use super::{Explanation, Method, Source};

/// Escapes `&`, `<`, `>`, `"` and `'` for XML/HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Background colour of a contribution `v` relative to the largest magnitude `max`: green for
/// the label, red against it, opacity growing with `|v| / max`.
fn colour(v: f32, max: f32) -> String {
    let a = if max > 0.0 {
        (v.abs() / max).min(1.0) * 0.85
    } else {
        0.0
    };
    if v >= 0.0 {
        format!("rgba(22,163,74,{a:.3})")
    } else {
        format!("rgba(220,38,38,{a:.3})")
    }
}

/// The original `text` with every token in a `<mark>` coloured by its contribution (the text
/// between tokens, markup included, shown as plain text).
pub fn highlighted_text(text: &str, e: &Explanation) -> String {
    let max = e
        .tokens
        .iter()
        .map(|t| t.contribution.abs())
        .fold(0.0f32, f32::max);
    let mut out = String::new();
    let mut at = 0;
    for t in &e.tokens {
        if t.byte_start < at {
            continue; // tokens of one decoded entity share its span
        }
        out.push_str(&escape(&text[at..t.byte_start]));
        let _ = write!(
            out,
            "<mark style=\"background:{}\" title=\"{}: {:+.4}{}\">{}</mark>",
            colour(t.contribution, max),
            escape(&t.text),
            t.contribution,
            if t.read_by_cnn {
                ""
            } else {
                " (cut by max_len: n-gram branch only)"
            },
            escape(&text[t.byte_start..t.byte_end])
        );
        at = t.byte_end;
    }
    out.push_str(&escape(&text[at..]));
    out
}

/// The page: for each `(text, explanations)`, the highlighted text per explained label, its
/// probability, logit and bias, and the `top` windows by absolute contribution.
pub fn page(items: &[(&str, Vec<Explanation>)], top: usize) -> String {
    let mut body = String::new();
    for (i, (text, explanations)) in items.iter().enumerate() {
        let _ = write!(body, "<section><h2>Text {}</h2>", i + 1);
        for e in explanations {
            let how = match e.method {
                Method::Exact => format!(
                    "exact decomposition: logit {:.4} = bias {:.4} + windows {:.4}{}",
                    e.logit,
                    e.bias.unwrap_or(0.0),
                    e.windows_total(),
                    e.clamp.map_or(String::new(), |v| format!(
                        " + clamp {v:.4} (a branch's probability under 1e-7, read as 1e-7)"
                    ))
                ),
                Method::Occlusion => format!(
                    "occlusion (each token replaced by &lt;pad&gt;): logit {:.4}; contributions do not add up to it",
                    e.logit
                ),
            };
            let _ = write!(
                body,
                "<h3>label <b>{}</b> · probability {:.4}</h3><p class=\"note\">{}{}</p><p class=\"text\">{}</p>",
                escape(&e.label),
                e.probability,
                how,
                if e.truncated {
                    " · the CNN read only the model's max_len tokens"
                } else {
                    ""
                },
                highlighted_text(text, e)
            );
            body.push_str(
                "<table><tr><th>contribution</th><th>source</th><th>size</th><th>window</th><th>characters</th></tr>",
            );
            let max = e.windows.first().map_or(0.0, |w| w.contribution.abs());
            for w in e.windows.iter().take(top) {
                let source = match w.source {
                    Source::Cnn if e.method == Method::Occlusion => "token",
                    Source::Cnn => "cnn",
                    Source::Ngram => "n-gram",
                };
                let _ = write!(
                    body,
                    "<tr><td class=\"num\" style=\"background:{}\">{:+.4}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}–{}</td></tr>",
                    colour(w.contribution, max),
                    w.contribution,
                    source,
                    w.region_size,
                    escape(&w.text),
                    w.start,
                    w.end
                );
            }
            body.push_str("</table>");
        }
        body.push_str("</section>");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>textcnn explain</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
.text{{white-space:pre-wrap;border:1px solid #8884;padding:.6rem;border-radius:4px}}\
mark{{color:inherit;border-radius:3px;padding:0 1px}}table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}\
td,th{{border-bottom:1px solid #8883;padding:.15rem .6rem;text-align:left}}.num{{text-align:right;font-variant-numeric:tabular-nums}}\
.note{{color:#777;font-size:.9rem}}.legend span{{padding:0 .5rem;border-radius:3px}}</style></head><body>\
<h1>textcnn explain</h1><p class=\"legend\">Legend: <span style=\"background:{}\">strongly for the label</span> \
<span style=\"background:{}\">weakly for</span> <span style=\"background:{}\">weakly against</span> \
<span style=\"background:{}\">strongly against</span>. A token's colour is the sum of its shares of the windows \
covering it (each window's contribution split equally over its tokens), scaled to the text's largest; hover a token \
for its value. Contributions are in logit units of the centered logit z<sub>c</sub> − mean<sub>k</sub> z<sub>k</sub>.</p>\
{body}</body></html>\n",
        colour(1.0, 1.0),
        colour(0.3, 1.0),
        colour(-0.3, 1.0),
        colour(-1.0, 1.0),
    )
}
