//! Zenithal projections (FITS WCS paper II, 5.1): TAN, SIN, ARC, STG.

use super::WcsError;

const R2D: f64 = 180.0 / std::f64::consts::PI;
const D2R: f64 = std::f64::consts::PI / 180.0;

/// A zenithal projection, decoded from CTYPEi.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zenithal {
    /// Gnomonic.
    Tan,
    /// Slant orthographic without obliquity (PV2_1 = PV2_2 = 0).
    Sin,
    /// Zenithal equidistant.
    Arc,
    /// Stereographic.
    Stg,
}

impl Zenithal {
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
            "TAN" => Ok(Zenithal::Tan),
            "SIN" => {
                let oblique = terms
                    .iter()
                    .any(|(k, v)| (k == "PV2_1" || k == "PV2_2") && *v != 0.0);
                if oblique {
                    return Err(WcsError::new(
                        "PV2_1",
                        "slant SIN (non-zero PV2_1/PV2_2) is not supported",
                    ));
                }
                Ok(Zenithal::Sin)
            }
            "ARC" => Ok(Zenithal::Arc),
            "STG" => Ok(Zenithal::Stg),
            other => Err(WcsError::new(
                "CTYPE1",
                &format!("'{ctype1}': projection {other:?} is not supported"),
            )),
        }
    }

    /// Native latitude of the reference point: 90 degrees for every zenithal projection.
    pub fn theta0(&self) -> f64 {
        90.0
    }

    /// Intermediate world coordinates (degrees) to native (phi, theta).
    pub fn deproject(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let r = (x * x + y * y).sqrt();
        let phi = if r == 0.0 { 0.0 } else { x.atan2(-y) * R2D };
        let theta = match self {
            Zenithal::Tan => R2D.atan2(r) * R2D,
            Zenithal::Sin => {
                let s = r * D2R;
                if s > 1.0 {
                    return None;
                }
                s.acos() * R2D
            }
            Zenithal::Arc => 90.0 - r,
            Zenithal::Stg => 90.0 - 2.0 * (r / (2.0 * R2D)).atan() * R2D,
        };
        (theta >= -90.0).then_some((phi, theta))
    }

    /// Native (phi, theta) to intermediate world coordinates (degrees).
    pub fn project(&self, phi: f64, theta: f64) -> Option<(f64, f64)> {
        let r = match self {
            Zenithal::Tan => {
                if theta <= 0.0 {
                    return None;
                }
                let (s, c) = (theta * D2R).sin_cos();
                R2D * c / s
            }
            Zenithal::Sin => {
                if theta < 0.0 {
                    return None;
                }
                R2D * (theta * D2R).cos()
            }
            Zenithal::Arc => 90.0 - theta,
            Zenithal::Stg => {
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

/// The three-letter code after the axis type: `RA---TAN-SIP` -> `TAN`.
fn projection_code(ctype: &str) -> &str {
    ctype.get(5..8).unwrap_or("").trim_end_matches('-')
}
