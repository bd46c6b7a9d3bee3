//! The usage and description of every function: one table, given to DataFusion through
//! each function's `documentation()`, so that `skyql functions`, `skyql describe-function`
//! and `information_schema.routines` show the same text.

use std::collections::HashMap;
use std::sync::OnceLock;

use datafusion::logical_expr::{DocSection, Documentation};

/// Usage and description of one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDoc {
    /// Name, as called in SQL.
    pub name: &'static str,
    /// Call form.
    pub usage: &'static str,
    /// What it returns, units and conventions.
    pub description: &'static str,
}

/// Every function of this crate.
pub const FUNCTION_DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "pix2sky",
        usage: "pix2sky(x, y, wcs [, origin]) -> struct {ra, dec}",
        description: "FITS pixel (the first pixel's centre is 1.0; origin 0 for 0-based pixels, as astropy's origin=0) to ICRS/FK5 degrees through a wcs struct (images.wcs, wcs_from_header, wcs_from_fits). TAN, SIN (slant too), ARC, STG, ZPN, CAR, AIT; CD, PC + CDELT, CDELT + CROTA2; SIP and TPV distortions. Null off the sky or for a WCS it cannot use.",
    },
    FunctionDoc {
        name: "sky2pix",
        usage: "sky2pix(ra, dec, wcs [, origin]) -> struct {x, y}",
        description: "Degrees to FITS pixel (1-based; 0-based with origin 0) through a wcs struct; the inverse of pix2sky to 1e-6 pixel. Null where the projection is undefined.",
    },
    FunctionDoc {
        name: "wcs_from_header",
        usage: "wcs_from_header(card_text) -> wcs",
        description: "A wcs struct from FITS header text: cards separated by newlines, or concatenated 80-character records. An error names the keyword it cannot use.",
    },
    FunctionDoc {
        name: "wcs_from_fits",
        usage: "wcs_from_fits(path [, hdu]) -> wcs",
        description: "A wcs struct from a FITS file: HDU hdu (1 = primary) or the first 2-D image HDU, which inherits the primary header's keywords it does not set.",
    },
    FunctionDoc {
        name: "wcs_shift",
        usage: "wcs_shift(wcs, dx, dy) -> wcs",
        description: "The same WCS for pixels shifted by (dx, dy): CRPIX + (dx, dy). Propagates a CCD quarter's solution to the whole CCD (dx, dy = the quarter's origin) or to an exposure offset from the reference frame.",
    },
    FunctionDoc {
        name: "cutout",
        usage: "cutout(path, ra, dec, size_pix [, name]) -> path",
        description: "Writes the size_pix x size_pix region of the image centred on (ra, dec) as FITS under the output root (--output-root; name relative to it, default cutouts/<stem>_<ra>_<dec>_<size>.fits) and returns its path. Reads only the region; CRPIX shifted so every pixel keeps its sky position; source keywords kept, SRCFILE/SRCHDU/SRCREGN/PADDED added. Partly off: padded with NaN (BLANK for integers); entirely off: NULL and a message. A relative path names a file under the output root first.",
    },
    FunctionDoc {
        name: "public_image",
        usage: "public_image(path, wcs [, name [, wcs_source]]) -> path",
        description: "Writes the image at path with the given WCS (its own WCS keywords replaced) and the public keywords (ORIGIN, DATE, SRCFILE, WCSSRC = wcs_source; telescope, instrument, DATE-OBS, MJD-OBS, EXPTIME, FILTER, GAIN, BUNIT kept) under the output root (default public/<file name>); returns its path. See sql/public_images.sql.",
    },
    FunctionDoc {
        name: "quicklook",
        usage: "quicklook(path [, stretch [, size]]) -> path",
        description: "Writes a PNG of the image (stretch zscale, asinh or linear; longer side resampled to size pixels) under the output root as quicklook/<stem>_<stretch>_<size>.png; returns its path.",
    },
    FunctionDoc {
        name: "ang_sep",
        usage: "ang_sep(ra1, dec1, ra2, dec2) -> degrees",
        description: "Angular separation in degrees (Vincenty's formula: exact from 0 to 180 degrees).",
    },
    FunctionDoc {
        name: "cone_contains",
        usage: "cone_contains(ra, dec, ra0, dec0, radius) -> boolean",
        description: "True when (ra, dec) lies within radius degrees of (ra0, dec0), boundary included.",
    },
    FunctionDoc {
        name: "sky_polygon_contains",
        usage: "sky_polygon_contains(ra, dec, ra1, dec1, ra2, dec2, ra3, dec3 [, ...]) -> boolean",
        description: "Whether (ra, dec) is inside the polygon of the given vertices (degrees) with great-circle edges, as ADQL's POLYGON (concave polygons too). Null when an input is null or the polygon does not fit in a hemisphere.",
    },
    FunctionDoc {
        name: "sky_box_contains",
        usage: "sky_box_contains(ra, dec, ra0, dec0, width, height) -> boolean",
        description: "Whether (ra, dec) is inside the box of width x height degrees centred on (ra0, dec0), as ADQL's BOX: great-circle sides at the half-widths in the plane tangent at the centre.",
    },
    FunctionDoc {
        name: "sky_region_contains",
        usage: "sky_region_contains(region, ra, dec) -> boolean",
        description: "Whether the region written as STC-S text (POLYGON, CIRCLE, BOX or POSITION, a frame word allowed, as ObsCore's s_region) holds (ra, dec), in degrees: ADQL's CONTAINS(POINT, region column). Null when the text is not such a region.",
    },
    FunctionDoc {
        name: "sky_region_meets_circle",
        usage: "sky_region_meets_circle(region, ra0, dec0, r) -> boolean",
        description: "Whether the region written as STC-S text and the circle of radius r around (ra0, dec0) share a point, in degrees: ADQL's INTERSECTS(region column, CIRCLE). Null when the text is not such a region.",
    },
    FunctionDoc {
        name: "healpix",
        usage: "healpix(ra, dec, order) -> bigint",
        description: "NESTED HEALPix index at order 0..29 (cdshealpix). stars.healpix holds order 29; order n is that index shifted right by 2 x (29 - n).",
    },
    FunctionDoc {
        name: "healpix_cone_cells",
        usage: "healpix_cone_cells(ra, dec, radius, order) -> list of bigint",
        description: "NESTED HEALPix cells at order 0..29 that a cone of radius degrees overlaps (cdshealpix approximate coverage: all of them, possibly a few more). Used by the spatial join of ang_sep conditions.",
    },
    FunctionDoc {
        name: "xmatch",
        usage: "FROM xmatch(left_table, right_table, radius_arcsec [, 'all' | 'best' [, 'inner' | 'left']])",
        description: "Table function: the cross-match of two tables by position (columns with UCD pos.eq.ra/pos.eq.dec, else named ra/dec, RAJ2000/DEJ2000, RA_ICRS/DE_ICRS; make a view otherwise). Every pair within the radius ('all') or the nearest right row per left row ('best', STILTS find=best1); unmatched left rows dropped ('inner') or kept with nulls ('left'). Columns: both tables' (a shared name gets _1 and _2) and sep_arcsec. Planned as a HEALPix spatial join.",
    },
    FunctionDoc {
        name: "mjd_to_iso",
        usage: "mjd_to_iso(mjd) -> text",
        description: "MJD (UTC) to YYYY-MM-DDThh:mm:ss.sss.",
    },
    FunctionDoc {
        name: "iso_to_mjd",
        usage: "iso_to_mjd(text) -> mjd",
        description: "YYYY-MM-DD[Thh:mm:ss[.s]] (UTC) to MJD; null when the text does not parse.",
    },
    FunctionDoc {
        name: "jd_to_mjd",
        usage: "jd_to_mjd(jd) -> mjd",
        description: "JD - 2400000.5.",
    },
    FunctionDoc {
        name: "eros_date_to_mjd",
        usage: "eros_date_to_mjd(date) -> mjd",
        description: "The EROS light-curve date column (JD - 2450000) to MJD: date + 49999.5.",
    },
    FunctionDoc {
        name: "hjd",
        usage: "hjd(mjd, ra, dec) -> heliocentric mjd",
        description: "Heliocentric MJD of an observation at mjd (UTC) of a star at (ra, dec) degrees: the Earth-Sun light time projected on the star's direction, with the Astronomical Almanac's solar coordinates; within 0.1 s of astropy.",
    },
    FunctionDoc {
        name: "mag_to_flux",
        usage: "mag_to_flux(mag, zp) -> flux",
        description: "10^(-0.4 (mag - zp)).",
    },
    FunctionDoc {
        name: "flux_to_mag",
        usage: "flux_to_mag(flux, zp) -> mag",
        description: "zp - 2.5 log10(flux); null for flux <= 0.",
    },
    FunctionDoc {
        name: "mag_err_to_flux_err",
        usage: "mag_err_to_flux_err(mag, mag_err, zp) -> flux error",
        description: "mag_to_flux(mag, zp) x ln(10) / 2.5 x mag_err (first order).",
    },
    FunctionDoc {
        name: "lc_stats",
        usage: "lc_stats(mjd, mag, mag_err) -> struct {n, mean, weighted_mean, std, chi2_dof, median, mad, amplitude, first_mjd, last_mjd}",
        description: "Aggregate (GROUP BY star_id, colour): std with n - 1; weighted_mean with 1/mag_err^2 over mag_err > 0; chi2_dof about the weighted mean over n_w - 1; mad = median |mag - median| (not scaled); amplitude = max - min.",
    },
    FunctionDoc {
        name: "stetson_j",
        usage: "stetson_j(mjd, mag, mag_err, colour) -> double",
        description: "Aggregate (GROUP BY star_id): Stetson's J over two colours; residuals delta = sqrt(n/(n-1)) (mag - weighted mean)/mag_err per colour; same-MJD pairs give P = delta_R delta_B, unpaired points P = delta^2 - 1; J = mean of sign(P) sqrt|P|.",
    },
    FunctionDoc {
        name: "paczynski_fit",
        usage: "paczynski_fit(mjd, mag, mag_err [, colour]) -> struct {status, n, iterations, t0, t0_err, u0, u0_err, te, te_err, chi2, dof, chi2_constant, delta_chi2, n_bump, chi2_out, chromatic_dchi2, achromatic_prob, band_1, n_1, baseline_1, baseline_1_err, blend_1, blend_1_err, band_2, ..., colours}",
        description: "Aggregate (GROUP BY star_id): a point-source point-lens microlensing fit in flux, A(u) = (u^2+2)/(u sqrt(u^2+4)), u^2 = u0^2 + ((t-t0)/tE)^2, flux = Fs A + Fb per band (at most two colours, common t0, u0, tE). Variable projection (Fs, Fb linear, Fb >= -0.1 of the band's median flux), grid starts, Levenberg-Marquardt bounded to 100 iterations; status ok, not_converged, too_few_points, too_many_bands or singular (never an error). Errors from (J^T J)^-1, not rescaled (Fb counted as free). blend = Fs/(Fs+Fb); delta_chi2 = chi2_constant - chi2; n_bump: points with |t-t0| < tE; chi2_out: chi2 per point where |t-t0| > 2 tE; achromatic_prob: P(chi2_1 > chromatic_dchi2 / max(1, chi2/dof)) of a second u0 for the second band. See docs/SCIENCE.md.",
    },
    FunctionDoc {
        name: "lomb_scargle",
        usage: "lomb_scargle(mjd, mag [, mag_err [, min_period, max_period]]) -> struct {period, frequency, power, fap, n, frequencies}",
        description: "Aggregate (GROUP BY star_id, colour): the highest peak of the generalised (floating-mean) Lomb-Scargle periodogram as astropy's LombScargle.autopower computes it: weights 1/mag_err^2, standard normalisation (0..1), frequencies from 1/max_period (default half a step) to 1/min_period (default 5 x the mean Nyquist frequency) in steps of 1/(5 baseline); Press-Rybicki extirpolation and an FFT, the best peaks re-evaluated exactly; fap: Baluev's (2008) false-alarm probability.",
    },
    FunctionDoc {
        name: "lomb_scargle_power",
        usage: "lomb_scargle_power(mjd, mag [, mag_err [, min_period, max_period]]) -> struct {frequency: list, power: list}",
        description: "Aggregate: the whole periodogram of lomb_scargle (same grid and normalisation), for plots.",
    },
];

/// The documentation of `name`.
pub fn function_doc(name: &str) -> Option<&'static FunctionDoc> {
    FUNCTION_DOCS
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// The section of skyql's functions in DataFusion's documentation model.
const SECTION: DocSection = DocSection {
    include: true,
    label: "skyql astronomy functions",
    description: Some("FITS WCS, sphere, HEALPix, time, photometry, light curves, images"),
};

/// DataFusion's [`Documentation`] of a function of this crate, built once from
/// [`FUNCTION_DOCS`]: what its `documentation()` returns.
pub fn documentation(name: &str) -> Option<&'static Documentation> {
    static ALL: OnceLock<HashMap<&'static str, Documentation>> = OnceLock::new();
    ALL.get_or_init(|| {
        FUNCTION_DOCS
            .iter()
            .map(|d| {
                (
                    d.name,
                    Documentation::builder(SECTION, d.description, d.usage).build(),
                )
            })
            .collect()
    })
    .get(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_registered_function_is_documented() {
        let mut names: Vec<String> = crate::all_scalar_udfs()
            .iter()
            .map(|u| u.name().to_string())
            .collect();
        names.extend(
            crate::all_aggregate_udfs()
                .iter()
                .map(|u| u.name().to_string()),
        );
        names.extend(
            crate::images::image_udfs(crate::images::ImageOutput::new("unused"))
                .iter()
                .map(|u| u.name().to_string()),
        );
        names.extend(crate::TABLE_FUNCTIONS.iter().map(|n| n.to_string()));
        for n in &names {
            assert!(super::function_doc(n).is_some(), "{n} has no documentation");
        }
        assert_eq!(names.len(), super::FUNCTION_DOCS.len());
    }
}
