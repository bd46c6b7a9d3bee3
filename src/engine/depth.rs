//! Limits on a statement's shape, checked before it is planned: how deeply its
//! expressions nest, and how many items a SELECT lists. DataFusion plans and optimizes
//! expressions recursively, in time that grows faster than their size: a chain of
//! thousands of `OR`s or `+`s takes minutes, or overflows a thread's stack, and a SELECT
//! of 10,000 items planned for 1.9 s, 50,000 for 40-52 s in a probe of the service.
//! Such a statement is refused at once with a message.

use std::ops::ControlFlow;

use anyhow::{Result, bail};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, Visit, Visitor};

/// Deepest expression nesting accepted (hand-written SQL stays far below).
pub const MAX_EXPRESSION_DEPTH: usize = 500;

/// Most items one SELECT may list (a table wider than this is no catalogue's).
pub const MAX_SELECT_ITEMS: usize = 2_000;

struct Depth {
    current: usize,
    deepest: usize,
    widest: usize,
}

/// The items of the widest SELECT of a set expression (its UNION branches included).
fn widest_select(body: &SetExpr) -> usize {
    match body {
        SetExpr::Select(s) => s.projection.len(),
        SetExpr::SetOperation { left, right, .. } => widest_select(left).max(widest_select(right)),
        SetExpr::Query(q) => widest_select(&q.body),
        _ => 0,
    }
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.widest = self.widest.max(widest_select(&query.body));
        if self.widest > MAX_SELECT_ITEMS {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current += 1;
        self.deepest = self.deepest.max(self.current);
        if self.current > MAX_EXPRESSION_DEPTH {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current -= 1;
        ControlFlow::Continue(())
    }
}

/// Refuses `sql` when an expression nests deeper than [`MAX_EXPRESSION_DEPTH`]. A
/// statement the parser rejects is left to the planner, which reports the syntax error.
pub fn check_expression_depth(sql: &str) -> Result<()> {
    let Ok(statements) = DFParser::parse_sql(sql) else {
        return Ok(());
    };
    for statement in statements {
        let mut depth = Depth {
            current: 0,
            deepest: 0,
            widest: 0,
        };
        let broke = match &statement {
            DfStatement::Statement(s) => s.visit(&mut depth).is_break(),
            _ => false,
        };
        if depth.widest > MAX_SELECT_ITEMS {
            bail!(
                "a SELECT of this statement lists {} items or more, past the {MAX_SELECT_ITEMS} accepted: select fewer columns, or use *",
                depth.widest
            );
        }
        if broke {
            bail!(
                "an expression of this statement nests more than {MAX_EXPRESSION_DEPTH} levels deep (a long chain of OR, AND or +): write it as IN (...), a join with a table of values, or split it"
            );
        }
    }
    Ok(())
}
