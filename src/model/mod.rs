//! Architectures built from config structs on top of the `nn` layers.

pub mod kim;
pub mod trainer;

pub use kim::{Batch, KimCnn, KimConfig};
pub use trainer::{KimTrainer, StepStats};
