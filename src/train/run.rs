//! The one entry of a training run, shared by the CLI (`textcnn train`, `finetune`,
//! `train --resume`) and the Python API: what the caller asks for ([`RunRequest`]) is checked
//! once, as ripgrep turns its flags into `HiArgs` or linfa checks a `ParamGuard`, into a
//! [`PreparedRun`] — settings validated, the head chosen, the output folder checked and locked,
//! the data read and split — which then trains. Both front ends so get the same checks, the
//! same messages and the same record of the run (`config.json` → `training.run`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::config::{Metric, TrainConfig};
use super::fit::{StopReason, TrainData, TrainOptions, TrainOutcome, epochs_done, train_observed};
use super::observer::TrainObserver;
use super::output::{
    OutputLock, check_new_output, check_resumable, remove_leftovers, remove_stale_saves,
    stale_saves,
};
use super::transfer::StartFrom;
use crate::data::{
    Dataset, LabelLayout, ReadOptions, detect_multi_label, load_dataset, split, split_warnings,
};
use crate::head::HeadKind;
use crate::text::EmbeddingMode;

/// Where a dataset of a run comes from.
pub enum DataSource {
    /// A dataset spec, read with the run's [`ReadOptions`] (`imdb:train`, a file, a folder).
    Spec(String),
    /// Examples already in memory (the Python API's lists); a run with them cannot be resumed.
    Dataset(Dataset),
}

/// The error of `--resume` on a run that already finished: its bundle is complete (and
/// loads) and its checkpoint says every epoch is done. The CLI says "nothing to do" and exits
/// 0; nothing in the folder is touched.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}: this run already finished ({how}) and its model is complete; nothing to resume. To \
     train further, use `textcnn finetune --model {}`",
    dir.display(),
    dir.display()
)]
pub struct AlreadyFinished {
    /// The run's folder.
    pub dir: PathBuf,
    /// How its epochs ended (`all 5 epochs`, `early stopping after epoch 3`).
    pub how: String,
    /// A note naming the temporary files of an interrupted save that were removed (a run
    /// killed while the CLI wrote its report), if any.
    pub removed: Option<String>,
}

/// The run in `dir` when it already finished: its bundle loads as complete
/// ([`crate::bundle::Bundle::load`]) and its checkpoint says every epoch is done (all of them,
/// or early stopping), or it is an `--arch ngram` model (no epochs, no checkpoint).
/// `None` for a run that can be resumed, or a folder without a run.
pub fn finished_run(dir: &Path) -> Option<AlreadyFinished> {
    let bundle = crate::bundle::Bundle::load(dir).ok()?;
    if bundle.model.architecture().num_params() == 0 {
        // `--arch ngram`: no epochs and no checkpoint; a complete bundle is a finished run.
        return Some(AlreadyFinished {
            dir: dir.to_path_buf(),
            how: "its n-gram branch is fitted".to_string(),
            removed: None,
        });
    }
    if !dir.join("checkpoint").join("state.json").exists() {
        // A complete bundle whose checkpoint was dropped at the end of its run (the default).
        return Some(AlreadyFinished {
            dir: dir.to_path_buf(),
            how: "its checkpoint was dropped when it ended".to_string(),
            removed: None,
        });
    }
    let ckpt = Checkpoint::load(dir).ok()?;
    let examples = bundle.config.dataset["train"]["examples"].as_u64()? as usize;
    let steps = examples.div_ceil(ckpt.config.batch_size.min(examples).max(1));
    let max_epochs = ckpt.config.max_epochs(steps);
    let patience = ckpt.config.patience_epochs(steps);
    let how = match epochs_done(&ckpt.progress, max_epochs, patience)? {
        StopReason::EarlyStopped => format!(
            "early stopping after epoch {}",
            ckpt.progress.epoch.saturating_sub(1)
        ),
        _ => format!("all {max_epochs} epochs"),
    };
    Some(AlreadyFinished {
        dir: dir.to_path_buf(),
        how,
        removed: None,
    })
}

/// How a run starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Start {
    /// A new model in a new (or empty) output folder.
    #[default]
    New,
    /// Continue the interrupted run in the output folder, with its recorded settings and data.
    Resume,
    /// Continue a saved bundle on new data (`textcnn finetune`): a new bundle in the output
    /// folder, the parent never written to.
    Finetune {
        /// The parent bundle.
        parent: PathBuf,
        /// Labels the parent lacks grow its output layer instead of being an error.
        allow_new_labels: bool,
    },
}

/// What a caller asks a run to do: settings, data, head and output folder, unchecked.
pub struct RunRequest {
    /// The training settings (for a resumed run: ignored, the checkpoint's are used).
    pub config: TrainConfig,
    /// Names of the settings the caller set explicitly (snake_case, e.g. `emb_dim`): the others
    /// may be filled in (the embedding width of `pretrained` vectors, the head's validation
    /// metric), and a resumed run refuses any.
    pub explicit: BTreeSet<String>,
    /// The head; `None`: the parent's when fine-tuning, the checkpoint's when resuming, else
    /// multi-label when the data says so (a label layout, a fastText line with several labels,
    /// JSONL label lists, in-memory label sets), single-label otherwise.
    pub head: Option<HeadKind>,
    /// Training data (`None` only when resuming).
    pub train: Option<DataSource>,
    /// How to read the specs (the head chosen decides whether label sets are read, see
    /// [`ReadOptions::multi_label`]).
    pub read: ReadOptions,
    /// Validation data; `None`: a `valid_fraction` of the training data.
    pub valid: Option<DataSource>,
    /// The output folder: new or empty for a new or fine-tuning run (leftovers of a run that
    /// saved nothing are removed), the interrupted run's folder to resume.
    pub output: PathBuf,
    /// Test data, evaluated once at the end.
    pub test: Option<DataSource>,
    /// New, resumed or fine-tuned.
    pub start: Start,
    /// Extra fields of the run's record (e.g. `"api": "python"`).
    pub tags: serde_json::Map<String, serde_json::Value>,
    /// Keep `checkpoint/` when the run finishes ([`TrainOptions::keep_checkpoint`]).
    pub keep_checkpoint: bool,
}

impl RunRequest {
    /// A new run of `config` writing to `output`, with no data yet.
    pub fn new(config: TrainConfig, output: impl Into<PathBuf>) -> RunRequest {
        RunRequest {
            config,
            explicit: BTreeSet::new(),
            head: None,
            train: None,
            valid: None,
            test: None,
            read: ReadOptions::default(),
            output: output.into(),
            start: Start::New,
            tags: serde_json::Map::new(),
            keep_checkpoint: false,
        }
    }
}

/// What a run reloads on `--resume` and records in the bundle (`config.json` →
/// `training.run`): its data specs and how they are read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSources {
    /// Training data spec (or, for in-memory data, its name).
    pub train: String,
    /// Validation data spec.
    pub valid: Option<String>,
    /// Test data spec.
    pub test: Option<String>,
    /// How the specs are read.
    pub read: ReadOptions,
    /// `textcnn finetune`: the bundle continued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<PathBuf>,
    /// `textcnn finetune --allow-new-labels`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_new_labels: bool,
    /// Label sets: how the labels are laid out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_label: Option<LabelLayout>,
    /// The head (left out for single-label runs).
    #[serde(default, skip_serializing_if = "HeadKind::is_single_label")]
    pub head: HeadKind,
    /// Fingerprints ([`crate::data::Dataset::fingerprint`]) of the training and validation
    /// examples the run trains on (after the validation split): `--resume` refuses data that
    /// changed since. Left out by records made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprints: Option<DataFingerprints>,
    /// The caller's extra fields ([`RunRequest::tags`]).
    #[serde(flatten)]
    pub tags: serde_json::Map<String, serde_json::Value>,
}

/// Fingerprints of a run's training and validation examples (see [`RunSources::fingerprints`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataFingerprints {
    /// Of the training examples.
    pub train: String,
    /// Of the validation examples.
    pub valid: String,
}

impl DataFingerprints {
    /// The fingerprints of `train` and `valid`.
    pub fn of(train: &Dataset, valid: &Dataset) -> DataFingerprints {
        DataFingerprints {
            train: train.fingerprint(),
            valid: valid.fingerprint(),
        }
    }

    /// The error of `--resume` when the data read now (`self`) differ from the data the
    /// checkpoint was trained on (`recorded`); `sources` name the data.
    fn check_same(&self, recorded: &DataFingerprints, sources: &RunSources) -> Result<()> {
        let train = &sources.train;
        let valid = match &sources.valid {
            Some(v) => format!("{v}: the validation data"),
            None => {
                format!("{train}: the texts held out from it for validation (--valid-fraction)")
            }
        };
        for (what, now, then) in [
            (
                format!("{train}: the training data"),
                &self.train,
                &recorded.train,
            ),
            (valid, &self.valid, &recorded.valid),
        ] {
            if now != then {
                bail!(
                    "{what} changed since the run started (then {then}, now {now}); --resume \
                     continues a run on the data it started with: restore the file, or start a \
                     new run (textcnn train --output NEW_DIR)"
                );
            }
        }
        Ok(())
    }
}

/// The error `e` of reading data spec `spec` for `--resume`, with what `--resume` reads: the
/// specs the run started with, a relative path from the current folder.
fn resume_read_error(e: anyhow::Error, spec: &str) -> anyhow::Error {
    // `imdb:train` and the like are not paths.
    let relative = Path::new(spec).is_relative() && !spec.contains(':');
    let (read_from, or) = if relative {
        (
            " (a relative path is read from the current folder)",
            ", or run --resume from the folder the run started in",
        )
    } else {
        ("", "")
    };
    anyhow::anyhow!(
        "{e:#}\n--resume reads the data the run started with, as it named them{read_from}: \
         restore them{or}"
    )
}

impl RunSources {
    /// The recorded head (records of multi-label runs made before `head` existed name it by
    /// their label layout).
    pub fn head_kind(&self) -> HeadKind {
        match (self.head, &self.multi_label) {
            (HeadKind::SingleLabel, Some(_)) => HeadKind::MultiLabel,
            (h, _) => h,
        }
    }

    /// The reader options with the recorded label layout and mode.
    pub fn read_options(&self) -> ReadOptions {
        let mut read = self.read.clone();
        read.layout = self.multi_label.clone().unwrap_or_default();
        read.multi_label = self.head_kind().head().reads_label_sets();
        read
    }
}

/// A run whose settings, head, output folder and data are checked, ready to train: the output
/// folder stays locked until it is dropped.
pub struct PreparedRun {
    config: TrainConfig,
    head: HeadKind,
    train: Dataset,
    valid: Dataset,
    test: Option<Dataset>,
    output: PathBuf,
    lock: OutputLock,
    resume: bool,
    keep_checkpoint: bool,
    start_from: Option<StartFrom>,
    run_info: serde_json::Value,
    notes: Vec<String>,
    info: Vec<String>,
    warnings: Vec<String>,
}

impl RunRequest {
    /// Checks everything once and reads the data: the settings (with the embedding width of
    /// `pretrained` / `init_from` vectors and the head's validation metric filled in when not
    /// set), the head, the output folder (new or empty, or holding a checkpoint to resume;
    /// then locked), the data (read as the head reads it, split when no validation data is
    /// given).
    ///
    /// # Errors
    /// Invalid or contradictory settings, settings given to a resumed run, an output folder
    /// that holds files, a model or another training's lock, or no checkpoint to resume;
    /// unreadable data, or no validation data; each message says what to change.
    pub fn prepare(self) -> Result<PreparedRun> {
        let (mut notes, mut info) = (Vec::new(), Vec::new());
        let output = self.output.clone();
        let (config, head, sources, resume, start_from, lock) = match &self.start {
            Start::Resume => {
                let (config, head, sources, start_from, lock) = self.resumed(&mut notes)?;
                (config, head, Some(sources), true, start_from, lock)
            }
            Start::New | Start::Finetune { .. } => {
                let (config, head, start_from, lock) = self.started(&mut notes, &mut info)?;
                (config, head, None, false, start_from, lock)
            }
        };
        let keep_checkpoint = self.keep_checkpoint;
        let (new, explicit) = (self.start == Start::New, self.explicit.clone());
        let result = self.read_data(&config, head, sources, &mut info);
        let (train, valid, test, run_info, warnings) = match result {
            Ok(r) => r,
            Err(e) => {
                lock.discard_if_unused();
                return Err(e);
            }
        };
        let mut config = config;
        if new {
            // Settings that depend on the training texts (after the validation split).
            let multi = head == HeadKind::MultiLabel;
            let set = config.apply_kim_small_data(train.len(), multi, &explicit);
            if !set.is_empty() {
                info.push(format!(
                    "the CNN on {} training texts (fewer than {}): {} (its small-data settings; \
                     give --emb-dim, --region-sizes or --patience to change them)",
                    train.len(),
                    super::config::kim_small_data_bound(),
                    set.join(", "),
                ));
            }
            if let Err(e) = config.validate() {
                lock.discard_if_unused();
                return Err(e);
            }
        }
        Ok(PreparedRun {
            config,
            head,
            train,
            valid,
            test,
            output,
            lock,
            resume,
            keep_checkpoint,
            start_from,
            run_info,
            notes,
            info,
            warnings,
        })
    }

    /// The settings, head, run description, parent and lock of `--resume`: refused when the
    /// folder holds a finished run (after tidying what a killed run left), settings were given
    /// or there is no checkpoint; stale saves of an interrupted run are removed (`notes`).
    fn resumed(
        &self,
        notes: &mut Vec<String>,
    ) -> Result<(
        TrainConfig,
        HeadKind,
        RunSources,
        Option<StartFrom>,
        OutputLock,
    )> {
        let output = &self.output;
        if !self.explicit.is_empty() {
            bail!(
                "--resume continues a run with its recorded settings; drop {}",
                self.explicit
                    .iter()
                    .map(|n| format!("--{}", n.replace('_', "-")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        // Before the lock: a finished run's folder is not touched (but for what an
        // interrupted save of its report left, removed under the lock, and the
        // checkpoint of a run killed before it dropped it, unless asked to keep it).
        if let Some(mut done) = finished_run(output) {
            let keep = Checkpoint::load(output)
                .map(|c| c.tensors)
                .unwrap_or_default();
            // A checkpoint kept on purpose (`--keep-checkpoint` when the run finished)
            // stays; one without the mark is what a kill before its removal left.
            let drop_checkpoint = !self.keep_checkpoint
                && output.join("checkpoint").exists()
                && !Checkpoint::is_kept(output);
            if (drop_checkpoint || !stale_saves(output, &keep).is_empty())
                && let Ok(_lock) = OutputLock::acquire(output)
            {
                done.removed = remove_stale_saves(output, &keep);
                if drop_checkpoint {
                    Checkpoint::remove(output)?;
                    let note = "removed the finished run's checkpoint/ (keep it with \
                                --keep-checkpoint)"
                        .to_string();
                    done.removed = Some(match done.removed {
                        Some(r) => format!("{r}; {note}"),
                        None => note,
                    });
                }
            }
            return Err(done.into());
        }
        check_resumable(output)?;
        let ckpt = Checkpoint::load(output)?;
        let sources: RunSources = serde_json::from_value(ckpt.run.clone()).with_context(|| {
            format!(
                "{}: checkpoint has no usable run description",
                output.display()
            )
        })?;
        ckpt.config.validate()?;
        let lock = OutputLock::acquire(output)?;
        notes.extend(remove_stale_saves(output, &ckpt.tensors));
        let start_from = sources
            .parent
            .as_deref()
            .map(|p| StartFrom::load(p, sources.allow_new_labels))
            .transpose()?;
        let head = sources.head_kind();
        Ok((ckpt.config, head, sources, start_from, lock))
    }

    /// The settings, head, parent (fine-tuning) and lock of a new or fine-tuning run: the
    /// output folder must be new or empty (leftovers of an interrupted start are removed:
    /// `notes`).
    fn started(
        &self,
        notes: &mut Vec<String>,
        info: &mut Vec<String>,
    ) -> Result<(TrainConfig, HeadKind, Option<StartFrom>, OutputLock)> {
        let output = &self.output;
        let start_from = match &self.start {
            Start::Finetune {
                parent,
                allow_new_labels,
            } => {
                if crate::fsutil::same_file(parent, output) {
                    bail!(
                        "--output must differ from --model: the original bundle is never modified"
                    );
                }
                Some(StartFrom::load(parent, *allow_new_labels)?)
            }
            _ => None,
        };
        let config = self.checked_config(info)?;
        let head = self.head_kind(start_from.as_ref(), info)?;
        let config = with_head_metric(config, head, &self.explicit)?;
        check_new_output(output)?;
        let lock = OutputLock::acquire(output)?;
        // Again under the lock: another run may have written here since the first check.
        let stale = check_new_output(output)?;
        notes.extend(remove_leftovers(output, &stale));
        Ok((config, head, start_from, lock))
    }

    /// The settings of a new or fine-tuning run, completed and checked (what a source bundle
    /// gave said in `info`).
    fn checked_config(&self, info: &mut Vec<String>) -> Result<TrainConfig> {
        let mut config = self.config.clone();
        let width = !self.explicit.contains("emb_dim");
        if self.start == Start::New
            && width
            && let Some(p) = &config.pretrained
        {
            // The embedding width of pretrained vectors, unless given.
            config.emb_dim = crate::text::vectors::peek_dim(p, config.pretrained_format)?;
        } else if self.start == Start::New
            && (width || config.init_conv)
            && let Some(dir) = config.init_from.clone()
        {
            // A source bundle's embedding width, and with --init-conv the shape of its feature
            // layers, unless given.
            let b = crate::bundle::Bundle::load(&dir)
                .with_context(|| format!("--init-from {}", dir.display()))?;
            if width {
                config.emb_dim = b.model.embedding().ok_or_else(|| no_embedding(&dir))?.1;
            }
            if config.init_conv {
                let set = super::transfer::take_feature_shape(
                    &mut config,
                    &b.model.architecture(),
                    &self.explicit,
                );
                if !set.is_empty() {
                    info.push(format!(
                        "--init-conv: {} as {}'s feature layers (give them to change them)",
                        set.join(" "),
                        dir.display()
                    ));
                }
            }
        }
        // The settings' own checks (an architecture that cannot take --embedding, ...) before
        // the check of the initial vectors below.
        config.validate()?;
        if self.start == Start::New
            && config.embedding != EmbeddingMode::NonStatic
            && config.pretrained.is_none()
            && config.init_from.is_none()
            && config.unlabeled.is_none()
        {
            bail!(
                "--embedding {} needs initial vectors: give --pretrained FILE, --unlabeled TEXT or \
                 --init-from MODEL",
                config.embedding
            );
        }
        Ok(config)
    }

    /// The head of a new or fine-tuning run: the one asked for, the parent's, or the one the
    /// data implies (said in `notes`).
    fn head_kind(&self, parent: Option<&StartFrom>, notes: &mut Vec<String>) -> Result<HeadKind> {
        let sets = self.read.multi_label || self.read.layout.any();
        if let Some(h) = self.head {
            if sets && !h.head().reads_label_sets() {
                bail!(
                    "the {} head reads one label per text; drop --multi-label, --label-sep, \
                     --label-columns and --label-column-prefix, or train --head multi-label",
                    h.name()
                );
            }
            return Ok(h);
        }
        if let Some(p) = parent {
            return Ok(p.bundle.config.head()?.kind());
        }
        if sets {
            return Ok(HeadKind::MultiLabel);
        }
        let reason = match &self.train {
            Some(DataSource::Spec(spec)) => detect_multi_label(spec, &self.read),
            Some(DataSource::Dataset(ds)) => ds
                .has_label_sets()
                .then(|| format!("{}: texts with several labels", ds.name)),
            None => None,
        };
        Ok(match reason {
            Some(reason) => {
                notes.push(format!(
                    "multi-label data detected ({reason}): training one sigmoid per label \
                     (pass --multi-label to say so, or --format to read it otherwise)"
                ));
                HeadKind::MultiLabel
            }
            None => HeadKind::SingleLabel,
        })
    }

    /// The reader options and data of a new run as `head` reads them, and their record.
    #[allow(clippy::type_complexity)]
    fn new_sources(
        self,
        head: HeadKind,
    ) -> (
        ReadOptions,
        Option<DataSource>,
        Option<DataSource>,
        Option<DataSource>,
        RunSources,
    ) {
        let sets = head.head().reads_label_sets();
        let mut read = self.read;
        read.multi_label = sets;
        let name = |d: &Option<DataSource>| {
            d.as_ref().map(|d| match d {
                DataSource::Spec(s) => s.clone(),
                DataSource::Dataset(ds) => ds.name.clone(),
            })
        };
        let (parent, allow_new_labels) = match &self.start {
            Start::Finetune {
                parent,
                allow_new_labels,
            } => (Some(parent.clone()), *allow_new_labels),
            _ => (None, false),
        };
        let sources = RunSources {
            train: name(&self.train).unwrap_or_default(),
            valid: name(&self.valid),
            test: name(&self.test),
            read: read.clone(),
            parent,
            allow_new_labels,
            multi_label: sets.then(|| read.layout.clone()),
            head,
            fingerprints: None,
            tags: self.tags,
        };
        (read, self.train, self.valid, self.test, sources)
    }

    /// Reads (and splits) the data as `head` reads it; returns the datasets, the run's record
    /// and the data's warnings.
    #[allow(clippy::type_complexity)]
    fn read_data(
        self,
        config: &TrainConfig,
        head: HeadKind,
        sources: Option<RunSources>,
        info: &mut Vec<String>,
    ) -> Result<(
        Dataset,
        Dataset,
        Option<Dataset>,
        serde_json::Value,
        Vec<String>,
    )> {
        let sets = head.head().reads_label_sets();
        let resumed = sources.is_some();
        let (read, train, valid, test, mut sources) = match sources {
            Some(s) => (
                s.read_options(),
                Some(DataSource::Spec(s.train.clone())),
                s.valid.clone().map(DataSource::Spec),
                s.test.clone().map(DataSource::Spec),
                s,
            ),
            None => self.new_sources(head),
        };
        let load = |d: DataSource| -> Result<Dataset> {
            match d {
                DataSource::Spec(spec) => load_dataset(&spec, &read).map_err(|e| {
                    if resumed {
                        resume_read_error(e, &spec)
                    } else {
                        e
                    }
                }),
                DataSource::Dataset(ds) => Ok(ds),
            }
        };
        let Some(train) = train else {
            bail!("no training data: give --train (or train=)");
        };
        let mut warnings = Vec::new();
        let full = load(train)?;
        warnings.extend(full.issues());
        if sets {
            info.push(full.summary());
        }
        let stratified = head.head().stratified_split();
        let (train, valid) = match valid {
            Some(v) => {
                let v = load(v)?;
                warnings.extend(v.issues());
                if sets {
                    info.push(v.summary());
                }
                (full, v)
            }
            None => {
                if config.valid_fraction <= 0.0 {
                    bail!(
                        "no validation data: give --valid (valid=) or a --valid-fraction (valid_fraction=) above 0"
                    );
                }
                if stratified {
                    warnings.extend(
                        split_warnings(&full, config.valid_fraction, "validation")
                            .into_iter()
                            .map(|w| format!("{}: {w}", full.name)),
                    );
                }
                split(&full, config.valid_fraction, config.seed, stratified)
            }
        };
        let test = test.map(load).transpose()?;
        if let Some(t) = &test {
            warnings.extend(t.issues());
            if sets {
                info.push(t.summary());
            }
        }
        sources.head = head;
        let fingerprints = DataFingerprints::of(&train, &valid);
        match &sources.fingerprints {
            Some(recorded) => fingerprints.check_same(recorded, &sources)?,
            None if resumed => info.push(
                "the checkpoint records no fingerprint of its data (it was made before they \
                 existed): --resume cannot check that the data are the ones the run started with"
                    .to_string(),
            ),
            None => {}
        }
        sources.fingerprints = Some(fingerprints);
        let run_info = serde_json::to_value(&sources)?;
        Ok((train, valid, test, run_info, warnings))
    }
}

/// The head's validation metric (multi-label: micro-F1) when the caller named none and the
/// settings hold the default (accuracy).
///
/// # Errors
/// A metric of label sets (`jaccard`, `subset-acc`) for a single-label run.
fn with_head_metric(
    mut config: TrainConfig,
    head: HeadKind,
    explicit: &BTreeSet<String>,
) -> Result<TrainConfig> {
    if !explicit.contains("metric") && config.metric == Metric::Acc {
        config.metric = head.head().default_metric();
    }
    if config.metric.multi_label_only() && head != HeadKind::MultiLabel {
        bail!(
            "--metric {} scores label sets: it needs a multi-label run (--head multi-label); \
             a single-label run has acc, loss, macro-f1 or micro-f1",
            config.metric.name()
        );
    }
    Ok(config)
}

impl PreparedRun {
    /// The checked settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The head.
    pub fn head(&self) -> HeadKind {
        self.head
    }

    /// The datasets (the training part and the validation part after a split).
    pub fn data(&self) -> TrainData<'_> {
        TrainData {
            train: &self.train,
            valid: &self.valid,
            test: self.test.as_ref(),
        }
    }

    /// The output folder.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// What the caller should say (leftovers of an earlier run removed from the output).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// What the caller may say unless asked to be quiet (the head chosen from the data, the
    /// label sets' summaries).
    pub fn info(&self) -> &[String] {
        &self.info
    }

    /// The data's warnings and skipped rows, one line each, prefixed by the data's name.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Trains (see [`train_observed`]), reporting to `observer`; `interrupt` stops the run
    /// after the current batch, leaving a resumable checkpoint. On failure an output folder
    /// that this run created and left empty is removed again.
    ///
    /// # Errors
    /// As [`train_observed`]; a run trains once.
    pub fn train(
        &mut self,
        observer: &mut dyn TrainObserver,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<TrainOutcome> {
        let options = TrainOptions {
            head: self.head,
            resume: self.resume,
            interrupt,
            run_info: self.run_info.clone(),
            start_from: self.start_from.take(),
            keep_checkpoint: self.keep_checkpoint,
        };
        let data = TrainData {
            train: &self.train,
            valid: &self.valid,
            test: self.test.as_ref(),
        };
        let result = train_observed(&self.config, &data, &self.output, &options, observer);
        if result.is_err() {
            self.lock.discard_if_unused();
        }
        result
    }
}

/// The error for a bundle without a word embedding (`--arch ngram`) where one is needed.
pub(crate) fn no_embedding(dir: &std::path::Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is an n-gram model (--arch ngram): it has no word embedding to start from",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_run_that_cannot_read_its_data_says_what_resume_reads() {
        let err = |spec: &str| {
            resume_read_error(anyhow::anyhow!("{spec}: no such file or directory"), spec)
                .to_string()
        };
        assert_eq!(
            err("data/train.tsv"),
            "data/train.tsv: no such file or directory\n--resume reads the data the run started \
             with, as it named them (a relative path is read from the current folder): restore \
             them, or run --resume from the folder the run started in"
        );
        for spec in ["/srv/train.tsv", "imdb:train"] {
            assert_eq!(
                err(spec),
                format!(
                    "{spec}: no such file or directory\n--resume reads the data the run started \
                     with, as it named them: restore them"
                )
            );
        }
    }
}
