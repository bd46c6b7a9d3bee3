//! The demo survey's camera geometry: one TAN WCS per camera, CCD and quarter.
//!
//! Each camera is a mosaic of CCDs (4 x 2 for EROS-2) sharing one tangent point at the
//! field centre; CCD and quarter images differ only by their CRPIX. The blue camera is
//! rotated and shifted by a small amount with respect to the red one, as two real cameras
//! behind a dichroic are. Pixel scale: 0.602 arcsec x 2048 / CCD size, so that a reduced
//! demo CCD covers the sky of a real one.

use skyql_udfs::wcs::Wcs;

use crate::conventions::Conventions;

/// Geometry of the demo mosaic at a given CCD size.
#[derive(Debug, Clone)]
pub struct Mosaic {
    /// CCD side in pixels.
    pub ccd_size: u32,
    /// Pixel scale in degrees.
    pub scale_deg: f64,
    columns: u32,
    rows: u32,
}

impl Mosaic {
    /// The mosaic of the conventions, with CCDs reduced to `ccd_size` pixels.
    pub fn new(conventions: &Conventions, ccd_size: u32) -> Self {
        let g = &conventions.ccd;
        let scale_deg = g.pixel_arcsec / 3600.0 * g.size_pix as f64 / ccd_size as f64;
        Mosaic {
            ccd_size,
            scale_deg,
            columns: g.columns,
            rows: g.rows,
        }
    }

    /// Quarter side in pixels.
    pub fn quarter_size(&self) -> u32 {
        self.ccd_size / 2
    }

    /// The WCS of a whole CCD of `colour` ('R' or 'B') for a field centred on (ra, dec).
    pub fn ccd_wcs(&self, centre: (f64, f64), colour: &str, ccd: i32) -> Wcs {
        let size = self.ccd_size as f64;
        let col = (ccd as u32 % self.columns) as f64;
        let row = (ccd as u32 / self.columns) as f64;
        // Tangent point at the mosaic centre, in this CCD's pixel coordinates.
        let mut crpix1 = self.columns as f64 * size / 2.0 + 0.5 - col * size;
        let mut crpix2 = self.rows as f64 * size / 2.0 + 0.5 - row * size;
        let s = self.scale_deg;
        // East to the left (RA decreases with x), north up.
        let (rot, shift) = if colour == "B" {
            (0.35_f64.to_radians(), (size / 40.0, -size / 55.0))
        } else {
            (0.0, (0.0, 0.0))
        };
        crpix1 += shift.0;
        crpix2 += shift.1;
        let (sr, cr) = rot.sin_cos();
        Wcs {
            ctype1: "RA---TAN".into(),
            ctype2: "DEC--TAN".into(),
            crval: [centre.0, centre.1],
            crpix: [crpix1, crpix2],
            cd: [[-s * cr, s * sr], [s * sr, s * cr]],
            lonpole: None,
            latpole: None,
            radesys: Some("ICRS".into()),
            equinox: Some(2000.0),
            terms: Vec::new(),
        }
    }

    /// The WCS of a quarter image: the CCD's, with CRPIX moved to the quarter's origin.
    pub fn quarter_wcs(&self, ccd_wcs: &Wcs, quarter_cell: [u32; 2]) -> Wcs {
        let q = self.quarter_size() as f64;
        let mut w = ccd_wcs.clone();
        w.crpix[0] -= quarter_cell[0] as f64 * q;
        w.crpix[1] -= quarter_cell[1] as f64 * q;
        w
    }
}
