//! A DataFusion session with the catalogue's tables, extra files and skyql's functions.

use std::path::{Path, PathBuf};

use skyql_udfs::images::ImageOutput;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};

use super::Catalog;
use crate::schema;

/// Options of a session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Memory limit for query execution in bytes (spilling operators spill beyond it).
    pub memory_limit: Option<usize>,
    /// Where image functions write (default: `products/` in the catalogue directory, or
    /// `./skyql-products` without a catalogue).
    pub output_root: Option<PathBuf>,
    /// Whether image functions may replace existing files.
    pub overwrite: bool,
}

/// skyql-udfs' rules (cone pruning) plus the star-id partition pruning of the survey's
/// conventions, both before filters are pushed into the scans.
fn optimizer_rules() -> Result<Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>>> {
    let mut rules = skyql_udfs::optimizer_rules();
    let at = rules
        .iter()
        .position(|r| r.name() == "cone_healpix_pruning")
        .map_or(0, |i| i + 1);
    rules.insert(
        at,
        Arc::new(super::star_field_pruning::StarFieldPruning::new(
            crate::conventions::Conventions::eros2()?,
        )),
    );
    Ok(rules)
}

/// The output root of image functions for `options` and `catalog`.
pub fn output_root(catalog: Option<&Catalog>, options: &SessionOptions) -> PathBuf {
    match (&options.output_root, catalog) {
        (Some(root), _) => root.clone(),
        (None, Some(c)) => c.dir.join("products"),
        (None, None) => PathBuf::from("skyql-products"),
    }
}

/// A session with skyql's functions and, when given, a catalogue's tables.
pub fn new_session(catalog: Option<&Catalog>, options: &SessionOptions) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_parquet_pruning(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true);
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime.build_arc()?)
        .with_default_features()
        .with_optimizer_rules(optimizer_rules()?)
        .build();
    let ctx = SessionContext::new_with_state(state);
    skyql_udfs::register_all(&ctx);
    let mut images = ImageOutput::new(output_root(catalog, options));
    images.overwrite = options.overwrite;
    for udf in skyql_udfs::images::image_udfs(images) {
        ctx.register_udf(udf);
    }
    crate::export::copy_format::register_copy_formats(&ctx)?;
    if let Some(catalog) = catalog {
        register_catalog(&ctx, catalog)?;
    }
    Ok(ctx)
}

/// Registers every table of the catalogue's current version.
pub fn register_catalog(ctx: &SessionContext, catalog: &Catalog) -> Result<()> {
    for (name, entry) in &catalog.manifest.tables {
        let path = catalog.version_dir().join(&entry.path);
        let file_schema = match schema::table_schema(name) {
            Some(full) if !entry.partition_columns.is_empty() => {
                let fields: Vec<_> = full
                    .fields()
                    .iter()
                    .filter(|f| !entry.partition_columns.contains(f.name()))
                    .cloned()
                    .collect();
                Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
            }
            Some(full) => full,
            None => continue,
        };
        let mut url = path.to_string_lossy().to_string();
        if path.is_dir() && !url.ends_with('/') {
            url.push('/');
        }
        let table_url = ListingTableUrl::parse(&url)
            .with_context(|| format!("bad table path {}", path.display()))?;
        let partitions = entry
            .partition_columns
            .iter()
            .map(|c| (c.clone(), DataType::Utf8))
            .collect();
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(partitions);
        let config = ListingTableConfig::new(table_url)
            .with_listing_options(options)
            .with_schema(file_schema);
        let table = ListingTable::try_new(config)?;
        ctx.register_table(name.as_str(), Arc::new(table))?;
    }
    Ok(())
}

/// Registers an extra file (`--table NAME=PATH`): CSV with a header row, or Parquet.
pub async fn register_file(ctx: &SessionContext, name: &str, path: &Path) -> Result<()> {
    if !path.exists() {
        bail!("--table {name}: {} does not exist", path.display());
    }
    let p = path.to_string_lossy().to_string();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "parquet" | "pq" => ctx
            .register_parquet(name, &p, ParquetReadOptions::default())
            .await
            .with_context(|| format!("--table {name}: cannot read {}", path.display()))?,
        "csv" | "tsv" | "txt" => {
            let delimiter = if ext == "tsv" { b'\t' } else { b',' };
            let options = CsvReadOptions::new()
                .has_header(true)
                .delimiter(delimiter)
                .file_extension(if ext == "tsv" {
                    ".tsv"
                } else if ext == "txt" {
                    ".txt"
                } else {
                    ".csv"
                });
            ctx.register_csv(name, &p, options)
                .await
                .with_context(|| format!("--table {name}: cannot read {}", path.display()))?
        }
        "vot" | "votable" | "xml" => {
            let table = crate::votable_reader::read_votable(path)
                .with_context(|| format!("--table {name}"))?;
            if !table.rejected_cells.is_empty() {
                eprintln!(
                    "warning: --table {name}: {} cell(s) of {} not read as written:",
                    table.rejected_cells.len(),
                    path.display()
                );
                for line in &table.rejected_cells {
                    eprintln!("  {line}");
                }
            }
            let schema = table.batch.schema();
            let mem = MemTable::try_new(schema, vec![vec![table.batch]])?;
            ctx.register_table(name, Arc::new(mem))?;
        }
        other => bail!(
            "--table {name}: unsupported file type '.{other}' for {} (CSV with a header row, TSV, Parquet or VOTable)",
            path.display()
        ),
    }
    Ok(())
}
