//! `wcs_from_header(text)` and `wcs_from_fits(path [, hdu])`: the `wcs` struct of
//! `images.wcs` built from any header, so that any image can be used in a query.

use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{arrays, float, text};
use crate::fits_card::parse_header_text;
use crate::fits_header::read_wcs_header;
use crate::wcs::Wcs;
use crate::wcs::arrow_struct::{wcs_data_type, wcs_from_array, wcs_to_array};

crate::function_struct! {
    /// `wcs_from_header(card_text)` -> wcs: cards separated by newlines, or concatenated
    /// 80-character records. A header that is not a celestial WCS is an error naming the
    /// keyword.
    WcsFromHeader,
    Signature::any(1, Volatility::Immutable)
}

impl ScalarUDFImpl for WcsFromHeader {
    crate::function_basics!("wcs_from_header");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(wcs_data_type())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "wcs_from_header", &[1])?;
        let t = text(&a[0], "wcs_from_header", "the header")?;
        let mut out = Vec::with_capacity(t.len());
        for i in 0..t.len() {
            if t.is_null(i) {
                out.push(None);
                continue;
            }
            match Wcs::from_cards(&parse_header_text(t.value(i))) {
                Ok(w) => out.push(Some(w)),
                Err(e) => return exec_err!("wcs_from_header: {e}"),
            }
        }
        Ok(ColumnarValue::Array(wcs_to_array(&out)))
    }
}

crate::function_struct! {
    /// `wcs_from_fits(path [, hdu])` -> wcs of the image HDU `hdu` (1 = primary; default:
    /// the first 2-D image HDU, which inherits the primary header's keywords). Errors name
    /// the file, the HDU and the keyword.
    WcsFromFits,
    Signature::variadic_any(Volatility::Volatile)
}

impl ScalarUDFImpl for WcsFromFits {
    crate::function_basics!("wcs_from_fits");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(wcs_data_type())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "wcs_from_fits", &[1, 2])?;
        let paths = text(&a[0], "wcs_from_fits", "the path")?;
        let hdus = a
            .get(1)
            .map(|h| float(h, "wcs_from_fits", "the HDU"))
            .transpose()?;
        let mut out = Vec::with_capacity(paths.len());
        for i in 0..paths.len() {
            if paths.is_null(i) {
                out.push(None);
                continue;
            }
            let hdu = match &hdus {
                Some(h) if !h.is_null(i) => {
                    let v = h.value(i);
                    if v < 1.0 || v.fract() != 0.0 {
                        return exec_err!(
                            "wcs_from_fits: HDU numbers start at 1 (the primary), got {v}"
                        );
                    }
                    Some(v as usize - 1)
                }
                _ => None,
            };
            let path = paths.value(i);
            let header = match read_wcs_header(Path::new(path), hdu) {
                Ok(h) => h,
                Err(e) => return exec_err!("wcs_from_fits: {path}: {e}"),
            };
            match Wcs::from_cards(&header.cards) {
                Ok(w) => out.push(Some(w)),
                Err(e) => return exec_err!("wcs_from_fits: {path}: HDU {}: {e}", header.index + 1),
            }
        }
        Ok(ColumnarValue::Array(wcs_to_array(&out)))
    }
}

crate::function_struct! {
    /// `wcs_shift(wcs, dx, dy)` -> the same WCS for pixel coordinates shifted by (dx, dy):
    /// CRPIX + (dx, dy). Propagates a CCD quarter's astrometric solution to the whole CCD
    /// (dx, dy = the quarter's offset in the CCD), or to an exposure offset from the
    /// reference frame. SIP, TPV and ZPN terms are relative to CRPIX and move with it.
    WcsShift,
    Signature::any(3, Volatility::Immutable)
}

impl ScalarUDFImpl for WcsShift {
    crate::function_basics!("wcs_shift");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(wcs_data_type())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "wcs_shift", &[3])?;
        let Some(wcs) = a[0].as_struct_opt() else {
            return exec_err!("wcs_shift: the first argument must be a wcs struct");
        };
        let dx = float(&a[1], "wcs_shift", "dx")?;
        let dy = float(&a[2], "wcs_shift", "dy")?;
        let mut out = Vec::with_capacity(wcs.len());
        for i in 0..wcs.len() {
            if wcs.is_null(i) || dx.is_null(i) || dy.is_null(i) {
                out.push(None);
                continue;
            }
            out.push(wcs_from_array(wcs, i)?.map(|mut w| {
                w.crpix[0] += dx.value(i);
                w.crpix[1] += dy.value(i);
                w
            }));
        }
        Ok(ColumnarValue::Array(wcs_to_array(&out)))
    }
}
