//! `rlvr generate`: sample completions of one prompt from a model directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use policy::{Policy, SampleParams, StopReason};
use rand::SeedableRng;

/// Arguments of `rlvr generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// A PEFT LoRA adapter directory (e.g. a LoRA run's `model/`) to apply to --model.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Prompt text, encoded as the model's tokenizer does with its special tokens (rlvr's own
    /// tokenizer puts BOS in front; a Qwen2 one adds nothing).
    #[arg(long)]
    pub prompt: String,
    /// Number of completions.
    #[arg(short = 'n', long = "num", default_value_t = 1)]
    pub n: usize,
    /// Take the most likely token at each step.
    #[arg(long)]
    pub greedy: bool,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Keep only the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Nucleus sampling threshold.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Most tokens per completion.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object per completion instead of plain text (with each token's log-prob
    /// under softmax(logits / temperature), 1 when greedy; top-k/top-p not applied).
    #[arg(long)]
    pub json: bool,
    /// CPU threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: policy::DeviceSpec,
    /// dtype of the forward: f32, or bf16 (CUDA only).
    #[arg(long, default_value = "f32")]
    pub dtype: policy::Precision,
}

/// Runs `rlvr generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    policy::set_num_threads(args.threads);
    let device = args.device.open()?;
    let mut model = Policy::load(&args.model, &device)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    model.set_dtype(args.dtype.dtype())?;
    if let Some(dir) = &args.adapter {
        model
            .load_adapter(dir, "adapter")
            .with_context(|| format!("loading adapter {}", dir.display()))?;
    }
    let tok = model.tokenizer();
    let prompt = tok.encode_prompt(&args.prompt)?;
    let params = SampleParams {
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        greedy: args.greedy,
        stop_at_eos: true,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let out = model.sample(std::slice::from_ref(&prompt), args.n, &params, &mut rng)?;
    for ((tokens, logprobs), stop) in out.tokens.iter().zip(&out.logprobs).zip(&out.stop) {
        let text = tok.decode(tokens);
        if args.json {
            let line = serde_json::json!({
                "prompt": args.prompt,
                "prompt_tokens": prompt,
                "completion": text,
                "tokens": tokens,
                "logprob": logprobs.iter().sum::<f32>(),
                "logprobs": logprobs,
                "stop": match stop { StopReason::Eos => "eos", StopReason::Length => "length" },
            });
            println!("{line}");
        } else {
            println!("{text}");
        }
    }
    Ok(())
}
