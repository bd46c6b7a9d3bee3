//! An optimizer rule that answers measurement counts over the survey geometry from the
//! catalogue's `measurement_counts` summary instead of scanning `measurements`:
//!
//! ```sql
//! SELECT field, colour, ccd, quarter, count(*) FROM measurements
//! [WHERE <only field, colour, ccd, quarter>] GROUP BY <some of field, colour, ccd, quarter>
//! ```
//!
//! becomes the same grouping over the summary with `coalesce(sum(n), 0)` for each
//! `count(*)`. The summary is written with every version (`catalog::summary`), so it holds
//! exactly the counts a scan finds; tests compare both. Anything else (another aggregate,
//! a filter on another column, `count(column)`, DISTINCT) is left to the scan.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    Aggregate, Expr, LogicalPlan, LogicalPlanBuilder, TableScan, TableSource, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The columns the summary is keyed by.
const KEYS: [&str; 4] = ["field", "colour", "ccd", "quarter"];

/// The rule, holding the summary table of the session's catalogue version.
pub struct CountsFromSummary {
    summary: Arc<dyn TableSource>,
    /// The URL of the catalogue's `measurements` listing table.
    measurements: String,
}

impl std::fmt::Debug for CountsFromSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountsFromSummary")
    }
}

impl CountsFromSummary {
    /// The rule over `summary` (the `measurement_counts` table) for the `measurements`
    /// listing table at the URL `measurements`.
    pub fn new(summary: Arc<dyn TableSource>, measurements: String) -> Self {
        CountsFromSummary {
            summary,
            measurements,
        }
    }
}

impl OptimizerRule for CountsFromSummary {
    fn name(&self) -> &str {
        "counts_from_summary"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let Some((scan, predicate)) = counted_scan(aggregate, &self.measurements) else {
            return Ok(Transformed::no(plan));
        };
        // Only deterministic conditions on the keys, without subqueries (whose columns
        // `column_refs` does not see).
        let keys_only = |e: &Expr| {
            !e.is_volatile()
                && !e
                    .exists(|x| {
                        Ok(matches!(
                            x,
                            Expr::Exists(_) | Expr::InSubquery(_) | Expr::ScalarSubquery(_)
                        ))
                    })
                    .unwrap_or(true)
                && e.column_refs()
                    .iter()
                    .all(|c| KEYS.contains(&c.name.as_str()))
        };
        let groups_are_keys = aggregate
            .group_expr
            .iter()
            .all(|e| matches!(e, Expr::Column(c) if KEYS.contains(&c.name.as_str())));
        let counts_only = aggregate.aggr_expr.iter().all(is_count_star);
        if !groups_are_keys || !counts_only || !predicate.is_none_or(keys_only) {
            return Ok(Transformed::no(plan));
        }
        let rewritten = self.summary_plan(aggregate, scan, predicate)?;
        Ok(Transformed::yes(rewritten))
    }
}

impl CountsFromSummary {
    /// The summary's grouping, projected to the aggregate's own output names.
    fn summary_plan(
        &self,
        aggregate: &Aggregate,
        scan: &TableScan,
        predicate: Option<&Expr>,
    ) -> Result<LogicalPlan> {
        let mut builder =
            LogicalPlanBuilder::scan(scan.table_name.clone(), self.summary.clone(), None)?;
        if let Some(p) = predicate {
            builder = builder.filter(p.clone())?;
        }
        let n = Expr::Column(Column::new(Some(scan.table_name.clone()), "n"));
        let sums: Vec<Expr> = (0..aggregate.aggr_expr.len())
            .map(|i| sum(n.clone()).alias(format!("__skyql_count_{i}")))
            .collect();
        let grouped = builder.aggregate(aggregate.group_expr.clone(), sums)?;
        let groups = aggregate.group_expr.len();
        let columns: Vec<Expr> = (0..aggregate.schema.fields().len())
            .map(|i| {
                let (qualifier, field) = aggregate.schema.qualified_field(i);
                if i < groups {
                    return Expr::Column(Column::from((qualifier, field)));
                }
                let total =
                    Expr::Column(Column::from_name(format!("__skyql_count_{}", i - groups)));
                datafusion::functions::expr_fn::coalesce(vec![total, lit(0i64)])
                    .alias_qualified(qualifier.cloned(), field.name())
            })
            .collect();
        grouped.project(columns)?.build()
    }
}

/// The scan of `measurements` the aggregate counts, directly or through one filter.
fn counted_scan<'a>(
    aggregate: &'a Aggregate,
    measurements: &str,
) -> Option<(&'a TableScan, Option<&'a Expr>)> {
    let (scan, predicate) = match aggregate.input.as_ref() {
        LogicalPlan::TableScan(scan) => (scan, None),
        LogicalPlan::Filter(filter) => match filter.input.as_ref() {
            LogicalPlan::TableScan(scan) => (scan, Some(&filter.predicate)),
            _ => return None,
        },
        _ => return None,
    };
    let plain = scan.filters.is_empty() && scan.fetch.is_none() && scan.projection.is_none();
    // The catalogue's table, not a table of the same name from elsewhere.
    let catalogue_table = super::tables::scans_url(scan, measurements);
    (plain && catalogue_table).then_some((scan, predicate))
}

/// `count(*)` / `count(1)`: a count of a non-null literal, without DISTINCT or FILTER.
fn is_count_star(e: &Expr) -> bool {
    let e = match e {
        Expr::Alias(alias) => alias.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(AggregateFunction { func, params }) = e else {
        return false;
    };
    func.name() == "count"
        && !params.distinct
        && params.filter.is_none()
        && params.order_by.is_empty()
        && params.args.len() == 1
        && matches!(&params.args[0], Expr::Literal(v, _) if !v.is_null())
}
