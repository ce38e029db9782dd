//! The built-in families, one file each, and the helpers they share.

mod addition;
mod boolean;
mod countdown;
mod expression;
mod multiplication;
mod sat;
mod sorting;

#[cfg(test)]
pub(crate) mod contract;

pub use addition::Addition;
pub use boolean::BooleanEval;
pub use countdown::Countdown;
pub use expression::IntegerExpression;
pub use multiplication::Multiplication;
pub use sat::Sat;
pub use sorting::Sorting;

use std::sync::Arc;

use crate::family::Family;

/// `task.data` of a countdown puzzle (used by the importer).
pub(crate) fn countdown_puzzle(numbers: Vec<i64>, target: i64, use_all: bool) -> String {
    countdown::Puzzle {
        numbers,
        target,
        use_all,
    }
    .encode()
}
use crate::rng::TaskRng;

/// The seven built-in families, in ladder-of-abstraction order.
pub(crate) fn builtin() -> Vec<Arc<dyn Family>> {
    vec![
        Arc::new(Addition),
        Arc::new(Multiplication),
        Arc::new(IntegerExpression),
        Arc::new(BooleanEval),
        Arc::new(Sat),
        Arc::new(Countdown),
        Arc::new(Sorting),
    ]
}

/// 10^n for n <= 38.
#[inline]
pub(crate) fn pow10(n: u32) -> u128 {
    10u128.pow(n)
}

/// A uniform number with exactly `digits` decimal digits (0..=9 for one digit, so that level 1
/// includes zero, as in the prototype).
#[inline]
pub(crate) fn draw_digits(rng: &mut TaskRng, digits: u32) -> u128 {
    if digits <= 19 {
        // u64 fast path: 10^19 - 1 fits, and 128-bit arithmetic is several times slower.
        let (lo, hi) = if digits <= 1 {
            (0, 9)
        } else {
            (10u64.pow(digits - 1), 10u64.pow(digits) - 1)
        };
        return (lo + rng.below(hi - lo + 1)) as u128;
    }
    let (lo, hi) = if digits <= 1 {
        (0, 9)
    } else {
        (pow10(digits - 1), pow10(digits) - 1)
    };
    lo + draw_below(rng, hi - lo + 1)
}

/// A uniform-enough number in `0..n` for `n` up to 2^127 (modulo bias below 2^-60 when `n`
/// exceeds 2^64, none below).
#[inline]
pub(crate) fn draw_below(rng: &mut TaskRng, n: u128) -> u128 {
    if n <= u64::MAX as u128 {
        rng.below(n as u64) as u128
    } else {
        use rand::RngCore;
        let wide = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
        wide % n
    }
}

/// Decimal digits of `n` (1 for 0).
pub(crate) fn num_digits(mut n: u128) -> u32 {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}
