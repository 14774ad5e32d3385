//! The arithmetic of one online block-coordinate-descent update: the statistics pass, cut
//! into parts that run on separate threads, and the sweep over the atoms, on one thread.
//!
//! Statistics: part `t` owns a band of rows of `B` and a band of columns of `A`, discounts
//! them and adds the batch's contributions to them, reading every patch's nonzero codes. The
//! parts write disjoint pieces and never wait for each other, so they can run as ordinary
//! rayon tasks, and every element is summed in patch order whatever the number of parts.
//!
//! Sweep: `d_j <- normalise(d_j + (b_j - D a_j) / A_jj)` for each atom in turn. It is
//! sequential over atoms (each update reads the atoms before it), and splitting it over
//! threads by rows costs one exchange of partial norms per atom: on 2 cores that exchange
//! tied the threads together so tightly that a third process taking a core for a moment
//! stalled both, and the update ran 2-10x slower than on one thread. So the sweep stays on
//! one thread and is made cheap instead: `D a_j` for all 144 rows in one pass over the atoms
//! with nine 16-float accumulators and fused multiply-adds.
//!
//! Every multiply-add is an explicit `mul_add` (one rounding), so the instruction set changes
//! the speed but not the result: AVX-512 and AVX2 do it in hardware, and the portable build
//! calls the correctly rounded `fmaf`.

/// Rows per vector: one AVX-512 vector of f32.
pub(super) const LANES: usize = 16;

/// Shapes and constants of one statistics pass, shared by every part.
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
}

impl Plan {
    /// Rows of `B` that part `t` owns: a contiguous band of whole vectors.
    pub fn rows(&self, t: usize) -> (usize, usize) {
        let v = self.pixels.div_ceil(LANES);
        let (v0, v1) = (t * v / self.parts, (t + 1) * v / self.parts);
        ((v0 * LANES).min(self.pixels), (v1 * LANES).min(self.pixels))
    }

    /// Columns of `A` that part `t` owns.
    pub fn a_columns(&self, t: usize) -> (usize, usize) {
        (
            t * self.atoms / self.parts,
            (t + 1) * self.atoms / self.parts,
        )
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

/// Scratch of one part: the current patch's nonzero codes.
#[derive(Debug, Clone, Default)]
pub(super) struct PartScratch {
    index: Vec<u32>,
    value: Vec<f32>,
}

impl PartScratch {
    pub fn new(atoms: usize) -> Self {
        Self {
            index: vec![0; atoms],
            value: vec![0.0; atoms],
        }
    }
}

/// Compiles `$body` (an expression using the listed arguments) three times, for AVX-512,
/// AVX2 + FMA and the baseline, and runs the widest the CPU has.
macro_rules! with_widest_simd {
    (unsafe fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $body
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $body
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the CPU has the features; the caller upholds the rest.
                unsafe { avx512($($arg),*) }
            } else if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: as above.
                unsafe { avx2($($arg),*) }
            } else {
                unsafe fn $name($($arg: $ty),*) $body
                // SAFETY: the caller upholds the contract.
                unsafe { $name($($arg),*) }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            unsafe fn $name($($arg: $ty),*) $body
            // SAFETY: the caller upholds the contract.
            unsafe { $name($($arg),*) }
        }
    }};
}

/// Part `t` of the statistics pass: discounts its rows of `B` and columns of `A` by `beta`
/// and adds `weight * x a^T` and `weight * a a^T` of every patch to them.
///
/// # Safety
/// `stats` must point at the column-major `A` (atoms x atoms) and `B` (pixels x atoms) of
/// `plan`, and no one else may touch part `t`'s pieces while this runs. `x` is pixels x
/// patches and `codes` atoms x patches, column-major.
pub(super) unsafe fn accumulate_part(
    t: usize,
    plan: &Plan,
    stats: Statistics,
    x: &[f32],
    codes: &[f32],
    scratch: &mut PartScratch,
) {
    let plan = *plan;
    with_widest_simd!(
        unsafe fn portable(
            t: usize,
            plan: Plan,
            stats: Statistics,
            x: &[f32],
            codes: &[f32],
            scratch: &mut PartScratch,
        ) {
            unsafe { accumulate_inline(t, &plan, stats, x, codes, scratch) }
        }
    )
}

#[inline(always)]
unsafe fn accumulate_inline(
    t: usize,
    plan: &Plan,
    stats: Statistics,
    x: &[f32],
    codes: &[f32],
    scratch: &mut PartScratch,
) {
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
        // Branch-free compaction: the store always happens, the count moves only on a nonzero.
        let mut s = 0;
        for (j, &v) in codes[i * k..(i + 1) * k].iter().enumerate() {
            scratch.index[s] = j as u32;
            scratch.value[s] = v;
            s += (v != 0.0) as usize;
        }
        let (index, value) = (&scratch.index[..s], &scratch.value[..s]);
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

/// One Gauss-Seidel sweep over the atoms of the column-major `dict` (pixels x atoms):
/// `d_j <- normalise(d_j + (b_j - D a_j) / A_jj)`. Atoms with (near) zero `A_jj` have had no
/// usage since they were (re)born and are left alone; the dead-atom rule of the learning loop
/// handles them. `column` holds at least `pixels` values.
pub(super) fn sweep(dict: &mut [f32], a: &[f32], b: &[f32], pixels: usize, column: &mut [f32]) {
    with_widest_simd!(
        unsafe fn portable(
            dict: &mut [f32],
            a: &[f32],
            b: &[f32],
            pixels: usize,
            column: &mut [f32],
        ) {
            sweep_inline(dict, a, b, pixels, column)
        }
    )
}

#[inline(always)]
fn sweep_inline(dict: &mut [f32], a: &[f32], b: &[f32], p: usize, column: &mut [f32]) {
    let k = dict.len().checked_div(p).unwrap_or(0);
    for j in 0..k {
        let a_col = &a[j * k..(j + 1) * k];
        let ajj = a_col[j];
        if ajj <= 1e-10 {
            continue;
        }
        dict_times(dict, p, a_col, column);
        let inv = 1.0 / ajj;
        let dj = &mut dict[j * p..(j + 1) * p];
        // The norm in 16 lanes summed in a fixed order: a single running sum would be a chain
        // of 144 dependent additions per atom.
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
}

/// `out = D a` for the column-major `dict` (pixels `p` x atoms `a.len()`). Each row is
/// summed over atoms in atom order whatever the blocking, so the blocking is free to follow
/// the height.
#[inline(always)]
pub(super) fn dict_times(dict: &[f32], p: usize, a: &[f32], out: &mut [f32]) {
    let mut r = 0;
    // Up to nine 16-float accumulators in one pass over the atoms: enough independent sums to
    // hide the latency of the fused multiply-add, and each dictionary value is loaded once.
    while r + 9 * LANES <= p {
        rows_block::<{ 9 * LANES }>(dict, p, r, a, out);
        r += 9 * LANES;
    }
    match (p - r) / LANES {
        8 => rows_block::<{ 8 * LANES }>(dict, p, r, a, out),
        7 => rows_block::<{ 7 * LANES }>(dict, p, r, a, out),
        6 => rows_block::<{ 6 * LANES }>(dict, p, r, a, out),
        5 => rows_block::<{ 5 * LANES }>(dict, p, r, a, out),
        4 => rows_block::<{ 4 * LANES }>(dict, p, r, a, out),
        3 => rows_block::<{ 3 * LANES }>(dict, p, r, a, out),
        2 => rows_block::<{ 2 * LANES }>(dict, p, r, a, out),
        1 => rows_block::<LANES>(dict, p, r, a, out),
        _ => {}
    }
    r += (p - r) / LANES * LANES;
    if r < p {
        let tail = &mut out[r..p];
        tail.fill(0.0);
        for (l, &al) in a.iter().enumerate() {
            for (s, &dv) in tail.iter_mut().zip(&dict[l * p + r..(l + 1) * p]) {
                *s = dv.mul_add(al, *s);
            }
        }
    }
}

#[inline(always)]
fn rows_block<const R: usize>(dict: &[f32], p: usize, r0: usize, a: &[f32], out: &mut [f32]) {
    let mut acc = [0f32; R];
    for (l, &al) in a.iter().enumerate() {
        let dl = &dict[l * p + r0..l * p + r0 + R];
        for (s, &dv) in acc.iter_mut().zip(dl) {
            *s = dv.mul_add(al, *s);
        }
    }
    out[r0..r0 + R].copy_from_slice(&acc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_times_sums_in_atom_order_for_any_height() {
        // Heights below, at and between multiples of the vector and of the nine-vector block,
        // so every block size and the tail run.
        for p in [5usize, 16, 48, 100, 144, 150, 300] {
            let k = 37;
            let d: Vec<f32> = (0..p * k)
                .map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5)
                .collect();
            let a: Vec<f32> = (0..k).map(|l| ((l * 31) % 11) as f32 * 0.3 - 1.2).collect();
            let mut out = vec![f32::NAN; p + 3];
            dict_times(&d, p, &a, &mut out);
            for r in 0..p {
                // The same left-to-right fused sum over atoms: equal bit for bit.
                let mut expect = 0f32;
                for l in 0..k {
                    expect = d[l * p + r].mul_add(a[l], expect);
                }
                assert_eq!(out[r].to_bits(), expect.to_bits(), "p {p} row {r}");
            }
            assert!(out[p..].iter().all(|v| v.is_nan()), "wrote past p");
        }
    }

    #[test]
    fn parts_cover_the_rows_and_columns_once() {
        for (pixels, atoms, parts) in [(144, 256, 2), (144, 256, 9), (150, 7, 3), (20, 50, 4)] {
            let plan = Plan {
                pixels,
                atoms,
                patches: 1,
                parts,
                beta: 1.0,
                weight: 1.0,
            };
            let (mut next_row, mut next_col) = (0, 0);
            for t in 0..parts {
                let (r0, r1) = plan.rows(t);
                let (q0, q1) = plan.a_columns(t);
                assert_eq!((r0, q0), (next_row, next_col));
                assert!(r1 >= r0 && q1 >= q0);
                (next_row, next_col) = (r1, q1);
            }
            assert_eq!((next_row, next_col), (pixels, atoms));
        }
    }
}
