//! Causal grouped-query self-attention of the training forward, RoPE folded in, as one fused CPU
//! op with its own backward. It reads the stacked `q | k | v` projection rows as they come out of
//! their one matmul and writes the rows that `o_proj` reads; its backward writes the gradient of
//! those stacked rows, so the projection's backward is one matmul too.
//!
//! Per batch row, RoPE (and q's `1/sqrt(d)`) turns the row's queries and keys into per-head
//! scratch; per query head the rest is small matrix products read in place (gemm on one thread,
//! through strides; values are columns of the input rows) around a causal softmax:
//! `S = Q K^T`, `P = softmax(S)` over keys `j <= i`, `O = P V`. Backward: `dP = dO V^T`,
//! `dS = P (dP - rowsum(P dP))`, `dQ = dS K`, `dK += dS^T Q`, `dV += P^T dO` (summed over the
//! query heads that share a KV head), then the inverse rotation into the rows. The products run
//! over the whole `t x t` square (the masked half is zero in `P` and `dS`): at these sizes
//! gemm's speed is worth more than the skipped half. The forward keeps `P` for the backward
//! when the input needs a gradient, and nothing when it does not (the reference forward); the
//! backward recomputes it when nothing was kept.
//!
//! Shapes: `qkv (b, t, (h + 2 kvh) d)`, query head `i` using key/value head `i / (h / kvh)`;
//! RoPE tables `(>= t, d / 2)` in Hugging Face's rotate-half layout, position = the `t` index;
//! out `(b, t, h d)`. One parallel block = one batch row: results do not depend on the thread
//! count.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu::{exp, f32s, fast, tensor, with_f32};
use crate::strided_gemm::{gemm_serial as gemm, View};

/// Query heads, key/value heads and the head size of an attention layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub(crate) h: usize,
    pub(crate) kvh: usize,
    pub(crate) d: usize,
}

impl Heads {
    /// Width of a stacked `q | k | v` row.
    pub(crate) fn qkv_width(&self) -> usize {
        (self.h + 2 * self.kvh) * self.d
    }
}

/// The fused op; see the module docs for shapes.
pub(crate) struct CausalAttention {
    heads: Heads,
    /// RoPE tables `(positions, d / 2)`, flattened: the keys', and the queries' (times the
    /// queries' scale, `1/sqrt(d)`).
    cos: Vec<f32>,
    sin: Vec<f32>,
    q_cos: Vec<f32>,
    q_sin: Vec<f32>,
    /// Keep the softmax weights for the backward.
    keep: bool,
    /// `(b, h, t, t)` softmax weights of the forward, when kept (0 above the diagonal); the
    /// backward recomputes them when empty.
    probs: Mutex<Vec<f32>>,
}

impl CausalAttention {
    /// The op for one call: RoPE tables `cos`, `sin` `(positions, d / 2)` flattened, the
    /// queries' `scale`, and `keep`: whether a backward will follow.
    pub(crate) fn new(heads: Heads, cos: Vec<f32>, sin: Vec<f32>, scale: f32, keep: bool) -> Self {
        let scaled = |t: &[f32]| t.iter().map(|x| x * scale).collect();
        Self {
            heads,
            q_cos: scaled(&cos),
            q_sin: scaled(&sin),
            cos,
            sin,
            keep,
            probs: Mutex::new(Vec::new()),
        }
    }

    /// `(b, t)` of an input shape, checked against the heads and the tables.
    fn dims(&self, shape: &Shape) -> candle_core::Result<(usize, usize)> {
        let (b, t, n) = shape.dims3()?;
        let Heads { h, kvh, d } = self.heads;
        let fits = n == self.heads.qkv_width()
            && kvh > 0
            && h.is_multiple_of(kvh)
            && d.is_multiple_of(2)
            && d > 0
            && self.cos.len() >= t * d / 2
            && self.sin.len() == self.cos.len();
        if !fits {
            candle_core::bail!(
                "causal_attention: rows {shape:?} for {h} heads, {kvh} kv heads of {d}, {} RoPE entries",
                self.cos.len()
            );
        }
        Ok((b, t))
    }

    /// Position `pos`'s rows `x` of `h` query heads then `kvh` key heads rotated into `o`
    /// (`INVERSE`: the transposed rotations, for the gradients).
    #[inline(always)]
    fn rotate<const INVERSE: bool>(&self, pos: usize, x: &[f32], o: &mut [f32]) {
        let Heads { h, kvh, d } = self.heads;
        let half = d / 2;
        let at = pos * half..(pos + 1) * half;
        let (x, o) = (&x[..(h + kvh) * d], &mut o[..(h + kvh) * d]);
        let (xq, xk) = x.split_at(h * d);
        let (oq, ok) = o.split_at_mut(h * d);
        rotate_heads::<INVERSE>(&self.q_cos[at.clone()], &self.q_sin[at.clone()], xq, oq);
        rotate_heads::<INVERSE>(&self.cos[at.clone()], &self.sin[at], xk, ok);
    }

    /// Kept softmax weights per batch row: `(h, t, t)`.
    fn kept_per_row(&self, t: usize) -> usize {
        self.heads.h * t * t
    }

    /// Batch row `x (t, qkv_width)` with its queries and keys rotated (rows `(t, (h + kvh) d)`).
    #[inline(always)]
    fn row<'a>(&self, x: &'a [f32], t: usize) -> Row<'a> {
        let Heads { h, kvh, d } = self.heads;
        let n = self.heads.qkv_width();
        let mut qk = vec![0f32; t * (h + kvh) * d];
        for (pos, (x, o)) in x
            .chunks_exact(n)
            .zip(qk.chunks_exact_mut((h + kvh) * d))
            .enumerate()
        {
            self.rotate::<false>(pos, x, o);
        }
        Row {
            qk,
            v: &x[(h + kvh) * d..],
            heads: self.heads,
            t,
        }
    }

    /// Attention output rows `(t, h * d)` of batch row `x`; `P` goes to `keep` (`(h, t, t)`)
    /// when it is not empty.
    #[inline(always)]
    fn forward_row(&self, x: &[f32], out: &mut [f32], keep: &mut [f32]) -> candle_core::Result<()> {
        let t = out.len() / (self.heads.h * self.heads.d);
        let row = self.row(x, t);
        let Heads { h, kvh, d } = self.heads;
        let mut scratch = vec![0f32; if keep.is_empty() { t * t } else { 0 }];
        for hh in 0..h {
            let p = match keep.is_empty() {
                true => &mut scratch[..],
                false => &mut keep[hh * t * t..][..t * t],
            };
            row.probs(hh, p)?;
            let values = row.values(hh / (h / kvh), false);
            gemm(
                &mut out[hh * d..],
                h * d,
                (t, d, t),
                View::new(p, t, 1),
                values,
                1.0,
                false,
            )?;
        }
        Ok(())
    }

    /// Gradient `dx (t, qkv_width)` of batch row `x` from the output's `g (t, h * d)`; `kept`
    /// is the forward's `P` or empty.
    #[inline(always)]
    fn backward_row(
        &self,
        x: &[f32],
        kept: &[f32],
        g: &[f32],
        dx: &mut [f32],
    ) -> candle_core::Result<()> {
        let Heads { h, kvh, d } = self.heads;
        let (n, rep) = (self.heads.qkv_width(), h / kvh);
        let t = dx.len() / n;
        let row = self.row(x, t);
        let qk_width = (h + kvh) * d;
        let mut dqk = vec![0f32; t * qk_width]; // dq | dk rows, before the inverse rotation
        let mut recomputed = vec![0f32; if kept.is_empty() { t * t } else { 0 }];
        let mut ds = vec![0f32; t * t];
        for kv in 0..kvh {
            for (r, hh) in (kv * rep..(kv + 1) * rep).enumerate() {
                let p = match kept.is_empty() {
                    true => {
                        row.probs(hh, &mut recomputed)?;
                        &recomputed[..]
                    }
                    false => &kept[hh * t * t..][..t * t],
                };
                let go = View::new(&g[hh * d..], h * d, 1); // dO of head hh: (t, d)
                gemm(&mut ds, t, (t, t, d), go, row.values(kv, true), 1.0, false)?; // dP
                for (i, (pr, dr)) in p.chunks_exact(t).zip(ds.chunks_exact_mut(t)).enumerate() {
                    let (pr, (dr, future)) = (&pr[..=i], dr.split_at_mut(i + 1));
                    let dot = lane_dot(pr, dr);
                    for (x, &pj) in dr.iter_mut().zip(pr) {
                        *x = pj * (*x - dot);
                    }
                    future.fill(0.0);
                }
                let (ds_v, ds_t) = (View::new(&ds, t, 1), View::new(&ds, 1, t));
                let first = r == 0;
                let dq_h = &mut dqk[hh * d..];
                gemm(
                    dq_h,
                    qk_width,
                    (t, d, t),
                    ds_v,
                    row.keys(kv, false),
                    1.0,
                    false,
                )?;
                let dk_g = &mut dqk[(h + kv) * d..];
                gemm(
                    dk_g,
                    qk_width,
                    (t, d, t),
                    ds_t,
                    row.queries(hh),
                    1.0,
                    !first,
                )?;
                let dv_g = &mut dx[(h + kvh + kv) * d..];
                gemm(dv_g, n, (t, d, t), View::new(p, 1, t), go, 1.0, !first)?;
            }
        }
        // q = scale R x, k = R x: their inputs' gradients are the transposed rotations.
        for (pos, (dx, g)) in dx
            .chunks_exact_mut(n)
            .zip(dqk.chunks_exact(qk_width))
            .enumerate()
        {
            self.rotate::<true>(pos, g, dx);
        }
        Ok(())
    }
}

/// `o = R x` per head of `2 * c.len()` entries in `x` (`INVERSE`: `R^T x`), rotate-half layout:
/// `(x1, x2) -> (x1 c - x2 s, x2 c + x1 s)`.
#[inline(always)]
fn rotate_heads<const INVERSE: bool>(c: &[f32], s: &[f32], x: &[f32], o: &mut [f32]) {
    let half = c.len();
    let s = &s[..half];
    for (x, o) in x.chunks_exact(2 * half).zip(o.chunks_exact_mut(2 * half)) {
        let (x1, x2) = x.split_at(half);
        let (o1, o2) = o.split_at_mut(half);
        for i in 0..half {
            let (a, b) = (x1[i], x2[i]);
            if INVERSE {
                o1[i] = a * c[i] + b * s[i];
                o2[i] = b * c[i] - a * s[i];
            } else {
                o1[i] = a * c[i] - b * s[i];
                o2[i] = b * c[i] + a * s[i];
            }
        }
    }
}

/// One batch row: its rotated queries and keys as rows `(t, (h + kvh) d)`, values read in place.
struct Row<'a> {
    qk: Vec<f32>,
    /// The input rows from the first value column on (row stride `qkv_width`).
    v: &'a [f32],
    heads: Heads,
    t: usize,
}

impl Row<'_> {
    /// Row stride of `qk`.
    fn qk_width(&self) -> usize {
        (self.heads.h + self.heads.kvh) * self.heads.d
    }

    /// Queries of head `hh`: `(t, d)`.
    fn queries(&self, hh: usize) -> View<'_> {
        View::new(&self.qk[hh * self.heads.d..], self.qk_width(), 1)
    }

    /// Keys of KV head `g`: `(t, d)`, or transposed `(d, t)`.
    fn keys(&self, g: usize, transposed: bool) -> View<'_> {
        let k = &self.qk[(self.heads.h + g) * self.heads.d..];
        match transposed {
            false => View::new(k, self.qk_width(), 1),
            true => View::new(k, 1, self.qk_width()),
        }
    }

    /// Values of KV head `g`: `(t, d)`, or transposed `(d, t)`.
    fn values(&self, g: usize, transposed: bool) -> View<'_> {
        let (v, rs) = (&self.v[g * self.heads.d..], self.heads.qkv_width());
        match transposed {
            false => View::new(v, rs, 1),
            true => View::new(v, 1, rs),
        }
    }

    /// Softmax weights `p (t, t)` of query head `hh`: row `i` over keys `0..=i`, 0 after.
    #[inline(always)]
    fn probs(&self, hh: usize, p: &mut [f32]) -> candle_core::Result<()> {
        let (t, d, rep) = (self.t, self.heads.d, self.heads.h / self.heads.kvh);
        let keys = self.keys(hh / rep, true);
        gemm(p, t, (t, t, d), self.queries(hh), keys, 1.0, false)?;
        for (i, row) in p.chunks_exact_mut(t).enumerate() {
            causal_softmax_row(row, i + 1);
        }
        Ok(())
    }
}

/// `row[..n] = softmax(row[..n])`, `row[n..] = 0` (future keys).
#[inline(always)]
fn causal_softmax_row(row: &mut [f32], n: usize) {
    let (live, future) = row.split_at_mut(n);
    // Reductions in eight lanes: a scalar fold is one long dependency chain.
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut blocks = live.chunks_exact(8);
    for blk in &mut blocks {
        for (m, &x) in lanes.iter_mut().zip(blk) {
            *m = m.max(x);
        }
    }
    let m = blocks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for x in live.iter_mut() {
        *x = exp(*x - m);
    }
    let inv = 1.0 / lane_sum(live);
    for x in live.iter_mut() {
        *x *= inv;
    }
    future.fill(0.0);
}

/// `sum_j x_j` in eight interleaved lanes.
#[inline(always)]
fn lane_sum(x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut blocks = x.chunks_exact(8);
    for blk in &mut blocks {
        for (acc, &x) in lanes.iter_mut().zip(blk) {
            *acc += x;
        }
    }
    lanes.iter().sum::<f32>() + blocks.remainder().iter().sum::<f32>()
}

/// `sum_j a_j b_j` in eight interleaved lanes.
#[inline(always)]
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (mut ab, mut bb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ab).zip(&mut bb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ab
        .remainder()
        .iter()
        .zip(bb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "causal_attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, t) = self.dims(l.shape())?;
        let x = f32s(s, l, "causal_attention")?;
        let (n, width) = (self.heads.qkv_width(), self.heads.h * self.heads.d);
        let mut out = vec![0f32; b * t * width];
        let per_row = self.kept_per_row(t);
        let mut probs = vec![0f32; if self.keep { b * per_row } else { 0 }];
        // A chunk per batch row: empty ones when nothing is kept.
        let keep_chunks: Vec<&mut [f32]> = match self.keep {
            true => probs.chunks_mut(per_row.max(1)).collect(),
            false => (0..b).map(|_| <&mut [f32]>::default()).collect(),
        };
        out.par_chunks_mut((t * width).max(1))
            .zip(keep_chunks)
            .enumerate()
            .try_for_each(|(bi, (out, keep))| {
                let x = &x[bi * t * n..][..t * n];
                fast(
                    #[inline(always)]
                    || self.forward_row(x, out, keep),
                )
            })?;
        if self.keep {
            *self.probs.lock().unwrap_or_else(|e| e.into_inner()) = probs;
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, width))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (b, t) = self.dims(x.shape())?;
        let (n, width) = (self.heads.qkv_width(), self.heads.h * self.heads.d);
        let op = "causal_attention";
        let mut dx = vec![0f32; b * t * n];
        let kept = self.probs.lock().unwrap_or_else(|e| e.into_inner());
        let per_row = self.kept_per_row(t);
        if !kept.is_empty() && kept.len() != b * per_row {
            candle_core::bail!("causal_attention: kept weights do not match the shapes");
        }
        with_f32(x, op, |xs| {
            with_f32(grad, op, |g| {
                dx.par_chunks_mut((t * n).max(1))
                    .enumerate()
                    .try_for_each(|(bi, dx)| {
                        let x = &xs[bi * t * n..][..t * n];
                        let g = &g[bi * t * width..][..t * width];
                        let kept = match kept.is_empty() {
                            true => &[][..],
                            false => &kept[bi * per_row..][..per_row],
                        };
                        fast(
                            #[inline(always)]
                            || self.backward_row(x, kept, g, dx),
                        )
                    })
            })
        })?;
        Ok(Some(tensor(dx, x.shape(), x)?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::{CausalAttention, Heads};
    use crate::kernels::tests::randn;
    use crate::train_ops::tests::check;

    /// The backward that recomputes the softmax (nothing kept) gives the gradients of the one
    /// that reads the kept weights, bit for bit.
    #[test]
    fn recomputed_and_kept_weights_give_the_same_gradients() {
        let dev = Device::Cpu;
        let (b, t) = (2, 11);
        let heads = Heads {
            h: 4,
            kvh: 2,
            d: 16,
        };
        let seq = |n: usize, seed: f32| -> Vec<f32> {
            (0..n).map(|i| (i as f32 * 0.37 + seed).sin()).collect()
        };
        let (cos, sin) = (seq(t * 8, 0.5), seq(t * 8, 0.6));
        let x = Var::from_tensor(
            &Tensor::from_vec(
                seq(b * t * heads.qkv_width(), 0.1),
                (b, t, heads.qkv_width()),
                &dev,
            )
            .unwrap(),
        )
        .unwrap();
        let w = Tensor::from_vec(seq(b * t * 64, 0.4), (b, t, 64), &dev).unwrap();
        let grads = |keep: bool| -> Vec<f32> {
            let op = CausalAttention::new(heads, cos.clone(), sin.clone(), 0.25, keep);
            let out = x.as_tensor().apply_op1(op).unwrap();
            let g = (out * &w).unwrap().sum_all().unwrap().backward().unwrap();
            g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap()
        };
        assert_eq!(grads(true), grads(false));
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
            let heads = Heads { h, kvh, d };
            let qkv = randn(&[b, t, heads.qkv_width()], i as u64, 1.0);
            // Tables need not be rotations for the two paths to agree.
            let cos = randn(&[t, d / 2], 30 + i as u64, 1.0);
            let sin = randn(&[t, d / 2], 40 + i as u64, 1.0);
            check("causal_attention", &[qkv], |kern, x| {
                crate::kernels::causal_attention(kern, &x[0], (&cos, &sin), heads, 0.7).unwrap()
            });
        }
    }
}
