//! One sampling round: encode the tasks' prompts, sample G completions each, decode and verify
//! them, and turn verdicts into rewards. Nothing here touches gradients.

use rand::rngs::StdRng;
use serde::Serialize;

use crate::advantage::{is_informative, overlong_penalty};
use crate::config::{Overlong, SamplingConfig};
use crate::error::{Error, Result};

/// One sampled completion with its verdict.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Row {
    /// Completion token ids as sampled (the EOS included when emitted).
    pub tokens: Vec<u32>,
    /// Log-probability of each token when it was sampled (the "old" policy).
    pub logprobs: Vec<f32>,
    /// Completion text, EOS excluded.
    pub text: String,
    /// Cut off at the token limit.
    pub truncated: bool,
    /// The verifier's decision.
    pub verdict: tasks::Verdict,
    /// Reward after overlong shaping.
    pub reward: f32,
}

/// A task and its G completions.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Group {
    /// The task.
    pub task: tasks::Task,
    /// Prompt token ids, as the model's tokenizer encodes the prompt (BOS first for rlvr's own).
    pub prompt: Vec<u32>,
    /// The G completions.
    pub rows: Vec<Row>,
}

impl Group {
    /// Number of correct completions.
    pub fn num_correct(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict.correct).count()
    }

    /// Neither all correct nor all wrong: the only groups with a learning signal.
    pub fn is_informative(&self) -> bool {
        let correct: Vec<bool> = self.rows.iter().map(|r| r.verdict.correct).collect();
        is_informative(&correct)
    }

    /// The rewards of the rows, in order.
    pub fn rewards(&self) -> Vec<f32> {
        self.rows.iter().map(|r| r.reward).collect()
    }
}

/// The prompt token ids of a task: its prompt text encoded with the tokenizer's special tokens,
/// as `tokenizer(prompt)` in transformers (BOS first for rlvr's own and Llama's tokenizers,
/// nothing added for Qwen2's).
pub fn encode_prompt(tokenizer: &policy::Tokenizer, task: &tasks::Task) -> Result<Vec<u32>> {
    tokenizer
        .encode_prompt(&task.prompt)
        .map_err(|e| Error::TaskEncoding {
            task: task.id.clone(),
            family: task.family.clone(),
            part: "prompt",
            cause: Box::new(e),
        })
}

/// The sampler's settings for this config.
pub fn sample_params(cfg: &SamplingConfig, greedy: bool) -> policy::SampleParams {
    policy::SampleParams {
        max_new_tokens: cfg.max_new_tokens,
        temperature: cfg.temperature as f32,
        top_k: cfg.top_k,
        top_p: cfg.top_p.map(|p| p as f32),
        greedy,
        stop_at_eos: true,
    }
}

/// Samples `group_size` completions for each task and verifies them with `registry`'s families.
pub fn sample_groups(
    policy: &policy::Policy,
    registry: &tasks::Registry,
    tasks: Vec<tasks::Task>,
    cfg: &SamplingConfig,
    overlong: Overlong,
    rng: &mut StdRng,
) -> Result<Vec<Group>> {
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let tokenizer = policy.tokenizer();
    let prompts = tasks
        .iter()
        .map(|t| encode_prompt(tokenizer, t))
        .collect::<Result<Vec<_>>>()?;
    let g = cfg.group_size;
    let out = policy.sample(&prompts, g, &sample_params(cfg, false), rng)?;
    let mut groups = Vec::with_capacity(tasks.len());
    let mut rows = out.tokens.into_iter().zip(out.logprobs).zip(out.stop);
    for (task, prompt) in tasks.into_iter().zip(prompts) {
        let mut group_rows = Vec::with_capacity(g);
        for ((tokens, logprobs), stop) in rows.by_ref().take(g) {
            let truncated = matches!(stop, policy::StopReason::Length);
            let body: Vec<u32> = tokens
                .iter()
                .copied()
                .take_while(|&t| !tokenizer.is_eos(t))
                .collect();
            let text = tokenizer.decode(&body);
            let verdict = if truncated {
                tasks::Verdict::truncated()
            } else {
                registry.verify(&task, &text)
            };
            let penalty = match overlong {
                Overlong::SoftPenalty { buffer } => {
                    overlong_penalty(tokens.len(), cfg.max_new_tokens, buffer)
                }
                Overlong::Keep | Overlong::Mask => 0.0,
            };
            let reward = verdict.score + penalty;
            group_rows.push(Row {
                tokens,
                logprobs,
                text,
                truncated,
                verdict,
                reward,
            });
        }
        groups.push(Group {
            task,
            prompt,
            rows: group_rows,
        });
    }
    Ok(groups)
}
