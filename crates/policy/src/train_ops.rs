//! Fused CPU training ops with their own backward (candle custom ops with `bwd`): RMSNorm,
//! `silu(g) * u` (also on stacked `[g | u]` rows), causal softmax (the mask folded in) and
//! per-token log-prob + entropy over the vocabulary; causal attention (RoPE folded in) has its
//! own file, `causal_attention.rs`. Each replaces a chain of composite ops whose backward
//! made the GRPO step slow (many small kernels, zero-filled gradient buffers, scalar libm `exp`).
//! f32 on the CPU only; callers go through [`Kernels`](crate::kernels::Kernels), which keeps the
//! composite ops as the test oracle and for other dtypes/devices.
//!
//! Work is split in fixed-size row blocks (independent of the thread count), and reductions over
//! rows (the RMSNorm weight gradient) add block partials in block order: results are identical
//! at any number of threads.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use crate::swiglu::exp;

/// Runs `f` compiled for AVX2 + FMA when the CPU has them (vectorised loops, and a hardware
/// `mul_add` in [`exp`] instead of libm's `fmaf`), plainly otherwise.
#[inline(always)]
pub(crate) fn fast<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
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

/// Rows per parallel block (fixed, so that results do not depend on the thread count).
const BLOCK: usize = 64;

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
fn rows_cols(shape: &Shape) -> (usize, usize) {
    let d = shape.dims();
    let cols = d.last().copied().unwrap_or(1);
    (d.iter().rev().skip(1).product(), cols)
}

pub(crate) fn tensor(data: Vec<f32>, shape: &Shape, like: &Tensor) -> candle_core::Result<Tensor> {
    Tensor::from_vec(data, shape.clone(), like.device())
}

// ---------------------------------------------------------------- RMSNorm

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

// ---------------------------------------------------------------- SwiGLU

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

// ---------------------------------------------------------------- causal softmax

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

// ---------------------------------------------------------------- token log-prob + entropy

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
    use candle_core::{Device, Tensor, Var};

    use crate::config::ModelConfig;
    use crate::kernels::tests::{max_abs, randn};
    use crate::kernels::Kernels;
    use crate::lora::Adapter;
    use crate::model::Model;

    /// Tolerance: max |fused - composite| <= TOL * max |composite| (f32 rounding, vectorised exp).
    const TOL: f32 = 2e-5;

    /// Tolerance of the whole model under LoRA: the fused projection merges each pair into its
    /// weight (`x (W + s B A)^T`, the composite sums `x W^T + s (x A^T) B^T`), and the test's
    /// random adapters, 40x the base weights, amplify that rounding (seen: 2e-4). A dropped or
    /// misrouted gradient is off by O(1).
    const LORA_TOL: f32 = 1e-3;

    fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
        assert_within(what, got, want, TOL)
    }

    fn assert_within(what: &str, got: &Tensor, want: &Tensor, tol: f32) {
        assert_eq!(got.dims(), want.dims(), "{what}: shapes");
        let diff = max_abs(&(got - want).unwrap());
        let scale = max_abs(want).max(1e-6);
        assert!(
            diff <= tol * scale,
            "{what}: max diff {diff} vs scale {scale}"
        );
    }

    /// Runs `f` with `Trained` and with `Composite` kernels on fresh `Var`s of `inputs`; compares
    /// the outputs and the gradients of `sum(out * W)` (W random) for every input.
    fn check(name: &str, inputs: &[Tensor], f: impl Fn(Kernels, &[Tensor]) -> Tensor) {
        let run = |k: Kernels| {
            let vars: Vec<Var> = inputs
                .iter()
                .map(|t| Var::from_tensor(t).unwrap())
                .collect();
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let out = f(k, &ts);
            let w = randn(out.dims(), 99, 1.0);
            let grads = (&out * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let g: Vec<Tensor> = vars
                .iter()
                .map(|v| grads.get(v).expect("every input gets a gradient").clone())
                .collect();
            (out, g)
        };
        let (out_f, g_f) = run(Kernels::Trained);
        let (out_c, g_c) = run(Kernels::Composite);
        assert_close(&format!("{name} forward"), &out_f, &out_c);
        for (i, (a, b)) in g_f.iter().zip(&g_c).enumerate() {
            assert_close(&format!("{name} grad {i}"), a, b);
        }
    }

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
    fn causal_attention_matches_composite() {
        // (b, h, kvh, t, d): grouped and plain heads, odd sizes, one position, the smallest head,
        // a row longer than the tiny model's.
        for (i, (b, h, kvh, t, d)) in [
            (2, 4, 2, 7, 8),
            (1, 3, 3, 1, 6),
            (3, 2, 1, 13, 16),
            (1, 8, 4, 20, 2),
            (2, 2, 2, 70, 10),
        ]
        .into_iter()
        .enumerate()
        {
            let heads = crate::causal_attention::Heads { h, kvh, d };
            let qkv = randn(&[b, t, heads.qkv_width()], i as u64, 1.0);
            // Tables need not be rotations for the two paths to agree.
            let cos = randn(&[t, d / 2], 30 + i as u64, 1.0);
            let sin = randn(&[t, d / 2], 40 + i as u64, 1.0);
            check("causal_attention", &[qkv], |kern, x| {
                crate::kernels::causal_attention(kern, &x[0], (&cos, &sin), heads, 0.7).unwrap()
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

    #[test]
    fn results_are_bit_identical_at_one_and_two_threads() {
        let x = randn(&[300, 37], 1, 1.0);
        let w = randn(&[37], 2, 1.0);
        let run = |threads: usize| -> Vec<Vec<f32>> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (xv, wv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
                let y = Kernels::Trained
                    .rms_norm(xv.as_tensor(), wv.as_tensor(), 1e-5)
                    .unwrap();
                let s = Kernels::Trained
                    .causal_softmax(&y.reshape((3, 100, 37)).unwrap().narrow(1, 0, 37).unwrap())
                    .unwrap();
                // Attention on y's first 32 columns as q | k | v rows: 2 heads, 1 kv head of 8.
                let heads = crate::causal_attention::Heads { h: 2, kvh: 1, d: 8 };
                let (cos, sin) = (randn(&[100, 4], 6, 1.0), randn(&[100, 4], 7, 1.0));
                let att = crate::kernels::causal_attention(
                    Kernels::Trained,
                    &y.narrow(1, 0, 32).unwrap().reshape((3, 100, 32)).unwrap(),
                    (&cos, &sin),
                    heads,
                    0.5,
                )
                .unwrap();
                // A LoRA projection of y's rows (37 -> 5, rank 3) on a frozen base.
                let av = Var::from_tensor(&randn(&[3, 37], 3, 1.0)).unwrap();
                let (base, b) = (randn(&[5, 37], 4, 1.0), randn(&[5, 3], 5, 1.0));
                let ll =
                    crate::lora_linear::lora_linear(&y, &base, av.as_tensor(), &b, 0.5).unwrap();
                // A dense projection with a trained weight (its gradient splits the 300 rows).
                let dv = Var::from_tensor(&randn(&[6, 37], 8, 1.0)).unwrap();
                let dn = crate::dense::dense(&y, dv.as_tensor()).unwrap();
                let loss = (s.sqr().unwrap().sum_all().unwrap()
                    + dn.sqr().unwrap().sum_all().unwrap()
                    + y.sum_all().unwrap()
                    + att.sqr().unwrap().sum_all().unwrap()
                    + ll.sqr().unwrap().sum_all().unwrap())
                .unwrap();
                let g = loss.backward().unwrap();
                [
                    g.get(&xv).unwrap(),
                    g.get(&wv).unwrap(),
                    g.get(&av).unwrap(),
                    g.get(&dv).unwrap(),
                    &y,
                ]
                .iter()
                .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect()
            })
        };
        let (one, two) = (run(1), run(2));
        for (a, b) in one.iter().zip(&two) {
            let (a, b): (Vec<u32>, Vec<u32>) = (
                a.iter().map(|v| v.to_bits()).collect(),
                b.iter().map(|v| v.to_bits()).collect(),
            );
            assert_eq!(a, b);
        }
    }

    /// Every trainable tensor of a whole model (GQA, q/k/v biases, untied head) gets the
    /// composite oracle's gradient through the fused path, and the losses agree.
    #[test]
    fn whole_model_gradients_match_the_composite_oracle() {
        whole_model_case(false);
    }

    #[test]
    fn whole_model_lora_gradients_match_the_composite_oracle() {
        whole_model_case(true);
    }

    /// Adapters on some of the projections that share a stacked matmul (q and v, not k; up,
    /// not gate): the block-diagonal branch routes each gradient to its own pair.
    #[test]
    fn whole_model_partial_lora_gradients_match_the_composite_oracle() {
        let targets = ["q_proj", "v_proj", "up_proj"].map(String::from).to_vec();
        whole_model_targets(Some(targets));
    }

    fn whole_model_case(lora: bool) {
        whole_model_targets(lora.then(crate::LoraConfig::all_modules));
    }

    /// Every trainable tensor gets the composite oracle's gradient: all weights, or the
    /// adapter's A/B on the `lora` targets with the base frozen (and then no base gradient).
    fn whole_model_targets(lora: Option<Vec<String>>) {
        let (lora, targets) = (lora.is_some(), lora.unwrap_or_default());
        let config = ModelConfig {
            model_type: "qwen2".into(),
            hidden_size: 32,
            intermediate_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            tie_word_embeddings: false,
            vocab_size: 50,
            max_position_embeddings: 32,
            ..ModelConfig::default()
        };
        let model = Model::init(&config, 3, &Device::Cpu).unwrap();
        let lora_config = crate::LoraConfig {
            r: 3,
            target_modules: targets,
            ..crate::LoraConfig::default()
        };
        let adapter = lora.then(|| Adapter::random(&model, &lora_config, 9).unwrap());
        let trained: Vec<(String, &Var)> = match &adapter {
            Some(a) => a.named_vars(),
            None => model.named_vars(),
        };
        let ids = Tensor::new(
            &[[1u32, 7, 9, 30, 2, 11, 45], [3, 4, 5, 6, 7, 8, 9]],
            &Device::Cpu,
        )
        .unwrap();
        let tg = Tensor::new(
            &[4u32, 8, 0, 49, 12, 13, 14, 1, 2, 3, 5, 6, 7, 8],
            &Device::Cpu,
        )
        .unwrap();
        let run = |k: Kernels| {
            let h = model.hidden_with(k, &ids, adapter.as_ref(), !lora).unwrap();
            let logits = model
                .logits(k, &h, !lora)
                .unwrap()
                .reshape((14, 50))
                .unwrap();
            let both = k.token_logprob(&logits, &tg).unwrap();
            let w = randn(&[14, 2], 5, 1.0);
            let loss = (both * w).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            for (n, v) in model.named_vars() {
                assert!(
                    !lora || grads.get(v).is_none(),
                    "{n}: frozen, yet has a gradient"
                );
            }
            let g: Vec<(String, Tensor)> = trained
                .iter()
                .map(|(n, v)| {
                    let g = grads
                        .get(v)
                        .unwrap_or_else(|| panic!("{n}: no gradient"))
                        .clone();
                    (n.clone(), g)
                })
                .collect();
            (loss.to_scalar::<f32>().unwrap(), g)
        };
        let (lf, gf) = run(Kernels::Trained);
        let (lc, gc) = run(Kernels::Composite);
        assert!(
            (lf - lc).abs() <= 1e-5 * lc.abs().max(1.0),
            "loss {lf} vs {lc}"
        );
        assert_eq!(gf.len(), gc.len());
        let tol = if lora { LORA_TOL } else { TOL };
        for ((n, a), (_, b)) in gf.iter().zip(&gc) {
            assert_within(n, a, b, tol);
        }
    }
}
