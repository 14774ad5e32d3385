//! The MPI world (cargo feature `mpi`): [`start`] initialises MPI, installs a [`Collective`]
//! backed by `MPI_COMM_WORLD`, and returns the [`Session`] that finalises MPI when dropped
//! and ends the whole job when one rank fails ([`Session::abort`]).
//!
//! Only byte gathers are used (`MPI_Allgatherv` and `MPI_Gatherv`, after a gather of the
//! lengths): no MPI reduction ever touches a float, so the bits cannot depend on the MPI
//! library's summation order. Collectives are called from the main thread only (rayon's
//! workers never call MPI), which is what `MPI_THREAD_FUNNELED` promises.

use super::{Collective, set_world};
use crate::error::{Error, Result};
use mpi::Count;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// `MPI_COMM_WORLD`. The handle is not stored (a raw MPI handle is neither `Send` nor
/// `Sync`); it is cheap to name on each call.
struct World {
    rank: usize,
    size: usize,
}

fn comm() -> SimpleCommunicator {
    SimpleCommunicator::world()
}

/// Counts and displacements of the parts, from every rank's length. One MPI call moves at
/// most `i32::MAX` bytes in all (MPI's `int` counts).
fn partition(lens: &[u64]) -> (Vec<Count>, Vec<Count>, usize) {
    let total: u64 = lens.iter().sum();
    assert!(
        total <= Count::MAX as u64,
        "one MPI gather would move {total} bytes, more than MPI's limit of {} per call; \
         use a smaller --batch",
        Count::MAX
    );
    let counts: Vec<Count> = lens.iter().map(|&l| l as Count).collect();
    let displs: Vec<Count> = counts
        .iter()
        .scan(0, |at, &c| {
            let d = *at;
            *at += c;
            Some(d)
        })
        .collect();
    (counts, displs, total as usize)
}

fn split(buf: &[u8], lens: &[u64]) -> Vec<Vec<u8>> {
    let mut at = 0usize;
    lens.iter()
        .map(|&l| {
            let part = buf[at..at + l as usize].to_vec();
            at += l as usize;
            part
        })
        .collect()
}

impl Collective for World {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn allgather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        let comm = comm();
        let mut lens = vec![0u64; self.size];
        comm.all_gather_into(&(mine.len() as u64), &mut lens[..]);
        let (counts, displs, total) = partition(&lens);
        let mut buf = vec![0u8; total];
        {
            let mut parts = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            comm.all_gather_varcount_into(mine, &mut parts);
        }
        split(&buf, &lens)
    }

    fn gather(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
        let comm = comm();
        let root = comm.process_at_rank(0);
        let len = mine.len() as u64;
        if self.rank != 0 {
            root.gather_into(&len);
            root.gather_varcount_into(mine);
            return None;
        }
        let mut lens = vec![0u64; self.size];
        root.gather_into_root(&len, &mut lens[..]);
        let (counts, displs, total) = partition(&lens);
        let mut buf = vec![0u8; total];
        {
            let mut parts = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            root.gather_varcount_into_root(mine, &mut parts);
        }
        Some(split(&buf, &lens))
    }
}

/// MPI for the life of the process: finalised on drop.
pub struct Session {
    universe: Universe,
    rank: usize,
    size: usize,
}

impl Session {
    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Ends every rank of the job with `code` (`MPI_Abort`): what a rank does when it fails
    /// alone, so that the others, waiting in a collective for it, do not hang.
    pub fn abort(&self, code: i32) -> ! {
        self.universe.world().abort(code)
    }
}

/// Initialises MPI and makes `MPI_COMM_WORLD` the process's world. Started without a
/// launcher, the process is a job of one rank.
pub fn start() -> Result<Session> {
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
        .ok_or_else(|| Error::failed("starting MPI", "MPI was already initialised"))?;
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    set_world(Box::new(World { rank, size }))?;
    Ok(Session {
        universe,
        rank,
        size,
    })
}
