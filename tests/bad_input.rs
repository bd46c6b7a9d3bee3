//! Bad input: clear messages with the path and line or HDU, the rest still ingests, and
//! the counts add up.

mod common;

use common::{data, query_csv, run, run_ok};

/// The real EROS light curve written into `dir` with some lines (0-based) replaced.
fn eros_with_lines(dir: &std::path::Path, replaced: &[(usize, &str)]) {
    let good = std::fs::read_to_string(data("lightcurves/eros2/lm0010n22323.time")).unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    for (i, text) in replaced {
        lines[*i] = text.to_string();
    }
    std::fs::write(dir.join("lm0010n22323.time"), lines.join("\n")).unwrap();
}

#[test]
fn bad_files_are_reported_and_the_rest_ingests() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    // A truncated FITS file: the header is whole, the data cut short.
    let fits = std::fs::read(data("fits/apogee_alta_sip.fits")).unwrap();
    std::fs::write(input.join("truncated.fits"), &fits[..fits.len() - 5000]).unwrap();
    // A FITS file cut inside its header.
    std::fs::write(input.join("cut_header.fits"), &fits[..1000]).unwrap();
    // Not FITS at all.
    std::fs::write(input.join("notes.fits"), "this is not a FITS file\n").unwrap();
    // A good FITS file.
    std::fs::write(input.join("good.fits"), &fits).unwrap();
    // An empty light curve.
    std::fs::write(input.join("lm0010k00001.time"), "").unwrap();
    // A light curve with a missing column (line 8) and a non-numeric value (line 10).
    eros_with_lines(
        &input,
        &[
            (7, "   296.91696  14.701  0.022  15.036"),
            (9, "   315.89025  14.895  abc  15.343  0.036"),
        ],
    );
    // A light curve whose star id follows no convention.
    std::fs::write(
        input.join("xx.time"),
        "# star: erosid\n# nonsense 1 2 3 4 5 6 7 8\n 1.0 15.0 0.1 16.0 0.1\n",
    )
    .unwrap();
    // An input that cannot be read (a dangling link; root ignores permission bits).
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), input.join("gone")).unwrap();

    let cat = tmp.path().join("cat");
    let out = run(&[
        "ingest",
        input.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"));

    let rejects = std::fs::read_to_string(cat.join("rejects/ingest-000001.tsv")).unwrap();
    let has = |path: &str, location: &str, reason: &str| {
        rejects.lines().any(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f.len() == 4 && f[1].ends_with(path) && f[2] == location && f[3].contains(reason)
        })
    };
    assert!(has("truncated.fits", "HDU 1", "truncated"), "{rejects}");
    assert!(
        has("cut_header.fits", "file", "not a readable FITS file"),
        "{rejects}"
    );
    assert!(
        has("notes.fits", "file", "not a readable FITS file"),
        "{rejects}"
    );
    assert!(has("lm0010k00001.time", "file", "empty"), "{rejects}");
    assert!(
        has("lm0010n22323.time", "line 8", "expected 5 columns"),
        "{rejects}"
    );
    assert!(
        has(
            "lm0010n22323.time",
            "line 10",
            "ErMagR is not a number: 'abc'"
        ),
        "{rejects}"
    );
    assert!(has("xx.time", "file", "does not follow"), "{rejects}");
    assert!(has("gone", "file", "cannot read"), "{rejects}");
    assert!(stderr.contains("truncated.fits"));

    // The accounting adds up: 1312 values of the real file, two lines (4 values) rejected;
    // xx.time: 2 values read and rejected.
    let (read, written, missing, rejected) = common::accounting(&stdout);
    assert_eq!(read, written + missing + rejected);
    assert_eq!(rejected, 4 + 2);
    assert_eq!(read, 1312 + 2);
    let n = query_csv(&cat, "SELECT COUNT(*) AS n FROM measurements")[0]["n"].clone();
    assert_eq!(n.parse::<u64>().unwrap(), written);
    let images = query_csv(&cat, "SELECT file_name FROM images");
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["file_name"], "good.fits");
    // The inputs table says the same per file.
    let sums = &query_csv(
        &cat,
        "SELECT SUM(rows_read) AS r, SUM(rows_written) AS w, SUM(rows_missing) AS m, SUM(rows_rejected) AS x FROM inputs WHERE format <> 'fits'",
    )[0];
    assert_eq!(sums["r"].parse::<u64>().unwrap(), read);
    assert_eq!(sums["x"].parse::<u64>().unwrap(), rejected);
}

#[test]
fn rejected_text_reaches_the_terminal_and_the_rejects_without_escape_sequences() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    eros_with_lines(
        &input,
        &[(
            9,
            "   315.89025  14.895  \u{1b}[2J\u{1b}]0;owned\u{7}  15.343  0.036",
        )],
    );
    let cat = tmp.path().join("cat");
    let out = run(&[
        "ingest",
        input.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("line 10"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(stderr.contains("\\u{1b}[2J"), "{stderr}");
    let rejects = std::fs::read_to_string(cat.join("rejects/ingest-000001.tsv")).unwrap();
    assert!(!rejects.contains('\u{1b}'), "{rejects:?}");
    assert!(rejects.contains("\\u{1b}[2J"), "{rejects}");
}

#[test]
fn sql_errors_are_reported_without_a_panic() {
    let (tmp, cat) = common::ingested(&data("lightcurves/eros2"));
    let out = run(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "SELECT nope FROM measurements",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error:") && stderr.contains("nope"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    let out = run(&[
        "query",
        "--catalog",
        tmp.path().join("missing").to_str().unwrap(),
        "SELECT 1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn outputs_and_extra_tables() {
    let (tmp, cat) = common::ingested(&data("lightcurves/eros2"));
    let c = cat.to_str().unwrap();
    let sql = "SELECT colour, COUNT(*) AS n FROM measurements GROUP BY colour ORDER BY colour";
    let json = run_ok(&["query", "--catalog", c, "--format", "json", sql]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["colour"], "B");
    assert_eq!(v[0]["n"], 617);
    // Parquet out, read back as an extra table; CSV extra table joined to the catalogue.
    let pq = tmp.path().join("counts.parquet");
    run_ok(&[
        "query",
        "--catalog",
        c,
        "--format",
        "parquet",
        "--output",
        pq.to_str().unwrap(),
        sql,
    ]);
    let csv = tmp.path().join("wanted.csv");
    std::fs::write(&csv, "star_id,label\nlm0010n22323,cepheid\n").unwrap();
    let t1 = format!("counts={}", pq.display());
    let t2 = format!("wanted={}", csv.display());
    let out = run_ok(&[
        "query",
        "--catalog",
        c,
        "--table",
        &t1,
        "--table",
        &t2,
        "--format",
        "csv",
        "SELECT w.label, s.n_r, (SELECT SUM(n) FROM counts) AS total FROM wanted w JOIN stars s ON s.star_id = w.star_id",
    ]);
    assert_eq!(out.trim(), "label,n_r,total\ncepheid,551,1168");
    // tables and describe.
    let tables = run_ok(&["tables", "--catalog", c]);
    assert!(tables.contains("measurements") && tables.contains("1168 rows"));
    let describe = run_ok(&["describe", "measurements", "--catalog", c]);
    assert!(
        describe
            .lines()
            .any(|l| l.starts_with("mjd") && l.contains("time.epoch") && l.contains(" d "))
    );
    // SKYQL_CATALOG is the default catalogue.
    let out = common::skyql()
        .env("SKYQL_CATALOG", c)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT COUNT(*) AS n FROM stars",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n\n1");
}

#[test]
fn sql_may_start_with_a_comment_and_the_shell_reads_statements() {
    let (tmp, cat) = common::ingested(&data("lightcurves/eros2"));
    let c = cat.to_str().unwrap();
    let out = run_ok(&[
        "query",
        "--catalog",
        c,
        "--format",
        "csv",
        "-- count\nSELECT COUNT(*) AS n FROM stars",
    ]);
    assert_eq!(out.trim(), "n\n1");
    // A multi-line statement, a meta-command and a bad statement, then end of input.
    use std::io::Write;
    let mut child = common::skyql()
        .args(["shell", "--catalog", c])
        .env("HOME", tmp.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT COUNT(*) AS n\nFROM measurements;\n\\d\nSELECT nope;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("| 1168 |"), "{stdout}");
    assert!(
        stdout.contains("measurements") && stdout.contains("quarters"),
        "{stdout}"
    );
    assert!(
        stderr.contains("error:") && stderr.contains("nope"),
        "{stderr}"
    );
}
