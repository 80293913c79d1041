//! Unicode-aware tokenizer: HTML clean-up, lowercasing, UAX #29 word segmentation, jieba segmentation
//! of Chinese (Han) runs, optional stop-word removal.
//!
//! The whole behaviour is fixed by [`TokenizerConfig`], which is serialisable so a model bundle can
//! store it and prediction repeats tokenization exactly.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use unicode_segmentation::UnicodeSegmentation;

/// Settings of a [`Tokenizer`]. Saved inside model bundles; every field has a serde default so
/// older bundles keep loading when fields are added.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerConfig {
    /// Lowercase the text (Unicode-aware, `str::to_lowercase`). Default `true`.
    pub lowercase: bool,
    /// Remove HTML tags (`<br />` and any `<tag ...>` become a space) and decode the entities
    /// `&amp; &quot; &lt; &gt; &#39; &apos; &nbsp;` and numeric `&#NNN;` / `&#xHH;`. Default `true`.
    pub strip_html: bool,
    /// Keep punctuation marks as tokens of their own (`"great!"` → `great`, `!`). When `false`
    /// tokens made only of punctuation are dropped; symbols and emoji are always kept. Default `true`.
    pub keep_punctuation: bool,
    /// Tokens removed after tokenization (compared after lowercasing when `lowercase` is on).
    /// Default empty; see [`english_stopwords`] and [`load_stopwords`].
    pub stopwords: Vec<String>,
    /// Segment runs of Han (Chinese) characters into words with `jieba-rs` (HMM on). When `false`,
    /// each Han character is its own token (the UAX #29 default). Default `true`.
    pub segment_cjk: bool,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            lowercase: true,
            strip_html: true,
            keep_punctuation: true,
            stopwords: Vec::new(),
            segment_cjk: true,
        }
    }
}

/// A small English stop-word list (articles, pronouns, auxiliaries, prepositions, conjunctions),
/// lowercase. Negations ("not", "no", "nor", "don't", ...) are deliberately *not* included: they
/// carry sentiment.
pub fn english_stopwords() -> Vec<String> {
    const WORDS: &[&str] = &[
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "it's",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ];
    WORDS.iter().map(|w| w.to_string()).collect()
}

/// Reads a stop-word file: UTF-8 (a BOM is ignored), one word per line; surrounding whitespace is
/// trimmed, blank lines and lines starting with `#` are ignored.
///
/// # Errors
/// When the file cannot be read or is not valid UTF-8 (the message names the file).
pub fn load_stopwords(path: &Path) -> anyhow::Result<Vec<String>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading stop words {}", path.display()))?;
    let text = crate::data::decode_bytes(&bytes, &path.display().to_string(), Default::default())?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Turns raw text into tokens according to a [`TokenizerConfig`].
///
/// `Send + Sync`; share it by reference across threads. The jieba dictionary is loaded once per
/// process, lazily, the first time Han text is seen.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    config: TokenizerConfig,
    stopwords: Arc<HashSet<String>>,
}

fn jieba() -> &'static jieba_rs::Jieba {
    static JIEBA: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    JIEBA.get_or_init(jieba_rs::Jieba::new)
}

/// Han ideographs (CJK Unified Ideographs and extensions, compatibility ideographs).
fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF
        | 0x2A700..=0x2EBEF | 0x2F800..=0x2FA1F | 0x30000..=0x323AF)
}

/// Punctuation marks: ASCII punctuation, Latin-1 punctuation, General Punctuation, CJK symbols
/// and punctuation, and the fullwidth ASCII punctuation forms.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c as u32,
            0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF
            | 0x2010..=0x2027 | 0x2030..=0x205E | 0x3001..=0x3003 | 0x3008..=0x3011
            | 0x3014..=0x301F | 0x30FB | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40
            | 0xFF5B..=0xFF65)
}

impl Tokenizer {
    /// Builds a tokenizer. Stop words are lowercased when `config.lowercase` is on.
    pub fn new(config: TokenizerConfig) -> Tokenizer {
        let stopwords: HashSet<String> = config
            .stopwords
            .iter()
            .map(|w| {
                if config.lowercase {
                    w.to_lowercase()
                } else {
                    w.clone()
                }
            })
            .collect();
        Tokenizer {
            config,
            stopwords: Arc::new(stopwords),
        }
    }

    /// The settings this tokenizer was built with.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Splits `text` into tokens. Whitespace is dropped; words (including inner apostrophes and
    /// number separators: `don't`, `3.5`), punctuation marks (when kept), symbols and emoji become
    /// tokens. No character other than whitespace (and, when `keep_punctuation` is off,
    /// punctuation; when `strip_html` is on, markup) is ever removed.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::with_capacity(text.len() / 5 + 1);
        self.tokenize_into(text, &mut out);
        out
    }

    /// Like [`Tokenizer::tokenize`], appending to `out`.
    pub fn tokenize_into(&self, text: &str, out: &mut Vec<String>) {
        let cleaned;
        let mut text = text;
        if self.config.strip_html && (text.contains('<') || text.contains('&')) {
            cleaned = strip_html(text);
            text = &cleaned;
        }
        let lowered;
        if self.config.lowercase {
            lowered = if text.is_ascii() {
                text.to_ascii_lowercase()
            } else {
                text.to_lowercase()
            };
            text = &lowered;
        }
        if self.config.segment_cjk && text.chars().any(is_han) {
            // Alternate between Han runs (jieba) and the rest (UAX #29).
            let mut rest = text;
            while !rest.is_empty() {
                let start = rest.find(is_han).unwrap_or(rest.len());
                self.push_words(&rest[..start], out);
                rest = &rest[start..];
                if rest.is_empty() {
                    break;
                }
                let end = rest.find(|c| !is_han(c)).unwrap_or(rest.len());
                for tok in jieba().cut(&rest[..end], true) {
                    self.push_token(tok.word, out);
                }
                rest = &rest[end..];
            }
        } else {
            self.push_words(text, out);
        }
    }

    fn push_words(&self, text: &str, out: &mut Vec<String>) {
        for seg in text.split_word_bounds() {
            self.push_token(seg, out);
        }
    }

    fn push_token(&self, seg: &str, out: &mut Vec<String>) {
        let mut chars = seg.chars();
        let first = match chars.next() {
            Some(c) => c,
            None => return,
        };
        if first.is_whitespace() && seg.chars().all(char::is_whitespace) {
            return;
        }
        if !self.config.keep_punctuation && seg.chars().all(is_punctuation) {
            return;
        }
        if !self.stopwords.is_empty() && self.stopwords.contains(seg) {
            return;
        }
        out.push(seg.to_string());
    }
}

/// Removes HTML tags (each replaced by a space) and decodes common entities. A `<` not followed
/// by a letter, `/` or `!` is kept as text (`a < b`), as is an unknown entity.
pub fn strip_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Once no '>' is left, no later '<' can open a tag: stop searching (keeps this linear).
    let mut closable = true;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if rest.starts_with('<') {
            let next = rest[1..].chars().next();
            let is_tag = matches!(next, Some(c) if c.is_ascii_alphabetic() || c == '/' || c == '!');
            if is_tag && closable {
                if let Some(end) = rest.find('>') {
                    out.push(' ');
                    rest = &rest[end + 1..];
                    continue;
                }
                closable = false;
            }
            out.push('<');
            rest = &rest[1..];
        } else {
            // '&': entity up to ';' within 10 bytes.
            let decoded = rest[1..]
                .char_indices()
                .take(10)
                .find(|&(_, c)| c == ';')
                .and_then(|(i, _)| decode_entity(&rest[1..1 + i]).map(|c| (c, i + 2)));
            match decoded {
                Some((c, len)) => {
                    out.push(c);
                    rest = &rest[len..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "quot" => Some('"'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> Vec<String> {
        Tokenizer::new(TokenizerConfig::default()).tokenize(text)
    }

    #[test]
    fn english_words_apostrophes_and_punctuation() {
        assert_eq!(
            tok("I don't like it. Really?! 3.5/10"),
            [
                "i", "don't", "like", "it", ".", "really", "?", "!", "3.5", "/", "10"
            ]
        );
    }

    #[test]
    fn html_removed_and_entities_decoded() {
        assert_eq!(
            tok("Great<br /><br />film &amp; cast &quot;wow&quot; &#39;ok&#39; a &lt; b"),
            [
                "great", "film", "&", "cast", "\"", "wow", "\"", "'", "ok", "'", "a", "<", "b"
            ]
        );
        assert_eq!(
            strip_html("x<br/>y &foo; 1 < 2 &#x41;"),
            "x y &foo; 1 < 2 A"
        );
    }

    #[test]
    fn non_ascii_is_kept() {
        assert_eq!(tok("I love it 😀"), ["i", "love", "it", "😀"]);
        assert_eq!(tok("Café CRÈME"), ["café", "crème"]);
        assert_eq!(tok("Привет, мир"), ["привет", ",", "мир"]);
    }

    #[test]
    fn chinese_is_segmented_with_jieba() {
        assert_eq!(
            tok("我们中出了一个叛徒"),
            ["我们", "中出", "了", "一个", "叛徒"]
        );
        assert_eq!(
            tok("我来到北京清华大学，很好！OK"),
            [
                "我",
                "来到",
                "北京",
                "清华大学",
                "，",
                "很",
                "好",
                "！",
                "ok"
            ]
        );
        let cfg = TokenizerConfig {
            segment_cjk: false,
            ..Default::default()
        };
        assert_eq!(Tokenizer::new(cfg).tokenize("北京"), ["北", "京"]);
    }

    #[test]
    fn options() {
        let cfg = TokenizerConfig {
            lowercase: false,
            strip_html: false,
            keep_punctuation: false,
            stopwords: vec!["The".into()],
            segment_cjk: true,
        };
        assert_eq!(
            Tokenizer::new(cfg).tokenize("The <b>End</b>, the end!"),
            ["b", "End", "b", "the", "end"]
        );
        let cfg = TokenizerConfig {
            stopwords: english_stopwords(),
            ..Default::default()
        };
        assert_eq!(
            Tokenizer::new(cfg).tokenize("The film is NOT good"),
            ["film", "not", "good"]
        );
    }

    #[test]
    fn stopword_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stop.txt");
        std::fs::write(&p, "\u{feff}the\r\n# comment\n\n  a \n").unwrap();
        assert_eq!(load_stopwords(&p).unwrap(), ["the", "a"]);
    }

    #[test]
    fn empty_and_whitespace() {
        assert!(tok("").is_empty());
        assert!(tok(" \t\r\n <br /> ").is_empty());
    }

    #[test]
    fn config_serde_roundtrip_and_defaults() {
        let cfg = TokenizerConfig {
            stopwords: vec!["x".into()],
            ..Default::default()
        };
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<TokenizerConfig>(&json).unwrap(), cfg);
        let partial: TokenizerConfig = serde_json::from_str(r#"{"lowercase": false}"#).unwrap();
        assert!(!partial.lowercase && partial.strip_html && partial.segment_cjk);
    }

    #[test]
    fn tokenizer_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tokenizer>();
    }
}
