//! `mjd_to_iso(mjd)` and `iso_to_mjd(text)`: MJD (UTC) and ISO 8601 strings.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Float64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{arrays, float, text};
use crate::time::{iso_to_mjd, mjd_to_iso};

crate::function_struct! {
    /// `mjd_to_iso(mjd)` -> `YYYY-MM-DDThh:mm:ss.sss` (UTC, millisecond precision).
    MjdToIso,
    Signature::any(1, Volatility::Immutable)
}

impl ScalarUDFImpl for MjdToIso {
    crate::function_basics!("mjd_to_iso");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "mjd_to_iso", &[1])?;
        let m = float(&a[0], "mjd_to_iso", "the MJD")?;
        let out: StringArray = (0..m.len())
            .map(|i| (!m.is_null(i) && m.value(i).is_finite()).then(|| mjd_to_iso(m.value(i))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

crate::function_struct! {
    /// `iso_to_mjd(text)` -> MJD; null when the text is not `YYYY-MM-DD[Thh:mm:ss[.s]]`.
    IsoToMjd,
    Signature::any(1, Volatility::Immutable)
}

impl ScalarUDFImpl for IsoToMjd {
    crate::function_basics!("iso_to_mjd");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "iso_to_mjd", &[1])?;
        let t = text(&a[0], "iso_to_mjd", "the date")?;
        let out: Float64Array = (0..t.len())
            .map(|i| {
                if t.is_null(i) {
                    None
                } else {
                    iso_to_mjd(t.value(i))
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
