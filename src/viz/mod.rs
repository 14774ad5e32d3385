//! Pictures: filter-bank montages and simple plots written as PNG.

pub mod montage;
pub mod plots;
