//! A cone search on `stars` lists only the fields whose stars' HEALPix range (kept in the
//! manifest from each file's statistics) meets the cone, with the rows of a full scan.

mod common;

use common::{Skyql, csv_rows};

#[test]
fn a_cone_lists_only_the_fields_it_can_touch() {
    let (_tmp, _raw, cat) = common::two_field_survey();
    let manifest = std::fs::read_to_string(cat.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"healpix\": {"), "{manifest}");
    let star = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT ra, dec FROM stars WHERE field = 'lm035' AND ra IS NOT NULL LIMIT 1",
    ])
    .catalog(&cat)
    .ok();
    let row = &csv_rows(&star)[0];
    let (ra, dec) = (&row["ra"], &row["dec"]);
    for radius in ["0.001", "0.05"] {
        let cone = format!("cone_contains(ra, dec, {ra}, {dec}, {radius})");
        let scan = format!("ang_sep(ra, dec, {ra}, {dec}) <= {radius}");
        let query = |w: &str| format!("SELECT star_id FROM stars WHERE {w} ORDER BY star_id");
        let pruned = Skyql::new(["query", "--format", "csv", &query(&cone)])
            .catalog(&cat)
            .ok();
        let full = Skyql::new(["query", "--format", "csv", &query(&scan)])
            .catalog(&cat)
            .ok();
        assert_eq!(pruned, full, "radius {radius}");
        assert!(!csv_rows(&pruned).is_empty());
        let plan = Skyql::new(["query", &format!("EXPLAIN {}", query(&cone))])
            .catalog(&cat)
            .ok();
        assert!(
            plan.contains("field=lm035") && !plan.contains("field=lm001"),
            "{plan}"
        );
    }
    // A cone on something else than the stars' own positions is not pruned by field.
    let shifted = format!(
        "SELECT count(*) AS n FROM stars WHERE cone_contains(ra + 0.0, dec, {ra}, {dec}, 0.05)"
    );
    let plan = Skyql::new(["query", &format!("EXPLAIN {shifted}")])
        .catalog(&cat)
        .ok();
    assert!(!plan.contains("field IN"), "{plan}");
    // Far from every field: no file at all, no row.
    let far = "SELECT count(*) AS n FROM stars WHERE cone_contains(ra, dec, 200.0, 30.0, 0.1)";
    let n = Skyql::new(["query", "--format", "csv", far])
        .catalog(&cat)
        .ok();
    assert_eq!(csv_rows(&n)[0]["n"], "0");
    let plan = Skyql::new(["query", &format!("EXPLAIN {far}")])
        .catalog(&cat)
        .ok();
    assert!(!plan.contains("field=lm0"), "{plan}");
}
