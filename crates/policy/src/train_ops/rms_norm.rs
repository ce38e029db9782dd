//! RMSNorm `x * rsqrt(mean(x^2) + eps) * w` over the last axis, fused, with its own backward
//! (gradients for `x` and `w`; the weight gradient adds row-block partials in block order).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::BLOCK;
use crate::cpu::{f32s, fast, rows_cols, tensor, with_f32};

/// `x * rsqrt(mean(x^2) + eps) * w` over the last axis; gradients for `x` and `w`.
pub(crate) struct RmsNorm {
    pub(crate) eps: f32,
}

impl RmsNorm {
    fn inv_rms(&self, x: &[f32]) -> f32 {
        let ss: f32 = x.iter().map(|v| v * v).sum();
        1.0 / (ss / x.len() as f32 + self.eps).sqrt()
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms_norm_bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, "rms_norm")?;
        let w = f32s(s2, l2, "rms_norm")?;
        let (_, d) = rows_cols(l1.shape());
        if w.len() != d || d == 0 {
            candle_core::bail!("rms_norm: weight {:?} for rows of {d}", l2.shape());
        }
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(BLOCK * d)
            .zip(x.par_chunks(BLOCK * d))
            .for_each(|(o, x)| {
                fast(
                    #[inline(always)]
                    || {
                        for (o, x) in o.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
                            let r = self.inv_rms(x);
                            for ((o, &x), &w) in o.iter_mut().zip(x).zip(w) {
                                *o = x * r * w;
                            }
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, d) = rows_cols(x.shape());
        let (dx, dw) = with_f32(x, "rms_norm", |xs| {
            with_f32(w, "rms_norm", |ws| {
                with_f32(grad, "rms_norm", |gs| {
                    let mut dx = vec![0f32; xs.len()];
                    let partials: Vec<Vec<f32>> = dx
                        .par_chunks_mut(BLOCK * d)
                        .zip(xs.par_chunks(BLOCK * d))
                        .zip(gs.par_chunks(BLOCK * d))
                        .map(|((dx, xs), gs)| {
                            fast(
                                #[inline(always)]
                                || {
                                    let mut dw = vec![0f32; d];
                                    for ((dx, x), g) in dx
                                        .chunks_exact_mut(d)
                                        .zip(xs.chunks_exact(d))
                                        .zip(gs.chunks_exact(d))
                                    {
                                        let r = self.inv_rms(x);
                                        let mut dot = 0f32; // sum(g * w * x)
                                        for i in 0..d {
                                            dot += g[i] * ws[i] * x[i];
                                            dw[i] += g[i] * x[i] * r;
                                        }
                                        let c = r * r * r * dot / d as f32;
                                        for i in 0..d {
                                            dx[i] = r * g[i] * ws[i] - x[i] * c;
                                        }
                                    }
                                    dw
                                },
                            )
                        })
                        .collect();
                    let mut dw = vec![0f32; d];
                    for p in &partials {
                        for (a, b) in dw.iter_mut().zip(p) {
                            *a += b;
                        }
                    }
                    Ok((dx, dw))
                })
            })
        })?;
        Ok((
            Some(tensor(dx, x.shape(), x)?),
            Some(tensor(dw, w.shape(), w)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::kernels::tests::randn;
    use crate::train_ops::tests::check;

    #[test]
    fn rms_norm_matches_composite() {
        for (i, shape) in [vec![3, 7, 37], vec![1, 1, 5], vec![130, 1], vec![2, 65, 16]]
            .into_iter()
            .enumerate()
        {
            let d = *shape.last().unwrap();
            let x = randn(&shape, i as u64, 1.0);
            let w = (randn(&[d], 10 + i as u64, 0.3) + 1.0).unwrap();
            check("rms_norm", &[x, w], |k, t| {
                k.rms_norm(&t[0], &t[1], 1e-5).unwrap()
            });
        }
    }
}
