//! textcnn: convolutional text classifiers (Kim 2014, "Convolutional Neural Networks for Sentence
//! Classification") — data readers, tokenization, a hand-written CPU compute core, training,
//! evaluation, prediction and model bundles.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! files/stdin ─► data (readers, splits) ─► text (tokenizer, vocab, encode) ─► batch (padding, bucketing)
//!     ─► nn (layers, optimizers) / model (architectures) ─► train (loop, early stopping, checkpoints)
//!     ─► bundle (safetensors + config + vocab) ─► predict / eval / explain / report
//! ```
//!
//! No module reaches "up" the pipeline: `nn` knows nothing of files, labels or the CLI.
//!
//! ```no_run
//! let classifier = textcnn::predict::Classifier::load(std::path::Path::new("runs/imdb"))?;
//! for p in classifier.predict(&["A wonderful, moving film.", "Dull and far too long."]) {
//!     println!("{} {:.3}", p.label, p.probability);
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod batch;
pub mod bundle;
pub mod data;
pub mod eval;
pub mod explain;
pub mod fsutil;
pub mod model;
pub mod multilabel;
pub mod ngram;
pub mod nn;
pub mod predict;
pub mod report;
pub mod serve;
pub mod text;
pub mod train;
