//! A LoRA projection `y = x W^T + s (x A^T) B^T` as one fused CPU op with its own backward.
//!
//! The composite form runs the low-rank branch as two skinny matmuls, a scale and an add, each
//! with its own full-size output, and its backward adds the branch's input gradient to the base
//! one: on the tiny model that made a LoRA step as slow as full training although it skips every
//! base weight gradient. Here each call merges the pair into a copy of the weight,
//! `W' = W + s B A` (`out x in x r` multiply-adds: nothing next to the product), so the forward
//! is the one matmul `x W'^T` of a plain projection and the backward's `dx = dy W'` is one too;
//! only `dA` and `dB` need the skinny products, and the base weight's gradient is computed only
//! when that weight tracks an op (never under LoRA's frozen base). With `B = 0`, `W' = W`
//! exactly, so a fresh adapter leaves the base's output unchanged to the bit.
//!
//! Shapes: `x (..., in)`, `w (out, in)`, and the pair packed as `ab (r, in + out) = [A | B^T]`
//! (`A (r, in)`, `B (out, r)`; see [`lora_linear`]); out `(..., out)`. The work is gemm's, which
//! splits rows and columns, never the inner sum: results do not depend on the thread count.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};

use crate::cpu::{f32s, tensor, with_f32, with_last};
use crate::error::Result;
use crate::lora::LoraBranch;
use crate::strided_gemm::{gemm, gemm_tn, product, View};

/// `x w^T + scale (x a^T) b^T` for `x (..., in)`, `w (out, in)`, `a (r, in)`, `b (out, r)`,
/// through the fused op (f32 on the CPU; the caller checks).
pub(crate) fn lora_linear(
    x: &Tensor,
    w: &Tensor,
    a: &Tensor,
    b: &Tensor,
    scale: f64,
) -> Result<Tensor> {
    let (out, r) = b.dims2()?;
    let whole = Block {
        out: 0..out,
        rank: 0..r,
    };
    lora_linear_blocks(x, w, (a, b), scale, vec![whole])
}

/// `x w^T` for the stacked weight `w` of several projections (`outs`: each one's output rows, in
/// order), plus `scale (x A^T) B^T` for the LoRA branches some of them have (`branches`, one
/// entry per projection): the branches' `A`s stacked, their `B`s block-diagonal, so that
/// projection p's rows see only its own `A`'s rows; the fused op (f32 on the CPU: the caller
/// checks; every branch at the same `scale`).
pub(crate) fn stacked_lora_linear(
    x: &Tensor,
    w: &Tensor,
    branches: &[Option<LoraBranch<'_>>],
    outs: &[usize],
    scale: f64,
) -> Result<Tensor> {
    let rank: usize = branches
        .iter()
        .flatten()
        .map(|b| b.pair.a.dim(0))
        .sum::<candle_core::Result<usize>>()?;
    let (mut a_rows, mut b_rows, mut blocks) = (Vec::new(), Vec::new(), Vec::new());
    let (mut at, mut row) = (0, 0);
    for (br, &o) in branches.iter().zip(outs) {
        let zeros = |n: usize| Tensor::zeros((o, n), DType::F32, x.device());
        match br {
            Some(br) => {
                let r = br.pair.a.dim(0)?;
                a_rows.push(br.pair.a.as_tensor().clone());
                let parts = [
                    zeros(at)?,
                    br.pair.b.as_tensor().clone(),
                    zeros(rank - at - r)?,
                ];
                let parts: Vec<&Tensor> = parts
                    .iter()
                    .filter(|t| t.dim(1).is_ok_and(|n| n > 0))
                    .collect();
                b_rows.push(Tensor::cat(&parts, 1)?);
                blocks.push(Block {
                    out: row..row + o,
                    rank: at..at + r,
                });
                at += r;
            }
            None => b_rows.push(zeros(rank)?),
        }
        row += o;
    }
    let (a, b) = (Tensor::cat(&a_rows, 0)?, Tensor::cat(&b_rows, 0)?);
    lora_linear_blocks(x, w, (&a, &b), scale, blocks)
}

/// A block of a block-diagonal `B`: the rows `out` of `B` that read the ranks `rank` of `A`
/// (zeros elsewhere in those rows and columns).
#[derive(Debug, Clone)]
struct Block {
    out: std::ops::Range<usize>,
    rank: std::ops::Range<usize>,
}

/// [`lora_linear`] for a `B` that is zero outside `blocks` (stacked projections, each with its
/// own pair: A's stacked, B block-diagonal); the backward's `B` products run per block, so the
/// zeros cost nothing there.
fn lora_linear_blocks(
    x: &Tensor,
    w: &Tensor,
    (a, b): (&Tensor, &Tensor),
    scale: f64,
    blocks: Vec<Block>,
) -> Result<Tensor> {
    let ab = Tensor::cat(&[a, &b.t()?], 1)?.contiguous()?; // cat on axis 1 is strided
    let op = LoraLinear {
        scale: scale as f32,
        blocks,
    };
    Ok(x.contiguous()?.apply_op3(&w.contiguous()?, &ab, op)?)
}

/// `W' = W + s B A` for `w (out, in)` and `ab = [A | B^T]`: `(out, in)`, row-major.
fn merge(
    w: &[f32],
    ab: &[f32],
    (n_in, out, r): (usize, usize, usize),
    s: f32,
) -> candle_core::Result<Vec<f32>> {
    let mut merged = w.get(..out * n_in).unwrap_or(w).to_vec();
    let packed = n_in + out;
    let b = View::new(ab.get(n_in..).unwrap_or(&[]), 1, packed); // B (out, r)
    gemm(
        &mut merged,
        n_in,
        (out, n_in, r),
        b,
        View::new(ab, packed, 1),
        s,
        true,
    )?;
    Ok(merged)
}

/// The fused op; see the module docs.
struct LoraLinear {
    scale: f32,
    /// Where `B` is not zero (checked against the shapes in [`LoraLinear::dims`]).
    blocks: Vec<Block>,
}

impl LoraLinear {
    /// `(rows, in, out, r)` of the op's inputs, checked (the blocks too).
    fn dims(
        &self,
        x: &Shape,
        w: &Shape,
        ab: &Shape,
    ) -> candle_core::Result<(usize, usize, usize, usize)> {
        let n_in = x.dims().last().copied().unwrap_or(0);
        let rows = x.elem_count() / n_in.max(1);
        let (out, w_in) = w.dims2()?;
        let (r, packed) = ab.dims2()?;
        let blocks_fit = self.blocks.iter().all(|b| {
            b.out.start <= b.out.end
                && b.out.end <= out
                && b.rank.start <= b.rank.end
                && b.rank.end <= r
        });
        if w_in != n_in || packed != n_in + out || n_in == 0 || out == 0 || !blocks_fit {
            candle_core::bail!(
                "lora_linear: shapes x {x:?}, w {w:?}, [A | B^T] {ab:?}, blocks {:?} do not fit",
                self.blocks
            );
        }
        Ok((rows, n_in, out, r))
    }
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        "lora_linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        abs: &CpuStorage,
        abl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "lora_linear";
        let (x, w, ab) = (f32s(xs, xl, op)?, f32s(ws, wl, op)?, f32s(abs, abl, op)?);
        let (rows, n_in, out, r) = self.dims(xl.shape(), wl.shape(), abl.shape())?;
        let merged = merge(w, ab, (n_in, out, r), self.scale)?;
        let w_t = View::new(&merged, 1, n_in);
        let y = product((rows, out, n_in), View::new(x, n_in, 1), w_t, 1.0)?;
        Ok((CpuStorage::F32(y), with_last(xl.shape(), out)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        ab: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = "lora_linear";
        let (rows, n_in, out, r) = self.dims(x.shape(), w.shape(), ab.shape())?;
        let packed = n_in + out;
        let s = self.scale;
        with_f32(x, op, |xd| {
            with_f32(w, op, |wd| {
                with_f32(ab, op, |abd| {
                    with_f32(grad, op, |g| {
                        let x_v = View::new(xd, n_in, 1);
                        let g_v = View::new(g, out, 1);
                        let a_t = View::new(abd, 1, packed); // A^T (in, r)
                                                             // Independent products side by side (see dense.rs).
                        let (dx, (dw, dab)) = rayon::join(
                            || -> candle_core::Result<Option<Tensor>> {
                                if !x.track_op() {
                                    return Ok(None);
                                }
                                // dx = dy W'
                                let merged = merge(wd, abd, (n_in, out, r), s)?;
                                let w_v = View::new(&merged, n_in, 1);
                                let dx = product((rows, n_in, out), g_v, w_v, 1.0)?;
                                Ok(Some(tensor(dx, x.shape(), x)?))
                            },
                            || {
                                let dw = || -> candle_core::Result<Option<Tensor>> {
                                    if !w.track_op() {
                                        return Ok(None);
                                    }
                                    // dW = dy^T x
                                    let dw = gemm_tn((g, out), (xd, n_in), (rows, out, n_in))?;
                                    Ok(Some(tensor(dw, w.shape(), w)?))
                                };
                                let dab = || -> candle_core::Result<Option<Tensor>> {
                                    if !ab.track_op() {
                                        return Ok(None);
                                    }
                                    // [dA | dB^T] = s [v^T x | u^T dy], v = dy B, u = x A^T;
                                    // B's products per block (zero elsewhere)
                                    let mut v = vec![0f32; rows * r];
                                    for blk in &self.blocks {
                                        let (o0, r0) = (blk.out.start, blk.rank.start);
                                        let (no, nr) = (blk.out.len(), blk.rank.len());
                                        let b = abd.get(r0 * packed + n_in + o0..).unwrap_or(&[]);
                                        let b = View::new(b, 1, packed);
                                        let dy = View::new(g.get(o0..).unwrap_or(&[]), out, 1);
                                        let dst = v.get_mut(r0..).unwrap_or(&mut []);
                                        gemm(dst, r, (rows, nr, no), dy, b, 1.0, false)?;
                                    }
                                    let u = product((rows, r, n_in), x_v, a_t, 1.0)?;
                                    // Long-inner-axis products: both cores via gemm_tn.
                                    let da = gemm_tn((&v, r), (xd, n_in), (rows, r, n_in))?;
                                    let mut dab = vec![0f32; r * packed];
                                    for (row, da) in
                                        dab.chunks_exact_mut(packed).zip(da.chunks_exact(n_in))
                                    {
                                        for (d, x) in row.iter_mut().zip(da) {
                                            *d = s * x;
                                        }
                                    }
                                    for blk in &self.blocks {
                                        let (o0, r0) = (blk.out.start, blk.rank.start);
                                        let (no, nr) = (blk.out.len(), blk.rank.len());
                                        let u_b = u.get(r0..).unwrap_or(&[]);
                                        let g_b = g.get(o0..).unwrap_or(&[]);
                                        let dbt = gemm_tn((u_b, r), (g_b, out), (rows, nr, no))?;
                                        for (i, row) in dbt.chunks_exact(no.max(1)).enumerate() {
                                            let at = (r0 + i) * packed + n_in + o0;
                                            for (d, x) in dab[at..at + no].iter_mut().zip(row) {
                                                *d = s * x;
                                            }
                                        }
                                    }
                                    Ok(Some(tensor(dab, ab.shape(), ab)?))
                                };
                                (dw(), dab())
                            },
                        );
                        let (dx, dw, dab) = (dx?, dw?, dab?);
                        Ok((dx, dw, dab))
                    })
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Var};

    use super::*;
    use crate::kernels::tests::{max_diff, randn};

    /// The composite form: two matmuls, a scale and an add.
    fn composite(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, s: f64) -> Tensor {
        let lead = x.dims()[..x.rank() - 1].to_vec();
        let n = x.dims()[x.rank() - 1];
        let x2 = x.reshape(((), n)).unwrap();
        let y = x2.matmul(&w.t().unwrap()).unwrap();
        let low = x2
            .matmul(&a.t().unwrap())
            .unwrap()
            .matmul(&b.t().unwrap())
            .unwrap();
        let y = (y + (low * s).unwrap()).unwrap();
        let mut shape = lead;
        shape.push(w.dim(0).unwrap());
        y.reshape(shape).unwrap()
    }

    #[test]
    fn forward_and_gradients_match_the_composite_form() {
        // odd sizes, a rank-1 pair, a length-1 batch axis, and a frozen or trained base
        for (i, &(lead, n_in, out, r, base_grad)) in [
            (&[3usize, 5][..], 7usize, 9usize, 2usize, false),
            (&[1, 4][..], 16, 16, 8, true),
            (&[6][..], 5, 3, 1, true),
        ]
        .iter()
        .enumerate()
        {
            let seed = 10 * i as u64;
            let mut xs = lead.to_vec();
            xs.push(n_in);
            let x = Var::from_tensor(&randn(&xs, seed, 1.0)).unwrap();
            let w = Var::from_tensor(&randn(&[out, n_in], seed + 1, 1.0)).unwrap();
            let a = Var::from_tensor(&randn(&[r, n_in], seed + 2, 1.0)).unwrap();
            let b = Var::from_tensor(&randn(&[out, r], seed + 3, 1.0)).unwrap();
            let wt = if base_grad {
                w.as_tensor().clone()
            } else {
                w.as_tensor().detach()
            };
            // a random upstream gradient, so that no two outputs weigh alike
            let up_shape = [lead, &[out]].concat();
            let up = randn(&up_shape, seed + 4, 1.0);
            let run = |fused: bool| {
                let y = if fused {
                    lora_linear(x.as_tensor(), &wt, a.as_tensor(), b.as_tensor(), 0.7).unwrap()
                } else {
                    composite(x.as_tensor(), &wt, a.as_tensor(), b.as_tensor(), 0.7)
                };
                let grads = (&y * &up).unwrap().sum_all().unwrap().backward().unwrap();
                let g = |v: &Var| grads.get(v.as_tensor()).cloned();
                (y, g(&x), g(&w), g(&a), g(&b))
            };
            let (fused, oracle) = (run(true), run(false));
            assert!(max_diff(&fused.0, &oracle.0) < 1e-4, "y, case {i}");
            for (what, f, o) in [
                ("x", &fused.1, &oracle.1),
                ("a", &fused.3, &oracle.3),
                ("b", &fused.4, &oracle.4),
            ] {
                let (f, o) = (f.as_ref().expect(what), o.as_ref().expect(what));
                assert!(
                    max_diff(f, o) < 1e-4,
                    "d{what}, case {i}: {}",
                    max_diff(f, o)
                );
            }
            match (&fused.2, &oracle.2) {
                (Some(f), Some(o)) => assert!(base_grad && max_diff(f, o) < 1e-4, "dw, case {i}"),
                (None, None) => assert!(!base_grad, "case {i}: the base lost its gradient"),
                _ => panic!("case {i}: dw present in one form only"),
            }
            assert_eq!(fused.0.dtype(), DType::F32);
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_an_error() {
        let x = randn(&[2, 4], 1, 1.0);
        let w = randn(&[3, 5], 2, 1.0);
        let (a, b) = (randn(&[2, 4], 3, 1.0), randn(&[3, 2], 4, 1.0));
        assert!(lora_linear(&x, &w, &a, &b, 1.0).is_err());
    }
}
