//! The gnomonic (TAN) projection and the celestial rotation done together on unit
//! vectors, the path of every TAN, TAN-SIP and TPV image.
//!
//! For TAN, the native direction of intermediate world coordinates (x, y) in degrees is
//! proportional to (-y, x, 180/pi) (paper II, eq. 54 with phi = arg(-y, x)), so a pixel
//! reaches the sky through one 3 x 3 product and two arctangents instead of the
//! arctangents, sines and arcsine of the general path through (phi, theta). The
//! declination comes from an arctangent, which keeps its precision at the poles.

const R2D: f64 = 180.0 / std::f64::consts::PI;
const D2R: f64 = std::f64::consts::PI / 180.0;

/// Intermediate world coordinates (degrees) to (ra, dec) in degrees, ra in [0, 360);
/// `m` is the native-to-celestial rotation matrix.
#[inline]
pub(crate) fn deproject_and_rotate(m: &[[f64; 3]; 3], x: f64, y: f64) -> (f64, f64) {
    let native = [-y, x, R2D];
    let [cx, cy, cz] = m.map(|row| row[0] * native[0] + row[1] * native[1] + row[2] * native[2]);
    let ra = (cy.atan2(cx) * R2D).rem_euclid(360.0);
    let dec = cz.atan2((cx * cx + cy * cy).sqrt()) * R2D;
    (ra, dec)
}

/// (ra, dec) in degrees to intermediate world coordinates (degrees); `None` for the
/// hemisphere the projection cannot show (native latitude <= 0).
#[inline]
pub(crate) fn rotate_and_project(m: &[[f64; 3]; 3], ra: f64, dec: f64) -> Option<(f64, f64)> {
    let (sa, ca) = (ra * D2R).sin_cos();
    let (sd, cd) = (dec * D2R).sin_cos();
    let celestial = [cd * ca, cd * sa, sd];
    // The inverse of a rotation is its transpose.
    let native =
        [0, 1, 2].map(|j| m[0][j] * celestial[0] + m[1][j] * celestial[1] + m[2][j] * celestial[2]);
    if native[2] <= 0.0 {
        return None;
    }
    Some((R2D * native[1] / native[2], -R2D * native[0] / native[2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::angular_separation;
    use crate::wcs::Projection;
    use crate::wcs::celestial::Rotation;

    /// The matrix path gives the positions of the general path (projection, then the
    /// rotation of paper II through (phi, theta)) and inverts itself, for reference points
    /// at the equator, mid-latitudes and the poles, with and without LONPOLE.
    #[test]
    fn the_matrix_path_agrees_with_the_spherical_formulas() {
        let references = [
            ([0.0, 0.0], None),
            ([280.5, 0.11], None),
            ([83.6, -5.4], None),
            ([201.3, 47.2], Some(180.0)),
            ([10.0, -89.999], None),
            ([45.0, 90.0], None),
            ([300.0, -90.0], Some(30.0)),
            ([120.0, 30.0], Some(90.0)),
        ];
        for (crval, lonpole) in references {
            let rotation = Rotation::new(crval, 90.0, lonpole, None);
            let m = rotation.matrix();
            // Intermediate coordinates up to 30 degrees from the reference point.
            for i in 0..400 {
                let x = 30.0 * ((i as f64 * 0.618_033_988_75).fract() * 2.0 - 1.0);
                let y = 30.0 * ((i as f64 * 0.754_877_666_25).fract() * 2.0 - 1.0);
                let (phi, theta) = Projection::Tan.deproject(x, y).unwrap();
                let general = rotation.native_to_celestial(phi, theta);
                let fast = deproject_and_rotate(&m, x, y);
                let err = angular_separation(general.0, general.1, fast.0, fast.1) * 3600.0;
                assert!(
                    err < 1e-7,
                    "crval {crval:?}, lonpole {lonpole:?}, ({x}, {y}): {general:?} against {fast:?}, {err:e} arcsec"
                );
                let (bx, by) = rotate_and_project(&m, fast.0, fast.1).unwrap();
                assert!(
                    (bx - x).abs() < 1e-9 && (by - y).abs() < 1e-9,
                    "crval {crval:?}: ({x}, {y}) came back as ({bx}, {by})"
                );
            }
            // The far hemisphere has no gnomonic image.
            let antipode = ((crval[0] + 180.0).rem_euclid(360.0), -crval[1]);
            assert!(rotate_and_project(&m, antipode.0, antipode.1).is_none());
        }
    }
}
