//! The `step_*` workloads: one GRPO update on `sequences` random sequences of `prompt_tokens` +
//! `completion_tokens` (groups of 16, random 0/1 rewards), through the trainer's own
//! [`trainer::micro_batch`]: reference forward without gradients, policy forward, clipped
//! surrogate + k3 KL, token mean, backward, in `--shards` slices side by side (the trainer's
//! default), then global-norm clip and one AdamW step. Figure: seconds per update (median);
//! `extra` has the median seconds per phase (summed over the slices: thread-seconds) and the
//! physical limit (matmul FLOPs over the measured gemm peak). With `--lora-rank R` the update
//! trains rank-R adapters on every projection of a frozen base, and the reference forward is
//! the base with the adapter off.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::workloads::StepWorkload;
use super::{median, BenchArgs, BenchResult, Result, Workloads};

/// Completions per prompt in the workload's groups (as the peers use).
const GROUP: usize = 16;

/// Runs a `step_*` workload.
pub fn run(workloads: &Workloads, args: &BenchArgs) -> Result<BenchResult> {
    policy::set_num_threads(args.threads);
    let device = args.device.open()?;
    let wl: StepWorkload = workloads.get(&args.workload)?;
    let shape = workloads.model(&wl.model)?;
    let mut model = shape.policy(&wl.model, wl.seed, &device)?;
    model.set_dtype(args.dtype.dtype())?;
    // The reference: a frozen copy of the policy, or under LoRA (`None`) the base with the
    // adapter off.
    let reference = match args.lora_rank {
        Some(r) => {
            let lora = policy::LoraConfig {
                r,
                alpha: 2.0 * r as f64,
                target_modules: policy::LoraConfig::all_modules(),
                ..policy::LoraConfig::default()
            };
            model.add_adapter("bench", &lora, wl.seed)?;
            None
        }
        None => Some(model.snapshot_reference()?),
    };
    let reference = reference.as_ref();
    let mut rng = StdRng::seed_from_u64(wl.seed);
    let vocab = shape.vocab_size as u32;
    let random = |rng: &mut StdRng, n: usize| -> Vec<u32> {
        (0..n).map(|_| rng.random_range(3..vocab)).collect()
    };
    let prompts: Vec<Vec<u32>> = (0..wl.sequences)
        .map(|_| random(&mut rng, wl.prompt_tokens))
        .collect();
    let comps: Vec<Vec<u32>> = (0..wl.sequences)
        .map(|_| random(&mut rng, wl.completion_tokens))
        .collect();
    let rewards: Vec<f32> = (0..wl.sequences)
        .map(|_| rng.random_range(0..2) as f32)
        .collect();
    let adv = trainer::advantages(
        &rewards,
        GROUP.min(wl.sequences),
        trainer::AdvantageKind::Grpo,
    )?;
    let p: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let c: Vec<&[u32]> = comps.iter().map(Vec::as_slice).collect();
    let loss_cfg = trainer::LossConfig {
        beta: wl.kl_coef,
        epsilon_low: wl.clip_eps,
        epsilon_high: wl.clip_eps,
        ..trainer::LossConfig::default()
    };
    let norm = trainer::LossNorm::new(
        loss_cfg.aggregation,
        wl.sequences,
        wl.sequences * wl.completion_tokens,
        wl.completion_tokens,
    )?;
    let shards = args
        .shards
        .unwrap_or(trainer::TrainConfig::default().shards);
    let vars = model.trainable_vars();
    let adamw = trainer::AdamWConfig {
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = trainer::AdamW::new(vars.clone(), adamw, wl.lr)?;

    // A GPU queues work and returns: wait for it before reading the clock (a no-op on the CPU).
    let now = || -> Result<Instant> {
        device.synchronize()?;
        Ok(Instant::now())
    };
    let mut slices = 0;
    // On a pool worker, as in training (`policy::run_in_thread_pool`).
    let mut step = || -> Result<[f64; 5]> {
        policy::run_in_thread_pool(|| {
            // Untimed: the current policy's log-probs, as the rollout of an on-policy update
            // would have recorded them.
            let old: Vec<Vec<f32>> = model
                .completion_logprobs(&p, &c, policy::AdapterMode::Active)?
                .logp
                .to_vec2()?;
            let samples: Vec<trainer::Sample> = (0..wl.sequences)
                .map(|i| trainer::Sample {
                    prompt: p[i],
                    tokens: c[i],
                    old_logp: &old[i],
                    advantage: adv[i],
                })
                .collect();
            let t0 = now()?;
            let mut mb = trainer::micro_batch(
                &model, reference, &vars, &samples, &loss_cfg, &norm, 1.0, shards,
            )?;
            let t1 = now()?;
            trainer::clip_grad_norm(&mut mb.grads, &vars, wl.max_grad_norm)?;
            opt.step(&mb.grads)?;
            let t2 = now()?;
            let s = |a: Instant, b: Instant| (b - a).as_secs_f64();
            let ph = mb.seconds;
            slices = mb.slices;
            Ok([s(t0, t2), ph.reference, ph.forward, ph.backward, s(t1, t2)])
        })
    };
    step()?; // untimed warm-up
    let mut phases = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        phases.push(step()?);
    }
    let col = |i: usize| phases.iter().map(|p| p[i]).collect::<Vec<f64>>();
    // Policy forward + its backward (dX and dW: twice the forward; dX only for a frozen base
    // under LoRA, whose small adapter matmuls are not counted) + the reference forward.
    let forward = shape.forward_flops(
        wl.sequences,
        wl.prompt_tokens + wl.completion_tokens,
        wl.completion_tokens,
    );
    let flops = if args.lora_rank.is_some() { 3.0 } else { 4.0 } * forward;
    let limit = super::Limit::measure(&device, flops, median(&col(0)))?;
    let extra = serde_json::json!({
        "limit": limit,
        "threads": policy::num_threads(),
        "dtype": args.dtype,
        "params": model.num_parameters(),
        "trainable": vars.iter().map(|(_, v)| v.elem_count()).sum::<usize>(),
        "lora_rank": args.lora_rank,
        "shards": slices, // the slices that ran: a GPU runs the batch whole
        "reference_forward_s": median(&col(1)),
        "forward_s": median(&col(2)),
        "backward_s": median(&col(3)),
        "clip_and_optimizer_s": median(&col(4)),
    });
    Ok(BenchResult::new(&args.workload, "s/step", col(0), extra))
}
