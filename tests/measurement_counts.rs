//! `measurement_counts`, the summary written with every catalogue version, answers counts
//! of measurements by field, colour, CCD and quarter exactly as a scan does: after a
//! generated catalogue, after an ingest and after a second ingest that replaces light
//! curves and carries files over.

mod common;

use std::path::Path;

use common::{Skyql, run_ok};

/// The same query answered from the summary (`count(*)`) and by a scan (`count(mjd)`,
/// which the rule leaves alone; `mjd` is never null).
fn same_both_ways(catalog: &Path, sql: &str) {
    let fast = Skyql::new(["query", "--format", "csv", sql])
        .catalog(catalog)
        .ok();
    let scanned = sql
        .replace("count(*)", "count(mjd)")
        .replace("COUNT(*)", "count(mjd)");
    let slow = Skyql::new(["query", "--format", "csv", &scanned])
        .catalog(catalog)
        .ok();
    assert_eq!(fast, slow, "{sql}");
    assert!(
        fast.lines().count() > 1,
        "no rows: the comparison proves nothing\n{sql}"
    );
    let plan = Skyql::new(["query", &format!("EXPLAIN {sql}")])
        .catalog(catalog)
        .ok();
    assert!(
        plan.contains("measurement_counts"),
        "not from the summary:\n{plan}"
    );
}

const QUERIES: [&str; 5] = [
    "SELECT field, colour, ccd, quarter, count(*) AS n FROM measurements GROUP BY field, colour, ccd, quarter ORDER BY 1, 2, 3, 4",
    "SELECT colour, count(*) AS n FROM measurements GROUP BY colour ORDER BY colour",
    "SELECT count(*) AS n FROM measurements",
    "SELECT ccd, count(*) AS n FROM measurements WHERE colour = 'R' AND quarter IN ('k', 'm') GROUP BY ccd ORDER BY ccd",
    "SELECT field, count(*) AS a, count(1) AS b FROM measurements WHERE ccd >= 1 GROUP BY field ORDER BY field",
];

#[test]
fn a_generated_catalogue_counts_from_its_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    Skyql::new(["generate", "--catalog"])
        .args([&cat])
        .args(["--measurements", "300000", "--stars", "3000"])
        .ok();
    for sql in QUERIES {
        same_both_ways(&cat, sql);
    }
    // The named query of the data manager, whole.
    let named = Skyql::new([
        "query",
        "--format",
        "csv",
        "--named",
        "quarters_most_measurements",
    ])
    .catalog(&cat)
    .ok();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sql/quarters_most_measurements.sql"
    ))
    .unwrap();
    let scanned = Skyql::new([
        "query",
        "--format",
        "csv",
        &text.replace("COUNT(*)", "count(mjd)"),
    ])
    .catalog(&cat)
    .ok();
    assert_eq!(named, scanned);
}

#[test]
fn ingests_keep_the_summary_exact() {
    let (_tmp, raw, cat) = common::generated_survey(&[
        "--fields",
        "lm001,lm035",
        "--ccds",
        "2",
        "--ccd-size",
        "64",
        "--epochs",
        "6",
    ]);
    for sql in QUERIES {
        same_both_ways(&cat, sql);
    }
    // A second ingest: the light curves again (they replace their rows), the images again.
    run_ok(&[
        "ingest",
        raw.join("lightcurves").to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    for sql in QUERIES {
        same_both_ways(&cat, sql);
    }
    let verify = Skyql::new(["catalog", "verify"]).catalog(&cat).ok();
    assert!(verify.contains("intact"), "{verify}");
    let manifest = std::fs::read_to_string(cat.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("measurement_counts.parquet"),
        "{manifest}"
    );
}

#[test]
fn other_aggregates_and_filters_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    Skyql::new(["generate", "--catalog"])
        .args([&cat])
        .args(["--measurements", "20000", "--stars", "300"])
        .ok();
    for sql in [
        "SELECT colour, count(*), avg(mag) FROM measurements GROUP BY colour",
        "SELECT colour, count(*) FROM measurements WHERE mag < 18 GROUP BY colour",
        "SELECT star_id, count(*) FROM measurements GROUP BY star_id",
        "SELECT colour, count(DISTINCT ccd) FROM measurements GROUP BY colour",
        "SELECT colour, count(*) FROM measurements WHERE random() < 0.5 GROUP BY colour",
        "SELECT colour, count(*) FROM measurements WHERE EXISTS \
         (SELECT 1 FROM stars WHERE stars.star_id = measurements.star_id) GROUP BY colour",
    ] {
        let plan = Skyql::new(["query", &format!("EXPLAIN {sql}")])
            .catalog(&cat)
            .ok();
        assert!(!plan.contains("measurement_counts"), "{sql}:\n{plan}");
        Skyql::new(["query", "--format", "csv", sql])
            .catalog(&cat)
            .ok();
    }
}
