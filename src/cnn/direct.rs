//! Convolution products without an im2col matrix ("implicit GEMM"). Every convolution pass
//! the engine needs is `C[i][0..n] (+)= sum_t A_i(t) * B[t][0..n]`, where row i of A is not
//! stored: its values are read straight from a zero-padded NHWC tensor, at a per-row base
//! plus offsets that come in runs of consecutive reduction indices ([`Run`]). Forward and
//! input-gradient passes read the padded input (rows are output positions, runs are kernel
//! rows of `k * channels` contiguous values); the weight gradient reads it transposed (rows
//! are kernel taps, runs are output rows). This removes im2col/col2im, the GEMM's packing of
//! that matrix and its memory traffic, which profiling showed cost about as much as the
//! arithmetic (issue 6).
//!
//! The AVX-512 path keeps an `MR x (16 * NV)` block of C in registers while it streams the
//! reduction; other CPUs run a portable loop in the same order. Each output is summed in the
//! order the runs list it, whatever the thread count, so results are reproducible. Whether the
//! AVX-512 path runs is the crate's one CPU check ([`Level::avx512`]).

use crate::linalg::dispatch::Level;

/// A run of consecutive reduction indices `t = b_row .. b_row + len`: A_i(t) sits at
/// `base(i) + a_off + (t - b_row) * a_step`, and B's row t at `b[t * n ..]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub a_off: usize,
    pub b_row: usize,
    pub len: usize,
}

/// What C's rows start from: zero, their current contents, or a row vector of `n` values
/// (a bias) that the kernel loads into its accumulators, which saves writing the bias into
/// every row of C first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start<'a> {
    Zero,
    Accumulate,
    Bias(&'a [f32]),
}

/// Computes `rows` rows of C (row i at `c[i * c_stride ..][.. n]`); see the module docs.
/// Panics if any index would fall outside `a`, `b` or `c`.
#[allow(clippy::too_many_arguments)]
pub fn product(
    a: &[f32],
    rows: usize,
    base: impl Fn(usize) -> usize,
    runs: &[Run],
    a_step: usize,
    b: &[f32],
    n: usize,
    c: &mut [f32],
    c_stride: usize,
    start: Start,
) {
    if rows == 0 || n == 0 {
        return;
    }
    if let Start::Bias(bias) = start {
        assert!(bias.len() >= n, "bias too short");
    }
    assert!(
        c_stride >= n && (rows - 1) * c_stride + n <= c.len(),
        "C too small"
    );
    let mut a_reach = 0;
    for r in runs.iter().filter(|r| r.len > 0) {
        a_reach = a_reach.max(r.a_off + (r.len - 1) * a_step + 1);
        assert!((r.b_row + r.len) * n <= b.len(), "B too small");
    }
    let bases: Vec<usize> = (0..rows).map(&base).collect();
    let max_base = bases.iter().copied().max().unwrap_or(0);
    assert!(a_reach == 0 || max_base + a_reach <= a.len(), "A too small");
    let runs: Vec<Run> = runs.iter().copied().filter(|r| r.len > 0).collect();
    #[cfg(target_arch = "x86_64")]
    if Level::avx512() {
        // SAFETY: AVX-512F is present, and the asserts above bound every A, B and C index.
        unsafe { avx512::product(a, &bases, &runs, a_step, b, n, c, c_stride, start) };
        return;
    }
    portable(a, &bases, &runs, a_step, b, n, c, c_stride, start);
}

#[allow(clippy::too_many_arguments)]
fn portable(
    a: &[f32],
    bases: &[usize],
    runs: &[Run],
    a_step: usize,
    b: &[f32],
    n: usize,
    c: &mut [f32],
    c_stride: usize,
    start: Start,
) {
    for (i, &base) in bases.iter().enumerate() {
        let out = &mut c[i * c_stride..i * c_stride + n];
        match start {
            Start::Zero => out.fill(0.0),
            Start::Accumulate => {}
            Start::Bias(bias) => out.copy_from_slice(&bias[..n]),
        }
        for r in runs {
            for t in 0..r.len {
                let av = a[base + r.a_off + t * a_step];
                let brow = &b[(r.b_row + t) * n..(r.b_row + t + 1) * n];
                for (o, &bv) in out.iter_mut().zip(brow) {
                    *o += av * bv;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Run, Start};
    use std::arch::x86_64::*;

    /// Splits C's columns into blocks of at most four vectors and its rows into tiles sized
    /// so that the accumulators fill the 32 registers without spilling. The reduction is cut
    /// into slices whose rows of B fill about [`B_SLICE_BYTES`], and every row tile goes
    /// through one slice before the next: B is then read from L1 rather than streamed from L2
    /// once per row tile (which bound the conv2 passes, whose B is 200-500 KB), at the cost
    /// of storing and reloading C once per slice. Each output still sums its terms in run
    /// order, so the bits do not depend on the slicing.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn product(
        a: &[f32],
        bases: &[usize],
        runs: &[Run],
        a_step: usize,
        b: &[f32],
        n: usize,
        c: &mut [f32],
        c_stride: usize,
        start: Start,
    ) {
        let mut col = 0;
        while col < n {
            let width = (n - col).min(64);
            let slices = slice_runs(runs, a_step, (B_SLICE_BYTES / (4 * width)).max(16));
            let nv = width.div_ceil(16);
            let tail = width - 16 * (nv - 1);
            let mask: __mmask16 = if tail == 16 {
                0xFFFF
            } else {
                (1u16 << tail) - 1
            };
            let mut p = Panel {
                a: a.as_ptr(),
                runs,
                a_step,
                b: unsafe { b.as_ptr().add(col) },
                n,
                c_stride,
                mask,
                init: match start {
                    Start::Zero => Init::Zero,
                    Start::Accumulate => Init::Load,
                    Start::Bias(bias) => Init::Row(unsafe { bias.as_ptr().add(col) }),
                },
            };
            let c = unsafe { c.as_mut_ptr().add(col) };
            for (i, slice) in slices.iter().enumerate() {
                p.runs = slice;
                if i > 0 {
                    p.init = Init::Load;
                }
                unsafe {
                    match nv {
                        1 => p.rows::<12, 1>(bases, c),
                        2 => p.rows::<12, 2>(bases, c),
                        3 => p.rows::<8, 3>(bases, c),
                        _ => p.rows::<6, 4>(bases, c),
                    }
                }
            }
            col += width;
        }
    }

    /// Bytes of B per reduction slice: two thirds of a 48 KB L1, leaving room for the A
    /// values and C tiles the slice touches. Measured on a training step of the reference
    /// net (batch 64, one thread, thread CPU time, minimum of 120): 8 KB 4% slower than no
    /// slicing, 16 KB 1% faster, 32 KB 3.5-4% faster.
    pub const B_SLICE_BYTES: usize = 32 << 10;

    /// Cuts the runs, in order, into consecutive slices of at most `kc` reduction indices
    /// each, splitting runs where a slice ends.
    pub(super) fn slice_runs(runs: &[Run], a_step: usize, kc: usize) -> Vec<Vec<Run>> {
        let mut slices = vec![Vec::new()];
        let mut room = kc;
        for r in runs {
            let mut r = *r;
            while r.len > 0 {
                if room == 0 {
                    slices.push(Vec::new());
                    room = kc;
                }
                let take = r.len.min(room);
                slices
                    .last_mut()
                    .expect("never empty")
                    .push(Run { len: take, ..r });
                r.a_off += take * a_step;
                r.b_row += take;
                r.len -= take;
                room -= take;
            }
        }
        slices
    }

    struct Panel<'a> {
        a: *const f32,
        runs: &'a [Run],
        a_step: usize,
        /// B's first column of this block; rows are `n` apart.
        b: *const f32,
        n: usize,
        c_stride: usize,
        /// Lanes of the block's last vector that are inside C.
        mask: __mmask16,
        init: Init,
    }

    /// How a tile's accumulators start: zero, C's contents, or the given row (this block's
    /// first bias value) in every row.
    #[derive(Clone, Copy)]
    enum Init {
        Zero,
        Load,
        Row(*const f32),
    }

    impl Panel<'_> {
        #[target_feature(enable = "avx512f")]
        unsafe fn rows<const MR: usize, const NV: usize>(&self, bases: &[usize], c: *mut f32) {
            for (t, tile) in bases.chunks(MR).enumerate() {
                // A short last tile repeats its last row; the copies are computed, not stored.
                let mut b = [0usize; MR];
                for (i, slot) in b.iter_mut().enumerate() {
                    *slot = tile[i.min(tile.len() - 1)];
                }
                unsafe {
                    self.tile::<MR, NV>(&b, tile.len(), c.add(t * MR * self.c_stride));
                }
            }
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn tile<const MR: usize, const NV: usize>(
            &self,
            bases: &[usize; MR],
            live: usize,
            c: *mut f32,
        ) {
            unsafe {
                let mut acc = [[_mm512_setzero_ps(); NV]; MR];
                match self.init {
                    Init::Zero => {}
                    Init::Load => {
                        for (i, row) in acc.iter_mut().enumerate().take(live) {
                            let ci = c.add(i * self.c_stride);
                            for (v, r) in row.iter_mut().enumerate() {
                                let m = if v + 1 == NV { self.mask } else { 0xFFFF };
                                *r = _mm512_maskz_loadu_ps(m, ci.add(16 * v));
                            }
                        }
                    }
                    Init::Row(bias) => {
                        let bv: [__m512; NV] = std::array::from_fn(|v| {
                            let m = if v + 1 == NV { self.mask } else { 0xFFFF };
                            _mm512_maskz_loadu_ps(m, bias.add(16 * v))
                        });
                        for row in acc.iter_mut() {
                            *row = bv;
                        }
                    }
                }
                for run in self.runs {
                    let ap: [*const f32; MR] =
                        std::array::from_fn(|i| self.a.add(bases[i] + run.a_off));
                    let mut bp = self.b.add(run.b_row * self.n);
                    let mut off = 0;
                    for _ in 0..run.len {
                        let bv: [__m512; NV] = std::array::from_fn(|v| {
                            if v + 1 == NV {
                                _mm512_maskz_loadu_ps(self.mask, bp.add(16 * v))
                            } else {
                                _mm512_loadu_ps(bp.add(16 * v))
                            }
                        });
                        for i in 0..MR {
                            let av = _mm512_set1_ps(*ap[i].add(off));
                            for v in 0..NV {
                                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
                            }
                        }
                        off += self.a_step;
                        bp = bp.add(self.n);
                    }
                }
                for (i, row) in acc.iter().enumerate().take(live) {
                    let ci = c.add(i * self.c_stride);
                    for (v, r) in row.iter().enumerate() {
                        let m = if v + 1 == NV { self.mask } else { 0xFFFF };
                        _mm512_mask_storeu_ps(ci.add(16 * v), m, *r);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel against the plain triple loop, for every column-block width and a short
    /// last row tile, with strided A runs, accumulating into existing C or starting from a
    /// bias row (columns past `n` must stay untouched either way).
    #[test]
    fn matches_the_plain_loop() {
        for &n in &[1usize, 16, 20, 32, 48, 64, 70, 144] {
            let bias: Vec<f32> = (0..n).map(|j| (j % 5) as f32 - 2.0).collect();
            for with_bias in [false, true] {
                let rows = 29;
                let a: Vec<f32> = (0..4000).map(|i| ((i * 37) % 23) as f32 - 11.0).collect();
                let runs = [
                    Run {
                        a_off: 3,
                        b_row: 0,
                        len: 7,
                    },
                    Run {
                        a_off: 50,
                        b_row: 7,
                        len: 5,
                    },
                    // Long enough that blocks of 64 columns (128 reduction indices per
                    // slice) are cut into slices, mid-run.
                    Run {
                        a_off: 100,
                        b_row: 12,
                        len: 150,
                    },
                ];
                let a_step = 3;
                let b: Vec<f32> = (0..162 * n).map(|i| ((i * 13) % 17) as f32 - 8.0).collect();
                let base = |i: usize| i * 41 + (i % 3);
                let stride = n + 5;
                let mut c = vec![1.5f32; rows * stride];
                let start = if with_bias {
                    Start::Bias(&bias)
                } else {
                    Start::Accumulate
                };
                product(&a, rows, base, &runs, a_step, &b, n, &mut c, stride, start);
                for i in 0..rows {
                    for j in 0..stride {
                        let mut want = if with_bias && j < n { bias[j] } else { 1.5f32 };
                        if j < n {
                            for r in &runs {
                                for t in 0..r.len {
                                    want += a[base(i) + r.a_off + t * a_step]
                                        * b[(r.b_row + t) * n + j];
                                }
                            }
                        }
                        // Small integers: every partial sum is exact, so any order gives
                        // these bits.
                        assert_eq!(c[i * stride + j], want, "n={n} bias {with_bias} ({i}, {j})");
                    }
                }
            }
        }
    }

    /// Slicing keeps every (A offset, B row) pair of the reduction, in order, and no slice
    /// is longer than asked.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn slices_cover_the_runs_in_order() {
        let runs = [
            Run {
                a_off: 5,
                b_row: 0,
                len: 10,
            },
            Run {
                a_off: 200,
                b_row: 10,
                len: 3,
            },
            Run {
                a_off: 90,
                b_row: 13,
                len: 9,
            },
        ];
        let pairs = |rs: &[Run]| -> Vec<(usize, usize)> {
            rs.iter()
                .flat_map(|r| (0..r.len).map(move |t| (r.a_off + 3 * t, r.b_row + t)))
                .collect()
        };
        for kc in [1, 4, 7, 22, 100] {
            let slices = avx512::slice_runs(&runs, 3, kc);
            assert!(
                slices
                    .iter()
                    .all(|s| s.iter().map(|r| r.len).sum::<usize>() <= kc)
            );
            assert_eq!(slices.len(), 22usize.div_ceil(kc), "kc={kc}");
            assert_eq!(pairs(&slices.concat()), pairs(&runs), "kc={kc}");
        }
    }
}
