//! Real files written by others: an EROS-2 light curve, MACHO light curves, FITS images.

mod common;

use common::{data, query_csv, run_ok};

#[test]
fn eros2_lightcurve_ingests_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    let file = data("lightcurves/eros2/lm0010n22323.time");
    let stdout = run_ok(&[
        "ingest",
        file.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    // 656 epochs x 2 colours = 1312 values: 551 R + 617 B valid, the rest 99.999.
    assert_eq!(common::accounting(&stdout), (1312, 1168, 144, 0));
    let rows = query_csv(
        &cat,
        "SELECT star_id, field, ccd, quarter, colour, COUNT(*) AS n, MAX(mag) AS max_mag, \
         MIN(mjd) AS first, MAX(mag_err) AS max_err FROM measurements \
         GROUP BY star_id, field, ccd, quarter, colour ORDER BY colour",
    );
    assert_eq!(rows.len(), 2);
    let (b, r) = (&rows[0], &rows[1]);
    assert_eq!(
        (
            r["star_id"].as_str(),
            r["field"].as_str(),
            r["ccd"].as_str(),
            r["quarter"].as_str()
        ),
        ("lm0010n22323", "lm001", "0", "n")
    );
    assert_eq!((r["colour"].as_str(), r["n"].as_str()), ("R", "551"));
    assert_eq!((b["colour"].as_str(), b["n"].as_str()), ("B", "617"));
    for row in &rows {
        assert!(
            row["max_mag"].parse::<f64>().unwrap() < 20.0,
            "a 99.999 reached the table"
        );
        assert!(row["max_err"].parse::<f64>().unwrap() < 9.0);
    }
    // First date 294.91026 = JD 2450294.91026 = MJD 50294.41026.
    let first: f64 = r["first"].parse().unwrap();
    assert!((first - 50294.41026).abs() < 1e-6);
    // Sorted by star id then MJD inside the file.
    let lc = query_csv(&cat, "SELECT mjd FROM measurements");
    let mjds: Vec<f64> = lc.iter().map(|r| r["mjd"].parse().unwrap()).collect();
    assert!(mjds.windows(2).all(|w| w[0] <= w[1]));
    // No reference image: position null, header values kept.
    let star = &query_csv(
        &cat,
        "SELECT n_r, n_b, x_r, y_r, x_b, header_mag_b, ra FROM stars",
    )[0];
    assert_eq!((star["n_r"].as_str(), star["n_b"].as_str()), ("551", "617"));
    assert_eq!(
        (
            star["x_r"].as_str(),
            star["y_r"].as_str(),
            star["x_b"].as_str()
        ),
        ("924.69", "603.81", "872.66")
    );
    assert_eq!(star["header_mag_b"], "15.23");
    assert_eq!(star["ra"], "");
}

#[test]
fn macho_lightcurves_keep_ids_bands_and_mjds() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    let dir = data("lightcurves/macho");
    let stdout = run_ok(&[
        "ingest",
        dir.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    // 19 files, 3 header lines each: 15175 - 57 data lines, one value each.
    assert_eq!(common::accounting(&stdout), (15118, 15118, 0, 0));
    let stars = query_csv(
        &cat,
        "SELECT star_id, field, n_r, n_b, ra, dec FROM stars ORDER BY star_id",
    );
    assert_eq!(stars.len(), 10);
    let only_r = stars
        .iter()
        .find(|s| s["star_id"] == "1.4418.1930")
        .unwrap();
    assert_eq!(only_r["n_b"], "0");
    assert_eq!(only_r["n_r"], "503"); // 506 lines, 3 of them header
    let s = stars
        .iter()
        .find(|s| s["star_id"] == "2.4907.2086")
        .unwrap();
    assert_eq!(s["field"], "2");
    // RA 5.18232 h = 77.7348 deg.
    assert!((s["ra"].parse::<f64>().unwrap() - 77.7348).abs() < 1e-9);
    assert!((s["dec"].parse::<f64>().unwrap() + 68.4737).abs() < 1e-9);
    let b = query_csv(
        &cat,
        "SELECT COUNT(*) AS n, MIN(mjd) AS t0 FROM measurements WHERE star_id = '1.4418.1930' AND colour = 'B'",
    );
    assert_eq!(b[0]["n"], "0");
    let r = query_csv(
        &cat,
        "SELECT MIN(mjd) AS t0 FROM measurements WHERE star_id = '2.4907.2086' AND colour = 'R'",
    );
    assert_eq!(r[0]["t0"], "48884.492569");
}

#[test]
fn real_fits_images_keep_their_wcs_keywords() {
    let (_dir, cat) = common::ingested(&data("fits"));
    let rows = query_csv(
        &cat,
        "SELECT file_name, hdu, naxis1, naxis2, mjd_obs, exptime, wcs['ctype1'] AS ctype1, \
         wcs['crval1'] AS crval1, wcs['cd1_1'] AS cd1_1, array_length(wcs['terms']) AS n_terms, \
         ra_center, wcs_problem, field, header['INSTRUME'] AS instrume FROM images ORDER BY file_name",
    );
    assert_eq!(rows.len(), 2);
    let sip = &rows[0];
    assert_eq!(sip["file_name"], "apogee_alta_sip.fits");
    assert_eq!(
        (
            sip["hdu"].as_str(),
            sip["naxis1"].as_str(),
            sip["naxis2"].as_str()
        ),
        ("1", "100", "50")
    );
    assert_eq!(sip["ctype1"], "RA---TAN-SIP");
    assert_eq!(sip["crval1"], "280.544106813");
    // CD1_1 = CDELT1 x PC1_1.
    assert_eq!(sip["cd1_1"], "0.000152978060309");
    // A_ORDER, B_ORDER, AP_ORDER, BP_ORDER and their coefficients.
    assert!(sip["n_terms"].parse::<u32>().unwrap() >= 16);
    assert!((sip["ra_center"].parse::<f64>().unwrap() - 280.5441).abs() < 0.01);
    assert_eq!(sip["wcs_problem"], "");
    assert_eq!(
        sip["field"], "",
        "a name outside the convention leaves the parsed fields null"
    );
    assert_eq!(sip["instrume"], "Apogee Alta");
    let zpn = &rows[1];
    assert_eq!(zpn["file_name"], "ukidss_wfcam_zpn_image.fits");
    assert_eq!(zpn["hdu"], "2", "the image is in the first extension");
    assert_eq!(zpn["ctype1"], "RA---ZPN");
    // MJD-OBS is inherited from the primary header.
    assert_eq!(zpn["mjd_obs"], "54384.55006");
    // ZPN with PV2_1 and PV2_3: a position for the centre, about 0.35 degree from CRVAL.
    assert_eq!(zpn["wcs_problem"], "");
    assert!((zpn["ra_center"].parse::<f64>().unwrap() - 83.9).abs() < 1.0);
    let pv = query_csv(
        &cat,
        "SELECT t['keyword'] AS k, t['value'] AS v FROM (SELECT unnest(wcs['terms']) AS t FROM images WHERE hdu = 2)",
    );
    let pv: Vec<(String, String)> = pv
        .into_iter()
        .map(|r| (r["k"].clone(), r["v"].clone()))
        .collect();
    assert!(
        pv.contains(&("PV2_3".to_string(), "-60.0".to_string())),
        "{pv:?}"
    );
}

#[test]
fn pix2sky_in_sql_matches_wcslib_on_the_real_sip_image() {
    // The reference value for pixel (1, 1) of this header, from WCSLIB through astropy
    // (udfs/tests/data/wcs/ApogeeAlta_SIP.origin1.csv).
    let (_dir, cat) = common::ingested(&data("fits/apogee_alta_sip.fits"));
    let r = &query_csv(
        &cat,
        "SELECT p['ra'] AS ra, p['dec'] AS dec, s['x'] AS x, s['y'] AS y FROM (SELECT pix2sky(1.0, 1.0, wcs) AS p, \
         sky2pix(280.537916970419, 0.110075388030, wcs) AS s FROM images)",
    )[0];
    let ra: f64 = r["ra"].parse().unwrap();
    let dec: f64 = r["dec"].parse().unwrap();
    assert!((ra - 280.537916970419).abs() * 3600.0 < 1e-4);
    assert!((dec - 0.110075388030).abs() * 3600.0 < 1e-4);
    assert!((r["x"].parse::<f64>().unwrap() - 1.0).abs() < 1e-6);
    assert!((r["y"].parse::<f64>().unwrap() - 1.0).abs() < 1e-6);
}

#[test]
fn cone_search_on_ogle3_equals_brute_force_and_finds_the_macho_counterpart() {
    let ogle = data("catalogues/ogle3_lmc_within_1.5deg_of_80_-69.tsv");
    let table = format!("ogle={}", ogle.display());
    let out = run_ok(&[
        "query",
        "--table",
        &table,
        "--format",
        "csv",
        "SELECT \"ID\" AS id FROM ogle WHERE cone_contains(\"RA\" * 15.0, \"DECL\", 80.0, -69.0, 0.5) ORDER BY id",
    ]);
    let got: Vec<String> = common::csv_rows(&out)
        .into_iter()
        .map(|r| r["id"].clone())
        .collect();
    let text = std::fs::read_to_string(&ogle).unwrap();
    let mut expected: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let v: Vec<&str> = l.split('\t').collect();
            let (ra, dec): (f64, f64) =
                (v[5].parse::<f64>().unwrap() * 15.0, v[6].parse().unwrap());
            (common::haversine_deg(ra, dec, 80.0, -69.0) <= 0.5).then(|| v[0].to_string())
        })
        .collect();
    expected.sort();
    assert!(expected.len() > 1000, "{}", expected.len());
    assert_eq!(got, expected);

    // Cross-identification with the MACHO light curves: ang_sep < 2 arcsec.
    let (_dir, cat) = common::ingested(&data("lightcurves/macho"));
    let out = run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "--table",
        &table,
        "--format",
        "csv",
        "SELECT s.star_id, o.\"ID\" AS ogle, o.\"ID_MACHO\" AS macho, ang_sep(s.ra, s.dec, o.\"RA\" * 15.0, o.\"DECL\") * 3600 AS sep \
         FROM stars s JOIN ogle o ON ang_sep(s.ra, s.dec, o.\"RA\" * 15.0, o.\"DECL\") < 2.0 / 3600 ORDER BY s.star_id",
    ]);
    let rows = common::csv_rows(&out);
    let m = rows
        .iter()
        .find(|r| r["star_id"] == "2.4907.2086")
        .expect("the counterpart is found");
    assert_eq!(m["ogle"], "OGLE-LMC-LPV-24829");
    assert_eq!(m["macho"], "2.4907.2086");
    assert!(m["sep"].parse::<f64>().unwrap() < 2.0);
    // Every match is a real counterpart: OGLE's MACHO id is on the same MACHO tile (a
    // star in two overlapping MACHO fields has two ids: 1.4652.1527 and 5.4652.8925).
    let tile = |id: &str| id.split('.').nth(1).map(str::to_string);
    assert!(
        rows.iter()
            .all(|r| tile(&r["macho"]) == tile(&r["star_id"])),
        "{rows:?}"
    );
}

#[test]
fn stars_carry_a_healpix_index_consistent_with_the_function() {
    let (_dir, cat) = common::ingested(&data("lightcurves/macho"));
    let rows = query_csv(
        &cat,
        "SELECT star_id, healpix, healpix(ra, dec, 29) AS h29, healpix(ra, dec, 8) AS h8 FROM stars",
    );
    assert_eq!(rows.len(), 10);
    for r in &rows {
        let h: u64 = r["healpix"].parse().unwrap();
        assert_eq!(r["healpix"], r["h29"]);
        assert_eq!(h >> (2 * 21), r["h8"].parse::<u64>().unwrap());
    }
}

#[test]
fn cone_searches_prune_with_healpix_and_equal_a_brute_force_scan() {
    // Points around the north pole, the south pole and across RA = 0/360, with their
    // HEALPix index, written to Parquet by skyql itself and read back as a table.
    let tmp = tempfile::tempdir().unwrap();
    let mut points = String::from("ra,dec\n");
    for i in 0..360 {
        for j in 0..30 {
            let ra = (i as f64 + j as f64 * 0.037) % 360.0;
            for dec0 in [89.8f64, -89.7, 0.0, 45.0] {
                let step = if dec0.abs() > 80.0 { 0.0066 } else { 0.02 };
                points.push_str(&format!("{ra:.4},{:.5}\n", dec0 + (j as f64 - 15.0) * step));
            }
        }
    }
    let csv = tmp.path().join("points.csv");
    std::fs::write(&csv, points).unwrap();
    let pq = tmp.path().join("points.parquet");
    let source = format!("c={}", csv.display());
    run_ok(&[
        "query",
        "--table",
        &source,
        "--format",
        "parquet",
        "--output",
        pq.to_str().unwrap(),
        "SELECT ra, dec, healpix(ra, dec, 29) AS healpix FROM c ORDER BY healpix",
    ]);
    let table = format!("p={}", pq.display());
    for (ra0, dec0, r) in [
        (0.0, 0.0, 0.5),
        (359.8, 45.0, 0.3),
        (123.0, 89.9, 0.2),
        (10.0, -89.8, 0.15),
        (180.0, 90.0, 0.25),
    ] {
        let cone = format!(
            "SELECT ra, dec FROM p WHERE cone_contains(ra, dec, {ra0}, {dec0}, {r}) ORDER BY ra, dec"
        );
        let brute = format!(
            "SELECT ra, dec FROM p WHERE ang_sep(ra, dec, {ra0}, {dec0}) <= {r} ORDER BY ra, dec"
        );
        let a = run_ok(&["query", "--table", &table, "--format", "csv", &cone]);
        let b = run_ok(&["query", "--table", &table, "--format", "csv", &brute]);
        assert!(a.lines().count() > 2, "cone ({ra0}, {dec0}, {r}) is empty");
        assert_eq!(a, b, "cone ({ra0}, {dec0}, {r})");
        let plan = run_ok(&[
            "query",
            "--table",
            &table,
            "--format",
            "csv",
            &format!("EXPLAIN {cone}"),
        ]);
        assert!(
            plan.contains("healpix"),
            "the rule did not add a healpix predicate: {plan}"
        );
    }
}

#[test]
fn stars_cone_search_skips_files_of_other_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    run_ok(&[
        "generate",
        "--out",
        raw.to_str().unwrap(),
        "--fields",
        "lm001,lm035,lm055",
        "--ccds",
        "2",
        "--ccd-size",
        "32",
        "--epochs",
        "3",
        "--stars-per-quarter",
        "5",
    ]);
    let cat = tmp.path().join("cat");
    run_ok(&[
        "ingest",
        raw.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    let star = &query_csv(
        &cat,
        "SELECT ra, dec FROM stars WHERE field = 'lm035' ORDER BY star_id LIMIT 1",
    )[0];
    let (ra, dec) = (star["ra"].clone(), star["dec"].clone());
    let cone = format!(
        "SELECT star_id FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, 0.05) ORDER BY star_id"
    );
    let brute = format!(
        "SELECT star_id FROM stars WHERE ang_sep(ra, dec, {ra}, {dec}) <= 0.05 ORDER BY star_id"
    );
    assert_eq!(query_csv(&cat, &cone), query_csv(&cat, &brute));
    let plan = run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "--format",
        "csv",
        &format!("EXPLAIN ANALYZE {cone}"),
    ]);
    // Three field files: the fields' HEALPix ranges (manifest) list only lm035's.
    assert!(
        plan.contains("field=lm035") && plan.matches("field=lm0").count() == 1,
        "{plan}"
    );
}
