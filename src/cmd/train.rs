//! `rlvr train`.

use clap::Args;

/// Arguments of `rlvr train`.
#[derive(Debug, Args)]
pub struct TrainArgs {}

/// Runs `rlvr train`.
pub fn run(_args: TrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("`rlvr train` is not implemented yet")
}
