//! The clipped group-relative policy loss with an optional k3 KL penalty (GRPO, DAPO, Dr. GRPO).
//!
//! Shapes: `logp`, `old_logp`, `ref_logp`, `mask` are (B, L) per-token log-probabilities of the
//! sampled tokens (mask 1 on completion tokens, 0 on padding); `advantages` is (B,).
//!
//! ```text
//! ρ      = exp(logp − old_logp)                       (1 exactly when old = logp.detach())
//! pg     = −min(ρ·Â, clip(ρ, 1 − ε_low, 1 + ε_high)·Â)
//! k3     = exp(ref − logp) − (ref − logp) − 1         (KL estimator, ≥ 0)
//! kl     = k3 · ρ   if kl_bias_correction (TRL 1.16's default)   else k3
//! ℓ      = pg + β·kl                                  (KL added after clipping: never clipped)
//! ```
//! An optional entropy bonus −c·H (verl's `entropy_coeff`) is aggregated like ℓ and subtracted
//! from the loss ([`entropy_bonus`]): it pushes against the policy answering every sample of a
//! group the same way, which leaves the group with no signal.
//! Aggregation over the masked ℓ, with the normaliser N of the *whole* batch (see [`LossNorm`]):
//!
//! | `aggregation`             | loss                                  | N           | TRL       |
//! |---------------------------|---------------------------------------|-------------|-----------|
//! | `token_mean`              | Σ_{i,t} m ℓ / N                       | Σ m (tokens) | `dapo`   |
//! | `seq_mean_token_mean`     | Σ_i (Σ_t m ℓ / max(Σ_t m, 1)) / N     | B (rows)    | `grpo`    |
//! | `seq_mean_token_sum_norm` | Σ_{i,t} m ℓ / N                       | B · L_max   | `dr_grpo` |
//!
//! Micro-batching: the trainer slices the batch by rows, calls [`policy_loss`] and `backward` per
//! slice with the same [`LossNorm`], and sums the gradients; the sum equals one call on the whole
//! batch (TRL's `num_items_in_batch`). Only differentiable composite candle ops are used.

use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How per-token losses are reduced to one number (ALGORITHMS.md names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Sum over all completion tokens / number of completion tokens in the batch (DAPO).
    #[default]
    TokenMean,
    /// Mean over sequences of each sequence's token mean (the GRPO paper; TRL `grpo`).
    SeqMeanTokenMean,
    /// Sum over all tokens / (sequences × maximum completion length) (Dr. GRPO).
    SeqMeanTokenSumNorm,
}

/// Loss settings; every default is in the `Default` impl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// How per-token losses are reduced.
    pub aggregation: Aggregation,
    /// Lower clip range: ratios below 1 − ε_low stop pushing a negative advantage.
    pub epsilon_low: f64,
    /// Upper clip range: ratios above 1 + ε_high stop pushing a positive advantage (DAPO: 0.28).
    pub epsilon_high: f64,
    /// KL coefficient β against the reference policy; 0 loads no reference.
    pub beta: f64,
    /// Multiply the k3 KL by the ratio ρ (TRL 1.16's `use_bias_correction_kl`); false = plain k3.
    pub kl_bias_correction: bool,
    /// Coefficient c of the entropy bonus −c·H (token entropy at the sampling temperature).
    pub entropy_coef: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            aggregation: Aggregation::TokenMean,
            epsilon_low: 0.2,
            epsilon_high: 0.2,
            beta: 0.0,
            kl_bias_correction: false,
            entropy_coef: 0.0,
        }
    }
}

impl LossConfig {
    /// Checks ranges: 0 ≤ ε_low < 1, ε_high ≥ 0, β ≥ 0, all finite; errors name the run
    /// config's key (`train.loss.epsilon_low`).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, value: f64, reason: &str| Error::InvalidConfig {
            key: format!("train.loss.{key}"),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        if !(0.0..1.0).contains(&self.epsilon_low) {
            return Err(bad("epsilon_low", self.epsilon_low, "must be in [0, 1)"));
        }
        if !(self.epsilon_high.is_finite() && self.epsilon_high >= 0.0) {
            return Err(bad(
                "epsilon_high",
                self.epsilon_high,
                "must be finite and >= 0",
            ));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(bad("beta", self.beta, "must be finite and >= 0"));
        }
        if !(self.entropy_coef.is_finite() && self.entropy_coef >= 0.0) {
            return Err(bad(
                "entropy_coef",
                self.entropy_coef,
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }

    /// Whether a reference policy is needed (β > 0).
    pub fn needs_reference(&self) -> bool {
        self.beta > 0.0
    }
}

/// The whole batch's normaliser, shared by all of its micro-batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossNorm {
    aggregation: Aggregation,
    divisor: f64,
}

impl LossNorm {
    /// Normaliser for a batch of `num_sequences` completions holding `num_tokens` completion
    /// tokens, sampled with at most `max_completion_length` new tokens each.
    pub fn new(
        aggregation: Aggregation,
        num_sequences: usize,
        num_tokens: usize,
        max_completion_length: usize,
    ) -> Result<Self> {
        let divisor = match aggregation {
            // TRL clamps the token count at 1 so an all-padding batch gives 0, not NaN.
            Aggregation::TokenMean => num_tokens.max(1) as f64,
            Aggregation::SeqMeanTokenMean => num_sequences as f64,
            Aggregation::SeqMeanTokenSumNorm => (num_sequences * max_completion_length) as f64,
        };
        if divisor <= 0.0 {
            return Err(Error::InvalidConfig {
                key: "loss normaliser".into(),
                value: format!(
                    "sequences={num_sequences} max_completion_length={max_completion_length}"
                ),
                reason: format!("{aggregation:?} needs a positive divisor"),
            });
        }
        Ok(Self {
            aggregation,
            divisor,
        })
    }

    /// Normaliser read off the whole batch's (B, L) completion mask.
    pub fn from_mask(
        aggregation: Aggregation,
        mask: &Tensor,
        max_completion_length: usize,
    ) -> Result<Self> {
        let (rows, _) = mask.dims2()?;
        let tokens = mask.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        Self::new(
            aggregation,
            rows,
            tokens.round() as usize,
            max_completion_length,
        )
    }

    /// The number the summed loss is divided by.
    pub fn divisor(&self) -> f64 {
        self.divisor
    }

    /// The aggregation this normaliser was built for.
    pub fn aggregation(&self) -> Aggregation {
        self.aggregation
    }
}

/// The loss of one (micro-)batch and its metrics (TRL names in the field docs).
#[derive(Debug, Clone)]
pub struct LossParts {
    /// Scalar loss, still attached to the graph: call `backward` on it.
    pub loss: Tensor,
    /// `kl`: mean over active tokens of the KL term as used in the loss; 0 without a reference.
    pub kl: f32,
    /// `clip_ratio/low_mean`: fraction of active tokens with ρ < 1 − ε_low and Â < 0.
    pub clip_ratio_low: f32,
    /// `clip_ratio/high_mean`: fraction of active tokens with ρ > 1 + ε_high and Â > 0.
    pub clip_ratio_high: f32,
    /// `clip_ratio/region_mean`: fraction of active tokens clipped on either side.
    pub clip_ratio_region: f32,
    /// Active (mask = 1) tokens in this slice, to weight metrics across micro-batches.
    pub num_tokens: usize,
}

/// The clipped surrogate (+ β·KL) of one (micro-)batch; see the module doc for the formulas.
pub fn policy_loss(
    logp: &Tensor,
    old_logp: &Tensor,
    ref_logp: Option<&Tensor>,
    advantages: &Tensor,
    mask: &Tensor,
    cfg: &LossConfig,
    norm: &LossNorm,
) -> Result<LossParts> {
    let (rows, len) = logp.dims2()?;
    let dtype = logp.dtype();
    check_shape("old_logp", old_logp, &[rows, len])?;
    check_shape("mask", mask, &[rows, len])?;
    check_shape("advantages", advantages, &[rows])?;
    if let Some(r) = ref_logp {
        check_shape("ref_logp", r, &[rows, len])?;
    }
    if norm.aggregation != cfg.aggregation {
        return Err(Error::InvalidConfig {
            key: "train.loss.aggregation".into(),
            value: format!("{:?}", cfg.aggregation),
            reason: format!("the LossNorm was built for {:?}", norm.aggregation),
        });
    }
    let reference = match (ref_logp, cfg.needs_reference()) {
        (None, true) => {
            return Err(Error::InvalidConfig {
                key: "train.loss.beta".into(),
                value: cfg.beta.to_string(),
                reason: "beta > 0 needs reference log-probs".into(),
            })
        }
        (r, _) => r,
    };
    let mask = mask.to_dtype(dtype)?;
    let old = old_logp.detach().to_dtype(dtype)?;
    let adv = advantages.detach().to_dtype(dtype)?.reshape((rows, 1))?; // (B, 1)

    let ratio = (logp - &old)?.exp()?; // (B, L)
    let clipped = ratio.clamp(1.0 - cfg.epsilon_low, 1.0 + cfg.epsilon_high)?;
    let unclipped_obj = ratio.broadcast_mul(&adv)?;
    let clipped_obj = clipped.broadcast_mul(&adv)?;
    let mut per_token = unclipped_obj.minimum(&clipped_obj)?.neg()?; // (B, L)

    let kl = match reference {
        Some(r) => {
            let delta = (r.detach().to_dtype(dtype)? - logp)?; // ref − logp
            let k3 = ((delta.exp()? - &delta)? - 1.0)?;
            let kl = if cfg.kl_bias_correction {
                (k3 * &ratio)?
            } else {
                k3
            };
            if cfg.beta != 0.0 {
                per_token = (per_token + kl.affine(cfg.beta, 0.0)?)?;
            }
            Some(kl)
        }
        None => None,
    };

    let loss = aggregate(&per_token, &mask, norm)?;

    let metrics = Metrics::compute(&ratio, &adv, &mask, kl.as_ref(), cfg)?;
    Ok(LossParts {
        loss,
        kl: metrics.kl as f32,
        clip_ratio_low: metrics.low as f32,
        clip_ratio_high: metrics.high as f32,
        clip_ratio_region: metrics.region as f32,
        num_tokens: metrics.num_tokens,
    })
}

/// The entropy bonus c·H of one (micro-)batch, aggregated as the loss is (`entropy` (B, L), the
/// policy's token entropies, still attached to the graph): subtract it from the loss.
pub fn entropy_bonus(
    entropy: &Tensor,
    mask: &Tensor,
    cfg: &LossConfig,
    norm: &LossNorm,
) -> Result<Tensor> {
    let (rows, len) = entropy.dims2()?;
    check_shape("mask", mask, &[rows, len])?;
    let mask = mask.to_dtype(entropy.dtype())?;
    aggregate(&entropy.affine(cfg.entropy_coef, 0.0)?, &mask, norm)
}

/// Reduces per-token values (B, L) over the active tokens to the scalar that `norm` describes.
fn aggregate(per_token: &Tensor, mask: &Tensor, norm: &LossNorm) -> Result<Tensor> {
    let masked = (per_token * mask)?;
    let summed = match norm.aggregation {
        Aggregation::TokenMean | Aggregation::SeqMeanTokenSumNorm => masked.sum_all()?,
        Aggregation::SeqMeanTokenMean => {
            let row_len = mask.sum(D::Minus1)?.maximum(1.0)?; // (B,)
            masked.sum(D::Minus1)?.div(&row_len)?.sum_all()?
        }
    };
    Ok(summed.affine(1.0 / norm.divisor, 0.0)?)
}

/// TRL's `entropy` metric: the mean over active tokens of the policy's entropy
/// −Σ_v p_v log p_v, in nats, from (B, L, V) logits and a (B, L) mask. No gradient flows.
pub fn mean_entropy(logits: &Tensor, mask: &Tensor) -> Result<f32> {
    let (rows, len, _) = logits.dims3()?;
    check_shape("mask", mask, &[rows, len])?;
    let logp = candle_nn::ops::log_softmax(&logits.detach().to_dtype(DType::F32)?, D::Minus1)?;
    let entropy = (logp.exp()? * &logp)?.sum(D::Minus1)?.neg()?; // (B, L)
    let mask = mask.to_dtype(DType::F32)?;
    let total = (entropy * &mask)?.sum_all()?.to_scalar::<f32>()?;
    let count = mask.sum_all()?.to_scalar::<f32>()?;
    Ok(if count > 0.0 { total / count } else { 0.0 })
}

fn check_shape(what: &'static str, t: &Tensor, expected: &[usize]) -> Result<()> {
    if t.dims() != expected {
        return Err(Error::Shape {
            what,
            expected: expected.to_vec(),
            got: t.dims().to_vec(),
        });
    }
    Ok(())
}

/// Token means over active tokens, computed on the host (B·L is small; no graph needed).
struct Metrics {
    kl: f64,
    low: f64,
    high: f64,
    region: f64,
    num_tokens: usize,
}

impl Metrics {
    fn compute(
        ratio: &Tensor,
        adv: &Tensor,
        mask: &Tensor,
        kl: Option<&Tensor>,
        cfg: &LossConfig,
    ) -> Result<Self> {
        let host = |t: &Tensor| -> Result<Vec<f64>> {
            Ok(t.detach()
                .to_dtype(DType::F64)?
                .flatten_all()?
                .to_vec1::<f64>()?)
        };
        let ratio = host(ratio)?;
        let adv = host(adv)?;
        let mask = host(mask)?;
        let kl = kl.map(host).transpose()?;
        let len = if adv.is_empty() {
            0
        } else {
            ratio.len() / adv.len()
        };
        let (mut n, mut low, mut high, mut region, mut kl_sum) = (0usize, 0usize, 0, 0, 0.0);
        for (idx, (&r, &m)) in ratio.iter().zip(&mask).enumerate() {
            if m == 0.0 {
                continue;
            }
            let a = adv.get(idx / len.max(1)).copied().unwrap_or(0.0);
            let is_low = r < 1.0 - cfg.epsilon_low && a < 0.0;
            let is_high = r > 1.0 + cfg.epsilon_high && a > 0.0;
            n += 1;
            low += usize::from(is_low);
            high += usize::from(is_high);
            region += usize::from(is_low || is_high);
            if let Some(k) = &kl {
                kl_sum += k.get(idx).copied().unwrap_or(0.0);
            }
        }
        let denom = n.max(1) as f64;
        Ok(Self {
            kl: kl_sum / denom,
            low: low as f64 / denom,
            high: high as f64 / denom,
            region: region as f64 / denom,
            num_tokens: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn t2(rows: &[&[f64]]) -> Tensor {
        let rows: Vec<Vec<f64>> = rows.iter().map(|r| r.to_vec()).collect();
        Tensor::new(rows, &Device::Cpu).unwrap()
    }

    fn t1(values: &[f64]) -> Tensor {
        Tensor::new(values, &Device::Cpu).unwrap()
    }

    fn grad_of(parts: &LossParts, x: &Var) -> Vec<Vec<f64>> {
        let grads = parts.loss.backward().unwrap();
        grads.get(x.as_tensor()).unwrap().to_vec2().unwrap()
    }

    #[test]
    fn on_policy_token_mean_is_minus_mean_advantage_with_reinforce_gradient() {
        // Row 0 (A = 1) has 2 tokens, row 1 (A = −0.5) has 1 token and 1 padding: N = 3.
        let logp = Var::from_tensor(&t2(&[&[-0.5, -1.0], &[-0.7, -9.0]])).unwrap();
        let mask = t2(&[&[1.0, 1.0], &[1.0, 0.0]]);
        let cfg = LossConfig::default();
        let norm = LossNorm::from_mask(cfg.aggregation, &mask, 2).unwrap();
        assert_eq!(norm.divisor(), 3.0);
        let old = logp.as_tensor().detach();
        let adv = t1(&[1.0, -0.5]);
        let parts = policy_loss(&logp, &old, None, &adv, &mask, &cfg, &norm).unwrap();
        // −(1 + 1 − 0.5) / 3
        let loss = parts.loss.to_scalar::<f64>().unwrap();
        assert!((loss + 0.5).abs() < 1e-15, "{loss}");
        let g = grad_of(&parts, &logp);
        assert_eq!(g, vec![vec![-1.0 / 3.0, -1.0 / 3.0], vec![0.5 / 3.0, 0.0]]);
        assert_eq!(
            (parts.clip_ratio_region, parts.kl, parts.num_tokens),
            (0.0, 0.0, 3)
        );
    }

    #[test]
    fn clipped_tokens_get_no_gradient_and_are_counted() {
        // Token (0,0): ρ = 1.5 > 1.2 with A > 0 → clipped. Token (1,0): ρ = 0.5 < 0.8 with A < 0
        // → clipped. Tokens (0,1) and (1,1): ρ = 1 → gradient −A·ρ/N.
        let old = t2(&[&[-1.0, -1.0], &[-1.0, -1.0]]);
        let logp = t2(&[&[-1.0 + 1.5f64.ln(), -1.0], &[-1.0 + 0.5f64.ln(), -1.0]]);
        let logp = Var::from_tensor(&logp).unwrap();
        let mask = t2(&[&[1.0, 1.0], &[1.0, 1.0]]);
        let cfg = LossConfig::default();
        let norm = LossNorm::new(cfg.aggregation, 2, 4, 2).unwrap();
        let adv = t1(&[1.0, -1.0]);
        let parts = policy_loss(&logp, &old, None, &adv, &mask, &cfg, &norm).unwrap();
        // Per token: −1.2, −1, +0.8, +1 → sum −0.4, / 4.
        let loss = parts.loss.to_scalar::<f64>().unwrap();
        assert!((loss + 0.1).abs() < 1e-12, "{loss}");
        let g = grad_of(&parts, &logp);
        assert_eq!(g[0][0], 0.0);
        assert_eq!(g[1][0], 0.0);
        assert!(
            (g[0][1] + 0.25).abs() < 1e-15 && (g[1][1] - 0.25).abs() < 1e-15,
            "{g:?}"
        );
        assert_eq!(parts.clip_ratio_low, 0.25);
        assert_eq!(parts.clip_ratio_high, 0.25);
        assert_eq!(parts.clip_ratio_region, 0.5);
    }

    #[test]
    fn k3_kl_is_added_per_token_and_reported() {
        // ref − logp = ln 2 → k3 = 2 − ln 2 − 1 = 0.3068528; advantages 0 so only KL remains.
        let logp = Var::from_tensor(&t2(&[&[-1.0, -2.0]])).unwrap();
        let reference = (logp.as_tensor() + 2f64.ln()).unwrap();
        let mask = t2(&[&[1.0, 1.0]]);
        let cfg = LossConfig {
            beta: 0.5,
            ..LossConfig::default()
        };
        let norm = LossNorm::new(cfg.aggregation, 1, 2, 2).unwrap();
        let old = logp.as_tensor().detach();
        let adv = t1(&[0.0]);
        let parts = policy_loss(&logp, &old, Some(&reference), &adv, &mask, &cfg, &norm).unwrap();
        let k3 = 1.0 - 2f64.ln();
        assert!((parts.loss.to_scalar::<f64>().unwrap() - 0.5 * k3).abs() < 1e-15);
        assert!((f64::from(parts.kl) - k3).abs() < 1e-7);
        // d k3 / d logp = 1 − exp(ref − logp) = −1; weight β / N = 0.25.
        let g = grad_of(&parts, &logp);
        assert!(g[0].iter().all(|&x| (x + 0.25).abs() < 1e-15), "{g:?}");
    }

    #[test]
    fn micro_batches_sum_to_the_whole_batch_for_every_aggregation() {
        let rows: [&[f64]; 4] = [
            &[-0.1, -0.2, -0.3],
            &[-1.0, -0.5, -9.0],
            &[-0.4, -7.0, -7.0],
            &[-0.9, -0.8, -0.7],
        ];
        let mask = t2(&[
            &[1.0, 1.0, 1.0],
            &[1.0, 1.0, 0.0],
            &[1.0, 0.0, 0.0],
            &[1.0, 1.0, 1.0],
        ]);
        let old = (t2(&rows) + 0.1).unwrap();
        let adv = t1(&[0.5, -1.5, 1.0, 0.0]);
        for aggregation in [
            Aggregation::TokenMean,
            Aggregation::SeqMeanTokenMean,
            Aggregation::SeqMeanTokenSumNorm,
        ] {
            let cfg = LossConfig {
                aggregation,
                ..LossConfig::default()
            };
            let norm = LossNorm::from_mask(aggregation, &mask, 5).unwrap();
            let logp = Var::from_tensor(&t2(&rows)).unwrap();
            let whole = policy_loss(&logp, &old, None, &adv, &mask, &cfg, &norm).unwrap();
            let whole_grad = grad_of(&whole, &logp);
            let (mut sum, mut grad) = (
                0.0,
                Tensor::zeros((4, 3), DType::F64, &Device::Cpu).unwrap(),
            );
            for start in [0, 2] {
                let cut = |t: &Tensor| t.narrow(0, start, 2).unwrap();
                let part = policy_loss(
                    &cut(logp.as_tensor()),
                    &cut(&old),
                    None,
                    &adv.narrow(0, start, 2).unwrap(),
                    &cut(&mask),
                    &cfg,
                    &norm,
                )
                .unwrap();
                sum += part.loss.to_scalar::<f64>().unwrap();
                let g = part.loss.backward().unwrap();
                grad = (grad + g.get(logp.as_tensor()).unwrap()).unwrap();
            }
            let whole_loss = whole.loss.to_scalar::<f64>().unwrap();
            assert!(
                (sum - whole_loss).abs() < 1e-15,
                "{aggregation:?}: {sum} vs {whole_loss}"
            );
            let grad = grad.to_vec2::<f64>().unwrap();
            for (a, b) in grad.iter().flatten().zip(whole_grad.iter().flatten()) {
                assert!((a - b).abs() < 1e-15, "{aggregation:?}");
            }
        }
    }

    #[test]
    fn entropy_is_ln_v_for_uniform_and_zero_for_peaked_logits() {
        // Row 0: uniform over 4 tokens (ln 4); row 1: one logit far above the rest (≈ 0); the
        // padded position of row 1 must not count.
        let logits = Tensor::new(
            &[[[0f32, 0.0, 0.0, 0.0]], [[100.0, 0.0, 0.0, 0.0]]],
            &Device::Cpu,
        )
        .unwrap();
        let mask = t2(&[&[1.0], &[1.0]]);
        let h = mean_entropy(&logits, &mask).unwrap();
        assert!((f64::from(h) - 4f64.ln() / 2.0).abs() < 1e-6, "{h}");
        let only_first = t2(&[&[1.0], &[0.0]]);
        let h = mean_entropy(&logits, &only_first).unwrap();
        assert!((f64::from(h) - 4f64.ln()).abs() < 1e-6, "{h}");
    }

    #[test]
    fn entropy_bonus_is_aggregated_like_the_loss_and_scaled_by_its_coefficient() {
        // Row 0: entropies 1 and 2; row 1: 0.5 and a padded 9 that must not count.
        let entropy = Var::from_tensor(&t2(&[&[1.0, 2.0], &[0.5, 9.0]])).unwrap();
        let mask = t2(&[&[1.0, 1.0], &[1.0, 0.0]]);
        let cases = [
            // Σ m·H / tokens = 3.5 / 3
            (Aggregation::TokenMean, 3.5 / 3.0),
            // (1.5 + 0.5) / rows
            (Aggregation::SeqMeanTokenMean, 2.0 / 2.0),
            // Σ m·H / (rows · L_max) = 3.5 / 4
            (Aggregation::SeqMeanTokenSumNorm, 3.5 / 4.0),
        ];
        for (aggregation, mean) in cases {
            let cfg = LossConfig {
                aggregation,
                entropy_coef: 0.1,
                ..LossConfig::default()
            };
            let norm = LossNorm::from_mask(aggregation, &mask, 2).unwrap();
            let bonus = entropy_bonus(&entropy, &mask, &cfg, &norm).unwrap();
            let got = bonus.to_scalar::<f64>().unwrap();
            assert!((got - 0.1 * mean).abs() < 1e-12, "{aggregation:?}: {got}");
            // The gradient reaches every active entropy and no padded one.
            let g = bonus.backward().unwrap();
            let g: Vec<Vec<f64>> = g.get(entropy.as_tensor()).unwrap().to_vec2().unwrap();
            assert!(g[0][0] > 0.0 && g[0][1] > 0.0 && g[1][0] > 0.0, "{g:?}");
            assert_eq!(g[1][1], 0.0, "{aggregation:?}: padding got a gradient");
        }
        let bad = LossConfig {
            entropy_coef: -0.01,
            ..LossConfig::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("train.loss.entropy_coef"), "{err}");
    }

    #[test]
    fn works_in_f32_with_f32_inputs() {
        let logp = Var::from_tensor(&t2(&[&[-0.5, -1.0]]).to_dtype(DType::F32).unwrap()).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0]], &Device::Cpu).unwrap();
        let adv = Tensor::new(&[2f32], &Device::Cpu).unwrap();
        let cfg = LossConfig::default();
        let norm = LossNorm::from_mask(cfg.aggregation, &mask, 2).unwrap();
        let old = logp.as_tensor().detach();
        let parts = policy_loss(&logp, &old, None, &adv, &mask, &cfg, &norm).unwrap();
        assert_eq!(parts.loss.dtype(), DType::F32);
        assert_eq!(parts.loss.to_scalar::<f32>().unwrap(), -2.0);
    }

    #[test]
    fn rejects_mismatched_shapes_missing_reference_and_foreign_norm() {
        let logp = t2(&[&[-0.5, -1.0]]);
        let mask = t2(&[&[1.0, 1.0]]);
        let adv = t1(&[1.0]);
        let cfg = LossConfig::default();
        let norm = LossNorm::new(cfg.aggregation, 1, 2, 2).unwrap();
        let bad_adv = t1(&[1.0, 2.0]);
        let err = policy_loss(&logp, &logp, None, &bad_adv, &mask, &cfg, &norm).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Shape {
                    what: "advantages",
                    ..
                }
            ),
            "{err}"
        );
        let with_kl = LossConfig {
            beta: 0.1,
            ..LossConfig::default()
        };
        let err = policy_loss(&logp, &logp, None, &adv, &mask, &with_kl, &norm).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config value train.loss.beta = 0.1: beta > 0 needs reference log-probs"
        );
        let seq = LossConfig {
            aggregation: Aggregation::SeqMeanTokenMean,
            ..LossConfig::default()
        };
        let err = policy_loss(&logp, &logp, None, &adv, &mask, &seq, &norm).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid config value train.loss.aggregation = SeqMeanTokenMean:"),
            "{err}"
        );
        assert!(LossNorm::new(Aggregation::SeqMeanTokenSumNorm, 4, 10, 0).is_err());
    }

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_keys() {
        let cfg: LossConfig =
            toml::from_str("aggregation = \"seq_mean_token_sum_norm\"\nepsilon_high = 0.28")
                .unwrap();
        assert_eq!(cfg.aggregation, Aggregation::SeqMeanTokenSumNorm);
        assert_eq!(
            (cfg.epsilon_low, cfg.epsilon_high, cfg.beta),
            (0.2, 0.28, 0.0)
        );
        assert!(!cfg.kl_bias_correction);
        assert!(toml::from_str::<LossConfig>("epsilon = 0.2").is_err());
        // Issue 21: every message names the run config's key, `train.loss.*`.
        let message = |cfg: LossConfig| cfg.validate().unwrap_err().to_string();
        assert_eq!(
            message(LossConfig {
                epsilon_low: 1.5,
                ..LossConfig::default()
            }),
            "invalid config value train.loss.epsilon_low = 1.5: must be in [0, 1)"
        );
        assert_eq!(
            message(LossConfig {
                epsilon_high: -0.1,
                ..LossConfig::default()
            }),
            "invalid config value train.loss.epsilon_high = -0.1: must be finite and >= 0"
        );
        assert_eq!(
            message(LossConfig {
                beta: f64::NAN,
                ..LossConfig::default()
            }),
            "invalid config value train.loss.beta = NaN: must be finite and >= 0"
        );
    }
}
