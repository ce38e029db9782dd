//! Per-token log-prob of the target and entropy over the vocabulary, fused (the log-softmax is
//! never materialised), with its own backward (the softmax recomputed).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::BLOCK;
use crate::cpu::{exp, f32s, fast, tensor, with_f32};

/// Logits `(n, V)` and u32 targets `(n)` -> `(n, 2)`: `[log softmax(z)[target], entropy]` per
/// row, without keeping the log-softmax; gradient for the logits (recomputes the softmax).
pub(crate) struct TokenLogProb;

/// `(log-sum-exp, sum p * z)` of one row of logits.
fn lse_and_mean(z: &[f32]) -> (f32, f32) {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let (mut s, mut sz) = (0f32, 0f32);
    for &v in z {
        let e = exp(v - m);
        s += e;
        sz += e * v;
    }
    (m + s.ln(), sz / s)
}

fn targets<'a>(s: &'a CpuStorage, l: &Layout, rows: usize) -> candle_core::Result<&'a [u32]> {
    let (a, b) = match l.contiguous_offsets() {
        Some(o) => o,
        None => candle_core::bail!("token_logprob: targets must be contiguous"),
    };
    match s {
        CpuStorage::U32(d) if b - a == rows => Ok(&d[a..b]),
        _ => candle_core::bail!(
            "token_logprob: needs {rows} u32 targets, got {:?}",
            l.shape()
        ),
    }
}

impl CustomOp2 for TokenLogProb {
    fn name(&self) -> &'static str {
        "token_logprob"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let z = f32s(s1, l1, "token_logprob")?;
        let (n, v) = l1.shape().dims2()?;
        let tg = targets(s2, l2, n)?;
        if let Some(&bad) = tg.iter().find(|&&t| t as usize >= v) {
            candle_core::bail!("token_logprob: target {bad} >= vocabulary {v}");
        }
        let mut out = vec![0f32; 2 * n];
        out.par_chunks_mut(2 * BLOCK)
            .zip(z.par_chunks(BLOCK * v).zip(tg.par_chunks(BLOCK)))
            .for_each(|(o, (z, tg))| {
                fast(
                    #[inline(always)]
                    || {
                        for ((o, z), &t) in o.chunks_exact_mut(2).zip(z.chunks_exact(v)).zip(tg) {
                            let (lse, mean) = lse_and_mean(z);
                            o[0] = z[t as usize] - lse;
                            o[1] = lse - mean;
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(out), Shape::from((n, 2))))
    }

    fn bwd(
        &self,
        z: &Tensor,
        tg: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, v) = z.dims2()?;
        let tg = tg.to_vec1::<u32>()?;
        let dz = with_f32(z, "token_logprob", |zs| {
            with_f32(res, "token_logprob", |rs| {
                with_f32(grad, "token_logprob", |gs| {
                    let mut dz = vec![0f32; n * v];
                    dz.par_chunks_mut(BLOCK * v)
                        .zip(zs.par_chunks(BLOCK * v))
                        .zip(rs.par_chunks(2 * BLOCK).zip(gs.par_chunks(2 * BLOCK)))
                        .zip(tg.par_chunks(BLOCK))
                        .for_each(|(((dz, zs), (rs, gs)), tg)| {
                            fast(
                                #[inline(always)]
                                || {
                                    for ((((dz, z), r), g), &t) in dz
                                        .chunks_exact_mut(v)
                                        .zip(zs.chunks_exact(v))
                                        .zip(rs.chunks_exact(2))
                                        .zip(gs.chunks_exact(2))
                                        .zip(tg)
                                    {
                                        let (lp_t, h) = (r[0], r[1]);
                                        let lse = z[t as usize] - lp_t;
                                        let (g_lp, g_h) = (g[0], g[1]);
                                        // d lp_t / dz_i = 1[i=t] - p_i; dH / dz_i = -p_i (log p_i + H)
                                        for (d, &zi) in dz.iter_mut().zip(z) {
                                            let lp = zi - lse;
                                            let p = exp(lp);
                                            *d = -p * (g_lp + g_h * (lp + h));
                                        }
                                        dz[t as usize] += g_lp;
                                    }
                                },
                            )
                        });
                    Ok(dz)
                })
            })
        })?;
        Ok((Some(tensor(dz, z.shape(), z)?), None))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use crate::kernels::tests::randn;
    use crate::kernels::Kernels;
    use crate::train_ops::tests::check;

    #[test]
    fn token_logprob_matches_composite() {
        for (i, (n, v)) in [(5usize, 61usize), (1, 3), (70, 9), (2, 1)]
            .into_iter()
            .enumerate()
        {
            let z = randn(&[n, v], i as u64, 2.0);
            let tg: Vec<u32> = (0..n).map(|r| ((r * 7 + i) % v) as u32).collect();
            let tg = Tensor::from_vec(tg, n, &Device::Cpu).unwrap();
            check("token_logprob", &[z], |k, t| {
                k.token_logprob(&t[0], &tg).unwrap()
            });
        }
    }

    #[test]
    fn token_logprob_by_hand() {
        // Uniform logits over 4: log p = -ln 4, entropy = ln 4.
        let z = Tensor::zeros((1, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let tg = Tensor::new(&[2u32], &Device::Cpu).unwrap();
        let out = Kernels::Trained
            .token_logprob(&z, &tg)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let ln4 = 4f32.ln();
        assert!(
            (out[0][0] + ln4).abs() < 1e-6 && (out[0][1] - ln4).abs() < 1e-6,
            "{out:?}"
        );
        let bad = Tensor::new(&[4u32], &Device::Cpu).unwrap();
        assert!(Kernels::Trained.token_logprob(&z, &bad).is_err());
    }
}
