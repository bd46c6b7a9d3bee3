//! Conditions that cannot fail, whatever the values of the rows they are evaluated on:
//! the ones a row rule's filter may be merged with (see the parent module).
//!
//! The list is short on purpose: a condition not in it only loses the pruning its scan
//! would have done with it, while a condition wrongly in it could fail on a hidden row.
//! Comparisons, `AND`/`OR`/`NOT`, null tests, `IN` lists, `BETWEEN`, `LIKE` with a literal
//! pattern, casts that widen (an integer to a wider integer or a float; text, a boolean or
//! a number to text),
//! `TRY_CAST`, and the functions [`FUNCTIONS`] of columns and literals. Arithmetic is
//! out (integer division by zero fails), as are every other function and `CASE`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, ExprSchemable, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, IsNotNullExpr, IsNullExpr,
    LikeExpr, Literal, NotExpr, TryCastExpr,
};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};

/// Functions that fail on no value of their arguments (a wrong argument type fails
/// planning, before any row): skyql's angular distance and cone test, and `starts_with`
/// (DataFusion's form of `LIKE 'prefix%'`).
pub const FUNCTIONS: [&str; 3] = ["ang_sep", "cone_contains", "starts_with"];

/// Whether evaluating `expr` (a condition of a logical plan over `schema`, after type
/// coercion) cannot fail on any row.
pub fn logical(expr: &Expr, schema: &DFSchema) -> bool {
    let all = |exprs: &[&Expr]| exprs.iter().all(|e| logical(e, schema));
    match expr {
        Expr::Column(_) | Expr::Literal(..) => true,
        Expr::Alias(a) => logical(&a.expr, schema),
        Expr::BinaryExpr(b) => infallible_operator(b.op) && all(&[&b.left, &b.right]),
        Expr::Not(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsUnknown(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e)
        | Expr::IsNotUnknown(e) => logical(e, schema),
        Expr::Between(b) => all(&[&b.expr, &b.low, &b.high]),
        Expr::InList(l) => logical(&l.expr, schema) && l.list.iter().all(|e| logical(e, schema)),
        Expr::Like(l) => {
            !l.case_insensitive
                && l.escape_char.is_none()
                && matches!(l.pattern.as_ref(), Expr::Literal(..))
                && logical(&l.expr, schema)
        }
        Expr::Cast(c) => {
            logical(&c.expr, schema)
                && c.expr
                    .get_type(schema)
                    .is_ok_and(|from| widening(&from, c.field.data_type()))
        }
        Expr::TryCast(c) => logical(&c.expr, schema),
        Expr::ScalarFunction(f) => {
            FUNCTIONS.contains(&f.func.name()) && f.args.iter().all(|e| logical(e, schema))
        }
        _ => false,
    }
}

/// Whether evaluating `expr` (a physical condition over rows of `schema`) cannot fail on
/// any row. A dynamic filter (a join's keys, a top-k's bound) is judged by the
/// expressions it compares.
pub fn physical(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> bool {
    let children =
        |e: &Arc<dyn PhysicalExpr>| e.children().into_iter().all(|c| physical(c, schema));
    if expr.downcast_ref::<Column>().is_some() || expr.downcast_ref::<Literal>().is_some() {
        return true;
    }
    if let Some(b) = expr.downcast_ref::<BinaryExpr>() {
        return infallible_operator(*b.op()) && children(expr);
    }
    if expr.downcast_ref::<NotExpr>().is_some()
        || expr.downcast_ref::<IsNullExpr>().is_some()
        || expr.downcast_ref::<IsNotNullExpr>().is_some()
        || expr.downcast_ref::<InListExpr>().is_some()
        || expr.downcast_ref::<TryCastExpr>().is_some()
        || expr.downcast_ref::<DynamicFilterPhysicalExpr>().is_some()
    {
        return children(expr);
    }
    if let Some(l) = expr.downcast_ref::<LikeExpr>() {
        return !l.case_insensitive()
            && l.pattern().downcast_ref::<Literal>().is_some()
            && physical(l.expr(), schema);
    }
    if let Some(c) = expr.downcast_ref::<CastExpr>() {
        return physical(c.expr(), schema)
            && c.expr()
                .data_type(schema)
                .is_ok_and(|from| widening(&from, c.cast_type()));
    }
    if let Some(f) = expr.downcast_ref::<ScalarFunctionExpr>() {
        return FUNCTIONS.contains(&f.name()) && children(expr);
    }
    false
}

/// Comparisons and logic: no value makes them fail.
fn infallible_operator(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::And
            | Operator::Or
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

/// Whether every value of type `from` casts to `to` without an error: the same type, an
/// integer to a wider integer or to a float, a float to a wider float, text, a boolean or
/// a number to text. (Not a date or a time to text: arrow fails on values out of its
/// calendar's range, and quotes them; nor bytes to text: they may not be UTF-8.)
fn widening(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to {
        return true;
    }
    if matches!(to, Utf8 | LargeUtf8 | Utf8View) {
        return match from {
            Dictionary(_, value) => widening(value, to),
            _ => from.is_numeric() || matches!(from, Utf8 | LargeUtf8 | Utf8View | Boolean),
        };
    }
    let signed = |t: &DataType| match t {
        Int8 => Some(8),
        Int16 => Some(16),
        Int32 => Some(32),
        Int64 => Some(64),
        _ => None,
    };
    let unsigned = |t: &DataType| match t {
        UInt8 => Some(8),
        UInt16 => Some(16),
        UInt32 => Some(32),
        UInt64 => Some(64),
        _ => None,
    };
    match (from, to) {
        (Dictionary(_, value), to) => widening(value, to),
        (_, Float64) | (_, Float32) if signed(from).or(unsigned(from)).is_some() => true,
        (Float16, Float32 | Float64) | (Float32, Float64) => true,
        _ => match (signed(from), unsigned(from), signed(to), unsigned(to)) {
            (Some(a), _, Some(b), _) => a <= b,
            (_, Some(a), Some(b), _) => a < b,
            (_, Some(a), _, Some(b)) => a <= b,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::logical_expr::{col, lit};

    fn schema() -> DFSchema {
        DFSchema::try_from(Schema::new(vec![
            Field::new("field", DataType::Utf8, false),
            Field::new("ccd", DataType::Int32, false),
            Field::new("mag", DataType::Float64, true),
        ]))
        .unwrap()
    }

    #[test]
    fn comparisons_lists_and_widening_casts_cannot_fail() {
        let s = schema();
        for expr in [
            col("field").eq(lit("lm001")).is_not_true(),
            col("ccd")
                .in_list(vec![lit(1), lit(2)], false)
                .or(col("mag").is_null()),
            col("mag").between(lit(15.0), lit(18.0)),
            col("field").like(lit("lm0%")),
            col("ccd")
                .cast_to(&DataType::Int64, &s)
                .unwrap()
                .gt(lit(3i64)),
            col("ccd")
                .cast_to(&DataType::Utf8, &s)
                .unwrap()
                .eq(lit("3")),
            Expr::TryCast(datafusion::logical_expr::TryCast::new(
                Box::new(col("field")),
                DataType::Int32,
            ))
            .eq(lit(0)),
        ] {
            assert!(logical(&expr, &s), "{expr}");
        }
    }

    #[test]
    fn arithmetic_narrowing_casts_and_other_functions_may_fail() {
        let s = schema();
        for expr in [
            (lit(1) / col("ccd")).eq(lit(0)),
            col("field")
                .cast_to(&DataType::Int32, &s)
                .unwrap()
                .eq(lit(0)),
            col("mag").cast_to(&DataType::Int32, &s).unwrap().eq(lit(0)),
            datafusion::functions::expr_fn::substr(col("field"), lit(1)).eq(lit("l")),
            Expr::Case(datafusion::logical_expr::Case::new(
                None,
                vec![(
                    Box::new(col("field").eq(lit("x"))),
                    Box::new(lit(1) / col("ccd")),
                )],
                None,
            ))
            .eq(lit(1)),
        ] {
            assert!(!logical(&expr, &s), "{expr}");
        }
    }

    #[test]
    fn integers_widen_to_wider_integers_and_floats_only() {
        assert!(widening(&DataType::Int32, &DataType::Int64));
        assert!(widening(&DataType::UInt32, &DataType::Int64));
        assert!(widening(&DataType::Int64, &DataType::Float64));
        assert!(!widening(&DataType::Int64, &DataType::Int32));
        assert!(!widening(&DataType::Int32, &DataType::UInt64));
        assert!(!widening(&DataType::UInt64, &DataType::Int64));
        assert!(!widening(&DataType::Float64, &DataType::Int64));
        assert!(!widening(&DataType::Utf8, &DataType::Int64));
    }

    #[test]
    fn only_text_booleans_and_numbers_cast_to_text_without_fail() {
        use datafusion::arrow::datatypes::TimeUnit;
        for from in [
            DataType::Int8,
            DataType::UInt64,
            DataType::Float32,
            DataType::Decimal128(10, 2),
            DataType::Boolean,
            DataType::LargeUtf8,
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        ] {
            assert!(widening(&from, &DataType::Utf8), "{from}");
        }
        for from in [
            DataType::Date32,
            DataType::Date64,
            DataType::Timestamp(TimeUnit::Second, None),
            DataType::Time64(TimeUnit::Microsecond),
            DataType::Binary,
            DataType::BinaryView,
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Binary)),
        ] {
            assert!(!widening(&from, &DataType::Utf8View), "{from}");
        }
    }
}
