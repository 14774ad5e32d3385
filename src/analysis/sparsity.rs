//! Sparsity measures of a vector of values (filter weights, one unit's responses, one
//! sample's population response). All are scale invariant and return NaN for an empty or
//! all-zero vector where they are undefined, so callers can tell "undefined" from "dense".

/// Hoyer (2004): (sqrt(n) - ||v||_1 / ||v||_2) / (sqrt(n) - 1). 1 for a one-hot vector, 0 for
/// a constant one; about 0.2 for a long Gaussian vector (1 - sqrt(2/pi) over 1 - 1/sqrt(n)).
pub fn hoyer(v: &[f32]) -> f64 {
    let n = v.len();
    if n < 2 {
        return f64::NAN;
    }
    let (l1, l2) = v.iter().fold((0f64, 0f64), |(a, b), &x| {
        let x = x as f64;
        (a + x.abs(), b + x * x)
    });
    if l2 == 0.0 {
        return f64::NAN;
    }
    let sn = (n as f64).sqrt();
    (sn - l1 / l2.sqrt()) / (sn - 1.0)
}

/// Excess kurtosis: E[(v - mean)^4] / var^2 - 3 (population moments). 0 for a Gaussian,
/// large and positive for a heavy-tailed (sparse) distribution.
pub fn excess_kurtosis(v: &[f32]) -> f64 {
    let n = v.len();
    if n < 2 {
        return f64::NAN;
    }
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let (m2, m4) = v.iter().fold((0f64, 0f64), |(a, b), &x| {
        let d = x as f64 - mean;
        (a + d * d, b + d * d * d * d)
    });
    let (m2, m4) = (m2 / n as f64, m4 / n as f64);
    if m2 == 0.0 {
        return f64::NAN;
    }
    m4 / (m2 * m2) - 3.0
}

/// Gini index of the magnitudes (Hurley and Rickard 2009): 0 when all magnitudes are equal,
/// 1 - 1/n for a one-hot vector.
pub fn gini(v: &[f32]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let mut mags: Vec<f64> = v.iter().map(|&x| (x as f64).abs()).collect();
    mags.sort_by(|a, b| a.total_cmp(b));
    let l1: f64 = mags.iter().sum();
    if l1 == 0.0 {
        return f64::NAN;
    }
    let nf = n as f64;
    let weighted: f64 = mags
        .iter()
        .enumerate()
        .map(|(k, m)| (m / l1) * ((nf - (k as f64 + 1.0) + 0.5) / nf))
        .sum();
    1.0 - 2.0 * weighted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        let mut one_hot = vec![0f32; 100];
        one_hot[7] = -3.0;
        assert!((hoyer(&one_hot) - 1.0).abs() < 1e-12);
        assert!((gini(&one_hot) - (1.0 - 1.0 / 100.0)).abs() < 1e-12);
        let constant = vec![2.5f32; 100];
        assert!(hoyer(&constant).abs() < 1e-12);
        assert!(gini(&constant).abs() < 1e-12);
        // Scale invariance.
        let v: Vec<f32> = (0..50).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
        let w: Vec<f32> = v.iter().map(|x| x * 37.0).collect();
        assert!((hoyer(&v) - hoyer(&w)).abs() < 1e-9);
        assert!((gini(&v) - gini(&w)).abs() < 1e-9);
        assert!((excess_kurtosis(&v) - excess_kurtosis(&w)).abs() < 1e-6);
        // A two-point symmetric distribution has kurtosis 1, so excess -2.
        let two = [1f32, -1.0, 1.0, -1.0];
        assert!((excess_kurtosis(&two) + 2.0).abs() < 1e-12);
    }
}
