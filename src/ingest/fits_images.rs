//! FITS image headers to rows of the `images` table.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, MapBuilder, MapFieldNames, StringArray,
    StringBuilder,
};
use datafusion::arrow::record_batch::RecordBatch;
use skyql_udfs::fits_card::{Card, CardValue};
use skyql_udfs::fits_header::read_image_header;
use skyql_udfs::wcs::Wcs;
use skyql_udfs::wcs::arrow_struct::wcs_to_array;

use super::rejects::Reject;
use crate::conventions::{Conventions, ImageName};
use crate::schema::images_schema;
use skyql_udfs::time::iso_to_mjd;

/// One row of `images`.
#[derive(Debug, Clone)]
pub struct ImageRow {
    /// Absolute path.
    pub path: String,
    /// File name.
    pub file_name: String,
    /// Fields parsed from the name.
    pub name: ImageName,
    /// HDU number holding the image (1 = primary).
    pub hdu: i32,
    /// MJD-OBS, or from DATE-OBS / JD.
    pub mjd_obs: Option<f64>,
    /// EXPTIME (or EXPOSURE).
    pub exptime: Option<f64>,
    /// AIRMASS.
    pub airmass: Option<f64>,
    /// GAIN.
    pub gain: Option<f64>,
    /// NAXIS1, NAXIS2.
    pub naxis: [i64; 2],
    /// Image centre through the WCS.
    pub centre: Option<(f64, f64)>,
    /// The WCS, when the header has a readable one.
    pub wcs: Option<Wcs>,
    /// Why the WCS or the position is not usable.
    pub wcs_problem: Option<String>,
    /// File size.
    pub file_size: i64,
    /// Header cards (keyword -> value; repeated commentary keywords joined by newlines).
    pub header: BTreeMap<String, String>,
}

/// Reads the header of the first 2-D image HDU of `path` (primary or extension; an
/// extension inherits the primary header's keywords it does not set).
///
/// Unreadable, non-FITS and truncated files are rejected; a missing or unusable WCS is a
/// warning (the row is written with `wcs` or the centre null and `wcs_problem` set).
pub fn read_image(
    path: &Path,
    file_size: u64,
    conventions: &Conventions,
) -> Result<(ImageRow, Vec<Reject>), Reject> {
    let header =
        read_image_header(path, None).map_err(|e| Reject::rejected(path, e.location, e.reason))?;
    let (index, naxis, all_cards) = (header.index, header.naxis, header.cards);
    let location = format!("HDU {}", index + 1);
    let mut warnings = Vec::new();
    let number = |k: &str| {
        all_cards
            .iter()
            .find(|c| c.keyword == k)
            .and_then(|c| c.value.as_f64())
    };
    let text = |k: &str| {
        all_cards
            .iter()
            .find(|c| c.keyword == k)
            .and_then(|c| c.value.as_str().map(str::to_string))
    };
    let mjd_obs = number("MJD-OBS")
        .or_else(|| text("DATE-OBS").and_then(|d| iso_to_mjd(&d)))
        .or_else(|| number("JD").map(|jd| jd - 2_400_000.5));
    let (wcs, centre, wcs_problem) = read_wcs(&all_cards, naxis);
    // A header without any WCS (EROS-2 current images) is normal: `wcs_problem` says so
    // in the table. A WCS that is present but unusable is a warning.
    if let Some(problem) = &wcs_problem
        && has_wcs_keywords(&all_cards)
    {
        warnings.push(Reject::warning(path, &location, problem.clone()));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok((
        ImageRow {
            path: crate::ingest::path_text::path_text(path),
            name: conventions.parse_image_name(&file_name),
            file_name,
            hdu: index as i32 + 1,
            mjd_obs,
            exptime: number("EXPTIME").or_else(|| number("EXPOSURE")),
            airmass: number("AIRMASS"),
            gain: number("GAIN"),
            naxis,
            centre,
            wcs,
            wcs_problem,
            file_size: file_size as i64,
            header: header_map(&all_cards),
        },
        warnings,
    ))
}

fn has_wcs_keywords(cards: &[Card]) -> bool {
    cards
        .iter()
        .any(|c| c.keyword == "CTYPE1" || c.keyword == "CRVAL1")
}

/// The WCS, the image centre and, if either is unusable, why.
fn read_wcs(cards: &[Card], naxis: [i64; 2]) -> (Option<Wcs>, Option<(f64, f64)>, Option<String>) {
    if !has_wcs_keywords(cards) {
        return (
            None,
            None,
            Some("no WCS in the header (no CTYPE1/CRVAL1): position unknown".into()),
        );
    }
    let wcs = match Wcs::from_cards(cards) {
        Ok(w) => w,
        Err(e) => return (None, None, Some(format!("unusable WCS: {e}"))),
    };
    if wcs.crval == [0.0, 0.0] {
        return (
            Some(wcs),
            None,
            Some(
                "CRVAL1/CRVAL2 are 0/0, a placeholder rather than a position: centre not stored"
                    .into(),
            ),
        );
    }
    let centre = wcs
        .prepare()
        .map_err(|e| format!("WCS not supported: {e}"))
        .and_then(|p| {
            p.pix2sky((naxis[0] as f64 + 1.0) / 2.0, (naxis[1] as f64 + 1.0) / 2.0)
                .ok_or_else(|| "the image centre is off the sky through its WCS".to_string())
        });
    match centre {
        Ok(c) => (Some(wcs), Some(c), None),
        Err(problem) => (Some(wcs), None, Some(problem)),
    }
}

fn header_map(cards: &[Card]) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for c in cards {
        let value = match &c.value {
            CardValue::Undefined => c.comment.clone(),
            v => v.to_string(),
        };
        let key = if c.keyword.is_empty() {
            "COMMENT".to_string()
        } else {
            c.keyword.clone()
        };
        map.entry(key)
            .and_modify(|e| {
                e.push('\n');
                e.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

/// Builds an `images` batch.
pub fn images_batch(rows: &[ImageRow]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&ImageRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let int32 = |f: &dyn Fn(&ImageRow) -> Option<i32>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Int32Array>())
    };
    let int64 = |f: &dyn Fn(&ImageRow) -> Option<i64>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Int64Array>())
    };
    let float = |f: &dyn Fn(&ImageRow) -> Option<f64>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Float64Array>())
    };
    let wcs: Vec<Option<Wcs>> = rows.iter().map(|r| r.wcs.clone()).collect();
    let columns: Vec<ArrayRef> = vec![
        text(&|r| Some(&r.path)),
        text(&|r| Some(&r.file_name)),
        text(&|r| r.name.field.as_deref()),
        int32(&|r| r.name.camera),
        text(&|r| r.name.colour.as_deref()),
        int32(&|r| r.name.ccd),
        text(&|r| r.name.quarter.as_deref()),
        text(&|r| r.name.code.as_deref()),
        text(&|r| r.name.exposure.as_deref()),
        int32(&|r| Some(r.hdu)),
        float(&|r| r.mjd_obs),
        float(&|r| r.exptime),
        float(&|r| r.airmass),
        float(&|r| r.gain),
        int64(&|r| Some(r.naxis[0])),
        int64(&|r| Some(r.naxis[1])),
        float(&|r| r.centre.map(|c| c.0)),
        float(&|r| r.centre.map(|c| c.1)),
        wcs_to_array(&wcs),
        text(&|r| r.wcs_problem.as_deref()),
        int64(&|r| Some(r.file_size)),
        header_column(rows)?,
    ];
    Ok(RecordBatch::try_new(images_schema(), columns)?)
}

/// The `header` map column: every card of each image.
fn header_column(rows: &[ImageRow]) -> Result<ArrayRef> {
    let names = MapFieldNames {
        entry: "entries".into(),
        key: "keys".into(),
        value: "values".into(),
    };
    let mut header = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new());
    for r in rows {
        for (k, v) in &r.header {
            header.keys().append_value(k);
            header.values().append_value(v);
        }
        header.append(true)?;
    }
    Ok(Arc::new(header.finish()))
}
