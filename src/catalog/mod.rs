//! A catalogue on disk: a directory with `manifest.json`, one immutable version directory
//! of Parquet tables, and the rejects of every ingest.
//!
//! ```text
//! catalog/
//!   manifest.json            tables, their files (size, rows, CRC-32), schema version, runs
//!   .write.lock              the writers' lock (flock)
//!   v000002/                 the current version (the manifest names it)
//!     conventions.toml       the survey conventions the version was written with
//!     images.parquet  fields.parquet  quarters.parquet  inputs.parquet
//!     measurements/field=lm055/part-000002-0000.parquet ...
//!     stars/field=lm055/part-000002.parquet ...
//!   rejects/ingest-000002.tsv
//! ```
//! A write ([`version::VersionWriter`]) builds the next version beside the current one
//! (unchanged files are hard links), syncs it, renames it into place, then switches the
//! manifest with a durable rename: readers see the old or the new catalogue, never a mix,
//! and a crash at any step leaves the old one, which the next write recovers from.

pub mod block_checksums;
pub mod crash;
pub mod durable;
pub mod lease;
pub mod lock;
pub mod manifest;
pub mod page_cache_read;
pub mod parquet_io;
pub mod remote;
pub mod remote_write;
pub mod summary;
pub mod verify;
pub mod version;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::conventions::Conventions;
pub use durable::{atomic_write, temporary_name};
pub use lock::WriteLock;
pub use manifest::{DataFile, Manifest, TableEntry};

/// File name of the conventions a version was written with, inside the version directory.
pub const CONVENTIONS_FILE: &str = "conventions.toml";

/// Name of a version directory.
pub fn version_dir_name(version: u64) -> String {
    format!("v{version:06}")
}

/// The version number of a version directory name (`v000002` -> 2).
pub fn parse_version_dir_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('v')?;
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// An opened catalogue: its directory and (validated) manifest.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The catalogue directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// For a catalogue on an object store: where (`dir` is then its URL as text).
    pub remote: Option<std::sync::Arc<remote::RemoteCatalog>>,
}

impl Catalog {
    /// Opens the catalogue at `dir`: the manifest is validated, and every data file it
    /// lists must exist with its size, so that a query never answers from part of a table.
    pub fn open(dir: &Path) -> Result<Self> {
        if let Some(url) = crate::object_stores::remote_url(dir) {
            return remote::open_blocking(&url);
        }
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
        let catalog = Catalog {
            dir: dir.to_path_buf(),
            manifest,
            remote: None,
        };
        catalog.check_files()?;
        Ok(catalog)
    }

    /// Directory of the current version.
    pub fn version_dir(&self) -> PathBuf {
        self.dir.join(&self.manifest.version_dir)
    }

    /// The path of one data file of a table.
    pub fn data_file_path(&self, entry: &TableEntry, file: &DataFile) -> PathBuf {
        let table = self.version_dir().join(&entry.path);
        if file.path.is_empty() {
            table
        } else {
            table.join(&file.path)
        }
    }

    /// Checks that the version directory is a directory inside the catalogue, not a link
    /// (through which every read would leave the catalogue).
    pub fn check_version_dir(&self) -> Result<()> {
        if self.remote.is_some() {
            return Ok(());
        }
        let version = self.version_dir();
        let meta = std::fs::symlink_metadata(&version).with_context(|| {
            format!(
                "catalogue {}: its current version {} is missing",
                self.dir.display(),
                version.display()
            )
        })?;
        if !meta.is_dir() {
            bail!(
                "catalogue {}: {} is not a directory of the catalogue (a link or a file)",
                self.dir.display(),
                version.display()
            );
        }
        Ok(())
    }

    /// Checks that the version directory is a directory inside the catalogue (not a link)
    /// and that every listed data file exists with its recorded size.
    pub fn check_files(&self) -> Result<()> {
        // A remote catalogue's files are checked as they are read (size and blocks).
        if self.remote.is_some() {
            return Ok(());
        }
        self.check_version_dir()?;
        let version = self.version_dir();
        // Every directory between the version and a file is a real directory: a linked
        // partition directory would have queries read (and writes carry) files from
        // outside the catalogue.
        let mut dirs = std::collections::BTreeSet::new();
        for entry in self.manifest.tables.values() {
            for file in &entry.data_files {
                let path = self.data_file_path(entry, file);
                let mut dir = path.parent();
                while let Some(d) = dir.filter(|d| d.starts_with(&version) && *d != version) {
                    dirs.insert(d.to_path_buf());
                    dir = d.parent();
                }
            }
        }
        for dir in &dirs {
            if std::fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
                bail!(
                    "{} is not a directory of the catalogue (a link or a file): the catalogue is damaged (see `skyql catalog verify`)",
                    dir.display()
                );
            }
        }
        let files: Vec<(&String, &TableEntry, &DataFile)> = (self.manifest.tables.iter())
            .flat_map(|(name, entry)| entry.data_files.iter().map(move |f| (name, entry, f)))
            .collect();
        // A `statx` per file: big catalogues (357 files at 10^9 measurements) check their
        // second half on another thread; the first damaged file in manifest order is the
        // one reported either way.
        let half = if files.len() < 64 {
            files.len()
        } else {
            files.len().div_ceil(2)
        };
        let (first, second) = files.split_at(half);
        let check = |part: &[(&String, &TableEntry, &DataFile)]| {
            part.iter().try_for_each(|f| self.check_file(*f))
        };
        std::thread::scope(|scope| {
            let second = (!second.is_empty()).then(|| scope.spawn(|| check(second)));
            let first = check(first);
            let second = second.map_or(Ok(()), |h| {
                h.join()
                    .unwrap_or_else(|_| bail!("checking the files failed"))
            });
            first.and(second)
        })
    }

    /// Checks that one data file exists, is a regular file and has its recorded size.
    fn check_file(&self, (name, entry, file): (&String, &TableEntry, &DataFile)) -> Result<()> {
        let path = self.data_file_path(entry, file);
        let size = std::fs::symlink_metadata(&path).map(|m| (m.is_file(), m.len()));
        match size {
            Ok((true, n)) if n == file.bytes => Ok(()),
            Ok((true, n)) => bail!(
                "table {name}: {} has {n} bytes where the manifest records {}: the catalogue is damaged (see `skyql catalog verify`)",
                path.display(),
                file.bytes
            ),
            Ok((false, _)) => bail!(
                "table {name}: {} is not a regular file: the catalogue is damaged",
                path.display()
            ),
            Err(e) => bail!(
                "table {name}: data file {} is missing ({e}): the catalogue is damaged (see `skyql catalog verify`)",
                path.display()
            ),
        }
    }

    /// What the current version's directory holds beyond its manifest: files it does not
    /// list, links (to files or directories, never followed) and special files, with the
    /// reason. Queries never read them and a write refuses to carry them into the next
    /// version; `skyql catalog verify` reports them.
    pub fn unlisted_entries(&self) -> Result<Vec<(PathBuf, &'static str)>> {
        // Readers of a remote catalogue see only what the manifest lists (no listing).
        if self.remote.is_some() {
            return Ok(Vec::new());
        }
        let version = self.version_dir();
        let mut listed = std::collections::HashSet::new();
        for entry in self.manifest.tables.values() {
            for file in &entry.data_files {
                listed.insert(self.data_file_path(entry, file));
            }
        }
        listed.insert(version.join(CONVENTIONS_FILE));
        let mut out = Vec::new();
        let mut stack = vec![version];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot list {}", dir.display()))?;
            for entry in entries {
                let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
                let (path, kind) = (entry.path(), entry.file_type()?);
                if kind.is_symlink() {
                    out.push((path, "a link"));
                } else if kind.is_dir() {
                    // Empty directories are harmless (a table without files has one).
                    stack.push(path);
                } else if !kind.is_file() {
                    out.push((path, "a special file (FIFO, socket or device)"));
                } else if !listed.contains(&path) {
                    out.push((path, "a file the manifest does not list"));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The survey conventions of the current version: the `conventions.toml` written with
    /// it, else the compiled-in EROS-2 table for an EROS-2 catalogue, else none.
    pub fn conventions(&self) -> Result<Option<Conventions>> {
        if let Some(remote) = &self.remote {
            if let Some(text) = &remote.conventions {
                let name = format!(
                    "{}/{}/{CONVENTIONS_FILE}",
                    remote.url, self.manifest.version_dir
                );
                return Conventions::from_toml(text)
                    .with_context(|| format!("in {name}"))
                    .map(Some);
            }
            let eros2 = Conventions::eros2()?;
            return Ok((self.manifest.survey == eros2.survey).then_some(eros2));
        }
        let path = self.version_dir().join(CONVENTIONS_FILE);
        if path.is_file() {
            return Conventions::from_file(&path).map(Some);
        }
        let eros2 = Conventions::eros2()?;
        Ok((self.manifest.survey == eros2.survey).then_some(eros2))
    }
}
