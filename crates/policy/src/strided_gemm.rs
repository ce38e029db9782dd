//! Strided f32 matrix products on the CPU (the gemm crate), for the fused ops that run their own
//! matmuls: operands are read in place through row and column strides, so a transpose or a
//! head's columns of a row-major activation cost no copy.

/// A strided read-only matrix: element `(i, j)` at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    /// The matrix of `data` with row stride `rs` and column stride `cs`.
    pub(crate) fn new(data: &'a [f32], rs: usize, cs: usize) -> Self {
        Self { data, rs, cs }
    }

    /// Whether every element of a `(rows, cols)` matrix lies inside `data`.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst (m, n)`, row stride `dst_rs` = `beta * lhs (m, k) rhs (k, n)`, plus `dst` when
/// `accumulate`; gemm splits the rows and columns over candle's threads, never the inner sum,
/// so results do not depend on the thread count.
pub(crate) fn gemm(
    dst: &mut [f32],
    dst_rs: usize,
    dims: (usize, usize, usize),
    lhs: View<'_>,
    rhs: View<'_>,
    beta: f32,
    accumulate: bool,
) -> candle_core::Result<()> {
    let parallelism = match candle_core::utils::get_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        t => gemm::Parallelism::Rayon(t),
    };
    let dst = Dst {
        data: dst,
        rs: dst_rs,
        accumulate,
    };
    run(dst, dims, (lhs, rhs), beta, parallelism)
}

/// [`gemm`] on the calling thread only (for products inside an op's own parallel loop).
pub(crate) fn gemm_serial(
    dst: &mut [f32],
    dst_rs: usize,
    dims: (usize, usize, usize),
    lhs: View<'_>,
    rhs: View<'_>,
    beta: f32,
    accumulate: bool,
) -> candle_core::Result<()> {
    let dst = Dst {
        data: dst,
        rs: dst_rs,
        accumulate,
    };
    run(dst, dims, (lhs, rhs), beta, gemm::Parallelism::None)
}

/// The output of a product: row-major with row stride `rs`, added to when `accumulate`.
struct Dst<'a> {
    data: &'a mut [f32],
    rs: usize,
    accumulate: bool,
}

fn run(
    dst: Dst<'_>,
    (m, n, k): (usize, usize, usize),
    (lhs, rhs): (View<'_>, View<'_>),
    beta: f32,
    parallelism: gemm::Parallelism,
) -> candle_core::Result<()> {
    let fits = View::new(dst.data, dst.rs, 1).covers(m, n) && lhs.covers(m, k) && rhs.covers(k, n);
    if !fits {
        candle_core::bail!(
            "gemm: an operand is smaller than its shape (m, n, k) = ({m}, {n}, {k})"
        );
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    // SAFETY: every element gemm reads or writes lies inside its slice (checked above), and
    // `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            1,
            dst.rs as isize,
            dst.accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            if dst.accumulate { 1.0 } else { 0.0 },
            beta,
            false,
            false,
            false,
            parallelism,
        )
    };
    Ok(())
}
