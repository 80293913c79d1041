//! The arithmetic of word-vector training: dot products and row updates of `dim` floats, the
//! sigmoid and log lookup tables of fastText (`src/loss.cc`), and the small random generator
//! of the training threads.
//!
//! The vector kernels are `#[inline(always)]` so that they are compiled into the round function
//! of [`super::trainer`], which is built for AVX-512F, for AVX2 + FMA and portably, chosen at run
//! time (the `simd_dispatch!` pattern of [`crate::nn::token_proj`]). They sum in 16 fixed lanes
//! and never fuse a multiply with an add, so every build gives the same bits.

/// Lanes of the partial sums of [`dot`]: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

/// `Σ a[j] · b[j]`, summed in [`LANES`] partial sums combined in a fixed order. `a` and `b`
/// have the same length.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let (mut ac, mut bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ac).zip(&mut bc) {
        // Fixed-size views: the compiler keeps `acc` in vector registers.
        let x: &[f32; LANES] = x.try_into().expect("a full chunk");
        let y: &[f32; LANES] = y.try_into().expect("a full chunk");
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ac.remainder().iter().zip(bc.remainder()) {
        tail += x * y;
    }
    // Pairwise, in a fixed order.
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0] + tail
}

/// `y += x`.
#[inline(always)]
pub fn add(x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (y, x) in y.iter_mut().zip(x) {
        *y += x;
    }
}

/// `y += a · x`.
#[inline(always)]
pub fn add_scaled(a: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `y *= a`.
#[inline(always)]
pub fn scale(a: f32, y: &mut [f32]) {
    for y in y {
        *y *= a;
    }
}

/// The update of an output row in negative sampling (fastText's `binaryLogistic`, backward):
/// `grad += alpha · out` with the row as it was, then `out += alpha · hidden`.
#[inline(always)]
pub fn output_update(alpha: f32, out: &mut [f32], hidden: &[f32], grad: &mut [f32]) {
    debug_assert!(out.len() == hidden.len() && out.len() == grad.len());
    for ((o, h), g) in out.iter_mut().zip(hidden).zip(grad.iter_mut()) {
        *g += alpha * *o;
        *o += alpha * h;
    }
}

/// Entries of the sigmoid and log tables (fastText's `SIGMOID_TABLE_SIZE`, `LOG_TABLE_SIZE`).
const TABLE_SIZE: usize = 512;
/// The sigmoid table covers `[-MAX_SIGMOID, MAX_SIGMOID]`; outside it is 0 or 1.
const MAX_SIGMOID: f32 = 8.0;

/// fastText's lookup tables: the sigmoid at 513 points of `[-8, 8]` and `ln` at 513 points of
/// `(0, 1]`, each read at the point at or below the argument (no interpolation).
#[derive(Clone, Debug)]
pub struct Tables {
    sigmoid: Vec<f32>,
    log: Vec<f32>,
}

impl Default for Tables {
    fn default() -> Self {
        Tables::new()
    }
}

impl Tables {
    /// Builds both tables as fastText's `Loss` constructor does.
    pub fn new() -> Tables {
        let sigmoid = (0..=TABLE_SIZE)
            .map(|i| {
                let x = (i as f32 * 2.0 * MAX_SIGMOID) / TABLE_SIZE as f32 - MAX_SIGMOID;
                (1.0 / (1.0 + (-x as f64).exp())) as f32
            })
            .collect();
        let log = (0..=TABLE_SIZE)
            .map(|i| ((i as f32 + 1e-5) / TABLE_SIZE as f32).ln())
            .collect();
        Tables { sigmoid, log }
    }

    /// `1 / (1 + e^-x)` from the table: 0 below -8, 1 above 8.
    #[inline(always)]
    pub fn sigmoid(&self, x: f32) -> f32 {
        if x < -MAX_SIGMOID {
            0.0
        } else if x > MAX_SIGMOID {
            1.0
        } else {
            // (x + 8) · 512 / 16, as fastText computes the index.
            let i = ((x + MAX_SIGMOID) * (TABLE_SIZE as f32 / (2.0 * MAX_SIGMOID))) as usize;
            self.sigmoid[i.min(TABLE_SIZE)]
        }
    }

    /// `ln x` for `x` in `[0, 1]` from the table (0 above 1; about `ln(1e-5 / 512)` at 0).
    #[inline(always)]
    pub fn log(&self, x: f32) -> f32 {
        if x > 1.0 {
            return 0.0;
        }
        let i = (x.max(0.0) * TABLE_SIZE as f32) as usize;
        self.log[i.min(TABLE_SIZE)]
    }
}

/// Walker's alias method (Vose's construction): draws index `i` with probability
/// `weights[i] / Σ weights` from one 64-bit random number, reading one 8-byte entry.
///
/// fastText draws negatives from a table of 10 million word ids filled in proportion to the
/// weights; its random reads miss the cache on nearly every draw (half the training time, by
/// `perf`). This gives the same distribution (exactly, rather than to 1e-7) from `n` entries.
#[derive(Clone, Debug)]
pub struct AliasTable {
    /// Per index: keep it when the coin (low 32 bits) is below the threshold, else take the
    /// alias.
    entries: Vec<(u32, u32)>,
}

impl AliasTable {
    /// A table for non-negative `weights` with a positive sum.
    ///
    /// # Panics
    /// When `weights` is empty, longer than `u32::MAX`, or sums to zero.
    pub fn new(weights: &[f64]) -> AliasTable {
        let n = weights.len();
        assert!(n > 0 && n <= u32::MAX as usize, "1 to 2^32 - 1 weights");
        let sum: f64 = weights.iter().sum();
        assert!(sum > 0.0, "the weights sum to zero");
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        let mut entries = vec![(u32::MAX, 0u32); n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            entries[s] = ((scaled[s] * 4_294_967_296.0) as u32, l as u32);
            scaled[l] += scaled[s] - 1.0;
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Left over (probability 1, up to rounding): always themselves.
        for i in small.into_iter().chain(large) {
            entries[i] = (u32::MAX, i as u32);
        }
        AliasTable { entries }
    }

    /// An index drawn from `rng`.
    #[inline(always)]
    pub fn sample(&self, rng: &mut SplitMix64) -> u32 {
        let r = rng.next_u64();
        let i = (((r >> 32) * self.entries.len() as u64) >> 32) as usize;
        let (threshold, alias) = self.entries[i];
        if (r as u32) < threshold {
            i as u32
        } else {
            alias
        }
    }

    /// The probability of drawing `i` (for tests).
    #[cfg(test)]
    fn probability(&self, i: u32) -> f64 {
        let n = self.entries.len() as f64;
        let mut p = 0.0;
        for (j, &(t, a)) in self.entries.iter().enumerate() {
            let keep = if t == u32::MAX {
                1.0
            } else {
                t as f64 / 4_294_967_296.0
            };
            if j as u32 == i {
                p += keep / n;
            }
            if a == i && j as u32 != i {
                p += (1.0 - keep) / n;
            }
        }
        p
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit state, one add and two multiply-xorshifts per
/// draw; its output passes BigCrush. Cheap enough for the three or so draws per token and five
/// per negative sample of training.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `[0, 1)` with 24 random bits.
    #[inline(always)]
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform in `0..n` (`n ≥ 1`; Lemire's multiply-shift, bias below `n / 2^32`).
    #[inline(always)]
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// SplitMix64's output function: a bijective mix of 64 bits.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for the stream identified by `parts` (seed, epoch, round, thread, …): each part is
/// mixed in turn, so different tuples give unrelated streams.
pub fn stream_seed(parts: &[u64]) -> u64 {
    parts.iter().fold(0x6A09_E667_F3BC_C908, |h, &p| {
        mix64(h ^ mix64(p.wrapping_add(0x9E37_79B9_7F4A_7C15)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_updates_match_plain_loops() {
        for n in [1usize, 15, 16, 17, 100, 300] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.25).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 3 % 5) as f32 - 2.0) * 0.5).collect();
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64) * (*y as f64))
                .sum();
            // Quarter and half steps: every product and partial sum is exact.
            assert_eq!(dot(&a, &b) as f64, want, "{n}");
            let mut y = b.clone();
            add_scaled(0.5, &a, &mut y);
            add_scaled(-0.5, &a, &mut y);
            add(&a, &mut y);
            scale(2.0, &mut y);
            for j in 0..n {
                assert_eq!(y[j], 2.0 * (b[j] + a[j]));
            }
            let (mut out, mut grad) = (a.clone(), vec![1.0; n]);
            output_update(0.5, &mut out, &b, &mut grad);
            for j in 0..n {
                assert_eq!(grad[j], 1.0 + 0.5 * a[j]);
                assert_eq!(out[j], a[j] + 0.5 * b[j]);
            }
        }
    }

    #[test]
    fn tables_follow_fasttext() {
        let t = Tables::new();
        assert_eq!(t.sigmoid(-9.0), 0.0);
        assert_eq!(t.sigmoid(9.0), 1.0);
        assert_eq!(t.sigmoid(0.0), 0.5);
        assert_eq!(t.sigmoid(8.0), t.sigmoid[512]);
        for x in [-7.9f32, -1.3, 0.01, 2.0, 5.5] {
            assert!(
                (t.sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 0.02,
                "{x}"
            );
        }
        assert_eq!(t.log(1.5), 0.0);
        assert!((t.log(0.5) - 0.5f32.ln()).abs() < 1e-4);
        assert!((t.log(0.0) - (1e-5f32 / 512.0).ln()).abs() < 1e-3);
    }

    #[test]
    fn alias_table_gives_the_weights_distribution() {
        let weights: Vec<f64> = [400.0f64, 100.0, 1.0, 1.0, 0.0, 57.0, 3.0]
            .iter()
            .map(|c| c.sqrt())
            .collect();
        let sum: f64 = weights.iter().sum();
        let t = AliasTable::new(&weights);
        for (i, w) in weights.iter().enumerate() {
            assert!((t.probability(i as u32) - w / sum).abs() < 1e-9, "{i}");
        }
        let mut rng = SplitMix64::new(5);
        let mut hist = [0usize; 7];
        for _ in 0..200_000 {
            hist[t.sample(&mut rng) as usize] += 1;
        }
        assert_eq!(hist[4], 0);
        for (i, w) in weights.iter().enumerate() {
            let want = 200_000.0 * w / sum;
            assert!(
                (hist[i] as f64 - want).abs() < 5.0 * want.sqrt() + 1.0,
                "{i}: {hist:?}"
            );
        }
        let one = AliasTable::new(&[2.0]);
        assert_eq!(one.sample(&mut rng), 0);
    }

    #[test]
    fn generator_is_uniform_enough_and_seeded() {
        let mut r = SplitMix64::new(stream_seed(&[1, 2, 3]));
        let mut hist = [0usize; 5];
        let mut sum = 0.0;
        for _ in 0..50_000 {
            hist[r.below(5)] += 1;
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            sum += u as f64;
        }
        assert!(
            hist.iter().all(|&h| (9_500..10_500).contains(&h)),
            "{hist:?}"
        );
        assert!((sum / 50_000.0 - 0.5).abs() < 0.01);
        assert_ne!(stream_seed(&[1, 2, 3]), stream_seed(&[1, 3, 2]));
        let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
