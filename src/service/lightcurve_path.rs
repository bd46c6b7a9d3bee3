//! One star's light curve read without SQL planning: the rows of `sql/lightcurve.sql`
//! for a star (the DataLink light-curve link, which the web page's star page draws).
//!
//! Through DataFusion the named query spends 3 ms in parsing, optimizer rules and physical
//! planning before it reads anything. The measurements are sorted by `star_id` in each
//! file, so the manifest's per-file `star_id` ranges, then the row groups' and the pages'
//! statistics, name the few pages that hold the star; those pages of the query's columns
//! are read (through the block checksums), the star's rows kept and ordered by `mjd` and
//! `colour`, as the query orders them. The result has the query's own schema (planned
//! once per catalogue version), so that every format writes what the SQL plan would have;
//! `tests/datalink.rs` compares both. Under row rules, the rules' columns are read too
//! and the rows a rule hides from the caller dropped ([`RowCheck`], the condition the SQL
//! plan's scans get), before the query's columns are kept.

use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{
    SortColumn, cast, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SessionState;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection};
use datafusion::prelude::SessionContext;

use super::catalog_file::{CatalogFile, pages_of_star, star_id_leaf};
use super::kept_row_checks::KeptRowChecks;
use crate::access::RowFilter;
use crate::access::row_filter::RowCheck;
use crate::engine::Engine;
use crate::engine::parameters::{Param, bind};

/// The columns of `sql/lightcurve.sql`, in its order: what this path answers.
const COLUMNS: [&str; 5] = ["star_id", "mjd", "colour", "mag", "mag_err"];

/// The catalogue's measurements, ready for one star's light curve.
pub struct LightCurvePath {
    files: Vec<CatalogFile>,
    /// The named query's result schema.
    schema: SchemaRef,
    /// The schema of the measurements table (what the row rules are matched with).
    source: SchemaRef,
    /// The row rules' checks built for this version.
    checks: KeptRowChecks,
}

impl LightCurvePath {
    /// The path for the catalogue's measurements, when the named query still selects
    /// [`COLUMNS`] (else the SQL plan answers).
    pub async fn new(engine: &Engine, ctx: &SessionContext) -> Option<LightCurvePath> {
        let catalog = engine.catalog()?;
        // Local files only: a remote catalogue's queries take the SQL plan.
        if catalog.remote.is_some() {
            return None;
        }
        let entry = catalog.manifest.tables.get("measurements")?;
        let sql = crate::named_queries::named_query("lightcurve")?;
        let df = ctx.sql(sql).await.ok()?;
        let star = Param {
            name: "star".into(),
            value: String::new(),
        };
        let schema: SchemaRef = Arc::new(bind(df, sql, &[star]).ok()?.schema().as_arrow().clone());
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if names != COLUMNS {
            return None;
        }
        let files = entry
            .data_files
            .iter()
            .map(|f| CatalogFile::new(catalog, entry, f))
            .collect();
        let source = ctx.table_provider("measurements").await.ok()?.schema();
        Some(LightCurvePath {
            files,
            schema,
            source,
            checks: KeptRowChecks::default(),
        })
    }

    /// The caller's row rules as they apply to the measurements (`None`: none does);
    /// `Err` when they cannot be checked here (the SQL plan answers).
    pub fn row_check(
        &self,
        rows: &RowFilter,
        state: &Arc<SessionState>,
    ) -> Result<Option<Arc<RowCheck>>> {
        self.checks.get(rows, || {
            rows.row_check(state, Some("measurements"), &self.source, &self.source)
        })
    }

    /// The star's measurements, by time then colour, with the named query's schema;
    /// without the rows `check` hides.
    pub fn read(&self, star: &str, check: Option<&RowCheck>) -> Result<RecordBatch> {
        // The query's columns, then the rules' own, typed as the table has them (the
        // rules' condition was planned on those types).
        let mut fields: Vec<Arc<Field>> = Vec::new();
        for name in COLUMNS.iter().copied().chain(
            check
                .iter()
                .flat_map(|c| c.columns().iter().map(String::as_str)),
        ) {
            if fields.iter().all(|f| f.name() != name) {
                fields.push(Arc::new(self.source.field_with_name(name)?.clone()));
            }
        }
        let read_schema = Arc::new(Schema::new(fields.clone()));
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        let own: Vec<Arc<Field>> = self.schema.fields().iter().cloned().collect();
        let mut parts = Vec::new();
        for file in self.files.iter().filter(|f| f.may_hold(star)) {
            if let Some(batch) = read_star(file, star, &names)? {
                let mut rows =
                    RecordBatch::try_new(read_schema.clone(), file.view_columns(&batch, &fields)?)?;
                if let Some(check) = check {
                    rows = check.keep(&rows)?;
                }
                parts.push(RecordBatch::try_new(
                    self.schema.clone(),
                    file.view_columns(&rows, &own)?,
                )?);
            }
        }
        let all = concat_batches(&self.schema, &parts)?;
        let by = |name: &str| -> Result<SortColumn> {
            Ok(SortColumn {
                values: all.column_by_name(name).context("no sort column")?.clone(),
                options: None,
            })
        };
        let order = lexsort_to_indices(&[by("mjd")?, by("colour")?], None)?;
        Ok(take_record_batch(&all, &order)?)
    }
}

/// The star's rows in one file (the file's columns among `columns`); `None` when the file
/// does not hold it.
fn read_star(file: &CatalogFile, id: &str, columns: &[&str]) -> Result<Option<RecordBatch>> {
    let (reader, metadata) = file.open()?;
    let leaf = star_id_leaf(&metadata, file)?;
    let (groups, selectors) = pages_of_star(&metadata, leaf, id, |_| Ok(true))?;
    if groups.is_empty() {
        return Ok(None);
    }
    let arrow = metadata.schema().clone();
    let wanted: Vec<usize> = columns
        .iter()
        .filter_map(|c| arrow.index_of(c).ok())
        .collect();
    let mask = ProjectionMask::roots(metadata.parquet_schema(), wanted);
    let read = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, metadata)
        .with_row_groups(groups)
        .with_row_selection(RowSelection::from(selectors))
        .with_projection(mask)
        .with_batch_size(8_192)
        .build()?;
    let mut kept = Vec::new();
    for batch in read {
        let batch = batch.with_context(|| format!("cannot read {}", file.name))?;
        let ids = cast(
            batch.column_by_name("star_id").context("no star_id")?,
            &DataType::Utf8,
        )?;
        let ids = ids.as_string::<i32>();
        let mine: BooleanArray = (0..ids.len())
            .map(|i| Some(!ids.is_null(i) && ids.value(i) == id))
            .collect();
        let part = filter_record_batch(&batch, &mine)?;
        if part.num_rows() > 0 {
            kept.push(part);
        }
    }
    let Some(first) = kept.first() else {
        return Ok(None);
    };
    Ok(Some(concat_batches(&first.schema(), &kept)?))
}
