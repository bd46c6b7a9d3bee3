//! Regions written as text (STC-S, as ObsCore's `s_region` and ADQL 2.0 regions are):
//! `sky_region_contains(region, ra, dec)` and `sky_region_meets_circle(region, ra0, dec0,
//! r)`, in degrees.
//!
//! A region is `POLYGON [frame] ra1 dec1 ra2 dec2 ra3 dec3 ...`, `CIRCLE [frame] ra dec r`,
//! `BOX [frame] ra dec width height` or `POSITION [frame] ra dec` (a point), words in any
//! case; the frame (ICRS, FK5, J2000, UNKNOWNFRAME, ...) is read and ignored, as skyql's
//! positions are all ICRS. Polygons have great-circle edges (see `regions`). Text that is
//! not such a region gives null, never an error, so that one bad row does not stop a query.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use super::args::float;
use super::regions::{box_contains, polygon_contains};

/// A region read from its text.
#[derive(Debug, Clone, PartialEq)]
pub enum SkyRegion {
    /// Vertices in order, degrees.
    Polygon(Vec<(f64, f64)>),
    /// Centre and radius, degrees.
    Circle(f64, f64, f64),
    /// Centre, width and height, degrees.
    Box(f64, f64, f64, f64),
    /// One position.
    Point(f64, f64),
}

/// The region a text names, or `None`.
pub fn parse_region(text: &str) -> Option<SkyRegion> {
    let mut words = text.split_whitespace();
    let shape = words.next()?.to_ascii_uppercase();
    let rest: Vec<&str> = words.collect();
    // A frame word, when present, is the first word that is not a number.
    let numbers: Vec<f64> = match rest.first() {
        Some(w) if w.parse::<f64>().is_err() => &rest[1..],
        _ => &rest[..],
    }
    .iter()
    .map(|w| w.parse::<f64>().ok().filter(|x| x.is_finite()))
    .collect::<Option<_>>()?;
    match (shape.as_str(), numbers.len()) {
        ("POLYGON", n) if n >= 6 && n % 2 == 0 => Some(SkyRegion::Polygon(
            numbers.chunks(2).map(|p| (p[0], p[1])).collect(),
        )),
        ("CIRCLE", 3) if numbers[2] >= 0.0 => {
            Some(SkyRegion::Circle(numbers[0], numbers[1], numbers[2]))
        }
        ("BOX", 4) => Some(SkyRegion::Box(
            numbers[0], numbers[1], numbers[2], numbers[3],
        )),
        ("POSITION" | "POINT", 2) => Some(SkyRegion::Point(numbers[0], numbers[1])),
        _ => None,
    }
}

fn unit(ra: f64, dec: f64) -> [f64; 3] {
    let (sr, cr) = ra.to_radians().sin_cos();
    let (sd, cd) = dec.to_radians().sin_cos();
    [cd * cr, cd * sr, sd]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The angle between two unit vectors, in degrees (stable at small angles).
fn angle(a: [f64; 3], b: [f64; 3]) -> f64 {
    let c = cross(a, b);
    dot(c, c).sqrt().atan2(dot(a, b)).to_degrees()
}

/// The angular distance from `p` to the great-circle arc from `a` to `b`, in degrees.
fn arc_distance(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let n = cross(a, b);
    let norm = dot(n, n).sqrt();
    let ends = angle(p, a).min(angle(p, b));
    if norm < 1e-15 {
        return ends;
    }
    let n = [n[0] / norm, n[1] / norm, n[2] / norm];
    // The point of the great circle nearest to p lies on the arc when it is between a and b.
    let along = dot(p, n);
    let foot = [
        p[0] - along * n[0],
        p[1] - along * n[1],
        p[2] - along * n[2],
    ];
    if dot(cross(a, foot), n) >= 0.0 && dot(cross(foot, b), n) >= 0.0 {
        along.abs().clamp(0.0, 1.0).asin().to_degrees()
    } else {
        ends
    }
}

impl SkyRegion {
    /// Whether the region holds (ra, dec); `None` for a polygon that does not fit in a
    /// hemisphere.
    pub fn contains(&self, ra: f64, dec: f64) -> Option<bool> {
        match self {
            SkyRegion::Polygon(v) => polygon_contains(ra, dec, v),
            SkyRegion::Circle(r0, d0, r) => Some(angle(unit(ra, dec), unit(*r0, *d0)) <= *r),
            SkyRegion::Box(r0, d0, w, h) => Some(box_contains(ra, dec, *r0, *d0, *w, *h)),
            SkyRegion::Point(r0, d0) => Some(angle(unit(ra, dec), unit(*r0, *d0)) < 1e-9),
        }
    }

    /// Whether the region and the circle of radius `r` around (ra0, dec0) share a point.
    pub fn meets_circle(&self, ra0: f64, dec0: f64, r: f64) -> Option<bool> {
        let centre = unit(ra0, dec0);
        match self {
            SkyRegion::Circle(ra, dec, radius) => {
                Some(angle(unit(*ra, *dec), centre) <= r + radius)
            }
            SkyRegion::Point(ra, dec) => Some(angle(unit(*ra, *dec), centre) <= r),
            SkyRegion::Box(ra, dec, w, h) => {
                let (hw, hh) = (w / 2.0, h / 2.0);
                let corners = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
                    .map(|(x, y)| tangent_point(*ra, *dec, x, y));
                polygon_meets_circle(&corners, ra0, dec0, r)
            }
            SkyRegion::Polygon(v) => polygon_meets_circle(v, ra0, dec0, r),
        }
    }
}

/// The sky position at tangent-plane offsets (degrees, as angles) around (ra0, dec0).
fn tangent_point(ra0: f64, dec0: f64, x: f64, y: f64) -> (f64, f64) {
    let (xi, eta) = (x.to_radians().tan(), y.to_radians().tan());
    let (sd0, cd0) = dec0.to_radians().sin_cos();
    let denominator = cd0 - eta * sd0;
    let ra = ra0 + xi.atan2(denominator).to_degrees();
    let dec = (sd0 + eta * cd0)
        .atan2((xi * xi + denominator * denominator).sqrt())
        .to_degrees();
    (ra.rem_euclid(360.0), dec)
}

fn polygon_meets_circle(v: &[(f64, f64)], ra0: f64, dec0: f64, r: f64) -> Option<bool> {
    if polygon_contains(ra0, dec0, v)? {
        return Some(true);
    }
    let p = unit(ra0, dec0);
    let n = v.len();
    Some((0..n).any(|i| {
        let (a, b) = (v[i], v[(i + 1) % n]);
        arc_distance(p, unit(a.0, a.1), unit(b.0, b.1)) <= r
    }))
}

/// The region texts of the first argument, one per row (null where null).
fn region_texts(args: &ScalarFunctionArgs, name: &str) -> Result<Vec<Option<SkyRegion>>> {
    let array = args.args[0].to_array(args.number_rows)?;
    let Ok(text) = cast(&array, &DataType::Utf8) else {
        return exec_err!(
            "{name} takes a region as text (STC-S), got {}",
            array.data_type()
        );
    };
    let text = text
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>();
    let Some(text) = text else {
        return exec_err!("{name}: the region is not text");
    };
    Ok((0..args.number_rows)
        .map(|i| {
            (!text.is_null(i))
                .then(|| parse_region(text.value(i)))
                .flatten()
        })
        .collect())
}

/// Applies `test` to each row's region and numbers (`count` numbers after the region).
fn region_test(
    args: ScalarFunctionArgs,
    name: &str,
    count: usize,
    test: impl Fn(&SkyRegion, &[f64]) -> Option<bool>,
) -> Result<ColumnarValue> {
    if args.args.len() != count + 1 {
        return exec_err!(
            "{name} takes a region and {count} numbers, got {} arguments",
            args.args.len()
        );
    }
    let regions = region_texts(&args, name)?;
    let numbers = args.args[1..]
        .iter()
        .map(|a| float(&a.to_array(args.number_rows)?, name, "arguments"))
        .collect::<Result<Vec<_>>>()?;
    let out: BooleanArray = (0..args.number_rows)
        .map(|i| {
            let region = regions[i].as_ref()?;
            if numbers.iter().any(|c| c.is_null(i)) {
                return None;
            }
            let values: Vec<f64> = numbers.iter().map(|c| c.value(i)).collect();
            test(region, &values)
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

crate::function_struct! {
    /// `sky_region_contains(region, ra, dec)` -> whether the STC-S region holds the point
    /// (ADQL `CONTAINS(POINT, region_column)`). Null when the text is not a region.
    SkyRegionContains,
    Signature::new(TypeSignature::Any(3), Volatility::Immutable)
}

impl ScalarUDFImpl for SkyRegionContains {
    crate::function_basics!("sky_region_contains");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        region_test(args, "sky_region_contains", 2, |region, v| {
            region.contains(v[0], v[1])
        })
    }
}

crate::function_struct! {
    /// `sky_region_meets_circle(region, ra0, dec0, r)` -> whether the STC-S region and the
    /// circle share a point (ADQL `INTERSECTS(region_column, CIRCLE(...))`). Null when the
    /// text is not a region.
    SkyRegionMeetsCircle,
    Signature::new(TypeSignature::Any(4), Volatility::Immutable)
}

impl ScalarUDFImpl for SkyRegionMeetsCircle {
    crate::function_basics!("sky_region_meets_circle");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        region_test(args, "sky_region_meets_circle", 3, |region, v| {
            region.meets_circle(v[0], v[1], v[2])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: &str = "POLYGON ICRS 10 -1 11 -1 11 0 10 0";

    #[test]
    fn regions_are_read_with_or_without_a_frame() {
        assert_eq!(
            parse_region("circle 1 2 0.5"),
            Some(SkyRegion::Circle(1.0, 2.0, 0.5))
        );
        assert_eq!(
            parse_region("POSITION ICRS 3 4"),
            Some(SkyRegion::Point(3.0, 4.0))
        );
        assert!(matches!(parse_region(SQUARE), Some(SkyRegion::Polygon(v)) if v.len() == 4));
        for bad in [
            "",
            "POLYGON ICRS 1 2 3 4",
            "CIRCLE 1 2",
            "CIRCLE 1 2 x",
            "STAR 1 2",
        ] {
            assert_eq!(parse_region(bad), None, "{bad}");
        }
    }

    #[test]
    fn polygons_meet_circles_inside_at_corners_and_along_edges() {
        let square = parse_region(SQUARE).unwrap();
        // The circle's centre inside.
        assert_eq!(square.meets_circle(10.5, -0.5, 0.01), Some(true));
        // Near a corner, outside: 0.1 degree from (11, 0) diagonally.
        let (ra, dec) = (11.0 + 0.0707, 0.0707);
        assert_eq!(square.meets_circle(ra, dec, 0.099), Some(false));
        assert_eq!(square.meets_circle(ra, dec, 0.101), Some(true));
        // Beside an edge's middle: 0.2 degree north of the edge dec = 0.
        assert_eq!(square.meets_circle(10.5, 0.2, 0.19), Some(false));
        assert_eq!(square.meets_circle(10.5, 0.2, 0.21), Some(true));
        assert_eq!(square.contains(10.5, -0.5), Some(true));
        assert_eq!(square.contains(10.5, 0.5), Some(false));
    }

    #[test]
    fn circles_points_and_boxes() {
        let circle = SkyRegion::Circle(0.0, 0.0, 1.0);
        assert_eq!(circle.meets_circle(1.5, 0.0, 0.51), Some(true));
        assert_eq!(circle.meets_circle(1.5, 0.0, 0.49), Some(false));
        let point = SkyRegion::Point(359.9, 0.0);
        assert_eq!(point.meets_circle(0.05, 0.0, 0.2), Some(true));
        let b = SkyRegion::Box(50.0, 20.0, 2.0, 1.0);
        assert_eq!(b.meets_circle(51.2, 20.0, 0.3), Some(true));
        assert_eq!(b.meets_circle(51.5, 20.0, 0.3), Some(false));
    }
}
