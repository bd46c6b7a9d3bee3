//! Rendering and writing the demo's FITS images with fitsio (cfitsio).

use std::path::Path;

use anyhow::{Context, Result};
use fitsio::FitsFile;
use fitsio::images::{ImageDescription, ImageType};
use skyql_udfs::wcs::Wcs;

use super::rng::Rng;
use crate::conventions::CcdElectronics;
use skyql_udfs::time::mjd_to_iso;

/// Zero point: a star of this magnitude gives one photo-electron per second.
const ZERO_POINT: f64 = 22.5;
/// Sky background in photo-electrons per pixel per second.
const SKY_RATE: f64 = 2.5;
/// PSF width (Gaussian sigma) in pixels of the demo image.
const PSF_SIGMA: f64 = 1.1;

/// What goes in one image file.
pub struct ImageSpec<'a> {
    /// Side in pixels (square images).
    pub size: u32,
    /// The image's WCS.
    pub wcs: &'a Wcs,
    /// Stars as (ra, dec, magnitude).
    pub stars: &'a [(f64, f64, f64)],
    /// Exposure time in seconds.
    pub exptime: f64,
    /// MJD at mid-exposure.
    pub mjd: f64,
    /// Airmass.
    pub airmass: f64,
    /// The CCD's electronics.
    pub electronics: CcdElectronics,
    /// Extra string keywords (OBJECT, FILTER, ...).
    pub keywords: Vec<(&'static str, String, &'static str)>,
    /// Extra integer keywords (CCD, CAMERA, ...).
    pub int_keywords: Vec<(&'static str, i64, &'static str)>,
    /// For a current image: its offset (x, y) in pixels from the CCD's reference frame,
    /// as the photometric alignment measured it. Such an image carries XSHIFT/YSHIFT
    /// and no WCS, like EROS-2's current images; reference images carry a WCS.
    pub alignment: Option<(f64, f64)>,
}

/// Renders the pixels: stars through the PSF on the sky, Poisson noise in electrons,
/// then S = N/g + O plus readout noise, clipped to saturation (unsigned 16-bit ADU).
pub fn render(spec: &ImageSpec<'_>, rng: &mut Rng) -> Vec<u16> {
    let n = spec.size as usize;
    let mut electrons = vec![SKY_RATE * spec.exptime; n * n];
    let radius = (4.0 * PSF_SIGMA).ceil() as i64;
    let norm = 1.0 / (2.0 * std::f64::consts::PI * PSF_SIGMA * PSF_SIGMA);
    if let Ok(prepared) = spec.wcs.prepare() {
        for &(ra, dec, mag) in spec.stars {
            let Some((px, py)) = prepared.sky2pix(ra, dec) else {
                continue;
            };
            if px < -5.0 || py < -5.0 || px > n as f64 + 5.0 || py > n as f64 + 5.0 {
                continue;
            }
            let flux = 10f64.powf(-0.4 * (mag - ZERO_POINT)) * spec.exptime;
            let (cx, cy) = (px.round() as i64, py.round() as i64);
            for j in (cy - radius)..=(cy + radius) {
                for i in (cx - radius)..=(cx + radius) {
                    if i < 1 || j < 1 || i > n as i64 || j > n as i64 {
                        continue;
                    }
                    let dx = i as f64 - px;
                    let dy = j as f64 - py;
                    let w = norm * (-(dx * dx + dy * dy) / (2.0 * PSF_SIGMA * PSF_SIGMA)).exp();
                    electrons[(j as usize - 1) * n + (i as usize - 1)] += flux * w;
                }
            }
        }
    }
    let e = spec.electronics;
    electrons
        .into_iter()
        .map(|ne| {
            let noisy = ne + ne.sqrt() * rng.normal();
            let adu = noisy / e.gain + e.offset + e.readout_noise * rng.normal();
            adu.clamp(0.0, e.saturation).round() as u16
        })
        .collect()
}

/// Writes the image and its header to `path` (through a temporary name, then renamed).
pub fn write_image(path: &Path, spec: &ImageSpec<'_>, pixels: &[u16]) -> Result<()> {
    let tmp = path.with_extension("fits.partial");
    let _ = std::fs::remove_file(&tmp);
    let dims = [spec.size as usize, spec.size as usize];
    let description = ImageDescription {
        data_type: ImageType::UnsignedShort,
        dimensions: &dims,
    };
    let write = || -> Result<(), fitsio::errors::Error> {
        let mut f = FitsFile::create(&tmp)
            .with_custom_primary(&description)
            .open()?;
        let hdu = f.primary_hdu()?;
        for (k, v, c) in &spec.keywords {
            hdu.write_key(&mut f, k, (v.as_str(), *c))?;
        }
        for (k, v, c) in &spec.int_keywords {
            hdu.write_key(&mut f, k, (*v, *c))?;
        }
        let w = spec.wcs;
        hdu.write_key(
            &mut f,
            "DATE-OBS",
            (mjd_to_iso(spec.mjd).as_str(), "UTC at mid-exposure"),
        )?;
        hdu.write_key(
            &mut f,
            "MJD-OBS",
            (spec.mjd, "[d] Modified Julian Date (UTC)"),
        )?;
        hdu.write_key(&mut f, "EXPTIME", (spec.exptime, "[s] exposure time"))?;
        hdu.write_key(&mut f, "AIRMASS", (spec.airmass, "airmass at mid-exposure"))?;
        hdu.write_key(
            &mut f,
            "GAIN",
            (spec.electronics.gain, "[electron/adu] CCD gain"),
        )?;
        hdu.write_key(
            &mut f,
            "RDNOISE",
            (spec.electronics.readout_noise, "[adu] readout noise"),
        )?;
        hdu.write_key(
            &mut f,
            "OFFSET",
            (spec.electronics.offset, "[adu] electronic offset"),
        )?;
        hdu.write_key(
            &mut f,
            "SATURATE",
            (spec.electronics.saturation, "[adu] saturation"),
        )?;
        hdu.write_key(&mut f, "BUNIT", ("adu", "S = N/gain + offset"))?;
        if let Some((dx, dy)) = spec.alignment {
            hdu.write_key(
                &mut f,
                "XSHIFT",
                (dx, "[pix] x offset from the CCD reference frame"),
            )?;
            hdu.write_key(
                &mut f,
                "YSHIFT",
                (dy, "[pix] y offset from the CCD reference frame"),
            )?;
        } else {
            hdu.write_key(
                &mut f,
                "RADESYS",
                (w.radesys.as_deref().unwrap_or("ICRS"), "reference frame"),
            )?;
            hdu.write_key(&mut f, "EQUINOX", (w.equinox.unwrap_or(2000.0), "[yr]"))?;
            hdu.write_key(&mut f, "CTYPE1", (w.ctype1.as_str(), "gnomonic projection"))?;
            hdu.write_key(&mut f, "CTYPE2", (w.ctype2.as_str(), "gnomonic projection"))?;
            hdu.write_key(
                &mut f,
                "CRVAL1",
                (w.crval[0], "[deg] RA at the reference pixel"),
            )?;
            hdu.write_key(
                &mut f,
                "CRVAL2",
                (w.crval[1], "[deg] Dec at the reference pixel"),
            )?;
            hdu.write_key(&mut f, "CRPIX1", (w.crpix[0], "reference pixel x"))?;
            hdu.write_key(&mut f, "CRPIX2", (w.crpix[1], "reference pixel y"))?;
            hdu.write_key(&mut f, "CD1_1", (w.cd[0][0], "[deg/pix]"))?;
            hdu.write_key(&mut f, "CD1_2", (w.cd[0][1], "[deg/pix]"))?;
            hdu.write_key(&mut f, "CD2_1", (w.cd[1][0], "[deg/pix]"))?;
            hdu.write_key(&mut f, "CD2_2", (w.cd[1][1], "[deg/pix]"))?;
        }
        hdu.write_image(&mut f, pixels)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write FITS image {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
