//! Everything needed to turn raw text into ids identically at train, eval, predict and serve time.

use rayon::prelude::*;

use super::encode::{EncodeConfig, Encoded, encode};
use super::tokenizer::Tokenizer;
use super::vocab::Vocab;

/// Tokenizer + vocabulary + encoding settings: the complete text-to-ids transform of a model.
#[derive(Clone, Debug)]
pub struct TextPipeline {
    /// Tokenizer (its config is stored in the model bundle).
    pub tokenizer: Tokenizer,
    /// Vocabulary built from the training split.
    pub vocab: Vocab,
    /// Truncation / padding settings.
    pub encode: EncodeConfig,
}

impl TextPipeline {
    /// Tokenizes and encodes one text.
    pub fn encode_text(&self, text: &str) -> Encoded {
        encode(&self.tokenizer.tokenize(text), &self.vocab, &self.encode)
    }

    /// Encodes many texts in parallel (rayon); output order is input order.
    pub fn encode_batch(&self, texts: &[&str]) -> Vec<Encoded> {
        texts.par_iter().map(|t| self.encode_text(t)).collect()
    }

    /// The token lists and the encodings of many texts, tokenizing each once (for models that
    /// read the tokens too, like the n-gram branch); in parallel, in input order.
    pub fn tokenize_and_encode(&self, texts: &[&str]) -> (Vec<Vec<String>>, Vec<Encoded>) {
        texts
            .par_iter()
            .map(|t| {
                let tokens = self.tokenizer.tokenize(t);
                let encoded = encode(&tokens, &self.vocab, &self.encode);
                (tokens, encoded)
            })
            .unzip()
    }
}

/// Tokenizes many texts in parallel (rayon); output order is input order.
pub fn tokenize_all(tokenizer: &Tokenizer, texts: &[&str]) -> Vec<Vec<String>> {
    texts.par_iter().map(|t| tokenizer.tokenize(t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{TokenizerConfig, Truncation};

    #[test]
    fn batch_matches_single_and_keeps_order() {
        let tokenizer = Tokenizer::new(TokenizerConfig::default());
        let texts: Vec<String> = (0..200)
            .map(|i| format!("Word{i} is <b>good</b>!"))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let toks = tokenize_all(&tokenizer, &refs);
        assert_eq!(toks[7], ["word7", "is", "good", "!"]);
        let vocab = Vocab::build(toks.iter().map(Vec::as_slice), 1, None);
        let p = TextPipeline {
            tokenizer,
            vocab,
            encode: EncodeConfig {
                max_len: 3,
                truncation: Truncation::Head,
                min_len: 5,
            },
        };
        let batch = p.encode_batch(&refs);
        assert_eq!(batch.len(), 200);
        for (i, e) in batch.iter().enumerate() {
            assert_eq!(*e, p.encode_text(refs[i]));
            assert_eq!(p.vocab.token(e.ids[0]).unwrap(), format!("word{i}"));
        }
        assert_eq!(
            batch[0].ids[1..],
            [p.vocab.id("is"), p.vocab.id("good"), 0, 0]
        );
        assert!(batch[0].truncated);
    }
}
