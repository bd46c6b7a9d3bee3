//! `skyql catalog verify`: every data file of the current version read whole and checked
//! against the manifest (present, size, CRC-32, Parquet footer, every row decoded, row
//! count); `skyql catalog repair`: the recovery every write runs first, on demand.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::manifest::Manifest;
use super::parquet_io::decoded_rows;
use super::{Catalog, WriteLock};

/// One problem found by [`verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Table of the file.
    pub table: String,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// What [`verify`] checked and found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Files checked.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Rows decoded.
    pub rows: u64,
    /// Problems, one per damaged file.
    pub problems: Vec<Problem>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{}\ttable {}\t{}", p.path.display(), p.table, p.reason)?;
        }
        write!(
            f,
            "{} files, {:.1} MB, {} rows read: {}",
            self.files,
            self.bytes as f64 / 1e6,
            self.rows,
            if self.problems.is_empty() {
                "the catalogue is intact".to_string()
            } else {
                format!("{} damaged file(s)", self.problems.len())
            }
        )
    }
}

/// Reads every data file of the catalogue at `dir` and reports what does not match its
/// manifest. The manifest itself must be readable and valid.
pub fn verify(dir: &Path) -> Result<VerifyReport> {
    let manifest = Manifest::read(dir)?.with_context(|| {
        format!(
            "{} is not a skyql catalogue: no manifest.json",
            dir.display()
        )
    })?;
    let catalog = Catalog {
        dir: dir.to_path_buf(),
        manifest,
        remote: None,
    };
    // What every other command refuses, verify refuses too: a version directory that is a
    // link (it would read files outside the catalogue).
    catalog.check_version_dir()?;
    let mut report = VerifyReport::default();
    for (path, what) in catalog.unlisted_entries()? {
        report.problems.push(Problem {
            table: "-".into(),
            path,
            reason: format!(
                "{what}: queries never read it and writes refuse to start until it is moved out"
            ),
        });
    }
    for (name, entry) in &catalog.manifest.tables {
        for file in &entry.data_files {
            let path = catalog.data_file_path(entry, file);
            report.files += 1;
            if let Err(reason) = check_file(&path, file, &mut report) {
                report.problems.push(Problem {
                    table: name.clone(),
                    path,
                    reason,
                });
            }
        }
    }
    Ok(report)
}

fn check_file(
    path: &Path,
    file: &super::DataFile,
    report: &mut VerifyReport,
) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("missing: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() != file.bytes {
        return Err(format!("{} bytes, {} expected", meta.len(), file.bytes));
    }
    report.bytes += meta.len();
    // Read once: the checksum and the decoding both work on these bytes.
    let bytes: bytes::Bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .into();
    let (crc, blocks) = super::block_checksums::compute_bytes(&bytes);
    if crc != file.crc32 {
        return Err(format!(
            "CRC-32 {crc:08x}, {:08x} expected: the content changed",
            file.crc32
        ));
    }
    if !file.block_crc32.is_empty()
        && let Some(e) =
            super::block_checksums::first_difference(&blocks, &file.block_crc32, file.bytes)
    {
        return Err(format!("block checksums: {e}"));
    }
    let rows = decoded_rows(bytes, path).map_err(|e| format!("{e:#}"))?;
    report.rows += rows;
    if rows != file.rows {
        return Err(format!("{rows} rows decoded, {} expected", file.rows));
    }
    Ok(())
}

/// Removes the leftovers of interrupted writes (under the writers' lock); returns what
/// was removed.
pub fn repair(dir: &Path) -> Result<Vec<PathBuf>> {
    let _lock = WriteLock::acquire(dir)?;
    let manifest = Manifest::read(dir)?;
    super::version::recover(dir, manifest.as_ref())
}
