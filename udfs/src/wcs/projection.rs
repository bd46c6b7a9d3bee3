//! Projections (FITS WCS paper II): the zenithal TAN, SIN (with slant), ARC, STG and ZPN
//! (section 5.1), the cylindrical CAR (5.2) and Hammer-Aitoff AIT (5.3).

use super::WcsError;

const R2D: f64 = 180.0 / std::f64::consts::PI;
const D2R: f64 = std::f64::consts::PI / 180.0;

/// A projection, decoded from CTYPEi.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// Gnomonic (also the projection of TAN-SIP and TPV).
    Tan,
    /// Orthographic, slant when (xi, eta) = (PV2_1, PV2_2) are not zero.
    Sin {
        /// PV2_1.
        xi: f64,
        /// PV2_2.
        eta: f64,
    },
    /// Zenithal equidistant.
    Arc,
    /// Stereographic.
    Stg,
    /// Zenithal polynomial: R = (180/pi) sum PV2_m zeta^m, zeta = (90 - theta) in radians.
    Zpn(Zpn),
    /// Plate carree: x = phi, y = theta.
    Car,
    /// Hammer-Aitoff equal-area.
    Ait,
}

/// ZPN coefficients and the range where the polynomial increases.
#[derive(Debug, Clone, PartialEq)]
pub struct Zpn {
    coefficients: Vec<f64>,
    /// Zenith distance (radians) of the first maximum of the polynomial, or pi.
    zeta_max: f64,
    /// The polynomial at `zeta_max`.
    r_max: f64,
}

impl Zpn {
    fn new(terms: &[(String, f64)]) -> Result<Self, WcsError> {
        let mut coefficients = vec![0.0; 30];
        for (k, v) in terms {
            if let Some(m) = k.strip_prefix("PV2_").and_then(|m| m.parse::<usize>().ok()) {
                if m >= coefficients.len() {
                    return Err(WcsError::new(k, "ZPN takes PV2_0 to PV2_29"));
                }
                coefficients[m] = *v;
            }
        }
        while coefficients.len() > 1 && coefficients.last() == Some(&0.0) {
            coefficients.pop();
        }
        if coefficients.len() < 2 || coefficients[1] <= 0.0 {
            return Err(WcsError::new("PV2_1", "ZPN needs PV2_1 > 0"));
        }
        let mut z = Zpn {
            coefficients,
            zeta_max: std::f64::consts::PI,
            r_max: 0.0,
        };
        // The first zenith distance where the derivative is no longer positive.
        let mut lo = 0.0;
        for step in 1..=180 {
            let hi = (step as f64).to_radians();
            if z.derivative(hi) <= 0.0 {
                let mut a = lo;
                let mut b = hi;
                for _ in 0..100 {
                    let m = 0.5 * (a + b);
                    if z.derivative(m) > 0.0 { a = m } else { b = m }
                }
                z.zeta_max = a;
                break;
            }
            lo = hi;
        }
        z.r_max = z.value(z.zeta_max);
        Ok(z)
    }

    fn value(&self, zeta: f64) -> f64 {
        self.coefficients
            .iter()
            .rev()
            .fold(0.0, |acc, c| acc * zeta + c)
    }

    fn derivative(&self, zeta: f64) -> f64 {
        self.coefficients
            .iter()
            .enumerate()
            .skip(1)
            .rev()
            .fold(0.0, |acc, (m, c)| acc * zeta + m as f64 * c)
    }

    /// Zenith distance (radians) where the polynomial equals `r` (radians), if any.
    fn solve(&self, r: f64) -> Option<f64> {
        let tol = 1e-13;
        let r0 = self.coefficients[0];
        if r < r0 - tol || r > self.r_max + tol {
            return None;
        }
        if r <= r0 {
            return Some(0.0);
        }
        if r >= self.r_max {
            return Some(self.zeta_max);
        }
        let (mut a, mut b) = (0.0, self.zeta_max);
        let mut z = r / self.coefficients[1];
        for _ in 0..200 {
            if !(a..=b).contains(&z) {
                z = 0.5 * (a + b);
            }
            let f = self.value(z) - r;
            if f.abs() < 1e-15 {
                break;
            }
            if f > 0.0 {
                b = z
            } else {
                a = z
            }
            let d = self.derivative(z);
            let next = if d > 0.0 { z - f / d } else { 0.5 * (a + b) };
            if (next - z).abs() < 1e-16 {
                z = next;
                break;
            }
            z = next;
        }
        Some(z)
    }
}

impl Projection {
    /// Reads the projection code of `RA---TAN`, `DEC--TAN-SIP`, `GLON-SIN`, ...
    pub fn from_ctypes(
        ctype1: &str,
        ctype2: &str,
        terms: &[(String, f64)],
    ) -> Result<Self, WcsError> {
        let code1 = projection_code(ctype1);
        let code2 = projection_code(ctype2);
        if code1 != code2 {
            return Err(WcsError::new(
                "CTYPE2",
                &format!("projection {code2:?} differs from CTYPE1's {code1:?}"),
            ));
        }
        let lat_first = ["DEC-", "GLAT", "ELAT"]
            .iter()
            .any(|p| ctype1.starts_with(p));
        if lat_first {
            return Err(WcsError::new(
                "CTYPE1",
                &format!("'{ctype1}': latitude on the first axis is not supported"),
            ));
        }
        match code1 {
            "TAN" | "TPV" => Ok(Projection::Tan),
            "SIN" => {
                let pv = |k: &str| terms.iter().find(|(n, _)| n == k).map_or(0.0, |(_, v)| *v);
                Ok(Projection::Sin {
                    xi: pv("PV2_1"),
                    eta: pv("PV2_2"),
                })
            }
            "ZPN" => Ok(Projection::Zpn(Zpn::new(terms)?)),
            "CAR" => Ok(Projection::Car),
            "AIT" => Ok(Projection::Ait),
            "ARC" => Ok(Projection::Arc),
            "STG" => Ok(Projection::Stg),
            other => Err(WcsError::new(
                "CTYPE1",
                &format!("'{ctype1}': projection {other:?} is not supported"),
            )),
        }
    }

    /// Native latitude of the reference point: 90 degrees for the zenithal projections,
    /// 0 for CAR and AIT.
    pub fn theta0(&self) -> f64 {
        match self {
            Projection::Car | Projection::Ait => 0.0,
            _ => 90.0,
        }
    }

    /// Intermediate world coordinates (degrees) to native (phi, theta).
    pub fn deproject(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        match self {
            Projection::Car => {
                return (y.abs() <= 90.0).then_some((x, y));
            }
            Projection::Ait => {
                // Paper II eq. 109-110 (WCSLIB aitx2s).
                let z2 = 1.0 - (x * D2R / 4.0).powi(2) - (y * D2R / 2.0).powi(2);
                if z2 < 0.5 - 1e-13 {
                    return None;
                }
                let z = z2.max(0.5).sqrt();
                let phi = 2.0 * (z * x * D2R / 2.0).atan2(2.0 * z * z - 1.0) * R2D;
                let theta = (y * D2R * z).clamp(-1.0, 1.0).asin() * R2D;
                return Some((phi, theta));
            }
            _ => {}
        }
        if let Projection::Sin { xi, eta } = self
            && (*xi != 0.0 || *eta != 0.0)
        {
            return slant_sin_deproject(x * D2R, y * D2R, *xi, *eta);
        }
        let r = (x * x + y * y).sqrt();
        let phi = if r == 0.0 { 0.0 } else { x.atan2(-y) * R2D };
        let theta = match self {
            Projection::Tan => R2D.atan2(r) * R2D,
            Projection::Sin { .. } => {
                let s = r * D2R;
                if s > 1.0 {
                    return None;
                }
                s.acos() * R2D
            }
            Projection::Zpn(z) => 90.0 - z.solve(r * D2R)? * R2D,
            // Handled before the zenithal cases.
            Projection::Car | Projection::Ait => return None,
            Projection::Arc => 90.0 - r,
            Projection::Stg => 90.0 - 2.0 * (r / (2.0 * R2D)).atan() * R2D,
        };
        (theta >= -90.0).then_some((phi, theta))
    }

    /// Native (phi, theta) to intermediate world coordinates (degrees).
    pub fn project(&self, phi: f64, theta: f64) -> Option<(f64, f64)> {
        match self {
            Projection::Car => {
                return Some(((phi + 180.0).rem_euclid(360.0) - 180.0, theta));
            }
            Projection::Ait => {
                let phi = (phi + 180.0).rem_euclid(360.0) - 180.0;
                let (st, ct) = (theta * D2R).sin_cos();
                let (sp, cp) = (phi * D2R / 2.0).sin_cos();
                let gamma = R2D * (2.0 / (1.0 + ct * cp)).sqrt();
                return Some((2.0 * gamma * ct * sp, gamma * st));
            }
            _ => {}
        }
        let r = match self {
            Projection::Tan => {
                if theta <= 0.0 {
                    return None;
                }
                let (s, c) = (theta * D2R).sin_cos();
                R2D * c / s
            }
            Projection::Sin { xi, eta } => {
                let (st, ct) = (theta * D2R).sin_cos();
                if *xi != 0.0 || *eta != 0.0 {
                    let (sp, cp) = (phi * D2R).sin_cos();
                    let t = 1.0 - st;
                    return Some((R2D * (ct * sp + xi * t), -R2D * (ct * cp - eta * t)));
                }
                if theta < 0.0 {
                    return None;
                }
                R2D * ct
            }
            Projection::Zpn(z) => {
                let zeta = (90.0 - theta) * D2R;
                if zeta > z.zeta_max {
                    return None;
                }
                R2D * z.value(zeta)
            }
            // Handled before the zenithal cases.
            Projection::Car | Projection::Ait => return None,
            Projection::Arc => 90.0 - theta,
            Projection::Stg => {
                if theta <= -90.0 {
                    return None;
                }
                2.0 * R2D * ((90.0 - theta) * D2R / 2.0).tan()
            }
        };
        let (sp, cp) = (phi * D2R).sin_cos();
        Some((r * sp, -r * cp))
    }
}

/// Slant orthographic, intermediate coordinates in radians (paper II, eq. 40-41): with
/// t = 1 - sin(theta), A t^2 - 2 B t + (X^2 + Y^2) = 0, the root nearer the reference point.
fn slant_sin_deproject(x: f64, y: f64, xi: f64, eta: f64) -> Option<(f64, f64)> {
    let a = xi * xi + eta * eta + 1.0;
    let b = 1.0 + x * xi + y * eta;
    let d = b * b - a * (x * x + y * y);
    if d < 0.0 {
        return None;
    }
    let t = (b - d.sqrt()) / a;
    let s = 1.0 - t;
    if !(-1.0..=1.0).contains(&s) {
        return None;
    }
    let theta = s.asin() * R2D;
    let phi = (x - xi * t).atan2(-(y - eta * t)) * R2D;
    Some((phi, theta))
}

/// The three-letter code after the axis type: `RA---TAN-SIP` -> `TAN`.
fn projection_code(ctype: &str) -> &str {
    ctype.get(5..8).unwrap_or("").trim_end_matches('-')
}
