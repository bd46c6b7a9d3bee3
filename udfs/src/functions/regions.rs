//! Points in sky regions bounded by great circles: `sky_polygon_contains` (ADQL POLYGON)
//! and `sky_box_contains` (ADQL BOX), in degrees.
//!
//! Both project onto the plane tangent at the region's centre (gnomonic projection),
//! which maps great circles to straight lines: a point is inside a polygon with
//! great-circle edges exactly when its projection is inside the projected polygon (ray
//! casting, so concave polygons work). A region must lie within the hemisphere around its
//! centre; a point in the other hemisphere is outside.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use super::args::float;

/// A unit vector of (ra, dec) in degrees.
fn unit(ra: f64, dec: f64) -> [f64; 3] {
    let (sr, cr) = ra.to_radians().sin_cos();
    let (sd, cd) = dec.to_radians().sin_cos();
    [cd * cr, cd * sr, sd]
}

/// Gnomonic (tangent-plane) coordinates of (ra, dec) around (ra0, dec0), or `None` in
/// the far hemisphere.
pub fn gnomonic(ra: f64, dec: f64, ra0: f64, dec0: f64) -> Option<(f64, f64)> {
    let (sd, cd) = dec.to_radians().sin_cos();
    let (sd0, cd0) = dec0.to_radians().sin_cos();
    let (sa, ca) = (ra - ra0).to_radians().sin_cos();
    let cos_c = sd0 * sd + cd0 * cd * ca;
    if cos_c <= 1e-12 {
        return None;
    }
    Some((cd * sa / cos_c, (cd0 * sd - sd0 * cd * ca) / cos_c))
}

/// Whether (ra, dec) lies in the polygon of `vertices` (degrees) with great-circle edges;
/// `None` for a polygon that does not fit in a hemisphere.
pub fn polygon_contains(ra: f64, dec: f64, vertices: &[(f64, f64)]) -> Option<bool> {
    let sum = vertices.iter().fold([0.0; 3], |s, &(r, d)| {
        let u = unit(r, d);
        [s[0] + u[0], s[1] + u[1], s[2] + u[2]]
    });
    let norm = (sum[0] * sum[0] + sum[1] * sum[1] + sum[2] * sum[2]).sqrt();
    if norm < 1e-9 {
        return None;
    }
    let ra0 = sum[1].atan2(sum[0]).to_degrees();
    let dec0 = (sum[2] / norm).clamp(-1.0, 1.0).asin().to_degrees();
    let plane: Vec<(f64, f64)> = vertices
        .iter()
        .map(|&(r, d)| gnomonic(r, d, ra0, dec0))
        .collect::<Option<_>>()?;
    let Some((x, y)) = gnomonic(ra, dec, ra0, dec0) else {
        return Some(false);
    };
    let mut inside = false;
    let n = plane.len();
    for i in 0..n {
        let (xi, yi) = plane[i];
        let (xj, yj) = plane[(i + n - 1) % n];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
    }
    Some(inside)
}

/// Whether (ra, dec) lies in the box of `width` x `height` degrees centred on (ra0, dec0),
/// its sides great circles at the half-widths' tangent-plane offsets.
pub fn box_contains(ra: f64, dec: f64, ra0: f64, dec0: f64, width: f64, height: f64) -> bool {
    let Some((x, y)) = gnomonic(ra, dec, ra0, dec0) else {
        return false;
    };
    x.abs() <= (width / 2.0).to_radians().tan() && y.abs() <= (height / 2.0).to_radians().tan()
}

fn float_columns(args: &ScalarFunctionArgs, name: &str) -> Result<Vec<Float64Array>> {
    args.args
        .iter()
        .map(|a| float(&a.to_array(args.number_rows)?, name, "arguments"))
        .collect()
}

crate::function_struct! {
    /// `sky_polygon_contains(ra, dec, ra1, dec1, ra2, dec2, ra3, dec3 [, ...])` -> whether the
    /// point is in the polygon of great-circle edges (ADQL POLYGON). Null when an input is
    /// null or the polygon does not fit in a hemisphere.
    SkyPolygonContains,
    Signature::new(TypeSignature::VariadicAny, Volatility::Immutable)
}

impl ScalarUDFImpl for SkyPolygonContains {
    crate::function_basics!("sky_polygon_contains");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.args.len();
        if n < 8 || !n.is_multiple_of(2) {
            return exec_err!(
                "sky_polygon_contains takes a point and at least three vertices (ra, dec pairs), got {n} arguments"
            );
        }
        let v = float_columns(&args, "sky_polygon_contains")?;
        let out: BooleanArray = (0..args.number_rows)
            .map(|i| {
                if v.iter().any(|c| c.is_null(i)) {
                    return None;
                }
                let vertices: Vec<(f64, f64)> = (1..n / 2)
                    .map(|k| (v[2 * k].value(i), v[2 * k + 1].value(i)))
                    .collect();
                polygon_contains(v[0].value(i), v[1].value(i), &vertices)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

crate::function_struct! {
    /// `sky_box_contains(ra, dec, ra0, dec0, width, height)` -> whether the point is in the
    /// box (ADQL BOX). Null when an input is null.
    SkyBoxContains,
    super::args::numeric_signature(6)
}

impl ScalarUDFImpl for SkyBoxContains {
    crate::function_basics!("sky_box_contains");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let v = float_columns(&args, "sky_box_contains")?;
        let out: BooleanArray = (0..args.number_rows)
            .map(|i| {
                (!v.iter().any(|c| c.is_null(i))).then(|| {
                    let x = |k: usize| v[k].value(i);
                    box_contains(x(0), x(1), x(2), x(3), x(4), x(5))
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::{box_contains, polygon_contains};

    #[test]
    fn polygons_with_great_circle_edges() {
        // A square around the LMC, and a concave "L" shape; across RA 0/360; at a pole.
        let square = [(79.0, -70.0), (81.0, -70.0), (81.0, -69.0), (79.0, -69.0)];
        assert_eq!(polygon_contains(80.0, -69.5, &square), Some(true));
        assert_eq!(polygon_contains(82.0, -69.5, &square), Some(false));
        let l = [
            (0.0, 0.0),
            (2.0, 0.0),
            (2.0, 1.0),
            (1.0, 1.0),
            (1.0, 2.0),
            (0.0, 2.0),
        ];
        assert_eq!(polygon_contains(0.5, 1.5, &l), Some(true));
        assert_eq!(polygon_contains(1.5, 1.5, &l), Some(false));
        let across = [(359.0, -1.0), (1.0, -1.0), (1.0, 1.0), (359.0, 1.0)];
        assert_eq!(polygon_contains(0.0, 0.0, &across), Some(true));
        assert_eq!(polygon_contains(180.0, 0.0, &across), Some(false));
        let cap = [(0.0, 80.0), (120.0, 80.0), (240.0, 80.0)];
        assert_eq!(polygon_contains(77.0, 89.0, &cap), Some(true));
        assert_eq!(polygon_contains(77.0, 70.0, &cap), Some(false));
    }

    #[test]
    fn boxes() {
        assert!(box_contains(80.0, -69.5, 80.0, -69.5, 1.0, 1.0));
        assert!(box_contains(80.0, -69.1, 80.0, -69.5, 1.0, 1.0));
        assert!(!box_contains(80.0, -68.9, 80.0, -69.5, 1.0, 1.0));
        assert!(box_contains(359.9, 0.0, 0.1, 0.0, 0.5, 0.5));
    }
}
