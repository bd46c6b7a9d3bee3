//! Survey scale at a tiny size: `skyql generate --catalog` writes a catalogue with the
//! ingest's layout, star ids prune partitions, and `skyql bench survey` runs every
//! workload (no timing is asserted; DuckDB is not required here, `.ci/run` runs it).

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{csv_rows, generated_catalog, query_csv, run, run_ok};

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
/// ordered pass (no partial states), one per run of files of disjoint star ids, and give
/// the rows of the hash plan that a group key without the files' order gets.
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
    let plan = |sql: &str| explain(&cat, set, sql);
    let p = plan(&ordered);
    assert!(
        p.contains("AggregateExec: mode=Single") && !p.contains("AggregateExec: mode=Partial"),
        "{p}"
    );
    // The two fields' files hold disjoint star ids: each is aggregated on its own core,
    // with no merge of the sorted partitions before the aggregate.
    let below = p.split("AggregateExec: mode=SinglePartitioned").nth(1);
    assert!(
        below.is_some_and(|scan| !scan.contains("SortPreservingMergeExec")),
        "{p}"
    );
    // The runs' results are put back in star order by concatenation, computed at once,
    // not merged (a merge would take the runs one after the other).
    assert!(
        p.contains("KeyOrderedConcatExec") && !p.contains("SortPreservingMergeExec"),
        "{p}"
    );
    // A consumer that does not need the star order gets the runs' results as they come,
    // without an order-preserving merge that would drain the runs one after the other.
    let totals = format!("SELECT count(*) AS groups, sum(n) AS n FROM ({ordered})");
    let p = plan(&totals);
    assert!(
        p.contains("AggregateExec: mode=SinglePartitioned") && !p.contains("preserve_order=true"),
        "{p}"
    );
    let p = plan(&hashed);
    assert!(p.contains("AggregateExec: mode=Partial"), "{p}");
    let a = query_csv(&cat, &format!("{set}{ordered}"));
    let b = query_csv(&cat, &format!("{set}{hashed}"));
    assert!(a.len() > 1000, "{} groups", a.len());
    assert_eq!(a, b);
    // One field's one file: nothing to split, the sorted partitions are merged before one
    // ordered pass, with the same rows as the hash plan.
    let one_field = |sql: &str| {
        sql.replace(
            "FROM measurements",
            "FROM measurements WHERE field = 'lm001'",
        )
    };
    let p = plan(&one_field(&ordered));
    assert!(
        p.contains("AggregateExec: mode=Single,") && !p.contains("mode=SinglePartitioned"),
        "{p}"
    );
    // Known by what they are, not by name: DataFusion's median keeps every sample too
    // (its state is a list) and gets the ordered pass; avg's partial state is two numbers.
    let per_star = |f: &str| {
        one_field(&format!(
            "SELECT star_id, round({f}(mag), 9) AS m FROM measurements GROUP BY star_id \
             ORDER BY star_id"
        ))
    };
    let p = plan(&per_star("median"));
    assert!(
        p.contains("AggregateExec: mode=Single,") && !p.contains("mode=Partial"),
        "{p}"
    );
    let p = plan(&per_star("avg"));
    assert!(p.contains("AggregateExec: mode=Partial"), "{p}");
    let a1 = query_csv(&cat, &format!("{set}{}", one_field(&ordered)));
    let b1 = query_csv(&cat, &format!("{set}{}", one_field(&hashed)));
    assert!(a1.len() > 100 && a1.len() < a.len(), "{} groups", a1.len());
    assert_eq!(a1, b1);
    let total = &query_csv(&cat, &format!("{set}{totals}"))[0];
    let samples: u64 = a.iter().map(|r| r["n"].parse::<u64>().unwrap()).sum();
    assert_eq!(total["groups"], a.len().to_string());
    assert_eq!(total["n"], samples.to_string());
}

/// A list of stars given as a CSV file has its rows counted, so that the planner builds
/// the join's hash table on it, not on the measurements; the join gives the light curves
/// of exactly those stars.
#[test]
fn a_list_of_stars_in_a_csv_file_is_the_build_side_of_its_join() {
    let (tmp, cat) = generated_catalog(&["--measurements", "100000", "--field-count", "2"]);
    let ids: Vec<String> = query_csv(&cat, "SELECT star_id FROM stars ORDER BY star_id LIMIT 5")
        .into_iter()
        .map(|r| r["star_id"].clone())
        .collect();
    let list = tmp.path().join("targets.csv");
    std::fs::write(&list, format!("star_id\n{}\n", ids.join("\n"))).unwrap();
    let table = format!("targets={}", list.display());
    let join = "SELECT m.star_id, m.mjd, m.colour FROM measurements m \
                JOIN targets t ON m.star_id = t.star_id ORDER BY m.star_id, m.mjd, m.colour";
    let explain = run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "--table",
        &table,
        &format!("EXPLAIN {join}"),
    ]);
    let build = explain
        .split("HashJoinExec")
        .nth(1)
        .and_then(|below| below.split("DataSourceExec").nth(1))
        .unwrap_or_default();
    assert!(
        build.contains("targets.csv") && !build.contains("measurements"),
        "the list is not the build side:\n{explain}"
    );
    let joined = query_with_table(&cat, &table, join);
    let quoted: Vec<String> = ids.iter().map(|i| format!("'{i}'")).collect();
    let listed = query_csv(
        &cat,
        &format!(
            "SELECT star_id, mjd, colour FROM measurements WHERE star_id IN ({}) \
             ORDER BY star_id, mjd, colour",
            quoted.join(",")
        ),
    );
    assert!(listed.len() > 5, "{} rows", listed.len());
    assert_eq!(joined, listed);
}

/// A join with a list of more than 20 stars, and an `IN` list of as many, read only the
/// pages that can hold a listed star (DataFusion prunes pages for lists of up to 20), with
/// the rows of the plans that read every page.
#[test]
fn lists_of_stars_read_only_the_pages_that_can_hold_them() {
    let (tmp, cat) = generated_catalog(&["--measurements", "200000", "--field-count", "2"]);
    let catalog = cat.to_str().unwrap();
    // 25 consecutive stars with light curves and one that does not exist: a few pages.
    let mut ids: Vec<String> = query_csv(
        &cat,
        "SELECT star_id FROM stars WHERE n_r + n_b > 0 ORDER BY star_id LIMIT 25 OFFSET 40",
    )
    .into_iter()
    .map(|r| r["star_id"].clone())
    .collect();
    ids.push("lm0019z99999".to_string());
    let list = tmp.path().join("targets.csv");
    std::fs::write(&list, format!("star_id\n{}\n", ids.join("\n"))).unwrap();
    let table = format!("targets={}", list.display());
    let query = |sql: &str| query_with_table(&cat, &table, sql);
    let join = "SELECT m.star_id, m.mjd, m.colour, m.mag FROM measurements m \
                JOIN targets t ON m.star_id = t.star_id ORDER BY m.star_id, m.mjd, m.colour";
    // The join's keys passed as its hash table, not as a list: every page is read.
    let every_page = "SET datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values = 0; ";
    let joined = query(join);
    assert!(joined.len() > 25, "{} rows", joined.len());
    assert_eq!(joined, query(&format!("{every_page}{join}")));
    let pages = |sql: &str| {
        let analyzed = run_ok(&[
            "query",
            "--catalog",
            catalog,
            "--table",
            &table,
            &format!("EXPLAIN ANALYZE {sql}"),
        ]);
        let kept = metric(&analyzed, "key_list_pages_kept");
        let total = metric(&analyzed, "key_list_pages_total");
        assert!(kept.is_some() && total.is_some(), "{analyzed}");
        (kept.unwrap(), total.unwrap())
    };
    let (kept, total) = pages(join);
    assert!(
        kept > 0.0 && kept < total / 2.0,
        "{kept} of {total} pages read"
    );
    let quoted: Vec<String> = ids.iter().map(|i| format!("'{i}'")).collect();
    let listed = |column: &str| {
        format!(
            "SELECT star_id, mjd, colour, mag FROM measurements WHERE {column} IN ({}) \
             ORDER BY star_id, mjd, colour",
            quoted.join(",")
        )
    };
    assert_eq!(query(&listed("star_id")), joined);
    // An expression of the column gives no list on a column: every page, the same rows.
    assert_eq!(query(&listed("star_id || ''")), joined);
    let (kept, total) = pages(&listed("star_id"));
    assert!(
        kept > 0.0 && kept < total / 2.0,
        "{kept} of {total} pages read"
    );
    // `stars` declares no file order: DataFusion's partitions of its scan share a queue
    // of every file, and each partition's narrowed scan must read its own files only.
    let two = "SET datafusion.execution.target_partitions = 2; ";
    for sql in [
        format!(
            "SELECT count(*) AS n FROM stars WHERE star_id IN ({})",
            quoted.join(",")
        ),
        "SELECT count(*) AS n FROM stars s JOIN targets t ON s.star_id = t.star_id".to_string(),
    ] {
        let rows = query(&format!("{two}{sql}"));
        assert_eq!(rows[0]["n"], (ids.len() - 1).to_string(), "{sql}");
    }
}

/// The rows of `sql` on the catalogue with the extra table `table` (`NAME=PATH`).
fn query_with_table(cat: &Path, table: &str, sql: &str) -> Vec<HashMap<String, String>> {
    let catalog = cat.to_str().unwrap();
    csv_rows(&run_ok(&[
        "query",
        "--catalog",
        catalog,
        "--table",
        table,
        "--format",
        "csv",
        sql,
    ]))
}

/// The value of an `EXPLAIN ANALYZE` metric (`name=12` or `name=1.2 K`).
fn metric(plan: &str, name: &str) -> Option<f64> {
    let after = plan.split(&format!("{name}=")).nth(1)?;
    let mut words = after.split([',', ']']).next()?.split_whitespace();
    let number: f64 = words.next()?.parse().ok()?;
    Some(match words.next() {
        Some("K") => number * 1e3,
        Some("M") => number * 1e6,
        _ => number,
    })
}

/// Ordinary aggregates grouped by star run on each run of files of disjoint star ids too
/// (no order-preserving shuffle of partial states), with the hash plan's rows; grouping
/// sets, whose grand total spans every run, keep DataFusion's plan.
#[test]
fn per_star_means_run_on_each_run_of_files_with_the_hash_plans_rows() {
    let (_tmp, cat) = generated_catalog(&["--measurements", "200000", "--field-count", "3"]);
    let set = "SET datafusion.execution.target_partitions = 2; ";
    let ordered = "SELECT star_id, colour, count(*) AS n, round(avg(mag), 9) AS m, \
                   round(stddev(mag), 9) AS s, count(DISTINCT ccd) AS ccds FROM measurements \
                   GROUP BY star_id, colour ORDER BY star_id, colour";
    let hashed = "SELECT sid AS star_id, colour, n, m, s, ccds FROM (SELECT star_id || '' AS sid, \
                  colour, count(*) AS n, round(avg(mag), 9) AS m, round(stddev(mag), 9) AS s, \
                  count(DISTINCT ccd) AS ccds FROM measurements GROUP BY star_id || '', colour) \
                  ORDER BY star_id, colour";
    let plan = |sql: &str| explain(&cat, set, sql);
    let p = plan(ordered);
    assert!(p.contains("AggregateExec: mode=SinglePartitioned"), "{p}");
    assert!(p.contains("KeyOrderedConcatExec"), "{p}");
    let a = query_csv(&cat, &format!("{set}{ordered}"));
    let b = query_csv(&cat, &format!("{set}{hashed}"));
    assert!(a.len() > 1000, "{} groups", a.len());
    assert_eq!(a, b);
    // The first rows in star order: the concatenation stops at the limit.
    let first = format!("{ordered} LIMIT 7");
    assert!(
        plan(&first).contains("KeyOrderedConcatExec"),
        "{}",
        plan(&first)
    );
    assert_eq!(query_csv(&cat, &format!("{set}{first}")), b[..7].to_vec());
    // In descending star order the runs would have to come last to first: merged instead.
    let descending = ordered.replace("ORDER BY star_id, colour", "ORDER BY star_id DESC, colour");
    let p = plan(&descending);
    assert!(!p.contains("KeyOrderedConcatExec"), "{p}");
    let mut reversed = query_csv(&cat, &format!("{set}{descending}"));
    reversed.sort_by(|x, y| (&x["star_id"], &x["colour"]).cmp(&(&y["star_id"], &y["colour"])));
    assert_eq!(reversed, b);
    let rollup = "SELECT count(*) AS groups, max(n) AS total FROM (SELECT star_id, count(*) AS n \
                  FROM measurements GROUP BY ROLLUP(star_id))";
    let p = plan(rollup);
    assert!(!p.contains("SinglePartitioned"), "{p}");
    let row = &query_csv(&cat, &format!("{set}{rollup}"))[0];
    let all = &query_csv(
        &cat,
        "SELECT count(*) AS n, count(DISTINCT star_id) AS stars FROM measurements",
    )[0];
    let stars: u64 = all["stars"].parse().unwrap();
    assert_eq!(row["groups"], (stars + 1).to_string());
    assert_eq!(row["total"], all["n"]);
}

/// The plan of `sql` after the settings `set`, as `EXPLAIN` prints it.
fn explain(cat: &Path, set: &str, sql: &str) -> String {
    let catalog = cat.to_str().unwrap();
    run_ok(&[
        "query",
        "--catalog",
        catalog,
        "--format",
        "csv",
        &format!("{set}EXPLAIN {sql}"),
    ])
}
