//! Rendering and writing the demo's FITS images (through skyql's cfitsio wrapper).

use std::path::Path;

use anyhow::{Context, Result};
use skyql_udfs::images::fits_io::{self, KeyValue, Pixels};
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
    // Unsigned 16-bit ADU: stored as signed with BZERO 32768, as FITS does.
    let mut stored = Pixels::I16(pixels.iter().map(|&v| (v as i32 - 32768) as i16).collect());
    let size = spec.size as i64;
    fits_io::write_image(&tmp, [size, size], &mut stored, &[], &header_keys(spec))
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot write FITS image {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// The header of a demo image: scaling, the spec's keywords, date, exposure, the CCD's
/// electronics, then XSHIFT/YSHIFT (current images) or the WCS (reference images).
fn header_keys(spec: &ImageSpec<'_>) -> Vec<(String, KeyValue, String)> {
    let mut keys: Vec<(String, KeyValue, String)> = Vec::new();
    let mut key = |k: &str, v: KeyValue, c: &str| keys.push((k.to_string(), v, c.to_string()));
    key(
        "BZERO",
        KeyValue::Real(32768.0),
        "offset of unsigned 16-bit values",
    );
    key("BSCALE", KeyValue::Real(1.0), "default scaling factor");
    for (k, v, c) in &spec.keywords {
        key(k, KeyValue::Text(v.clone()), c);
    }
    for (k, v, c) in &spec.int_keywords {
        key(k, KeyValue::Integer(*v), c);
    }
    let e = &spec.electronics;
    let real = KeyValue::Real;
    key(
        "DATE-OBS",
        KeyValue::Text(mjd_to_iso(spec.mjd)),
        "UTC at mid-exposure",
    );
    key("MJD-OBS", real(spec.mjd), "[d] Modified Julian Date (UTC)");
    key("EXPTIME", real(spec.exptime), "[s] exposure time");
    key("AIRMASS", real(spec.airmass), "airmass at mid-exposure");
    key("GAIN", real(e.gain), "[electron/adu] CCD gain");
    key("RDNOISE", real(e.readout_noise), "[adu] readout noise");
    key("OFFSET", real(e.offset), "[adu] electronic offset");
    key("SATURATE", real(e.saturation), "[adu] saturation");
    key("BUNIT", KeyValue::Text("adu".into()), "S = N/gain + offset");
    let w = spec.wcs;
    if let Some((dx, dy)) = spec.alignment {
        key(
            "XSHIFT",
            real(dx),
            "[pix] x offset from the CCD reference frame",
        );
        key(
            "YSHIFT",
            real(dy),
            "[pix] y offset from the CCD reference frame",
        );
        return keys;
    }
    let frame = w.radesys.clone().unwrap_or_else(|| "ICRS".into());
    key("RADESYS", KeyValue::Text(frame), "reference frame");
    key("EQUINOX", real(w.equinox.unwrap_or(2000.0)), "[yr]");
    key(
        "CTYPE1",
        KeyValue::Text(w.ctype1.clone()),
        "gnomonic projection",
    );
    key(
        "CTYPE2",
        KeyValue::Text(w.ctype2.clone()),
        "gnomonic projection",
    );
    key(
        "CRVAL1",
        real(w.crval[0]),
        "[deg] RA at the reference pixel",
    );
    key(
        "CRVAL2",
        real(w.crval[1]),
        "[deg] Dec at the reference pixel",
    );
    key("CRPIX1", real(w.crpix[0]), "reference pixel x");
    key("CRPIX2", real(w.crpix[1]), "reference pixel y");
    key("CD1_1", real(w.cd[0][0]), "[deg/pix]");
    key("CD1_2", real(w.cd[0][1]), "[deg/pix]");
    key("CD2_1", real(w.cd[1][0]), "[deg/pix]");
    key("CD2_2", real(w.cd[1][1]), "[deg/pix]");
    keys
}
