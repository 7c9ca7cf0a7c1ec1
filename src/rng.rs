//! The crate's seeded random numbers, the same on every machine and in every version (a leaf).
//!
//! The stream is ChaCha8 (`rand_chacha`), seeded with the seed's eight bytes and zeros, and
//! everything drawn from it — integers below a bound, floats in a range, shuffles — is
//! converted here rather than by `rand`'s samplers, whose output `rand` does not promise to
//! keep from version to version. So a split, an initialisation or an epoch's shuffle depends on
//! the seed and on ChaCha8 alone; `tests/rng.rs` pins the first values.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded generator.
pub(crate) struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        Self(ChaCha8Rng::from_seed(key))
    }

    /// Uniform in `[0, n)` for `n ≥ 1`: Lemire's multiply-and-shift, rejecting the few draws
    /// that would make it uneven.
    pub fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n; // 2⁶⁴ mod n
        loop {
            let product = u128::from(self.0.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Uniform in `[lo, hi)`: 24 random bits as a fraction, scaled.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let fraction = (self.0.next_u32() >> 8) as f32 / 16_777_216.0;
        lo + (hi - lo) * fraction
    }

    /// Uniform in `(0, 1]` with 53 random bits.
    fn unit_open_below(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) + 1) as f64 / 9_007_199_254_740_992.0
    }

    /// Standard normal: Box–Muller's cosine branch from two 53-bit uniforms (the sine branch
    /// is dropped, so each value costs two draws and no state is carried between calls).
    pub fn normal(&mut self) -> f64 {
        let radius = (-2.0 * self.unit_open_below().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.unit_open_below();
        radius * angle.cos()
    }

    /// Shuffles `items` in place (Fisher–Yates, from the end).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2,
/// 3", SC 2011; one of cuRAND's generators, and PyTorch's on CUDA): the four words of
/// `counter` encrypted under `key` in ten rounds. Counter-based — any element's draw is
/// computed alone from its key and counter, in any order — and written again in WGSL
/// (`philox4x32_10` in `shaders/formulas.wgsl`) so that the GPU draws the same bits.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    const M: [u32; 2] = [0xD251_1F53, 0xCD9E_8D57];
    const W: [u32; 2] = [0x9E37_79B9, 0xBB67_AE85];
    let (mut c, mut k) = (counter, key);
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W[0]), k[1].wrapping_add(W[1])];
        }
        let p0 = u64::from(M[0]) * u64::from(c[0]);
        let p1 = u64::from(M[1]) * u64::from(c[2]);
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}
