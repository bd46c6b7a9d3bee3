//! `--table NAME=HATS_DIR`: a HATS catalogue (a directory with `hats.properties` or the
//! older `properties`) or collection (`collection.properties`: its primary catalogue) as
//! a table: a Parquet listing table over the leaf files of `dataset/`. Cone searches add
//! `_healpix_29` ranges (the cone rule), so the files' statistics skip the pixels the
//! cone cannot touch, as they do for `stars.healpix`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;

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
    let mut url = dataset.to_string_lossy().to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    let table_url = ListingTableUrl::parse(&url)
        .with_context(|| format!("--table {name}: bad path {}", dataset.display()))?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let state = ctx.state();
    let schema = options
        .infer_schema(&state, &table_url)
        .await
        .with_context(|| format!("--table {name}: cannot read {}", dataset.display()))?;
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}
