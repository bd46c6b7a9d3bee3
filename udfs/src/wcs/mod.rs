//! World Coordinate System (FITS WCS papers I and II, SIP convention) for celestial images.
//!
//! A [`Wcs`] is built from header cards ([`Wcs::from_cards`]), stored in catalogues as an
//! Arrow struct ([`arrow_struct`]), and, once prepared ([`Wcs::prepare`]), converts pixels
//! to sky and back ([`PreparedWcs::pix2sky`], [`PreparedWcs::sky2pix`]). Pixel coordinates
//! follow the FITS convention: the centre of the first pixel is (1.0, 1.0). Angles are in
//! degrees.

pub mod arrow_struct;
mod celestial;
mod gnomonic;
mod header;
mod projection;
mod sip;
mod tpv;

pub use header::WcsError;
pub use projection::Projection;
pub use sip::Sip;
pub use tpv::Tpv;

/// A celestial WCS: linear part, projection, celestial rotation and optional SIP distortion.
#[derive(Debug, Clone, PartialEq)]
pub struct Wcs {
    /// CTYPE1 as written (e.g. `RA---TAN-SIP`).
    pub ctype1: String,
    /// CTYPE2 as written.
    pub ctype2: String,
    /// CRVAL1, CRVAL2 in degrees.
    pub crval: [f64; 2],
    /// CRPIX1, CRPIX2 (1-based pixels).
    pub crpix: [f64; 2],
    /// The CD matrix (degrees per pixel), derived from CD, PC x CDELT or CDELT + CROTA2.
    pub cd: [[f64; 2]; 2],
    /// LONPOLE when given.
    pub lonpole: Option<f64>,
    /// LATPOLE when given.
    pub latpole: Option<f64>,
    /// RADESYS when given (ICRS, FK5, ...).
    pub radesys: Option<String>,
    /// EQUINOX (or legacy EPOCH) when given.
    pub equinox: Option<f64>,
    /// Other numeric terms the projection or distortion needs, by keyword
    /// (`PV2_1`, `A_ORDER`, `A_2_0`, `AP_1_1`, ...), in header order.
    pub terms: Vec<(String, f64)>,
}

/// A [`Wcs`] made ready for repeated transforms: projection decoded, matrices inverted.
#[derive(Debug, Clone)]
pub struct PreparedWcs {
    crval: [f64; 2],
    crpix: [f64; 2],
    cd: [[f64; 2]; 2],
    cd_inv: [[f64; 2]; 2],
    projection: Projection,
    rotation: celestial::Rotation,
    sip: Option<Sip>,
    tpv: Option<Tpv>,
    /// For TAN (also TAN-SIP and TPV): the native-to-celestial rotation as a matrix, so
    /// that a point costs one matrix product and two arctangents (see [`gnomonic`]).
    gnomonic: Option<[[f64; 3]; 3]>,
}

impl Wcs {
    /// Decodes the projection and distortion and inverts the matrices.
    pub fn prepare(&self) -> Result<PreparedWcs, WcsError> {
        let projection = Projection::from_ctypes(&self.ctype1, &self.ctype2, &self.terms)?;
        if !(-90.0..=90.0).contains(&self.crval[1]) || !self.crval[0].is_finite() {
            return Err(WcsError::new(
                "CRVAL2",
                &format!(
                    "{} is not a latitude (outside -90..90): no position from this WCS",
                    self.crval[1]
                ),
            ));
        }
        let det = self.cd[0][0] * self.cd[1][1] - self.cd[0][1] * self.cd[1][0];
        if det == 0.0 || !det.is_finite() {
            return Err(WcsError::new(
                "CD",
                "the linear transformation matrix is singular",
            ));
        }
        let cd_inv = [
            [self.cd[1][1] / det, -self.cd[0][1] / det],
            [-self.cd[1][0] / det, self.cd[0][0] / det],
        ];
        let sip = if self.ctype1.ends_with("-SIP") {
            Some(Sip::from_terms(&self.terms)?)
        } else {
            None
        };
        let tpv = if self.ctype1.get(5..8) == Some("TPV") {
            Some(Tpv::from_terms(&self.terms)?)
        } else {
            None
        };
        let rotation =
            celestial::Rotation::new(self.crval, projection.theta0(), self.lonpole, self.latpole);
        let gnomonic = (projection == Projection::Tan).then(|| rotation.matrix());
        Ok(PreparedWcs {
            gnomonic,
            crval: self.crval,
            crpix: self.crpix,
            cd: self.cd,
            cd_inv,
            projection,
            rotation,
            sip,
            tpv,
        })
    }
}

impl PreparedWcs {
    /// The reference point (CRVAL1, CRVAL2) in degrees.
    pub fn crval(&self) -> [f64; 2] {
        self.crval
    }

    /// Pixel (1-based) to (ra, dec) in degrees, ra in [0, 360).
    pub fn pix2sky(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        let mut u = x - self.crpix[0];
        let mut v = y - self.crpix[1];
        if let Some(sip) = &self.sip {
            let (du, dv) = sip.forward(u, v);
            u += du;
            v += dv;
        }
        let mut ix = self.cd[0][0] * u + self.cd[0][1] * v;
        let mut iy = self.cd[1][0] * u + self.cd[1][1] * v;
        if let Some(tpv) = &self.tpv {
            (ix, iy) = tpv.forward(ix, iy);
        }
        let (ra, dec) = match &self.gnomonic {
            Some(m) => gnomonic::deproject_and_rotate(m, ix, iy),
            None => {
                let (phi, theta) = self.projection.deproject(ix, iy)?;
                self.rotation.native_to_celestial(phi, theta)
            }
        };
        (ra.is_finite() && dec.is_finite()).then_some((ra, dec))
    }

    /// (ra, dec) in degrees to pixel (1-based).
    pub fn sky2pix(&self, ra: f64, dec: f64) -> Option<(f64, f64)> {
        if !ra.is_finite() || !dec.is_finite() {
            return None;
        }
        let (mut ix, mut iy) = match &self.gnomonic {
            Some(m) => gnomonic::rotate_and_project(m, ra, dec)?,
            None => {
                let (phi, theta) = self.rotation.celestial_to_native(ra, dec);
                self.projection.project(phi, theta)?
            }
        };
        if let Some(tpv) = &self.tpv {
            (ix, iy) = tpv.inverse(ix, iy)?;
        }
        let mut u = self.cd_inv[0][0] * ix + self.cd_inv[0][1] * iy;
        let mut v = self.cd_inv[1][0] * ix + self.cd_inv[1][1] * iy;
        if let Some(sip) = &self.sip {
            let (cu, cv) = sip.inverse(u, v)?;
            u = cu;
            v = cv;
        }
        Some((u + self.crpix[0], v + self.crpix[1]))
    }
}
