//! An optimizer rule that plans angular-distance joins as HEALPix equi-joins instead of a
//! nested loop over every pair. An inner join whose condition holds a conjunct
//! `ang_sep(a.ra, a.dec, b.ra, b.dec) < r` (or `<=`, `r > ...`), or
//! `cone_contains(b.ra, b.dec, a.ra, a.dec, r)`, with `r` a constant under 10 degrees,
//! becomes: the left rows unnested over the cells their cone of radius `r` overlaps
//! (`healpix_cone_cells`), the right rows with their cell (`healpix`), both at an order
//! whose cells are about the radius, joined on the cell (a hash join) with the whole
//! original condition kept as the join filter. A pair within `r` always shares a cell (the
//! right row's cell is one of the cells the left row's cone overlaps), and each right row
//! has one cell, so every pair is found once: the result is exactly the nested loop's.
//! `EXPLAIN` shows `healpix_cone_cells` and a `HashJoinExec`.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Join, JoinType, LogicalPlan, LogicalPlanBuilder, Operator, Projection,
    ScalarUDF, col, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::conjuncts::literal_f64;
use crate::functions::{Healpix, HealpixConeCells, order_for_radius};

/// The cells column added to the left side (unnested).
const LEFT_CELLS: &str = "__skyql_xmatch_cells";
/// The cell column added to the right side.
const RIGHT_CELL: &str = "__skyql_xmatch_cell";

/// The rule; placed in the optimizer by [`super::optimizer_rules`].
#[derive(Debug, Default)]
pub struct SpatialJoin;

/// A bound on the distance between a left and a right position.
struct DistanceBound {
    left: [Expr; 2],
    right: [Expr; 2],
    radius: f64,
}

impl OptimizerRule for SpatialJoin {
    fn name(&self) -> &str {
        "spatial_join"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = plan else {
            return Ok(Transformed::no(plan));
        };
        let already = join
            .left
            .schema()
            .has_column_with_unqualified_name(LEFT_CELLS);
        let bound = match &join.filter {
            Some(filter) if join.join_type == JoinType::Inner && !already => {
                split_conjunction(filter)
                    .into_iter()
                    .find_map(|c| distance_bound(c, join.left.schema(), join.right.schema()))
            }
            _ => None,
        };
        let Some((bound, order)) = bound.and_then(|b| order_for_radius(b.radius).map(|o| (b, o)))
        else {
            return Ok(Transformed::no(LogicalPlan::Join(join)));
        };
        Ok(Transformed::yes(cell_join(join, bound, order)?))
    }
}

/// The join on cells, projected back to the original join's columns.
fn cell_join(join: Join, bound: DistanceBound, order: u8) -> Result<LogicalPlan> {
    let order = lit(order as i64);
    let [l_ra, l_dec] = bound.left;
    let cells = call(
        HealpixConeCells::default(),
        vec![l_ra, l_dec, lit(bound.radius), order.clone()],
    );
    let left = with_column(Arc::unwrap_or_clone(join.left), cells.alias(LEFT_CELLS))?
        .unnest_column(LEFT_CELLS)?
        .build()?;
    let [r_ra, r_dec] = bound.right;
    let cell = call(Healpix::default(), vec![r_ra, r_dec, order]);
    let right = with_column(Arc::unwrap_or_clone(join.right), cell.alias(RIGHT_CELL))?.build()?;
    let mut on = join.on;
    on.push((col(LEFT_CELLS), col(RIGHT_CELL)));
    let cell_join = Join::try_new(
        Arc::new(left),
        Arc::new(right),
        on,
        join.filter,
        JoinType::Inner,
        join.join_constraint,
        join.null_equality,
        false,
    )?;
    let columns = join
        .schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    Ok(LogicalPlan::Projection(Projection::try_new(
        columns,
        Arc::new(LogicalPlan::Join(cell_join)),
    )?))
}

fn with_column(plan: LogicalPlan, extra: Expr) -> Result<LogicalPlanBuilder> {
    let mut exprs: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    exprs.push(extra);
    LogicalPlanBuilder::from(plan).project(exprs)
}

fn call(udf: impl datafusion::logical_expr::ScalarUDFImpl + 'static, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(udf)),
        args,
    ))
}

/// `ang_sep(..) < r`, `ang_sep(..) <= r`, `r > ang_sep(..)`, `r >= ang_sep(..)` or
/// `cone_contains(ra, dec, ra0, dec0, r)`, with one position on each side of the join.
fn distance_bound(conjunct: &Expr, left: &DFSchema, right: &DFSchema) -> Option<DistanceBound> {
    let (function, radius) = match conjunct {
        Expr::BinaryExpr(BinaryExpr {
            left: a,
            op,
            right: b,
        }) => match op {
            Operator::Lt | Operator::LtEq => (a.as_ref(), literal_f64(b)?),
            Operator::Gt | Operator::GtEq => (b.as_ref(), literal_f64(a)?),
            _ => return None,
        },
        Expr::ScalarFunction(f) if f.func.name() == "cone_contains" && f.args.len() == 5 => {
            (conjunct, literal_f64(&f.args[4])?)
        }
        _ => return None,
    };
    let Expr::ScalarFunction(f) = function else {
        return None;
    };
    let distance = matches!(f.func.name(), "ang_sep" | "cone_contains") && f.args.len() >= 4;
    if !distance || !radius.is_finite() || radius < 0.0 {
        return None;
    }
    let first = [f.args[0].clone(), f.args[1].clone()];
    let second = [f.args[2].clone(), f.args[3].clone()];
    let within = |pair: &[Expr; 2], schema: &DFSchema| {
        let refs: Vec<_> = pair.iter().flat_map(|e| e.column_refs()).collect();
        !refs.is_empty() && refs.iter().all(|c| schema.has_column(c))
    };
    if within(&first, left) && within(&second, right) {
        Some(DistanceBound {
            left: first,
            right: second,
            radius,
        })
    } else if within(&second, left) && within(&first, right) {
        Some(DistanceBound {
            left: second,
            right: first,
            radius,
        })
    } else {
        None
    }
}
