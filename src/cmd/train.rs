//! `rlvr train`: start a run from a config, or resume one.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `rlvr train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Run config (TOML): overrides of the defaults, e.g. configs/quickstart.toml.
    #[arg(required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Run directory (default: runs/<config name>-s<seed>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run seed (overrides `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// RL steps to run (overrides `train.max_steps`); with --resume, the total to reach. 0: the
    /// warm start and evaluations only (how the LoRA demo's base is made).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Override a config key, e.g. --set train.lr=1e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Continue the run in this directory from its last checkpoint, exactly.
    #[arg(long, conflicts_with_all = ["config", "seed", "sets", "out"])]
    pub resume: Option<PathBuf>,
}

/// Runs `rlvr train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let opts = trainer::TrainOptions {
        max_steps: args.max_steps,
        progress: true,
    };
    let summary = if let Some(dir) = &args.resume {
        trainer::resume(dir, &opts).with_context(|| format!("resuming {}", dir.display()))?
    } else {
        let path = args.config.context("a config file is required")?;
        let mut sets = args.sets.clone();
        if let Some(seed) = args.seed {
            sets.push(format!("seed={seed}"));
        }
        let cfg: trainer::RunConfig = crate::config::load(&path, &sets)?;
        cfg.validate()
            .with_context(|| format!("in config {}", path.display()))?;
        let out = args.out.unwrap_or_else(|| {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
            PathBuf::from("runs").join(format!("{stem}-s{}", cfg.seed))
        });
        trainer::train(cfg, &out, &opts)
            .with_context(|| format!("training into {}", out.display()))?
    };
    println!("{}", serde_json::to_string(&summary)?);
    eprintln!(
        "run finished: {} steps, {} updates, {:.0} s of training; plots: rlvr report {}",
        summary.steps,
        summary.updates,
        summary.train_seconds,
        summary.run_dir.display()
    );
    Ok(())
}
