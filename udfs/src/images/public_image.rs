//! `public_image(path, wcs [, name [, wcs_source]])`: the image at `path` rewritten with
//! the given WCS and the public keywords, for a data release.
//!
//! The pixels are copied as stored. The source's WCS keywords are removed and the given
//! WCS written (CTYPE, CRVAL, CRPIX, CD, LONPOLE/LATPOLE, RADESYS, EQUINOX and its PV or
//! SIP terms); the other keywords (telescope, instrument, DATE-OBS, MJD-OBS, EXPTIME,
//! FILTER, GAIN, BUNIT...) are kept, and ORIGIN, DATE, SRCFILE (the source) and WCSSRC
//! (where the WCS comes from, e.g. the reference quarter) are set. The default name is
//! `public/` and the source's file name, which keeps the survey's naming convention.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

use super::fits_io::{KeyValue, SourceImage, copied_records, write_image};
use super::output::{ImageOutput, write_atomically};
use super::run_rows;
use crate::functions::args::{arrays, text};
use crate::wcs::Wcs;
use crate::wcs::arrow_struct::wcs_from_array;

image_function_struct! {
    /// The `public_image` function.
    PublicImage,
    "public_image"
}

struct Job {
    path: String,
    wcs: Wcs,
    name: String,
    wcs_source: Option<String>,
}

/// Whether a keyword belongs to a celestial WCS (removed before the new one is written).
pub fn is_wcs_keyword(k: &str) -> bool {
    const PREFIXES: [&str; 15] = [
        "CTYPE", "CRVAL", "CRPIX", "CD1_", "CD2_", "PC1_", "PC2_", "CDELT", "CROTA", "PV", "A_",
        "B_", "AP_", "BP_", "CUNIT",
    ];
    PREFIXES.iter().any(|p| k.starts_with(p))
        || matches!(
            k,
            "LONPOLE" | "LATPOLE" | "RADESYS" | "RADECSYS" | "EQUINOX" | "EPOCH" | "WCSAXES"
        )
}

/// The keywords of a WCS, to write into a header.
pub fn wcs_keys(w: &Wcs) -> Vec<(String, KeyValue, String)> {
    let mut keys = vec![
        ("CTYPE1".into(), KeyValue::Text(w.ctype1.clone()), "".into()),
        ("CTYPE2".into(), KeyValue::Text(w.ctype2.clone()), "".into()),
        ("CRVAL1".into(), KeyValue::Real(w.crval[0]), "[deg]".into()),
        ("CRVAL2".into(), KeyValue::Real(w.crval[1]), "[deg]".into()),
        ("CRPIX1".into(), KeyValue::Real(w.crpix[0]), "".into()),
        ("CRPIX2".into(), KeyValue::Real(w.crpix[1]), "".into()),
        (
            "CD1_1".into(),
            KeyValue::Real(w.cd[0][0]),
            "[deg/pixel]".into(),
        ),
        (
            "CD1_2".into(),
            KeyValue::Real(w.cd[0][1]),
            "[deg/pixel]".into(),
        ),
        (
            "CD2_1".into(),
            KeyValue::Real(w.cd[1][0]),
            "[deg/pixel]".into(),
        ),
        (
            "CD2_2".into(),
            KeyValue::Real(w.cd[1][1]),
            "[deg/pixel]".into(),
        ),
    ];
    for (k, v) in [
        ("LONPOLE", w.lonpole),
        ("LATPOLE", w.latpole),
        ("EQUINOX", w.equinox),
    ] {
        if let Some(v) = v {
            keys.push((k.into(), KeyValue::Real(v), "".into()));
        }
    }
    if let Some(r) = &w.radesys {
        keys.push(("RADESYS".into(), KeyValue::Text(r.clone()), "".into()));
    }
    for (k, v) in &w.terms {
        let value = if k.ends_with("ORDER") && v.fract() == 0.0 {
            KeyValue::Integer(*v as i64)
        } else {
            KeyValue::Real(*v)
        };
        keys.push((k.clone(), value, "".into()));
    }
    keys
}

impl ScalarUDFImpl for PublicImage {
    crate::function_basics!("public_image");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "public_image", &[2, 3, 4])?;
        let paths = text(&a[0], "public_image", "the image path")?;
        let Some(wcs) = a[1].as_struct_opt() else {
            return exec_err!("public_image: the second argument must be a wcs struct");
        };
        let names = a
            .get(2)
            .map(|n| text(n, "public_image", "the name"))
            .transpose()?;
        let sources = a
            .get(3)
            .map(|n| text(n, "public_image", "the WCS source"))
            .transpose()?;
        let mut jobs = Vec::with_capacity(paths.len());
        for i in 0..paths.len() {
            if paths.is_null(i) || wcs.is_null(i) {
                jobs.push(None);
                continue;
            }
            let Some(w) = wcs_from_array(wcs, i)? else {
                jobs.push(None);
                continue;
            };
            let path = paths.value(i).to_string();
            let name = match &names {
                Some(n) if !n.is_null(i) => n.value(i).to_string(),
                _ => format!(
                    "public/{}",
                    Path::new(&path)
                        .file_name()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "image.fits".into())
                ),
            };
            let wcs_source = sources
                .as_ref()
                .filter(|s| !s.is_null(i))
                .map(|s| s.value(i).to_string());
            jobs.push(Some(Job {
                path,
                wcs: w,
                name,
                wcs_source,
            }));
        }
        let root = &self.output;
        let out = run_rows(
            "public_image",
            root.concurrency,
            &jobs,
            |j| j.path.clone(),
            |j| make_public_image(root, j),
        );
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

fn make_public_image(root: &ImageOutput, j: &Job) -> Result<Option<String>, String> {
    j.wcs
        .prepare()
        .map_err(|e| format!("the given WCS is not usable: {e}"))?;
    let source_path = root.input_path(&j.path);
    let source = SourceImage::open(&source_path)?;
    let mut pixels = source.read_all()?;
    let records = copied_records(&source.cards, |k| {
        is_wcs_keyword(k) || matches!(k, "ORIGIN" | "DATE")
    });
    let mut keys = vec![
        (
            "ORIGIN".into(),
            KeyValue::Text("skyql".into()),
            "software that wrote this public image".into(),
        ),
        (
            "DATE".into(),
            KeyValue::Text(utc_now()),
            "UTC date of writing".into(),
        ),
    ];
    if let Some(b) = source.scale().blank {
        keys.push(("BLANK".into(), KeyValue::Integer(b), "".into()));
    }
    keys.extend(wcs_keys(&j.wcs));
    keys.push((
        "SRCFILE".into(),
        KeyValue::Text(source_path.to_string_lossy().into_owned()),
        "image whose pixels these are".into(),
    ));
    keys.push((
        "WCSSRC".into(),
        KeyValue::Text(
            j.wcs_source
                .clone()
                .unwrap_or_else(|| "given to public_image".into()),
        ),
        "where this WCS comes from".into(),
    ));
    let target = root.resolve(&j.name)?;
    write_atomically(&target, root.overwrite, |tmp| {
        write_image(tmp, source.naxis, &mut pixels, &records, &keys)
    })?;
    Ok(Some(target.to_string_lossy().into_owned()))
}

/// The current UTC time as a FITS DATE value (yyyy-mm-ddThh:mm:ss).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let iso = crate::time::mjd_to_iso(40587.0 + secs / 86400.0);
    iso.chars().take(19).collect()
}
