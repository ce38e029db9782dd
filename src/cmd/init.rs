//! `rlvr init`.

use clap::Args;

/// Arguments of `rlvr init`.
#[derive(Debug, Args)]
pub struct InitArgs {}

/// Runs `rlvr init`.
pub fn run(_args: InitArgs) -> anyhow::Result<()> {
    anyhow::bail!("`rlvr init` is not implemented yet")
}
