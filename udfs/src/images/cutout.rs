//! `cutout(path, ra, dec, size_pix [, name])`: the `size_pix` x `size_pix` region of an
//! image centred on (ra, dec), as a new FITS file whose WCS keeps every pixel's sky
//! position (CRPIX shifted; SIP, TPV and ZPN terms are relative to CRPIX and unchanged).
//!
//! Only the region is read (cfitsio `fits_read_subset`). The source header is copied
//! (photometric keywords included; an extension's inherited primary keywords too), with
//! provenance added: SRCFILE, SRCHDU, SRCREGN (the source pixels), CUT_RA, CUT_DEC and
//! PADDED. A cutout partly off the image is padded with NaN (BLANK for integer images)
//! and PADDED = T; one entirely off gives NULL and a line on standard error.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

use super::fits_io::{KeyValue, SourceImage, copied_records, write_image};
use super::output::{ImageOutput, write_atomically};
use super::run_rows;
use crate::functions::args::{arrays, float, text};
use crate::wcs::Wcs;

image_function_struct! {
    /// The `cutout` function.
    Cutout,
    "cutout"
}

struct Job {
    path: String,
    ra: f64,
    dec: f64,
    size: i64,
    name: String,
}

impl ScalarUDFImpl for Cutout {
    crate::function_basics!("cutout");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "cutout", &[4, 5])?;
        let paths = text(&a[0], "cutout", "the image path")?;
        let ra = float(&a[1], "cutout", "ra")?;
        let dec = float(&a[2], "cutout", "dec")?;
        let size = float(&a[3], "cutout", "size_pix")?;
        let names = a
            .get(4)
            .map(|n| text(n, "cutout", "the name"))
            .transpose()?;
        let jobs: Vec<Option<Job>> = (0..paths.len())
            .map(|i| {
                if paths.is_null(i) || ra.is_null(i) || dec.is_null(i) || size.is_null(i) {
                    return None;
                }
                let path = paths.value(i).to_string();
                let (r, d, s) = (ra.value(i), dec.value(i), size.value(i));
                let name = match &names {
                    Some(n) if !n.is_null(i) => n.value(i).to_string(),
                    _ => default_name(&path, r, d, s as i64),
                };
                Some(Job {
                    path,
                    ra: r,
                    dec: d,
                    size: s as i64,
                    name,
                })
            })
            .collect();
        let root = &self.output;
        let out = run_rows(
            "cutout",
            root.concurrency,
            &jobs,
            |j| format!("{} at {} {}", j.path, j.ra, j.dec),
            |j| make_cutout(root, j),
        );
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

fn default_name(path: &str, ra: f64, dec: f64, size: i64) -> String {
    let stem = Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    format!("cutouts/{stem}_{ra:.5}_{dec:+.5}_{size}.fits")
}

fn make_cutout(root: &ImageOutput, j: &Job) -> Result<Option<String>, String> {
    if !(1..=100_000).contains(&j.size) {
        return Err(format!("size_pix {} is not between 1 and 100000", j.size));
    }
    let source_path = root.input_path(&j.path);
    let source = SourceImage::open(&source_path)?;
    let region = region_around(&source, j.ra, j.dec, j.size)?;
    if !overlaps(&source, region) {
        let [x0, x1, y0, y1] = region;
        let [n1, n2] = source.naxis;
        return Err(format!(
            "entirely off the image: region [{x0}:{x1},{y0}:{y1}] of a {n1} x {n2} image"
        ));
    }
    let target = root.resolve(&j.name)?;
    write_atomically(&target, root.overwrite, |tmp| {
        write_cutout(&source, &source_path, region, Some((j.ra, j.dec)), tmp)
    })?;
    Ok(Some(target.to_string_lossy().into_owned()))
}

/// The pixel (1-based, fractional) of a sky position through the image's WCS.
pub fn pixel_of(source: &SourceImage, ra: f64, dec: f64) -> Result<(f64, f64), String> {
    let wcs = Wcs::from_cards(&source.cards)
        .map_err(|e| format!("no usable WCS: {e}"))?
        .prepare()
        .map_err(|e| format!("no usable WCS: {e}"))?;
    let (px, py) = wcs
        .sky2pix(ra, dec)
        .ok_or("the position has no pixel in this projection")?;
    if !px.is_finite() || !py.is_finite() {
        return Err("the position has no pixel in this projection".into());
    }
    Ok((px, py))
}

/// The `size` x `size` region ([x0, x1, y0, y1], 1-based, inclusive) centred on (ra, dec).
pub fn region_around(
    source: &SourceImage,
    ra: f64,
    dec: f64,
    size: i64,
) -> Result<[i64; 4], String> {
    let (px, py) = pixel_of(source, ra, dec)?;
    let x0 = px.round() as i64 - size / 2;
    let y0 = py.round() as i64 - size / 2;
    Ok([x0, x0 + size - 1, y0, y0 + size - 1])
}

/// Whether a region shares a pixel with the image.
pub fn overlaps(source: &SourceImage, [x0, x1, y0, y1]: [i64; 4]) -> bool {
    let [n1, n2] = source.naxis;
    !(x1 < 1 || y1 < 1 || x0 > n1 || y0 > n2)
}

/// Writes the cutout of `region` ([x0, x1, y0, y1], 1-based, inclusive; padded with
/// nulls where it leaves the image) of `source` to the new file `target`: the source's
/// header with CRPIX shifted, and the provenance (`centre`, when a position asked for it,
/// as CUT_RA and CUT_DEC).
pub fn write_cutout(
    source: &SourceImage,
    source_path: &Path,
    region: [i64; 4],
    centre: Option<(f64, f64)>,
    target: &Path,
) -> Result<(), String> {
    let [x0, x1, y0, y1] = region;
    let [n1, n2] = source.naxis;
    let padded = x0 < 1 || y0 < 1 || x1 > n1 || y1 > n2;
    let (mut pixels, blank) = source.read_region(x0, x1, y0, y1)?;
    let shifted = |k: &str| matches!(k, "CRPIX1" | "CRPIX2" | "LTV1" | "LTV2");
    let records = copied_records(&source.cards, shifted);
    let mut keys = shifted_keys(source, (x0 - 1) as f64, (y0 - 1) as f64);
    if let Some(b) = blank.filter(|_| padded || source.scale().blank.is_some()) {
        keys.push((
            "BLANK".into(),
            KeyValue::Integer(b),
            "stored value of undefined pixels".into(),
        ));
    }
    keys.extend(provenance(source_path, source, region, centre, padded));
    write_image(
        target,
        [x1 - x0 + 1, y1 - y0 + 1],
        &mut pixels,
        &records,
        &keys,
    )
}

/// CRPIX and IRAF's LTV moved by the cutout's origin (dx, dy): every pixel keeps its
/// sky position. No CRPIX in the source means 0 (FITS WCS paper I).
fn shifted_keys(source: &SourceImage, dx: f64, dy: f64) -> Vec<(String, KeyValue, String)> {
    let shifted = |k: &str| matches!(k, "CRPIX1" | "CRPIX2" | "LTV1" | "LTV2");
    let mut keys = Vec::new();
    for c in source.cards.iter().filter(|c| shifted(&c.keyword)) {
        let d = if c.keyword.ends_with('1') { dx } else { dy };
        if let Some(v) = c.value.as_f64() {
            keys.push((c.keyword.clone(), KeyValue::Real(v - d), c.comment.clone()));
        }
    }
    for (k, d) in [("CRPIX1", dx), ("CRPIX2", dy)] {
        if !keys.iter().any(|(key, _, _)| key == k) {
            keys.push((k.into(), KeyValue::Real(-d), "reference pixel".into()));
        }
    }
    keys
}

/// Where the cutout comes from: file, HDU, region, requested centre, padding.
fn provenance(
    source_path: &std::path::Path,
    source: &SourceImage,
    [x0, x1, y0, y1]: [i64; 4],
    centre: Option<(f64, f64)>,
    padded: bool,
) -> Vec<(String, KeyValue, String)> {
    let mut keys = vec![
        (
            "SRCFILE".into(),
            KeyValue::Text(source_path.to_string_lossy().into_owned()),
            "image this cutout comes from".into(),
        ),
        (
            "SRCHDU".into(),
            KeyValue::Integer(source.hdu as i64 + 1),
            "HDU of the source image (1 = primary)".into(),
        ),
        (
            "SRCREGN".into(),
            KeyValue::Text(format!("[{x0}:{x1},{y0}:{y1}]")),
            "source pixels of this cutout (1-based)".into(),
        ),
        (
            "PADDED".into(),
            KeyValue::Logical(padded),
            if padded {
                "partly off the source image: null pixels added"
            } else {
                "entirely inside the source image"
            }
            .into(),
        ),
    ];
    if let Some((ra, dec)) = centre {
        keys.push((
            "CUT_RA".into(),
            KeyValue::Real(ra),
            "[deg] requested centre, right ascension".into(),
        ));
        keys.push((
            "CUT_DEC".into(),
            KeyValue::Real(dec),
            "[deg] requested centre, declination".into(),
        ));
    }
    keys
}
