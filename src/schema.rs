//! The catalogue's tables: Arrow schemas with units, UCDs and descriptions.
//!
//! Every column carries `unit`, `ucd` and `description` in its field metadata, so that
//! `skyql describe` and the exports can show them. Names are fixed by the design of record.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use skyql_udfs::wcs::arrow_struct::wcs_data_type;

/// Schema version written in manifests; bump when a table's columns change.
pub const SCHEMA_VERSION: u32 = 2;

/// Names of the catalogue tables, in the order `skyql tables` shows them.
pub const TABLES: [&str; 6] = [
    "images",
    "measurements",
    "stars",
    "fields",
    "quarters",
    "inputs",
];

/// Columns stored as Hive partition directories, per table.
pub fn partition_columns(table: &str) -> &'static [&'static str] {
    match table {
        "measurements" | "stars" => &["field"],
        _ => &[],
    }
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

fn utf8() -> DataType {
    DataType::Utf8
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
        utf8(),
        false,
        "",
        "meta.id;obs.field",
        "Survey field (e.g. lm055)",
    )
}

/// `images`: one row per FITS image file.
pub fn images_schema() -> SchemaRef {
    let header = DataType::Map(
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
    );
    Arc::new(Schema::new(vec![
        col(
            "path",
            utf8(),
            false,
            "",
            "meta.ref.url",
            "Absolute path of the FITS file at ingest",
        ),
        col(
            "file_name",
            utf8(),
            false,
            "",
            "meta.id;meta.file",
            "File name",
        ),
        col(
            "field",
            utf8(),
            true,
            "",
            "meta.id;obs.field",
            "Survey field, from the file name",
        ),
        col(
            "camera",
            DataType::Int32,
            true,
            "",
            "meta.id;instr.det",
            "Camera digit, from the file name",
        ),
        col(
            "colour",
            utf8(),
            true,
            "",
            "instr.bandpass",
            "Colour of the camera: R red, B blue",
        ),
        col(
            "ccd",
            DataType::Int32,
            true,
            "",
            "meta.id;instr.det",
            "CCD number in the mosaic (0-7)",
        ),
        col(
            "quarter",
            utf8(),
            true,
            "",
            "meta.id;instr.det",
            "CCD quarter k, l, m, n; t for a whole CCD",
        ),
        col(
            "code",
            utf8(),
            true,
            "",
            "meta.code.class",
            "Image code: d reference, e current",
        ),
        col(
            "exposure",
            utf8(),
            true,
            "",
            "meta.id;obs.exposure",
            "Exposure token, from the file name",
        ),
        col(
            "hdu",
            DataType::Int32,
            false,
            "",
            "meta.number",
            "HDU holding the image (1 = primary)",
        ),
        col(
            "mjd_obs",
            DataType::Float64,
            true,
            "d",
            "time.start;obs.exposure",
            "MJD-OBS (or from DATE-OBS)",
        ),
        col(
            "exptime",
            DataType::Float64,
            true,
            "s",
            "time.duration;obs.exposure",
            "EXPTIME",
        ),
        col(
            "airmass",
            DataType::Float64,
            true,
            "",
            "obs.airMass",
            "AIRMASS",
        ),
        col(
            "gain",
            DataType::Float64,
            true,
            "electron/adu",
            "instr.calib",
            "GAIN (e-/ADU)",
        ),
        col(
            "naxis1",
            DataType::Int64,
            true,
            "pix",
            "meta.number",
            "NAXIS1",
        ),
        col(
            "naxis2",
            DataType::Int64,
            true,
            "pix",
            "meta.number",
            "NAXIS2",
        ),
        col(
            "ra_center",
            DataType::Float64,
            true,
            "deg",
            "pos.eq.ra",
            "RA of the image centre through its WCS",
        ),
        col(
            "dec_center",
            DataType::Float64,
            true,
            "deg",
            "pos.eq.dec",
            "Dec of the image centre through its WCS",
        ),
        col(
            "wcs",
            wcs_data_type(),
            true,
            "",
            "meta.code",
            "Celestial WCS (null when absent or invalid)",
        ),
        col(
            "wcs_problem",
            utf8(),
            true,
            "",
            "meta.note",
            "Why the WCS or position is unusable, if it is",
        ),
        col(
            "file_size",
            DataType::Int64,
            false,
            "byte",
            "phys.size",
            "File size in bytes",
        ),
        col(
            "header",
            header,
            false,
            "",
            "meta.record;meta.fits",
            "Every header card of the image HDU (keyword -> value)",
        ),
    ]))
}

/// `measurements` as stored in each Parquet file (the `field` column is the partition).
pub fn measurements_file_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        col(
            "star_id",
            utf8(),
            false,
            "",
            "meta.id;meta.main",
            "Star identifier",
        ),
        col(
            "ccd",
            DataType::Int32,
            true,
            "",
            "meta.id;instr.det",
            "CCD number, from the star id",
        ),
        col(
            "quarter",
            low_cardinality_text(),
            true,
            "",
            "meta.id;instr.det",
            "CCD quarter, from the star id",
        ),
        col(
            "colour",
            low_cardinality_text(),
            false,
            "",
            "instr.bandpass",
            "R red, B blue",
        ),
        col(
            "mjd",
            DataType::Float64,
            false,
            "d",
            "time.epoch",
            "Modified Julian Date (UTC) of the measurement",
        ),
        col(
            "mag",
            DataType::Float32,
            false,
            "mag",
            "phot.mag",
            "Magnitude",
        ),
        col(
            "mag_err",
            DataType::Float32,
            true,
            "mag",
            "stat.error;phot.mag",
            "Magnitude error",
        ),
        col(
            "flags",
            DataType::Int32,
            false,
            "",
            "meta.code.qual",
            "Quality flags (0 = none)",
        ),
        col(
            "exposure",
            utf8(),
            true,
            "",
            "meta.id;obs.exposure",
            "Exposure token, joins images.exposure, when known",
        ),
        col(
            "x",
            DataType::Float32,
            true,
            "pix",
            "pos.cartesian.x;instr.det",
            "Pixel x on the exposure, when known",
        ),
        col(
            "y",
            DataType::Float32,
            true,
            "pix",
            "pos.cartesian.y;instr.det",
            "Pixel y on the exposure, when known",
        ),
    ]))
}

/// `stars` as stored in each Parquet file (the `field` column is the partition).
pub fn stars_file_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        col(
            "star_id",
            utf8(),
            false,
            "",
            "meta.id;meta.main",
            "Star identifier",
        ),
        col(
            "survey",
            utf8(),
            false,
            "",
            "meta.id",
            "Survey the light curve comes from",
        ),
        col(
            "ccd",
            DataType::Int32,
            true,
            "",
            "meta.id;instr.det",
            "CCD number",
        ),
        col(
            "quarter",
            utf8(),
            true,
            "",
            "meta.id;instr.det",
            "CCD quarter",
        ),
        col(
            "x",
            DataType::Float64,
            true,
            "pix",
            "pos.cartesian.x;instr.det",
            "Reference-image pixel x (red, else blue)",
        ),
        col(
            "y",
            DataType::Float64,
            true,
            "pix",
            "pos.cartesian.y;instr.det",
            "Reference-image pixel y (red, else blue)",
        ),
        col(
            "x_r",
            DataType::Float64,
            true,
            "pix",
            "pos.cartesian.x;instr.det",
            "Pixel x on the red reference image",
        ),
        col(
            "y_r",
            DataType::Float64,
            true,
            "pix",
            "pos.cartesian.y;instr.det",
            "Pixel y on the red reference image",
        ),
        col(
            "x_b",
            DataType::Float64,
            true,
            "pix",
            "pos.cartesian.x;instr.det",
            "Pixel x on the blue reference image",
        ),
        col(
            "y_b",
            DataType::Float64,
            true,
            "pix",
            "pos.cartesian.y;instr.det",
            "Pixel y on the blue reference image",
        ),
        col(
            "ra",
            DataType::Float64,
            true,
            "deg",
            "pos.eq.ra;meta.main",
            "Right ascension (ICRS)",
        ),
        col(
            "dec",
            DataType::Float64,
            true,
            "deg",
            "pos.eq.dec;meta.main",
            "Declination (ICRS)",
        ),
        col(
            "healpix",
            DataType::Int64,
            true,
            "",
            "pos.healpix",
            "HEALPix NESTED index at order 29 (order n: shift right by 2 x (29 - n))",
        ),
        col(
            "position_source",
            utf8(),
            true,
            "",
            "meta.note",
            "Where ra/dec come from: a reference image file, or the light-curve header",
        ),
        col(
            "n_r",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Number of red measurements",
        ),
        col(
            "n_b",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Number of blue measurements",
        ),
        col(
            "mean_mag_r",
            DataType::Float64,
            true,
            "mag",
            "phot.mag;em.opt.R;stat.mean",
            "Mean red magnitude of the measurements",
        ),
        col(
            "mean_mag_b",
            DataType::Float64,
            true,
            "mag",
            "phot.mag;em.opt.B;stat.mean",
            "Mean blue magnitude of the measurements",
        ),
        col(
            "header_mag_r",
            DataType::Float64,
            true,
            "mag",
            "phot.mag;em.opt.R",
            "Red magnitude given in the light-curve header",
        ),
        col(
            "header_mag_b",
            DataType::Float64,
            true,
            "mag",
            "phot.mag;em.opt.B",
            "Blue magnitude given in the light-curve header",
        ),
        col(
            "source",
            utf8(),
            false,
            "",
            "meta.ref.url",
            "Light-curve file(s) read",
        ),
    ]))
}

/// `fields`: centres and extents of the survey fields, from the image WCS.
pub fn fields_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        col(
            "field",
            utf8(),
            false,
            "",
            "meta.id;obs.field",
            "Survey field",
        ),
        col(
            "n_images",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Images with a usable WCS",
        ),
        col(
            "n_reference",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Reference images (code d)",
        ),
        col(
            "n_current",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Current images (code e)",
        ),
        col(
            "ra_center",
            DataType::Float64,
            false,
            "deg",
            "pos.eq.ra;meta.main",
            "RA of the field centre",
        ),
        col(
            "dec_center",
            DataType::Float64,
            false,
            "deg",
            "pos.eq.dec;meta.main",
            "Dec of the field centre",
        ),
        col(
            "ra_min",
            DataType::Float64,
            false,
            "deg",
            "pos.eq.ra;stat.min",
            "Smallest RA of the image corners",
        ),
        col(
            "ra_max",
            DataType::Float64,
            false,
            "deg",
            "pos.eq.ra;stat.max",
            "Largest RA of the image corners",
        ),
        col(
            "dec_min",
            DataType::Float64,
            false,
            "deg",
            "pos.eq.dec;stat.min",
            "Smallest Dec of the image corners",
        ),
        col(
            "dec_max",
            DataType::Float64,
            false,
            "deg",
            "pos.eq.dec;stat.max",
            "Largest Dec of the image corners",
        ),
    ]))
}

/// `quarters`: the survey's CCD quarter geometry (from the conventions table).
pub fn quarters_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        col(
            "ccd",
            DataType::Int32,
            false,
            "",
            "meta.id;instr.det",
            "CCD number",
        ),
        col(
            "quarter",
            utf8(),
            false,
            "",
            "meta.id;instr.det",
            "Quarter letter",
        ),
        col(
            "offset_x",
            DataType::Float64,
            false,
            "",
            "pos.cartesian.x",
            "Quarter centre from the mosaic centre, in CCD widths",
        ),
        col(
            "offset_y",
            DataType::Float64,
            false,
            "",
            "pos.cartesian.y",
            "Quarter centre from the mosaic centre, in CCD heights",
        ),
        col(
            "cell_x",
            DataType::Int32,
            false,
            "",
            "pos.cartesian.x;instr.det",
            "Quarter's column in its CCD (0 or 1): its first pixel is at x = 1 + cell_x * quarter width",
        ),
        col(
            "cell_y",
            DataType::Int32,
            false,
            "",
            "pos.cartesian.y;instr.det",
            "Quarter's row in its CCD (0 or 1): its first pixel is at y = 1 + cell_y * quarter height",
        ),
        col(
            "is_central",
            DataType::Boolean,
            false,
            "",
            "meta.code",
            "True for the quarter of the CCD closest to the mosaic centre",
        ),
    ]))
}

/// `inputs`: every input file ingested, with its accounting.
pub fn inputs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        col(
            "path",
            utf8(),
            false,
            "",
            "meta.ref.url",
            "Absolute path of the input",
        ),
        col(
            "format",
            utf8(),
            false,
            "",
            "meta.code",
            "fits, eros or macho",
        ),
        col(
            "size_bytes",
            DataType::Int64,
            false,
            "byte",
            "phys.size",
            "Size at ingest",
        ),
        col(
            "ingest_run",
            DataType::Int64,
            false,
            "",
            "meta.id",
            "Catalogue version that ingested it",
        ),
        col(
            "rows_read",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Values or headers read",
        ),
        col(
            "rows_written",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Rows written",
        ),
        col(
            "rows_missing",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Values marked missing in the input (e.g. 99.999)",
        ),
        col(
            "rows_rejected",
            DataType::Int64,
            false,
            "",
            "meta.number",
            "Values rejected (see the rejects file)",
        ),
    ]))
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
