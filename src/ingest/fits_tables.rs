//! FITS files that hold tables and no image (source catalogues, calibration tables): each
//! becomes a catalogue table named after its file, `NAME.parquet` in the version.

use std::path::Path;

use skyql_udfs::cfitsio::Fits;
use skyql_udfs::cfitsio_table::HduKind;

use super::rejects::Reject;
use crate::catalog::parquet_io::{write_parquet_stream, writer_properties};
use crate::formats::fits::table_read::{open_table, read_batches};
use skyql_udfs::table_functions::positions::position_columns;

/// Whether the FITS file holds a table HDU and no image with data: then it is ingested as
/// a table, otherwise as an image (whose reader reports what is wrong with it).
pub fn holds_a_table(path: &Path) -> bool {
    let Ok(fits) = Fits::open(path) else {
        return false;
    };
    let count = fits.hdu_count().unwrap_or(0);
    let mut table = false;
    for index in 0..count {
        if fits.move_to(index).is_err() {
            return false;
        }
        match fits.hdu_kind() {
            Ok(HduKind::Image) => {
                let axes = fits.image_axes().ok().flatten().unwrap_or_default();
                if !axes.is_empty() && axes.iter().all(|&n| n > 0) {
                    return false;
                }
            }
            Ok(_) => table = true,
            Err(_) => return false,
        }
    }
    table
}

/// The table name of a file: its name without the FITS extension, lower case, with
/// every character other than a letter, digit or `_` made `_` (a leading digit gets a
/// `t_`); a built-in table's name is refused.
pub fn table_name(path: &Path) -> Result<String, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = crate::formats::fits::fits_stem(&name).unwrap_or(&name);
    let mut out: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "t_");
    }
    if crate::schema::TABLES.contains(&out.as_str()) {
        return Err(format!(
            "a FITS table file would become table '{out}', a table of the catalogue's own: rename the file"
        ));
    }
    Ok(out)
}

/// Why `name` (of `skyql ingest --table NAME=PATH`) cannot be a table of the catalogue,
/// if it cannot: it must be lower-case letters, digits and `_`, start with a letter, and
/// not be a table of the catalogue's own.
pub fn check_table_name(name: &str) -> Result<(), String> {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        return Err(format!(
            "--table {name}: a table name is lower-case letters, digits and _, starting with a letter"
        ));
    }
    if crate::schema::TABLES.contains(&name) {
        return Err(format!(
            "--table {name}: {name} is a table of the catalogue's own: give another name"
        ));
    }
    Ok(())
}

/// Key of the Parquet schema metadata that names the file a table was ingested from.
pub const SOURCE_KEY: &str = "skyql.source";

/// Why `path` may not replace the table `name` of the previous version, if it may not:
/// the table came from another file whose name maps to the same table name.
pub fn replaces_another(prev_dir: Option<&Path>, name: &str, path: &Path) -> Option<String> {
    let earlier = prev_dir?.join(format!("{name}.parquet"));
    let schema = crate::catalog::parquet_io::parquet_schema(&earlier).ok()?;
    let source = schema.metadata().get(SOURCE_KEY)?;
    let this = super::path_text::path_text(path);
    (source != &this).then(|| {
        format!(
            "table {name} was ingested from {source}; this file maps to the same table name: rename it"
        )
    })
}

/// Reads the first table HDU of `path` in batches into `dest` (a Parquet file written
/// atomically, its source named in the schema metadata). A table with positions
/// ([`position_columns`]) is written in HEALPix order with its order-29 index first
/// ([`super::table_files`]). Returns the rows written, or the rejection with the rows
/// of the HDU (0 when it could not be opened). `scratch` is a directory of the new
/// version the sort may spill to (removed after).
pub fn write_table(path: &Path, dest: &Path, scratch: &Path) -> Result<u64, (Reject, u64)> {
    let table = open_table(path, None)
        .map_err(|e| (Reject::rejected(path, "file", format!("{e:#}")), 0))?;
    let at = format!("HDU {}", table.hdu + 1);
    let rows = table.rows;
    let reject = |e: anyhow::Error, written: &str| {
        (Reject::rejected(path, &at, format!("{e:#}{written}")), rows)
    };
    let mut metadata = table.schema.metadata().clone();
    metadata.insert(SOURCE_KEY.into(), super::path_text::path_text(path));
    if position_columns(&table.schema, "").is_ok() {
        return super::table_files::write_through_datafusion(path, dest, scratch, metadata)
            .map_err(|e| reject(e, "; no row written"));
    }
    let schema = std::sync::Arc::new(table.schema.as_ref().clone().with_metadata(metadata));
    let batches = read_batches(&table)
        .map_err(|e| reject(e, ""))?
        .map(|b| Ok(b?.with_schema(schema.clone())?));
    write_parquet_stream(dest, schema.clone(), batches, writer_properties())
        .map_err(|e| reject(e, "; no row written"))
}
