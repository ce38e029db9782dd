//! `rlvr eval`: greedy pass@1 (and sampled pass@k) of a model on the frozen eval sets, or greedy
//! pass@1 per program on fresh instances of a program set (`--programs FILE`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tasks::{FamilyConfig, Knobs, NumberFormat, PromptStyle, TasksConfig};

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
    /// With --programs it only supplies sampling settings (default: the built-in defaults).
    #[arg(long, required_unless_present = "programs")]
    pub config: Option<PathBuf>,
    /// Override a config key, e.g. --set eval.pass_at_k=8 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Evaluate on these programs instead of the eval sets: a program TOML file or a text file
    /// with one program per line. Prints greedy pass@1 per program on -n fresh instances each
    /// (at the programs' declared sizes), with its guessing baseline (the share of the most
    /// common answer) and the pass rate above it, as one JSON object.
    #[arg(long, value_name = "FILE")]
    pub programs: Option<PathBuf>,
    /// With --programs: instances per program (seeds `seed`, `seed + 1`, ...).
    #[arg(short = 'n', default_value_t = 100, requires = "programs")]
    pub n: usize,
    /// With --programs: the first instance seed.
    #[arg(long, default_value_t = 0, requires = "programs")]
    pub seed: u64,
    /// With --programs: prompt style, bare or tagged (default: the config's).
    #[arg(long, value_parser = crate::cmd::tasks::parse_style, requires = "programs")]
    pub style: Option<PromptStyle>,
    /// With --programs: number format, natural or fixed_width_lsb_first.
    #[arg(long, default_value = "natural", value_parser = crate::cmd::tasks::parse_format, requires = "programs")]
    pub format: NumberFormat,
}

/// Runs `rlvr eval` and prints the pass rates as one JSON object.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let mut cfg: trainer::RunConfig = match &args.config {
        Some(path) => crate::config::load(path, &args.sets)?,
        None => {
            let mut table = toml::Table::new();
            for set in &args.sets {
                crate::config::apply_set(&mut table, set)?;
            }
            crate::config::from_table(table)?
        }
    };
    policy::set_num_threads(cfg.threads);
    let device = cfg.device.open()?;
    let mut model = policy::Policy::load(&args.model, &device)
        .with_context(|| format!("loading {}", args.model.display()))?;
    model.set_dtype(cfg.dtype.dtype())?;
    if let Some(adapter) = &args.adapter {
        model
            .load_adapter(adapter, "default")
            .with_context(|| format!("loading adapter {}", adapter.display()))?;
        model.set_active_adapter("default")?;
    }
    if let Some(file) = &args.programs {
        return eval_programs(&model, &cfg, &args, file);
    }
    let mut registry = tasks::Registry::builtin();
    cfg.tasks = registry
        .register_programs(&cfg.tasks)
        .context("the config's program families")?;
    let mut sets = trainer::EvalSets::load(&cfg)?;
    // The sets a training run made for families without frozen ones: the same tasks.
    sets.fill_missing(&cfg, &registry);
    anyhow::ensure!(
        !sets.is_empty(),
        "no eval tasks under {} match the config's families, style and levels (write them with `rlvr tasks export`)",
        cfg.eval.dir.display()
    );
    let result = trainer::evaluate(&model, &registry, &cfg, &sets)?;
    println!(
        "{}",
        serde_json::json!({ "pass": result.pass, "pass_at_k": result.pass_at_k })
    );
    Ok(())
}

/// Greedy pass@1 of each program of `file` on `args.n` fresh instances.
fn eval_programs(
    model: &policy::Policy,
    cfg: &trainer::RunConfig,
    args: &EvalArgs,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    let specs = tasks::program::read_specs(file)?;
    anyhow::ensure!(!specs.is_empty(), "{}: no programs", file.display());
    let mut registry = tasks::Registry::builtin();
    let entries = specs
        .iter()
        .map(|s| FamilyConfig {
            name: s.name.clone(),
            program: Some(s.program.clone()),
            mode: Some(s.mode),
            solve: s.solve.clone(),
            ladder: s.ladder.clone(),
            levels: [0, 0],
            ..FamilyConfig::default()
        })
        .collect();
    let expanded = registry
        .register_programs(&TasksConfig {
            families: entries,
            ..TasksConfig::default()
        })
        .with_context(|| format!("in {}", file.display()))?;
    let style = args.style.unwrap_or(cfg.tasks.style);
    let mut rows = Vec::new();
    let mut total = 0.0;
    for (i, f) in expanded.families.iter().enumerate() {
        let tasks: Vec<tasks::Task> = (0..args.n as u64)
            .map(|j| {
                registry.generate(
                    &f.name,
                    &Knobs::new(),
                    style,
                    args.format,
                    args.seed.wrapping_add(j),
                )
            })
            .collect::<tasks::Result<_>>()?;
        let pass = trainer::pass_rate(model, &registry, cfg, &tasks, 1, true, i as u64)?;
        total += pass;
        // What always giving the most common reference answer would score on these instances.
        let answers: Vec<&str> = tasks.iter().map(|t| t.answer.as_str()).collect();
        let baseline = tasks::majority_share(&answers);
        rows.push(serde_json::json!({
            "name": f.name, "program": f.program, "mode": f.mode.unwrap_or_default(),
            "n": tasks.len(), "pass": pass, "baseline": baseline,
            "above_chance": tasks::above_chance(pass, baseline),
        }));
    }
    let mean = total / rows.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "programs": rows, "mean_pass": mean, "style": style.as_str(),
            "format": args.format.as_str(), "greedy": true,
        })
    );
    Ok(())
}
