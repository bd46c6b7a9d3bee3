//! The spherical rotation between native and celestial coordinates (FITS WCS paper II, 2.3).

const D2R: f64 = std::f64::consts::PI / 180.0;

/// Native pole position and the reference point, ready for both directions.
#[derive(Debug, Clone)]
pub(crate) struct Rotation {
    alpha_p: f64,
    sin_delta_p: f64,
    cos_delta_p: f64,
    phi_p: f64,
}

impl Rotation {
    /// Builds the rotation for a projection whose reference point is at native latitude
    /// `theta0`. Only `theta0 = 90` (zenithal projections) is handled here, where the
    /// celestial coordinates of the native pole are the reference point itself.
    pub(crate) fn new(
        crval: [f64; 2],
        theta0: f64,
        lonpole: Option<f64>,
        _latpole: Option<f64>,
    ) -> Self {
        let delta0 = crval[1];
        let default_phi_p = if delta0 >= theta0 { 0.0 } else { 180.0 };
        let phi_p = lonpole.unwrap_or(default_phi_p);
        let delta_p = delta0;
        Rotation {
            alpha_p: crval[0],
            sin_delta_p: (delta_p * D2R).sin(),
            cos_delta_p: (delta_p * D2R).cos(),
            phi_p,
        }
    }

    /// Native (phi, theta) to celestial (alpha, delta), degrees, alpha in [0, 360).
    pub(crate) fn native_to_celestial(&self, phi: f64, theta: f64) -> (f64, f64) {
        let (st, ct) = (theta * D2R).sin_cos();
        let dphi = (phi - self.phi_p) * D2R;
        let (sdp, cdp) = dphi.sin_cos();
        let x = st * self.cos_delta_p - ct * self.sin_delta_p * cdp;
        let y = -ct * sdp;
        let alpha = self.alpha_p + y.atan2(x) / D2R;
        let z = st * self.sin_delta_p + ct * self.cos_delta_p * cdp;
        // asin loses precision near the poles: use the norm of (x, y) there.
        let delta = if z.abs() > 0.99 {
            let d = (x * x + y * y).sqrt().acos() / D2R;
            if z < 0.0 { -d } else { d }
        } else {
            z.asin() / D2R
        };
        (alpha.rem_euclid(360.0), delta)
    }

    /// Celestial (alpha, delta) to native (phi, theta), degrees.
    pub(crate) fn celestial_to_native(&self, alpha: f64, delta: f64) -> (f64, f64) {
        let (sd, cd) = (delta * D2R).sin_cos();
        let da = (alpha - self.alpha_p) * D2R;
        let (sda, cda) = da.sin_cos();
        let x = sd * self.cos_delta_p - cd * self.sin_delta_p * cda;
        let y = -cd * sda;
        let phi = self.phi_p + y.atan2(x) / D2R;
        let z = sd * self.sin_delta_p + cd * self.cos_delta_p * cda;
        let theta = if z.abs() > 0.99 {
            let t = (x * x + y * y).sqrt().acos() / D2R;
            if z < 0.0 { -t } else { t }
        } else {
            z.asin() / D2R
        };
        (phi, theta)
    }
}
