//! `--table NAME=HATS_DIR`: a HATS catalogue (a directory with `hats.properties` or the
//! older `properties`) or collection (`collection.properties`: its primary catalogue) as
//! a table over the leaf files of `dataset/`. A cone search gains `_healpix_29` ranges
//! (the cone rule); the scan then lists only the pixels of `partition_info.csv` (or of
//! the directory names) whose ranges meet them: the other files are never opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::source_as_provider;
use datafusion::execution::cache::cache_manager::FileStatisticsCache;
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableScan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::prelude::SessionContext;

use skyql_udfs::rules::cell_ranges::{CellRanges, intersection, normalised, ranges_in_filters};

use super::options::HEALPIX29;
use super::partitions::Pixel;
use super::properties::read_properties;

/// The catalogue directory of `path` when it is a HATS catalogue or collection.
pub fn hats_catalog_dir(path: &Path) -> Option<PathBuf> {
    if !path.is_dir() {
        return None;
    }
    if path.join("hats.properties").is_file() || path.join("properties").is_file() {
        return Some(path.to_path_buf());
    }
    let collection = read_properties(&path.join("collection.properties")).ok()?;
    let primary = collection.get("hats_primary_table_url")?;
    let dir = path.join(primary);
    (dir.join("hats.properties").is_file() || dir.join("properties").is_file()).then_some(dir)
}

/// Registers the HATS catalogue in `catalog_dir` as `name`.
pub async fn register_hats(ctx: &SessionContext, name: &str, catalog_dir: &Path) -> Result<()> {
    let dataset = catalog_dir.join("dataset");
    if !dataset.is_dir() {
        bail!(
            "--table {name}: {} is a HATS catalogue without a dataset/ directory",
            catalog_dir.display()
        );
    }
    let pixels = pixels(catalog_dir, &dataset).with_context(|| {
        format!(
            "--table {name}: cannot list the pixels of {}",
            catalog_dir.display()
        )
    })?;
    let all = listing(&dataset, &pixels.iter().collect::<Vec<_>>())?;
    let options = listing_options();
    let schema = options
        .infer_schema(&ctx.state(), &all[0])
        .await
        .with_context(|| format!("--table {name}: cannot read {}", dataset.display()))?;
    let table = HatsTable {
        dataset,
        pixels,
        schema,
        position: position_columns(catalog_dir),
        statistics: Arc::new(
            DefaultCache::new(STATISTICS_CACHE_BYTES).with_name("skyql HATS statistics"),
        ),
    };
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

fn listing_options() -> ListingOptions {
    ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet")
}

/// The URLs of the leaf files of `pixels` (at least one: the dataset directory itself
/// when there is no pixel, so that the schema can still be read).
fn listing(dataset: &Path, pixels: &[&Pixel]) -> Result<Vec<ListingTableUrl>> {
    if pixels.is_empty() {
        let mut url = dataset.to_string_lossy().to_string();
        if !url.ends_with('/') {
            url.push('/');
        }
        return Ok(vec![ListingTableUrl::parse(&url)?]);
    }
    pixels
        .iter()
        .map(|p| {
            let path = dataset.join(p.relative_path());
            Ok(ListingTableUrl::parse(path.to_string_lossy())?)
        })
        .collect()
}

/// The pixels of the catalogue: `partition_info.csv` (`Norder` and `Npix` columns), else
/// the leaf files' names.
fn pixels(catalog_dir: &Path, dataset: &Path) -> Result<Vec<Pixel>> {
    if let Ok(text) = std::fs::read_to_string(catalog_dir.join("partition_info.csv")) {
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .collect();
        let at = |name: &str| header.iter().position(|h| *h == name);
        let (Some(o), Some(p)) = (at("Norder"), at("Npix")) else {
            bail!("partition_info.csv has no Norder and Npix columns");
        };
        return lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let cells: Vec<&str> = l.split(',').map(str::trim).collect();
                let pixel = (|| {
                    Some(Pixel {
                        order: cells.get(o)?.parse().ok().filter(|o| *o <= 29)?,
                        index: cells.get(p)?.parse().ok()?,
                    })
                })();
                pixel.with_context(|| format!("partition_info.csv: bad line '{l}'"))
            })
            .collect();
    }
    let mut found = Vec::new();
    for order_dir in std::fs::read_dir(dataset)? {
        let order_dir = order_dir?.path();
        let name = order_dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(order) = name
            .strip_prefix("Norder=")
            .and_then(|o| o.parse::<u8>().ok())
        else {
            continue;
        };
        for dir in std::fs::read_dir(&order_dir)? {
            for file in std::fs::read_dir(dir?.path())? {
                let file = file?.file_name();
                let npix = file.to_str().and_then(|f| {
                    f.strip_prefix("Npix=")?
                        .strip_suffix(".parquet")?
                        .parse()
                        .ok()
                });
                if let Some(index) = npix {
                    found.push(Pixel { order, index });
                }
            }
        }
    }
    Ok(found)
}

/// The RA and Dec columns `_healpix_29` was computed from (`hats_col_ra`, `hats_col_dec`).
/// What a HATS catalogue's properties say of it: its description (`obs_description`,
/// else `obs_title`) and its position columns (`hats_col_ra`, `hats_col_dec`).
pub fn described(catalog_dir: &Path) -> (Option<String>, Option<[String; 2]>) {
    let properties = read_properties(&catalog_dir.join("hats.properties"))
        .or_else(|_| read_properties(&catalog_dir.join("properties")))
        .unwrap_or_default();
    let description = ["obs_description", "obs_title"]
        .iter()
        .find_map(|k| properties.get(*k).filter(|v| !v.is_empty()).cloned());
    (description, position_columns(catalog_dir))
}

fn position_columns(catalog_dir: &Path) -> Option<[String; 2]> {
    let properties = read_properties(&catalog_dir.join("hats.properties"))
        .or_else(|_| read_properties(&catalog_dir.join("properties")))
        .ok()?;
    let column = |key: &str| properties.get(key).cloned();
    Some([column("hats_col_ra")?, column("hats_col_dec")?])
}

/// A HATS catalogue: its leaf files, chosen per scan.
#[derive(Debug)]
struct HatsTable {
    dataset: PathBuf,
    pixels: Vec<Pixel>,
    schema: SchemaRef,
    /// The position columns of `_healpix_29`, when the properties name them.
    position: Option<[String; 2]>,
    /// The leaf files' statistics, read from their footers once and kept across scans
    /// (each scan builds a listing table of the pixels it needs).
    statistics: Arc<FileStatisticsCache>,
}

/// Memory of a HATS table's statistics cache.
const STATISTICS_CACHE_BYTES: usize = 16 << 20;

impl HatsTable {
    /// A listing table over the pixels that meet the `_healpix_29` ranges of `filters`.
    fn listing_for(&self, filters: &[Expr]) -> Result<Option<ListingTable>> {
        let ranges = ranges_in_filters(filters, HEALPIX29);
        let chosen: Vec<&Pixel> = self
            .pixels
            .iter()
            .filter(|p| {
                let (lo, hi) = p.range29();
                ranges
                    .as_ref()
                    .is_none_or(|r| r.iter().any(|(a, b)| *a < hi && lo < *b))
            })
            .collect();
        if chosen.is_empty() {
            return Ok(None);
        }
        let config = ListingTableConfig::new_with_multi_paths(listing(&self.dataset, &chosen)?)
            .with_listing_options(listing_options())
            .with_schema(self.schema.clone());
        Ok(Some(
            ListingTable::try_new(config)?.with_cache(Some(Arc::clone(&self.statistics))),
        ))
    }
}

#[async_trait]
impl TableProvider for HatsTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let listing = self
            .listing_for(filters)
            .map_err(|e| DataFusionError::External(e.into()))?;
        match listing {
            Some(table) => table.scan(state, projection, filters, limit).await,
            None => {
                let schema = match projection {
                    Some(p) => Arc::new(self.schema.project(p)?),
                    None => self.schema.clone(),
                };
                Ok(Arc::new(EmptyExec::new(schema)))
            }
        }
    }
}

/// The part of the sky a scan of a HATS table can return: its pixels, within the
/// `_healpix_29` ranges of the scan's filters; `None` when the scan is not of a HATS table.
pub fn hats_scan_coverage(scan: &TableScan) -> Option<CellRanges> {
    let pixels: CellRanges =
        with_hats_table(scan, |t| t.pixels.iter().map(Pixel::range29).collect())?;
    Some(match ranges_in_filters(&scan.filters, HEALPIX29) {
        Some(allowed) => intersection(&pixels, &allowed),
        None => normalised(pixels),
    })
}

/// The RA and Dec columns of a scan of a HATS table that has a `_healpix_29` column
/// computed from them (what a filter on the ranges of the pixels to read needs).
pub fn hats_scan_position(scan: &TableScan) -> Option<[String; 2]> {
    with_hats_table(scan, |t| {
        t.schema.column_with_name(HEALPIX29)?;
        t.position.clone()
    })
    .flatten()
}

/// `f` of the HATS table the scan reads, if it reads one.
fn with_hats_table<T>(scan: &TableScan, f: impl FnOnce(&HatsTable) -> T) -> Option<T> {
    let provider = source_as_provider(&scan.source).ok()?;
    let any: &dyn std::any::Any = provider.as_ref();
    any.downcast_ref::<HatsTable>().map(f)
}
