//! The SQL functions from the command line, without a catalogue.

mod common;

use common::{csv_rows, data, run, run_ok};

fn one_row(sql: &str) -> std::collections::HashMap<String, String> {
    csv_rows(&run_ok(&["query", "--format", "csv", sql])).remove(0)
}

#[test]
fn time_and_photometry_functions() {
    let r = one_row(
        "SELECT mjd_to_iso(51544.5) AS iso, iso_to_mjd('2011-09-01T02:09:05') AS mjd, \
         jd_to_mjd(2451545.0) AS j, eros_date_to_mjd(294.91026) AS e, \
         mag_to_flux(15.0, 25.0) AS f, flux_to_mag(10000.0, 25.0) AS m, flux_to_mag(-1.0, 25.0) AS bad, \
         iso_to_mjd('not a date') AS nodate, hjd(51623.3, 0.0, 0.0) - 51623.3 AS dh",
    );
    assert_eq!(r["iso"], "2000-01-01T12:00:00.000");
    assert!((r["mjd"].parse::<f64>().unwrap() - 55805.089641204).abs() < 1e-8);
    assert_eq!(r["j"], "51544.5");
    assert_eq!(r["e"], "50294.41026");
    assert!((r["f"].parse::<f64>().unwrap() - 1e4).abs() < 1e-9);
    assert!((r["m"].parse::<f64>().unwrap() - 15.0).abs() < 1e-12);
    assert_eq!(r["bad"], "");
    assert_eq!(r["nodate"], "");
    // The Sun is near (0, 0) on 2000-03-20: about -497 s.
    assert!((r["dh"].parse::<f64>().unwrap() * 86400.0 + 497.0).abs() < 3.0);
}

#[test]
fn wcs_builders_agree_with_the_ingested_wcs() {
    let hdr = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("udfs/tests/data/wcs/ApogeeAlta_SIP.hdr"),
    )
    .unwrap();
    let fits = data("fits/apogee_alta_sip.fits");
    let sql = format!(
        "SELECT pix2sky(100.0, 1.0, wcs_from_header('{}'))['ra'] AS a, pix2sky(100.0, 1.0, wcs_from_fits('{}'))['ra'] AS b, \
         pix2sky(150.0, 150.0, wcs_from_fits('{}', 2))['dec'] AS zpn_dec",
        hdr.replace('\'', "''"),
        fits.display(),
        data("fits/ukidss_wfcam_zpn_image.fits").display()
    );
    let r = one_row(&sql);
    // Reference: WCSLIB through astropy (ApogeeAlta_SIP.origin1.csv).
    assert!((r["a"].parse::<f64>().unwrap() - 280.553061704773).abs() * 3600.0 < 1e-4);
    assert_eq!(r["a"], r["b"]);
    assert!((r["zpn_dec"].parse::<f64>().unwrap() - 21.8).abs() < 0.5);
    // A header that is not a celestial WCS: an error naming the keyword.
    let out = run(&[
        "query",
        "SELECT wcs_from_header('CRVAL1  = 1.0\nCRVAL2  = 2.0')",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CTYPE1"));
    let out = run(&["query", "SELECT wcs_from_fits('/nonexistent.fits')"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.fits"));
}

#[test]
fn functions_are_documented_on_the_command_line() {
    let list = run_ok(&["functions"]);
    for name in [
        "pix2sky",
        "ang_sep",
        "cone_contains",
        "healpix",
        "hjd",
        "mag_to_flux",
    ] {
        assert!(list.contains(&format!("{name}(")), "{name}");
    }
    let d = run_ok(&["describe-function", "pix2sky"]);
    assert!(d.contains("1.0") && d.contains("SIP"));
    assert!(!run(&["describe-function", "nope"]).status.success());
    // information_schema gives the same text, from the functions' documentation().
    let routines = run_ok(&[
        "query",
        "--format",
        "csv",
        "SELECT routine_name, description FROM information_schema.routines \
         WHERE routine_name IN ('pix2sky', 'lc_stats', 'cutout') ORDER BY routine_name",
    ]);
    let rows: Vec<&str> = routines.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{routines}");
    for row in rows {
        let (name, description) = row.split_once(',').unwrap();
        let description = description.trim_matches('"').replace("\"\"", "\"");
        let shown = run_ok(&["describe-function", name]);
        assert!(shown.contains(&description), "{name}: {description}");
    }
}

#[test]
fn light_curve_aggregates_on_the_real_eros_star() {
    let (_dir, cat) = common::ingested(&data("lightcurves/eros2"));
    let rows = csv_rows(&run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT colour, s['n'] AS n, s['first_mjd'] AS t0, s['amplitude'] AS amp, s['chi2_dof'] AS chi2 \
         FROM (SELECT colour, lc_stats(mjd, mag, mag_err) AS s FROM measurements GROUP BY colour) ORDER BY colour",
    ]));
    assert_eq!(
        (rows[0]["colour"].as_str(), rows[0]["n"].as_str()),
        ("B", "617")
    );
    assert_eq!(
        (rows[1]["colour"].as_str(), rows[1]["n"].as_str()),
        ("R", "551")
    );
    assert_eq!(rows[1]["t0"], "50294.41026");
    // A Cepheid: amplitudes of tenths of a magnitude, chi2 far above 1.
    for r in &rows {
        assert!(r["amp"].parse::<f64>().unwrap() > 0.2);
        assert!(r["chi2"].parse::<f64>().unwrap() > 5.0);
    }
    let j = csv_rows(&run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT stetson_j(mjd, mag, mag_err, colour) AS j FROM measurements",
    ]));
    assert!(
        j[0]["j"].parse::<f64>().unwrap() > 1.0,
        "correlated colours give a large J"
    );
}

#[test]
fn pixel_origin_zero_matches_the_zero_based_reference() {
    // ApogeeAlta_SIP.origin0.csv: the same points as origin1, 0-based (WCSLIB values).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("udfs/tests/data/wcs");
    let hdr = std::fs::read_to_string(root.join("ApogeeAlta_SIP.hdr"))
        .unwrap()
        .replace('\'', "''");
    let reference = std::fs::read_to_string(root.join("ApogeeAlta_SIP.origin0.csv")).unwrap();
    for line in reference.lines().skip(1).take(4) {
        let v: Vec<f64> = line.split(',').map(|s| s.parse().unwrap()).collect();
        let r = one_row(&format!(
            "SELECT p['ra'] AS ra, p['dec'] AS dec, s['x'] AS x, s['y'] AS y FROM (SELECT \
             pix2sky({}, {}, wcs_from_header('{hdr}'), 0) AS p, sky2pix({}, {}, wcs_from_header('{hdr}'), 0) AS s)",
            v[0], v[1], v[2], v[3]
        ));
        assert!((r["ra"].parse::<f64>().unwrap() - v[2]).abs() * 3600.0 < 1e-4);
        assert!((r["dec"].parse::<f64>().unwrap() - v[3]).abs() * 3600.0 < 1e-4);
        assert!((r["x"].parse::<f64>().unwrap() - v[0]).abs() < 1e-6);
        assert!((r["y"].parse::<f64>().unwrap() - v[1]).abs() < 1e-6);
    }
    assert!(!run(&["query", "SELECT pix2sky(1.0, 1.0, wcs_from_header('CTYPE1  = ''RA---TAN''\nCTYPE2  = ''DEC--TAN''\nCRVAL1  = 1.0\nCRVAL2  = 2.0\nCDELT1  = 1.0\nCDELT2  = 1.0'), 2)"]).status.success());
}

/// A header-only FITS file (NAXIS = 0) with a TAN WCS, as astrometry.net's `wcs.fits`.
fn header_only_wcs_file(path: &std::path::Path) {
    let cards = [
        "SIMPLE  =                    T".to_string(),
        "BITPIX  =                    8".to_string(),
        "NAXIS   =                    0".to_string(),
        "EXTEND  =                    T".to_string(),
        "WCSAXES =                    2".to_string(),
        "CTYPE1  = 'RA---TAN'".to_string(),
        "CTYPE2  = 'DEC--TAN'".to_string(),
        "EQUINOX =               2000.0".to_string(),
        "CRVAL1  =        80.8940000000".to_string(),
        "CRVAL2  =       -69.7560000000".to_string(),
        "CRPIX1  =        1024.50000000".to_string(),
        "CRPIX2  =        512.500000000".to_string(),
        "CD1_1   =   -0.000167222222222".to_string(),
        "CD1_2   =                  0.0".to_string(),
        "CD2_1   =                  0.0".to_string(),
        "CD2_2   =    0.000167222222222".to_string(),
        "IMAGEW  =                 2048".to_string(),
        "IMAGEH  =                 1024".to_string(),
        "END".to_string(),
    ];
    let mut bytes: Vec<u8> = cards
        .iter()
        .flat_map(|c| format!("{c:<80}").into_bytes())
        .collect();
    bytes.resize(2880, b' ');
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn wcs_from_fits_reads_a_header_only_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("wcs.fits");
    header_only_wcs_file(&path);
    let p = path.display();
    let row = one_row(&format!(
        "SELECT pix2sky(1024.5, 512.5, wcs_from_fits('{p}'))['ra'] AS ra, \
                pix2sky(1024.5, 512.5, wcs_from_fits('{p}'))['dec'] AS dec, \
                wcs_from_fits('{p}')['ctype1'] AS ctype1"
    ));
    assert_eq!(row["ctype1"], "RA---TAN");
    assert!(
        (row["ra"].parse::<f64>().unwrap() - 80.894).abs() < 1e-9,
        "{row:?}"
    );
    assert!(
        (row["dec"].parse::<f64>().unwrap() + 69.756).abs() < 1e-9,
        "{row:?}"
    );
    // A pixel away from the reference point moves on the sky (the CD matrix is used).
    let moved = one_row(&format!(
        "SELECT ang_sep(80.894, -69.756, s['ra'], s['dec']) * 3600 AS d FROM \
         (SELECT pix2sky(1124.5, 512.5, wcs_from_fits('{p}')) AS s)"
    ));
    let d: f64 = moved["d"].parse().unwrap();
    assert!((d - 60.2).abs() < 0.1, "100 pixels of 0.602 arcsec: {d}");
}
