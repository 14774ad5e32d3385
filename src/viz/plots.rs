//! Simple plots drawn pixel by pixel with the image crate: a scatter plot, a histogram and
//! labelled line/point series (with a colour legend), with axes, tick labels and titles in a built-in 3x5 pixel font (digits, lower-case letters
//! and a little punctuation), so reports need no font files or plotting dependency.

use image::{Rgb, RgbImage};

const WIDTH: u32 = 480;
const HEIGHT: u32 = 360;
const LEFT: i64 = 56;
const RIGHT: i64 = 16;
const TOP: i64 = 44;
const BOTTOM: i64 = 44;
/// Screen pixels per font pixel.
const FONT_SCALE: i64 = 2;
const INK: Rgb<u8> = Rgb([30, 30, 30]);
const PAPER: Rgb<u8> = Rgb([255, 255, 255]);
const MARK: Rgb<u8> = Rgb([40, 90, 170]);

/// Rows of a 3x5 glyph, three bits each with the high bit on the left; unknown characters
/// draw as a blank.
fn glyph(ch: char) -> [u8; 5] {
    match ch.to_ascii_lowercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        '(' => [2, 4, 4, 4, 2],
        ')' => [2, 1, 1, 1, 2],
        '/' => [1, 1, 2, 4, 4],
        '_' => [0, 0, 0, 0, 7],
        ',' => [0, 0, 0, 2, 4],
        '=' => [0, 7, 0, 7, 0],
        'a' => [0, 3, 5, 5, 3],
        'b' => [4, 6, 5, 5, 6],
        'c' => [0, 3, 4, 4, 3],
        'd' => [1, 3, 5, 5, 3],
        'e' => [2, 5, 7, 4, 3],
        'f' => [3, 4, 6, 4, 4],
        'g' => [3, 5, 3, 1, 6],
        'h' => [4, 6, 5, 5, 5],
        'i' => [2, 0, 2, 2, 2],
        'j' => [1, 0, 1, 5, 2],
        'k' => [4, 5, 6, 6, 5],
        'l' => [6, 2, 2, 2, 7],
        'm' => [0, 7, 7, 5, 5],
        'n' => [0, 6, 5, 5, 5],
        'o' => [0, 2, 5, 5, 2],
        'p' => [6, 5, 6, 4, 4],
        'q' => [3, 5, 3, 1, 1],
        'r' => [0, 3, 4, 4, 4],
        's' => [0, 3, 6, 3, 6],
        't' => [2, 7, 2, 2, 3],
        'u' => [0, 5, 5, 5, 3],
        'v' => [0, 5, 5, 5, 2],
        'w' => [0, 5, 5, 7, 7],
        'x' => [0, 5, 2, 2, 5],
        'y' => [5, 5, 3, 1, 6],
        'z' => [7, 1, 2, 4, 7],
        _ => [0; 5],
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

/// Width of `text` in screen pixels.
fn text_width(text: &str) -> i64 {
    text.chars().count() as i64 * 4 * FONT_SCALE
}

/// Draws `text` with its top-left corner at (x, y).
fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str) {
    for (k, ch) in text.chars().enumerate() {
        let rows = glyph(ch);
        let gx = x + k as i64 * 4 * FONT_SCALE;
        for (r, bits) in rows.iter().enumerate() {
            for c in 0..3 {
                if bits & (4 >> c) != 0 {
                    for dy in 0..FONT_SCALE {
                        for dx in 0..FONT_SCALE {
                            put(
                                img,
                                gx + c * FONT_SCALE + dx,
                                y + r as i64 * FONT_SCALE + dy,
                                INK,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// A tick label without trailing zeros.
fn tick_label(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The frame of a plot: axis lines, five ticks per axis with labels, title and axis labels.
struct Frame {
    x_range: (f64, f64),
    y_range: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> i64 {
        let t = (x - self.x_range.0) / (self.x_range.1 - self.x_range.0);
        LEFT + (t * (WIDTH as i64 - LEFT - RIGHT) as f64).round() as i64
    }
    fn py(&self, y: f64) -> i64 {
        let t = (y - self.y_range.0) / (self.y_range.1 - self.y_range.0);
        HEIGHT as i64 - BOTTOM - (t * (HEIGHT as i64 - TOP - BOTTOM) as f64).round() as i64
    }

    fn draw(&self, img: &mut RgbImage, title: &str, x_label: &str, y_label: &str) {
        let (x0, x1) = (LEFT, WIDTH as i64 - RIGHT);
        let (y0, y1) = (TOP, HEIGHT as i64 - BOTTOM);
        for x in x0..=x1 {
            put(img, x, y1, INK);
        }
        for y in y0..=y1 {
            put(img, x0, y, INK);
        }
        for k in 0..=4 {
            let t = k as f64 / 4.0;
            let xv = self.x_range.0 + t * (self.x_range.1 - self.x_range.0);
            let sx = self.px(xv);
            for d in 0..5 {
                put(img, sx, y1 + d, INK);
            }
            let label = tick_label(xv);
            draw_text(img, sx - text_width(&label) / 2, y1 + 8, &label);
            let yv = self.y_range.0 + t * (self.y_range.1 - self.y_range.0);
            let sy = self.py(yv);
            for d in 0..5 {
                put(img, x0 - d, sy, INK);
            }
            let label = tick_label(yv);
            draw_text(img, x0 - 8 - text_width(&label), sy - 5, &label);
        }
        draw_text(img, (WIDTH as i64 - text_width(title)) / 2, 6, title);
        draw_text(
            img,
            (x0 + x1 - text_width(x_label)) / 2,
            HEIGHT as i64 - 16,
            x_label,
        );
        draw_text(img, 4, TOP - 18, y_label);
    }
}

/// Scatter plot of `points` in the given axis ranges; points outside are drawn at the edge
/// (hollow), so none silently disappears. NaN points are skipped.
pub fn scatter(
    points: &[(f64, f64)],
    x_range: (f64, f64),
    y_range: (f64, f64),
    title: &str,
    x_label: &str,
    y_label: &str,
) -> RgbImage {
    let mut img = RgbImage::from_pixel(WIDTH, HEIGHT, PAPER);
    let frame = Frame { x_range, y_range };
    frame.draw(&mut img, title, x_label, y_label);
    for &(x, y) in points {
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let clipped = x < x_range.0 || x > x_range.1 || y < y_range.0 || y > y_range.1;
        let (cx, cy) = (
            frame.px(x.clamp(x_range.0, x_range.1)),
            frame.py(y.clamp(y_range.0, y_range.1)),
        );
        for dy in -2..=2i64 {
            for dx in -2..=2i64 {
                let ring = dx.abs() == 2 || dy.abs() == 2;
                if (dx.abs() + dy.abs() <= 3) && (!clipped || ring) {
                    put(&mut img, cx + dx, cy + dy, MARK);
                }
            }
        }
    }
    img
}

/// Histogram of the finite `values` in `bins` equal bins over `range` (values outside are
/// counted in the end bins). Returns the picture and the counts.
pub fn histogram(
    values: &[f64],
    bins: usize,
    range: (f64, f64),
    title: &str,
    x_label: &str,
) -> (RgbImage, Vec<usize>) {
    let bins = bins.max(1);
    let mut counts = vec![0usize; bins];
    let width = (range.1 - range.0) / bins as f64;
    for v in values.iter().filter(|v| v.is_finite()) {
        let k = ((v - range.0) / width)
            .floor()
            .clamp(0.0, (bins - 1) as f64) as usize;
        counts[k] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    // Round the count axis up to a multiple of 4 so the five ticks are whole numbers.
    let y_max = top.div_ceil(4) * 4;
    let mut img = RgbImage::from_pixel(WIDTH, HEIGHT, PAPER);
    let frame = Frame {
        x_range: range,
        y_range: (0.0, y_max as f64),
    };
    for (k, &c) in counts.iter().enumerate() {
        let (xa, xb) = (
            frame.px(range.0 + k as f64 * width) + 1,
            frame.px(range.0 + (k + 1) as f64 * width) - 1,
        );
        let (ya, yb) = (frame.py(c as f64), frame.py(0.0));
        for y in ya..yb {
            for x in xa..=xb {
                put(&mut img, x, y, MARK);
            }
        }
    }
    frame.draw(&mut img, title, x_label, "count");
    (img, counts)
}

/// Colours of successive series: distinct in hue and lightness so neighbours in a legend
/// stay apart in print and for common colour-vision deficiencies (Okabe-Ito order).
const PALETTE: [Rgb<u8>; 8] = [
    Rgb([0, 114, 178]),
    Rgb([230, 159, 0]),
    Rgb([0, 158, 115]),
    Rgb([204, 121, 167]),
    Rgb([86, 180, 233]),
    Rgb([213, 94, 0]),
    Rgb([240, 228, 66]),
    Rgb([0, 0, 0]),
];

/// One labelled series of a [`series_plot`].
pub struct Series<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
    /// Join successive points with straight segments (a curve) or mark them only.
    pub joined: bool,
    /// Draw dashed (used for baselines and references).
    pub dashed: bool,
}

fn segment(img: &mut RgbImage, a: (i64, i64), b: (i64, i64), colour: Rgb<u8>, dashed: bool) {
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
    for s in 0..=steps {
        if dashed && (s / 6) % 2 == 1 {
            continue;
        }
        let t = s as f64 / steps as f64;
        let x = a.0 + ((b.0 - a.0) as f64 * t).round() as i64;
        let y = a.1 + ((b.1 - a.1) as f64 * t).round() as i64;
        for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
            put(img, x + dx, y + dy, colour);
        }
    }
}

/// Several labelled series in one frame, each in its own colour, with a legend to the right
/// of the frame (outside it, so it never hides a point). Points outside the ranges are clamped to the frame edge; NaN points
/// are skipped (and break a joined curve).
pub fn series_plot(
    series: &[Series],
    x_range: (f64, f64),
    y_range: (f64, f64),
    title: &str,
    x_label: &str,
    y_label: &str,
) -> RgbImage {
    let longest = series
        .iter()
        .map(|s| text_width(s.label))
        .max()
        .unwrap_or(0);
    let legend_left = WIDTH as i64 + 4;
    let mut img = RgbImage::from_pixel((legend_left + longest + 32) as u32, HEIGHT, PAPER);
    let frame = Frame { x_range, y_range };
    frame.draw(&mut img, title, x_label, y_label);
    let to_screen = |(x, y): (f64, f64)| {
        (
            frame.px(x.clamp(x_range.0, x_range.1)),
            frame.py(y.clamp(y_range.0, y_range.1)),
        )
    };
    for (k, s) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let mut previous: Option<(i64, i64)> = None;
        for &p in &s.points {
            if !(p.0.is_finite() && p.1.is_finite()) {
                previous = None;
                continue;
            }
            let here = to_screen(p);
            if let (true, Some(prev)) = (s.joined, previous) {
                segment(&mut img, prev, here, colour, s.dashed);
            }
            for dy in -2..=2i64 {
                for dx in -2..=2i64 {
                    if dx.abs() + dy.abs() <= 2 {
                        put(&mut img, here.0 + dx, here.1 + dy, colour);
                    }
                }
            }
            previous = Some(here);
        }
        let lx = legend_left;
        let ly = TOP + 4 + k as i64 * 14;
        segment(&mut img, (lx, ly + 5), (lx + 16, ly + 5), colour, s.dashed);
        draw_text(&mut img, lx + 22, ly, s.label);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_and_clamps_to_end_bins() {
        let (_, counts) = histogram(
            &[0.1, 0.2, 0.6, 5.0, -1.0, f64::NAN],
            2,
            (0.0, 1.0),
            "t",
            "x",
        );
        assert_eq!(counts, vec![3, 2]);
    }

    #[test]
    fn scatter_marks_points_in_colour() {
        let img = scatter(&[(0.5, 0.5)], (0.0, 1.0), (0.0, 1.0), "t", "x", "y");
        let frame = Frame {
            x_range: (0.0, 1.0),
            y_range: (0.0, 1.0),
        };
        let (x, y) = (frame.px(0.5), frame.py(0.5));
        assert_eq!(*img.get_pixel(x as u32, y as u32), MARK);
    }

    #[test]
    fn series_plot_draws_each_series_in_its_own_colour() {
        let series = [
            Series {
                label: "a",
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                joined: true,
                dashed: false,
            },
            Series {
                label: "b",
                points: vec![(0.0, 1.0), (f64::NAN, 0.5), (1.0, 0.0)],
                joined: true,
                dashed: true,
            },
        ];
        let img = series_plot(&series, (0.0, 1.0), (0.0, 1.0), "t", "x", "y");
        let frame = Frame {
            x_range: (0.0, 1.0),
            y_range: (0.0, 1.0),
        };
        // Midpoint of series a's segment, and series b's first point.
        let (x, y) = (frame.px(0.5), frame.py(0.5));
        assert_eq!(*img.get_pixel(x as u32, y as u32), PALETTE[0]);
        let (x, y) = (frame.px(0.0), frame.py(1.0));
        assert_eq!(*img.get_pixel(x as u32, y as u32), PALETTE[1]);
        // The legend sits right of the frame, where no data is drawn.
        let legend_swatch =
            (WIDTH..img.width()).any(|x| (0..HEIGHT).any(|y| *img.get_pixel(x, y) == PALETTE[0]));
        assert!(legend_swatch, "legend outside the frame");
    }
}
