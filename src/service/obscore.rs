//! ObsCore 1.1: `ivoa.obscore`, one row per image (`dataproduct_type` `image`) and one
//! per star's light curve (`timeseries`), as a view of `images` and `stars` that every
//! query reads through (nothing is copied).
//!
//! - An image: its FITS file through DataLink (`access_url`), `s_region` the polygon of
//!   its four pixel corners through its WCS, `s_fov` the diameter of the circle around its
//!   centre holding them, `t_min`/`t_max` its exposure, the band of its colour.
//! - A light curve: its DataLink links (`access_format` the DataLink MIME type), its
//!   position (`s_region` a `POSITION`), both colours' bands, `t_xel` its measurements,
//!   and as `t_min`/`t_max` the time span of its field's measurements (the manifest's
//!   per-file `mjd` ranges), which holds the star's own: reading each star's first and
//!   last measurement would scan every light curve.
//!
//! Region searches (`INTERSECTS(s_region, CIRCLE(...))`, `CONTAINS(POINT(...), s_region)`)
//! also test `s_ra`, `s_dec` against the circle widened by [`ObsCore::margin_deg`] (the
//! largest image radius), so that the stars' HEALPix pruning applies
//! ([`super::adql::translate_with`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::metadata::FieldMetadata;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionContext, col};

use super::tap_schema::PublishedTable;
use crate::catalog::manifest::{Manifest, RangeValue};
use crate::formats::columns::ExportLayout;

/// The schema of the ObsCore table.
const SCHEMA: &str = super::tap_schema::IVOA_SCHEMA;
/// Its name in that schema.
const TABLE: &str = "obscore";
/// The DataLink MIME type, the access format of a light curve's row.
const DATALINK_MIME: &str = "application/x-votable+xml;content=datalink";
/// Each field's measurement time span, which the light curves' rows read: in a schema of
/// its own that no client is shown.
const SPANS_TABLE: &str = "obscore_support.field_spans";
/// The margin added to the largest image radius, in degrees.
const MARGIN_SLACK: f64 = 1e-3;

/// The ObsCore table of one snapshot.
#[derive(Debug, Clone)]
pub struct ObsCore {
    /// The largest distance from a row's `s_ra`, `s_dec` to its `s_region`, in degrees.
    pub margin_deg: f64,
    /// Its TAP_SCHEMA entry.
    pub published: PublishedTable,
}

/// One ObsCore column: name, unit, UCD, utype, description.
type ColumnMeta = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// The 30 mandatory columns of ObsCore 1.1 (its table 6), in its order.
#[rustfmt::skip]
const COLUMNS: [ColumnMeta; 30] = [
    ("dataproduct_type", "", "meta.code.class", "obscore:ObsDataset.dataProductType", "Data product type: image or timeseries"),
    ("calib_level", "", "meta.code;obs.calib", "obscore:ObsDataset.calibLevel", "Calibration level: 1 a raw image, 2 a light curve, 3 a reference image (a combination)"),
    ("obs_collection", "", "meta.id", "obscore:DataID.Collection", "Name of the data collection (the survey)"),
    ("obs_id", "", "meta.id", "obscore:DataID.observationID", "Observation id: the image's file name or the star's id"),
    ("obs_publisher_did", "", "meta.ref.ivoid", "obscore:Curation.PublisherDID", "Publisher's dataset identifier (ivo://AUTHORITY/SURVEY?ID)"),
    ("access_url", "", "meta.ref.url", "obscore:Access.Reference", "URL of the data: the image file, or a light curve's DataLink links"),
    ("access_format", "", "meta.code.mime", "obscore:Access.Format", "MIME type of what access_url answers"),
    ("access_estsize", "kbyte", "phys.size;meta.file", "obscore:Access.Size", "Estimated size of what access_url answers (kB): the image file; a light curve's VOTable"),
    ("target_name", "", "meta.id;src", "obscore:Target.Name", "The survey field of an image, the star of a light curve"),
    ("s_ra", "deg", "pos.eq.ra", "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1", "Right ascension (ICRS) of the image centre or the star"),
    ("s_dec", "deg", "pos.eq.dec", "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2", "Declination (ICRS) of the image centre or the star"),
    ("s_fov", "deg", "phys.angSize;instr.fov", "obscore:Char.SpatialAxis.Coverage.Bounds.Extent.diameter", "Diameter of the circle around the image centre holding its corners"),
    ("s_region", "", "pos.outline;obs.field", "obscore:Char.SpatialAxis.Coverage.Support.Area", "Sky footprint (STC-S): the polygon of an image's corners, the position of a star"),
    ("s_resolution", "arcsec", "pos.angResolution", "obscore:Char.SpatialAxis.Resolution.Refval.value", "Pixel scale of an image (its spatial sampling)"),
    ("s_xel1", "", "meta.number", "obscore:Char.SpatialAxis.numBins1", "Pixels along the first axis"),
    ("s_xel2", "", "meta.number", "obscore:Char.SpatialAxis.numBins2", "Pixels along the second axis"),
    ("t_min", "d", "time.start;obs.exposure", "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StartTime", "Start (MJD): an image's exposure; for a light curve its field's first measurement"),
    ("t_max", "d", "time.end;obs.exposure", "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StopTime", "End (MJD): an image's exposure; for a light curve its field's last measurement"),
    ("t_exptime", "s", "time.duration;obs.exposure", "obscore:Char.TimeAxis.Coverage.Support.Extent", "Exposure time of an image"),
    ("t_resolution", "s", "time.resolution", "obscore:Char.TimeAxis.Resolution.Refval.value", "Time resolution: an image's exposure time"),
    ("t_xel", "", "meta.number", "obscore:Char.TimeAxis.numBins", "Time samples: 1 for an image, the measurements of a light curve"),
    ("em_min", "m", "em.wl;stat.min", "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit", "Shortest wavelength of the band(s)"),
    ("em_max", "m", "em.wl;stat.max", "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit", "Longest wavelength of the band(s)"),
    ("em_res_power", "", "spect.resolution", "obscore:Char.SpectralAxis.Resolution.ResolPower.refVal", "Spectral resolving power: central wavelength over band width"),
    ("em_xel", "", "meta.number", "obscore:Char.SpectralAxis.numBins", "Spectral samples: the bands"),
    ("o_ucd", "", "meta.ucd", "obscore:Char.ObservableAxis.ucd", "UCD of the observable: counts for an image, magnitudes for a light curve"),
    ("pol_states", "", "meta.code;phys.polarization", "obscore:Char.PolarizationAxis.stateList", "Polarisation states (none)"),
    ("pol_xel", "", "meta.number", "obscore:Char.PolarizationAxis.numBins", "Polarisation samples (none)"),
    ("facility_name", "", "meta.id;instr.tel", "obscore:Provenance.ObsConfig.Facility.name", "Telescope"),
    ("instrument_name", "", "meta.id;instr", "obscore:Provenance.ObsConfig.Instrument.name", "Instrument"),
];

/// What ObsCore says of a survey: its facility, instrument and the bands of its colours
/// (R, B) as (shortest, longest) wavelength in metres.
struct SurveyFacts {
    facility: Option<&'static str>,
    instrument: String,
    red: Option<(f64, f64)>,
    blue: Option<(f64, f64)>,
}

fn survey_facts(survey: &str) -> SurveyFacts {
    match survey.to_ascii_uppercase().as_str() {
        // The two EROS-2 cameras behind a dichroic: B_E 420-720 nm, R_E 620-920 nm.
        "EROS-2" | "EROS2" => SurveyFacts {
            facility: Some("ESO La Silla MARLY 1m"),
            instrument: "EROS-2".into(),
            red: Some((6.2e-7, 9.2e-7)),
            blue: Some((4.2e-7, 7.2e-7)),
        },
        _ => SurveyFacts {
            facility: None,
            instrument: survey.to_string(),
            red: None,
            blue: None,
        },
    }
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SQL float literal, or NULL.
fn number(x: Option<f64>) -> String {
    x.map_or("CAST(NULL AS DOUBLE)".into(), |v| format!("{v:e}"))
}

/// The SQL of `expr` made safe in a URL's query value (the characters that end or change
/// a value encoded; identifiers of the catalogue are letters, digits and punctuation).
fn url_value(expr: &str) -> String {
    [
        ("%", "%25"),
        ("&", "%26"),
        ("+", "%2B"),
        ("#", "%23"),
        (" ", "%20"),
        ("=", "%3D"),
    ]
    .iter()
    .fold(expr.to_string(), |e, (from, to)| {
        format!("replace({e}, '{from}', '{to}')")
    })
}

/// Each field's first and last measurement (MJD), from the manifest's file ranges.
fn field_spans(manifest: &Manifest) -> BTreeMap<String, (f64, f64)> {
    let mut spans: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let Some(measurements) = manifest.tables.get("measurements") else {
        return spans;
    };
    for file in &measurements.data_files {
        let (Some(field), Some(range)) =
            (file.partition_value("field"), file.column_ranges.get("mjd"))
        else {
            continue;
        };
        let (RangeValue::Float(lo), RangeValue::Float(hi)) = (&range.min, &range.max) else {
            continue;
        };
        let span = spans.entry(field.to_string()).or_insert((*lo, *hi));
        span.0 = span.0.min(*lo);
        span.1 = span.1.max(*hi);
    }
    spans
}

/// The select list of the image rows.
fn image_rows(survey: &str, did: &str, base: &str, facts: &SurveyFacts) -> String {
    let band = |pick: fn((f64, f64)) -> f64| {
        format!(
            "CASE colour WHEN 'R' THEN {} WHEN 'B' THEN {} ELSE CAST(NULL AS DOUBLE) END",
            number(facts.red.map(pick)),
            number(facts.blue.map(pick))
        )
    };
    let power = |b: Option<(f64, f64)>| number(b.map(|(lo, hi)| (lo + hi) / 2.0 / (hi - lo)));
    let corner = |c: &str, k: &str| format!("{c}['{k}']");
    let polygon = ["c1", "c2", "c3", "c4"]
        .iter()
        .map(|c| {
            format!(
                "CAST({} AS VARCHAR) || ' ' || CAST({} AS VARCHAR)",
                corner(c, "ra"),
                corner(c, "dec")
            )
        })
        .collect::<Vec<_>>()
        .join(" || ' ' || ");
    let radius = ["c1", "c2", "c3", "c4"]
        .iter()
        .map(|c| {
            format!(
                "ang_sep(ra_center, dec_center, {}, {})",
                corner(c, "ra"),
                corner(c, "dec")
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT 'image' AS dataproduct_type, \
         CAST(CASE code WHEN 'd' THEN 3 ELSE 1 END AS INT) AS calib_level, \
         {collection} AS obs_collection, file_name AS obs_id, \
         {did} || file_name AS obs_publisher_did, \
         {image_url} || {file} AS access_url, \
         'application/fits' AS access_format, \
         CAST(ceil(file_size / 1024.0) AS BIGINT) AS access_estsize, \
         field AS target_name, ra_center AS s_ra, dec_center AS s_dec, \
         2 * greatest({radius}) AS s_fov, \
         'POLYGON ICRS ' || {polygon} AS s_region, \
         3600 * ang_sep({c1ra}, {c1dec}, {c3ra}, {c3dec}) / sqrt(CAST(naxis1 * naxis1 + naxis2 * naxis2 AS DOUBLE)) AS s_resolution, \
         naxis1 AS s_xel1, naxis2 AS s_xel2, \
         mjd_obs AS t_min, mjd_obs + exptime / 86400.0 AS t_max, \
         exptime AS t_exptime, exptime AS t_resolution, CAST(1 AS BIGINT) AS t_xel, \
         {em_min} AS em_min, {em_max} AS em_max, \
         CASE colour WHEN 'R' THEN {red_power} WHEN 'B' THEN {blue_power} ELSE CAST(NULL AS DOUBLE) END AS em_res_power, \
         CAST(1 AS BIGINT) AS em_xel, 'phot.count' AS o_ucd, \
         CAST(NULL AS VARCHAR) AS pol_states, CAST(NULL AS BIGINT) AS pol_xel, \
         {facility} AS facility_name, {instrument} AS instrument_name \
         FROM (SELECT *, pix2sky(0.5, 0.5, wcs) AS c1, pix2sky(naxis1 + 0.5, 0.5, wcs) AS c2, \
               pix2sky(naxis1 + 0.5, naxis2 + 0.5, wcs) AS c3, pix2sky(0.5, naxis2 + 0.5, wcs) AS c4 \
               FROM images WHERE wcs IS NOT NULL)",
        collection = literal(survey),
        did = literal(did),
        image_url = literal(&format!("{base}/datalink/image?ID=")),
        file = url_value("file_name"),
        c1ra = corner("c1", "ra"),
        c1dec = corner("c1", "dec"),
        c3ra = corner("c3", "ra"),
        c3dec = corner("c3", "dec"),
        em_min = band(|b| b.0),
        em_max = band(|b| b.1),
        red_power = power(facts.red),
        blue_power = power(facts.blue),
        facility = facts
            .facility
            .map_or("CAST(NULL AS VARCHAR)".into(), literal),
        instrument = literal(&facts.instrument),
    )
}

/// The select list of the light-curve rows (stars joined with their field's time span).
fn lightcurve_rows(survey: &str, did: &str, base: &str, facts: &SurveyFacts) -> String {
    let both = match (facts.red, facts.blue) {
        (Some(r), Some(b)) => Some((r.0.min(b.0), r.1.max(b.1))),
        _ => None,
    };
    format!(
        "SELECT 'timeseries' AS dataproduct_type, CAST(2 AS INT) AS calib_level, \
         {collection} AS obs_collection, s.star_id AS obs_id, \
         {did} || s.star_id AS obs_publisher_did, \
         {links_url} || {star} AS access_url, \
         {datalink} AS access_format, \
         CAST(ceil((s.n_r + s.n_b) * 0.15) AS BIGINT) AS access_estsize, \
         s.star_id AS target_name, s.ra AS s_ra, s.dec AS s_dec, \
         CAST(NULL AS DOUBLE) AS s_fov, \
         'POSITION ICRS ' || CAST(s.ra AS VARCHAR) || ' ' || CAST(s.dec AS VARCHAR) AS s_region, \
         CAST(NULL AS DOUBLE) AS s_resolution, \
         CAST(NULL AS BIGINT) AS s_xel1, CAST(NULL AS BIGINT) AS s_xel2, \
         f.t_min AS t_min, f.t_max AS t_max, \
         CAST(NULL AS DOUBLE) AS t_exptime, CAST(NULL AS DOUBLE) AS t_resolution, \
         CAST(s.n_r + s.n_b AS BIGINT) AS t_xel, \
         {em_min} AS em_min, {em_max} AS em_max, CAST(NULL AS DOUBLE) AS em_res_power, \
         CAST(2 AS BIGINT) AS em_xel, 'phot.mag' AS o_ucd, \
         CAST(NULL AS VARCHAR) AS pol_states, CAST(NULL AS BIGINT) AS pol_xel, \
         {facility} AS facility_name, {instrument} AS instrument_name \
         FROM stars AS s LEFT JOIN {spans} AS f ON s.field = f.field \
         WHERE s.ra IS NOT NULL",
        collection = literal(survey),
        did = literal(did),
        links_url = literal(&format!("{base}/datalink/links?ID=")),
        star = url_value("s.star_id"),
        datalink = literal(DATALINK_MIME),
        spans = SPANS_TABLE,
        em_min = number(both.map(|b| b.0)),
        em_max = number(both.map(|b| b.1)),
        facility = facts
            .facility
            .map_or("CAST(NULL AS VARCHAR)".into(), literal),
        instrument = literal(&facts.instrument),
    )
}

/// Registers `ivoa.obscore` over the catalogue's `images` and `stars` (whichever it has),
/// with publisher DIDs `did_prefix` + id and links under `base_url`; `None` when the
/// catalogue has neither.
pub async fn register(
    ctx: &SessionContext,
    manifest: &Manifest,
    did_prefix: &str,
    base_url: &str,
) -> Result<Option<ObsCore>> {
    let facts = survey_facts(&manifest.survey);
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| anyhow::anyhow!("no default catalog"))?;
    for schema in [SCHEMA, "obscore_support"] {
        catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
    }
    let mut arms = Vec::new();
    if manifest.tables.contains_key("images") {
        arms.push(image_rows(&manifest.survey, did_prefix, base_url, &facts));
    }
    if manifest.tables.contains_key("stars") {
        let spans = field_spans(manifest);
        let schema = Arc::new(Schema::new(vec![
            Field::new("field", DataType::Utf8, false),
            Field::new("t_min", DataType::Float64, false),
            Field::new("t_max", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(spans.keys())),
                Arc::new(Float64Array::from_iter_values(spans.values().map(|s| s.0))),
                Arc::new(Float64Array::from_iter_values(spans.values().map(|s| s.1))),
            ],
        )?;
        ctx.register_table(
            SPANS_TABLE,
            Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
        )?;
        arms.push(lightcurve_rows(
            &manifest.survey,
            did_prefix,
            base_url,
            &facts,
        ));
    }
    if arms.is_empty() {
        return Ok(None);
    }
    // A catalogue written before a column the view reads (an older skyql's) is served
    // without ObsCore rather than not at all.
    let rows = match ctx.sql(&arms.join(" UNION ALL ")).await {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("skyql serve: no ivoa.obscore for this catalogue: {e}");
            return Ok(None);
        }
    };
    let described = COLUMNS
        .iter()
        .map(|&(name, unit, ucd, utype, description)| {
            // Every key set, empty ones too: an alias keeps its source column's metadata
            // (`naxis1`'s unit `pix`) where it sets none.
            let xtype = if name == "s_region" {
                "adql:REGION"
            } else {
                ""
            };
            let meta = HashMap::from([
                ("ucd".to_string(), ucd.to_string()),
                ("utype".to_string(), utype.to_string()),
                ("description".to_string(), description.to_string()),
                ("unit".to_string(), unit.to_string()),
                ("xtype".to_string(), xtype.to_string()),
            ]);
            col(name).alias_with_metadata(name, Some(FieldMetadata::from(meta)))
        })
        .collect::<Vec<_>>();
    let view = rows.select(described)?.into_view();
    let arrow: Schema = view.schema().as_ref().clone();
    ctx.register_table(format!("{SCHEMA}.{TABLE}").as_str(), view)?;
    let margin_deg = largest_image_radius(ctx).await? + MARGIN_SLACK;
    Ok(Some(ObsCore {
        margin_deg,
        published: PublishedTable {
            schema: SCHEMA.into(),
            name: TABLE.into(),
            description: super::tap_schema::description(TABLE).into(),
            columns: ExportLayout::new(&arrow).columns,
        },
    }))
}

/// Half the largest `s_fov` of the table (0 without images).
async fn largest_image_radius(ctx: &SessionContext) -> Result<f64> {
    let batches = ctx
        .sql(&format!(
            "SELECT max(s_fov) / 2 AS r FROM {SCHEMA}.{TABLE} WHERE dataproduct_type = 'image'"
        ))
        .await?
        .collect()
        .await?;
    let radius = batches
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<Float64Array>().cloned())
        .and_then(|a| (a.len() == 1 && !a.is_null(0)).then(|| a.value(0)));
    Ok(radius.unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_mandatory_columns_each_with_ucd_and_utype() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 30);
        assert!(
            COLUMNS
                .iter()
                .all(|c| !c.2.is_empty() && c.3.starts_with("obscore:"))
        );
    }

    #[tokio::test]
    async fn a_catalogue_without_the_columns_read_is_served_without_obscore() {
        // An `images` table of an older skyql: no centre, size or WCS columns.
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "file_name",
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["a.fits"]))],
        )
        .unwrap();
        ctx.register_table(
            "images",
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
        let manifest: Manifest = serde_json::from_str(
            r#"{"format": "skyql-catalog", "schema_version": 2, "writer": "old", "survey": "EROS-2",
                "version": 1, "version_dir": "v000001", "input_files": 0, "input_bytes": 0,
                "runs": [], "tables": {"images": {"path": "images.parquet", "rows": 1,
                "files": 1, "partition_columns": [], "data_files": []}}}"#,
        )
        .unwrap();
        let obscore = register(&ctx, &manifest, "ivo://x/eros2?", "http://h")
            .await
            .unwrap();
        assert!(obscore.is_none());
        assert!(ctx.table("ivoa.obscore").await.is_err());
    }

    #[test]
    fn identifiers_are_encoded_in_urls() {
        assert_eq!(
            url_value("x"),
            "replace(replace(replace(replace(replace(replace(x, '%', '%25'), '&', '%26'), '+', '%2B'), '#', '%23'), ' ', '%20'), '=', '%3D')"
        );
        assert_eq!(literal("it's"), "'it''s'");
    }
}
