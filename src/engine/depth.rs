//! A limit on how deeply a statement's expressions nest. DataFusion plans and optimizes
//! expressions recursively, in time that grows faster than their size: a chain of
//! thousands of `OR`s or `+`s takes minutes, or overflows a thread's stack. Such a
//! statement is refused at once with a message, before it is planned.

use std::ops::ControlFlow;

use anyhow::{Result, bail};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Expr, Visit, Visitor};

/// Deepest expression nesting accepted (hand-written SQL stays far below).
pub const MAX_EXPRESSION_DEPTH: usize = 500;

struct Depth {
    current: usize,
    deepest: usize,
}

impl Visitor for Depth {
    type Break = ();

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
        };
        let broke = match &statement {
            DfStatement::Statement(s) => s.visit(&mut depth).is_break(),
            _ => false,
        };
        if broke {
            bail!(
                "an expression of this statement nests more than {MAX_EXPRESSION_DEPTH} levels deep (a long chain of OR, AND or +): write it as IN (...), a join with a table of values, or split it"
            );
        }
    }
    Ok(())
}
