//! The row rules one caller is subject to now, and the filters they add to a plan.
//!
//! A rule hides the rows matching its condition from everyone outside its groups until
//! its release date. [`RowFilter::restrict`] adds `condition IS NOT TRUE` above every
//! scan of a table that has the rule's columns, in the logical plan as SQL planning left
//! it: before the analyzer and every optimizer rule, so that no fast path (counts from
//! the summary, statistics, HEALPix pruning, spatial joins, `xmatch`, aggregates, the
//! plans a cluster's scheduler receives) reads past it. Subqueries are rewritten too;
//! views and table functions are already inlined as scans of their tables. Tables
//! uploaded with the request (`TAP_UPLOAD`) and `TAP_SCHEMA` are the caller's own or
//! metadata, and are left alone. The filtered scan is put under a barrier
//! ([`crate::engine::visible_rows`]) that keeps the query's conditions that may fail
//! above the rule's filter: they never see a hidden row. A session that does not plan
//! the barrier gets no plan under rules.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::source_as_provider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{
    EmptyRelation, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, TableScan,
    TableScanBuilder, lit,
};
use datafusion::physical_expr::PhysicalExpr;

use super::identity::Identity;
use super::row_rules::RowRules;
use crate::engine::visible_rows::VisibleRows;

/// One rule a caller is subject to.
#[derive(Debug, Clone)]
struct Hidden {
    id: u64,
    condition: String,
    columns: Vec<String>,
}

/// The rules a caller is subject to at one time (none: every row is visible), and the
/// tables they may not read at all.
#[derive(Debug, Clone, Default)]
pub struct RowFilter {
    hidden: Vec<Hidden>,
    /// The tables whose every row is hidden, by the address of their provider in the
    /// session the plans come from ([`provider_address`]): a view's scan of one of them
    /// reads nothing.
    hidden_tables: Arc<HashSet<usize>>,
}

/// The address that identifies a table provider in one session (the same `Arc` is
/// behind every scan of it, views' included).
pub fn provider_address(provider: &Arc<dyn TableProvider>) -> usize {
    Arc::as_ptr(provider) as *const () as usize
}

/// Schemas whose tables rules never filter: the caller's uploads and the service's
/// metadata.
const UNRULED_SCHEMAS: [&str; 2] = ["tap_upload", "tap_schema"];

impl RowFilter {
    /// The rules of `rules` that hide rows from `identity` at `now_mjd`: those not yet
    /// released whose groups the caller is not in.
    pub fn new(rules: &RowRules, identity: &Identity, now_mjd: f64) -> RowFilter {
        RowFilter {
            hidden: rules
                .rules
                .iter()
                .filter(|r| now_mjd < r.until_mjd() && !identity.in_any(&r.groups))
                .map(|r| Hidden {
                    id: r.id,
                    condition: r.condition.clone(),
                    columns: r.columns.clone(),
                })
                .collect(),
            hidden_tables: Arc::default(),
        }
    }

    /// These rules, with every row of the tables at `addresses` ([`provider_address`])
    /// hidden too.
    pub fn hiding_tables(&self, addresses: Arc<HashSet<usize>>) -> RowFilter {
        RowFilter {
            hidden: self.hidden.clone(),
            hidden_tables: addresses,
        }
    }

    /// Whether every row is visible.
    pub fn is_empty(&self) -> bool {
        self.hidden.is_empty() && self.hidden_tables.is_empty()
    }

    /// The columns of the catalogue table `name` (of schema `schema`) withheld from this
    /// caller: those that summarize rows of another table ([`crate::schema::summary_columns`])
    /// when a rule hides rows of that table but lacks columns of this one (a rule on `mjd`
    /// and the stars' `n_r`), so that it cannot tell which values count hidden rows.
    pub fn withheld_columns(&self, name: &str, schema: &Schema) -> Vec<&'static str> {
        let Some((summarized, columns)) = crate::schema::summary_columns(name) else {
            return Vec::new();
        };
        let Some(summarized) = crate::schema::table_schema(summarized) else {
            return Vec::new();
        };
        let hides = self
            .hidden
            .iter()
            .any(|h| applies(&h.columns, &summarized) && !applies(&h.columns, schema));
        if !hides {
            return Vec::new();
        }
        columns
            .iter()
            .copied()
            .filter(|c| schema.field_with_name(c).is_ok())
            .collect()
    }

    /// Whether some rule applies to a table of this schema (it has all of a rule's
    /// columns): a path that reads such a table without a plan must not be taken.
    pub fn applies_to(&self, schema: &Schema) -> bool {
        self.hidden.iter().any(|h| applies(&h.columns, schema))
    }

    /// `df` with the rules' filters on every scan it makes.
    pub fn restrict_frame(&self, df: DataFrame) -> Result<DataFrame> {
        if self.is_empty() {
            return Ok(df);
        }
        let (state, plan) = df.into_parts();
        let plan = self.restrict(&state, plan)?;
        Ok(DataFrame::new(state, plan))
    }

    /// `plan` with the rules' filters on every scan it makes (subqueries included).
    pub fn restrict(&self, state: &SessionState, plan: LogicalPlan) -> Result<LogicalPlan> {
        if self.is_empty() {
            return Ok(plan);
        }
        // EXPLAIN ANALYZE reports what the scans read (rows, row groups pruned by
        // statistics over every row): counts of the hidden rows.
        if matches!(plan, LogicalPlan::Analyze(_)) {
            bail!(
                "EXPLAIN ANALYZE is not offered to callers from whom rows or tables are hidden (its counts include them); EXPLAIN is"
            );
        }
        // Without the barrier the query's conditions could meet hidden rows, and their
        // errors quote them: every session the engine builds plans it.
        if !self.hidden.is_empty() && !crate::engine::visible_rows::in_session(state) {
            bail!(
                "this session cannot keep a query's conditions from the rows hidden from you (it does not plan skyql's barrier): the query is refused"
            );
        }
        let explained = matches!(plan, LogicalPlan::Explain(_));
        let mut hidden_read = false;
        let mut withheld_any = false;
        let rewritten = plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::TableScan(scan) => {
                let filtered = self.filter_scan(state, scan, &mut withheld_any)?;
                hidden_read |= matches!(filtered.data, LogicalPlan::EmptyRelation(_));
                Ok(filtered)
            }
            other => Ok(Transformed::no(other)),
        })?;
        // The plan of a view over a table the caller may not read names that table (the
        // columns of the empty relation that stands for it, the plan as SQL planned it).
        if explained && hidden_read {
            bail!(
                "EXPLAIN is not offered for this query: it reads a view over tables you may not read"
            );
        }
        if !withheld_any {
            return Ok(rewritten.data);
        }
        // Withheld columns are nullable where the table's are not: the nodes above the
        // scans take their schemas again.
        let recomputed = rewritten
            .data
            .transform_up_with_subqueries(|node| Ok(Transformed::yes(node.recompute_schema()?)))?;
        Ok(recomputed.data)
    }

    /// The scan with the rules' filter and the withheld columns (`withheld_any` set when
    /// there are some), under the barrier; an empty relation for a hidden table.
    fn filter_scan(
        &self,
        state: &SessionState,
        scan: TableScan,
        withheld_any: &mut bool,
    ) -> datafusion::common::Result<Transformed<LogicalPlan>> {
        let exempt = scan
            .table_name
            .schema()
            .is_some_and(|s| UNRULED_SCHEMAS.iter().any(|u| s.eq_ignore_ascii_case(u)));
        if !self.hidden_tables.is_empty()
            && source_as_provider(&scan.source)
                .is_ok_and(|p| self.hidden_tables.contains(&provider_address(&p)))
        {
            // A table the caller may not read, reached through a view: no row.
            return Ok(Transformed::yes(LogicalPlan::EmptyRelation(
                EmptyRelation {
                    produce_one_row: false,
                    schema: scan.projected_schema.clone(),
                },
            )));
        }
        if exempt {
            return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
        }
        let source_schema = scan.source.schema();
        let rules: Vec<&Hidden> = self
            .hidden
            .iter()
            .filter(|h| applies(&h.columns, &source_schema))
            .collect();
        // A table (of the catalogue, in the default schema, or of the service) whose
        // summary columns count rows the rules hide elsewhere.
        let default_schema = &state.config().options().catalog.default_schema;
        let name = match scan.table_name.schema() {
            Some(s) if !s.eq_ignore_ascii_case(default_schema) => {
                format!("{s}.{}", scan.table_name.table()).to_ascii_lowercase()
            }
            _ => scan.table_name.table().to_string(),
        };
        let withheld = self.withheld_columns(&name, &source_schema);
        if rules.is_empty() && withheld.is_empty() {
            return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
        }
        *withheld_any |= !withheld.is_empty();
        // The whole table is read under the filter (the rules' columns may be outside the
        // scan's projection), then projected back to the scan's columns. A fetch (a
        // limit pushed into the scan) is dropped: it would count hidden rows.
        let full = TableScanBuilder::new(scan.table_name.clone(), scan.source.clone())
            .with_filters(scan.filters.clone())
            .build()?;
        let schema = full.projected_schema.clone();
        let mut predicate: Option<Expr> = None;
        for h in rules {
            // The error names the rule, not its condition: the condition tells what is
            // hidden (the administrator reads it with `skyql catalog rules`).
            let condition = condition_expr(state, &h.condition, &schema).map_err(|_| {
                datafusion::error::DataFusionError::Plan(format!(
                    "access rule {} cannot be applied to table {} (its columns have other types): the data centre can correct the rule",
                    h.id, scan.table_name
                ))
            })?;
            let visible = condition.is_not_true();
            predicate = Some(match predicate {
                Some(p) => p.and(visible),
                None => visible,
            });
        }
        let mut builder = LogicalPlanBuilder::from(LogicalPlan::TableScan(full));
        if let Some(p) = predicate {
            builder = builder.filter(p)?;
        }
        if scan.projection.is_some() || !withheld.is_empty() {
            let indices: Vec<usize> = match &scan.projection {
                Some(p) => p.clone(),
                None => (0..schema.fields().len()).collect(),
            };
            let columns = indices
                .iter()
                .map(|&i| {
                    let (qualifier, field) = schema.qualified_field(i);
                    if !withheld.contains(&field.name().as_str()) {
                        return Ok(Expr::Column(Column::from((qualifier, field))));
                    }
                    // Withheld: a null of the column's type, under the column's name.
                    let null = ScalarValue::try_from(field.data_type())?;
                    Ok(lit(null).alias_qualified(qualifier.cloned(), field.name()))
                })
                .collect::<datafusion::common::Result<Vec<Expr>>>()?;
            builder = builder.project(columns)?;
        }
        // The query's conditions that may fail stay above the rule's filter.
        Ok(Transformed::yes(VisibleRows::above(builder.build()?)))
    }
}

/// The rules of one caller over rows read without a plan (the fixed cone plan on the
/// stars): the rules a scan of the table would get, as one condition keeping the
/// visible rows.
pub struct RowCheck {
    state: Arc<SessionState>,
    visible: Expr,
    columns: Vec<String>,
    /// The condition planned for the last schema of rows it was given.
    planned: Mutex<Option<(SchemaRef, Arc<dyn PhysicalExpr>)>>,
}

impl RowFilter {
    /// The check of the rules a scan of a table of schema `table` (the catalogue's table
    /// `catalogue_table`, if it is one) gets, for rows read with the columns of
    /// `readable`; `None` when no rule applies. An error when this check cannot stand for
    /// the scan's filter: tables are hidden from the caller, columns of the table are
    /// withheld from them, or a rule reads a column `readable` does not have (the plan
    /// must then be SQL's).
    pub fn row_check(
        &self,
        state: &Arc<SessionState>,
        catalogue_table: Option<&str>,
        table: &Schema,
        readable: &Schema,
    ) -> Result<Option<RowCheck>> {
        if !self.hidden_tables.is_empty() {
            bail!("tables are hidden from this caller");
        }
        if catalogue_table.is_some_and(|name| !self.withheld_columns(name, table).is_empty()) {
            bail!("columns of this table are withheld from this caller");
        }
        let rules: Vec<&Hidden> = self
            .hidden
            .iter()
            .filter(|h| applies(&h.columns, table))
            .collect();
        if rules.is_empty() {
            return Ok(None);
        }
        let df_schema = DFSchema::try_from(readable.clone())?;
        let mut visible: Option<Expr> = None;
        let mut columns = Vec::new();
        for h in rules {
            if !applies(&h.columns, readable) {
                bail!("rule {} reads a column the rows read here lack", h.id);
            }
            let condition = condition_expr(state, &h.condition, &df_schema)?;
            // A function of the query's time (`now()`) is fixed by the optimizer, which
            // rows read without a plan do not go through.
            if !immutable(&condition) {
                bail!("rule {} depends on the time of the query", h.id);
            }
            let condition = condition.is_not_true();
            visible = Some(match visible {
                Some(v) => v.and(condition),
                None => condition,
            });
            columns.extend(h.columns.iter().cloned());
        }
        columns.sort();
        columns.dedup();
        Ok(visible.map(|visible| RowCheck {
            state: Arc::clone(state),
            visible,
            columns,
            planned: Mutex::new(None),
        }))
    }

    /// What identifies these rules (ids and conditions), for keeping what is built from
    /// them.
    pub fn rules_key(&self) -> Vec<(u64, String)> {
        self.hidden
            .iter()
            .map(|h| (h.id, h.condition.clone()))
            .collect()
    }
}

impl RowCheck {
    /// The columns the rules read (the rows given to [`RowCheck::keep`] must have them).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows of `batch` the caller may see.
    pub fn keep(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let expr = {
            let mut planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
            match planned.as_ref() {
                Some((schema, expr)) if *schema == batch.schema() => Arc::clone(expr),
                _ => {
                    let schema = DFSchema::try_from(batch.schema().as_ref().clone())?;
                    let expr = self
                        .state
                        .create_physical_expr(self.visible.clone(), &schema)?;
                    *planned = Some((batch.schema(), Arc::clone(&expr)));
                    expr
                }
            }
        };
        let mask = expr.evaluate(batch)?.into_array(batch.num_rows())?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .context("a rule's condition is not true or false")?;
        Ok(filter_record_batch(batch, mask)?)
    }
}

/// Whether every function of `expr` gives the same value for the same arguments, whatever
/// the query and its time.
fn immutable(expr: &Expr) -> bool {
    let mut immutable = true;
    let _ = expr.apply(|e| {
        if let Expr::ScalarFunction(f) = e
            && f.func.signature().volatility != datafusion::logical_expr::Volatility::Immutable
        {
            immutable = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    immutable
}

/// Whether a table of `schema` has every column of `columns`.
fn applies(columns: &[String], schema: &Schema) -> bool {
    columns.iter().all(|c| schema.field_with_name(c).is_ok())
}

/// A rule's condition as an expression over `schema`: boolean, deterministic, without
/// subqueries or placeholders.
pub fn condition_expr(state: &SessionState, condition: &str, schema: &DFSchema) -> Result<Expr> {
    let expr = state
        .create_logical_expr(condition, schema)
        .with_context(|| format!("the condition {condition:?}"))?;
    let mut refused: Option<&'static str> = None;
    expr.apply(|e| {
        refused = match e {
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) => Some("a subquery"),
            Expr::Placeholder(_) => Some("a placeholder"),
            Expr::AggregateFunction(_) | Expr::WindowFunction(_) => Some("an aggregate"),
            _ => None,
        };
        Ok(if refused.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if let Some(what) = refused {
        bail!("the condition {condition:?} holds {what}: a rule tests each row by its own columns");
    }
    if expr.is_volatile() {
        bail!(
            "the condition {condition:?} is not the same at every evaluation (a random or time function)"
        );
    }
    let data_type = expr.get_type(schema)?;
    if data_type != DataType::Boolean {
        bail!("the condition {condition:?} is a {data_type}, not true or false");
    }
    Ok(expr)
}

/// The columns a condition names, and the tables of `tables` (name, schema) that have
/// them all, checked by planning the condition on each: what `skyql catalog protect`
/// keeps with a rule. An error when no table has them.
pub fn rule_columns(
    state: &SessionState,
    condition: &str,
    tables: &[(String, Schema)],
) -> Result<(Vec<String>, Vec<String>)> {
    let mut columns: Option<Vec<String>> = None;
    let mut first_error = None;
    for (name, schema) in tables {
        let df_schema = DFSchema::try_from(schema.clone())?;
        match condition_expr(state, condition, &df_schema) {
            Ok(expr) => {
                let mut names: Vec<String> = expr
                    .column_refs()
                    .into_iter()
                    .map(|c| c.name.clone())
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                names.sort();
                columns = Some(names);
                break;
            }
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some((name.clone(), e));
                }
            }
        }
    }
    let Some(columns) = columns else {
        return match first_error {
            Some((table, e)) => Err(e.context(format!(
                "no table of the catalogue can take this rule (on {table})"
            ))),
            None => bail!("the catalogue has no tables"),
        };
    };
    if columns.is_empty() {
        bail!(
            "the condition {condition:?} names no column: it would hide every row of every table"
        );
    }
    let tables = tables
        .iter()
        .filter(|(_, s)| applies(&columns, s))
        .map(|(n, _)| n.clone())
        .collect();
    Ok((columns, tables))
}
