//! Group-relative advantages: every completion is scored against the other completions of its
//! prompt's group, and every token of completion i gets the same Â_i (outcome reward).
//!
//! Rewards arrive group by group: rows `[kG, (k+1)G)` form group k. With mean m and
//! Bessel-corrected standard deviation s of a group:
//!
//! | kind      | Â_i                                              |
//! |-----------|--------------------------------------------------|
//! | `grpo`    | (r_i − m) / (s + 1e-4)   (TRL's epsilon)         |
//! | `dr_grpo` | r_i − m                  (no std: no difficulty bias) |
//! | `rloo`    | r_i − mean_{j≠i} r_j = G/(G−1) · (r_i − m)        |
//!
//! A group whose rewards are all equal gets Â = 0 under every kind. The arithmetic is f64 inside
//! (TRL's golden values are f64); [`advantages`] rounds the result to f32 for the loss.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// TRL's epsilon added to the group standard deviation (outside the square root).
pub const STD_EPSILON: f64 = 1e-4;

/// Which group-relative advantage estimator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvantageKind {
    /// (r − mean) / (std + 1e-4), unbiased std: GRPO as TRL computes it (`scale_rewards="group"`).
    #[default]
    Grpo,
    /// r − mean: Dr. GRPO (TRL `scale_rewards="none"`).
    DrGrpo,
    /// r_i − mean of the other G−1 rewards: REINFORCE leave-one-out.
    Rloo,
}

/// Advantages of `rewards` (groups of `group_size` consecutive entries), one per completion.
pub fn advantages(rewards: &[f32], group_size: usize, kind: AdvantageKind) -> Result<Vec<f32>> {
    let wide: Vec<f64> = rewards.iter().map(|&r| f64::from(r)).collect();
    Ok(advantages_f64(&wide, group_size, kind)?
        .into_iter()
        .map(|a| a as f32)
        .collect())
}

/// [`advantages`] in f64 throughout (what the golden TRL vectors are checked against).
pub fn advantages_f64(rewards: &[f64], group_size: usize, kind: AdvantageKind) -> Result<Vec<f64>> {
    if group_size < 2 || !rewards.len().is_multiple_of(group_size) {
        return Err(Error::GroupSize {
            num_rewards: rewards.len(),
            group_size,
        });
    }
    if let Some((index, &value)) = rewards.iter().enumerate().find(|(_, r)| !r.is_finite()) {
        return Err(Error::NonFiniteReward { index, value });
    }
    let g = group_size as f64;
    let mut out = Vec::with_capacity(rewards.len());
    for group in rewards.chunks_exact(group_size) {
        let mean = group.iter().sum::<f64>() / g;
        // All-equal groups carry no signal; return exact zeros rather than rounding noise.
        if group.iter().all(|&r| r == group[0]) {
            out.extend(std::iter::repeat_n(0.0, group_size));
            continue;
        }
        match kind {
            AdvantageKind::Grpo => {
                let var = group.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (g - 1.0);
                let denom = var.sqrt() + STD_EPSILON;
                out.extend(group.iter().map(|r| (r - mean) / denom));
            }
            AdvantageKind::DrGrpo => out.extend(group.iter().map(|r| r - mean)),
            AdvantageKind::Rloo => out.extend(group.iter().map(|r| (r - mean) * g / (g - 1.0))),
        }
    }
    Ok(out)
}

/// Whether a group carries a learning signal: neither all correct nor all wrong (DAPO's dynamic
/// sampling). Decided on binary correctness, never on a shaped score: all-wrong answers with small
/// format credits differ in reward but teach nothing useful.
pub fn is_informative(correct: &[bool]) -> bool {
    correct.iter().any(|&c| c) && correct.iter().any(|&c| !c)
}

/// DAPO's soft overlong penalty, added to the reward of a completion of `length` tokens sampled
/// with limit `max_length` and buffer `buffer`: 0 up to `max_length − buffer`, then falling
/// linearly to −1 at `max_length`, −1 beyond.
pub fn overlong_penalty(length: usize, max_length: usize, buffer: usize) -> f32 {
    let free = max_length.saturating_sub(buffer);
    if length <= free {
        0.0
    } else if length > max_length || buffer == 0 {
        -1.0
    } else {
        -((length - free) as f32) / buffer as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpo_uses_unbiased_std_plus_epsilon() {
        // Group [0, 1]: mean 0.5, unbiased std sqrt(0.5) = 0.70710678.
        let a = advantages_f64(&[0.0, 1.0], 2, AdvantageKind::Grpo).unwrap();
        let s = 0.5f64.sqrt() + 1e-4;
        assert_eq!(a, vec![-0.5 / s, 0.5 / s]);
    }

    #[test]
    fn dr_grpo_is_centred_reward_and_rloo_is_leave_one_out() {
        let r = [1.0, 0.0, 0.0, 0.0];
        let dr = advantages_f64(&r, 4, AdvantageKind::DrGrpo).unwrap();
        assert_eq!(dr, vec![0.75, -0.25, -0.25, -0.25]);
        let rloo = advantages_f64(&r, 4, AdvantageKind::Rloo).unwrap();
        // r_0 − mean(0,0,0) = 1; r_1 − mean(1,0,0) = −1/3.
        assert!((rloo[0] - 1.0).abs() < 1e-15);
        assert!((rloo[1] + 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn uniform_groups_get_exact_zeros_and_groups_are_independent() {
        let r = [1.0, 1.0, 1.0, 0.3, 0.3, 0.3, 0.0, 1.0, 0.0];
        for kind in [
            AdvantageKind::Grpo,
            AdvantageKind::DrGrpo,
            AdvantageKind::Rloo,
        ] {
            let a = advantages(&r, 3, kind).unwrap();
            assert_eq!(&a[..6], &[0.0; 6]);
            assert!(a[7] > 0.0 && a[6] < 0.0 && a[6] == a[8]);
        }
    }

    #[test]
    fn rejects_bad_group_sizes_and_non_finite_rewards() {
        assert!(matches!(
            advantages(&[1.0, 0.0, 1.0], 2, AdvantageKind::Grpo),
            Err(Error::GroupSize {
                num_rewards: 3,
                group_size: 2
            })
        ));
        assert!(advantages(&[1.0], 1, AdvantageKind::DrGrpo).is_err());
        assert!(advantages(&[], 0, AdvantageKind::Grpo).is_err());
        assert!(matches!(
            advantages(&[1.0, f32::NAN], 2, AdvantageKind::Rloo),
            Err(Error::NonFiniteReward { index: 1, .. })
        ));
    }

    #[test]
    fn informative_means_mixed_outcomes() {
        assert!(is_informative(&[true, false, false]));
        assert!(!is_informative(&[true, true]));
        assert!(!is_informative(&[false, false]));
        assert!(!is_informative(&[]));
    }

    #[test]
    fn overlong_penalty_is_zero_then_linear_then_minus_one() {
        // L_max 20, buffer 4: free up to 16, −0.25 per token after, −1 at 20 and beyond.
        assert_eq!(overlong_penalty(16, 20, 4), 0.0);
        assert_eq!(overlong_penalty(17, 20, 4), -0.25);
        assert_eq!(overlong_penalty(18, 20, 4), -0.5);
        assert_eq!(overlong_penalty(20, 20, 4), -1.0);
        assert_eq!(overlong_penalty(25, 20, 4), -1.0);
        assert_eq!(overlong_penalty(21, 20, 0), -1.0);
        assert_eq!(overlong_penalty(20, 20, 0), 0.0);
    }

    #[test]
    fn kind_parses_from_snake_case() {
        #[derive(Deserialize)]
        struct C {
            kind: AdvantageKind,
        }
        let c: C = toml::from_str("kind = \"dr_grpo\"").unwrap();
        assert_eq!(c.kind, AdvantageKind::DrGrpo);
        assert!(toml::from_str::<C>("kind = \"ppo\"").is_err());
        assert_eq!(AdvantageKind::default(), AdvantageKind::Grpo);
    }
}
