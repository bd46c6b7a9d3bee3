//! Text catalogues as they come: compressed (.gz, .bz2, .zst), with comment lines, tab- or
//! whitespace-separated, with the header in a comment or nowhere.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::{Skyql, csv_rows, data};

const OGLE: &str = "catalogues/text/ogle3_cvs_lmc_300.txt.bz2";
const HIP: &str = "catalogues/text/hip2_lmc_smc_100.dat";

fn ogle_text() -> Vec<u8> {
    let mut text = Vec::new();
    bzip2::read::BzDecoder::new(std::fs::File::open(data(OGLE)).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    text
}

fn query(table: &Path, sql: &str) -> (Vec<std::collections::HashMap<String, String>>, String) {
    let arg = format!("t={}", table.display());
    let out = Skyql::new(["query", "--format", "csv", "--table", &arg, sql]).output();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (csv_rows(&String::from_utf8_lossy(&out.stdout)), stderr)
}

const SUMMARY: &str = r#"SELECT count(*) AS n, count(DISTINCT "Type") AS types,
    round(sum("RA"), 6) AS ra, min("ID") AS first FROM t"#;

#[test]
fn the_ogle_catalogue_reads_with_its_header_from_the_comment() {
    let (rows, stderr) = query(&data(OGLE), SUMMARY);
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(rows[0]["n"], "300");
    assert_eq!(rows[0]["first"], "OGLE-LMC-ACEP-001");
    let arg = format!("t={}", data(OGLE).display());
    let described = Skyql::new(["describe", "--table", &arg, "t"]).ok();
    for (column, kind) in [("ID ", "Utf8"), ("RA ", "Float64"), ("DECL ", "Float64")] {
        let line = described.lines().find(|l| l.starts_with(column)).unwrap();
        assert!(line.contains(kind), "{line}");
    }
}

#[test]
fn every_compression_gives_the_same_table() {
    let text = ogle_text();
    let dir = tempfile::tempdir().unwrap();
    let gz: PathBuf = dir.path().join("ogle.txt.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
    encoder.write_all(&text).unwrap();
    encoder.finish().unwrap();
    let zst = dir.path().join("ogle.tsv.zst");
    std::fs::write(&zst, zstd::encode_all(text.as_slice(), 3).unwrap()).unwrap();
    let plain = dir.path().join("ogle.txt");
    std::fs::write(&plain, &text).unwrap();
    let (reference, _) = query(&data(OGLE), SUMMARY);
    for file in [gz, zst, plain] {
        let (rows, stderr) = query(&file, SUMMARY);
        assert_eq!(rows, reference, "{}: {stderr}", file.display());
    }
}

#[test]
fn a_whitespace_separated_file_without_header_gets_numbered_columns() {
    let (rows, _) = query(
        &data(HIP),
        "SELECT count(*) AS n, min(col1) AS hip, round(max(col5), 10) AS ra FROM t",
    );
    assert_eq!(rows[0]["n"], "100");
    assert_eq!(rows[0]["hip"], "38");
    let ra: f64 = rows[0]["ra"].parse().unwrap();
    assert!(ra > 0.0 && ra < std::f64::consts::TAU, "{ra}");
}

#[test]
fn a_line_with_missing_fields_is_an_error_or_left_out_and_counted() {
    let text = String::from_utf8(ogle_text()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[10] = "OGLE-LMC-BROKEN\tLMC1.1";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ogle.txt");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let arg = format!("t={}", file.display());
    let err = Skyql::new(["query", "--table", &arg, "SELECT count(*) FROM t"]).fails();
    assert!(
        err.contains("ogle.txt: line 11 has 2 fields where the header has 39 (1 bad line(s)")
            && err.contains("--bad-lines skip"),
        "{err}"
    );
    let out = Skyql::new([
        "query",
        "--format",
        "csv",
        "--bad-lines",
        "skip",
        "--table",
        &arg,
    ])
    .args(["SELECT count(*) AS n FROM t"])
    .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        csv_rows(&String::from_utf8_lossy(&out.stdout))[0]["n"],
        "299"
    );
    assert!(
        stderr.contains("1 line(s) left out")
            && stderr.contains("ogle.txt: line 11 has 2 fields where the header has 39"),
        "{stderr}"
    );
}

#[test]
fn a_truncated_archive_is_an_error_naming_the_file() {
    let bytes = std::fs::read(data(OGLE)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.txt.bz2");
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let arg = format!("t={}", file.display());
    let err = Skyql::new(["query", "--table", &arg, "SELECT count(*) FROM t"]).fails();
    assert!(
        err.contains("cut.txt.bz2 is not a readable bzip2 file"),
        "{err}"
    );
}
