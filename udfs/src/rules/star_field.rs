//! An optimizer rule that reads the survey geometry out of star identifiers: a filter
//! `star_id = 'lm0553k12345'` (or `star_id IN (...)`) on a table with a `field` column
//! gains `field = 'lm055'` (or `field IN (...)`), so that a light-curve query reads one
//! Hive partition without the user naming the field. The field comes from the survey's
//! star-id convention, given by the application as a function (the catalogue's
//! conventions table); an id that does not follow it adds nothing, and the original
//! filter stays, so results never change.

use std::collections::BTreeSet;

use datafusion::common::tree_node::Transformed;
use std::sync::Arc;

use datafusion::common::{Column, Result};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Filter, LogicalPlan, Operator, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::conjuncts::{add_to_filters, string_literal};

/// The survey field a star id names, or `None` when the id does not follow the survey's
/// convention.
pub type FieldOfStar = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The rule, with the survey's reading of star ids.
pub struct StarFieldPruning {
    field_of_star: FieldOfStar,
}

impl std::fmt::Debug for StarFieldPruning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StarFieldPruning")
    }
}

impl StarFieldPruning {
    /// The rule for a survey's star-id convention.
    pub fn new(field_of_star: FieldOfStar) -> Self {
        StarFieldPruning { field_of_star }
    }
}

fn star_column(e: &Expr) -> Option<&Column> {
    match e {
        Expr::Column(c) if c.name == "star_id" => Some(c),
        Expr::Cast(c) => star_column(&c.expr),
        _ => None,
    }
}

impl StarFieldPruning {
    /// For one conjunct on star ids: the column and the literal ids it allows.
    fn ids<'a>(&self, e: &'a Expr) -> Option<(&'a Column, Vec<String>)> {
        match e {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => {
                let (c, v) = match (star_column(left), star_column(right)) {
                    (Some(c), None) => (c, string_literal(right)?),
                    (None, Some(c)) => (c, string_literal(left)?),
                    _ => return None,
                };
                Some((c, vec![v]))
            }
            Expr::InList(list) if !list.negated => {
                let c = star_column(&list.expr)?;
                let ids = list
                    .list
                    .iter()
                    .map(string_literal)
                    .collect::<Option<Vec<_>>>()?;
                Some((c, ids))
            }
            _ => None,
        }
    }

    fn field_conjuncts(&self, filter: &Filter) -> Option<Vec<Expr>> {
        let schema = filter.input.schema();
        let conjuncts = split_conjunction(&filter.predicate);
        if conjuncts
            .iter()
            .any(|e| e.column_refs().iter().any(|c| c.name == "field"))
        {
            return None;
        }
        let mut extra = Vec::new();
        for conjunct in conjuncts {
            let Some((column, ids)) = self.ids(conjunct) else {
                continue;
            };
            let field = Column::new(column.relation.clone(), "field");
            if !schema.has_column(&field) {
                continue;
            }
            let fields: Option<BTreeSet<String>> =
                ids.iter().map(|id| (self.field_of_star)(id)).collect();
            let Some(fields) = fields else {
                continue;
            };
            let values: Vec<Expr> = fields.into_iter().map(lit).collect();
            extra.push(match values.len() {
                0 => continue,
                1 => Expr::Column(field).eq(values[0].clone()),
                _ => Expr::Column(field).in_list(values, false),
            });
        }
        (!extra.is_empty()).then_some(extra)
    }
}

impl OptimizerRule for StarFieldPruning {
    fn name(&self) -> &str {
        "star_field_pruning"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        add_to_filters(plan, |filter| self.field_conjuncts(filter))
    }
}
