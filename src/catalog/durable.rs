//! Durable, atomic file writes: a temporary name in the same directory, fsync, rename,
//! fsync of the directory (the order SQLite, Delta Lake and Iceberg rely on), and the
//! checks that keep special files (devices, FIFOs) from being replaced.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// `dir/.name.partial-PID`: where a file is written before its rename. Recovery removes
/// such names (they are never the name of a catalogue file).
pub fn temporary_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Whether `name` is a temporary name made by [`temporary_name`] for some process.
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".partial-")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Flushes a file's data and metadata to the disk.
pub fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {} to disk", path.display()))
}

/// Flushes a directory's entries (names created, renamed or removed) to the disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync directory {} to disk", dir.display()))
}

/// The parent directory of `path` (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether `path` exists and is not a regular file or a directory: a device, a FIFO or a
/// socket, which are written in place and never replaced.
pub fn is_special_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes `bytes` to `path` durably and atomically: a temporary file in the same
/// directory, fsync, rename, fsync of the directory. A crash leaves the old file or the
/// new one. A special file (device, FIFO) is written in place instead.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes, 0o666)
}

/// [`atomic_write`] of a file only its owner may read (mode 0600 from its creation):
/// the users file. Never written in place: a special file there is refused.
pub fn atomic_write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    if is_special_file(path) {
        bail!("cannot write {}: it is not a regular file", path.display());
    }
    write_atomically(path, bytes, 0o600)
}

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if is_special_file(path) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        return f
            .write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()));
    }
    if path.is_dir() {
        bail!("cannot write {}: it is a directory", path.display());
    }
    let tmp = temporary_name(path);
    let result = (|| -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {} to disk", path.display()))?;
        crate::catalog::crash::point("atomic_write: temporary file synced");
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        sync_dir(&parent_dir(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
