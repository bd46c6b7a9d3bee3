//! `measurement_counts`: how many measurements each file of a version holds per field,
//! colour, CCD and quarter. Written into the staging directory by every version writer
//! just before the version is published, so it is switched in with the data and is never
//! stale. Files carried over from the previous version (hard links: the same device and
//! inode) keep their counts; only new files are read, and only their `colour`, `ccd` and
//! `quarter` columns. Queries that count measurements by those columns are answered from
//! it (the engine's `counts_from_summary` rule).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::parquet_io::{read_parquet, write_parquet};
use crate::schema;

/// The summary's file name in a version directory.
pub const SUMMARY_FILE: &str = "measurement_counts.parquet";

/// (colour, ccd, quarter): the values a file's measurements are counted by.
type Key = (String, Option<i32>, Option<String>);
/// (file, field, colour, ccd, quarter).
type Row = (String, String, String, Option<i32>, Option<String>);
/// Row -> measurements.
type Counts = BTreeMap<Row, i64>;

/// Writes `measurement_counts.parquet` in `staging` for the measurement files there;
/// `previous_dir` is the previous version's directory (its counts of the same files are
/// reused).
pub fn write_summary(staging: &Path, previous_dir: Option<&Path>) -> Result<()> {
    let table_dir = staging.join("measurements");
    let carried = previous_dir.map(previous_counts).unwrap_or_default();
    let mut counts = Counts::new();
    if table_dir.is_dir() {
        for rel in super::manifest::partitioned_files(&table_dir)? {
            let path = table_dir.join(&rel);
            let meta = std::fs::metadata(&path)?;
            let field = super::manifest::partition_value(&rel, "field")
                .unwrap_or_default()
                .to_string();
            match carried.get(&(meta.dev(), meta.ino())) {
                Some(rows) => {
                    for ((colour, ccd, quarter), n) in rows {
                        let key = (
                            rel.clone(),
                            field.clone(),
                            colour.clone(),
                            *ccd,
                            quarter.clone(),
                        );
                        counts.insert(key, *n);
                    }
                }
                None => {
                    for ((colour, ccd, quarter), n) in count_file(&path)? {
                        counts.insert((rel.clone(), field.clone(), colour, ccd, quarter), n);
                    }
                }
            }
        }
    }
    let batch = to_batch(&counts)?;
    write_parquet(&staging.join(SUMMARY_FILE), batch.schema(), &[batch])?;
    Ok(())
}

/// The previous version's counts, by the (device, inode) of each measurements file.
type Carried = HashMap<(u64, u64), Vec<(Key, i64)>>;

fn previous_counts(previous_dir: &Path) -> Carried {
    let mut out = Carried::new();
    let Ok(batches) = read_parquet(&previous_dir.join(SUMMARY_FILE)) else {
        return out;
    };
    for batch in batches {
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| cast(c, &DataType::Utf8).ok())
        };
        let (Some(file), Some(colour), Some(quarter)) =
            (text("file"), text("colour"), text("quarter"))
        else {
            continue;
        };
        let (Some(ccd), Some(n)) = (batch.column_by_name("ccd"), batch.column_by_name("n")) else {
            continue;
        };
        let (file, colour, quarter) = (
            file.as_string::<i32>(),
            colour.as_string::<i32>(),
            quarter.as_string::<i32>(),
        );
        let (ccd, n) = (
            ccd.as_primitive::<Int32Type>(),
            n.as_primitive::<Int64Type>(),
        );
        // Rows of one file follow each other: one stat per file.
        let mut inode: Option<(&str, Option<(u64, u64)>)> = None;
        for i in 0..batch.num_rows() {
            let name = file.value(i);
            if inode.is_none_or(|(n, _)| n != name) {
                let path = previous_dir.join("measurements").join(name);
                let meta = std::fs::metadata(&path).ok();
                inode = Some((name, meta.map(|m| (m.dev(), m.ino()))));
            }
            let Some((_, Some(id))) = inode else {
                continue;
            };
            let key = (
                colour.value(i).to_string(),
                ccd.is_valid(i).then(|| ccd.value(i)),
                quarter.is_valid(i).then(|| quarter.value(i).to_string()),
            );
            out.entry(id).or_default().push((key, n.value(i)));
        }
    }
    out
}

/// Measurements per (colour, CCD, quarter) of one file, reading those three columns.
fn count_file(path: &Path) -> Result<HashMap<Key, i64>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?;
    let wanted: Vec<usize> = ["colour", "ccd", "quarter"]
        .iter()
        .map(|name| {
            builder
                .schema()
                .index_of(name)
                .with_context(|| format!("{}: no column {name}", path.display()))
        })
        .collect::<Result<_>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()?;
    let mut out = HashMap::new();
    for batch in reader {
        let batch = batch?;
        // The projection keeps the file's column order: columns are taken by name.
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .with_context(|| format!("{}: no column {name}", path.display()))
        };
        let colour = cast(column("colour")?, &DataType::Utf8)?;
        let quarter = cast(column("quarter")?, &DataType::Utf8)?;
        let ccd = cast(column("ccd")?, &DataType::Int32)?;
        let (colour, quarter) = (colour.as_string::<i32>(), quarter.as_string::<i32>());
        let ccd = ccd.as_primitive::<Int32Type>();
        for i in 0..batch.num_rows() {
            let key = (
                colour.value(i).to_string(),
                ccd.is_valid(i).then(|| ccd.value(i)),
                quarter.is_valid(i).then(|| quarter.value(i).to_string()),
            );
            *out.entry(key).or_insert(0) += 1;
        }
    }
    Ok(out)
}

fn to_batch(counts: &Counts) -> Result<RecordBatch> {
    let schema = schema::measurement_counts_schema();
    let texts = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(counts.keys().map(f).collect::<StringArray>())
    };
    let file = texts(&|k| Some(k.0.clone()));
    let field = texts(&|k| Some(k.1.clone()));
    let colour = texts(&|k| Some(k.2.clone()));
    let quarter = texts(&|k| k.4.clone());
    let ccd: ArrayRef = Arc::new(counts.keys().map(|k| k.3).collect::<Int32Array>());
    let n: ArrayRef = Arc::new(counts.values().copied().collect::<Int64Array>());
    let columns = vec![file, field, colour, ccd, quarter, n]
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| Ok(cast(&c, f.data_type())?))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}
