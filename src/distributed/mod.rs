//! Running `learn` and `encode` as one job over several processes (MPI ranks) with the same
//! bytes for any number of them (issue 18; README, "MPI").
//!
//! The library never talks to MPI directly: it talks to a [`Collective`], the two
//! collective operations it needs (gather every rank's bytes on every rank, or on rank 0).
//! Without the `mpi` cargo feature, and in any process not started by the binary built with
//! it, the [`world`] is [`Solo`], a job of one rank, and every code path below reduces to the
//! one-process one. With the feature, `main` installs an MPI world ([`mpi::start`]).
//!
//! Determinism rests on three rules: the work is cut into the sparse coder's fixed blocks
//! (never into pieces that depend on the rank count); every rank's results are gathered and
//! combined in block order by the same code the one-process run uses; and floating-point
//! numbers are never reduced by MPI (whose summation order depends on the rank count and the
//! implementation). Every rank then holds the same bits, so every rank can run the same
//! dictionary update and nothing needs to be broadcast. [`check_same`] verifies that claim
//! (and that every rank reads the same input) by comparing hashes.

#[cfg(feature = "mpi")]
pub mod mpi;

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

/// The collective operations a job needs. Every rank must make the same calls in the same
/// order (that is what "collective" means); only the main thread calls them.
pub trait Collective: Send + Sync {
    /// This process's rank, 0-based.
    fn rank(&self) -> usize;
    /// Ranks in the job.
    fn size(&self) -> usize;
    /// Every rank's `mine`, in rank order, on every rank. Lengths may differ by rank.
    fn allgather(&self, mine: &[u8]) -> Vec<Vec<u8>>;
    /// Every rank's `mine`, in rank order, on rank 0 (None elsewhere).
    fn gather(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>>;
}

/// A job of one rank: gathering returns what was given.
#[derive(Debug, Default, Clone, Copy)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn allgather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        vec![mine.to_vec()]
    }
    fn gather(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
        Some(vec![mine.to_vec()])
    }
}

static WORLD: OnceLock<Box<dyn Collective>> = OnceLock::new();

/// Installs the process's world; only the binary does this, once, before any job starts.
/// A second call is refused (the jobs already running would disagree about the world).
pub fn set_world(world: Box<dyn Collective>) -> Result<()> {
    WORLD
        .set(world)
        .map_err(|_| Error::failed("starting MPI", "the world was already set"))
}

/// The process's world: the one [`set_world`] installed, or [`Solo`].
pub fn world() -> &'static dyn Collective {
    static SOLO: Solo = Solo;
    match WORLD.get() {
        Some(w) => w.as_ref(),
        None => &SOLO,
    }
}

/// True on the rank that writes outputs and shows progress.
pub fn is_root() -> bool {
    world().rank() == 0
}

/// The contiguous range of `blocks` that `rank` of `size` works on: the first
/// `blocks % size` ranks take one block more, so the ranges tile `0..blocks` in rank order.
pub fn block_range(blocks: usize, rank: usize, size: usize) -> Range<usize> {
    let (base, extra) = (blocks / size, blocks % size);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// Whether to stop, decided the same on every rank: `interrupted` if any rank was (each
/// rank's signal handler fires at its own moment), `finished` as rank 0 sees it (a time
/// budget is measured by rank 0's clock). One small gather per call.
pub fn agree(comm: &dyn Collective, interrupted: bool, finished: bool) -> (bool, bool) {
    if comm.size() == 1 {
        return (interrupted, finished);
    }
    let all = comm.allgather(&[u8::from(interrupted), u8::from(finished)]);
    (all.iter().any(|v| v[0] != 0), all[0][1] != 0)
}

/// Fails on every rank, naming the ranks that differ from rank 0, unless every rank passed
/// the same `digest` of `what`. `label` says what this rank looked at (a path, say) and is
/// quoted for each rank named; `context` says why it matters.
pub fn check_same(
    comm: &dyn Collective,
    what: &str,
    digest: &[u8],
    label: &str,
    context: &str,
) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let mut mine = (digest.len() as u64).to_le_bytes().to_vec();
    mine.extend_from_slice(digest);
    mine.extend_from_slice(label.as_bytes());
    let all = comm.allgather(&mine);
    let split = |b: &[u8]| -> (Vec<u8>, String) {
        let n = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])) as usize;
        let n = n.min(b.len() - 8);
        (
            b[8..8 + n].to_vec(),
            String::from_utf8_lossy(&b[8 + n..]).into_owned(),
        )
    };
    let parts: Vec<(Vec<u8>, String)> = all.iter().map(|b| split(b)).collect();
    let differ: Vec<usize> = (1..parts.len())
        .filter(|&r| parts[r].0 != parts[0].0)
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    let ranks = differ
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (plural, verb) = if differ.len() > 1 {
        ("s", "")
    } else {
        ("", "s")
    };
    let labels = if parts[0].1.is_empty() {
        String::new()
    } else {
        let theirs: Vec<String> = differ
            .iter()
            .map(|&r| format!("{} on rank {r}", parts[r].1))
            .collect();
        format!(" ({}; rank 0 reads {})", theirs.join(", "), parts[0].1)
    };
    Err(Error::failed(
        "MPI consistency check",
        format!(
            "rank{plural} {ranks} of {} see{verb} a different {what} than rank 0{labels}: \
             {context}",
            parts.len()
        ),
    ))
}

/// Bytes of the file each sampled piece of [`file_fingerprint`] hashes.
const SAMPLE_BYTES: u64 = 64 * 1024;
/// Pieces [`file_fingerprint`] samples besides the head and the tail.
const SAMPLES: u64 = 16;

/// A cheap fingerprint of a file: its size, its first and last [`SAMPLE_BYTES`] (the `.npy`
/// header and the end of the data) and [`SAMPLES`] pieces spread evenly between them. Enough
/// to catch a different, truncated or regenerated file on some node without reading a
/// file of many gigabytes on every rank.
pub fn file_fingerprint(path: &Path) -> Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let size = file.metadata().map_err(|e| read_error(path, e))?.len();
    let mut hash = Sha256::new();
    hash.update(size.to_le_bytes());
    let last = size.saturating_sub(SAMPLE_BYTES);
    let mut offsets: Vec<u64> = (0..=SAMPLES + 1)
        .map(|i| last * i / (SAMPLES + 1))
        .collect();
    offsets.dedup();
    let mut buf = vec![0u8; SAMPLE_BYTES as usize];
    for offset in offsets {
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| read_error(path, e))?;
        let n = (size - offset).min(SAMPLE_BYTES) as usize;
        file.read_exact(&mut buf[..n])
            .map_err(|e| read_error(path, e))?;
        hash.update(offset.to_le_bytes());
        hash.update(&buf[..n]);
    }
    Ok(hash.finalize().to_vec())
}

/// Fails at start, on every rank, unless every rank sees the same `path` (by
/// [`file_fingerprint`]); the message names the ranks and the file.
pub fn check_same_file(comm: &dyn Collective, role: &str, path: &Path) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let digest = file_fingerprint(path)?;
    check_same(
        comm,
        &format!("{role} file"),
        &digest,
        &path.display().to_string(),
        "every rank must read the same file (same size and contents); copy it to every node \
         or put it on a shared file system",
    )
}

fn read_error(path: &Path, source: std::io::Error) -> Error {
    Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// SHA-256 of float32 values (their little-endian bytes), for [`check_same`].
pub fn hash_f32(values: &[f32]) -> Vec<u8> {
    let mut hash = Sha256::new();
    for chunk in values.chunks(4096) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
        hash.update(&bytes);
    }
    hash.finalize().to_vec()
}

/// Appends `values` to `out` as little-endian bytes. On a little-endian machine that is
/// one copy of their memory (every step moves the batch's codes, 4 MB at batch 4096, and
/// with the split update 400 KB of statistics, so a call per float showed).
pub(crate) fn put_f32(out: &mut Vec<u8>, values: &[f32]) {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: an f32 is 4 initialised bytes without padding and u8 needs no alignment;
        // on a little-endian machine those bytes are its little-endian bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        };
        out.extend_from_slice(bytes);
    }
    #[cfg(not(target_endian = "little"))]
    {
        out.reserve(values.len() * 4);
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Reads little-endian float32 values from `bytes` into `out` (as many as both hold).
pub(crate) fn get_f32(bytes: &[u8], out: &mut [f32]) {
    #[cfg(target_endian = "little")]
    {
        let n = out.len().min(bytes.len() / 4);
        // SAFETY: copies 4n bytes, inside both slices, into the first n floats; every bit
        // pattern is a valid f32, and the byte copy needs no alignment.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr().cast::<u8>(), 4 * n)
        };
    }
    #[cfg(not(target_endian = "little"))]
    for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ranges_tile_the_blocks_in_rank_order() {
        for blocks in 0..40 {
            for size in 1..9 {
                let mut next = 0;
                for rank in 0..size {
                    let r = block_range(blocks, rank, size);
                    assert_eq!(r.start, next, "{blocks} blocks, rank {rank} of {size}");
                    assert!(r.len() == blocks / size || r.len() == blocks / size + 1);
                    next = r.end;
                }
                assert_eq!(next, blocks);
            }
        }
    }

    #[test]
    fn floats_go_to_little_endian_bytes_and_back_bit_for_bit() {
        let values = [1.5f32, -0.0, f32::NAN, f32::MIN_POSITIVE / 4.0, -7.25e30];
        let mut bytes = vec![9u8];
        put_f32(&mut bytes, &values);
        let want: Vec<u8> = std::iter::once(9)
            .chain(values.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        assert_eq!(bytes, want);
        let mut back = [0f32; 6];
        get_f32(&bytes[1..], &mut back);
        for (b, v) in back.iter().zip(&values) {
            assert_eq!(b.to_bits(), v.to_bits());
        }
        assert_eq!(back[5], 0.0, "only as many as the bytes hold");
    }

    #[test]
    fn a_fingerprint_sees_a_changed_byte_in_a_sampled_piece_and_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let base = file_fingerprint(&path).unwrap();
        assert_eq!(base, file_fingerprint(&path).unwrap());
        // The header and the last byte are always sampled.
        for at in [0, data.len() - 1] {
            let mut changed = data.clone();
            changed[at] ^= 1;
            std::fs::write(&path, &changed).unwrap();
            assert_ne!(base, file_fingerprint(&path).unwrap(), "byte {at}");
        }
        std::fs::write(&path, &data[..data.len() - 4]).unwrap();
        assert_ne!(base, file_fingerprint(&path).unwrap(), "truncated");
    }
}
