//! `rlvr report`.

use clap::Args;

/// Arguments of `rlvr report`.
#[derive(Debug, Args)]
pub struct ReportArgs {}

/// Runs `rlvr report`.
pub fn run(_args: ReportArgs) -> anyhow::Result<()> {
    anyhow::bail!("`rlvr report` is not implemented yet")
}
