//! Limits on a statement's shape, checked before it is planned: how deeply its
//! expressions nest, how many items a SELECT lists, and how many relations (tables,
//! subqueries, table functions, the arms of UNION, INTERSECT and EXCEPT) it reads.
//! DataFusion plans and optimizes in time that grows faster than a plan's size, on a
//! thread it does not give back until it is done (no time limit can stop it): a chain
//! of thousands of `OR`s or `+`s takes minutes, or overflows a thread's stack; a SELECT
//! of 10,000 items planned for 1.9 s, 50,000 for 40-52 s in a probe of the service; in a
//! debug build, 2,000 `UNION ALL` arms planned for 21.6 s and 3,000 for 56 s, 200 tables
//! of one cross join for 1.45 s and 300 for 4.4 s. Such a statement is refused at once
//! with a message.

use std::ops::ControlFlow;

use anyhow::{Result, bail};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, TableFactor, Visit, Visitor};

/// Deepest expression nesting accepted (hand-written SQL stays far below).
pub const MAX_EXPRESSION_DEPTH: usize = 500;

/// Most items one SELECT may list (a table wider than this is no catalogue's).
pub const MAX_SELECT_ITEMS: usize = 2_000;

/// Most relations one statement may read: tables, subqueries and table functions in
/// FROM clauses, and the arms of set operations (a list of values is one relation).
pub const MAX_RELATIONS: usize = 200;

struct Depth {
    current: usize,
    deepest: usize,
    widest: usize,
    relations: usize,
}

/// The arms of a set expression that are not queries of their own (those are counted
/// when they are visited).
fn set_arms(body: &SetExpr) -> usize {
    match body {
        SetExpr::SetOperation { left, right, .. } => set_arms(left) + set_arms(right),
        SetExpr::Query(_) => 0,
        _ => 1,
    }
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
        if matches!(*query.body, SetExpr::SetOperation { .. }) {
            self.relations += set_arms(&query.body);
        }
        if self.widest > MAX_SELECT_ITEMS || self.relations > MAX_RELATIONS {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _factor: &TableFactor) -> ControlFlow<()> {
        self.relations += 1;
        if self.relations > MAX_RELATIONS {
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

/// Refuses the parsed statements when an expression nests deeper than
/// [`MAX_EXPRESSION_DEPTH`], a SELECT lists more than [`MAX_SELECT_ITEMS`] or a statement
/// reads more than [`MAX_RELATIONS`] relations.
pub fn check_statement_shape(statements: &[DfStatement]) -> Result<()> {
    for statement in statements {
        let mut depth = Depth {
            current: 0,
            deepest: 0,
            widest: 0,
            relations: 0,
        };
        let broke = match statement {
            DfStatement::Statement(s) => s.visit(&mut depth).is_break(),
            _ => false,
        };
        if depth.widest > MAX_SELECT_ITEMS {
            bail!(
                "a SELECT of this statement lists {} items or more, past the {MAX_SELECT_ITEMS} accepted: select fewer columns, or use *",
                depth.widest
            );
        }
        if depth.relations > MAX_RELATIONS {
            bail!(
                "this statement reads more than {MAX_RELATIONS} relations (tables, subqueries, UNION arms), past the {MAX_RELATIONS} accepted: put the values in one VALUES list or a table, or split the statement"
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
