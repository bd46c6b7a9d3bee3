//! One star by its id, read without SQL planning: the lookups behind a star's DataLink
//! links, light curve and plot, and TAP queries of the shape `SELECT columns FROM
//! eros2.stars WHERE star_id = '...'` (the web page's star page asks that first).
//!
//! Through DataFusion the star page's `SELECT * FROM eros2.stars WHERE star_id = '...'`
//! took 10-14 ms on 10^8 measurements (fields of 50,000 stars), most of it planning and
//! opening the field's files again for every request; here 3-4 ms (docs/BENCHMARKS.md).
//! Read: the files whose `star_id` range (in the manifest) holds the id, or every file
//! when the manifest has no range; in them, the row groups whose `star_id` statistics
//! hold it and whose bloom filter (written with every `stars` file) does not exclude it,
//! and in those the pages whose statistics hold it; the `star_id` column of those pages,
//! to find the row; then that row's pages of every column, kept for the next lookups of
//! the star. Footers are read once ([`super::table_files`]). The rows are those of
//! DataFusion's plan (`tests/service.rs` compares both paths).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};

use super::catalog_file::{CatalogFile, pages_of_star, star_id_leaf};
use super::table_files::{PlainQuery, TableFiles};
use crate::access::RowFilter;
use crate::access::row_filter::RowCheck;
use datafusion::execution::SessionState;

/// One star to look up: its id, the columns, a row limit of the query itself.
#[derive(Debug, Clone, PartialEq)]
pub struct StarLookup {
    /// The `star_id`.
    pub star_id: String,
    /// Columns of the view, in order (empty: all of them).
    pub columns: Vec<String>,
    /// `TOP n` / `LIMIT n`.
    pub limit: Option<usize>,
}

/// The catalogue's stars, ready for lookups by id.
pub struct StarPath {
    stars: Arc<TableFiles>,
    /// The stars looked up last (every column of the view), most recent at the back: a
    /// star page asks for its star three times (its row, its light curve, its links).
    recent: Mutex<VecDeque<(String, RecordBatch)>>,
}

/// Stars kept in [`StarPath::recent`].
const RECENT_STARS: usize = 256;

impl StarPath {
    /// The star path of the catalogue's stars files.
    pub fn new(stars: Arc<TableFiles>) -> StarPath {
        StarPath {
            stars,
            recent: Mutex::new(VecDeque::with_capacity(RECENT_STARS)),
        }
    }

    /// The lookup a translated query asks for, when it has the fixed shape: plain columns
    /// of the stars view (or `*`), `star_id = 'text'` as its condition, an optional
    /// `LIMIT`, nothing else.
    pub fn recognize(&self, query: &PlainQuery) -> Option<StarLookup> {
        Some(StarLookup {
            star_id: star_condition(&query.condition)?,
            columns: self.stars.view_columns(query)?,
            limit: query.limit,
        })
    }

    /// The caller's row rules as they apply to the stars; `Err` when they cannot be
    /// checked here (the SQL plan answers).
    pub fn row_check(
        &self,
        rows: &RowFilter,
        state: &Arc<SessionState>,
    ) -> Result<Option<Arc<RowCheck>>> {
        self.stars.row_check(rows, state)
    }

    /// The rows of the star (none, or one in a catalogue whose ids are unique), without
    /// those `check` hides.
    pub fn lookup(&self, star: &StarLookup, check: Option<&RowCheck>) -> Result<RecordBatch> {
        let mut all = self.every_column(&star.star_id)?;
        if let Some(check) = check {
            all = check.keep(&all)?;
        }
        let wanted = self.stars.fields(&star.columns)?;
        let columns = wanted
            .iter()
            .map(|f| {
                all.column_by_name(f.name())
                    .cloned()
                    .with_context(|| format!("no column {}", f.name()))
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(wanted)),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(all.num_rows())),
        )?;
        Ok(match star.limit {
            Some(n) if n < rows.num_rows() => rows.slice(0, n),
            _ => rows,
        })
    }

    /// The star's rows with every column of the view, from [`StarPath::recent`] or read.
    fn every_column(&self, id: &str) -> Result<RecordBatch> {
        if let Some(found) = self.recent().iter().rev().find(|(s, _)| s == id) {
            return Ok(found.1.clone());
        }
        let fields = self.stars.fields(&[])?;
        let schema = Arc::new(Schema::new(fields.clone()));
        let mut parts = Vec::new();
        for file in self.stars.files.iter().filter(|f| f.may_hold(id)) {
            if let Some(batch) = read_star(file, id, &schema)? {
                parts.push(RecordBatch::try_new(
                    schema.clone(),
                    file.view_columns(&batch, &fields)?,
                )?);
            }
        }
        let all = concat_batches(&schema, &parts)?;
        let mut recent = self.recent();
        if recent.len() == RECENT_STARS {
            recent.pop_front();
        }
        recent.push_back((id.to_string(), all.clone()));
        Ok(all)
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, RecordBatch)>> {
        self.recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The id of `star_id = 'text'` (either way round).
fn star_condition(expr: &Expr) -> Option<String> {
    let Expr::BinaryOp { left, op, right } = expr else {
        return None;
    };
    if *op != BinaryOperator::Eq {
        return None;
    }
    let is_star_id =
        |e: &Expr| matches!(e, Expr::Identifier(id) if id.value.eq_ignore_ascii_case("star_id"));
    let text = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    match (left.as_ref(), right.as_ref()) {
        (l, r) if is_star_id(l) => text(r),
        (l, r) if is_star_id(r) => text(l),
        _ => None,
    }
}

/// The star's rows in one file, with the file's columns of `schema`; `None` when the file
/// does not hold it.
fn read_star(file: &CatalogFile, id: &str, schema: &Arc<Schema>) -> Result<Option<RecordBatch>> {
    let (reader, metadata) = file.open()?;
    let leaf = star_id_leaf(&metadata, file)?;
    let search = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, metadata.clone());
    // A row group whose bloom filter says the star is not there is not read.
    let (groups, selectors) = pages_of_star(&metadata, leaf, id, |g| {
        Ok(search
            .get_row_group_column_bloom_filter(g, leaf)
            .with_context(|| format!("cannot read the bloom filter of {}", file.name))?
            .is_none_or(|bloom| bloom.check(id)))
    })?;
    if groups.is_empty() {
        return Ok(None);
    }
    // The selected rows' ids, to find the star's.
    let selection = RowSelection::from(selectors);
    let ids = search
        .with_row_groups(groups.clone())
        .with_row_selection(selection.clone())
        .with_projection(ProjectionMask::leaves(metadata.parquet_schema(), [leaf]))
        .with_batch_size(8_192)
        .build()?;
    let mut matched = Vec::new();
    let mut at = 0usize;
    for batch in ids {
        let batch = batch.with_context(|| format!("cannot read {}", file.name))?;
        let column = cast(batch.column(0), &DataType::Utf8)?;
        let column = column.as_string::<i32>();
        for i in 0..column.len() {
            if !column.is_null(i) && column.value(i) == id {
                matched.push(at + i);
            }
        }
        at += batch.num_rows();
    }
    if matched.is_empty() {
        return Ok(None);
    }
    // The matched rows among the selected ones, as a selection within it.
    let mut within = Vec::new();
    let mut next = 0usize;
    for &row in &matched {
        if row > next {
            within.push(RowSelector::skip(row - next));
        }
        within.push(RowSelector::select(1));
        next = row + 1;
    }
    if at > next {
        within.push(RowSelector::skip(at - next));
    }
    let rows = selection.and_then(&RowSelection::from(within));
    let arrow = metadata.schema().clone();
    let wanted: Vec<usize> = schema
        .fields()
        .iter()
        .filter_map(|f| arrow.index_of(f.name()).ok())
        .collect();
    let (reader, metadata) = file.open()?;
    let mask = ProjectionMask::roots(metadata.parquet_schema(), wanted);
    let read = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, metadata)
        .with_row_groups(groups)
        .with_row_selection(rows)
        .with_projection(mask)
        .build()?;
    let batches = read
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read {}", file.name))?;
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    Ok(Some(concat_batches(&first.schema(), &batches)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(sql: &str) -> Option<String> {
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        let expr = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap();
        star_condition(&expr)
    }

    #[test]
    fn the_condition_is_an_equality_with_a_text() {
        assert_eq!(
            condition("star_id = 'lm0010n346'").as_deref(),
            Some("lm0010n346")
        );
        assert_eq!(condition("'a''b' = STAR_ID").as_deref(), Some("a'b"));
        assert_eq!(condition("star_id = 12"), None);
        assert_eq!(condition("star_id <> 'x'"), None);
        assert_eq!(condition("field = 'lm001'"), None);
    }
}
