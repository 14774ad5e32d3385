//! Optimal one-to-one matching (the assignment problem) by the Hungarian method in its
//! O(n^2 m) shortest-augmenting-path form with row and column potentials (Kuhn-Munkres as
//! refined by Jonker and Volgenant). Hand-written because it is forty lines and the crates
//! that offer it want integer costs or their own matrix types.

/// Pairs (row, column) maximising the summed `score` over a one-to-one matching of
/// min(rows, cols) pairs; `score` is row-major rows x cols. Sorted by row.
pub fn maximise(score: &[f32], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    assert_eq!(score.len(), rows * cols);
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    if rows <= cols {
        let cost = |i: usize, j: usize| -(score[i * cols + j] as f64);
        let assign = minimise(rows, cols, cost);
        assign.into_iter().enumerate().collect()
    } else {
        let cost = |i: usize, j: usize| -(score[j * cols + i] as f64);
        let assign = minimise(cols, rows, cost);
        let mut pairs: Vec<(usize, usize)> = assign
            .into_iter()
            .enumerate()
            .map(|(j, i)| (i, j))
            .collect();
        pairs.sort_unstable();
        pairs
    }
}

/// Minimum-cost assignment of every one of `n` rows to a distinct one of `m >= n` columns.
/// Returns the column of each row.
fn minimise(n: usize, m: usize, cost: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    // 1-based arrays with index 0 as the virtual start, as in the classic formulation.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut row_of = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    let mut min_to = vec![0.0f64; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        row_of[0] = i;
        let mut j0 = 0usize;
        min_to.fill(f64::INFINITY);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = row_of[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if used[j] {
                    continue;
                }
                let reduced = cost(i0 - 1, j - 1) - u[i0] - v[j];
                if reduced < min_to[j] {
                    min_to[j] = reduced;
                    way[j] = j0;
                }
                if min_to[j] < delta {
                    delta = min_to[j];
                    j1 = j;
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_to[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut assign = vec![0usize; n];
    for j in 1..=m {
        if row_of[j] > 0 {
            assign[row_of[j] - 1] = j - 1;
        }
    }
    assign
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive best total over all injective maps, for checking on small problems.
    fn brute(score: &[f32], rows: usize, cols: usize) -> f64 {
        fn go(i: usize, rows: usize, cols: usize, used: &mut Vec<bool>, s: &[f32]) -> f64 {
            if i == rows {
                return 0.0;
            }
            let mut best = f64::NEG_INFINITY;
            for j in 0..cols {
                if !used[j] {
                    used[j] = true;
                    best = best.max(s[i * cols + j] as f64 + go(i + 1, rows, cols, used, s));
                    used[j] = false;
                }
            }
            best
        }
        go(0, rows, cols, &mut vec![false; cols], score)
    }

    #[test]
    fn matches_brute_force_on_small_random_tables() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 1000) as f32 / 1000.0
        };
        for (rows, cols) in [(4, 4), (3, 6), (6, 3), (5, 5)] {
            let score: Vec<f32> = (0..rows * cols).map(|_| next()).collect();
            let pairs = maximise(&score, rows, cols);
            assert_eq!(pairs.len(), rows.min(cols));
            let mut seen_r = vec![false; rows];
            let mut seen_c = vec![false; cols];
            for &(i, j) in &pairs {
                assert!(!seen_r[i] && !seen_c[j]);
                seen_r[i] = true;
                seen_c[j] = true;
            }
            let total: f64 = pairs.iter().map(|&(i, j)| score[i * cols + j] as f64).sum();
            // The brute force assigns rows to columns, so give it the taller side as columns.
            let best = if rows <= cols {
                brute(&score, rows, cols)
            } else {
                let t: Vec<f32> = (0..cols * rows)
                    .map(|k| score[(k % rows) * cols + k / rows])
                    .collect();
                brute(&t, cols, rows)
            };
            assert!((total - best).abs() < 1e-5, "{rows}x{cols}");
        }
    }
}
