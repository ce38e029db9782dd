//! `TaskRng`: the small, portable, serialisable random generator behind every task and choice.
//!
//! SplitMix64 (Steele, Lea & Flood 2014): one 64-bit state, an add and three xor-shift-multiplies
//! per draw. We own it, so a seed gives the same tasks forever (rand's `SmallRng`/`StdRng` make no
//! such promise across versions), it costs nothing to seed per task (the hot path seeds one per
//! task), and its state is a plain `u64` that checkpoints serialise.

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// SplitMix64 random generator: seeded, portable, serialisable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRng {
    state: u64,
}

impl TaskRng {
    /// A generator whose draws are fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A uniform integer in `0..n` (`n > 0`; returns 0 for `n == 0`), by Lemire's multiply.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A uniform integer in `lo..=hi` (`lo <= hi`).
    #[inline]
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi as i128 - lo as i128 + 1) as u64;
        (lo as i128 + self.below(span) as i128) as i64
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniform float in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

impl RngCore for TaskRng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A 64-bit content hash of `parts` (the task id): eight bytes at a time, each word xored in and
/// mixed by a multiply and a shift, the length folded in after each part, and SplitMix64's
/// finaliser at the end. Not cryptographic; fast (the id is computed for every task) and stable.
pub(crate) fn hash64(parts: &[&str]) -> u64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    for part in parts {
        let bytes = part.as_bytes();
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            mix_into(&mut h, u64::from_le_bytes(w));
        }
        let rem = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rem.len()].copy_from_slice(rem);
        mix_into(&mut h, u64::from_le_bytes(w));
        mix_into(&mut h, bytes.len() as u64);
    }
    mix64(h)
}

/// One step of a streaming hash: xor `word` into `h`, multiply by the golden-ratio constant,
/// fold the high bits down. Finish with [`mix64`]. Stable across platforms.
#[inline]
pub(crate) fn mix_into(h: &mut u64, word: u64) {
    let y = (*h ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    *h = y ^ (y >> 29);
}

/// SplitMix64's finaliser: a bijection of `u64` that spreads every input bit over the output.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `h` as 16 lowercase hex digits.
pub(crate) fn hex16(h: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(16);
    s.extend(
        (0..16)
            .rev()
            .map(|i| HEX[((h >> (i * 4)) & 0xf) as usize] as char),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference: SplitMix64 with state 0, first outputs (Vigna's splitmix64.c).
        let mut rng = TaskRng::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = TaskRng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = rng.below(10) as usize;
            seen[x] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(rng.range_i64(5, 5), 5);
    }

    #[test]
    fn hash_pinned_values_and_hex() {
        // Pinned by an independent Python implementation of the same steps (see the doc).
        assert_eq!(
            hex16(hash64(&["addition", "21000000+43000000="])),
            "eac5d95b5dbf4236"
        );
        assert_eq!(hex16(hash64(&[""])), "b67e4ed205f58a81");
        assert_eq!(hex16(0xaf63_dc4c_8601_ec8c), "af63dc4c8601ec8c");
        assert_eq!(hex16(0x0f), "000000000000000f");
        assert_ne!(hash64(&["ab", "c"]), hash64(&["a", "bc"]));
        assert_ne!(hash64(&["a"]), hash64(&["a\0"]));
    }
}
