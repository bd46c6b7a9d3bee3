//! The catalogue's tables: Arrow schemas with units, UCDs and descriptions.
//!
//! Every column carries `unit`, `ucd` and `description` in its field metadata, so that
//! `skyql describe` and the exports can show them. Names are fixed by the design of record.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use skyql_udfs::wcs::arrow_struct::wcs_data_type;

/// Schema version written in manifests; bump when a table changes in a way older files
/// cannot be read as (nullable columns added at the end read as nulls from older files:
/// `measurements.flux`, `flux_err`, `time_scale` came that way).
pub const SCHEMA_VERSION: u32 = 2;

/// Names of the catalogue tables, in the order `skyql tables` shows them.
pub const TABLES: [&str; 7] = [
    "images",
    "measurements",
    "stars",
    "fields",
    "quarters",
    "inputs",
    "measurement_counts",
];

/// Columns stored as Hive partition directories, per table.
pub fn partition_columns(table: &str) -> &'static [&'static str] {
    match table {
        "measurements" | "stars" => &["field"],
        _ => &[],
    }
}

/// The columns of a catalogue table that summarize the rows of another, and that other
/// table: a row rule that hides rows of the other table but lacks columns of this one
/// cannot tell which of these values count hidden rows, so they are withheld (null) from
/// the callers it hides rows from (docs/ACCESS.md). Also the service's table of each
/// field's time span, which ObsCore's light-curve rows read.
pub fn summary_columns(table: &str) -> Option<(&'static str, &'static [&'static str])> {
    match table {
        "obscore_support.field_spans" => Some(("measurements", &["t_min", "t_max"])),
        "stars" => Some(("measurements", &["n_r", "n_b", "mean_mag_r", "mean_mag_b"])),
        "measurement_counts" => Some(("measurements", &["n"])),
        "fields" => Some((
            "images",
            &[
                "n_images",
                "n_reference",
                "n_current",
                "ra_center",
                "dec_center",
                "ra_min",
                "ra_max",
                "dec_min",
                "dec_max",
            ],
        )),
        _ => None,
    }
}

/// Columns whose per-file range the manifest keeps (`DataFile::column_ranges`), per
/// table: the columns queries select files by (a cone by `healpix`, a light curve or a
/// star by `star_id`) and the declared sort order (`star_id`, `mjd`).
pub fn range_columns(table: &str) -> &'static [&'static str] {
    match table {
        "measurements" => &["star_id", "mjd"],
        "stars" => &["healpix", "star_id"],
        // A table ingested from a file, when it has positions (written in HEALPix order).
        t if !TABLES.contains(&t) => &["_healpix_29"],
        _ => &[],
    }
}

/// The Arrow type of a catalogue column.
#[derive(Debug, Clone, Copy)]
enum Type {
    Text,
    /// [`low_cardinality_text`].
    Dict,
    I32,
    I64,
    F32,
    F64,
    Bool,
    /// The `wcs` struct of `skyql-udfs`.
    Wcs,
    /// A map of every header card (keyword -> value).
    Header,
}

use Type::*;

impl Type {
    fn data_type(self) -> DataType {
        match self {
            Text => DataType::Utf8,
            Dict => low_cardinality_text(),
            I32 => DataType::Int32,
            I64 => DataType::Int64,
            F32 => DataType::Float32,
            F64 => DataType::Float64,
            Bool => DataType::Boolean,
            Wcs => wcs_data_type(),
            Header => header_map_type(),
        }
    }
}

/// One column: name, type, nullable, unit (VOUnit), UCD, description.
type Column = (
    &'static str,
    Type,
    bool,
    &'static str,
    &'static str,
    &'static str,
);

fn header_map_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("keys", DataType::Utf8, false),
                    Field::new("values", DataType::Utf8, true),
                ]
                .into(),
            ),
            false,
        )),
        false,
    )
}

fn schema_of(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|&(name, t, nullable, unit, ucd, desc)| {
                col(name, t.data_type(), nullable, unit, ucd, desc)
            })
            .collect::<Vec<_>>(),
    ))
}

fn col(name: &str, dt: DataType, nullable: bool, unit: &str, ucd: &str, desc: &str) -> Field {
    let mut md = HashMap::new();
    if !unit.is_empty() {
        md.insert("unit".to_string(), unit.to_string());
    }
    if !ucd.is_empty() {
        md.insert("ucd".to_string(), ucd.to_string());
    }
    md.insert("description".to_string(), desc.to_string());
    Field::new(name, dt, nullable).with_metadata(md)
}

/// Text with a handful of distinct values (colour, quarter) in the big tables: dictionary
/// encoded in Arrow as in Parquet, so that scans and GROUP BY work on small integer keys
/// instead of materializing strings (docs/LAYOUT.md).
pub fn low_cardinality_text() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The `field` partition column (a directory `field=lm055`, not stored in the files).
pub fn field_partition_column() -> Field {
    col(
        "field",
        DataType::Utf8,
        false,
        "",
        "meta.id;obs.field",
        "Survey field (e.g. lm055)",
    )
}

#[rustfmt::skip]
const IMAGES: &[Column] = &[
    ("path", Text, false, "", "meta.ref.url", "Absolute path of the FITS file at ingest"),
    ("file_name", Text, false, "", "meta.id;meta.file", "File name"),
    ("field", Text, true, "", "meta.id;obs.field", "Survey field, from the file name"),
    ("camera", I32, true, "", "meta.id;instr.det", "Camera digit, from the file name"),
    ("colour", Text, true, "", "instr.bandpass", "Colour of the camera: R red, B blue"),
    ("ccd", I32, true, "", "meta.id;instr.det", "CCD number in the mosaic (0-7)"),
    ("quarter", Text, true, "", "meta.id;instr.det", "CCD quarter k, l, m, n; t for a whole CCD"),
    ("code", Text, true, "", "meta.code.class", "Image code: d reference, e current"),
    ("exposure", Text, true, "", "meta.id;obs.exposure", "Exposure token, from the file name"),
    ("hdu", I32, false, "", "meta.number", "HDU holding the image (1 = primary)"),
    ("mjd_obs", F64, true, "d", "time.start;obs.exposure", "MJD-OBS (or from DATE-OBS)"),
    ("exptime", F64, true, "s", "time.duration;obs.exposure", "EXPTIME"),
    ("airmass", F64, true, "", "obs.airMass", "AIRMASS"),
    ("gain", F64, true, "electron/adu", "instr.calib", "GAIN (e-/ADU)"),
    ("naxis1", I64, true, "pix", "meta.number", "NAXIS1"),
    ("naxis2", I64, true, "pix", "meta.number", "NAXIS2"),
    ("ra_center", F64, true, "deg", "pos.eq.ra", "RA of the image centre through its WCS"),
    ("dec_center", F64, true, "deg", "pos.eq.dec", "Dec of the image centre through its WCS"),
    ("wcs", Wcs, true, "", "meta.code", "Celestial WCS (null when absent or invalid)"),
    ("wcs_problem", Text, true, "", "meta.note", "Why the WCS or position is unusable, if it is"),
    ("file_size", I64, false, "byte", "phys.size", "File size in bytes"),
    ("header", Header, false, "", "meta.record;meta.fits", "Every header card of the image HDU (keyword -> value)"),
];

/// `images`: one row per FITS image file.
pub fn images_schema() -> SchemaRef {
    schema_of(IMAGES)
}

#[rustfmt::skip]
const MEASUREMENTS: &[Column] = &[
    ("star_id", Text, false, "", "meta.id;meta.main", "Star identifier"),
    ("ccd", I32, true, "", "meta.id;instr.det", "CCD number, from the star id"),
    ("quarter", Dict, true, "", "meta.id;instr.det", "CCD quarter, from the star id"),
    ("colour", Dict, false, "", "instr.bandpass", "Band: R red, B blue (EROS-2); the survey's band letter otherwise (I, V, ...)"),
    ("mjd", F64, false, "d", "time.epoch", "Modified Julian Date (UTC) of the measurement; heliocentric or barycentric when time_scale says HJD or BJD_TDB"),
    ("mag", F32, true, "mag", "phot.mag", "Magnitude (null for a flux without a magnitude)"),
    ("mag_err", F32, true, "mag", "stat.error;phot.mag", "Magnitude error"),
    ("flags", I32, false, "", "meta.code.qual", "Quality flags (0 = none)"),
    ("exposure", Text, true, "", "meta.id;obs.exposure", "Exposure token, joins images.exposure, when known"),
    ("x", F32, true, "pix", "pos.cartesian.x;instr.det", "Pixel x on the exposure, when known"),
    ("y", F32, true, "pix", "pos.cartesian.y;instr.det", "Pixel y on the exposure, when known"),
    ("flux", F64, true, "", "phot.flux", "Flux as the file gives it (difference flux for MOA, KMTNet), when it gives one"),
    ("flux_err", F32, true, "", "stat.error;phot.flux", "Flux error, when given"),
    ("time_scale", Dict, true, "", "time.scale", "Time scale of mjd: UTC, HJD (heliocentric) or BJD_TDB; null in catalogues written before it existed"),
];

/// `measurements` as stored in each Parquet file (the `field` column is the partition).
pub fn measurements_file_schema() -> SchemaRef {
    schema_of(MEASUREMENTS)
}

#[rustfmt::skip]
const STARS: &[Column] = &[
    ("star_id", Text, false, "", "meta.id;meta.main", "Star identifier"),
    ("survey", Text, false, "", "meta.id", "Survey the light curve comes from"),
    ("ccd", I32, true, "", "meta.id;instr.det", "CCD number"),
    ("quarter", Text, true, "", "meta.id;instr.det", "CCD quarter"),
    ("x", F64, true, "pix", "pos.cartesian.x;instr.det", "Reference-image pixel x (red, else blue)"),
    ("y", F64, true, "pix", "pos.cartesian.y;instr.det", "Reference-image pixel y (red, else blue)"),
    ("x_r", F64, true, "pix", "pos.cartesian.x;instr.det", "Pixel x on the red reference image"),
    ("y_r", F64, true, "pix", "pos.cartesian.y;instr.det", "Pixel y on the red reference image"),
    ("x_b", F64, true, "pix", "pos.cartesian.x;instr.det", "Pixel x on the blue reference image"),
    ("y_b", F64, true, "pix", "pos.cartesian.y;instr.det", "Pixel y on the blue reference image"),
    ("ra", F64, true, "deg", "pos.eq.ra;meta.main", "Right ascension (ICRS)"),
    ("dec", F64, true, "deg", "pos.eq.dec;meta.main", "Declination (ICRS)"),
    ("healpix", I64, true, "", "pos.healpix", "HEALPix NESTED index at order 29 (order n: shift right by 2 x (29 - n))"),
    ("position_source", Text, true, "", "meta.note", "Where ra/dec come from: a reference image file, or the light-curve header"),
    ("n_r", I64, false, "", "meta.number", "Number of red measurements"),
    ("n_b", I64, false, "", "meta.number", "Number of blue measurements"),
    ("mean_mag_r", F64, true, "mag", "phot.mag;em.opt.R;stat.mean", "Mean red magnitude of the measurements"),
    ("mean_mag_b", F64, true, "mag", "phot.mag;em.opt.B;stat.mean", "Mean blue magnitude of the measurements"),
    ("header_mag_r", F64, true, "mag", "phot.mag;em.opt.R", "Red magnitude given in the light-curve header"),
    ("header_mag_b", F64, true, "mag", "phot.mag;em.opt.B", "Blue magnitude given in the light-curve header"),
    ("source", Text, false, "", "meta.ref.url", "Light-curve file(s) read"),
];

/// `stars` as stored in each Parquet file (the `field` column is the partition).
pub fn stars_file_schema() -> SchemaRef {
    schema_of(STARS)
}

#[rustfmt::skip]
const FIELDS: &[Column] = &[
    ("field", Text, false, "", "meta.id;obs.field", "Survey field"),
    ("n_images", I64, false, "", "meta.number", "Images with a usable WCS"),
    ("n_reference", I64, false, "", "meta.number", "Reference images (code d)"),
    ("n_current", I64, false, "", "meta.number", "Current images (code e)"),
    ("ra_center", F64, false, "deg", "pos.eq.ra;meta.main", "RA of the field centre"),
    ("dec_center", F64, false, "deg", "pos.eq.dec;meta.main", "Dec of the field centre"),
    ("ra_min", F64, false, "deg", "pos.eq.ra;stat.min", "Smallest RA of the image corners"),
    ("ra_max", F64, false, "deg", "pos.eq.ra;stat.max", "Largest RA of the image corners"),
    ("dec_min", F64, false, "deg", "pos.eq.dec;stat.min", "Smallest Dec of the image corners"),
    ("dec_max", F64, false, "deg", "pos.eq.dec;stat.max", "Largest Dec of the image corners"),
];

/// `fields`: one row per survey field.
pub fn fields_schema() -> SchemaRef {
    schema_of(FIELDS)
}

#[rustfmt::skip]
const QUARTERS: &[Column] = &[
    ("ccd", I32, false, "", "meta.id;instr.det", "CCD number"),
    ("quarter", Text, false, "", "meta.id;instr.det", "Quarter letter"),
    ("offset_x", F64, false, "", "pos.cartesian.x", "Quarter centre from the mosaic centre, in CCD widths"),
    ("offset_y", F64, false, "", "pos.cartesian.y", "Quarter centre from the mosaic centre, in CCD heights"),
    ("cell_x", I32, false, "", "pos.cartesian.x;instr.det", "Quarter's column in its CCD (0 or 1): its first pixel is at x = 1 + cell_x * quarter width"),
    ("cell_y", I32, false, "", "pos.cartesian.y;instr.det", "Quarter's row in its CCD (0 or 1): its first pixel is at y = 1 + cell_y * quarter height"),
    ("is_central", Bool, false, "", "meta.code", "True for the quarter of the CCD closest to the mosaic centre"),
];

/// `quarters`: the survey's CCD quarter geometry (from the conventions table).
pub fn quarters_schema() -> SchemaRef {
    schema_of(QUARTERS)
}

#[rustfmt::skip]
const INPUTS: &[Column] = &[
    ("path", Text, false, "", "meta.ref.url", "Absolute path of the input"),
    ("format", Text, false, "", "meta.code", "fits (an image), fits-table (a table file), or the format description that read a light curve (eros, macho, ogle, ...)"),
    ("size_bytes", I64, false, "byte", "phys.size", "Size at ingest"),
    ("ingest_run", I64, false, "", "meta.id", "Catalogue version that ingested it"),
    ("rows_read", I64, false, "", "meta.number", "Values or headers read"),
    ("rows_written", I64, false, "", "meta.number", "Rows written"),
    ("rows_missing", I64, false, "", "meta.number", "Values marked missing in the input (e.g. 99.999)"),
    ("rows_rejected", I64, false, "", "meta.number", "Values rejected (see the rejects file)"),
];

/// `inputs`: every input file ingested, with its accounting.
pub fn inputs_schema() -> SchemaRef {
    schema_of(INPUTS)
}

#[rustfmt::skip]
const MEASUREMENT_COUNTS: &[Column] = &[
    ("file", Text, false, "", "meta.ref.url", "Measurements file, relative to measurements/"),
    ("field", Text, false, "", "meta.id;obs.field", "Survey field"),
    ("colour", Dict, false, "", "instr.bandpass", "R red, B blue"),
    ("ccd", I32, true, "", "meta.id;instr.det", "CCD number, from the star id"),
    ("quarter", Dict, true, "", "meta.id;instr.det", "CCD quarter, from the star id"),
    ("n", I64, false, "", "meta.number", "Measurements of the file with these values"),
];

/// `measurement_counts`: measurements per file, field, colour, CCD and quarter, written
/// with each version (see `catalog::summary`).
pub fn measurement_counts_schema() -> SchemaRef {
    schema_of(MEASUREMENT_COUNTS)
}

/// Tables of a version directory other than the catalogue's own: `NAME.parquet` files of
/// ingested FITS tables, sorted by name.
pub fn extra_tables(version_dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let mut out = Vec::new();
    let entries = std::fs::read_dir(version_dir)
        .with_context(|| format!("cannot list {}", version_dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".parquet")
            && !stem.starts_with('.')
            && !TABLES.contains(&stem)
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            out.push(stem.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// The full schema of a table as queried (partition columns appended last).
pub fn table_schema(table: &str) -> Option<SchemaRef> {
    let file = match table {
        "images" => images_schema(),
        "measurements" => measurements_file_schema(),
        "stars" => stars_file_schema(),
        "fields" => fields_schema(),
        "quarters" => quarters_schema(),
        "inputs" => inputs_schema(),
        "measurement_counts" => measurement_counts_schema(),
        _ => return None,
    };
    if partition_columns(table).is_empty() {
        return Some(file);
    }
    let mut fields: Vec<Field> = file.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(field_partition_column());
    Some(Arc::new(Schema::new(fields)))
}

/// Unit, UCD and description of a catalogue column, when skyql defines it.
pub fn column_metadata(table: &str, column: &str) -> Option<HashMap<String, String>> {
    let schema = table_schema(table)?;
    let field = schema.field_with_name(column).ok()?;
    Some(field.metadata().clone())
}
