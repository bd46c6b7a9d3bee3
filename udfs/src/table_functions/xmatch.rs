//! `xmatch(left, right, radius_arcsec [, 'all' | 'best' [, 'inner' | 'left']])`: the
//! cross-match of two tables by sky position, as a table. Every pair within the radius
//! (`'all'`, the default) or the nearest right row for each left row (`'best'`, STILTS
//! `tmatch2 find=best1`); left rows without a match dropped (`'inner'`, the default) or
//! kept with nulls (`'left'`). The columns: the left table's, the right table's (a name in
//! both gets `_1` on the left and `_2` on the right, as STILTS does) and `sep_arcsec`.
//! Positions are found by UCD or name ([`super::positions`]). The plan is the spatial
//! join of [`crate::rules::spatial_join`]: HEALPix cells, never a nested loop.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{
    Column, JoinConstraint, NullEquality, Result, TableReference, plan_datafusion_err, plan_err,
};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    Expr, Join, JoinType, LogicalPlan, LogicalPlanBuilder, ScalarUDF, col, lit,
};

use super::positions::position_columns;
use crate::functions::{AngSep, order_for_radius};
use crate::rules::conjuncts::{literal_f64, string_literal};
use crate::rules::spatial_join::{DistanceBound, Keep, spatial_join};

/// The table function; registered as `xmatch`.
#[derive(Debug, Default)]
pub struct Xmatch;

const USAGE: &str =
    "xmatch(left_table, right_table, radius_arcsec [, 'all' | 'best' [, 'inner' | 'left']])";

/// The qualifiers of the two sides inside the plan.
const LEFT: &str = "xmatch_left";
const RIGHT: &str = "xmatch_right";

impl TableFunctionImpl for Xmatch {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(3..=5).contains(&exprs.len()) {
            return plan_err!("{USAGE}: {} arguments given", exprs.len());
        }
        let left_name = table_name(&exprs[0])?;
        let right_name = table_name(&exprs[1])?;
        let radius = literal_f64(&exprs[2])
            .filter(|r| *r > 0.0 && order_for_radius(r / 3600.0).is_some())
            .ok_or_else(|| {
                plan_datafusion_err!(
                    "{USAGE}: the radius must be a number of arcsec above 0 and under 10 degrees"
                )
            })?;
        let keep = match option(exprs.get(3), "all")?.as_str() {
            "all" => Keep::All,
            "best" => Keep::Nearest,
            other => return plan_err!("{USAGE}: unknown mode '{other}'"),
        };
        let join_type = match option(exprs.get(4), "inner")?.as_str() {
            "inner" => JoinType::Inner,
            "left" => JoinType::Left,
            other => return plan_err!("{USAGE}: unknown join '{other}'"),
        };
        let session = args.session();
        let left = Side::open(session, &left_name, LEFT)?;
        let right = Side::open(session, &right_name, RIGHT)?;
        let plan = crossmatch_plan(&left, &right, radius / 3600.0, keep, join_type)?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

/// One side of the cross-match: its scan and its position columns.
struct Side {
    plan: LogicalPlan,
    position: [Expr; 2],
}

impl Side {
    fn open(session: &dyn Session, name: &str, qualifier: &str) -> Result<Side> {
        let provider = lookup(session, name)?;
        let (ra, dec) =
            position_columns(&provider.schema(), name).map_err(|e| plan_datafusion_err!("{e}"))?;
        let plan =
            LogicalPlanBuilder::scan(qualifier, provider_as_source(provider), None)?.build()?;
        let column = |c: &str| Expr::Column(Column::new(Some(qualifier), c));
        Ok(Side {
            plan,
            position: [column(&ra), column(&dec)],
        })
    }
}

/// The joined plan, projected to the output columns.
fn crossmatch_plan(
    left: &Side,
    right: &Side,
    radius: f64,
    keep: Keep,
    join_type: JoinType,
) -> Result<LogicalPlan> {
    let mut args = left.position.to_vec();
    args.extend(right.position.iter().cloned());
    let distance = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(AngSep::default())),
        args,
    ));
    let join = Join::try_new(
        Arc::new(left.plan.clone()),
        Arc::new(right.plan.clone()),
        vec![],
        Some(distance.clone().lt_eq(lit(radius))),
        join_type,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?;
    let bound = DistanceBound {
        left: left.position.clone(),
        right: right.position.clone(),
        radius,
    };
    let joined = spatial_join(join, bound, keep)?;
    let mut columns = output_columns(left.plan.schema(), right.plan.schema(), LEFT, RIGHT);
    let taken: HashSet<String> = columns
        .iter()
        .map(|e| e.schema_name().to_string())
        .collect();
    let sep = ["sep_arcsec", "xmatch_sep_arcsec"]
        .into_iter()
        .find(|n| !taken.contains(*n))
        .unwrap_or("xmatch_sep_arcsec_");
    columns.push((distance * lit(3600.0)).alias(sep));
    LogicalPlanBuilder::from(joined).project(columns)?.build()
}

/// Both sides' columns; a name on both sides gets `_1` on the left, `_2` on the right.
fn output_columns(
    left: &datafusion::common::DFSchema,
    right: &datafusion::common::DFSchema,
    left_qualifier: &str,
    right_qualifier: &str,
) -> Vec<Expr> {
    let names = |s: &datafusion::common::DFSchema| -> Vec<String> {
        s.fields().iter().map(|f| f.name().clone()).collect()
    };
    let (l, r) = (names(left), names(right));
    let shared: HashSet<&String> = l.iter().filter(|n| r.contains(n)).collect();
    let side = |names: &[String], qualifier: &str, suffix: &str| -> Vec<Expr> {
        names
            .iter()
            .map(|n| {
                let c = col(Column::new(Some(qualifier), n));
                match shared.contains(n) {
                    true => c.alias(format!("{n}{suffix}")),
                    false => c.alias(n),
                }
            })
            .collect()
    };
    let mut out = side(&l, left_qualifier, "_1");
    out.extend(side(&r, right_qualifier, "_2"));
    out
}

/// A table name given as a string or a bare identifier.
fn table_name(e: &Expr) -> Result<String> {
    match e {
        Expr::Column(c) if c.relation.is_none() => Ok(c.name.clone()),
        _ => {
            string_literal(e).ok_or_else(|| plan_datafusion_err!("{USAGE}: a table name, got {e}"))
        }
    }
}

/// An optional string argument, lower-cased.
fn option(e: Option<&Expr>, default: &str) -> Result<String> {
    match e {
        None => Ok(default.to_string()),
        Some(e) => string_literal(e)
            .map(|s| s.to_ascii_lowercase())
            .ok_or_else(|| plan_datafusion_err!("{USAGE}: a string, got {e}")),
    }
}

/// The table `name` of the session's default schema (exact name, else lower case, as SQL
/// folds unquoted names).
fn lookup(session: &dyn Session, name: &str) -> Result<Arc<dyn TableProvider>> {
    let options = session.config_options();
    let schema = session
        .catalog_list()
        .catalog(&options.catalog.default_catalog)
        .and_then(|c| c.schema(&options.catalog.default_schema))
        .ok_or_else(|| plan_datafusion_err!("no default schema to find table {name} in"))?;
    let reference = TableReference::bare(name);
    for candidate in [name.to_string(), name.to_ascii_lowercase()] {
        // The session's schemas hold their tables in memory: this future is ready at once.
        if let Some(table) = futures::executor::block_on(schema.table(&candidate))? {
            return Ok(table);
        }
    }
    plan_err!("xmatch: no table {reference} (SHOW TABLES lists them)")
}
