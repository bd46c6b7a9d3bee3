//! A scratch directory under TMPDIR for what is written locally before it is put on an
//! object store, removed when dropped.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// A new directory under TMPDIR, removed with its contents when dropped.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A new directory named `skyql-{what}-{pid}-{nanos}`.
    pub fn new(what: &str) -> Result<ScratchDir> {
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
