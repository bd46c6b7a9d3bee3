//! The fixed plan of a cone search, run without SQL planning: the service's most frequent
//! request (`/scs/stars`, and TAP queries of the shape `SELECT columns FROM eros2.stars
//! WHERE CONTAINS(POINT(ra, dec), CIRCLE(...)) = 1`), on the catalogue's `stars` (files
//! chosen by their `healpix` range in the manifest) and on the HATS tables published from
//! a local disk (leaf files chosen by their pixel, rows by `_healpix_29`).
//!
//! Through DataFusion such a cone spends most of its time in what a long-lived service
//! need not repeat: parsing, the optimizer rules and the physical planning (3.6-5.7 ms), and
//! opening every file of the fields the cone touches. Here the HEALPix cells covering the
//! cone (the same cover as the `cone_healpix_pruning` rule) select the files by the
//! `healpix` range the manifest records for each; each file's footer and page index are
//! read once and kept; the row groups and pages whose `healpix` statistics meet the cells
//! are read, and `cone_contains`'s own test (Vincenty's separation, boundary included)
//! keeps the rows. The rows are the ones DataFusion's plan returns, with the published
//! view's columns, types and metadata, ordered by distance (`tests/service.rs` compares
//! both paths).

use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::arrow::array::{Array, BooleanArray, Float64Array, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection};
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;
use datafusion::parquet::file::statistics::Statistics;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
};
use skyql_udfs::functions::angular_separation;
use skyql_udfs::rules::cell_ranges::meets;
use skyql_udfs::rules::cone_healpix::cone_ranges;

use super::catalog_file::{CatalogFile, select_pages};
use super::table_files::{PlainQuery, TableFiles};
use crate::access::RowFilter;
use crate::access::row_filter::RowCheck;
use datafusion::execution::SessionState;

/// A table ready for cones: its files, their HEALPix index column (order 29, nested) and
/// the position columns.
pub struct ConePath {
    table: Arc<TableFiles>,
    /// The index column: `healpix` for `stars`, `_healpix_29` for HATS.
    index: String,
    /// RA and Dec, degrees.
    ra: String,
    dec: String,
}

/// A cone to run: centre and radius in degrees, the columns, whether a `distance` column
/// is added, and a row limit of the query itself (`TOP n`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cone {
    /// Centre RA, degrees.
    pub ra: f64,
    /// Centre Dec, degrees.
    pub dec: f64,
    /// Radius, degrees.
    pub radius: f64,
    /// Columns of the view, in order (empty: all of them).
    pub columns: Vec<String>,
    /// Whether the result ends with `distance` (degrees from the centre).
    pub distance: bool,
    /// `TOP n` / `LIMIT n`.
    pub limit: Option<usize>,
}

impl ConePath {
    /// The cone path of the catalogue's stars files.
    pub fn stars(stars: Arc<TableFiles>) -> ConePath {
        ConePath {
            table: stars,
            index: "healpix".into(),
            ra: "ra".into(),
            dec: "dec".into(),
        }
    }

    /// The cone path of a HATS table's leaf files, `position` its RA and Dec columns.
    pub fn hats(table: TableFiles, position: [String; 2]) -> ConePath {
        let [ra, dec] = position;
        ConePath {
            table: Arc::new(table),
            index: crate::hats::options::HEALPIX29.into(),
            ra,
            dec,
        }
    }

    /// The table's qualified name, lower case.
    pub fn name(&self) -> &str {
        &self.table.name
    }

    /// Its RA and Dec columns.
    pub fn position(&self) -> [&str; 2] {
        [&self.ra, &self.dec]
    }

    /// The cone a translated query asks for, when it has the fixed shape: plain columns of
    /// the table's view (or `*`), one `cone_contains(RA_COLUMN, DEC_COLUMN, RA, DEC, R)`
    /// with numbers as its condition, an optional `LIMIT`, nothing else.
    pub fn recognize(&self, query: &PlainQuery) -> Option<Cone> {
        let columns = self.table.view_columns(query)?;
        let (ra, dec, radius) = cone_condition(&query.condition, [&self.ra, &self.dec])?;
        Some(Cone {
            ra,
            dec,
            radius,
            columns,
            distance: false,
            limit: query.limit,
        })
    }

    /// The caller's row rules as they apply to this table's rows; `Err` when they
    /// cannot be checked here (the SQL plan answers).
    pub fn row_check(
        &self,
        rows: &RowFilter,
        state: &Arc<SessionState>,
    ) -> Result<Option<Arc<RowCheck>>> {
        self.table.row_check(rows, state)
    }

    /// The rows within the cone, ordered by distance, those `check` hides left out;
    /// `None` when the cone is too large for a HEALPix cover (the SQL plan answers it).
    pub fn search(&self, cone: &Cone, check: Option<&RowCheck>) -> Result<Option<RecordBatch>> {
        let Some(ranges) = cone_ranges(cone.ra, cone.dec, cone.radius) else {
            return Ok(None);
        };
        let meets = |lo: i64, hi: i64| meets(&ranges, lo, hi);
        // The rules' columns are read too when the result does not return them.
        let mut read = cone.columns.clone();
        if let Some(check) = check
            && !read.is_empty()
        {
            read.extend(
                check
                    .columns()
                    .iter()
                    .filter(|c| !cone.columns.contains(c))
                    .cloned(),
            );
        }
        let schema = self.output_schema(&read)?;
        let mut parts = Vec::new();
        for file in self
            .table
            .files
            .iter()
            .filter(|f| f.healpix.is_some_and(|(lo, hi)| meets(lo, hi)))
        {
            self.read_file(file, &schema, cone, &meets, &mut parts)?;
        }
        let mut all = concat_batches(&schema, &parts)?;
        if let Some(check) = check {
            all = check.keep(&all)?;
        }
        // Nearest first, as the cone search orders its rows.
        let distance_column = all.num_columns() - 1;
        let distances = distance_of(&all, distance_column)?;
        let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
        order.sort_by(|a, b| distances[*a as usize].total_cmp(&distances[*b as usize]));
        if let Some(n) = cone.limit {
            order.truncate(n);
        }
        let indices = UInt32Array::from(order);
        // The result's columns (not the rules' own), then the distance when asked for.
        let returned = if cone.columns.is_empty() {
            distance_column
        } else {
            cone.columns.len()
        };
        let kept: Vec<usize> = (0..returned)
            .chain(cone.distance.then_some(distance_column))
            .collect();
        let columns = kept
            .iter()
            .map(|&i| take(all.column(i).as_ref(), &indices, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let schema = Arc::new(Schema::new(
            kept.iter()
                .map(|&i| Arc::clone(&schema.fields()[i]))
                .collect::<Vec<_>>(),
        ));
        Ok(Some(RecordBatch::try_new(schema, columns)?))
    }

    /// The schema of the rows read: the view's fields (types and metadata) and `distance`
    /// (kept for the order even when the result does not return it).
    fn output_schema(&self, columns: &[String]) -> Result<SchemaRef> {
        let mut fields = self.table.fields(columns)?;
        fields.push(Arc::new(Field::new("distance", DataType::Float64, true)));
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Appends the rows of `file` within the cone to `parts`, as `schema` (the result's
    /// columns, then `distance`).
    fn read_file(
        &self,
        file: &CatalogFile,
        schema: &SchemaRef,
        cone: &Cone,
        meets: &dyn Fn(i64, i64) -> bool,
        parts: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let (reader, metadata) = file.open()?;
        let parquet = metadata.metadata().clone();
        let arrow = metadata.schema().clone();
        let index_of = |name: &str| arrow.index_of(name).ok();
        let healpix = index_of(&self.index)
            .with_context(|| format!("{} has no column {}", file.name, self.index))?;
        // Row groups whose statistics meet the cells; within them, the pages that do.
        let mut groups = Vec::new();
        let mut selectors = Vec::new();
        for (g, group) in parquet.row_groups().iter().enumerate() {
            let column = group.column(healpix);
            let whole = match column.statistics() {
                Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(lo), Some(hi)) => meets(*lo, *hi),
                    _ => true,
                },
                _ => true,
            };
            if !whole {
                continue;
            }
            groups.push(g);
            selectors.extend(select_pages(
                &metadata,
                g,
                healpix,
                |index, p| match index {
                    ColumnIndexMetaData::INT64(index) => {
                        match (index.min_value(p), index.max_value(p)) {
                            (Some(lo), Some(hi)) => meets(*lo, *hi),
                            // A page of nulls only holds no position of a cone.
                            _ => false,
                        }
                    }
                    _ => true,
                },
            ));
        }
        if groups.is_empty() {
            return Ok(());
        }
        let wanted: Vec<usize> = schema
            .fields()
            .iter()
            .filter_map(|f| index_of(f.name()))
            .chain(
                [index_of(&self.ra), index_of(&self.dec)]
                    .into_iter()
                    .flatten(),
            )
            .collect();
        let mask = ProjectionMask::roots(metadata.parquet_schema(), wanted);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, metadata)
            .with_row_groups(groups)
            .with_row_selection(RowSelection::from(selectors))
            .with_projection(mask)
            .with_batch_size(8_192)
            .build()?;
        for batch in reader {
            let batch = batch.with_context(|| format!("cannot read {}", file.name))?;
            let part = within(&batch, file, schema, cone, [&self.ra, &self.dec])?;
            if part.num_rows() > 0 {
                parts.push(part);
            }
        }
        Ok(())
    }
}

/// The rows of `batch` within the cone, as `schema` (the result's columns and `distance`).
fn within(
    batch: &RecordBatch,
    file: &CatalogFile,
    schema: &SchemaRef,
    cone: &Cone,
    [ra, dec]: [&str; 2],
) -> Result<RecordBatch> {
    let float = |name: &str| -> Result<Float64Array> {
        let c = batch.column_by_name(name).context("no position")?;
        Ok(cast(c, &DataType::Float64)?
            .as_any()
            .downcast_ref::<Float64Array>()
            .context("positions are not numbers")?
            .clone())
    };
    let (ra, dec) = (float(ra)?, float(dec)?);
    let mut distances = Vec::with_capacity(batch.num_rows());
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|i| {
            if ra.is_null(i) || dec.is_null(i) {
                distances.push(f64::NAN);
                return Some(false);
            }
            let d = angular_separation(ra.value(i), dec.value(i), cone.ra, cone.dec);
            distances.push(d);
            Some(d <= cone.radius)
        })
        .collect();
    let fields = schema.fields();
    let mut arrays = file.view_columns(batch, &fields[..fields.len() - 1])?;
    arrays.push(Arc::new(Float64Array::from(distances)));
    let all = RecordBatch::try_new(Arc::clone(schema), arrays)?;
    Ok(filter_record_batch(&all, &keep)?)
}

/// The distances of the rows, from the last column.
fn distance_of(batch: &RecordBatch, column: usize) -> Result<Vec<f64>> {
    let d = batch
        .column(column)
        .as_any()
        .downcast_ref::<Float64Array>()
        .context("no distance")?;
    Ok(d.values().to_vec())
}

/// The centre and radius of `cone_contains(ra, dec, RA, DEC, R)` with numbers, `ra` and
/// `dec` the columns `position` names.
fn cone_condition(expr: &Expr, position: [&str; 2]) -> Option<(f64, f64, f64)> {
    let Expr::Function(f) = expr else {
        return None;
    };
    if !f.name.to_string().eq_ignore_ascii_case("cone_contains") {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if args.len() != 5 {
        return None;
    }
    let is_column = |e: &Expr, name: &str| matches!(e, Expr::Identifier(id) if id.value.eq_ignore_ascii_case(name));
    if !is_column(args[0], position[0]) || !is_column(args[1], position[1]) {
        return None;
    }
    let number = |e: &Expr| -> Option<f64> {
        match e {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n.parse::<f64>().ok(),
                _ => None,
            },
            Expr::UnaryOp {
                op: datafusion::sql::sqlparser::ast::UnaryOperator::Minus,
                expr,
            } => match expr.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n.parse::<f64>().ok().map(|x| -x),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    };
    let (ra, dec, radius) = (number(args[2])?, number(args[3])?, number(args[4])?);
    (ra.is_finite() && dec.is_finite() && radius.is_finite() && radius > 0.0)
        .then_some((ra, dec, radius))
}
