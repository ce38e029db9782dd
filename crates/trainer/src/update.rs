//! One policy update over buffered groups: advantages per group, then for each epoch and each
//! micro-batch a teacher-forced forward, the clipped surrogate (+ KL), and a backward whose
//! gradients are summed; then clipping and one AdamW step.

use candle_core::{DType, Tensor, Var};

use crate::advantage::advantages;
use crate::config::{Overlong, TrainConfig};
use crate::error::{Error, Result};
use crate::loss::{policy_loss, LossNorm};
use crate::optim::{clip_grad_norm, AdamW};
use crate::rollout::Group;

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
}

/// A flattened row ready for the loss.
struct Item<'a> {
    prompt: &'a [u32],
    tokens: &'a [u32],
    old_logp: &'a [f32],
    advantage: f32,
}

/// Runs `cfg.epochs` passes over `groups` and takes one optimizer step per pass.
pub fn update(
    policy: &policy::Policy,
    reference: Option<&policy::Policy>,
    vars: &[(String, Var)],
    optimizer: &mut AdamW,
    groups: &[Group],
    cfg: &TrainConfig,
    step: u64,
) -> Result<UpdateStats> {
    let mut items = Vec::new();
    for group in groups {
        let adv = advantages(&group.rewards(), group.rows.len(), cfg.advantage)?;
        for (row, a) in group.rows.iter().zip(adv) {
            if cfg.overlong == Overlong::Mask && row.truncated {
                continue;
            }
            items.push(Item {
                prompt: &group.prompt,
                tokens: &row.tokens,
                old_logp: &row.logprobs,
                advantage: a,
            });
        }
    }
    let mut stats = UpdateStats {
        sequences: items.len(),
        ..Default::default()
    };
    if items.is_empty() {
        return Ok(stats);
    }
    let device = policy.device();
    let num_tokens: usize = items.iter().map(|i| i.tokens.len()).sum();
    let max_len = items.iter().map(|i| i.tokens.len()).max().unwrap_or(1);
    let norm = LossNorm::new(cfg.loss.aggregation, items.len(), num_tokens, max_len)?;
    let use_ref = cfg.loss.beta != 0.0;
    for _epoch in 0..cfg.epochs {
        // candle's GradStore cannot be built empty: the first slice's store accumulates the rest.
        let mut acc: Option<candle_core::backprop::GradStore> = None;
        let (mut loss_sum, mut kl_sum, mut ent_sum) = (0f64, 0f64, 0f64);
        let (mut low, mut high, mut region) = (0f64, 0f64, 0f64);
        for chunk in items.chunks(cfg.micro_batch) {
            let prompts: Vec<&[u32]> = chunk.iter().map(|i| i.prompt).collect();
            let comps: Vec<&[u32]> = chunk.iter().map(|i| i.tokens).collect();
            let lp = policy.completion_logprobs(&prompts, &comps, policy::AdapterMode::Active)?;
            let (b, l) = lp.logp.dims2()?;
            let old = pad_rows(chunk.iter().map(|i| i.old_logp), b, l, device)?;
            let adv = Tensor::from_vec(
                chunk.iter().map(|i| i.advantage).collect::<Vec<f32>>(),
                b,
                device,
            )?;
            let ref_logp = if use_ref {
                let r = match reference {
                    Some(r) => {
                        r.completion_logprobs(&prompts, &comps, policy::AdapterMode::Active)?
                    }
                    None => {
                        policy.completion_logprobs(&prompts, &comps, policy::AdapterMode::Off)?
                    }
                };
                Some(r.logp.detach())
            } else {
                None
            };
            let parts = policy_loss(
                &lp.logp,
                &old,
                ref_logp.as_ref(),
                &adv,
                &lp.mask,
                &cfg.loss,
                &norm,
            )?;
            let grads = parts.loss.backward()?;
            match acc.as_mut() {
                None => acc = Some(grads),
                Some(acc) => {
                    for (_, var) in vars {
                        if let Some(g) = grads.get(var.as_tensor()) {
                            let sum = match acc.get(var.as_tensor()) {
                                Some(prev) => (prev + g)?,
                                None => g.clone(),
                            };
                            acc.insert(var.as_tensor(), sum);
                        }
                    }
                }
            }
            // Per-chunk metrics are weighted by the chunk's share of the batch's tokens.
            let tokens = lp.mask.sum_all()?.to_scalar::<f32>()? as f64;
            let w = tokens / num_tokens.max(1) as f64;
            loss_sum += parts.loss.to_scalar::<f32>()? as f64;
            kl_sum += parts.kl as f64 * w;
            low += parts.clip_ratio_low as f64 * w;
            high += parts.clip_ratio_high as f64 * w;
            region += parts.clip_ratio_region as f64 * w;
            let ent = (lp.entropy.detach() * &lp.mask)?
                .sum_all()?
                .to_scalar::<f32>()? as f64;
            ent_sum += ent;
        }
        if !loss_sum.is_finite() {
            return Err(Error::NonFiniteAtStep {
                step,
                what: format!("loss = {loss_sum}"),
            });
        }
        let Some(mut store) = acc else { continue };
        crate::optim::check_finite_grads(&store, vars).map_err(|e| Error::NonFiniteAtStep {
            step,
            what: e.to_string(),
        })?;
        let grad_norm = clip_grad_norm(&mut store, vars, cfg.max_grad_norm)?;
        optimizer.step(&store)?;
        stats.loss = loss_sum as f32;
        stats.kl = kl_sum as f32;
        stats.entropy = (ent_sum / num_tokens.max(1) as f64) as f32;
        stats.grad_norm = grad_norm;
        stats.clip_low = low as f32;
        stats.clip_high = high as f32;
        stats.clip_region = region as f32;
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
