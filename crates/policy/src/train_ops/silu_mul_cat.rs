//! `silu(g) * u` on stacked `[g | u]` rows (the gate and up projections as one matmul), fused,
//! with its own backward.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::BLOCK;
use crate::cpu::{exp, f32s, fast, rows_cols, tensor, with_f32};

#[inline(always)]
fn sigmoid(g: f32) -> f32 {
    1.0 / (1.0 + exp(-g))
}

/// `silu(g) * u` on rows `[g | u]`, the gate and up projections side by side (one matmul for
/// both): `(..., 2F)` -> `(..., F)`; gradient for the stacked input.
pub(crate) struct SiluMulCat;

/// `(rows, F)` of a stacked `[g | u]` shape.
fn stacked_dims(shape: &Shape) -> candle_core::Result<(usize, usize)> {
    let (rows, cols) = rows_cols(shape);
    if cols == 0 || cols % 2 != 0 {
        candle_core::bail!("silu_mul_cat: needs an even, non-zero last axis, got {shape:?}");
    }
    Ok((rows, cols / 2))
}

impl CustomOp1 for SiluMulCat {
    fn name(&self) -> &'static str {
        "silu_mul_cat"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, "silu_mul_cat")?;
        let (_, f) = stacked_dims(l.shape())?;
        let mut out = vec![0f32; x.len() / 2];
        out.par_chunks_mut(BLOCK * f)
            .zip(x.par_chunks(BLOCK * 2 * f))
            .for_each(|(o, x)| {
                fast(
                    #[inline(always)]
                    || {
                        for (o, x) in o.chunks_exact_mut(f).zip(x.chunks_exact(2 * f)) {
                            let (g, u) = x.split_at(f);
                            for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                                *o = g * sigmoid(g) * u;
                            }
                        }
                    },
                )
            });
        let mut dims = l.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = f;
        }
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (_, f) = stacked_dims(x.shape())?;
        let dx = with_f32(x, "silu_mul_cat", |xs| {
            with_f32(grad, "silu_mul_cat", |go| {
                let mut dx = vec![0f32; xs.len()];
                dx.par_chunks_mut(BLOCK * 2 * f)
                    .zip(xs.par_chunks(BLOCK * 2 * f).zip(go.par_chunks(BLOCK * f)))
                    .for_each(|(dx, (xs, go))| {
                        fast(
                            #[inline(always)]
                            || {
                                for ((dx, x), o) in dx
                                    .chunks_exact_mut(2 * f)
                                    .zip(xs.chunks_exact(2 * f))
                                    .zip(go.chunks_exact(f))
                                {
                                    let (dg, du) = dx.split_at_mut(f);
                                    let (g, u) = x.split_at(f);
                                    for i in 0..f {
                                        let s = sigmoid(g[i]);
                                        du[i] = o[i] * g[i] * s;
                                        dg[i] = o[i] * u[i] * s * (1.0 + g[i] * (1.0 - s));
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
    use crate::kernels::tests::randn;
    use crate::kernels::Kernels;
    use crate::train_ops::tests::check;

    #[test]
    fn silu_mul_cat_matches_composite() {
        for (i, shape) in [vec![5, 66], vec![1, 2], vec![2, 3, 8194], vec![130, 6]]
            .into_iter()
            .enumerate()
        {
            let gu = randn(&shape, i as u64, 2.0);
            check("silu_mul_cat", &[gu], |k, t| k.silu_mul_cat(&t[0]).unwrap());
        }
        let odd = randn(&[2, 5], 9, 1.0);
        assert!(Kernels::Trained.silu_mul_cat(&odd).is_err());
    }
}
