//! The barrier in the physical plan: planned from [`super::VisibleRows`], it lets through
//! DataFusion's filter pushdown only the conditions that cannot fail, and is removed when
//! the physical optimizer is done ([`DropVisibleRows`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, Statistics};
use datafusion::config::ConfigOptions;
use datafusion::execution::TaskContext;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::filter_pushdown::{
    ChildFilterDescription, FilterDescription, FilterPushdownPhase,
};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::{VisibleRows, infallible};

/// The physical barrier: its input's partitions, unchanged.
#[derive(Debug)]
pub struct VisibleRowsExec {
    input: Arc<dyn ExecutionPlan>,
}

impl VisibleRowsExec {
    /// The barrier over `input`.
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        VisibleRowsExec { input }
    }
}

impl DisplayAs for VisibleRowsExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VisibleRowsExec")
    }
}

impl ExecutionPlan for VisibleRowsExec {
    fn name(&self) -> &str {
        "VisibleRowsExec"
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

    fn supports_limit_pushdown(&self) -> bool {
        true
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
            return datafusion::common::internal_err!("VisibleRowsExec has one input");
        }
        Ok(Arc::new(Self::new(children.swap_remove(0))))
    }

    /// Only the conditions that cannot fail go down; the others stay with the plan above,
    /// which the barrier's input gives only visible rows.
    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        let schema = self.input.schema();
        // A filter is refused by standing in for it a column the input does not have (the
        // pushdown then reports the parent's own filter as not pushed, by position).
        let refused: Arc<dyn PhysicalExpr> = Arc::new(Column::new("", usize::MAX));
        let offered: Vec<Arc<dyn PhysicalExpr>> = parent_filters
            .iter()
            .map(|f| {
                if infallible::physical(f, &schema) {
                    Arc::clone(f)
                } else {
                    Arc::clone(&refused)
                }
            })
            .collect();
        Ok(FilterDescription::new()
            .with_child(ChildFilterDescription::from_child(&offered, &self.input)?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    /// The input's statistics at the same partition: the rows pass unchanged (join
    /// selection sizes the sides by them).
    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        match input_stats {
            [input] => Ok(Arc::clone(input)),
            _ => datafusion::common::internal_err!("VisibleRowsExec has one input"),
        }
    }
}

/// Plans [`VisibleRows`] as [`VisibleRowsExec`].
#[derive(Debug)]
struct VisibleRowsPlanner;

#[async_trait]
impl ExtensionPlanner for VisibleRowsPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if node.as_any().downcast_ref::<VisibleRows>().is_none() {
            return Ok(None);
        }
        let [input] = physical_inputs else {
            return datafusion::common::internal_err!("VisibleRows has one input");
        };
        Ok(Some(Arc::new(VisibleRowsExec::new(Arc::clone(input)))))
    }
}

/// DataFusion's physical planner with the barrier's.
#[derive(Debug, Default)]
pub struct BarrierQueryPlanner;

#[async_trait]
impl QueryPlanner for BarrierQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(VisibleRowsPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// Removes every barrier once filters have been pushed down: what runs is the plan
/// without it, with the fallible conditions left above the rules' filters.
#[derive(Debug, Default)]
pub struct DropVisibleRows;

impl PhysicalOptimizerRule for DropVisibleRows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let dropped = plan.transform_up(|node| {
            Ok(match node.downcast_ref::<VisibleRowsExec>() {
                Some(barrier) => Transformed::yes(Arc::clone(&barrier.input)),
                None => Transformed::no(node),
            })
        })?;
        Ok(dropped.data)
    }

    fn name(&self) -> &str {
        "drop_visible_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
