//! Survey scale at a tiny size: `skyql generate --catalog` writes a catalogue with the
//! ingest's layout, star ids prune partitions, and `skyql bench survey` runs every
//! workload (no timing is asserted; DuckDB is not required here, `.ci/run` runs it).

mod common;

use common::{generated_catalog, query_csv, run, run_ok};

#[test]
fn a_generated_catalogue_answers_like_an_ingested_one() {
    let (_tmp, cat) = generated_catalog(&["--measurements", "200000", "--field-count", "2"]);
    let tables = run_ok(&["tables", "--catalog", cat.to_str().unwrap()]);
    assert!(tables.contains("measurements"), "{tables}");
    let n: u64 = query_csv(&cat, "SELECT COUNT(*) AS n FROM measurements")[0]["n"]
        .parse()
        .unwrap();
    // About 200,000 (5% of values are missing by design).
    assert!((180_000..=220_000).contains(&n), "{n}");
    // Stars' counts equal their measurements, per colour.
    let check = query_csv(
        &cat,
        "SELECT SUM(s.n_r + s.n_b) AS from_stars, (SELECT COUNT(*) FROM measurements) AS rows FROM stars s",
    );
    assert_eq!(check[0]["from_stars"], check[0]["rows"]);
    // Every measurement's star exists and lies in the partition its id names.
    let orphans = query_csv(
        &cat,
        "SELECT COUNT(*) AS n FROM measurements m LEFT JOIN stars s ON s.star_id = m.star_id \
         WHERE s.star_id IS NULL OR m.star_id NOT LIKE m.field || '%'",
    );
    assert_eq!(orphans[0]["n"], "0");
    // Uneven quarters and variables, as in the demo.
    let best = common::query_file_csv(&cat, "quarters_most_measurements.sql");
    assert!(
        best.iter()
            .any(|r| r["best_quarter"] != r["central_quarter"])
    );
    // A light curve by star id alone reads one field's files (partition pruning).
    let star =
        query_csv(&cat, "SELECT star_id FROM stars ORDER BY star_id LIMIT 1")[0]["star_id"].clone();
    let plan = run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        &format!("EXPLAIN SELECT mjd, mag FROM measurements WHERE star_id = '{star}'"),
    ]);
    let field = &star[..5];
    assert!(plan.contains(&format!("field={field}")), "{plan}");
    let other = if field == "lm001" { "lm002" } else { "lm001" };
    assert!(!plan.contains(&format!("field={other}")), "{plan}");
    // A second generate into the same catalogue is refused.
    let again = run(&[
        "generate",
        "--catalog",
        cat.to_str().unwrap(),
        "--measurements",
        "1000",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a catalogue"));
}

#[test]
fn the_survey_benchmark_runs_every_workload_at_a_tiny_scale() {
    let (_tmp, cat) = generated_catalog(&["--measurements", "50000"]);
    let out = common::skyql()
        .args([
            "bench",
            "survey",
            "--catalog",
            cat.to_str().unwrap(),
            "--repetitions",
            "1",
            "--python",
            "/nonexistent/python",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for w in [
        "lightcurve",
        "lightcurves_1000",
        "quarters",
        "lc_stats_field",
        "cone_1arcmin",
        "cone_10arcmin_full_scan",
        "memory_limit",
        "duckdb: not run",
    ] {
        assert!(text.contains(w), "{w} missing:\n{text}");
    }
}

#[test]
fn a_field_of_many_stars_is_written_in_pieces_and_loses_none() {
    // More stars than one stars file holds (200,000): the field is written in pieces.
    let (_tmp, cat) = generated_catalog(&["--measurements", "0", "--stars", "250000"]);
    let row = &query_csv(
        &cat,
        "SELECT COUNT(*) AS n, COUNT(DISTINCT star_id) AS ids, COUNT(ra) AS placed FROM stars",
    )[0];
    assert_eq!(row["n"], "250000");
    assert_eq!(row["ids"], "250000");
    assert_eq!(row["placed"], "250000");
    let verify = run_ok(&["catalog", "verify", "--catalog", cat.to_str().unwrap()]);
    assert!(verify.contains("the catalogue is intact"), "{verify}");
    // The pieces follow each other in HEALPix order, as one ingested file per field
    // would: their cell ranges (kept in the manifest) are disjoint and increasing, so a
    // cone opens only the pieces of its cells.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cat.join("manifest.json")).unwrap()).unwrap();
    let mut files: Vec<(String, i64, i64)> = manifest["tables"]["stars"]["data_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let range = &f["column_ranges"]["healpix"];
            (
                f["path"].as_str().unwrap().to_string(),
                range["min"].as_i64().unwrap(),
                range["max"].as_i64().unwrap(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].2 < files[1].1, "{files:?}");
}

/// Per-star statistics that keep every sample (`lc_stats`, `stetson_j`) run in one
/// ordered pass over the merged sorted partitions (no partial states), and give the rows
/// of the hash plan that a group key without the files' order gets.
#[test]
fn per_star_statistics_run_in_one_ordered_pass_with_the_hash_plans_rows() {
    let (_tmp, cat) = generated_catalog(&["--measurements", "200000", "--field-count", "2"]);
    let set = "SET datafusion.execution.target_partitions = 3; ";
    let columns = "s.n AS n, round(s.mean, 9) AS mean, round(s.weighted_mean, 9) AS wm, \
                   round(s.std, 9) AS sd, round(s.median, 9) AS med, round(s.mad, 9) AS mad, \
                   round(j, 9) AS j";
    let aggregates = "lc_stats(mjd, mag, mag_err) AS s, stetson_j(mjd, mag, mag_err, colour) AS j";
    let ordered = format!(
        "SELECT star_id, colour, {columns} FROM (SELECT star_id, colour, {aggregates} \
         FROM measurements GROUP BY star_id, colour) ORDER BY star_id, colour"
    );
    let hashed = format!(
        "SELECT sid AS star_id, colour, {columns} FROM (SELECT star_id || '' AS sid, colour, \
         {aggregates} FROM measurements GROUP BY star_id || '', colour) ORDER BY star_id, colour"
    );
    let plan = |sql: &str| {
        run_ok(&[
            "query",
            "--catalog",
            cat.to_str().unwrap(),
            "--format",
            "csv",
            &format!("{set}EXPLAIN {sql}"),
        ])
    };
    let p = plan(&ordered);
    assert!(
        p.contains("AggregateExec: mode=Single") && !p.contains("AggregateExec: mode=Partial"),
        "{p}"
    );
    let p = plan(&hashed);
    assert!(p.contains("AggregateExec: mode=Partial"), "{p}");
    let a = query_csv(&cat, &format!("{set}{ordered}"));
    let b = query_csv(&cat, &format!("{set}{hashed}"));
    assert!(a.len() > 1000, "{} groups", a.len());
    assert_eq!(a, b);
}
