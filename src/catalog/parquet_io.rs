//! Writing and reading the catalogue's Parquet files.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::file::statistics::Statistics;
use datafusion::parquet::schema::types::ColumnPath;

use super::crash;
use super::durable::temporary_name;
use super::manifest::{ColumnRange, RangeValue};

/// Rows per row group: small enough for selective reads of one star's light curve,
/// large enough for fast scans (see docs/LAYOUT.md).
pub const ROW_GROUP_ROWS: usize = 65_536;

/// Rows per data page at most: the page index (column index and offset index) then
/// locates one star's rows, or one HEALPix range, within a row group to 8,192 rows.
pub const PAGE_ROWS: usize = 8_192;

/// Rows per data page of `stars` and of HATS leaf files: sorted by HEALPix, a page of
/// 1,024 stars covers a few square arcminutes of a dense field, about the area of a small
/// cone (docs/LAYOUT.md).
pub const STAR_PAGE_ROWS: usize = 1_024;

/// Writer settings shared by every table: zstd, page statistics, pages of at most
/// [`PAGE_ROWS`] rows, dictionary encoding.
pub fn writer_properties() -> WriterProperties {
    writer_properties_with_pages(PAGE_ROWS)
}

/// [`writer_properties`] with pages of at most `page_rows` rows.
pub fn writer_properties_with_pages(page_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(page_rows)
        .set_write_batch_size(page_rows)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        .build()
}

/// Writes `batches` to `path` atomically (temporary name, then rename); returns rows.
/// Files are synced to disk when their version is published (`catalog::version`).
pub fn write_parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<u64> {
    write_parquet_with(path, schema, batches, writer_properties())
}

/// Columns of `stars` with few distinct values, the only ones dictionary-encoded: the
/// others (ids, positions, magnitudes, file names) are nearly all distinct, and a
/// dictionary page of theirs (up to 1 MB before the writer falls back to plain encoding)
/// would be read and decoded whole by every cone that touches one row of its row group.
const STAR_DICTIONARY_COLUMNS: [&str; 6] =
    ["survey", "ccd", "quarter", "position_source", "n_r", "n_b"];

/// False positives of the `stars.star_id` bloom filters: a lookup of one star reads the
/// row groups of about 1 in 100 others for nothing.
const STAR_ID_BLOOM_FPP: f64 = 0.01;

/// Writes a `stars` file: pages of [`STAR_PAGE_ROWS`] rows, dictionaries only for the
/// columns with few distinct values, and a bloom filter of `star_id` in each row group.
/// The stars are in HEALPix order, so a row group's `star_id` range spans its field: the
/// bloom filter is what lets a lookup of one star (a DataLink ID, a star page, `WHERE
/// star_id = ...`) skip the row groups that do not hold it (about 1.2 bytes per star).
pub fn write_stars_parquet(path: &Path, batch: RecordBatch) -> Result<u64> {
    let star_id = ColumnPath::from("star_id");
    let mut properties = writer_properties_with_pages(STAR_PAGE_ROWS)
        .into_builder()
        .set_dictionary_enabled(false)
        .set_column_bloom_filter_enabled(star_id.clone(), true)
        .set_column_bloom_filter_fpp(star_id.clone(), STAR_ID_BLOOM_FPP)
        .set_column_bloom_filter_max_ndv(star_id, ROW_GROUP_ROWS as u64);
    for column in STAR_DICTIONARY_COLUMNS {
        properties = properties.set_column_dictionary_enabled(ColumnPath::from(column), true);
    }
    write_parquet_with(path, batch.schema(), &[batch], properties.build())
}

/// Writer settings of a table in HEALPix order read by cones (HATS leaf files): pages of
/// [`STAR_PAGE_ROWS`] rows, and dictionaries only for the columns with few distinct
/// values in `sample` (at most one value in [`DICTIONARY_RATIO`] rows): as for `stars`, a
/// dictionary page of a nearly unique column would be read and decoded whole by every
/// cone that meets one row of its row group.
pub fn sky_ordered_properties(sample: &RecordBatch) -> WriterProperties {
    let mut properties = writer_properties_with_pages(STAR_PAGE_ROWS)
        .into_builder()
        .set_dictionary_enabled(false);
    let state = datafusion::common::hash_utils::RandomState::default();
    let mut hashes = vec![0u64; sample.num_rows()];
    for (field, column) in sample.schema().fields().iter().zip(sample.columns()) {
        hashes.iter_mut().for_each(|h| *h = 0);
        let few = datafusion::common::hash_utils::create_hashes([column], &state, &mut hashes)
            .is_ok_and(|h| {
                h.iter().collect::<std::collections::HashSet<_>>().len() * DICTIONARY_RATIO
                    <= h.len()
            });
        if few {
            properties = properties
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), true);
        }
    }
    properties.build()
}

/// A column is dictionary-encoded when it has at most one distinct value in this many rows.
const DICTIONARY_RATIO: usize = 16;

/// [`write_parquet`] with explicit writer properties.
pub fn write_parquet_with(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    properties: WriterProperties,
) -> Result<u64> {
    write_parquet_stream(path, schema, batches.iter().cloned().map(Ok), properties)
}

/// Writes batches as they come (a big input is never whole in memory) under a temporary
/// name, renamed into place once complete; the temporary file is removed when a batch or
/// the write fails.
pub fn write_parquet_stream(
    path: &Path,
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
    properties: WriterProperties,
) -> Result<u64> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let tmp = temporary_name(path);
    let written = (|| {
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
            .with_context(|| format!("cannot write Parquet {}", tmp.display()))?;
        let mut rows = 0;
        for b in batches {
            let b = b?;
            rows += b.num_rows() as u64;
            writer
                .write(&b)
                .with_context(|| format!("cannot write Parquet {}", tmp.display()))?;
        }
        writer
            .close()
            .with_context(|| format!("cannot finish Parquet {}", tmp.display()))?;
        Ok(rows)
    })();
    let rows = match written {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()));
    }
    crash::point("parquet file written");
    Ok(rows)
}

/// The Arrow schema a Parquet file was written with (with its field metadata: units,
/// UCDs, descriptions), from its footer.
pub fn parquet_schema(path: &Path) -> Result<SchemaRef> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?;
    Ok(builder.schema().clone())
}

/// Reads a whole Parquet file.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?
        .with_batch_size(65_536)
        .build()?;
    let mut out = Vec::new();
    for b in reader {
        out.push(b.with_context(|| format!("cannot read {}", path.display()))?);
    }
    Ok(out)
}

/// Rows of a Parquet file held in memory, counted by decoding every page (not read from
/// the footer): what `catalog verify` checks. `path` names it in errors.
pub fn decoded_rows(bytes: bytes::Bytes, path: &Path) -> Result<u64> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?
        .with_batch_size(65_536)
        .build()?;
    let mut rows = 0;
    for b in reader {
        rows += b
            .with_context(|| format!("cannot read {}", path.display()))?
            .num_rows() as u64;
    }
    Ok(rows)
}

/// What a Parquet file's footer says: its rows, and the range of each column of `columns`
/// whose every row group has exact statistics (a column of nulls only has none). One read
/// of the footer.
pub fn footer_facts(path: &Path, columns: &[&str]) -> Result<(u64, BTreeMap<String, ColumnRange>)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?;
    let metadata = builder.metadata();
    let rows = metadata.file_metadata().num_rows() as u64;
    let ranges = columns
        .iter()
        .filter_map(|c| Some((c.to_string(), column_range(metadata, c)?)))
        .collect();
    Ok((rows, ranges))
}

/// See [`footer_facts`].
fn column_range(metadata: &ParquetMetaData, column: &str) -> Option<ColumnRange> {
    let columns = metadata.file_metadata().schema_descr().columns();
    let index = columns.iter().position(|c| c.name() == column)?;
    let mut bounds: Option<(RangeValue, RangeValue)> = None;
    let mut nulls = Some(0u64);
    for group in metadata.row_groups() {
        if group.num_rows() == 0 {
            continue;
        }
        let stats = group.column(index).statistics()?;
        nulls = nulls.zip(stats.null_count_opt()).map(|(a, b)| a + b);
        if stats.null_count_opt() == Some(group.num_rows() as u64) {
            continue;
        }
        let (lo, hi) = row_group_bounds(stats)?;
        bounds = Some(match bounds {
            None => (lo, hi),
            Some((a, b)) => (lesser(a, lo)?, greater(b, hi)?),
        });
    }
    let (min, max) = bounds?;
    Some(ColumnRange { min, max, nulls })
}

/// A row group's exact bounds of an INT64, DOUBLE or UTF-8 column.
fn row_group_bounds(stats: &Statistics) -> Option<(RangeValue, RangeValue)> {
    if !stats.min_is_exact() || !stats.max_is_exact() {
        return None;
    }
    match stats {
        Statistics::Int64(s) => Some((
            RangeValue::Int(*s.min_opt()?),
            RangeValue::Int(*s.max_opt()?),
        )),
        Statistics::Double(s) => {
            let (lo, hi) = (*s.min_opt()?, *s.max_opt()?);
            (lo.is_finite() && hi.is_finite())
                .then_some((RangeValue::Float(lo), RangeValue::Float(hi)))
        }
        Statistics::ByteArray(s) => Some((
            RangeValue::Text(s.min_opt()?.as_utf8().ok()?.to_string()),
            RangeValue::Text(s.max_opt()?.as_utf8().ok()?.to_string()),
        )),
        _ => None,
    }
}

/// The smaller of two bounds of one column (`None` for bounds of different kinds).
fn lesser(a: RangeValue, b: RangeValue) -> Option<RangeValue> {
    Some(if compare(&a, &b)?.is_le() { a } else { b })
}

/// The larger of two bounds of one column.
fn greater(a: RangeValue, b: RangeValue) -> Option<RangeValue> {
    Some(if compare(&a, &b)?.is_ge() { a } else { b })
}

/// Parquet's order of two values of one column: signed integers, floats, UTF-8 bytes.
fn compare(a: &RangeValue, b: &RangeValue) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (RangeValue::Int(x), RangeValue::Int(y)) => Some(x.cmp(y)),
        (RangeValue::Float(x), RangeValue::Float(y)) => x.partial_cmp(y),
        (RangeValue::Text(x), RangeValue::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn only_columns_with_few_distinct_values_get_dictionaries() {
        let rows = 4096;
        let schema = Arc::new(Schema::new(vec![
            Field::new("star_id", DataType::Utf8, false),
            Field::new("ccd", DataType::Int64, false),
        ]));
        let ids: Vec<String> = (0..rows).map(|i| format!("lm0010n{i:05}")).collect();
        let ccds: Vec<i64> = (0..rows as i64).map(|i| i % 8).collect();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(Int64Array::from(ccds)),
            ],
        )
        .unwrap();
        let properties = sky_ordered_properties(&batch);
        assert!(!properties.dictionary_enabled(&ColumnPath::from("star_id")));
        assert!(properties.dictionary_enabled(&ColumnPath::from("ccd")));
        assert_eq!(properties.data_page_row_count_limit(), STAR_PAGE_ROWS);
    }
}
