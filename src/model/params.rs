//! Validation of named parameter tensors shared by the architectures' `from_named_params`.

use std::collections::HashMap;

use anyhow::{bail, ensure};

/// The data of `tensors` in the order of `shapes` (`(name, shape)`, the embedding first), after
/// checking that every expected name is present with its shape and value count, that no other
/// name is present, and that embedding row 0 (`<pad>`, `emb_dim` values) is zero.
///
/// # Errors
/// Names the offending tensor and gives the expected vs found shape.
pub(crate) fn checked_tensors(
    shapes: &[(String, Vec<usize>)],
    tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
    emb_dim: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    for name in tensors.keys() {
        if !shapes.iter().any(|(n, _)| n == name) {
            bail!(
                "unexpected tensor {name:?}: expected only {:?}",
                shapes.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
            );
        }
    }
    let mut data = Vec::with_capacity(shapes.len());
    for (name, shape) in shapes {
        let Some((found, values)) = tensors.get(name) else {
            bail!("missing tensor {name:?} (expected shape {shape:?})");
        };
        ensure!(
            found == shape,
            "tensor {name:?}: expected shape {shape:?}, found {found:?}"
        );
        let n: usize = shape.iter().product();
        ensure!(
            values.len() == n,
            "tensor {name:?}: shape {shape:?} needs {n} values, found {}",
            values.len()
        );
        data.push(values.clone());
    }
    ensure!(
        data.first()
            .is_some_and(|e| e[..emb_dim.min(e.len())].iter().all(|&v| v == 0.0)),
        "tensor \"embedding.weight\": row 0 (<pad>) must be zero"
    );
    Ok(data)
}
