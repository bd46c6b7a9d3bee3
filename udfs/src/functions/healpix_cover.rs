//! `healpix_cone_cells(ra, dec, radius, order)`: the NESTED HEALPix cells at `order` that a
//! cone overlaps (cdshealpix's approximate cone coverage: every overlapping cell, and
//! possibly a few more). With `healpix(ra, dec, order)` on the other side, it turns an
//! angular-distance join into an equi-join on cells (see `rules::spatial_join`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Builder, ListBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

use super::args::{arrays, float, numeric_signature};
use super::healpix::MAX_ORDER;

/// The cells at `order` overlapping the cone of `radius` degrees around (ra, dec); `None`
/// for impossible coordinates or a radius that is negative, not finite or over 90 degrees.
pub fn cone_cells(ra: f64, dec: f64, radius: f64, order: u8) -> Option<Vec<u64>> {
    let valid = ra.is_finite()
        && (-90.0..=90.0).contains(&dec)
        && radius.is_finite()
        && (0.0..=90.0).contains(&radius)
        && order <= MAX_ORDER;
    if !valid {
        return None;
    }
    // A zero radius still covers the cell of the centre (and its borders' neighbours).
    let r = radius.max(1e-9).to_radians();
    let (lon, lat) = (ra.to_radians(), dec.to_radians());
    if cdshealpix::has_best_starting_depth(r) && order <= cdshealpix::best_starting_depth(r) {
        // At this order a cone of radius r lies within the cell of its centre and that
        // cell's neighbours (cdshealpix's guarantee): no coverage to compute.
        let layer = cdshealpix::nested::get(order);
        let centre = layer.hash(lon, lat);
        let mut cells = Vec::with_capacity(9);
        cells.push(centre);
        layer.append_bulk_neighbours(centre, &mut cells);
        return Some(cells);
    }
    let bmoc = cdshealpix::nested::cone_coverage_approx(order, lon, lat, r);
    Some(bmoc.flat_iter().collect())
}

/// The deepest order whose cells are no smaller than a cone of `radius` degrees (so a cone
/// overlaps a handful of cells), at most 20; `None` beyond a few degrees.
pub fn order_for_radius(radius: f64) -> Option<u8> {
    let r = radius.max(1e-9).to_radians();
    if !(radius.is_finite() && radius < 10.0 && cdshealpix::has_best_starting_depth(r)) {
        return None;
    }
    Some(cdshealpix::best_starting_depth(r).min(20))
}

crate::function_struct! {
    /// `healpix_cone_cells(ra, dec, radius, order)` -> list of Int64 NESTED indices.
    HealpixConeCells,
    numeric_signature(4)
}

impl ScalarUDFImpl for HealpixConeCells {
    crate::function_basics!("healpix_cone_cells");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Int64,
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = "healpix_cone_cells";
        let a = arrays(&args, name, &[4])?;
        let ra = float(&a[0], name, "ra")?;
        let dec = float(&a[1], name, "dec")?;
        let radius = float(&a[2], name, "radius")?;
        let order = float(&a[3], name, "order")?;
        let mut out = ListBuilder::new(Int64Builder::new());
        for i in 0..ra.len() {
            if [
                ra.is_null(i),
                dec.is_null(i),
                radius.is_null(i),
                order.is_null(i),
            ]
            .contains(&true)
            {
                out.append_null();
                continue;
            }
            let o = order.value(i);
            if !(0.0..=MAX_ORDER as f64).contains(&o) || o.fract() != 0.0 {
                return exec_err!(
                    "{name}: order must be an integer from 0 to {MAX_ORDER}, got {o}"
                );
            }
            match cone_cells(ra.value(i), dec.value(i), radius.value(i), o as u8) {
                Some(cells) => {
                    out.values()
                        .extend(cells.into_iter().map(|c| Some(c as i64)));
                    out.append(true);
                }
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::{cone_cells, order_for_radius};
    use crate::functions::{angular_separation, healpix_nested};

    /// Every point within the radius lies in one of the cone's cells: near the poles,
    /// across RA 0/360, for radii from 0.1 arcsec to a degree.
    #[test]
    fn the_cells_hold_every_point_of_the_cone() {
        let centres = [
            (0.0, 0.0),
            (359.9999, 10.0),
            (0.00001, -30.0),
            (80.9, -69.7),
            (12.0, 89.9999),
            (200.0, -89.9999),
        ];
        for radius in [0.1 / 3600.0, 1.0 / 60.0, 0.3, 1.0] {
            let order = order_for_radius(radius).unwrap();
            for (ra0, dec0) in centres {
                let cells = cone_cells(ra0, dec0, radius, order).unwrap();
                for k in 0..400 {
                    // Points on circles of 0.999 r at 400 position angles.
                    let pa = k as f64 * std::f64::consts::TAU / 400.0;
                    let (ra, dec) = offset(ra0, dec0, 0.999 * radius, pa);
                    assert!(angular_separation(ra0, dec0, ra, dec) < radius);
                    let cell = healpix_nested(ra, dec, order).unwrap();
                    assert!(cells.contains(&cell), "r={radius} ({ra0},{dec0}) pa={pa}");
                }
            }
        }
    }

    /// The point at `distance` degrees from (ra, dec) towards position angle `pa`.
    fn offset(ra: f64, dec: f64, distance: f64, pa: f64) -> (f64, f64) {
        let (d, r, a) = (dec.to_radians(), distance.to_radians(), pa);
        let dec2 = (d.sin() * r.cos() + d.cos() * r.sin() * a.cos()).asin();
        let dra = (a.sin() * r.sin() * d.cos()).atan2(r.cos() - d.sin() * dec2.sin());
        ((ra + dra.to_degrees()).rem_euclid(360.0), dec2.to_degrees())
    }
}
