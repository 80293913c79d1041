//! Evaluation stage: classification metrics and reports.

mod metrics;

pub use metrics::{ClassMetrics, ClassificationReport, ConfusionMatrix};
