//! Cholesky factorisation `A = L L^T` of a symmetric positive-definite matrix, in place on
//! its row-major lower triangle, and the solve `L L^T x = b`.
//!
//! Two callers use it with different arithmetic, and each keeps its own bits through an
//! [`Arithmetic`] policy:
//! - [`InOrder`]: the method of optimal directions' normal equations. The matrix is held in
//!   float32, the factorisation is computed in float64 and the solves in float32, every sum
//!   accumulated term by term in index order.
//! - [`Lanes`]: the active-set coder's Newton step, in float64, with dot products in four
//!   independent partial sums (so they vectorise) and the back substitution as column
//!   updates (contiguous in the row-major factor). The functions are `#[inline(always)]` so
//!   that they compile inside the coder's instruction-set copies.

/// The element type and summation order of a factorisation and its solves.
pub trait Arithmetic {
    /// How the matrix and its factor are stored.
    type Element: Copy + std::ops::Div<Output = Self::Element>;
    fn widen(x: Self::Element) -> f64;
    fn narrow(x: f64) -> Self::Element;
    /// `a - x . y` in float64, for the factorisation.
    fn factor_residual(a: f64, x: &[Self::Element], y: &[Self::Element]) -> f64;
    /// A below-diagonal entry of L from its numerator, the diagonal entry above it and that
    /// entry's reciprocal (computed once per column, whether or not the policy uses it).
    fn below_diagonal(numerator: f64, diagonal: f64, reciprocal: f64) -> f64;
    /// `b - x . y` in the element type, for the forward substitution.
    fn solve_residual(b: Self::Element, x: &[Self::Element], y: &[Self::Element]) -> Self::Element;
    /// `L^T x = y` in place, given the row-major factor `l` of size `m`.
    fn back_substitute(l: &[Self::Element], m: usize, y: &mut [Self::Element]);
}

/// Float32 storage, float64 factorisation, float32 solves; sums in index order.
pub struct InOrder;

impl Arithmetic for InOrder {
    type Element = f32;

    #[inline(always)]
    fn widen(x: f32) -> f64 {
        x as f64
    }

    #[inline(always)]
    fn narrow(x: f64) -> f32 {
        x as f32
    }

    #[inline(always)]
    fn factor_residual(a: f64, x: &[f32], y: &[f32]) -> f64 {
        x.iter()
            .zip(y)
            .fold(a, |acc, (&p, &q)| acc - p as f64 * q as f64)
    }

    #[inline(always)]
    fn below_diagonal(numerator: f64, diagonal: f64, _reciprocal: f64) -> f64 {
        numerator / diagonal
    }

    #[inline(always)]
    fn solve_residual(b: f32, x: &[f32], y: &[f32]) -> f32 {
        x.iter().zip(y).fold(b, |acc, (&p, &q)| acc - p * q)
    }

    /// Row by row from the bottom, each entry's sum in increasing column order (reading L
    /// down a column).
    #[inline(always)]
    fn back_substitute(l: &[f32], m: usize, y: &mut [f32]) {
        for i in (0..m).rev() {
            let mut v = y[i];
            for j in i + 1..m {
                v -= l[j * m + i] * y[j];
            }
            y[i] = v / l[i * m + i];
        }
    }
}

/// Float64 throughout; dot products in four partial sums, back substitution by columns.
pub struct Lanes;

impl Arithmetic for Lanes {
    type Element = f64;

    #[inline(always)]
    fn widen(x: f64) -> f64 {
        x
    }

    #[inline(always)]
    fn narrow(x: f64) -> f64 {
        x
    }

    #[inline(always)]
    fn factor_residual(a: f64, x: &[f64], y: &[f64]) -> f64 {
        a - dot_lanes(x, y)
    }

    #[inline(always)]
    fn below_diagonal(numerator: f64, _diagonal: f64, reciprocal: f64) -> f64 {
        numerator * reciprocal
    }

    #[inline(always)]
    fn solve_residual(b: f64, x: &[f64], y: &[f64]) -> f64 {
        b - dot_lanes(x, y)
    }

    /// Column by column from the right: each solved entry is subtracted from the entries
    /// above it at once (L's row, contiguous).
    #[inline(always)]
    fn back_substitute(l: &[f64], m: usize, y: &mut [f64]) {
        for p in (0..m).rev() {
            let row = &l[p * m..p * m + p + 1];
            let yp = y[p] / row[p];
            y[p] = yp;
            for (yl, &lpl) in y[..p].iter_mut().zip(&row[..p]) {
                *yl -= lpl * yp;
            }
        }
    }
}

/// A dot product with four independent partial sums, so it vectorises; the order is fixed:
/// lanes `i % 4` over the whole multiples of four, then the tail in order.
#[inline(always)]
pub fn dot_lanes(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let n = x.len().min(y.len());
    let (xc, yc) = (x[..n].chunks_exact(4), y[..n].chunks_exact(4));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Factors the `m x m` matrix whose lower triangle is in `a` (row-major, `a[p * m + q]` for
/// q <= p; the upper triangle is not read) into L, in place. Fails, leaving `a` partly
/// overwritten, when a pivot is at most `min_pivot` times the diagonal entry it came from
/// (0 accepts any positive pivot; a small positive ratio also refuses a numerically
/// singular matrix).
#[inline(always)]
pub fn factor<A: Arithmetic>(a: &mut [A::Element], m: usize, min_pivot: f64) -> bool {
    let a = &mut a[..m * m];
    for q in 0..m {
        let (upper, below) = a.split_at_mut((q + 1) * m);
        let row_q = &mut upper[q * m..(q + 1) * m];
        let diagonal = A::widen(row_q[q]);
        let pivot = A::factor_residual(diagonal, &row_q[..q], &row_q[..q]);
        if pivot <= min_pivot * diagonal {
            return false;
        }
        let pivot = pivot.sqrt();
        row_q[q] = A::narrow(pivot);
        let reciprocal = 1.0 / pivot;
        let lq = &row_q[..q];
        for row_p in below.chunks_exact_mut(m) {
            let numerator = A::factor_residual(A::widen(row_p[q]), &row_p[..q], lq);
            row_p[q] = A::narrow(A::below_diagonal(numerator, pivot, reciprocal));
        }
    }
    true
}

/// Solves `L L^T x = b` in place (`b` in, `x` out) with `l` from [`factor`].
#[inline(always)]
pub fn solve<A: Arithmetic>(l: &[A::Element], m: usize, b: &mut [A::Element]) {
    for p in 0..m {
        let row = &l[p * m..p * m + p + 1];
        b[p] = A::solve_residual(b[p], &row[..p], &b[..p]) / row[p];
    }
    A::back_substitute(l, m, &mut b[..m]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric positive-definite test matrix, row-major: M M^T + m I.
    fn spd(m: usize) -> Vec<f64> {
        let x: Vec<f64> = (0..m * m)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 5.0)
            .collect();
        let mut a = vec![0.0; m * m];
        for p in 0..m {
            for q in 0..m {
                a[p * m + q] = (0..m).map(|t| x[p * m + t] * x[q * m + t]).sum::<f64>()
                    + if p == q { m as f64 } else { 0.0 };
            }
        }
        a
    }

    /// Solves with the policy and returns the residual's largest entry against the float64
    /// matrix.
    fn residual<A: Arithmetic>(m: usize, to: impl Fn(f64) -> A::Element) -> f64 {
        let a = spd(m);
        let b: Vec<f64> = (0..m).map(|i| i as f64 - 2.5).collect();
        let mut l: Vec<A::Element> = a.iter().map(|&v| to(v)).collect();
        assert!(factor::<A>(&mut l, m, 0.0));
        let mut x: Vec<A::Element> = b.iter().map(|&v| to(v)).collect();
        solve::<A>(&l, m, &mut x);
        (0..m)
            .map(|p| {
                let ax: f64 = (0..m).map(|q| a[p * m + q] * A::widen(x[q])).sum();
                (ax - b[p]).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn both_policies_solve_a_well_conditioned_system() {
        // Condition number about 10 at m = 9: float64 leaves ~1e-14, float32 solves ~1e-5.
        assert!(residual::<Lanes>(9, |v| v) < 1e-12);
        assert!(residual::<InOrder>(9, |v| v as f32) < 1e-4);
    }

    #[test]
    fn the_factor_times_its_transpose_is_the_matrix() {
        let m = 7;
        let a = spd(m);
        let mut l = a.clone();
        assert!(factor::<Lanes>(&mut l, m, 0.0));
        for p in 0..m {
            for q in 0..=p {
                let llt: f64 = (0..=q).map(|t| l[p * m + t] * l[q * m + t]).sum();
                assert!((llt - a[p * m + q]).abs() < 1e-12, "({p}, {q})");
            }
        }
    }

    #[test]
    fn a_singular_matrix_is_refused() {
        // Rank one: the second pivot is zero up to rounding.
        let mut a = vec![1.0, 0.0, 2.0, 4.0];
        assert!(!factor::<Lanes>(&mut a, 2, 1e-10));
        let mut a = vec![1.0f32, 0.0, 1.0, 0.5];
        assert!(!factor::<InOrder>(&mut a, 2, 0.0));
    }

    #[test]
    fn lanes_dot_sums_in_its_fixed_order() {
        let x: Vec<f64> = (0..11).map(|i| i as f64).collect();
        let y = vec![1.0; 11];
        assert_eq!(dot_lanes(&x, &y), 55.0);
        // 1e16 + 1 - 1e16 in lane 0 and 1 elsewhere: the lane order keeps the ones.
        let x = [1e16, 1.0, 1.0, 1.0, 1.0, -1e16];
        let y = [1.0; 6];
        assert_eq!(
            dot_lanes(&x, &y),
            ((1e16 + 1.0) + (1.0 + 1.0)) + (1.0 + -1e16)
        );
    }
}
