//! Per-star statistics that hold every sample (`lc_stats`, `stetson_j`) aggregated in
//! one ordered pass instead of partial states shuffled between partitions.
//!
//! On a scan sorted by star id in several partitions, DataFusion plans a partial
//! aggregate per partition, an order-preserving hash repartition of the partial states
//! (lists of every sample) and a final aggregate. For these aggregates the partial
//! states are the rows themselves: the plan copies every sample twice and buffers the
//! states of the partition that runs ahead. This physical rule merges the sorted
//! partitions instead (`SortPreservingMergeExec`), aggregates once in `Single` mode in
//! star order (each star's samples freed when the next star starts), then hash-partitions
//! the small result as the final aggregate did, so that the plan above sees the same
//! partitioning and ordering. It applies only when every aggregate of the node is one of
//! these and the merged input is ordered on a group key (else the plan is unchanged).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, InputOrderMode, Partitioning,
};

/// The aggregates whose partial state is every sample of the group.
const SAMPLE_AGGREGATES: [&str; 2] = ["lc_stats", "stetson_j"];

/// The rule; add it last with `SessionStateBuilder::with_physical_optimizer_rule`.
#[derive(Debug, Default)]
pub struct SortedSamplesAggregate;

impl PhysicalOptimizerRule for SortedSamplesAggregate {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(single_ordered_pass(&node)?.map_or(Transformed::no(node), Transformed::yes))
        })
        .data()
    }

    fn name(&self) -> &str {
        "sorted_samples_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The replacement of a final aggregate over repartitioned partial sample states, when
/// the pattern and the input order allow it.
fn single_ordered_pass(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(last) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *last.mode() != AggregateMode::FinalPartitioned {
        return Ok(None);
    }
    let Some(shuffle) = last.input().downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Some(partial) = shuffle.input().downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *partial.mode() != AggregateMode::Partial || !only_sample_aggregates(partial) {
        return Ok(None);
    }
    let rows = partial.input();
    let Some(order) = rows.output_ordering() else {
        return Ok(None);
    };
    let out_partitioning = last.properties().output_partitioning().clone();
    let Partitioning::Hash(keys, n) = out_partitioning else {
        return Ok(None);
    };
    let merged: Arc<dyn ExecutionPlan> = if rows.output_partitioning().partition_count() > 1 {
        Arc::new(SortPreservingMergeExec::new(order.clone(), rows.clone()))
    } else {
        rows.clone()
    };
    let single = AggregateExec::try_new(
        AggregateMode::Single,
        partial.group_expr().clone(),
        partial.aggr_expr().to_vec(),
        partial.filter_expr().to_vec(),
        merged,
        partial.input_schema(),
    )?;
    if *single.input_order_mode() == InputOrderMode::Linear || single.schema() != last.schema() {
        return Ok(None);
    }
    // One input partition: the repartition keeps the star order without merging.
    let spread = RepartitionExec::try_new(Arc::new(single), Partitioning::Hash(keys, n))?;
    Ok(Some(Arc::new(spread)))
}

fn only_sample_aggregates(node: &AggregateExec) -> bool {
    !node.aggr_expr().is_empty()
        && node
            .aggr_expr()
            .iter()
            .all(|a| SAMPLE_AGGREGATES.contains(&a.fun().name()))
}
