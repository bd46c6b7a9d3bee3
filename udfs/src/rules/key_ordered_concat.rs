//! The partitions of a plan concatenated in their order, each computed ahead on its own
//! task: the merge of sorted partitions whose keys do not interleave.
//!
//! Per-star results computed on runs of files that hold ascending, disjoint ranges of star
//! ids ([`super::key_range_partitions`]) are in star order once their partitions are put
//! one after the other. DataFusion's order-preserving merge finds the same order, but a
//! merge of runs that do not interleave takes all of the first before anything of the
//! second: the second run's aggregate, streaming in star order, stops after its first
//! batch while the first runs, and the runs execute one after the other on one core. Here
//! every partition runs at once on its own task, its output gathered into batches of the
//! session's batch size (an aggregate in star order emits a small batch per input batch)
//! and up to [`READ_AHEAD`] of them ahead of what has been returned (a bound on the
//! memory), and the batches come out partition by partition.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::BatchCoalescer;
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::common::spawn_buffered;
use datafusion::physical_plan::limit::LimitStream;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PhysicalExpr, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

/// Batches each partition may compute ahead of the one being returned (8,192 rows each by
/// default): enough for a run of a quarter of a million stars' statistics to finish while
/// the runs before it are read.
pub const READ_AHEAD: usize = 32;

/// One output partition: the input's partitions in order, in the given ordering (which
/// the caller proves: each partition ordered, and every key of a partition before every
/// key of the next).
#[derive(Debug, Clone)]
pub struct KeyOrderedConcatExec {
    input: Arc<dyn ExecutionPlan>,
    ordering: LexOrdering,
    fetch: Option<usize>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl KeyOrderedConcatExec {
    /// The concatenation of `input`'s partitions, in `ordering`, at most `fetch` rows.
    pub fn new(input: Arc<dyn ExecutionPlan>, ordering: LexOrdering, fetch: Option<usize>) -> Self {
        let mut equivalences = input.equivalence_properties().clone();
        equivalences.clear_per_partition_constants();
        equivalences.add_ordering(ordering.clone());
        let properties = PlanProperties::new(
            equivalences,
            Partitioning::UnknownPartitioning(1),
            input.pipeline_behavior(),
            input.boundedness(),
        );
        Self {
            input,
            ordering,
            fetch,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for KeyOrderedConcatExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyOrderedConcatExec: [{}]", self.ordering)?;
        if let Some(fetch) = self.fetch {
            write!(f, ", fetch={fetch}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for KeyOrderedConcatExec {
    fn name(&self) -> &str {
        "KeyOrderedConcatExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
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
            return datafusion::common::internal_err!("KeyOrderedConcatExec has one input");
        }
        Ok(Arc::new(Self::new(
            children.swap_remove(0),
            self.ordering.clone(),
            self.fetch,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return datafusion::common::internal_err!(
                "KeyOrderedConcatExec has one partition, not {partition}"
            );
        }
        let partitions = self.input.output_partitioning().partition_count();
        let rows = context.session_config().batch_size();
        let streams = (0..partitions)
            .map(|p| {
                let batches = gathered(self.input.execute(p, context.clone())?, rows);
                Ok(spawn_buffered(batches, READ_AHEAD))
            })
            .collect::<Result<Vec<_>>>()?;
        let batches = futures::stream::iter(streams).flatten();
        let concatenated: SendableRecordBatchStream =
            Box::pin(RecordBatchStreamAdapter::new(self.schema(), batches));
        Ok(match self.fetch {
            Some(fetch) => Box::pin(LimitStream::new(
                concatenated,
                0,
                Some(fetch),
                BaselineMetrics::new(&self.metrics, partition),
            )),
            None => concatenated,
        })
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn fetch(&self) -> Option<usize> {
        self.fetch
    }
}

/// `input`'s batches gathered into batches of `rows` rows (the last one shorter).
fn gathered(input: SendableRecordBatchStream, rows: usize) -> SendableRecordBatchStream {
    let schema = input.schema();
    let gatherer = BatchCoalescer::new(schema.clone(), rows.max(1));
    let batches = futures::stream::unfold(
        (input, gatherer, Reading::More),
        |(mut input, mut gatherer, mut reading)| async move {
            loop {
                if let Some(batch) = gatherer.next_completed_batch() {
                    return Some((Ok(batch), (input, gatherer, reading)));
                }
                match reading {
                    Reading::More => {}
                    Reading::Ended | Reading::Failed => return None,
                }
                let pushed = match input.next().await {
                    Some(Ok(batch)) => gatherer.push_batch(batch),
                    Some(Err(e)) => return Some((Err(e), (input, gatherer, Reading::Failed))),
                    None => {
                        reading = Reading::Ended;
                        gatherer.finish_buffered_batch()
                    }
                };
                if let Err(e) = pushed {
                    return Some((Err(e.into()), (input, gatherer, Reading::Failed)));
                }
            }
        },
    );
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}

/// Where [`gathered`] is in its input.
enum Reading {
    More,
    Ended,
    Failed,
}
