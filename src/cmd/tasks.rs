//! `rlvr tasks`.

use clap::Args;

/// Arguments of `rlvr tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {}

/// Runs `rlvr tasks`.
pub fn run(_args: TasksArgs) -> anyhow::Result<()> {
    anyhow::bail!("`rlvr tasks` is not implemented yet")
}
