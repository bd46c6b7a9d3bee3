//! A scratch directory under TMPDIR for what is written locally before it is put on an
//! object store, removed when dropped; the files under it and their keys.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A new directory under TMPDIR, removed with its contents when dropped; locked (`flock`
/// on the directory) while its process lives.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    _lock: File,
}

impl ScratchDir {
    /// A new directory named `skyql-{what}-{pid}-{nanos}`; those killed processes left
    /// ([`remove_orphans`]) are removed first, so that crashes do not fill TMPDIR.
    pub fn new(what: &str) -> Result<ScratchDir> {
        let tmp = std::env::temp_dir();
        remove_orphans(&tmp, what, None);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("skyql-{what}-{}-{nanos:08x}", std::process::id());
        // Created under a name no cleaner looks at, locked, then given its name: no
        // other process ever sees it unlocked.
        let hidden = tmp.join(format!(".{name}"));
        std::fs::create_dir(&hidden)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", hidden.display()))?;
        let lock = locked(&hidden).with_context(|| format!("cannot lock {}", hidden.display()));
        let path = tmp.join(name);
        let renamed = lock.and_then(|lock| {
            std::fs::rename(&hidden, &path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            Ok(lock)
        });
        match renamed {
            Ok(lock) => Ok(ScratchDir { path, _lock: lock }),
            Err(e) => {
                let _ = std::fs::remove_dir(&hidden);
                Err(e)
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `path` opened and locked (std's `try_lock`: `flock`, exclusive, without waiting); an
/// error when another open file holds its lock.
fn locked(path: &Path) -> std::io::Result<File> {
    let file = File::open(path)?;
    file.try_lock().map_err(std::io::Error::from)?;
    Ok(file)
}

/// Removes the `skyql-{what}-{pid}` and `skyql-{what}-{pid}-*` directories under `tmp`
/// that killed processes left: their process is gone from `/proc` (none is removed on a
/// system without it) and nobody holds their lock (`lock`, a file inside, or the
/// directory itself), so that a live process of another PID namespace sharing TMPDIR
/// keeps its own.
pub fn remove_orphans(tmp: &Path, what: &str, lock: Option<&str>) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!("skyql-{what}-");
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        let held = match lock {
            Some(file) => locked(&dir.join(file)),
            None => locked(&dir),
        };
        if let Ok(_held) = held {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Every file under `dir`, at any depth (directories followed, not listed).
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// The object key of `file` under `root` (`/` between parts, whatever the platform).
pub fn key_under(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_directory_is_locked_while_it_lives_and_removed_after() {
        let scratch = ScratchDir::new("locktest").unwrap();
        let path = scratch.path().to_path_buf();
        assert!(locked(&path).is_err(), "held by its owner");
        std::fs::write(path.join("a"), b"x").unwrap();
        drop(scratch);
        assert!(!path.exists());
    }

    #[test]
    fn scratch_directories_of_gone_processes_are_removed_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let orphan = tmp.path().join(format!("skyql-orphans-{gone}-0000abcd"));
        let live = tmp
            .path()
            .join(format!("skyql-orphans-{}-0000abcd", std::process::id()));
        let other = tmp.path().join(format!("skyql-else-{gone}-0000abcd"));
        let unsuffixed = tmp.path().join(format!("skyql-orphans-{gone}"));
        for dir in [&orphan, &live, &other, &unsuffixed] {
            std::fs::create_dir_all(dir.join("v1")).unwrap();
            std::fs::write(dir.join("v1/part.parquet"), b"x").unwrap();
        }
        // A directory whose lock a live process of another PID namespace holds is kept.
        let foreign = tmp.path().join(format!("skyql-orphans-{gone}-0000beef"));
        std::fs::create_dir(&foreign).unwrap();
        let _held = locked(&foreign).unwrap();
        remove_orphans(tmp.path(), "orphans", None);
        assert!(foreign.exists());
        assert!(!orphan.exists());
        assert!(!unsuffixed.exists());
        assert!(live.join("v1/part.parquet").exists());
        assert!(other.exists());
    }
}
