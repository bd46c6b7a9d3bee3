//! Writing a catalogue version: the one staging/publish protocol of `ingest` and
//! `generate --catalog`.
//!
//! [`VersionWriter::begin`] takes the writers' lock, validates the manifest, recovers from
//! any interrupted write and checks the previous version's files, then opens a staging
//! directory `.vNNNNNN.partial`. [`VersionWriter::publish`] lists the staged files (size,
//! rows, CRC-32), fsyncs every file and directory, renames the staging directory to
//! `vNNNNNN`, fsyncs the catalogue directory, writes the manifest under a temporary name,
//! fsyncs and renames it (the commit point), fsyncs the directory again and removes the
//! previous version. Recovery recognises the leftovers of every step by their names:
//! `.vNNNNNN.partial` directories, version directories the manifest does not name, and
//! temporary files; it removes nothing else and nothing outside the catalogue.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::crash;
use super::durable::{is_temporary_name, sync_dir, sync_file};
use super::lock::WriteLock;
use super::manifest::{DataFile, IngestRun, Manifest, TableEntry, partitioned_files};
use super::parquet_io::footer_facts;
use super::{CONVENTIONS_FILE, Catalog, parse_version_dir_name, version_dir_name};
use crate::conventions::Conventions;
use crate::schema::{self, SCHEMA_VERSION};

/// A version being written: the lock, the previous manifest, the staging directory.
#[derive(Debug)]
pub struct VersionWriter {
    catalog: PathBuf,
    previous: Option<Catalog>,
    version: u64,
    staging: PathBuf,
    _lock: WriteLock,
}

/// What a published version records besides its tables.
#[derive(Debug, Clone)]
pub struct VersionRecord<'a> {
    /// Survey conventions the version was written with (kept as `conventions.toml`).
    pub conventions: &'a Conventions,
    /// The run that wrote it.
    pub run: IngestRun,
    /// Input files recorded in the `inputs` table, and their bytes.
    pub input_files: u64,
    /// Total size of those inputs.
    pub input_bytes: u64,
}

impl VersionWriter {
    /// Locks the catalogue (created if absent), recovers from interrupted writes, checks
    /// the previous version and opens the staging directory of the next one.
    pub fn begin(catalog: &Path) -> Result<Self> {
        let lock = WriteLock::acquire(catalog)?;
        crash::pause_after_lock();
        let manifest = Manifest::read(catalog)?;
        if manifest.is_none() && has_version_dirs(catalog)? {
            bail!(
                "{} holds catalogue versions but no manifest.json: refusing to start a new catalogue over them (restore manifest.json, or move the directory away)",
                catalog.display()
            );
        }
        recover(catalog, manifest.as_ref())?;
        let previous = match manifest {
            Some(m) => {
                let c = Catalog {
                    dir: catalog.to_path_buf(),
                    manifest: m,
                    remote: None,
                };
                c.check_files()?;
                if let Some((path, what)) = c.unlisted_entries()?.into_iter().next() {
                    bail!(
                        "{} is {what} inside the current version: a write never carries it into the next one; move it out of the catalogue (see `skyql catalog verify`), then write again",
                        path.display()
                    );
                }
                check_checksums(&c)?;
                Some(c)
            }
            None => None,
        };
        let version = previous.as_ref().map_or(1, |c| c.manifest.version + 1);
        let staging = catalog.join(staging_name(version));
        std::fs::create_dir(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        crash::point("version: staging directory created");
        Ok(VersionWriter {
            catalog: catalog.to_path_buf(),
            previous,
            version,
            staging,
            _lock: lock,
        })
    }

    /// The version being written.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Where the new version's files are written.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// The previous version's manifest, if any.
    pub fn previous(&self) -> Option<&Manifest> {
        self.previous.as_ref().map(|c| &c.manifest)
    }

    /// The previous version's directory, if any.
    pub fn previous_dir(&self) -> Option<PathBuf> {
        self.previous.as_ref().map(|c| c.version_dir())
    }

    /// Makes the staged version the catalogue's current one (see the module's steps) and
    /// returns its manifest.
    pub fn publish(self, record: VersionRecord<'_>) -> Result<Manifest> {
        let conventions = self.staging.join(CONVENTIONS_FILE);
        std::fs::write(&conventions, &record.conventions.source)
            .with_context(|| format!("cannot write {}", conventions.display()))?;
        crash::point("version: conventions written");
        super::summary::write_summary(&self.staging, self.previous_dir().as_deref())?;
        let tables = table_entries(&self.staging, self.previous.as_ref())?;
        sync_tree(&self.staging)?;
        let final_dir = self.catalog.join(version_dir_name(self.version));
        std::fs::rename(&self.staging, &final_dir)
            .with_context(|| format!("cannot publish {}", final_dir.display()))?;
        crash::point("version: staging renamed");
        sync_dir(&self.catalog)?;
        crash::point("version: catalogue directory synced");
        let mut runs = self.previous().map(|m| m.runs.clone()).unwrap_or_default();
        runs.push(record.run);
        let manifest = Manifest {
            format: "skyql-catalog".into(),
            schema_version: SCHEMA_VERSION,
            writer: format!("skyql {}", env!("CARGO_PKG_VERSION")),
            survey: record.conventions.survey.clone(),
            version: self.version,
            version_dir: version_dir_name(self.version),
            tables,
            input_files: record.input_files,
            input_bytes: record.input_bytes,
            runs,
        };
        manifest.write(&self.catalog)?;
        crash::point("version: manifest switched");
        // A version a reader still holds (a running service) stays until a later write.
        if let Some(prev) = self.previous_dir()
            && super::lease::remove_unleased(&prev)?
        {
            crash::point("version: previous version removed");
            sync_dir(&self.catalog)?;
        }
        Ok(manifest)
    }
}

fn staging_name(version: u64) -> String {
    format!(".{}.partial", version_dir_name(version))
}

fn has_version_dirs(catalog: &Path) -> Result<bool> {
    if !catalog.is_dir() {
        return Ok(false);
    }
    Ok(std::fs::read_dir(catalog)
        .with_context(|| format!("cannot list {}", catalog.display()))?
        .flatten()
        .any(|e| parse_version_dir_name(&e.file_name().to_string_lossy()).is_some()))
}

/// Removes the leftovers of interrupted writes: staging directories, version directories
/// the manifest does not name (a version renamed before the manifest switch, or the
/// previous one after it), temporary files. Directly in the catalogue directory only; a
/// staging name is removed whatever it is (a link is removed, never followed); other links
/// are left alone.
pub fn recover(catalog: &Path, manifest: Option<&Manifest>) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    if !catalog.is_dir() {
        return Ok(removed);
    }
    let current = manifest.map(|m| m.version_dir.as_str());
    for entry in
        std::fs::read_dir(catalog).with_context(|| format!("cannot list {}", catalog.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let kind = entry.file_type()?;
        let staging = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial"))
            .and_then(parse_version_dir_name)
            .is_some();
        let stale_version =
            parse_version_dir_name(&name).is_some() && Some(name.as_str()) != current;
        if staging {
            // Whatever it is: a real directory is removed with its content, anything else
            // (a link, a file) as a name, never followed.
            if kind.is_dir() {
                std::fs::remove_dir_all(entry.path())
            } else {
                std::fs::remove_file(entry.path())
            }
            .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            removed.push(entry.path());
        } else if kind.is_dir() && stale_version {
            // Left while a reader holds it (its lease), removed by a later write.
            if super::lease::remove_unleased(&entry.path())? {
                removed.push(entry.path());
            }
        } else if kind.is_file() && is_temporary_name(&name) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            removed.push(entry.path());
        }
    }
    if !removed.is_empty() {
        sync_dir(catalog)?;
    }
    Ok(removed)
}

/// Fsyncs every file and directory below `dir`, and `dir` itself.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            sync_file(&entry.path())?;
            crash::point("version: file synced");
        }
    }
    sync_dir(dir)
}

/// Checks the CRC-32 of every file of the catalogue's current version, so that a write
/// never carries a damaged file into the next version.
fn check_checksums(catalog: &Catalog) -> Result<()> {
    for (name, entry) in &catalog.manifest.tables {
        for file in &entry.data_files {
            let path = catalog.data_file_path(entry, file);
            if super::block_checksums::compute(&path)?.0 != file.crc32 {
                bail!(
                    "table {name}: {} does not match its checksum: the catalogue is damaged; nothing was written (see `skyql catalog verify`)",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// The manifest entries of every table staged in `version_dir`, with each file's size,
/// rows, CRC-32 and (stars) HEALPix range, taken from the previous manifest for files
/// hard-linked from it.
fn table_entries(
    version_dir: &Path,
    previous: Option<&Catalog>,
) -> Result<BTreeMap<String, TableEntry>> {
    let carried = carried_files(previous);
    let mut out = BTreeMap::new();
    let extra = schema::extra_tables(version_dir)?;
    let all = schema::TABLES
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str));
    for table in all {
        let partitions: Vec<String> = schema::partition_columns(table)
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (path, files) = if partitions.is_empty() {
            let p = format!("{table}.parquet");
            let exists = version_dir.join(&p).exists();
            (p, if exists { vec![String::new()] } else { vec![] })
        } else {
            let dir = version_dir.join(table);
            std::fs::create_dir_all(&dir)?;
            (table.to_string(), partitioned_files(&dir)?)
        };
        let mut data_files = Vec::new();
        for rel in files {
            let full = if rel.is_empty() {
                version_dir.join(&path)
            } else {
                version_dir.join(&path).join(&rel)
            };
            let meta = std::fs::metadata(&full)?;
            let range_columns = schema::range_columns(table);
            // A file hard-linked from the previous version keeps what its manifest says;
            // a new one is read once for its checksum and once for its footer.
            let file = match carried.get(&(meta.dev(), meta.ino())) {
                Some(f)
                    // (A table ingested from a file has no range without positions.)
                    if f.unchanged_on_disk(&meta)
                        && (f.has_ranges(range_columns) || !schema::TABLES.contains(&table))
                        && f.block_checksums().is_some() =>
                {
                    DataFile {
                        path: rel,
                        ..f.clone()
                    }
                }
                _ => {
                    let (rows, column_ranges) = footer_facts(&full, range_columns)?;
                    let (crc32, block_crc32) = super::block_checksums::compute(&full)?;
                    DataFile {
                        path: rel,
                        bytes: meta.len(),
                        rows,
                        crc32,
                        block_crc32,
                        column_ranges,
                        modified_ns: super::manifest::modified_ns(&meta),
                        legacy_healpix_range: None,
                    }
                }
            };
            data_files.push(file);
        }
        out.insert(
            table.to_string(),
            TableEntry {
                path,
                rows: data_files.iter().map(|f| f.rows).sum(),
                files: data_files.len() as u64,
                partition_columns: partitions,
                data_files,
            },
        );
    }
    Ok(out)
}

/// The previous version's file entries by (device, inode): a hard link keeps both.
fn carried_files(previous: Option<&Catalog>) -> HashMap<(u64, u64), DataFile> {
    let mut out = HashMap::new();
    let Some(c) = previous else { return out };
    for entry in c.manifest.tables.values() {
        for f in &entry.data_files {
            if let Ok(m) = std::fs::metadata(c.data_file_path(entry, f)) {
                out.insert((m.dev(), m.ino()), f.clone());
            }
        }
    }
    out
}
