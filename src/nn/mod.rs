//! Compute core: layers with hand-written forward and backward passes, and optimizers.
//!
//! Every layer lives in its own file with its forward and backward pass side by side; tensor
//! shapes are stated in each function's doc comment, row-major, e.g. `[batch, seq_len, emb_dim]`.
//! Layers work on plain `f32` slices and never allocate on the hot path: callers (the model and
//! the trainer in the `model` module) own the buffers.
//!
//! Determinism: nothing here uses atomics or unordered reductions. Parallel loops write disjoint
//! outputs and every sum runs in a fixed order, so results do not depend on the number of threads.

pub mod conv;
pub mod conv2d;
pub mod dense;
pub mod dense_gemm;
pub mod dropout;
pub mod embedding;
pub mod loss;
pub mod optim;
pub mod pool;
pub mod pool2d;
pub(crate) mod simd;
pub mod softmax;
pub mod token_proj;

pub use softmax::{argmax, softmax_in_place};

/// A pointer into one `f32` buffer handed to rayon tasks that each write a disjoint part of it
/// (column blocks of a matrix, rows of a table): the caller guarantees the parts do not overlap
/// and the buffer outlives the tasks.
#[derive(Clone, Copy)]
pub(crate) struct DisjointPtr(pub(crate) *mut f32);
// SAFETY: only shared between tasks that write disjoint parts of the buffer (see above).
unsafe impl Send for DisjointPtr {}
unsafe impl Sync for DisjointPtr {}
impl DisjointPtr {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Build a rayon pool with `n` threads (`0` = one per available core). Run work inside
/// `pool.install(|| ..)`; the layers use whichever pool they are called from.
pub fn thread_pool(n: usize) -> rayon::ThreadPool {
    let n = if n == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        n
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .expect("failed to build the rayon thread pool")
}
