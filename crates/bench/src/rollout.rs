//! The `rollout_*` workloads: `tasks` random prompts x `group_size` completions of exactly
//! `new_tokens` tokens, batched with a KV cache (each prompt prefilled once). Figure: generated
//! tokens per second; `extra` has the median seconds per phase (prefill, decode, sampling) and
//! the physical limit (matmul FLOPs over the measured gemm peak).

use std::time::Instant;

use policy::SampleParams;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::workloads::RolloutWorkload;
use super::{BenchArgs, BenchResult, Error, Result, Workloads};

/// Runs a `rollout_*` workload.
pub fn run(workloads: &Workloads, args: &BenchArgs) -> Result<BenchResult> {
    policy::set_num_threads(args.threads);
    let device = args.device.open()?;
    let wl: RolloutWorkload = workloads.get(&args.workload)?;
    let shape = workloads.model(&wl.model)?;
    let mut model = shape.policy(&wl.model, wl.seed, &device)?;
    model.set_dtype(args.dtype.dtype())?;
    let mut rng = StdRng::seed_from_u64(wl.seed);
    let prompts: Vec<Vec<u32>> = (0..wl.tasks)
        .map(|_| {
            (0..wl.prompt_tokens)
                .map(|_| rng.random_range(3..shape.vocab_size as u32))
                .collect()
        })
        .collect();
    let params = SampleParams {
        max_new_tokens: wl.new_tokens,
        temperature: wl.temperature as f32,
        stop_at_eos: false,
        ..SampleParams::default()
    };
    let n_tokens = (wl.tasks * wl.group_size * wl.new_tokens) as f64;
    model.sample(&prompts, wl.group_size, &params, &mut rng)?; // untimed warm-up
    let mut runs = Vec::with_capacity(args.repeat);
    let mut phases = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        let t0 = Instant::now();
        let out = model.sample(&prompts, wl.group_size, &params, &mut rng)?;
        runs.push(n_tokens / t0.elapsed().as_secs_f64());
        if out.tokens.iter().any(|t| t.len() != wl.new_tokens) {
            return Err(Error::ShortRow {
                workload: args.workload.clone(),
                tokens: wl.new_tokens,
            });
        }
        phases.push(out.timings);
    }
    let median = |f: fn(&policy::SampleTimings) -> f64| {
        let mut v: Vec<f64> = phases.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let flops = shape.rollout_flops(wl.tasks, wl.group_size, wl.prompt_tokens, wl.new_tokens);
    let limit = super::Limit::measure(&device, flops, n_tokens / super::median(&runs))?;
    let extra = serde_json::json!({
        "limit": limit,
        "threads": policy::num_threads(),
        "dtype": args.dtype,
        "params": model.num_parameters(),
        "prefill": "per-prompt",
        "prefill_s": median(|t| t.prefill_s),
        "decode_s": median(|t| t.decode_s),
        "sampling_s": median(|t| t.sampling_s),
    });
    Ok(BenchResult::new(&args.workload, "tokens/s", runs, extra))
}
