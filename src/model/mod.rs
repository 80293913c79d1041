//! Architectures built from config structs on top of the `nn` layers.

pub mod conv2d;
pub mod kim;
pub mod network;
pub mod ngram_only;
mod params;
pub mod registry;
pub mod trainer;

pub use conv2d::{Conv2dBlock, Conv2dConfig, Conv2dNet, InitScheme, PoolKind};
pub use kim::{Batch, ConvPath, KimCnn, KimConfig, Pooling};
pub use network::{Gradients, Network, NetworkConfig, ParamRole, ParamSpec};
pub(crate) use registry::for_each_arch;
pub use registry::{Architecture, Model, Trainer};
pub use trainer::{NetTrainer, StepStats};

/// Trainer of the Kim CNN.
pub type KimTrainer = NetTrainer<KimCnn>;
/// Trainer of the conv2d network.
pub type Conv2dTrainer = NetTrainer<Conv2dNet>;
