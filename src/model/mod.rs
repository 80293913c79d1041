//! Architectures built from config structs on top of the `nn` layers.

pub mod any;
mod architecture;
pub mod conv2d;
pub mod conv2d_trainer;
pub mod kim;
mod params;
pub mod trainer;

pub use any::{Model, Trainer};
pub use architecture::Architecture;
pub use conv2d::{Conv2dBlock, Conv2dConfig, Conv2dNet, InitScheme, PoolKind};
pub use conv2d_trainer::Conv2dTrainer;
pub use kim::{Batch, ConvPath, KimCnn, KimConfig};
pub use trainer::{KimTrainer, StepStats};
