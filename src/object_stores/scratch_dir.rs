//! A scratch directory under TMPDIR for what is written locally before it is put on an
//! object store, removed when dropped; the files under it and their keys.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A new directory under TMPDIR, removed with its contents when dropped.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A new directory named `skyql-{what}-{pid}-{nanos}`; those a killed process of this
    /// machine left (their process is gone) are removed first, so that crashes do not
    /// fill TMPDIR.
    pub fn new(what: &str) -> Result<ScratchDir> {
        remove_orphans(&std::env::temp_dir(), what);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("skyql-{what}-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        Ok(ScratchDir(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the `skyql-{what}-{pid}` and `skyql-{what}-{pid}-*` directories under `tmp`
/// whose process no longer runs (none when this system has no `/proc` to tell): what
/// killed processes left.
pub fn remove_orphans(tmp: &Path, what: &str) {
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
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
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
        remove_orphans(tmp.path(), "orphans");
        assert!(!orphan.exists());
        assert!(!unsuffixed.exists());
        assert!(live.join("v1/part.parquet").exists());
        assert!(other.exists());
    }
}
