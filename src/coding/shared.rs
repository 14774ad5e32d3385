//! Coding one batch with the ranks of a [`Collective`] sharing its blocks (issue 18).
//!
//! The batch is cut into the coder's fixed [`BLOCK`]-patch blocks, exactly as one process
//! cuts it; rank r codes the contiguous range [`block_range`] gives it; the codes and the
//! per-block outcomes are gathered and merged in block order by [`merge_outcomes`], the
//! same function a one-process call ends with. A block's codes depend only on its own
//! patches and the dictionary, so the codes and the report are bit-identical to coding the
//! whole batch in one process, for any number of ranks. With one rank this is the plain
//! [`SparseCoder::encode`] call.

use super::batch::{BLOCK, BlockOutcome, merge_outcomes};
use super::{CodingParams, CodingReport, PreparedDictionary, SparseCoder};
use crate::distributed::{Collective, block_range, get_f32, put_f32};
use crate::error::{Error, Result};
use crate::params::Valid;
use nalgebra::DMatrix;
use std::time::Instant;

/// Which ranks receive the whole result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// Every rank (the learner: each rank then runs the same dictionary update).
    All,
    /// Rank 0 only (encode: only rank 0 writes the codes file).
    Root,
}

/// Codes the columns of `x` into `codes` (which holds the warm start, the same on every
/// rank) with the ranks of `comm` sharing the blocks. Returns the report where the whole
/// result arrived (every rank under [`Share::All`], rank 0 under [`Share::Root`]), None
/// elsewhere; there `codes` holds only this rank's columns.
pub fn encode_shared(
    coder: &dyn SparseCoder,
    dict: &PreparedDictionary,
    x: &DMatrix<f32>,
    codes: &mut DMatrix<f32>,
    params: &Valid<CodingParams>,
    comm: &dyn Collective,
    share: Share,
) -> Result<Option<CodingReport>> {
    if comm.size() == 1 {
        return coder.encode(dict, x, codes, params).map(Some);
    }
    let start = Instant::now();
    let (k, n) = (codes.nrows(), x.ncols());
    let blocks = n.div_ceil(BLOCK);
    let columns = |rank: usize| {
        let r = block_range(blocks, rank, comm.size());
        (r.start * BLOCK).min(n)..(r.end * BLOCK).min(n)
    };
    let mine = columns(comm.rank());
    let sub_x = x.columns(mine.start, mine.len()).into_owned();
    let mut sub_codes = codes.columns(mine.start, mine.len()).into_owned();
    let outcomes = coder.encode_blocks(dict, &sub_x, &mut sub_codes, params)?;
    codes
        .columns_mut(mine.start, mine.len())
        .copy_from(&sub_codes);
    let payload = pack(sub_codes.as_slice(), &outcomes);
    let parts = match share {
        Share::All => Some(comm.allgather(&payload)),
        Share::Root => comm.gather(&payload),
    };
    let Some(parts) = parts else {
        return Ok(None);
    };
    let mut all = Vec::with_capacity(blocks);
    for (rank, part) in parts.iter().enumerate() {
        let cols = columns(rank);
        let slice = &mut codes.as_mut_slice()[cols.start * k..cols.end * k];
        unpack(part, slice, &mut all).ok_or_else(|| {
            Error::failed(
                "MPI gather of codes",
                format!(
                    "rank {rank} sent {} bytes that do not hold codes for columns {cols:?}",
                    part.len()
                ),
            )
        })?;
    }
    Ok(Some(merge_outcomes(coder.name(), &all, codes, start)))
}

/// One rank's codes (column-major) and block outcomes, little-endian.
fn pack(codes: &[f32], outcomes: &[BlockOutcome]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + codes.len() * 4 + outcomes.len() * 48);
    out.extend_from_slice(&(codes.len() as u64).to_le_bytes());
    put_f32(&mut out, codes);
    out.extend_from_slice(&(outcomes.len() as u64).to_le_bytes());
    for o in outcomes {
        out.extend_from_slice(&(o.iterations as u64).to_le_bytes());
        out.extend_from_slice(&o.objective_sum.to_le_bytes());
        out.extend_from_slice(&o.max_relative_gap.to_le_bytes());
        out.extend_from_slice(&(o.converged as u64).to_le_bytes());
        out.extend_from_slice(&o.gemm_flops.to_le_bytes());
        out.extend_from_slice(&(o.history.len() as u64).to_le_bytes());
        for h in &o.history {
            out.extend_from_slice(&h.to_le_bytes());
        }
    }
    out
}

/// Reads what [`pack`] wrote: the codes into `codes` (which must be their length), the
/// outcomes appended to `outcomes`. None if the bytes do not fit.
fn unpack(bytes: &[u8], codes: &mut [f32], outcomes: &mut Vec<BlockOutcome>) -> Option<()> {
    let mut r = Reader { bytes, at: 0 };
    if r.u64()? as usize != codes.len() {
        return None;
    }
    get_f32(r.take(codes.len() * 4)?, codes);
    for _ in 0..r.u64()? {
        let iterations = r.u64()? as usize;
        let objective_sum = r.f64()?;
        let max_relative_gap = r.f64()?;
        let converged = r.u64()? as usize;
        let gemm_flops = r.f64()?;
        let len = r.u64()? as usize;
        let history = (0..len).map(|_| r.f64()).collect::<Option<Vec<f64>>>()?;
        outcomes.push(BlockOutcome {
            iterations,
            objective_sum,
            max_relative_gap,
            converged,
            history,
            gemm_flops,
        });
    }
    (r.at == bytes.len()).then_some(())
}

/// A cursor over little-endian bytes; every read is None past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        self.u64().map(f64::from_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::Coder;

    /// `size` ranks simulated in one process: each "rank" codes its share, and the gathers
    /// return the parts every rank made. The codes and report must match one process's.
    #[test]
    fn shared_blocks_give_the_one_process_bits_for_any_rank_count() {
        let (p, k, n) = (36, 20, 3 * BLOCK + 77);
        let d = DMatrix::from_fn(p, k, |i, j| (((i * 31 + j * 17) % 23) as f32 - 11.0) / 11.0);
        let mut d = d;
        crate::dictionary::normalize_columns(&mut d);
        let dict = PreparedDictionary::new(d);
        let x = DMatrix::from_fn(p, n, |i, j| (((i * 7 + j * 13) % 29) as f32 - 14.0) / 7.0);
        for coder in [Coder::Cd, Coder::Fista] {
            let coder = coder.build();
            let params = CodingParams::new(0.3).check().unwrap();
            let mut one = DMatrix::zeros(k, n);
            let want = coder.encode(&dict, &x, &mut one, &params).unwrap();
            for size in 2..=5 {
                // Every simulated rank's payload, as the gather would deliver it.
                let payloads: Vec<Vec<u8>> = (0..size)
                    .map(|rank| {
                        let comm = Fixed {
                            rank,
                            size,
                            parts: Vec::new(),
                        };
                        let mut codes = DMatrix::zeros(k, n);
                        let mut seen = Vec::new();
                        let spy = Spy {
                            inner: &comm,
                            seen: std::sync::Mutex::new(&mut seen),
                        };
                        let _ = encode_shared(
                            coder.as_ref(),
                            &dict,
                            &x,
                            &mut codes,
                            &params,
                            &spy,
                            Share::Root,
                        );
                        seen.pop().unwrap()
                    })
                    .collect();
                let comm = Fixed {
                    rank: 0,
                    size,
                    parts: payloads,
                };
                let mut codes = DMatrix::zeros(k, n);
                let got = encode_shared(
                    coder.as_ref(),
                    &dict,
                    &x,
                    &mut codes,
                    &params,
                    &comm,
                    Share::All,
                )
                .unwrap()
                .unwrap();
                assert_eq!(codes, one, "{} at {size} ranks", coder.name());
                assert_eq!(got.objective.to_bits(), want.objective.to_bits());
                assert_eq!(got.nonzero_fraction, want.nonzero_fraction);
                assert_eq!(got.iterations, want.iterations);
                assert_eq!(got.converged_fraction, want.converged_fraction);
            }
        }
    }

    /// A world whose gathers return fixed parts.
    struct Fixed {
        rank: usize,
        size: usize,
        parts: Vec<Vec<u8>>,
    }

    impl Collective for Fixed {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn allgather(&self, _mine: &[u8]) -> Vec<Vec<u8>> {
            self.parts.clone()
        }
        fn gather(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
            (self.rank == 0).then(|| self.allgather(mine))
        }
    }

    /// Records what a rank sends, and then answers as a non-root rank.
    struct Spy<'a, 'b> {
        inner: &'a Fixed,
        seen: std::sync::Mutex<&'b mut Vec<Vec<u8>>>,
    }

    impl Collective for Spy<'_, '_> {
        fn rank(&self) -> usize {
            self.inner.rank
        }
        fn size(&self) -> usize {
            self.inner.size
        }
        fn allgather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
            self.seen.lock().unwrap().push(mine.to_vec());
            Vec::new()
        }
        fn gather(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
            self.seen.lock().unwrap().push(mine.to_vec());
            None
        }
    }
}
