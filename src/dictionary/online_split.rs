//! The online update's statistics pass shared among MPI ranks (issue 18, its second step;
//! README, "MPI").
//!
//! Every rank holds the whole batch (its codes come from the shared coding), so every rank
//! can run the whole pass, and without this module each one does. Split, rank `r` runs
//! only band `r` of `size` (rows of `B`, columns of `A`; see [`Plan::within`]), then the
//! ranks allgather their bands as bytes and every rank writes the others' bands into its
//! own `A` and `B`. Each element is still written by one part and summed in patch order, so
//! the statistics, and the sweep every rank then runs on them, have the same bits as the
//! one-process pass whatever the rank count; no float is ever reduced by MPI.
//!
//! Splitting saves `(1 - 1/size)` of the pass but moves the whole `A` and `B` every step
//! (256 atoms of 144 pixels: 400 KB), so it pays for large batches on a fast interconnect
//! and loses for small ones on a slow one. Neither cost is known in advance (the pass's
//! cost falls as the codes get sparser during learning; the exchange's depends on the
//! network), and the choice cannot change the bits, so by default ([`Policy::Auto`]) the
//! ranks measure both: at calls 4, 32, 256, 2048, 16384 and every 16384 after, rank 0 times
//! [`PROBE`] calls of each way, alternating, and the ranks adopt the faster by rank 0's
//! medians (one one-byte allgather, at a call every rank knows). `SIMPLECELL_SPLIT_UPDATE`
//! = `on` or `off` fixes the choice (for measuring it; rank 0's setting holds for all).

use super::online_parts::Plan;
use crate::distributed::{Collective, get_f32, put_f32};
use crate::error::{Error, Result};
use std::time::Instant;

/// The environment variable that fixes the choice.
pub const SPLIT_VARIABLE: &str = "SIMPLECELL_SPLIT_UPDATE";

/// Calls timed each way in one probe.
pub const PROBE: usize = 5;

/// Whether the ranks split the statistics pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Measure both ways now and then and use the faster (the default).
    Auto,
    /// Always split.
    On,
    /// Never split: every rank runs the whole pass.
    Off,
}

impl Policy {
    /// The policy `SIMPLECELL_SPLIT_UPDATE` names (unset or empty: auto).
    pub fn from_env() -> Result<Self> {
        match std::env::var(SPLIT_VARIABLE) {
            Err(std::env::VarError::NotPresent) => Ok(Self::Auto),
            Ok(v) => match v.as_str() {
                "" | "auto" => Ok(Self::Auto),
                "on" => Ok(Self::On),
                "off" => Ok(Self::Off),
                other => Err(Error::failed(
                    "reading the environment",
                    format!("{SPLIT_VARIABLE}={other:?}: expected auto, on or off"),
                )),
            },
            Err(e) => Err(Error::failed(
                "reading the environment",
                format!("{SPLIT_VARIABLE}: {e}"),
            )),
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Auto => 0,
            Self::On => 1,
            Self::Off => 2,
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            1 => Self::On,
            2 => Self::Off,
            _ => Self::Auto,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::On => "on",
            Self::Off => "off",
        }
    }
}

/// The split's state on one rank: the ranks, the policy, and (auto) the probes.
#[derive(Clone)]
pub(super) struct Split {
    comm: &'static dyn Collective,
    policy: Policy,
    /// False until the ranks have agreed on rank 0's policy (at the first call).
    agreed: bool,
    /// Calls of [`Split::choose`] so far in this process.
    calls: u64,
    /// The choice outside probes.
    split: bool,
    /// First call of the next probe.
    next_probe: u64,
    /// Seconds of the current probe's calls, split and not, and of the split calls' own
    /// band alone (without the exchange).
    timed: [Vec<f64>; 3],
    /// Medians of the last probe, as `timed` (seconds).
    last_probe: Option<[f64; 3]>,
    /// Calls that split and that did not.
    counts: [u64; 2],
    /// The outgoing band, kept to reuse its allocation.
    outgoing: Vec<u8>,
}

impl std::fmt::Debug for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Split")
            .field("rank", &self.comm.rank())
            .field("size", &self.comm.size())
            .field("policy", &self.policy)
            .field("split", &self.split)
            .finish()
    }
}

/// First probe, and the factor between probes until they come every [`PROBE_EVERY`].
const PROBE_FIRST: u64 = 4;
const PROBE_GROWTH: u64 = 8;
const PROBE_EVERY: u64 = 16384;

impl Split {
    /// The split state for `comm`, or None for a job of one rank (nothing to share).
    pub fn new(comm: &'static dyn Collective, policy: Policy) -> Option<Self> {
        (comm.size() > 1).then(|| Self {
            comm,
            policy,
            agreed: false,
            calls: 0,
            split: policy == Policy::On,
            next_probe: PROBE_FIRST,
            timed: [Vec::new(), Vec::new(), Vec::new()],
            last_probe: None,
            counts: [0, 0],
            outgoing: Vec::new(),
        })
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    pub fn size(&self) -> usize {
        self.comm.size()
    }

    /// Whether this call splits, and whether it is timed. Every rank calls it once per
    /// update, so the collectives it makes happen at the same call on every rank.
    pub fn choose(&mut self) -> (bool, bool) {
        if !self.agreed {
            let all = self.comm.allgather(&[self.policy.code()]);
            self.policy = Policy::from_code(all[0][0]);
            self.split = self.policy == Policy::On;
            self.agreed = true;
        }
        let call = self.calls;
        self.calls += 1;
        if self.policy != Policy::Auto {
            return (self.split, false);
        }
        let start = self.next_probe;
        let end = start + 2 * PROBE as u64;
        if (start..end).contains(&call) {
            return ((call - start).is_multiple_of(2), true);
        }
        if call == end {
            self.decide();
            self.next_probe = if start >= PROBE_EVERY {
                start + PROBE_EVERY
            } else {
                start * PROBE_GROWTH
            };
        }
        (self.split, false)
    }

    /// Adopts the faster way by rank 0's probe, on every rank.
    fn decide(&mut self) {
        let medians = [0, 1, 2].map(|i| median(&mut self.timed[i]));
        self.timed.iter_mut().for_each(Vec::clear);
        let mine = u8::from(medians[0] < medians[1]);
        let all = self.comm.allgather(&[mine]);
        self.split = all[0][0] != 0;
        self.last_probe = Some(medians);
    }

    /// Records one call: whether it split, and if it was timed its seconds (statistics
    /// pass and exchange) and, split, the seconds of its own band's pass alone.
    pub fn record(&mut self, split: bool, seconds: Option<(f64, f64)>) {
        let i = usize::from(!split);
        self.counts[i] += 1;
        if let Some((total, pass)) = seconds {
            self.timed[i].push(total);
            if split {
                self.timed[2].push(pass);
            }
        }
    }

    /// What the sidecar records: the policy, the calls each way, the last probe.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "statistics_pass": {
                "ranks": self.size(),
                "policy": self.policy.name(),
                "split_updates": self.counts[0],
                "whole_updates": self.counts[1],
                "last_probe_ms": self.last_probe.map(|[s, w, own]| serde_json::json!({
                    "split": s * 1e3,
                    "whole": w * 1e3,
                    "split_pass": own * 1e3,
                })),
            }
        })
    }

    /// After this rank has run band `rank` of `plan` (cut into `size` bands): gives every
    /// rank every band, writing the others' into `a` and `b`.
    pub fn exchange(&mut self, plan: &Plan, a: &mut [f32], b: &mut [f32]) {
        let (rank, size) = (self.rank(), self.size());
        let mut out = std::mem::take(&mut self.outgoing);
        out.clear();
        band_bytes(plan, rank, a, b, &mut out);
        let all = self.comm.allgather(&out);
        self.outgoing = out;
        for (r, bytes) in all.iter().enumerate().filter(|&(r, _)| r != rank) {
            set_band(plan, r, bytes, a, b);
        }
        debug_assert_eq!(all.len(), size);
    }
}

/// Rank `r`'s band of the column-major `a` (atoms x atoms) and `b` (pixels x atoms) as
/// bytes: its columns of `A` (contiguous), then its rows of each column of `B`.
fn band_bytes(plan: &Plan, r: usize, a: &[f32], b: &[f32], out: &mut Vec<u8>) {
    let (k, p) = (plan.atoms, plan.pixels);
    let (q0, q1) = plan.a_columns(r);
    let (r0, r1) = plan.rows(r);
    out.reserve(4 * ((q1 - q0) * k + (r1 - r0) * k));
    put_f32(out, &a[q0 * k..q1 * k]);
    for q in 0..k {
        put_f32(out, &b[q * p + r0..q * p + r1]);
    }
}

/// Writes rank `r`'s band, as [`band_bytes`] packed it, into `a` and `b`.
fn set_band(plan: &Plan, r: usize, bytes: &[u8], a: &mut [f32], b: &mut [f32]) {
    let (k, p) = (plan.atoms, plan.pixels);
    let (q0, q1) = plan.a_columns(r);
    let (r0, r1) = plan.rows(r);
    let (na, nb) = ((q1 - q0) * k, r1 - r0);
    assert_eq!(
        bytes.len(),
        4 * (na + nb * k),
        "rank {r}'s band of the statistics has the wrong length"
    );
    let (head, tail) = bytes.split_at(4 * na);
    get_f32(head, &mut a[q0 * k..q1 * k]);
    for (q, chunk) in tail.chunks_exact(4 * nb.max(1)).enumerate().take(k) {
        get_f32(chunk, &mut b[q * p + r0..q * p + r1]);
    }
}

/// Median of `v` (sorted in place); infinity when empty, so an unmeasured way never wins.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::INFINITY;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Seconds from `started` to `passed` and to now, if timing.
pub(super) fn lap(started: Option<Instant>, passed: Option<Instant>) -> Option<(f64, f64)> {
    let started = started?;
    let pass = passed.map_or(0.0, |p| (p - started).as_secs_f64());
    Some((started.elapsed().as_secs_f64(), pass))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::DictionaryUpdate;
    use crate::dictionary::online::OnlineBcd;
    use nalgebra::DMatrix;
    use std::sync::{Arc, Barrier, Mutex};

    /// Ranks as threads of this process: an allgather is a write to a shared slot, a
    /// barrier, a read of every slot and a second barrier (so the next write waits for the
    /// reads).
    struct Threads {
        rank: usize,
        size: usize,
        slots: Arc<Mutex<Vec<Vec<u8>>>>,
        barrier: Arc<Barrier>,
    }

    impl Collective for Threads {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn allgather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
            self.slots.lock().unwrap()[self.rank] = mine.to_vec();
            self.barrier.wait();
            let all = self.slots.lock().unwrap().clone();
            self.barrier.wait();
            all
        }
        fn gather(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
            let all = self.allgather(mine);
            (self.rank == 0).then_some(all)
        }
    }

    /// `calls` updates of a 150 x 40 dictionary (150 pixels: 10 vectors, the last short)
    /// from seeded sparse codes, batch 200, by `rule`.
    fn run(mut rule: OnlineBcd, calls: usize) -> (Vec<u32>, Vec<u32>, serde_json::Value) {
        let (p, k, n) = (150, 40, 200);
        let mut seed = 777u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let mut d = DMatrix::from_fn(p, k, |_, _| next());
        crate::dictionary::normalize_columns(&mut d);
        for _ in 0..calls {
            let x = DMatrix::from_fn(p, n, |_, _| next());
            let codes = DMatrix::from_fn(k, n, |_, _| {
                let v = next();
                if v.abs() < 0.1 { v * 10.0 } else { 0.0 }
            });
            rule.update(&mut d, &x, &codes);
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        (bits(d.as_slice()), bits(&rule.state()), rule.summary())
    }

    /// The same updates by `size` ranks (threads) under `policy`: every rank's results.
    fn ranks(
        size: usize,
        policy: Policy,
        calls: usize,
    ) -> Vec<(Vec<u32>, Vec<u32>, serde_json::Value)> {
        let slots = Arc::new(Mutex::new(vec![Vec::new(); size]));
        let barrier = Arc::new(Barrier::new(size));
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let comm: &'static dyn Collective = Box::leak(Box::new(Threads {
                    rank,
                    size,
                    slots: slots.clone(),
                    barrier: barrier.clone(),
                }));
                std::thread::spawn(move || run(OnlineBcd::shared(150, 40, comm, policy), calls))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn split_passes_give_the_one_process_bits_for_any_rank_count() {
        // 20 calls: the auto policy probes at calls 4-13 (both ways) and decides at 14.
        let calls = 20;
        let (d1, s1, summary) = run(OnlineBcd::new(150, 40), calls);
        assert!(summary.is_null(), "one process records nothing");
        // 2, 3, 4 ranks: uneven bands of rows (10 vectors) and of columns (40 atoms);
        // 12: more ranks than vectors, so some ranks own columns of A and no rows of B.
        for size in [2, 3, 4, 12] {
            for policy in [Policy::On, Policy::Off, Policy::Auto] {
                for (rank, (d, s, summary)) in ranks(size, policy, calls).into_iter().enumerate() {
                    assert!(d == d1, "dictionary: {size} ranks, {policy:?}, rank {rank}");
                    assert!(s == s1, "statistics: {size} ranks, {policy:?}, rank {rank}");
                    let pass = &summary["statistics_pass"];
                    let (split, whole) = (
                        pass["split_updates"].as_u64(),
                        pass["whole_updates"].as_u64(),
                    );
                    let want = match policy {
                        Policy::On => (Some(20), Some(0)),
                        Policy::Off => (Some(0), Some(20)),
                        // The probe's five each way, and the decision's six after.
                        Policy::Auto => {
                            let (a, b) = (split.unwrap(), whole.unwrap());
                            assert!(a >= 5 && b >= 5 && a + b == 20, "{summary}");
                            (split, whole)
                        }
                    };
                    assert_eq!((split, whole), want, "{size} ranks, {policy:?}");
                }
            }
        }
    }

    #[test]
    fn rank_zeros_policy_holds_for_every_rank() {
        let slots = Arc::new(Mutex::new(vec![Vec::new(); 2]));
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [Policy::Off, Policy::On]
            .into_iter()
            .enumerate()
            .map(|(rank, policy)| {
                let comm: &'static dyn Collective = Box::leak(Box::new(Threads {
                    rank,
                    size: 2,
                    slots: slots.clone(),
                    barrier: barrier.clone(),
                }));
                std::thread::spawn(move || run(OnlineBcd::shared(150, 40, comm, policy), 3))
            })
            .collect();
        for h in handles {
            let summary = h.join().unwrap().2;
            assert_eq!(summary["statistics_pass"]["policy"], "off", "{summary}");
            assert_eq!(summary["statistics_pass"]["split_updates"], 0, "{summary}");
        }
    }

    #[test]
    fn medians_ignore_order_and_an_empty_probe_never_wins() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_infinite());
    }
}
