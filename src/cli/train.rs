//! `textcnn train`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use textcnn::data::stratified_split;
use textcnn::model::PoolKind;
use textcnn::nn::optim::OptimizerKind;
use textcnn::text::Truncation;
use textcnn::train::{
    ArchKind, Checkpoint, Metric, StopReason, TrainConfig, TrainData, TrainOptions, train,
};

use super::common::{ReadArgs, load_dataset};

/// Train a Kim (2014) CNN or a conv2d text classifier and save the best model (by validation) as a bundle.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: `imdb:train`, or a file/folder in any supported format.
    #[arg(long, required_unless_present = "resume")]
    pub train: Option<String>,
    /// Validation data; by default a stratified `--valid-fraction` of the training data.
    #[arg(long)]
    pub valid: Option<String>,
    /// Test data, evaluated once with the best model at the end (report.json).
    #[arg(long)]
    pub test: Option<String>,
    /// Output directory for the model bundle.
    #[arg(long, required_unless_present = "resume")]
    pub output: Option<PathBuf>,
    /// Continue the interrupted run in this directory with its recorded settings.
    #[arg(long, conflicts_with_all = ["train", "valid", "test", "output", "config"])]
    pub resume: Option<PathBuf>,
    /// TOML file with any of the training settings (flags override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub hyper: HyperArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// No progress bar or per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--arch` values: the two architectures and the tutorial preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchArg {
    /// Kim (2014) CNN (the default).
    Kim,
    /// 2-D CNN: k×k conv blocks with 2-D pooling, flatten, dense layers (see --conv2d-blocks, --hidden).
    Conv2d,
    /// The tutorial's conv2d settings: emb 100, 3x64:max2, dense 64, batch 32, 10 epochs,
    /// 10,000 words, 400 tokens (other flags override them).
    Seed,
}

/// Hyperparameter flags; each overrides the config file and the defaults.
#[derive(Args, Debug)]
pub struct HyperArgs {
    /// Architecture, or the `seed` preset [default: kim]
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// conv2d blocks, comma-separated `KxM:maxP`/`KxM:avgP` (kernel, maps, pooling) [default: 3x64:max2]
    #[arg(long, value_delimiter = ',')]
    pub conv2d_blocks: Option<Vec<String>>,
    /// conv2d hidden dense layer widths, comma-separated [default: 64]
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// conv2d pooling kind of blocks whose spec names none [default: max]
    #[arg(long, value_enum)]
    pub pool: Option<PoolKind>,
    /// Maximum number of epochs [default: 10]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size [default: 64]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate [default: 0.001]
    #[arg(long)]
    pub lr: Option<f32>,
    /// Optimizer [default: adam]
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// L2 weight decay (decoupled for adamw) [default: 0]
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Dropout rate on the pooled features [default: 0.5]
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Max L2 norm of each class's output weight vector (Kim 2014: 3) [default: none]
    #[arg(long)]
    pub max_norm: Option<f32>,
    /// Clip gradients to this global L2 norm [default: none]
    #[arg(long)]
    pub clip_grad_norm: Option<f32>,
    /// Epochs without validation improvement before stopping [default: 2]
    #[arg(long)]
    pub patience: Option<usize>,
    /// Validation metric for early stopping and the best checkpoint [default: acc]
    #[arg(long, value_enum)]
    pub metric: Option<Metric>,
    /// Embedding dimension [default: 128]
    #[arg(long)]
    pub emb_dim: Option<usize>,
    /// Region sizes (kernel heights in tokens), comma-separated [default: 3,4,5]
    #[arg(long, value_delimiter = ',')]
    pub region_sizes: Option<Vec<usize>>,
    /// Feature maps per region size [default: 100]
    #[arg(long)]
    pub feature_maps: Option<usize>,
    /// Maximum tokens per text; conv2d: the fixed input length [default: 800; seed: 256]
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Which part of a long text to keep [default: head+tail]
    #[arg(long, value_enum)]
    pub truncation: Option<Truncation>,
    /// Maximum vocabulary size, without <pad> and <unk> [default: 80000]
    #[arg(long)]
    pub vocab_size: Option<usize>,
    /// Minimum token count in the training data to enter the vocabulary [default: 1]
    #[arg(long)]
    pub min_count: Option<usize>,
    /// Fraction of the training data held out for validation when --valid is not given [default: 0.1]
    #[arg(long)]
    pub valid_fraction: Option<f64>,
    /// Random seed [default: 42]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads, 0 = all cores [default: 0]
    #[arg(long)]
    pub threads: Option<usize>,
}

impl HyperArgs {
    fn apply(&self, c: &mut TrainConfig) {
        match self.arch {
            Some(ArchArg::Seed) => c.apply_seed_preset(),
            Some(ArchArg::Conv2d) => c.arch = ArchKind::Conv2d,
            Some(ArchArg::Kim) => c.arch = ArchKind::Kim,
            None => {}
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = &self.$field { c.$field = v.clone(); } )* };
        }
        set!(
            conv2d_blocks,
            hidden,
            pool,
            epochs,
            batch_size,
            lr,
            optimizer,
            weight_decay,
            dropout,
            patience,
            metric,
            emb_dim,
            region_sizes,
            feature_maps,
            max_len,
            truncation,
            vocab_size,
            min_count,
            valid_fraction,
            seed,
            threads
        );
        if self.max_norm.is_some() {
            c.max_norm = self.max_norm;
        }
        if self.clip_grad_norm.is_some() {
            c.clip_grad_norm = self.clip_grad_norm;
        }
    }
}

/// What is needed to reload the same data on `--resume`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RunInfo {
    train: String,
    valid: Option<String>,
    test: Option<String>,
    read: ReadArgs,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let (config, info, output, resume) = if let Some(dir) = &args.resume {
        let ckpt = Checkpoint::load(dir)?;
        let info: RunInfo = serde_json::from_value(ckpt.run.clone()).with_context(|| {
            format!(
                "{}: checkpoint has no usable run description",
                dir.display()
            )
        })?;
        (ckpt.config, info, dir.clone(), true)
    } else {
        let mut config = match &args.config {
            Some(path) => TrainConfig::from_toml_file(path)?,
            None => TrainConfig::default(),
        };
        args.hyper.apply(&mut config);
        let info = RunInfo {
            train: args.train.clone().expect("clap requires --train"),
            valid: args.valid.clone(),
            test: args.test.clone(),
            read: args.read.clone(),
        };
        (
            config,
            info,
            args.output.clone().expect("clap requires --output"),
            false,
        )
    };
    config.validate()?;
    if !resume && output.join(textcnn::bundle::CONFIG_FILE).exists() {
        bail!(
            "{} already holds a model; choose another --output, delete it, or continue it with --resume",
            output.display()
        );
    }

    let full_train = load_dataset(&info.train, &info.read)?;
    let (train_ds, valid_ds) = match &info.valid {
        Some(spec) => (full_train, load_dataset(spec, &info.read)?),
        None => {
            if config.valid_fraction <= 0.0 {
                bail!("no validation data: give --valid or a --valid-fraction above 0");
            }
            stratified_split(&full_train, config.valid_fraction, config.seed)
        }
    };
    let test_ds = info
        .test
        .as_deref()
        .map(|spec| load_dataset(spec, &info.read))
        .transpose()?;

    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupt.clone();
        // A second Ctrl-C while the batch finishes exits at once.
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!(
                "\nCtrl-C: finishing the current batch and saving a checkpoint (Ctrl-C again to quit now)"
            );
        });
    }
    let options = TrainOptions {
        resume,
        progress: !args.quiet,
        interrupt: Some(interrupt),
        run_info: serde_json::to_value(&info)?,
    };
    let data = TrainData {
        train: &train_ds,
        valid: &valid_ds,
        test: test_ds.as_ref(),
    };
    let outcome = train(&config, &data, &output, &options)?;

    if let Some(best) = &outcome.best {
        println!(
            "best epoch {}: valid acc {:.4}, valid loss {:.4}",
            best.epoch, best.valid_acc, best.valid_loss
        );
    }
    if let Some(report) = &outcome.test {
        println!(
            "test ({}):\n{report}",
            info.test.as_deref().unwrap_or("test")
        );
        println!("test accuracy {:.4}", report.accuracy);
    }
    println!(
        "model saved in {} ({:.1} s in all)",
        output.display(),
        outcome.seconds
    );
    if outcome.stop == StopReason::Interrupted {
        std::process::exit(130);
    }
    Ok(())
}
