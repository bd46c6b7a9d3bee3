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
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::utils::{split_binary, split_conjunction};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::prelude::SessionContext;

use super::export::HEALPIX29;
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

/// A HATS catalogue: its leaf files, chosen per scan.
#[derive(Debug)]
struct HatsTable {
    dataset: PathBuf,
    pixels: Vec<Pixel>,
    schema: SchemaRef,
}

impl HatsTable {
    /// A listing table over the pixels that meet the `_healpix_29` ranges of `filters`.
    fn listing_for(&self, filters: &[Expr]) -> Result<Option<ListingTable>> {
        let ranges = healpix_ranges(filters);
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
        Ok(Some(ListingTable::try_new(config)?))
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

/// The `[lo, hi)` ranges of the first conjunct of `filters` that is a disjunction of
/// `_healpix_29 BETWEEN lo AND hi` (what the cone rule adds, possibly rewritten as
/// `_healpix_29 >= lo AND _healpix_29 <= hi`); `None` when there is none.
fn healpix_ranges(filters: &[Expr]) -> Option<Vec<(u64, u64)>> {
    let conjuncts: Vec<&Expr> = filters.iter().flat_map(split_conjunction).collect();
    let disjunction = conjuncts.iter().find_map(|conjunct| {
        split_binary(conjunct, Operator::Or)
            .into_iter()
            .map(term_range)
            .collect()
    });
    // One range alone: the simplifier splits it into two conjuncts `>= lo`, `<= hi`.
    disjunction.or_else(|| {
        let bound = |op: Operator| {
            conjuncts.iter().find_map(|e| match e {
                Expr::BinaryExpr(b) if b.op == op && is_healpix29(&b.left) => literal_i64(&b.right),
                _ => None,
            })
        };
        let (lo, hi) = (bound(Operator::GtEq)?, bound(Operator::LtEq)?);
        Some(vec![(lo.max(0) as u64, hi.max(-1).wrapping_add(1) as u64)])
    })
}

/// `[lo, hi + 1)` of `_healpix_29 BETWEEN lo AND hi` or its rewritten form.
fn term_range(term: &Expr) -> Option<(u64, u64)> {
    let (lo, hi) = match term {
        Expr::Between(b) if !b.negated && is_healpix29(&b.expr) => {
            (literal_i64(&b.low)?, literal_i64(&b.high)?)
        }
        Expr::BinaryExpr(and) if and.op == Operator::And => {
            let bound = |e: &Expr, op: Operator| match e {
                Expr::BinaryExpr(b) if b.op == op && is_healpix29(&b.left) => literal_i64(&b.right),
                _ => None,
            };
            (
                bound(&and.left, Operator::GtEq)?,
                bound(&and.right, Operator::LtEq)?,
            )
        }
        _ => return None,
    };
    Some((lo.max(0) as u64, hi.max(-1).wrapping_add(1) as u64))
}

fn is_healpix29(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == HEALPIX29)
}

fn literal_i64(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => Some(*v),
        _ => None,
    }
}
