//! A catalogue on disk: a directory with `manifest.json`, one immutable version directory
//! of Parquet tables, and the rejects of every ingest.
//!
//! ```text
//! catalog/
//!   manifest.json            tables, row counts, schema version, ingest runs
//!   v000002/                 the current version (the manifest names it)
//!     images.parquet  fields.parquet  quarters.parquet  inputs.parquet
//!     measurements/field=lm055/part-000002-0000.parquet ...
//!     stars/field=lm055/part-000002.parquet ...
//!   rejects/ingest-000002.tsv
//! ```
//! An ingest builds the next version beside the current one (unchanged files are hard
//! links), then switches the manifest with a rename: readers see the old or the new
//! catalogue, never a mix, and an interrupted ingest leaves the old one in place.

pub mod manifest;
pub mod parquet_io;
pub mod session;
pub mod star_field_pruning;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use manifest::{Manifest, TableEntry};

/// Writes `bytes` to `path` through a temporary file in the same directory, then renames.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary_name(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// `dir/.name.partial-PID`: where a file is written before its rename.
pub fn temporary_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Name of a version directory.
pub fn version_dir_name(version: u64) -> String {
    format!("v{version:06}")
}

/// An opened catalogue: its directory and manifest.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The catalogue directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Catalog {
    /// Opens the catalogue at `dir`, failing clearly when there is none.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!(
                "catalogue {} does not exist (create it with `skyql ingest`)",
                dir.display()
            );
        }
        let Some(manifest) = Manifest::read(dir)? else {
            bail!(
                "{} is not a skyql catalogue: no manifest.json",
                dir.display()
            );
        };
        if manifest.schema_version > crate::schema::SCHEMA_VERSION {
            bail!(
                "catalogue {} has schema version {}; this skyql reads up to {}",
                dir.display(),
                manifest.schema_version,
                crate::schema::SCHEMA_VERSION
            );
        }
        Ok(Catalog {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Directory of the current version.
    pub fn version_dir(&self) -> PathBuf {
        self.dir.join(&self.manifest.version_dir)
    }

    /// Path of a table of the current version.
    pub fn table_path(&self, table: &str) -> Option<PathBuf> {
        let entry = self.manifest.tables.get(table)?;
        Some(self.version_dir().join(&entry.path))
    }
}

/// An exclusive lock on a catalogue directory for the time of an ingest.
#[derive(Debug)]
pub struct WriteLock {
    path: PathBuf,
}

impl WriteLock {
    /// Takes the lock, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create catalogue directory {}", dir.display()))?;
        let path = dir.join(".ingest.lock");
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write;
                let _ = writeln!(f, "{}", std::process::id());
                Ok(WriteLock { path })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let pid = holder.trim();
                let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
                if alive {
                    bail!(
                        "another ingest (process {pid}) is writing {}; wait for it to finish",
                        dir.display()
                    );
                }
                // The holder died: its partial version is discarded by the next ingest.
                std::fs::remove_file(&path).ok();
                Self::acquire(dir)
            }
            Err(e) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
