//! Comparison of the conv2d network with PyTorch (`tests/make_conv2d_fixture.py`): logits, loss,
//! every gradient and one Adam step on the same weights and batch (one row padded with <pad>).
//! Tolerance 1e-5 absolute + 1e-4 relative (f32 on both sides, different summation orders).

use crate::common::{assert_close, floats, tensors};
use serde_json::Value;
use textcnn::model::Network;
use textcnn::model::{Batch, Conv2dConfig, Conv2dNet, Conv2dTrainer};
use textcnn::nn::optim::OptimizerConfig;

#[test]
fn conv2d_logits_gradients_and_adam_step_match_pytorch() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/conv2d_reference.json"
    );
    let fix: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let config: Conv2dConfig = serde_json::from_value(fix["config"].clone()).unwrap();
    let ids: Vec<u32> = fix["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let lengths: Vec<usize> = fix["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let labels: Vec<u32> = fix["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let batch = Batch {
        ids: &ids,
        lengths: &lengths,
        batch: lengths.len(),
        seq_len: config.seq_len,
    };
    let model = Conv2dNet::from_named_params(config, &tensors(&fix["params"])).unwrap();
    assert_close(&model.logits(&batch), &floats(&fix["logits"]), "logits");

    for sparse in [false, true] {
        let opt = OptimizerConfig {
            lr: 0.01,
            sparse_embedding: sparse,
            ..OptimizerConfig::default()
        };
        let mut tr = Conv2dTrainer::new(model.clone(), opt);
        let stats = tr.forward_backward(&batch, &labels, 0);
        assert_close(
            &[stats.loss],
            &[fix["loss"].as_f64().unwrap() as f32],
            "loss",
        );
        let grads = tensors(&fix["grads"]);
        for (name, shape, g) in tr.named_grads() {
            assert_eq!(grads[&name].0, shape, "{name} shape");
            assert_close(&g, &grads[&name].1, &format!("grad {name}"));
        }
        tr.apply_update();
        let expect = tensors(&fix["adam_step"]);
        for (name, _, p) in tr.model.named_params() {
            assert_close(
                p,
                &expect[&name].1,
                &format!("Adam step (sparse {sparse}) {name}"),
            );
        }
    }
}
