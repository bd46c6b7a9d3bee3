//! Accuracy against WCSLIB reference values on real headers (`udfs/tests/data/wcs`).

use super::Wcs;
use crate::fits_card::parse_header_text;

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wcs")
}

fn load(case: &str) -> (Wcs, Vec<[f64; 4]>) {
    let text = std::fs::read_to_string(data_dir().join(format!("{case}.hdr"))).unwrap();
    let wcs = Wcs::from_cards(&parse_header_text(&text)).unwrap();
    let csv = std::fs::read_to_string(data_dir().join(format!("{case}.origin1.csv"))).unwrap();
    let rows = csv
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|s| s.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    (wcs, rows)
}

/// Largest angular error in arcsec over all points, with NaN agreement checked.
fn max_error_arcsec(case: &str) -> f64 {
    let (wcs, rows) = load(case);
    let prepared = wcs.prepare().unwrap();
    let mut worst: f64 = 0.0;
    for [x, y, ra, dec] in rows {
        let got = prepared.pix2sky(x, y);
        if ra.is_nan() {
            assert!(
                got.is_none(),
                "{case}: ({x}, {y}) should be off the sky, got {got:?}"
            );
            continue;
        }
        let (r, d) = got.unwrap_or_else(|| panic!("{case}: ({x}, {y}) should be on the sky"));
        let dra = ((r - ra + 180.0).rem_euclid(360.0) - 180.0) * dec.to_radians().cos();
        let err = (dra * dra + (d - dec) * (d - dec)).sqrt() * 3600.0;
        worst = worst.max(err);
        let (px, py) = prepared.sky2pix(r, d).unwrap();
        assert!(
            (px - x).abs() < 1e-6 && (py - y).abs() < 1e-6,
            "{case}: round trip of ({x}, {y}) gave ({px}, {py})"
        );
    }
    eprintln!("{case}: largest error {worst:.2e} arcsec");
    worst
}

#[test]
fn tan_cdelt_at_the_pole_matches_wcslib() {
    assert!(max_error_arcsec("1904-66_TAN") < 1e-4);
}

#[test]
fn sin_matches_wcslib() {
    assert!(max_error_arcsec("1904-66_SIN") < 1e-4);
}

#[test]
fn slant_sin_off_sky_points_are_null_where_wcslib_has_nan() {
    assert!(max_error_arcsec("outside_sky_SIN") < 1e-4);
}

#[test]
fn zpn_matches_wcslib() {
    assert!(max_error_arcsec("1904-66_ZPN") < 1e-4);
    assert!(max_error_arcsec("INT_WFC_ZPN") < 1e-4);
}

#[test]
fn tpv_matches_wcslib() {
    assert!(max_error_arcsec("PTF_TPV") < 1e-4);
}

#[test]
fn tan_cd_matrix_matches_wcslib() {
    assert!(max_error_arcsec("VLT_ISAAC_TAN") < 1e-4);
}

#[test]
fn tan_sip_matches_wcslib() {
    assert!(max_error_arcsec("ApogeeAlta_SIP") < 1e-4);
}

#[test]
fn unsupported_projection_names_the_keyword() {
    let text = std::fs::read_to_string(data_dir().join("1904-66_ZPN.hdr"))
        .unwrap()
        .replace("ZPN", "ZPX");
    let wcs = Wcs::from_cards(&parse_header_text(&text)).unwrap();
    let err = wcs.prepare().unwrap_err();
    assert_eq!(err.keyword, "CTYPE1");
    assert!(err.reason.contains("ZPX"));
}

#[test]
fn missing_ctype_is_an_error_naming_it() {
    let cards = parse_header_text("CRVAL1  = 10.0\nCRVAL2  = 20.0\nEND");
    let err = Wcs::from_cards(&cards).unwrap_err();
    assert_eq!(err.keyword, "CTYPE1");
}

/// A zenithal WCS with its reference point at the north celestial pole, where the native
/// latitude is the declination: dec = theta(R) checks each projection's R(theta).
fn polar(code: &str) -> super::PreparedWcs {
    let text = format!(
        "CTYPE1  = 'RA---{code}'\nCTYPE2  = 'DEC--{code}'\nCRVAL1  = 0.0\nCRVAL2  = 90.0\n\
         CRPIX1  = 0.0\nCRPIX2  = 0.0\nCDELT1  = -0.1\nCDELT2  = 0.1\nEND"
    );
    Wcs::from_cards(&parse_header_text(&text))
        .unwrap()
        .prepare()
        .unwrap()
}

#[test]
fn zenithal_radial_functions_match_paper_ii() {
    let r2d = 180.0 / std::f64::consts::PI;
    for (code, theta_of_r) in [
        (
            "TAN",
            Box::new(move |r: f64| r2d.atan2(r) * r2d) as Box<dyn Fn(f64) -> f64>,
        ),
        ("SIN", Box::new(move |r: f64| (r / r2d).acos() * r2d)),
        ("ARC", Box::new(|r: f64| 90.0 - r)),
        (
            "STG",
            Box::new(move |r: f64| 90.0 - 2.0 * (r / (2.0 * r2d)).atan() * r2d),
        ),
    ] {
        let w = polar(code);
        for (x, y) in [(30.0, 40.0), (-120.0, 5.0), (3.0, -400.0)] {
            let r: f64 = 0.1 * f64::hypot(x, y);
            let (_, dec) = w.pix2sky(x, y).unwrap();
            assert!(
                (dec - theta_of_r(r)).abs() < 1e-10,
                "{code} at R = {r}: {dec}"
            );
            let (px, py) = w.sky2pix(w.pix2sky(x, y).unwrap().0, dec).unwrap();
            assert!(
                (px - x).abs() < 1e-8 && (py - y).abs() < 1e-8,
                "{code} round trip"
            );
        }
    }
}
