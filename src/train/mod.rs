//! Training stage: the one run entry ([`RunRequest`]), hyperparameters, the training loop with
//! early stopping for every head, the n-gram branch, and resumable checkpoints.
//!
//! A run goes through four stages, one file each: `prepare` (labels, targets, vocabulary,
//! encodings), `build` (architecture, initial model, loss weights, bundle record), `fit`
//! (epochs, validation, best-epoch bundle, checkpoints) and `finish` (n-gram branch, the
//! head's calibration, test evaluation). Training writes the bundle, `metrics.jsonl`,
//! `report.json` and the checkpoint; the pictures and `report.html` are the caller's
//! (the `report` module).

mod arch_settings;
mod build;
mod checkpoint;
mod config;
mod finish;
pub(crate) mod fit;
pub mod ngram_stage;
pub mod observer;
mod output;
mod prepare;
mod run;
mod settings;
pub mod transfer;

pub use arch_settings::{ArchChoice, FromSettings};
pub use checkpoint::{Checkpoint, EpochProgress};
pub use config::{
    ArchKind, ClassWeight, MAX_THREADS, Metric, SEED_MAX_LEN, SEED_TRUNCATION, SettingError,
    check_training_memory,
};
pub use finish::BranchFitCost;
pub use fit::{
    EpochMetrics, StopReason, TrainData, TrainOptions, TrainOutcome, Validation,
    describe_architecture, train, train_observed,
};
pub use observer::{
    EpochEnd, MessageKind, Observers, RunStart, Silent, Stage, StageCost, StepEvent, TrainObserver,
    peak_rss_mib, rss_mib,
};
pub use output::{
    LOCK_FILE, OutputLock, abandoned_run, check_new_output, check_resumable, remove_leftovers,
    remove_stale_saves, stale_saves,
};
pub use run::{
    AlreadyFinished, DataSource, PreparedRun, RunRequest, RunSources, Start, finished_run,
};
pub use settings::{
    FinetuneFlags, FlagValue, HiddenWidths, SettingValues, TrainConfig, TrainFlags,
};
pub use transfer::{StartFrom, finetune_config};

pub use crate::head::label_ids;
