//! The standard benchmark shapes (`benches/workloads.toml`, a copy of the team's shared file),
//! embedded in the binary so that `rlvr bench` needs no file; `--workloads PATH` reads another.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

const BUILTIN: &str = include_str!("../../../benches/workloads.toml");

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
    /// Token ids (3 specials + characters).
    pub vocab_size: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Decoder layers.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub n_kv_heads: usize,
    /// MLP hidden size.
    pub ffn_hidden: usize,
    /// Longest sequence.
    pub max_seq_len: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub norm_eps: f64,
    /// Whether the LM head shares the embedding.
    pub tie_embeddings: bool,
}

/// `rollout_*`: sample `group_size` completions of exactly `new_tokens` for each of `tasks` prompts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutWorkload {
    /// The model shape's name.
    pub model: String,
    /// Prompts.
    pub tasks: usize,
    /// Completions per prompt.
    pub group_size: usize,
    /// Tokens per prompt.
    pub prompt_tokens: usize,
    /// Tokens generated per completion.
    pub new_tokens: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Seed of the weights, prompts and sampling.
    pub seed: u64,
}

/// `step_*`: one GRPO update on `sequences` random sequences.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepWorkload {
    /// The model shape's name.
    pub model: String,
    /// Sequences in the batch.
    pub sequences: usize,
    /// Prompt tokens per sequence.
    pub prompt_tokens: usize,
    /// Completion tokens per sequence.
    pub completion_tokens: usize,
    /// KL coefficient (beta).
    pub kl_coef: f64,
    /// Clip epsilon (both sides).
    pub clip_eps: f64,
    /// Global gradient-norm clip.
    pub max_grad_norm: f64,
    /// Learning rate.
    pub lr: f64,
    /// Seed of the weights and data.
    pub seed: u64,
}

/// `taskgen_*`: generate `count` tasks and verify each gold answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskgenWorkload {
    /// The family's name.
    pub family: String,
    /// Tasks per timed run.
    pub count: usize,
    /// The first task's seed (task i has seed + i).
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
    pub fn policy(&self, name: &str, seed: u64, device: &policy::Device) -> Result<policy::Policy> {
        let bad = |message: String| Error::Shape {
            model: name.into(),
            message,
        };
        if self.vocab_size <= 3 {
            return Err(bad("a model needs more than 3 token ids".into()));
        }
        let alphabet: String = (b'!'..=b'~')
            .map(char::from)
            .take(self.vocab_size - 3)
            .collect();
        let tokenizer = policy::Tokenizer::char_level(&alphabet);
        if tokenizer.vocab_size() != self.vocab_size {
            return Err(bad(format!(
                "vocab_size {} is larger than the printable characters allow",
                self.vocab_size
            )));
        }
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
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (file, text) = match path {
            None => (
                "built-in benches/workloads.toml".to_string(),
                BUILTIN.into(),
            ),
            Some(path) => (
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|error| Error::Io {
                    path: path.into(),
                    error,
                })?,
            ),
        };
        toml::from_str(&text).map_err(|e| Error::Parse {
            file,
            message: e.to_string(),
        })
    }

    /// The workload `name`, parsed as kind `T`.
    pub fn get<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T> {
        let raw = self
            .workload
            .get(name)
            .ok_or_else(|| Error::NoWorkload { name: name.into() })?;
        raw.clone().try_into().map_err(|e| Error::Workload {
            name: name.into(),
            message: e.to_string(),
        })
    }

    /// The model shape `name`.
    pub fn model(&self, name: &str) -> Result<&ModelShape> {
        self.model
            .get(name)
            .ok_or_else(|| Error::NoModel { name: name.into() })
    }
}
