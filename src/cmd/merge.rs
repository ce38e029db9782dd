//! `rlvr merge`: fold a LoRA adapter into its base and write one full model directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use policy::Policy;

/// Arguments of `rlvr merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The base model directory (default: the adapter's `base_model_name_or_path`, which a LoRA
    /// run writes).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A PEFT LoRA adapter directory, e.g. a LoRA run's `model/`.
    #[arg(long)]
    pub adapter: PathBuf,
    /// Output directory for the merged model (config.json, model.safetensors, tokenizer files);
    /// must not hold a model already.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `rlvr merge`: base + adapter, `W += (alpha / r) B A` on each adapted projection.
pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let base = match args.model {
        Some(dir) => dir,
        None => policy::adapter_base_model(&args.adapter)
            .with_context(|| format!("reading adapter {}", args.adapter.display()))?
            .map(PathBuf::from)
            .with_context(|| {
                format!(
                    "adapter {} names no base model (base_model_name_or_path): pass --model BASE",
                    args.adapter.display()
                )
            })?,
    };
    anyhow::ensure!(
        !args.out.join(policy::CONFIG_FILE).exists(),
        "{} already holds a model: choose another --out",
        args.out.display()
    );
    let mut model = Policy::load(&base, &policy::Device::Cpu)
        .with_context(|| format!("loading base model {}", base.display()))?;
    model
        .load_adapter(&args.adapter, "adapter")
        .with_context(|| format!("loading adapter {}", args.adapter.display()))?;
    model.merge_adapter("adapter")?;
    model
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    tracing::info!(
        base = %base.display(),
        adapter = %args.adapter.display(),
        out = %args.out.display(),
        "merged model written"
    );
    Ok(())
}
