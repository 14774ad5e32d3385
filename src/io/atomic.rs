//! Atomic output files. Everything simplecell writes goes to a temporary name in the target's
//! folder and is renamed into place only when complete and flushed to disk, so a crash, a
//! full disk or a kill never leaves a half-written file that looks whole, and an existing
//! result is replaced only with `--force`.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Fails with [`Error::OutputExists`] if `path` exists and `force` is off. Commands call this
/// for every output before they start work, so a refusal costs nothing.
pub fn check_output(path: &Path, force: bool) -> Result<()> {
    if !force && path.exists() {
        return Err(Error::OutputExists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Creates `dir` (and parents), mapping failures to a write error that names it.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// A file being written under a temporary name; [`AtomicFile::commit`] renames it into place.
/// Dropping it uncommitted removes the temporary file.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `target`. Refuses an existing target unless `force`.
    pub fn create(target: &Path, force: bool) -> Result<Self> {
        check_output(target, force)?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&temp).map_err(|source| Error::Write {
            path: target.to_path_buf(),
            source,
        })?;
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The buffered writer for the temporary file.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer present until commit")
    }

    /// Maps an I/O error during writing to an error naming the target.
    pub fn write_error(&self, source: std::io::Error) -> Error {
        Error::Write {
            path: self.target.clone(),
            source,
        }
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("writer present until commit");
        let target = self.target.clone();
        let werr = |source| Error::Write {
            path: target.clone(),
            source,
        };
        let file = writer.into_inner().map_err(|e| werr(e.into_error()))?;
        file.sync_all().map_err(werr)?;
        drop(file);
        std::fs::rename(&self.temp, &self.target).map_err(werr)?;
        // Make the rename itself durable; failure here is not worth failing the run.
        if let Some(dir) = self.target.parent()
            && let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `target` atomically with `fill`, which receives the buffered writer.
pub fn write_with(
    target: &Path,
    force: bool,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let mut file = AtomicFile::create(target, force)?;
    fill(file.writer()).map_err(|e| file.write_error(e))?;
    file.commit()
}

/// Writes bytes atomically.
pub fn write_bytes(target: &Path, bytes: &[u8], force: bool) -> Result<()> {
    write_with(target, force, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_existing_without_force_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_bytes(&p, b"one", false).unwrap();
        assert!(matches!(
            write_bytes(&p, b"two", false),
            Err(Error::OutputExists { .. })
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_bytes(&p, b"two", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let failed = write_with(&dir.path().join("b.txt"), false, |_| {
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "only a.txt remains: {names:?}");
    }
}
