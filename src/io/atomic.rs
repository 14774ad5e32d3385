//! Atomic output files. Everything simplecell writes goes to a temporary name in the target's
//! folder and is renamed into place only when complete and flushed to disk, so a crash, a
//! full disk or a kill never leaves a half-written file that looks whole, and an existing
//! result is replaced only with `--force`.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Fails with [`Error::OutputExists`] if `path` exists and `force` is off, and in any case if
/// `path` cannot be a file: it names a folder (or ends in a separator), or an existing
/// ancestor is not a folder, or the folder it would go into is read-only. Commands call this
/// for every output before they start work, so a refusal costs nothing.
pub fn check_output(path: &Path, force: bool) -> Result<()> {
    let not_a_file = |reason: &str| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(reason.to_string()),
    };
    let text = path.as_os_str().to_string_lossy();
    if text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) || path.is_dir() {
        return Err(not_a_file(
            "this output is a file, but the path names a folder",
        ));
    }
    if !force && path.exists() {
        return Err(Error::OutputExists {
            path: path.to_path_buf(),
        });
    }
    // The nearest existing ancestor must be a folder we may write into.
    let mut dir = path.parent();
    while let Some(d) = dir {
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        if let Ok(meta) = std::fs::metadata(d) {
            if !meta.is_dir() {
                return Err(Error::Write {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(format!("{} is not a folder", d.display())),
                });
            }
            if meta.permissions().readonly() {
                return Err(Error::Write {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(format!(
                        "the folder {} is read-only",
                        d.display()
                    )),
                });
            }
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// A path made comparable: absolute, with its folder's symbolic links resolved (the file
/// itself need not exist yet).
fn identity(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    match (
        abs.parent().and_then(|d| d.canonicalize().ok()),
        abs.file_name(),
    ) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => abs,
    }
}

/// Fails if two of `files` ((field, path), outputs and inputs alike) are the same file, so
/// that no output overwrites an input or another output. The error names the later field
/// and the earlier one.
pub fn check_distinct(files: &[(&str, &Path)]) -> Result<()> {
    let ids: Vec<PathBuf> = files.iter().map(|(_, p)| identity(p)).collect();
    for j in 1..files.len() {
        if let Some(i) = (0..j).find(|&i| ids[i] == ids[j]) {
            return Err(Error::param(
                files[j].0,
                files[j].1.display(),
                format!(
                    "is the same file as `{}` ({}); every output must be a file of its own, \
                     distinct from the inputs",
                    files[i].0,
                    files[i].1.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The temporary name of `target` for process `pid`: `.NAME.tmp-PID` in its folder.
fn temp_name(name: &str, pid: u32) -> String {
    format!(".{name}.tmp-{pid}")
}

/// Removes `.NAME.tmp-PID` files in `dir` left by processes that no longer exist (a
/// `kill -9`, a power cut), so they do not pile up. Only the exact temporary names of
/// `name` are touched, and only on systems with `/proc` to tell whether a process lives.
fn remove_stale_temps(dir: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates `dir` (and parents), mapping failures to a write error that names it.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Folders created for a job's outputs. Dropped without [`CreatedDirs::keep`] (the job
/// failed), it removes those of them that are still empty, so a refused or failed job leaves
/// no empty folder behind; a folder holding anything is never removed.
#[must_use]
pub struct CreatedDirs {
    /// Deepest first.
    dirs: Vec<PathBuf>,
}

impl CreatedDirs {
    /// The job succeeded: keep the folders.
    pub fn keep(mut self) {
        self.dirs.clear();
    }
}

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // Fails, harmlessly, on a folder that is not empty.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Creates `dir` (and parents) like [`ensure_dir`], remembering which folders were new.
pub fn create_dirs(dir: &Path) -> Result<CreatedDirs> {
    let mut dirs = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        dirs.push(p.to_path_buf());
        d = p.parent();
    }
    ensure_dir(dir)?;
    Ok(CreatedDirs { dirs })
}

/// Removes those of `paths` that exist as files: what `--force` does before a job starts
/// over, so an interrupted forced run never leaves an older result beside newer files.
/// Only the job's own output names are passed; a folder at one of them is an error.
pub fn remove_outputs(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(Error::Write {
                    path: path.clone(),
                    source: std::io::Error::other("an output name is taken by a folder"),
                });
            }
            Ok(_) => std::fs::remove_file(path).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?,
            Err(_) => {}
        }
    }
    Ok(())
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
        remove_stale_temps(&dir, &name);
        let temp = dir.join(temp_name(&name, std::process::id()));
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

    /// Flushes, syncs and renames the file into place. On any failure (a full disk, a target
    /// that became a folder) the temporary file is removed.
    pub fn commit(mut self) -> Result<()> {
        let result = self.finish();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        result
    }

    fn finish(&mut self) -> Result<()> {
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
