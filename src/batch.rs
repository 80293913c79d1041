//! Mini-batches of encoded texts: padding rows to a common length and grouping texts of similar
//! length so that little compute is spent on padding.

use crate::text::{Encoded, PAD_ID};

/// Input batch.
///
/// `ids`: `[batch, seq_len]` row-major token ids, padded with id 0 after each row's real tokens;
/// `lengths`: `[batch]`, the number of real tokens of each row (may be 0). Positions
/// `>= lengths[b]` are padding whatever id they hold.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// Token ids, `[batch, seq_len]`.
    pub ids: &'a [u32],
    /// Real tokens per row, `[batch]`.
    pub lengths: &'a [usize],
    /// Rows.
    pub batch: usize,
    /// Positions per row (>= the largest region size).
    pub seq_len: usize,
}

impl<'a> Batch<'a> {
    /// A batch of `lengths.len()` rows of `seq_len` ids each (`ids` is `[rows, seq_len]`).
    pub fn new(ids: &'a [u32], lengths: &'a [usize], seq_len: usize) -> Batch<'a> {
        Batch {
            ids,
            lengths,
            batch: lengths.len(),
            seq_len,
        }
    }

    /// Panics with a clear message unless `ids` is `[batch, seq_len]`, `lengths` is `[batch]`,
    /// every length is at most `seq_len` and every real token id is below `vocab_size`. The
    /// check shared by both models (each adds its own).
    pub(crate) fn check(&self, vocab_size: usize) {
        assert_eq!(
            self.ids.len(),
            self.batch * self.seq_len,
            "Batch: ids.len() != batch * seq_len"
        );
        assert_eq!(
            self.lengths.len(),
            self.batch,
            "Batch: lengths.len() != batch"
        );
        for (b, &len) in self.lengths.iter().enumerate() {
            assert!(
                len <= self.seq_len,
                "Batch: lengths[{b}] = {len} > seq_len {}",
                self.seq_len
            );
            let row = &self.ids[b * self.seq_len..b * self.seq_len + len];
            if let Some(&id) = row.iter().find(|&&id| id as usize >= vocab_size) {
                panic!("Batch: token id {id} in row {b} is out of range (vocab_size {vocab_size})");
            }
        }
    }
}

/// Ids of several encoded texts padded with `PAD_ID` to the longest row.
///
/// `ids` is row-major `[batch, seq_len]`; `lengths[b]` is the number of real tokens of row `b`.
#[derive(Clone, Debug, Default)]
pub struct PaddedBatch {
    pub ids: Vec<u32>,
    pub lengths: Vec<usize>,
    pub seq_len: usize,
}

impl PaddedBatch {
    /// Pads `rows` to a common `seq_len` = max(longest row, `min_len`). Each encoded row already
    /// holds at least the encoder's minimum length (the widest region size).
    pub fn new(rows: &[&Encoded], min_len: usize) -> PaddedBatch {
        let seq_len = rows
            .iter()
            .map(|e| e.ids.len())
            .max()
            .unwrap_or(0)
            .max(min_len);
        let mut ids = vec![PAD_ID; rows.len() * seq_len];
        let mut lengths = Vec::with_capacity(rows.len());
        for (b, e) in rows.iter().enumerate() {
            ids[b * seq_len..b * seq_len + e.ids.len()].copy_from_slice(&e.ids);
            lengths.push(real_length(e));
        }
        PaddedBatch {
            ids,
            lengths,
            seq_len,
        }
    }

    /// Borrowed view for the model.
    pub fn view(&self) -> Batch<'_> {
        Batch {
            ids: &self.ids,
            lengths: &self.lengths,
            batch: self.lengths.len(),
            seq_len: self.seq_len,
        }
    }
}

/// Number of real (non-padding) ids of an encoded text.
pub fn real_length(e: &Encoded) -> usize {
    e.ids
        .iter()
        .rposition(|&id| id != PAD_ID)
        .map_or(0, |p| p + 1)
}

/// Splits `order` (indices into `lengths`) into batches of at most `batch_size`, where each run of
/// `batch_size * pool` consecutive indices is sorted by length first. With `pool = 1` this is
/// plain sequential batching. Sorting inside a pool keeps the shuffle's randomness across pools
/// while making rows of one batch similar in length (the "bucket iterator" of torchtext).
pub fn bucketed_batches(
    order: &[usize],
    lengths: &[usize],
    batch_size: usize,
    pool: usize,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut out = Vec::with_capacity(order.len().div_ceil(batch_size));
    for chunk in order.chunks(batch_size * pool.max(1)) {
        let mut chunk = chunk.to_vec();
        if pool > 1 {
            chunk.sort_by_key(|&i| lengths[i]);
        }
        out.extend(chunk.chunks(batch_size).map(|c| c.to_vec()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ids: &[u32]) -> Encoded {
        Encoded {
            ids: ids.to_vec(),
            n_tokens: ids.len(),
            n_oov: 0,
            truncated: false,
        }
    }

    #[test]
    fn pads_rows_to_longest_and_records_lengths() {
        let a = enc(&[5, 6, 7]);
        let b = enc(&[8, 0, 0]);
        let c = enc(&[9, 10, 11, 12, 13]);
        let p = PaddedBatch::new(&[&a, &b, &c], 4);
        assert_eq!(p.seq_len, 5);
        assert_eq!(p.lengths, vec![3, 1, 5]);
        assert_eq!(p.ids, vec![5, 6, 7, 0, 0, 8, 0, 0, 0, 0, 9, 10, 11, 12, 13]);
        let q = PaddedBatch::new(&[&b], 4);
        assert_eq!((q.seq_len, q.ids.clone()), (4, vec![8, 0, 0, 0]));
    }

    #[test]
    fn bucketing_sorts_within_pools_and_keeps_every_index_once() {
        let lengths = vec![9, 1, 8, 2, 7, 3, 6, 4];
        let order: Vec<usize> = (0..8).collect();
        let b = bucketed_batches(&order, &lengths, 2, 2);
        assert_eq!(b, vec![vec![1, 3], vec![2, 0], vec![5, 7], vec![6, 4]]);
        let plain = bucketed_batches(&order, &lengths, 3, 1);
        assert_eq!(plain, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]);
    }
}
