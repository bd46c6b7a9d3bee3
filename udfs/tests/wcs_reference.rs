//! Accuracy of the WCS code against WCSLIB reference values on real headers
//! (`udfs/tests/data/wcs`).

use skyql_udfs::fits_card::parse_header_text;
use skyql_udfs::wcs::{PreparedWcs, Wcs};

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

/// A survey CCD (Palomar Transient Factory) with SIP polynomials of order 4, whose
/// reference pixel lies 4,000 pixels off the image: the fourth-order terms move its
/// corners by arcseconds.
#[test]
fn tan_sip_of_order_4_matches_wcslib() {
    assert!(max_error_arcsec("PTF_SIP4") < 1e-4);
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
fn polar(code: &str) -> PreparedWcs {
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

fn header(code: &str, crval: (f64, f64)) -> PreparedWcs {
    let text = format!(
        "CTYPE1  = 'RA---{code}'\nCTYPE2  = 'DEC--{code}'\nCRVAL1  = {}\nCRVAL2  = {}\n\
         CRPIX1  = 100.0\nCRPIX2  = 50.0\nCDELT1  = -0.5\nCDELT2  = 0.5\nEND",
        crval.0, crval.1
    );
    Wcs::from_cards(&parse_header_text(&text))
        .unwrap()
        .prepare()
        .unwrap()
}

#[test]
fn car_and_ait_at_the_origin_follow_paper_ii() {
    // With CRVAL = (0, 0) the native and celestial frames coincide.
    let car = header("CAR", (0.0, 0.0));
    let (ra, dec) = car.pix2sky(100.0 - 60.0, 50.0 + 40.0).unwrap();
    assert!(
        (ra - 30.0).abs() < 1e-12 && (dec - 20.0).abs() < 1e-12,
        "CAR: {ra} {dec}"
    );
    // AIT: (phi, theta) = (90, 0) lies at x = 2 gamma sin 45, gamma = R2D sqrt(2 / (1 + cos 45)).
    let ait = header("AIT", (0.0, 0.0));
    let r2d = 180.0 / std::f64::consts::PI;
    let x = 2.0 * r2d * (2.0 / (1.0 + 45f64.to_radians().cos())).sqrt() * 45f64.to_radians().sin();
    let (px, py) = ait.sky2pix(90.0, 0.0).unwrap();
    assert!(
        (px - (100.0 - x / 0.5)).abs() < 1e-9 && (py - 50.0).abs() < 1e-9,
        "AIT: {px} {py}"
    );
    // (0, 60): y = gamma sin 60 with gamma = R2D sqrt(2 / (1 + cos 60)).
    let y = r2d * (2.0 / 1.5f64).sqrt() * 60f64.to_radians().sin();
    let (_, py) = ait.sky2pix(0.0, 60.0).unwrap();
    assert!((py - (50.0 + y / 0.5)).abs() < 1e-9);
    // Outside the ellipse of the all-sky map: null.
    assert!(ait.pix2sky(100.0 - 400.0, 50.0 + 200.0).is_none());
}

#[test]
fn car_and_ait_elsewhere_map_crpix_to_crval_and_round_trip() {
    for code in ["CAR", "AIT"] {
        for crval in [(120.0, -30.0), (300.0, 45.0), (10.0, 0.0), (200.0, -75.0)] {
            let w = header(code, crval);
            let (ra, dec) = w.pix2sky(100.0, 50.0).unwrap();
            assert!(
                ((ra - crval.0 + 180.0).rem_euclid(360.0) - 180.0).abs() < 1e-9
                    && (dec - crval.1).abs() < 1e-9,
                "{code} {crval:?}: CRPIX gave ({ra}, {dec})"
            );
            for (x, y) in [(90.0, 47.0), (130.0, 70.0), (60.0, 20.0)] {
                let (ra, dec) = w.pix2sky(x, y).unwrap();
                let (px, py) = w.sky2pix(ra, dec).unwrap();
                assert!(
                    (px - x).abs() < 1e-8 && (py - y).abs() < 1e-8,
                    "{code} {crval:?} ({x}, {y}) -> ({px}, {py})"
                );
                // A step along the x axis near CRPIX moves east by |CDELT1| / cos(dec).
            }
            let (ra1, dec1) = w.pix2sky(99.0, 50.0).unwrap();
            let sep = skyql_udfs::functions::angular_separation(ra1, dec1, crval.0, crval.1);
            assert!(
                (sep - 0.5).abs() < 1e-3,
                "{code} {crval:?}: one pixel = {sep} deg"
            );
        }
    }
}

#[test]
fn non_finite_pixels_have_no_position() {
    for case in ["ApogeeAlta_SIP", "PTF_SIP4", "VLT_ISAAC_TAN", "1904-66_ZPN"] {
        let (wcs, _) = load(case);
        let prepared = wcs.prepare().unwrap();
        for (x, y) in [
            (f64::NAN, 10.0),
            (10.0, f64::INFINITY),
            (f64::NEG_INFINITY, 10.0),
        ] {
            assert_eq!(prepared.pix2sky(x, y), None, "{case}: ({x}, {y})");
        }
    }
}

#[test]
fn a_sip_term_whose_indices_overflow_is_an_error_naming_it() {
    let terms = vec![
        ("A_ORDER".to_string(), 2.0),
        (format!("A_{}_1", usize::MAX), 1.0),
        ("B_ORDER".to_string(), 2.0),
    ];
    let err = skyql_udfs::wcs::Sip::from_terms(&terms).unwrap_err();
    assert!(
        err.to_string().contains(&format!("A_{}_1", usize::MAX)),
        "{err}"
    );
}
