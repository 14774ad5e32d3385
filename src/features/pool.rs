//! Four-quadrant sum pooling, as in Coates, Lee and Ng (AISTATS 2011): the grid of window
//! positions (n x n, 27 x 27 for 6x6 windows on 32x32 images) is cut into four quadrants and
//! each feature is summed over each quadrant, giving 4 x features values per image.
//!
//! The cut is at `half = ceil(n / 2)` (14 for 27, as Matlab's `round(27 / 2)` in the paper's
//! code), so with odd n the top and left quadrants hold one more row or column. The pooled
//! vector is quadrant-major: top-left, top-right, bottom-left, bottom-right, each holding all
//! features in their own order.

/// Rows or columns of positions in the first (top or left) half of an `n`-long side.
pub fn first_half(n: usize) -> usize {
    n.div_ceil(2)
}

/// The quadrant (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of position
/// (`py`, `px`) on an `n` x `n` grid.
pub fn quadrant(py: usize, px: usize, n: usize) -> usize {
    let half = first_half(n);
    2 * usize::from(py >= half) + usize::from(px >= half)
}

/// Calls `add(position, accumulator)` for every position of an `n` x `n` grid in row-major
/// order, where `accumulator` is the `features`-long slice of `pooled` (4 x `features`)
/// belonging to the position's quadrant. The encoders pass a closure that adds the
/// position's features, so features are pooled as they are made and never stored per
/// position.
pub fn pool_positions(
    n: usize,
    features: usize,
    pooled: &mut [f32],
    mut add: impl FnMut(usize, &mut [f32]),
) {
    assert_eq!(
        pooled.len(),
        4 * features,
        "pooled holds 4 x features values"
    );
    for py in 0..n {
        for px in 0..n {
            let q = quadrant(py, px, n);
            add(py * n + px, &mut pooled[q * features..(q + 1) * features]);
        }
    }
}

/// Sums `values` ((n * n) x `features`, row-major by position) over the four quadrants into
/// `pooled` (4 x `features`), overwriting it.
pub fn sum_pool_quadrants(values: &[f32], n: usize, features: usize, pooled: &mut [f32]) {
    assert_eq!(values.len(), n * n * features);
    pooled.fill(0.0);
    pool_positions(n, features, pooled, |p, acc| {
        for (a, &v) in acc
            .iter_mut()
            .zip(&values[p * features..(p + 1) * features])
        {
            *a += v;
        }
    });
}
