//! Training stage: hyperparameters, the training loop with early stopping, and resumable
//! checkpoints.

mod arch_settings;
mod checkpoint;
mod config;
pub(crate) mod fit;
pub mod ngram_stage;
pub mod observer;
mod settings;
pub mod transfer;

pub use arch_settings::{ArchChoice, FromSettings};
pub use checkpoint::{Checkpoint, EpochProgress};
pub use config::{
    ArchKind, ClassWeight, MAX_THREADS, Metric, SEED_MAX_LEN, SEED_TRUNCATION, SettingError,
    check_training_memory,
};
pub use fit::{
    EpochMetrics, StopReason, TrainData, TrainOptions, TrainOutcome, describe_architecture,
    evaluate, label_ids, train, train_observed,
};
pub use observer::{
    EpochEnd, MessageKind, Observers, RunStart, Silent, Stage, StepEvent, TrainObserver,
};
pub use settings::{
    FinetuneFlags, FlagValue, HiddenWidths, SettingValues, TrainConfig, TrainFlags,
};
pub use transfer::{StartFrom, finetune_config};
