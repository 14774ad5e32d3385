//! Pictures: filter-bank montages, and plots drawn with plotters, written as PNG.

pub mod montage;
mod plot_axes;
mod plot_canvas;
pub mod plots;
