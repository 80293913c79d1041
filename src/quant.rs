//! Storage precision of a bundle's tensors (`textcnn quantize`): f32 as trained, f16, or int8
//! with one scale per row. Only the files shrink: loading turns every tensor back into f32
//! (dequantizes), so prediction runs the same code on weights rounded once.
//!
//! int8 (symmetric, per row): a tensor `[rows, …]` of at least [`MIN_QUANTIZED`] elements is
//! stored as `i8` values `q = round(x / s)` with `s = max|row| / 127`, next to an f32 tensor
//! `NAME.__scale` `[rows]`; its value is read back as `q · s` (error at most `s / 2` per
//! element). The embedding `[vocab, emb_dim]` gets one scale per word. Biases and small tensors
//! stay f32. f16 stores every tensor of at least [`MIN_QUANTIZED`] elements as IEEE half
//! precision (relative error at most 2⁻¹¹).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, bail};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

/// Suffix of the per-row scale tensor of an int8 tensor.
pub const SCALE_SUFFIX: &str = ".__scale";
/// Tensors with fewer elements stay f32 (biases, output layers of few classes).
pub const MIN_QUANTIZED: usize = 256;

/// How a bundle stores its weights (`config.json` → `"dtype"`, absent for f32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredDtype {
    /// 4 bytes per weight, as trained.
    #[default]
    F32,
    /// IEEE half precision, 2 bytes per weight.
    F16,
    /// Signed bytes with one f32 scale per row, about 1 byte per weight.
    Int8,
}

impl StoredDtype {
    /// Whether this is the trained precision (f32), which `config.json` leaves unnamed.
    pub fn is_f32(&self) -> bool {
        *self == StoredDtype::F32
    }
}

/// Named f32 tensors: name -> (shape, row-major data).
pub type TensorMap = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// One tensor as written to a safetensors file: name, dtype, shape, little-endian bytes.
pub type RawTensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// Encodes the f32 tensor `name` `[shape]` for storage as `dtype`: one raw tensor, or two for
/// int8 (the values and `NAME.__scale`). Tensors below [`MIN_QUANTIZED`] elements, and 1-D
/// tensors for int8, stay f32.
pub fn encode(name: &str, shape: &[usize], data: &[f32], dtype: StoredDtype) -> Vec<RawTensor> {
    let f32_bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let small = data.len() < MIN_QUANTIZED;
    match dtype {
        StoredDtype::F16 if !small => {
            let bytes = data
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect();
            vec![(name.to_string(), Dtype::F16, shape.to_vec(), bytes)]
        }
        StoredDtype::Int8 if !small && shape.len() >= 2 => {
            let rows = shape[0].max(1);
            let cols = data.len() / rows;
            let (q, scales) = quantize_rows(data, rows, cols);
            let bytes = q.iter().map(|&v| v as u8).collect();
            vec![
                (name.to_string(), Dtype::I8, shape.to_vec(), bytes),
                (
                    format!("{name}{SCALE_SUFFIX}"),
                    Dtype::F32,
                    vec![rows],
                    f32_bytes(&scales),
                ),
            ]
        }
        _ => vec![(
            name.to_string(),
            Dtype::F32,
            shape.to_vec(),
            f32_bytes(data),
        )],
    }
}

/// Symmetric int8 quantization of `data` `[rows, cols]`, one scale per row: returns the values
/// `round(x / s)` in −127..=127 and the scales `s = max|row| / 127` (0 for an all-zero row).
pub fn quantize_rows(data: &[f32], rows: usize, cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(data.len());
    let mut scales = Vec::with_capacity(rows);
    for row in data.chunks(cols.max(1)).take(rows) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s = max / 127.0;
        scales.push(s);
        q.extend(row.iter().map(|&v| {
            if s == 0.0 {
                0
            } else {
                (v / s).round().clamp(-127.0, 127.0) as i8
            }
        }));
    }
    (q, scales)
}

/// Values per int8 block of a tensor stored flat ([`encode_blocks`]).
pub const BLOCK: usize = 64;

/// Encodes `data` as int8 in blocks of [`BLOCK`] consecutive values (zero-padded at the end),
/// one scale per block: shape `[ceil(len / BLOCK), BLOCK]`. For tensors whose rows are too
/// short for a per-row scale (the n-gram weights `[features, classes]`); read back with
/// [`decode_as`].
pub fn encode_blocks(name: &str, data: &[f32]) -> Vec<RawTensor> {
    let rows = data.len().div_ceil(BLOCK).max(1);
    let mut padded = data.to_vec();
    padded.resize(rows * BLOCK, 0.0);
    let (q, scales) = quantize_rows(&padded, rows, BLOCK);
    vec![
        (
            name.to_string(),
            Dtype::I8,
            vec![rows, BLOCK],
            q.iter().map(|&v| v as u8).collect(),
        ),
        (
            format!("{name}{SCALE_SUFFIX}"),
            Dtype::F32,
            vec![rows],
            scales.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
    ]
}

/// [`decode`] of a tensor that must have `shape`, also when it was stored by
/// [`encode_blocks`] (`[ceil(len / BLOCK), BLOCK]`, padding dropped).
///
/// # Errors
/// As [`decode`], and a tensor of neither form (the message names both shapes).
pub fn decode_as(st: &SafeTensors, name: &str, path: &Path, shape: &[usize]) -> Result<Vec<f32>> {
    let (stored, mut data) = decode(st, name, path)?;
    let len: usize = shape.iter().product();
    let blocks = [len.div_ceil(BLOCK).max(1), BLOCK];
    if stored == shape {
        return Ok(data);
    }
    if stored == blocks && st.tensor(name).is_ok_and(|v| v.dtype() == Dtype::I8) {
        data.truncate(len);
        return Ok(data);
    }
    bail!(
        "{}: tensor {name} has shape {stored:?}, expected {shape:?}",
        path.display()
    )
}

/// Varint (LEB128) bytes of the gaps between ascending keys (the first gap from 0): a key
/// list `[n]` of u64 in about 1.3 bytes per key instead of 8 for the n-gram branch's sorted
/// keys. Read back with [`delta_decode`].
pub fn delta_encode(keys: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(keys.len() * 2);
    let mut prev = 0u64;
    for &k in keys {
        let mut gap = k.wrapping_sub(prev);
        prev = k;
        loop {
            let byte = (gap & 0x7f) as u8;
            gap >>= 7;
            if gap == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// The keys of [`delta_encode`]'s bytes.
///
/// # Errors
/// Bytes that end inside a number or overflow 64 bits.
pub fn delta_decode(bytes: &[u8]) -> Result<Vec<u64>> {
    let mut keys = Vec::new();
    let (mut prev, mut gap, mut shift) = (0u64, 0u64, 0u32);
    for &b in bytes {
        if shift > 63 {
            bail!("a key gap overflows 64 bits");
        }
        gap |= ((b & 0x7f) as u64) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            prev = prev.wrapping_add(gap);
            keys.push(prev);
            (gap, shift) = (0, 0);
        }
    }
    if shift != 0 {
        bail!("the key list ends inside a number");
    }
    Ok(keys)
}

/// Serializes raw tensors as a safetensors file.
///
/// # Errors
/// A shape that does not fit its bytes.
pub fn serialize(tensors: &[RawTensor]) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, raw)| {
            Ok((
                name.clone(),
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), raw)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, None)?)
}

/// Every tensor of a safetensors file as f32 (name → shape, data), dequantizing f16 and int8
/// tensors (the latter with their `NAME.__scale`, which is not returned itself).
///
/// # Errors
/// A dtype other than f32, f16 or i8, an int8 tensor
/// without a fitting scale tensor, or a non-finite value; each names `path` and the tensor.
pub fn decode_all(st: &SafeTensors, path: &Path) -> Result<TensorMap> {
    let mut out = HashMap::new();
    for (name, _) in st.tensors() {
        if name.ends_with(SCALE_SUFFIX) {
            continue;
        }
        out.insert(name.clone(), decode(st, &name, path)?);
    }
    Ok(out)
}

/// The tensor `name` of `st` as f32 `(shape, data)` (see [`decode_all`]).
///
/// # Errors
/// As [`decode_all`]; also a missing tensor.
pub fn decode(st: &SafeTensors, name: &str, path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let view = st
        .tensor(name)
        .map_err(|_| anyhow::anyhow!("{}: missing tensor {name}", path.display()))?;
    let shape = view.shape().to_vec();
    let bytes = view.data();
    let data: Vec<f32> = match view.dtype() {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::I8 => {
            let scale_name = format!("{name}{SCALE_SUFFIX}");
            let scales = match st.tensor(&scale_name) {
                Ok(s) if s.dtype() == Dtype::F32 && s.shape() == [shape[0]] => s
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<f32>>(),
                _ => bail!(
                    "{}: int8 tensor {name} needs an f32 tensor {scale_name} of shape [{}]",
                    path.display(),
                    shape[0]
                ),
            };
            let cols = bytes.len() / shape[0].max(1);
            bytes
                .iter()
                .enumerate()
                .map(|(i, &b)| (b as i8) as f32 * scales[i / cols.max(1)])
                .collect()
        }
        other => bail!(
            "{}: tensor {name} has dtype {other:?}, expected F32, F16 or I8",
            path.display()
        ),
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: tensor {name} holds a non-finite value ({}) at element {i}; the file is corrupt or the \
             training diverged",
            path.display(),
            data[i]
        );
    }
    Ok((shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(shape: &[usize], data: &[f32], dtype: StoredDtype) -> (Vec<u8>, Vec<f32>) {
        let raw = encode("t", shape, data, dtype);
        let bytes = serialize(&raw).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let all = decode_all(&st, Path::new("x.safetensors")).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all["t"].0, shape);
        (bytes, all["t"].1.clone())
    }

    #[test]
    fn int8_rows_round_to_their_own_scale() {
        // Row 0: max 127 → s = 1; 0.5 rounds away from zero to 1, -33.3 to -33.
        // Row 1: all zero → scale 0, read back as zeros.
        let mut data = vec![0.0f32; 2 * 600];
        data[0] = 127.0;
        data[1] = 0.5;
        data[2] = -33.3;
        let (q, s) = quantize_rows(&data, 2, 600);
        assert_eq!(s, vec![1.0, 0.0]);
        assert_eq!(&q[..3], &[127, 1, -33]);
        let (_, back) = round_trip(&[2, 600], &data, StoredDtype::Int8);
        assert_eq!(&back[..3], &[127.0, 1.0, -33.0]);
        assert!(back[600..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn errors_stay_within_half_a_step_and_small_tensors_stay_f32() {
        let data: Vec<f32> = (0..4096)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let (bytes8, back8) = round_trip(&[64, 64], &data, StoredDtype::Int8);
        let (bytes16, back16) = round_trip(&[64, 64], &data, StoredDtype::F16);
        let (bytes32, back32) = round_trip(&[64, 64], &data, StoredDtype::F32);
        assert_eq!(back32, data);
        for r in 0..64 {
            let row = &data[r * 64..(r + 1) * 64];
            let half_step = row.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0 / 2.0;
            for c in 0..64 {
                let i = r * 64 + c;
                assert!((back8[i] - data[i]).abs() <= half_step * 1.0001);
                assert!((back16[i] - data[i]).abs() <= data[i].abs() / 2048.0);
            }
        }
        assert!(
            bytes8.len() < bytes32.len() / 3,
            "{} {}",
            bytes8.len(),
            bytes32.len()
        );
        assert!(bytes16.len() < bytes32.len() * 6 / 10);
        // A bias of 3 values is kept exactly.
        let (_, bias) = round_trip(&[3], &[0.1, 0.2, 0.3], StoredDtype::Int8);
        assert_eq!(bias, vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn blocks_and_key_gaps_round_trip() {
        let data: Vec<f32> = (0..130).map(|i| (i as f32 - 60.0) / 8.0).collect();
        let bytes = serialize(&encode_blocks("w", &data)).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let back = decode_as(&st, "w", Path::new("n.safetensors"), &[65, 2]).unwrap();
        assert_eq!(back.len(), 130);
        for (b, d) in back.iter().zip(&data) {
            // No block's largest magnitude exceeds 8.625 (value 129): half a step of 8.625/127.
            assert!((b - d).abs() <= 8.625 / 127.0 / 2.0 + 1e-6, "{b} {d}");
        }
        let err = decode_as(&st, "w", Path::new("n.safetensors"), &[100, 2]).unwrap_err();
        assert!(err.to_string().contains("expected [100, 2]"), "{err}");
        let keys = [0u64, 1, 127, 128, 300, 1 << 40, (1 << 63) + 5, u64::MAX];
        let packed = delta_encode(&keys);
        // Gaps 0, 1, 126 take a byte each, 1 and 172 one and two.
        assert_eq!(&packed[..5], &[0, 1, 126, 1, 172]);
        assert_eq!(delta_decode(&packed).unwrap(), keys);
        assert!(delta_decode(&[0x80]).is_err());
    }

    #[test]
    fn int8_without_its_scale_is_refused() {
        let raw = encode("t", &[2, 600], &vec![1.0; 1200], StoredDtype::Int8);
        let bytes = serialize(&raw[..1]).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let err = decode_all(&st, Path::new("m.safetensors")).unwrap_err();
        assert!(err.to_string().contains("t.__scale"), "{err}");
    }
}
