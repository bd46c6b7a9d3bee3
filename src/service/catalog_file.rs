//! One Parquet file of the catalogue as the service's fixed plans read it (cones, one star,
//! one light curve): what the manifest says of it, its footer and page index read once and
//! kept, its reads checked against its block checksums.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::Field;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelector,
};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;
use datafusion::parquet::file::statistics::Statistics;

use crate::catalog::Catalog;
use crate::catalog::block_checksums::{BlockChecksums, CheckedFile};
use crate::catalog::manifest::{DataFile, RangeValue, TableEntry};

/// One file of a table: where it is, its field, its `healpix` and `star_id` ranges, its
/// footer once read.
pub struct CatalogFile {
    path: PathBuf,
    /// Its field (the Hive partition), when the table is partitioned by field.
    pub field: Option<String>,
    /// Its smallest and largest `healpix`, when the manifest has them.
    pub healpix: Option<(i64, i64)>,
    /// Its smallest and largest `star_id`, when the manifest has them.
    pub star_ids: Option<(String, String)>,
    /// Its block checksums: every read is checked (none for a file written before them).
    sums: Option<BlockChecksums>,
    /// How errors name it (relative to the catalogue).
    pub name: String,
    metadata: OnceLock<ArrowReaderMetadata>,
}

impl CatalogFile {
    /// The file `f` of the table `entry` of `catalog`.
    pub fn new(catalog: &Catalog, entry: &TableEntry, f: &DataFile) -> CatalogFile {
        let star_ids = match f.column_ranges.get("star_id") {
            Some(r) => match (&r.min, &r.max) {
                (RangeValue::Text(lo), RangeValue::Text(hi)) => Some((lo.clone(), hi.clone())),
                _ => None,
            },
            None => None,
        };
        CatalogFile {
            path: catalog.data_file_path(entry, f),
            field: f.partition_value("field").map(str::to_string),
            healpix: f.healpix_range(),
            star_ids,
            sums: f.block_checksums(),
            name: format!("{}/{}/{}", catalog.manifest.version_dir, entry.path, f.path),
            metadata: OnceLock::new(),
        }
    }

    /// A file outside the catalogue (a HATS table's leaf file), with its HEALPix range and
    /// without checksums; named by its path.
    pub fn outside(path: &std::path::Path, healpix: (i64, i64)) -> CatalogFile {
        CatalogFile {
            path: path.to_path_buf(),
            field: None,
            healpix: Some(healpix),
            star_ids: None,
            sums: None,
            name: path.display().to_string(),
            metadata: OnceLock::new(),
        }
    }

    /// The file opened for reading (through its checksums) and its footer with its page
    /// index, read on the first call and kept.
    pub fn open(&self) -> Result<(CheckedFile, ArrowReaderMetadata)> {
        let reader = CheckedFile::open(&self.path, self.sums.clone(), self.name.clone())?;
        let metadata = match self.metadata.get() {
            Some(m) => m.clone(),
            None => {
                let options =
                    ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
                let m = ArrowReaderMetadata::load(&reader, options)
                    .with_context(|| format!("cannot read the footer of {}", self.name))?;
                self.metadata.get_or_init(|| m).clone()
            }
        };
        Ok((reader, metadata))
    }

    /// Whether the file may hold the star `id`: within its `star_id` range, or no range
    /// known.
    pub fn may_hold(&self, id: &str) -> bool {
        self.star_ids
            .as_ref()
            .is_none_or(|(lo, hi)| lo.as_str() <= id && id <= hi.as_str())
    }

    /// The columns `fields` (a published view's) from `batch` (the file's columns) and the
    /// file's field, cast to the view's types.
    pub fn view_columns(
        &self,
        batch: &RecordBatch,
        fields: &[Arc<Field>],
    ) -> Result<Vec<ArrayRef>> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        for field in fields {
            let array: ArrayRef = match (batch.column_by_name(field.name()), &self.field) {
                (Some(a), _) => a.clone(),
                (None, Some(value)) if field.name() == "field" => {
                    Arc::new(StringArray::from(vec![value.as_str(); batch.num_rows()]))
                }
                (None, _) => bail!("no column {} in {}", field.name(), self.name),
            };
            arrays.push(if array.data_type() == field.data_type() {
                array
            } else {
                cast(&array, field.data_type())?
            });
        }
        Ok(arrays)
    }
}

/// Whether the byte-array bounds `lo`..=`hi` hold `id` (a missing bound holds anything).
fn holds(lo: Option<&[u8]>, hi: Option<&[u8]>, id: &[u8]) -> bool {
    lo.is_none_or(|lo| lo <= id) && hi.is_none_or(|hi| id <= hi)
}

/// The rows selected in row group `g` of `metadata`: the pages of `column` that `keep`
/// keeps, given the column's page index and the page's number (the whole group without a
/// page index).
pub fn select_pages(
    metadata: &ArrowReaderMetadata,
    g: usize,
    column: usize,
    keep: impl Fn(&ColumnIndexMetaData, usize) -> bool,
) -> Vec<RowSelector> {
    let parquet = metadata.metadata();
    let rows = parquet.row_group(g).num_rows() as usize;
    let pages = parquet
        .column_index()
        .and_then(|c| c.get(g))
        .and_then(|c| c.get(column))
        .zip(
            parquet
                .offset_index()
                .and_then(|o| o.get(g))
                .and_then(|o| o.get(column)),
        );
    let Some((index, offsets)) = pages else {
        return vec![RowSelector::select(rows)];
    };
    let locations = offsets.page_locations();
    (0..locations.len())
        .map(|p| {
            let start = locations[p].first_row_index as usize;
            let end = locations
                .get(p + 1)
                .map_or(rows, |n| n.first_row_index as usize);
            let n = end.saturating_sub(start);
            if keep(index, p) {
                RowSelector::select(n)
            } else {
                RowSelector::skip(n)
            }
        })
        .collect()
}

/// The rows selected in row group `g` of `metadata`: the pages whose `star_id` statistics
/// hold `id`.
fn pages_holding(
    metadata: &ArrowReaderMetadata,
    g: usize,
    column: usize,
    id: &[u8],
) -> Vec<RowSelector> {
    select_pages(metadata, g, column, |index, p| match index {
        ColumnIndexMetaData::BYTE_ARRAY(index) => holds(index.min_value(p), index.max_value(p), id),
        _ => true,
    })
}

/// The leaf column `star_id` of a file's Parquet schema.
pub fn star_id_leaf(metadata: &ArrowReaderMetadata, file: &CatalogFile) -> Result<usize> {
    metadata
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == "star_id")
        .with_context(|| format!("{} has no star_id", file.name))
}

/// The row groups of a file that may hold the star `id` (their `star_id` statistics hold
/// it, and `keep` agrees: a bloom filter's say), and within them the pages whose
/// statistics hold it.
pub fn pages_of_star(
    metadata: &ArrowReaderMetadata,
    leaf: usize,
    id: &str,
    mut keep: impl FnMut(usize) -> Result<bool>,
) -> Result<(Vec<usize>, Vec<RowSelector>)> {
    let bytes = id.as_bytes();
    let (mut groups, mut selectors) = (Vec::new(), Vec::new());
    for (g, group) in metadata.metadata().row_groups().iter().enumerate() {
        let in_range = match group.column(leaf).statistics() {
            Some(Statistics::ByteArray(s)) => holds(s.min_bytes_opt(), s.max_bytes_opt(), bytes),
            _ => true,
        };
        if in_range && keep(g)? {
            groups.push(g);
            selectors.extend(pages_holding(metadata, g, leaf, bytes));
        }
    }
    Ok((groups, selectors))
}

#[cfg(test)]
mod tests {
    use super::holds;

    #[test]
    fn byte_bounds() {
        assert!(holds(Some(b"lm001"), Some(b"lm002"), b"lm0015"));
        assert!(!holds(Some(b"lm002"), None, b"lm001"));
        assert!(holds(None, None, b"x"));
    }
}
