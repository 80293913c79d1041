//! Embedding lookup: token ids to dense rows, and the sparse gradient of the lookup table.

/// Forward pass for one example: copy the embedding rows of `ids[..length]` into `out`
/// and zero rows `length..rows`.
///
/// * `weight`: `[vocab_size, emb_dim]`
/// * `ids`: `[seq_len]` (only the first `length` are read; positions `>= length` are padding and
///   are treated as the zero `<pad>` row whatever id they hold)
/// * `out`: `[rows, emb_dim]` with `rows >= length`
pub fn embedding_forward(
    weight: &[f32],
    emb_dim: usize,
    ids: &[u32],
    length: usize,
    out: &mut [f32],
) {
    debug_assert!(out.len().is_multiple_of(emb_dim) && out.len() / emb_dim >= length);
    let (real, pad) = out.split_at_mut(length * emb_dim);
    for (row, &id) in real.chunks_exact_mut(emb_dim).zip(&ids[..length]) {
        let id = id as usize;
        row.copy_from_slice(&weight[id * emb_dim..(id + 1) * emb_dim]);
    }
    pad.fill(0.0);
}

/// Collects into `rows` the distinct ids other than 0 (`<pad>`) of `ids` `[batch, seq_len]` over
/// each row's first `lengths[b]` positions, in order of first occurrence (row-major), and calls
/// `at(position, index into rows)` for every such position (`u32::MAX` for id 0). `slot`
/// (`[vocab_size]`, every entry `u32::MAX` except those of the ids already in `rows`) is reset
/// and reused, so a caller that keeps it pays no `vocab_size` allocation per batch.
pub(crate) fn distinct_ids(
    slot: &mut Vec<u32>,
    rows: &mut Vec<u32>,
    vocab_size: usize,
    ids: &[u32],
    lengths: &[usize],
    seq_len: usize,
    mut at: impl FnMut(usize, u32),
) {
    if slot.len() != vocab_size {
        *slot = vec![u32::MAX; vocab_size];
    }
    for &r in rows.iter() {
        slot[r as usize] = u32::MAX;
    }
    rows.clear();
    for (b, &len) in lengths.iter().enumerate() {
        let start = b * seq_len;
        for (p, &id) in ids[start..start + len]
            .iter()
            .enumerate()
            .map(|(i, id)| (start + i, id))
        {
            if id == 0 {
                at(p, u32::MAX);
                continue;
            }
            if slot[id as usize] == u32::MAX {
                slot[id as usize] = rows.len() as u32;
                rows.push(id);
            }
            at(p, slot[id as usize]);
        }
    }
}

/// Gradient of the embedding table restricted to the rows present in a batch (a sparse gradient).
///
/// `rows[i]` is a vocabulary id and `grad[i * emb_dim..(i + 1) * emb_dim]` its gradient row; rows
/// appear in order of first occurrence in the batch (row-major over `[batch, seq_len]`), so the
/// layout is deterministic. Id 0 (`<pad>`) is never included: its row receives no gradient.
#[derive(Clone, Debug, Default)]
pub struct SparseRows {
    /// Vocabulary ids of the present rows, `[n_rows]`.
    pub rows: Vec<u32>,
    /// Gradient rows, `[n_rows, emb_dim]`.
    pub grad: Vec<f32>,
    /// `slot[id]` = index into `rows` of vocabulary id `id`, or `u32::MAX`; `[vocab_size]`.
    slot: Vec<u32>,
}

impl SparseRows {
    /// Reset for a new batch and register the ids present in it.
    ///
    /// * `ids`: `[batch, seq_len]`, `lengths`: `[batch]` (positions `>= lengths[b]` are ignored)
    pub fn gather_rows(
        &mut self,
        vocab_size: usize,
        emb_dim: usize,
        ids: &[u32],
        lengths: &[usize],
        seq_len: usize,
    ) {
        distinct_ids(
            &mut self.slot,
            &mut self.rows,
            vocab_size,
            ids,
            lengths,
            seq_len,
            |_, _| {},
        );
        self.grad.clear();
        self.grad.resize(self.rows.len() * emb_dim, 0.0);
    }

    /// Index into `rows` of vocabulary id `id`, if present.
    pub fn slot_of(&self, id: u32) -> Option<usize> {
        match self.slot.get(id as usize) {
            Some(&s) if s != u32::MAX => Some(s as usize),
            _ => None,
        }
    }
}

/// Backward pass for one example: add the gradient w.r.t. the looked-up rows into the sparse
/// table gradient. Call for the examples of a batch in order (the sum order is then fixed).
///
/// * `dx`: `[length, emb_dim]`, gradient w.r.t. the forward output's real rows
/// * `ids`: `[seq_len]`; ids at positions `< length` must have been registered with
///   [`SparseRows::gather_rows`]; id 0 is skipped
pub fn embedding_backward(
    dx: &[f32],
    emb_dim: usize,
    ids: &[u32],
    length: usize,
    grad: &mut SparseRows,
) {
    for (t, &id) in ids[..length].iter().enumerate() {
        if id == 0 {
            continue;
        }
        let s = grad.slot[id as usize] as usize;
        let g = &mut grad.grad[s * emb_dim..(s + 1) * emb_dim];
        for (g, &d) in g.iter_mut().zip(&dx[t * emb_dim..(t + 1) * emb_dim]) {
            *g += d;
        }
    }
}
