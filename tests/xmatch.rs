//! The `xmatch` table function: every pair, the nearest match, with or without the
//! unmatched left rows, equal to a brute-force computation (every pair, exact separation)
//! on synthetic catalogues across RA 0/360 and near both poles, and on the real OGLE-III
//! LMC catalogue against stars generated with known counterparts.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use common::{Skyql, csv_rows, haversine_deg};
use skyql::demo::rng::Rng;

/// Positions around RA 0/360, both poles and the LMC, at several spreads.
fn awkward_points(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = Rng::new(seed, &[]);
    let centres = [
        (0.0, 0.0),
        (359.99, -5.0),
        (0.0, 89.97),
        (180.0, -89.97),
        (80.9, -69.7),
    ];
    (0..n)
        .map(|i| {
            let (ra0, dec0) = centres[i % centres.len()];
            let scale = [0.0002, 0.01, 0.2][(i / centres.len()) % 3];
            let dec: f64 = (dec0 + scale * (rng.uniform() - 0.5)).clamp(-90.0, 90.0);
            let ra = ra0 + scale * (rng.uniform() - 0.5) / dec.to_radians().cos().max(0.01);
            (ra.rem_euclid(360.0), dec)
        })
        .collect()
}

fn write_csv(path: &Path, id: &str, points: &[(f64, f64)]) {
    let mut text = format!("{id},ra,dec\n");
    for (i, (ra, dec)) in points.iter().enumerate() {
        writeln!(text, "{i},{ra},{dec}").unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// Left id -> right ids (sorted) within `radius` degrees, by brute force.
fn brute_force(
    a: &[(f64, f64)],
    b: &[(f64, f64)],
    radius: f64,
) -> BTreeMap<usize, Vec<(f64, usize)>> {
    let mut out = BTreeMap::new();
    for (i, &(ra, dec)) in a.iter().enumerate() {
        let mut found: Vec<(f64, usize)> = b
            .iter()
            .enumerate()
            .map(|(j, &(rb, db))| (haversine_deg(ra, dec, rb, db), j))
            .filter(|(d, _)| *d <= radius)
            .collect();
        found.sort_by(|x, y| x.0.total_cmp(&y.0));
        out.insert(i, found);
    }
    out
}

/// The (left id, right id or None) rows of an xmatch, sorted.
fn xmatch_rows(dir: &Path, left: &str, right: &str, args: &str) -> Vec<(usize, Option<usize>)> {
    let a = format!("a={}", dir.join("a.csv").display());
    let b = format!("b={}", dir.join("b.csv").display());
    let sql = format!("SELECT {left}, {right}, sep_arcsec FROM xmatch({args})");
    let text = Skyql::new([
        "query", "--format", "csv", "--table", &a, "--table", &b, &sql,
    ])
    .ok();
    let mut rows: Vec<(usize, Option<usize>)> = csv_rows(&text)
        .iter()
        .map(|r| (r[left].parse().unwrap(), r[right].parse().ok()))
        .collect();
    rows.sort();
    rows
}

#[test]
fn every_mode_equals_brute_force_across_ra_zero_and_the_poles() {
    let dir = tempfile::tempdir().unwrap();
    let a = awkward_points(1200, 11);
    let b = awkward_points(1500, 12);
    write_csv(&dir.path().join("a.csv"), "aid", &a);
    write_csv(&dir.path().join("b.csv"), "bid", &b);
    for arcsec in [0.1, 1.0, 60.0, 3600.0] {
        let truth = brute_force(&a, &b, arcsec / 3600.0);
        let all: Vec<(usize, Option<usize>)> = {
            let mut v: Vec<_> = truth
                .iter()
                .flat_map(|(i, js)| js.iter().map(move |(_, j)| (*i, Some(*j))))
                .collect();
            v.sort();
            v
        };
        assert!(
            !all.is_empty(),
            "{arcsec}\": no pair, the test proves nothing"
        );
        let unmatched: Vec<(usize, Option<usize>)> = truth
            .iter()
            .filter(|(_, js)| js.is_empty())
            .map(|(i, _)| (*i, None))
            .collect();
        assert!(
            arcsec >= 3600.0 || !unmatched.is_empty(),
            "{arcsec}\": every row matched"
        );
        let got = xmatch_rows(dir.path(), "aid", "bid", &format!("a, b, {arcsec}"));
        assert_eq!(got, all, "all pairs at {arcsec}\"");
        let mut all_left = all.clone();
        all_left.extend(unmatched.iter().cloned());
        all_left.sort();
        let got = xmatch_rows(
            dir.path(),
            "aid",
            "bid",
            &format!("'a', 'b', {arcsec}, 'all', 'left'"),
        );
        assert_eq!(got, all_left, "all pairs and unmatched rows at {arcsec}\"");
        // Best: the nearest; a tie (same distance to 1e-12 degree) may pick either.
        for join in ["inner", "left"] {
            let got = xmatch_rows(
                dir.path(),
                "aid",
                "bid",
                &format!("a, b, {arcsec}, 'best', '{join}'"),
            );
            let expected_rows = truth.values().filter(|js| !js.is_empty()).count()
                + if join == "left" { unmatched.len() } else { 0 };
            assert_eq!(got.len(), expected_rows, "best {join} at {arcsec}\"");
            for (i, j) in got {
                match (j, truth[&i].first()) {
                    (None, None) => {}
                    (Some(j), Some(&(nearest, _))) => {
                        let (ra, dec) = a[i];
                        let d = haversine_deg(ra, dec, b[j].0, b[j].1);
                        assert!(
                            (d - nearest).abs() < 1e-12,
                            "left {i}: {j} at {d}, nearest at {nearest}"
                        );
                    }
                    other => panic!("left {i} at {arcsec}\": {other:?}"),
                }
            }
        }
    }
}

#[test]
fn ogle_iii_variables_find_their_generated_counterparts() {
    // The first 3,000 stars of the real OGLE-III LMC extract (RA in hours), and generated
    // stars: a counterpart 0.1 to 1.9 arcsec from every second OGLE star, plus field stars.
    let dir = tempfile::tempdir().unwrap();
    let source = common::data("catalogues/ogle3_lmc_within_1.5deg_of_80_-69.tsv");
    let text = std::fs::read_to_string(source).unwrap();
    let lines: Vec<&str> = text.lines().take(3001).collect();
    std::fs::write(dir.path().join("b.tsv"), lines.join("\n") + "\n").unwrap();
    let header: Vec<&str> = lines[0].split('\t').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (ra_at, dec_at) = (at("RA"), at("DECL"));
    let ogle: Vec<(f64, f64)> = lines[1..]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            (
                cells[ra_at].parse::<f64>().unwrap() * 15.0,
                cells[dec_at].parse().unwrap(),
            )
        })
        .collect();
    let mut rng = Rng::new(7, &[]);
    let mut stars = Vec::new();
    for (ra, dec) in ogle.iter().step_by(2) {
        let (offset, angle) = (
            (0.1 + 1.8 * rng.uniform()) / 3600.0,
            rng.uniform() * std::f64::consts::TAU,
        );
        let dec2 = dec + offset * angle.sin();
        stars.push((ra + offset * angle.cos() / dec.to_radians().cos(), dec2));
    }
    for _ in 0..2000 {
        stars.push((78.0 + 4.0 * rng.uniform(), -70.5 + 3.0 * rng.uniform()));
    }
    write_csv(&dir.path().join("a.csv"), "star", &stars);
    let view =
        "CREATE VIEW ogle AS SELECT \"ID\" AS ogle_id, \"RA\" * 15 AS ra, \"DECL\" AS dec FROM b";
    let query = |args: &str| {
        let a = format!("a={}", dir.path().join("a.csv").display());
        let b = format!("b={}", dir.path().join("b.tsv").display());
        let sql = format!("{view}; SELECT star, ogle_id FROM xmatch(a, ogle, {args})");
        let out = Skyql::new([
            "query", "--format", "csv", "--table", &a, "--table", &b, &sql,
        ])
        .ok();
        let ids: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        let mut rows: Vec<(usize, usize)> = csv_rows(&out)
            .iter()
            .map(|r| {
                let j = ids.iter().position(|id| *id == r["ogle_id"]).unwrap();
                (r["star"].parse().unwrap(), j)
            })
            .collect();
        rows.sort();
        rows
    };
    for arcsec in [1.0, 2.0] {
        let truth = brute_force(&stars, &ogle, arcsec / 3600.0);
        let mut all: Vec<(usize, usize)> = truth
            .iter()
            .flat_map(|(i, js)| js.iter().map(move |(_, j)| (*i, *j)))
            .collect();
        all.sort();
        assert_eq!(query(&format!("{arcsec}")), all, "all pairs at {arcsec}\"");
        let best: Vec<(usize, usize)> = truth
            .iter()
            .filter_map(|(i, js)| js.first().map(|(_, j)| (*i, *j)))
            .collect();
        assert_eq!(
            query(&format!("{arcsec}, 'best'")),
            best,
            "best at {arcsec}\""
        );
        // Within 2", every planted counterpart is found (its OGLE star is 2 * i).
        if arcsec == 2.0 {
            for i in 0..ogle.len().div_ceil(2) {
                assert!(truth[&i].iter().any(|(_, j)| *j == 2 * i), "star {i}");
            }
        }
    }
}

#[test]
fn bad_calls_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("a.csv"), "aid", &awkward_points(10, 1));
    std::fs::write(dir.path().join("b.csv"), "x,y\n1,2\n").unwrap();
    let a = format!("a={}", dir.path().join("a.csv").display());
    let b = format!("b={}", dir.path().join("b.csv").display());
    for (args, reason) in [
        ("a, b, 1", "table b has no position columns"),
        ("a, nowhere, 1", "no table nowhere"),
        ("a, a, -1", "radius"),
        ("a, a, 1, 'closest'", "unknown mode 'closest'"),
        ("a, a, 1, 'all', 'outer'", "unknown join 'outer'"),
        ("a, a", "2 arguments"),
    ] {
        let sql = format!("SELECT * FROM xmatch({args})");
        let err = Skyql::new(["query", "--table", &a, "--table", &b, &sql]).fails();
        assert!(err.contains(reason), "{args}: {err}");
    }
}
