//! A published table's files as the service's fixed plans read them (cones,
//! [`super::cone_path`], on the catalogue's `stars` and on local HATS tables; one star by
//! its id, [`super::star_path`]), and the query shape those plans answer without SQL
//! planning.

use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, LimitClause, SelectItem, SetExpr, Statement, TableFactor, Value,
};

use super::catalog_file::CatalogFile;
use super::kept_row_checks::KeptRowChecks;
use crate::access::RowFilter;
use crate::access::row_filter::RowCheck;
use crate::engine::Engine;
use crate::hats::table::HatsFiles;
use datafusion::execution::SessionState;

/// A published table ready for the fixed plans: its files and the published view.
pub struct TableFiles {
    /// The files, every one with its HEALPix range.
    pub files: Vec<CatalogFile>,
    /// The published view's schema (`eros2.stars`): the columns a plan may return.
    pub view: SchemaRef,
    /// The schema of the table the view reads (what the row rules are matched with).
    pub source: SchemaRef,
    /// The view's qualified name, lower case.
    pub name: String,
    /// The catalogue's table the view reads (`stars`), when it is one.
    catalogue_table: Option<&'static str>,
    /// The row rules' checks built for this version, by the rules.
    checks: KeptRowChecks,
}

impl TableFiles {
    /// The stars files of the catalogue published as `schema.stars`, when every one has
    /// its `healpix` range in the manifest.
    pub async fn stars(engine: &Engine, ctx: &SessionContext, schema: &str) -> Option<TableFiles> {
        let catalog = engine.catalog()?;
        // Local files only: a remote catalogue's queries take the SQL plan.
        if catalog.remote.is_some() {
            return None;
        }
        let entry = catalog.manifest.tables.get("stars")?;
        let files: Vec<CatalogFile> = entry
            .data_files
            .iter()
            .map(|f| CatalogFile::new(catalog, entry, f))
            .collect();
        if files
            .iter()
            .any(|f| f.healpix.is_none() || f.field.is_none())
        {
            return None;
        }
        let name = format!("{schema}.stars");
        let view = ctx.table(name.as_str()).await.ok()?;
        let view = Arc::new(view.schema().as_arrow().clone());
        let source = ctx.table_provider("stars").await.ok()?.schema();
        Some(TableFiles {
            files,
            view,
            source,
            name: name.to_ascii_lowercase(),
            catalogue_table: Some("stars"),
            checks: KeptRowChecks::default(),
        })
    }

    /// The leaf files of a local HATS table published as `name`, when its view's columns
    /// are the files' own, distinct ignoring case (the service's view lower-cases names: a
    /// catalogue with upper-case names takes the SQL plan).
    pub async fn hats(ctx: &SessionContext, name: &str, hats: &HatsFiles) -> Option<TableFiles> {
        let view = ctx.table(name).await.ok()?;
        let view = Arc::new(view.schema().as_arrow().clone());
        // The plan finds columns by name, ignoring case as SQL does: names that differ
        // only in case would be ambiguous to it.
        let lower: std::collections::HashSet<String> = view
            .fields()
            .iter()
            .map(|f| f.name().to_ascii_lowercase())
            .collect();
        let own = lower.len() == view.fields().len()
            && view
                .fields()
                .iter()
                .all(|f| hats.schema.field_with_name(f.name()).is_ok());
        if !own {
            return None;
        }
        let files = hats
            .files
            .iter()
            .map(|(path, range)| CatalogFile::outside(path, *range))
            .collect();
        Some(TableFiles {
            files,
            view,
            // The table's own schema (its scans have the files' schema, no partition
            // column): the row rules that apply to it are those a scan of it gets.
            source: Arc::clone(&hats.schema),
            name: name.to_ascii_lowercase(),
            catalogue_table: None,
            checks: KeptRowChecks::default(),
        })
    }

    /// The check of the caller's row rules on this table's rows (`None`: no rule
    /// applies); `Err` when they cannot be checked here (the SQL plan answers).
    pub fn row_check(
        &self,
        rows: &RowFilter,
        state: &Arc<SessionState>,
    ) -> Result<Option<Arc<RowCheck>>> {
        self.checks.get(rows, || {
            rows.row_check(state, self.catalogue_table, &self.source, &self.view)
        })
    }

    /// The view's fields named `columns` (all of them when empty), in that order.
    pub fn fields(&self, columns: &[String]) -> Result<Vec<Arc<Field>>> {
        if columns.is_empty() {
            return Ok(self.view.fields().iter().cloned().collect());
        }
        columns
            .iter()
            .map(|c| {
                self.view
                    .field_with_name(c)
                    .map(|f| Arc::new(f.clone()))
                    .with_context(|| format!("no column {c} in {}", self.name))
            })
            .collect()
    }

    /// The view's names of the columns `query` selects (empty: all of them), when it
    /// reads this table and each column is one of the view's; names match ignoring case,
    /// as SQL's do.
    pub fn view_columns(&self, query: &PlainQuery) -> Option<Vec<String>> {
        if query.table != self.name {
            return None;
        }
        query
            .columns
            .iter()
            .map(|wanted| {
                self.view
                    .fields()
                    .iter()
                    .find(|f| f.name().to_ascii_lowercase() == *wanted)
                    .map(|f| f.name().clone())
            })
            .collect()
    }
}

/// A query of the fixed shape, taken apart.
pub struct PlainQuery {
    /// The table it reads, as written, lower case.
    pub table: String,
    /// The columns it selects, as written, lower case, in order (empty: all of them).
    pub columns: Vec<String>,
    /// Its `WHERE`.
    pub condition: Expr,
    /// `TOP n` / `LIMIT n`.
    pub limit: Option<usize>,
}

impl PlainQuery {
    /// The parts of a translated query of the fixed shape: plain columns (or `*`) of one
    /// table, a condition, an optional `LIMIT`, nothing else. Parsed once per request;
    /// each fixed plan then asks whether it reads its table ([`TableFiles::view_columns`]).
    pub fn parse(sql: &str) -> Option<PlainQuery> {
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        let mut statements =
            datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).ok()?;
        if statements.len() != 1 {
            return None;
        }
        let Statement::Query(query) = statements.pop()? else {
            return None;
        };
        if query.with.is_some() || query.order_by.is_some() || query.fetch.is_some() {
            return None;
        }
        let limit = match &query.limit_clause {
            None => None,
            Some(LimitClause::LimitOffset {
                limit: Some(Expr::Value(v)),
                offset: None,
                limit_by,
            }) if limit_by.is_empty() => match &v.value {
                Value::Number(n, _) => Some(n.parse::<usize>().ok()?),
                _ => return None,
            },
            Some(_) => return None,
        };
        let SetExpr::Select(select) = query.body.as_ref() else {
            return None;
        };
        let plain = select.distinct.is_none()
            && select.top.is_none()
            && select.from.len() == 1
            && select.from[0].joins.is_empty()
            && matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
            && select.having.is_none()
            && select.qualify.is_none()
            && select.lateral_views.is_empty()
            && select.cluster_by.is_empty()
            && select.sort_by.is_empty()
            && select.named_window.is_empty();
        if !plain {
            return None;
        }
        let TableFactor::Table {
            name, alias: None, ..
        } = &select.from[0].relation
        else {
            return None;
        };
        let mut columns = Vec::new();
        for item in &select.projection {
            match item {
                SelectItem::Wildcard(_) if select.projection.len() == 1 => {}
                SelectItem::UnnamedExpr(Expr::Identifier(id)) => {
                    columns.push(id.value.to_ascii_lowercase());
                }
                _ => return None,
            }
        }
        Some(PlainQuery {
            table: name.to_string().to_ascii_lowercase(),
            columns,
            condition: select.selection.clone()?,
            limit,
        })
    }
}
