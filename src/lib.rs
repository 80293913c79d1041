//! textcnn: convolutional text classifiers (Kim 2014, "Convolutional Neural Networks for Sentence
//! Classification") — data readers, tokenization, a hand-written CPU compute core, training,
//! evaluation, prediction and model bundles.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! files/stdin ─► data (readers, splits) ─► text (tokenizer, vocab, encode) ─► batches of ids
//!     ─► nn (layers, optimizers) / model (architectures) ─► train (loop, early stopping)
//!     ─► bundle (safetensors + config + vocab) ─► predict / eval
//! ```
//!
//! No module reaches "up" the pipeline: `nn` knows nothing of files, labels or the CLI.

pub mod data;
pub mod eval;
pub mod model;
pub mod nn;
pub mod text;
