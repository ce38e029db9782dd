//! The adaptive sampling temperature (`sampling.informative_target`): raised while too few groups
//! carry a signal, lowered back toward `sampling.temperature` while enough do.
//!
//! GRPO learns only from groups that are neither all right nor all wrong, and it sharpens what it
//! rewards, so over a run the policy answers each prompt more and more the same way and the
//! informative fraction falls (docs/open-ended.md, "Keeping the policy uncertain"). A fixed
//! temperature delays that; this controller holds the fraction near a target instead:
//!
//! ```text
//! f ← f + α·(informative fraction of the step − f)          (EMA, α = EMA_RATE)
//! T ← clamp(T · exp(RATE · (target − f)), temperature, max_temperature)
//! ```
//! T moves only after a step that left no group waiting for an update, so every group of an
//! update was sampled at the temperature its loss is computed at (on-policy ratios stay 1).

use serde::{Deserialize, Serialize};

/// EMA rate of the informative fraction the controller steers by (about 20 steps).
pub const EMA_RATE: f64 = 0.05;

/// Log-temperature change per step per unit of the fraction's distance to the target: 0.2 below
/// the target raises T by 1 % a step.
pub const RATE: f64 = 0.05;

/// The controller's state, saved in checkpoints (a resumed run continues it exactly).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveTemperature {
    /// The temperature the next step samples at.
    pub temperature: f64,
    /// EMA of the informative fraction.
    pub informative: f64,
}

impl AdaptiveTemperature {
    /// Starts at `temperature`, with the fraction assumed on target.
    pub fn new(temperature: f64, target: f64) -> Self {
        Self {
            temperature,
            informative: target,
        }
    }

    /// Takes in one step's informative fraction and moves T within `[floor, ceiling]` (when
    /// `settled`: no group is waiting for an update).
    pub fn observe(
        &mut self,
        informative: f64,
        target: f64,
        floor: f64,
        ceiling: f64,
        settled: bool,
    ) {
        if !informative.is_finite() {
            return;
        }
        self.informative += EMA_RATE * (informative - self.informative);
        if settled {
            let t = self.temperature * (RATE * (target - self.informative)).exp();
            self.temperature = t.clamp(floor, ceiling.max(floor));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rises_while_below_the_target_and_stays_within_its_bounds() {
        let mut t = AdaptiveTemperature::new(1.3, 0.5);
        for _ in 0..20 {
            t.observe(0.2, 0.5, 1.3, 2.0, true);
        }
        assert!(t.temperature > 1.3 && t.temperature < 2.0, "{t:?}");
        // By hand, the first step: f = 0.5 + 0.05·(0.2 − 0.5) = 0.485, T = 1.3·e^{0.05·0.015}.
        let mut one = AdaptiveTemperature::new(1.3, 0.5);
        one.observe(0.2, 0.5, 1.3, 2.0, true);
        assert!((one.informative - 0.485).abs() < 1e-12);
        assert!((one.temperature - 1.3 * (0.05f64 * 0.015).exp()).abs() < 1e-12);
        for _ in 0..5000 {
            t.observe(0.0, 0.5, 1.3, 2.0, true);
        }
        assert_eq!(t.temperature, 2.0, "capped at the ceiling");
        for _ in 0..5000 {
            t.observe(1.0, 0.5, 1.3, 2.0, true);
        }
        assert_eq!(t.temperature, 1.3, "never below the configured temperature");
    }

    #[test]
    fn holds_while_groups_wait_and_ignores_a_step_without_groups() {
        let mut t = AdaptiveTemperature::new(1.0, 0.5);
        t.observe(0.0, 0.5, 1.0, 2.0, false);
        assert_eq!(t.temperature, 1.0, "unsettled: T stays");
        assert!(t.informative < 0.5, "the EMA still moves");
        let before = t;
        t.observe(f64::NAN, 0.5, 1.0, 2.0, true);
        assert_eq!(t, before);
    }
}
