//! A physical rule that makes cross joins and nested-loop joins return to the runtime
//! between their output batches: their output is wrapped in DataFusion's
//! `CooperativeExec`, which spends tokio's task budget on every batch and yields when it is
//! spent. Without it, a cross join of two large inputs (one output batch per row of its
//! collected left side before it reads its right side again) never yields, and the task
//! that runs it can be neither cancelled nor preempted until the join ends. A nested-loop
//! join whose condition rejects almost every pair can still spend long inside one batch
//! (docs/SERVICE.md).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{CrossJoinExec, NestedLoopJoinExec};

/// The rule; added to the physical optimizer by the engine.
#[derive(Debug, Default)]
pub struct CooperativeJoins;

impl PhysicalOptimizerRule for CooperativeJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let join = node.downcast_ref::<CrossJoinExec>().is_some()
                || node.downcast_ref::<NestedLoopJoinExec>().is_some();
            if join {
                Ok(Transformed::yes(
                    Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
                ))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "cooperative_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
