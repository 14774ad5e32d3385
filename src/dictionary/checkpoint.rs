//! A learning run's checkpoint: everything a run needs to continue bit-identically, in one
//! [`crate::io::checkpoint`] container of kind `learn`: the resolved parameters and the loop
//! state (step, per-atom last use, history, timings) as JSON, and as raw float32 the
//! dictionary, the rule's statistics, the dictionary at the last history row and the
//! warm-start held-out codes.
//!
//! Checkpoints written before the container (`SIMPLECELL-CKPT-1`, one JSON block then the
//! four arrays back to back and a SHA-256) are still read, so a run started with an older
//! release resumes.

use super::data::Schedule;
use super::learner::{Learner, LoopState};
use super::params::LearnParams;
use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint, CheckpointWriter};
use crate::io::sidecar::InputFile;
use crate::patches::PatchSource;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::Path;

/// The container kind of learning checkpoints.
const KIND: &str = "learn";

/// The JSON part of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub config: LearnParams,
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

/// A checkpoint read back: the state and the arrays.
#[derive(Debug, Clone)]
pub struct Saved {
    pub meta: Meta,
    dictionary: Vec<f32>,
    rule_state: Vec<f32>,
    dictionary_at_row: Vec<f32>,
    validation_codes: Vec<f32>,
}

/// Writes `learner`'s checkpoint to `path` atomically (replacing an older one).
pub fn save(learner: &Learner, path: &Path, patches: &InputFile) -> Result<()> {
    let (d, d_at_row, val_codes) = learner.arrays();
    let rule_state = learner.rule().state();
    let meta = Meta {
        config: learner.config().clone(),
        state: learner.state().clone(),
        patches_path: patches.path.clone(),
        patches_sha256: patches.sha256.clone(),
        pixels: learner.source().pixels(),
        patch_count: learner.source().len(),
        threads: rayon::current_num_threads(),
        rule_len: rule_state.len(),
        validation_len: val_codes.ncols(),
    };
    CheckpointWriter::new(KIND)
        .json("meta", &meta)?
        .f32s("dictionary", d.as_slice())
        .f32s("rule_state", &rule_state)
        .f32s("dictionary_at_row", d_at_row.as_slice())
        .f32s("validation_codes", val_codes.as_slice())
        .write(path)
}

/// Reads and verifies a checkpoint, in the container or the first format.
pub fn read(path: &Path) -> Result<Saved> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let saved = if Checkpoint::recognises(&bytes) {
        let c = Checkpoint::parse(path, bytes, KIND)?;
        Saved {
            meta: c.json("meta")?,
            dictionary: c.f32s("dictionary")?,
            rule_state: c.f32s("rule_state")?,
            dictionary_at_row: c.f32s("dictionary_at_row")?,
            validation_codes: c.f32s("validation_codes")?,
        }
    } else {
        read_first_format(path, &bytes)?
    };
    let (m, k) = (&saved.meta, saved.meta.config.atoms);
    let lengths = [
        saved.dictionary.len() == m.pixels * k,
        saved.rule_state.len() == m.rule_len,
        saved.dictionary_at_row.len() == m.pixels * k,
        saved.validation_codes.len() == k * m.validation_len,
    ];
    if lengths.contains(&false) {
        return Err(Error::bad_input(
            path,
            "arrays",
            format!("{lengths:?}"),
            "array section does not match the recorded shapes",
        ));
    }
    Ok(saved)
}

/// The first format: `SIMPLECELL-CKPT-1\n`, u64 LE JSON length, the JSON, the four arrays
/// (lengths in the JSON), and 32 bytes of SHA-256 over everything before them.
fn read_first_format(path: &Path, bytes: &[u8]) -> Result<Saved> {
    const MAGIC: &[u8] = b"SIMPLECELL-CKPT-1\n";
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
    let (p, k) = (meta.pixels, meta.config.atoms);
    let expect = 2 * p * k + meta.rule_len + k * meta.validation_len;
    if body.len() - json_end != 4 * expect {
        return Err(bad(
            "arrays",
            format!("{} bytes", body.len() - json_end),
            "array section does not match the recorded shapes",
        ));
    }
    let values: Vec<f32> = body[json_end..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let (d, rest) = values.split_at(p * k);
    let (rule_state, rest) = rest.split_at(meta.rule_len);
    let (d_at_row, val_codes) = rest.split_at(p * k);
    Ok(Saved {
        dictionary: d.to_vec(),
        rule_state: rule_state.to_vec(),
        dictionary_at_row: d_at_row.to_vec(),
        validation_codes: val_codes.to_vec(),
        meta,
    })
}

impl Saved {
    /// Rebuilds the learner on `source`, which must have the shape the run was made on.
    pub fn restore(self, source: PatchSource) -> Result<Learner> {
        let meta = self.meta;
        let (p, k) = (meta.pixels, meta.config.atoms);
        if source.pixels() != p || source.len() != meta.patch_count {
            return Err(Error::bad_input(
                &meta.patches_path,
                "shape",
                format!("({}, {})", source.len(), source.pixels()),
                format!("the checkpoint was made on ({}, {p})", meta.patch_count),
            ));
        }
        // Saved parameters were checked when the run started; checking them again guards
        // against a hand-edited file and gives the learner its checked form.
        let config = meta.config.check()?.resolve(source.len())?;
        let schedule = Schedule::new(
            source.len(),
            config.validation_len(),
            config.seed,
            config.shuffle,
        );
        if schedule.validation.len() != meta.validation_len {
            return Err(Error::failed(
                "restoring the checkpoint",
                "validation split differs",
            ));
        }
        Learner::assemble(
            config,
            source,
            schedule,
            DMatrix::from_vec(p, k, self.dictionary),
            meta.state,
            Some(&self.rule_state),
            Some((
                DMatrix::from_vec(p, k, self.dictionary_at_row),
                DMatrix::from_vec(k, meta.validation_len, self.validation_codes),
            )),
        )
    }
}
