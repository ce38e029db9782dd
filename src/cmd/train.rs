//! `rlvr train`: start a run from a config, or resume one (and extend it past its end).

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
    /// RL steps to reach: sets `train.max_steps` (written to the run's config.toml); with
    /// --resume, the total to reach, past the run's end if need be. 0: the warm start and
    /// evaluations only (how the LoRA demo's base is made).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Override a config key, e.g. --set train.lr=1e-4 (repeatable). With --resume only the keys
    /// that do not change what a step computes: train.max_steps, train.max_seconds (`inf`: no
    /// limit), train.stop_when_mastered, train.eval_every, train.checkpoint_every,
    /// train.samples_per_step, eval.pass_at_k, eval.batch_size.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Continue the run in this directory from its last checkpoint, exactly; with --max-steps or
    /// --set train.max_seconds=S it goes on past where it stopped.
    #[arg(long, conflicts_with_all = ["config", "seed", "out"])]
    pub resume: Option<PathBuf>,
}

/// Runs `rlvr train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let mut opts = trainer::TrainOptions {
        progress: true,
        ..trainer::TrainOptions::default()
    };
    let mut sets = args.sets.clone();
    if let Some(n) = args.max_steps {
        sets.push(format!("train.max_steps={n}"));
    }
    let summary = if let Some(dir) = &args.resume {
        let path = dir.join("config.toml");
        let cfg: trainer::RunConfig = crate::config::load(&path, &sets)?;
        trainer::resume(dir, cfg, &opts).with_context(|| format!("resuming {}", dir.display()))?
    } else {
        let path = args.config.context("a config file is required")?;
        if let Some(seed) = args.seed {
            sets.push(format!("seed={seed}"));
        }
        let mut cfg: trainer::RunConfig = crate::config::load(&path, &sets)?;
        // Program entries (`program = "..."`, `programs = "FILE"`) become registered families.
        let mut registry = tasks::Registry::builtin();
        cfg.tasks = registry
            .register_programs(&cfg.tasks)
            .with_context(|| format!("in config {}", path.display()))?;
        opts.registry = std::sync::Arc::new(registry);
        cfg.validate_with(&opts.registry)
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
        "run finished ({}): {} steps, {} updates, {:.0} s of training; plots: rlvr report {}",
        summary.stopped,
        summary.steps,
        summary.updates,
        summary.train_seconds,
        summary.run_dir.display()
    );
    Ok(())
}
