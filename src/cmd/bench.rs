//! `rlvr bench WORKLOAD`: runs one standard workload (the `bench` crate) and prints its JSON line,
//! `{"workload", "impl": "rlvr", "value", "unit", "runs", "extra"}`, like the reference peers.

use std::path::PathBuf;

use clap::Args;

/// Arguments of `rlvr bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Workload name: taskgen_add, taskgen_bool, taskgen_program, rollout_tiny, rollout_small,
    /// step_tiny, step_small.
    pub workload: String,
    /// Workload shapes (TOML); defaults to the project's copy, benches/workloads.toml.
    #[arg(long)]
    pub workloads: Option<PathBuf>,
    /// CPU threads (task-generation workers, or the model's kernels).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Device of the model workloads: cpu, cuda or cuda:N (a `--features cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: policy::DeviceSpec,
    /// dtype of the model workloads' forwards: f32, or bf16 (CUDA only; f32 master weights).
    #[arg(long, default_value = "f32")]
    pub dtype: policy::Precision,
    /// Timed repetitions after one untimed warm-up.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// step_* only: train rank-R LoRA adapters on all seven projections of a frozen base (the
    /// reference forward is the base with the adapter off) instead of every weight.
    #[arg(long, value_name = "R")]
    pub lora_rank: Option<usize>,
    /// step_* only: slices of the batch whose forward and backward run side by side (the
    /// trainer's `train.shards`; default: its default).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
}

/// Runs the workload and prints its result.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let result = bench::run(&bench::BenchArgs {
        workload: args.workload,
        workloads: args.workloads,
        threads: args.threads,
        device: args.device,
        dtype: args.dtype,
        repeat: args.repeat,
        lora_rank: args.lora_rank,
        shards: args.shards,
    })?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
