//! Parquet pages read only where they can hold a key of a long `IN` list: the light curves
//! of a thousand stars listed in a table read the pages of those stars, not every page.
//!
//! DataFusion turns `col IN (v1, ..., vn)` into page-index pruning only for lists of at
//! most 20 values (the pruning predicate spells the list out as `n` range tests), and a
//! hash join's dynamic filter reaches the probe side's scan as the range of the build
//! side's keys and a set of them, of which the pages keep only the range: a thousand
//! random stars span every file, so every page is decoded and filtered row by row.
//!
//! [`KeyListPages`] wraps every Parquet scan whose predicate is dynamic or holds such a
//! list in a [`KeyListPagesExec`]. When a partition starts (a join's build side is then
//! complete), the exec takes the predicate's current value and looks for an `IN` list of
//! more than 20 literals on a text or integer column of the files; it sorts the keys, and
//! for every page of every file of the partition keeps the page when a key falls within
//! the page's minimum and maximum in the page index (a binary search), then runs the scan
//! with those pages as the file's access plan (DataFusion's own pruning still applies on
//! top). Pages without statistics are kept. Each partition then runs a scan of its own
//! files (DataFusion's partitions otherwise share their files, work stealing). The rows
//! are exactly the scan's: only pages
//! that cannot hold a key are skipped, and the predicate is still evaluated on every row
//! read. Embedded plans only (Ballista's codec does not carry the wrapper).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::parquet::{
    ParquetAccessPlan, ParquetRowSelection, RowGroupAccess,
};
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use datafusion::physical_expr::expressions::{Column, InListExpr, Literal};
use datafusion::physical_expr::split_conjunction;
use datafusion::physical_expr_common::physical_expr::{
    snapshot_generation, snapshot_physical_expr,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use futures::TryStreamExt;

/// The longest list DataFusion's page pruning handles itself (`MAX_IN_LIST_SIZE` of its
/// pruning predicate); longer lists are ours.
pub const DATAFUSION_LIST_LIMIT: usize = 20;

/// The rule; added last to the physical optimizer by the engine (after DataFusion has put
/// the joins' dynamic filters into the scans).
#[derive(Debug, Default)]
pub struct KeyListPages;

impl PhysicalOptimizerRule for KeyListPages {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rewritten = plan.transform_down(|node| {
            if node.downcast_ref::<KeyListPagesExec>().is_some() {
                return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump));
            }
            if scan_predicate(&node).is_some_and(|p| may_hold_long_list(&p)) {
                let wrapped: Arc<dyn ExecutionPlan> = Arc::new(KeyListPagesExec::new(node));
                return Ok(Transformed::new(wrapped, true, TreeNodeRecursion::Jump));
            }
            Ok(Transformed::no(node))
        })?;
        Ok(rewritten.data)
    }

    fn name(&self) -> &str {
        "key_list_pages"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The predicate of a Parquet scan.
fn scan_predicate(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn PhysicalExpr>> {
    let config = plan
        .downcast_ref::<DataSourceExec>()?
        .data_source()
        .downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().downcast_ref::<ParquetSource>()?;
    source.filter()
}

/// Whether a predicate is dynamic (a join fills it at run time) or holds a long list now.
fn may_hold_long_list(predicate: &Arc<dyn PhysicalExpr>) -> bool {
    snapshot_generation(predicate) != 0
        || split_conjunction(predicate)
            .into_iter()
            .any(|c| long_list(c).is_some())
}

/// The column and the literals of `conjunct` when it is `column IN (literals)` of more than
/// [`DATAFUSION_LIST_LIMIT`] values.
fn long_list(conjunct: &Arc<dyn PhysicalExpr>) -> Option<(&Column, Vec<&ScalarValue>)> {
    let list = conjunct.downcast_ref::<InListExpr>()?;
    if list.negated() || list.len() <= DATAFUSION_LIST_LIMIT {
        return None;
    }
    let column = list.expr().downcast_ref::<Column>()?;
    let values = list
        .list()
        .iter()
        .map(|v| v.downcast_ref::<Literal>().map(Literal::value))
        .collect::<Option<Vec<_>>>()?;
    Some((column, values))
}

/// A Parquet scan whose partitions read only the pages that can hold a key of the long
/// `IN` list in its predicate when they start (see the module's documentation).
#[derive(Debug)]
pub struct KeyListPagesExec {
    input: Arc<dyn ExecutionPlan>,
    /// Pages seen and kept; the scan's own metrics stay with the scan below (its Parquet
    /// source, which the narrowed scans share).
    metrics: ExecutionPlanMetricsSet,
}

impl KeyListPagesExec {
    /// `input` is a Parquet `DataSourceExec` (anything else runs unchanged).
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for KeyListPagesExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyListPagesExec")
    }
}

impl ExecutionPlan for KeyListPagesExec {
    fn name(&self) -> &str {
        "KeyListPagesExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return datafusion::common::internal_err!("KeyListPagesExec has one input");
        }
        Ok(Arc::new(Self::new(children.swap_remove(0))))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let counts = PageCounts {
            total: MetricBuilder::new(&self.metrics).counter("key_list_pages_total", partition),
            kept: MetricBuilder::new(&self.metrics).counter("key_list_pages_kept", partition),
        };
        let input = Arc::clone(&self.input);
        let started = async move {
            let plan = own_scan(&input, partition, &context, &counts)
                .await?
                .unwrap_or(input);
            plan.execute(partition, context)
        };
        let batches = futures::stream::once(started).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            batches,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Pages seen and pages kept by one partition.
struct PageCounts {
    total: Count,
    kept: Count,
}

/// Partition `partition`'s own scan: a scan of its own files only, narrowed to the pages
/// that can hold a key of the predicate's long list when it has one now. Every partition
/// of a wrapped scan runs its own: DataFusion's partitions of one scan share a queue of
/// every file (work stealing), which a partition running a copy of the scan would read
/// again. None for anything but a file scan.
async fn own_scan(
    input: &Arc<dyn ExecutionPlan>,
    partition: usize,
    context: &Arc<TaskContext>,
    counts: &PageCounts,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(config) = input
        .downcast_ref::<DataSourceExec>()
        .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
    else {
        return Ok(None);
    };
    let Some(group) = config.file_groups.get(partition) else {
        return Ok(None);
    };
    let files = match key_list(input, config)? {
        Some((column, keys)) => narrowed(config, group, &column, &keys, context, counts).await?,
        None => group.iter().cloned().collect(),
    };
    // The other partitions' groups left empty, so that this scan's queue holds its own.
    let mut groups: Vec<FileGroup> = (0..config.file_groups.len())
        .map(|_| FileGroup::new(Vec::new()))
        .collect();
    groups[partition] = FileGroup::new(files);
    let own = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .build();
    Ok(Some(DataSourceExec::from_data_source(own)))
}

/// The column and sorted keys of the predicate's first long `IN` list now, on a text or
/// integer column of the files.
fn key_list(
    input: &Arc<dyn ExecutionPlan>,
    config: &FileScanConfig,
) -> Result<Option<(String, SortedKeys)>> {
    let Some(predicate) = scan_predicate(input) else {
        return Ok(None);
    };
    let predicate = snapshot_physical_expr(predicate)?;
    Ok(split_conjunction(&predicate)
        .into_iter()
        .find_map(|conjunct| {
            let (column, values) = long_list(conjunct)?;
            let field = config.file_schema().field_with_name(column.name()).ok()?;
            let keys = SortedKeys::new(field.data_type(), &values)?;
            Some((column.name().to_string(), keys))
        }))
}

/// The files of a group, each with the access plan of the pages of `column` that can hold
/// one of `keys`.
async fn narrowed(
    config: &FileScanConfig,
    group: &FileGroup,
    column: &str,
    keys: &SortedKeys,
    context: &Arc<TaskContext>,
    counts: &PageCounts,
) -> Result<Vec<PartitionedFile>> {
    let store = context
        .runtime_env()
        .object_store(&config.object_store_url)?;
    let mut files = Vec::with_capacity(group.len());
    for file in group.iter() {
        let planned = file.extension::<ParquetAccessPlan>().is_some()
            || file.extension::<ParquetRowSelection>().is_some();
        let metadata = if planned {
            None
        } else {
            // Not through the session's metadata cache: a footer cached with its page
            // index makes later full scans of the file read it page by page (slower).
            DFParquetMetadata::new(store.as_ref(), &file.object_meta)
                .with_page_index_policy(Some(PageIndexPolicy::Optional))
                .fetch_metadata()
                .await
                .ok()
        };
        // A file whose footer cannot be read is left to the scan, which names the error.
        match metadata.and_then(|m| pages_with_keys(&m, column, keys, counts)) {
            Some(plan) => files.push(file.clone().with_extension(plan)),
            None => files.push(file.clone()),
        }
    }
    Ok(files)
}

/// The access plan of a file that reads only the pages of `column` whose range holds a
/// key; None when the file has no page index for the column.
fn pages_with_keys(
    metadata: &ParquetMetaData,
    column: &str,
    keys: &SortedKeys,
    counts: &PageCounts,
) -> Option<ParquetAccessPlan> {
    let column_index = metadata.column_index()?;
    let offset_index = metadata.offset_index()?;
    let file_metadata = metadata.file_metadata();
    let schema: Schema = parquet_to_arrow_schema(
        file_metadata.schema_descr(),
        file_metadata.key_value_metadata(),
    )
    .ok()?;
    // The file's own type of the column must order like the keys (a file that stores the
    // column as integers under a text table column does not).
    if !keys.ordered_like(schema.field_with_name(column).ok()?.data_type()) {
        return None;
    }
    let converter =
        StatisticsConverter::try_new(column, &schema, file_metadata.schema_descr()).ok()?;
    let mut row_groups = Vec::with_capacity(metadata.num_row_groups());
    for index in 0..metadata.num_row_groups() {
        let group = [index];
        let mins = converter
            .data_page_mins(column_index, offset_index, &group)
            .ok()?;
        let maxes = converter
            .data_page_maxes(column_index, offset_index, &group)
            .ok()?;
        let rows = converter
            .data_page_row_counts(offset_index, metadata.row_groups(), &group)
            .ok()??;
        let bounds = keys.bounds(&mins, &maxes)?;
        let mut selectors: Vec<RowSelector> = Vec::with_capacity(rows.len());
        let mut kept = 0;
        for (page, rows) in rows.iter().enumerate() {
            let rows = rows? as usize;
            if bounds.may_hold(keys, page) {
                kept += 1;
                selectors.push(RowSelector::select(rows));
            } else {
                selectors.push(RowSelector::skip(rows));
            }
        }
        counts.total.add(selectors.len());
        counts.kept.add(kept);
        row_groups.push(if kept == 0 {
            RowGroupAccess::Skip
        } else if kept == selectors.len() {
            RowGroupAccess::Scan
        } else {
            RowGroupAccess::Selection(RowSelection::from(selectors))
        });
    }
    Some(ParquetAccessPlan::new(row_groups))
}

/// The keys of a list, sorted, in a form their column's page bounds compare with.
#[derive(Debug, PartialEq)]
enum SortedKeys {
    /// Text columns: Parquet orders their statistics byte by byte, as `str` does.
    Text(Vec<String>),
    Integer(Vec<i64>),
}

impl SortedKeys {
    /// The list's non-null values for a column of `column_type`; None for other types or
    /// when a value is of another kind than the column.
    fn new(column_type: &DataType, values: &[&ScalarValue]) -> Option<Self> {
        let column_type = match column_type {
            DataType::Dictionary(_, value) => value.as_ref(),
            other => other,
        };
        let mut keys = if is_text(column_type) {
            let mut text = Vec::with_capacity(values.len());
            for value in values.iter().filter(|v| !v.is_null()) {
                text.push(text_value(value)?);
            }
            Self::Text(text)
        } else if column_type.is_integer() {
            let mut numbers = Vec::with_capacity(values.len());
            for value in values.iter().filter(|v| !v.is_null()) {
                if !value.data_type().is_integer() {
                    return None;
                }
                match value.cast_to(&DataType::Int64).ok()? {
                    ScalarValue::Int64(Some(n)) => numbers.push(n),
                    _ => return None,
                }
            }
            Self::Integer(numbers)
        } else {
            return None;
        };
        match &mut keys {
            Self::Text(text) => {
                text.sort_unstable();
                text.dedup();
            }
            Self::Integer(numbers) => {
                numbers.sort_unstable();
                numbers.dedup();
            }
        }
        Some(keys)
    }

    /// Whether a column of `data_type` is of the keys' kind (text, integer).
    fn ordered_like(&self, data_type: &DataType) -> bool {
        let data_type = match data_type {
            DataType::Dictionary(_, value) => value.as_ref(),
            other => other,
        };
        match self {
            Self::Text(_) => is_text(data_type),
            Self::Integer(_) => data_type.is_integer(),
        }
    }

    /// The pages' bounds converted to the keys' form; None when they cannot be.
    fn bounds(&self, mins: &ArrayRef, maxes: &ArrayRef) -> Option<PageBounds> {
        let to = match self {
            Self::Text(_) => DataType::Utf8,
            Self::Integer(_) => DataType::Int64,
        };
        Some(PageBounds {
            mins: cast(mins, &to).ok()?,
            maxes: cast(maxes, &to).ok()?,
        })
    }
}

/// The minimum and maximum of every page of a column chunk (null where unknown).
struct PageBounds {
    mins: ArrayRef,
    maxes: ArrayRef,
}

impl PageBounds {
    /// Whether page `page` may hold one of `keys`: true unless its bounds are known and
    /// no key falls within them.
    fn may_hold(&self, keys: &SortedKeys, page: usize) -> bool {
        if page >= self.mins.len() || self.mins.is_null(page) || self.maxes.is_null(page) {
            return true;
        }
        match keys {
            SortedKeys::Text(keys) => {
                let (mins, maxes) = (self.mins.as_string::<i32>(), self.maxes.as_string::<i32>());
                let (min, max) = (mins.value(page), maxes.value(page));
                let first = keys.partition_point(|k| k.as_str() < min);
                keys.get(first).is_some_and(|k| k.as_str() <= max)
            }
            SortedKeys::Integer(keys) => {
                let mins = self.mins.as_primitive::<Int64Type>();
                let maxes = self.maxes.as_primitive::<Int64Type>();
                let (min, max) = (mins.value(page), maxes.value(page));
                let first = keys.partition_point(|k| *k < min);
                keys.get(first).is_some_and(|k| *k <= max)
            }
        }
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// The text of a string literal (of any string type, dictionary-encoded or not).
fn text_value(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        ScalarValue::Dictionary(_, inner) => text_value(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    fn refs(values: &[ScalarValue]) -> Vec<&ScalarValue> {
        values.iter().collect()
    }

    fn text(values: &[&str]) -> Vec<ScalarValue> {
        values
            .iter()
            .map(|v| ScalarValue::Utf8(Some(v.to_string())))
            .collect()
    }

    #[test]
    fn a_page_is_kept_when_a_key_falls_within_its_bounds() {
        let keys =
            SortedKeys::new(&DataType::Utf8View, &refs(&text(&["c", "a", "m", "c"]))).unwrap();
        assert_eq!(
            keys,
            SortedKeys::Text(vec!["a".into(), "c".into(), "m".into()])
        );
        let mins: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("d"),
            Some("n"),
            None,
            Some("b"),
        ]));
        let maxes: ArrayRef = Arc::new(StringArray::from(vec![
            Some("b"),
            Some("l"),
            Some("z"),
            Some("z"),
            Some("c"),
        ]));
        let bounds = keys.bounds(&mins, &maxes).unwrap();
        let kept: Vec<bool> = (0..5).map(|p| bounds.may_hold(&keys, p)).collect();
        // [a,b] holds a; [d,l] none; [n,z] none; unknown min: kept; [b,c] holds c.
        assert_eq!(kept, vec![true, false, false, true, true]);
    }

    #[test]
    fn integer_keys_compare_as_numbers_and_other_kinds_are_refused() {
        let values: Vec<ScalarValue> = [5i32, -3, 40]
            .iter()
            .map(|v| ScalarValue::Int32(Some(*v)))
            .chain([ScalarValue::Int32(None)])
            .collect();
        let keys = SortedKeys::new(&DataType::Int64, &refs(&values)).unwrap();
        assert_eq!(keys, SortedKeys::Integer(vec![-3, 5, 40]));
        let mins: ArrayRef = Arc::new(Int64Array::from(vec![-10, 6, 41]));
        let maxes: ArrayRef = Arc::new(Int64Array::from(vec![-3, 39, 100]));
        let bounds = keys.bounds(&mins, &maxes).unwrap();
        let kept: Vec<bool> = (0..3).map(|p| bounds.may_hold(&keys, p)).collect();
        assert_eq!(kept, vec![true, false, false]);
        // A file storing the column as text does not order like integer keys.
        assert!(keys.ordered_like(&DataType::Dictionary(
            Box::new(DataType::Int32),
            Box::new(DataType::UInt16)
        )));
        assert!(!keys.ordered_like(&DataType::Utf8));
        // Text literals against an integer column, floating-point columns: no pruning.
        assert_eq!(
            SortedKeys::new(&DataType::Int64, &refs(&text(&["1"]))),
            None
        );
        assert_eq!(SortedKeys::new(&DataType::Float64, &refs(&values)), None);
    }
}
