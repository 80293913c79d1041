//! From the training settings to each architecture's hyperparameters and back: the code half of
//! an architecture's flag group (its flags are rows of the table in `train::settings`, marked
//! `only [Arch]`).
//!
//! [`ArchKind`] (the `arch` setting) and the `--arch` choices are generated from the model
//! registry (`for_each_arch!` in `model::any`), plus the default `ngram-cnn` (the Kim CNN with
//! the n-gram branch of [`crate::train::ngram_stage`]).

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::config::{KIM_SMALL_REGION_SIZES, kim_small_data_bound, region_list};
use super::settings::TrainConfig;
use crate::model::ngram_only::NgramOnlyConfig;
use crate::model::{Architecture, Conv2dConfig, KimConfig, NetworkConfig};
use crate::text::EmbeddingMode;

/// An architecture's hyperparameters as the training settings give them.
pub trait FromSettings: NetworkConfig + Sized {
    /// The hyperparameters `s` asks for, for a `vocab_size`-row vocabulary and `num_classes`
    /// outputs.
    ///
    /// # Errors
    /// A setting this architecture cannot take; the message names the flag.
    fn from_settings(s: &TrainConfig, vocab_size: usize, num_classes: usize) -> Result<Self>;

    /// Writes these hyperparameters into `s` (fine-tuning continues a bundle with its own).
    fn to_settings(&self, s: &mut TrainConfig);
}

impl FromSettings for KimConfig {
    fn from_settings(s: &TrainConfig, vocab_size: usize, num_classes: usize) -> Result<Self> {
        // One rule for training and loading (`Bundle::load`): a Kim model pads every text to
        // its widest region size, so a shorter --max-len would train a bundle that no command
        // can load.
        let widest = s.region_sizes.iter().copied().max().unwrap_or(1);
        if s.max_len < widest {
            // The Kim CNN on small data replaces the default sizes once the data is read
            // (`TrainConfig::apply_kim_small_data`), after this check.
            let small = if matches!(s.arch, ArchKind::Kim | ArchKind::NgramCnn)
                && s.region_sizes == TrainConfig::default().region_sizes
            {
                format!(
                    ", or {} for kim, or multi-label ngram-cnn, below {} training texts unless given",
                    region_list(&KIM_SMALL_REGION_SIZES),
                    kim_small_data_bound()
                )
            } else {
                String::new()
            };
            bail!(
                "--max-len {} is shorter than the widest region size {widest} (--region-sizes \
                 {}{small}); give --max-len {widest} or more, or smaller region sizes",
                s.max_len,
                region_list(&s.region_sizes)
            );
        }
        Ok(KimConfig {
            vocab_size,
            emb_dim: s.emb_dim,
            region_sizes: s.region_sizes.clone(),
            feature_maps: s.feature_maps,
            num_classes,
            dropout: s.dropout,
            multichannel: s.embedding == EmbeddingMode::Multichannel,
            pooling: s.pooling,
        })
    }

    fn to_settings(&self, s: &mut TrainConfig) {
        s.emb_dim = self.emb_dim;
        s.region_sizes = self.region_sizes.clone();
        s.pooling = self.pooling;
        s.feature_maps = self.feature_maps;
        s.dropout = self.dropout;
        if self.multichannel {
            s.embedding = EmbeddingMode::Multichannel;
        } else if s.embedding == EmbeddingMode::Multichannel {
            s.embedding = EmbeddingMode::NonStatic;
        }
    }
}

impl FromSettings for Conv2dConfig {
    fn from_settings(s: &TrainConfig, vocab_size: usize, num_classes: usize) -> Result<Self> {
        if s.embedding != EmbeddingMode::NonStatic {
            bail!(
                "--embedding {} needs --arch kim: a conv2d model learns its embedding from scratch",
                s.embedding
            );
        }
        let blocks = s.blocks().context("--conv2d-blocks")?;
        let c = Conv2dConfig {
            vocab_size,
            emb_dim: s.emb_dim,
            seq_len: s.max_len,
            blocks,
            hidden: s.hidden.clone(),
            dropout: s.dropout,
            num_classes,
            init: s.init,
        };
        c.validate()
            .context("conv2d settings (--conv2d-blocks, --hidden, --max-len, --emb-dim)")?;
        Ok(c)
    }

    fn to_settings(&self, s: &mut TrainConfig) {
        s.emb_dim = self.emb_dim;
        s.conv2d_blocks = self.blocks.iter().map(|b| b.to_string()).collect();
        s.hidden = self.hidden.clone();
        s.dropout = self.dropout;
        s.init = self.init;
    }
}

impl FromSettings for NgramOnlyConfig {
    fn from_settings(s: &TrainConfig, vocab_size: usize, num_classes: usize) -> Result<Self> {
        if s.embedding != EmbeddingMode::NonStatic
            || s.pretrained.is_some()
            || s.unlabeled.is_some()
        {
            bail!(
                "--arch ngram has no word embedding: drop --embedding, --pretrained and --unlabeled"
            );
        }
        Ok(NgramOnlyConfig {
            vocab_size,
            num_classes,
        })
    }

    fn to_settings(&self, _s: &mut TrainConfig) {}
}

macro_rules! define_arch_kind {
    ($(($v:ident, $net:ty, $cfg:ty, $doc:literal)),+ $(,)?) => {
        /// Which network to train: `ngram-cnn` or an architecture of the registry.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
        #[serde(rename_all = "lowercase")]
        pub enum ArchKind {
            /// The default: the Kim CNN plus an n-gram branch (TF-IDF word 1–2-grams, character
            /// 1–3-grams for Chinese, logistic regression) whose probabilities are mixed with
            /// the CNN's by a weight chosen on the validation split (see [`crate::ngram`]).
            #[default]
            #[serde(rename = "ngram-cnn")]
            #[value(name = "ngram-cnn")]
            NgramCnn,
            $( #[doc = $doc] $v, )+
        }

        /// `--arch` values: the architectures and the tutorial preset.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
        pub enum ArchChoice {
            /// The default: Kim CNN + an n-gram logistic-regression branch (word 1–2-grams;
            /// character 1–3-grams for Chinese), probabilities mixed by a weight chosen on the
            /// validation split.
            #[value(name = "ngram-cnn")]
            NgramCnn,
            $( #[doc = $doc] $v, )+
            /// The tutorial's conv2d settings: emb 100, 3x64:max2, dense 64, batch 32, 10
            /// epochs, 10,000 words, 256 tokens head+tail (other flags override them).
            Seed,
        }

        impl From<ArchChoice> for ArchKind {
            fn from(a: ArchChoice) -> ArchKind {
                match a {
                    ArchChoice::NgramCnn => ArchKind::NgramCnn,
                    $( ArchChoice::$v => ArchKind::$v, )+
                    ArchChoice::Seed => ArchKind::Conv2d,
                }
            }
        }

        /// The architecture `s` asks for (see [`FromSettings::from_settings`]).
        pub(crate) fn architecture_from_settings(
            s: &TrainConfig,
            vocab_size: usize,
            num_classes: usize,
        ) -> Result<Architecture> {
            Ok(match s.arch {
                ArchKind::NgramCnn => {
                    Architecture::Kim(KimConfig::from_settings(s, vocab_size, num_classes)?)
                }
                $( ArchKind::$v => Architecture::$v(<$cfg>::from_settings(s, vocab_size, num_classes)?), )+
            })
        }

        /// Writes `arch`'s hyperparameters into `s` (see [`FromSettings::to_settings`]).
        pub(crate) fn architecture_to_settings(arch: &Architecture, s: &mut TrainConfig) {
            match arch {
                $( Architecture::$v(c) => c.to_settings(s), )+
            }
        }
    };
}

crate::model::for_each_arch!(define_arch_kind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_each_architecture() {
        // From settings to hyperparameters and back to settings gives the same architecture.
        let kim = TrainConfig {
            arch: ArchKind::Kim,
            emb_dim: 16,
            region_sizes: vec![2, 3],
            feature_maps: 7,
            dropout: 0.25,
            ..TrainConfig::default()
        };
        let conv = TrainConfig {
            arch: ArchKind::Conv2d,
            emb_dim: 12,
            max_len: 40,
            conv2d_blocks: vec!["3x8:max2".into(), "3x4:avg2".into()],
            hidden: vec![16, 8],
            dropout: 0.1,
            ..TrainConfig::default()
        };
        for s in [kim, conv] {
            let arch = s.try_architecture(50, 3).unwrap();
            assert_eq!((arch.vocab_size(), arch.num_classes()), (50, 3));
            let mut back = TrainConfig {
                arch: s.arch,
                max_len: s.max_len,
                ..TrainConfig::default()
            };
            architecture_to_settings(&arch, &mut back);
            assert_eq!(back.try_architecture(50, 3).unwrap(), arch, "{:?}", s.arch);
        }
        // ngram-cnn trains the Kim CNN.
        let arch = TrainConfig::default().try_architecture(9, 2).unwrap();
        assert!(matches!(arch, Architecture::Kim(_)));
        assert_eq!(arch.min_len(), 5);
    }

    #[test]
    fn every_registry_architecture_is_a_setting_and_an_arch_choice() {
        use clap::ValueEnum;
        let kinds: Vec<String> = ArchKind::value_variants()
            .iter()
            .map(|k| k.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(kinds, ["ngram-cnn", "kim", "conv2d", "ngram"]);
        let choices: Vec<String> = ArchChoice::value_variants()
            .iter()
            .map(|k| k.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(choices, ["ngram-cnn", "kim", "conv2d", "ngram", "seed"]);
        // The config-file names are the bundle's "type" names of the registry.
        for k in &ArchKind::value_variants()[1..] {
            let name = serde_json::to_value(k).unwrap();
            let arch = TrainConfig {
                arch: *k,
                ..TrainConfig::default()
            }
            .try_architecture(4, 2)
            .unwrap();
            assert_eq!(serde_json::to_value(&arch).unwrap()["type"], name);
        }
    }

    #[test]
    fn an_architecture_refuses_the_settings_it_cannot_take_by_flag() {
        let s = TrainConfig {
            arch: ArchKind::Conv2d,
            embedding: EmbeddingMode::Static,
            ..TrainConfig::default()
        };
        let err = s.try_architecture(4, 2).unwrap_err().to_string();
        assert!(
            err.starts_with("--embedding static needs --arch kim"),
            "{err}"
        );
        let s = TrainConfig {
            max_len: 2,
            ..TrainConfig::default()
        };
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("--max-len 2 is shorter than the widest region size 5"),
            "{err}"
        );
    }
}
