//! A barrier between a row rule's filter and the query above it, so that the query's own
//! conditions are evaluated on the rows the caller may see only.
//!
//! The access rules (`crate::access::RowFilter`) put `rule IS NOT TRUE` above every scan of
//! a protected table. Left to itself, the optimizer merges the query's conditions into that
//! filter (and into the Parquet scan's row filters), and DataFusion evaluates a conjunction
//! on whole batches when more than a fifth of a batch passes its first term: a condition
//! that fails on some values (`CAST(name AS INT) = 0`, `CASE WHEN ... THEN 1/0 END`)
//! could then fail because of a hidden row, and its failure would tell the caller
//! something about that row.
//!
//! [`VisibleRows`] is a logical node above the rule's filter that filters do not cross
//! (DataFusion's `push_down_filter` keeps every filter above an extension node). The rule
//! [`SafeFiltersBelow`] then moves below it the conjuncts that cannot fail on any value
//! ([`infallible`]): comparisons, `IN` lists, `BETWEEN`, cones... which DataFusion then
//! pushes into the scan to prune files, row groups and pages as before. The others stay
//! above and see only the rows the rule lets through. The physical plan keeps the barrier
//! ([`exec::VisibleRowsExec`]) while DataFusion pushes filters down, letting through only
//! the conditions that cannot fail (a join's keys, a top-k's bound), and drops it at the
//! end ([`exec::DropVisibleRows`]): the rows then flow as they would without it.
//!
//! On a cluster, the client sends the node to the scheduler in its plan ([`plan_codec`]),
//! and the scheduler plans it as the embedded engine does (`crate::cluster::scheduler`).
//! [`in_session`] tells whether a session plans it.

pub mod exec;
pub mod infallible;
#[cfg(feature = "cluster")]
pub mod plan_codec;

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchemaRef, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{Expr, Extension, Filter, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The logical node: its input's rows and schema, unchanged; filters stop above it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct VisibleRows {
    input: LogicalPlan,
}

impl VisibleRows {
    /// `input` (a rule's filter over a scan) under a barrier.
    pub fn above(input: LogicalPlan) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(VisibleRows { input }),
        })
    }
}

impl UserDefinedLogicalNodeCore for VisibleRows {
    fn name(&self) -> &str {
        "VisibleRows"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "VisibleRows")
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        if inputs.len() != 1 {
            return datafusion::common::internal_err!("VisibleRows has one input");
        }
        Ok(VisibleRows {
            input: inputs.swap_remove(0),
        })
    }

    /// Columns are pruned through the barrier as through a projection of every column.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![output_columns.to_vec()])
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }
}

/// The optimizer rule that moves a filter's infallible conjuncts below the barrier.
#[derive(Debug, Default)]
pub struct SafeFiltersBelow;

/// The rule's name, by which [`in_session`] finds it.
const RULE_NAME: &str = "visible_rows_safe_filters";

/// Whether sessions of `state` plan the barrier (the engine's, embedded and on a cluster).
pub fn in_session(state: &SessionState) -> bool {
    state.optimizers().iter().any(|r| r.name() == RULE_NAME)
}

impl OptimizerRule for SafeFiltersBelow {
    fn name(&self) -> &str {
        RULE_NAME
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
        let LogicalPlan::Filter(filter) = plan else {
            return Ok(Transformed::no(plan));
        };
        let LogicalPlan::Extension(extension) = filter.input.as_ref() else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        let Some(barrier) = extension.node.as_any().downcast_ref::<VisibleRows>() else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        let schema = barrier.input.schema();
        let (safe, kept): (Vec<Expr>, Vec<Expr>) =
            split_conjunction_owned(filter.predicate.clone())
                .into_iter()
                .partition(|e| infallible::logical(e, schema));
        let Some(safe) = conjunction(safe) else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        let below = Filter::try_new(safe, Arc::new(barrier.input.clone()))?;
        let barrier = VisibleRows::above(LogicalPlan::Filter(below));
        Ok(Transformed::yes(match conjunction(kept) {
            Some(kept) => LogicalPlan::Filter(Filter::try_new(kept, Arc::new(barrier))?),
            None => barrier,
        }))
    }
}
