//! textcnn: convolutional text classifiers (Kim 2014, "Convolutional Neural Networks for Sentence
//! Classification") — data readers, tokenization, a hand-written CPU compute core, training,
//! evaluation, prediction and model bundles.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! files/stdin ─► data (readers, splits) ─► text (tokenizer, vocab, encode) ─► batch (padding, bucketing)
//!     ─► nn (layers, optimizers, softmax) / model (architectures) / ngram (TF-IDF branch)
//!     ─► eval (scores) ─► head (single-label, multi-label) ─► bundle (safetensors + config + vocab)
//!     ─► predict ─► explain ─► train (run entry, loop, early stopping, checkpoints)
//!     ─► report (pictures, report.html, TensorBoard) / serve
//! ```
//!
//! No module reaches "up" the pipeline: the top-level modules import one way (a DAG, checked by
//! CI with `bench/module_cycles.py`); `nn` knows nothing of files, labels or the CLI, training
//! writes no report or explanation (the CLI does).
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
pub mod embed;
pub mod eval;
pub mod explain;
pub mod export;
pub mod fault;
pub mod fsutil;
pub mod head;
pub mod model;
pub mod ngram;
pub mod nn;
pub mod predict;
pub mod quant;
pub mod report;
pub mod serve;
pub mod text;
pub mod train;
