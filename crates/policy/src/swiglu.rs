//! `silu(gate) * up` over a stacked `gate|up` projection as one fused CPU op with a vectorised
//! `exp` (no backward: sampling only). candle's `silu` calls libm `expf` once per element and
//! needs two strided copies of the halves; at the tiny shape that was ~12 % of a rollout (perf).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu::{exp, fast};
use crate::error::Result;

/// `gu (rows, 2 * ff)` contiguous -> `silu(gu[:, :ff]) * gu[:, ff:]`, `(rows, ff)`: the fused op
/// for f32 on the CPU, candle's ops elsewhere.
pub(crate) fn swiglu(gu: &Tensor) -> Result<Tensor> {
    if gu.device().is_cpu() && gu.dtype() == candle_core::DType::F32 {
        return Ok(gu.apply_op1_no_bwd(&SwiGlu)?);
    }
    let ff = gu.dim(1)? / 2;
    Ok((candle_nn::ops::silu(&gu.narrow(1, 0, ff)?)? * gu.narrow(1, ff, ff)?)?)
}

struct SwiGlu;

#[inline(always)]
fn row(g: &[f32], u: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(g).zip(u) {
        *o = g / (1.0 + exp(-g)) * u;
    }
}

impl CustomOp1 for SwiGlu {
    fn name(&self) -> &'static str {
        "swiglu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, two_ff) = l.shape().dims2()?;
        if !l.is_contiguous() || two_ff % 2 != 0 {
            candle_core::bail!(
                "swiglu: needs a contiguous (rows, 2 * ff) input, got {:?}",
                l.shape()
            );
        }
        let data = match s {
            CpuStorage::F32(d) => &d[l.start_offset()..l.start_offset() + rows * two_ff],
            _ => candle_core::bail!("swiglu: needs f32"),
        };
        let ff = two_ff / 2;
        let mut out = vec![0f32; rows * ff];
        out.par_chunks_mut(ff.max(1))
            .zip(data.par_chunks(two_ff.max(1)))
            .for_each(|(o, x)| {
                let (g, u) = x.split_at(ff);
                fast(
                    #[inline(always)]
                    || row(g, u, o),
                )
            });
        Ok((CpuStorage::F32(out), Shape::from((rows, ff))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candle_silu_times_up() {
        let (rows, ff) = (5, 11);
        let data: Vec<f32> = (0..rows * 2 * ff)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let gu = Tensor::from_vec(data, (rows, 2 * ff), &Device::Cpu).unwrap();
        let got = swiglu(&gu).unwrap();
        let want =
            (gu.narrow(1, 0, ff).unwrap().silu().unwrap() * gu.narrow(1, ff, ff).unwrap()).unwrap();
        let diff: f32 = (got - &want)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        let scale: f32 = want
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff <= 1e-6 * scale, "{diff} vs scale {scale}");
        // Outside f32 (or off the CPU) candle's ops run instead: the same values.
        let other = swiglu(&gu.to_dtype(candle_core::DType::F64).unwrap())
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap();
        let diff = crate::kernels::tests::max_diff(&other, &want);
        assert!(diff <= 1e-6 * scale, "fallback: {diff}");
    }
}
