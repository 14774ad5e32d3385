//! Checkpoints: one file, `checkpoint.bin`, holding everything a run needs to continue
//! bit-identically: the configuration, the loop state (step, per-atom last use, history,
//! timings) as JSON, then the dictionary, the rule's statistics, the dictionary at the last
//! history row and the warm-start held-out codes as raw float32, and a SHA-256 of all of it.
//! The file is written atomically (temporary name, fsync, rename), so a crash or a full disk
//! during a write leaves the previous checkpoint intact.
//!
//! Layout: `SIMPLECELL-CKPT-1\n`, u64 LE JSON length, JSON, the four arrays (lengths in the
//! JSON), 32 bytes of SHA-256 over everything before them.

use super::data::{PatchSource, Schedule};
use super::learner::{LearnConfig, Learner, LoopState};
use crate::error::{Error, Result};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8] = b"SIMPLECELL-CKPT-1\n";

/// The JSON part of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub config: LearnConfig,
    pub state: LoopState,
    /// The patch file as given and its SHA-256, so a resume reads the same data.
    pub patches_path: String,
    pub patches_sha256: String,
    pub pixels: usize,
    pub patch_count: usize,
    /// Worker threads of the run (informational: the bytes do not depend on it).
    pub threads: usize,
    pub rule_len: usize,
    pub validation_len: usize,
}

fn f32_bytes(values: &[f32], out: &mut Vec<u8>) {
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Writes `learner`'s checkpoint to `path` atomically (replacing an older one).
pub fn save(
    learner: &Learner,
    path: &Path,
    patches_path: &str,
    patches_sha256: &str,
) -> Result<()> {
    let (d, d_at_row, val_codes) = learner.arrays();
    let rule_state = learner.rule().state();
    let meta = Meta {
        config: learner.config().clone(),
        state: learner.state().clone(),
        patches_path: patches_path.to_string(),
        patches_sha256: patches_sha256.to_string(),
        pixels: learner.source().pixels(),
        patch_count: learner.source().len(),
        threads: rayon::current_num_threads(),
        rule_len: rule_state.len(),
        validation_len: val_codes.ncols(),
    };
    let json = serde_json::to_vec(&meta)
        .map_err(|e| Error::failed("serialising the checkpoint", e.to_string()))?;
    let mut bytes = Vec::with_capacity(
        MAGIC.len() + 8 + json.len() + 4 * (2 * d.len() + rule_state.len() + val_codes.len()) + 32,
    );
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    f32_bytes(d.as_slice(), &mut bytes);
    f32_bytes(&rule_state, &mut bytes);
    f32_bytes(d_at_row.as_slice(), &mut bytes);
    f32_bytes(val_codes.as_slice(), &mut bytes);
    let digest = sha2::Sha256::digest(&bytes);
    crate::io::atomic::write_with(path, true, |w| {
        w.write_all(&bytes)?;
        w.write_all(&digest)
    })
}

/// Reads the JSON part of a checkpoint (after verifying the whole file's checksum), and the
/// arrays that follow it.
pub fn read(path: &Path) -> Result<(Meta, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |field: &str, value: String, reason: &str| {
        Error::bad_input(path, field, value, reason.to_string())
    };
    if bytes.len() < MAGIC.len() + 8 + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad(
            "magic",
            format!("{} bytes", bytes.len()),
            "not a simplecell checkpoint",
        ));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if sha2::Sha256::digest(body).as_slice() != digest {
        return Err(bad(
            "sha256",
            "mismatch".into(),
            "the checkpoint is corrupt",
        ));
    }
    let at = MAGIC.len();
    let json_len = u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes")) as usize;
    let json_end = (at + 8).checked_add(json_len).filter(|&e| e <= body.len());
    let Some(json_end) = json_end else {
        return Err(bad(
            "json_len",
            json_len.to_string(),
            "longer than the file",
        ));
    };
    let meta: Meta = serde_json::from_slice(&body[at + 8..json_end])
        .map_err(|e| bad("json", e.to_string(), "cannot parse the checkpoint's state"))?;
    let rest = &body[json_end..];
    let k = meta.config.atoms;
    let expect = 2 * meta.pixels * k + meta.rule_len + k * meta.validation_len;
    if rest.len() != 4 * expect {
        return Err(bad(
            "arrays",
            format!("{} bytes", rest.len()),
            "array section does not match the recorded shapes",
        ));
    }
    let values = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((meta, values))
}

/// Rebuilds a learner from a checkpoint's parts and its patch source.
pub fn restore(meta: &Meta, values: &[f32], source: PatchSource) -> Result<Learner> {
    let (p, k) = (meta.pixels, meta.config.atoms);
    if source.pixels() != p || source.len() != meta.patch_count {
        return Err(Error::bad_input(
            &meta.patches_path,
            "shape",
            format!("({}, {})", source.len(), source.pixels()),
            format!("the checkpoint was made on ({}, {p})", meta.patch_count),
        ));
    }
    let (d, rest) = values.split_at(p * k);
    let (rule_state, rest) = rest.split_at(meta.rule_len);
    let (d_at_row, val_codes) = rest.split_at(p * k);
    let schedule = Schedule::new(
        source.len(),
        meta.config.validation,
        meta.config.seed,
        meta.config.shuffle,
    );
    if schedule.validation.len() != meta.validation_len {
        return Err(Error::failed(
            "restoring the checkpoint",
            "validation split differs",
        ));
    }
    Learner::assemble(
        meta.config.clone(),
        source,
        schedule,
        DMatrix::from_column_slice(p, k, d),
        meta.state.clone(),
        Some(rule_state),
        Some((
            DMatrix::from_column_slice(p, k, d_at_row),
            DMatrix::from_column_slice(k, meta.validation_len, val_codes),
        )),
    )
}
