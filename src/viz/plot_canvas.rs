//! The drawing surface under every plot: an RGB buffer that plotters' bitmap backend draws
//! into, the font compiled into the binary, the text sizes, the series palette and markers,
//! the legend panel, and the picture drawn in place of a figure that has nothing to show.
//! `viz::plots` composes figures from these pieces; nothing here knows what a figure means.

use crate::error::{Error, Result};
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::sync::OnceLock;

/// DejaVu Sans (licence in assets/fonts/LICENSE-DejaVu.txt), compiled in so that a plot
/// looks the same on every machine and the build needs no system font library.
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family every text style names; plotters' own defaults (mesh labels) use it too.
pub(crate) const FONT: &str = "sans-serif";
pub(crate) const TITLE_SIZE: f64 = 20.0;
pub(crate) const AXIS_DESC_SIZE: f64 = 16.0;
pub(crate) const TICK_SIZE: f64 = 14.0;
pub(crate) const LEGEND_SIZE: f64 = 14.0;

/// Text and axis colour: near-black, a shade softer than pure black on the white page.
pub(crate) const INK: RGBColor = RGBColor(30, 30, 30);
/// Colour of the explanation on an empty figure, softer than the ink of real labels.
pub(crate) const NOTE: RGBColor = RGBColor(90, 90, 90);

/// Colours of successive series (Okabe-Ito order): distinct in hue and lightness, so that
/// neighbours in a legend stay apart in print and for common colour-vision deficiencies.
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// Marker shapes; a figure with more series than colours cycles shapes as well, so that the
/// ninth series never looks like the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Circle,
    Square,
    Triangle,
}

/// Colour and marker of the series at `index` in the caller's list: taken from the index
/// rather than the position among drawn series, so a series keeps its colour in every
/// figure even when others are left out for lack of data.
pub(crate) fn series_look(index: usize) -> (RGBColor, Marker) {
    let marker = match (index / PALETTE.len()) % 3 {
        0 => Marker::Circle,
        1 => Marker::Square,
        _ => Marker::Triangle,
    };
    (PALETTE[index % PALETTE.len()], marker)
}

/// Registers the bundled font with plotters once per process.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::failed(
            "drawing a plot",
            "the bundled font assets/fonts/DejaVuSans.ttf does not parse",
        ))
    }
}

/// Width and height in pixels of `text` at `size` in the bundled font.
pub(crate) fn text_size(text: &str, size: f64) -> Result<(u32, u32)> {
    ensure_font()?;
    (FONT, size)
        .into_font()
        .box_size(text)
        .map_err(|e| Error::failed("measuring plot text", e.to_string()))
}

/// The error type of drawing on backend `DB`.
pub(crate) type DrawError<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;

/// Draws a figure of `size` pixels on white with `draw` and returns the picture.
pub(crate) fn render<F>(size: (u32, u32), draw: F) -> Result<RgbImage>
where
    F: for<'b> FnOnce(
        &DrawingArea<BitMapBackend<'b>, Shift>,
    ) -> std::result::Result<(), DrawError<BitMapBackend<'b>>>,
{
    ensure_font()?;
    let (w, h) = size;
    let mut buffer = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        draw(&root)
            .and_then(|()| root.present())
            .map_err(|e| Error::failed("drawing a plot", e.to_string()))?;
    }
    RgbImage::from_raw(w, h, buffer)
        .ok_or_else(|| Error::failed("drawing a plot", "buffer of the wrong size"))
}

/// Draws `title` across the top of `area` and returns the area below it.
pub(crate) fn draw_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<DrawingArea<DB, Shift>, DrawError<DB>> {
    let below = area.titled(title, (FONT, TITLE_SIZE).into_font().color(&INK))?;
    Ok(below.margin(4, 0, 0, 0))
}

/// The picture of a figure with nothing to show: its title, and `why` in the middle of a
/// light frame where the axes would be, so a reader sees the figure was made and is empty
/// for a stated reason rather than broken.
pub(crate) fn draw_empty<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    why: &str,
) -> std::result::Result<(), DrawError<DB>> {
    root.fill(&WHITE)?;
    let body = draw_title(root, title)?.margin(10, 20, 20, 20);
    let (w, h) = body.dim_in_pixel();
    body.draw(&Rectangle::new(
        [(0, 0), (w as i32 - 1, h as i32 - 1)],
        RGBColor(200, 200, 200).stroke_width(1),
    ))?;
    let style = (FONT, AXIS_DESC_SIZE).into_font().color(&NOTE).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    let lines = wrap(why, w.saturating_sub(40), AXIS_DESC_SIZE);
    let line_height = (AXIS_DESC_SIZE * 1.5) as i32;
    let first = h as i32 / 2 - line_height * (lines.len() as i32 - 1) / 2;
    for (k, line) in lines.iter().enumerate() {
        body.draw_text(line, &style, (w as i32 / 2, first + k as i32 * line_height))?;
    }
    Ok(())
}

/// Splits `text` at spaces into lines no wider than `width` pixels (a single word wider
/// than that keeps a line of its own).
fn wrap(text: &str, width: u32, size: f64) -> Vec<String> {
    let fits = |s: &str| text_size(s, size).map_or(true, |(w, _)| w <= width);
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if fits(&format!("{line} {word}")) => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// One row of a legend: the label and how the series is drawn.
pub(crate) struct LegendEntry<'a> {
    pub label: &'a str,
    pub colour: RGBColor,
    pub marker: Option<Marker>,
    /// Draw the marker as an outline only (the look of points clamped to the frame).
    pub hollow: bool,
    pub line: LegendLine,
}

/// The stroke in a legend row's swatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LegendLine {
    None,
    Solid,
    Dashed,
    /// A short vertical bar, the look of a mean on a dot plot.
    Upright,
}

/// Legend geometry: swatch width, gap to the text, row height and padding.
const SWATCH: i32 = 26;
const SWATCH_GAP: i32 = 8;
const LEGEND_ROW: i32 = 22;
const LEGEND_PAD: i32 = 10;

/// Width in pixels of the legend panel for `labels`.
pub(crate) fn legend_width(labels: &[&str]) -> Result<u32> {
    let mut widest = 0;
    for label in labels {
        widest = widest.max(text_size(label, LEGEND_SIZE)?.0);
    }
    Ok((2 * LEGEND_PAD + SWATCH + SWATCH_GAP) as u32 + widest)
}

/// Draws the legend rows top-down in `area`, starting level with the top of the plot frame
/// at `top` pixels.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    top: i32,
) -> std::result::Result<(), DrawError<DB>> {
    let text =
        (FONT, LEGEND_SIZE)
            .into_font()
            .color(&INK)
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ));
    for (k, e) in entries.iter().enumerate() {
        let y = top + LEGEND_ROW / 2 + k as i32 * LEGEND_ROW;
        let (x0, x1) = (LEGEND_PAD, LEGEND_PAD + SWATCH);
        let style = e.colour.stroke_width(2);
        match e.line {
            LegendLine::None => {}
            LegendLine::Solid => area.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))?,
            LegendLine::Dashed => {
                let mut x = x0;
                while x < x1 {
                    area.draw(&PathElement::new(vec![(x, y), ((x + 5).min(x1), y)], style))?;
                    x += 9;
                }
            }
            LegendLine::Upright => {
                let centre = (x0 + x1) / 2;
                area.draw(&PathElement::new(
                    vec![(centre, y - 7), (centre, y + 7)],
                    style,
                ))?
            }
        }
        if let Some(marker) = e.marker {
            let centre = ((x0 + x1) / 2, y);
            let style = if e.hollow {
                e.colour.stroke_width(1)
            } else {
                e.colour.filled()
            };
            match marker {
                Marker::Circle => area.draw(&Circle::new(centre, 4, style))?,
                Marker::Square => area.draw(&Rectangle::new(
                    [(centre.0 - 4, y - 4), (centre.0 + 4, y + 4)],
                    style,
                ))?,
                Marker::Triangle => area.draw(&TriangleMarker::new(centre, 5, style))?,
            }
        }
        area.draw_text(e.label, &text, (x1 + SWATCH_GAP, y))?;
    }
    Ok(())
}
