//! `rlvr report RUN_DIR`: plots and a markdown summary of a run.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `rlvr report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directory holding metrics.jsonl and eval.jsonl (written by `rlvr train`).
    pub run_dir: PathBuf,
    /// Where to write the PNGs and summary.md [default: RUN_DIR/report].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `rlvr report`: writes the files and prints their paths, one per line.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let out = args.out.unwrap_or_else(|| args.run_dir.join("report"));
    let files = trainer::report::write_report(&args.run_dir, &out)
        .with_context(|| format!("writing the report of run {}", args.run_dir.display()))?;
    for file in files {
        println!("{}", file.display());
    }
    Ok(())
}

/// Arguments of `rlvr compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Comparison directory: `DIR/<arm>/<seed>/holdout.json` (the output of `rlvr eval --programs`
    /// on the held-out grid) beside each run's metrics.jsonl, as scripts/open-ended-comparison.sh
    /// writes it.
    pub dir: PathBuf,
    /// The arm the others are compared with.
    #[arg(long, default_value = "uniform")]
    pub baseline: String,
    /// Bootstrap resamples of the held-out programs.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
}

/// Runs `rlvr compare`: writes DIR/comparison.md and DIR/comparison.png (and
/// DIR/comparison_above_chance.png) and prints the tables.
pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let md = trainer::compare::write_comparison(&args.dir, &args.baseline, args.resamples)
        .with_context(|| format!("comparing the runs under {}", args.dir.display()))?;
    print!("{md}");
    Ok(())
}
