//! The `stars` table: one row per object, merged colour by colour across ingests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int32Array, Int32Builder, Int64Array,
    Int64Builder, StringArray, StringBuilder,
};
use datafusion::arrow::record_batch::RecordBatch;
use skyql_udfs::functions::{MAX_ORDER, healpix_nested};
use skyql_udfs::wcs::PreparedWcs;

use super::lightcurve::{LightCurve, colour_index};
use crate::schema::stars_file_schema;

/// Position source written when ra/dec come from the light-curve header.
pub const HEADER_POSITION: &str = "light-curve header";

/// A reference image: its WCS, path and size.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Its WCS, prepared.
    pub wcs: PreparedWcs,
    /// Its path.
    pub path: String,
    /// NAXIS1, NAXIS2.
    pub naxis: [i64; 2],
}

impl Reference {
    /// Whether the pixel (x, y) (FITS, 1-based) lies on the image.
    pub fn covers(&self, x: f64, y: f64) -> bool {
        (0.5..=self.naxis[0] as f64 + 0.5).contains(&x)
            && (0.5..=self.naxis[1] as f64 + 0.5).contains(&y)
    }
}

/// How a star got (or did not get) its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// From the reference image of its quarter.
    Reference,
    /// From its light-curve header (MACHO).
    Header,
    /// Its pixel position is outside the reference image of its quarter: no position.
    OutsideImage,
    /// No reference image for its quarter: no position.
    None,
    /// Its file gives neither a CCD quarter nor a position (OGLE, MOA, ...): no position.
    NoGeometry,
}

/// Per-colour part of a star.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColourPart {
    /// Reference-image pixel position.
    pub xy: Option<(f64, f64)>,
    /// Measurements written.
    pub n: i64,
    /// Mean magnitude of those.
    pub mean_mag: Option<f64>,
    /// Header magnitude.
    pub header_mag: Option<f64>,
}

/// One row of `stars`.
#[derive(Debug, Clone, PartialEq)]
pub struct StarRecord {
    /// Identifier.
    pub star_id: String,
    /// Field.
    pub field: String,
    /// Survey.
    pub survey: String,
    /// CCD.
    pub ccd: Option<i32>,
    /// Quarter.
    pub quarter: Option<String>,
    /// Red and blue parts.
    pub colours: [ColourPart; 2],
    /// Position, degrees.
    pub radec: Option<(f64, f64)>,
    /// Where the position comes from.
    pub position_source: Option<String>,
    /// Files read.
    pub sources: BTreeSet<String>,
}

impl StarRecord {
    /// The record a light curve gives.
    pub fn from_lightcurve(lc: &LightCurve) -> Self {
        let mut colours: [ColourPart; 2] = Default::default();
        for &c in &lc.colours {
            let i = colour_index(c);
            let mags: Vec<f64> = lc
                .points
                .iter()
                .filter(|p| p.colour == c && !p.mag.is_nan())
                .map(|p| p.mag as f64)
                .collect();
            colours[i] = ColourPart {
                xy: lc.header[i].xy,
                n: lc.points.iter().filter(|p| p.colour == c).count() as i64,
                mean_mag: (!mags.is_empty()).then(|| mags.iter().sum::<f64>() / mags.len() as f64),
                header_mag: lc.header[i].mag,
            };
        }
        StarRecord {
            star_id: lc.star_id.clone(),
            field: lc.field.clone(),
            survey: lc.survey.to_string(),
            ccd: lc.parts.as_ref().map(|p| p.ccd),
            quarter: lc.parts.as_ref().map(|p| p.quarter.clone()),
            colours,
            radec: lc.header_radec,
            position_source: lc.header_radec.map(|_| HEADER_POSITION.to_string()),
            sources: [lc.source.clone()].into(),
        }
    }

    /// Takes the colours that `newer` provides from it (a newer input replaces them).
    pub fn merge(&mut self, newer: StarRecord, provided: &[u8]) {
        for &c in provided {
            let i = colour_index(c);
            self.colours[i] = newer.colours[i].clone();
        }
        if newer.position_source.as_deref() == Some(HEADER_POSITION) {
            self.radec = newer.radec;
            self.position_source = newer.position_source;
        }
        self.survey = newer.survey;
        self.ccd = newer.ccd.or(self.ccd);
        self.quarter = newer.quarter.or(self.quarter.take());
        self.sources.extend(newer.sources);
    }

    /// Places the star through the reference image of its quarter (red first, then blue),
    /// if its pixel position lies on that image; a star whose position came from its
    /// light-curve header keeps it.
    pub fn locate(
        &mut self,
        references: &HashMap<(String, i32, String, u8), Reference>,
    ) -> Placement {
        let keeps_header = self.position_source.as_deref() == Some(HEADER_POSITION);
        let (Some(ccd), Some(quarter)) = (self.ccd, self.quarter.clone()) else {
            return if keeps_header && self.radec.is_some() {
                Placement::Header
            } else {
                Placement::NoGeometry
            };
        };
        let mut outside = false;
        for colour in [b'R', b'B'] {
            let part = &self.colours[colour_index(colour)];
            let Some((x, y)) = part.xy else { continue };
            let key = (self.field.clone(), ccd, quarter.clone(), colour);
            let Some(reference) = references.get(&key) else {
                continue;
            };
            if !reference.covers(x, y) {
                outside = true;
                continue;
            }
            if let Some(radec) = reference.wcs.pix2sky(x, y) {
                self.radec = Some(radec);
                self.position_source = Some(reference.path.clone());
                return Placement::Reference;
            }
        }
        if keeps_header && self.radec.is_some() {
            return Placement::Header;
        }
        self.radec = None;
        self.position_source = None;
        if outside {
            Placement::OutsideImage
        } else {
            Placement::None
        }
    }
}

/// Builds a `stars` batch (one field's rows), sorted by HEALPix index (stars without a
/// position last, by star id) so that row-group statistics on `healpix` prune cone
/// searches.
pub fn stars_batch(records: &BTreeMap<String, StarRecord>) -> Result<RecordBatch> {
    let mut star = StringBuilder::new();
    let mut survey = StringBuilder::new();
    let mut ccd = Int32Builder::new();
    let mut quarter = StringBuilder::new();
    let mut floats: Vec<Float64Builder> = (0..8).map(|_| Float64Builder::new()).collect();
    let mut healpix = Int64Builder::new();
    let mut source_pos = StringBuilder::new();
    let mut n_r = Int64Builder::new();
    let mut n_b = Int64Builder::new();
    let mut means: Vec<Float64Builder> = (0..4).map(|_| Float64Builder::new()).collect();
    let mut source = StringBuilder::new();
    let cell = |r: &StarRecord| {
        r.radec
            .and_then(|(ra, dec)| healpix_nested(ra, dec, MAX_ORDER))
            .map(|h| h as i64)
    };
    let mut ordered: Vec<(Option<i64>, &StarRecord)> =
        records.values().map(|r| (cell(r), r)).collect();
    ordered.sort_by_key(|(h, r)| (h.is_none(), *h, r.star_id.as_str()));
    for (h, r) in ordered {
        star.append_value(&r.star_id);
        survey.append_value(&r.survey);
        ccd.append_option(r.ccd);
        quarter.append_option(r.quarter.as_deref());
        let [red, blue] = &r.colours;
        let main = red.xy.or(blue.xy);
        let v = [
            main.map(|p| p.0),
            main.map(|p| p.1),
            red.xy.map(|p| p.0),
            red.xy.map(|p| p.1),
            blue.xy.map(|p| p.0),
            blue.xy.map(|p| p.1),
            r.radec.map(|p| p.0),
            r.radec.map(|p| p.1),
        ];
        for (b, x) in floats.iter_mut().zip(v) {
            b.append_option(x);
        }
        healpix.append_option(h);
        source_pos.append_option(r.position_source.as_deref());
        n_r.append_value(red.n);
        n_b.append_value(blue.n);
        for (b, x) in
            means
                .iter_mut()
                .zip([red.mean_mag, blue.mean_mag, red.header_mag, blue.header_mag])
        {
            b.append_option(x);
        }
        source.append_value(r.sources.iter().cloned().collect::<Vec<_>>().join(";"));
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(star.finish()),
        Arc::new(survey.finish()),
        Arc::new(ccd.finish()),
        Arc::new(quarter.finish()),
    ];
    columns.extend(floats.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(healpix.finish()));
    columns.push(Arc::new(source_pos.finish()));
    columns.push(Arc::new(n_r.finish()));
    columns.push(Arc::new(n_b.finish()));
    columns.extend(means.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(source.finish()));
    Ok(RecordBatch::try_new(stars_file_schema(), columns)?)
}

/// Reads `stars` rows of one field back into records.
pub fn stars_from_batch(field: &str, batch: &RecordBatch) -> Result<Vec<StarRecord>> {
    let s = |name: &str| -> Result<StringArray> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
            .with_context(|| format!("stars file: column {name} missing or not Utf8"))
    };
    let f = |name: &str| -> Result<Float64Array> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned())
            .with_context(|| format!("stars file: column {name} missing or not Float64"))
    };
    let i64c = |name: &str| -> Result<Int64Array> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
            .with_context(|| format!("stars file: column {name} missing or not Int64"))
    };
    let ccd = batch
        .column_by_name("ccd")
        .and_then(|c| c.as_any().downcast_ref::<Int32Array>().cloned())
        .context("stars file: column ccd missing")?;
    let (star, survey, quarter, pos, source) = (
        s("star_id")?,
        s("survey")?,
        s("quarter")?,
        s("position_source")?,
        s("source")?,
    );
    let (xr, yr, xb, yb, ra, dec) = (
        f("x_r")?,
        f("y_r")?,
        f("x_b")?,
        f("y_b")?,
        f("ra")?,
        f("dec")?,
    );
    let (mr, mb, hr, hb) = (
        f("mean_mag_r")?,
        f("mean_mag_b")?,
        f("header_mag_r")?,
        f("header_mag_b")?,
    );
    let (nr, nb) = (i64c("n_r")?, i64c("n_b")?);
    let opt = |a: &Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    let pair = |a: &Float64Array, b: &Float64Array, i: usize| opt(a, i).zip(opt(b, i));
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        out.push(StarRecord {
            star_id: star.value(i).to_string(),
            field: field.to_string(),
            survey: survey.value(i).to_string(),
            ccd: (!ccd.is_null(i)).then(|| ccd.value(i)),
            quarter: (!quarter.is_null(i)).then(|| quarter.value(i).to_string()),
            colours: [
                ColourPart {
                    xy: pair(&xr, &yr, i),
                    n: nr.value(i),
                    mean_mag: opt(&mr, i),
                    header_mag: opt(&hr, i),
                },
                ColourPart {
                    xy: pair(&xb, &yb, i),
                    n: nb.value(i),
                    mean_mag: opt(&mb, i),
                    header_mag: opt(&hb, i),
                },
            ],
            radec: pair(&ra, &dec, i),
            position_source: (!pos.is_null(i)).then(|| pos.value(i).to_string()),
            sources: source.value(i).split(';').map(str::to_string).collect(),
        });
    }
    Ok(out)
}
