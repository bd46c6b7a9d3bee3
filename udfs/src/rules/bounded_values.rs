//! Every function that builds large values runs with its limits
//! ([`crate::functions::bounded`]), however the query wrote it: `a || b` on text becomes
//! [`ConcatOperator`] (the operator's meaning, with the limits), and a wrapped function a
//! planner put in the plan without its wrapper (DataFusion's SQL planner writes
//! `array_concat` for `||` on arrays) gets it. A rewrite of the analyzer: it runs before
//! type coercion, on every expression of every plan and subquery.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator, ScalarUDF};

use crate::functions::bounded::{bounded_functions, needs_bound};
use crate::functions::concat_operator::CONCAT_OPERATOR;

/// The rewrite, holding the wrapped functions by name.
#[derive(Debug)]
pub struct BoundedValues {
    functions: HashMap<String, Arc<ScalarUDF>>,
}

impl Default for BoundedValues {
    fn default() -> Self {
        let functions = bounded_functions()
            .into_iter()
            .map(|f| (f.name().to_string(), Arc::new(f)))
            .collect();
        BoundedValues { functions }
    }
}

/// Whether a value of this type is a list (`||` on lists is DataFusion's array planner's).
fn is_list(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _)
    )
}

impl FunctionRewrite for BoundedValues {
    fn name(&self) -> &str {
        "bounded_values"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        match expr {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::StringConcat,
                right,
            }) => {
                let lists = [&left, &right]
                    .iter()
                    .any(|e| e.get_type(schema).map(|t| is_list(&t)).unwrap_or(true));
                match self.functions.get(CONCAT_OPERATOR) {
                    Some(f) if !lists => Ok(Transformed::yes(Expr::ScalarFunction(
                        ScalarFunction::new_udf(f.clone(), vec![*left, *right]),
                    ))),
                    _ => Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                        left,
                        op: Operator::StringConcat,
                        right,
                    }))),
                }
            }
            Expr::ScalarFunction(call) if needs_bound(&call.func) => {
                match self.functions.get(call.func.name()) {
                    Some(f) => Ok(Transformed::yes(Expr::ScalarFunction(
                        ScalarFunction::new_udf(f.clone(), call.args),
                    ))),
                    None => Ok(Transformed::no(Expr::ScalarFunction(call))),
                }
            }
            other => Ok(Transformed::no(other)),
        }
    }
}
