//! An analyzer rule that answers uncorrelated scalar subqueries over a partition column
//! of a catalogue table from the manifest, before the optimizer plans them:
//!
//! ```sql
//! ... WHERE field = (SELECT min(field) FROM measurements) ...
//! ```
//!
//! becomes `WHERE field = 'lm001'`, which the listing table then prunes to that field's
//! directory (DataFusion 55 runs the subquery first, as a `ScalarSubqueryExec`, but the
//! scan under it is planned before the value is known and reads every field). `min`, `max` and
//! `count(DISTINCT ...)` of a Hive partition column of a table scanned whole (no filter,
//! no grouping) are the smallest, the largest and the number of the distinct values the
//! manifest's files with rows carry in their paths: exactly what a scan finds, since each
//! row of a file has its directory's value. `min` and `max` of a text or integer column
//! that every such file has an exact range of in the manifest (`star_id`, `healpix`) are
//! the smallest and the largest of those ranges. Anything else is left to the plan. Row rules
//! ([`crate::access::RowFilter`]) add their filter above the scans before the analyzer
//! runs: a subquery under a rule has a filter, and is left to the plan.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, Subquery};
use datafusion::optimizer::AnalyzerRule;

use crate::catalog::manifest::{DataFile, RangeValue, TableEntry};

/// The rule, holding each catalogue table's partition values and exact column ranges.
#[derive(Debug, Default)]
pub struct PartitionScalars {
    /// By the table's listing URL.
    tables: Vec<(String, TableFacts)>,
}

/// What the manifest says of one table's files with rows.
#[derive(Debug, Default)]
struct TableFacts {
    /// Each partition column's distinct values.
    partitions: HashMap<String, BTreeSet<String>>,
    /// The smallest and largest value of each column every file has an exact range of
    /// (text and integer columns: Parquet's bounds of a floating-point column leave NaN
    /// out, which `min` and `max` do not).
    ranges: HashMap<String, (ScalarValue, ScalarValue)>,
}

impl PartitionScalars {
    /// Adds the table at the listing URL `url`, described by `entry`. Its partition values
    /// are kept when they are all plain names (letters, digits, `_`, `-`, `.`; else they
    /// would need decoding), its columns' ranges when every file with rows has one.
    pub fn add(&mut self, url: String, entry: &TableEntry) {
        let files: Vec<_> = entry.data_files.iter().filter(|f| f.rows > 0).collect();
        if files.is_empty() {
            return;
        }
        let mut facts = TableFacts::default();
        for column in &entry.partition_columns {
            if let Some(values) = partition_values(&files, column) {
                facts.partitions.insert(column.clone(), values);
            }
        }
        for column in files[0].column_ranges.keys() {
            if let Some(bounds) = exact_range(&files, column) {
                facts.ranges.insert(column.clone(), bounds);
            }
        }
        if !facts.partitions.is_empty() || !facts.ranges.is_empty() {
            self.tables.push((url, facts));
        }
    }

    /// Whether no table was added.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The value of `subquery` when the manifest answers it.
    fn answer(&self, subquery: &Subquery) -> Option<ScalarValue> {
        if !subquery.outer_ref_columns.is_empty() {
            return None;
        }
        let output = subquery
            .subquery
            .schema()
            .fields()
            .first()?
            .data_type()
            .clone();
        let mut plan = subquery.subquery.as_ref();
        // The aggregate's one value, maybe under a projection naming it.
        if let LogicalPlan::Projection(p) = plan {
            if p.expr.len() != 1 || !matches!(unaliased(&p.expr[0]), Expr::Column(_)) {
                return None;
            }
            plan = p.input.as_ref();
        }
        let LogicalPlan::Aggregate(Aggregate {
            input,
            group_expr,
            aggr_expr,
            ..
        }) = plan
        else {
            return None;
        };
        let [aggregate] = aggr_expr.as_slice() else {
            return None;
        };
        let (LogicalPlan::TableScan(scan), true) = (input.as_ref(), group_expr.is_empty()) else {
            return None;
        };
        if !scan.filters.is_empty() || scan.fetch.is_some() {
            return None;
        }
        let Expr::AggregateFunction(AggregateFunction { func, params }) = unaliased(aggregate)
        else {
            return None;
        };
        if params.filter.is_some() || !params.order_by.is_empty() {
            return None;
        }
        let [Expr::Column(column)] = params.args.as_slice() else {
            return None;
        };
        let facts = self
            .tables
            .iter()
            .find_map(|(url, facts)| super::tables::scans_url(scan, url).then_some(facts))?;
        let text = |v: Option<&String>| ScalarValue::Utf8(v.cloned());
        let value = match (facts.partitions.get(&column.name), func.name()) {
            (Some(values), "min") => text(values.first()),
            (Some(values), "max") => text(values.last()),
            (Some(values), "count") if params.distinct => {
                ScalarValue::Int64(Some(values.len() as i64))
            }
            (None, "min") => facts.ranges.get(&column.name)?.0.clone(),
            (None, "max") => facts.ranges.get(&column.name)?.1.clone(),
            _ => return None,
        };
        value.cast_to(&output).ok()
    }
}

/// The values of the partition column `column` in the paths of `files`, when every file
/// has a plain one.
fn partition_values(files: &[&DataFile], column: &str) -> Option<BTreeSet<String>> {
    let prefix = format!("{column}=");
    files
        .iter()
        .map(|file| {
            file.path
                .split('/')
                .find_map(|segment| segment.strip_prefix(prefix.as_str()))
                .filter(|v| plain(v))
                .map(str::to_string)
        })
        .collect()
}

/// The smallest and the largest value of `column` over `files`, when every file has an
/// exact range of it.
fn exact_range(files: &[&DataFile], column: &str) -> Option<(ScalarValue, ScalarValue)> {
    let mut bounds = files.iter().map(|file| {
        let range = file.column_ranges.get(column)?;
        Some((exact(&range.min)?, exact(&range.max)?))
    });
    let (mut low, mut high) = bounds.next()??;
    for bound in bounds {
        let (min, max) = bound?;
        if min.partial_cmp(&low)? == Ordering::Less {
            low = min;
        }
        if max.partial_cmp(&high)? == Ordering::Greater {
            high = max;
        }
    }
    Some((low, high))
}

/// A manifest bound as a value, for the types whose bounds are exact.
fn exact(bound: &RangeValue) -> Option<ScalarValue> {
    match bound {
        RangeValue::Int(v) => Some(ScalarValue::Int64(Some(*v))),
        RangeValue::Text(v) => Some(ScalarValue::Utf8(Some(v.clone()))),
        RangeValue::Float(_) => None,
    }
}

/// `expr` without its aliases.
fn unaliased(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(a) => unaliased(&a.expr),
        e => e,
    }
}

/// Whether a partition value reads as itself in a path (no escapes to decode).
fn plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl AnalyzerRule for PartitionScalars {
    fn name(&self) -> &str {
        "partition_scalars"
    }

    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|expr| {
                expr.transform_up(|e| match &e {
                    Expr::ScalarSubquery(subquery) => match self.answer(subquery) {
                        Some(value) => Ok(Transformed::yes(Expr::Literal(value, None))),
                        None => Ok(Transformed::no(e)),
                    },
                    _ => Ok(Transformed::no(e)),
                })
            })
        })
        .map(|t| t.data)
    }
}
