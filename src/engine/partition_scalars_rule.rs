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
//! row of a file has its directory's value. Anything else is left to the plan. Row rules
//! ([`crate::access::RowFilter`]) add their filter above the scans before the analyzer
//! runs: a subquery under a rule has a filter, and is left to the plan.

use std::collections::{BTreeSet, HashMap};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, Subquery};
use datafusion::optimizer::AnalyzerRule;

use crate::catalog::manifest::TableEntry;

/// The rule, holding each partitioned catalogue table's partition values.
#[derive(Debug, Default)]
pub struct PartitionScalars {
    /// By the table's listing URL: each partition column's distinct values.
    tables: Vec<(String, HashMap<String, BTreeSet<String>>)>,
}

impl PartitionScalars {
    /// Adds the table at the listing URL `url`, described by `entry`; a table whose
    /// partition values are not all plain names (letters, digits, `_`, `-`, `.`) is left
    /// out rather than decoded.
    pub fn add(&mut self, url: String, entry: &TableEntry) {
        if entry.partition_columns.is_empty() || entry.data_files.is_empty() {
            return;
        }
        let mut values: HashMap<String, BTreeSet<String>> = HashMap::new();
        for file in entry.data_files.iter().filter(|f| f.rows > 0) {
            for column in &entry.partition_columns {
                let prefix = format!("{column}=");
                let Some(value) = file
                    .path
                    .split('/')
                    .find_map(|segment| segment.strip_prefix(prefix.as_str()))
                    .filter(|v| plain(v))
                else {
                    return;
                };
                values
                    .entry(column.clone())
                    .or_default()
                    .insert(value.to_string());
            }
        }
        self.tables.push((url, values));
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
        let values = self.tables.iter().find_map(|(url, columns)| {
            super::tables::scans_url(scan, url)
                .then(|| columns.get(&column.name))
                .flatten()
        })?;
        let text = |v: Option<&String>| ScalarValue::Utf8(v.cloned());
        let value = match func.name() {
            "min" => text(values.first()),
            "max" => text(values.last()),
            "count" if params.distinct => ScalarValue::Int64(Some(values.len() as i64)),
            _ => return None,
        };
        value.cast_to(&output).ok()
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
