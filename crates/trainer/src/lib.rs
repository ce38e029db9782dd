//! The GRPO-family trainer's building blocks: group-relative advantages, the clipped policy loss
//! with a k3 KL penalty, AdamW with savable state, learning-rate schedules, and run reports.
//!
//! In pipeline order: rewards of G completions per task → [`advantages`] → [`policy_loss`]
//! (per micro-batch, sharing one whole-batch [`LossNorm`]) → `backward` → [`clip_grad_norm`] →
//! [`AdamW::step`] at the rate [`LrSchedule::lr_at`] gives; afterwards [`report::write_report`]
//! turns a run directory's `metrics.jsonl` / `eval.jsonl` into plots and a summary.
//!
//! [`train`] and [`resume`] run a whole run over the task families and curriculum strategies of
//! [`TrainOptions::registry`] (a `tasks::Registry`, the built-ins by default): register your own
//! there to train on them (`docs/extending.md`, `examples/custom-family`). Run as several
//! processes (`mpirun -np N rlvr train`), they train data parallel over a [`Collective`]
//! (`docs/distributed.md`).
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use trainer::{advantages, policy_loss, AdvantageKind, LossConfig, LossNorm};
//!
//! # fn main() -> trainer::Result<()> {
//! // One group of G = 2 completions: the first passed, the second failed.
//! let adv = advantages(&[1.0, 0.0], 2, AdvantageKind::Grpo)?;
//! let dev = Device::Cpu;
//! let logp = Var::from_tensor(&Tensor::new(&[[-0.5f32, -1.0], [-0.7, -0.2]], &dev)?)?;
//! let mask = Tensor::new(&[[1f32, 1.0], [1.0, 0.0]], &dev)?;
//! let cfg = LossConfig::default(); // token_mean, ε 0.2, β 0
//! let norm = LossNorm::from_mask(cfg.aggregation, &mask, 2)?;
//! let old = logp.as_tensor().detach(); // on-policy: ratio 1
//! let parts = policy_loss(&logp, &old, None, &Tensor::new(adv, &dev)?, &mask, &cfg, &norm)?;
//! let grads = parts.loss.backward()?;
//! // Gradient descent raises the passing completion's log-probs: d loss / d logp < 0 there.
//! let g = grads.get(logp.as_tensor()).unwrap().to_vec2::<f32>()?;
//! assert!(g[0][0] < 0.0 && g[1][0] > 0.0 && g[1][1] == 0.0);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod advantage;
mod checkpoint;
pub mod collective;
pub mod compare;
mod config;
mod data_parallel;
mod error;
mod eval;
mod loss;
mod metrics;
mod optim;
mod plots;
mod preflight;
pub mod report;
mod rng;
mod rollout;
mod schedule;
mod slices;
mod temperature;
mod train;
mod update;
mod warm_start;
mod warm_start_cache;

pub use advantage::{
    advantages, advantages_f64, is_informative, overlong_penalty, AdvantageKind, STD_EPSILON,
};
pub use error::{Error, Result};
pub use loss::{
    entropy_bonus, mean_entropy, policy_loss, Aggregation, LossConfig, LossNorm, LossParts,
};
pub use optim::{check_finite_grads, clip_grad_norm, ensure_finite, AdamW, AdamWConfig};
pub use schedule::LrSchedule;
pub use temperature::AdaptiveTemperature;

pub use checkpoint::TrainState;
pub use collective::{Collective, Single};
pub use config::{
    EvalConfig, ModelSection, Overlong, RunConfig, SamplingConfig, ScheduleKind, TrainConfig,
    WarmStartConfig, RESUMABLE_KEYS,
};
pub use eval::{evaluate, pass_rate, EvalResult, EvalSets};
pub use metrics::{CellMetrics, EvalRecord, PassRates, StepMetrics};
pub use rng::{stream_rng, stream_seed, Stream};
pub use rollout::{encode_prompt, sample_groups, Group, Row};
pub use train::{resume, train, RunEnd, TrainOptions, TrainSummary, FAMILIES_JSONL};
pub use update::{micro_batch, update, MicroBatch, PhaseSeconds, Sample, UpdateStats};
pub use warm_start_cache::{Hit, WarmStartCache};
