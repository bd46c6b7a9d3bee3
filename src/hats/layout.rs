//! The files around the pixels of a HATS collection, as LSDB and `hats` read them:
//!
//! ```text
//! OUT/collection.properties          obs_collection, hats_primary_table_url, default_margin
//! OUT/NAME/hats.properties           dataproduct_type=object, hats_col_ra, hats_col_dec, ...
//! OUT/NAME/partition_info.csv        Norder,Npix
//! OUT/NAME/dataset/_common_metadata  the schema (a Parquet file without rows)
//! OUT/NAME/dataset/_metadata         the schema and every file's row groups
//! OUT/NAME/dataset/Norder=k/Dir=D/Npix=P.parquet
//! OUT/NAME_10arcs/...                the margin catalogue (dataproduct_type=margin)
//! ```

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::metadata::{
    FileMetaData, ParquetMetaData, ParquetMetaDataBuilder, ParquetMetaDataWriter,
};

use super::options::{HEALPIX29, HatsOptions};
use super::partitions::Pixel;
use super::properties::properties_text;
use crate::catalog::durable::{sync_dir, sync_file};

/// A pixel file written: its pixel, rows and Parquet footer.
#[derive(Debug, Clone)]
pub struct Written {
    /// The pixel.
    pub pixel: Pixel,
    /// Rows in the file.
    pub rows: u64,
    /// The file's footer, for `_metadata`.
    pub metadata: Arc<ParquetMetaData>,
}

/// The inner directories' names.
pub struct Names {
    /// The catalogue (`NAME`).
    pub catalog: String,
    /// Its margin catalogue (`NAME_<M>arcs`).
    pub margin: String,
}

impl Names {
    /// The names for a catalogue `name` with a margin of `margin_arcsec`.
    pub fn new(name: &str, margin_arcsec: f64) -> Names {
        Names {
            catalog: name.to_string(),
            margin: format!("{name}_{margin_arcsec}arcs"),
        }
    }
}

/// Writes the metadata files of both catalogues and the collection, then syncs every
/// directory under `root`.
pub fn write_metadata(
    root: &Path,
    names: &Names,
    schema: &SchemaRef,
    main: &[Written],
    margin: &[Written],
    position: (&str, &str),
    opts: &HatsOptions,
) -> Result<()> {
    let common = |kind: &str, name: &str, rows: u64| {
        vec![
            ("obs_collection", name.to_string()),
            ("dataproduct_type", kind.to_string()),
            ("hats_nrows", rows.to_string()),
            ("hats_col_ra", position.0.to_string()),
            ("hats_col_dec", position.1.to_string()),
            ("hats_col_healpix", HEALPIX29.to_string()),
            ("hats_col_healpix_order", "29".to_string()),
            ("hats_npix_suffix", ".parquet".to_string()),
            (
                "hats_builder",
                format!("skyql {}", env!("CARGO_PKG_VERSION")),
            ),
            ("hats_version", "v0.1".to_string()),
        ]
    };
    let deepest = |files: &[Written]| files.iter().map(|w| w.pixel.order).max().unwrap_or(0);
    let rows = |files: &[Written]| files.iter().map(|w| w.rows).sum::<u64>();
    let mut object = common("object", &names.catalog, rows(main));
    object.push(("hats_order", deepest(main).to_string()));
    object.push(("hats_max_rows", opts.max_rows.to_string()));
    write_catalog(&root.join(&names.catalog), schema, main, &object)?;
    let mut margin_props = common("margin", &names.margin, rows(margin));
    margin_props.push(("hats_order", deepest(margin).to_string()));
    margin_props.push(("hats_primary_table_url", names.catalog.clone()));
    margin_props.push(("hats_margin_threshold", opts.margin_arcsec.to_string()));
    write_catalog(&root.join(&names.margin), schema, margin, &margin_props)?;
    let collection = [
        ("obs_collection", names.catalog.clone()),
        ("hats_primary_table_url", names.catalog.clone()),
        ("all_margins", names.margin.clone()),
        ("default_margin", names.margin.clone()),
    ];
    write_file(
        &root.join("collection.properties"),
        properties_text("HATS Collection", &collection).as_bytes(),
    )?;
    sync_tree(root)
}

fn write_catalog(
    dir: &Path,
    schema: &SchemaRef,
    files: &[Written],
    properties: &[(&str, String)],
) -> Result<()> {
    let dataset = dir.join("dataset");
    std::fs::create_dir_all(&dataset)
        .with_context(|| format!("cannot create {}", dataset.display()))?;
    write_file(
        &dir.join("hats.properties"),
        properties_text("HATS catalog", properties).as_bytes(),
    )?;
    let mut csv = String::from("Norder,Npix\n");
    for w in files {
        csv.push_str(&format!("{},{}\n", w.pixel.order, w.pixel.index));
    }
    write_file(&dir.join("partition_info.csv"), csv.as_bytes())?;
    let common = dataset.join("_common_metadata");
    let file = std::fs::File::create(&common)
        .with_context(|| format!("cannot create {}", common.display()))?;
    let empty = ArrowWriter::try_new(file, schema.clone(), None)?;
    let footer = empty.close()?;
    sync_file(&common)?;
    write_summary(&dataset.join("_metadata"), &footer, files)
}

/// `_metadata`: the schema of `footer` and the row groups of every file, each column
/// chunk naming its file relative to `dataset/`.
fn write_summary(path: &Path, footer: &ParquetMetaData, files: &[Written]) -> Result<()> {
    let base = footer.file_metadata();
    let total: u64 = files.iter().map(|w| w.rows).sum();
    let mut builder = ParquetMetaDataBuilder::new(FileMetaData::new(
        base.version(),
        total as i64,
        base.created_by().map(str::to_string),
        base.key_value_metadata().cloned(),
        base.schema_descr_ptr(),
        base.column_orders().cloned(),
    ));
    for w in files {
        let relative = w.pixel.relative_path();
        for group in w.metadata.row_groups() {
            let columns = group
                .columns()
                .iter()
                .map(|c| {
                    c.clone()
                        .into_builder()
                        .set_file_path(relative.clone())
                        .build()
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let group = group
                .clone()
                .into_builder()
                .set_column_metadata(columns)
                .build()?;
            builder = builder.add_row_group(group);
        }
    }
    let metadata = builder.build();
    let mut bytes = Vec::new();
    ParquetMetaDataWriter::new(&mut bytes, &metadata).finish()?;
    write_file(path, &bytes)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    sync_file(path)
}

/// Syncs every directory under `root` (files are synced as they are closed).
fn sync_tree(root: &Path) -> Result<()> {
    for entry in
        std::fs::read_dir(root).with_context(|| format!("cannot read {}", root.display()))?
    {
        let path = entry?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        }
    }
    sync_dir(root)
}
