//! A VizieR catalogue as the CDS distributes it (a ReadMe with byte-by-byte descriptions,
//! fixed-width data files, some gzipped) read as an extra table, with its units and nulls.

mod common;

use common::{Skyql, csv_rows, data};

fn catalogue(file: &str) -> String {
    data("catalogues/vizier_J_A+A_511_A56")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_record_is_read_with_the_readme_columns() {
    let t1 = format!("t1={}", catalogue("table1.dat"));
    let t5 = format!("t5={}", catalogue("table5.dat.gz"));
    let output = Skyql::new(["query", "--format", "csv", "--table", &t1, "--table", &t5])
        .args([
            r#"SELECT (SELECT count(*) FROM t1) AS n1, (SELECT count(*) FROM t5) AS n5,
                 (SELECT count("EW") FROM t5) AS ew,
                 (SELECT sum("TExp") FROM t1) AS texp"#,
        ])
        .output();
    assert!(output.status.success());
    let out = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // An excerpt is said to be one; a complete file raises no warning.
    assert!(
        stderr.contains("holds 49 record(s), its ReadMe lists 5265"),
        "{stderr}"
    );
    assert!(!stderr.contains("table1.dat"), "{stderr}");
    let row = &csv_rows(&out)[0];
    assert_eq!(row["n1"], "15");
    // The gzipped file here is an excerpt of 49 records; one has EW = -9.9, the null marker.
    assert_eq!(row["n5"], "49");
    assert_eq!(row["ew"], "48");
    assert!(row["texp"].parse::<i64>().unwrap() > 0, "{out}");
}

#[test]
fn dashes_are_nulls_and_units_are_kept() {
    let t1 = format!("t1={}", catalogue("table1.dat"));
    let out = Skyql::new(["query", "--format", "csv", "--table", &t1])
        .args([r#"SELECT "Star", "Icmag", "Rmag", "Vmag" FROM t1 WHERE "Star" = 2108"#])
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("not a"),
        "dash cells reported as bad: {stderr}"
    );
    let rows = csv_rows(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Icmag"], "");
    assert_eq!(rows[0]["Rmag"], "");
    assert_eq!(rows[0]["Vmag"], "13.35");
    let described = Skyql::new(["describe", "--table", &t1, "t1"]).ok();
    let vmag = described.lines().find(|l| l.starts_with("Vmag")).unwrap();
    assert!(vmag.contains("Float64") && vmag.contains("mag"), "{vmag}");
    assert!(vmag.contains("V magnitude"), "{vmag}");
}

#[test]
fn a_bad_cell_is_reported_with_its_line_and_the_row_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(catalogue("ReadMe"), dir.path().join("ReadMe")).unwrap();
    let text = std::fs::read_to_string(catalogue("table1.dat")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2].replace_range(36..41, "1x.00");
    std::fs::write(dir.path().join("table1.dat"), lines.join("\n") + "\n").unwrap();
    let t1 = format!("t1={}", dir.path().join("table1.dat").display());
    let out = Skyql::new(["query", "--format", "csv", "--table", &t1])
        .args([r#"SELECT count(*) AS n, count("Bmag") AS b FROM t1"#])
        .output();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("table1.dat") && stderr.contains("line 3") && stderr.contains("Bmag"),
        "{stderr}"
    );
    let row = &csv_rows(&String::from_utf8_lossy(&out.stdout))[0];
    assert_eq!(row["n"], "15");
    assert_eq!(row["b"], "14");
}

#[test]
fn a_damaged_readme_or_gzip_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let readme = std::fs::read_to_string(catalogue("ReadMe")).unwrap();
    // table1's first column described from byte 0 (bytes count from 1).
    let damaged: String = readme
        .lines()
        .map(|l| l.replacen("   1-  7  A7", "   0-  7  A7", 1))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("ReadMe"), damaged).unwrap();
    std::fs::copy(catalogue("table1.dat"), dir.path().join("table1.dat")).unwrap();

    let t1 = format!("t1={}", dir.path().join("table1.dat").display());
    let err = Skyql::new(["query", "--table", &t1, "SELECT count(*) FROM t1"]).fails();
    // A column is never dropped silently.
    assert!(
        err.contains("ReadMe: line 49") && err.contains("0-  7  A7"),
        "{err}"
    );

    let other = tempfile::tempdir().unwrap();
    std::fs::copy(catalogue("ReadMe"), other.path().join("ReadMe")).unwrap();
    let gz = std::fs::read(catalogue("table5.dat.gz")).unwrap();
    std::fs::write(other.path().join("table5.dat.gz"), &gz[..gz.len() / 2]).unwrap();
    let t5 = format!("t5={}", other.path().join("table5.dat.gz").display());
    let err = Skyql::new(["query", "--table", &t5, "SELECT count(*) FROM t5"]).fails();
    assert!(
        err.contains("table5.dat.gz") && err.contains("gzip"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
