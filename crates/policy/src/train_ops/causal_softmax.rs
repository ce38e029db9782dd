//! Softmax over the last axis with the causal mask folded in (masked entries exactly 0), fused,
//! with its own backward.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu::{exp, f32s, fast, tensor, with_f32};

/// Softmax over the last axis of scores `(..., t, s)` where query `i` sees keys
/// `0..=i + s - t` (the causal mask folded in: masked entries are exactly 0); gradient for the
/// scores.
pub(crate) struct CausalSoftmax;

fn causal_dims(shape: &Shape) -> candle_core::Result<(usize, usize)> {
    let d = shape.dims();
    match d {
        [.., t, s] if s >= t => Ok((*t, *s)),
        _ => candle_core::bail!("causal_softmax: needs (..., t, s) with s >= t, got {shape:?}"),
    }
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal_softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, "causal_softmax")?;
        let (t, n) = causal_dims(l.shape())?;
        let mut out = vec![0f32; x.len()];
        // One block = one (t, s) matrix.
        out.par_chunks_mut(t * n)
            .zip(x.par_chunks(t * n))
            .for_each(|(o, x)| {
                fast(
                    #[inline(always)]
                    || {
                        for (i, (o, x)) in o.chunks_exact_mut(n).zip(x.chunks_exact(n)).enumerate()
                        {
                            let k = i + n - t + 1;
                            let m = x[..k].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                            let mut sum = 0f32;
                            for (o, &x) in o[..k].iter_mut().zip(&x[..k]) {
                                *o = exp(x - m);
                                sum += *o;
                            }
                            let inv = 1.0 / sum;
                            for o in &mut o[..k] {
                                *o *= inv;
                            }
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (t, n) = causal_dims(x.shape())?;
        let dx = with_f32(y, "causal_softmax", |ys| {
            with_f32(grad, "causal_softmax", |gs| {
                let mut dx = vec![0f32; ys.len()];
                dx.par_chunks_mut(t * n)
                    .zip(ys.par_chunks(t * n).zip(gs.par_chunks(t * n)))
                    .for_each(|(dx, (ys, gs))| {
                        fast(
                            #[inline(always)]
                            || {
                                for (i, ((dx, y), g)) in dx
                                    .chunks_exact_mut(n)
                                    .zip(ys.chunks_exact(n))
                                    .zip(gs.chunks_exact(n))
                                    .enumerate()
                                {
                                    let k = i + n - t + 1;
                                    let dot: f32 =
                                        y[..k].iter().zip(&g[..k]).map(|(a, b)| a * b).sum();
                                    for j in 0..k {
                                        dx[j] = y[j] * (g[j] - dot);
                                    }
                                }
                            },
                        )
                    });
                Ok(dx)
            })
        })?;
        Ok(Some(tensor(dx, x.shape(), x)?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use crate::kernels::tests::randn;
    use crate::kernels::Kernels;
    use crate::train_ops::tests::check;

    #[test]
    fn causal_softmax_matches_composite() {
        for (i, shape) in [
            vec![2, 3, 1, 5, 5],
            vec![1, 1, 2, 4, 7],
            vec![1, 1, 1, 1, 1],
            vec![3, 13, 13],
        ]
        .into_iter()
        .enumerate()
        {
            let x = randn(&shape, i as u64, 2.0);
            check("causal_softmax", &[x], |k, t| {
                k.causal_softmax(&t[0]).unwrap()
            });
        }
    }

    #[test]
    fn causal_softmax_zeroes_the_future_by_hand() {
        // Row 0 sees only column 0 (prob 1); row 1 sees two equal scores (1/2 each).
        let x = Tensor::new(&[[0.3f32, 5.0], [2.0, 2.0]], &Device::Cpu).unwrap();
        let y = Kernels::Trained.causal_softmax(&x).unwrap();
        assert_eq!(
            y.to_vec2::<f32>().unwrap(),
            vec![vec![1.0, 0.0], vec![0.5, 0.5]]
        );
    }
}
