//! `simplecell gabor`: writes an analytic Gabor filter bank as `.npy`, for `cnn train
//! --conv1-init` and as a reference bank for `compare`.
//!
//! The bank is (filters, 1, k, k) float32, ordered frequency-major, then orientation, then
//! phase; every filter is made zero-mean and scaled to unit L2 norm after sampling, so banks
//! of different sizes start a network on the same footing.

use super::progress::Reporter;
use crate::analysis::gabor::GaborParams;
use crate::error::{Error, Result};
use crate::io::{atomic, npy, sidecar};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct GaborArgs {
    /// Filter side length in pixels [default: 16; range 3..=128].
    #[arg(hide_default_value = true, long, default_value_t = 16)]
    pub size: usize,
    /// Number of orientations, evenly spaced over 0..180 degrees (wave-vector direction,
    /// counterclockwise from +x) [default: 8; range 1..=180].
    #[arg(hide_default_value = true, long, default_value_t = 8)]
    pub orientations: usize,
    /// Carrier frequencies in cycles/pixel, comma-separated [default: 0.1,0.2; each in
    /// (0, 0.5]].
    #[arg(
        hide_default_value = true,
        long,
        value_delimiter = ',',
        default_value = "0.1,0.2"
    )]
    pub frequencies: Vec<f64>,
    /// Carrier phases in degrees, comma-separated [default: 0,90; each in [0, 360)].
    #[arg(
        hide_default_value = true,
        long,
        value_delimiter = ',',
        default_value = "0,90"
    )]
    pub phases: Vec<f64>,
    /// Envelope sigma across the stripes in pixels: one value for all frequencies or one per
    /// frequency [default: 0.5/f, at most size/4 so the envelope fits the patch; each in
    /// (0, 4*size]].
    #[arg(long, value_delimiter = ',')]
    pub sigma: Option<Vec<f64>>,
    /// Envelope aspect ratio sigma_along_stripes / sigma_across [default: 1; range
    /// 0.1..=10].
    #[arg(hide_default_value = true, long, default_value_t = 1.0)]
    pub aspect: f64,
    /// Output bank (.npy); a JSON sidecar with the same stem is written beside it.
    #[arg(long, value_name = "BANK.npy")]
    pub out: PathBuf,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
}

/// The checked bank description: one Gabor per filter.
#[derive(Debug, Clone)]
pub struct GaborBankConfig {
    pub size: usize,
    pub filters: Vec<GaborParams>,
}

impl GaborArgs {
    /// Validates the arguments into one parameter set per filter.
    pub fn check(&self) -> Result<GaborBankConfig> {
        if !(3..=128).contains(&self.size) {
            return Err(Error::usage("--size", self.size, "must be in 3..=128"));
        }
        if !(1..=180).contains(&self.orientations) {
            return Err(Error::usage(
                "--orientations",
                self.orientations,
                "must be in 1..=180",
            ));
        }
        if self.frequencies.is_empty() || self.frequencies.len() > 64 {
            return Err(Error::usage(
                "--frequencies",
                format!("{:?}", self.frequencies),
                "give 1 to 64 frequencies",
            ));
        }
        for &f in &self.frequencies {
            if !(f > 0.0 && f <= 0.5) {
                return Err(Error::usage("--frequencies", f, "each must be in (0, 0.5]"));
            }
        }
        if self.phases.is_empty() || self.phases.len() > 64 {
            return Err(Error::usage(
                "--phases",
                format!("{:?}", self.phases),
                "give 1 to 64 phases",
            ));
        }
        for &p in &self.phases {
            if !(0.0..360.0).contains(&p) {
                return Err(Error::usage("--phases", p, "each must be in [0, 360)"));
            }
        }
        if !(0.1..=10.0).contains(&self.aspect) {
            return Err(Error::usage("--aspect", self.aspect, "must be in 0.1..=10"));
        }
        let sigmas: Vec<f64> = match &self.sigma {
            None => self
                .frequencies
                .iter()
                .map(|f| (0.5 / f).min(self.size as f64 / 4.0))
                .collect(),
            Some(s) if s.len() == 1 => vec![s[0]; self.frequencies.len()],
            Some(s) if s.len() == self.frequencies.len() => s.clone(),
            Some(s) => {
                return Err(Error::usage(
                    "--sigma",
                    format!("{s:?}"),
                    "give one value, or one per frequency",
                ));
            }
        };
        for &s in &sigmas {
            if !(s > 0.0 && s <= 4.0 * self.size as f64) {
                return Err(Error::usage("--sigma", s, "each must be in (0, 4*size]"));
            }
        }
        let mut filters = Vec::new();
        for (&f, &s) in self.frequencies.iter().zip(&sigmas) {
            for o in 0..self.orientations {
                for &p in &self.phases {
                    filters.push(GaborParams {
                        x0: 0.0,
                        y0: 0.0,
                        theta: (o as f64 * 180.0 / self.orientations as f64).to_radians(),
                        frequency: f,
                        phase: p.to_radians(),
                        sigma_x: s,
                        sigma_y: s * self.aspect,
                        amplitude: 1.0,
                    });
                }
            }
        }
        Ok(GaborBankConfig {
            size: self.size,
            filters,
        })
    }
}

/// Samples every filter, removes its mean and scales it to unit L2 norm. Fails if a filter
/// vanishes (a carrier the grid cannot represent, or a cosine Gabor that is all mean).
pub fn render_bank(config: &GaborBankConfig) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(config.filters.len() * config.size * config.size);
    for (i, g) in config.filters.iter().enumerate() {
        let mut v = g.render(config.size);
        let norm = crate::linalg::normalise::zero_mean_unit_norm(&mut v);
        if norm < 1e-6 {
            return Err(Error::usage(
                "--frequencies/--phases",
                format!(
                    "filter {i} (f = {}, phase = {} deg)",
                    g.frequency,
                    g.phase.to_degrees()
                ),
                "this Gabor is zero on the grid after removing its mean; change the phase or frequency",
            ));
        }
        out.extend(v.iter().map(|&x| x as f32));
    }
    Ok(out)
}

pub fn run(args: GaborArgs, reporter: &Reporter) -> Result<()> {
    let config = args.check()?;
    let side = sidecar::path_for(&args.out);
    atomic::check_output(&args.out, args.force)?;
    atomic::check_output(&side, args.force)?;
    let started = std::time::Instant::now();
    let data = render_bank(&config)?;
    let shape = [config.filters.len(), 1, config.size, config.size];
    npy::write(&args.out, &shape, &data, args.force)?;
    let mut meta = sidecar::base("gabor");
    meta.insert("shape".into(), json!(shape));
    meta.insert(
        "parameters".into(),
        json!({
            "size": args.size,
            "orientations": args.orientations,
            "frequencies_cycles_per_pixel": args.frequencies,
            "phases_deg": args.phases,
            "sigma_px": args.sigma,
            "aspect": args.aspect,
        }),
    );
    meta.insert(
        "normalisation".into(),
        json!("each filter zero-mean, unit L2 norm"),
    );
    meta.insert(
        "filters".into(),
        json!(
            config
                .filters
                .iter()
                .map(|g| json!({
                    "orientation_deg": g.theta.to_degrees(),
                    "frequency_cycles_per_pixel": g.frequency,
                    "phase_deg": g.phase.to_degrees(),
                    "sigma_x_px": g.sigma_x,
                    "sigma_y_px": g.sigma_y,
                }))
                .collect::<Vec<_>>()
        ),
    );
    meta.insert(
        "timings_seconds".into(),
        json!({ "total": started.elapsed().as_secs_f64() }),
    );
    sidecar::write(&side, &serde_json::Value::Object(meta), args.force)?;
    reporter.info(&format!(
        "wrote {} ({} Gabor filters of {}x{})",
        args.out.display(),
        config.filters.len(),
        config.size,
        config.size
    ));
    Ok(())
}
