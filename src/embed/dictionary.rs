//! The word dictionary of a vector model and the character n-grams (subwords) of words, hashed
//! into buckets exactly as fastText does (Bojanowski et al. 2017, "Enriching Word Vectors with
//! Subword Information", §3.2; fastText `src/dictionary.cc`: `hash`, `computeSubwords`).
//!
//! Rows of the input matrix: `0..nwords` are the words of the dictionary, `nwords + h` is bucket
//! `h = fnv1a(ngram) % bucket` of a character n-gram of `<word>`.

use std::collections::HashMap;

/// fastText's 32-bit FNV-1a hash of a byte string, bytes **sign-extended** as fastText does
/// (`h ^= uint32_t(int8_t(c))`, kept so that released fastText models stay compatible), so a
/// byte ≥ 0x80 is xored as `0xFFFFFF80 | b`. Equal to fastText's `Dictionary::hash` for every
/// input, which makes our n-gram buckets those of fastText.
pub fn fasttext_hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// Appends to `out` the buckets (`fasttext_hash(ngram) % bucket`, without the `nwords` offset)
/// of the character n-grams of `<word>` with `minn ≤ n ≤ maxn` characters (UTF-8 scalar values),
/// in fastText's order: by start position, then by length. As in fastText, an n-gram of one
/// character is left out when it is the boundary `<` or `>`, the whole `<word>` is included when it
/// is at most `maxn` characters long, and repeated n-grams are repeated. Nothing is appended when
/// `maxn == 0` or `bucket == 0`.
pub fn push_ngram_buckets(word: &str, minn: usize, maxn: usize, bucket: usize, out: &mut Vec<u32>) {
    if maxn == 0 || bucket == 0 {
        return;
    }
    let mut bounded = Vec::with_capacity(word.len() + 2);
    bounded.push(b'<');
    bounded.extend_from_slice(word.as_bytes());
    bounded.push(b'>');
    let len = bounded.len();
    let continuation = |b: u8| b & 0xC0 == 0x80;
    for i in 0..len {
        if continuation(bounded[i]) {
            continue;
        }
        let mut j = i;
        let mut n = 1;
        while j < len && n <= maxn {
            j += 1;
            while j < len && continuation(bounded[j]) {
                j += 1;
            }
            if n >= minn && !(n == 1 && (i == 0 || j == len)) {
                out.push((fasttext_hash(&bounded[i..j]) as u64 % bucket as u64) as u32);
            }
            n += 1;
        }
    }
}

/// The words kept for training, most frequent first, with their counts.
#[derive(Clone, Debug, Default)]
pub struct Dictionary {
    words: Vec<String>,
    counts: Vec<u64>,
    index: HashMap<String, u32>,
}

impl Dictionary {
    /// A dictionary of `words` (ids in the given order) with their `counts` (same length).
    ///
    /// # Panics
    /// When the lengths differ or a word repeats (a programming error).
    pub fn new(words: Vec<String>, counts: Vec<u64>) -> Dictionary {
        assert_eq!(words.len(), counts.len(), "one count per word");
        let index: HashMap<String, u32> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        assert_eq!(index.len(), words.len(), "a word repeats in the dictionary");
        Dictionary {
            words,
            counts,
            index,
        }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The words, by id.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Occurrences of each word in the training text, by id.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The id of `word`, if it is in the dictionary.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }
}

/// The input-matrix rows of every dictionary word: its own row, then its n-gram rows
/// (`nwords + bucket`), as fastText's `Dictionary::initNgrams`. Flattened: word `w`'s rows are
/// `rows[offsets[w]..offsets[w + 1]]`.
#[derive(Clone, Debug, Default)]
pub struct SubwordTable {
    offsets: Vec<usize>,
    rows: Vec<u32>,
}

impl SubwordTable {
    /// The rows of each word of `dict` for n-grams of `minn..=maxn` characters hashed into
    /// `bucket` buckets.
    pub fn new(dict: &Dictionary, minn: usize, maxn: usize, bucket: usize) -> SubwordTable {
        let nwords = dict.len() as u32;
        let mut offsets = Vec::with_capacity(dict.len() + 1);
        let mut rows = Vec::new();
        let mut buckets = Vec::new();
        offsets.push(0);
        for (w, word) in dict.words().iter().enumerate() {
            rows.push(w as u32);
            buckets.clear();
            push_ngram_buckets(word, minn, maxn, bucket, &mut buckets);
            rows.extend(buckets.iter().map(|&b| nwords + b));
            offsets.push(rows.len());
        }
        SubwordTable { offsets, rows }
    }

    /// The input rows of word `id`: its own row first, then its n-grams'.
    #[inline]
    pub fn rows(&self, id: u32) -> &[u32] {
        let id = id as usize;
        &self.rows[self.offsets[id]..self.offsets[id + 1]]
    }

    /// The most rows of any word.
    pub fn max_rows(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(ngram, fastText id)` pairs printed by fastText 0.9.2's `get_subwords` for a model with
    /// 6 words, bucket 2,000,000, minn 3, maxn 6 (ids are `6 + hash % bucket`).
    const FASTTEXT: &[(&str, &[u32])] = &[
        (
            "hello",
            &[
                1188586, 128670, 1361314, 1760911, 1613748, 1198316, 1831729, 1068693, 1992350,
                798171, 1616887, 617348, 350918, 1504796,
            ],
        ),
        (
            "café",
            &[
                916753, 1991837, 794645, 17193, 369667, 454607, 761691, 960368, 1966018, 1609703,
            ],
        ),
        (
            "naïve",
            &[
                1806896, 1907698, 878196, 933207, 1590552, 1719410, 832049, 156693, 356838,
                1223013, 1505337, 1711576, 1788554, 1088660,
            ],
        ),
        ("日本語", &[758593, 4587, 524615, 35565, 928929, 1674361]),
        ("a", &[1087606]),
    ];

    #[test]
    fn ngram_buckets_are_fasttexts_including_non_ascii_bytes() {
        for (word, ids) in FASTTEXT {
            let mut got = Vec::new();
            push_ngram_buckets(word, 3, 6, 2_000_000, &mut got);
            let want: Vec<u32> = ids.iter().map(|id| id - 6).collect();
            assert_eq!(got, want, "{word}");
        }
    }

    #[test]
    fn ngrams_by_position_then_length_and_none_without_maxn() {
        // With a bucket larger than any hash the buckets are the hashes: compare them by name.
        let names = |word: &str, minn, maxn| {
            let mut got = Vec::new();
            push_ngram_buckets(word, minn, maxn, usize::MAX, &mut got);
            got
        };
        let h = |s: &str| fasttext_hash(s.as_bytes());
        assert_eq!(
            names("ab", 1, 2),
            [h("<a"), h("a"), h("ab"), h("b"), h("b>")]
        );
        assert_eq!(names("aa", 2, 2), [h("<a"), h("aa"), h("a>")]);
        assert_eq!(
            names("aaaa", 3, 3),
            [h("<aa"), h("aaa"), h("aaa"), h("aa>")]
        );
        assert!(names("word", 0, 0).is_empty());
        assert_eq!(fasttext_hash(b""), 2_166_136_261);
    }

    #[test]
    fn subword_table_puts_the_word_row_first() {
        let dict = Dictionary::new(vec!["hello".into(), "a".into()], vec![3, 1]);
        let t = SubwordTable::new(&dict, 3, 6, 2_000_000);
        assert_eq!(t.rows(0).len(), 15);
        assert_eq!(t.rows(0)[0], 0);
        assert_eq!(t.rows(0)[1], 2 + 1188586 - 6);
        assert_eq!(t.rows(1), [1, 2 + 1087606 - 6]);
        assert_eq!(t.max_rows(), 15);
        assert_eq!(dict.id("a"), Some(1));
        assert_eq!(dict.id("b"), None);
    }
}
