//! Plans that Ballista 55 is known to answer wrongly, refused in cluster sessions rather
//! than answered with missing rows (docs/CLUSTER.md, "Known limits").
//!
//! A join both of whose inputs hold an `ORDER BY ... LIMIT` (two scalar subqueries such as
//! `(SELECT ra FROM stars ORDER BY star_id LIMIT 1)`, or two limited derived tables) comes
//! back from a Ballista 55 cluster with no row, where the embedded engine gives the
//! right ones. One limited side, or limits elsewhere in the plan, are answered correctly.

use datafusion::common::plan_err;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// Whether `plan` holds a `LIMIT` or a sort with a fetch.
fn has_limit(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|p| {
        found |= matches!(p, LogicalPlan::Limit(_))
            || matches!(p, LogicalPlan::Sort(s) if s.fetch.is_some());
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// The optimizer rule that refuses those plans in cluster sessions (the last rule: it
/// sees the plan its pass produced, scalar subqueries already turned into joins).
#[derive(Debug)]
pub struct RefuseKnownWrongPlans;

/// Whether `plan` has a join of two limited inputs.
fn joins_two_limited_inputs(plan: &LogicalPlan) -> bool {
    let mut bad = false;
    let _ = plan.apply(|p| {
        if let LogicalPlan::Join(j) = p {
            bad |= has_limit(&j.left) && has_limit(&j.right);
        }
        Ok(if bad {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    bad
}

impl OptimizerRule for RefuseKnownWrongPlans {
    fn name(&self) -> &str {
        "refuse_plans_ballista_answers_wrongly"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> datafusion::error::Result<Transformed<LogicalPlan>> {
        if joins_two_limited_inputs(&plan) {
            return plan_err!(
                "this query joins two ORDER BY ... LIMIT subqueries, which a Ballista 55 cluster answers with no row: run it without --cluster, or compute one side first (docs/CLUSTER.md, known limits)"
            );
        }
        Ok(Transformed::no(plan))
    }
}
