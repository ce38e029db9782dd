//! Causal grouped-query self-attention of the training forward as one fused CPU op with its own
//! backward: scores, causal softmax and the weighted sum of values for one batch row at a time,
//! skipping the masked half, reading queries and keys in the heads layout that RoPE writes and
//! values straight from the projection's rows, and writing the rows that `o_proj` reads. The
//! forward keeps the softmax weights for the backward when an input needs a gradient
//! ([`CausalAttention::new`]), and nothing when none does (the reference forward).
//!
//! Shapes: `q (b, h, t, d)` (already scaled by `1/sqrt(d)`), `k (b, kvh, t, d)`,
//! `v (b, t, kvh * d)`; query head `i` uses key/value head `i / (h / kvh)`; out `(b, t, h * d)`.
//! One parallel block = one batch row: results do not depend on the thread count.
//!
//! Key positions go in blocks of eight lanes (keys and values transposed per KV head, zero past
//! `t`), so that scores, `dp`, `dk` and `dv` are whole 8-wide multiply-adds; LLVM vectorises
//! such loops across blocks and leaves the few blocks of a short row scalar, hence the explicit
//! AVX2 lanes of [`Avx2`].

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::swiglu::exp;
use crate::train_ops::{f32s, tensor, with_f32};

/// The fused op; see the module docs for shapes.
pub(crate) struct CausalAttention {
    /// Keep the softmax weights for the backward.
    keep: bool,
    /// `(b, h, t, blocks * 8)` softmax weights of the forward, when kept (0 past each causal
    /// row); the backward recomputes them when empty.
    probs: Mutex<Vec<f32>>,
}

impl CausalAttention {
    /// The op for one call; `keep`: whether a backward will follow.
    pub(crate) fn new(keep: bool) -> Self {
        Self {
            keep,
            probs: Mutex::new(Vec::new()),
        }
    }
}

/// Eight positions (or eight of a head's `d` entries).
type Lanes = [f32; 8];

/// The vector ops the kernels need, on eight lanes.
trait Simd: Copy {
    /// Eight lanes in a register.
    type V: Copy;
    fn zero(self) -> Self::V;
    /// `x[..8]`.
    fn load(self, x: &[f32]) -> Self::V;
    /// Into `y[..8]`.
    fn store(self, v: Self::V, y: &mut [f32]);
    /// `acc + a * x`.
    fn fmadd(self, a: f32, x: Self::V, acc: Self::V) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;

    /// `y[..8] += a * x[..8]`.
    #[inline(always)]
    fn fma8(self, y: &mut [f32], a: f32, x: &[f32]) {
        let r = self.fmadd(a, self.load(x), self.load(y));
        self.store(r, y);
    }
}

/// Plain Rust (any CPU).
#[derive(Clone, Copy)]
struct Plain;

impl Simd for Plain {
    type V = Lanes;

    #[inline(always)]
    fn zero(self) -> Lanes {
        [0.0; 8]
    }

    #[inline(always)]
    fn load(self, x: &[f32]) -> Lanes {
        let mut v = [0.0; 8];
        v.copy_from_slice(&x[..8]);
        v
    }

    #[inline(always)]
    fn store(self, v: Lanes, y: &mut [f32]) {
        y[..8].copy_from_slice(&v);
    }

    #[inline(always)]
    fn fmadd(self, a: f32, x: Lanes, mut acc: Lanes) -> Lanes {
        for (acc, x) in acc.iter_mut().zip(x) {
            *acc += a * x;
        }
        acc
    }

    #[inline(always)]
    fn add(self, mut a: Lanes, b: Lanes) -> Lanes {
        for (a, b) in a.iter_mut().zip(b) {
            *a += b;
        }
        a
    }
}

/// AVX2 + FMA; only made by [`Avx2::detect`].
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    fn detect() -> Option<Self> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Avx2(()))
    }
}

// SAFETY (every block below): an `Avx2` exists only where the CPU has avx2 and fma, and the
// slices are cut to 8 lanes first (a short slice panics before any pointer is read).
#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    type V = std::arch::x86_64::__m256;

    #[inline(always)]
    fn zero(self) -> Self::V {
        unsafe { std::arch::x86_64::_mm256_setzero_ps() }
    }

    #[inline(always)]
    fn load(self, x: &[f32]) -> Self::V {
        let x = &x[..8];
        unsafe { std::arch::x86_64::_mm256_loadu_ps(x.as_ptr()) }
    }

    #[inline(always)]
    fn store(self, v: Self::V, y: &mut [f32]) {
        let y = &mut y[..8];
        unsafe { std::arch::x86_64::_mm256_storeu_ps(y.as_mut_ptr(), v) }
    }

    #[inline(always)]
    fn fmadd(self, a: f32, x: Self::V, acc: Self::V) -> Self::V {
        use std::arch::x86_64::*;
        unsafe { _mm256_fmadd_ps(_mm256_set1_ps(a), x, acc) }
    }

    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        unsafe { std::arch::x86_64::_mm256_add_ps(a, b) }
    }
}

/// `out[..8C] = sum_j w_j x_j[..8C]` with the sum in registers (two interleaved chains).
#[inline(always)]
fn weighted_sum_lanes<'a, S: Simd, const C: usize>(
    s: S,
    w: &[f32],
    x: impl Fn(usize) -> &'a [f32],
    out: &mut [f32],
) {
    let (mut even, mut odd) = ([s.zero(); C], [s.zero(); C]);
    for j in 0..w.len() / 2 {
        let (x0, x1) = (x(2 * j), x(2 * j + 1));
        for c in 0..C {
            even[c] = s.fmadd(w[2 * j], s.load(&x0[8 * c..]), even[c]);
            odd[c] = s.fmadd(w[2 * j + 1], s.load(&x1[8 * c..]), odd[c]);
        }
    }
    if w.len() % 2 == 1 {
        let (j, xl) = (w.len() - 1, x(w.len() - 1));
        for c in 0..C {
            even[c] = s.fmadd(w[j], s.load(&xl[8 * c..]), even[c]);
        }
    }
    let mut lanes = [0f32; 8];
    for c in 0..C {
        s.store(even[c], &mut out[8 * c..]);
        s.store(odd[c], &mut lanes);
        for (o, l) in out[8 * c..][..8].iter_mut().zip(lanes) {
            *o += l;
        }
    }
}

/// `out = sum_j w_j x_j` over a head's `d` entries (`out` is overwritten).
#[inline(always)]
fn weighted_sum<'a, S: Simd>(s: S, w: &[f32], x: impl Fn(usize) -> &'a [f32], out: &mut [f32]) {
    match out.len() {
        8 => weighted_sum_lanes::<S, 1>(s, w, x, out),
        16 => weighted_sum_lanes::<S, 2>(s, w, x, out),
        32 => weighted_sum_lanes::<S, 4>(s, w, x, out),
        64 => weighted_sum_lanes::<S, 8>(s, w, x, out),
        128 => weighted_sum_lanes::<S, 16>(s, w, x, out),
        _ => {
            out.fill(0.0);
            for (j, &wj) in w.iter().enumerate() {
                for (o, &xv) in out.iter_mut().zip(x(j)) {
                    *o += wj * xv;
                }
            }
        }
    }
}

/// Kept softmax weights per batch row: `(h, t, blocks * 8)`.
fn kept_per_row(h: usize, t: usize) -> usize {
    h * t * t.div_ceil(8) * 8
}

/// `(b, h, kvh, t, d)` from the three input shapes.
fn dims(
    q: &Shape,
    k: &Shape,
    v: &Shape,
) -> candle_core::Result<(usize, usize, usize, usize, usize)> {
    let (b, h, t, d) = q.dims4()?;
    let (kb, kvh, kt, kd) = k.dims4()?;
    let (vb, vt, vn) = v.dims3()?;
    if kb != b
        || kt != t
        || kd != d
        || vb != b
        || vt != t
        || vn != kvh * d
        || kvh == 0
        || h % kvh != 0
    {
        candle_core::bail!("causal_attention: shapes q {q:?}, k {k:?}, v {v:?}");
    }
    Ok((b, h, kvh, t, d))
}

/// One batch row's inputs and shapes.
struct Row<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    h: usize,
    kvh: usize,
    t: usize,
    d: usize,
}

impl Row<'_> {
    /// Batch row `bi` of the whole inputs.
    fn new<'a>(
        q: &'a [f32],
        k: &'a [f32],
        v: &'a [f32],
        bi: usize,
        dims: (usize, usize, usize, usize),
    ) -> Row<'a> {
        let (h, kvh, t, d) = dims;
        Row {
            q: &q[bi * h * t * d..][..h * t * d],
            k: &k[bi * kvh * t * d..][..kvh * t * d],
            v: &v[bi * t * kvh * d..][..t * kvh * d],
            h,
            kvh,
            t,
            d,
        }
    }

    /// Blocks of eight positions covering `t`.
    fn blocks(&self) -> usize {
        self.t.div_ceil(8)
    }

    /// Query `i` of head `hh`.
    fn query(&self, hh: usize, i: usize) -> &[f32] {
        &self.q[(hh * self.t + i) * self.d..][..self.d]
    }

    /// Key `j` of KV head `g`.
    fn key(&self, g: usize, j: usize) -> &[f32] {
        &self.k[(g * self.t + j) * self.d..][..self.d]
    }

    /// Value `j` of KV head `g`.
    fn value(&self, g: usize, j: usize) -> &[f32] {
        &self.v[(j * self.kvh + g) * self.d..][..self.d]
    }

    /// KV head `g`'s keys (or values) transposed to `d` rows of position blocks:
    /// `out[(c * blocks + j / 8) * 8 + j % 8] = x_j[c]`, zero past `t`.
    fn transposed(&self, g: usize, values: bool, out: &mut [f32]) {
        let nb = self.blocks();
        out.fill(0.0);
        for j in 0..self.t {
            let x = if values {
                self.value(g, j)
            } else {
                self.key(g, j)
            };
            for (c, &x) in x.iter().enumerate() {
                out[c * nb * 8 + j] = x;
            }
        }
    }

    /// `out[j] = sum_c x[c] * xt[c][j]` over the blocks that cover positions `0..n`: four,
    /// two or one block at a time, summed over `c` in registers.
    #[inline(always)]
    fn dots<S: Simd>(&self, s: S, x: &[f32], xt: &[f32], n: usize, out: &mut [f32]) {
        let (stride, used) = (self.blocks() * 8, n.div_ceil(8));
        let mut blk = 0;
        while blk + 4 <= used {
            dot_blocks::<S, 4, 2>(s, x, &xt[blk * 8..], stride, &mut out[blk * 8..]);
            blk += 4;
        }
        if blk + 2 <= used {
            dot_blocks::<S, 2, 4>(s, x, &xt[blk * 8..], stride, &mut out[blk * 8..]);
            blk += 2;
        }
        if blk < used {
            dot_blocks::<S, 1, 8>(s, x, &xt[blk * 8..], stride, &mut out[blk * 8..]);
        }
    }

    /// Softmax weights of query `q` over keys `0..n` into `p` (exactly 0 from `n` to the end
    /// of its block), from the transposed keys `kt`.
    #[inline(always)]
    fn probs<S: Simd>(&self, s: S, q: &[f32], kt: &[f32], n: usize, p: &mut [f32]) {
        self.dots(s, q, kt, n, p);
        let used = n.div_ceil(8) * 8;
        // The max in eight lanes (a scalar fold is one long dependency chain); lanes past `n`
        // are future keys and must not count.
        p[n..used].fill(f32::NEG_INFINITY);
        let mut lanes: Lanes = [f32::NEG_INFINITY; 8];
        for blk in p[..used].chunks_exact(8) {
            for (m, &x) in lanes.iter_mut().zip(blk) {
                *m = m.max(x);
            }
        }
        let m = lanes.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        for x in &mut p[..used] {
            *x = exp(*x - m);
        }
        // Lanes past `n` are future keys: out of the softmax.
        p[n..used].fill(0.0);
        let mut sum: Lanes = [0.0; 8];
        for blk in p[..used].chunks_exact(8) {
            for (acc, x) in sum.iter_mut().zip(blk) {
                *acc += x;
            }
        }
        let inv = 1.0 / sum.iter().sum::<f32>();
        for x in &mut p[..used] {
            *x *= inv;
        }
    }
}

/// `M` blocks of [`Row::dots`]: `out[l] = sum_c x[c] * xt[c * stride + l]`, `l < 8M`, with
/// `c` split over `K` interleaved sums per block so that `M * K` (8) multiply-adds are in flight:
/// one chain over all of `c` waits on the FMA latency at every step.
#[inline(always)]
fn dot_blocks<S: Simd, const M: usize, const K: usize>(
    s: S,
    x: &[f32],
    xt: &[f32],
    stride: usize,
    out: &mut [f32],
) {
    let mut acc = [[s.zero(); M]; K];
    let whole = x.len() / K * K;
    for c0 in (0..whole).step_by(K) {
        for (k, acc) in acc.iter_mut().enumerate() {
            let (xc, row) = (x[c0 + k], &xt[(c0 + k) * stride..]);
            for (m, a) in acc.iter_mut().enumerate() {
                *a = s.fmadd(xc, s.load(&row[8 * m..]), *a);
            }
        }
    }
    for c in whole..x.len() {
        let row = &xt[c * stride..];
        for (m, a) in acc[0].iter_mut().enumerate() {
            *a = s.fmadd(x[c], s.load(&row[8 * m..]), *a);
        }
    }
    // Sum the K partials of each block in registers (a pairwise tree), then store.
    let mut width = K;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            let upper = acc[k + width];
            for (a, b) in acc[k].iter_mut().zip(upper) {
                *a = s.add(*a, b);
            }
        }
    }
    for (m, a) in acc[0].iter().enumerate() {
        s.store(*a, &mut out[8 * m..]);
    }
}

/// Attention output rows `(t, h * d)` of one batch row; the softmax weights go to `keep`
/// (`(h, t, blocks * 8)`) when it is not empty.
#[inline(always)]
fn forward_row<S: Simd>(s: S, row: &Row<'_>, out: &mut [f32], keep: &mut [f32]) {
    let (h, kvh, t, d, nb) = (row.h, row.kvh, row.t, row.d, row.blocks());
    let (rep, stride) = (h / kvh, nb * 8);
    let (mut kt, mut scratch) = (vec![0f32; d * stride], vec![0f32; stride]);
    for g in 0..kvh {
        row.transposed(g, false, &mut kt);
        for hh in g * rep..(g + 1) * rep {
            for i in 0..t {
                let p = if keep.is_empty() {
                    &mut scratch[..]
                } else {
                    &mut keep[(hh * t + i) * stride..][..stride]
                };
                row.probs(s, row.query(hh, i), &kt, i + 1, p);
                let o = &mut out[(i * h + hh) * d..][..d];
                weighted_sum(s, &p[..=i], |j| row.value(g, j), o);
            }
        }
    }
}

/// Gradients of one batch row: `p` = softmax(scores), `dp_j = dO_i . v_j`,
/// `ds_j = p_j (dp_j - sum_j p_j dp_j)`; `dq_i = sum_j ds_j k_j`, `dk_j += ds_j q_i`,
/// `dv_j += p_j dO_i` (keys and values accumulated transposed, over the `rep` heads sharing them).
#[inline(always)]
fn backward_row<S: Simd>(
    s: S,
    row: &Row<'_>,
    kept: &[f32],
    g: &[f32],
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    let (h, kvh, t, d, nb) = (row.h, row.kvh, row.t, row.d, row.blocks());
    let (rep, stride) = (h / kvh, nb * 8);
    let kt_len = if kept.is_empty() { d * stride } else { 0 };
    let (mut kt, mut vt) = (vec![0f32; kt_len], vec![0f32; d * stride]);
    let (mut dkt, mut dvt) = (vec![0f32; d * stride], vec![0f32; d * stride]);
    let (mut p, mut ds) = (vec![0f32; stride], vec![0f32; stride]);
    for kv in 0..kvh {
        if kept.is_empty() {
            row.transposed(kv, false, &mut kt);
        }
        row.transposed(kv, true, &mut vt);
        dkt.fill(0.0);
        dvt.fill(0.0);
        for hh in kv * rep..(kv + 1) * rep {
            for i in 0..t {
                let (n, used) = (i + 1, (i + 1).div_ceil(8) * 8);
                let qi = row.query(hh, i);
                let p = if kept.is_empty() {
                    row.probs(s, qi, &kt, n, &mut p);
                    &p[..]
                } else {
                    &kept[(hh * t + i) * stride..][..stride]
                };
                let doi = &g[(i * h + hh) * d..][..d];
                row.dots(s, doi, &vt, n, &mut ds);
                let (p, ds) = (&p[..used], &mut ds[..used]);
                let mut dot: Lanes = [0.0; 8];
                for (pb, db) in p.chunks_exact(8).zip(ds.chunks_exact(8)) {
                    for l in 0..8 {
                        dot[l] += pb[l] * db[l];
                    }
                }
                let dot: f32 = dot.iter().sum();
                // p is 0 past n, so ds is too.
                for (x, &pj) in ds.iter_mut().zip(p) {
                    *x = pj * (*x - dot);
                }
                let dqi = &mut dq[(hh * t + i) * d..][..d];
                weighted_sum(s, &ds[..n], |j| row.key(kv, j), dqi);
                for c in 0..d {
                    let dkc = &mut dkt[c * stride..][..used];
                    for (acc, x) in dkc.chunks_exact_mut(8).zip(ds.chunks_exact(8)) {
                        s.fma8(acc, qi[c], x);
                    }
                    let dvc = &mut dvt[c * stride..][..used];
                    for (acc, x) in dvc.chunks_exact_mut(8).zip(p.chunks_exact(8)) {
                        s.fma8(acc, doi[c], x);
                    }
                }
            }
        }
        for j in 0..t {
            let dkj = &mut dk[(kv * t + j) * d..][..d];
            let dvj = &mut dv[(j * kvh + kv) * d..][..d];
            for c in 0..d {
                dkj[c] = dkt[c * stride + j];
                dvj[c] = dvt[c * stride + j];
            }
        }
    }
}

/// [`forward_row`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support `avx2` and `fma` (an [`Avx2`] is the proof).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_row_avx2(s: Avx2, row: &Row<'_>, out: &mut [f32], keep: &mut [f32]) {
    forward_row(s, row, out, keep)
}

/// [`backward_row`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support `avx2` and `fma` (an [`Avx2`] is the proof).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_row_avx2(
    s: Avx2,
    row: &Row<'_>,
    kept: &[f32],
    g: &[f32],
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    backward_row(s, row, kept, g, dq, dk, dv)
}

impl CustomOp3 for CausalAttention {
    fn name(&self) -> &'static str {
        "causal_attention"
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
        let (b, h, kvh, t, d) = dims(ql.shape(), kl.shape(), vl.shape())?;
        let op = "causal_attention";
        let (q, k, v) = (f32s(qs, ql, op)?, f32s(ks, kl, op)?, f32s(vs, vl, op)?);
        let mut out = vec![0f32; b * t * h * d];
        let per_row = kept_per_row(h, t);
        let mut probs = vec![0f32; if self.keep { b * per_row } else { 0 }];
        // A chunk per batch row: empty ones when nothing is kept.
        let keep_chunks: Vec<&mut [f32]> = if self.keep {
            probs.chunks_mut(per_row.max(1)).collect()
        } else {
            (0..b).map(|_| <&mut [f32]>::default()).collect()
        };
        out.par_chunks_mut((t * h * d).max(1))
            .zip(keep_chunks)
            .enumerate()
            .for_each(|(bi, (out, keep))| {
                let row = Row::new(q, k, v, bi, (h, kvh, t, d));
                #[cfg(target_arch = "x86_64")]
                if let Some(s) = Avx2::detect() {
                    // SAFETY: `s` proves avx2 and fma.
                    return unsafe { forward_row_avx2(s, &row, out, keep) };
                }
                forward_row(Plain, &row, out, keep)
            });
        if self.keep {
            *self.probs.lock().unwrap_or_else(|e| e.into_inner()) = probs;
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, h * d))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, h, kvh, t, d) = dims(q.shape(), k.shape(), v.shape())?;
        let op = "causal_attention";
        let (mut dq, mut dk, mut dv) = (
            vec![0f32; b * h * t * d],
            vec![0f32; b * kvh * t * d],
            vec![0f32; b * t * kvh * d],
        );
        let kept = self.probs.lock().unwrap_or_else(|e| e.into_inner());
        let per_row = kept_per_row(h, t);
        if !kept.is_empty() && kept.len() != b * per_row {
            candle_core::bail!("causal_attention: kept weights do not match the shapes");
        }
        with_f32(q, op, |q| {
            with_f32(k, op, |k| {
                with_f32(v, op, |v| {
                    with_f32(grad, op, |g| {
                        dq.par_chunks_mut((h * t * d).max(1))
                            .zip(dk.par_chunks_mut((kvh * t * d).max(1)))
                            .zip(dv.par_chunks_mut((t * kvh * d).max(1)))
                            .enumerate()
                            .for_each(|(bi, ((dq, dk), dv))| {
                                let row = Row::new(q, k, v, bi, (h, kvh, t, d));
                                let g = &g[bi * t * h * d..][..t * h * d];
                                let kept = match kept.is_empty() {
                                    true => &[][..],
                                    false => &kept[bi * per_row..][..per_row],
                                };
                                #[cfg(target_arch = "x86_64")]
                                if let Some(s) = Avx2::detect() {
                                    // SAFETY: `s` proves avx2 and fma.
                                    return unsafe {
                                        backward_row_avx2(s, &row, kept, g, dq, dk, dv)
                                    };
                                }
                                backward_row(Plain, &row, kept, g, dq, dk, dv)
                            });
                        Ok(())
                    })
                })
            })
        })?;
        Ok((
            Some(tensor(dq, q.shape(), q)?),
            Some(tensor(dk, k.shape(), k)?),
            Some(tensor(dv, v.shape(), v)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::CausalAttention;

    /// The backward that recomputes the softmax (nothing kept) gives the gradients of the one
    /// that reads the kept weights, bit for bit.
    #[test]
    fn recomputed_and_kept_weights_give_the_same_gradients() {
        let dev = Device::Cpu;
        let (b, h, kvh, t, d) = (2, 4, 2, 11, 16);
        let var = |shape: &[usize], seed: f32| {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37 + seed).sin()).collect();
            Var::from_tensor(&Tensor::from_vec(data, shape, &dev).unwrap()).unwrap()
        };
        let (q, k, v) = (
            var(&[b, h, t, d], 0.1),
            var(&[b, kvh, t, d], 0.2),
            var(&[b, t, kvh * d], 0.3),
        );
        let w = var(&[b, t, h * d], 0.4);
        let grads = |keep: bool| -> Vec<Vec<f32>> {
            let out = q
                .as_tensor()
                .apply_op3(k.as_tensor(), v.as_tensor(), CausalAttention::new(keep))
                .unwrap();
            let g = (out * w.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            [&q, &k, &v]
                .iter()
                .map(|x| g.get(x).unwrap().flatten_all().unwrap().to_vec1().unwrap())
                .collect()
        };
        assert_eq!(grads(true), grads(false));
    }
}
