//! The state a CNN run folder keeps so that training can continue, and so that `cnn eval`
//! and `cnn visualize` can rebuild the network: the settings, the exact parameter bits,
//! the optimiser's moments and step count, the input standardisation and the metrics so
//! far. Written after every epoch (and before the first), replaced atomically.

use super::data::Standardiser;
use super::log::EpochMetrics;
use super::net::{NetSpec, Network};
use super::optim::Optimizer;
use super::params::TrainRecord;
use crate::error::{Error, Result};
use crate::io::sidecar;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The checkpoint's file name inside a run folder.
pub const FILE: &str = "checkpoint.json";

/// The checkpoint file of the run in `run`.
pub fn path(run: &Path) -> PathBuf {
    run.join(FILE)
}

/// Everything needed to continue a run, or to evaluate and visualise its network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub config: TrainRecord,
    pub epochs_done: usize,
    #[serde(with = "hex_floats")]
    pub params: Vec<Vec<f32>>,
    #[serde(with = "hex_floats")]
    pub running: Vec<Vec<f32>>,
    pub spec: NetSpec,
    pub optimizer_steps: u64,
    #[serde(with = "hex_floats")]
    pub optimizer_first: Vec<Vec<f32>>,
    #[serde(with = "hex_floats")]
    pub optimizer_second: Vec<Vec<f32>>,
    pub standardiser: Standardiser,
    pub metrics: Vec<EpochMetrics>,
}

/// Float arrays as hex of their little-endian bytes, so a checkpoint restores exact bits.
mod hex_floats {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<f32>], s: S) -> Result<S::Ok, S::Error> {
        let strings: Vec<String> = v
            .iter()
            .map(|a| {
                a.iter()
                    .flat_map(|x| x.to_le_bytes())
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        s.collect_seq(strings)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
        let strings = Vec::<String>::deserialize(d)?;
        strings
            .iter()
            .map(|s| {
                if s.len() % 8 != 0 {
                    return Err(serde::de::Error::custom(
                        "float hex length is not a multiple of 8",
                    ));
                }
                let bytes: Result<Vec<u8>, _> = (0..s.len())
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
}

impl Checkpoint {
    /// The state after `epochs_done` epochs.
    pub fn capture(
        config: &TrainRecord,
        net: &Network,
        opt: &Optimizer,
        standardiser: &Standardiser,
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
            metrics: metrics.to_vec(),
        }
    }

    /// Writes the checkpoint of the run in `run`, replacing the previous one.
    pub fn write(&self, run: &Path) -> Result<()> {
        sidecar::write(&path(run), &json!(self), true)
    }

    /// Reads the checkpoint of the run in `run` and rebuilds the network.
    pub fn read(run: &Path) -> Result<(Self, Network)> {
        let path = path(run);
        let value = sidecar::read(&path)?;
        let ck: Checkpoint = serde_json::from_value(value)
            .map_err(|e| Error::bad_input(&path, "checkpoint", "unreadable", e.to_string()))?;
        let mut net = Network::new(ck.spec.clone())
            .map_err(|e| Error::bad_input(&path, "spec", "invalid", e))?;
        let sizes_ok = net.params.len() == ck.params.len()
            && net
                .params
                .iter()
                .zip(&ck.params)
                .all(|(a, b)| a.len() == b.len())
            && net
                .running
                .iter()
                .zip(&ck.running)
                .all(|(a, b)| a.len() == b.len());
        if !sizes_ok {
            return Err(Error::bad_input(
                &path,
                "params",
                "sizes",
                "do not match the network spec",
            ));
        }
        net.params = ck.params.clone();
        net.running = ck.running.clone();
        Ok((ck, net))
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
