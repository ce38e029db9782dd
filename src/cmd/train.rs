//! `rlvr train`: start a run from a config, or resume one (and extend it past its end); under
//! `mpirun -np N` (built with `--features mpi`), as N data-parallel ranks (docs/distributed.md).

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
    /// train.samples_per_step, train.replica_check_every, eval.pass_at_k, eval.batch_size.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Continue the run in this directory from its last checkpoint, exactly; with --max-steps or
    /// --set train.max_seconds=S it goes on past where it stopped.
    #[arg(long, conflicts_with_all = ["config", "seed", "out"])]
    pub resume: Option<PathBuf>,
    /// Take the warm start from this directory when a run of this same build stored an identical
    /// one there (same model, seed, warm-start settings and training data: the weights are bit
    /// for bit those the run would compute), and store it there when not. Saves the warm start's
    /// minutes for configs that differ only after it, e.g. a curriculum against uniform.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub warm_start_cache: Option<PathBuf>,
}

/// Runs `rlvr train`: alone, or as one rank of several when an MPI launcher started it (rank 0
/// prints; an error on any rank ends them all).
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let collective = trainer::collective::from_launcher().context("joining the other ranks")?;
    let (rank, size) = (collective.rank(), collective.size());
    let mut opts = trainer::TrainOptions {
        progress: rank == 0,
        collective: collective.clone(),
        warm_start_cache: args.warm_start_cache.clone(),
        ..trainer::TrainOptions::default()
    };
    match train(args, &mut opts) {
        Ok(summary) if rank == 0 => {
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
        Ok(_) => Ok(()),
        Err(err) if size > 1 => {
            // The other ranks may be waiting in a collective for this one: end them all.
            eprintln!("error (rank {rank} of {size}): {err:#}");
            collective.abort(2)
        }
        Err(err) => Err(err),
    }
}

fn train(
    args: TrainArgs,
    opts: &mut trainer::TrainOptions,
) -> anyhow::Result<trainer::TrainSummary> {
    let mut sets = args.sets.clone();
    if let Some(n) = args.max_steps {
        sets.push(format!("train.max_steps={n}"));
    }
    let summary = if let Some(dir) = &args.resume {
        let path = dir.join("config.toml");
        let cfg: trainer::RunConfig = crate::config::load(&path, &sets)?;
        trainer::resume(dir, cfg, opts).with_context(|| format!("resuming {}", dir.display()))?
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
        trainer::train(cfg, &out, opts)
            .with_context(|| format!("training into {}", out.display()))?
    };
    Ok(summary)
}
