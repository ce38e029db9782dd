//! The standard benchmark shapes (`benches/workloads.toml`, a copy of the team's shared file),
//! embedded in the binary so that `rlvr bench` needs no file; `--workloads PATH` reads another.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

const BUILTIN: &str = include_str!("../../benches/workloads.toml");

/// All models and workloads of one workloads file.
#[derive(Debug, Deserialize)]
pub struct Workloads {
    /// Model shapes by name (`tiny`, `small`).
    pub model: BTreeMap<String, ModelShape>,
    /// Workloads by name, kept raw until a bench module reads its own kind.
    pub workload: BTreeMap<String, toml::Value>,
}

/// A Llama-style model shape as the peers name its fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelShape {
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub ffn_hidden: usize,
    pub max_seq_len: usize,
    pub rope_theta: f64,
    pub norm_eps: f64,
    pub tie_embeddings: bool,
}

/// `rollout_*`: sample `group_size` completions of exactly `new_tokens` for each of `tasks` prompts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutWorkload {
    pub model: String,
    pub tasks: usize,
    pub group_size: usize,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub temperature: f64,
    pub seed: u64,
}

/// `step_*`: one GRPO update on `sequences` random sequences.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepWorkload {
    pub model: String,
    pub sequences: usize,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub kl_coef: f64,
    pub clip_eps: f64,
    pub max_grad_norm: f64,
    pub lr: f64,
    pub seed: u64,
}

/// `taskgen_*`: generate `count` tasks and verify each gold answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskgenWorkload {
    pub family: String,
    pub count: usize,
    pub seed: u64,
    /// `family = "program"`: the task program (its family is made from the text).
    #[serde(default)]
    pub program: Option<String>,
    /// The family's knobs (`digits`, `vars`, `depth`, ...).
    #[serde(flatten)]
    pub knobs: BTreeMap<String, toml::Value>,
}

impl ModelShape {
    /// A randomly initialised policy of this shape on `device` over a character tokenizer of
    /// exactly `vocab_size` ids (3 specials + printable characters), as the peers build theirs.
    pub fn policy(&self, seed: u64, device: &policy::Device) -> anyhow::Result<policy::Policy> {
        anyhow::ensure!(self.vocab_size > 3, "a model needs more than 3 token ids");
        let alphabet: String = (b'!'..=b'~')
            .map(char::from)
            .take(self.vocab_size - 3)
            .collect();
        let tokenizer = policy::Tokenizer::char_level(&alphabet);
        anyhow::ensure!(
            tokenizer.vocab_size() == self.vocab_size,
            "vocab_size {} is larger than the printable characters allow",
            self.vocab_size
        );
        let config = policy::ModelConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.d_model,
            intermediate_size: self.ffn_hidden,
            num_hidden_layers: self.n_layers,
            num_attention_heads: self.n_heads,
            num_key_value_heads: Some(self.n_kv_heads),
            rope_theta: self.rope_theta,
            rms_norm_eps: self.norm_eps,
            max_position_embeddings: self.max_seq_len,
            tie_word_embeddings: self.tie_embeddings,
            ..policy::ModelConfig::default()
        };
        Ok(policy::Policy::init(&config, tokenizer, seed, device)?)
    }
}

impl Workloads {
    /// Reads `path`, or the built-in copy when `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => toml::from_str(BUILTIN).context("built-in benches/workloads.toml"),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
            }
        }
    }

    /// The workload `name`, parsed as kind `T`.
    pub fn get<T: for<'de> Deserialize<'de>>(&self, name: &str) -> anyhow::Result<T> {
        let raw = self
            .workload
            .get(name)
            .with_context(|| format!("no [workload.{name}] in the workloads file"))?;
        raw.clone()
            .try_into()
            .with_context(|| format!("[workload.{name}] in the workloads file"))
    }

    /// The model shape `name`.
    pub fn model(&self, name: &str) -> anyhow::Result<&ModelShape> {
        self.model
            .get(name)
            .with_context(|| format!("no [model.{name}] in the workloads file"))
    }
}
