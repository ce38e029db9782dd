//! Cell statistics: how the policy has done on one cell (family × knob setting): counts, EMAs of
//! the group pass rate, chance-corrected skill; and a family's cells in difficulty order.

use serde::{Deserialize, Serialize};

use crate::config::StatsConfig;
use crate::knobs::Knobs;
use crate::task::NumberFormat;

/// Statistics of one cell (family × knob setting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellStats {
    /// Family name.
    pub family: String,
    /// Ladder level, or `None` for an intermediate setting.
    pub level: Option<u32>,
    /// `L3` for a ladder level, the differing knobs for an intermediate (`L3+a_digits=3`).
    pub label: String,
    /// The complete knobs of the cell.
    pub knobs: Knobs,
    /// Pass rate of a blind guess here.
    pub chance: f64,
    /// Completions observed.
    pub attempts: u64,
    /// Correct completions.
    pub correct: u64,
    /// Groups observed.
    pub groups: u64,
    /// Groups neither all correct nor all wrong (the ones GRPO learns from).
    pub informative: u64,
    /// EMA of the group pass rate (valid once `groups > 0`).
    pub pass_ema: f64,
    /// Fast EMA of the group pass rate.
    pub fast: f64,
    /// Slow EMA of the group pass rate.
    pub slow: f64,
    /// Pass rate of the last group.
    pub last: f64,
}

impl CellStats {
    pub(super) fn new(
        family: &str,
        level: Option<u32>,
        label: String,
        knobs: Knobs,
        chance: f64,
    ) -> Self {
        Self {
            family: family.to_string(),
            level,
            label,
            knobs,
            chance,
            attempts: 0,
            correct: 0,
            groups: 0,
            informative: 0,
            pass_ema: 0.0,
            fast: 0.0,
            slow: 0.0,
            last: 0.0,
        }
    }

    /// A cell known only by its counts (e.g. an eval result), for [`crate::jaggedness_map`].
    pub fn tally(
        family: &str,
        level: Option<u32>,
        label: &str,
        attempts: u64,
        correct: u64,
    ) -> Self {
        let mut s = Self::new(family, level, label.to_string(), Knobs::new(), 0.0);
        s.attempts = attempts;
        s.correct = correct;
        s.groups = (attempts > 0) as u64;
        s.pass_ema = if attempts > 0 {
            correct as f64 / attempts as f64
        } else {
            0.0
        };
        s
    }

    /// The EMA pass rate, `None` before the first group.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.groups > 0).then_some(self.pass_ema)
    }

    /// The EMA pass rate corrected for chance, `(p − c) / (1 − c)` clipped at 0.
    pub fn skill(&self) -> f64 {
        if self.chance >= 1.0 {
            return 0.0;
        }
        ((self.pass_ema - self.chance) / (1.0 - self.chance)).max(0.0)
    }

    /// Learning progress: fast minus slow EMA of the pass rate.
    pub fn learning_progress(&self) -> f64 {
        self.fast - self.slow
    }

    /// Whether at least `min_groups` groups were seen and the chance-corrected EMA reached `promote`.
    pub fn mastered(&self, promote: f64, min_groups: u64) -> bool {
        self.groups >= min_groups && self.groups > 0 && self.skill() >= promote
    }

    /// Fraction of groups that were informative.
    pub fn informative_fraction(&self) -> f64 {
        if self.groups == 0 {
            0.0
        } else {
            self.informative as f64 / self.groups as f64
        }
    }

    /// Folds in one group of `total` completions, `correct` of them right.
    pub(super) fn observe(&mut self, correct: u64, total: u64, rates: &StatsConfig) {
        let p = correct as f64 / total as f64;
        if self.groups == 0 {
            self.pass_ema = p;
            self.fast = p;
            self.slow = p;
        } else {
            self.pass_ema += rates.ema * (p - self.pass_ema);
            self.fast += rates.fast * (p - self.fast);
            self.slow += rates.slow * (p - self.slow);
        }
        self.last = p;
        self.attempts += total;
        self.correct += correct;
        self.groups += 1;
        if correct > 0 && correct < total {
            self.informative += 1;
        }
    }
}

/// One family in play and its cells, in difficulty order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyCells {
    /// Family name.
    pub name: String,
    /// Number format.
    pub format: NumberFormat,
    /// Sampling weight.
    pub weight: f64,
    /// Cell indices of the ladder levels in play, lowest first.
    pub levels: Vec<usize>,
    /// Intermediate cells: `(p, cell)` sits between `levels[p - 1]` and `levels[p]`.
    pub extras: Vec<(usize, usize)>,
    /// Index into `levels` where fixed, ladder and frontier start.
    pub start: usize,
}

impl FamilyCells {
    /// Every cell of the family with its ladder position.
    pub fn all(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.levels
            .iter()
            .enumerate()
            .map(|(p, &c)| (p, c))
            .chain(self.extras.iter().copied())
    }

    /// Lowest ladder position whose cell is not mastered (the last one if all are).
    pub fn frontier(&self, cells: &[CellStats], promote: f64, min_groups: u64) -> usize {
        self.levels
            .iter()
            .position(|&c| !cells[c].mastered(promote, min_groups))
            .unwrap_or(self.levels.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_counts_groups_and_moves_the_emas_by_hand() {
        let rates = StatsConfig {
            ema: 0.1,
            fast: 0.2,
            slow: 0.05,
        };
        let mut s = CellStats::new("f", Some(1), "L1".into(), Knobs::new(), 0.5);
        assert_eq!(s.pass_rate(), None);
        s.observe(8, 16, &rates); // the first group sets every EMA: 0.5
        s.observe(16, 16, &rates);
        assert_eq!(
            (s.attempts, s.correct, s.groups, s.informative),
            (32, 24, 2, 1)
        );
        // 0.5 + 0.1·(1 − 0.5) = 0.55; fast 0.5 + 0.2·0.5 = 0.6; slow 0.5 + 0.05·0.5 = 0.525.
        assert!((s.pass_ema - 0.55).abs() < 1e-12);
        assert!((s.learning_progress() - (0.6 - 0.525)).abs() < 1e-12);
        // chance 0.5: skill (0.55 − 0.5)/(1 − 0.5) = 0.1.
        assert!((s.skill() - 0.1).abs() < 1e-12);
        assert!(s.mastered(0.1 - 1e-9, 2) && !s.mastered(0.1 - 1e-9, 3));
        assert!((s.informative_fraction() - 0.5).abs() < 1e-12);
    }
}
