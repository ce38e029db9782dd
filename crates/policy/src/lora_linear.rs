//! A LoRA projection `y = x W^T + s (x A^T) B^T` as one fused CPU op with its own backward.
//!
//! The composite form runs the low-rank branch as two skinny matmuls, a scale and an add, each
//! with its own full-size output, and its backward adds the branch's input gradient to the base
//! one: on the tiny model that made a LoRA step as slow as full training although it skips every
//! base weight gradient. Here the branch accumulates straight into the base product (gemm with
//! `read_dst`), the backward writes `dx` once, and the base weight's gradient is computed only
//! when that weight tracks an op (never under LoRA's frozen base).
//!
//! Shapes: `x (..., in)`, `w (out, in)`, and the pair packed as `ab (r, in + out) = [A | B^T]`
//! (`A (r, in)`, `B (out, r)`; see [`lora_linear`]); out `(..., out)`. The work is gemm's, which
//! splits rows and columns, never the inner sum: results do not depend on the thread count.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use crate::error::Result;
use crate::train_ops::{f32s, tensor, with_f32};

/// `x w^T + scale (x a^T) b^T` for `x (..., in)`, `w (out, in)`, `a (r, in)`, `b (out, r)`,
/// through the fused op (f32 on the CPU; the caller checks).
pub(crate) fn lora_linear(
    x: &Tensor,
    w: &Tensor,
    a: &Tensor,
    b: &Tensor,
    scale: f64,
) -> Result<Tensor> {
    let ab = Tensor::cat(&[a, &b.t()?], 1)?.contiguous()?; // cat on axis 1 is strided
    Ok(x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &ab,
        LoraLinear {
            scale: scale as f32,
        },
    )?)
}

/// The fused op; see the module docs.
struct LoraLinear {
    scale: f32,
}

/// `(rows, in, out, r)` of the op's inputs, checked.
fn dims(x: &Shape, w: &Shape, ab: &Shape) -> candle_core::Result<(usize, usize, usize, usize)> {
    let n_in = x.dims().last().copied().unwrap_or(0);
    let rows = x.elem_count() / n_in.max(1);
    let (out, w_in) = w.dims2()?;
    let (r, packed) = ab.dims2()?;
    if w_in != n_in || packed != n_in + out {
        candle_core::bail!("lora_linear: shapes x {x:?}, w {w:?}, [A | B^T] {ab:?} do not fit");
    }
    Ok((rows, n_in, out, r))
}

/// A strided read-only matrix: element `(i, j)` at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    fn new(data: &'a [f32], rs: usize, cs: usize) -> Self {
        Self { data, rs, cs }
    }

    /// Whether every element of a `(rows, cols)` matrix lies inside `data`.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst (m, n)`, row stride `dst_rs` = `beta * lhs (m, k) rhs (k, n)`, plus `dst` when
/// `accumulate`.
fn gemm(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'_>,
    rhs: View<'_>,
    beta: f32,
    accumulate: bool,
) -> candle_core::Result<()> {
    let fits = View::new(dst, dst_rs, 1).covers(m, n) && lhs.covers(m, k) && rhs.covers(k, n);
    if !fits {
        candle_core::bail!("lora_linear: a matmul operand is smaller than its shape");
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let threads = candle_core::utils::get_num_threads();
    let parallelism = match threads {
        0 | 1 => gemm::Parallelism::None,
        t => gemm::Parallelism::Rayon(t),
    };
    // SAFETY: every element gemm reads or writes lies inside its slice (checked above), and
    // `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            beta,
            false,
            false,
            false,
            parallelism,
        )
    };
    Ok(())
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
        let (rows, n_in, out, r) = dims(xl.shape(), wl.shape(), abl.shape())?;
        let packed = n_in + out;
        let mut y = vec![0f32; rows * out];
        let mut u = vec![0f32; rows * r];
        let x_v = View::new(x, n_in, 1);
        // y = x W^T; u = x A^T; y += s u (B^T)
        gemm(
            &mut y,
            out,
            (rows, out, n_in),
            x_v,
            View::new(w, 1, n_in),
            1.0,
            false,
        )?;
        gemm(
            &mut u,
            r,
            (rows, r, n_in),
            x_v,
            View::new(ab, 1, packed),
            1.0,
            false,
        )?;
        let bt = View::new(ab.get(n_in..).unwrap_or(&[]), packed, 1);
        gemm(
            &mut y,
            out,
            (rows, out, r),
            View::new(&u, r, 1),
            bt,
            self.scale,
            true,
        )?;
        let mut shape = xl.dims().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = out;
        }
        Ok((CpuStorage::F32(y), Shape::from(shape)))
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
        let (rows, n_in, out, r) = dims(x.shape(), w.shape(), ab.shape())?;
        let packed = n_in + out;
        let s = self.scale;
        with_f32(x, op, |xd| {
            with_f32(w, op, |wd| {
                with_f32(ab, op, |abd| {
                    with_f32(grad, op, |g| {
                        let x_v = View::new(xd, n_in, 1);
                        let g_v = View::new(g, out, 1);
                        let a_t = View::new(abd, 1, packed); // A^T (in, r)
                        let b = View::new(abd.get(n_in..).unwrap_or(&[]), 1, packed); // B (out, r)
                                                                                      // v = dy B (rows, r): what both dx and dA need
                        let mut v = vec![0f32; rows * r];
                        gemm(&mut v, r, (rows, r, out), g_v, b, 1.0, false)?;
                        let dx = if x.track_op() {
                            // dx = dy W + s v A
                            let mut dx = vec![0f32; rows * n_in];
                            let w_v = View::new(wd, n_in, 1);
                            gemm(&mut dx, n_in, (rows, n_in, out), g_v, w_v, 1.0, false)?;
                            let a = View::new(abd, packed, 1);
                            gemm(
                                &mut dx,
                                n_in,
                                (rows, n_in, r),
                                View::new(&v, r, 1),
                                a,
                                s,
                                true,
                            )?;
                            Some(tensor(dx, x.shape(), x)?)
                        } else {
                            None
                        };
                        let dw = if w.track_op() {
                            // dW = dy^T x
                            let mut dw = vec![0f32; out * n_in];
                            let g_t = View::new(g, 1, out);
                            gemm(&mut dw, n_in, (out, n_in, rows), g_t, x_v, 1.0, false)?;
                            Some(tensor(dw, w.shape(), w)?)
                        } else {
                            None
                        };
                        let dab = if ab.track_op() {
                            // [dA | dB^T] = s [v^T x | u^T dy], u = x A^T recomputed
                            let mut u = vec![0f32; rows * r];
                            gemm(&mut u, r, (rows, r, n_in), x_v, a_t, 1.0, false)?;
                            let mut dab = vec![0f32; r * packed];
                            let v_t = View::new(&v, 1, r);
                            gemm(&mut dab, packed, (r, n_in, rows), v_t, x_v, s, false)?;
                            let u_t = View::new(&u, 1, r);
                            let tail = dab.get_mut(n_in..).unwrap_or(&mut []);
                            gemm(tail, packed, (r, out, rows), u_t, g_v, s, false)?;
                            Some(tensor(dab, ab.shape(), ab)?)
                        } else {
                            None
                        };
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
