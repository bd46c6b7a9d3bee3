//! Scalar subqueries over a partition column or a column with exact file ranges answered
//! from the manifest (`engine::partition_scalars_rule`): the same rows as the plain plan, which a
//! `WHERE true` in the subquery keeps (the rule leaves a filtered scan alone), and a plan
//! in which the value is a literal, which the scan prunes by (one field's directory).

mod common;

use common::{query_csv, two_field_survey};

/// The query's rows as CSV lines, in order.
fn lines(cat: &std::path::Path, sql: &str) -> Vec<String> {
    let out = common::run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ]);
    out.lines().map(str::to_string).collect()
}

#[test]
fn partition_scalars_from_the_manifest_give_the_rows_of_the_plain_plan() {
    let (_tmp, _raw, cat) = two_field_survey();
    let queries = [
        "SELECT star_id, colour, count(*) AS n, avg(mag) AS m FROM measurements WHERE field = (SELECT min(field) FROM measurements{}) GROUP BY star_id, colour ORDER BY 1, 2",
        "SELECT count(*) AS n FROM stars WHERE field = (SELECT max(field) FROM stars{})",
        "SELECT (SELECT count(DISTINCT field) FROM measurements{}) AS fields, (SELECT min(field) FROM images) AS first",
        "SELECT count(*) AS n FROM measurements WHERE field IN (SELECT min(field) FROM measurements{})",
        // From the files' exact ranges in the manifest.
        "SELECT mjd, mag FROM measurements WHERE star_id = (SELECT max(star_id) FROM measurements{}) ORDER BY 1, 2",
        "SELECT (SELECT min(star_id) FROM stars{}) AS a, (SELECT max(healpix) FROM stars{}) AS b",
    ];
    for query in queries {
        let folded = lines(&cat, &query.replace("{}", ""));
        let plain = lines(&cat, &query.replace("{}", " WHERE true"));
        assert_eq!(folded, plain, "{query}");
        assert!(folded.len() >= 2, "{query}: {folded:?}");
    }
    // The answers are the catalogue's: two fields, the first and the last by name.
    let fields = query_csv(
        &cat,
        "SELECT DISTINCT field FROM measurements ORDER BY field",
    );
    assert_eq!(fields.len(), 2);
    let first = &fields[0]["field"];
    let counted = query_csv(
        &cat,
        "SELECT (SELECT count(DISTINCT field) FROM measurements) AS n, (SELECT min(field) FROM measurements) AS f",
    );
    assert_eq!(counted[0]["n"], "2");
    assert_eq!(&counted[0]["f"], first);
    // The plan holds the value as a literal, with no subquery left to run.
    let plan = lines(
        &cat,
        "EXPLAIN SELECT count(*) AS n FROM measurements WHERE field = (SELECT min(field) FROM measurements)",
    )
    .join("\n");
    assert!(plan.contains(first.as_str()), "{plan}");
    assert!(!plan.contains("Subquery"), "{plan}");
    let plain = lines(
        &cat,
        "EXPLAIN SELECT count(*) AS n FROM measurements WHERE field = (SELECT min(field) FROM measurements WHERE true)",
    )
    .join("\n");
    assert!(
        plain.contains("ScalarSubqueryExec"),
        "the plain plan runs the subquery: {plain}"
    );
    // The last star, from the ranges of the star ids; a floating-point column's bounds
    // leave NaN out, so the latest date is left to the plan.
    let last = query_csv(&cat, "SELECT max(star_id) AS s FROM stars");
    let plan = lines(
        &cat,
        "EXPLAIN SELECT count(*) AS n FROM stars WHERE star_id = (SELECT max(star_id) FROM stars)",
    )
    .join("\n");
    assert!(plan.contains(last[0]["s"].as_str()), "{plan}");
    assert!(!plan.contains("Subquery"), "{plan}");
    let plan = lines(
        &cat,
        "EXPLAIN SELECT count(*) AS n FROM measurements WHERE mjd = (SELECT max(mjd) FROM measurements)",
    )
    .join("\n");
    assert!(plan.contains("ScalarSubqueryExec"), "{plan}");
}
