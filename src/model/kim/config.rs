//! The Kim CNN's hyper-parameters ([`KimConfig`]) and its pooling choice ([`Pooling`]).

/// What the pooling layer takes over time from each feature map.
use anyhow::ensure;
use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use super::{KimCnn, STATIC_EMBEDDING};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// Max-over-time pooling (Kim 2014 §2): one feature per map, its largest window.
    #[default]
    Max,
    /// Max-over-time and mean-over-time pooling, concatenated: two features per map, the
    /// largest window and the mean of `relu(window + bias)` over the text's valid windows.
    /// The mean counts how much of the text fires a map, which max pooling cannot (Johnson &
    /// Zhang 2015, "Effective Use of Word Order for Text Categorization with CNNs", §2.2, use
    /// average pooling for topic classification of long texts).
    #[value(name = "max-mean")]
    MaxMean,
}

impl Pooling {
    /// Pooled features per feature map: 1 (max) or 2 (max and mean).
    pub fn per_map(self) -> usize {
        match self {
            Pooling::Max => 1,
            Pooling::MaxMean => 2,
        }
    }

    /// Whether this is [`Pooling::Max`] (the serde default: not written to `config.json`).
    pub fn is_max(&self) -> bool {
        *self == Pooling::Max
    }

    /// Whether the mean-over-time features are computed.
    pub fn has_mean(self) -> bool {
        self == Pooling::MaxMean
    }
}

/// Hyper-parameters of the Kim CNN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KimConfig {
    /// Rows of the embedding table; id 0 is `<pad>`.
    pub vocab_size: usize,
    /// Embedding width (the convolution kernels span all of it).
    pub emb_dim: usize,
    /// Region sizes `h` (filter heights in tokens), e.g. `[3, 4, 5]`.
    pub region_sizes: Vec<usize>,
    /// Feature maps (filters) per region size.
    pub feature_maps: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Dropout probability on the pooled features during training.
    pub dropout: f32,
    /// Kim's CNN-multichannel: a second, frozen embedding table (`embedding_static.weight`)
    /// whose rows are convolved by the same filters as the trained table's and the results
    /// summed. Absent (false) in bundles written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multichannel: bool,
    /// What is pooled over time from each feature map (absent, max, in bundles written before
    /// it existed).
    #[serde(default, skip_serializing_if = "Pooling::is_max")]
    pub pooling: Pooling,
}

impl KimConfig {
    /// Width of the pooled feature vector: `feature_maps × region_sizes.len()` max-over-time
    /// features (region `r` in columns `r·maps..(r+1)·maps`), then, with
    /// [`Pooling::MaxMean`], as many mean-over-time features in the same order.
    pub fn num_features(&self) -> usize {
        self.max_features() * self.pooling.per_map()
    }

    /// Columns of the max-over-time features: `feature_maps × region_sizes.len()` (the mean
    /// features, if any, follow them).
    pub fn max_features(&self) -> usize {
        self.feature_maps * self.region_sizes.len()
    }

    /// Largest region size (the shortest admissible `seq_len`).
    pub fn max_region_size(&self) -> usize {
        self.region_sizes.iter().copied().max().unwrap_or(0)
    }

    /// Check that every size is positive and dropout is in `[0, 1)`.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.vocab_size >= 1, "vocab_size must be >= 1");
        ensure!(self.emb_dim >= 1, "emb_dim must be >= 1");
        ensure!(
            !self.region_sizes.is_empty(),
            "region_sizes must not be empty"
        );
        ensure!(
            self.region_sizes.iter().all(|&h| h >= 1),
            "region sizes must be >= 1"
        );
        ensure!(self.feature_maps >= 1, "feature_maps must be >= 1");
        ensure!(self.num_classes >= 1, "num_classes must be >= 1");
        ensure!(
            (0.0..1.0).contains(&self.dropout),
            "dropout must be in [0, 1)"
        );
        ensure!(
            self.training_floats(1).is_some(),
            "Kim sizes too large: the parameter count overflows (vocab_size {}, emb_dim {}, region_sizes {:?}, feature_maps {})",
            self.vocab_size,
            self.emb_dim,
            self.region_sizes,
            self.feature_maps
        );
        Ok(())
    }

    /// `(parameters, f32 per training example of seq_len tokens)`: the parameter count and,
    /// approximately, the activations one example keeps during a training step (embedded text
    /// and every region's feature-map outputs). `None` when a count overflows `usize`.
    pub fn training_floats(&self, seq_len: usize) -> Option<(usize, usize)> {
        let prod = |xs: &[usize]| xs.iter().try_fold(1usize, |a, &x| a.checked_mul(x));
        let tables = if self.multichannel { 2 } else { 1 };
        let mut params = prod(&[tables, self.vocab_size, self.emb_dim])?;
        for &h in &self.region_sizes {
            params = params
                .checked_add(prod(&[self.feature_maps, h, self.emb_dim])?)?
                .checked_add(self.feature_maps)?;
        }
        let features = prod(&[
            self.feature_maps,
            self.region_sizes.len(),
            self.pooling.per_map(),
        ])?;
        params = params
            .checked_add(prod(&[self.num_classes, features])?)?
            .checked_add(self.num_classes)?;
        let act = prod(&[seq_len, tables, self.emb_dim])?
            .checked_add(prod(&[seq_len, features])?)?
            .checked_add(features.checked_mul(3)?)?;
        Some((params, act))
    }

    /// Parameter name prefix of region `i`: `conv{h}`, or `conv{h}_{k}` for the `k`-th repeat of
    /// the same size (`k >= 1`).
    pub fn conv_name(&self, i: usize) -> String {
        let h = self.region_sizes[i];
        let k = self.region_sizes[..i].iter().filter(|&&x| x == h).count();
        if k == 0 {
            format!("conv{h}")
        } else {
            format!("conv{h}_{k}")
        }
    }

    /// Names and shapes of all parameters, in [`KimCnn::named_params`] order.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = vec![(
            "embedding.weight".to_string(),
            vec![self.vocab_size, self.emb_dim],
        )];
        for (i, &h) in self.region_sizes.iter().enumerate() {
            let name = self.conv_name(i);
            v.push((
                format!("{name}.weight"),
                vec![self.feature_maps, h, self.emb_dim],
            ));
            v.push((format!("{name}.bias"), vec![self.feature_maps]));
        }
        v.push((
            "fc.weight".to_string(),
            vec![self.num_classes, self.num_features()],
        ));
        v.push(("fc.bias".to_string(), vec![self.num_classes]));
        if self.multichannel {
            v.push((
                STATIC_EMBEDDING.to_string(),
                vec![self.vocab_size, self.emb_dim],
            ));
        }
        v
    }
}

impl crate::model::network::NetworkConfig for KimConfig {
    type Net = KimCnn;

    fn build(&self, seed: u64) -> KimCnn {
        KimCnn::new(self.clone(), seed)
    }

    fn load(&self, tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>) -> anyhow::Result<KimCnn> {
        KimCnn::from_named_params(self.clone(), tensors)
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        KimConfig::param_shapes(self)
    }

    fn param_specs(&self) -> Vec<crate::model::ParamSpec> {
        crate::model::ParamSpec::from_shapes(KimConfig::param_shapes(self), &[STATIC_EMBEDDING])
    }

    fn validate(&self) -> anyhow::Result<()> {
        KimConfig::validate(self)
    }

    fn training_floats(&self, seq_len: usize) -> Option<(usize, usize)> {
        KimConfig::training_floats(self, seq_len)
    }

    fn describe(&self) -> String {
        let pooling = match self.pooling {
            Pooling::Max => "",
            Pooling::MaxMean => ", max+mean pooling",
        };
        format!(
            "kim: emb {}, regions {:?} x {} maps{pooling}",
            self.emb_dim, self.region_sizes, self.feature_maps
        )
    }

    fn min_len(&self) -> usize {
        self.max_region_size()
    }

    fn multichannel(&self) -> bool {
        self.multichannel
    }

    fn check_encoding(&self, min_len: usize, max_len: usize) -> Result<(), String> {
        if min_len != self.max_region_size() || (max_len != 0 && max_len < min_len) {
            return Err(format!(
                "\"encode\" has min_len {min_len} and max_len {max_len}, but a Kim model pads texts to its widest region size, {} (max_len 0 or at least that)",
                self.max_region_size()
            ));
        }
        Ok(())
    }

    fn logit_bound(&self, layer: &mut dyn FnMut(&str, f64) -> f64, embedding: f64) -> f64 {
        let channels = if self.multichannel { 2.0 } else { 1.0 };
        let features = (0..self.region_sizes.len())
            .map(|i| layer(&self.conv_name(i), channels * embedding))
            .fold(0.0f64, f64::max);
        layer("fc", features)
    }

    fn shrink_flags(&self) -> &'static str {
        "--emb-dim, --feature-maps, --region-sizes, --vocab-size, --max-len or --batch-size"
    }

    fn for_finetune(
        &self,
        vocab_size: usize,
        num_classes: usize,
        dropout: f32,
    ) -> anyhow::Result<KimConfig> {
        Ok(KimConfig {
            vocab_size,
            num_classes,
            dropout,
            ..self.clone()
        })
    }
}

#[cfg(test)]
impl KimConfig {
    /// A configuration for tests: one channel, max pooling.
    pub(crate) fn for_test(
        vocab_size: usize,
        emb_dim: usize,
        region_sizes: &[usize],
        feature_maps: usize,
        num_classes: usize,
        dropout: f32,
    ) -> Self {
        KimConfig {
            vocab_size,
            emb_dim,
            region_sizes: region_sizes.to_vec(),
            feature_maps,
            num_classes,
            dropout,
            multichannel: false,
            pooling: Pooling::Max,
        }
    }
}
