//! `healpix(ra, dec, order)`: the NESTED HEALPix cell of a position (cdshealpix).

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

use super::args::{arrays, float, numeric_signature};

/// Deepest HEALPix order (depth) cdshealpix supports.
pub const MAX_ORDER: u8 = 29;

/// NESTED cell of (ra, dec) in degrees at `order`; `None` for a declination outside
/// [-90, 90] or a non-finite coordinate.
pub fn healpix_nested(ra: f64, dec: f64, order: u8) -> Option<u64> {
    if !ra.is_finite() || !(-90.0..=90.0).contains(&dec) || order > MAX_ORDER {
        return None;
    }
    Some(cdshealpix::nested::get(order).hash(ra.to_radians(), dec.to_radians()))
}

crate::function_struct! {
    /// `healpix(ra, dec, order)` -> Int64 NESTED index; null for null or impossible
    /// coordinates; an error for an order outside 0..=29.
    Healpix,
    numeric_signature(3)
}

impl ScalarUDFImpl for Healpix {
    crate::function_basics!("healpix");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "healpix", &[3])?;
        let ra = float(&a[0], "healpix", "ra")?;
        let dec = float(&a[1], "healpix", "dec")?;
        let order = float(&a[2], "healpix", "order")?;
        let mut out = Vec::with_capacity(ra.len());
        for i in 0..ra.len() {
            if ra.is_null(i) || dec.is_null(i) || order.is_null(i) {
                out.push(None);
                continue;
            }
            let o = order.value(i);
            if !(0.0..=MAX_ORDER as f64).contains(&o) || o.fract() != 0.0 {
                return exec_err!(
                    "healpix: order must be an integer from 0 to {MAX_ORDER}, got {o}"
                );
            }
            out.push(healpix_nested(ra.value(i), dec.value(i), o as u8).map(|h| h as i64));
        }
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(out))))
    }
}

#[cfg(test)]
mod tests {
    use super::healpix_nested;

    #[test]
    fn known_cells() {
        // Order 0: the 12 base cells; (0, 90) is in cell 0..3 (north cap), the
        // south pole in 8..11; the example of cdshealpix's documentation at order 12.
        assert!(healpix_nested(0.0, 90.0, 0).unwrap() < 4);
        assert!(healpix_nested(0.0, -90.0, 0).unwrap() >= 8);
        let nside = 1u64 << 12;
        assert_eq!(healpix_nested(12.5, 89.99999, 12), Some(nside * nside - 1));
        // Nested: the cell at order n is the cell at order n+1 shifted by 2 bits.
        let deep = healpix_nested(80.894, -69.756, 29).unwrap();
        assert_eq!(
            healpix_nested(80.894, -69.756, 10).unwrap(),
            deep >> (2 * 19)
        );
        assert_eq!(healpix_nested(10.0, 91.0, 5), None);
        assert_eq!(healpix_nested(f64::NAN, 0.0, 5), None);
    }
}
