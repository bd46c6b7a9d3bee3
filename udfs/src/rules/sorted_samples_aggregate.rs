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
//! partitioning and ordering. It applies only when every aggregate of the node holds every
//! sample (its partial state is lists) and the merged input is ordered on a group key
//! (else the plan is unchanged).
//!
//! When the files' statistics show that no two files share a value of that key (a
//! survey's files each hold their own run of star ids), there is nothing to merge: the
//! scan is regrouped into runs of files ([`key_range_partitions`]) and each partition is
//! aggregated on its own core (`SinglePartitioned`), every group being whole in one
//! partition. This also applies to any other aggregate grouped on that key (per-star
//! `avg`, `count`): their partial states are small, but an order-preserving merge of runs
//! whose star ids do not interleave drains them one after the other, on one core. For the
//! same reason the hash repartition above the aggregate preserves the star order only
//! when the plan above relies on it, and a merge back into star order above it (`ORDER BY
//! star_id`) becomes the runs' concatenation, computed at once ([`KeyOrderedConcatExec`]).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, InputOrderMode, Partitioning, PhysicalExpr,
};

use super::key_ordered_concat::KeyOrderedConcatExec;
use super::key_range_partitions::key_range_partitions;

/// The rule; add it last with `SessionStateBuilder::with_physical_optimizer_rule`.
#[derive(Debug, Default)]
pub struct SortedSamplesAggregate;

impl PhysicalOptimizerRule for SortedSamplesAggregate {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Twice the cores: runs of files of unequal sizes still keep every core busy.
        let runs = config.execution.target_partitions.saturating_mul(2);
        // A result in an order (ORDER BY over the hash partitions this rule applies to)
        // always has a node above the aggregate that requires its input ordered (the
        // merge of the sorted partitions); the root's own order is therefore not needed.
        let plan = rewrite(plan, false, runs, 0)?;
        plan.transform_up(|node| {
            Ok(match runs_in_key_order(&node)? {
                Some(concatenated) => Transformed::yes(concatenated),
                None => Transformed::no(node),
            })
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

/// Plans deeper than this are left as DataFusion planned them below that depth (a bound
/// on this rule's recursion, not on what DataFusion accepts).
const MAX_DEPTH: usize = 256;

/// `node` with every match below and at it replaced, children first. `order_needed`: the
/// plan above relies on the order of `node`'s output (a node that requires its input
/// ordered, or an ordered output whose order is needed in turn, which is assumed to come
/// from every input; a sort makes its own order).
fn rewrite(
    node: Arc<dyn ExecutionPlan>,
    order_needed: bool,
    runs: usize,
    depth: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    if depth > MAX_DEPTH {
        return Ok(node);
    }
    let required = node.required_input_ordering();
    let passes_order = order_needed && node.output_ordering().is_some() && !node.is::<SortExec>();
    let children = node
        .children()
        .into_iter()
        .enumerate()
        .map(|(i, child)| {
            let needed = passes_order || required.get(i).is_some_and(Option::is_some);
            rewrite(child.clone(), needed, runs, depth + 1)
        })
        .collect::<Result<Vec<_>>>()?;
    let node = if children.is_empty() {
        node
    } else {
        replace_children_if_necessary(node, children)?
    };
    Ok(single_ordered_pass(&node, order_needed, runs)?.unwrap_or(node))
}

/// The replacement of a final aggregate over repartitioned partial states: any aggregate
/// when the files split by the leading group key, sample aggregates also by a merge.
fn single_ordered_pass(
    node: &Arc<dyn ExecutionPlan>,
    order_needed: bool,
    runs: usize,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
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
    if *partial.mode() != AggregateMode::Partial {
        return Ok(None);
    }
    let samples = only_sample_aggregates(partial);
    let rows = partial.input();
    let Some(order) = rows.output_ordering() else {
        return Ok(None);
    };
    let out_partitioning = last.properties().output_partitioning().clone();
    let Partitioning::Hash(keys, n) = out_partitioning else {
        return Ok(None);
    };
    // Grouping sets would compute their coarser groups (the grand total) once per run.
    let split = match leading_group_key(partial, order.first().expr.as_ref()) {
        Some(key) if partial.group_expr().is_single() && runs > 1 => {
            key_range_partitions(rows, key, runs)?
        }
        _ => None,
    };
    let (mode, input) = match split {
        Some(split) => (AggregateMode::SinglePartitioned, split),
        // Other aggregates have small partial states: their parallel plan stays.
        None if !samples => return Ok(None),
        None if rows.output_partitioning().partition_count() > 1 => (
            AggregateMode::Single,
            Arc::new(SortPreservingMergeExec::new(order.clone(), rows.clone())) as _,
        ),
        None => (AggregateMode::Single, rows.clone()),
    };
    let single = AggregateExec::try_new(
        mode,
        partial.group_expr().clone(),
        partial.aggr_expr().to_vec(),
        partial.filter_expr().to_vec(),
        input,
        partial.input_schema(),
    )?;
    if *single.input_order_mode() == InputOrderMode::Linear || single.schema() != last.schema() {
        return Ok(None);
    }
    // One input partition: the repartition keeps the star order without merging. Several
    // (runs of files): it merges them per output partition only when the plan above
    // relies on the order the final aggregate gave. Such a merge takes the runs one after
    // the other (their star ids do not interleave), so it would also serialize them.
    let spread = RepartitionExec::try_new(Arc::new(single), Partitioning::Hash(keys, n))?;
    let spread = match last.properties().output_ordering() {
        Some(wanted) if order_needed => {
            let spread = spread.with_preserve_order();
            let kept = spread
                .properties()
                .equivalence_properties()
                .ordering_satisfy(wanted.clone())?;
            if !kept {
                return Ok(None);
            }
            spread
        }
        _ => spread,
    };
    Ok(Some(Arc::new(spread)))
}

/// A merge of per-key results back into key order replaced by their concatenation when the
/// results come from runs of files in key order: `SortPreservingMergeExec` over
/// projections and sorts of each partition over a hash repartition of an aggregate grouped
/// on the key in `SinglePartitioned` mode, whose input partitions hold ascending, disjoint
/// ranges of the key, and the merge ordered first by that key, ascending. The repartition
/// is dropped (the merge gathers every partition anyway), the sorts and projections then
/// run on each run, and [`KeyOrderedConcatExec`] computes the runs at once and returns
/// them one after the other, where the merge took them one after the other.
fn runs_in_key_order(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(merge) = node.downcast_ref::<SortPreservingMergeExec>() else {
        return Ok(None);
    };
    // The nodes between the merge and the repartition, each working on one partition.
    let mut between = Vec::new();
    let mut below = merge.input().clone();
    loop {
        let per_partition = below.is::<ProjectionExec>()
            || below
                .downcast_ref::<SortExec>()
                .is_some_and(SortExec::preserve_partitioning);
        if !per_partition {
            break;
        }
        let child = below.children()[0].clone();
        between.push(below);
        below = child;
    }
    let Some(spread) = below.downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    if !matches!(spread.partitioning(), Partitioning::Hash(..)) {
        return Ok(None);
    }
    let Some(aggregate) = spread.input().downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *aggregate.mode() != AggregateMode::SinglePartitioned
        || *aggregate.input_order_mode() == InputOrderMode::Linear
    {
        return Ok(None);
    }
    let rows = aggregate.input();
    let Some(order) = rows.output_ordering() else {
        return Ok(None);
    };
    let Some(key) = leading_group_key(aggregate, order.first().expr.as_ref()) else {
        return Ok(None);
    };
    if !super::key_range_partitions::partitions_in_key_order(rows, key) {
        return Ok(None);
    }
    // The key's column in the aggregate's output, then through each projection.
    let Some(mut at) = aggregate
        .group_expr()
        .expr()
        .iter()
        .position(|(e, _)| e.downcast_ref::<Column>() == Some(key))
    else {
        return Ok(None);
    };
    let mut rebuilt = spread.input().clone();
    for node in between.iter().rev() {
        if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
            let Some(out) = projection.expr().iter().position(|p| {
                p.expr
                    .downcast_ref::<Column>()
                    .is_some_and(|c| c.index() == at)
            }) else {
                return Ok(None);
            };
            at = out;
        }
        rebuilt = replace_children_if_necessary(node.clone(), vec![rebuilt])?;
    }
    let leading = merge.expr().first();
    let leads = leading
        .expr
        .downcast_ref::<Column>()
        .is_some_and(|c| c.index() == at)
        && !leading.options.descending;
    if !leads
        || !rebuilt
            .equivalence_properties()
            .ordering_satisfy(merge.expr().clone())?
    {
        return Ok(None);
    }
    Ok(Some(Arc::new(KeyOrderedConcatExec::new(
        rebuilt,
        merge.expr().clone(),
        merge.fetch(),
    ))))
}

/// The column that leads the input's order, when it is also a group key.
fn leading_group_key<'a>(
    partial: &AggregateExec,
    leading: &'a dyn PhysicalExpr,
) -> Option<&'a Column> {
    let column = leading.downcast_ref::<Column>()?;
    partial
        .group_expr()
        .expr()
        .iter()
        .any(|(e, _)| e.downcast_ref::<Column>() == Some(column))
        .then_some(column)
}

fn only_sample_aggregates(node: &AggregateExec) -> bool {
    !node.aggr_expr().is_empty() && node.aggr_expr().iter().all(|a| holds_every_sample(a))
}

/// Whether an aggregate's partial state is every sample of its group: each field of its
/// state a list (`lc_stats`, `stetson_j`, and DataFusion's `array_agg`, `median`, the
/// DISTINCT forms), known by what the aggregate is rather than by its name.
fn holds_every_sample(aggregate: &AggregateFunctionExpr) -> bool {
    aggregate.state_fields().is_ok_and(|fields| {
        !fields.is_empty()
            && fields.iter().all(|f| {
                matches!(
                    f.data_type(),
                    DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_)
                )
            })
    })
}
