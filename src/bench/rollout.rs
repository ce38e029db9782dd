//! The `rollout_*` workloads.

use super::{BenchArgs, BenchResult, Workloads};

/// Runs a `rollout_*` workload.
pub fn run(_workloads: &Workloads, args: &BenchArgs) -> anyhow::Result<BenchResult> {
    anyhow::bail!("workload {} is not implemented yet", args.workload)
}
