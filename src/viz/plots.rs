//! Plots for the reports, drawn with `plotters` on its bitmap backend with the font bundled in
//! `plot_canvas`: a scatter plot, a histogram, labelled line and point series, and a dot plot
//! of values per category. Each function takes the data and a [`Labels`] and returns the
//! picture; writing it is the caller's (`viz::montage::write_png`).
//!
//! Every figure follows the same rules. The axis labels the caller passes carry the units. A
//! legend lists only the series that have at least one finite point. Categories sit on a
//! categorical axis with one tick per category. A figure with no finite data shows its title
//! and [`Labels::empty`], the caller's reason, instead of empty axes.

use super::plot_axes::{TickAxis, tick_label};
use super::plot_canvas::{
    AXIS_DESC_SIZE, DrawError, FONT, INK, LegendEntry, LegendLine, Marker, NOTE, TICK_SIZE,
    draw_empty, draw_legend, draw_title, legend_width, render, series_look, text_size,
};
use crate::error::Result;
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of the plot part of a figure (axes, ticks and frame); a legend widens the figure.
const PLOT_WIDTH: u32 = 640;
/// Height of every figure except the category plot, whose height follows its categories.
const HEIGHT: u32 = 440;
/// Most ticks on a numeric axis: enough to read values off, few enough for the labels to
/// stand apart.
const MAX_TICKS: usize = 8;
/// Joined series with at most this many points mark each point (curves over epochs); longer
/// ones are distributions, where markers would merge into a thick smear.
const MARKED_CURVE_POINTS: usize = 30;
const MARKER_RADIUS: i32 = 3;
/// Colour of dashed reference lines.
const REFERENCE: RGBColor = RGBColor(100, 100, 100);
/// Light grey of the grid lines at the ticks.
const GRID: RGBColor = RGBColor(230, 230, 230);

/// The words of a figure.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub title: &'a str,
    /// Horizontal axis, with its unit, e.g. "frequency (cycles/pixel)".
    pub x: &'a str,
    /// Vertical axis, with its unit.
    pub y: &'a str,
    /// Why the figure can be empty, shown in its place when there is no finite data, e.g.
    /// "no filter fits a Gabor with R² ≥ 0.5: nothing to plot".
    pub empty: &'a str,
}

/// One labelled series of a [`series_plot`].
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// Legend text; an empty label leaves the series out of the legend.
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
    /// Join successive points with straight segments (a curve) or mark them only.
    pub joined: bool,
    /// Draw dashed, grey and without markers (used for baselines and references).
    pub dashed: bool,
}

impl Series<'_> {
    fn has_data(&self) -> bool {
        self.points.iter().any(|&p| finite(p))
    }
    /// Colour and marker of the series at `index`: dashed series are references (baselines,
    /// another bank's value) and are grey, so that they are not taken for the data series
    /// that shares their palette colour.
    fn look(&self, index: usize) -> (RGBColor, Marker) {
        let (colour, marker) = series_look(index);
        (if self.dashed { REFERENCE } else { colour }, marker)
    }

    fn marked(&self) -> bool {
        !self.joined || (!self.dashed && self.points.len() <= MARKED_CURVE_POINTS)
    }
}

/// One category of a [`category_plot`] and its values (one per run, say).
#[derive(Debug, Clone)]
pub struct Category<'a> {
    pub label: &'a str,
    pub values: Vec<f64>,
}

fn finite(p: (f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// A usable axis range: ordered, finite, and of non-zero width.
fn axis_range(r: (f64, f64)) -> (f64, f64) {
    let (a, b) = if r.0 <= r.1 { r } else { (r.1, r.0) };
    if !(a.is_finite() && b.is_finite()) {
        (0.0, 1.0)
    } else if b - a > 0.0 {
        (a, b)
    } else {
        (a - 0.5, a + 0.5)
    }
}

/// Scatter plot of `points` in the given axis ranges. Points outside are drawn at the edge,
/// hollow, so none silently disappears; NaN points are skipped.
pub fn scatter(
    points: &[(f64, f64)],
    x_range: (f64, f64),
    y_range: (f64, f64),
    labels: &Labels,
) -> Result<RgbImage> {
    let series = [Series {
        label: "",
        points: points.to_vec(),
        joined: false,
        dashed: false,
    }];
    series_plot(&series, x_range, y_range, labels)
}

/// Several labelled series in one frame, each in its own colour, with a legend right of the
/// frame (outside it, so it never hides a point) listing the series that have data. Points
/// outside the ranges are clamped to the frame edge and drawn hollow; NaN points are skipped
/// and break a joined curve.
pub fn series_plot(
    series: &[Series],
    x_range: (f64, f64),
    y_range: (f64, f64),
    labels: &Labels,
) -> Result<RgbImage> {
    let size = series_plot_size(series, x_range, y_range)?;
    render(size, |root| {
        draw_series_plot(root, series, x_range, y_range, labels)
    })
}

/// Legend text of the hollow markers that stand for points beyond the axes.
const CLAMPED_NOTE: &str = "off the axes (drawn at the edge)";

/// The legend rows of a series plot: the labelled series with data, in the caller's order,
/// then how points beyond the axes are drawn if any of the marked series has such points.
fn series_legend<'a>(
    series: &'a [Series],
    x_range: (f64, f64),
    y_range: (f64, f64),
) -> Vec<LegendEntry<'a>> {
    let mut entries: Vec<LegendEntry> = series
        .iter()
        .enumerate()
        .filter(|(_, s)| s.has_data() && !s.label.is_empty())
        .map(|(index, s)| {
            let (colour, marker) = s.look(index);
            LegendEntry {
                label: s.label,
                colour,
                marker: s.marked().then_some(marker),
                hollow: false,
                line: match (s.joined, s.dashed) {
                    (false, _) => LegendLine::None,
                    (true, false) => LegendLine::Solid,
                    (true, true) => LegendLine::Dashed,
                },
            }
        })
        .collect();
    let (x_range, y_range) = (axis_range(x_range), axis_range(y_range));
    let beyond = |&(x, y): &(f64, f64)| {
        finite((x, y))
            && !((x_range.0..=x_range.1).contains(&x) && (y_range.0..=y_range.1).contains(&y))
    };
    if series
        .iter()
        .any(|s| s.marked() && s.points.iter().any(beyond))
    {
        entries.push(clamped_entry());
    }
    entries
}

/// The legend row that explains hollow markers.
fn clamped_entry() -> LegendEntry<'static> {
    LegendEntry {
        label: CLAMPED_NOTE,
        colour: INK,
        marker: Some(Marker::Circle),
        hollow: true,
        line: LegendLine::None,
    }
}

fn series_plot_size(
    series: &[Series],
    x_range: (f64, f64),
    y_range: (f64, f64),
) -> Result<(u32, u32)> {
    let labels: Vec<&str> = series_legend(series, x_range, y_range)
        .iter()
        .map(|e| e.label)
        .collect();
    let legend = if labels.is_empty() {
        0
    } else {
        legend_width(&labels)?
    };
    Ok((PLOT_WIDTH + legend, HEIGHT))
}

type NumericChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickAxis, TickAxis>>;

/// Axes with ticks, grid and axis labels over the given ranges in `area`; `whole` asks for
/// whole-number ticks on (x, y), for axes of epochs or counts.
fn numeric_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    x: (f64, f64),
    y: (f64, f64),
    whole: (bool, bool),
    labels: &Labels,
) -> std::result::Result<NumericChart<'a, DB>, DrawError<DB>> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(28)
        .x_label_area_size(50)
        .y_label_area_size(68)
        .build_cartesian_2d(
            TickAxis::numeric(x, MAX_TICKS, whole.0),
            TickAxis::numeric(y, MAX_TICKS, whole.1),
        )?;
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .axis_desc_style((FONT, AXIS_DESC_SIZE).into_font().color(&INK))
        .label_style((FONT, TICK_SIZE).into_font().color(&INK))
        .axis_style(INK)
        .bold_line_style(GRID)
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&tick_label)
        .y_label_formatter(&tick_label)
        .draw()?;
    Ok(chart)
}

/// Markers of one shape and fill at data coordinates.
fn draw_markers<DB: DrawingBackend>(
    chart: &mut NumericChart<'_, DB>,
    points: &[(f64, f64)],
    marker: Marker,
    colour: RGBColor,
    filled: bool,
) -> std::result::Result<(), DrawError<DB>> {
    let style = if filled {
        colour.filled()
    } else {
        colour.stroke_width(1)
    };
    let r = MARKER_RADIUS;
    let at = points.iter().copied();
    match marker {
        Marker::Circle => chart.draw_series(at.map(|p| Circle::new(p, r, style)))?,
        Marker::Square => chart.draw_series(
            at.map(|p| EmptyElement::at(p) + Rectangle::new([(-r, -r), (r, r)], style)),
        )?,
        Marker::Triangle => chart.draw_series(at.map(|p| TriangleMarker::new(p, r + 1, style)))?,
    };
    Ok(())
}

fn draw_series_plot<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &[Series],
    x_range: (f64, f64),
    y_range: (f64, f64),
    labels: &Labels,
) -> std::result::Result<(), DrawError<DB>> {
    if !series.iter().any(Series::has_data) {
        return draw_empty(root, labels.title, labels.empty);
    }
    root.fill(&WHITE)?;
    let (x_range, y_range) = (axis_range(x_range), axis_range(y_range));
    let body = draw_title(root, labels.title)?;
    let (plot, legend) = body.split_horizontally(PLOT_WIDTH);
    let whole_numbers = |coordinate: fn(&(f64, f64)) -> f64, range: (f64, f64)| {
        let whole = |v: f64| v.fract() == 0.0;
        whole(range.0)
            && whole(range.1)
            && series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|p| finite(**p))
                .all(|p| whole(coordinate(p)))
    };
    let whole = (
        whole_numbers(|p| p.0, x_range),
        whole_numbers(|p| p.1, y_range),
    );
    let mut chart = numeric_chart(&plot, x_range, y_range, whole, labels)?;
    let clamp = |(x, y): (f64, f64)| (x.clamp(x_range.0, x_range.1), y.clamp(y_range.0, y_range.1));
    for (index, s) in series.iter().enumerate() {
        let (colour, marker) = s.look(index);
        if s.joined {
            // Each run of finite points is its own polyline, so a NaN leaves a gap.
            for run in s.points.split(|&p| !finite(p)).filter(|r| !r.is_empty()) {
                let run: Vec<(f64, f64)> = run.iter().copied().map(clamp).collect();
                let style = colour.stroke_width(2);
                if s.dashed {
                    chart.draw_series(DashedLineSeries::new(run, 6, 4, style))?;
                } else {
                    chart.draw_series(LineSeries::new(run, style))?;
                }
            }
        }
        if s.marked() {
            let inside: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|&p| finite(p) && clamp(p) == p)
                .collect();
            let outside: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|&p| finite(p) && clamp(p) != p)
                .map(clamp)
                .collect();
            draw_markers(&mut chart, &inside, marker, colour, true)?;
            draw_markers(&mut chart, &outside, marker, colour, false)?;
        }
    }
    let entries = series_legend(series, x_range, y_range);
    if !entries.is_empty() {
        let top = chart.plotting_area().get_base_pixel().1 - legend.get_base_pixel().1;
        draw_legend(&legend, &entries, top)?;
    }
    Ok(())
}

/// Histogram of the finite `values` in `bins` equal bins over `range` (values outside are
/// counted in the end bins), with `labels.y` naming what is counted. Returns the picture and
/// the counts.
pub fn histogram(
    values: &[f64],
    bins: usize,
    range: (f64, f64),
    labels: &Labels,
) -> Result<(RgbImage, Vec<usize>)> {
    let range = axis_range(range);
    let counts = bin_counts(values, bins, range);
    let img = render((PLOT_WIDTH, HEIGHT), |root| {
        draw_histogram(root, &counts, range, labels)
    })?;
    Ok((img, counts))
}

fn bin_counts(values: &[f64], bins: usize, range: (f64, f64)) -> Vec<usize> {
    let bins = bins.max(1);
    let mut counts = vec![0usize; bins];
    let width = (range.1 - range.0) / bins as f64;
    for v in values.iter().filter(|v| v.is_finite()) {
        let k = ((v - range.0) / width)
            .floor()
            .clamp(0.0, (bins - 1) as f64) as usize;
        counts[k] += 1;
    }
    counts
}

fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    counts: &[usize],
    range: (f64, f64),
    labels: &Labels,
) -> std::result::Result<(), DrawError<DB>> {
    let total: usize = counts.iter().sum();
    if total == 0 {
        return draw_empty(root, labels.title, labels.empty);
    }
    root.fill(&WHITE)?;
    let body = draw_title(root, labels.title)?;
    let top = counts.iter().copied().max().unwrap_or(0);
    // Whole-number count axis with headroom above the tallest bar.
    let y_max = (top + top.div_ceil(10)).max(1) as f64;
    let mut chart = ChartBuilder::on(&body)
        .margin(12)
        .margin_right(28)
        .x_label_area_size(50)
        .y_label_area_size(68)
        .build_cartesian_2d(
            TickAxis::bin_edges(range, counts.len()),
            TickAxis::numeric((0.0, y_max), MAX_TICKS, true),
        )?;
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .axis_desc_style((FONT, AXIS_DESC_SIZE).into_font().color(&INK))
        .label_style((FONT, TICK_SIZE).into_font().color(&INK))
        .axis_style(INK)
        .bold_line_style(GRID)
        .light_line_style(WHITE.mix(0.0))
        .disable_x_mesh()
        .x_label_formatter(&tick_label)
        .y_label_formatter(&tick_label)
        .draw()?;
    let width = (range.1 - range.0) / counts.len() as f64;
    let (colour, _) = series_look(0);
    chart.draw_series(
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(k, &c)| {
                let x0 = range.0 + k as f64 * width;
                let mut bar = Rectangle::new([(x0, 0.0), (x0 + width, c as f64)], colour.filled());
                // A one-pixel gap between neighbouring bars keeps them apart.
                bar.set_margin(0, 0, 1, 1);
                bar
            }),
    )?;
    Ok(())
}

/// A dot plot of values per category: one row per category (named on a categorical axis,
/// in the caller's order from the top), a dot per value and a bar at the mean. `labels.x`
/// names the values and `labels.y` the categories; a category without finite values keeps
/// its row, marked "no data".
pub fn category_plot(
    categories: &[Category],
    value_range: (f64, f64),
    labels: &Labels,
) -> Result<RgbImage> {
    let layout = category_layout(categories, value_range)?;
    render(layout.size, |root| {
        draw_category_plot(root, categories, value_range, &layout, labels)
    })
}

/// Legend rows of a category plot: how a value and a mean are drawn, and hollow markers if
/// a value lies beyond the axis.
fn category_legend(categories: &[Category], range: (f64, f64)) -> Vec<LegendEntry<'static>> {
    let (colour, marker) = series_look(0);
    let range = axis_range(range);
    let mut entries = vec![
        LegendEntry {
            label: "one value",
            colour,
            marker: Some(marker),
            hollow: false,
            line: LegendLine::None,
        },
        LegendEntry {
            label: "mean",
            colour: INK,
            marker: None,
            hollow: false,
            line: LegendLine::Upright,
        },
    ];
    let beyond = |v: &f64| v.is_finite() && !(range.0..=range.1).contains(v);
    if categories.iter().any(|c| c.values.iter().any(beyond)) {
        entries.push(clamped_entry());
    }
    entries
}

/// Pixel height of one category's row.
const CATEGORY_ROW: u32 = 34;

/// Pixel sizes of a category plot, measured from its text before drawing.
struct CategoryLayout {
    size: (u32, u32),
    /// Left of the frame: the category names and the rotated axis description.
    label_area: u32,
    legend_width: u32,
}

fn category_layout(categories: &[Category], range: (f64, f64)) -> Result<CategoryLayout> {
    let mut widest = 0;
    for c in categories {
        widest = widest.max(text_size(c.label, TICK_SIZE)?.0);
    }
    let label_area = widest + 2 * AXIS_DESC_SIZE as u32 + 16;
    let legend: Vec<&str> = category_legend(categories, range)
        .iter()
        .map(|e| e.label)
        .collect();
    let legend_width = legend_width(&legend)?;
    let rows = categories.len().max(1) as u32;
    Ok(CategoryLayout {
        size: (
            PLOT_WIDTH + label_area.saturating_sub(68) + legend_width,
            (140 + CATEGORY_ROW * rows).max(260),
        ),
        label_area,
        legend_width,
    })
}

fn draw_category_plot<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    categories: &[Category],
    value_range: (f64, f64),
    layout: &CategoryLayout,
    labels: &Labels,
) -> std::result::Result<(), DrawError<DB>> {
    let has_data = |c: &Category| c.values.iter().any(|v| v.is_finite());
    if !categories.iter().any(has_data) {
        return draw_empty(root, labels.title, labels.empty);
    }
    root.fill(&WHITE)?;
    let range = axis_range(value_range);
    let n = categories.len();
    // Row k from the top sits at y = n - 1 - k, so the caller's first category is on top.
    let row_y = |k: usize| (n - 1 - k) as f64;
    let body = draw_title(root, labels.title)?;
    let (w, _) = body.dim_in_pixel();
    let (plot, legend) = body.split_horizontally(w - layout.legend_width);
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .margin_right(28)
        .x_label_area_size(56)
        .y_label_area_size(layout.label_area)
        .build_cartesian_2d(
            TickAxis::numeric(range, MAX_TICKS, false),
            TickAxis::categories(n),
        )?;
    let name_of = |y: &f64| {
        let k = y.round();
        if (0.0..n as f64).contains(&k) {
            categories[n - 1 - k as usize].label.to_string()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .axis_desc_style((FONT, AXIS_DESC_SIZE).into_font().color(&INK))
        .label_style((FONT, TICK_SIZE).into_font().color(&INK))
        .axis_style(INK)
        .bold_line_style(GRID)
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&tick_label)
        .y_label_formatter(&name_of)
        .draw()?;
    let (colour, _) = series_look(0);
    let note = (FONT, TICK_SIZE)
        .into_font()
        .color(&NOTE)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (k, c) in categories.iter().enumerate() {
        let y = row_y(k);
        let values: Vec<f64> = c.values.iter().copied().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            // Offset from the axis so the note does not run into the category's name.
            chart.draw_series(std::iter::once(
                EmptyElement::at((range.0, y)) + Text::new("no data", (10, 0), note.clone()),
            ))?;
            continue;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let clamped = |v: f64| v.clamp(range.0, range.1);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(clamped(mean), y - 0.3), (clamped(mean), y + 0.3)],
            INK.stroke_width(2),
        )))?;
        chart.draw_series(values.iter().map(|&v| {
            let style = if clamped(v) == v {
                colour.mix(0.8).filled()
            } else {
                colour.stroke_width(1)
            };
            Circle::new((clamped(v), y), MARKER_RADIUS + 1, style)
        }))?;
    }
    let top = chart.plotting_area().get_base_pixel().1 - legend.get_base_pixel().1;
    draw_legend(&legend, &category_legend(categories, value_range), top)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viz::plot_canvas::PALETTE;
    use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A backend that keeps the text drawn on it and ignores pixels, so a test can ask which
    /// words a figure shows (legend rows, tick labels, titles).
    struct TextLog {
        size: (u32, u32),
        texts: Rc<RefCell<Vec<String>>>,
    }

    impl DrawingBackend for TextLog {
        type ErrorType = std::io::Error;
        fn get_size(&self) -> (u32, u32) {
            self.size
        }
        fn ensure_prepared(
            &mut self,
        ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
            Ok(())
        }
        fn present(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
            Ok(())
        }
        fn draw_pixel(
            &mut self,
            _: BackendCoord,
            _: BackendColor,
        ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
            Ok(())
        }
        fn draw_text<S: BackendTextStyle>(
            &mut self,
            text: &str,
            _: &S,
            _: BackendCoord,
        ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.texts.borrow_mut().push(text.to_string());
            Ok(())
        }
    }

    /// The words `draw` puts on a figure of `size`.
    fn texts_of(
        size: (u32, u32),
        draw: impl FnOnce(&DrawingArea<TextLog, Shift>) -> std::result::Result<(), DrawError<TextLog>>,
    ) -> Vec<String> {
        text_size("x", TICK_SIZE).unwrap(); // registers the font
        let texts = Rc::new(RefCell::new(Vec::new()));
        let root = TextLog {
            size,
            texts: texts.clone(),
        }
        .into_drawing_area();
        draw(&root).unwrap();
        drop(root);
        Rc::try_unwrap(texts).unwrap().into_inner()
    }

    fn count(texts: &[String], word: &str) -> usize {
        texts.iter().filter(|t| *t == word).count()
    }

    fn has_colour(img: &RgbImage, c: RGBColor) -> bool {
        img.pixels().any(|p| p.0 == [c.0, c.1, c.2])
    }

    const LABELS: Labels<'static> = Labels {
        title: "a title",
        x: "x (units)",
        y: "y (units)",
        empty: "no points at all: nothing to plot",
    };

    fn series(label: &str, points: Vec<(f64, f64)>) -> Series<'_> {
        Series {
            label,
            points,
            joined: true,
            dashed: false,
        }
    }

    fn three_series() -> Vec<Series<'static>> {
        vec![
            series("with data", vec![(0.1, 0.2), (0.5, 0.9)]),
            series("no points", vec![]),
            series("only nan", vec![(f64::NAN, 0.5), (0.3, f64::INFINITY)]),
        ]
    }

    #[test]
    fn legend_lists_exactly_the_series_with_data() {
        let s = three_series();
        let size = series_plot_size(&s, (0.0, 1.0), (0.0, 1.0)).unwrap();
        let texts = texts_of(size, |root| {
            draw_series_plot(root, &s, (0.0, 1.0), (0.0, 1.0), &LABELS)
        });
        assert_eq!(count(&texts, "with data"), 1, "{texts:?}");
        assert_eq!(count(&texts, "no points"), 0, "{texts:?}");
        assert_eq!(count(&texts, "only nan"), 0, "{texts:?}");
        for word in ["a title", "x (units)", "y (units)"] {
            assert_eq!(count(&texts, word), 1, "{word} in {texts:?}");
        }
        // Nothing is clamped, so the hollow-marker note stays out.
        assert_eq!(count(&texts, CLAMPED_NOTE), 0);
    }

    #[test]
    fn series_colours_appear_only_for_series_with_data() {
        let s = three_series();
        let img = series_plot(&s, (0.0, 1.0), (0.0, 1.0), &LABELS).unwrap();
        assert!(has_colour(&img, PALETTE[0]));
        assert!(!has_colour(&img, PALETTE[1]));
        assert!(!has_colour(&img, PALETTE[2]));
        // The legend widens the figure beyond the plot.
        assert!(img.width() > PLOT_WIDTH);
        let unlabelled = [series("", vec![(0.1, 0.2)])];
        let img = series_plot(&unlabelled, (0.0, 1.0), (0.0, 1.0), &LABELS).unwrap();
        assert_eq!(img.width(), PLOT_WIDTH, "no legend without labelled series");
    }

    #[test]
    fn points_beyond_the_axes_are_noted_in_the_legend() {
        let s = [Series {
            label: "",
            points: vec![(0.5, 0.5), (5.0, 0.5)],
            joined: false,
            dashed: false,
        }];
        let size = series_plot_size(&s, (0.0, 1.0), (0.0, 1.0)).unwrap();
        let texts = texts_of(size, |root| {
            draw_series_plot(root, &s, (0.0, 1.0), (0.0, 1.0), &LABELS)
        });
        assert_eq!(count(&texts, CLAMPED_NOTE), 1, "{texts:?}");
    }

    #[test]
    fn an_empty_plot_says_why_instead_of_drawing_axes() {
        let empty = [
            series("no points", vec![]),
            series("nan", vec![(f64::NAN, 1.0)]),
        ];
        let texts = texts_of((PLOT_WIDTH, HEIGHT), |root| {
            draw_series_plot(root, &empty, (0.0, 1.0), (0.0, 1.0), &LABELS)
        });
        assert_eq!(texts, ["a title", "no points at all: nothing to plot"]);
        let img = series_plot(&empty, (0.0, 1.0), (0.0, 1.0), &LABELS).unwrap();
        assert!(
            img.pixels().any(|p| p.0 != [255, 255, 255]),
            "blank picture"
        );
        let with_data = series_plot(&three_series(), (0.0, 1.0), (0.0, 1.0), &LABELS).unwrap();
        assert_ne!(img.dimensions(), (0, 0));
        assert!(img != with_data);
    }

    #[test]
    fn a_long_reason_wraps_onto_several_lines() {
        let why = "word ".repeat(60);
        let labels = Labels {
            empty: &why,
            ..LABELS
        };
        let texts = texts_of((PLOT_WIDTH, HEIGHT), |root| {
            draw_series_plot(root, &[], (0.0, 1.0), (0.0, 1.0), &labels)
        });
        assert!(texts.len() > 2, "{texts:?}");
        let words: usize = texts[1..].iter().map(|t| t.split(' ').count()).sum();
        assert_eq!(words, 60);
    }

    #[test]
    fn greater_or_equal_is_drawn_as_its_own_glyph() {
        // The old pixel font drew "≥" as "=".
        let draw = |why: &str| {
            let labels = Labels {
                empty: why,
                ..LABELS
            };
            series_plot(&[], (0.0, 1.0), (0.0, 1.0), &labels).unwrap()
        };
        assert!(draw("R² ≥ 0.5") != draw("R² = 0.5"));
        let (wide, tall) = text_size("≥", AXIS_DESC_SIZE).unwrap();
        assert!(wide > 0 && tall > 0);
    }

    #[test]
    fn histogram_counts_clamp_to_end_bins_and_ticks_sit_on_bin_edges() {
        let (img, counts) = histogram(
            &[0.1, 0.2, 0.6, 5.0, -1.0, f64::NAN],
            2,
            (0.0, 1.0),
            &LABELS,
        )
        .unwrap();
        assert_eq!(counts, vec![3, 2]);
        assert!(has_colour(&img, PALETTE[0]));
        let texts = texts_of((PLOT_WIDTH, HEIGHT), |root| {
            draw_histogram(root, &[3, 0, 1, 2], (0.0, 180.0), &LABELS)
        });
        for edge in ["45", "90", "135", "180"] {
            assert_eq!(count(&texts, edge), 1, "{edge} in {texts:?}");
        }
        // Whole counts up the side: 0 to the tallest bar and a little headroom.
        for tick in ["0", "1", "2", "3"] {
            assert!(count(&texts, tick) >= 1, "{tick} in {texts:?}");
        }
        assert!(!texts.iter().any(|t| t.contains('.')), "{texts:?}");
        assert_eq!(TickAxis::bin_edges((0.0, 0.5), 10).ticks.len(), 11);
        assert!(TickAxis::bin_edges((0.0, 1.0), 50).ticks.len() <= 13);
    }

    #[test]
    fn an_empty_histogram_says_why() {
        let (img, counts) = histogram(&[f64::NAN], 12, (0.0, 180.0), &LABELS).unwrap();
        assert_eq!(counts, vec![0; 12]);
        assert!(!has_colour(&img, PALETTE[0]));
        let texts = texts_of((PLOT_WIDTH, HEIGHT), |root| {
            draw_histogram(root, &counts, (0.0, 180.0), &LABELS)
        });
        assert_eq!(texts, ["a title", "no points at all: nothing to plot"]);
    }

    fn categories() -> Vec<Category<'static>> {
        vec![
            Category {
                label: "plain",
                values: vec![0.52, 0.53, 0.54],
            },
            Category {
                label: "gabor-fixed",
                values: vec![0.50],
            },
            Category {
                label: "never ran",
                values: vec![f64::NAN],
            },
            Category {
                label: "dictionary-init",
                values: vec![0.55, 0.56],
            },
        ]
    }

    #[test]
    fn a_categorical_axis_has_one_tick_per_category() {
        let c = categories();
        let layout = category_layout(&c, (0.45, 0.6)).unwrap();
        let texts = texts_of(layout.size, |root| {
            draw_category_plot(root, &c, (0.45, 0.6), &layout, &LABELS)
        });
        for name in ["plain", "gabor-fixed", "never ran", "dictionary-init"] {
            assert_eq!(count(&texts, name), 1, "{name} in {texts:?}");
        }
        assert_eq!(count(&texts, "no data"), 1);
        // The value axis is numeric; the category axis has no numbers and no blank ticks.
        assert!(texts.iter().any(|t| t == "0.5"), "{texts:?}");
        assert_eq!(count(&texts, ""), 0, "{texts:?}");
        assert_eq!(count(&texts, "one value") + count(&texts, "mean"), 2);
        assert_eq!(count(&texts, CLAMPED_NOTE), 0);
        let img = category_plot(&c, (0.45, 0.6), &LABELS).unwrap();
        assert!(has_colour(&img, PALETTE[0]));
    }

    #[test]
    fn a_category_plot_without_values_says_why() {
        let c = [Category {
            label: "never ran",
            values: vec![],
        }];
        let layout = category_layout(&c, (0.0, 1.0)).unwrap();
        let texts = texts_of(layout.size, |root| {
            draw_category_plot(root, &c, (0.0, 1.0), &layout, &LABELS)
        });
        assert_eq!(texts, ["a title", "no points at all: nothing to plot"]);
    }
}
