//! Learning-rate schedules: constant, linear warm-up then constant, warm-up then cosine decay.
//!
//! `step` counts optimizer updates already taken (0 for the first update). Warm-up ramps linearly
//! to the peak over `warmup_steps` updates, reaching it at update `warmup_steps − 1`, so the first
//! update already learns (lr · 1/warmup_steps instead of 0):
//!
//! ```text
//! warm-up (step < W):   lr · (step + 1) / W
//! cosine  (step ≥ W):   min_lr + (lr − min_lr) · ½(1 + cos(π · p)),  p = min(1, (step − W) / (T − W))
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A learning rate as a function of the update count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The same rate for every update.
    Constant {
        /// The learning rate.
        lr: f64,
    },
    /// Linear warm-up to `lr`, then constant.
    WarmupConstant {
        /// Peak learning rate.
        lr: f64,
        /// Updates spent ramping up.
        warmup_steps: u64,
    },
    /// Linear warm-up to `lr`, then half a cosine down to `min_lr` at `total_steps`, then flat.
    WarmupCosine {
        /// Peak learning rate.
        lr: f64,
        /// Updates spent ramping up.
        warmup_steps: u64,
        /// Update count at which the floor is reached.
        total_steps: u64,
        /// The floor.
        min_lr: f64,
    },
}

impl Default for LrSchedule {
    fn default() -> Self {
        // The RL rate that learned in the prototype (3e-4 wrecked a warm start within 5 updates).
        LrSchedule::Constant { lr: 1e-4 }
    }
}

impl LrSchedule {
    /// The learning rate for the update after `step` updates have been taken.
    pub fn lr_at(&self, step: u64) -> f64 {
        let warmup = |lr: f64, w: u64| -> Option<f64> {
            (step < w).then(|| lr * (step + 1) as f64 / w as f64)
        };
        match *self {
            LrSchedule::Constant { lr } => lr,
            LrSchedule::WarmupConstant { lr, warmup_steps } => {
                warmup(lr, warmup_steps).unwrap_or(lr)
            }
            LrSchedule::WarmupCosine {
                lr,
                warmup_steps,
                total_steps,
                min_lr,
            } => warmup(lr, warmup_steps).unwrap_or_else(|| {
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                let progress = ((step - warmup_steps) as f64 / span).min(1.0);
                min_lr + (lr - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }),
        }
    }

    /// Checks rates are finite and ≥ 0, `min_lr ≤ lr`, and `warmup_steps ≤ total_steps`. Errors
    /// name the schedule's own field (`min_lr`); a run config renames it to its key
    /// (`train.min_lr`, `warm_start.min_lr`).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, value: String, reason: &str| Error::InvalidConfig {
            key: key.to_string(),
            value,
            reason: reason.into(),
        };
        let check_rate = |key: &str, lr: f64| {
            if lr.is_finite() && lr >= 0.0 {
                Ok(())
            } else {
                Err(bad(key, lr.to_string(), "must be finite and >= 0"))
            }
        };
        match *self {
            LrSchedule::Constant { lr } | LrSchedule::WarmupConstant { lr, .. } => {
                check_rate("lr", lr)
            }
            LrSchedule::WarmupCosine {
                lr,
                warmup_steps,
                total_steps,
                min_lr,
            } => {
                check_rate("lr", lr)?;
                check_rate("min_lr", min_lr)?;
                if min_lr > lr {
                    return Err(bad("min_lr", min_lr.to_string(), "must not exceed lr"));
                }
                if warmup_steps > total_steps {
                    return Err(bad(
                        "warmup_steps",
                        warmup_steps.to_string(),
                        "must not exceed total_steps",
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_is_constant() {
        let s = LrSchedule::Constant { lr: 3e-4 };
        assert_eq!(s.lr_at(0), 3e-4);
        assert_eq!(s.lr_at(1_000_000), 3e-4);
    }

    #[test]
    fn warmup_ramps_linearly_then_holds() {
        let s = LrSchedule::WarmupConstant {
            lr: 1.0,
            warmup_steps: 4,
        };
        let got: Vec<f64> = (0..6).map(|k| s.lr_at(k)).collect();
        assert_eq!(got, vec![0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn cosine_hits_peak_midpoint_and_floor() {
        let s = LrSchedule::WarmupCosine {
            lr: 1.0,
            warmup_steps: 2,
            total_steps: 12,
            min_lr: 0.1,
        };
        assert_eq!(s.lr_at(0), 0.5);
        assert_eq!(s.lr_at(1), 1.0);
        assert_eq!(s.lr_at(2), 1.0); // cos(0) = 1: the peak
                                     // Halfway (step 7 of span 10): 0.1 + 0.9 · ½ = 0.55.
        assert!((s.lr_at(7) - 0.55).abs() < 1e-12);
        // Step 5: p = 3/10, 0.1 + 0.9 · ½(1 + cos(0.3π)) = 0.1 + 0.45 · 1.587785 = 0.814503.
        assert!((s.lr_at(5) - 0.814_503_363_531_613).abs() < 1e-12);
        assert!((s.lr_at(12) - 0.1).abs() < 1e-15);
        assert!((s.lr_at(100) - 0.1).abs() < 1e-15);
    }

    #[test]
    fn parses_tagged_toml_and_rejects_unknown_fields() {
        let s: LrSchedule =
            toml::from_str("type = \"warmup_constant\"\nlr = 1e-3\nwarmup_steps = 10").unwrap();
        assert_eq!(
            s,
            LrSchedule::WarmupConstant {
                lr: 1e-3,
                warmup_steps: 10
            }
        );
        assert!(toml::from_str::<LrSchedule>("type = \"constant\"\nlr = 1.0\nwarmup = 3").is_err());
        assert!(toml::from_str::<LrSchedule>("type = \"linear\"\nlr = 1.0").is_err());
    }

    #[test]
    fn validate_rejects_floor_above_peak_and_long_warmup() {
        let mut s = LrSchedule::WarmupCosine {
            lr: 1e-4,
            warmup_steps: 5,
            total_steps: 10,
            min_lr: 1e-3,
        };
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "invalid config value min_lr = 0.001: must not exceed lr"
        );
        s = LrSchedule::WarmupCosine {
            lr: 1e-4,
            warmup_steps: 50,
            total_steps: 10,
            min_lr: 0.0,
        };
        assert!(s.validate().is_err());
        assert!(LrSchedule::Constant { lr: f64::NAN }.validate().is_err());
        assert!(LrSchedule::default().validate().is_ok());
    }
}
