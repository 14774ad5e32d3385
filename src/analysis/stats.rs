//! Small statistics for reports: quantiles (NumPy's default linear interpolation), mean and
//! standard deviation, the two-sample Kolmogorov-Smirnov test for linear quantities, and for
//! orientations (axial data, period 180 degrees) Kuiper's two-sample test, which does not
//! depend on where the circle is cut, applied to doubled angles.

/// Summary of a sample with NaNs dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of finite values.
    pub count: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1 denominator); NaN below two values.
    pub sd: f64,
    pub q25: f64,
    pub median: f64,
    pub q75: f64,
}

/// Finite values of `v`, sorted.
fn sorted_finite(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    s
}

/// Quantile `q` in [0, 1] of sorted data by linear interpolation (NumPy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Count, mean, sd and quartiles of the finite values of `v`.
pub fn summarise(v: &[f64]) -> Summary {
    let s = sorted_finite(v);
    let n = s.len();
    let mean = if n > 0 {
        s.iter().sum::<f64>() / n as f64
    } else {
        f64::NAN
    };
    let sd = if n > 1 {
        (s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        f64::NAN
    };
    Summary {
        count: n,
        mean,
        sd,
        q25: quantile_sorted(&s, 0.25),
        median: quantile_sorted(&s, 0.5),
        q75: quantile_sorted(&s, 0.75),
    }
}

/// Result of a two-sample test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoSample {
    pub statistic: f64,
    pub p_value: f64,
    pub n_a: usize,
    pub n_b: usize,
}

/// Largest positive and negative gaps between the empirical CDFs of two sorted samples.
fn cdf_gaps(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let (mut plus, mut minus) = (0f64, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let d = i as f64 / na - j as f64 / nb;
        plus = plus.max(d);
        minus = minus.max(-d);
    }
    (plus, minus)
}

/// Two-sample Kolmogorov-Smirnov: D = sup |F_a - F_b|, p from the asymptotic Kolmogorov
/// distribution at sqrt(n_a n_b / (n_a + n_b)) D (`scipy.special.kolmogorov`, as
/// `scipy.stats.ks_2samp(method="asymp")` in SciPy < 1.5). NaN with an empty sample.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> TwoSample {
    let (a, b) = (sorted_finite(a), sorted_finite(b));
    if a.is_empty() || b.is_empty() {
        return TwoSample {
            statistic: f64::NAN,
            p_value: f64::NAN,
            n_a: a.len(),
            n_b: b.len(),
        };
    }
    let (plus, minus) = cdf_gaps(&a, &b);
    let d = plus.max(minus);
    let en = (a.len() * b.len()) as f64 / (a.len() + b.len()) as f64;
    TwoSample {
        statistic: d,
        p_value: kolmogorov_sf(en.sqrt() * d),
        n_a: a.len(),
        n_b: b.len(),
    }
}

/// Kuiper's two-sample test on axial angles in degrees (period 180): angles are doubled onto
/// the circle, V = D+ + D- (invariant to the cut point), p from the asymptotic Kuiper
/// distribution with Stephens' small-sample correction (Numerical Recipes 14.3).
pub fn kuiper_axial_deg(a: &[f64], b: &[f64]) -> TwoSample {
    let wrap = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .filter(|x| x.is_finite())
            .map(|x| x.rem_euclid(180.0))
            .collect()
    };
    let (a, b) = (sorted_finite(&wrap(a)), sorted_finite(&wrap(b)));
    if a.is_empty() || b.is_empty() {
        return TwoSample {
            statistic: f64::NAN,
            p_value: f64::NAN,
            n_a: a.len(),
            n_b: b.len(),
        };
    }
    let (plus, minus) = cdf_gaps(&a, &b);
    let v = plus + minus;
    let en = ((a.len() * b.len()) as f64 / (a.len() + b.len()) as f64).sqrt();
    TwoSample {
        statistic: v,
        p_value: kuiper_sf((en + 0.155 + 0.24 / en) * v),
        n_a: a.len(),
        n_b: b.len(),
    }
}

/// Mean direction (degrees in [0, 180)) and mean resultant length (0 uniform .. 1 all equal)
/// of axial angles in degrees, computed on doubled angles.
pub fn axial_mean_deg(v: &[f64]) -> (f64, f64) {
    let (mut c, mut s, mut n) = (0.0, 0.0, 0usize);
    for x in v.iter().filter(|x| x.is_finite()) {
        let t = (2.0 * x).to_radians();
        c += t.cos();
        s += t.sin();
        n += 1;
    }
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (c, s) = (c / n as f64, s / n as f64);
    (
        (s.atan2(c).to_degrees() / 2.0).rem_euclid(180.0),
        c.hypot(s),
    )
}

/// Survival function of the Kolmogorov distribution: 2 sum_k (-1)^(k-1) exp(-2 k^2 x^2).
pub fn kolmogorov_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < 0.2 {
        // The alternating series converges slowly here and the answer is 1 to 1e-30.
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=200 {
        let kf = k as f64;
        let term = (-2.0 * kf * kf * x * x).exp();
        sum += if k % 2 == 1 { term } else { -term };
        if term < 1e-18 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Survival function of Kuiper's distribution: 2 sum_k (4 k^2 x^2 - 1) exp(-2 k^2 x^2).
pub fn kuiper_sf(x: f64) -> f64 {
    if x < 0.4 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=200 {
        let kf = k as f64;
        let a = 2.0 * kf * kf * x * x;
        let term = (2.0 * a - 1.0) * (-a).exp();
        sum += term;
        if term.abs() < 1e-18 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_follow_numpy_linear() {
        let s = summarise(&[4.0, 1.0, f64::NAN, 3.0, 2.0]);
        assert_eq!(s.count, 4);
        // np.percentile([1,2,3,4], [25,50,75]) = [1.75, 2.5, 3.25]
        assert_eq!((s.q25, s.median, s.q75), (1.75, 2.5, 3.25));
        assert!((s.sd - 1.2909944487358056).abs() < 1e-12);
    }

    #[test]
    fn ks_of_identical_and_disjoint_samples() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let same = ks_two_sample(&a, &a);
        assert_eq!(same.statistic, 0.0);
        assert_eq!(same.p_value, 1.0);
        let far = ks_two_sample(&a, &[10.0, 11.0, 12.0]);
        assert_eq!(far.statistic, 1.0);
        // scipy.special.kolmogorov(sqrt(12 / 7)) = 0.06486426873885241
        assert!(
            (far.p_value - 0.06486426873885241).abs() < 1e-9,
            "{}",
            far.p_value
        );
    }

    #[test]
    fn kuiper_is_invariant_to_rotating_both_samples() {
        let a = [10.0, 20.0, 30.0, 100.0, 170.0];
        let b = [50.0, 60.0, 65.0, 120.0];
        let rot = |v: &[f64]| v.iter().map(|x| x + 73.0).collect::<Vec<_>>();
        let k1 = kuiper_axial_deg(&a, &b);
        let k2 = kuiper_axial_deg(&rot(&a), &rot(&b));
        assert!((k1.statistic - k2.statistic).abs() < 1e-12);
        let (mean, r) = axial_mean_deg(&[179.0, 1.0]);
        assert!((mean.min(180.0 - mean)).abs() < 1e-9 && (r - 1.0).abs() < 1e-3);
    }
}
