//! The run config: every section of `rlvr train CONFIG`, with every default in one place.
//! Sections owned by other crates (`[tasks]`, `[lora]`) are composed here, not flattened, so
//! unknown keys are rejected everywhere.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::advantage::AdvantageKind;
use crate::error::{Error, Result};
use crate::loss::LossConfig;
use crate::optim::AdamWConfig;
use crate::schedule::LrSchedule;

/// A whole run: what `rlvr train` reads and writes back as `config.toml` in the run directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Run seed: every random stream (init, curriculum, sampling, ...) derives from it.
    pub seed: u64,
    /// CPU threads for tensor work.
    pub threads: usize,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: policy::DeviceSpec,
    /// dtype of the forwards (weights as read, activations, KV cache): `f32`, or `bf16` on CUDA.
    /// Master weights, gradients and optimizer state are f32 either way.
    pub dtype: policy::Precision,
    /// The policy model.
    pub model: ModelSection,
    /// Task families, prompt style and curriculum.
    pub tasks: tasks::TasksConfig,
    /// Rollout sampling.
    pub sampling: SamplingConfig,
    /// The RL update.
    pub train: TrainConfig,
    /// Supervised warm start before RL.
    pub warm_start: WarmStartConfig,
    /// Evaluation on the frozen eval sets.
    pub eval: EvalConfig,
    /// LoRA adapters instead of full fine-tuning (absent: train every weight). Needs a trained
    /// base in `model.path`; the run's `model/` is then the PEFT adapter directory.
    pub lora: Option<policy::LoraConfig>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            threads: 2,
            device: policy::DeviceSpec::Cpu,
            dtype: policy::Precision::F32,
            model: ModelSection::default(),
            tasks: tasks::TasksConfig::default(),
            sampling: SamplingConfig::default(),
            train: TrainConfig::default(),
            warm_start: WarmStartConfig::default(),
            eval: EvalConfig::default(),
            lora: None,
        }
    }
}

/// Where the policy comes from: a model directory, or a fresh model of this shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// A model directory (config.json + model.safetensors + tokenizer.json) to start from;
    /// when set, the shape keys below are ignored.
    pub path: Option<PathBuf>,
    /// A Hugging Face `tokenizer.json` for a fresh model (default: the built-in character one).
    pub tokenizer: Option<PathBuf>,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Hidden width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Rotary embedding base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Longest sequence (prompt + completion).
    pub max_position_embeddings: usize,
    /// Share the LM head with the token embedding.
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v (Qwen2).
    pub attention_bias: bool,
}

impl Default for ModelSection {
    fn default() -> Self {
        // The "tiny" shape: ~0.86M parameters with the character vocabulary.
        Self {
            path: None,
            tokenizer: None,
            hidden_size: 128,
            intermediate_size: 384,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: 4,
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-5,
            max_position_embeddings: 128,
            tie_word_embeddings: true,
            attention_bias: false,
        }
    }
}

impl ModelSection {
    /// The Hugging Face model config of this shape for a vocabulary of `vocab_size`.
    pub fn model_config(&self, vocab_size: usize) -> Result<policy::ModelConfig> {
        let config = policy::ModelConfig {
            vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            num_key_value_heads: Some(self.num_key_value_heads),
            rope_theta: self.rope_theta,
            rms_norm_eps: self.rms_norm_eps,
            max_position_embeddings: self.max_position_embeddings,
            tie_word_embeddings: self.tie_word_embeddings,
            attention_bias: self.attention_bias,
            ..policy::ModelConfig::default()
        };
        for (key, v) in [
            ("model.rope_theta", self.rope_theta),
            ("model.rms_norm_eps", self.rms_norm_eps),
        ] {
            if v.is_nan() || v <= 0.0 {
                return Err(Error::InvalidConfig {
                    key: key.into(),
                    value: v.to_string(),
                    reason: "must be positive".into(),
                });
            }
        }
        config.validate().map_err(|e| match e {
            // The model config's field names are this section's keys; the head dimension follows
            // from hidden_size / num_attention_heads, the vocabulary from the tokenizer.
            policy::Error::ConfigValue { field, message, .. } => {
                let (key, value) = match field.as_str() {
                    "hidden_size" => (field.as_str(), self.hidden_size),
                    "intermediate_size" => (field.as_str(), self.intermediate_size),
                    "num_hidden_layers" => (field.as_str(), self.num_hidden_layers),
                    "num_key_value_heads" => (field.as_str(), self.num_key_value_heads),
                    "max_position_embeddings" => (field.as_str(), self.max_position_embeddings),
                    "vocab_size" => ("tokenizer", vocab_size),
                    _ => ("num_attention_heads", self.num_attention_heads),
                };
                Error::InvalidConfig {
                    key: format!("model.{key}"),
                    value: value.to_string(),
                    reason: message,
                }
            }
            other => Error::Config(format!("[model]: {other}")),
        })?;
        Ok(config)
    }
}

/// Rollout sampling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Completions per task (G).
    pub group_size: usize,
    /// Tasks sampled per round.
    pub tasks_per_step: usize,
    /// Longest completion; a completion cut here is truncated (never correct).
    pub max_new_tokens: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Keep only the k most likely tokens (absent: all).
    pub top_k: Option<usize>,
    /// Nucleus sampling mass (absent: 1).
    pub top_p: Option<f64>,
    /// Hold the informative fraction near this by moving the temperature between
    /// `temperature` and `max_temperature` (`temperature.rs`); absent: the temperature is fixed.
    pub informative_target: Option<f64>,
    /// Highest temperature `informative_target` may raise sampling to.
    pub max_temperature: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            group_size: 16,
            tasks_per_step: 16,
            max_new_tokens: 16,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            informative_target: None,
            max_temperature: 2.0,
        }
    }
}

/// What happens to completions cut off at `max_new_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Overlong {
    /// Train on them like any other completion (their reward is 0: they are never correct).
    Keep,
    /// Leave them out of the loss.
    Mask,
    /// DAPO's soft length penalty over the last `buffer` tokens before the limit.
    SoftPenalty {
        /// Tokens before the limit where the penalty ramps from 0 to -1.
        buffer: usize,
    },
}

/// The RL update.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// RL steps (sampling rounds); `--max-steps` sets it (and a resume may raise it).
    pub max_steps: u64,
    /// Peak learning rate of the RL update (keep it far below the warm start's).
    pub lr: f64,
    /// Learning-rate shape over optimizer updates: `constant` or `cosine` (to `min_lr` at
    /// `decay_steps`).
    pub lr_schedule: ScheduleKind,
    /// Linear warm-up of the learning rate over this many updates.
    pub warmup_steps: u64,
    /// Length of the cosine schedule: the optimizer update (warm-up included) at which the rate
    /// reaches `min_lr` and stays. Its own key, not `max_steps`, so that extending a run does not
    /// bend the schedule; required by `lr_schedule = "cosine"`.
    pub decay_steps: Option<u64>,
    /// Floor of the cosine schedule.
    pub min_lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW first-moment decay.
    pub beta1: f64,
    /// AdamW second-moment decay.
    pub beta2: f64,
    /// AdamW epsilon.
    pub eps: f64,
    /// Global gradient-norm clip (0: off).
    pub max_grad_norm: f64,
    /// Group-relative advantage estimator.
    pub advantage: AdvantageKind,
    /// Surrogate, clipping, KL and aggregation.
    pub loss: LossConfig,
    /// Passes over each batch (the sampling log-probs stay the old ones).
    pub epochs: usize,
    /// Sequences per forward/backward pass (gradients accumulate over micro-batches).
    pub micro_batch: usize,
    /// Slices of each micro-batch (and of each warm-start batch), their forwards and backwards
    /// run side by side on up to that many threads (their gradients summed in slice order:
    /// results do not depend on `threads`); on a GPU a micro-batch runs whole.
    pub shards: usize,
    /// Keep only informative groups (0 < correct < G); decided on `correct`, never on score.
    pub dynamic_sampling: bool,
    /// Take an optimizer step only once this many informative groups are buffered.
    pub min_groups: usize,
    /// At most this many groups in one update (the rest wait for the next).
    pub max_groups: usize,
    /// Sampling rounds per step while fewer than `min_groups` are buffered (DAPO's fill, capped).
    pub max_rounds: usize,
    /// Truncated completions: keep, mask, or soft length penalty.
    pub overlong: Overlong,
    /// Evaluate every this many steps (0: only at the start and the end).
    pub eval_every: u64,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: u64,
    /// Completions written to `samples.jsonl` per step.
    pub samples_per_step: usize,
    /// With several ranks (`mpirun -np N rlvr train`), compare a digest of the trainable
    /// weights across them every this many steps (and at the end); a mismatch stops the run
    /// (0: only at the end).
    pub replica_check_every: u64,
    /// Stop RL after this many seconds of training wall time (eval excluded); not reproducible,
    /// for demos with a time budget. Absent: no limit.
    pub max_seconds: Option<f64>,
    /// Stop when every level the curriculum can draw from is mastered by its own rule: a
    /// chance-corrected pass-rate EMA at or above its `promote` after its `min_groups` groups
    /// (`ladder`: `window`; `uniform` and `fixed`: 0.8 after 24). Nothing is left to learn then.
    pub stop_when_mastered: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            max_steps: 200,
            lr: 1e-4,
            lr_schedule: ScheduleKind::Constant,
            warmup_steps: 0,
            decay_steps: None,
            min_lr: 0.0,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            max_grad_norm: 1.0,
            advantage: AdvantageKind::default(),
            loss: LossConfig::default(),
            epochs: 1,
            micro_batch: 128,
            shards: 2,
            dynamic_sampling: true,
            min_groups: 1,
            max_groups: 64,
            max_rounds: 1,
            overlong: Overlong::Keep,
            eval_every: 25,
            checkpoint_every: 50,
            samples_per_step: 2,
            replica_check_every: 50,
            max_seconds: None,
            stop_when_mastered: true,
        }
    }
}

/// The shape of the learning rate after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Constant at `lr`.
    Constant,
    /// Cosine decay from `lr` to `min_lr` over `train.decay_steps` updates (`warm_start.steps`
    /// in the warm start).
    Cosine,
}

impl TrainConfig {
    /// The learning-rate schedule these keys describe.
    pub fn schedule(&self) -> LrSchedule {
        match (self.lr_schedule, self.warmup_steps) {
            (ScheduleKind::Constant, 0) => LrSchedule::Constant { lr: self.lr },
            (ScheduleKind::Constant, w) => LrSchedule::WarmupConstant {
                lr: self.lr,
                warmup_steps: w,
            },
            (ScheduleKind::Cosine, w) => LrSchedule::WarmupCosine {
                lr: self.lr,
                warmup_steps: w,
                total_steps: self.decay_steps.unwrap_or(0),
                min_lr: self.min_lr,
            },
        }
    }

    /// The optimizer's hyper-parameters.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }
}

/// Supervised next-token training on generated tasks' gold answers before RL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarmStartConfig {
    /// Optimizer steps (0: no warm start).
    pub steps: u64,
    /// Learning rate (far above the RL one).
    pub lr: f64,
    /// Sequences per step.
    pub batch_size: usize,
    /// Ladder levels trained on, inclusive, for every family in `[tasks]`.
    pub levels: [u32; 2],
    /// Linear warm-up steps of the learning rate.
    pub warmup_steps: u64,
    /// Learning-rate shape after the warm-up: `constant`, or `cosine` down to `min_lr` at `steps`.
    pub lr_schedule: ScheduleKind,
    /// Floor of the cosine schedule.
    pub min_lr: f64,
}

impl Default for WarmStartConfig {
    fn default() -> Self {
        Self {
            steps: 0,
            lr: 1e-3,
            batch_size: 64,
            levels: [1, 2],
            warmup_steps: 20,
            lr_schedule: ScheduleKind::Constant,
            min_lr: 0.0,
        }
    }
}

impl WarmStartConfig {
    /// The learning-rate schedule these keys describe.
    pub fn schedule(&self) -> LrSchedule {
        let warmup_steps = self.warmup_steps.max(1);
        match self.lr_schedule {
            ScheduleKind::Constant => LrSchedule::WarmupConstant {
                lr: self.lr,
                warmup_steps,
            },
            ScheduleKind::Cosine => LrSchedule::WarmupCosine {
                lr: self.lr,
                warmup_steps,
                total_steps: self.steps,
                min_lr: self.min_lr,
            },
        }
    }
}

/// Evaluation on the frozen eval sets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Directory of frozen eval sets (`rlvr tasks export` writes them).
    pub dir: PathBuf,
    /// Tasks per family × level at most.
    pub max_per_level: usize,
    /// Also sampled pass@k with this k (0: greedy pass@1 only).
    pub pass_at_k: usize,
    /// Prompts per greedy batch.
    pub batch_size: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("tasks/eval"),
            max_per_level: 200,
            pass_at_k: 0,
            batch_size: 512,
        }
    }
}

impl RunConfig {
    /// Checks values serde cannot: sizes and ranges, with the key named by its full path
    /// (`train.beta1`, `train.loss.epsilon_low`, `tasks.families[0].levels`, ...); `[tasks]`
    /// against the families and strategies of `registry`.
    pub fn validate_with(&self, registry: &tasks::Registry) -> Result<()> {
        let bad = |key: &str, value: String, why: &str| {
            Err(Error::Config(format!("{key} = {value}: {why}")))
        };
        if self.threads == 0 {
            return bad("threads", "0".into(), "must be at least 1");
        }
        if self.dtype == policy::Precision::Bf16 && !self.device.is_cuda() {
            return bad(
                "dtype",
                "\"bf16\"".into(),
                "bf16 runs on CUDA only (device = \"cuda\"); the CPU path is f32",
            );
        }
        if self.sampling.group_size < 2 {
            return bad(
                "sampling.group_size",
                self.sampling.group_size.to_string(),
                "group-relative advantages need at least 2 completions per task",
            );
        }
        if self.sampling.tasks_per_step == 0 {
            return bad("sampling.tasks_per_step", "0".into(), "must be at least 1");
        }
        if self.sampling.max_new_tokens == 0 {
            return bad("sampling.max_new_tokens", "0".into(), "must be at least 1");
        }
        if self.sampling.temperature.is_nan() || self.sampling.temperature <= 0.0 {
            return bad(
                "sampling.temperature",
                self.sampling.temperature.to_string(),
                "must be positive",
            );
        }
        if let Some(target) = self.sampling.informative_target {
            if !(target > 0.0 && target < 1.0) {
                return bad(
                    "sampling.informative_target",
                    target.to_string(),
                    "must be in (0, 1)",
                );
            }
            if !(self.sampling.max_temperature >= self.sampling.temperature
                && self.sampling.max_temperature.is_finite())
            {
                return bad(
                    "sampling.max_temperature",
                    self.sampling.max_temperature.to_string(),
                    &format!(
                        "must be finite and at least sampling.temperature = {}",
                        self.sampling.temperature
                    ),
                );
            }
        }
        if self.train.lr.is_nan() || self.train.lr <= 0.0 {
            return bad("train.lr", self.train.lr.to_string(), "must be positive");
        }
        if self.train.micro_batch == 0 {
            return bad("train.micro_batch", "0".into(), "must be at least 1");
        }
        if self.train.shards == 0 {
            return bad("train.shards", "0".into(), "must be at least 1");
        }
        if self.train.epochs == 0 {
            return bad("train.epochs", "0".into(), "must be at least 1");
        }
        if self.train.max_rounds == 0 {
            return bad("train.max_rounds", "0".into(), "must be at least 1");
        }
        if self.train.min_groups > self.train.max_groups {
            return bad(
                "train.min_groups",
                self.train.min_groups.to_string(),
                "must not exceed train.max_groups",
            );
        }
        if let Some(s) = self.train.max_seconds {
            if s.is_nan() || s < 0.0 {
                return bad("train.max_seconds", s.to_string(), "must be >= 0");
            }
        }
        if self.train.lr_schedule == ScheduleKind::Cosine && self.train.decay_steps.is_none() {
            return bad(
                "train.decay_steps",
                "(absent)".into(),
                "train.lr_schedule = \"cosine\" needs it: the update at which the rate reaches train.min_lr",
            );
        }
        if self.warm_start.steps > 0 && self.warm_start.batch_size == 0 {
            return bad("warm_start.batch_size", "0".into(), "must be at least 1");
        }
        if self.warm_start.levels[0] > self.warm_start.levels[1] {
            return bad(
                "warm_start.levels",
                format!("{:?}", self.warm_start.levels),
                "min > max",
            );
        }
        let [lo, hi] = self.warm_start.levels;
        if self.warm_start.steps > 0
            && !self
                .tasks
                .families
                .iter()
                .any(|f| lo <= f.levels[1] && f.levels[0] <= hi)
        {
            return bad(
                "warm_start.levels",
                format!("{:?}", self.warm_start.levels),
                "overlaps no family's levels in [tasks]",
            );
        }
        if let Some(lora) = &self.lora {
            self.validate_lora(lora)?;
        }
        self.train.loss.validate()?;
        self.train.adamw().validate()?;
        // The schedule names its own fields: rename them to this config's keys.
        self.train
            .schedule()
            .validate()
            .map_err(|e| rekey(e, "train", "decay_steps"))?;
        self.warm_start
            .schedule()
            .validate()
            .map_err(|e| rekey(e, "warm_start", "steps"))?;
        self.tasks.validate_with(registry).map_err(|e| match e {
            tasks::TasksError::Config { key, value, why } => Error::InvalidConfig {
                key: format!("tasks.{key}"),
                value,
                reason: why,
            },
            other => Error::Config(format!("[tasks]: {other}")),
        })?;
        Ok(())
    }
}

/// The keys a resume may change (`rlvr train --resume DIR --max-steps N --set KEY=VALUE`): the
/// budgets, the stopping rule and the cadences of evaluation, checkpoints and logging. None of
/// them changes what a step computes, so an extended run equals one that ran longer from the
/// start; every other key would, and a resume refuses it.
pub const RESUMABLE_KEYS: &[&str] = &[
    "train.max_steps",
    "train.max_seconds",
    "train.stop_when_mastered",
    "train.eval_every",
    "train.checkpoint_every",
    "train.samples_per_step",
    "train.replica_check_every",
    "eval.pass_at_k",
    "eval.batch_size",
];

impl RunConfig {
    /// The keys whose values differ from `saved`'s (dotted paths, sorted), if a resume may
    /// change them all ([`RESUMABLE_KEYS`]); else an error naming the first that may not.
    pub fn changes_from(&self, saved: &RunConfig) -> Result<Vec<String>> {
        let value = |c: &RunConfig| {
            toml::Value::try_from(c).map_err(|e| Error::Serialise {
                what: "the config",
                message: e.to_string(),
            })
        };
        let mut changed = Vec::new();
        diff_keys("", &value(saved)?, &value(self)?, &mut changed);
        for (key, old, new) in &changed {
            if !RESUMABLE_KEYS.contains(&key.as_str()) {
                return Err(Error::ResumeChange {
                    key: key.clone(),
                    old: old.clone(),
                    new: new.clone(),
                    allowed: RESUMABLE_KEYS.join(", "),
                });
            }
        }
        Ok(changed.into_iter().map(|(key, ..)| key).collect())
    }
}

/// Appends `(dotted key, old, new)` for every leaf where `a` and `b` differ (a key present on one
/// side only shows as `(absent)` on the other).
fn diff_keys(
    prefix: &str,
    a: &toml::Value,
    b: &toml::Value,
    out: &mut Vec<(String, String, String)>,
) {
    let show = |v: Option<&toml::Value>| v.map_or("(absent)".to_string(), |v| v.to_string());
    match (a, b) {
        (toml::Value::Table(x), toml::Value::Table(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff_keys(&path, u, v, out),
                    (u, v) => out.push((path, show(u), show(v))),
                }
            }
        }
        _ if a != b => out.push((prefix.to_string(), show(Some(a)), show(Some(b)))),
        _ => {}
    }
}

/// A schedule's error with its field renamed to `section`'s key (`total_steps` is `length`).
fn rekey(e: Error, section: &str, length: &str) -> Error {
    match e {
        Error::InvalidConfig { key, value, reason } => {
            let name = |field: &str| {
                let field = if field == "total_steps" {
                    length
                } else {
                    field
                };
                format!("{section}.{field}")
            };
            let reason = match reason.strip_prefix("must not exceed ") {
                Some(other) => format!("must not exceed {}", name(other)),
                None => reason,
            };
            Error::InvalidConfig {
                key: name(&key),
                value,
                reason,
            }
        }
        other => other,
    }
}

impl RunConfig {
    /// LoRA adapts a trained model: a frozen random base cannot learn through a rank-r update.
    fn validate_lora(&self, lora: &policy::LoraConfig) -> Result<()> {
        if self.model.path.is_none() {
            return Err(Error::Config(format!(
                "[lora] needs a trained base model: model.path is unset, so the adapter would \
                 sit on a randomly initialised, frozen base. Make a base first, e.g. \
                 `{LORA_BASE_COMMAND}` (writes {LORA_BASE_DIR}), then train the adapter on it \
                 with --set model.path={LORA_BASE_DIR} (or set it under [model]); to train every \
                 weight from scratch instead, remove [lora]"
            )));
        }
        if lora.r == 0 {
            return Err(Error::Config("lora.r = 0: must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&lora.dropout) {
            return Err(Error::Config(format!(
                "lora.dropout = {}: must be in [0, 1)",
                lora.dropout
            )));
        }
        if lora.alpha.is_nan() || lora.alpha <= 0.0 {
            return Err(Error::Config(format!(
                "lora.alpha = {}: must be positive",
                lora.alpha
            )));
        }
        Ok(())
    }
}

/// The command that makes the shipped LoRA demo's base: the quickstart's model after its warm
/// start, before any RL (`configs/lora.toml` reads it from [`LORA_BASE_DIR`]).
pub(crate) const LORA_BASE_COMMAND: &str =
    "rlvr train configs/quickstart.toml --max-steps 0 --out runs/quickstart-base";
/// Where [`LORA_BASE_COMMAND`] writes the base model.
const LORA_BASE_DIR: &str = "runs/quickstart-base/model";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_start_schedule_ramps_then_holds_or_decays() {
        let mut ws = WarmStartConfig {
            steps: 100,
            lr: 1e-3,
            warmup_steps: 20,
            ..WarmStartConfig::default()
        };
        // Update 1 (index 0) already learns at lr/20; the peak is reached at update 20.
        let s = ws.schedule();
        assert!((s.lr_at(0) - 5e-5).abs() < 1e-12);
        assert!((s.lr_at(19) - 1e-3).abs() < 1e-12);
        assert!((s.lr_at(99) - 1e-3).abs() < 1e-12);
        ws.lr_schedule = ScheduleKind::Cosine;
        ws.min_lr = 1e-4;
        let s = ws.schedule();
        assert!((s.lr_at(19) - 1e-3).abs() < 1e-12);
        assert!(
            (s.lr_at(60) - 5.5e-4).abs() < 1e-12,
            "midway: {}",
            s.lr_at(60)
        );
        assert!((s.lr_at(100) - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn dtype_is_checked_against_the_device() {
        let registry = tasks::Registry::builtin();
        let err = |cfg: &RunConfig| cfg.validate_with(&registry).unwrap_err().to_string();
        let mut cfg = RunConfig::default();
        cfg.validate_with(&registry).unwrap();
        cfg.dtype = policy::Precision::Bf16;
        let e = err(&cfg);
        assert!(e.contains("dtype") && e.contains("CUDA"), "{e}");
        // on CUDA bf16 passes validation (opening the device is checked later)
        cfg.device = policy::DeviceSpec::Cuda(0);
        cfg.validate_with(&registry).unwrap();
    }

    /// The key an error names: `InvalidConfig`'s `key`, or what precedes ` = ` in a `Config`
    /// message.
    fn key_of(e: &Error) -> String {
        match e {
            Error::InvalidConfig { key, .. } => key.clone(),
            Error::Config(msg) => msg.split(" = ").next().unwrap_or_default().to_string(),
            other => panic!("not a config error: {other}"),
        }
    }

    fn rejected(change: impl FnOnce(&mut RunConfig)) -> Error {
        let mut cfg = RunConfig::default();
        change(&mut cfg);
        cfg.validate_with(&tasks::Registry::builtin()).unwrap_err()
    }

    /// Issue 21: every message of `validate` names the key by its full path (`train.beta1`,
    /// `train.min_lr`, `train.loss.*`, `tasks.*`), not the library's own names
    /// (`optimizer.beta1`, `schedule.*`, `loss.*`).
    #[test]
    fn every_validation_message_names_its_key_path() {
        type Change = Box<dyn FnOnce(&mut RunConfig)>;
        let cosine = |c: &mut RunConfig| {
            c.train.lr_schedule = ScheduleKind::Cosine;
            c.train.decay_steps = Some(100);
        };
        let ws_cosine = |c: &mut RunConfig| {
            c.warm_start.lr_schedule = ScheduleKind::Cosine;
            c.warm_start.steps = 100;
        };
        let cases: Vec<(&str, Change)> = vec![
            ("threads", Box::new(|c| c.threads = 0)),
            ("dtype", Box::new(|c| c.dtype = policy::Precision::Bf16)),
            (
                "sampling.group_size",
                Box::new(|c| c.sampling.group_size = 1),
            ),
            (
                "sampling.tasks_per_step",
                Box::new(|c| c.sampling.tasks_per_step = 0),
            ),
            (
                "sampling.max_new_tokens",
                Box::new(|c| c.sampling.max_new_tokens = 0),
            ),
            (
                "sampling.temperature",
                Box::new(|c| c.sampling.temperature = 0.0),
            ),
            (
                "sampling.informative_target",
                Box::new(|c| c.sampling.informative_target = Some(1.0)),
            ),
            (
                "sampling.max_temperature",
                Box::new(|c| {
                    c.sampling.informative_target = Some(0.5);
                    c.sampling.max_temperature = 0.5;
                }),
            ),
            ("train.lr", Box::new(|c| c.train.lr = f64::NAN)),
            ("train.micro_batch", Box::new(|c| c.train.micro_batch = 0)),
            ("train.shards", Box::new(|c| c.train.shards = 0)),
            ("train.epochs", Box::new(|c| c.train.epochs = 0)),
            ("train.max_rounds", Box::new(|c| c.train.max_rounds = 0)),
            ("train.min_groups", Box::new(|c| c.train.min_groups = 65)),
            (
                "train.max_seconds",
                Box::new(|c| c.train.max_seconds = Some(-1.0)),
            ),
            (
                "train.decay_steps",
                Box::new(|c| c.train.lr_schedule = ScheduleKind::Cosine),
            ),
            (
                "warm_start.batch_size",
                Box::new(|c| {
                    c.warm_start.steps = 10;
                    c.warm_start.batch_size = 0;
                }),
            ),
            (
                "warm_start.levels",
                Box::new(|c| c.warm_start.levels = [3, 1]),
            ),
            (
                "warm_start.levels",
                Box::new(|c| {
                    c.warm_start.steps = 10;
                    c.warm_start.levels = [20, 30];
                }),
            ),
            (
                "train.loss.epsilon_low",
                Box::new(|c| c.train.loss.epsilon_low = 1.0),
            ),
            (
                "train.loss.epsilon_high",
                Box::new(|c| c.train.loss.epsilon_high = -1.0),
            ),
            ("train.loss.beta", Box::new(|c| c.train.loss.beta = -1.0)),
            ("train.beta1", Box::new(|c| c.train.beta1 = 1.0)),
            ("train.beta2", Box::new(|c| c.train.beta2 = -0.5)),
            ("train.eps", Box::new(|c| c.train.eps = 0.0)),
            (
                "train.weight_decay",
                Box::new(|c| c.train.weight_decay = -1.0),
            ),
            (
                "train.min_lr",
                Box::new(move |c| {
                    cosine(c);
                    c.train.min_lr = 1.0;
                }),
            ),
            (
                "train.warmup_steps",
                Box::new(move |c| {
                    cosine(c);
                    c.train.warmup_steps = 101;
                }),
            ),
            ("warm_start.lr", Box::new(|c| c.warm_start.lr = -1.0)),
            (
                "warm_start.min_lr",
                Box::new(move |c| {
                    ws_cosine(c);
                    c.warm_start.min_lr = 1.0;
                }),
            ),
            (
                "warm_start.warmup_steps",
                Box::new(move |c| {
                    ws_cosine(c);
                    c.warm_start.warmup_steps = 101;
                }),
            ),
            ("tasks.families", Box::new(|c| c.tasks.families.clear())),
            (
                "tasks.families[0].levels",
                Box::new(|c| c.tasks.families[0].levels = [1, 9]),
            ),
            (
                "tasks.families[0].start_level",
                Box::new(|c| c.tasks.families[0].start_level = 9),
            ),
            ("tasks.stats.ema", Box::new(|c| c.tasks.stats.ema = 0.0)),
            (
                "tasks.curriculum.promote",
                Box::new(|c| {
                    c.tasks.curriculum = tasks::CurriculumConfig::new(
                        "frontier",
                        &tasks::FrontierConfig {
                            promote: 2.0,
                            ..tasks::FrontierConfig::default()
                        },
                    )
                    .unwrap()
                }),
            ),
        ];
        for (key, change) in cases {
            let e = rejected(change);
            assert_eq!(key_of(&e), key, "{e}");
        }
        // The schedule's other fields are named as this config's keys in the reason too.
        let e = rejected(move |c| {
            cosine(c);
            c.train.warmup_steps = 101;
        });
        assert_eq!(
            e.to_string(),
            "invalid config value train.warmup_steps = 101: must not exceed train.decay_steps"
        );
        let e = rejected(move |c| {
            ws_cosine(c);
            c.warm_start.min_lr = 1.0;
        });
        assert_eq!(
            e.to_string(),
            "invalid config value warm_start.min_lr = 1: must not exceed warm_start.lr"
        );
    }

    #[test]
    fn model_shape_errors_name_the_model_keys() {
        let key = |change: fn(&mut ModelSection)| {
            let mut m = ModelSection::default();
            change(&mut m);
            key_of(&m.model_config(64).unwrap_err())
        };
        assert_eq!(key(|m| m.hidden_size = 0), "model.hidden_size");
        assert_eq!(key(|m| m.num_hidden_layers = 0), "model.num_hidden_layers");
        assert_eq!(
            key(|m| m.num_attention_heads = 3),
            "model.num_attention_heads"
        );
        assert_eq!(
            key(|m| m.num_key_value_heads = 3),
            "model.num_key_value_heads"
        );
        assert_eq!(key(|m| m.rope_theta = 0.0), "model.rope_theta");
        assert_eq!(key(|m| m.rms_norm_eps = f64::NAN), "model.rms_norm_eps");
        let m = ModelSection {
            num_attention_heads: 3,
            ..ModelSection::default()
        };
        assert_eq!(
            m.model_config(64).unwrap_err().to_string(),
            "invalid config value model.num_attention_heads = 3: \
             hidden_size 128 is not a multiple of num_attention_heads 3"
        );
    }

    /// Issue 21: a resume may change the budgets, the stopping rule and the cadences, and
    /// nothing that changes what a step computes; the refusal names the key.
    #[test]
    fn a_resume_may_change_only_the_resumable_keys() {
        let saved = RunConfig::default();
        let mut more = saved.clone();
        more.train.max_steps = 500;
        more.train.max_seconds = Some(f64::INFINITY);
        more.train.eval_every = 5;
        more.eval.pass_at_k = 4;
        assert_eq!(
            more.changes_from(&saved).unwrap(),
            [
                "eval.pass_at_k",
                "train.eval_every",
                "train.max_seconds",
                "train.max_steps"
            ]
        );
        assert!(saved.changes_from(&saved).unwrap().is_empty());
        let refused = |change: fn(&mut RunConfig), key: &str| {
            let mut c = saved.clone();
            change(&mut c);
            match c.changes_from(&saved).unwrap_err() {
                Error::ResumeChange { key: k, .. } => assert_eq!(k, key),
                other => panic!("{other}"),
            }
        };
        refused(|c| c.train.lr = 3e-4, "train.lr");
        refused(|c| c.seed = 1, "seed");
        refused(|c| c.train.loss.beta = 0.1, "train.loss.beta");
        refused(|c| c.tasks.families[0].levels = [1, 4], "tasks.families");
        refused(|c| c.sampling.temperature = 0.7, "sampling.temperature");
        let mut c = saved.clone();
        c.train.lr = 3e-4;
        let msg = c.changes_from(&saved).unwrap_err().to_string();
        assert!(
            msg.starts_with("--resume: `train.lr` cannot change on resume (0.0001 → 0.0003)"),
            "{msg}"
        );
        assert!(msg.contains("train.max_steps, train.max_seconds"), "{msg}");
    }

    /// Issue 21: the cosine schedule's length is its own key, so raising `max_steps` (as a
    /// resume may) leaves the schedule as it was.
    #[test]
    fn the_cosine_schedule_length_is_decay_steps_not_max_steps() {
        let mut t = TrainConfig {
            lr_schedule: ScheduleKind::Cosine,
            decay_steps: Some(10),
            min_lr: 1e-5,
            max_steps: 10,
            ..TrainConfig::default()
        };
        let before: Vec<f64> = (0..20).map(|u| t.schedule().lr_at(u)).collect();
        t.max_steps = 1000;
        let after: Vec<f64> = (0..20).map(|u| t.schedule().lr_at(u)).collect();
        assert_eq!(before, after);
        assert_eq!(after[10], 1e-5, "the floor at update decay_steps");
        assert_eq!(after[19], 1e-5, "and after");
    }
}
