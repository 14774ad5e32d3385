//! The arithmetic of one online block-coordinate-descent update: the statistics pass, cut
//! into parts that run on separate threads, and the sweep over the atoms, on one thread.
//!
//! Statistics: the batch's nonzero codes are compacted once ([`Nonzeros`]); part `t` owns a
//! band of rows of `B` and a band of columns of `A`, discounts them and adds the batch's
//! contributions to them, reading every patch's nonzero codes. The
//! parts write disjoint pieces and never wait for each other, so they can run as ordinary
//! rayon tasks, and every element is summed in patch order whatever the number of parts.
//!
//! Sweep: `d_j <- normalise(d_j + (b_j - D a_j) / A_jj)` for each atom in turn. It is
//! sequential over atoms (each update reads the atoms before it), and splitting it over
//! threads by rows costs one exchange of partial norms per atom: on 2 cores that exchange
//! tied the threads together so tightly that a third process taking a core for a moment
//! stalled both, and the update ran 2-10x slower than on one thread. So the sweep stays on
//! one thread and is made cheap instead, in blocks of atoms that read the dictionary once per
//! block rather than once per atom (see [`sweep_inline`]).
//!
//! Every multiply-add is an explicit `mul_add` (one rounding), so the instruction set changes
//! the speed but not the result: AVX-512 and AVX2 do it in hardware, and the portable build
//! calls the correctly rounded `fmaf`. Both passes run on the widest instruction set present,
//! through the crate's one dispatch ([`crate::linalg::dispatch`]).

use crate::linalg::dispatch::widest_simd;

/// Rows per vector: one AVX-512 vector of f32.
pub(super) const LANES: usize = 16;

/// Shapes and constants of one statistics pass, shared by every part.
///
/// The pass covers a region of the statistics (all of them, or under MPI one rank's band,
/// see [`Plan::within`]) and cuts it into `parts`. Since every element is written by one
/// part and summed in patch order, any cut gives the same bits.
#[derive(Clone, Copy)]
pub(super) struct Plan {
    pub pixels: usize,
    pub atoms: usize,
    pub patches: usize,
    pub parts: usize,
    /// Discount of the old statistics (the forgetting factor of this update).
    pub beta: f32,
    /// Weight of each new patch, 1 / patches.
    pub weight: f32,
    /// The region: 16-row vectors `vectors.0..vectors.1` of `B` (the last one may be short)
    /// and columns `columns.0..columns.1` of `A`.
    pub vectors: (usize, usize),
    pub columns: (usize, usize),
}

impl Plan {
    /// A pass over all of `A` and `B`.
    pub fn whole(pixels: usize, atoms: usize, patches: usize, parts: usize) -> Self {
        Self {
            pixels,
            atoms,
            patches,
            parts,
            beta: 1.0,
            weight: 1.0,
            vectors: (0, pixels.div_ceil(LANES)),
            columns: (0, atoms),
        }
    }

    /// Vectors and columns of part `t`: the region cut evenly, in order.
    fn cut(&self, t: usize) -> ((usize, usize), (usize, usize)) {
        let share = |(lo, hi): (usize, usize)| {
            let n = hi - lo;
            (lo + t * n / self.parts, lo + (t + 1) * n / self.parts)
        };
        (share(self.vectors), share(self.columns))
    }

    /// Rows of `B` that part `t` owns: a contiguous band of whole vectors.
    pub fn rows(&self, t: usize) -> (usize, usize) {
        let (v0, v1) = self.cut(t).0;
        ((v0 * LANES).min(self.pixels), (v1 * LANES).min(self.pixels))
    }

    /// Columns of `A` that part `t` owns.
    pub fn a_columns(&self, t: usize) -> (usize, usize) {
        self.cut(t).1
    }

    /// The plan of part `t`'s region alone, cut into `parts` (a rank's band, which its
    /// threads share).
    pub fn within(&self, t: usize, parts: usize) -> Self {
        let (vectors, columns) = self.cut(t);
        Self {
            parts,
            vectors,
            columns,
            ..*self
        }
    }
}

/// Raw pointers to the statistics the parts write in disjoint pieces.
#[derive(Clone, Copy)]
pub(super) struct Statistics {
    pub a: *mut f32,
    pub b: *mut f32,
}

// SAFETY: the parts write disjoint pieces (rows of B, columns of A) and nothing reads them
// until every part has finished.
unsafe impl Send for Statistics {}
unsafe impl Sync for Statistics {}

/// The batch's nonzero codes, compacted once per update and read by every part: patch
/// `i`'s atoms are `index[start[i]..start[i + 1]]` with values `value[..]` alike, in atom
/// order. (Each part compacting the codes for itself cost a whole pass over the dense codes
/// per part: with codes a few percent nonzero that was most of a part's work, and under MPI
/// it kept a rank's band of the pass from being much cheaper than the whole pass.)
#[derive(Debug, Clone, Default)]
pub(super) struct Nonzeros {
    index: Vec<u32>,
    value: Vec<f32>,
    start: Vec<usize>,
}

impl Nonzeros {
    /// Compacts `codes` (atoms x patches, column-major).
    pub fn fill(&mut self, codes: &[f32], atoms: usize) {
        let Self {
            index,
            value,
            start,
        } = self;
        index.clear();
        value.clear();
        start.clear();
        start.push(0);
        widest_simd!(
            unsafe fn portable(
                codes: &[f32],
                atoms: usize,
                index: &mut Vec<u32>,
                value: &mut Vec<f32>,
                start: &mut Vec<usize>,
            ) {
                for col in codes.chunks_exact(atoms.max(1)) {
                    // A bit mask of the nonzeros of each 16 codes (one vector compare), then
                    // its set bits in order: about half the groups are all zero at a few
                    // percent nonzero, and they cost one compare. (A branch-free store of
                    // every code, as each part did before, was no faster: the one-thread
                    // update's best of 5 runs was within 4% either way at batch 256 and
                    // 4096, README "MPI".)
                    let mut chunks = col.chunks_exact(LANES);
                    let mut j0 = 0u32;
                    for chunk in &mut chunks {
                        let mut mask = 0u32;
                        for (l, &v) in chunk.iter().enumerate() {
                            mask |= u32::from(v != 0.0) << l;
                        }
                        while mask != 0 {
                            let l = mask.trailing_zeros();
                            index.push(j0 + l);
                            value.push(chunk[l as usize]);
                            mask &= mask - 1;
                        }
                        j0 += LANES as u32;
                    }
                    for (l, &v) in chunks.remainder().iter().enumerate() {
                        if v != 0.0 {
                            index.push(j0 + l as u32);
                            value.push(v);
                        }
                    }
                    start.push(index.len());
                }
            }
        )
    }

    /// Patch `i`'s atoms and values.
    fn patch(&self, i: usize) -> (&[u32], &[f32]) {
        let (lo, hi) = (self.start[i], self.start[i + 1]);
        (&self.index[lo..hi], &self.value[lo..hi])
    }
}

/// Part `t` of the statistics pass: discounts its rows of `B` and columns of `A` by `beta`
/// and adds `weight * x a^T` and `weight * a a^T` of every patch to them.
///
/// # Safety
/// `stats` must point at the column-major `A` (atoms x atoms) and `B` (pixels x atoms) of
/// `plan`, and no one else may touch part `t`'s pieces while this runs. `x` is pixels x
/// patches, column-major, and `codes` holds the same patches' nonzero codes.
pub(super) unsafe fn accumulate_part(
    t: usize,
    plan: &Plan,
    stats: Statistics,
    x: &[f32],
    codes: &Nonzeros,
) {
    let plan = *plan;
    widest_simd!(
        unsafe fn portable(t: usize, plan: Plan, stats: Statistics, x: &[f32], codes: &Nonzeros) {
            unsafe { accumulate_inline(t, &plan, stats, x, codes) }
        }
    )
}

#[inline(always)]
unsafe fn accumulate_inline(t: usize, plan: &Plan, stats: Statistics, x: &[f32], codes: &Nonzeros) {
    let (p, k) = (plan.pixels, plan.atoms);
    let (r0, r1) = plan.rows(t);
    let (q0, q1) = plan.a_columns(t);
    // SAFETY (both slices): inside the matrices, and this part's pieces only (the caller's
    // contract). B's band is not contiguous, so it is sliced column by column.
    let own_a = unsafe { std::slice::from_raw_parts_mut(stats.a.add(q0 * k), (q1 - q0) * k) };
    let b_band =
        |q: usize| unsafe { std::slice::from_raw_parts_mut(stats.b.add(q * p + r0), r1 - r0) };

    own_a.iter_mut().for_each(|v| *v *= plan.beta);
    for q in 0..k {
        b_band(q).iter_mut().for_each(|v| *v *= plan.beta);
    }
    for i in 0..plan.patches {
        let (index, value) = codes.patch(i);
        let xi = &x[i * p + r0..i * p + r1];
        for (&q, &vq) in index.iter().zip(value) {
            let q = q as usize;
            let scaled = vq * plan.weight;
            if (q0..q1).contains(&q) {
                let a_col = &mut own_a[(q - q0) * k..(q - q0 + 1) * k];
                for (&r, &vr) in index.iter().zip(value) {
                    let r = r as usize;
                    a_col[r] = vr.mul_add(scaled, a_col[r]);
                }
            }
            for (bv, &xv) in b_band(q).iter_mut().zip(xi) {
                *bv = xv.mul_add(scaled, *bv);
            }
        }
    }
}

/// Atoms per block of the sweep (see [`sweep_inline`]).
pub(super) const SWEEP_BLOCK: usize = 16;

/// Scratch of the sweep: a block's products with the dictionary and its atoms before the
/// block's updates.
#[derive(Debug, Clone, Default)]
pub(super) struct SweepScratch {
    products: Vec<f32>,
    before: Vec<f32>,
}

impl SweepScratch {
    pub fn new(pixels: usize) -> Self {
        Self {
            products: vec![0.0; pixels * SWEEP_BLOCK],
            before: vec![0.0; pixels * SWEEP_BLOCK],
        }
    }
}

/// One Gauss-Seidel sweep over the atoms of the column-major `dict` (pixels x atoms):
/// `d_j <- normalise(d_j + (b_j - D a_j) / A_jj)`. Atoms with (near) zero `A_jj` have had no
/// usage since they were (re)born and are left alone; the dead-atom rule of the learning loop
/// handles them.
pub(super) fn sweep(
    dict: &mut [f32],
    a: &[f32],
    b: &[f32],
    pixels: usize,
    scratch: &mut SweepScratch,
) {
    widest_simd!(
        unsafe fn portable(
            dict: &mut [f32],
            a: &[f32],
            b: &[f32],
            pixels: usize,
            scratch: &mut SweepScratch,
        ) {
            sweep_inline(dict, a, b, pixels, scratch)
        }
    )
}

/// The sweep in blocks of [`SWEEP_BLOCK`] atoms. Computing `D a_j` afresh for every atom
/// reads the whole dictionary (147 KB at 144 x 256, more than L1) once per atom, and that
/// traffic, not the arithmetic, set its speed. So each block first forms `P = D A[:, block]`
/// in one pass over the dictionary, with the atoms before the block already updated; then,
/// atom by atom, `D a_j = P_j + sum over the block's earlier atoms l of (d_l - d_l_before)
/// A_lj` brings in the updates made since. Same Gauss-Seidel step, 16x less reading.
#[inline(always)]
fn sweep_inline(dict: &mut [f32], a: &[f32], b: &[f32], p: usize, scratch: &mut SweepScratch) {
    let k = dict.len().checked_div(p).unwrap_or(0);
    let mut j0 = 0;
    while j0 < k {
        let m = SWEEP_BLOCK.min(k - j0);
        let products = &mut scratch.products[..p * m];
        block_products(dict, p, &a[j0 * k..(j0 + m) * k], k, products);
        scratch.before[..p * m].copy_from_slice(&dict[j0 * p..(j0 + m) * p]);
        for c in 0..m {
            let j = j0 + c;
            let a_col = &a[j * k..(j + 1) * k];
            let ajj = a_col[j];
            if ajj <= 1e-10 {
                continue;
            }
            let (done, rest) = dict.split_at_mut(j * p);
            let dj = &mut rest[..p];
            let column = &mut products[c * p..(c + 1) * p];
            for l in 0..c {
                let alj = a_col[j0 + l];
                let now = &done[(j0 + l) * p..(j0 + l + 1) * p];
                let before = &scratch.before[l * p..(l + 1) * p];
                for ((s, &dn), &db) in column.iter_mut().zip(now).zip(before) {
                    *s = (dn - db).mul_add(alj, *s);
                }
            }
            let inv = 1.0 / ajj;
            // The norm in 16 lanes summed in a fixed order: a single running sum would be a
            // chain of 144 dependent additions per atom.
            let mut lanes = [0f32; LANES];
            for (r, ((dv, &bv), &cv)) in dj.iter_mut().zip(&b[j * p..]).zip(&*column).enumerate() {
                *dv = (bv - cv).mul_add(inv, *dv);
                lanes[r % LANES] = dv.mul_add(*dv, lanes[r % LANES]);
            }
            let norm = lanes.iter().fold(0f32, |s, &v| s + v).sqrt();
            if norm > 1e-12 {
                dj.iter_mut().for_each(|v| *v /= norm);
            }
        }
        j0 += m;
    }
}

/// `out (p x m) = D A_block` for the column-major `dict` (p x k) and the `m` columns of `A`
/// in `a_block` (k each). Each entry is summed over atoms in atom order, whatever the
/// blocking, so the blocking is free to follow the shape.
#[inline(always)]
fn block_products(dict: &[f32], p: usize, a_block: &[f32], k: usize, out: &mut [f32]) {
    let m = a_block.len() / k.max(1);
    let mut c0 = 0;
    while c0 < m {
        let cols = 8.min(m - c0);
        let a_cols = &a_block[c0 * k..(c0 + cols) * k];
        let out_cols = &mut out[c0 * p..(c0 + cols) * p];
        let mut r = 0;
        if cols == 8 {
            // Two vectors of rows by eight columns: sixteen accumulators, and each dictionary
            // vector loaded once for eight multiply-adds.
            while r + 2 * LANES <= p {
                tile::<{ 2 * LANES }>(dict, p, r, a_cols, k, out_cols);
                r += 2 * LANES;
            }
            if r + LANES <= p {
                tile::<LANES>(dict, p, r, a_cols, k, out_cols);
                r += LANES;
            }
        }
        for c in 0..cols {
            for row in r..p {
                let mut s = 0f32;
                for l in 0..k {
                    s = dict[l * p + row].mul_add(a_cols[c * k + l], s);
                }
                out_cols[c * p + row] = s;
            }
        }
        c0 += cols;
    }
}

/// Rows `r0..r0 + R` of eight columns of [`block_products`].
#[inline(always)]
fn tile<const R: usize>(
    dict: &[f32],
    p: usize,
    r0: usize,
    a_cols: &[f32],
    k: usize,
    out: &mut [f32],
) {
    let mut acc = [[0f32; R]; 8];
    for l in 0..k {
        let dl = &dict[l * p + r0..l * p + r0 + R];
        for (c, acc_c) in acc.iter_mut().enumerate() {
            let alc = a_cols[c * k + l];
            for (s, &dv) in acc_c.iter_mut().zip(dl) {
                *s = dv.mul_add(alc, *s);
            }
        }
    }
    for (c, acc_c) in acc.iter().enumerate() {
        out[c * p + r0..c * p + r0 + R].copy_from_slice(acc_c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, salt: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i + salt) * 7919) % 97) as f32 / 97.0 - 0.5)
            .collect()
    }

    #[test]
    fn block_products_sum_in_atom_order_for_any_shape() {
        // Heights and widths below, at and between the tile sizes, so every path runs.
        for (p, m) in [
            (5usize, 3usize),
            (16, 8),
            (48, 16),
            (144, 16),
            (150, 11),
            (33, 9),
        ] {
            let k = 37;
            let d = values(p * k, 0);
            let a = values(k * m, 5);
            let mut out = vec![f32::NAN; p * m + 3];
            block_products(&d, p, &a, k, &mut out);
            for c in 0..m {
                for r in 0..p {
                    // The same left-to-right fused sum over atoms: equal bit for bit.
                    let mut expect = 0f32;
                    for l in 0..k {
                        expect = d[l * p + r].mul_add(a[c * k + l], expect);
                    }
                    assert_eq!(
                        out[c * p + r].to_bits(),
                        expect.to_bits(),
                        "{p}x{m} ({r},{c})"
                    );
                }
            }
            assert!(
                out[p * m..].iter().all(|v| v.is_nan()),
                "wrote past the block"
            );
        }
    }

    #[test]
    fn blocked_sweep_matches_the_atom_by_atom_sweep_in_f64() {
        // 40 atoms: two full blocks and a partial one; atom 5 unused (A_55 = 0) is skipped.
        let (p, k) = (150, 40);
        let mut d = values(p * k, 1);
        let b = values(p * k, 2);
        let mut a = vec![0f32; k * k];
        let g = values(k * 3 * k, 3);
        for i in 0..k {
            for j in 0..k {
                // A = G G^T / 3k: symmetric positive semi-definite like a real statistic.
                let s: f32 = (0..3 * k)
                    .map(|l| g[i * 3 * k + l] * g[j * 3 * k + l])
                    .sum();
                a[j * k + i] = if i == 5 || j == 5 {
                    0.0
                } else {
                    s / (3 * k) as f32
                };
            }
        }
        let mut reference: Vec<f64> = d.iter().map(|&v| v as f64).collect();
        for j in 0..k {
            let ajj = a[j * k + j] as f64;
            if ajj <= 1e-10 {
                continue;
            }
            let mut u = vec![0f64; p];
            for l in 0..k {
                for r in 0..p {
                    u[r] += reference[l * p + r] * a[j * k + l] as f64;
                }
            }
            for r in 0..p {
                reference[j * p + r] += (b[j * p + r] as f64 - u[r]) / ajj;
            }
            let norm = (0..p)
                .map(|r| reference[j * p + r].powi(2))
                .sum::<f64>()
                .sqrt();
            (0..p).for_each(|r| reference[j * p + r] /= norm);
        }
        let before_5 = d[5 * p..6 * p].to_vec();
        sweep(&mut d, &a, &b, p, &mut SweepScratch::new(p));
        assert_eq!(d[5 * p..6 * p], before_5[..], "the unused atom moved");
        for (i, (&got, &want)) in d.iter().zip(&reference).enumerate() {
            // Unit-norm atoms; float32 sums of 40 terms: a few 1e-6 at most.
            assert!(
                (got as f64 - want).abs() < 2e-5,
                "entry {i}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn nonzeros_are_every_nonzero_code_in_atom_order() {
        // 37 atoms: two groups of 16 and a remainder of 5; -0.0 counts as zero, as in the
        // sums it would add nothing.
        let atoms = 37;
        let codes: Vec<f32> = values(atoms * 9, 4)
            .iter()
            .enumerate()
            .map(|(i, &v)| match i % 7 {
                0 | 3 => v,
                5 => -0.0,
                _ => 0.0,
            })
            .collect();
        let mut nz = Nonzeros::default();
        nz.fill(&codes, atoms);
        for (i, col) in codes.chunks(atoms).enumerate() {
            let want: Vec<(u32, f32)> = col
                .iter()
                .enumerate()
                .filter(|&(_, &v)| v != 0.0)
                .map(|(j, &v)| (j as u32, v))
                .collect();
            let (index, value) = nz.patch(i);
            let got: Vec<(u32, f32)> = index.iter().copied().zip(value.iter().copied()).collect();
            assert_eq!(got, want, "patch {i}");
        }
    }

    #[test]
    fn parts_cover_the_rows_and_columns_once() {
        for (pixels, atoms, parts) in [(144, 256, 2), (144, 256, 9), (150, 7, 3), (20, 50, 4)] {
            let plan = Plan::whole(pixels, atoms, 1, parts);
            let (mut next_row, mut next_col) = (0, 0);
            for t in 0..parts {
                let (r0, r1) = plan.rows(t);
                let (q0, q1) = plan.a_columns(t);
                assert_eq!((r0, q0), (next_row, next_col));
                assert!(r1 >= r0 && q1 >= q0);
                (next_row, next_col) = (r1, q1);
            }
            assert_eq!((next_row, next_col), (pixels, atoms));
            // A part's region cut again (a rank's band among its threads) tiles that part.
            for t in 0..parts {
                let (rows, cols) = (plan.rows(t), plan.a_columns(t));
                let (mut next_row, mut next_col) = (rows.0, cols.0);
                let band = plan.within(t, 3);
                for u in 0..3 {
                    let (r0, r1) = band.rows(u);
                    let (q0, q1) = band.a_columns(u);
                    assert_eq!((r0, q0), (next_row, next_col));
                    assert!(r1 >= r0 && q1 >= q0);
                    (next_row, next_col) = (r1, q1);
                }
                assert_eq!((next_row, next_col), (rows.1, cols.1));
            }
        }
    }
}
