//! The axes under the plots: a plotters coordinate whose ticks are exactly the ones asked for
//! (round numeric steps, whole numbers, bin edges or category rows), and the text of a
//! numeric tick. plotters' own f64 axis chooses its ticks from a label count and prints
//! "20.0"; these give one tick per category and labels without trailing zeros.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// An axis over [start, end] whose ticks sit exactly at `ticks`, whatever number of labels
/// the mesh asks for: category rows, or a histogram's bin edges.
pub(crate) struct TickAxis {
    start: f64,
    end: f64,
    pub(crate) ticks: Vec<f64>,
}

impl TickAxis {
    /// `count` category rows: row k's centre at value k, half a row of space at either end.
    pub(crate) fn categories(count: usize) -> Self {
        TickAxis {
            start: -0.5,
            end: count as f64 - 0.5,
            ticks: (0..count).map(|k| k as f64).collect(),
        }
    }

    /// At most `max_ticks` ticks over `range` at a round step (1, 2 or 5 times a power of
    /// ten), at least 1 if `whole`.
    pub(crate) fn numeric(range: (f64, f64), max_ticks: usize, whole: bool) -> Self {
        let span = range.1 - range.0;
        let raw = span / max_ticks.saturating_sub(1).max(1) as f64;
        let magnitude = 10f64.powf(raw.log10().floor());
        let mut step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|&s| s >= raw * (1.0 - 1e-9))
            .unwrap_or(span);
        if whole {
            step = step.max(1.0);
        }
        // Ticks are whole multiples of the step, computed from their index so that rounding
        // errors do not pile up ("0.30000000000000004").
        let first = (range.0 / step - 1e-9).ceil() as i64;
        let last = (range.1 / step + 1e-9).floor() as i64;
        TickAxis {
            start: range.0,
            end: range.1,
            ticks: (first..=last).map(|k| k as f64 * step).collect(),
        }
    }

    /// Ticks at the edges of `bins` equal bins over `range`, thinned to every k-th edge so
    /// that at most 13 labels share the axis.
    pub(crate) fn bin_edges(range: (f64, f64), bins: usize) -> Self {
        let step = bins.div_ceil(12).max(1);
        let width = (range.1 - range.0) / bins as f64;
        TickAxis {
            start: range.0,
            end: range.1,
            ticks: (0..=bins)
                .step_by(step)
                .map(|k| range.0 + k as f64 * width)
                .collect(),
        }
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.start) / (self.end - self.start);
        limit.0 + (t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.start..self.end
    }
}

/// A numeric tick label with no trailing zeros ("20", "0.25") and no "-0"; values too small
/// or too large for six decimals are written in exponent form ("2e-7").
pub(crate) fn tick_label(v: &f64) -> String {
    let magnitude = v.abs();
    if magnitude != 0.0 && !(1e-4..1e7).contains(&magnitude) {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_drop_trailing_zeros() {
        assert_eq!(tick_label(&20.0), "20");
        assert_eq!(tick_label(&0.25), "0.25");
        assert_eq!(tick_label(&(0.1 + 0.2)), "0.3");
        assert_eq!(tick_label(&-0.0), "0");
        assert_eq!(tick_label(&2e-7), "2e-7");
        assert_eq!(tick_label(&0.00015), "0.00015");
        assert_eq!(tick_label(&12000.0), "12000");
    }

    #[test]
    fn numeric_ticks_are_round_and_whole_when_asked() {
        let labels = |range, whole| -> Vec<String> {
            TickAxis::numeric(range, 8, whole)
                .ticks
                .iter()
                .map(tick_label)
                .collect()
        };
        assert_eq!(
            labels((0.0, 1.0), false),
            ["0", "0.2", "0.4", "0.6", "0.8", "1"]
        );
        assert_eq!(labels((0.0, 2.0), true), ["0", "1", "2"]);
        assert_eq!(labels((0.0, 2.0), false), ["0", "0.5", "1", "1.5", "2"]);
        assert_eq!(labels((0.15, 0.3), false), ["0.15", "0.2", "0.25", "0.3"]);
        assert_eq!(labels((0.0, 10.0), true), ["0", "2", "4", "6", "8", "10"]);
    }
}
