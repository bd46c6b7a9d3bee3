//! Constants too large to be copied to every row. DataFusion folds constant expressions
//! when it plans (`repeat('x', 60000000)` becomes one 60 MB text) and then copies such a
//! constant into every row of every batch that uses it: 60 MB times a batch of 8,192 rows
//! passes what an Arrow text array can index, and the copy panics ("offset overflow")
//! after the allocator has been asked for gigabytes. A plan holding a text, binary or
//! list constant over [`MAX_CONSTANT_BYTES`] is refused once the constants are folded.

use datafusion::arrow::array::Array;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, ScalarValue, plan_err};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// Largest constant a plan may hold, in bytes (256 KiB: 8,192 copies stay under 2 GiB).
pub const MAX_CONSTANT_BYTES: usize = 256 << 10;

/// The size of a constant that could be copied per row (text, binary, lists).
fn constant_bytes(value: &ScalarValue) -> usize {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.len(),
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b)) => b.len(),
        ScalarValue::List(a) => a.get_array_memory_size(),
        ScalarValue::LargeList(a) => a.get_array_memory_size(),
        _ => 0,
    }
}

/// The rule, run after the constants are folded.
#[derive(Debug, Default)]
pub struct RefuseLargeConstants;

impl OptimizerRule for RefuseLargeConstants {
    fn name(&self) -> &str {
        "refuse_large_constants"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> datafusion::common::Result<Transformed<LogicalPlan>> {
        let mut largest = 0;
        plan.apply(|node| {
            for expr in node.expressions() {
                expr.apply(|e| {
                    if let Expr::Literal(v, _) = e {
                        largest = largest.max(constant_bytes(v));
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
            Ok::<_, DataFusionError>(TreeNodeRecursion::Continue)
        })?;
        if largest > MAX_CONSTANT_BYTES {
            return plan_err!(
                "the query holds a constant of {largest} bytes once computed, more than the {} KiB a constant may hold (it would be copied to every row): build large values from a table's rows, or ask for a smaller one",
                MAX_CONSTANT_BYTES >> 10
            );
        }
        Ok(Transformed::no(plan))
    }
}
