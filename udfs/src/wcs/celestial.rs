//! The spherical rotation between native and celestial coordinates (FITS WCS paper II,
//! 2.3 and 2.4).

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
    /// Builds the rotation for a projection whose reference point (phi0 = 0) is at native
    /// latitude `theta0` (paper II, eq. 8-10): for the zenithal projections (theta0 = 90)
    /// the native pole is the reference point; otherwise the celestial latitude of the
    /// native pole is the solution in [-90, 90] closest to LATPOLE (default 90).
    pub(crate) fn new(
        crval: [f64; 2],
        theta0: f64,
        lonpole: Option<f64>,
        latpole: Option<f64>,
    ) -> Self {
        let (alpha0, delta0) = (crval[0], crval[1]);
        let default_phi_p = if delta0 >= theta0 { 0.0 } else { 180.0 };
        let phi_p = lonpole.unwrap_or(default_phi_p);
        let (alpha_p, delta_p) = if theta0 == 90.0 {
            (alpha0, delta0)
        } else {
            let (st0, ct0) = (theta0 * D2R).sin_cos();
            let (sdp0, cdp0) = (phi_p * D2R).sin_cos();
            let a = st0.atan2(ct0 * cdp0) / D2R;
            let denom = (1.0 - ct0 * ct0 * sdp0 * sdp0).sqrt();
            let b = ((delta0 * D2R).sin() / denom).clamp(-1.0, 1.0).acos() / D2R;
            let wrap = |d: f64| (d + 180.0).rem_euclid(360.0) - 180.0;
            let target = latpole.unwrap_or(90.0);
            let delta_p = [wrap(a + b), wrap(a - b)]
                .into_iter()
                .filter(|d| (-90.0 - 1e-12..=90.0 + 1e-12).contains(d))
                .min_by(|x, y| (x - target).abs().total_cmp(&(y - target).abs()))
                .unwrap_or(a + b)
                .clamp(-90.0, 90.0);
            let alpha_p = if (delta_p - 90.0).abs() < 1e-12 {
                alpha0 + phi_p - 180.0
            } else if (delta_p + 90.0).abs() < 1e-12 {
                alpha0 - phi_p
            } else {
                let (sd0, cd0) = (delta0 * D2R).sin_cos();
                let (sdp, cdp) = (delta_p * D2R).sin_cos();
                alpha0 - (sdp0 * ct0 * cdp).atan2(st0 - sdp * sd0) / D2R * cd0.signum()
            };
            (alpha_p, delta_p)
        };
        Rotation {
            alpha_p,
            sin_delta_p: (delta_p * D2R).sin(),
            cos_delta_p: (delta_p * D2R).cos(),
            phi_p,
        }
    }

    /// The rotation as a matrix acting on unit vectors: native (cos theta cos phi,
    /// cos theta sin phi, sin theta) to celestial (cos delta cos alpha, cos delta sin
    /// alpha, sin delta). It is Rz(alpha_p) S Rz(-phi_p), where S turns the native pole to
    /// the celestial latitude delta_p (paper II, eq. 2 written with vectors).
    pub(crate) fn matrix(&self) -> [[f64; 3]; 3] {
        let (sa, ca) = (self.alpha_p * D2R).sin_cos();
        let (sp, cp) = (self.phi_p * D2R).sin_cos();
        let (sd, cd) = (self.sin_delta_p, self.cos_delta_p);
        let rz_alpha = [[ca, -sa, 0.0], [sa, ca, 0.0], [0.0, 0.0, 1.0]];
        let s = [[-sd, 0.0, cd], [0.0, -1.0, 0.0], [cd, 0.0, sd]];
        let rz_minus_phi = [[cp, sp, 0.0], [-sp, cp, 0.0], [0.0, 0.0, 1.0]];
        multiply(&multiply(&rz_alpha, &s), &rz_minus_phi)
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

fn multiply(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}
