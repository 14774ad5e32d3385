//! NumPy `.npy` reading and writing.
//!
//! We write float32, little-endian, C order, with the header byte-for-byte as NumPy's
//! `np.save` writes it (format 1.0, keys sorted, 21 digits of spare room after the first
//! axis, padded so the data starts on a 64-byte boundary). We read float32 or float64, little-
//! or big-endian, C or Fortran order, and return float32 in C order. The reader validates
//! the header against the file length before it allocates, so a header that lies about its
//! shape is an error and never a huge allocation. [`parse`] works on a byte slice and is the
//! fuzzing entry point; [`MappedNpy`] maps a large float32 file without reading it.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy aligns the data to this many bytes.
const ARRAY_ALIGN: usize = 64;
/// NumPy leaves room for the first axis to grow to this many digits (`GROWTH_AXIS_MAX_DIGITS`).
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// No sane header is longer; refusing longer ones bounds what a hostile file can make us read.
const MAX_HEADER_LEN: usize = 1 << 20;

/// Element type and byte order of the stored data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32 { little_endian: bool },
    F64 { little_endian: bool },
}

impl Dtype {
    /// The NumPy `descr` string, for messages.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 {
                little_endian: true,
            } => "<f4",
            Dtype::F32 {
                little_endian: false,
            } => ">f4",
            Dtype::F64 {
                little_endian: true,
            } => "<f8",
            Dtype::F64 {
                little_endian: false,
            } => ">f8",
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 { .. } => 4,
            Dtype::F64 { .. } => 8,
        }
    }
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub dtype: Dtype,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub data_offset: usize,
}

impl Header {
    /// Number of elements, or None if the product overflows.
    pub fn element_count(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }
}

/// A float32 array in C order, whatever the file stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Array {
    /// The array as a matrix of `shape[0]` rows and the product of the other axes as
    /// columns, in row-major order: the (patches, pixels) view of a patch file.
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [] => (1, 1),
            [n] => (*n, 1),
            [n, rest @ ..] => (*n, rest.iter().product()),
        }
    }
}

fn bad(path: &Path, field: &str, value: impl std::fmt::Display, reason: &str) -> Error {
    Error::bad_input(path, field, value, reason)
}

/// Parses the header at the start of `bytes`. `path` only labels errors.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<Header> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(
            path,
            "magic",
            format!("{:?}", &bytes[..bytes.len().min(6)]),
            "not a .npy file (expected \\x93NUMPY)",
        ));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_bytes, utf8) = match major {
        1 => (2, false),
        2 => (4, false),
        3 => (4, true),
        _ => {
            return Err(bad(
                path,
                "version",
                format!("{major}.{minor}"),
                "unsupported .npy format version (1.0, 2.0 and 3.0 are supported)",
            ));
        }
    };
    if bytes.len() < 8 + len_bytes {
        return Err(bad(
            path,
            "header_len",
            "missing",
            "file ends inside the header",
        ));
    }
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    if header_len > MAX_HEADER_LEN {
        return Err(bad(
            path,
            "header_len",
            header_len,
            "header is implausibly long",
        ));
    }
    let start = 8 + len_bytes;
    let data_offset = start + header_len;
    if bytes.len() < data_offset {
        return Err(bad(
            path,
            "header_len",
            header_len,
            "file ends inside the header",
        ));
    }
    let text = &bytes[start..data_offset];
    let text = if utf8 {
        std::str::from_utf8(text)
            .map_err(|_| bad(path, "header", "non-UTF-8", "header is not UTF-8"))?
    } else {
        if !text.is_ascii() {
            return Err(bad(
                path,
                "header",
                "non-ASCII",
                "a version 1/2 header must be ASCII",
            ));
        }
        std::str::from_utf8(text).expect("ASCII is UTF-8")
    };
    let dict = parse_dict(text).ok_or_else(|| {
        bad(
            path,
            "header",
            format!("{:?}", text.trim_end()),
            "cannot parse the header dictionary",
        )
    })?;
    let descr = dict
        .descr
        .ok_or_else(|| bad(path, "descr", "missing", "header has no 'descr'"))?;
    let dtype = match descr.as_str() {
        "<f4" | "=f4" => Dtype::F32 {
            little_endian: true,
        },
        ">f4" => Dtype::F32 {
            little_endian: false,
        },
        "<f8" | "=f8" => Dtype::F64 {
            little_endian: true,
        },
        ">f8" => Dtype::F64 {
            little_endian: false,
        },
        other => {
            return Err(bad(
                path,
                "descr",
                format!("'{other}'"),
                "only float32 ('<f4') and float64 ('<f8') arrays are supported; convert with arr.astype(np.float32)",
            ));
        }
    };
    let fortran_order = dict.fortran_order.ok_or_else(|| {
        bad(
            path,
            "fortran_order",
            "missing",
            "header has no 'fortran_order'",
        )
    })?;
    let shape = dict
        .shape
        .ok_or_else(|| bad(path, "shape", "missing", "header has no 'shape'"))?;
    let header = Header {
        dtype,
        fortran_order,
        shape,
        data_offset,
    };
    if header
        .element_count()
        .and_then(|n| n.checked_mul(dtype.size()))
        .is_none()
    {
        return Err(bad(
            path,
            "shape",
            format!("{:?}", header.shape),
            "the shape's size overflows",
        ));
    }
    Ok(header)
}

#[derive(Default)]
struct Dict {
    descr: Option<String>,
    fortran_order: Option<bool>,
    shape: Option<Vec<usize>>,
}

/// Parses the Python dict literal NumPy writes: `{'descr': '<f4', 'fortran_order': False,
/// 'shape': (3, 4), }`. Only the three keys NumPy writes are accepted.
fn parse_dict(text: &str) -> Option<Dict> {
    let s = text.trim();
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    let mut dict = Dict::default();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let quote = rest.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let end = rest[1..].find(quote)? + 1;
        let key = &rest[1..end];
        rest = rest[end + 1..].trim_start().strip_prefix(':')?.trim_start();
        match key {
            "descr" => {
                let q = rest.chars().next()?;
                if q != '\'' && q != '"' {
                    return None;
                }
                let e = rest[1..].find(q)? + 1;
                dict.descr = Some(rest[1..e].to_string());
                rest = &rest[e + 1..];
            }
            "fortran_order" => {
                if let Some(r) = rest.strip_prefix("True") {
                    dict.fortran_order = Some(true);
                    rest = r;
                } else if let Some(r) = rest.strip_prefix("False") {
                    dict.fortran_order = Some(false);
                    rest = r;
                } else {
                    return None;
                }
            }
            "shape" => {
                let r = rest.strip_prefix('(')?;
                let close = r.find(')')?;
                let mut dims = Vec::new();
                for part in r[..close].split(',') {
                    let part = part.trim();
                    if part.is_empty() {
                        continue;
                    }
                    // Python 2 era files may write long integers as `3L`.
                    let digits = part.strip_suffix('L').unwrap_or(part);
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    dims.push(digits.parse::<usize>().ok()?);
                }
                dict.shape = Some(dims);
                rest = &r[close + 1..];
            }
            _ => return None,
        }
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(dict)
}

/// Checks that the data section holds exactly what the header claims.
fn check_data_len(header: &Header, available: u64, path: &Path) -> Result<usize> {
    let need = header.element_count().unwrap_or(usize::MAX) as u128 * header.dtype.size() as u128;
    if need != available as u128 {
        return Err(bad(
            path,
            "shape",
            format!("{:?}", header.shape),
            &format!(
                "the header claims {need} bytes of data but the file holds {available} after the header{}",
                if (available as u128) < need {
                    " (truncated?)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(need as usize)
}

/// Parses a whole `.npy` file held in memory. Never panics; `path` only labels errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Array> {
    let header = parse_header(bytes, path)?;
    let data = &bytes[header.data_offset..];
    check_data_len(&header, data.len() as u64, path)?;
    Ok(decode(&header, data))
}

fn decode(header: &Header, data: &[u8]) -> Array {
    let values: Vec<f32> = match header.dtype {
        Dtype::F32 { little_endian } => data
            .chunks_exact(4)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                if little_endian {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                }
            })
            .collect(),
        Dtype::F64 { little_endian } => data
            .chunks_exact(8)
            .map(|c| {
                let b: [u8; 8] = c.try_into().expect("chunk of 8");
                (if little_endian {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                }) as f32
            })
            .collect(),
    };
    let data = if header.fortran_order && header.shape.len() > 1 {
        fortran_to_c(&values, &header.shape)
    } else {
        values
    };
    Array {
        shape: header.shape.clone(),
        data,
    }
}

/// Reorders a column-major (Fortran) array into row-major (C) order.
fn fortran_to_c(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let n = values.len();
    let mut out = vec![0.0f32; n];
    let nd = shape.len();
    let mut index = vec![0usize; nd];
    // Walk C order; compute the Fortran offset of each multi-index.
    let mut f_strides = vec![1usize; nd];
    for k in 1..nd {
        f_strides[k] = f_strides[k - 1] * shape[k - 1];
    }
    for slot in out.iter_mut() {
        let off: usize = index.iter().zip(&f_strides).map(|(i, s)| i * s).sum();
        *slot = values[off];
        for k in (0..nd).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// Reads a `.npy` file as float32 in C order. The header is checked against the file's
/// length before the data is read.
pub fn read(path: &Path) -> Result<Array> {
    use std::io::Read;
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let file_len = file.metadata().map_err(read_err)?.len();
    let mut head = vec![0u8; (file_len.min(4096)) as usize];
    file.read_exact(&mut head).map_err(read_err)?;
    let header = match parse_header(&head, path) {
        Ok(h) => h,
        Err(_) if file_len > 4096 => {
            // A long header: read up to its claimed length (bounded by MAX_HEADER_LEN).
            let mut all = head;
            let extra =
                (file_len.min((MAX_HEADER_LEN + 16) as u64) as usize).saturating_sub(all.len());
            let mut more = vec![0u8; extra];
            file.read_exact(&mut more).map_err(read_err)?;
            all.extend_from_slice(&more);
            parse_header(&all, path)?
        }
        Err(e) => return Err(e),
    };
    let data_len = check_data_len(&header, file_len - header.data_offset as u64, path)?;
    let mut data = vec![0u8; data_len];
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(header.data_offset as u64))
        .map_err(read_err)?;
    file.read_exact(&mut data).map_err(read_err)?;
    Ok(decode(&header, &data))
}

/// Fails unless every value of the row-major `data` (`cols` values a row) read from `path`
/// is finite, naming the first offending entry as "`row` i `col` j" (for example
/// "patch 2 pixel 5") with its value and `reason`.
pub fn ensure_finite(
    path: &Path,
    data: &[f32],
    cols: usize,
    (row, col): (&str, &str),
    reason: &str,
) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(at) => Err(Error::bad_input(
            path,
            &format!("{row} {} {col} {}", at / cols.max(1), at % cols.max(1)),
            data[at],
            reason.to_string(),
        )),
    }
}

/// Like [`ensure_finite`], and also refuses values whose magnitude exceeds `limit`: the
/// first offending value (in row-major order) is named by row and column.
pub fn ensure_bounded(
    path: &Path,
    data: &[f32],
    cols: usize,
    (row, col): (&str, &str),
    limit: f32,
) -> Result<()> {
    use rayon::prelude::*;
    use std::cmp::Ordering::{Equal, Less};
    // Parallel search, but the reported value is the first in file order. NaN compares as
    // None, so it is out of bounds as well.
    let out_of_bounds = |v: &f32| !matches!(v.abs().partial_cmp(&limit), Some(Less | Equal));
    match data.par_iter().position_first(out_of_bounds) {
        None => Ok(()),
        Some(at) => {
            let v = data[at];
            let reason = if v.is_finite() {
                format!(
                    "values beyond +-{limit:e} overflow float32 sums of products while \
                     learning or coding; rescale the data (whitened patches have unit variance)"
                )
            } else {
                "every value must be a finite number".to_string()
            };
            Err(Error::bad_input(
                path,
                &format!("{row} {} {col} {}", at / cols.max(1), at % cols.max(1)),
                v,
                reason,
            ))
        }
    }
}

/// Reads a 2-D `.npy` file as (rows, cols, row-major data), naming `what` in errors.
pub fn read_matrix(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let array = read(path)?;
    if array.shape.len() != 2 {
        return Err(bad(
            path,
            "shape",
            format!("{:?}", array.shape),
            "expected a 2-D array (rows, columns)",
        ));
    }
    Ok((array.shape[0], array.shape[1], array.data))
}

/// The exact header bytes `np.save` writes for a little-endian float32 C-order array.
pub fn header_bytes(shape: &[usize]) -> Vec<u8> {
    let shape_repr = match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_repr}, }}");
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let hlen = dict.len() + 1;
    let padlen = ARRAY_ALIGN - ((MAGIC.len() + 2 + 2 + hlen) % ARRAY_ALIGN);
    let total = hlen + padlen;
    let mut out = Vec::with_capacity(10 + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // Format 1.0 stores the length in two bytes; our headers are far shorter than 65535.
    out.extend_from_slice(&(total as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padlen));
    out.push(b'\n');
    out
}

/// Writes float32 values to `w` in the `.npy` layout for `shape` (C order).
pub fn write_to(w: &mut impl Write, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    let expected: usize = shape.iter().product();
    assert_eq!(
        expected,
        data.len(),
        "npy shape does not match the data length"
    );
    w.write_all(&header_bytes(shape))?;
    write_values(w, data)
}

/// Appends float32 values in little-endian order, in blocks so large arrays need no copy of
/// the whole.
pub fn write_values(w: &mut impl Write, data: &[f32]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    for chunk in data.chunks(16 * 1024) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Writes a float32 array atomically to `path` (temporary name, then rename).
pub fn write(path: &Path, shape: &[usize], data: &[f32], force: bool) -> Result<()> {
    crate::io::atomic::write_with(path, force, |w| write_to(w, shape, data))
}

/// A float32, little-endian, C-order `.npy` file mapped into memory: the patch file of a
/// learning run may be larger than RAM, and the page cache then holds only what is used.
pub struct MappedNpy {
    path: PathBuf,
    map: memmap2::Mmap,
    shape: Vec<usize>,
    offset: usize,
}

impl MappedNpy {
    /// Maps `path`; only float32 little-endian C-order files can be mapped.
    pub fn open(path: &Path) -> Result<Self> {
        let read_err = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        // SAFETY: the map is read-only; a concurrent truncation by another process could
        // fault, which is the documented limit of memory-mapped input.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(read_err)?;
        let header = parse_header(&map, path)?;
        if header.dtype
            != (Dtype::F32 {
                little_endian: true,
            })
            || header.fortran_order
        {
            return Err(bad(
                path,
                "descr",
                format!(
                    "'{}', fortran_order {}",
                    header.dtype.descr(),
                    header.fortran_order
                ),
                "memory-mapped input must be float32 little-endian C order (as `extract` writes)",
            ));
        }
        check_data_len(&header, (map.len() - header.data_offset) as u64, path)?;
        if header.data_offset % 4 != 0 {
            return Err(bad(
                path,
                "header_len",
                header.data_offset,
                "data is not 4-byte aligned",
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            map,
            shape: header.shape,
            offset: header.data_offset,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// (rows, product of the remaining axes).
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [] => (1, 1),
            [n] => (*n, 1),
            [n, rest @ ..] => (*n, rest.iter().product()),
        }
    }

    /// All values, row-major.
    pub fn data(&self) -> &[f32] {
        let bytes = &self.map[self.offset..];
        // SAFETY: the data offset is 4-aligned within a page-aligned map, its length was
        // checked against the shape, and every bit pattern is a valid f32.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const f32, bytes.len() / 4) }
    }

    /// Row `i` (one patch of a patch file).
    pub fn row(&self, i: usize) -> &[f32] {
        let (_, cols) = self.rows_cols();
        &self.data()[i * cols..(i + 1) * cols]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_numpy_for_2d() {
        // np.save of np.zeros((3, 4), np.float32) with NumPy 1.23+ starts with these bytes.
        let h = header_bytes(&[3, 4]);
        assert_eq!(h.len() % 64, 0);
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn roundtrip_and_fortran() {
        let mut buf = Vec::new();
        write_to(&mut buf, &[2, 3], &[1., 2., 3., 4., 5., 6.]).unwrap();
        let a = parse(&buf, Path::new("x.npy")).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1., 2., 3., 4., 5., 6.]);
        // The same matrix stored in Fortran order: same header length, column-major data.
        let mut f = buf.clone();
        let needle = b"'fortran_order': False";
        let at = f.windows(needle.len()).position(|w| w == needle).unwrap();
        f[at..at + needle.len()].copy_from_slice(b"'fortran_order': True ");
        let off = f.len() - 24;
        for (i, v) in [1f32, 4., 2., 5., 3., 6.].iter().enumerate() {
            f[off + 4 * i..off + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        let a = parse(&f, Path::new("f.npy")).unwrap();
        assert_eq!(a.data, vec![1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn lying_header_is_an_error_not_an_allocation() {
        let mut buf = header_bytes(&[1_000_000_000_000, 144]);
        buf.extend_from_slice(&[0u8; 16]);
        let err = parse(&buf, Path::new("lie.npy")).unwrap_err();
        assert!(err.to_string().contains("shape"), "{err}");
    }
}
