//! Tables of a session: the catalogue's (Hive-partitioned Parquet listing tables) and
//! extra files given as `NAME=PATH` (CSV, TSV, Parquet, VOTable).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};

use super::counted_text_table::{COUNTED_TEXT_BYTES, CountedTextTable, data_rows};
use crate::catalog::Catalog;
use crate::formats::text_lines::{self, BadLines};
use crate::schema;

/// An extra table of a session: a file registered under a name.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraTable {
    /// Table name (letters, digits and `_`).
    pub name: String,
    /// The file.
    pub path: PathBuf,
}

impl ExtraTable {
    /// Parses `NAME=PATH`.
    pub fn parse(text: &str) -> Result<Self> {
        let (name, path) = text
            .split_once('=')
            .with_context(|| format!("--table expects NAME=PATH, got '{text}'"))?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("--table name '{name}' must be letters, digits and _");
        }
        Ok(ExtraTable {
            name: name.to_string(),
            path: PathBuf::from(path),
        })
    }

    /// Parses every `NAME=PATH`.
    pub fn parse_all(texts: &[String]) -> Result<Vec<Self>> {
        texts.iter().map(|t| Self::parse(t)).collect()
    }
}

/// Registers every table of the catalogue's current version.
pub fn register_catalog(ctx: &SessionContext, catalog: &Catalog, plain_text: bool) -> Result<()> {
    for name in catalog.manifest.tables.keys() {
        if let Some(table) = catalog_table(catalog, name, plain_text)? {
            ctx.register_table(name.as_str(), table)?;
        }
    }
    Ok(())
}

/// The URL the listing table of the catalogue's table `name` reads, if the version has it.
pub fn catalog_table_url(catalog: &Catalog, name: &str) -> Result<Option<ListingTableUrl>> {
    let Some(entry) = catalog.manifest.tables.get(name) else {
        return Ok(None);
    };
    let path = catalog.version_dir().join(&entry.path);
    // A remote table is a directory of files unless it is a single file.
    let (mut url, directory) = match &catalog.remote {
        Some(remote) => (
            remote
                .url_of(&format!("{}/{}", catalog.manifest.version_dir, entry.path))
                .to_string(),
            !(entry.data_files.len() == 1 && entry.data_files[0].path.is_empty()),
        ),
        None => (path.to_string_lossy().to_string(), path.is_dir()),
    };
    if directory && !url.ends_with('/') {
        url.push('/');
    }
    let table_url = ListingTableUrl::parse(&url)
        .with_context(|| format!("bad table path {}", path.display()))?;
    Ok(Some(table_url))
}

/// Whether `scan` reads the listing table at `url` (the catalogue's own table, not a
/// table of the same name from elsewhere).
pub fn scans_url(scan: &datafusion::logical_expr::TableScan, url: &str) -> bool {
    let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source) else {
        return false;
    };
    let any: &dyn std::any::Any = provider.as_ref();
    any.downcast_ref::<ListingTable>()
        .is_some_and(|t| t.table_paths().iter().any(|p| p.as_str() == url))
}

/// The schema with dictionary-encoded text columns as plain text (Parquet readers decode
/// them): what cluster sessions declare, since Ballista 55's shuffles lose dictionary
/// types after a grouping (docs/CLUSTER.md).
fn without_dictionaries(schema: SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) if value.as_ref() == &DataType::Utf8 => {
                f.as_ref().clone().with_data_type(DataType::Utf8)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The listing table of the catalogue's table `name`, if the version has it; with
/// `plain_text`, dictionary text columns are declared plain.
pub fn catalog_table(
    catalog: &Catalog,
    name: &str,
    plain_text: bool,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let Some(entry) = catalog.manifest.tables.get(name) else {
        return Ok(None);
    };
    let path = catalog.version_dir().join(&entry.path);
    let table_url = catalog_table_url(catalog, name)?
        .with_context(|| format!("bad table path {}", path.display()))?;
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
        // A table of the catalogue's own making (an ingested FITS table): the schema it
        // was written with, units and UCDs included.
        None if entry.partition_columns.is_empty() => match &catalog.remote {
            None => crate::catalog::parquet_io::parquet_schema(&path)?,
            Some(_) => remote_parquet_schema(catalog, name, &table_url)?,
        },
        None => return Ok(None),
    };
    let file_schema = if plain_text {
        without_dictionaries(file_schema)
    } else {
        file_schema
    };
    let partitions = entry
        .partition_columns
        .iter()
        .map(|c| (c.clone(), DataType::Utf8))
        .collect();
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partitions)
        .with_file_sort_order(file_sort_order(name));
    let statistics = super::manifest_statistics::ManifestStatistics::for_table(
        entry,
        schema::range_columns(name),
        table_url.prefix().as_ref(),
        Arc::clone(&file_schema),
    );
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(file_schema);
    let table = ListingTable::try_new(config)?.with_cache(Some(statistics));
    Ok(Some(Arc::new(table)))
}

/// The schema of a remote catalogue's table of its own making, from its first file's
/// footer (one ranged read through the catalogue's checked store).
fn remote_parquet_schema(
    catalog: &Catalog,
    name: &str,
    url: &ListingTableUrl,
) -> Result<SchemaRef> {
    let Some((store, _)) = super::manifest_store::ManifestStore::new(catalog, true)? else {
        bail!("table {name}: its manifest does not list its files");
    };
    let entry = &catalog.manifest.tables[name];
    let file = entry
        .data_files
        .first()
        .with_context(|| format!("table {name} has no file"))?;
    let mut location = url.prefix().as_ref().trim_end_matches('/').to_string();
    if !file.path.is_empty() {
        location = format!("{location}/{}", file.path);
    }
    let meta = datafusion::object_store::ObjectMeta {
        location: datafusion::object_store::path::Path::from(location.as_str()),
        last_modified: chrono::DateTime::UNIX_EPOCH,
        size: file.bytes,
        e_tag: None,
        version: None,
    };
    let store: Arc<dyn datafusion::object_store::ObjectStore> = Arc::new(store);
    let state = datafusion::execution::SessionStateBuilder::new().build();
    let format = ParquetFormat::default();
    use datafusion::datasource::file_format::FileFormat;
    crate::object_stores::block_on(format.infer_schema(&state, &store, &[meta]))?
        .with_context(|| format!("cannot read the footer of {location}"))
}

/// The order every file of a catalogue table is written in, declared to DataFusion so that
/// `GROUP BY star_id` and windows per star stream instead of hashing every group
/// (DataFusion keeps the order across a partition's files only when their statistics
/// show they do not overlap). `measurements`: star id, then MJD (`measurements_batch`
/// sorts every file so, in ingests and generated catalogues alike).
fn file_sort_order(table: &str) -> Vec<Vec<datafusion::logical_expr::SortExpr>> {
    use datafusion::prelude::col;
    match table {
        "measurements" => vec![vec![
            col("star_id").sort(true, false),
            col("mjd").sort(true, false),
        ]],
        _ => vec![],
    }
}

/// Registers an extra file (`--table NAME=PATH`): CSV with a header row, TSV, Parquet,
/// VOTable, or a CDS/VizieR fixed-width file (`.dat`, `.dat.gz`) described by a ReadMe in
/// its directory. A small CSV or TSV file gives the planner its counted lines, except in
/// a `cluster` session, whose plans travel to the scheduler serialized (a listing table
/// does, our wrapper of it does not).
pub async fn register_file(
    ctx: &SessionContext,
    name: &str,
    path: &Path,
    cluster: bool,
    bad_lines: BadLines,
) -> Result<()> {
    // Only listing tables (Parquet, CSV) travel to a cluster's executors: the others are
    // refused before they are read, naming what they are.
    let local = |kind: &str| -> Result<()> {
        if cluster {
            bail!(
                "--table {name}: {} is {kind}, which a cluster cannot read (Ballista sends only \
                 Parquet and CSV tables to its executors); convert it first, e.g. `skyql query \
                 --table {name}={} --output {name}.parquet 'SELECT * FROM {name}'`, and give \
                 the Parquet file",
                path.display(),
                path.display()
            );
        }
        Ok(())
    };
    if let Some(url) = crate::object_stores::remote_url(path) {
        return register_remote(ctx, name, &url, cluster).await;
    }
    // `file.fits#HDU` before the CDS `ReadMe#table.dat` form.
    if let Some((file, hdu)) = super::fits_table::split_hdu(path).filter(|_| !path.exists()) {
        local("a FITS table")?;
        return super::fits_table::register_fits_table(ctx, name, file, Some(hdu));
    }
    if let Some((readme, data)) = crate::formats::cds::locate(path) {
        local("a CDS table")?;
        return register_cds(ctx, name, &readme, &data);
    }
    if !path.exists() {
        bail!("--table {name}: {} does not exist", path.display());
    }
    if super::fits_table::is_fits_name(path) {
        local("a FITS table")?;
        return super::fits_table::register_fits_table(ctx, name, path, None);
    }
    if let Some(dir) = crate::hats::hats_catalog_dir(path) {
        local("a HATS catalogue")?;
        return crate::hats::register_hats(ctx, name, &crate::hats::HatsLocation::Local(dir)).await;
    }
    if crate::formats::text::is_text_catalogue(path) {
        local("a text catalogue")?;
        return register_text(ctx, name, path, bad_lines);
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
        // Bad lines left out: the file is read whole, as a text catalogue is.
        "csv" | "tsv" | "txt" if bad_lines == BadLines::Skip => {
            local("a CSV file read with --bad-lines skip")?;
            register_text(ctx, name, path, bad_lines)?
        }
        "csv" | "tsv" | "txt" => {
            let delimiter = csv_delimiter(&ext);
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
            if let Err(e) = ctx.register_csv(name, &p, options).await {
                let cannot = format!("--table {name}: cannot read {}", path.display());
                return Err(match super::user_error::csv_message(&e) {
                    Some(words) => anyhow::anyhow!("{cannot}: {words}"),
                    None => anyhow::Error::new(e).context(cannot),
                });
            }
            // The column types come from the first lines: a word among the numbers of a
            // column there would make it text, and its numbers unusable, without a word.
            let sample = text_lines::bad_lines_in_sample(path, delimiter as char, SCHEMA_SAMPLE)?;
            if let Some(first) = sample.first() {
                bail!(
                    "--table {name}: {}: {first}; {}",
                    path.display(),
                    text_lines::BAD_LINES_HINT
                );
            }
            let small = path
                .metadata()
                .is_ok_and(|m| m.is_file() && m.len() <= COUNTED_TEXT_BYTES);
            if !cluster && small {
                let rows = data_rows(path)
                    .with_context(|| format!("--table {name}: cannot read {}", path.display()))?;
                if let Some(listing) = ctx.deregister_table(name)? {
                    ctx.register_table(name, Arc::new(CountedTextTable::new(listing, rows)))?;
                }
            }
        }
        "vot" | "votable" | "xml" => {
            local("a VOTable")?;
            register_votable(ctx, name, path)?
        }
        other => bail!(
            "--table {name}: unsupported file type '.{other}' for {} (CSV with a header row, TSV, text .txt/.dat/.tbl, .gz/.bz2/.zst compressed, Parquet, VOTable, FITS tables (file.fits or file.fits#HDU), a CDS .dat with its ReadMe beside it, or a HATS directory)",
            path.display()
        ),
    }
    Ok(())
}

/// Registers a table on an object store (`s3://`, `http(s)://`): a HATS catalogue or
/// collection, a Parquet file or directory of Parquet files, a CSV file.
async fn register_remote(
    ctx: &SessionContext,
    name: &str,
    url: &url::Url,
    cluster: bool,
) -> Result<()> {
    let path = url.path();
    let lower = path.to_ascii_lowercase();
    let parquet = || ctx.register_parquet(name, url.as_str(), ParquetReadOptions::default());
    if lower.ends_with(".parquet") || lower.ends_with(".pq") {
        return parquet()
            .await
            .with_context(|| format!("--table {name}: cannot read {url}"));
    }
    if lower.ends_with(".csv") {
        return ctx
            .register_csv(name, url.as_str(), CsvReadOptions::new().has_header(true))
            .await
            .with_context(|| format!("--table {name}: cannot read {url}"));
    }
    match crate::hats::locate(Path::new(url.as_str()))
        .await
        .with_context(|| format!("--table {name}"))?
    {
        Some(_) if cluster => bail!(
            "--table {name}: {url} is a HATS catalogue, which a cluster cannot read (Ballista \
             sends only Parquet and CSV tables to its executors)"
        ),
        Some(catalog) => crate::hats::register_hats(ctx, name, &catalog).await,
        None if lower.ends_with('/') => parquet()
            .await
            .with_context(|| format!("--table {name}: cannot read {url}")),
        None => bail!(
            "--table {name}: {url} is neither a HATS catalogue (no hats.properties, properties \
             or collection.properties there) nor a Parquet or CSV file (.parquet, .csv, or a \
             directory of Parquet files given with a final /)"
        ),
    }
}

/// A CDS/VizieR table described by its ReadMe.
fn register_cds(ctx: &SessionContext, name: &str, readme: &Path, data: &Path) -> Result<()> {
    let table =
        crate::formats::cds::read_cds(readme, data).with_context(|| format!("--table {name}"))?;
    report_rejected(name, data, "cell(s) kept as nulls", &table.rejected_cells);
    let read = table.batch.num_rows();
    if let Some(listed) = table.listed_records.filter(|&n| n != read) {
        eprintln!(
            "warning: --table {name}: {} holds {read} record(s), its ReadMe lists {listed}",
            data.display()
        );
    }
    register_batch(ctx, name, table.batch)
}

/// The field delimiter of a `--table` text file with the extension `ext` (lower case).
fn csv_delimiter(ext: &str) -> u8 {
    if ext == "tsv" { b'\t' } else { b',' }
}

/// The lines DataFusion reads to infer a CSV file's column types (its
/// `schema_infer_max_records` default).
const SCHEMA_SAMPLE: usize = 1000;

/// The first bad line of the CSV `--table` files of `extra`, in words, when a query that
/// reads them failed on a value or a line (`e`'s root an Arrow CSV or parse error, which
/// gives neither the file nor, for a file read in parallel ranges, the line in the file).
/// The files are read again, a line at a time, against the types the tables were given.
pub async fn explain_read_error(
    ctx: &SessionContext,
    extra: &[ExtraTable],
    e: &anyhow::Error,
) -> Option<String> {
    let failed_reading = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<datafusion::error::DataFusionError>().map(|d| d.find_root()),
            Some(datafusion::error::DataFusionError::ArrowError(arrow, _))
                if matches!(
                    arrow.as_ref(),
                    datafusion::arrow::error::ArrowError::CsvError(_)
                        | datafusion::arrow::error::ArrowError::ParseError(_)
                )
        )
    });
    if !failed_reading {
        return None;
    }
    for t in extra {
        let ext = t
            .path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if !matches!(ext.as_str(), "csv" | "tsv" | "txt") {
            continue;
        }
        let Ok(provider) = ctx.table_provider(t.name.as_str()).await else {
            continue;
        };
        if let Ok(Some(bad)) =
            text_lines::first_bad_csv_line(&t.path, csv_delimiter(&ext) as char, &provider.schema())
        {
            return Some(format!(
                "--table {}: {}: {bad}; {}",
                t.name,
                t.path.display(),
                text_lines::BAD_LINES_HINT
            ));
        }
    }
    None
}

/// A text catalogue (compressed, commented or whitespace-separated), or a CSV file read
/// whole to leave its bad lines out.
fn register_text(ctx: &SessionContext, name: &str, path: &Path, bad_lines: BadLines) -> Result<()> {
    let table = crate::formats::text::read_text(path, bad_lines)
        .with_context(|| format!("--table {name}"))?;
    report_rejected(name, path, "line(s) left out", &table.rejected_lines);
    register_batch(ctx, name, table.batch)
}

/// A table read whole (VOTable, CDS, text) registered as an in-memory table.
fn register_batch(ctx: &SessionContext, name: &str, batch: RecordBatch) -> Result<()> {
    let mem = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.register_table(name, Arc::new(mem))?;
    Ok(())
}

/// The rejected lines or cells of a table file shown one by one; the rest are counted.
const SHOWN_REJECTS: usize = 20;

/// What of a table file could not be read as written, on stderr: `what` says what it is
/// and what became of it ("cell(s) kept as nulls", "line(s) left out").
fn report_rejected(name: &str, path: &Path, what: &str, cells: &[String]) {
    if cells.is_empty() {
        return;
    }
    eprintln!(
        "warning: --table {name}: {} {what} in {}, not read as written:",
        cells.len(),
        path.display()
    );
    for line in cells.iter().take(SHOWN_REJECTS) {
        eprintln!("  {}", crate::terminal_text::escaped_controls(line));
    }
    if cells.len() > SHOWN_REJECTS {
        eprintln!("  ... and {} more", cells.len() - SHOWN_REJECTS);
    }
}

fn register_votable(ctx: &SessionContext, name: &str, path: &Path) -> Result<()> {
    let table =
        crate::formats::votable::read_votable(path).with_context(|| format!("--table {name}"))?;
    report_rejected(name, path, "cell(s) kept as nulls", &table.rejected_cells);
    register_batch(ctx, name, table.batch)
}
