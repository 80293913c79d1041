//! Helpers shared by the integration tests: deterministic test data, finite-difference gradient
//! checks, PyTorch fixture loading, and synthetic labelled datasets.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::Value;
use textcnn::data::{Dataset, Example};

/// Small deterministic generator (SplitMix64) for test data in [-1, 1).
pub struct Gen(pub u64);

impl Gen {
    /// The next value in [-1, 1).
    pub fn f(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// `n` values in [-1, 1).
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

/// Asserts an analytic gradient (f32) against a central difference (f64): within
/// `2e-3 + 2e-3 · |analytic|`.
pub fn close(analytic: f32, numeric: f64, what: &str) {
    let a = analytic as f64;
    assert!(
        (a - numeric).abs() <= 2e-3 + 2e-3 * a.abs(),
        "{what}: analytic {a} vs numeric {numeric}"
    );
}

/// Central difference of `loss` w.r.t. `v[i]` with step `eps`.
pub fn numeric(v: &mut [f32], i: usize, eps: f32, loss: &mut dyn FnMut(&[f32]) -> f64) -> f64 {
    let old = v[i];
    v[i] = old + eps;
    let lp = loss(v);
    v[i] = old - eps;
    let lm = loss(v);
    v[i] = old;
    (lp - lm) / (2.0 * eps as f64)
}

/// `Σ a_i · w_i` in f64: a scalar test loss with a known gradient `w`.
pub fn wsum(a: &[f32], w: &[f32]) -> f64 {
    a.iter().zip(w).map(|(&a, &w)| a as f64 * w as f64).sum()
}

/// Named tensors `name → (shape, data)`, as the fixtures hold them.
pub type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// A JSON array of numbers as f32.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// A fixture's `{"name": {"shape": [...], "data": [...]}}` object as [`Tensors`].
pub fn tensors(v: &Value) -> Tensors {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| {
            let shape = t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (k.clone(), (shape, floats(&t["data"])))
        })
        .collect()
}

/// Asserts our values against PyTorch's: within `1e-5 + 1e-4 · |theirs|` each.
pub fn assert_close(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 + 1e-4 * b.abs(),
            "{what}[{i}]: ours {a} vs PyTorch {b}"
        );
    }
}

/// Filler words of the synthetic texts.
pub const FILLER: [&str; 10] = [
    "the", "film", "was", "a", "story", "of", "and", "it", "plot", "actor",
];

/// `n` texts of filler words with one cue word inserted. Example `i` has label
/// `labels(i)` and cue `cue(i, k)`, where `k = key(i)` also sets the length (`6 + k % 9`
/// filler words) and the fillers and cue position; deterministic.
pub fn synthetic_with<'a>(
    n: usize,
    name: String,
    key: impl Fn(usize) -> usize,
    labels: impl Fn(usize) -> &'a str,
    cue: impl Fn(usize, usize) -> &'a str,
) -> Dataset {
    let mut examples = Vec::new();
    for i in 0..n {
        let k = key(i);
        let len = 6 + k % 9;
        let mut words: Vec<&str> = (0..len)
            .map(|j| FILLER[(k + j * 3) % FILLER.len()])
            .collect();
        words.insert(k % len, cue(i, k));
        examples.push(Example::new(words.join(" "), labels(i).to_string()));
    }
    Dataset {
        name,
        examples,
        ..Dataset::default()
    }
}

/// Positive and negative cue words.
pub const POS: [&str; 3] = ["great", "wonderful", "superb"];
pub const NEG: [&str; 3] = ["awful", "boring", "terrible"];

/// Two classes, `pos` (even rows) and `neg`, each text with one sentiment word; the label
/// follows the sentiment word.
pub fn synthetic(n: usize, seed: usize) -> Dataset {
    synthetic_with(
        n,
        format!("synthetic-{seed}"),
        |i| i * 7 + seed * 13,
        |i| if i % 2 == 0 { "pos" } else { "neg" },
        |i, k| if i % 2 == 0 { POS[k % 3] } else { NEG[k % 3] },
    )
}

/// Topics and their cue words.
const TOPICS: [(&str, [&str; 5]); 4] = [
    ("sport", ["goal", "match", "team", "coach", "league"]),
    ("money", ["bank", "profit", "market", "shares", "price"]),
    ("politics", ["vote", "election", "minister", "party", "law"]),
    ("tech", ["software", "chip", "network", "phone", "code"]),
];
/// Filler words of [`topic_lines`].
const TOPIC_FILLER: [&str; 12] = [
    "the", "a", "said", "on", "new", "after", "week", "report", "in", "was", "for", "today",
];

/// `n` fastText lines of the four topics: a few filler words and two cue words of the text's
/// topic; with `multi`, one text in three also has a second topic (and its label).
pub fn topic_lines(n: usize, seed: u64, multi: bool) -> String {
    let mut g = Gen(seed);
    let mut pick = |k: usize| ((g.f() + 1.0) / 2.0 * k as f32) as usize % k;
    let mut out = String::new();
    for i in 0..n {
        let t = i % TOPICS.len();
        let mut topics = vec![t];
        if multi && i % 3 == 0 {
            topics.push((t + 1 + pick(3)) % TOPICS.len());
        }
        let mut words: Vec<&str> = (0..4 + pick(5))
            .map(|_| TOPIC_FILLER[pick(TOPIC_FILLER.len())])
            .collect();
        for &topic in &topics {
            for _ in 0..2 {
                let at = pick(words.len() + 1);
                words.insert(at, TOPICS[topic].1[pick(5)]);
            }
        }
        for &topic in &topics {
            out.push_str(&format!("__label__{} ", TOPICS[topic].0));
        }
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

/// Training, test and prediction files of four topics ([`topic_lines`]; label sets with
/// `multi`), written in `dir` from seeds `seed`, `seed + 1` and `seed + 2`.
pub struct TopicFiles {
    pub train: std::path::PathBuf,
    pub test: std::path::PathBuf,
    /// The texts alone, one a line (for `predict`).
    pub texts: std::path::PathBuf,
}

/// Writes [`TopicFiles`]: 160 training, 40 test lines and `n_texts` texts.
pub fn topic_files(dir: &std::path::Path, multi: bool, seed: u64, n_texts: usize) -> TopicFiles {
    let f = TopicFiles {
        train: dir.join("train.ft"),
        test: dir.join("test.ft"),
        texts: dir.join("texts.txt"),
    };
    std::fs::write(&f.train, topic_lines(160, seed, multi)).unwrap();
    std::fs::write(&f.test, topic_lines(40, seed + 1, multi)).unwrap();
    let texts: String = topic_lines(n_texts, seed + 2, multi)
        .lines()
        .map(|l| {
            let words: Vec<&str> = l.split(' ').filter(|w| !w.starts_with("__")).collect();
            words.join(" ") + "\n"
        })
        .collect();
    std::fs::write(&f.texts, texts).unwrap();
    f
}

/// Tiny, deterministic training flags (two epochs, one thread, a small Kim CNN).
pub const TINY_FLAGS: [&str; 10] = [
    "--epochs",
    "2",
    "--threads",
    "1",
    "--emb-dim",
    "8",
    "--feature-maps",
    "4",
    "--batch-size",
    "16",
];

/// The bytes of `dir/file` for comparing two runs' outputs, `None` when it cannot be read;
/// `report.json` without its `"cost"` (wall times and memory, which differ from run to run).
pub fn run_output(dir: &std::path::Path, file: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(dir.join(file)).ok()?;
    if file != "report.json" {
        return Some(bytes);
    }
    let mut report: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    report.as_object_mut()?.remove("cost");
    serde_json::to_vec_pretty(&report).ok()
}

/// Runs the textcnn binary with `args`, `input` written to its standard input (a pipe, from
/// another thread: a large input must not wait for the output to be read); its exit status
/// and outputs.
pub fn textcnn_with_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_textcnn"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}
