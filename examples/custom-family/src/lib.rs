//! rlvr extended from outside its crates: the `Reverse` family of docs/tasks.md (reverse a string of
//! digits), a `round_robin` curriculum strategy, both registered in a [`Registry`] value, and a
//! short GRPO run on them through the trainer's public API ([`train`]).
//!
//! Neither `crates/tasks` nor `crates/trainer` knows these types: the registry handed to
//! [`trainer::TrainOptions`] is what makes `name = "reverse"` and `type = "round_robin"` valid in
//! the run config below. `docs/extending.md` walks through it.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tasks::{
    answer, CellStats, Family, FamilyCells, Harder, Knob, Knobs, NumberFormat, PromptStyle,
    Registry, Strategy, StrategyConfig, Task, TaskRng, TasksError, Verdict,
};

// `Reverse` as docs/tasks.md prints it (compact lines), hence `rustfmt::skip`.

/// Reverse a string of digits.
pub struct Reverse;

#[rustfmt::skip]
const KNOBS: &[Knob] = &[Knob::int("length", 1, 32, 3, Harder::Up, "digits to reverse")];

#[rustfmt::skip]
impl Family for Reverse {
    fn name(&self) -> &'static str { "reverse" }
    fn knobs(&self) -> &'static [Knob] { KNOBS }
    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        let mut rng = TaskRng::new(seed); // all randomness from the seed: (family, knobs, seed) fixes the task
        let digits: String = (0..knobs.int("length", 3)).map(|_| char::from(b'0' + rng.below(10) as u8)).collect();
        let gold: String = digits.chars().rev().collect();
        let (prompt, reference) = match style {
            PromptStyle::Bare => (format!("rev:{digits}="), gold),
            PromptStyle::Tagged => (format!("Reverse the digits {digits}. Answer inside <answer></answer>."),
                                    answer::wrap(style, &gold)),
        };
        Task::new(self.name(), knobs, seed, style, format, prompt, reference, String::new())
    }
    fn verify(&self, task: &Task, completion: &str) -> Verdict {
        // Extracts the answer for either style, bounds its length, rejects hedges, never panics.
        answer::verify_exact(task.style, completion, answer::gold(task.style, &task.answer))
    }
    fn ladder(&self) -> Vec<Knobs> { // level L = L digits: what the curriculum climbs
        (1..=8).map(|n| Knobs::from_static(&[("length", n as f64)])).collect()
    }
}

/// `[tasks.curriculum] type = "round_robin"`: the family's ladder levels in play in turn,
/// `repeat` tasks at each before the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoundRobinConfig {
    /// Tasks at a level before moving to the next one.
    pub repeat: u32,
}

impl Default for RoundRobinConfig {
    fn default() -> Self {
        Self { repeat: 1 }
    }
}

impl StrategyConfig for RoundRobinConfig {
    type Strategy = RoundRobin;

    fn validate(&self) -> tasks::Result<()> {
        if self.repeat == 0 {
            return Err(TasksError::Config {
                key: "curriculum.repeat".into(),
                value: "0".into(),
                why: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    fn build(&self, family: &FamilyCells) -> RoundRobin {
        RoundRobin {
            repeat: self.repeat,
            next: family.start,
            served: 0,
        }
    }
}

/// Round-robin state of one family: its serde form is what a checkpoint saves, so a resumed run
/// continues the cycle where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRobin {
    repeat: u32,
    /// Ladder position of the next task.
    next: usize,
    /// Tasks already served at `next`.
    served: u32,
}

impl Strategy for RoundRobin {
    fn choose(&mut self, family: &FamilyCells, _cells: &[CellStats], _rng: &mut TaskRng) -> usize {
        let levels = family.levels.len();
        let cell = family.levels[self.next % levels];
        self.served += 1;
        if self.served >= self.repeat {
            self.served = 0;
            self.next = (self.next + 1) % levels;
        }
        cell
    }
}

/// The built-in families and strategies, plus `reverse` and `round_robin`.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register(Box::new(Reverse));
    registry.register_strategy::<RoundRobinConfig>("round_robin");
    registry
}

/// The run: a ~70k-parameter model, a short warm start on the gold answers of reversals of 1 to 3
/// digits, then a few GRPO steps with the round-robin curriculum over those three levels.
pub const CONFIG: &str = r#"
seed = 0
threads = 1

[model]
hidden_size = 64
intermediate_size = 128
num_hidden_layers = 2
num_attention_heads = 2
num_key_value_heads = 2
max_position_embeddings = 32

[[tasks.families]]
name = "reverse"
levels = [1, 3]
start_level = 1

[tasks.curriculum]
type = "round_robin"

[sampling]
group_size = 8
tasks_per_step = 6
max_new_tokens = 5

[warm_start]
steps = 60
batch_size = 32
lr = 3e-3
levels = [1, 3]
warmup_steps = 5

[train]
max_steps = 4
lr = 1e-3
eval_every = 0
checkpoint_every = 2
"#;

/// [`CONFIG`] as a run config.
pub fn config() -> anyhow::Result<trainer::RunConfig> {
    Ok(toml::from_str(CONFIG)?)
}

/// Trains on `reverse` into `out` for `max_steps` steps (resuming the run there when
/// `resume` is set), with [`registry`].
pub fn train(out: &Path, max_steps: u64, resume: bool) -> anyhow::Result<trainer::TrainSummary> {
    let opts = trainer::TrainOptions {
        registry: Arc::new(registry()),
        ..trainer::TrainOptions::default()
    };
    let summary = if resume {
        // The run's own config, extended to `max_steps` (a key a resume may change).
        let text = std::fs::read_to_string(out.join("config.toml"))?;
        let mut cfg: trainer::RunConfig = toml::from_str(&text)?;
        cfg.train.max_steps = max_steps;
        trainer::resume(out, cfg, &opts)?
    } else {
        let mut cfg = config()?;
        cfg.train.max_steps = max_steps;
        // No frozen eval sets for a family of our own: evaluation is skipped.
        cfg.eval.dir = out.join("no-eval-sets");
        trainer::train(cfg, out, &opts)?
    };
    Ok(summary)
}
