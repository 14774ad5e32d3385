//! Normalisation of vectors: filters and atoms are compared and stored with zero mean and
//! unit Euclidean norm. Sums run in index order in the vector's own precision, so a caller
//! gets the same bits wherever the vector comes from.

/// Euclidean norm, summed in index order.
pub fn norm<T: Real>(v: &[T]) -> T {
    v.iter().map(|&x| x * x).sum::<T>().sqrt()
}

/// Subtracts the mean of `v` from every element and returns the norm of what is left.
pub fn remove_mean(v: &mut [f64]) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter_mut().for_each(|x| *x -= mean);
    norm(v)
}

/// Divides `v` by its norm, unless the norm is zero (the vector is then left as it is).
/// Returns the norm it had.
pub fn unit_norm<T: Real>(v: &mut [T]) -> T {
    let n = norm(v);
    if n > T::ZERO {
        v.iter_mut().for_each(|x| *x = *x / n);
    }
    n
}

/// [`remove_mean`], then [`unit_norm`]: returns the norm after the mean was removed (zero for
/// a constant vector, which is left all zero).
pub fn zero_mean_unit_norm(v: &mut [f64]) -> f64 {
    remove_mean(v);
    unit_norm(v)
}

/// The float types the normalisations run in.
pub trait Real:
    Copy + PartialOrd + std::iter::Sum + std::ops::Mul<Output = Self> + std::ops::Div<Output = Self>
{
    const ZERO: Self;
    fn sqrt(self) -> Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_mean_unit_norm_of_a_known_vector() {
        // Mean 2.5; centred [-1.5, -0.5, 0.5, 1.5], norm sqrt(5).
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        let n = zero_mean_unit_norm(&mut v);
        assert_eq!(n, 5f64.sqrt());
        let want = [-1.5, -0.5, 0.5, 1.5].map(|x: f64| x / 5f64.sqrt());
        assert_eq!(v, want);
    }

    #[test]
    fn a_constant_vector_becomes_zero_and_a_zero_one_stays_zero() {
        let mut v = vec![2.0; 5];
        assert_eq!(zero_mean_unit_norm(&mut v), 0.0);
        assert!(v.iter().all(|&x| x == 0.0));
        let mut z = vec![0.0f32; 3];
        assert_eq!(unit_norm(&mut z), 0.0);
        assert_eq!(z, [0.0; 3]);
    }

    #[test]
    fn unit_norm_in_float32() {
        let mut v = vec![3.0f32, 4.0];
        assert_eq!(unit_norm(&mut v), 5.0);
        assert_eq!(v, [0.6, 0.8]);
    }
}
