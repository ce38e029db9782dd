//! `rlvr eval`.

use clap::Args;

/// Arguments of `rlvr eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {}

/// Runs `rlvr eval`.
pub fn run(_args: EvalArgs) -> anyhow::Result<()> {
    anyhow::bail!("`rlvr eval` is not implemented yet")
}
