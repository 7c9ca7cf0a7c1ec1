//! Seeded results that no dependency bump can change silently: the crate's random stream is
//! ChaCha8 with its own conversions (`src/rng.rs`). This file re-derives the stream from the
//! ChaCha definition (D. J. Bernstein's, 8 rounds, 64-bit block counter) and the documented
//! conversions, independently of the crate, and holds an epoch's shuffle, a split and an
//! initialisation to it — and pins the first values as numbers, so a change in the stream
//! itself fails here too.

mod common;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use wgsl_train::data::{diabetes, SplitConfig, Task};
use wgsl_train::nn::{initial_values, Init, Mlp};
use wgsl_train::train::epoch_order;

/// ChaCha8 as defined: 16 words of constants, key, 64-bit counter and 64-bit nonce (0), eight
/// rounds (four double rounds), the input added back, words out in order.
struct ChaCha8 {
    key: [u32; 8],
    counter: u64,
    block: Vec<u32>,
}

impl ChaCha8 {
    fn new(seed: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let key = std::array::from_fn(|i| {
            u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap())
        });
        Self {
            key,
            counter: 0,
            block: Vec::new(),
        }
    }

    fn next_block(&mut self) {
        let mut input = [0u32; 16];
        input[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        input[4..12].copy_from_slice(&self.key);
        input[12] = self.counter as u32;
        input[13] = (self.counter >> 32) as u32;
        let mut x = input;
        let qr = |x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize| {
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(16);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(12);
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(8);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(7);
        };
        for _ in 0..4 {
            qr(&mut x, 0, 4, 8, 12);
            qr(&mut x, 1, 5, 9, 13);
            qr(&mut x, 2, 6, 10, 14);
            qr(&mut x, 3, 7, 11, 15);
            qr(&mut x, 0, 5, 10, 15);
            qr(&mut x, 1, 6, 11, 12);
            qr(&mut x, 2, 7, 8, 13);
            qr(&mut x, 3, 4, 9, 14);
        }
        self.block = (0..16).rev().map(|i| x[i].wrapping_add(input[i])).collect();
        self.counter += 1;
    }

    fn next_u32(&mut self) -> u32 {
        if self.block.is_empty() {
            self.next_block();
        }
        self.block.pop().unwrap()
    }

    fn next_u64(&mut self) -> u64 {
        let low = u64::from(self.next_u32());
        low | u64::from(self.next_u32()) << 32
    }

    /// `src/rng.rs`'s conversions, as its docs state them.
    fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if product as u64 >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u32() >> 8) as f32 / 16_777_216.0)
    }

    /// Box–Muller's cosine branch from two uniforms in (0, 1] of 53 bits each.
    fn normal(&mut self) -> f64 {
        let mut unit = || ((self.next_u64() >> 11) + 1) as f64 / 2f64.powi(53);
        let radius = (-2.0 * unit().ln()).sqrt();
        radius * (std::f64::consts::TAU * unit()).cos()
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

#[test]
fn the_stream_is_chacha8_as_defined() {
    for seed in [0u64, 1, 42, u64::MAX] {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let mut dependency = rand_chacha::ChaCha8Rng::from_seed(key);
        let mut definition = ChaCha8::new(seed);
        for i in 0..100 {
            assert_eq!(
                dependency.next_u32(),
                definition.next_u32(),
                "seed {seed}, word {i}"
            );
        }
    }
}

#[test]
fn shuffles_splits_and_initialisations_are_pinned() {
    // An epoch's shuffle: seed 0, epoch 1, ten rows; the seed mixing is `epoch_order`'s docs'.
    let mixed = 1u64.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut want: Vec<u32> = (0..10).collect();
    ChaCha8::new(mixed).shuffle(&mut want);
    assert_eq!(epoch_order(0, 1, 10), want);
    assert_eq!(want, PINNED_ORDER, "the stream itself changed");

    // The default split of diabetes (regression: one stratum of every row, shuffled with the
    // split seed; then 15% test, 15% validation, the rest training; each part sorted).
    let data = diabetes().unwrap();
    let split = data.split(&SplitConfig::default()).unwrap();
    let mut rows: Vec<usize> = (0..data.len()).collect();
    ChaCha8::new(0).shuffle(&mut rows);
    let n_test = (data.len() as f64 * 0.15).round() as usize;
    let mut test_rows = rows[..n_test].to_vec();
    test_rows.sort_unstable();
    assert_eq!(split.indices[2], test_rows);
    assert_eq!(
        split.indices[2][..5],
        PINNED_TEST_ROWS,
        "the stream itself changed"
    );

    // A 10→5→1 MLP from seed 0: weights then biases, layer by layer, uniform in ±1/√fan_in.
    let gpu = common::gpu();
    let mlp = Mlp::new(gpu, &[10, 5, 1], Task::Regression, 0).unwrap();
    let mut stream = ChaCha8::new(0);
    for tensor in mlp.state_dict(gpu).unwrap() {
        let fan_in = if tensor.name.starts_with('0') {
            10.0f32
        } else {
            5.0
        };
        let bound = 1.0 / fan_in.sqrt();
        let want: Vec<f32> = (0..tensor.data.len())
            .map(|_| stream.uniform(-bound, bound))
            .collect();
        assert_eq!(tensor.data, want, "{}", tensor.name);
        if tensor.name == "0.weight" {
            assert_eq!(
                tensor.data[..3],
                PINNED_WEIGHTS,
                "the stream itself changed"
            );
        }
    }
}

/// A normal initialisation (`xavier_normal`) from seed 3: each weight std·N(0, 1), N from
/// Box–Muller's cosine branch, the biases uniform in ±1/√fan_in after the layer's weights.
#[test]
fn normal_initialisations_are_pinned() {
    let init: Init = "xavier_normal".parse().unwrap();
    let layers = initial_values(&[10, 5, 1], init, 3);
    let mut stream = ChaCha8::new(3);
    for (l, [weight, bias]) in layers.iter().enumerate() {
        let (fan_in, fan_out) = [(10.0, 5.0), (5.0, 1.0)][l];
        let std = (2.0f64 / (fan_in + fan_out)).sqrt();
        let want: Vec<f32> = (0..weight.len())
            .map(|_| (std * stream.normal()) as f32)
            .collect();
        assert_eq!(weight, &want, "layer {l}'s weight");
        let bound = 1.0 / (fan_in as f32).sqrt();
        let want: Vec<f32> = (0..bias.len())
            .map(|_| stream.uniform(-bound, bound))
            .collect();
        assert_eq!(bias, &want, "layer {l}'s bias");
    }
    assert_eq!(
        layers[0][0][..3],
        PINNED_NORMAL,
        "the stream itself changed"
    );
}

// The first values as numbers (computed from the definition above, the day the stream was
// chosen): a change in ChaCha8's implementation or in the conversions fails here.
const PINNED_ORDER: [u32; 10] = [5, 8, 6, 2, 4, 3, 0, 7, 1, 9];
const PINNED_TEST_ROWS: [usize; 5] = [0, 11, 23, 24, 36];
const PINNED_WEIGHTS: [f32; 3] = [-0.19780642, 0.21308675, 0.25871417];
const PINNED_NORMAL: [f32; 3] = [-0.2390665, -0.32076433, -0.10449302];

/// A replayed seed is the one given, and a malformed one is an error, not a random seed.
#[test]
fn wgsl_train_seed_is_read_exactly_or_refused() {
    let seed = |variable: &str, test: &str| common::seed_from(Some(variable), test);
    assert_eq!(seed("14371165966673393161", "any"), 14371165966673393161);
    // Each named draw its own seed; a draw not listed gets a fresh one.
    let list = "adam/l2=7, sgd = 9";
    assert_eq!((seed(list, "adam/l2"), seed(list, "sgd")), (7, 9));
    let fresh: Vec<u64> = (0..4).map(|_| seed(list, "other")).collect();
    assert!(fresh.iter().any(|&s| s != 7 && s != 9), "{fresh:?}");
    for bad in ["12x", "a=1,b", "a=1,b=x", "=", ""] {
        let refused = std::panic::catch_unwind(|| seed(bad, "a"));
        let message = refused.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(
            message.contains(&format!("{bad:?} is not a seed")),
            "{bad:?}: {message}"
        );
    }
}
