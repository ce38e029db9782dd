//! What the fused CPU kernels share: one runtime check for AVX2 + FMA (made once per process),
//! [`fast`] to run a loop compiled for them, the vectorisable [`exp`], and f32 views of candle's
//! CPU storage.

use std::sync::OnceLock;

use candle_core::{CpuStorage, Layout, Shape, Storage, Tensor};

/// Whether this CPU has AVX2 and FMA (checked once, then cached).
pub(crate) fn has_avx2_fma() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Runs `f` compiled for AVX2 + FMA when the CPU has them (vectorised loops, and a hardware
/// `mul_add` in [`exp`] instead of libm's `fmaf`), plainly otherwise. Mark the closure
/// `#[inline(always)]` so that its body is compiled inside the AVX2 function.
#[inline(always)]
pub(crate) fn fast<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports avx2 and fma (checked above).
        return unsafe { with_avx2(f) };
    }
    f()
}

/// # Safety
/// The CPU must support `avx2` and `fma`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `e^x` to ~2 ulp for `x` in `[-87, 88]` (clamped outside): `2^n * p(r)`, `x = n ln 2 + r`,
/// `|r| <= ln 2 / 2`, degree-6 Taylor polynomial (truncation error `r^7/7! < 1e-7` relative).
/// Branch-free integer bit tricks only, so that LLVM vectorises loops calling it.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer in the mantissa
    let x = x.clamp(-87.0, 88.0);
    let t = x.mul_add(std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let r = n.mul_add(-0.693_145_75, x); // ln 2, high part
    let r = n.mul_add(-1.428_606_8e-6, r); // ln 2, low part
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // The low 9 bits of t's representation are n (mod 512); put n + 127 in the exponent field.
    let scale = f32::from_bits(t.to_bits().wrapping_add(127) << 23);
    p * scale
}

/// The contiguous f32 slice of a CPU storage under `l`.
pub(crate) fn f32s<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let (a, b) = match l.contiguous_offsets() {
        Some(o) => o,
        None => candle_core::bail!("{op}: needs a contiguous input, got {:?}", l.shape()),
    };
    match s {
        CpuStorage::F32(d) => Ok(&d[a..b]),
        _ => candle_core::bail!("{op}: needs f32"),
    }
}

/// `shape` with its last axis of length `n` (a projection's output shape).
pub(crate) fn with_last(shape: &Shape, n: usize) -> Shape {
    let mut dims = shape.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = n;
    }
    Shape::from(dims)
}

/// Runs `f` on the contiguous f32 data of CPU tensor `t` (made contiguous first if needed).
pub(crate) fn with_f32<R>(
    t: &Tensor,
    op: &str,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    match &*s {
        Storage::Cpu(c) => f(f32s(c, l, op)?),
        _ => candle_core::bail!("{op}: needs a CPU tensor"),
    }
}

/// `(rows, cols)` of a tensor shape: the last axis and the product of the others.
pub(crate) fn rows_cols(shape: &Shape) -> (usize, usize) {
    let d = shape.dims();
    let cols = d.last().copied().unwrap_or(1);
    (d.iter().rev().skip(1).product(), cols)
}

/// A tensor of `data` in `shape` on `like`'s device (a backward's gradient for `like`).
pub(crate) fn tensor(data: Vec<f32>, shape: &Shape, like: &Tensor) -> candle_core::Result<Tensor> {
    Tensor::from_vec(data, shape.clone(), like.device())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_range() {
        let mut worst = 0f64;
        for i in -8700..8799 {
            let x = i as f32 / 100.0 + 0.003;
            let want = f64::from(x).exp();
            worst = worst.max(((f64::from(exp(x)) - want) / want).abs());
        }
        assert!(worst < 5e-7, "max relative error {worst}");
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn fast_runs_the_closure_once_whatever_the_cpu() {
        let mut calls = 0;
        let out = fast(|| {
            calls += 1;
            (0..8).map(|i| exp(i as f32)).sum::<f32>()
        });
        assert_eq!(calls, 1);
        let want: f32 = (0..8).map(|i| (i as f32).exp()).sum();
        assert!((out - want).abs() <= 1e-6 * want, "{out} vs {want}");
    }
}
