//! Angular-distance joins are planned as HEALPix equi-joins, with exactly the rows of the
//! nested loop: across RA 0/360, at the poles, for radii from 0.1 arcsec to a degree.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{Skyql, csv_rows};

/// Points clustered around a few awkward places (RA 0/360, both poles, the LMC), with
/// near-duplicates at sub-arcsecond to degree offsets: a simple LCG, the same every run.
fn points(path: &Path, n: usize, seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let centres = [
        (0.0, 0.0),
        (359.99, -5.0),
        (0.0, 89.95),
        (180.0, -89.95),
        (80.9, -69.7),
    ];
    let mut text = String::from("id,ra,dec\n");
    for i in 0..n {
        let (ra0, dec0) = centres[i % centres.len()];
        let scale = [0.0001, 0.01, 1.0][(i / centres.len()) % 3];
        let dec: f64 = (dec0 + scale * (next() - 0.5)).clamp(-90.0, 90.0);
        let ra =
            (ra0 + scale * (next() - 0.5) / dec.to_radians().cos().max(0.01)).rem_euclid(360.0);
        writeln!(text, "{i},{ra},{dec}").unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn run(dir: &Path, sql: &str) -> String {
    let a = format!("a={}", dir.join("a.csv").display());
    let b = format!("b={}", dir.join("b.csv").display());
    Skyql::new([
        "query", "--format", "csv", "--table", &a, "--table", &b, sql,
    ])
    .ok()
}

#[test]
fn the_spatial_join_finds_exactly_the_pairs_of_the_nested_loop() {
    let dir = tempfile::tempdir().unwrap();
    points(&dir.path().join("a.csv"), 1500, 1);
    points(&dir.path().join("b.csv"), 1500, 2);
    for radius in [0.1 / 3600.0, 1.0 / 60.0, 0.05, 1.0] {
        let pairs = |condition: &str| {
            run(
                dir.path(),
                &format!(
                    "SELECT count(*) AS n, sum(a.id * 100000 + b.id) AS ids FROM a JOIN b ON {condition}"
                ),
            )
        };
        let spatial = pairs(&format!("ang_sep(a.ra, a.dec, b.ra, b.dec) < {radius}"));
        // greatest(x, 0) is not a distance bound the rule knows: a nested loop.
        let nested = pairs(&format!(
            "greatest(ang_sep(a.ra, a.dec, b.ra, b.dec), 0.0) < {radius}"
        ));
        assert_eq!(spatial, nested, "radius {radius}");
        let n: u64 = csv_rows(&spatial)[0]["n"].parse().unwrap();
        assert!(
            n > 0,
            "radius {radius}: no pair at all, the test proves nothing"
        );
        // The other forms of the same bound.
        let swapped = pairs(&format!("{radius} >= ang_sep(b.ra, b.dec, a.ra, a.dec)"));
        let cone = pairs(&format!(
            "cone_contains(b.ra, b.dec, a.ra, a.dec, {radius})"
        ));
        let nested_le = pairs(&format!(
            "greatest(ang_sep(a.ra, a.dec, b.ra, b.dec), 0.0) <= {radius}"
        ));
        assert_eq!(swapped, nested_le, "radius {radius}");
        assert_eq!(cone, nested_le, "radius {radius}");
    }
}

#[test]
fn explain_shows_a_hash_join_on_cells() {
    let dir = tempfile::tempdir().unwrap();
    points(&dir.path().join("a.csv"), 10, 1);
    points(&dir.path().join("b.csv"), 10, 2);
    let plan = run(
        dir.path(),
        "EXPLAIN SELECT a.id, b.id FROM a, b WHERE ang_sep(a.ra, a.dec, b.ra, b.dec) < 1.0 / 3600 AND a.id <> b.id",
    );
    assert!(plan.contains("healpix_cone_cells"), "{plan}");
    assert!(plan.contains("HashJoinExec"), "{plan}");
    assert!(!plan.contains("NestedLoopJoinExec"), "{plan}");
}

#[test]
fn the_best_match_recipe_keeps_the_nearest_right_row() {
    // STILTS tmatch2 find=best1 semantics in SQL: all pairs by the spatial join, then the
    // nearest right row per left row (the README's recipe).
    let dir = tempfile::tempdir().unwrap();
    points(&dir.path().join("a.csv"), 600, 3);
    points(&dir.path().join("b.csv"), 600, 4);
    let radius = 0.05;
    let best = run(
        dir.path(),
        &format!(
            "SELECT a_id, b_id FROM (SELECT a.id AS a_id, b.id AS b_id, row_number() OVER \
             (PARTITION BY a.id ORDER BY ang_sep(a.ra, a.dec, b.ra, b.dec), b.id) AS k \
             FROM a JOIN b ON ang_sep(a.ra, a.dec, b.ra, b.dec) < {radius}) WHERE k = 1 ORDER BY a_id"
        ),
    );
    let read = |name: &str| -> Vec<(f64, f64)> {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        csv_rows(&text)
            .iter()
            .map(|r| (r["ra"].parse().unwrap(), r["dec"].parse().unwrap()))
            .collect()
    };
    let (a, b) = (read("a.csv"), read("b.csv"));
    let mut expected = Vec::new();
    for (i, &(ra, dec)) in a.iter().enumerate() {
        let nearest = b
            .iter()
            .enumerate()
            .map(|(j, &(rb, db))| (common::haversine_deg(ra, dec, rb, db), j))
            .filter(|(d, _)| *d < radius)
            .min_by(|x, y| x.0.total_cmp(&y.0));
        if let Some((_, j)) = nearest {
            expected.push((i.to_string(), j.to_string()));
        }
    }
    let got: Vec<(String, String)> = csv_rows(&best)
        .iter()
        .map(|r| (r["a_id"].clone(), r["b_id"].clone()))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn a_left_spatial_join_keeps_every_left_row_as_the_nested_loop_does() {
    let dir = tempfile::tempdir().unwrap();
    points(&dir.path().join("a.csv"), 900, 5);
    points(&dir.path().join("b.csv"), 900, 6);
    for radius in [0.1 / 3600.0, 1.0 / 60.0, 0.5] {
        let rows = |condition: &str| {
            run(
                dir.path(),
                &format!(
                    "SELECT count(*) AS n, count(b.id) AS matched, \
                     sum(a.id * 100000 + coalesce(b.id, -1)) AS ids \
                     FROM a LEFT JOIN b ON {condition} AND b.id % 3 <> 0"
                ),
            )
        };
        let spatial = rows(&format!("ang_sep(a.ra, a.dec, b.ra, b.dec) < {radius}"));
        let nested = rows(&format!(
            "greatest(ang_sep(a.ra, a.dec, b.ra, b.dec), 0.0) < {radius}"
        ));
        assert_eq!(spatial, nested, "radius {radius}");
        let row = &csv_rows(&spatial)[0];
        let (n, matched): (u64, u64) = (row["n"].parse().unwrap(), row["matched"].parse().unwrap());
        assert!(
            matched > 0 && n > matched,
            "radius {radius}: matched and unmatched rows both needed: {row:?}"
        );
    }
    let plan = run(
        dir.path(),
        "EXPLAIN SELECT a.id, b.id FROM a LEFT JOIN b ON ang_sep(a.ra, a.dec, b.ra, b.dec) < 0.001",
    );
    assert!(plan.contains("healpix_cone_cells"), "{plan}");
    assert!(!plan.contains("NestedLoopJoinExec"), "{plan}");
}

#[test]
fn left_rows_without_a_position_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.csv"),
        "id,ra,dec\n1,10.0,20.0\n2,,\n3,10.0,95.0\n4,11.0,\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.csv"), "id,ra,dec\n7,10.0,20.0\n").unwrap();
    let join = |condition: &str| {
        run(
            dir.path(),
            &format!("SELECT a.id AS a, b.id AS b FROM a LEFT JOIN b ON {condition} ORDER BY a.id"),
        )
    };
    let spatial = join("ang_sep(a.ra, a.dec, b.ra, b.dec) < 0.001");
    // `+ 0.0`: not a bound the rule knows (a nested loop), and null stays null.
    let nested = join("ang_sep(a.ra, a.dec, b.ra, b.dec) + 0.0 < 0.001");
    assert_eq!(spatial, nested);
    assert_eq!(csv_rows(&spatial).len(), 4, "{spatial}");
    for mode in ["all", "best"] {
        let x = run(
            dir.path(),
            &format!("SELECT id_1 FROM xmatch(a, b, 3.6, '{mode}', 'left') ORDER BY id_1"),
        );
        assert_eq!(csv_rows(&x).len(), 4, "{mode}: {x}");
    }
}
