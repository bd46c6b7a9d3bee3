//! `--table NAME=HATS_DIR`: a HATS catalogue (a directory with `hats.properties` or the
//! older `properties`) or collection (`collection.properties`: its primary catalogue) as
//! a table over the leaf files of `dataset/`. A cone search gains `_healpix_29` ranges
//! (the cone rule); the scan then lists only the pixels of `partition_info.csv` (or of
//! the directory names) whose ranges meet them: the other files are never opened.
//!
//! The catalogue may be local or on an object store (`s3://...`, `http(s)://...`,
//! [`crate::object_stores`]); a web server cannot list directories, so there the
//! pixels come from `partition_info.csv`, which every HATS writer writes.

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
use futures::TryStreamExt;
use url::Url;

use skyql_udfs::rules::cell_ranges::{CellRanges, intersection, normalised, ranges_in_filters};

use super::options::HEALPIX29;
use super::partitions::Pixel;
use super::properties::{parse_properties, read_properties};
use crate::object_stores::{
    join_url, read_remote_text, remote_store, remote_url, store_path, without_final_slash,
};

/// The catalogue directory of `path` when it is a local HATS catalogue or collection.
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

/// Where a HATS catalogue is.
#[derive(Debug, Clone, PartialEq)]
pub enum HatsLocation {
    /// A local directory.
    Local(PathBuf),
    /// A URL on an object store, its path without a trailing `/`.
    Remote(Url),
}

impl HatsLocation {
    /// The location of `relative` (`/`-separated) under this one.
    fn join(&self, relative: &str) -> HatsLocation {
        match self {
            HatsLocation::Local(dir) => HatsLocation::Local(dir.join(relative)),
            HatsLocation::Remote(url) => HatsLocation::Remote(join_url(url, relative)),
        }
    }

    /// The text a listing table URL is parsed from; `collection` adds the final `/`.
    fn listing_text(&self, collection: bool) -> String {
        let mut text = match self {
            HatsLocation::Local(path) => path.to_string_lossy().to_string(),
            HatsLocation::Remote(url) => url.to_string(),
        };
        if collection && !text.ends_with('/') {
            text.push('/');
        }
        text
    }

    /// The text of the small file `name` here; `None` when it does not exist.
    async fn read_text(&self, name: &str) -> Result<Option<String>> {
        match self.join(name) {
            HatsLocation::Local(path) => match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
            },
            HatsLocation::Remote(url) => read_remote_text(&url).await,
        }
    }

    /// The catalogue's properties (`hats.properties`, else `properties`), if it has any.
    async fn properties(&self) -> Result<Option<std::collections::BTreeMap<String, String>>> {
        for name in ["hats.properties", "properties"] {
            if let Some(text) = self.read_text(name).await? {
                return Ok(Some(parse_properties(&text)));
            }
        }
        Ok(None)
    }
}

impl std::fmt::Display for HatsLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HatsLocation::Local(path) => write!(f, "{}", path.display()),
            HatsLocation::Remote(url) => write!(f, "{url}"),
        }
    }
}

/// The HATS catalogue `path` names (a local directory or a remote URL; a collection names
/// its primary catalogue), if it names one.
pub async fn locate(path: &Path) -> Result<Option<HatsLocation>> {
    let Some(url) = remote_url(path) else {
        return Ok(hats_catalog_dir(path).map(HatsLocation::Local));
    };
    let root = HatsLocation::Remote(without_final_slash(&url));
    if root.properties().await?.is_some() {
        return Ok(Some(root));
    }
    let Some(collection) = root.read_text("collection.properties").await? else {
        return Ok(None);
    };
    let Some(primary) = parse_properties(&collection)
        .get("hats_primary_table_url")
        .cloned()
    else {
        return Ok(None);
    };
    let catalog = root.join(primary.trim_matches('/'));
    Ok(catalog.properties().await?.is_some().then_some(catalog))
}

/// Registers the HATS catalogue at `catalog` as `name`.
pub async fn register_hats(ctx: &SessionContext, name: &str, catalog: &HatsLocation) -> Result<()> {
    let dataset = catalog.join("dataset");
    if let HatsLocation::Local(dir) = &dataset
        && !dir.is_dir()
    {
        bail!("--table {name}: {catalog} is a HATS catalogue without a dataset/ directory");
    }
    let pixels = pixels(catalog, &dataset)
        .await
        .with_context(|| format!("--table {name}: cannot list the pixels of {catalog}"))?;
    let all = listing(&dataset, &pixels.iter().collect::<Vec<_>>())?;
    let options = listing_options();
    let schema = options
        .infer_schema(&ctx.state(), &all[0])
        .await
        .with_context(|| format!("--table {name}: cannot read {dataset}"))?;
    let properties = catalog.properties().await?.unwrap_or_default();
    let (description, position) = described(&properties);
    let table = HatsTable {
        dataset,
        pixels,
        schema,
        description,
        position,
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
fn listing(dataset: &HatsLocation, pixels: &[&Pixel]) -> Result<Vec<ListingTableUrl>> {
    if pixels.is_empty() {
        return Ok(vec![ListingTableUrl::parse(dataset.listing_text(true))?]);
    }
    pixels
        .iter()
        .map(|p| {
            let file = dataset.join(&p.relative_path());
            Ok(ListingTableUrl::parse(file.listing_text(false))?)
        })
        .collect()
}

/// The pixels of the catalogue: `partition_info.csv` (`Norder` and `Npix` columns), else
/// the leaf files' names.
async fn pixels(catalog: &HatsLocation, dataset: &HatsLocation) -> Result<Vec<Pixel>> {
    if let Some(text) = catalog.read_text("partition_info.csv").await? {
        return partition_info(&text);
    }
    let names: Vec<String> = match dataset {
        HatsLocation::Local(dir) => local_leaf_names(dir)?,
        HatsLocation::Remote(url) => {
            let store = remote_store(url)?;
            let prefix = store_path(url)?;
            let listed: Vec<_> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .with_context(|| format!("{url} has no partition_info.csv and cannot be listed"))?;
            let prefix = prefix.as_ref().to_string();
            listed
                .into_iter()
                .filter_map(|m| {
                    let rest = m.location.as_ref().strip_prefix(&prefix)?;
                    Some(rest.trim_start_matches('/').to_string())
                })
                .collect()
        }
    };
    Ok(names.iter().filter_map(|n| leaf_pixel(n)).collect())
}

/// The pixels of `partition_info.csv`'s text.
fn partition_info(text: &str) -> Result<Vec<Pixel>> {
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
    lines
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
        .collect()
}

/// The leaf files under a local `dataset/` directory, as `Norder=K/Dir=D/Npix=N.parquet`.
fn local_leaf_names(dataset: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for order_dir in std::fs::read_dir(dataset)? {
        let order_dir = order_dir?.path();
        let order = order_dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !order.starts_with("Norder=") {
            continue;
        }
        for dir in std::fs::read_dir(&order_dir)? {
            let dir = dir?.path();
            let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            for file in std::fs::read_dir(&dir)? {
                let file = file?.file_name();
                names.push(format!("{order}/{dir_name}/{}", file.to_string_lossy()));
            }
        }
    }
    Ok(names)
}

/// The pixel of a leaf file's name `Norder=K/Dir=D/Npix=N.parquet`.
fn leaf_pixel(name: &str) -> Option<Pixel> {
    let mut parts = name.split('/');
    let order = parts.next()?.strip_prefix("Norder=")?.parse().ok()?;
    parts.next()?.strip_prefix("Dir=")?;
    let index = parts
        .next()?
        .strip_prefix("Npix=")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()?;
    (order <= 29 && parts.next().is_none()).then_some(Pixel { order, index })
}

/// What a HATS catalogue's properties say of it: its description (`obs_description`,
/// else `obs_title`) and the RA and Dec columns `_healpix_29` was computed from
/// (`hats_col_ra`, `hats_col_dec`).
fn described(
    properties: &std::collections::BTreeMap<String, String>,
) -> (Option<String>, Option<[String; 2]>) {
    let description = ["obs_description", "obs_title"]
        .iter()
        .find_map(|k| properties.get(*k).filter(|v| !v.is_empty()).cloned());
    let column = |key: &str| properties.get(key).cloned();
    let position = (|| Some([column("hats_col_ra")?, column("hats_col_dec")?]))();
    (description, position)
}

/// The description and position columns of a HATS table's properties, when `provider`
/// is a HATS table (read once, when it was registered).
pub fn hats_described(
    provider: &dyn TableProvider,
) -> Option<(Option<String>, Option<[String; 2]>)> {
    let any: &dyn std::any::Any = provider;
    any.downcast_ref::<HatsTable>()
        .map(|t| (t.description.clone(), t.position.clone()))
}

/// The leaf files of a HATS table on a local disk, each with its `_healpix_29` range
/// `[lo, hi]`, and the position columns its properties name; `None` when `provider` is
/// not a HATS table, is remote, or lacks the `_healpix_29` column or the position
/// columns its properties name.
pub fn hats_local_files(provider: &dyn TableProvider) -> Option<HatsFiles> {
    let any: &dyn std::any::Any = provider;
    let table = any.downcast_ref::<HatsTable>()?;
    let HatsLocation::Local(dataset) = &table.dataset else {
        return None;
    };
    let position = table.position.clone()?;
    for column in [HEALPIX29, &position[0], &position[1]] {
        table.schema.column_with_name(column)?;
    }
    let files = table
        .pixels
        .iter()
        .map(|p| {
            let (lo, hi) = p.range29();
            (dataset.join(p.relative_path()), (lo as i64, hi as i64 - 1))
        })
        .collect();
    Some(HatsFiles {
        files,
        position,
        schema: table.schema.clone(),
    })
}

/// A local HATS table's leaf files, as [`hats_local_files`] gives them.
#[derive(Debug, Clone)]
pub struct HatsFiles {
    /// Each leaf file and its `_healpix_29` range, bounds included.
    pub files: Vec<(PathBuf, (i64, i64))>,
    /// The RA and Dec columns `_healpix_29` was computed from.
    pub position: [String; 2],
    /// The files' schema.
    pub schema: SchemaRef,
}

/// A HATS catalogue: its leaf files, chosen per scan.
#[derive(Debug)]
struct HatsTable {
    dataset: HatsLocation,
    pixels: Vec<Pixel>,
    schema: SchemaRef,
    /// What the properties say the catalogue is (`obs_description`, `obs_title`).
    description: Option<String>,
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
