//! Encoding of token sequences into fixed-shape id sequences: truncation to `max_len`, padding with
//! [`PAD_ID`] up to `min_len` (the widest convolution region), OOV accounting.

use super::vocab::{PAD_ID, UNK_ID, Vocab};

/// Which part of a too-long document is kept.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Truncation {
    /// Keep the first `max_len` tokens.
    #[default]
    Head,
    /// Keep the last `max_len` tokens.
    Tail,
    /// Keep the first `max_len / 2` (rounded down) and the last `max_len - max_len / 2` tokens
    /// (Sun et al. 2019, "How to Fine-Tune BERT for Text Classification").
    #[serde(rename = "head+tail", alias = "head-tail")]
    #[value(name = "head+tail", alias = "head-tail")]
    HeadTail,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Truncation::Head => "head",
            Truncation::Tail => "tail",
            Truncation::HeadTail => "head+tail",
        })
    }
}

/// Shape settings for [`encode`]. Saved in model bundles.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncodeConfig {
    /// Maximum number of tokens kept (tokens). `0` means no limit.
    pub max_len: usize,
    /// Which tokens are kept when a document is longer than `max_len`.
    pub truncation: Truncation,
    /// Minimum output length (tokens): shorter outputs are padded with [`PAD_ID`] at the end. Set
    /// it to the widest convolution region so even an empty input has a valid shape.
    pub min_len: usize,
}

impl Default for EncodeConfig {
    /// `max_len` 400, head truncation, `min_len` 5 (the widest region of Kim's 3/4/5 filters).
    fn default() -> Self {
        EncodeConfig {
            max_len: 400,
            truncation: Truncation::Head,
            min_len: 5,
        }
    }
}

/// One encoded document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, length `max(min(n_tokens, max_len), min_len)`; padding ([`PAD_ID`]) only at the end.
    pub ids: Vec<u32>,
    /// Number of tokens in the input, before truncation.
    pub n_tokens: usize,
    /// Number of input tokens (before truncation) not in the vocabulary (mapped to [`UNK_ID`]).
    pub n_oov: usize,
    /// Whether tokens were cut off by `max_len`.
    pub truncated: bool,
}

impl Encoded {
    /// Number of real (non-padding) tokens in `ids`: `min(n_tokens, max_len)`.
    pub fn len_unpadded(&self) -> usize {
        self.ids.len() - self.ids.iter().rev().take_while(|&&i| i == PAD_ID).count()
    }

    /// Fraction of input tokens that were out of vocabulary (0 for an empty input).
    pub fn oov_rate(&self) -> f64 {
        if self.n_tokens == 0 {
            0.0
        } else {
            self.n_oov as f64 / self.n_tokens as f64
        }
    }
}

/// Maps `tokens` to ids with `vocab` (unknown tokens → [`UNK_ID`]), truncates to
/// `config.max_len` as `config.truncation` says, then pads with [`PAD_ID`] to `config.min_len`.
pub fn encode(tokens: &[String], vocab: &Vocab, config: &EncodeConfig) -> Encoded {
    let n = tokens.len();
    let max_len = if config.max_len == 0 {
        usize::MAX
    } else {
        config.max_len
    };
    let truncated = n > max_len;
    let kept = n.min(max_len);
    let mut ids = Vec::with_capacity(kept.max(config.min_len));
    let mut n_oov = 0;
    // Input positions kept: [0, head) and [n - tail, n).
    let (head, tail) = match (truncated, config.truncation) {
        (false, _) => (n, 0),
        (true, Truncation::Head) => (kept, 0),
        (true, Truncation::Tail) => (0, kept),
        (true, Truncation::HeadTail) => (kept / 2, kept - kept / 2),
    };
    for (i, t) in tokens.iter().enumerate() {
        // A real token never maps to PAD_ID (a literal "<pad>" token counts as unknown), so
        // padding is only ever the trailing run of PAD_ID.
        let id = match vocab.id(t) {
            PAD_ID => UNK_ID,
            id => id,
        };
        if id == UNK_ID {
            n_oov += 1;
        }
        if i < head || i >= n - tail {
            ids.push(id);
        }
    }
    if ids.len() < config.min_len {
        ids.resize(config.min_len, PAD_ID);
    }
    Encoded {
        ids,
        n_tokens: n,
        n_oov,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Vocab, Vec<String>) {
        let mut v = Vocab::empty();
        for t in ["a", "b", "c", "d", "e", "f"] {
            v.push(t, 1);
        }
        let toks = "a b c x d e f".split(' ').map(str::to_string).collect();
        (v, toks)
    }

    #[test]
    fn truncation_modes() {
        let (v, toks) = setup(); // ids a=2 b=3 c=4 x=unk d=5 e=6 f=7
        let cfg = |truncation| EncodeConfig {
            max_len: 5,
            truncation,
            min_len: 3,
        };
        let e = encode(&toks, &v, &cfg(Truncation::Head));
        assert_eq!(e.ids, [2, 3, 4, 1, 5]);
        assert_eq!(
            (e.n_tokens, e.n_oov, e.truncated, e.len_unpadded()),
            (7, 1, true, 5)
        );
        assert_eq!(
            encode(&toks, &v, &cfg(Truncation::Tail)).ids,
            [4, 1, 5, 6, 7]
        );
        assert_eq!(
            encode(&toks, &v, &cfg(Truncation::HeadTail)).ids,
            [2, 3, 5, 6, 7]
        );
    }

    #[test]
    fn padding_to_min_len() {
        let (v, _) = setup();
        let cfg = EncodeConfig {
            max_len: 10,
            truncation: Truncation::Head,
            min_len: 5,
        };
        let e = encode(&["b".to_string(), "zz".to_string()], &v, &cfg);
        assert_eq!(e.ids, [3, 1, 0, 0, 0]);
        let literal_pad = encode(&["<pad>".to_string()], &v, &cfg);
        assert_eq!(
            (
                literal_pad.ids[0],
                literal_pad.n_oov,
                literal_pad.len_unpadded()
            ),
            (UNK_ID, 1, 1)
        );
        assert_eq!(
            (e.n_tokens, e.n_oov, e.truncated, e.len_unpadded()),
            (2, 1, false, 2)
        );
        assert_eq!(e.oov_rate(), 0.5);
        let e = encode(&[], &v, &cfg);
        assert_eq!(e.ids, [0; 5]);
        assert_eq!((e.n_tokens, e.len_unpadded(), e.oov_rate()), (0, 0, 0.0));
        let (v, toks) = setup();
        let unlimited = EncodeConfig {
            max_len: 0,
            truncation: Truncation::Head,
            min_len: 0,
        };
        assert_eq!(encode(&toks, &v, &unlimited).ids.len(), 7);
    }

    #[test]
    fn truncation_names() {
        use clap::ValueEnum;
        assert_eq!(
            serde_json::to_string(&Truncation::HeadTail).unwrap(),
            "\"head+tail\""
        );
        assert_eq!(
            serde_json::to_string(&Truncation::Tail).unwrap(),
            "\"tail\""
        );
        assert_eq!(
            serde_json::from_str::<Truncation>("\"head+tail\"").unwrap(),
            Truncation::HeadTail
        );
        assert_eq!(
            Truncation::from_str("head+tail", false).unwrap(),
            Truncation::HeadTail
        );
        assert_eq!(Truncation::HeadTail.to_string(), "head+tail");
    }
}
