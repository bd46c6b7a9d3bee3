//! TPV distortion: polynomials in the intermediate world coordinates (degrees) before the
//! TAN projection, with PV1_k for the first axis and PV2_k for the second (the second
//! axis's polynomial takes its arguments swapped). PVi_1 defaults to 1, the others to 0.

use super::WcsError;

/// Terms k = 0..39: powers of (u, v) and of r = sqrt(u^2 + v^2), `(i, j, r_power)`.
const TERMS: [(i32, i32, i32); 40] = [
    (0, 0, 0),
    (1, 0, 0),
    (0, 1, 0),
    (0, 0, 1),
    (2, 0, 0),
    (1, 1, 0),
    (0, 2, 0),
    (3, 0, 0),
    (2, 1, 0),
    (1, 2, 0),
    (0, 3, 0),
    (0, 0, 3),
    (4, 0, 0),
    (3, 1, 0),
    (2, 2, 0),
    (1, 3, 0),
    (0, 4, 0),
    (5, 0, 0),
    (4, 1, 0),
    (3, 2, 0),
    (2, 3, 0),
    (1, 4, 0),
    (0, 5, 0),
    (0, 0, 5),
    (6, 0, 0),
    (5, 1, 0),
    (4, 2, 0),
    (3, 3, 0),
    (2, 4, 0),
    (1, 5, 0),
    (0, 6, 0),
    (7, 0, 0),
    (6, 1, 0),
    (5, 2, 0),
    (4, 3, 0),
    (3, 4, 0),
    (2, 5, 0),
    (1, 6, 0),
    (0, 7, 0),
    (0, 0, 7),
];

/// TPV coefficients of both axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Tpv {
    pv1: [f64; 40],
    pv2: [f64; 40],
}

impl Tpv {
    /// Reads PV1_k and PV2_k.
    pub fn from_terms(terms: &[(String, f64)]) -> Result<Self, WcsError> {
        let mut pv1 = [0.0; 40];
        let mut pv2 = [0.0; 40];
        pv1[1] = 1.0;
        pv2[1] = 1.0;
        for (k, v) in terms {
            let (target, rest) = if let Some(r) = k.strip_prefix("PV1_") {
                (&mut pv1, r)
            } else if let Some(r) = k.strip_prefix("PV2_") {
                (&mut pv2, r)
            } else {
                continue;
            };
            match rest.parse::<usize>() {
                Ok(m) if m < 40 => target[m] = *v,
                _ => return Err(WcsError::new(k, "TPV takes PVi_0 to PVi_39")),
            }
        }
        Ok(Tpv { pv1, pv2 })
    }

    fn poly(c: &[f64; 40], u: f64, v: f64) -> f64 {
        let r = (u * u + v * v).sqrt();
        TERMS
            .iter()
            .zip(c)
            .filter(|(_, c)| **c != 0.0)
            .map(|((i, j, k), c)| c * u.powi(*i) * v.powi(*j) * r.powi(*k))
            .sum()
    }

    /// Distorted intermediate coordinates (degrees).
    pub fn forward(&self, x: f64, y: f64) -> (f64, f64) {
        (Self::poly(&self.pv1, x, y), Self::poly(&self.pv2, y, x))
    }

    /// Inverse by Newton iterations with a numerical Jacobian.
    pub fn inverse(&self, xp: f64, yp: f64) -> Option<(f64, f64)> {
        let (mut x, mut y) = (xp, yp);
        let h = 1e-7;
        for _ in 0..50 {
            let (fx, fy) = self.forward(x, y);
            let (rx, ry) = (fx - xp, fy - yp);
            if rx.abs() < 1e-14 && ry.abs() < 1e-14 {
                return Some((x, y));
            }
            let (ax, ay) = self.forward(x + h, y);
            let (bx, by) = self.forward(x - h, y);
            let (cx, cy) = self.forward(x, y + h);
            let (dx, dy) = self.forward(x, y - h);
            let j11 = (ax - bx) / (2.0 * h);
            let j21 = (ay - by) / (2.0 * h);
            let j12 = (cx - dx) / (2.0 * h);
            let j22 = (cy - dy) / (2.0 * h);
            let det = j11 * j22 - j12 * j21;
            if det == 0.0 || !det.is_finite() {
                return None;
            }
            x -= (j22 * rx - j12 * ry) / det;
            y -= (-j21 * rx + j11 * ry) / det;
        }
        let (fx, fy) = self.forward(x, y);
        ((fx - xp).abs() < 1e-11 && (fy - yp).abs() < 1e-11).then_some((x, y))
    }
}
