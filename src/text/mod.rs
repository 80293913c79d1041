//! Text stage: tokenizer, vocabulary and encoding of token sequences into ids.

pub mod encode;
pub mod pipeline;
pub mod tokenizer;
pub mod vectors;
pub mod vocab;

pub use encode::{EncodeConfig, Encoded, Truncation, encode};
pub use pipeline::{TextPipeline, tokenize_all};
pub use tokenizer::{
    TokenSpan, Tokenizer, TokenizerConfig, char_offsets, english_stopwords, load_stopwords,
};
pub use vectors::{EmbeddingMode, VectorFormat};
pub use vocab::{PAD_ID, PAD_TOKEN, UNK_ID, UNK_TOKEN, Vocab};
