//! rlvr's standard benchmark workloads (`benches/workloads.toml`: task generation, rollout, one
//! GRPO step), each measured as the reference peers measure theirs and reported as one
//! [`BenchResult`] (`{"workload", "impl": "rlvr", "value", "unit", "runs"}` as JSON), with the
//! model workloads' distance to the physical limit. `rlvr bench WORKLOAD` prints it.

mod error;
mod limit;
mod rollout;
mod step;
mod taskgen;
mod workloads;

use std::path::PathBuf;

pub use error::{Error, Result};
pub use workloads::{ModelShape, RolloutWorkload, StepWorkload, TaskgenWorkload, Workloads};

/// How to run one workload (`rlvr bench`'s arguments).
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Workload name: taskgen_add, taskgen_bool, taskgen_program, rollout_tiny, rollout_small,
    /// step_tiny, step_small.
    pub workload: String,
    /// Workload shapes (TOML); `None`: the built-in copy of benches/workloads.toml.
    pub workloads: Option<PathBuf>,
    /// CPU threads (the task-generation workers, or the model's kernels).
    pub threads: usize,
    /// Device of the model workloads.
    pub device: policy::DeviceSpec,
    /// dtype of the model workloads' forwards (f32 master weights).
    pub dtype: policy::Precision,
    /// Timed repetitions after one untimed warm-up.
    pub repeat: usize,
    /// step_* only: train rank-R LoRA adapters on all seven projections of a frozen base (the
    /// reference forward is the base with the adapter off) instead of every weight.
    pub lora_rank: Option<usize>,
    /// step_* only: slices of the batch whose forward and backward run side by side (the
    /// trainer's `train.shards`; `None`: its default).
    pub shards: Option<usize>,
}

/// One benchmark result, printed as a JSON line.
#[derive(Debug, serde::Serialize)]
pub struct BenchResult {
    /// Workload name.
    pub workload: String,
    /// Always "rlvr".
    #[serde(rename = "impl")]
    pub implementation: &'static str,
    /// Median of `runs`.
    pub value: f64,
    /// Unit of `value` and `runs`.
    pub unit: &'static str,
    /// One figure per timed repetition.
    pub runs: Vec<f64>,
    /// How the run was configured, and per-phase breakdowns.
    pub extra: serde_json::Value,
}

impl BenchResult {
    /// Builds a result whose value is the median of `runs`.
    pub fn new(
        workload: &str,
        unit: &'static str,
        runs: Vec<f64>,
        extra: serde_json::Value,
    ) -> Self {
        let value = median(&runs);
        Self {
            workload: workload.to_string(),
            implementation: "rlvr",
            value,
            unit,
            runs,
            extra,
        }
    }
}

/// A model workload's distance to the physical limit.
#[derive(Debug, serde::Serialize)]
pub struct Limit {
    /// Matmul FLOPs of one repetition (projections, attention, head; backward = 2× forward).
    pub flops: f64,
    /// Best rate of a 1024³ f32 matmul on the same device (same thread count on the CPU).
    pub gemm_peak_gflops: f64,
    /// `flops` at that rate: no implementation on this gemm finishes faster.
    pub limit_s: f64,
    /// The measured time of one repetition.
    pub measured_s: f64,
    /// `limit_s / measured_s`: the fraction of the peak the workload reached.
    pub of_peak: f64,
}

impl Limit {
    /// Measures the gemm peak on `device` and sets `flops` against `measured_s`.
    fn measure(device: &policy::Device, flops: f64, measured_s: f64) -> Result<Self> {
        let gemm_peak_gflops = limit::gemm_peak_gflops(device)?;
        let limit_s = flops / (gemm_peak_gflops * 1e9);
        Ok(Self {
            flops,
            gemm_peak_gflops,
            limit_s,
            measured_s,
            of_peak: limit_s / measured_s,
        })
    }
}

/// The median of `values` (the upper one for an even count; NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs one workload.
pub fn run(args: &BenchArgs) -> Result<BenchResult> {
    let workloads = Workloads::load(args.workloads.as_deref())?;
    for (flag, set) in [
        ("--lora-rank", args.lora_rank.is_some()),
        ("--shards", args.shards.is_some()),
    ] {
        if set && !args.workload.starts_with("step_") {
            return Err(Error::Option {
                flag,
                message: format!(
                    "applies to the step_* workloads only, not {:?}",
                    args.workload
                ),
            });
        }
    }
    if args.shards == Some(0) {
        return Err(Error::Option {
            flag: "--shards",
            message: "must be at least 1".into(),
        });
    }
    match args.workload.as_str() {
        "taskgen_add" | "taskgen_bool" | "taskgen_program" => taskgen::run(&workloads, args),
        "rollout_tiny" | "rollout_small" => rollout::run(&workloads, args),
        "step_tiny" | "step_small" => step::run(&workloads, args),
        other => Err(Error::UnknownWorkload { name: other.into() }),
    }
}
