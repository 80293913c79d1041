//! Text stage: tokenizer, vocabulary and encoding of token sequences into ids.
