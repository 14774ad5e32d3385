//! The state a CNN run folder keeps so that training can continue, and so that `cnn eval`
//! and `cnn visualize` can rebuild the network: the settings, the exact parameter bits,
//! the optimiser's moments and step count, the input standardisation and the metrics so
//! far. Written after every epoch (and before the first) as `checkpoint.bin`, the crate's
//! checkpoint container ([`crate::io::checkpoint`]): a JSON state section and raw float32
//! sections under one SHA-256, so a damaged file is refused, naming it, rather than
//! resumed from. A loaded weight or moment that is not finite is refused the same way.
//!
//! Runs written before the container have `checkpoint.json` (float arrays as hex of their
//! bytes, no checksum); they are still read, never written.

use super::data::Standardiser;
use super::input_whitening::WhiteningTransform;
use super::log::EpochMetrics;
use super::net::{NetSpec, Network};
use super::optim::{Optimizer, OptimizerKind};
use super::params::TrainRecord;
use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint as Container, CheckpointWriter};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The checkpoint's file name inside a run folder.
pub const FILE: &str = "checkpoint.bin";

/// The file name runs written before the checkpoint container used.
const LEGACY_FILE: &str = "checkpoint.json";

/// The container kind of a CNN checkpoint.
const KIND: &str = "cnn";

/// The checkpoint file of the run in `run`.
pub fn path(run: &Path) -> PathBuf {
    run.join(FILE)
}

/// Whether `run` holds a checkpoint to resume from (in either format).
pub fn exists(run: &Path) -> bool {
    path(run).exists() || run.join(LEGACY_FILE).exists()
}

/// Everything needed to continue a run, or to evaluate and visualise its network.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub config: TrainRecord,
    pub epochs_done: usize,
    pub params: Vec<Vec<f32>>,
    pub running: Vec<Vec<f32>>,
    pub spec: NetSpec,
    pub optimizer_steps: u64,
    pub optimizer_first: Vec<Vec<f32>>,
    pub optimizer_second: Vec<Vec<f32>>,
    pub standardiser: Standardiser,
    /// The fitted input whitening (with `input_whitening` other than none).
    pub input_whitening: Option<WhiteningTransform>,
    pub metrics: Vec<EpochMetrics>,
}

/// The checkpoint's JSON section: everything but the float arrays, and how to cut each
/// float section back into tensors.
#[derive(Serialize, Deserialize)]
struct State {
    config: TrainRecord,
    epochs_done: usize,
    spec: NetSpec,
    optimizer_steps: u64,
    standardiser: Standardiser,
    #[serde(default)]
    input_whitening: Option<WhiteningTransform>,
    metrics: Vec<EpochMetrics>,
    /// Tensor lengths of each section of [`ARRAYS`], in that order.
    lengths: [Vec<usize>; 4],
}

/// The float-array sections, each the concatenation of one list of tensors.
const ARRAYS: [&str; 4] = ["params", "running", "optimizer_first", "optimizer_second"];

fn lengths(tensors: &[Vec<f32>]) -> Vec<usize> {
    tensors.iter().map(Vec::len).collect()
}

/// Cuts `values` (section `name` of the file at `path`) into tensors of `lengths`.
fn split(values: Vec<f32>, lengths: &[usize], name: &str, path: &Path) -> Result<Vec<Vec<f32>>> {
    if values.len() != lengths.iter().sum::<usize>() {
        return Err(Error::bad_input(
            path,
            name,
            format!("{} values", values.len()),
            format!(
                "the section's tensor lengths add up to {}",
                lengths.iter().sum::<usize>()
            ),
        ));
    }
    let mut rest = values.as_slice();
    Ok(lengths
        .iter()
        .map(|&n| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        })
        .collect())
}

impl Checkpoint {
    /// The state after `epochs_done` epochs.
    pub fn capture(
        config: &TrainRecord,
        net: &Network,
        opt: &Optimizer,
        standardiser: &Standardiser,
        input_whitening: Option<&WhiteningTransform>,
        metrics: &[EpochMetrics],
        epochs_done: usize,
    ) -> Self {
        Self {
            config: config.clone(),
            epochs_done,
            params: net.params.clone(),
            running: net.running.clone(),
            spec: net.spec.clone(),
            optimizer_steps: opt.steps,
            optimizer_first: opt.first.clone(),
            optimizer_second: opt.second.clone(),
            standardiser: standardiser.clone(),
            input_whitening: input_whitening.cloned(),
            metrics: metrics.to_vec(),
        }
    }

    fn arrays(&self) -> [&[Vec<f32>]; 4] {
        [
            &self.params,
            &self.running,
            &self.optimizer_first,
            &self.optimizer_second,
        ]
    }

    /// Writes the checkpoint of the run in `run`, replacing the previous one atomically.
    pub fn write(&self, run: &Path) -> Result<()> {
        let state = State {
            config: self.config.clone(),
            epochs_done: self.epochs_done,
            spec: self.spec.clone(),
            optimizer_steps: self.optimizer_steps,
            standardiser: self.standardiser.clone(),
            input_whitening: self.input_whitening.clone(),
            metrics: self.metrics.clone(),
            lengths: self.arrays().map(lengths),
        };
        let mut w = CheckpointWriter::new(KIND);
        w.json("state", &state)?;
        for (name, tensors) in ARRAYS.iter().zip(self.arrays()) {
            w.f32s(name, &tensors.concat());
        }
        w.write(&path(run))
    }

    /// Reads the checkpoint of the run in `run` and rebuilds the network. A file that fails
    /// its checksum, holds a network other than its spec, or a value that is not finite is
    /// refused, naming the file.
    pub fn read(run: &Path) -> Result<(Self, Network)> {
        let (ck, file) = if !path(run).exists() && run.join(LEGACY_FILE).exists() {
            (legacy::read(&run.join(LEGACY_FILE))?, run.join(LEGACY_FILE))
        } else {
            (Self::read_container(&path(run))?, path(run))
        };
        let mut net = Network::new(ck.spec.clone())
            .map_err(|e| Error::bad_input(&file, "spec", "invalid", e))?;
        let params = lengths(&net.params);
        // Adam keeps a second moment per tensor; SGD none.
        let second = if ck.config.optimizer.kind == OptimizerKind::Adam {
            params.clone()
        } else {
            Vec::new()
        };
        let expected = [params.clone(), lengths(&net.running), params, second];
        for ((name, tensors), want) in ARRAYS.iter().zip(ck.arrays()).zip(&expected) {
            if lengths(tensors) != *want {
                return Err(Error::bad_input(
                    &file,
                    name,
                    "sizes",
                    "do not match the network spec",
                ));
            }
            if let Some(bad) = tensors.iter().flatten().find(|v| !v.is_finite()) {
                return Err(Error::bad_input(
                    &file,
                    name,
                    bad,
                    "a saved value is not finite; the run cannot continue from it",
                ));
            }
        }
        net.params = ck.params.clone();
        net.running = ck.running.clone();
        Ok((ck, net))
    }

    fn read_container(file: &Path) -> Result<Self> {
        let c = Container::read(file, KIND)?;
        let state: State = c.json("state")?;
        let [params, running, first, second] = state.lengths;
        let section = |name: &str, lengths: &[usize]| split(c.f32s(name)?, lengths, name, file);
        Ok(Self {
            params: section("params", &params)?,
            running: section("running", &running)?,
            optimizer_first: section("optimizer_first", &first)?,
            optimizer_second: section("optimizer_second", &second)?,
            config: state.config,
            epochs_done: state.epochs_done,
            spec: state.spec,
            optimizer_steps: state.optimizer_steps,
            standardiser: state.standardiser,
            input_whitening: state.input_whitening,
            metrics: state.metrics,
        })
    }

    /// The optimiser as it was saved, for the network `net` was rebuilt into.
    pub fn optimizer(&self, net: &Network) -> Optimizer {
        let mut opt = Optimizer::new(
            self.config.optimizer,
            &net.params.iter().map(Vec::len).collect::<Vec<_>>(),
        );
        opt.first = self.optimizer_first.clone();
        opt.second = self.optimizer_second.clone();
        opt.steps = self.optimizer_steps;
        opt
    }
}

/// Reading `checkpoint.json`, the format before the container.
mod legacy {
    use super::*;
    use crate::io::sidecar;

    #[derive(Deserialize)]
    struct LegacyCheckpoint {
        config: TrainRecord,
        epochs_done: usize,
        #[serde(deserialize_with = "hex_floats")]
        params: Vec<Vec<f32>>,
        #[serde(deserialize_with = "hex_floats")]
        running: Vec<Vec<f32>>,
        spec: NetSpec,
        optimizer_steps: u64,
        #[serde(deserialize_with = "hex_floats")]
        optimizer_first: Vec<Vec<f32>>,
        #[serde(deserialize_with = "hex_floats")]
        optimizer_second: Vec<Vec<f32>>,
        standardiser: Standardiser,
        metrics: Vec<EpochMetrics>,
    }

    /// Float arrays written as hex of their little-endian bytes.
    fn hex_floats<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Vec<Vec<f32>>, D::Error> {
        let strings = Vec::<String>::deserialize(d)?;
        strings
            .iter()
            .map(|s| {
                if s.len() % 8 != 0 {
                    return Err(serde::de::Error::custom(
                        "float hex length is not a multiple of 8",
                    ));
                }
                let bytes: std::result::Result<Vec<u8>, _> = (0..s.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
                    .collect();
                let bytes = bytes.map_err(serde::de::Error::custom)?;
                Ok(bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect())
            })
            .collect()
    }

    pub(super) fn read(file: &Path) -> Result<Checkpoint> {
        let value = sidecar::read(file)?;
        let ck: LegacyCheckpoint = serde_json::from_value(value)
            .map_err(|e| Error::bad_input(file, "checkpoint", "unreadable", e.to_string()))?;
        Ok(Checkpoint {
            config: ck.config,
            epochs_done: ck.epochs_done,
            params: ck.params,
            running: ck.running,
            spec: ck.spec,
            optimizer_steps: ck.optimizer_steps,
            optimizer_first: ck.optimizer_first,
            optimizer_second: ck.optimizer_second,
            standardiser: ck.standardiser,
            input_whitening: None,
            metrics: ck.metrics,
        })
    }
}
