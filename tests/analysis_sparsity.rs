//! Properties of the sparsity measures: one-hot and constant extremes, and invariance to
//! scale (Hoyer, Gini, kurtosis) and to sign flips, over random vectors.

use proptest::prelude::*;
use simplecell::analysis::sparsity::{excess_kurtosis, gini, hoyer};

#[test]
fn one_hot_and_constant_extremes() {
    for n in [2usize, 10, 257] {
        let mut one_hot = vec![0f32; n];
        one_hot[n / 2] = 4.0;
        assert!((hoyer(&one_hot) - 1.0).abs() < 1e-12);
        // Gini of a one-hot vector is 1 - 1/n: "near 1" for any useful length.
        assert!((gini(&one_hot) - (1.0 - 1.0 / n as f64)).abs() < 1e-12);
        let constant = vec![-0.7f32; n];
        assert!(hoyer(&constant).abs() < 1e-7);
        assert!(gini(&constant).abs() < 1e-12);
    }
}

proptest! {
    #[test]
    fn scale_and_sign_invariance(
        v in prop::collection::vec(-10.0f32..10.0, 4..200),
        scale in 0.01f32..100.0,
    ) {
        prop_assume!(v.iter().any(|x| x.abs() > 1e-3));
        let w: Vec<f32> = v.iter().map(|x| -x * scale).collect();
        // f32 scaling rounds each element by at most half an ulp; 1e-5 relative is ample.
        prop_assert!((hoyer(&v) - hoyer(&w)).abs() < 1e-5);
        prop_assert!((gini(&v) - gini(&w)).abs() < 1e-5);
        let (kv, kw) = (excess_kurtosis(&v), excess_kurtosis(&w));
        if kv.is_finite() {
            prop_assert!((kv - kw).abs() < 1e-4 * (1.0 + kv.abs()));
        }
        prop_assert!((0.0..=1.0 + 1e-9).contains(&hoyer(&v)));
        prop_assert!((0.0..=1.0).contains(&gini(&v)));
    }
}
