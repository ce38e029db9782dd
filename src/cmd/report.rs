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
