//! `simplecell encode`: patches + dictionary -> sparse codes (float32, (patches, atoms)),
//! a JSON sidecar with every parameter and the coder's diagnostics, and a short summary.
//! Patches are streamed from a memory-mapped file in batches, so memory stays bounded by
//! the batch size however large the patch file is. Ctrl-C stops between batches, removes
//! the partial output and exits 130.

use super::progress::Reporter;
use crate::coding::{CodingParams, CodingReport, PreparedDictionary, coder_by_name};
use crate::error::{Error, Result};
use crate::io::{atomic, npy, sidecar};
use crate::observer::Progress;
use clap::Args;
use nalgebra::DMatrix;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Patches, (patches, pixels) float32 .npy (as `extract` writes).
    #[arg(long, value_name = "P.npy")]
    pub patches: PathBuf,
    /// Dictionary, (atoms, pixels) .npy; atoms should have unit L2 norm.
    #[arg(long, value_name = "D.npy")]
    pub dictionary: PathBuf,
    /// The l1 weight of `0.5 ||x - D a||^2 + lambda ||a||_1` (scikit-learn's alpha,
    /// SPAMS's lambda1) [required; range > 0].
    #[arg(long)]
    pub lambda: f32,
    /// Coder: cd (exact: lasso homotopy, then coordinate descent), fista (with adaptive restart) or
    /// ista [default: cd].
    #[arg(hide_default_value = true, long, default_value = "cd")]
    pub coder: String,
    /// Stop each patch when its relative duality gap is below this [default: 1e-4;
    /// range (0, 1)].
    #[arg(hide_default_value = true, long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Iteration cap per patch; reaching it is reported, not an error [default: 1000;
    /// range >= 1].
    #[arg(hide_default_value = true, long, default_value_t = 1000)]
    pub max_iter: usize,
    /// Constrain codes to be non-negative [default: off].
    #[arg(long)]
    pub positive: bool,
    /// Refuse a dictionary whose atoms are not unit norm instead of normalising it with a
    /// warning [default: off].
    #[arg(long)]
    pub strict: bool,
    /// Patches read and coded per batch; bounds memory [default: 16384; range 1..=10000000].
    #[arg(hide_default_value = true, long, default_value_t = 16384)]
    pub batch: usize,
    /// Output codes, (patches, atoms) float32 .npy; the sidecar goes beside it as .json.
    #[arg(long, value_name = "CODES.npy")]
    pub out: PathBuf,
    /// Overwrite existing outputs [default: off].
    #[arg(long)]
    pub force: bool,
}

/// How far an atom's norm may be from 1 before it counts as not unit norm: float32 rounding
/// of a normalised 1024-pixel atom stays well inside it.
const UNIT_NORM_TOLERANCE: f64 = 1e-4;

/// The dictionary, checked and normalised, with what the sidecar records about it.
struct LoadedDictionary {
    prepared: PreparedDictionary,
    renormalised_atoms: usize,
}

fn load_dictionary(path: &Path, strict: bool, reporter: &Reporter) -> Result<LoadedDictionary> {
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
    if let Some(i) = array.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::bad_input(
            path,
            &format!("atom {} pixel {}", i / pixels, i % pixels),
            array.data[i],
            "the dictionary must hold finite numbers",
        ));
    }
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
                    "atoms must have unit L2 norm under --strict",
                ));
            }
            col.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
            renormalised += 1;
        }
    }
    if renormalised > 0 {
        reporter.warn(&format!(
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

/// Patches as a float32 slice, mapped when the file allows it (bounded memory) and read
/// otherwise (float64 or Fortran-order files).
enum PatchSource {
    Mapped(npy::MappedNpy),
    Read(npy::Array),
}

impl PatchSource {
    fn open(path: &Path) -> Result<Self> {
        match npy::MappedNpy::open(path) {
            Ok(m) => Ok(PatchSource::Mapped(m)),
            Err(Error::BadInput { field, .. }) if field == "descr" => {
                Ok(PatchSource::Read(npy::read(path)?))
            }
            Err(e) => Err(e),
        }
    }
    fn shape(&self) -> &[usize] {
        match self {
            PatchSource::Mapped(m) => m.shape(),
            PatchSource::Read(a) => &a.shape,
        }
    }
    fn data(&self) -> &[f32] {
        match self {
            PatchSource::Mapped(m) => m.data(),
            PatchSource::Read(a) => &a.data,
        }
    }
}

/// Diagnostics merged over batches.
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
}

pub fn run(args: EncodeArgs, reporter: &Reporter) -> Result<()> {
    let mut params = CodingParams::new(args.lambda);
    params.tol = args.tol;
    params.max_iter = args.max_iter;
    params.positive = args.positive;
    let params = params.check()?;
    if !(1..=10_000_000).contains(&args.batch) {
        return Err(Error::usage(
            "--batch",
            args.batch,
            "must be in 1..=10000000",
        ));
    }
    let coder = coder_by_name(&args.coder)?;
    let sidecar_path = sidecar::path_for(&args.out);
    atomic::check_output(&args.out, args.force)?;
    atomic::check_output(&sidecar_path, args.force)?;

    let start = std::time::Instant::now();
    let dict = load_dictionary(&args.dictionary, args.strict, reporter)?;
    let source = PatchSource::open(&args.patches)?;
    let (pixels, atoms) = (dict.prepared.pixels(), dict.prepared.atoms());
    let shape = source.shape().to_vec();
    if shape.len() != 2 || shape[1] != pixels {
        return Err(Error::bad_input(
            &args.patches,
            "shape",
            format!("{shape:?}"),
            format!(
                "patches must be (patches, {pixels}) to match the dictionary {} ({atoms} atoms of {pixels} pixels)",
                args.dictionary.display()
            ),
        ));
    }
    let n = shape[0];
    let data = source.data();
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::bad_input(
            &args.patches,
            &format!("patch {} pixel {}", i / pixels, i % pixels),
            data[i],
            "patches must hold finite numbers",
        ));
    }

    // Installed before the temporary output exists, so a Ctrl-C that finds the temporary
    // file always finds the handler too.
    crate::interrupt::install();
    let mut file = atomic::AtomicFile::create(&args.out, args.force)?;
    let header = npy::header_bytes(&[n, atoms]);
    std::io::Write::write_all(file.writer(), &header).map_err(|e| file.write_error(e))?;
    let mut totals = Totals::default();
    reporter.start("encode", Some(n as u64));
    let mut done = 0usize;
    while done < n {
        if crate::interrupt::requested() {
            // Dropping the uncommitted file removes it: no half-written codes, no sidecar.
            drop(file);
            reporter.finish("interrupted; nothing written");
            return Err(Error::Interrupted {
                resume: "the same command (no output was written)".into(),
            });
        }
        let b = args.batch.min(n - done);
        let x = DMatrix::from_column_slice(pixels, b, &data[done * pixels..(done + b) * pixels]);
        let mut codes = DMatrix::<f32>::zeros(atoms, b);
        let report = coder.encode(&dict.prepared, &x, &mut codes, &params)?;
        totals.add(&report, b, atoms);
        npy::write_values(file.writer(), codes.as_slice()).map_err(|e| file.write_error(e))?;
        done += b;
        reporter.advance(
            done as u64,
            &format!("objective {:.4}", totals.objective_sum / done as f64),
        );
    }
    file.commit()?;
    let seconds = start.elapsed().as_secs_f64();
    let denom = n.max(1) as f64;
    let converged_fraction = if n == 0 {
        1.0
    } else {
        totals.converged / denom
    };
    let nonzero_fraction = totals.nonzeros / (n * atoms).max(1) as f64;
    reporter.finish(&format!("coded {n} patches"));

    let mut meta = sidecar::base("encode");
    meta.insert(
        "inputs".into(),
        json!({
            "patches": {"path": args.patches, "sha256": sidecar::sha256_file(&args.patches)?, "shape": shape},
            "dictionary": {"path": args.dictionary, "sha256": sidecar::sha256_file(&args.dictionary)?,
                           "atoms": atoms, "pixels": pixels,
                           "atoms_renormalised": dict.renormalised_atoms},
        }),
    );
    meta.insert(
        "parameters".into(),
        json!({
            "coder": coder.name(), "lambda": params.lambda, "tol": params.tol,
            "max_iter": params.max_iter, "positive": params.positive, "strict": args.strict,
            "batch": args.batch, "threads": rayon::current_num_threads(),
            "lipschitz": dict.prepared.lipschitz,
        }),
    );
    meta.insert(
        "diagnostics".into(),
        json!({
            "objective_mean": totals.objective_sum / denom,
            "max_relative_gap": totals.max_relative_gap,
            "converged_fraction": converged_fraction,
            "converged": converged_fraction == 1.0,
            "nonzero_fraction": nonzero_fraction,
            "max_iterations": totals.iterations,
            "gemm_flops": totals.gemm_flops,
        }),
    );
    meta.insert(
        "timings".into(),
        json!({"coding_seconds": totals.coding_seconds, "total_seconds": seconds}),
    );
    meta.insert(
        "output".into(),
        json!({"shape": [n, atoms], "layout": "(patches, atoms) float32"}),
    );
    sidecar::write(&sidecar_path, &serde_json::Value::Object(meta), args.force)?;

    let status = if converged_fraction == 1.0 {
        "all patches converged".to_string()
    } else {
        format!(
            "{:.2}% of patches reached the tolerance; raise --max-iter for the rest",
            100.0 * converged_fraction
        )
    };
    reporter.info(&format!(
        "encode: {n} patches x {atoms} atoms, coder {}, lambda {}, tol {:e}\n  \
         objective (mean) {:.6}   max relative gap {:.2e}   {status}\n  \
         nonzero codes {:.2}%   max iterations {}   coding {:.2} s, total {:.2} s\n  \
         wrote {} and {}",
        coder.name(),
        params.lambda,
        params.tol,
        totals.objective_sum / denom,
        totals.max_relative_gap,
        100.0 * nonzero_fraction,
        totals.iterations,
        totals.coding_seconds,
        seconds,
        args.out.display(),
        sidecar_path.display()
    ));
    Ok(())
}
