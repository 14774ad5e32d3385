//! Encoding a patch file against a dictionary file, streamed: patches are read (memory-mapped
//! when possible) and coded `batch` at a time, and their codes appended to the output
//! `.npy`, so memory stays bounded by the batch however large the patch file is. The
//! per-batch [`CodingReport`]s are merged into one for the whole file and recorded, with
//! the inputs and every parameter, in the output's JSON sidecar.
//!
//! The dictionary is checked first: finite, non-empty, and atoms of unit norm (an atom off by
//! more than [`UNIT_NORM_TOLERANCE`] is normalised with a warning, or refused under
//! `strict`). A Ctrl-C ([`crate::interrupt`]) stops between batches and removes the partial
//! output.
//!
//! Under MPI ([`crate::distributed`]) every rank reads the inputs (after checking that
//! they are the same files as rank 0's), the ranks share each batch's blocks
//! ([`super::shared`]), and rank 0 alone writes the codes, in patch order, and the sidecar:
//! the same bytes as one process writes.

use super::shared::{Share, encode_shared};
use super::{Coder, CodingParams, CodingReport, PreparedDictionary};
use crate::error::{Error, Result};
use crate::io::sidecar::{self, InputFile, Provenance};
use crate::io::{atomic, npy};
use crate::observer::Progress;
use crate::params::{Params, Valid, ensure};
use crate::patches::PatchSource;
use nalgebra::DMatrix;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Parameters of [`encode_file`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncodeParams {
    /// The objective's lambda, tolerance, iteration cap and sign constraint.
    pub coding: CodingParams,
    /// Which coder. Default cd.
    pub coder: Coder,
    /// Patches read and coded per batch; bounds memory. Default 16384; range 1..=10000000.
    pub batch: usize,
    /// Refuse a dictionary whose atoms are not unit norm instead of normalising it with a
    /// warning. Default off.
    pub strict: bool,
}

impl EncodeParams {
    /// Default parameters for a given lambda.
    pub fn new(lambda: f32) -> Self {
        Self {
            coding: CodingParams::new(lambda),
            coder: Coder::default(),
            batch: 16384,
            strict: false,
        }
    }

    /// The checked parameters (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }
}

impl Params for EncodeParams {
    fn validate(&mut self) -> Result<()> {
        self.coding.validate()?;
        ensure(
            (1..=10_000_000).contains(&self.batch),
            "batch",
            self.batch,
            "must be in 1..=10000000",
        )
    }
}

/// How far an atom's norm may be from 1 before it counts as not unit norm: float32 rounding
/// of a normalised 1024-pixel atom stays well inside it.
pub const UNIT_NORM_TOLERANCE: f64 = 1e-4;

/// A dictionary file, checked and normalised, with what the sidecar records about it.
pub struct LoadedDictionary {
    pub prepared: PreparedDictionary,
    /// Atoms that were not unit norm and were normalised.
    pub renormalised_atoms: usize,
}

/// Reads an (atoms, pixels) dictionary, refusing empty, non-finite or all-zero atoms, and
/// normalising atoms that are not unit norm (refused if `strict`); a warning goes to
/// `progress` when any atom was normalised.
pub fn load_dictionary(
    path: &Path,
    strict: bool,
    progress: &dyn Progress,
) -> Result<LoadedDictionary> {
    let array = npy::read(path)?;
    if array.shape.len() != 2 || array.shape[0] == 0 || array.shape[1] == 0 {
        return Err(Error::bad_input(
            path,
            "shape",
            format!("{:?}", array.shape),
            "a dictionary must be a non-empty 2-d array (atoms, pixels)",
        ));
    }
    let (atoms, pixels) = (array.shape[0], array.shape[1]);
    npy::ensure_finite(
        path,
        &array.data,
        pixels,
        ("atom", "pixel"),
        "the dictionary must hold finite numbers",
    )?;
    // (atoms, pixels) row-major is pixels x atoms column-major: the same bytes.
    let mut d = DMatrix::from_vec(pixels, atoms, array.data);
    let mut renormalised = 0;
    for (i, mut col) in d.column_iter_mut().enumerate() {
        let norm = col.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(Error::bad_input(
                path,
                &format!("atom {i}"),
                "norm 0",
                "an all-zero atom cannot be normalised",
            ));
        }
        if (norm - 1.0).abs() > UNIT_NORM_TOLERANCE {
            if strict {
                return Err(Error::bad_input(
                    path,
                    &format!("atom {i}"),
                    format!("norm {norm:.6}"),
                    "atoms must have unit L2 norm under `strict`",
                ));
            }
            col.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
            renormalised += 1;
        }
    }
    if renormalised > 0 {
        progress.warn(&format!(
            "{}: {renormalised} of {atoms} atoms were not unit norm and were normalised \
             (pass --strict to refuse such a dictionary)",
            path.display()
        ));
    }
    Ok(LoadedDictionary {
        prepared: PreparedDictionary::new(d),
        renormalised_atoms: renormalised,
    })
}

/// What [`encode_file`] did.
#[derive(Debug, Clone)]
pub struct EncodeSummary {
    /// The codes file and its sidecar.
    pub output: PathBuf,
    pub sidecar: PathBuf,
    pub patches: usize,
    pub atoms: usize,
    /// The batches' reports merged: objective averaged over all patches, the largest gap and
    /// iteration count, coding seconds summed.
    pub report: CodingReport,
    /// Wall seconds, reading and writing included.
    pub seconds: f64,
}

/// Codes every patch of `patches` ((patches, pixels) `.npy`) against `dictionary`
/// ((atoms, pixels) `.npy`), writing float32 codes (patches, atoms) to `out` and a sidecar
/// beside it. Existing outputs are refused unless `force`; nothing is written on an error or
/// an interrupt. Under MPI only rank 0 writes, and on the other ranks the summary's report
/// is empty.
pub fn encode_file(
    params: &Valid<EncodeParams>,
    patches: &Path,
    dictionary: &Path,
    out: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<EncodeSummary> {
    let sidecar_path = sidecar::path_for(out);
    atomic::check_distinct(&[
        ("patches", patches),
        ("dictionary", dictionary),
        ("out", out),
        ("out (its .json sidecar)", &sidecar_path),
    ])?;
    let world = crate::distributed::world();
    let root = world.rank() == 0;
    if root {
        atomic::check_output(out, force)?;
        atomic::check_output(&sidecar_path, force)?;
    }
    crate::distributed::check_same_file(world, "patch", patches)?;
    crate::distributed::check_same_file(world, "dictionary", dictionary)?;
    let start = Instant::now();
    let dict = load_dictionary(dictionary, params.strict, progress)?;
    let source = PatchSource::open_or_read(patches)?;
    let (pixels, atoms) = (dict.prepared.pixels(), dict.prepared.atoms());
    if source.pixels() != pixels {
        return Err(Error::bad_input(
            patches,
            "shape",
            format!("{:?}", [source.len(), source.pixels()]),
            format!(
                "patches must be (patches, {pixels}) to match the dictionary {} ({atoms} atoms of {pixels} pixels)",
                dictionary.display()
            ),
        ));
    }
    let n = source.len();
    let data = source.data();
    source.check_values(patches)?;

    let coder = params.coder.build();
    let coding = params.coding.check()?;
    let mut file = if root {
        let mut file = atomic::AtomicFile::create(out, force)?;
        let header = npy::header_bytes(&[n, atoms]);
        std::io::Write::write_all(file.writer(), &header).map_err(|e| file.write_error(e))?;
        Some(file)
    } else {
        None
    };
    let mut totals = Totals::default();
    progress.start("encode", Some(n as u64));
    let mut done = 0usize;
    while done < n {
        // Every rank stops at the same batch if any was interrupted.
        if crate::distributed::agree(world, crate::interrupt::requested(), false).0 {
            // Dropping the uncommitted file removes it: no half-written codes, no sidecar.
            drop(file);
            progress.finish("interrupted; nothing written");
            return Err(Error::Interrupted {
                resume: "the same command (no output was written)".into(),
            });
        }
        let b = params.batch.min(n - done);
        let x = DMatrix::from_column_slice(pixels, b, &data[done * pixels..(done + b) * pixels]);
        let mut codes = DMatrix::<f32>::zeros(atoms, b);
        let report = encode_shared(
            coder.as_ref(),
            &dict.prepared,
            &x,
            &mut codes,
            &coding,
            world,
            Share::Root,
        )?;
        if let (Some(report), Some(file)) = (report, file.as_mut()) {
            // Bounded inputs keep codes finite; this guards the arithmetic itself, so a
            // non-finite code is an error, never "converged" (under MPI the error on rank 0
            // ends the whole job).
            if let Some(at) = codes.as_slice().iter().position(|v| !v.is_finite()) {
                return Err(Error::failed(
                    format!("encoding {}", patches.display()),
                    format!(
                        "patch {} got a non-finite code ({}) for atom {}; nothing was written",
                        done + at / atoms,
                        codes.as_slice()[at],
                        at % atoms
                    ),
                ));
            }
            totals.add(&report, b, atoms);
            npy::write_values(file.writer(), codes.as_slice()).map_err(|e| file.write_error(e))?;
        }
        done += b;
        progress.advance(
            done as u64,
            &format!("objective {:.4}", totals.objective_sum / done as f64),
        );
    }
    let Some(file) = file else {
        progress.finish(&format!("coded a share of {n} patches"));
        return Ok(EncodeSummary {
            output: out.to_path_buf(),
            sidecar: sidecar_path,
            patches: n,
            atoms,
            report: CodingReport::default(),
            seconds: start.elapsed().as_secs_f64(),
        });
    };
    file.commit()?;
    let seconds = start.elapsed().as_secs_f64();
    let report = totals.report(coder.name(), n, atoms);
    progress.finish(&format!("coded {n} patches"));

    let record = EncodeRecord {
        inputs: EncodeInputs {
            patches: PatchesRecord {
                file: InputFile::hash(patches)?,
                shape: [n, pixels],
            },
            dictionary: DictionaryRecord {
                file: InputFile::hash(dictionary)?,
                atoms,
                pixels,
                atoms_renormalised: dict.renormalised_atoms,
            },
        },
        parameters: ParametersRecord {
            coder: coder.name(),
            lambda: coding.lambda,
            tol: coding.tol,
            max_iter: coding.max_iter,
            positive: coding.positive,
            strict: params.strict,
            batch: params.batch,
            threads: rayon::current_num_threads(),
            lipschitz: dict.prepared.lipschitz,
        },
        diagnostics: Diagnostics {
            objective_mean: report.objective,
            max_relative_gap: report.max_relative_gap,
            converged_fraction: report.converged_fraction,
            converged: report.converged,
            nonzero_fraction: report.nonzero_fraction,
            max_iterations: report.iterations,
            gemm_flops: report.gemm_flops,
        },
        timings: Timings {
            coding_seconds: report.seconds,
            total_seconds: seconds,
        },
        output: OutputRecord {
            shape: [n, atoms],
            layout: "(patches, atoms) float32",
        },
    };
    Provenance::new("encode", record).write(&sidecar_path, force)?;
    Ok(EncodeSummary {
        output: out.to_path_buf(),
        sidecar: sidecar_path,
        patches: n,
        atoms,
        report,
        seconds,
    })
}

/// The batches' diagnostics, weighted by their patch counts.
#[derive(Default)]
struct Totals {
    iterations: usize,
    objective_sum: f64,
    max_relative_gap: f64,
    converged: f64,
    nonzeros: f64,
    coding_seconds: f64,
    gemm_flops: f64,
}

impl Totals {
    fn add(&mut self, r: &CodingReport, patches: usize, atoms: usize) {
        self.iterations = self.iterations.max(r.iterations);
        self.objective_sum += r.objective * patches as f64;
        self.max_relative_gap = self.max_relative_gap.max(r.max_relative_gap);
        self.converged += r.converged_fraction * patches as f64;
        self.nonzeros += r.nonzero_fraction * (patches * atoms) as f64;
        self.coding_seconds += r.seconds;
        self.gemm_flops += r.gemm_flops;
    }

    /// The report of the whole file.
    fn report(&self, coder: &str, n: usize, atoms: usize) -> CodingReport {
        let denom = n.max(1) as f64;
        let converged_fraction = if n == 0 { 1.0 } else { self.converged / denom };
        CodingReport {
            coder: coder.to_string(),
            iterations: self.iterations,
            objective: self.objective_sum / denom,
            max_relative_gap: self.max_relative_gap,
            converged_fraction,
            converged: converged_fraction == 1.0,
            nonzero_fraction: self.nonzeros / (n * atoms).max(1) as f64,
            seconds: self.coding_seconds,
            history: Vec::new(),
            gemm_flops: self.gemm_flops,
        }
    }
}

/// The sidecar of the codes file.
#[derive(Serialize)]
struct EncodeRecord {
    inputs: EncodeInputs,
    parameters: ParametersRecord,
    diagnostics: Diagnostics,
    timings: Timings,
    output: OutputRecord,
}

#[derive(Serialize)]
struct EncodeInputs {
    patches: PatchesRecord,
    dictionary: DictionaryRecord,
}

#[derive(Serialize)]
struct PatchesRecord {
    #[serde(flatten)]
    file: InputFile,
    shape: [usize; 2],
}

#[derive(Serialize)]
struct DictionaryRecord {
    #[serde(flatten)]
    file: InputFile,
    atoms: usize,
    pixels: usize,
    atoms_renormalised: usize,
}

#[derive(Serialize)]
struct ParametersRecord {
    coder: &'static str,
    lambda: f32,
    tol: f64,
    max_iter: usize,
    positive: bool,
    strict: bool,
    batch: usize,
    threads: usize,
    lipschitz: f32,
}

#[derive(Serialize)]
struct Diagnostics {
    objective_mean: f64,
    max_relative_gap: f64,
    converged_fraction: f64,
    converged: bool,
    nonzero_fraction: f64,
    max_iterations: usize,
    gemm_flops: f64,
}

#[derive(Serialize)]
struct Timings {
    coding_seconds: f64,
    total_seconds: f64,
}

#[derive(Serialize)]
struct OutputRecord {
    shape: [usize; 2],
    layout: &'static str,
}
