//! The statistics of the catalogue's Parquet files as the manifest records them, handed to
//! DataFusion's listing tables as their file statistics cache: planning then knows each
//! file's rows and the range of its [`crate::schema::range_columns`] without reading its
//! footer, and a file whose range cannot hold what the query asks for (another star, a
//! cone elsewhere) is skipped without ever being opened. Files the manifest has no ranges
//! for (catalogues written by an earlier skyql) fall back to DataFusion's own footer
//! reading, cached in an ordinary statistics cache.
//!
//! Each entry carries the size and modification time the manifest records; DataFusion
//! checks them against the file it lists (`CachedFileMetadata::is_valid_for`) and reads
//! the footer of a file changed since, which then stays in the fallback cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics, TableReference};
use datafusion::execution::cache::cache_manager::{CachedFileMetadata, FileStatisticsCache};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::cache::{Cache, CacheEntryInfo, SchemaFingerprint, TableScopedPath};
use datafusion::object_store::ObjectMeta;

use crate::catalog::manifest::{ColumnRange, DataFile, RangeValue, TableEntry};

/// Memory budget of the fallback cache (DataFusion's default for its own).
const FALLBACK_CACHE_BYTES: usize = 20 * 1024 * 1024;

/// The cache: the manifest's facts first, DataFusion's footer reading behind them.
pub struct ManifestStatistics {
    /// Files by their path inside the table (`field=lm055/part-000002-0000.parquet`).
    files: HashMap<String, DataFile>,
    /// The table's object-store prefix (`tmp/cat/v000003/measurements`).
    table_prefix: String,
    file_schema: SchemaRef,
    fingerprint: Arc<SchemaFingerprint>,
    fallback: DefaultCache<TableScopedPath, CachedFileMetadata>,
}

impl std::fmt::Debug for ManifestStatistics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestStatistics")
            .field("table_prefix", &self.table_prefix)
            .field("files", &self.files.len())
            .finish()
    }
}

impl ManifestStatistics {
    /// The cache of the catalogue's table `entry`, whose listing table's URL has the
    /// object-store prefix `table_prefix`, whose files have the schema `file_schema`
    /// (without the partition columns) and the key columns `range_columns`. A file the
    /// manifest does not give every key column's range (and its modification time) for is
    /// left to DataFusion (the order across files needs every sort column's bounds).
    pub fn for_table(
        entry: &TableEntry,
        range_columns: &[&str],
        table_prefix: &str,
        file_schema: SchemaRef,
    ) -> Arc<FileStatisticsCache> {
        let files = entry
            .data_files
            .iter()
            .filter(|f| {
                !range_columns.is_empty() && f.has_ranges(range_columns) && f.modified_ns.is_some()
            })
            .map(|f| (f.path.clone(), f.clone()))
            .collect();
        let fingerprint = Arc::new(SchemaFingerprint::from_schema(&file_schema));
        Arc::new(ManifestStatistics {
            files,
            table_prefix: table_prefix.trim_end_matches('/').to_string(),
            file_schema,
            fingerprint,
            fallback: DefaultCache::new(FALLBACK_CACHE_BYTES)
                .with_name("skyql fallback file statistics"),
        })
    }

    /// The manifest's entry for `key`, stamped with the size and modification time the
    /// manifest records: DataFusion uses it only while the listed file still has them
    /// (otherwise it reads the footer, and `catalog verify` reports a changed file).
    fn manifest_entry(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        let rel = key
            .path
            .as_ref()
            .strip_prefix(self.table_prefix.as_str())?
            .strip_prefix('/')?;
        let file = self.files.get(rel)?;
        let meta = ObjectMeta {
            location: key.path.clone(),
            last_modified: (UNIX_EPOCH + Duration::from_nanos(file.modified_ns?)).into(),
            size: file.bytes,
            e_tag: None,
            version: None,
        };
        let statistics = file_statistics(file, &self.file_schema);
        Some(CachedFileMetadata::new(
            meta,
            Arc::clone(&self.fingerprint),
            Arc::new(statistics),
            None,
        ))
    }
}

/// What DataFusion would read from the file's footer, limited to what the manifest keeps:
/// the exact row count, and each ranged column's exact bounds and null count; every other
/// column unknown.
pub fn file_statistics(file: &DataFile, file_schema: &SchemaRef) -> Statistics {
    let column_statistics = file_schema
        .fields()
        .iter()
        .map(|field| {
            file.column_ranges
                .get(field.name())
                .and_then(|range| column_statistics(range, field.data_type()))
                .unwrap_or_else(ColumnStatistics::new_unknown)
        })
        .collect();
    Statistics {
        num_rows: Precision::Exact(file.rows as usize),
        total_byte_size: Precision::Absent,
        column_statistics,
    }
}

/// A range as the statistics of a column of type `data_type`; `None` when the range's
/// values are not of that type.
fn column_statistics(range: &ColumnRange, data_type: &DataType) -> Option<ColumnStatistics> {
    let scalar = |value: &RangeValue| match (value, data_type) {
        (RangeValue::Int(v), DataType::Int64) => Some(ScalarValue::Int64(Some(*v))),
        (RangeValue::Float(v), DataType::Float64) => Some(ScalarValue::Float64(Some(*v))),
        (RangeValue::Int(v), DataType::Float64) => Some(ScalarValue::Float64(Some(*v as f64))),
        (RangeValue::Text(v), DataType::Utf8) => Some(ScalarValue::Utf8(Some(v.clone()))),
        _ => None,
    };
    let mut stats = ColumnStatistics::new_unknown();
    stats.min_value = Precision::Exact(scalar(&range.min)?);
    stats.max_value = Precision::Exact(scalar(&range.max)?);
    if let Some(nulls) = range.nulls {
        stats.null_count = Precision::Exact(nulls as usize);
    }
    Some(stats)
}

impl Cache<TableScopedPath, CachedFileMetadata> for ManifestStatistics {
    /// A footer DataFusion read (a file without ranges, or changed since the manifest)
    /// first, then the manifest's entry.
    fn get(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        self.fallback.get(key).or_else(|| self.manifest_entry(key))
    }

    fn put(&self, key: &TableScopedPath, value: CachedFileMetadata) -> Option<CachedFileMetadata> {
        self.fallback.put(key, value)
    }

    fn remove(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        self.fallback.remove(key)
    }

    fn contains_key(&self, key: &TableScopedPath) -> bool {
        self.get(key).is_some()
    }

    fn len(&self) -> usize {
        self.files.len() + self.fallback.len()
    }

    fn clear(&self) {
        self.fallback.clear()
    }

    fn name(&self) -> String {
        "skyql manifest file statistics".to_string()
    }

    fn cache_limit(&self) -> usize {
        self.fallback.cache_limit()
    }

    fn update_cache_limit(&self, limit: usize) {
        self.fallback.update_cache_limit(limit)
    }

    fn cache_ttl(&self) -> Option<Duration> {
        self.fallback.cache_ttl()
    }

    fn update_cache_ttl(&self, ttl: Option<Duration>) {
        self.fallback.update_cache_ttl(ttl)
    }

    fn drop_table_entries(&self, table_ref: &TableReference) -> datafusion::common::Result<()> {
        self.fallback.drop_table_entries(table_ref)
    }

    fn list_entries(
        &self,
    ) -> datafusion::common::HashMap<TableScopedPath, CacheEntryInfo<CachedFileMetadata>> {
        self.fallback.list_entries()
    }
}
