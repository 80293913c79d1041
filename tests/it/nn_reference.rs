//! Comparison with PyTorch (`tests/make_fixtures.py`, reference model of `shared/bench/torch_kim.py`):
//! logits, loss, every gradient, and two steps of each optimizer on the same weights and batch.
//! Tolerance 1e-5 absolute + 1e-4 relative: both sides compute in f32 with different summation
//! orders (≈ 1e-7 relative per operation).

use crate::common::{assert_close, floats, tensors};
use serde_json::Value;
use textcnn::model::Network;
use textcnn::model::{Batch, KimCnn, KimConfig, KimTrainer};
use textcnn::nn::optim::OptimizerConfig;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kim_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Setup {
    fix: Value,
    config: KimConfig,
    ids: Vec<u32>,
    labels: Vec<u32>,
    lengths: Vec<usize>,
    batch: usize,
    seq_len: usize,
}

fn setup() -> Setup {
    let fix = fixture();
    let config: KimConfig = serde_json::from_value(fix["config"].clone()).unwrap();
    let ids: Vec<u32> = fix["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let labels = fix["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let (batch, seq_len) = (
        fix["batch"].as_u64().unwrap() as usize,
        fix["seq_len"].as_u64().unwrap() as usize,
    );
    Setup {
        fix,
        config,
        ids,
        labels,
        lengths: vec![seq_len; batch],
        batch,
        seq_len,
    }
}

impl Setup {
    fn batch(&self) -> Batch<'_> {
        Batch {
            ids: &self.ids,
            lengths: &self.lengths,
            batch: self.batch,
            seq_len: self.seq_len,
        }
    }
    fn model(&self) -> KimCnn {
        KimCnn::from_named_params(self.config.clone(), &tensors(&self.fix["params"])).unwrap()
    }
}

#[test]
fn logits_loss_and_gradients_match_pytorch() {
    let s = setup();
    let model = s.model();
    assert_close(
        &model.logits(&s.batch()),
        &floats(&s.fix["logits"]),
        "logits",
    );
    let mut tr = KimTrainer::new(model, OptimizerConfig::default());
    let stats = tr.forward_backward(&s.batch(), &s.labels, 0);
    assert_close(
        &[stats.loss],
        &[s.fix["loss"].as_f64().unwrap() as f32],
        "loss",
    );
    let grads = tensors(&s.fix["grads"]);
    for (name, shape, g) in tr.named_grads() {
        assert_eq!(grads[&name].0, shape, "{name} shape");
        assert_close(&g, &grads[&name].1, &format!("grad {name}"));
    }
}

#[test]
fn two_optimizer_steps_match_pytorch() {
    let s = setup();
    let runs = s.fix["steps"].as_object().unwrap();
    assert_eq!(runs.len(), 5);
    for (run, v) in runs {
        let opt: OptimizerConfig = serde_json::from_value(v["optimizer"].clone()).unwrap();
        // PyTorch's optimizers are dense; lazy (sparse) embedding updates agree with them when no
        // weight decay moves the rows absent from the batch.
        let modes: &[bool] = if opt.weight_decay == 0.0 {
            &[false, true]
        } else {
            &[false]
        };
        for &sparse in modes {
            let opt = OptimizerConfig {
                sparse_embedding: sparse,
                ..opt.clone()
            };
            let mut tr = KimTrainer::new(s.model(), opt);
            let mut losses = Vec::new();
            for step in 0..2 {
                losses.push(tr.train_step(&s.batch(), &s.labels, step).loss);
            }
            assert_close(&losses, &floats(&v["losses"]), &format!("{run} losses"));
            let expect = tensors(&v["params"]);
            for (name, _, p) in tr.model.named_params() {
                assert_close(
                    p,
                    &expect[&name].1,
                    &format!("{run} (sparse {sparse}) {name}"),
                );
            }
        }
    }
}
