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
    let text =
        crate::fsutil::decode_bytes(&bytes, &path.display().to_string(), Default::default())?;
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
            lowered = lowercase(text);
            text = &lowered;
        }
        self.segment(text, |tok, _| out.push(tok.to_string()));
    }

    /// The tokens of [`Tokenizer::tokenize`] (the same strings, in the same order), each with
    /// the byte range of the **original** `text` it came from: the characters before HTML
    /// removal, entity decoding and lowercasing. A token made from a decoded entity covers the
    /// whole entity (`&amp;` → `&` spans 5 bytes); a token never covers a removed tag.
    /// Character (Unicode scalar) offsets: [`char_offsets`].
    pub fn tokenize_with_offsets(&self, text: &str) -> Vec<TokenSpan> {
        // `map[i]`: the byte range of the original text behind byte `i` of the processed text.
        let mut map: Vec<(usize, usize)> = Vec::new();
        let mut processed: std::borrow::Cow<str> = text.into();
        if self.config.strip_html && (text.contains('<') || text.contains('&')) {
            let mut cleaned = String::with_capacity(text.len());
            strip_html_into(text, &mut cleaned, Some(&mut map));
            processed = cleaned.into();
        } else {
            map.extend((0..text.len()).map(|i| (i, i + 1)));
        }
        if self.config.lowercase {
            let lowered = lowercase(&processed);
            let mut lower_map = Vec::with_capacity(lowered.len());
            let mut per_char_len = 0;
            for (i, c) in processed.char_indices() {
                let n: usize = c.to_lowercase().map(char::len_utf8).sum();
                per_char_len += n;
                let src = (map[i].0, map[i + c.len_utf8() - 1].1);
                lower_map.extend(std::iter::repeat_n(src, n));
            }
            if per_char_len == lowered.len() {
                map = lower_map;
                processed = lowered.into();
            } else {
                // `str::to_lowercase` changed a byte length beyond the per-character mapping
                // (no such rule is known besides the final sigma, which keeps the length):
                // lowercase character by character instead, so offsets stay right.
                processed = processed.chars().flat_map(char::to_lowercase).collect();
                map = lower_map;
            }
        }
        let mut out = Vec::with_capacity(processed.len() / 5 + 1);
        self.segment(&processed, |tok, at| {
            out.push(TokenSpan {
                text: tok.to_string(),
                start: map[at].0,
                end: map[at + tok.len() - 1].1,
            })
        });
        out
    }

    /// Splits cleaned, lowercased `text` into tokens: `emit(token, byte offset in text)`.
    fn segment(&self, text: &str, mut emit: impl FnMut(&str, usize)) {
        let base = text.as_ptr() as usize;
        // Every token is a sub-slice of `text`: its offset is the pointer difference.
        let mut push = |seg: &str| {
            if self.keep_token(seg) {
                emit(seg, seg.as_ptr() as usize - base);
            }
        };
        if self.config.segment_cjk && text.chars().any(is_han) {
            // Alternate between Han runs (jieba) and the rest (UAX #29).
            let mut rest = text;
            while !rest.is_empty() {
                let start = rest.find(is_han).unwrap_or(rest.len());
                for seg in rest[..start].split_word_bounds() {
                    push(seg);
                }
                rest = &rest[start..];
                if rest.is_empty() {
                    break;
                }
                let end = rest.find(|c| !is_han(c)).unwrap_or(rest.len());
                for tok in jieba().cut(&rest[..end], true) {
                    push(tok.word);
                }
                rest = &rest[end..];
            }
        } else {
            for seg in text.split_word_bounds() {
                push(seg);
            }
        }
    }

    /// Whether segment `seg` is a token (not whitespace, dropped punctuation or a stop word).
    #[inline]
    fn keep_token(&self, seg: &str) -> bool {
        let Some(first) = seg.chars().next() else {
            return false;
        };
        if first.is_whitespace() && seg.chars().all(char::is_whitespace) {
            return false;
        }
        if !self.config.keep_punctuation && seg.chars().all(is_punctuation) {
            return false;
        }
        self.stopwords.is_empty() || !self.stopwords.contains(seg)
    }
}

/// A token and the byte range `start..end` of the original text it came from (see
/// [`Tokenizer::tokenize_with_offsets`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSpan {
    /// The token, exactly as [`Tokenizer::tokenize`] gives it.
    pub text: String,
    /// Byte offset of its first character in the original text.
    pub start: usize,
    /// Byte offset just past its last character in the original text.
    pub end: usize,
}

/// Converts byte offsets of `text` (each on a character boundary, ascending or not) into
/// character (Unicode scalar value) offsets, in one pass over the text: what JavaScript's
/// `Array.from(text)` and Python's `str` index by.
pub fn char_offsets(text: &str, byte_offsets: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..byte_offsets.len()).collect();
    order.sort_by_key(|&i| byte_offsets[i]);
    let mut out = vec![0; byte_offsets.len()];
    let (mut chars, mut byte) = (0usize, 0usize);
    let mut it = text.char_indices().peekable();
    for i in order {
        let target = byte_offsets[i];
        while let Some(&(b, c)) = it.peek() {
            if b >= target {
                break;
            }
            byte = b + c.len_utf8();
            chars += 1;
            it.next();
        }
        debug_assert!(byte >= target || it.peek().is_none());
        out[i] = chars;
    }
    out
}

/// Lowercases as the tokenizer does (ASCII fast path).
fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

/// Removes HTML tags (each replaced by a space) and decodes common entities. A `<` not followed
/// by a letter, `/` or `!` is kept as text (`a < b`), as is an unknown entity.
pub fn strip_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    strip_html_into(text, &mut out, None);
    out
}

/// [`strip_html`] into `out`; with `map`, also records for every byte pushed to `out` the byte
/// range of `text` it came from (a byte of kept text: itself; a tag's space or a decoded
/// entity's character: the whole tag or entity).
fn strip_html_into(text: &str, out: &mut String, mut map: Option<&mut Vec<(usize, usize)>>) {
    let mut rest = text;
    // Once no '>' is left, no later '<' can open a tag: stop searching (keeps this linear).
    let mut closable = true;
    let base = text.as_ptr() as usize;
    // Appends `s` as a copy of the original bytes at `at..` (kept text).
    let kept = |out: &mut String, map: &mut Option<&mut Vec<(usize, usize)>>, s: &str| {
        if let Some(m) = map.as_deref_mut() {
            let at = s.as_ptr() as usize - base;
            m.extend((at..at + s.len()).map(|i| (i, i + 1)));
        }
        out.push_str(s);
    };
    // Appends `c` standing for the original bytes `from..to` (a tag or an entity).
    let replaced =
        |out: &mut String, map: &mut Option<&mut Vec<(usize, usize)>>, c: char, from, to| {
            if let Some(m) = map.as_deref_mut() {
                m.extend(std::iter::repeat_n((from, to), c.len_utf8()));
            }
            out.push(c);
        };
    while let Some(pos) = rest.find(['<', '&']) {
        kept(out, &mut map, &rest[..pos]);
        rest = &rest[pos..];
        let at = rest.as_ptr() as usize - base;
        if rest.starts_with('<') {
            let next = rest[1..].chars().next();
            let is_tag = matches!(next, Some(c) if c.is_ascii_alphabetic() || c == '/' || c == '!');
            if is_tag && closable {
                if let Some(end) = rest.find('>') {
                    replaced(out, &mut map, ' ', at, at + end + 1);
                    rest = &rest[end + 1..];
                    continue;
                }
                closable = false;
            }
            kept(out, &mut map, &rest[..1]);
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
                    replaced(out, &mut map, c, at, at + len);
                    rest = &rest[len..];
                }
                None => {
                    kept(out, &mut map, &rest[..1]);
                    rest = &rest[1..];
                }
            }
        }
    }
    kept(out, &mut map, rest);
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

    /// The original text of every token's span, for the offset tests.
    fn spans(text: &str, cfg: TokenizerConfig) -> Vec<(String, &str)> {
        let t = Tokenizer::new(cfg);
        let with = t.tokenize_with_offsets(text);
        assert_eq!(
            with.iter().map(|s| s.text.clone()).collect::<Vec<_>>(),
            t.tokenize(text),
            "the same tokens as tokenize: {text:?}"
        );
        for w in with.windows(2) {
            assert!(w[0].end <= w[1].start, "spans in order: {text:?}");
        }
        with.iter()
            .map(|s| (s.text.clone(), &text[s.start..s.end]))
            .collect()
    }

    #[test]
    fn offsets_point_into_the_original_text_through_html_and_entities() {
        let text = "Great<br /><br />FILM &amp; <b>cast</b> &quot;Wow&quot; a&lt;b";
        let got = spans(text, TokenizerConfig::default());
        let want = [
            ("great", "Great"),
            ("film", "FILM"),
            ("&", "&amp;"),
            ("cast", "cast"),
            ("\"", "&quot;"),
            ("wow", "Wow"),
            ("\"", "&quot;"),
            ("a", "a"),
            ("<", "&lt;"),
            ("b", "b"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        assert_eq!(got, want);
        // Without HTML stripping the tags are text: their letters are tokens at their place.
        let raw = TokenizerConfig {
            strip_html: false,
            ..Default::default()
        };
        let got = spans("<b>Hi</b>", raw);
        assert_eq!(got[1], ("b".to_string(), "b"));
        assert_eq!(got[3], ("hi".to_string(), "Hi"));
    }

    #[test]
    fn offsets_of_chinese_segmented_by_jieba_and_emoji() {
        let text = "我来到北京清华大学，很好！OK 😀👍🏽 Café";
        let got = spans(text, TokenizerConfig::default());
        let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        assert_eq!(
            got,
            [
                ("我", "我"),
                ("来到", "来到"),
                ("北京", "北京"),
                ("清华大学", "清华大学"),
                ("，", "，"),
                ("很", "很"),
                ("好", "好"),
                ("！", "！"),
                ("ok", "OK"),
                ("😀", "😀"),
                ("👍🏽", "👍🏽"),
                ("café", "Café"),
            ]
        );
        // Character offsets (what JavaScript's Array.from and Python index by): 北京 starts at
        // character 3; the emoji at character 16 and the thumbs-up with its skin-tone modifier
        // takes two scalar values.
        let t = Tokenizer::new(TokenizerConfig::default()).tokenize_with_offsets(text);
        let bytes: Vec<usize> = t.iter().flat_map(|s| [s.start, s.end]).collect();
        let chars = char_offsets(text, &bytes);
        assert_eq!(&chars[4..6], &[3, 5]);
        assert_eq!(&chars[18..22], &[16, 17, 17, 19]);
        let n = text.chars().count();
        assert_eq!(chars[22..], [n - 4, n]);
    }

    #[test]
    fn offsets_survive_lowercasing_that_changes_byte_lengths() {
        // 'İ' (2 bytes) lowercases to 'i' + U+0307 (3 bytes); 'ΑΣ' ends in a final sigma.
        let got = spans("İstanbul ΟΔΟΣ ok &#x4E2D;文", TokenizerConfig::default());
        let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        assert_eq!(got[0], ("i\u{307}stanbul", "İstanbul"));
        assert_eq!(got[1], ("οδος", "ΟΔΟΣ"));
        assert_eq!(got[2], ("ok", "ok"));
        // A decoded numeric entity joins jieba's segmentation with the following character.
        assert_eq!(
            got[3..].iter().map(|g| g.1).collect::<String>(),
            "&#x4E2D;文"
        );
    }

    #[test]
    fn offsets_match_tokens_on_mixed_inputs() {
        let cfg = TokenizerConfig {
            stopwords: english_stopwords(),
            keep_punctuation: false,
            ..Default::default()
        };
        for text in [
            "",
            "<p>The END.</p> a &lt; b &unknown; &#9731; <br/>x",
            "unclosed <b tag and a < b",
            "“Quotes” — dashes… 3.5/10 don't",
        ] {
            for (tok, src) in spans(text, cfg.clone()) {
                assert_eq!(tok, lowercase(&strip_html(src)).trim(), "{text:?}");
            }
        }
    }

    #[test]
    fn tokenizer_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tokenizer>();
    }
}
