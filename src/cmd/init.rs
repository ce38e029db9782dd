//! `rlvr init`: write a randomly initialised model directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use policy::{ModelConfig, Policy, Tokenizer};

/// Arguments of `rlvr init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Model shape: a Hugging Face-style config.json, or TOML with the same keys.
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    pub out: PathBuf,
    /// A Hugging Face tokenizer.json; default: the built-in character tokenizer.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Seed of the initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `rlvr init`.
pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let mut config = ModelConfig::from_file(&args.config)?;
    let tokenizer = match &args.tokenizer {
        Some(path) => Tokenizer::from_file(path)?,
        None => Tokenizer::builtin(),
    };
    // The built-in tokenizer decides the vocabulary; a given one only widens it.
    config.vocab_size = match args.tokenizer {
        None => tokenizer.vocab_size(),
        Some(_) => config.vocab_size.max(tokenizer.vocab_size()),
    };
    // `Policy::init` takes the special ids (bos/eos/pad_token_id) from the tokenizer.
    let policy = Policy::init(&config, tokenizer, args.seed, &policy::Device::Cpu)
        .with_context(|| format!("initialising a model from {}", args.config.display()))?;
    policy
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    tracing::info!(
        out = %args.out.display(),
        parameters = policy.num_parameters(),
        vocab = config.vocab_size,
        "initialised model"
    );
    Ok(())
}
