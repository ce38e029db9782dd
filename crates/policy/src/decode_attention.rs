//! One-query attention over a KV cache as a single fused CPU op (no backward: sampling only).
//!
//! For row `b`, query head `i` (KV head `i / (h / kvh)`), valid slots `starts[b] .. len`:
//! `out[b, i] = sum_s softmax_s(q[b, i] . k[b, kv, s]) v[b, kv, s]` (q already scaled by
//! `1/sqrt(d)`). Replaces two batched matmuls of `b * h` tiny products, a mask add, a softmax and
//! a transpose copy per layer and step: candle dispatches gemm once per batch item, which cost
//! more than the arithmetic at these shapes.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::{Error, Result};

struct DecodeAttention<'a> {
    starts: &'a [usize],
    len: usize,
}

/// `q (b, h, 1, d)` contiguous, `k`, `v` the full caches `(b, kvh, capacity, d)` contiguous;
/// returns `(b, h * d)`.
pub(crate) fn decode_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    starts: &[usize],
    len: usize,
) -> Result<Tensor> {
    let (b, _, t, _) = q.dims4()?;
    if t != 1 || starts.len() != b {
        return Err(Error::Invalid(format!(
            "decode attention: {t} queries, {} starts for {b} rows",
            starts.len()
        )));
    }
    Ok(q.apply_op3_no_bwd(k, v, &DecodeAttention { starts, len })?)
}

#[inline(always)]
fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators so that LLVM vectorises the reduction.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] = if FMA {
                x[j].mul_add(y[j], acc[j])
            } else {
                acc[j] + x[j] * y[j]
            };
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Shapes and data of one call, shared by every row.
struct Args<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    h: usize,
    kvh: usize,
    cap: usize,
    d: usize,
}

/// All heads of one row; `p` is scratch for the slot weights.
#[inline(always)]
fn attend_row<const FMA: bool>(
    a: &Args<'_>,
    row: usize,
    start: usize,
    len: usize,
    out_row: &mut [f32],
    p: &mut [f32],
) {
    let (h, d) = (a.h, a.d);
    let rep = h / a.kvh;
    for (i, o) in out_row.chunks_exact_mut(d).enumerate() {
        let qv = &a.q[(row * h + i) * d..][..d];
        let base = (row * a.kvh + i / rep) * a.cap * d;
        let mut max = f32::NEG_INFINITY;
        for (s, ps) in (start..len).zip(p.iter_mut()) {
            *ps = dot::<FMA>(qv, &a.k[base + s * d..][..d]);
            max = max.max(*ps);
        }
        let mut sum = 0f32;
        for ps in p.iter_mut() {
            *ps = (*ps - max).exp();
            sum += *ps;
        }
        let inv = 1.0 / sum;
        for (s, &ps) in (start..len).zip(p.iter()) {
            let w = ps * inv;
            for (oj, vj) in o.iter_mut().zip(&a.v[base + s * d..][..d]) {
                *oj = if FMA {
                    w.mul_add(*vj, *oj)
                } else {
                    *oj + w * vj
                };
            }
        }
    }
}

/// [`attend_row`] compiled for AVX2 + FMA (8-wide fused multiply-adds).
///
/// # Safety
/// The CPU must support `avx2` and `fma`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_row_avx2(
    a: &Args<'_>,
    row: usize,
    start: usize,
    len: usize,
    out_row: &mut [f32],
    p: &mut [f32],
) {
    attend_row::<true>(a, row, start, len, out_row, p)
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn slice<'s>(s: &'s CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'s [f32]> {
    if !l.is_contiguous() {
        candle_core::bail!("decode attention: {what} must be contiguous");
    }
    match s {
        CpuStorage::F32(data) => {
            Ok(&data[l.start_offset()..l.start_offset() + l.shape().elem_count()])
        }
        _ => candle_core::bail!("decode attention: {what} must be f32"),
    }
}

impl CustomOp3 for DecodeAttention<'_> {
    fn name(&self) -> &'static str {
        "decode-attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, _, d) = ql.shape().dims4()?;
        let (_, kvh, cap, _) = kl.shape().dims4()?;
        if vl.shape() != kl.shape() || self.len > cap || h % kvh != 0 {
            candle_core::bail!(
                "decode attention: shapes q {:?} k {:?} v {:?} len {}",
                ql.shape(),
                kl.shape(),
                vl.shape(),
                self.len
            );
        }
        let (q, k, v) = (
            slice(qs, ql, "q")?,
            slice(ks, kl, "k")?,
            slice(vs, vl, "v")?,
        );
        let len = self.len;
        let args = Args {
            q,
            k,
            v,
            h,
            kvh,
            cap,
            d,
        };
        let fast = has_avx2_fma();
        let mut out = vec![0f32; b * h * d];
        out.par_chunks_mut(h * d)
            .enumerate()
            .for_each(|(row, out_row)| {
                let start = self.starts[row].min(len);
                let mut p = vec![0f32; len - start];
                #[cfg(target_arch = "x86_64")]
                if fast {
                    // SAFETY: the CPU supports avx2 and fma (checked above).
                    unsafe { attend_row_avx2(&args, row, start, len, out_row, &mut p) };
                    return;
                }
                let _ = fast;
                attend_row::<false>(&args, row, start, len, out_row, &mut p);
            });
        Ok((CpuStorage::F32(out), Shape::from((b, h * d))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{attention, Kernels};
    use candle_core::Device;

    #[test]
    fn matches_masked_matmul_attention() {
        let dev = Device::Cpu;
        let (b, h, kvh, cap, d, len) = (3, 4, 2, 7, 12, 6);
        let vals = |n: usize, seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 7919 + seed) % 201) as f32 - 100.0) / 60.0)
                .collect()
        };
        let q = Tensor::from_vec(vals(b * h * d, 1), (b, h, 1, d), &dev).unwrap();
        let k = Tensor::from_vec(vals(b * kvh * cap * d, 2), (b, kvh, cap, d), &dev).unwrap();
        let v = Tensor::from_vec(vals(b * kvh * cap * d, 3), (b, kvh, cap, d), &dev).unwrap();
        let starts = [0usize, 2, 5];
        let got = decode_attention(&q, &k, &v, &starts, len).unwrap();
        let mask: Vec<f32> = starts
            .iter()
            .flat_map(|&s| (0..len).map(move |j| if j < s { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (b, 1, 1, 1, len), &dev).unwrap();
        let want = attention(
            Kernels::Composite,
            &q,
            &k.narrow(2, 0, len).unwrap(),
            &v.narrow(2, 0, len).unwrap().contiguous().unwrap(),
            Some(&mask),
        )
        .unwrap()
        .reshape((b, h * d))
        .unwrap();
        let diff: f32 = (got - want)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
    }
}
