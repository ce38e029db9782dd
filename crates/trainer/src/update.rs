//! One policy update over buffered groups: advantages per group, then for each epoch and each
//! micro-batch a teacher-forced forward, the clipped surrogate (+ KL), and a backward whose
//! gradients are summed; then clipping and one AdamW step.
//!
//! A micro-batch runs as `train.shards` slices side by side on the CPU's threads (data
//! parallel): each slice has its own graph and backward, so no parallel region waits on another
//! thread's share of a small op, and the slices' gradients are summed in slice order, so the
//! result does not depend on the thread count. Across processes (`data_parallel.rs`) each rank
//! runs its share of every micro-batch's slices, and the sums are all-reduced before clipping.

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use crate::advantage::advantages;
use crate::collective::Collective;
use crate::config::{Overlong, TrainConfig};
use crate::data_parallel::{all_reduce_grads, share};
use crate::error::{Error, Result};
use crate::loss::{entropy_bonus, policy_loss, LossConfig, LossNorm};
use crate::optim::{clip_grad_norm, AdamW};
use crate::rollout::Group;
use crate::slices::{add_grads, side_by_side};

/// What one update measured (means over the batch's completion tokens unless stated).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct UpdateStats {
    /// Loss of the last epoch (sum over micro-batches).
    pub loss: f32,
    /// Mean k3 KL to the reference (0 when β = 0).
    pub kl: f32,
    /// Mean token entropy of the policy.
    pub entropy: f32,
    /// Global gradient norm before clipping (last epoch).
    pub grad_norm: f32,
    /// Fraction of tokens clipped below 1 − ε_low.
    pub clip_low: f32,
    /// Fraction of tokens clipped above 1 + ε_high.
    pub clip_high: f32,
    /// Fraction of tokens clipped either way.
    pub clip_region: f32,
    /// Sequences in the update.
    pub sequences: usize,
    /// Seconds spent summing gradients and statistics across ranks, waiting for the slowest
    /// rank included (0 for one process).
    pub all_reduce_seconds: f64,
}

/// One sequence of an update: its prompt, its completion, the completion's log-probs under the
/// policy that sampled it (the "old" policy, at the sampling temperature), and its advantage.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// Prompt token ids.
    pub prompt: &'a [u32],
    /// Completion token ids.
    pub tokens: &'a [u32],
    /// Log-probability of each completion token when it was sampled.
    pub old_logp: &'a [f32],
    /// Group-relative advantage.
    pub advantage: f32,
}

/// Seconds in each phase of [`micro_batch`], summed over its slices (thread-seconds when the
/// slices ran side by side).
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseSeconds {
    /// Reference forward (no gradients).
    pub reference: f64,
    /// Policy forward and the loss.
    pub forward: f64,
    /// Backward.
    pub backward: f64,
}

/// The loss over one micro-batch and its gradients ([`micro_batch`]).
pub struct MicroBatch {
    /// Gradients of the trainable variables.
    pub grads: GradStore,
    /// The micro-batch's part of the batch loss.
    pub loss: f64,
    /// Completion tokens.
    pub tokens: f64,
    /// Sums over the completion tokens of the KL term, of the clip indicators (low, high,
    /// either) and of the token entropy.
    sums: TokenSums,
    /// Where the time went.
    pub seconds: PhaseSeconds,
    /// Slices that ran (1 on a GPU).
    pub slices: usize,
}

/// Per-token statistics summed over a micro-batch's completion tokens.
#[derive(Debug, Clone, Copy, Default)]
struct TokenSums {
    kl: f64,
    clip_low: f64,
    clip_high: f64,
    clip_region: f64,
    entropy: f64,
}

impl TokenSums {
    fn to_array(self) -> [f64; 5] {
        [
            self.kl,
            self.clip_low,
            self.clip_high,
            self.clip_region,
            self.entropy,
        ]
    }

    fn from_array(a: &[f64]) -> Self {
        let at = |i: usize| a.get(i).copied().unwrap_or(0.0);
        Self {
            kl: at(0),
            clip_low: at(1),
            clip_high: at(2),
            clip_region: at(3),
            entropy: at(4),
        }
    }
}

impl MicroBatch {
    /// Adds `other` (a later slice or micro-batch) to this one, gradients included.
    fn absorb(&mut self, other: MicroBatch, vars: &[(String, Var)]) -> Result<()> {
        add_grads(&mut self.grads, &other.grads, vars)?;
        self.loss += other.loss;
        self.tokens += other.tokens;
        self.slices += other.slices;
        let (a, b) = (&mut self.sums, other.sums);
        a.kl += b.kl;
        a.clip_low += b.clip_low;
        a.clip_high += b.clip_high;
        a.clip_region += b.clip_region;
        a.entropy += b.entropy;
        let (a, b) = (&mut self.seconds, other.seconds);
        a.reference += b.reference;
        a.forward += b.forward;
        a.backward += b.backward;
        Ok(())
    }
}

/// The loss over `samples` (normalised as the whole batch's part, `norm`) and its gradients for
/// `vars`: `shards` slices, each a teacher-forced forward of the policy (and of the reference
/// when `loss.beta != 0`: `reference`, or with `None` the policy with its adapter off) whose
/// logits are divided by `temperature` (the sampling temperature, as TRL does, so that the new,
/// old and reference log-probs are all of the tempered distribution), the loss and a backward. The slices run side by side on the CPU's threads, one after another under
/// LoRA dropout (whose masks are drawn in call order), and their gradients are summed in slice
/// order; on a GPU the micro-batch runs whole.
// The arguments are the update's independent inputs; a struct bundling them would only move the list.
#[allow(clippy::too_many_arguments)]
pub fn micro_batch(
    policy: &policy::Policy,
    reference: Option<&policy::Policy>,
    vars: &[(String, Var)],
    samples: &[Sample<'_>],
    loss: &LossConfig,
    norm: &LossNorm,
    temperature: f32,
    shards: usize,
) -> Result<MicroBatch> {
    if samples.is_empty() {
        return Err(Error::EmptyBatch {
            batch: "micro-batch",
            parts: "sequences",
        });
    }
    let passes = side_by_side(policy, samples, shards, |s| {
        slice(policy, reference, s, loss, norm, temperature)
    })?;
    let mut passes = passes.into_iter();
    let Some(mut acc) = passes.next() else {
        return Err(Error::EmptyBatch {
            batch: "micro-batch",
            parts: "slices",
        });
    };
    for p in passes {
        acc.absorb(p, vars)?;
    }
    Ok(acc)
}

/// One slice of [`micro_batch`]: forwards, loss, backward.
fn slice(
    policy: &policy::Policy,
    reference: Option<&policy::Policy>,
    samples: &[Sample<'_>],
    cfg: &LossConfig,
    norm: &LossNorm,
    temperature: f32,
) -> Result<MicroBatch> {
    let device = policy.device();
    // A GPU queues work and returns: wait for it at each phase boundary (a no-op on the CPU).
    let now = || -> Result<Instant> {
        device.synchronize()?;
        Ok(Instant::now())
    };
    let prompts: Vec<&[u32]> = samples.iter().map(|s| s.prompt).collect();
    let comps: Vec<&[u32]> = samples.iter().map(|s| s.tokens).collect();
    let t0 = now()?;
    let logprobs = |p: &policy::Policy, mode| {
        p.completion_logprobs_tempered(&prompts, &comps, mode, temperature)
    };
    let ref_logp = if cfg.beta != 0.0 {
        let r = match reference {
            Some(r) => logprobs(r, policy::AdapterMode::Active)?,
            None => logprobs(policy, policy::AdapterMode::Off)?,
        };
        Some(r.logp.detach())
    } else {
        None
    };
    let t1 = now()?;
    let lp = logprobs(policy, policy::AdapterMode::Active)?;
    let (b, l) = lp.logp.dims2()?;
    let old = pad_rows(samples.iter().map(|s| s.old_logp), b, l, device)?;
    let adv = Tensor::from_vec(
        samples.iter().map(|s| s.advantage).collect::<Vec<f32>>(),
        b,
        device,
    )?;
    let mut parts = policy_loss(&lp.logp, &old, ref_logp.as_ref(), &adv, &lp.mask, cfg, norm)?;
    if cfg.entropy_coef != 0.0 {
        parts.loss = (parts.loss - entropy_bonus(&lp.entropy, &lp.mask, cfg, norm)?)?;
    }
    let t2 = now()?;
    let grads = parts.loss.backward()?;
    let t3 = now()?;
    let tokens = parts.num_tokens as f64;
    let entropy = (lp.entropy.detach() * &lp.mask)?
        .sum_all()?
        .to_scalar::<f32>()? as f64;
    let s = |a: Instant, b: Instant| (b - a).as_secs_f64();
    Ok(MicroBatch {
        grads,
        loss: parts.loss.to_scalar::<f32>()? as f64,
        tokens,
        sums: TokenSums {
            kl: parts.kl as f64 * tokens,
            clip_low: parts.clip_ratio_low as f64 * tokens,
            clip_high: parts.clip_ratio_high as f64 * tokens,
            clip_region: parts.clip_ratio_region as f64 * tokens,
            entropy,
        },
        seconds: PhaseSeconds {
            reference: s(t0, t1),
            forward: s(t1, t2),
            backward: s(t2, t3),
        },
        slices: 1,
    })
}

/// The gradients and statistics of one pass, summed over the ranks.
struct Pass {
    grads: GradStore,
    loss: f64,
    sums: TokenSums,
}

/// Sums this rank's accumulation of a pass (`None`: it had no share) over the ranks.
fn all_reduce_pass(
    coll: &dyn Collective,
    acc: Option<MicroBatch>,
    vars: &[(String, Var)],
) -> Result<Pass> {
    let (mut grads, loss, sums) = match acc {
        Some(mb) => (mb.grads, mb.loss, mb.sums),
        None => (GradStore::default(), 0.0, TokenSums::default()),
    };
    if coll.size() == 1 {
        return Ok(Pass { grads, loss, sums });
    }
    all_reduce_grads(coll, &mut grads, vars)?;
    let mut stats = [0.0; 6];
    stats[0] = loss;
    stats[1..].copy_from_slice(&sums.to_array());
    coll.all_reduce_sum_f64(&mut stats)?;
    Ok(Pass {
        grads,
        loss: stats[0],
        sums: TokenSums::from_array(&stats[1..]),
    })
}

/// Runs `cfg.epochs` passes over `groups` (sampled at `temperature`) and takes one optimizer
/// step per pass. With several ranks (`coll`) every rank passes the same `groups` and runs its
/// share of each micro-batch; the gradients are summed over the ranks before the step, which is
/// then the same on every rank.
#[allow(clippy::too_many_arguments)] // as `micro_batch`
pub fn update(
    policy: &policy::Policy,
    reference: Option<&policy::Policy>,
    vars: &[(String, Var)],
    optimizer: &mut AdamW,
    groups: &[Group],
    cfg: &TrainConfig,
    temperature: f32,
    step: u64,
    coll: &dyn Collective,
) -> Result<UpdateStats> {
    let mut samples = Vec::new();
    for group in groups {
        let adv = advantages(&group.rewards(), group.rows.len(), cfg.advantage)?;
        for (row, a) in group.rows.iter().zip(adv) {
            if cfg.overlong == Overlong::Mask && row.truncated {
                continue;
            }
            samples.push(Sample {
                prompt: &group.prompt,
                tokens: &row.tokens,
                old_logp: &row.logprobs,
                advantage: a,
            });
        }
    }
    let mut stats = UpdateStats {
        sequences: samples.len(),
        ..Default::default()
    };
    if samples.is_empty() {
        return Ok(stats);
    }
    let num_tokens: usize = samples.iter().map(|s| s.tokens.len()).sum();
    let max_len = samples.iter().map(|s| s.tokens.len()).max().unwrap_or(1);
    let norm = LossNorm::new(cfg.loss.aggregation, samples.len(), num_tokens, max_len)?;
    for _epoch in 0..cfg.epochs {
        let mut acc: Option<MicroBatch> = None;
        for chunk in samples.chunks(cfg.micro_batch) {
            let mine = share(chunk, coll, cfg.shards);
            if mine.is_empty() {
                continue;
            }
            let mb = micro_batch(
                policy,
                reference,
                vars,
                mine,
                &cfg.loss,
                &norm,
                temperature,
                cfg.shards,
            )?;
            match acc.as_mut() {
                None => acc = Some(mb),
                Some(acc) => acc.absorb(mb, vars)?,
            }
        }
        let t = Instant::now();
        let mut acc = all_reduce_pass(coll, acc, vars)?;
        if coll.size() > 1 {
            stats.all_reduce_seconds += t.elapsed().as_secs_f64();
        }
        if !acc.loss.is_finite() {
            return Err(Error::NonFiniteAtStep {
                step,
                what: format!("loss = {}", acc.loss),
            });
        }
        crate::optim::check_finite_grads(&acc.grads, vars).map_err(|e| Error::NonFiniteAtStep {
            step,
            what: e.to_string(),
        })?;
        let grad_norm = clip_grad_norm(&mut acc.grads, vars, cfg.max_grad_norm)?;
        optimizer.step(&acc.grads)?;
        // Per-token means over the batch's completion tokens.
        let mean = |sum: f64| (sum / num_tokens.max(1) as f64) as f32;
        stats.loss = acc.loss as f32;
        stats.kl = mean(acc.sums.kl);
        stats.entropy = mean(acc.sums.entropy);
        stats.grad_norm = grad_norm;
        stats.clip_low = mean(acc.sums.clip_low);
        stats.clip_high = mean(acc.sums.clip_high);
        stats.clip_region = mean(acc.sums.clip_region);
    }
    Ok(stats)
}

/// Right-pads rows of floats with zeros into a (b, l) tensor.
fn pad_rows<'a>(
    rows: impl Iterator<Item = &'a [f32]>,
    b: usize,
    l: usize,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let mut data = vec![0f32; b * l];
    for (i, row) in rows.enumerate() {
        let n = row.len().min(l);
        data[i * l..i * l + n].copy_from_slice(&row[..n]);
    }
    Ok(Tensor::from_vec(data, (b, l), device)?.to_dtype(DType::F32)?)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use policy::{ModelConfig, Policy, Tokenizer};

    use super::*;
    use crate::loss::Aggregation;
    use crate::slices::with_lora_dropout;

    fn tiny_policy() -> Policy {
        let config = ModelConfig {
            hidden_size: 32,
            intermediate_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            max_position_embeddings: 64,
            ..ModelConfig::default()
        };
        Policy::init(&config, Tokenizer::builtin(), 3, &Device::Cpu).unwrap()
    }

    /// Seven sequences of different prompt and completion lengths (so that slices pad
    /// differently), old log-probs off the current policy's, mixed advantages.
    struct Batch {
        prompts: Vec<Vec<u32>>,
        comps: Vec<Vec<u32>>,
        old: Vec<Vec<f32>>,
        adv: Vec<f32>,
    }

    impl Batch {
        fn new() -> Self {
            let n = 7;
            let prompts: Vec<Vec<u32>> = (0..n)
                .map(|i| {
                    (0..3 + i % 4)
                        .map(|j| 3 + ((i * 7 + j * 5) % 40) as u32)
                        .collect()
                })
                .collect();
            let comps: Vec<Vec<u32>> = (0..n)
                .map(|i| {
                    (0..2 + (i * 3) % 5)
                        .map(|j| 3 + ((i * 11 + j * 3) % 40) as u32)
                        .collect()
                })
                .collect();
            let old = comps
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (0..c.len())
                        .map(|j| -3.0 - 0.3 * ((i + j) % 4) as f32)
                        .collect()
                })
                .collect();
            let adv = (0..n).map(|i| (i as f32 - 3.0) / 2.0).collect();
            Self {
                prompts,
                comps,
                old,
                adv,
            }
        }

        fn samples(&self) -> Vec<Sample<'_>> {
            (0..self.prompts.len())
                .map(|i| Sample {
                    prompt: &self.prompts[i],
                    tokens: &self.comps[i],
                    old_logp: &self.old[i],
                    advantage: self.adv[i],
                })
                .collect()
        }
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn slices_give_the_whole_micro_batch_loss_and_gradients() {
        let policy = tiny_policy();
        let reference = policy.snapshot_reference().unwrap();
        // move the policy off the reference so that the KL term has a gradient
        let vars = policy.trainable_vars();
        for (_, v) in &vars {
            v.set(&(v.as_tensor() * 1.5).unwrap()).unwrap();
        }
        let b = Batch::new();
        let samples = b.samples();
        let tokens: usize = b.comps.iter().map(Vec::len).sum();
        let longest = b.comps.iter().map(Vec::len).max().unwrap();
        for aggregation in [
            Aggregation::TokenMean,
            Aggregation::SeqMeanTokenMean,
            Aggregation::SeqMeanTokenSumNorm,
        ] {
            let cfg = LossConfig {
                aggregation,
                beta: 0.1,
                entropy_coef: 0.05,
                ..LossConfig::default()
            };
            let norm = LossNorm::new(aggregation, samples.len(), tokens, longest).unwrap();
            let run = |shards| {
                micro_batch(
                    &policy,
                    Some(&reference),
                    &vars,
                    &samples,
                    &cfg,
                    &norm,
                    1.0,
                    shards,
                )
                .unwrap()
            };
            let whole = run(1);
            for shards in [2, 3, 7] {
                let sliced = run(shards);
                let what = format!("{aggregation:?}, {shards} slices");
                assert!((sliced.loss - whole.loss).abs() < 1e-5, "loss, {what}");
                assert_eq!(sliced.tokens, tokens as f64, "{what}");
                assert!((sliced.sums.kl - whole.sums.kl).abs() < 1e-4, "kl, {what}");
                let ent = (sliced.sums.entropy - whole.sums.entropy).abs();
                assert!(ent < 1e-3, "entropy, {what}");
                for (name, v) in &vars {
                    let g = |m: &MicroBatch| flat(m.grads.get(v.as_tensor()).unwrap());
                    let (a, o) = (g(&sliced), g(&whole));
                    let scale = o.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
                    let diff = a
                        .iter()
                        .zip(&o)
                        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                    assert!(diff <= 1e-4 * scale, "{name}, {what}: {diff} of {scale}");
                }
            }
        }
    }

    /// With no advantage, the entropy bonus alone moves the policy: a step down its gradient
    /// raises the token entropy of the very completions it was computed on.
    #[test]
    fn the_entropy_bonus_raises_the_policys_entropy() {
        let policy = tiny_policy();
        let vars = policy.trainable_vars();
        // A fresh init is nearly uniform (entropy ≈ ln V): sharpen it so there is room to rise.
        for (_, v) in &vars {
            v.set(&(v.as_tensor() * 3.0).unwrap()).unwrap();
        }
        let mut b = Batch::new();
        b.adv.iter_mut().for_each(|a| *a = 0.0);
        let samples = b.samples();
        let tokens: usize = b.comps.iter().map(Vec::len).sum();
        let cfg = LossConfig {
            entropy_coef: 1.0,
            ..LossConfig::default()
        };
        let norm = LossNorm::new(cfg.aggregation, samples.len(), tokens, 6).unwrap();
        let mb = micro_batch(&policy, None, &vars, &samples, &cfg, &norm, 1.0, 1).unwrap();
        let before = mb.sums.entropy / mb.tokens;
        assert!(
            (mb.loss + before).abs() < 1e-4,
            "loss {} is minus the mean entropy {before}",
            mb.loss
        );
        for (_, v) in &vars {
            if let Some(g) = mb.grads.get(v.as_tensor()) {
                v.set(&(v.as_tensor() - (g * 0.5).unwrap()).unwrap())
                    .unwrap();
            }
        }
        let after = micro_batch(&policy, None, &vars, &samples, &cfg, &norm, 1.0, 1).unwrap();
        let after = after.sums.entropy / after.tokens;
        assert!(after > before + 1e-2, "entropy {before} -> {after}");
    }

    #[test]
    fn slices_are_bit_identical_at_one_and_two_threads() {
        let policy = tiny_policy();
        let vars = policy.trainable_vars();
        let b = Batch::new();
        let samples = b.samples();
        let tokens: usize = b.comps.iter().map(Vec::len).sum();
        let cfg = LossConfig {
            beta: 0.1,
            ..LossConfig::default()
        };
        let norm = LossNorm::new(cfg.aggregation, samples.len(), tokens, 6).unwrap();
        let run = |threads: usize| -> Vec<Vec<u32>> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mb = micro_batch(&policy, None, &vars, &samples, &cfg, &norm, 1.0, 3).unwrap();
                let mut out = vec![vec![(mb.loss as f32).to_bits()]];
                for (_, v) in &vars {
                    let g = flat(mb.grads.get(v.as_tensor()).unwrap());
                    out.push(g.iter().map(|x| x.to_bits()).collect());
                }
                out
            })
        };
        assert_eq!(run(1), run(2));
    }

    /// Issue 21: completions sampled at T = 0.7 and scored at T = 0.7 are on-policy (every ratio
    /// 1, nothing clipped, so the token-mean loss is −Σ adv·len / tokens); scored at T = 1, as
    /// the trainer did before, the ratios are off 1 and the loss is another number.
    #[test]
    fn the_loss_scores_completions_at_the_sampling_temperature() {
        use rand::SeedableRng;
        let policy = tiny_policy();
        let vars = policy.trainable_vars();
        let prompts: Vec<Vec<u32>> = vec![vec![1, 5, 9, 12], vec![1, 7, 3]];
        let params = policy::SampleParams {
            max_new_tokens: 6,
            temperature: 0.7,
            ..policy::SampleParams::default()
        };
        let out = policy
            .sample(
                &prompts,
                3,
                &params,
                &mut rand::rngs::StdRng::seed_from_u64(4),
            )
            .unwrap();
        let adv: Vec<f32> = (0..out.tokens.len()).map(|i| i as f32 - 2.5).collect();
        let samples: Vec<Sample<'_>> = (0..out.tokens.len())
            .map(|i| Sample {
                prompt: &prompts[i / 3],
                tokens: &out.tokens[i],
                old_logp: &out.logprobs[i],
                advantage: adv[i],
            })
            .collect();
        let tokens: usize = out.tokens.iter().map(Vec::len).sum();
        let cfg = LossConfig::default();
        let norm = LossNorm::new(cfg.aggregation, samples.len(), tokens, 6).unwrap();
        let want = -(0..samples.len())
            .map(|i| adv[i] as f64 * out.tokens[i].len() as f64)
            .sum::<f64>()
            / tokens as f64;
        let tempered = micro_batch(&policy, None, &vars, &samples, &cfg, &norm, 0.7, 2).unwrap();
        assert!(
            (tempered.loss - want).abs() < 1e-5,
            "on-policy loss {} vs {want}",
            tempered.loss
        );
        assert_eq!(
            tempered.sums.clip_region, 0.0,
            "nothing is clipped on-policy"
        );
        // The division by T sits before the fused log-prob op: every weight still gets its
        // gradient through it.
        for (name, v) in &vars {
            let norm = tempered.grads.get(v.as_tensor()).map_or(0.0, |g| {
                g.sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            });
            assert!(norm > 0.0, "{name}: no gradient at T = 0.7");
        }
        let untempered = micro_batch(&policy, None, &vars, &samples, &cfg, &norm, 1.0, 2).unwrap();
        assert!(
            (untempered.loss - want).abs() > 1e-3,
            "scored at T = 1 the ratios are not 1: {} vs {want}",
            untempered.loss
        );
    }

    #[test]
    fn lora_dropout_is_on_inside_a_training_pass_only() {
        let mut p = tiny_policy();
        let lora = policy::LoraConfig {
            dropout: 0.5,
            ..policy::LoraConfig::default()
        };
        p.add_adapter("default", &lora, 1).unwrap();
        assert!(!p.lora_dropout_on(), "off by default: sampling and eval");
        assert!(with_lora_dropout(&p, 7, || Ok(p.lora_dropout_on())).unwrap());
        assert!(!p.lora_dropout_on(), "off again after the pass");
        let failed: Result<()> = with_lora_dropout(&p, 7, || Err(Error::Config("boom".into())));
        assert!(failed.is_err());
        assert!(!p.lora_dropout_on(), "off again after a failed pass");
        // Seeded: the same seed draws the same masks, so a resumed run repeats its updates.
        let logp = |seed| {
            with_lora_dropout(&p, seed, || {
                let lp = p.completion_logprobs(
                    &[&[1, 20, 21][..]],
                    &[&[22, 23, 24][..]],
                    policy::AdapterMode::Active,
                )?;
                Ok(lp.logp.to_vec2::<f32>()?)
            })
            .unwrap()
        };
        // B starts at zero: give the branch an effect so that its masks show in the output.
        for (_, v) in p.trainable_vars() {
            let ones = candle_core::Tensor::ones(v.shape(), candle_core::DType::F32, &Device::Cpu)
                .unwrap();
            v.set(&(ones * 0.05).unwrap()).unwrap();
        }
        assert_eq!(logp(7), logp(7));
        assert_ne!(logp(7), logp(8));
    }
}
