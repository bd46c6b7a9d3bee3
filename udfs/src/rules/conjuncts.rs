//! What the pruning rules share: reading literals and columns out of expressions, and
//! adding conjuncts to a filter while the original predicate stays.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, lit};

/// A numeric literal (possibly negated or cast) as f64.
pub fn literal_f64(e: &Expr) -> Option<f64> {
    match e {
        Expr::Literal(v, _) => match v.cast_to(&DataType::Float64).ok()? {
            ScalarValue::Float64(Some(x)) => Some(x),
            _ => None,
        },
        Expr::Negative(e) => literal_f64(e).map(|v| -v),
        Expr::Cast(c) => literal_f64(&c.expr),
        Expr::TryCast(c) => literal_f64(&c.expr),
        _ => None,
    }
}

/// A cone search on a table's own position columns.
#[derive(Debug, Clone, Copy)]
pub struct LiteralCone<'a> {
    /// The right ascension column.
    pub ra: &'a Column,
    /// The declination column.
    pub dec: &'a Column,
    /// Centre (RA, Dec), degrees.
    pub centre: (f64, f64),
    /// Radius, degrees.
    pub radius: f64,
}

/// `cone_contains(ra, dec, RA0, DEC0, R)` with two columns (under casts) and a literal
/// centre and radius: the conjunct the pruning rules use.
pub fn literal_cone(e: &Expr) -> Option<LiteralCone<'_>> {
    let Expr::ScalarFunction(f) = e else {
        return None;
    };
    if f.func.name() != "cone_contains" || f.args.len() != 5 {
        return None;
    }
    Some(LiteralCone {
        ra: unwrap_column(&f.args[0])?,
        dec: unwrap_column(&f.args[1])?,
        centre: (literal_f64(&f.args[2])?, literal_f64(&f.args[3])?),
        radius: literal_f64(&f.args[4])?,
    })
}

/// A string literal (possibly cast).
pub fn string_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(s)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _) => Some(s.clone()),
        Expr::Cast(c) => string_literal(&c.expr),
        _ => None,
    }
}

/// The column under casts, if the expression is one.
pub fn unwrap_column(e: &Expr) -> Option<&Column> {
    match e {
        Expr::Column(c) => Some(c),
        Expr::Cast(c) => unwrap_column(&c.expr),
        Expr::TryCast(c) => unwrap_column(&c.expr),
        _ => None,
    }
}

/// A pruning rule's rewrite: every filter gains the conjuncts `extra` finds for it (the
/// other plan nodes are left as they are).
pub fn add_to_filters(
    plan: LogicalPlan,
    extra: impl Fn(&Filter) -> Option<Vec<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    match plan {
        LogicalPlan::Filter(filter) => {
            let more = extra(&filter);
            with_extra_conjuncts(filter, more)
        }
        other => Ok(Transformed::no(other)),
    }
}

/// The filter with `extra` conjuncts ANDed to its predicate (unchanged for `None`): how
/// pruning rules add predicates that statistics can use while the original stays.
pub fn with_extra_conjuncts(
    filter: Filter,
    extra: Option<Vec<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let Some(extra) = extra else {
        return Ok(Transformed::no(LogicalPlan::Filter(filter)));
    };
    let Filter {
        predicate, input, ..
    } = filter;
    let predicate =
        conjunction(std::iter::once(predicate).chain(extra)).unwrap_or_else(|| lit(true));
    Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
        predicate, input,
    )?)))
}
