//! `ang_sep` and `cone_contains`: angular distances on the sphere, in degrees.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

use super::args::{arrays, float, numeric_signature};

/// Angular separation in degrees between two positions in degrees, with Vincenty's
/// formula: accurate at every separation, from 0 to 180 degrees.
pub fn angular_separation(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (s1, c1) = dec1.to_radians().sin_cos();
    let (s2, c2) = dec2.to_radians().sin_cos();
    let (sd, cd) = (ra2 - ra1).to_radians().sin_cos();
    let num1 = c2 * sd;
    let num2 = c1 * s2 - s1 * c2 * cd;
    let den = s1 * s2 + c1 * c2 * cd;
    num1.hypot(num2).atan2(den).to_degrees()
}

crate::function_struct! {
    /// `ang_sep(ra1, dec1, ra2, dec2)` -> degrees (Vincenty). Null when an input is null.
    AngSep,
    numeric_signature(4)
}

impl ScalarUDFImpl for AngSep {
    crate::function_basics!("ang_sep");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (separations, _) = separations(&args, "ang_sep", 4)?;
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(
            separations,
        ))))
    }
}

/// Row by row, the separation between (args 0, 1) and (args 2, 3), null when one is null,
/// and the arguments as Float64 columns.
fn separations(
    args: &ScalarFunctionArgs,
    name: &str,
    count: usize,
) -> Result<(Vec<Option<f64>>, Vec<Float64Array>)> {
    let a = arrays(args, name, &[count])?;
    let v: Vec<Float64Array> = a
        .iter()
        .map(|x| float(x, name, "arguments"))
        .collect::<Result<_>>()?;
    let seps = (0..v[0].len())
        .map(|i| {
            (!v[..4].iter().any(|c| c.is_null(i))).then(|| {
                angular_separation(v[0].value(i), v[1].value(i), v[2].value(i), v[3].value(i))
            })
        })
        .collect();
    Ok((seps, v))
}

crate::function_struct! {
    /// `cone_contains(ra, dec, ra0, dec0, radius)` -> true when (ra, dec) is within `radius`
    /// degrees of (ra0, dec0), boundary included. Null when an input is null.
    ConeContains,
    numeric_signature(5)
}

impl ScalarUDFImpl for ConeContains {
    crate::function_basics!("cone_contains");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (separations, v) = separations(&args, "cone_contains", 5)?;
        let radius = &v[4];
        let out: BooleanArray = separations
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.filter(|_| !radius.is_null(i))
                    .map(|d| d <= radius.value(i))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::angular_separation;

    #[test]
    fn separations_at_every_scale() {
        // Poles, antipodes, across RA = 0/360, and 1 milliarcsecond.
        assert!((angular_separation(0.0, 90.0, 123.0, -90.0) - 180.0).abs() < 1e-12);
        assert!((angular_separation(10.0, 20.0, 190.0, -20.0) - 180.0).abs() < 1e-12);
        assert!((angular_separation(359.5, 0.0, 0.5, 0.0) - 1.0).abs() < 1e-12);
        assert!((angular_separation(45.0, 89.0, 225.0, 89.0) - 2.0).abs() < 1e-12);
        // 1 milliarcsecond, to 1e-14 degree (4e-8 arcsec).
        let mas = 1.0 / 3.6e6;
        let dec2: f64 = -69.0 + mas;
        let expected = dec2 - -69.0;
        assert!((angular_separation(80.0, -69.0, 80.0, dec2) - expected).abs() < 1e-14);
        // A right angle.
        assert!((angular_separation(0.0, 0.0, 90.0, 0.0) - 90.0).abs() < 1e-12);
    }
}
