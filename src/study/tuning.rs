//! Orientation and frequency tuning of conv1 and conv2 units from sinusoidal gratings, the
//! physiologist's measurement (issue 14, deeper layers).
//!
//! Each unit's response is read at the centre of its map (before the ReLU; after batch norm
//! when the layer has one), for full-field gratings cos(2 pi f (x cos t + y sin t) + p) of
//! unit amplitude in standardised input units, at [`ORIENTATIONS`] orientations, the
//! [`FREQUENCIES`] and [`PHASES`] phases; a grating's response is the largest over its
//! phases (the unit's best alignment). From the tuning surface R(t, f):
//!
//! - preferred orientation and frequency: its maximum;
//! - orientation half-width at half height (degrees): half the arc of orientations whose
//!   response at the preferred frequency is at least halfway between that curve's minimum
//!   and maximum;
//! - frequency bandwidth (octaves): log2 of the ratio of the highest and lowest frequency
//!   whose response at the preferred orientation is at least halfway between that curve's
//!   minimum and maximum;
//! - orientation selectivity: the length of the mean of exp(2i t) weighted by the
//!   response above its minimum, at the preferred frequency (0 untuned, 1 one orientation).
//!
//! The same measurement on the network as initialised (same seed, rebuilt) is the null: a
//! random conv2 already has some tuning because conv1's filters are random but not flat.

use crate::cnn::engine::{Mode, Workspace};
use crate::cnn::net::Network;

/// Orientations, evenly over 180 degrees.
pub const ORIENTATIONS: usize = 12;
/// Spatial frequencies (cycles/pixel), about half an octave apart up to 0.4.
pub const FREQUENCIES: [f64; 8] = [0.03, 0.045, 0.07, 0.1, 0.15, 0.2, 0.28, 0.4];
/// Phases per grating.
pub const PHASES: usize = 4;

/// One unit's tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitTuning {
    pub unit: usize,
    pub preferred_orientation_deg: f64,
    pub preferred_frequency: f64,
    pub orientation_hwhh_deg: f64,
    pub frequency_bandwidth_octaves: f64,
    pub orientation_selectivity: f64,
    pub peak_response: f64,
}

/// The grating image (h x w x c, NHWC) of orientation `theta`, frequency `f`, phase `phase`.
fn grating(h: usize, w: usize, c: usize, theta: f64, f: f64, phase: f64, dst: &mut [f32]) {
    let tau = std::f64::consts::TAU;
    for y in 0..h {
        for x in 0..w {
            let t = x as f64 * theta.cos() + y as f64 * theta.sin();
            let v = (tau * f * t + phase).cos() as f32;
            dst[(y * w + x) * c..(y * w + x + 1) * c].fill(v);
        }
    }
}

/// The tuning of every unit of the layer whose output is layer index `layer + 1` of `net`
/// (see `ConvLayer::index_in`).
pub fn tuning(net: &Network, layer: usize) -> Vec<UnitTuning> {
    let inp = net.shapes[0];
    let out = net.shapes[layer + 1];
    let (cy, cx) = (out.height / 2, out.width / 2);
    let units = out.channels;
    let gratings = ORIENTATIONS * FREQUENCIES.len() * PHASES;
    let angle = |o: usize| std::f64::consts::PI * o as f64 / ORIENTATIONS as f64;
    let params = |g: usize| {
        let (o, rest) = (
            g / (FREQUENCIES.len() * PHASES),
            g % (FREQUENCIES.len() * PHASES),
        );
        let (fi, p) = (rest / PHASES, rest % PHASES);
        (
            angle(o),
            FREQUENCIES[fi],
            std::f64::consts::TAU * p as f64 / PHASES as f64,
        )
    };
    let mut ws = Workspace::new();
    ws.prepare(net, gratings);
    ws.fill_inputs(net, |g, dst| {
        let (t, f, p) = params(g);
        grating(inp.height, inp.width, inp.channels, t, f, p, dst)
    });
    ws.forward(net, Mode::Eval, 0, layer + 1);
    // surface[unit][orientation][frequency], the best phase.
    let nf = FREQUENCIES.len();
    let mut surface = vec![vec![vec![f64::NEG_INFINITY; nf]; ORIENTATIONS]; units];
    ws.read(net, layer + 1, |g, a| {
        let (o, fi) = (g / (nf * PHASES), (g % (nf * PHASES)) / PHASES);
        for (u, s) in surface.iter_mut().enumerate() {
            let v = a[(cy * out.width + cx) * out.channels + u] as f64;
            s[o][fi] = s[o][fi].max(v);
        }
    });
    surface
        .iter()
        .enumerate()
        .map(|(unit, s)| summarise(unit, s))
        .collect()
}

/// The tuning numbers of one unit's surface R[orientation][frequency].
fn summarise(unit: usize, s: &[Vec<f64>]) -> UnitTuning {
    let nf = FREQUENCIES.len();
    let (mut bo, mut bf, mut best) = (0, 0, f64::NEG_INFINITY);
    for (o, row) in s.iter().enumerate() {
        for (f, &v) in row.iter().enumerate() {
            if v > best {
                (bo, bf, best) = (o, f, v);
            }
        }
    }
    let orientation_curve: Vec<f64> = s.iter().map(|row| row[bf]).collect();
    let frequency_curve: Vec<f64> = s[bo].clone();
    let above_half = |curve: &[f64]| -> Vec<bool> {
        let lo = curve.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = curve.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        curve.iter().map(|&v| v - lo >= 0.5 * (hi - lo)).collect()
    };
    let flat = |curve: &[f64]| {
        let lo = curve.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = curve.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // NaN spans count as flat too.
        (hi - lo).partial_cmp(&(1e-12 * hi.abs().max(1e-30))) != Some(std::cmp::Ordering::Greater)
    };
    let step = 180.0 / ORIENTATIONS as f64;
    let orientation_hwhh_deg = if flat(&orientation_curve) {
        f64::NAN
    } else {
        0.5 * step
            * above_half(&orientation_curve)
                .iter()
                .filter(|&&b| b)
                .count() as f64
    };
    let frequency_bandwidth_octaves = if flat(&frequency_curve) {
        f64::NAN
    } else {
        let half = above_half(&frequency_curve);
        let lo = half.iter().position(|&b| b).unwrap_or(0);
        let hi = half.iter().rposition(|&b| b).unwrap_or(nf - 1);
        (FREQUENCIES[hi] / FREQUENCIES[lo]).log2()
    };
    let lo = orientation_curve
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let (mut c, mut sn, mut total) = (0.0, 0.0, 0.0);
    for (o, &v) in orientation_curve.iter().enumerate() {
        let w = v - lo;
        let t = 2.0 * std::f64::consts::PI * o as f64 / ORIENTATIONS as f64;
        c += w * t.cos();
        sn += w * t.sin();
        total += w;
    }
    UnitTuning {
        unit,
        preferred_orientation_deg: step * bo as f64,
        preferred_frequency: FREQUENCIES[bf],
        orientation_hwhh_deg,
        frequency_bandwidth_octaves,
        orientation_selectivity: if total > 0.0 {
            c.hypot(sn) / total
        } else {
            f64::NAN
        },
        peak_response: best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sharp_unit_is_selective_and_a_flat_one_is_not() {
        let nf = FREQUENCIES.len();
        // Responds only at orientation 3 and frequency 4.
        let mut s = vec![vec![0.0; nf]; ORIENTATIONS];
        s[3][4] = 1.0;
        let t = summarise(0, &s);
        assert_eq!(t.preferred_orientation_deg, 45.0);
        assert_eq!(t.preferred_frequency, FREQUENCIES[4]);
        assert!((t.orientation_selectivity - 1.0).abs() < 1e-12);
        assert_eq!(t.orientation_hwhh_deg, 7.5, "one orientation of 15 degrees");
        assert_eq!(t.frequency_bandwidth_octaves, 0.0);
        // The same response at every orientation: no preferred orientation.
        let s = vec![vec![1.0; nf]; ORIENTATIONS];
        let t = summarise(0, &s);
        assert!(t.orientation_selectivity.is_nan() && t.orientation_hwhh_deg.is_nan());
    }
}
