//! `rlvr eval`: greedy pass@1 (and sampled pass@k) of a model on the frozen eval sets.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `rlvr eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model directory (a run's `model/` or `checkpoint/model/`, or one made by `rlvr init`).
    #[arg(long)]
    pub model: PathBuf,
    /// LoRA adapter directory (PEFT format, e.g. a LoRA run's `model/`) to apply to --model.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Run config naming the families, levels, style and eval sets (e.g. a run's config.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// Override a config key, e.g. --set eval.pass_at_k=8 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Runs `rlvr eval` and prints the pass rates as one JSON object.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let cfg: trainer::RunConfig = crate::config::load(&args.config, &args.sets)?;
    policy::set_num_threads(cfg.threads);
    let device = policy::parse_device(&cfg.device)?;
    let mut model = policy::Policy::load(&args.model, &device)
        .with_context(|| format!("loading {}", args.model.display()))?;
    model.set_dtype(policy::parse_dtype(&cfg.dtype)?)?;
    if let Some(adapter) = &args.adapter {
        model
            .load_adapter(adapter, "default")
            .with_context(|| format!("loading adapter {}", adapter.display()))?;
        model.set_active_adapter("default")?;
    }
    let sets = trainer::EvalSets::load(&cfg)?;
    anyhow::ensure!(
        !sets.is_empty(),
        "no eval tasks under {} match the config's families, style and levels (write them with `rlvr tasks export`)",
        cfg.eval.dir.display()
    );
    let registry = tasks::Registry::builtin();
    let result = trainer::evaluate(&model, &registry, &cfg, &sets)?;
    println!(
        "{}",
        serde_json::json!({ "pass": result.pass, "pass_at_k": result.pass_at_k })
    );
    Ok(())
}
