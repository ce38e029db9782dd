//! `rlvr generate`.

use clap::Args;

/// Arguments of `rlvr generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {}

/// Runs `rlvr generate`.
pub fn run(_args: GenerateArgs) -> anyhow::Result<()> {
    anyhow::bail!("`rlvr generate` is not implemented yet")
}
