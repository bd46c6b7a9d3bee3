//! The reference images of a catalogue version, by (field, CCD, quarter, colour): the WCS
//! that places the stars measured on them.

use std::collections::HashMap;

use anyhow::{Context, Result};
use datafusion::arrow::array::{Array, AsArray, StructArray};
use datafusion::arrow::record_batch::RecordBatch;
use skyql_udfs::wcs::arrow_struct::wcs_from_array;

use super::stars;

/// Reference-image WCS by (field, ccd, quarter, colour).
pub(super) type References = HashMap<(String, i32, String, u8), stars::Reference>;

pub(super) fn reference_wcs(images: &[RecordBatch]) -> Result<References> {
    let mut out = HashMap::new();
    for b in images {
        let s = |n: &str| b.column_by_name(n).map(|c| c.as_string::<i32>().clone());
        let (Some(field), Some(quarter), Some(colour), Some(code), Some(path)) =
            (s("field"), s("quarter"), s("colour"), s("code"), s("path"))
        else {
            continue;
        };
        let ccd = b
            .column_by_name("ccd")
            .map(|c| {
                c.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                    .clone()
            })
            .context("images without ccd")?;
        let wcs = b
            .column_by_name("wcs")
            .and_then(|c| c.as_any().downcast_ref::<StructArray>().cloned())
            .context("images without wcs")?;
        let axis = |n: &str| {
            b.column_by_name(n)
                .map(|c| {
                    c.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .clone()
                })
                .with_context(|| format!("images without {n}"))
        };
        let (naxis1, naxis2) = (axis("naxis1")?, axis("naxis2")?);
        for i in 0..b.num_rows() {
            if code.is_null(i)
                || code.value(i) != "d"
                || field.is_null(i)
                || ccd.is_null(i)
                || quarter.is_null(i)
                || colour.is_null(i)
            {
                continue;
            }
            let Some(w) = wcs_from_array(&wcs, i)? else {
                continue;
            };
            let Ok(p) = w.prepare() else { continue };
            let c = colour.value(i).as_bytes().first().copied().unwrap_or(b'R');
            out.insert(
                (
                    field.value(i).to_string(),
                    ccd.value(i),
                    quarter.value(i).to_string(),
                    c,
                ),
                stars::Reference {
                    wcs: p,
                    path: path.value(i).to_string(),
                    naxis: [naxis1.value(i), naxis2.value(i)],
                },
            );
        }
    }
    Ok(out)
}
