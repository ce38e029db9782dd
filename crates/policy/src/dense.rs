//! A dense projection `y = x W^T` as a fused CPU op with its own backward, so that the weight's
//! gradient is one product with both cores on it ([`gemm_tn`]: candle's matmul backward leaves
//! that long-inner-axis product to gemm, which splits only its short axes), and each gradient is
//! computed only for an input that tracks an op.
//!
//! Shapes: `x (..., in)`, `w (out, in)`; out `(..., out)`. Results do not depend on the thread
//! count.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::cpu::{f32s, tensor, with_f32, with_last};
use crate::error::Result;
use crate::strided_gemm::{gemm_tn, product, View};

/// `x w^T` for `x (..., in)`, `w (out, in)` through the fused op (f32 on the CPU; the caller
/// checks).
pub(crate) fn dense(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x.contiguous()?.apply_op2(&w.contiguous()?, Dense)?)
}

/// The fused op; see the module docs.
struct Dense;

/// `(rows, in, out)` of the op's inputs, checked.
fn dims(x: &Shape, w: &Shape) -> candle_core::Result<(usize, usize, usize)> {
    let n_in = x.dims().last().copied().unwrap_or(0);
    let (out, w_in) = w.dims2()?;
    if w_in != n_in || n_in == 0 {
        candle_core::bail!("dense: shapes x {x:?}, w {w:?} do not fit");
    }
    Ok((x.elem_count() / n_in, n_in, out))
}

impl CustomOp2 for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (f32s(xs, xl, "dense")?, f32s(ws, wl, "dense")?);
        let (rows, n_in, out) = dims(xl.shape(), wl.shape())?;
        let (x_v, w_t) = (View::new(x, n_in, 1), View::new(w, 1, n_in));
        let y = product((rows, out, n_in), x_v, w_t, 1.0)?;
        Ok((CpuStorage::F32(y), with_last(xl.shape(), out)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, n_in, out) = dims(x.shape(), w.shape())?;
        with_f32(grad, "dense", |g| {
            with_f32(w, "dense", |wd| {
                with_f32(x, "dense", |xd| {
                    // Independent products: side by side, so a core that finishes its share of
                    // one takes work of the other instead of waiting at its end.
                    let (dx, dw) = rayon::join(
                        || -> candle_core::Result<Option<Tensor>> {
                            if !x.track_op() {
                                return Ok(None);
                            }
                            // dx = dy W
                            let (g_v, w_v) = (View::new(g, out, 1), View::new(wd, n_in, 1));
                            let dx = product((rows, n_in, out), g_v, w_v, 1.0)?;
                            Ok(Some(tensor(dx, x.shape(), x)?))
                        },
                        || -> candle_core::Result<Option<Tensor>> {
                            if !w.track_op() {
                                return Ok(None);
                            }
                            // dW = dy^T x
                            let dw = gemm_tn((g, out), (xd, n_in), (rows, out, n_in))?;
                            Ok(Some(tensor(dw, w.shape(), w)?))
                        },
                    );
                    Ok((dx?, dw?))
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;

    use super::dense;
    use crate::kernels::tests::{max_diff, randn};

    /// The op against candle's matmul, forward and both gradients, on odd shapes (and a batch
    /// long enough for the weight gradient's two halves).
    #[test]
    fn matches_the_matmul() {
        for (i, (rows, n_in, out)) in [(5, 7, 3), (1, 1, 1), (300, 33, 17)]
            .into_iter()
            .enumerate()
        {
            let x = Var::from_tensor(&randn(&[rows, n_in], i as u64, 1.0)).unwrap();
            let w = Var::from_tensor(&randn(&[out, n_in], 10 + i as u64, 1.0)).unwrap();
            let mix = randn(&[rows, out], 20 + i as u64, 1.0);
            let run = |fused: bool| {
                let y = match fused {
                    true => dense(x.as_tensor(), w.as_tensor()).unwrap(),
                    false => x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap(),
                };
                let g = (&y * &mix).unwrap().sum_all().unwrap().backward().unwrap();
                (y, g.get(&x).unwrap().clone(), g.get(&w).unwrap().clone())
            };
            let ((y, dx, dw), (y0, dx0, dw0)) = (run(true), run(false));
            for (what, a, b) in [("y", &y, &y0), ("dx", &dx, &dx0), ("dw", &dw, &dw0)] {
                let tol = 1e-5 * (rows as f32).max(n_in as f32);
                assert!(
                    max_diff(a, b) <= tol,
                    "{what} {rows}x{n_in}x{out}: {}",
                    max_diff(a, b)
                );
            }
        }
    }

    /// The backward computes no gradient for an input that tracks no op (the frozen reference's
    /// inputs, a frozen weight), and one for an input that does.
    #[test]
    fn only_tracked_inputs_get_gradients() {
        use candle_core::CustomOp2;
        let x = randn(&[4, 3], 1, 1.0);
        let w = Var::from_tensor(&randn(&[2, 3], 2, 1.0)).unwrap();
        let (y, g) = (randn(&[4, 2], 3, 1.0), randn(&[4, 2], 4, 1.0));
        let (dx, dw) = super::Dense.bwd(&x, w.as_tensor(), &y, &g).unwrap();
        assert!(dx.is_none() && dw.is_some());
        let xv = Var::from_tensor(&x).unwrap();
        let (dx, dw) = super::Dense
            .bwd(xv.as_tensor(), &w.as_tensor().detach(), &y, &g)
            .unwrap();
        assert!(dx.is_some() && dw.is_none());
    }
}
