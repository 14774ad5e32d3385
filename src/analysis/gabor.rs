//! The 2-D Gabor function and the nonlinear least-squares fit of a Gabor to a filter plane
//! by Levenberg-Marquardt (analytic banks of them are [`super::gabor_bank`]).
//!
//! Model, in the centred y-up frame of [`super::spatial`], with x' along the wave vector:
//!
//! ```text
//! x' =  (x - x0) cos(theta) + (y - y0) sin(theta)
//! y' = -(x - x0) sin(theta) + (y - y0) cos(theta)
//! g  = A exp(-x'^2 / (2 sigma_x^2) - y'^2 / (2 sigma_y^2)) cos(2 pi f x' + phase)
//! ```
//!
//! so sigma_x is the envelope width along the carrier (across the stripes) and sigma_y the
//! width along the stripes, as in Ringach (2002), whose nx = sigma_x f and ny = sigma_y f
//! count carrier cycles under the envelope. The fit is hand-written on nalgebra: 8 parameters
//! and a few hundred residuals make every iteration an 8x8 Cholesky solve, far below the cost
//! of any general-purpose solver's bookkeeping. Frequency and widths are fitted as logarithms
//! so they stay positive; the Jacobian is analytic, and the normal equations are accumulated
//! pixel by pixel so no Jacobian matrix is ever stored.

use nalgebra::{SMatrix, SVector};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::f64::consts::{PI, TAU};

/// Parameters of one Gabor in the centred y-up frame (angles in radians).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaborParams {
    /// Centre, pixels from the patch centre, x rightwards.
    pub x0: f64,
    /// Centre, pixels from the patch centre, y upwards.
    pub y0: f64,
    /// Direction of the wave vector, counterclockwise from +x.
    pub theta: f64,
    /// Carrier frequency, cycles/pixel.
    pub frequency: f64,
    /// Carrier phase at the centre.
    pub phase: f64,
    /// Envelope standard deviation along the wave vector, pixels.
    pub sigma_x: f64,
    /// Envelope standard deviation along the stripes, pixels.
    pub sigma_y: f64,
    /// Peak amplitude.
    pub amplitude: f64,
}

impl GaborParams {
    /// Value at (x, y) in the centred y-up frame.
    pub fn value(&self, x: f64, y: f64) -> f64 {
        let (s, c) = self.theta.sin_cos();
        let (dx, dy) = (x - self.x0, y - self.y0);
        let xp = dx * c + dy * s;
        let yp = -dx * s + dy * c;
        let env = (-0.5
            * (xp * xp / (self.sigma_x * self.sigma_x) + yp * yp / (self.sigma_y * self.sigma_y)))
            .exp();
        self.amplitude * env * (TAU * self.frequency * xp + self.phase).cos()
    }

    /// The Gabor sampled on a `size x size` grid, row-major (row 0 at the top).
    pub fn render(&self, size: usize) -> Vec<f64> {
        let m = (size as f64 - 1.0) / 2.0;
        let mut out = Vec::with_capacity(size * size);
        for r in 0..size {
            for c in 0..size {
                out.push(self.value(c as f64 - m, m - r as f64));
            }
        }
        out
    }

    /// The same function with amplitude >= 0, theta in [0, pi) and phase in [0, 2 pi):
    /// a negative amplitude is a half-cycle phase shift, and theta + pi with phase -phase
    /// draws the same function.
    pub fn canonical(mut self) -> Self {
        if self.amplitude < 0.0 {
            self.amplitude = -self.amplitude;
            self.phase += PI;
        }
        let turns = (self.theta / PI).floor();
        if (turns as i64).rem_euclid(2) == 1 {
            self.phase = -self.phase;
        }
        self.theta = self.theta - turns * PI + 0.0;
        // Pi minus rounding is a half turn: theta 0 with the phase mirrored.
        if self.theta >= PI - 1e-12 {
            self.theta = 0.0;
            self.phase = -self.phase;
        }
        self.phase = self.phase.rem_euclid(TAU);
        // rem_euclid can return 2 pi minus an ulp; that phase is 0.
        if self.phase >= TAU - 1e-9 {
            self.phase = 0.0;
        }
        self
    }
}

/// Result of fitting a Gabor to one plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaborFit {
    /// Best parameters found, in canonical form.
    pub params: GaborParams,
    /// Coefficient of determination 1 - SSE / SS_tot (SS_tot about the plane's mean).
    pub r2: f64,
    /// Levenberg-Marquardt iterations of the winning start.
    pub iterations: usize,
}

impl GaborFit {
    /// Ringach's nx = sigma_x f: carrier cycles per envelope width across the stripes.
    pub fn nx(&self) -> f64 {
        self.params.sigma_x * self.params.frequency
    }
    /// Ringach's ny = sigma_y f: carrier cycles per envelope width along the stripes.
    pub fn ny(&self) -> f64 {
        self.params.sigma_y * self.params.frequency
    }
}

/// Where the fit starts: what the spectrum and the energy moments say.
#[derive(Debug, Clone, Copy)]
pub struct FitStart {
    pub x0: f64,
    pub y0: f64,
    pub theta: f64,
    pub frequency: f64,
    pub sigma_x: f64,
    pub sigma_y: f64,
}

/// Fitting options; jobs check them as part of their parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Seeded random starts in addition to the three deterministic ones [default 2; 0..=64].
    pub random_starts: usize,
    /// Iteration cap per start [default 100; 1..=10000].
    pub max_iterations: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            random_starts: 2,
            max_iterations: 100,
        }
    }
}

impl crate::params::Params for FitOptions {
    fn validate(&mut self) -> crate::Result<()> {
        crate::params::ensure(
            self.random_starts <= 64,
            "random_starts",
            self.random_starts,
            "must be in 0..=64",
        )?;
        crate::params::ensure(
            (1..=10_000).contains(&self.max_iterations),
            "max_iterations",
            self.max_iterations,
            "must be in 1..=10000",
        )
    }
}

/// Parameter vector layout: x0, y0, theta, ln f, phase, ln sigma_x, ln sigma_y, amplitude.
type P = SVector<f64, 8>;
type H = SMatrix<f64, 8, 8>;

/// Fits a Gabor to a `size x size` plane. Starts: the given start, the same with the
/// envelope 0.6x and 1.6x as wide, and `options.random_starts` jittered copies drawn from
/// `rng`; the best final sum of squares wins. Each start's amplitude and phase are first set
/// by linear least squares, since they enter linearly through a cosine and a sine carrier.
pub fn fit(
    values: &[f64],
    size: usize,
    start: &FitStart,
    options: &FitOptions,
    rng: &mut impl Rng,
) -> GaborFit {
    let grid = Grid::new(size);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let ss_tot: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    let limits = Limits::for_size(size);
    let mut starts = vec![
        *start,
        FitStart {
            sigma_x: start.sigma_x * 0.6,
            sigma_y: start.sigma_y * 0.6,
            ..*start
        },
        FitStart {
            sigma_x: start.sigma_x * 1.6,
            sigma_y: start.sigma_y * 1.6,
            ..*start
        },
    ];
    let unit = Normal::new(0.0, 1.0).expect("unit normal");
    for _ in 0..options.random_starts {
        let mut z = || unit.sample(rng);
        starts.push(FitStart {
            x0: start.x0 + z(),
            y0: start.y0 + z(),
            theta: start.theta + 15f64.to_radians() * z(),
            frequency: start.frequency * (0.25 * z()).exp(),
            sigma_x: start.sigma_x * (0.3 * z()).exp(),
            sigma_y: start.sigma_y * (0.3 * z()).exp(),
        });
    }
    let mut best: Option<(f64, P, usize)> = None;
    for s in &starts {
        let p0 = initial_vector(values, &grid, s, &limits);
        let (p, sse, iterations) = levenberg_marquardt(values, &grid, p0, &limits, options);
        if best.as_ref().is_none_or(|(b, _, _)| sse < *b) {
            best = Some((sse, p, iterations));
        }
    }
    let (sse, p, iterations) = best.expect("at least one start");
    let r2 = if ss_tot > 0.0 {
        1.0 - sse / ss_tot
    } else {
        f64::NAN
    };
    GaborFit {
        params: to_params(&p).canonical(),
        r2,
        iterations,
    }
}

/// Pixel coordinates of a plane in the centred y-up frame.
struct Grid {
    xs: Vec<f64>,
    ys: Vec<f64>,
}

impl Grid {
    fn new(size: usize) -> Self {
        let m = (size as f64 - 1.0) / 2.0;
        let mut xs = Vec::with_capacity(size * size);
        let mut ys = Vec::with_capacity(size * size);
        for r in 0..size {
            for c in 0..size {
                xs.push(c as f64 - m);
                ys.push(m - r as f64);
            }
        }
        Self { xs, ys }
    }
}

/// Box constraints that keep a wandering fit finite: the centre within one patch width of the
/// patch, widths from 0.2 pixels to four patch widths, frequency from 1e-3 to the Nyquist
/// corner.
struct Limits {
    centre: f64,
    ln_sigma: (f64, f64),
    ln_f: (f64, f64),
}

impl Limits {
    fn for_size(size: usize) -> Self {
        Self {
            centre: size as f64,
            ln_sigma: (0.2f64.ln(), (4.0 * size as f64).ln()),
            ln_f: (1e-3f64.ln(), (0.5 * std::f64::consts::SQRT_2).ln()),
        }
    }

    fn clamp(&self, p: &mut P) {
        p[0] = p[0].clamp(-self.centre, self.centre);
        p[1] = p[1].clamp(-self.centre, self.centre);
        p[3] = p[3].clamp(self.ln_f.0, self.ln_f.1);
        p[5] = p[5].clamp(self.ln_sigma.0, self.ln_sigma.1);
        p[6] = p[6].clamp(self.ln_sigma.0, self.ln_sigma.1);
    }
}

fn to_params(p: &P) -> GaborParams {
    GaborParams {
        x0: p[0],
        y0: p[1],
        theta: p[2],
        frequency: p[3].exp(),
        phase: p[4],
        sigma_x: p[5].exp(),
        sigma_y: p[6].exp(),
        amplitude: p[7],
    }
}

/// Start vector with amplitude and phase from linear least squares on the two carriers.
fn initial_vector(values: &[f64], grid: &Grid, s: &FitStart, limits: &Limits) -> P {
    let mut p = P::from_column_slice(&[
        s.x0,
        s.y0,
        s.theta,
        s.frequency.max(1e-3).ln(),
        0.0,
        s.sigma_x.max(0.2).ln(),
        s.sigma_y.max(0.2).ln(),
        1.0,
    ]);
    limits.clamp(&mut p);
    let g = to_params(&p);
    let (sn, cs) = g.theta.sin_cos();
    let (mut cc, mut ss, mut cs_, mut vc, mut vs) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        let (dx, dy) = (grid.xs[i] - g.x0, grid.ys[i] - g.y0);
        let xp = dx * cs + dy * sn;
        let yp = -dx * sn + dy * cs;
        let env =
            (-0.5 * (xp * xp / (g.sigma_x * g.sigma_x) + yp * yp / (g.sigma_y * g.sigma_y))).exp();
        let (s_, c_) = (TAU * g.frequency * xp).sin_cos();
        let (ec, es) = (env * c_, env * s_);
        cc += ec * ec;
        ss += es * es;
        cs_ += ec * es;
        vc += v * ec;
        vs += v * es;
    }
    // Solve [cc cs; cs ss] [a b] = [vc vs]; v ~ a cos + b sin = A cos(t + phase).
    let det = cc * ss - cs_ * cs_;
    let (a, b) = if det.abs() > 1e-12 * (cc * ss).max(1e-300) {
        ((vc * ss - vs * cs_) / det, (cc * vs - cs_ * vc) / det)
    } else if cc > 0.0 {
        (vc / cc, 0.0)
    } else {
        (0.0, 0.0)
    };
    p[7] = a.hypot(b);
    p[4] = (-b).atan2(a);
    p
}

/// Sum of squared residuals, and optionally the normal equations J^T J and J^T r.
fn evaluate(values: &[f64], grid: &Grid, p: &P, normal: Option<(&mut H, &mut P)>) -> f64 {
    let (x0, y0, theta, f, phase) = (p[0], p[1], p[2], p[3].exp(), p[4]);
    let (sx, sy, amp) = (p[5].exp(), p[6].exp(), p[7]);
    let (isx2, isy2) = (1.0 / (sx * sx), 1.0 / (sy * sy));
    let (sn, cs) = theta.sin_cos();
    let mut sse = 0.0;
    let want_normal = normal.is_some();
    let mut jtj = H::zeros();
    let mut jtr = P::zeros();
    for (i, &v) in values.iter().enumerate() {
        let (dx, dy) = (grid.xs[i] - x0, grid.ys[i] - y0);
        let xp = dx * cs + dy * sn;
        let yp = -dx * sn + dy * cs;
        let env = (-0.5 * (xp * xp * isx2 + yp * yp * isy2)).exp();
        let (s_, c_) = (TAU * f * xp + phase).sin_cos();
        let ec = amp * env * c_;
        let r = ec - v;
        sse += r * r;
        if !want_normal {
            continue;
        }
        let es = amp * env * s_;
        // d g / d x' and d g / d y'.
        let gxp = -xp * isx2 * ec - TAU * f * es;
        let gyp = -yp * isy2 * ec;
        let j = P::from_column_slice(&[
            -cs * gxp + sn * gyp, // x0: dx'/dx0 = -cos, dy'/dx0 = sin
            -sn * gxp - cs * gyp, // y0: dx'/dy0 = -sin, dy'/dy0 = -cos
            yp * gxp - xp * gyp,  // theta: dx'/dtheta = y', dy'/dtheta = -x'
            -es * TAU * f * xp,   // ln f
            -es,                  // phase
            ec * xp * xp * isx2,  // ln sigma_x
            ec * yp * yp * isy2,  // ln sigma_y
            env * c_,             // amplitude
        ]);
        jtj.syger(1.0, &j, &j, 1.0);
        jtr.axpy(r, &j, 1.0);
    }
    if let Some((h, g)) = normal {
        // syger fills the lower triangle only.
        jtj.fill_upper_triangle_with_lower_triangle();
        *h = jtj;
        *g = jtr;
    }
    sse
}

/// Levenberg-Marquardt with Marquardt's diagonal scaling; returns the parameters, their sum
/// of squares and the iterations used. Stops when a step improves the sum of squares by less
/// than 1e-9 relative, or the damping grows past 1e10 (no downhill step exists).
fn levenberg_marquardt(
    values: &[f64],
    grid: &Grid,
    mut p: P,
    limits: &Limits,
    options: &FitOptions,
) -> (P, f64, usize) {
    let mut h = H::zeros();
    let mut g = P::zeros();
    let mut sse = evaluate(values, grid, &p, Some((&mut h, &mut g)));
    let mut lambda = 1e-3;
    let mut iterations = 0;
    while iterations < options.max_iterations {
        iterations += 1;
        let mut improved = false;
        while lambda < 1e10 {
            let mut damped = h;
            for k in 0..8 {
                damped[(k, k)] += lambda * h[(k, k)].max(1e-12);
            }
            let Some(chol) = damped.cholesky() else {
                lambda *= 10.0;
                continue;
            };
            let mut trial = p - chol.solve(&g);
            limits.clamp(&mut trial);
            let trial_sse = evaluate(values, grid, &trial, None);
            if trial_sse.is_finite() && trial_sse < sse {
                let gain = (sse - trial_sse) / sse.max(1e-300);
                p = trial;
                sse = evaluate(values, grid, &p, Some((&mut h, &mut g)));
                lambda = (lambda / 3.0).max(1e-12);
                improved = gain > 1e-9;
                break;
            }
            lambda *= 4.0;
        }
        if !improved {
            break;
        }
    }
    (p, sse, iterations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn analytic_jacobian_matches_finite_differences() {
        let grid = Grid::new(9);
        let p = P::from_column_slice(&[
            0.3,
            -0.7,
            0.4,
            0.18f64.ln(),
            0.9,
            2.1f64.ln(),
            1.4f64.ln(),
            1.3,
        ]);
        let target: Vec<f64> = (0..81)
            .map(|i| ((i * 37) % 11) as f64 * 0.1 - 0.5)
            .collect();
        let (mut h, mut g) = (H::zeros(), P::zeros());
        evaluate(&target, &grid, &p, Some((&mut h, &mut g)));
        for k in 0..8 {
            let eps = 1e-6;
            let (mut a, mut b) = (p, p);
            a[k] += eps;
            b[k] -= eps;
            // d(sse)/dp_k = 2 (J^T r)_k.
            let numeric = (evaluate(&target, &grid, &a, None) - evaluate(&target, &grid, &b, None))
                / (2.0 * eps);
            assert!(
                (numeric - 2.0 * g[k]).abs() < 1e-5 * (1.0 + numeric.abs()),
                "parameter {k}: numeric {numeric}, analytic {}",
                2.0 * g[k]
            );
        }
    }

    #[test]
    fn canonical_form_draws_the_same_function() {
        let g = GaborParams {
            x0: 0.5,
            y0: -1.0,
            theta: 4.0,
            frequency: 0.2,
            phase: -1.0,
            sigma_x: 2.0,
            sigma_y: 3.0,
            amplitude: -1.5,
        };
        let c = g.canonical();
        assert!(c.amplitude > 0.0 && (0.0..PI).contains(&c.theta) && (0.0..TAU).contains(&c.phase));
        for (a, b) in g.render(11).iter().zip(c.render(11)) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn exact_gabor_is_recovered_from_a_rough_start() {
        let truth = GaborParams {
            x0: 1.0,
            y0: -0.5,
            theta: 0.7,
            frequency: 0.15,
            phase: 1.0,
            sigma_x: 2.5,
            sigma_y: 3.5,
            amplitude: 2.0,
        };
        let values = truth.render(16);
        let start = FitStart {
            x0: 0.0,
            y0: 0.0,
            theta: 0.6,
            frequency: 0.17,
            sigma_x: 3.0,
            sigma_y: 3.0,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let fit = fit(&values, 16, &start, &FitOptions::default(), &mut rng);
        // A noiseless model in its own family: the fit is exact up to the stopping rule.
        assert!(fit.r2 > 0.999_999, "{fit:?}");
        assert!((fit.params.theta - 0.7).abs() < 1e-4, "{fit:?}");
        assert!((fit.params.frequency - 0.15).abs() < 1e-5, "{fit:?}");
    }
}
