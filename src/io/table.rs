//! CSV tables with a header row, written atomically. Reports are a stable interface read
//! by pandas and spreadsheets, so every writer goes through here: one header, one row per
//! record, floats printed with Rust's shortest round-trip formatting (same input, same bytes).

use crate::error::Result;
use std::path::Path;

/// A table under construction: a header and rows of already-formatted cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; it must have one cell per column.
    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(
            row.len(),
            self.header.len(),
            "row width does not match the header"
        );
        self.rows.push(row);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the table atomically as CSV.
    pub fn write(&self, path: &Path, force: bool) -> Result<()> {
        crate::io::atomic::write_with(path, force, |w| {
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(&self.header)
                .map_err(std::io::Error::other)?;
            for row in &self.rows {
                csv.write_record(row).map_err(std::io::Error::other)?;
            }
            csv.flush()
        })
    }
}

/// Formats a float for a CSV cell: shortest round-trip text, `nan` for NaN.
pub fn cell(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else {
        format!("{v}")
    }
}
