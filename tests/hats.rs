//! `skyql hats export` and `--table NAME=HATS_DIR`: the layout LSDB reads (checked with
//! LSDB itself in CI), every row in exactly one pixel file inside its pixel's range, the
//! margin rows within the margin of their pixel, rows without a position reported, and a
//! HATS directory read back as a table with the same rows and cone searches.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Skyql, csv_rows, haversine_deg};

/// A generated catalogue of `stars` stars: (temporary directory, catalogue).
fn catalogue(stars: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    catalogue_in_fields(stars, 1)
}

/// A generated catalogue of `stars` stars over `fields` fields.
fn catalogue_in_fields(stars: u32, fields: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("catalog");
    Skyql::new(["generate", "--catalog"])
        .args([&cat])
        .args(["--stars", &stars.to_string(), "--measurements", "0"])
        .args(["--field-count", &fields.to_string()])
        .ok();
    (tmp, cat)
}

fn properties(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A leaf file: (order, pixel, its rows as (`_healpix_29`, ra, dec)).
type Leaf = (u32, u64, Vec<(i64, f64, f64)>);

/// Every leaf file of a dataset, read back through skyql.
fn leaf_files(dataset: &Path) -> Vec<Leaf> {
    let mut out = Vec::new();
    for order_dir in std::fs::read_dir(dataset).unwrap() {
        let order_dir = order_dir.unwrap().path();
        let Some(order) = order_dir
            .file_name()
            .and_then(|n| n.to_str()?.strip_prefix("Norder=")?.parse().ok())
        else {
            continue;
        };
        for dir in std::fs::read_dir(&order_dir).unwrap() {
            for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let file = file.unwrap().path();
                let name = file.file_name().unwrap().to_str().unwrap().to_string();
                let pixel: u64 = name
                    .strip_prefix("Npix=")
                    .and_then(|n| n.strip_suffix(".parquet"))
                    .unwrap()
                    .parse()
                    .unwrap();
                let table = format!("f={}", file.display());
                let text = Skyql::new([
                    "query",
                    "--format",
                    "csv",
                    "--table",
                    &table,
                    "SELECT _healpix_29 AS h, ra, dec FROM f",
                ])
                .ok();
                let rows = csv_rows(&text)
                    .iter()
                    .map(|r| {
                        (
                            r["h"].parse().unwrap(),
                            r["ra"].parse().unwrap(),
                            r["dec"].parse().unwrap(),
                        )
                    })
                    .collect();
                out.push((order, pixel, rows));
            }
        }
    }
    out
}

#[test]
fn every_row_lands_in_one_pixel_and_the_margins_hold_the_neighbours() {
    let (tmp, cat) = catalogue(6000);
    let out = tmp.path().join("hats");
    let report = Skyql::new(["hats", "export", "stars", "--out"])
        .args([&out])
        .args(["--max-rows", "500", "--margin-arcsec", "20"])
        .catalog(&cat)
        .ok();
    assert!(report.contains("6000 rows read, 6000 written"), "{report}");
    let collection = properties(&out.join("collection.properties"));
    assert_eq!(collection["hats_primary_table_url"], "stars");
    assert_eq!(collection["default_margin"], "stars_20arcs");
    let object = properties(&out.join("stars/hats.properties"));
    assert_eq!(object["dataproduct_type"], "object");
    assert_eq!(object["hats_nrows"], "6000");
    assert_eq!(
        (
            object["hats_col_ra"].as_str(),
            object["hats_col_dec"].as_str()
        ),
        ("ra", "dec")
    );
    let margin = properties(&out.join("stars_20arcs/hats.properties"));
    assert_eq!(margin["dataproduct_type"], "margin");
    assert_eq!(margin["hats_margin_threshold"], "20");
    for dir in ["stars", "stars_20arcs"] {
        for f in [
            "partition_info.csv",
            "dataset/_metadata",
            "dataset/_common_metadata",
        ] {
            assert!(out.join(dir).join(f).is_file(), "{dir}/{f}");
        }
    }

    let files = leaf_files(&out.join("stars/dataset"));
    assert!(
        files.len() > 4,
        "{} pixels: the export should split",
        files.len()
    );
    let listed = std::fs::read_to_string(out.join("stars/partition_info.csv")).unwrap();
    assert_eq!(listed.lines().count() - 1, files.len());
    let mut total = 0;
    for (order, pixel, rows) in &files {
        assert!(
            listed.contains(&format!("\n{order},{pixel}\n")),
            "{order},{pixel}"
        );
        let shift = 2 * (29 - order);
        for (h, _, _) in rows {
            assert_eq!((*h as u64) >> shift, *pixel, "row outside its pixel");
        }
        assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0), "not sorted");
        total += rows.len();
    }
    assert_eq!(total, 6000);

    // Margin rows belong to another pixel and lie within the margin (plus one cell of
    // slack) of a row of this pixel's neighbourhood: at least they are near the pixel.
    let margins = leaf_files(&out.join("stars_20arcs/dataset"));
    assert!(!margins.is_empty(), "no margin rows at all");
    for (order, pixel, rows) in &margins {
        let shift = 2 * (29 - order);
        let own: Vec<&(i64, f64, f64)> = files
            .iter()
            .filter(|(o, p, _)| o == order && p == pixel)
            .flat_map(|(_, _, r)| r)
            .collect();
        for (h, ra, dec) in rows {
            assert_ne!(
                (*h as u64) >> shift,
                *pixel,
                "a margin row of its own pixel"
            );
            let nearest = own
                .iter()
                .map(|(_, r, d)| haversine_deg(*ra, *dec, *r, *d))
                .fold(f64::INFINITY, f64::min);
            assert!(
                nearest < 0.5,
                "margin row {nearest} degrees from pixel {order}/{pixel}"
            );
        }
    }

    // Read back as a table: the same rows and the same cone.
    let hats = format!("h={}", out.display());
    let count = Skyql::new([
        "query",
        "--format",
        "csv",
        "--table",
        &hats,
        "SELECT count(*) AS n FROM h",
    ])
    .ok();
    assert_eq!(csv_rows(&count)[0]["n"], "6000");
    let centre = &files[files.len() / 2].2[0];
    let cone = format!(
        "SELECT star_id FROM {{}} WHERE cone_contains(ra, dec, {}, {}, 0.2) ORDER BY star_id",
        centre.1, centre.2
    );
    let from_hats = Skyql::new([
        "query",
        "--format",
        "csv",
        "--table",
        &hats,
        &cone.replace("{}", "h"),
    ])
    .ok();
    let from_catalogue = Skyql::new(["query", "--format", "csv", &cone.replace("{}", "stars")])
        .catalog(&cat)
        .ok();
    assert!(csv_rows(&from_hats).len() > 1);
    assert_eq!(from_hats, from_catalogue);
    // A small cone lists only the pixels it meets: the other files are never opened.
    let small = format!(
        "EXPLAIN SELECT star_id FROM h WHERE cone_contains(ra, dec, {}, {}, 0.01)",
        centre.1, centre.2
    );
    let plan = Skyql::new(["query", "--table", &hats, &small]).ok();
    let listed = plan.matches("Npix=").count();
    assert!(
        (1..=4).contains(&listed) && listed < files.len(),
        "{listed} of {} files listed:\n{plan}",
        files.len()
    );
}

#[test]
fn rows_without_a_position_are_reported_and_the_output_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("t.csv");
    std::fs::write(
        &csv,
        "id,ra,dec\n1,10.0,20.0\n2,11.0,\n3,12.0,95.0\n4,13.0,-21.0\n",
    )
    .unwrap();
    let table = format!("t={}", csv.display());
    let out = tmp.path().join("hats");
    let report = Skyql::new(["hats", "export", "t", "--table", &table, "--out"])
        .args([&out])
        .ok();
    assert!(report.contains("4 rows read, 2 written"), "{report}");
    assert!(report.contains("2 rejected"), "{report}");
    let again = Skyql::new(["hats", "export", "t", "--table", &table, "--out"])
        .args([&out])
        .fails();
    assert!(again.contains("exists"), "{again}");
    let none = tmp.path().join("none.csv");
    std::fs::write(&none, "id,x\n1,2\n").unwrap();
    let table = format!("n={}", none.display());
    let err = Skyql::new(["hats", "export", "n", "--table", &table, "--out"])
        .args([tmp.path().join("h2")])
        .fails();
    assert!(err.contains("no position columns"), "{err}");
    assert!(!tmp.path().join("h2").exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn measurements_take_the_position_of_their_star() {
    let (tmp, raw, cat) = common::generated_survey(&[
        "--fields",
        "lm035",
        "--ccds",
        "1",
        "--ccd-size",
        "64",
        "--epochs",
        "5",
    ]);
    let _ = raw;
    let out = tmp.path().join("hats_meas");
    let report = Skyql::new(["hats", "export", "measurements", "--out"])
        .args([&out])
        .catalog(&cat)
        .ok();
    let n = csv_rows(
        &Skyql::new([
            "query",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM measurements",
        ])
        .catalog(&cat)
        .ok(),
    )[0]["n"]
        .clone();
    assert!(
        report.contains(&format!("{n} rows read, {n} written")),
        "{n}: {report}"
    );
    let hats = format!("m={}", out.display());
    let joined = Skyql::new([
        "query",
        "--format",
        "csv",
        "--table",
        &hats,
        "SELECT count(*) AS n FROM m JOIN stars s ON m.star_id = s.star_id WHERE m.ra = s.ra AND m.dec = s.dec",
    ])
    .catalog(&cat)
    .ok();
    assert_eq!(csv_rows(&joined)[0]["n"], n);
}

/// How many leaf files of the HATS directory `hats` the plan of `sql` lists (the verbose
/// `EXPLAIN` names every file), and the query's CSV output.
fn listed_and_rows(cat: &Path, hats: &Path, tables: &[String], sql: &str) -> (usize, String) {
    let mut args = vec!["query".to_string()];
    for t in tables {
        args.extend(["--table".to_string(), t.clone()]);
    }
    let plan = Skyql::new(&args)
        .args([format!("EXPLAIN VERBOSE {sql}")])
        .catalog(cat)
        .ok();
    let prefix = hats.to_string_lossy().trim_start_matches('/').to_string();
    let files: std::collections::BTreeSet<&str> = plan
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '|'))
        .filter(|t| t.contains(&prefix) && t.contains("Npix="))
        .collect();
    let rows = Skyql::new(&args)
        .args(["--format", "csv", sql])
        .catalog(cat)
        .ok();
    (files.len(), rows)
}

#[test]
fn spatial_joins_read_only_the_pixels_the_other_side_reaches() {
    // A survey of six fields as HATS in small pixels, and as a plain Parquet file; the
    // catalogue of one field (the first of the same grid) and its own HATS export.
    let (wide_tmp, wide) = catalogue_in_fields(6000, 6);
    let wide_hats = wide_tmp.path().join("wide_hats");
    Skyql::new(["hats", "export", "stars", "--max-rows", "200", "--out"])
        .args([&wide_hats])
        .catalog(&wide)
        .ok();
    let wide_parquet = wide_tmp.path().join("wide.parquet");
    Skyql::new(["query", "--output"])
        .args([&wide_parquet])
        .args(["SELECT * FROM stars"])
        .catalog(&wide)
        .ok();
    let leaf_count = leaf_files(&wide_hats.join("stars/dataset")).len();
    let (narrow_tmp, narrow) = catalogue_in_fields(300, 1);
    let narrow_hats = narrow_tmp.path().join("narrow_hats");
    Skyql::new(["hats", "export", "stars", "--max-rows", "100", "--out"])
        .args([&narrow_hats])
        .catalog(&narrow)
        .ok();
    let as_hats = format!("w={}", wide_hats.display());
    let as_parquet = format!("w={}", wide_parquet.display());
    let narrow_table = format!("n={}", narrow_hats.display());
    let pairs = "SELECT s.star_id AS a, w.star_id AS b FROM {L} s JOIN w \
                 ON ang_sep(s.ra, s.dec, w.ra, w.dec) < 0.02 ORDER BY a, b";

    // The catalogue's stars (coverage from the manifest), then a HATS table (its pixels),
    // against the wide HATS table: fewer files listed, the rows of the plain file.
    for (left, tables) in [("stars", vec![]), ("n", vec![narrow_table.clone()])] {
        let sql = pairs.replace("{L}", left);
        let with = |w: &String| [tables.clone(), vec![w.clone()]].concat();
        let (listed, rows) = listed_and_rows(&narrow, &wide_hats, &with(&as_hats), &sql);
        let (_, expected) = listed_and_rows(&narrow, &wide_hats, &with(&as_parquet), &sql);
        assert!(csv_rows(&rows).len() > 10, "{left}: too few pairs:\n{rows}");
        assert_eq!(rows, expected, "{left}");
        assert!(
            (1..leaf_count / 2).contains(&listed),
            "{left}: {listed} of {leaf_count} pixels listed"
        );
    }
    // The same through xmatch, the nearest wide star of each narrow star.
    let best = "SELECT star_id_1, star_id_2 FROM xmatch(stars, w, 72, 'best') ORDER BY star_id_1";
    let (listed, rows) = listed_and_rows(&narrow, &wide_hats, std::slice::from_ref(&as_hats), best);
    let (_, expected) =
        listed_and_rows(&narrow, &wide_hats, std::slice::from_ref(&as_parquet), best);
    assert_eq!(rows, expected);
    assert!(
        (1..leaf_count / 2).contains(&listed),
        "{listed} of {leaf_count} pixels listed"
    );
    // A left join keeps every wide star: nothing of the wide table may be skipped.
    let kept = "SELECT count(*) AS n FROM xmatch(w, stars, 72, 'all', 'left')";
    let (listed, rows) = listed_and_rows(&narrow, &wide_hats, std::slice::from_ref(&as_hats), kept);
    assert_eq!(listed, leaf_count);
    assert!(csv_rows(&rows)[0]["n"].parse::<u64>().unwrap() >= 6000);
    // Positions computed from the HATS columns are not its stored ones: no pruning.
    let moved = "SELECT count(*) AS n FROM stars s \
                 JOIN (SELECT star_id, ra + 0.5 AS ra, dec FROM w) m \
                 ON ang_sep(s.ra, s.dec, m.ra, m.dec) < 0.02";
    let (listed, rows) =
        listed_and_rows(&narrow, &wide_hats, std::slice::from_ref(&as_hats), moved);
    let (_, expected) = listed_and_rows(
        &narrow,
        &wide_hats,
        std::slice::from_ref(&as_parquet),
        moved,
    );
    assert_eq!(listed, leaf_count);
    assert_eq!(rows, expected);
}
