//! Vocabulary: token ↔ id mapping with reserved `<pad>` = 0 and `<unk>` = 1, built from the
//! training split only, saved as a text file.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use anyhow::{Context, bail};

use crate::fsutil::write_atomic;

/// Id of the padding token `<pad>`.
pub const PAD_ID: u32 = 0;
/// Id of the unknown-token `<unk>` that every out-of-vocabulary token maps to.
pub const UNK_ID: u32 = 1;
/// Padding token string (line 1 of a vocabulary file).
pub const PAD_TOKEN: &str = "<pad>";
/// Unknown token string (line 2 of a vocabulary file).
pub const UNK_TOKEN: &str = "<unk>";

/// The FxHash function (as in rustc): much faster than SipHash on short keys such as tokens. Not
/// DoS-resistant, which does not matter for a vocabulary.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Token ↔ id mapping. Ids are dense: `0..len()`.
#[derive(Clone, Debug)]
pub struct Vocab {
    tokens: Vec<String>,
    counts: Vec<u64>,
    index: FxMap<String, u32>,
}

impl Default for Vocab {
    fn default() -> Self {
        Vocab::empty()
    }
}

impl Vocab {
    /// A vocabulary with only `<pad>` and `<unk>` (count 0 each).
    pub fn empty() -> Vocab {
        let mut v = Vocab {
            tokens: Vec::new(),
            counts: Vec::new(),
            index: FxMap::default(),
        };
        v.push(PAD_TOKEN, 0);
        v.push(UNK_TOKEN, 0);
        v
    }

    /// Builds a vocabulary from the token sequences of the *training* documents only.
    ///
    /// Tokens seen fewer than `min_count` times are left out; then at most `max_size` real tokens
    /// (not counting `<pad>`/`<unk>`) are kept. Order: count descending, ties by token string
    /// ascending (byte order), so two runs give identical ids. The count of `<unk>` is the number
    /// of training token occurrences left out.
    pub fn build<'a, I: IntoIterator<Item = &'a [String]>>(
        docs: I,
        min_count: usize,
        max_size: Option<usize>,
    ) -> Vocab {
        use rayon::prelude::*;
        let docs: Vec<&'a [String]> = docs.into_iter().collect();
        let count = |docs: &[&'a [String]]| {
            let mut m: FxMap<&'a str, u64> = FxMap::default();
            for doc in docs {
                for tok in doc.iter() {
                    *m.entry(tok.as_str()).or_insert(0) += 1;
                }
            }
            m
        };
        // Count in parallel over chunks of documents, then merge.
        let chunk = docs
            .len()
            .div_ceil(rayon::current_num_threads().max(1) * 4)
            .max(256);
        let counts = docs
            .par_chunks(chunk)
            .map(count)
            .reduce(FxMap::default, |a, b| {
                if a.len() >= b.len() {
                    merge(a, b)
                } else {
                    merge(b, a)
                }
            });
        let total: u64 = counts.values().sum();
        let mut entries: Vec<(&str, u64)> = counts
            .into_iter()
            .filter(|&(t, c)| c >= min_count as u64 && t != PAD_TOKEN && t != UNK_TOKEN)
            .collect();
        entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        if let Some(max) = max_size {
            entries.truncate(max);
        }
        let mut v = Vocab::empty();
        v.tokens.reserve(entries.len());
        v.counts.reserve(entries.len());
        v.index.reserve(entries.len());
        let kept: u64 = entries.iter().map(|e| e.1).sum();
        for (t, c) in entries {
            v.push(t, c);
        }
        v.counts[UNK_ID as usize] = total - kept;
        v
    }

    /// Number of entries, including `<pad>` and `<unk>`.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always `false`: `<pad>` and `<unk>` are always present.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Id of `token`, or [`UNK_ID`] when absent.
    pub fn id(&self, token: &str) -> u32 {
        self.get(token).unwrap_or(UNK_ID)
    }

    /// Id of `token`, `None` when absent.
    pub fn get(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    /// Token string of `id`, `None` when out of range.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Training count of `id` (0 for an out-of-range id).
    pub fn count(&self, id: u32) -> u64 {
        self.counts.get(id as usize).copied().unwrap_or(0)
    }

    /// All tokens in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Appends `token` with `count` and returns its new id; when the token exists already its id
    /// is returned and nothing changes. Used to extend a vocabulary when fine-tuning.
    pub fn push(&mut self, token: &str, count: u64) -> u32 {
        if let Some(id) = self.get(token) {
            return id;
        }
        let id = self.tokens.len() as u32;
        self.tokens.push(token.to_string());
        self.counts.push(count);
        self.index.insert(token.to_string(), id);
        id
    }

    /// Writes the vocabulary as UTF-8 text, one `token<TAB>count` line per id (line `i` = id `i`).
    /// In tokens, `\` is written as `\\`, a tab as `\t`, a newline as `\n` and a carriage return as
    /// `\r`. The file is written next to `path` under a temporary name, then renamed, so a reader
    /// never sees half a file.
    ///
    /// # Errors
    /// I/O errors, naming the file.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        write_atomic(path, &self.to_bytes())
    }

    /// The bytes [`Vocab::save`] writes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = String::with_capacity(self.tokens.len() * 12);
        for (t, c) in self.tokens.iter().zip(&self.counts) {
            escape_into(t, &mut buf);
            buf.push('\t');
            buf.push_str(&c.to_string());
            buf.push('\n');
        }
        buf.into_bytes()
    }

    /// Reads a file written by [`Vocab::save`].
    ///
    /// # Errors
    /// Names the file and the 1-based line when: the file cannot be read or is not UTF-8; a line is
    /// not `token<TAB>count` with a non-negative integer count; a token is empty or repeated; the
    /// first two lines are not `<pad>` and `<unk>`.
    pub fn load(path: &Path) -> anyhow::Result<Vocab> {
        let name = path.display().to_string();
        let bytes = crate::fsutil::read_file(path, crate::fsutil::Source::RegularFile, None)
            .with_context(|| format!("reading vocabulary {name}"))?;
        let text = crate::fsutil::decode_bytes(&bytes, &name, Default::default())?;
        let mut v = Vocab {
            tokens: Vec::new(),
            counts: Vec::new(),
            index: FxMap::default(),
        };
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                bail!("{name}:{lineno}: empty line in vocabulary (expected `token<TAB>count`)");
            }
            let Some((tok, count)) = line.rsplit_once('\t') else {
                bail!(
                    "{name}:{lineno}: malformed vocabulary entry {line:?} (expected `token<TAB>count`)"
                );
            };
            let count: u64 = count.parse().map_err(|_| {
                anyhow::anyhow!("{name}:{lineno}: malformed count {count:?} in vocabulary entry (expected a non-negative integer)")
            })?;
            let tok = unescape(tok)
                .ok_or_else(|| anyhow::anyhow!("{name}:{lineno}: bad escape in token {tok:?}"))?;
            if tok.is_empty() {
                bail!("{name}:{lineno}: empty token in vocabulary");
            }
            let expected = match i {
                0 => Some(PAD_TOKEN),
                1 => Some(UNK_TOKEN),
                _ => None,
            };
            if let Some(exp) = expected
                && tok != exp
            {
                bail!(
                    "{name}:{lineno}: expected {exp:?} here (lines 1 and 2 must be <pad> and <unk>), found {tok:?}"
                );
            }
            if let Some(prev) = v.get(&tok) {
                bail!(
                    "{name}:{lineno}: duplicate token {tok:?} (already on line {})",
                    prev + 1
                );
            }
            v.push(&tok, count);
        }
        if v.len() < 2 {
            bail!(
                "{name}: vocabulary has {} lines; it must start with <pad> and <unk>",
                v.len()
            );
        }
        Ok(v)
    }
}

/// Adds the counts of `small` into `big`.
fn merge<'a>(mut big: FxMap<&'a str, u64>, small: FxMap<&'a str, u64>) -> FxMap<&'a str, u64> {
    for (k, v) in small {
        *big.entry(k).or_insert(0) += v;
    }
    big
}

fn escape_into(tok: &str, out: &mut String) {
    for c in tok.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn unescape(tok: &str) -> Option<String> {
    if !tok.contains('\\') {
        return Some(tok.to_string());
    }
    let mut out = String::with_capacity(tok.len());
    let mut chars = tok.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                '\\' => out.push('\\'),
                't' => out.push('\t'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(texts: &[&str]) -> Vec<Vec<String>> {
        texts
            .iter()
            .map(|t| t.split(' ').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn build_orders_by_count_then_token() {
        let d = docs(&["b a c a", "c b d a", "e"]);
        let v = Vocab::build(d.iter().map(Vec::as_slice), 1, None);
        let toks: Vec<&str> = (0..v.len() as u32).map(|i| v.token(i).unwrap()).collect();
        assert_eq!(toks, ["<pad>", "<unk>", "a", "b", "c", "d", "e"]);
        assert_eq!(v.count(2), 3);
        assert_eq!(v.count(3), 2);
        assert_eq!(v.count(UNK_ID), 0);
        assert_eq!(v.id("d"), 5);
        assert_eq!(v.id("zzz"), UNK_ID);
        assert_eq!(v.get("zzz"), None);
        assert_eq!(v.token(99), None);
    }

    #[test]
    fn build_min_count_and_max_size() {
        let d = docs(&["b a c a", "c b d a", "e"]);
        let v = Vocab::build(d.iter().map(Vec::as_slice), 2, None);
        assert_eq!(v.len(), 5); // pad unk a b c
        assert_eq!(v.count(UNK_ID), 2); // d, e left out
        let v = Vocab::build(d.iter().map(Vec::as_slice), 1, Some(2));
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "a", "b"]);
        assert_eq!(v.count(UNK_ID), 4); // c c d e
    }

    #[test]
    fn build_is_deterministic() {
        let d = docs(&["x y z w v u t s r q p o n m l k"]);
        let a = Vocab::build(d.iter().map(Vec::as_slice), 1, None);
        for _ in 0..5 {
            let b = Vocab::build(d.iter().map(Vec::as_slice), 1, None);
            assert_eq!(a.tokens(), b.tokens());
        }
        assert_eq!(a.token(2), Some("k"));
    }

    #[test]
    fn parallel_counting_matches_sequential() {
        // Enough documents for several parallel chunks.
        let d: Vec<Vec<String>> = (0..3000)
            .map(|i| {
                (0..(i % 17))
                    .map(|j| format!("t{}", (i * 7 + j * 13) % 101))
                    .collect()
            })
            .collect();
        let v = Vocab::build(d.iter().map(Vec::as_slice), 1, None);
        let mut expected: std::collections::BTreeMap<&str, u64> = Default::default();
        for t in d.iter().flatten() {
            *expected.entry(t).or_insert(0) += 1;
        }
        assert_eq!(v.len(), expected.len() + 2);
        for (t, c) in &expected {
            assert_eq!(v.count(v.id(t)), *c, "{t}");
        }
        let mut order: Vec<(&str, u64)> = expected.into_iter().collect();
        order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let got: Vec<&str> = v.tokens()[2..].iter().map(String::as_str).collect();
        assert_eq!(got, order.iter().map(|e| e.0).collect::<Vec<_>>());
    }

    #[test]
    fn push_appends_or_returns_existing() {
        let mut v = Vocab::empty();
        assert_eq!(v.push("hello", 3), 2);
        assert_eq!(v.push("world", 1), 3);
        assert_eq!(v.push("hello", 9), 2);
        assert_eq!(v.count(2), 3);
        assert_eq!(v.len(), 4);
    }

    #[test]
    fn save_load_roundtrip_with_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vocab.txt");
        let mut v = Vocab::empty();
        v.push("the", 10);
        v.push("a\\b", 2);
        v.push("tab\there", 1);
        v.save(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "<pad>\t0\n<unk>\t0\nthe\t10\na\\\\b\t2\ntab\\there\t1\n"
        );
        let w = Vocab::load(&p).unwrap();
        assert_eq!(w.tokens(), v.tokens());
        assert_eq!(w.count(2), 10);
        assert_eq!(w.id("tab\there"), 4);
        // no temporary file left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn load_rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.txt");
        let err = |content: &str| {
            std::fs::write(&p, content).unwrap();
            format!("{:#}", Vocab::load(&p).unwrap_err())
        };
        let e = err("<pad>\t0\n<unk>\t0\nthe\t5\ncat\t3\nthe\t1\n");
        assert!(
            e.contains("v.txt:5") && e.contains("duplicate token \"the\"") && e.contains("line 3"),
            "{e}"
        );
        let e = err("<pad>\t0\n<unk>\t0\nthe 5\n");
        assert!(e.contains("v.txt:3") && e.contains("malformed"), "{e}");
        let e = err("<pad>\t0\n<unk>\t0\nthe\tfive\n");
        assert!(
            e.contains("v.txt:3") && e.contains("malformed count"),
            "{e}"
        );
        let e = err("the\t5\n");
        assert!(e.contains("v.txt:1") && e.contains("<pad>"), "{e}");
        let e = err("");
        assert!(e.contains("v.txt") && e.contains("0 lines"), "{e}");
    }
}
