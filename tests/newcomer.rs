//! What a newcomer meets: errors that say what to do, named queries from anywhere, several
//! statements at once, pipes that close early.

mod common;

use std::io::{BufRead, BufReader};

use common::{Skyql, data};

#[test]
fn a_query_without_a_catalogue_says_how_to_give_one() {
    let err = Skyql::new(["query", "SELECT count(*) FROM stars"]).fails();
    assert!(err.contains("no catalogue was given"), "{err}");
    assert!(
        err.contains("--catalog") && err.contains("SKYQL_CATALOG"),
        "{err}"
    );
    assert_eq!(err.matches("no table stars").count(), 1, "{err}");
}

#[test]
fn wrong_arguments_give_the_function_usage() {
    for sql in ["SELECT pix2sky(1.0)", "SELECT ang_sep(1.0, 2.0)"] {
        let err = Skyql::new(["query", sql]).fails();
        assert!(
            err.contains("wrong arguments for") && err.contains("usage"),
            "{err}"
        );
        assert!(!err.contains("bug"), "{err}");
    }
    let err = Skyql::new(["query", "SELECT pix2sky(1.0)"]).fails();
    assert!(err.contains("pix2sky(x, y, wcs [, origin])"), "{err}");
}

#[test]
fn several_statements_run_in_turn() {
    let out = Skyql::new(["query", "--format", "csv", "SELECT 1 AS a; SELECT 2 AS b"]).ok();
    assert_eq!(out, "a\n1\nb\n2\n");
}

#[test]
fn named_queries_run_from_any_directory() {
    let (_tmp, cat) = common::ingested(&data("lightcurves/eros2"));
    let list = Skyql::new(["queries"]).ok();
    for name in [
        "quarters_most_measurements",
        "lightcurve",
        "cone_search",
        "public_images",
    ] {
        assert!(list.contains(name), "{list}");
    }
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skyql"))
        .current_dir(elsewhere.path())
        .args([
            "query",
            "--format",
            "csv",
            "--named",
            "lightcurve",
            "--catalog",
        ])
        .arg(&cat)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().count() > 100, "{text}");
    let err = Skyql::new(["query", "--named", "nope"]).fails();
    assert!(err.contains("skyql queries"), "{err}");
}

#[test]
fn a_pipe_that_closes_early_ends_quietly() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skyql"))
        .args([
            "query",
            "--format",
            "csv",
            "SELECT value FROM generate_series(1, 5000000)",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "value\n");
    // The reader is gone (as `head` exits).
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn listing_verbs_end_quietly_when_nobody_reads() {
    for args in [&["functions"][..], &["queries"][..]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skyql"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first line is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn an_ingest_names_the_files_it_skips() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(
        data("lightcurves/eros2/lm0010n22323.time"),
        input.join("lm0010n22323.time"),
    )
    .unwrap();
    std::fs::write(input.join("notes.txt"), "observing log").unwrap();
    let out = Skyql::new(["ingest"])
        .args([&input])
        .catalog(&tmp.path().join("cat"))
        .output();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("--format"),
        "{stderr}"
    );
}

#[test]
fn docs_cli_md_is_the_help_of_every_verb() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CLI.md")).unwrap();
    for verb in [
        "serve",
        "generate",
        "demo",
        "ingest",
        "query",
        "queries",
        "tables",
        "describe",
        "shell",
        "functions",
        "describe-function",
        "plot",
        "bench",
        "catalog",
        "users",
        "hats",
        "cluster",
    ] {
        let help = Skyql::new([verb, "--help"]).ok();
        assert!(
            doc.contains(help.trim()),
            "docs/CLI.md is out of date for `skyql {verb} --help`: regenerate it"
        );
    }
}

#[test]
fn an_unknown_column_is_named_once_with_the_columns_that_exist() {
    let (_tmp, cat) = common::ingested(&data("lightcurves/eros2"));
    let err = Skyql::new(["query", "SELECT star FROM stars"])
        .catalog(&cat)
        .fails();
    assert_eq!(err.matches("did you mean star_id?").count(), 1, "{err}");
    assert_eq!(err.matches("the columns are").count(), 1, "{err}");
    assert!(!err.contains("Valid fields"), "{err}");
}

#[test]
fn float32_values_print_as_stored() {
    let out = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT CAST(1.149 AS FLOAT) AS f",
    ])
    .ok();
    assert_eq!(out, "f\n1.149\n");
}

#[test]
fn planning_errors_are_said_once_in_the_users_words() {
    let (_tmp, cat) = common::ingested(&data("lightcurves/eros2"));
    let err = Skyql::new(["query", "SELECT ra\nFRM stars"])
        .catalog(&cat)
        .fails();
    assert!(
        err.contains("syntax error at line 2, column 5") && err.contains("  FRM stars\n      ^"),
        "{err}"
    );
    assert!(
        !err.contains("ParserError(") && !err.contains("sql parser error"),
        "{err}"
    );
    let err = Skyql::new(["query", "SELECT * FROM star"])
        .catalog(&cat)
        .fails();
    assert!(err.contains("no table star; did you mean stars?"), "{err}");
    assert!(
        err.contains("the tables are") && err.contains("measurements"),
        "{err}"
    );
    assert!(!err.contains("information_schema"), "{err}");
    // ADQL typed as SQL: the SQL form is given, and --adql.
    let err = Skyql::new(["query", "SELECT TOP 3 star_id FROM stars"])
        .catalog(&cat)
        .fails();
    assert!(err.contains("LIMIT n") && err.contains("--adql"), "{err}");
    let err = Skyql::new([
        "query",
        "SELECT star_id FROM stars WHERE CONTAINS(POINT(ra, dec), CIRCLE(80, -69, 1)) = 1",
    ])
    .catalog(&cat)
    .fails();
    assert!(
        err.contains("cone_contains(ra, dec, ra0, dec0, r)"),
        "{err}"
    );
}

#[test]
fn adql_runs_in_the_cli_as_the_service_reads_it() {
    let (_tmp, cat) = common::ingested(&data("lightcurves/eros2"));
    let adql = Skyql::new([
        "query",
        "--adql",
        "--format",
        "csv",
        "SELECT TOP 1 star_id FROM eros2.stars ORDER BY star_id",
    ])
    .catalog(&cat)
    .ok();
    assert_eq!(adql, format!("star_id\n{}\n", common::first_star(&cat)));
}

#[test]
fn a_missing_input_is_an_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    let err = Skyql::new(["ingest"])
        .args([tmp.path().join("nosuch.time")])
        .catalog(&cat)
        .fails();
    assert!(
        err.contains("nosuch.time") && err.contains("nothing was ingested"),
        "{err}"
    );
    assert!(!cat.exists(), "a catalogue was created");
    // A new catalogue is said to be created.
    let out = Skyql::new(["ingest"])
        .args([data("lightcurves/eros2")])
        .catalog(&cat)
        .output();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("creating the catalogue"));
}

#[test]
fn a_result_cut_by_max_rows_on_standard_output_says_so() {
    let out = Skyql::new([
        "query",
        "--format",
        "csv",
        "--max-rows",
        "3",
        "SELECT value FROM generate_series(1, 10)",
    ])
    .output();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more rows exist (cut at --max-rows)"), "{err}");
}

#[test]
fn parameters_are_bound_as_typed_values_never_spliced() {
    let (_tmp, cat) = common::ingested(&data("lightcurves/eros2"));
    let named = |extra: &[&str]| {
        Skyql::new(["query", "--named", "lightcurve", "--format", "csv"])
            .args(extra)
            .catalog(&cat)
            .output()
    };
    // Without the optional :star, the query's default star; with it, that star.
    let default = named(&[]);
    let given = named(&["--param", "star=lm0010n22323"]);
    assert!(default.status.success() && given.status.success());
    assert_eq!(default.stdout, given.stdout);
    assert!(String::from_utf8_lossy(&given.stdout).lines().count() > 100);
    // A value is a value: SQL in it matches no star.
    let hostile = named(&["--param", "star=x' OR '1'='1"]);
    assert_eq!(String::from_utf8_lossy(&hostile.stdout).lines().count(), 1);
    // Typed as the query uses it; missing and unknown names said.
    let sql = "SELECT COUNT(*) AS n FROM measurements WHERE mjd > :t";
    let err = Skyql::new(["query", sql, "--param", "t=soon"])
        .catalog(&cat)
        .fails();
    assert!(err.contains("--param t=soon: not a Float64 value"), "{err}");
    let err = Skyql::new(["query", sql]).catalog(&cat).fails();
    assert!(err.contains("give --param t=VALUE"), "{err}");
    let err = Skyql::new(["query", sql, "--param", "x=1"])
        .catalog(&cat)
        .fails();
    assert!(err.contains("no parameter :x (it has :t)"), "{err}");
    let all = Skyql::new(["query", "--format", "csv", sql, "--param", "t=0"])
        .catalog(&cat)
        .ok();
    let later = Skyql::new(["query", "--format", "csv", sql, "--param", "t=51000"])
        .catalog(&cat)
        .ok();
    assert_ne!(all, later);
}

#[test]
fn a_short_csv_line_is_named_with_the_whole_path_and_the_field_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("short.csv");
    std::fs::write(&csv, "id,mag,err\n1,15.2,0.1\n2,15.3\n3,15.1,0.2\n").unwrap();
    let err = Skyql::new(["query", "SELECT avg(mag) AS m FROM t"])
        .args([format!("--table=t={}", csv.display())])
        .fails();
    assert!(
        err.contains(&format!(
            "cannot read {}: line 3 has 2 fields where the header has 3",
            csv.display()
        )),
        "{err}"
    );
    assert!(!err.contains("Arrow error"), "{err}");
}

/// A CSV `--table` whose numbers hold a word: in the lines DataFusion infers the types
/// from, after them, or a short line read by the query. Each is named (file, line, column)
/// by default, and `--bad-lines skip` leaves them out with their count.
#[test]
fn bad_csv_lines_are_named_or_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, bad_at: usize, bad: &str| {
        let path = tmp.path().join(name);
        let mut text = String::from("star_id,mag,err\n");
        for i in 0..3000 {
            if i == bad_at {
                text.push_str(bad);
            } else {
                text.push_str(&format!("s{i},{:.3},0.01\n", 15.0 + i as f64 * 0.001));
            }
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        (
            write("early.csv", 30, "s30,abc,0.01\n"),
            "line 32: 'abc' in column mag is not a number",
        ),
        (
            write("late.csv", 2500, "s2500,abc,0.01\n"),
            "line 2502: 'abc' in column mag is not a number",
        ),
        (
            write("short.csv", 2500, "s2500,17.2\n"),
            "line 2502 has 2 fields where the header has 3",
        ),
    ];
    for (path, words) in &cases {
        let table = format!("--table=t={}", path.display());
        let err = Skyql::new(["query", "SELECT avg(mag) FROM t", &table]).fails();
        assert!(
            err.contains(&format!("{}: {words}", path.display()))
                && err.contains("--bad-lines skip"),
            "{err}"
        );
        assert!(
            !err.contains("Arrow error") && !err.contains("Internal error"),
            "{err}"
        );
        let out = Skyql::new(["query", "--format", "csv", "--bad-lines", "skip", &table])
            .args(["SELECT count(*) AS n, avg(mag) AS m FROM t"])
            .output();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("1 line(s) left out") && stderr.contains(words),
            "{stderr}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("n,m\n2999,"));
    }
}

#[test]
fn a_text_column_given_to_avg_is_said_in_words() {
    let err = Skyql::new(["query", "SELECT avg(x) FROM (VALUES ('a')) AS t(x)"]).fails();
    assert!(
        err.contains("avg() does not take these arguments: avg(Utf8)")
            && err.contains("avg(Float64)")
            && err.contains("CAST("),
        "{err}"
    );
    assert!(!err.contains("Internal error"), "{err}");
}

#[test]
fn computed_columns_are_headed_as_written() {
    let out = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT round(x, 1), upper('a,b'), x AS kept FROM (VALUES (1.26)) AS t(x)",
    ])
    .ok();
    assert_eq!(
        out.lines().next().unwrap(),
        "\"round(t.x, 1)\",\"upper('a,b')\",kept"
    );
}
