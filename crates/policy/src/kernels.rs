//! The three ops where candle has a fast fused kernel that silently drops gradients (RMSNorm,
//! RoPE, softmax), behind one switch: `Composite` (differentiable, the training path and the test
//! oracle) or `Fused` (no backward; only for forwards that never call `backward`, i.e. sampling).
//!
//! Shapes: RMSNorm over the last axis; RoPE in Hugging Face's rotate-half layout on
//! `(b, heads, t, head_dim)` with `cos`/`sin` of shape `(t, head_dim/2)` or `(b, t, head_dim/2)`.

use candle_core::{DType, Tensor, D};

use crate::causal_attention::{CausalAttention, Heads};
use crate::error::Result;

/// Which implementation of the fusable ops to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernels {
    /// Composite candle ops with autograd (the test oracle; the fallback of `Trained`).
    #[cfg_attr(not(test), allow(dead_code))]
    Composite,
    /// candle's fused kernels without backward (sampling only).
    Fused,
    /// Our fused CPU kernels with their own backward (`train_ops/`): the training path.
    /// Falls back to `Composite` off the CPU or outside f32.
    Trained,
}

/// Whether `t` can go through the fused training kernels (f32 on the CPU).
pub(crate) fn trainable_fused(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == candle_core::DType::F32
}

impl Kernels {
    /// `x * rsqrt(mean(x^2) + eps) * w` over the last axis.
    pub(crate) fn rms_norm(self, x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
        Ok(match self {
            Kernels::Fused => candle_nn::ops::rms_norm(&x.contiguous()?, w, eps as f32)?,
            Kernels::Trained if trainable_fused(x) => x.contiguous()?.apply_op2(
                &w.contiguous()?,
                crate::train_ops::RmsNorm { eps: eps as f32 },
            )?,
            Kernels::Composite | Kernels::Trained => {
                // In f32 for a bf16 x, as transformers' LlamaRMSNorm: a bf16 mean of squares
                // loses the statistic. (A no-op cast for f32.)
                let xf = x.to_dtype(DType::F32)?;
                let inv = (xf.sqr()?.mean_keepdim(D::Minus1)? + eps)?
                    .sqrt()?
                    .recip()?;
                xf.broadcast_mul(&inv)?
                    .to_dtype(x.dtype())?
                    .broadcast_mul(w)?
            }
        })
    }

    /// Rotary embedding, rotate-half layout: `x * cos + rotate_half(x) * sin` with the half-width
    /// tables repeated twice, as `transformers`' `apply_rotary_pos_emb`.
    pub(crate) fn rope(self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        // The tables are f32; a bf16 x reads them cast, as transformers does.
        let (cos, sin) = (&cos.to_dtype(x.dtype())?, &sin.to_dtype(x.dtype())?);
        Ok(match self {
            Kernels::Fused => candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)?,
            Kernels::Composite | Kernels::Trained => {
                // (t, d/2) -> (1, 1, t, d) or (b, t, d/2) -> (b, 1, t, d)
                let full = |c: &Tensor| -> Result<Tensor> {
                    let c = Tensor::cat(&[c, c], D::Minus1)?;
                    Ok(match c.rank() {
                        2 => c.unsqueeze(0)?.unsqueeze(0)?,
                        _ => c.unsqueeze(1)?,
                    })
                };
                let (cos, sin) = (full(cos)?, full(sin)?);
                let half = x.dim(D::Minus1)? / 2;
                let x1 = x.narrow(D::Minus1, 0, half)?;
                let x2 = x.narrow(D::Minus1, half, half)?;
                let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
                (x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?
            }
        })
    }

    /// Softmax over the last axis (in f32 for a bf16 `x`, returned in `x`'s dtype).
    pub(crate) fn softmax(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Kernels::Fused => candle_nn::ops::softmax_last_dim(&x.contiguous()?)?,
            Kernels::Composite | Kernels::Trained => {
                candle_nn::ops::softmax(&x.to_dtype(DType::F32)?, D::Minus1)?.to_dtype(x.dtype())?
            }
        })
    }

    /// `silu(g) * u` on rows `[g | u]` stacked along the last axis: `(..., 2F)` -> `(..., F)`.
    pub(crate) fn silu_mul_cat(self, gu: &Tensor) -> Result<Tensor> {
        let n = gu.dim(D::Minus1)?;
        if n == 0 || n % 2 != 0 {
            return Err(crate::Error::OpShape {
                op: "silu_mul_cat",
                shape: gu.dims().to_vec(),
                need: "an even, non-zero last axis".into(),
            });
        }
        Ok(match self {
            Kernels::Trained if trainable_fused(gu) => {
                gu.contiguous()?.apply_op1(crate::train_ops::SiluMulCat)?
            }
            _ => {
                let f = n / 2;
                let g = gu.narrow(D::Minus1, 0, f)?;
                let u = gu.narrow(D::Minus1, f, f)?;
                (g.silu()? * u)?
            }
        })
    }

    /// Softmax over the last axis of scores `(..., t, s)` with query `i` seeing keys
    /// `0..=i + s - t` (causal, queries at the end of the keys); masked entries are 0.
    pub(crate) fn causal_softmax(self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        let (t, s) = match dims {
            [.., t, s] if s >= t => (*t, *s),
            _ => {
                return Err(crate::Error::OpShape {
                    op: "causal softmax",
                    shape: dims.to_vec(),
                    need: "(..., t, s) with s >= t".into(),
                })
            }
        };
        Ok(match self {
            Kernels::Trained if trainable_fused(x) => {
                x.contiguous()?.apply_op1(crate::train_ops::CausalSoftmax)?
            }
            _ => {
                let mask = offset_causal_mask(t, s, x.device())?;
                self.softmax(&x.to_dtype(DType::F32)?.broadcast_add(&mask)?)?
                    .to_dtype(x.dtype())?
            }
        })
    }

    /// `[log softmax(z)[target], entropy(softmax(z))]` per row of logits `z (n, V)` with u32
    /// `targets (n)`: `(n, 2)`.
    pub(crate) fn token_logprob(self, z: &Tensor, targets: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Kernels::Trained if trainable_fused(z) => z
                .contiguous()?
                .apply_op2(&targets.contiguous()?, crate::train_ops::TokenLogProb)?,
            _ => {
                let logp_all = candle_nn::ops::log_softmax(z, D::Minus1)?;
                let n = targets.elem_count();
                let lp = logp_all.gather(&targets.reshape((n, 1))?, 1)?;
                let ent = (logp_all.exp()? * &logp_all)?.sum_keepdim(1)?.neg()?;
                Tensor::cat(&[&lp, &ent], 1)?
            }
        })
    }
}

/// Grouped-query attention without copying K/V per query head.
///
/// `q`: `(b, h, t, d)` (already scaled by `1/sqrt(d)`), `k`, `v`: `(b, kvh, s, d)` (may be
/// narrowed views of a larger cache), `mask`: additive, broadcastable to `(b, 1, 1, t, s)`.
/// Query head `i` uses key/value head `i / (h / kvh)` (transformers' `repeat_kv`). Returns
/// `(b, t, h * d)`.
pub(crate) fn attention(
    kernels: Kernels,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    attention_with(q, k, v, |scores| {
        let scores = match mask {
            Some(m) => scores.broadcast_add(&m.to_dtype(scores.dtype())?)?,
            None => scores.clone(),
        };
        kernels.softmax(&scores)
    })
}

/// Causal grouped-query self-attention over stacked projection rows `qkv (b, t, (h + 2 kvh) d)`
/// with RoPE on the queries and keys (half-width tables `cos`, `sin` `(t, d / 2)`, position =
/// the `t` index) and the rotated queries times `scale`: `(b, t, h * d)`. `Trained` runs the
/// fused op of `causal_attention.rs` on the CPU in f32; otherwise composite ops (RoPE, then
/// batched matmuls around [`Kernels::causal_softmax`]).
pub(crate) fn causal_attention(
    kernels: Kernels,
    qkv: &Tensor,
    (cos, sin): (&Tensor, &Tensor),
    heads: Heads,
    scale: f64,
) -> Result<Tensor> {
    if kernels == Kernels::Trained && trainable_fused(qkv) {
        let table = |c: &Tensor| -> Result<Vec<f32>> { Ok(c.flatten_all()?.to_vec1::<f32>()?) };
        let op = CausalAttention::new(
            heads,
            table(cos)?,
            table(sin)?,
            scale as f32,
            qkv.track_op(),
        );
        return Ok(qkv.contiguous()?.apply_op1(op)?);
    }
    let (b, t, n) = qkv.dims3()?;
    let Heads { h, kvh, d } = heads;
    if n != heads.qkv_width() || kvh == 0 || h % kvh != 0 {
        return Err(crate::Error::OpShape {
            op: "causal_attention",
            shape: vec![b, t, n],
            need: format!(
                "rows of {} for {h} heads, {kvh} kv heads of {d} (kv heads dividing heads)",
                heads.qkv_width()
            ),
        });
    }
    // Columns `from..from + count` heads of the rows, as `(b, count, t, d)`.
    let heads_of = |from: usize, count: usize| -> Result<Tensor> {
        Ok(qkv
            .narrow(2, from * d, count * d)?
            .reshape((b, t, count, d))?
            .transpose(1, 2)?)
    };
    let q = (kernels.rope(&heads_of(0, h)?, cos, sin)? * scale)?;
    let k = kernels.rope(&heads_of(h, kvh)?, cos, sin)?;
    let v = heads_of(h + kvh, kvh)?;
    attention_with(&q, &k.contiguous()?, &v, |scores| {
        kernels.causal_softmax(scores)
    })
}

/// Grouped-query attention with `probs` turning scores `(b, kvh, rep, t, s)` into weights.
fn attention_with(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    probs: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (b, h, t, d) = q.dims4()?;
    let (_, kvh, s, _) = k.dims4()?;
    let rep = h / kvh;
    // (b, h, t, d) -> (b, kvh, rep*t, d): the `rep` heads sharing one K/V head become rows.
    let q = q.contiguous()?.reshape((b, kvh, rep * t, d))?;
    let scores = q.matmul(&k.t()?)?; // (b, kvh, rep*t, s)
    let probs = probs(&scores.reshape((b, kvh, rep, t, s))?)?.reshape((b, kvh, rep * t, s))?;
    let out = probs.matmul(&v.contiguous()?)?; // (b, kvh, rep*t, d)
                                               // (b, h, t, d) -> (b, t, h, d) -> (b, t, h*d)
    Ok(out
        .reshape((b, h, t, d))?
        .transpose(1, 2)?
        .reshape((b, t, h * d))?)
}

/// Additive mask `(t, s)`: row `i` sees columns `0..=i + s - t`, -inf elsewhere.
fn offset_causal_mask(t: usize, s: usize, device: &candle_core::Device) -> Result<Tensor> {
    let data: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..s).map(move |j| {
                if j <= i + s - t {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(data, (t, s), device)?)
}

/// Additive causal mask `(1, 1, 1, t, t)`: 0 on and below the diagonal, -inf above.
#[cfg(test)]
pub(crate) fn causal_mask(t: usize, device: &candle_core::Device) -> Result<Tensor> {
    let data: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Ok(Tensor::from_vec(data, (1, 1, 1, t, t), device)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::Device;

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f32 / 500.0) - 1.0)
            .collect();
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    }

    /// Seeded normal(0, `std`) values of `shape` (candle cannot seed its CPU `randn`).
    pub(crate) fn randn(shape: &[usize], seed: u64, std: f64) -> Tensor {
        use rand::SeedableRng;
        let n = shape.iter().product();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let data = crate::model::normal(&mut rng, n, std);
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    }

    /// max |a − b| over all elements.
    pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        max_abs(&(a - b).unwrap())
    }

    /// max |t| over all elements.
    pub(crate) fn max_abs(t: &Tensor) -> f32 {
        t.abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn fused_and_composite_agree() {
        let x = rand(&[2, 3, 5, 8], 1);
        let w = rand(&[8], 2);
        let (c, f) = (Kernels::Composite, Kernels::Fused);
        assert!(
            max_diff(
                &c.rms_norm(&x, &w, 1e-5).unwrap(),
                &f.rms_norm(&x, &w, 1e-5).unwrap()
            ) < 1e-5
        );
        assert!(max_diff(&c.softmax(&x).unwrap(), &f.softmax(&x).unwrap()) < 1e-6);
        let cos = rand(&[5, 4], 3);
        let sin = rand(&[5, 4], 4);
        assert!(
            max_diff(
                &c.rope(&x, &cos, &sin).unwrap(),
                &f.rope(&x, &cos, &sin).unwrap()
            ) < 1e-6
        );
        let cos = rand(&[2, 5, 4], 5);
        let sin = rand(&[2, 5, 4], 6);
        assert!(
            max_diff(
                &c.rope(&x, &cos, &sin).unwrap(),
                &f.rope(&x, &cos, &sin).unwrap()
            ) < 1e-6
        );
    }

    #[test]
    fn rope_rotates_half_pairs_by_hand() {
        // x = [1, 2, 3, 4]: pairs (x0, x2), (x1, x3); cos = [c0, c1], sin = [s0, s1].
        let x = Tensor::new(&[1f32, 2., 3., 4.], &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 1, 4))
            .unwrap();
        let cos = Tensor::new(&[[0.5f32, 1.0]], &Device::Cpu).unwrap();
        let sin = Tensor::new(&[[2.0f32, 0.0]], &Device::Cpu).unwrap();
        let y = Kernels::Composite.rope(&x, &cos, &sin).unwrap();
        // y0 = 1*0.5 - 3*2 = -5.5; y1 = 2*1 - 4*0 = 2; y2 = 3*0.5 + 1*2 = 3.5; y3 = 4*1 + 2*0 = 4
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![-5.5, 2.0, 3.5, 4.0]
        );
    }
}
