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
    let parallelism = over(candle_core::utils::get_num_threads());
    let dst = Dst {
        data: dst,
        rs: dst_rs,
        accumulate,
    };
    run(dst, dims, (lhs, rhs), beta, parallelism)
}

/// `beta * lhs (m, k) rhs (k, n)` as a new row-major `(m, n)` matrix, over candle's threads.
pub(crate) fn product(
    (m, n, k): (usize, usize, usize),
    lhs: View<'_>,
    rhs: View<'_>,
    beta: f32,
) -> candle_core::Result<Vec<f32>> {
    product_with(
        (m, n, k),
        (lhs, rhs),
        beta,
        over(candle_core::utils::get_num_threads()),
    )
}

/// [`product`] with the given parallelism.
fn product_with(
    (m, n, k): (usize, usize, usize),
    (lhs, rhs): (View<'_>, View<'_>),
    beta: f32,
    parallelism: gemm::Parallelism,
) -> candle_core::Result<Vec<f32>> {
    if !(lhs.covers(m, k) && rhs.covers(k, n)) {
        candle_core::bail!(
            "gemm: an operand is smaller than its shape (m, n, k) = ({m}, {n}, {k})"
        );
    }
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    if m == 0 || n == 0 {
        return Ok(out);
    }
    // SAFETY: the operands' elements lie inside their slices (checked above) and `out` has room
    // for m * n elements, which gemm writes without reading them (read_dst false, alpha 0; zeros
    // when k == 0) before the length is set; zero-filling first cost a pass over the output.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            0.0,
            beta,
            false,
            false,
            false,
            parallelism,
        );
        out.set_len(m * n);
    }
    Ok(out)
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

/// `a^T b` as a new row-major `(m, n)` for `a (rows, m)`, `b (rows, n)` (row strides `a_rs`,
/// `b_rs`, columns contiguous): a weight gradient, summed
/// over the rows of a batch. gemm splits only `m` and `n` over threads, and these are small
/// next to `rows` (one core did most of the work), so the rows go in two fixed halves, one per
/// core, added at the end: both cores work, and the result does not depend on the thread count.
pub(crate) fn gemm_tn(
    (a, a_rs): (&[f32], usize),
    (b, b_rs): (&[f32], usize),
    (rows, m, n): (usize, usize, usize),
) -> candle_core::Result<Vec<f32>> {
    let fits = |x: &[f32], rs: usize, cols: usize| {
        rows == 0 || cols == 0 || (rs >= cols && (rows - 1) * rs + cols <= x.len())
    };
    if !(fits(a, a_rs, m) && fits(b, b_rs, n)) {
        candle_core::bail!(
            "gemm: an operand is smaller than its shape (rows, m, n) = ({rows}, {m}, {n})"
        );
    }
    let threads = candle_core::utils::get_num_threads();
    let half = rows / 2;
    let part = |from: usize, count: usize, par| {
        let lhs = View::new(a.get(from * a_rs..).unwrap_or(&[]), 1, a_rs);
        let rhs = View::new(b.get(from * b_rs..).unwrap_or(&[]), b_rs, 1);
        product_with((m, n, count), (lhs, rhs), 1.0, par)
    };
    if half < 64 {
        return part(0, rows, over(threads));
    }
    let inner = over(threads / 2);
    let (first, second) = rayon::join(|| part(0, half, inner), || part(half, rows - half, inner));
    let (mut sum, second) = (first?, second?);
    for (d, s) in sum.iter_mut().zip(&second) {
        *d += s;
    }
    Ok(sum)
}

/// gemm's parallelism for `threads` threads.
fn over(threads: usize) -> gemm::Parallelism {
    match threads {
        0 | 1 => gemm::Parallelism::None,
        t => gemm::Parallelism::Rayon(t),
    }
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
