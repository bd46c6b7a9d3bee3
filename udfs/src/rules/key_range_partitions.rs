//! A sorted file scan regrouped so that no two partitions hold the same value of a key.
//!
//! A survey's measurement files are sorted by star id, and each file usually holds a range
//! of star ids that no other file holds (the generator writes a field's stars in order and
//! cuts its files between stars; an ingest's chunks do so when its input comes in star
//! order). When the files' statistics prove it (exact minimum and maximum of
//! the key, no nulls, pairwise disjoint ranges, whole files), the scan can be cut into
//! partitions that each read a run of consecutive files: every value of the key, hence
//! every group of a `GROUP BY` on it, is then in exactly one partition, and each partition
//! keeps the files' order. Runs are balanced by the files' row counts.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::stats::Precision;
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

/// `rows` with its file scan cut into at most `partitions` runs of files of disjoint
/// ranges of `key` (a column of `rows`), or `None` when the files do not prove it or there
/// is nothing to cut. Only a scan under filters is accepted: they keep each row in its
/// partition.
pub fn key_range_partitions(
    rows: &Arc<dyn ExecutionPlan>,
    key: &Column,
    partitions: usize,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if rows.fetch().is_some() {
        return Ok(None);
    }
    if let Some(filter) = rows.downcast_ref::<FilterExec>() {
        let Some(below) = key_below(filter, key) else {
            return Ok(None);
        };
        return match key_range_partitions(filter.input(), &below, partitions)? {
            Some(scan) => Ok(Some(replace_children_if_necessary(
                rows.clone(),
                vec![scan],
            )?)),
            None => Ok(None),
        };
    }
    let Some(scan) = rows.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    if config.output_ordering.is_empty()
        || config.output_partitioning.is_some()
        || config.limit.is_some()
    {
        return Ok(None);
    }
    let Some(column) = table_column(config, key) else {
        return Ok(None);
    };
    let Some(groups) = runs_of_disjoint_files(config, column, partitions) else {
        return Ok(None);
    };
    // Each partition must read its own files and no other: no work stealing between them
    // (DataFusion turns it off for an ordered scan; said here, not assumed).
    let regrouped = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .with_preserve_order(true)
        .build();
    let regrouped: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(regrouped);
    // The ordering is validated against the new groups: it must survive.
    if regrouped.output_ordering().is_none()
        || regrouped.output_ordering() != rows.output_ordering()
    {
        return Ok(None);
    }
    Ok(Some(regrouped))
}

/// Whether the partitions of `rows` (a file scan, maybe under filters) hold ascending,
/// disjoint ranges of `key`: each partition reads whole files, every file has exact
/// non-null bounds of the key, and each file's keys come after those of the files before
/// it, in its own partition and in the partitions before. The partitions' outputs, each
/// in key order, then make the key's order when put one after the other.
pub fn partitions_in_key_order(rows: &Arc<dyn ExecutionPlan>, key: &Column) -> bool {
    if rows.fetch().is_some() {
        return false;
    }
    if let Some(filter) = rows.downcast_ref::<FilterExec>() {
        return key_below(filter, key)
            .is_some_and(|below| partitions_in_key_order(filter.input(), &below));
    }
    let Some(config) = rows
        .downcast_ref::<DataSourceExec>()
        .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
    else {
        return false;
    };
    if config.output_ordering.is_empty() || config.limit.is_some() {
        return false;
    }
    let Some(column) = table_column(config, key) else {
        return false;
    };
    let mut last: Option<&ScalarValue> = None;
    for file in config.file_groups.iter().flat_map(|g| g.iter()) {
        if file.range.is_some() {
            return false;
        }
        let Some((min, max, _)) = exact_bounds(file, column) else {
            return false;
        };
        if last.is_some_and(|last| last.partial_cmp(min) != Some(Ordering::Less)) {
            return false;
        }
        last = Some(max);
    }
    true
}

/// The column of `filter`'s input that is its output column `key`: a filter's projection
/// picks columns of its input by index, under their names.
fn key_below(filter: &FilterExec, key: &Column) -> Option<Column> {
    match filter.projection() {
        Some(picked) => picked
            .get(key.index())
            .map(|&index| Column::new(key.name(), index)),
        None => Some(key.clone()),
    }
}

/// A file's exact, non-null minimum and maximum of the table column `column`, and its
/// row count (1 when unknown).
fn exact_bounds(
    file: &PartitionedFile,
    column: usize,
) -> Option<(&ScalarValue, &ScalarValue, usize)> {
    let stats = file.statistics.as_ref()?;
    let bounds = stats.column_statistics.get(column)?;
    let (Precision::Exact(min), Precision::Exact(max), Precision::Exact(0)) =
        (&bounds.min_value, &bounds.max_value, &bounds.null_count)
    else {
        return None;
    };
    if min.is_null() || max.is_null() {
        return None;
    }
    let rows = stats.num_rows.get_value().copied().unwrap_or(1);
    Some((min, max, rows))
}

/// The index in the table schema (file columns, then partition columns: the index of the
/// files' statistics) of the scan's output column `key`, when the scan outputs that table
/// column as it is (not renamed, not computed) and its values order like its statistics
/// (not a floating-point column: Parquet's bounds leave NaN out).
fn table_column(config: &FileScanConfig, key: &Column) -> Option<usize> {
    let index = match config.file_source.projection() {
        Some(projection) => {
            let picked = projection.iter().nth(key.index())?;
            let column = picked.expr.downcast_ref::<Column>()?;
            (picked.alias == key.name()).then_some(column.index())?
        }
        None => key.index(),
    };
    let table_schema = config.file_source.table_schema().table_schema();
    let field = table_schema.fields().get(index)?;
    (field.name() == key.name() && !field.data_type().is_floating()).then_some(index)
}

/// The scan's files, each once and whole. DataFusion cuts the files of a small scan into
/// byte ranges to fill its partitions; the pieces of a file are put back together when
/// they cover it from its first byte to its last (the scan reads all of them, hence the
/// whole file), else `None`.
fn whole_files(config: &FileScanConfig) -> Option<Vec<PartitionedFile>> {
    let mut pieces: BTreeMap<&str, Vec<&PartitionedFile>> = BTreeMap::new();
    for file in config.file_groups.iter().flat_map(|g| g.iter()) {
        pieces
            .entry(file.object_meta.location.as_ref())
            .or_default()
            .push(file);
    }
    let mut wholes = Vec::with_capacity(pieces.len());
    for mut parts in pieces.into_values() {
        parts.sort_by_key(|p| p.range.as_ref().map_or(0, |r| r.start));
        let mut whole = parts[0].clone();
        if parts.len() > 1 || whole.range.is_some() {
            let mut at = 0;
            for part in &parts {
                let range = part.range.as_ref()?;
                if range.start != at {
                    return None;
                }
                at = range.end;
            }
            if u64::try_from(at).ok()? != whole.object_meta.size {
                return None;
            }
            whole.range = None;
        }
        wholes.push(whole);
    }
    Some(wholes)
}

/// One file with the range of its key and its row count.
struct KeyRange<'a> {
    min: &'a ScalarValue,
    max: &'a ScalarValue,
    rows: usize,
    file: &'a PartitionedFile,
}

/// The scan's files in key order, cut into consecutive runs of about equal rows; `None`
/// unless every file is read whole, has exact non-null bounds of the key, and no two
/// files' ranges meet.
fn runs_of_disjoint_files(
    config: &FileScanConfig,
    column: usize,
    partitions: usize,
) -> Option<Vec<FileGroup>> {
    let wholes = whole_files(config)?;
    let mut files = Vec::new();
    for file in &wholes {
        let (min, max, rows) = exact_bounds(file, column)?;
        files.push(KeyRange {
            min,
            max,
            rows,
            file,
        });
    }
    if files.len() < 2 || partitions < 2 {
        return None;
    }
    let mut unordered = false;
    files.sort_by(|a, b| {
        a.min.partial_cmp(b.min).unwrap_or_else(|| {
            unordered = true;
            Ordering::Equal
        })
    });
    if unordered
        || files
            .windows(2)
            .any(|w| w[0].max.partial_cmp(w[1].min) != Some(Ordering::Less))
    {
        return None;
    }
    let runs = partitions.min(files.len());
    // In u128: row counts come from the files' footers and may be anything.
    let total: u128 = files.iter().map(|f| f.rows.max(1) as u128).sum();
    let mut groups: Vec<Vec<_>> = vec![Vec::new(); runs];
    let mut before = 0u128;
    for f in &files {
        let rows = f.rows.max(1) as u128;
        // The run of the file's middle row: non-decreasing along the files.
        let run = (before + rows / 2) * runs as u128 / total;
        groups[(run as usize).min(runs - 1)].push(f.file.clone());
        before += rows;
    }
    let groups: Vec<FileGroup> = groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(FileGroup::new)
        .collect();
    (groups.len() > 1).then_some(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::{ColumnStatistics, Statistics};
    use datafusion::datasource::physical_plan::ParquetSource;
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
    use datafusion::physical_plan::expressions::Column;

    /// A file of `rows` rows whose star ids run from `min` to `max` (`None`: no statistics).
    fn file(name: &str, range: Option<(&str, &str)>, rows: usize) -> PartitionedFile {
        let f = PartitionedFile::new(name, 1000);
        let Some((min, max)) = range else {
            return f;
        };
        let mut star = ColumnStatistics::new_unknown();
        star.min_value = Precision::Exact(ScalarValue::from(min));
        star.max_value = Precision::Exact(ScalarValue::from(max));
        star.null_count = Precision::Exact(0);
        // Every file covers the same nights: the order across files rests on the star ids.
        let mut mjd = ColumnStatistics::new_unknown();
        mjd.min_value = Precision::Exact(ScalarValue::from(50000.0));
        mjd.max_value = Precision::Exact(ScalarValue::from(52000.0));
        mjd.null_count = Precision::Exact(0);
        f.with_statistics(Arc::new(Statistics {
            num_rows: Precision::Exact(rows),
            total_byte_size: Precision::Absent,
            column_statistics: vec![star, mjd],
        }))
    }

    /// A scan of `groups` sorted by star id then time, as a listing table declares it.
    fn scan(groups: Vec<Vec<PartitionedFile>>) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("star_id", DataType::Utf8, false),
            Field::new("mjd", DataType::Float64, false),
        ]));
        let order = LexOrdering::new([
            PhysicalSortExpr::new_default(Arc::new(Column::new("star_id", 0))),
            PhysicalSortExpr::new_default(Arc::new(Column::new("mjd", 1))),
        ])
        .unwrap();
        let config = FileScanConfigBuilder::new(
            ObjectStoreUrl::local_filesystem(),
            Arc::new(ParquetSource::new(schema)),
        )
        .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
        .with_output_ordering(vec![order])
        .build();
        DataSourceExec::from_data_source(config)
    }

    /// The files of each partition of a regrouped scan.
    fn groups(plan: &Arc<dyn ExecutionPlan>) -> Vec<Vec<String>> {
        let scan = plan.downcast_ref::<DataSourceExec>().unwrap();
        let config = scan.data_source().downcast_ref::<FileScanConfig>().unwrap();
        config
            .file_groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|f| f.object_meta.location.to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn disjoint_files_become_runs_in_key_order_balanced_by_rows() {
        let star = Column::new("star_id", 0);
        // Two groups whose star ranges interleave, as a listing table may group them.
        let rows = scan(vec![
            vec![
                file("a", Some(("lm0010", "lm0019")), 100),
                file("c", Some(("lm0030", "lm0039")), 100),
            ],
            vec![
                file("b", Some(("lm0020", "lm0029")), 100),
                file("d", Some(("lm0040", "lm0049")), 100),
            ],
        ]);
        let split = key_range_partitions(&rows, &star, 2).unwrap().unwrap();
        assert_eq!(groups(&split), [vec!["a", "b"], vec!["c", "d"]]);
        assert_eq!(split.output_partitioning().partition_count(), 2);
        assert!(split.output_ordering().is_some());
        // More partitions than files: one file each, in key order.
        let split = key_range_partitions(&rows, &star, 8).unwrap().unwrap();
        assert_eq!(groups(&split), [vec!["a"], vec!["b"], vec!["c"], vec!["d"]]);
        // One big file takes a run of its own.
        let rows = scan(vec![vec![
            file("a", Some(("lm0010", "lm0019")), 900),
            file("b", Some(("lm0020", "lm0029")), 50),
            file("c", Some(("lm0030", "lm0039")), 50),
        ]]);
        let split = key_range_partitions(&rows, &star, 2).unwrap().unwrap();
        assert_eq!(groups(&split), [vec!["a"], vec!["b", "c"]]);
        // A file cut into byte ranges over two partitions is read whole by one.
        let a = file("a", Some(("lm0010", "lm0019")), 100);
        let rows = scan(vec![
            vec![a.clone().with_range(0, 600)],
            vec![
                a.clone().with_range(600, 1000),
                file("b", Some(("lm0020", "lm0029")), 100),
            ],
        ]);
        let split = key_range_partitions(&rows, &star, 2).unwrap().unwrap();
        assert_eq!(groups(&split), [vec!["a"], vec!["b"]]);
        let config = split.downcast_ref::<DataSourceExec>().unwrap();
        let config = config
            .data_source()
            .downcast_ref::<FileScanConfig>()
            .unwrap();
        assert!(config.file_groups[0].iter().all(|f| f.range.is_none()));
        // Pieces that leave a gap are not a whole file.
        let rows = scan(vec![
            vec![a.clone().with_range(0, 500)],
            vec![
                a.with_range(600, 1000),
                file("b", Some(("lm0020", "lm0029")), 100),
            ],
        ]);
        assert!(key_range_partitions(&rows, &star, 2).unwrap().is_none());
    }

    #[test]
    fn files_that_share_a_key_or_lack_its_bounds_are_left_alone() {
        let star = Column::new("star_id", 0);
        // Two files meet at one star: its rows would be in two partitions.
        let touching = scan(vec![
            vec![file("a", Some(("lm0010", "lm0020")), 100)],
            vec![file("b", Some(("lm0020", "lm0029")), 100)],
        ]);
        assert!(key_range_partitions(&touching, &star, 2).unwrap().is_none());
        let unknown = scan(vec![
            vec![file("a", Some(("lm0010", "lm0019")), 100)],
            vec![file("b", None, 100)],
        ]);
        assert!(key_range_partitions(&unknown, &star, 2).unwrap().is_none());
        let disjoint = scan(vec![
            vec![file("a", Some(("lm0010", "lm0019")), 100)],
            vec![file("b", Some(("lm0020", "lm0029")), 100)],
        ]);
        // A floating-point key (NaN is outside Parquet's bounds), a renamed column, a key
        // that is not a column of the scan, a single file: nothing to cut.
        assert!(
            key_range_partitions(&disjoint, &Column::new("mjd", 1), 2)
                .unwrap()
                .is_none()
        );
        assert!(
            key_range_partitions(&disjoint, &Column::new("sid", 0), 2)
                .unwrap()
                .is_none()
        );
        assert!(
            key_range_partitions(&disjoint, &Column::new("colour", 2), 2)
                .unwrap()
                .is_none()
        );
        let one = scan(vec![vec![file("a", Some(("lm0010", "lm0019")), 100)]]);
        assert!(key_range_partitions(&one, &star, 2).unwrap().is_none());
    }
}
