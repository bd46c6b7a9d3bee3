//! `manifest.json`: the catalogue's table of contents, replaced atomically at each ingest.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::durable::atomic_write;

/// File name of the manifest inside a catalogue directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One table of the current version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableEntry {
    /// Path of the table, relative to the version directory.
    pub path: String,
    /// Rows in the table.
    pub rows: u64,
    /// Parquet files in the table.
    pub files: u64,
    /// Hive partition columns.
    pub partition_columns: Vec<String>,
    /// Every data file, relative to the table's path, with its size, rows and checksum
    /// (empty in manifests written before integrity checks).
    #[serde(default)]
    pub data_files: Vec<DataFile>,
}

/// One Parquet file of a table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataFile {
    /// Path relative to the table's path (`field=lm055/part-000002-0000.parquet`), or
    /// empty for a table that is one file.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows, from the Parquet footer.
    pub rows: u64,
    /// CRC-32 of the whole file.
    pub crc32: u32,
    /// CRC-32 of each 64 KiB block, 8 hex digits each: every read of the file is checked
    /// against them ([`crate::catalog::block_checksums`]). Empty for a file written before
    /// block checksums (its next ingest adds them).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub block_crc32: String,
    /// Exact smallest and largest non-null value, and null count, of the table's
    /// [`crate::schema::range_columns`] in this file, from its footer: what DataFusion is
    /// given as the file's statistics so that it skips the file without reading its footer
    /// (`stars`: `healpix`; `measurements`: `star_id` and `mjd`). A column whose footer
    /// has no exact statistics is absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_ranges: BTreeMap<String, ColumnRange>,
    /// The file's modification time when the manifest was written (nanoseconds since
    /// 1970; hard links to it in later versions keep it): the manifest's statistics are
    /// used only while the file still has it and its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ns: Option<u64>,
    /// The `healpix` range of a `stars` file as manifests before `column_ranges` wrote it;
    /// read through [`DataFile::healpix_range`].
    #[serde(
        default,
        rename = "healpix_range",
        skip_serializing_if = "Option::is_none"
    )]
    pub legacy_healpix_range: Option<(i64, i64)>,
}

/// The values a column takes in one file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnRange {
    /// Smallest non-null value.
    pub min: RangeValue,
    /// Largest non-null value.
    pub max: RangeValue,
    /// Null values, when every row group's statistics count them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nulls: Option<u64>,
}

/// A bound of a [`ColumnRange`]: the column's Parquet physical value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RangeValue {
    /// INT64.
    Int(i64),
    /// DOUBLE (finite: JSON has no NaN or infinity).
    Float(f64),
    /// UTF-8 BYTE_ARRAY.
    Text(String),
}

impl DataFile {
    /// The value of the Hive partition `key` in the file's path (`lm055` for `field` in
    /// `field=lm055/part-000002-0000.parquet`).
    pub fn partition_value(&self, key: &str) -> Option<&str> {
        partition_value(&self.path, key)
    }

    /// Smallest and largest `healpix` (order 29) of a `stars` file, from its statistics:
    /// what lets a cone skip the fields it cannot touch before listing their files.
    pub fn healpix_range(&self) -> Option<(i64, i64)> {
        match self.column_ranges.get("healpix") {
            Some(ColumnRange {
                min: RangeValue::Int(lo),
                max: RangeValue::Int(hi),
                ..
            }) => Some((*lo, *hi)),
            Some(_) => None,
            None => self.legacy_healpix_range,
        }
    }

    /// Whether the file on disk (`disk`, its metadata) still has the size and modification
    /// time this entry records: the condition for trusting what the entry says about it
    /// without reading the file.
    pub fn unchanged_on_disk(&self, disk: &std::fs::Metadata) -> bool {
        disk.len() == self.bytes
            && self.modified_ns.is_some()
            && modified_ns(disk) == self.modified_ns
    }

    /// Whether the file's entry has a range for every column of `columns` (a file written
    /// by an earlier skyql, or without exact statistics, lacks some).
    pub fn has_ranges(&self, columns: &[&str]) -> bool {
        columns.iter().all(|c| self.column_ranges.contains_key(*c))
    }

    /// The file's block checksums, when the manifest has them.
    pub fn block_checksums(&self) -> Option<super::block_checksums::BlockChecksums> {
        super::block_checksums::BlockChecksums::parse(&self.block_crc32, self.bytes)
    }
}

/// A file's modification time in nanoseconds since 1970, as [`DataFile::modified_ns`]
/// records it.
pub fn modified_ns(meta: &std::fs::Metadata) -> Option<u64> {
    let since = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    u64::try_from(since.as_nanos()).ok()
}

/// The value of the Hive partition `key` in the first directory of the relative path `rel`.
pub fn partition_value<'a>(rel: &'a str, key: &str) -> Option<&'a str> {
    rel.split_once('/')?.0.strip_prefix(key)?.strip_prefix('=')
}

/// `field=X/part-....parquet` paths of a partitioned table, sorted.
pub(crate) fn partitioned_files(table_dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(table_dir)
        .with_context(|| format!("cannot list {}", table_dir.display()))?
    {
        let d = d?;
        let dir_name = d.file_name().to_string_lossy().to_string();
        if !d.file_type()?.is_dir() || !dir_name.contains('=') {
            continue;
        }
        for f in std::fs::read_dir(d.path())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().to_string();
            if name.ends_with(".parquet") && f.file_type()?.is_file() {
                out.push(format!("{dir_name}/{name}"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What one ingest run read and wrote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IngestRun {
    /// Version this run produced.
    pub version: u64,
    /// UTC time at the end of the run (seconds since 1970).
    pub finished_unix: u64,
    /// Input files or directories given.
    pub inputs: Vec<String>,
    /// Input files read.
    pub files_read: u64,
    /// Input files rejected whole.
    pub files_rejected: u64,
    /// Bytes of input read.
    pub bytes_read: u64,
    /// Values read (measurements and headers).
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Values marked missing in the inputs (99.999).
    pub rows_missing: u64,
    /// Values rejected.
    pub rows_rejected: u64,
    /// Rejects file of this run, relative to the catalogue directory.
    pub rejects_file: String,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The catalogue manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always `skyql-catalog`.
    pub format: String,
    /// Schema version of the tables.
    pub schema_version: u32,
    /// skyql version that wrote it.
    pub writer: String,
    /// Survey conventions used.
    pub survey: String,
    /// Current version number.
    pub version: u64,
    /// Directory of the current version, relative to the catalogue.
    pub version_dir: String,
    /// Tables of the current version.
    pub tables: BTreeMap<String, TableEntry>,
    /// Number of input files recorded in the `inputs` table.
    pub input_files: u64,
    /// Total size of those inputs in bytes.
    pub input_bytes: u64,
    /// Every ingest run, oldest first.
    pub runs: Vec<IngestRun>,
}

impl Manifest {
    /// Reads the manifest of the catalogue at `dir`; `Ok(None)` if there is none yet.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a skyql manifest", path.display()))?;
        m.validate()
            .with_context(|| format!("refusing the manifest {}", path.display()))?;
        Ok(Some(m))
    }

    /// Checks what the manifest names before anything is read, written or deleted by it:
    /// the format, a schema version this skyql knows, a version directory of the form
    /// skyql writes (`v` and six digits: no separator, no `..`), table and file paths
    /// made of plain names inside the version.
    pub fn validate(&self) -> Result<()> {
        if self.format != "skyql-catalog" {
            bail!("format is '{}', not 'skyql-catalog'", self.format);
        }
        if self.schema_version != crate::schema::SCHEMA_VERSION {
            bail!(
                "schema version {} is not the one this skyql reads and writes ({}); re-ingest the inputs into a new catalogue with this skyql",
                self.schema_version,
                crate::schema::SCHEMA_VERSION
            );
        }
        if self.version_dir != super::version_dir_name(self.version) {
            bail!(
                "version_dir '{}' is not '{}', the directory of version {}",
                self.version_dir,
                super::version_dir_name(self.version),
                self.version
            );
        }
        for (name, table) in &self.tables {
            if !is_plain_name(&table.path) {
                bail!("table {name}: path '{}' is not a plain name", table.path);
            }
            for f in &table.data_files {
                if !f.path.is_empty() && !f.path.split('/').all(is_plain_name) {
                    bail!(
                        "table {name}: data file '{}' is not a relative path of plain names",
                        f.path
                    );
                }
            }
        }
        Ok(())
    }

    /// Writes the manifest durably and atomically (temporary file, fsync, rename, fsync of
    /// the directory).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        atomic_write(&dir.join(MANIFEST_FILE), text.as_bytes())
    }
}

/// A file or directory name with no separator, not `.` or `..`, not empty.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_bounds_parse_back_to_the_same_bits() {
        // Values whose shortest text a plain decimal parse rounds wrongly by one ULP.
        let mut values = vec![57165.295427719364, 50270.77967734253, -0.0, 5e-324];
        let mut x = 48_000.123_456_789_f64;
        for _ in 0..10_000 {
            x = (x * 1.000_003_7 + 0.173_205_08) % 12_000.0 + 48_000.0;
            values.push(x);
        }
        for v in values {
            let range = ColumnRange {
                min: RangeValue::Float(v),
                max: RangeValue::Float(v),
                nulls: Some(0),
            };
            let text = serde_json::to_string(&range).unwrap();
            let back: ColumnRange = serde_json::from_str(&text).unwrap();
            match back.min {
                RangeValue::Float(b) => assert_eq!(b.to_bits(), v.to_bits(), "{text}"),
                other => panic!("{text} read back as {other:?}"),
            }
        }
    }
}
