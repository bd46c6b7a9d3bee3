//! End to end on the demo survey: generate, ingest, and compare the engine's answers with
//! the generator's truth exactly.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{query_csv, query_file_csv, run_ok};
use skyql::demo::{Truth, read_truth};

/// A small survey: 2 fields (lm035 misses two reference quarters), 8 CCDs, 32-pixel CCDs.
fn small_survey(dir: &Path) -> Truth {
    let raw = dir.join("raw");
    run_ok(&[
        "generate",
        "--out",
        raw.to_str().unwrap(),
        "--fields",
        "lm001,lm035",
        "--ccd-size",
        "32",
        "--epochs",
        "8",
        "--stars-per-quarter",
        "6",
    ]);
    read_truth(&raw).unwrap()
}

fn ingest(dir: &Path) -> String {
    let raw = dir.join("raw");
    run_ok(&[
        "ingest",
        raw.to_str().unwrap(),
        "--catalog",
        dir.join("catalog").to_str().unwrap(),
    ])
}

#[test]
fn quarter_counts_and_best_quarters_equal_the_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = small_survey(tmp.path());
    ingest(tmp.path());
    let rows = query_file_csv(
        &tmp.path().join("catalog"),
        "quarters_most_measurements.sql",
    );
    let mut expected: HashMap<(String, String, i32, String), u64> = HashMap::new();
    for c in &truth.counts {
        expected.insert(
            (c.field.clone(), c.colour.clone(), c.ccd, c.quarter.clone()),
            c.n_measurements,
        );
    }
    // 2 fields x 2 colours x 8 CCDs.
    assert_eq!(rows.len(), 32);
    let mut not_central = 0;
    for r in &rows {
        let ccd: i32 = r["ccd"].parse().unwrap();
        let mut best = (0u64, String::new());
        for q in ["k", "l", "m", "n"] {
            let got: u64 = r[&format!("n_{q}")].parse().unwrap();
            let want = expected[&(r["field"].clone(), r["colour"].clone(), ccd, q.to_string())];
            assert_eq!(
                got, want,
                "{} {} ccd {ccd} quarter {q}",
                r["field"], r["colour"]
            );
            if want > best.0 {
                best = (want, q.to_string());
            }
        }
        assert_eq!(r["best_quarter"], best.1);
        assert_eq!(r["best_n"].parse::<u64>().unwrap(), best.0);
        let central_n: u64 = r["central_n"].parse().unwrap();
        assert_eq!(r["gain"].parse::<u64>().unwrap(), best.0 - central_n);
        if r["best_quarter"] != r["central_quarter"] {
            not_central += 1;
        }
    }
    assert!(
        not_central > 0,
        "the demo must hold CCDs whose central quarter is not the richest"
    );
    // A quarter without a reference image has no measurement in that colour.
    assert_eq!(truth.missing_reference.len(), 2);
    for m in &truth.missing_reference {
        let p: Vec<&str> = m.split(' ').collect();
        let key = (
            p[0].to_string(),
            p[1].to_string(),
            p[2].parse().unwrap(),
            p[3].to_string(),
        );
        assert_eq!(expected[&key], 0);
    }
}

#[test]
fn measurements_per_quarter_and_images_per_field_equal_the_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = small_survey(tmp.path());
    ingest(tmp.path());
    let cat = tmp.path().join("catalog");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = query_csv(
        &cat,
        &std::fs::read_to_string(root.join("sql/measurements_per_quarter.sql")).unwrap(),
    );
    let nonzero: Vec<_> = truth
        .counts
        .iter()
        .filter(|c| c.n_measurements > 0)
        .collect();
    assert_eq!(rows.len(), nonzero.len());
    for (r, c) in rows.iter().zip(&nonzero) {
        assert_eq!(
            (r["field"].as_str(), r["colour"].as_str()),
            (c.field.as_str(), c.colour.as_str())
        );
        assert_eq!(r["ccd"].parse::<i32>().unwrap(), c.ccd);
        assert_eq!(r["quarter"], c.quarter);
        assert_eq!(
            r["n_measurements"].parse::<u64>().unwrap(),
            c.n_measurements
        );
        assert_eq!(r["n_stars"].parse::<u64>().unwrap(), c.n_stars);
    }
    let images = query_csv(
        &cat,
        &std::fs::read_to_string(root.join("sql/images_per_field.sql")).unwrap(),
    );
    let by_field: HashMap<&str, &HashMap<String, String>> =
        images.iter().map(|r| (r["field"].as_str(), r)).collect();
    // The EROS-2 table: lm001 has 64 reference images, lm035 has 62.
    assert_eq!(by_field["lm001"]["ref_images_d"], "64");
    assert_eq!(by_field["lm035"]["ref_images_d"], "62");
    assert_eq!(by_field["lm035"]["current_images_e"], (8 * 16).to_string());
    assert_eq!(by_field["lm035"]["exposures"], "8");
    assert_eq!(by_field["lm001"]["ref_images_without_wcs"], "0");
    let total: u64 = query_csv(&cat, "SELECT COUNT(*) AS n FROM measurements")[0]["n"]
        .parse()
        .unwrap();
    assert_eq!(total, truth.n_measurements);
}

#[test]
fn star_positions_come_from_the_reference_image_wcs() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = small_survey(tmp.path());
    ingest(tmp.path());
    let cat = tmp.path().join("catalog");
    let rows = query_csv(
        &cat,
        "SELECT star_id, ra, dec, position_source FROM stars ORDER BY star_id",
    );
    assert_eq!(rows.len() as u64, truth.n_stars);
    let mut expected: HashMap<String, (f64, f64)> = HashMap::new();
    for entry in std::fs::read_dir(tmp.path().join("raw/truth/stars")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().skip(1) {
            let v: Vec<&str> = line.split(',').collect();
            expected.insert(
                v[0].to_string(),
                (v[1].parse().unwrap(), v[2].parse().unwrap()),
            );
        }
    }
    let mut from_red = 0;
    for r in &rows {
        let (ra, dec) = expected[&r["star_id"]];
        let got: (f64, f64) = (r["ra"].parse().unwrap(), r["dec"].parse().unwrap());
        let sep_arcsec = ((got.0 - ra) * dec.to_radians().cos()).hypot(got.1 - dec) * 3600.0;
        // The truth position is the red pixel position (2 decimals) through the red WCS;
        // stars whose red reference image is missing are placed by the blue one, whose
        // pixel position is rounded to 0.01 pixel (0.3 arcsec pixels at this size).
        let red =
            r["position_source"].contains("/lm0011") || r["position_source"].contains("/lm0351");
        if red {
            from_red += 1;
            assert!(sep_arcsec < 1e-6, "{}: {sep_arcsec} arcsec", r["star_id"]);
        } else {
            assert!(sep_arcsec < 0.5, "{}: {sep_arcsec} arcsec", r["star_id"]);
        }
    }
    assert!(from_red > rows.len() / 2);
}

#[test]
fn reingest_replaces_instead_of_duplicating() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = small_survey(tmp.path());
    ingest(tmp.path());
    let cat = tmp.path().join("catalog");
    let count = |t: &str| -> u64 {
        query_csv(&cat, &format!("SELECT COUNT(*) AS n FROM {t}"))[0]["n"]
            .parse()
            .unwrap()
    };
    let before = (
        count("measurements"),
        count("stars"),
        count("images"),
        count("inputs"),
    );
    // A leftover of an interrupted ingest must neither be read nor block the next one.
    std::fs::create_dir_all(cat.join(".v000002.partial/measurements/field=lm001")).unwrap();
    std::fs::write(
        cat.join(".v000002.partial/measurements/field=lm001/junk.parquet"),
        b"junk",
    )
    .unwrap();
    assert_eq!(count("measurements"), truth.n_measurements);
    ingest(tmp.path());
    let after = (
        count("measurements"),
        count("stars"),
        count("images"),
        count("inputs"),
    );
    assert_eq!(before, after);
    assert_eq!(after.0, truth.n_measurements);
    assert!(!cat.join(".v000002.partial").exists());
    assert!(cat.join("v000002").is_dir() && !cat.join("v000001").exists());
    // Ingesting one light curve again replaces its rows only.
    let lc = std::fs::read_dir(tmp.path().join("raw/lightcurves/lm001/lm0010"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    run_ok(&[
        "ingest",
        lc.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    assert_eq!(count("measurements"), truth.n_measurements);
    assert_eq!(count("stars"), truth.n_stars);
}

#[test]
fn the_demo_command_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let args = [
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--fields",
        "lm049",
        "--ccds",
        "2",
        "--ccd-size",
        "32",
        "--epochs",
        "5",
        "--stars-per-quarter",
        "4",
    ];
    let stdout = run_ok(&args);
    assert!(
        stdout.contains("per-quarter counts vs the generator's truth: all equal"),
        "{stdout}"
    );
    for name in [
        "quarters_most_measurements",
        "images_per_field",
        "measurements_per_quarter",
        "lightcurve",
    ] {
        let csv = std::fs::read_to_string(out.join(format!("exports/{name}.csv"))).unwrap();
        assert!(csv.lines().count() > 1, "{name} export is empty");
    }
    // A second run finds the survey and re-ingests it idempotently.
    let again = run_ok(&args);
    assert!(again.contains("demo survey found"));
    assert!(again.contains("all equal"));
}

#[test]
fn variable_and_cone_queries_agree_with_the_truth_and_brute_force() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    run_ok(&[
        "generate",
        "--out",
        raw.to_str().unwrap(),
        "--fields",
        "lm001",
        "--ccd-size",
        "32",
        "--epochs",
        "40",
        "--stars-per-quarter",
        "20",
    ]);
    ingest(tmp.path());
    let cat = tmp.path().join("catalog");
    let mut class: HashMap<String, String> = HashMap::new();
    for entry in std::fs::read_dir(raw.join("truth/stars")).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
            .skip(1)
        {
            let v: Vec<&str> = line.split(',').collect();
            class.insert(v[0].to_string(), v[9].to_string());
        }
    }
    let variables = query_file_csv(&cat, "variable_stars.sql");
    assert!(!variables.is_empty());
    for r in &variables {
        assert_ne!(
            class[&r["star_id"]], "constant",
            "{} flagged but constant",
            r["star_id"]
        );
    }
    let periodic = class.values().filter(|c| *c == "periodic").count();
    assert!(
        variables.len() * 2 >= periodic,
        "{} of {periodic} variables found",
        variables.len()
    );

    let cone = query_file_csv(&cat, "cone_search.sql");
    let centre = &query_csv(
        &cat,
        "SELECT ra_center, dec_center FROM fields WHERE field = 'lm001'",
    )[0];
    let (ra0, dec0): (f64, f64) = (
        centre["ra_center"].parse().unwrap(),
        centre["dec_center"].parse().unwrap(),
    );
    let stars = query_csv(&cat, "SELECT star_id, ra, dec FROM stars");
    let mut expected: Vec<String> = stars
        .iter()
        .filter(|s| {
            let (ra, dec): (f64, f64) = (s["ra"].parse().unwrap(), s["dec"].parse().unwrap());
            common::haversine_deg(ra, dec, ra0, dec0) <= 0.1
        })
        .map(|s| s["star_id"].clone())
        .collect();
    let mut got: Vec<String> = cone.iter().map(|r| r["star_id"].clone()).collect();
    expected.sort();
    got.sort();
    assert!(!got.is_empty());
    assert_eq!(got, expected);
}
