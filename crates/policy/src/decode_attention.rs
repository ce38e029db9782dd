//! One-query attention over a [`DecodeCache`](crate::kv_cache::DecodeCache) as a single fused
//! CPU op (no backward: sampling only); off the CPU, or outside f32, the same attention from
//! candle ops (gather, concatenate, masked softmax), which any device runs.
//!
//! Row `b` of prompt `i = row_prompt[b]`, query head `h` (KV head `h / (heads / kvh)`) attends to its
//! prompt's prefix slots `starts[i] .. P` and to its own generated slots `0 .. len`:
//! `out[b, h] = sum_s softmax_s(q . k_s) v_s` (q already scaled by `1/sqrt(d)`).
//! Replaces two batched matmuls of `b * h` tiny products, a mask add, a softmax and a
//! transpose copy per layer and step: candle dispatches gemm once per batch item, which cost
//! more than the arithmetic at these shapes.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::{Error, Result};

struct DecodeAttention<'a> {
    starts: &'a [usize],
    row_prompt: &'a [usize],
    len: usize,
}

/// `q (rows, h, 1, d)`, `prefix (prompts, 2, kvh, P, d)`, `generated (rows, 2, kvh, cap, d)`,
/// all contiguous; row `r` belongs to prompt `row_prompt[r]`; `len` generated slots are valid.
/// Returns `(rows, h * d)`.
pub(crate) fn decode_attention(
    q: &Tensor,
    prefix: &Tensor,
    generated: &Tensor,
    starts: &[usize],
    row_prompt: &[usize],
    len: usize,
) -> Result<Tensor> {
    if q.device().is_cpu() && q.dtype() == candle_core::DType::F32 {
        fused(q, prefix, generated, starts, row_prompt, len)
    } else {
        composite(q, prefix, generated, starts, row_prompt, len)
    }
}

/// The fused CPU op.
fn fused(
    q: &Tensor,
    prefix: &Tensor,
    generated: &Tensor,
    starts: &[usize],
    row_prompt: &[usize],
    len: usize,
) -> Result<Tensor> {
    let (b, _, t, _) = q.dims4()?;
    if t != 1 || row_prompt.len() != b || row_prompt.iter().any(|&p| p >= starts.len()) {
        return Err(Error::OpShape {
            op: "decode attention",
            shape: q.dims().to_vec(),
            need: format!(
                "1 query and {b} row prompts below {} prompts, got {t} queries and {} row prompts",
                starts.len(),
                row_prompt.len()
            ),
        });
    }
    Ok(q.apply_op3_no_bwd(
        prefix,
        generated,
        &DecodeAttention {
            starts,
            row_prompt,
            len,
        },
    )?)
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
    prefix: &'a [f32],
    generated: &'a [f32],
    h: usize,
    kvh: usize,
    /// Prefix slots (P) and generated capacity.
    p: usize,
    cap: usize,
    d: usize,
}

impl Args<'_> {
    /// What KV head `kv` of batch row `row` (of prompt `prompt`) attends to: the prompt's prefix
    /// keys and values `(P, d)`, then the row's generated keys and values `(cap, d)`.
    #[inline(always)]
    fn kv_blocks(&self, row: usize, prompt: usize, kv: usize) -> [&[f32]; 4] {
        let (kvh, d, p, cap) = (self.kvh, self.d, self.p, self.cap);
        [
            &self.prefix[(prompt * 2 * kvh + kv) * p * d..][..p * d],
            &self.prefix[(prompt * 2 * kvh + kvh + kv) * p * d..][..p * d],
            &self.generated[(row * 2 * kvh + kv) * cap * d..][..cap * d],
            &self.generated[(row * 2 * kvh + kvh + kv) * cap * d..][..cap * d],
        ]
    }
}

/// Attends `o += sum_s w_s v_s` over `slots` of the `(slots, d)` blocks `k`, `v`, given the
/// running softmax max; returns nothing, weights go to `w`.
#[inline(always)]
fn scores<const FMA: bool>(
    qv: &[f32],
    k: &[f32],
    slots: std::ops::Range<usize>,
    d: usize,
    w: &mut [f32],
    max: &mut f32,
) {
    for (s, ws) in slots.zip(w.iter_mut()) {
        *ws = dot::<FMA>(qv, &k[s * d..][..d]);
        *max = max.max(*ws);
    }
}

#[inline(always)]
fn accumulate<const FMA: bool>(
    o: &mut [f32],
    v: &[f32],
    slots: std::ops::Range<usize>,
    d: usize,
    w: &[f32],
    inv: f32,
) {
    for (s, &ws) in slots.zip(w.iter()) {
        let x = ws * inv;
        for (oj, vj) in o.iter_mut().zip(&v[s * d..][..d]) {
            *oj = if FMA {
                x.mul_add(*vj, *oj)
            } else {
                *oj + x * vj
            };
        }
    }
}

/// All heads of one row; `w` is scratch for the slot weights.
#[inline(always)]
fn attend_row<const FMA: bool>(
    a: &Args<'_>,
    row: usize,
    start: usize,
    prompt: usize,
    len: usize,
    out_row: &mut [f32],
    w: &mut [f32],
) {
    let (h, d, kvh) = (a.h, a.d, a.kvh);
    let rep = h / kvh;
    let n_prefix = a.p - start;
    for (i, o) in out_row.chunks_exact_mut(d).enumerate() {
        let kv = i / rep;
        let qv = &a.q[(row * h + i) * d..][..d];
        let [pk, pv, gk, gv] = a.kv_blocks(row, prompt, kv);
        let (wp, wg) = w.split_at_mut(n_prefix);
        let mut max = f32::NEG_INFINITY;
        scores::<FMA>(qv, pk, start..a.p, d, wp, &mut max);
        scores::<FMA>(qv, gk, 0..len, d, wg, &mut max);
        let mut sum = 0f32;
        for ws in w.iter_mut() {
            *ws = (*ws - max).exp();
            sum += *ws;
        }
        let inv = 1.0 / sum;
        let (wp, wg) = w.split_at(n_prefix);
        accumulate::<FMA>(o, pv, start..a.p, d, wp, inv);
        accumulate::<FMA>(o, gv, 0..len, d, wg, inv);
    }
}

/// [`attend_row`] compiled for AVX2 + FMA (8-wide fused multiply-adds); head sizes that are a
/// multiple of 8 (up to 128) take [`simd::attend_row`].
///
/// # Safety
/// The CPU must support `avx2` and `fma`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_row_avx2(
    a: &Args<'_>,
    row: usize,
    start: usize,
    prompt: usize,
    len: usize,
    out_row: &mut [f32],
    w: &mut [f32],
) {
    // SAFETY (all arms): the caller guarantees avx2 + fma; `simd::attend_row` checks bounds.
    match a.d {
        8 => simd::attend_row::<1>(a, row, start, prompt, len, out_row, w),
        16 => simd::attend_row::<2>(a, row, start, prompt, len, out_row, w),
        32 => simd::attend_row::<4>(a, row, start, prompt, len, out_row, w),
        64 => simd::attend_row::<8>(a, row, start, prompt, len, out_row, w),
        128 => simd::attend_row::<16>(a, row, start, prompt, len, out_row, w),
        _ => attend_row::<true>(a, row, start, prompt, len, out_row, w),
    }
}

/// AVX2 kernels for a head size of `8 * C`: a query and an output row live in `C` registers.
/// Scores go 8 slots at a time (8 accumulators, then one transpose-and-add), `exp` is the
/// vectorisable polynomial, and the weighted sum keeps the output in registers.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    use super::Args;

    /// `q . k_s` for the `(slots, 8C)` rows `k[slots]` into `w`; returns their max.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn scores<const C: usize>(
        q: &[__m256; C],
        k: &[f32],
        slots: std::ops::Range<usize>,
        w: &mut [f32],
    ) -> f32 {
        let d = 8 * C;
        let n = slots.len();
        assert!(k.len() >= slots.end * d && w.len() >= n);
        let base = k.as_ptr().add(slots.start * d);
        let mut vmax = _mm256_set1_ps(f32::NEG_INFINITY);
        let mut i = 0;
        while i + 8 <= n {
            let mut acc = [_mm256_setzero_ps(); 8];
            for (s, a) in acc.iter_mut().enumerate() {
                let row = base.add((i + s) * d);
                for (c, qc) in q.iter().enumerate() {
                    *a = _mm256_fmadd_ps(*qc, _mm256_loadu_ps(row.add(8 * c)), *a);
                }
            }
            // Eight horizontal sums at once: after two rounds of pairwise adds each 128-bit
            // half holds four partial sums; adding the halves gives slot i + s in lane s.
            let s01 = _mm256_hadd_ps(acc[0], acc[1]);
            let s23 = _mm256_hadd_ps(acc[2], acc[3]);
            let s45 = _mm256_hadd_ps(acc[4], acc[5]);
            let s67 = _mm256_hadd_ps(acc[6], acc[7]);
            let lo = _mm256_hadd_ps(s01, s23);
            let hi = _mm256_hadd_ps(s45, s67);
            let sums = _mm256_add_ps(
                _mm256_permute2f128_ps(lo, hi, 0x20),
                _mm256_permute2f128_ps(lo, hi, 0x31),
            );
            _mm256_storeu_ps(w.as_mut_ptr().add(i), sums);
            vmax = _mm256_max_ps(vmax, sums);
            i += 8;
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), vmax);
        let mut max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (j, ws) in w.iter_mut().enumerate().take(n).skip(i) {
            let row = base.add(j * d);
            let mut acc = _mm256_setzero_ps();
            for (c, qc) in q.iter().enumerate() {
                acc = _mm256_fmadd_ps(*qc, _mm256_loadu_ps(row.add(8 * c)), acc);
            }
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            *ws = lanes.iter().sum();
            max = max.max(*ws);
        }
        max
    }

    /// `o += sum_s (w_s * inv) v_s` over the `(slots, 8C)` rows `v[slots]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn accumulate<const C: usize>(
        o: &mut [__m256; C],
        v: &[f32],
        slots: std::ops::Range<usize>,
        w: &[f32],
        inv: f32,
    ) {
        let d = 8 * C;
        assert!(v.len() >= slots.end * d && w.len() >= slots.len());
        let base = v.as_ptr().add(slots.start * d);
        for (j, &ws) in w.iter().enumerate().take(slots.len()) {
            let x = _mm256_set1_ps(ws * inv);
            let row = base.add(j * d);
            for (c, oc) in o.iter_mut().enumerate() {
                *oc = _mm256_fmadd_ps(x, _mm256_loadu_ps(row.add(8 * c)), *oc);
            }
        }
    }

    /// `sum(w)` in eight lanes (a plain sequential sum would not vectorise).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sum8(w: &[f32]) -> f32 {
        let mut acc = [0f32; 8];
        let chunks = w.chunks_exact(8);
        let tail: f32 = chunks.remainder().iter().sum();
        for c in chunks {
            for (a, x) in acc.iter_mut().zip(c) {
                *a += x;
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    /// [`super::attend_row`] for head size `8 * C`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn attend_row<const C: usize>(
        a: &Args<'_>,
        row: usize,
        start: usize,
        prompt: usize,
        len: usize,
        out_row: &mut [f32],
        w: &mut [f32],
    ) {
        let (h, d, kvh) = (a.h, a.d, a.kvh);
        assert!(d == 8 * C && out_row.len() == h * d && a.q.len() >= (row + 1) * h * d);
        let rep = h / kvh;
        let n_prefix = a.p - start;
        for (i, out) in out_row.chunks_exact_mut(d).enumerate() {
            let kv = i / rep;
            let qv = a.q.as_ptr().add((row * h + i) * d);
            let q: [__m256; C] = std::array::from_fn(|c| _mm256_loadu_ps(qv.add(8 * c)));
            let [pk, pv, gk, gv] = a.kv_blocks(row, prompt, kv);
            let (wp, wg) = w.split_at_mut(n_prefix);
            let max = scores::<C>(&q, pk, start..a.p, wp).max(scores::<C>(&q, gk, 0..len, wg));
            for ws in w.iter_mut() {
                *ws = crate::cpu::exp(*ws - max);
            }
            let inv = 1.0 / sum8(w);
            let (wp, wg) = w.split_at(n_prefix);
            let mut o = [_mm256_setzero_ps(); C];
            accumulate::<C>(&mut o, pv, start..a.p, wp, inv);
            accumulate::<C>(&mut o, gv, 0..len, wg, inv);
            for (c, oc) in o.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(8 * c), *oc);
            }
        }
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
        let (n, two, kvh, p, _) = kl.shape().dims5()?;
        let (rows, _, _, cap, _) = vl.shape().dims5()?;
        let len = self.len;
        if two != 2
            || self.starts.len() != n
            || rows != b
            || len > cap
            || h % kvh != 0
            || self.starts.iter().any(|&s| s > p)
        {
            candle_core::bail!(
                "decode attention: shapes q {:?} prefix {:?} generated {:?} len {}",
                ql.shape(),
                kl.shape(),
                vl.shape(),
                len
            );
        }
        let (q, prefix, generated) = (
            slice(qs, ql, "q")?,
            slice(ks, kl, "prefix")?,
            slice(vs, vl, "generated")?,
        );
        let args = Args {
            q,
            prefix,
            generated,
            h,
            kvh,
            p,
            cap,
            d,
        };
        let fast = crate::cpu::has_avx2_fma();
        let mut out = vec![0f32; b * h * d];
        out.par_chunks_mut(h * d)
            .enumerate()
            .for_each(|(row, out_row)| {
                let prompt = self.row_prompt[row];
                let start = self.starts[prompt];
                let mut w = vec![0f32; p - start + len];
                #[cfg(target_arch = "x86_64")]
                if fast {
                    // SAFETY: the CPU supports avx2 and fma (checked above).
                    unsafe { attend_row_avx2(&args, row, start, prompt, len, out_row, &mut w) };
                    return;
                }
                let _ = fast;
                attend_row::<false>(&args, row, start, prompt, len, out_row, &mut w);
            });
        Ok((CpuStorage::F32(out), Shape::from((b, h * d))))
    }
}

/// The same attention from candle ops: each row's keys/values are its prompt's prefix slots
/// followed by its generated slots, slots before the prompt's start masked out.
fn composite(
    q: &Tensor,
    prefix: &Tensor,
    generated: &Tensor,
    starts: &[usize],
    row_prompt: &[usize],
    len: usize,
) -> Result<Tensor> {
    use crate::kernels::{attention, Kernels};
    let (b, h, _, d) = q.dims4()?;
    let p = prefix.dim(3)?;
    let dev = q.device();
    let rows: Vec<u32> = row_prompt.iter().map(|&i| i as u32).collect();
    let rows = Tensor::from_vec(rows, b, dev)?;
    let pre = prefix.index_select(&rows, 0)?; // (b, 2, kvh, p, d)
    let all = Tensor::cat(&[&pre, &generated.narrow(3, 0, len)?], 3)?; // (b, 2, kvh, p + len, d)
    let k = all.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?;
    let v = all.narrow(1, 1, 1)?.squeeze(1)?.contiguous()?;
    let mut mask = Vec::with_capacity(b * (p + len));
    for &prompt in row_prompt {
        let start = starts.get(prompt).copied().unwrap_or(0);
        mask.extend((0..p + len).map(|j| if j < start { f32::NEG_INFINITY } else { 0.0 }));
    }
    let mask = Tensor::from_vec(mask, (b, 1, 1, 1, p + len), dev)?.to_dtype(q.dtype())?;
    Ok(attention(Kernels::Fused, q, &k, &v, Some(&mask))?.reshape((b, h * d))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::max_diff;
    use crate::kernels::{attention, Kernels};
    use candle_core::Device;

    /// The fused op against the composite one and the training path's masked attention, for
    /// `n` prompts x `g` rows, `h` query heads over `kvh` KV heads of size `d`, `p` prefix slots
    /// (prompt `i` starting at `starts[i]`) and `len` of `cap` generated slots.
    #[allow(clippy::too_many_arguments)]
    fn check(
        n: usize,
        g: usize,
        h: usize,
        kvh: usize,
        p: usize,
        cap: usize,
        d: usize,
        len: usize,
        starts: &[usize],
    ) {
        let dev = Device::Cpu;
        let b = n * g;
        let row_prompt: Vec<usize> = (0..b).map(|r| r / g).collect();
        let vals = |m: usize, seed: usize| -> Vec<f32> {
            (0..m)
                .map(|i| (((i * 7919 + seed) % 201) as f32 - 100.0) / 60.0)
                .collect()
        };
        let q = Tensor::from_vec(vals(b * h * d, 1), (b, h, 1, d), &dev).unwrap();
        let prefix =
            Tensor::from_vec(vals(n * 2 * kvh * p * d, 2), (n, 2, kvh, p, d), &dev).unwrap();
        let generated =
            Tensor::from_vec(vals(b * 2 * kvh * cap * d, 3), (b, 2, kvh, cap, d), &dev).unwrap();
        let got = decode_attention(&q, &prefix, &generated, starts, &row_prompt, len).unwrap();
        // The composite path (what other devices run) is the oracle.
        let want = composite(&q, &prefix, &generated, starts, &row_prompt, len).unwrap();
        // ... and it is the masked matmul attention of the training path.
        let rows: Vec<u32> = row_prompt.iter().map(|&i| i as u32).collect();
        let rows = Tensor::new(rows.as_slice(), &dev).unwrap();
        let all = Tensor::cat(
            &[
                &prefix.index_select(&rows, 0).unwrap(),
                &generated.narrow(3, 0, len).unwrap(),
            ],
            3,
        )
        .unwrap();
        let kv = |i| {
            all.narrow(1, i, 1)
                .unwrap()
                .squeeze(1)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let mask: Vec<f32> = (0..b)
            .flat_map(|r| {
                (0..p + len).map(move |j| {
                    if j < starts[r / g] {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        let mask = Tensor::from_vec(mask, (b, 1, 1, 1, p + len), &dev).unwrap();
        let reference = attention(Kernels::Composite, &q, &kv(0), &kv(1), Some(&mask))
            .unwrap()
            .reshape((b, h * d))
            .unwrap();
        assert!(max_diff(&want, &reference) < 1e-6);
        let diff = max_diff(&got, &want);
        assert!(diff < 1e-5, "d {d}, p {p}, len {len}: {diff}");
    }

    #[test]
    fn matches_masked_matmul_attention() {
        // 2 prompts x G = 2 rows, 4 query heads over 2 KV heads, prefix 5 slots, 3 generated;
        // a head size of 12 takes the generic kernel.
        check(2, 2, 4, 2, 5, 4, 12, 3, &[0, 3]);
    }

    #[test]
    fn simd_head_sizes_match_with_block_tails() {
        // Head sizes 8..128 take the AVX2 kernels where the CPU has them: slot counts below,
        // at and past a block of 8 (prefix 13 from slot 0 or 6, up to 19 generated).
        for d in [8, 16, 32, 64, 128] {
            for len in [0, 1, 8, 19] {
                check(3, 2, 4, 2, 13, 20, d, len, &[0, 6, 12]);
            }
        }
        // No grouping (one query head per KV head), one row per prompt.
        check(2, 1, 3, 3, 9, 9, 16, 9, &[1, 0]);
    }
}
