//! The lasso homotopy (LARS with the lasso modification, the method behind SPAMS's `lasso`)
//! for one patch from zero codes, in float64: the cold-start path of the active-set coder.
//!
//! It starts at `lambda_0 = max_i |c_i|` with no active atom and follows the piecewise-linear
//! path of lasso solutions down to the target lambda. On a segment the active codes move
//! along `w = G_AA^-1 sign_A`, every correlation `c_i - (G a)_i` along `-u` with
//! `u = G_{:,A} w`, and the segment ends at the first event: an inactive atom's correlation
//! reaches the shrinking bound (it enters), an active code reaches zero (it leaves), or the
//! target lambda is reached. Only the solution's atoms and the few that enter and leave on
//! the way are ever active; a coordinate sweep from zero admits about twice as many and then
//! has to prune them (standard case: 37 nonzeros after the first sweep, 17 at the solution,
//! 17.3 events per patch here).
//!
//! Per event: one pass over all atoms that applies the previous segment to the
//! correlations, forms `u` and finds the next entering atom, fused so the correlations are
//! read once; and O(|A|^2) to keep `G_AA^-1` up to date (bordering when an atom enters, a
//! rank-one downdate when one leaves). The inverse is held instead of a Cholesky factor
//! because then every use is a matrix-vector product with no chain of dependent divisions.
//! The active atoms' Gram columns are copied into a compact buffer on entry, so the pass
//! reads them from L1 rather than from the whole Gram matrix in L2.
//!
//! The pass compares candidate steps `n / d` by cross-multiplication (no divisions) and keeps
//! four independent running minima per lane so the compare-and-select chains overlap. It
//! has an AVX-512 version and a portable one with the same arithmetic in the same order (no
//! fused multiply-adds in either), so the path, and the codes, do not depend on the CPU.

/// Rows per block of the pass: four AVX-512 vectors of f64, one running minimum each.
const ROWS: usize = 32;
/// f64 lanes of an AVX-512 vector.
const LANES: usize = 8;
/// Independent running minima in the pass (one per vector of a block).
const SETS: usize = ROWS / LANES;

/// Per-lane best entering candidate: step `n / d` (d > 0) and the atom, -1 for none.
#[derive(Clone, Copy)]
struct Best {
    n: [f64; LANES],
    d: [f64; LANES],
    atom: [f64; LANES],
}

/// Scratch for the homotopy, reused across a block's patches (no allocation once grown).
pub(super) struct Homotopy {
    k: usize,
    /// `c - G a` at the start of the current segment.
    corr: Vec<f64>,
    /// `G_{:,A} w` of the current segment.
    u: Vec<f64>,
    /// 1 for atoms that may enter, 0 for active ones, ones that could not be added (a
    /// combination of the active atoms) and, for one event, the atom that just left.
    open: Vec<f64>,
    /// `i as f64`, selected into the running minima alongside the step.
    atom_index: Vec<f64>,
    active: Vec<usize>,
    sign: Vec<f64>,
    value: Vec<f64>,
    w: Vec<f64>,
    v: Vec<f64>,
    /// The active atoms' Gram columns, `k` values each, in active order.
    cols: Vec<f64>,
    /// `G_AA^-1`, row-major with row stride `stride` (grown by doubling).
    inv: Vec<f64>,
    stride: usize,
    /// Events of the last solve.
    pub events: usize,
    wide: bool,
}

impl Homotopy {
    pub(super) fn new(k: usize) -> Self {
        let wide = crate::linalg::dispatch::Level::avx512();
        let stride = 32;
        Self {
            k,
            corr: vec![0.0; k],
            u: vec![0.0; k],
            open: vec![1.0; k],
            atom_index: (0..k).map(|i| i as f64).collect(),
            active: Vec::new(),
            sign: Vec::new(),
            value: Vec::new(),
            w: Vec::new(),
            v: Vec::new(),
            cols: Vec::new(),
            inv: vec![0.0; stride * stride],
            stride,
            events: 0,
            wide,
        }
    }

    /// Follows the path from zero to `lambda` for `c = D^T x` (f64) and writes the codes
    /// into `a` (which must be all zero). Returns false when `max_events` ran out first;
    /// `a` then holds the path's last point, a valid warm start.
    #[inline(always)]
    pub(super) fn solve(
        &mut self,
        gram: &[f64],
        c: &[f64],
        lambda: f64,
        positive: bool,
        a: &mut [f32],
        max_events: usize,
    ) -> bool {
        let k = self.k;
        self.corr.copy_from_slice(&c[..k]);
        self.u.fill(0.0);
        self.open.fill(1.0);
        self.active.clear();
        self.sign.clear();
        self.value.clear();
        self.cols.clear();
        self.w.clear();
        self.events = 0;
        let (mut top, mut first) = (0f64, usize::MAX);
        for (j, &cj) in self.corr.iter().enumerate() {
            let v = if positive { cj } else { cj.abs() };
            if v > top {
                top = v;
                first = j;
            }
        }
        if first == usize::MAX || top <= lambda {
            return true;
        }
        let mut lam = top;
        let mut gamma_prev = 0f64;
        let mut entering = Some((first, self.corr[first].signum()));
        let mut just_left = None;
        while self.events < max_events {
            self.events += 1;
            if let Some((j, s)) = entering.take() {
                // A failed addition leaves the atom closed: it is a combination of the
                // active atoms, so its correlation follows theirs.
                self.add(gram, j, s);
                self.open[j] = 0.0;
            }
            if let Some(j) = just_left {
                self.open[j] = 0.0;
            }
            let m = self.active.len();
            let stop = lam - lambda;
            let best = self.pass(lam, gamma_prev, positive, stop);
            if let Some(j) = just_left.take() {
                self.open[j] = 1.0;
            }
            let mut gamma = stop;
            let mut event = Event::Target;
            for l in 0..LANES {
                if best.atom[l] >= 0.0 {
                    let g = best.n[l] / best.d[l];
                    let j = best.atom[l] as usize;
                    let tie_first = matches!(event, Event::Enter(i) if g == gamma && j < i);
                    if g < gamma || tie_first {
                        gamma = g;
                        event = Event::Enter(j);
                    }
                }
            }
            for q in 0..m {
                let (v, wq) = (self.value[q], self.w[q]);
                if v * wq < 0.0 {
                    let g = -v / wq;
                    if g < gamma {
                        gamma = g;
                        event = Event::Leave(q);
                    }
                }
            }
            let gamma = gamma.max(0.0);
            for (v, &wq) in self.value.iter_mut().zip(&self.w) {
                *v += gamma * wq;
            }
            lam -= gamma;
            gamma_prev = gamma;
            match event {
                Event::Target => {
                    self.finish(c, lambda, a);
                    return true;
                }
                Event::Enter(j) => {
                    entering = Some((j, (self.corr[j] - gamma * self.u[j]).signum()));
                }
                Event::Leave(q) => {
                    let j = self.active[q];
                    self.remove(q);
                    self.open[j] = 1.0;
                    just_left = Some(j);
                }
            }
        }
        for (&j, &v) in self.active.iter().zip(&self.value) {
            a[j] = v as f32;
        }
        false
    }

    /// `G a` (f64) for codes that are zero outside the active set (what [`Self::solve`]
    /// writes), from the compact columns: the certificate without a second read of the Gram
    /// matrix.
    #[inline(always)]
    pub(super) fn gram_times_codes(&self, a: &[f32], ga: &mut [f64]) {
        let k = self.k;
        ga[..k].fill(0.0);
        for (q, &j) in self.active.iter().enumerate() {
            let aj = a[j] as f64;
            for (g, &x) in ga[..k].iter_mut().zip(&self.cols[q * k..(q + 1) * k]) {
                *g += aj * x;
            }
        }
    }

    /// At the target: the exact minimiser for this support and these signs,
    /// `G_AA^-1 (c_A - lambda sign_A)`, instead of the sum of the path's steps (one
    /// rounding instead of one per event; with D = I it is exactly the soft threshold).
    #[inline(always)]
    fn finish(&mut self, c: &[f64], lambda: f64, a: &mut [f32]) {
        let (m, stride) = (self.active.len(), self.stride);
        self.v.clear();
        self.v.resize(m, 0.0);
        for q in 0..m {
            let rq = c[self.active[q]] - lambda * self.sign[q];
            for (vp, &x) in self.v.iter_mut().zip(&self.inv[q * stride..q * stride + m]) {
                *vp += rq * x;
            }
        }
        for (&j, &v) in self.active.iter().zip(&self.v) {
            a[j] = v as f32;
        }
    }

    /// Adds atom `j` with sign `s`, bordering the inverse: with `b = G_Aj`,
    /// `v = G_AA^-1 b` and `d = G_jj - b'v`, the new inverse is
    /// `[[inv + v v'/d, -v/d], [-v'/d, 1/d]]`. Returns false, changing nothing, when `d`
    /// is negligible (j is numerically a combination of the active atoms).
    #[inline(always)]
    fn add(&mut self, gram: &[f64], j: usize, s: f64) -> bool {
        let (k, m) = (self.k, self.active.len());
        if m + 1 > self.stride {
            let stride = 2 * self.stride;
            let mut inv = vec![0.0; stride * stride];
            for p in 0..m {
                inv[p * stride..p * stride + m]
                    .copy_from_slice(&self.inv[p * self.stride..p * self.stride + m]);
            }
            self.inv = inv;
            self.stride = stride;
        }
        let stride = self.stride;
        // Copy the column first (one sequential read of the Gram matrix); `G_Aj` then comes
        // from the active atoms' compact columns, already in L1, instead of m scattered
        // reads of column j.
        self.cols.extend_from_slice(&gram[j * k..(j + 1) * k]);
        let gjj = self.cols[m * k + j];
        self.v.clear();
        self.v.resize(m, 0.0);
        for q in 0..m {
            let bq = self.cols[q * k + j];
            for (vp, &x) in self.v.iter_mut().zip(&self.inv[q * stride..q * stride + m]) {
                *vp += bq * x;
            }
        }
        let (mut bv, mut sv) = (0f64, 0f64);
        for q in 0..m {
            bv += self.cols[q * k + j] * self.v[q];
            sv += self.sign[q] * self.v[q];
        }
        let d = gjj - bv;
        if d <= 1e-10 * gjj {
            self.cols.truncate(m * k);
            return false;
        }
        let dinv = 1.0 / d;
        for p in 0..m {
            let vp = self.v[p] * dinv;
            let row = &mut self.inv[p * stride..p * stride + m];
            for (x, &vq) in row.iter_mut().zip(&self.v) {
                *x += vp * vq;
            }
            self.inv[p * stride + m] = -vp;
        }
        for q in 0..m {
            self.inv[m * stride + q] = -(self.v[q] * dinv);
        }
        self.inv[m * stride + m] = dinv;
        // The direction w = G_AA^-1 sign_A follows from the same bordering in O(m):
        // w_j = (s - v'sign_A) / d and w_A -= v w_j.
        let wj = (s - sv) * dinv;
        for (wp, &vp) in self.w.iter_mut().zip(&self.v) {
            *wp -= vp * wj;
        }
        self.w.push(wj);
        self.active.push(j);
        self.sign.push(s);
        self.value.push(0.0);
        true
    }

    /// Removes active position `r`: `inv - inv[:, r] inv[r, :] / inv[r, r]` on the rest,
    /// then the last active atom takes position `r`.
    #[inline(always)]
    fn remove(&mut self, r: usize) {
        let (k, m, stride) = (self.k, self.active.len(), self.stride);
        let e = 1.0 / self.inv[r * stride + r];
        self.v.clear();
        self.v
            .extend_from_slice(&self.inv[r * stride..r * stride + m]);
        // Without atom r the direction is w - inv[:, r] w_r / inv[r, r] (its own entry
        // becomes zero and is removed below).
        let f = self.w[r] * e;
        for (wp, &vp) in self.w.iter_mut().zip(&self.v) {
            *wp -= vp * f;
        }
        for p in 0..m {
            let f = self.v[p] * e;
            let row = &mut self.inv[p * stride..p * stride + m];
            for (x, &vq) in row.iter_mut().zip(&self.v) {
                *x -= f * vq;
            }
        }
        let last = m - 1;
        if r != last {
            for q in 0..m {
                self.inv[r * stride + q] = self.inv[last * stride + q];
            }
            for p in 0..m {
                self.inv[p * stride + r] = self.inv[p * stride + last];
            }
            self.inv[r * stride + r] = self.inv[last * stride + last];
            self.cols.copy_within(last * k..(last + 1) * k, r * k);
        }
        self.active.swap_remove(r);
        self.sign.swap_remove(r);
        self.value.swap_remove(r);
        self.w.swap_remove(r);
        self.cols.truncate(last * k);
    }

    /// The fused pass over all atoms; returns the per-lane best entering candidates with
    /// steps below `stop`.
    #[inline(always)]
    fn pass(&mut self, lam: f64, gamma_prev: f64, positive: bool, stop: f64) -> Best {
        let mut best = Best {
            n: [stop; LANES],
            d: [1.0; LANES],
            atom: [-1.0; LANES],
        };
        let full = self.k / ROWS * ROWS;
        let args = PassArgs {
            k: self.k,
            cols: &self.cols,
            w: &self.w,
            open: &self.open,
            atom_index: &self.atom_index,
            lam,
            gamma_prev,
            positive,
        };
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is set only when the CPU has AVX-512F.
            unsafe { pass_blocks_avx512(&args, &mut self.corr, &mut self.u, &mut best) };
        } else {
            pass_blocks_portable(&args, &mut self.corr, &mut self.u, &mut best);
        }
        #[cfg(not(target_arch = "x86_64"))]
        pass_blocks_portable(&args, &mut self.corr, &mut self.u, &mut best);
        for j in full..self.k {
            let uj = args.u_of(j);
            let cj = self.corr[j] - gamma_prev * self.u[j];
            self.corr[j] = cj;
            self.u[j] = uj;
            let l = j % LANES;
            let (n, d, at) = (&mut best.n[l], &mut best.d[l], &mut best.atom[l]);
            consider(n, d, at, lam - cj, (1.0 - uj) * args.open[j], j as f64);
            if !positive {
                consider(n, d, at, lam + cj, (1.0 + uj) * args.open[j], j as f64);
            }
        }
        best
    }
}

enum Event {
    Target,
    Enter(usize),
    Leave(usize),
}

struct PassArgs<'a> {
    k: usize,
    cols: &'a [f64],
    w: &'a [f64],
    open: &'a [f64],
    atom_index: &'a [f64],
    lam: f64,
    gamma_prev: f64,
    positive: bool,
}

impl PassArgs<'_> {
    /// `u_j = sum_q w_q G_{j, A_q}`, summed in active order.
    #[inline(always)]
    fn u_of(&self, j: usize) -> f64 {
        let mut uj = 0f64;
        for (q, &wq) in self.w.iter().enumerate() {
            uj += wq * self.cols[q * self.k + j];
        }
        uj
    }
}

/// Replaces the running minimum `(nb, db)` by `(n, d)` when `d > 0` and `n / d < nb / db`
/// (cross-multiplied; `n` clamped at 0, so an atom already past the bound enters at once).
#[inline(always)]
fn consider(nb: &mut f64, db: &mut f64, at: &mut f64, n: f64, d: f64, atom: f64) {
    let n = if n > 0.0 { n } else { 0.0 };
    if (d > 0.0) & (n * *db < *nb * d) {
        *nb = n;
        *db = d;
        *at = atom;
    }
}

/// Merges the running minima of the sets into the first: the smaller step wins, on an
/// exact tie the smaller atom index.
#[inline(always)]
fn merge(sets: &[Best; SETS]) -> Best {
    let mut out = sets[0];
    for set in &sets[1..] {
        for l in 0..LANES {
            let (lhs, rhs) = (set.n[l] * out.d[l], out.n[l] * set.d[l]);
            let better =
                lhs < rhs || (lhs == rhs && set.atom[l] < out.atom[l] && set.atom[l] >= 0.0);
            if better {
                out.n[l] = set.n[l];
                out.d[l] = set.d[l];
                out.atom[l] = set.atom[l];
            }
        }
    }
    out
}

/// The pass over the first `k / ROWS * ROWS` atoms, portable version.
#[inline(always)]
fn pass_blocks_portable(args: &PassArgs, corr: &mut [f64], u: &mut [f64], best: &mut Best) {
    let full = args.k / ROWS * ROWS;
    let mut sets = [*best; SETS];
    for base in (0..full).step_by(ROWS) {
        // u for the block first, column by column (vectorisable, and the same sums in the
        // same order as the AVX-512 version).
        let mut acc = [0f64; ROWS];
        for (q, &wq) in args.w.iter().enumerate() {
            let col = &args.cols[q * args.k + base..q * args.k + base + ROWS];
            for (a, &g) in acc.iter_mut().zip(col) {
                *a += wq * g;
            }
        }
        for (t, set) in sets.iter_mut().enumerate() {
            for l in 0..LANES {
                let j = base + t * LANES + l;
                let uj = acc[t * LANES + l];
                let cj = corr[j] - args.gamma_prev * u[j];
                corr[j] = cj;
                u[j] = uj;
                let (n, d, at) = (&mut set.n[l], &mut set.d[l], &mut set.atom[l]);
                let open = args.open[j];
                consider(
                    n,
                    d,
                    at,
                    args.lam - cj,
                    (1.0 - uj) * open,
                    args.atom_index[j],
                );
                if !args.positive {
                    consider(
                        n,
                        d,
                        at,
                        args.lam + cj,
                        (1.0 + uj) * open,
                        args.atom_index[j],
                    );
                }
            }
        }
    }
    *best = merge(&sets);
}

/// [`pass_blocks_portable`] on AVX-512: the same operations in the same order, eight atoms
/// per instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pass_blocks_avx512(args: &PassArgs, corr: &mut [f64], u: &mut [f64], best: &mut Best) {
    use std::arch::x86_64::*;
    let (k, m) = (args.k, args.w.len());
    let full = k / ROWS * ROWS;
    assert!(corr.len() >= full && u.len() >= full && args.open.len() >= full);
    assert!(args.atom_index.len() >= full && args.cols.len() >= m * k);
    // SAFETY: the asserts bound every load and store below (rows < full <= k, columns < m).
    unsafe {
        let zero = _mm512_setzero_pd();
        let one = _mm512_set1_pd(1.0);
        let lam = _mm512_set1_pd(args.lam);
        let gamma_prev = _mm512_set1_pd(args.gamma_prev);
        let start = [
            _mm512_loadu_pd(best.n.as_ptr()),
            _mm512_loadu_pd(best.d.as_ptr()),
            _mm512_loadu_pd(best.atom.as_ptr()),
        ];
        let mut sets = [start; SETS];
        let cols = args.cols.as_ptr();
        for base in (0..full).step_by(ROWS) {
            let mut acc = [zero; SETS];
            for q in 0..m {
                let wq = _mm512_set1_pd(*args.w.get_unchecked(q));
                let col = cols.add(q * k + base);
                for (t, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_add_pd(*a, _mm512_mul_pd(wq, _mm512_loadu_pd(col.add(t * LANES))));
                }
            }
            for (t, (set, &uj)) in sets.iter_mut().zip(&acc).enumerate() {
                let o = base + t * LANES;
                let cp = corr.as_mut_ptr().add(o);
                let up = u.as_mut_ptr().add(o);
                let cj = _mm512_sub_pd(
                    _mm512_loadu_pd(cp),
                    _mm512_mul_pd(gamma_prev, _mm512_loadu_pd(up)),
                );
                _mm512_storeu_pd(cp, cj);
                _mm512_storeu_pd(up, uj);
                let open = _mm512_loadu_pd(args.open.as_ptr().add(o));
                let atom = _mm512_loadu_pd(args.atom_index.as_ptr().add(o));
                // A macro, not a closure: a closure would not be compiled with AVX-512.
                macro_rules! candidate {
                    ($n:expr, $d:expr) => {
                        let (n, d) = (_mm512_max_pd($n, zero), $d);
                        let better = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(d, zero)
                            & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(
                                _mm512_mul_pd(n, set[1]),
                                _mm512_mul_pd(set[0], d),
                            );
                        set[0] = _mm512_mask_blend_pd(better, set[0], n);
                        set[1] = _mm512_mask_blend_pd(better, set[1], d);
                        set[2] = _mm512_mask_blend_pd(better, set[2], atom);
                    };
                }
                candidate!(
                    _mm512_sub_pd(lam, cj),
                    _mm512_mul_pd(_mm512_sub_pd(one, uj), open)
                );
                if !args.positive {
                    candidate!(
                        _mm512_add_pd(lam, cj),
                        _mm512_mul_pd(_mm512_add_pd(one, uj), open)
                    );
                }
            }
        }
        let mut out = [*best; SETS];
        for (o, set) in out.iter_mut().zip(&sets) {
            _mm512_storeu_pd(o.n.as_mut_ptr(), set[0]);
            _mm512_storeu_pd(o.d.as_mut_ptr(), set[1]);
            _mm512_storeu_pd(o.atom.as_mut_ptr(), set[2]);
        }
        *best = merge(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small Gram matrix with correlated atoms, column-major.
    fn gram(k: usize) -> Vec<f64> {
        let p = 12;
        let mut d = vec![0f64; p * k];
        for (i, v) in d.iter_mut().enumerate() {
            *v = ((i * 7919 % 113) as f64 / 113.0 - 0.5)
                + if i % p == (i / p) % p { 1.0 } else { 0.0 };
        }
        for col in d.chunks_exact_mut(p) {
            let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
            col.iter_mut().for_each(|v| *v /= norm);
        }
        let mut g = vec![0f64; k * k];
        for i in 0..k {
            for j in 0..k {
                g[i * k + j] = (0..p).map(|t| d[i * p + t] * d[j * p + t]).sum();
            }
        }
        g
    }

    #[test]
    fn portable_and_wide_passes_agree_bit_for_bit() {
        // 70 atoms: two full blocks of 32 and a remainder of 6, three active columns.
        let k = 70;
        let g = gram(k);
        let mut h = Homotopy::new(k);
        for (s, j) in [(1.0, 3), (-1.0, 40), (1.0, 65)] {
            assert!(h.add(&g, j, s));
            h.open[j] = 0.0;
        }
        h.w = vec![0.7, -0.2, 0.4];
        for (i, c) in h.corr.iter_mut().enumerate() {
            *c = ((i as f64) * 0.37).sin() * 0.9;
        }
        h.u.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i as f64 * 0.11).cos() * 0.3);
        for positive in [false, true] {
            let (mut h1, corr0, u0) = (Vec::new(), h.corr.clone(), h.u.clone());
            for wide in [false, true] {
                if wide && !h.wide {
                    continue;
                }
                let saved = h.wide;
                h.wide = wide;
                h.corr.copy_from_slice(&corr0);
                h.u.copy_from_slice(&u0);
                let best = h.pass(1.0, 0.05, positive, 0.8);
                h1.push((best.n, best.d, best.atom, h.corr.clone(), h.u.clone()));
                h.wide = saved;
            }
            let found = h1[0].2.iter().filter(|&&a| a >= 0.0).count();
            assert!(found > 0, "no entering candidate found");
            for other in &h1[1..] {
                assert_eq!(h1[0].0, other.0);
                assert_eq!(h1[0].1, other.1);
                assert_eq!(h1[0].2, other.2);
                assert_eq!(h1[0].3, other.3);
                assert_eq!(h1[0].4, other.4);
            }
        }
    }

    #[test]
    fn bordering_and_downdating_keep_the_inverse() {
        let k = 40;
        let g = gram(k);
        let mut h = Homotopy::new(k);
        for j in [2, 9, 17, 30, 35] {
            assert!(h.add(&g, j, 1.0));
        }
        h.remove(1);
        assert!(h.add(&g, 11, -1.0));
        h.remove(4);
        // inv * G_AA must be the identity.
        let m = h.active.len();
        for p in 0..m {
            for q in 0..m {
                let x: f64 = (0..m)
                    .map(|r| h.inv[p * h.stride + r] * g[h.active[r] * k + h.active[q]])
                    .sum();
                let want = if p == q { 1.0 } else { 0.0 };
                assert!((x - want).abs() < 1e-10, "({p}, {q}): {x}");
            }
        }
        // A duplicate of an active atom cannot be added.
        let j = h.active[0];
        assert!(!h.add(&g, j, 1.0));
    }
}
