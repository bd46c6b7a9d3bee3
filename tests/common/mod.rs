//! Helpers shared by the integration tests: run the `skyql` binary, read CSV output.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn skyql() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_skyql"));
    c.env_remove("SKYQL_CATALOG");
    c
}

/// Runs skyql with `args`, asserting success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "skyql {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Ingests `input` into a new catalogue in a temporary directory: (the directory, which
/// removes itself when dropped, and the catalogue path).
pub fn ingested(input: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let cat = tmp.path().join("cat");
    run_ok(&[
        "ingest",
        input.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    (tmp, cat)
}

/// Runs skyql with `args`.
pub fn run(args: &[&str]) -> Output {
    skyql().args(args).output().expect("skyql binary runs")
}

/// Path of a file in `tests/data`.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// A CSV result as rows of column -> value (simple CSV: no quoted commas expected).
pub fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split(',').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            names
                .iter()
                .zip(l.split(','))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Runs a query on a catalogue and returns the CSV rows.
pub fn query_csv(catalog: &Path, sql: &str) -> Vec<HashMap<String, String>> {
    let out = run_ok(&[
        "query",
        "--catalog",
        catalog.to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ]);
    csv_rows(&out)
}

/// Runs a named query of `sql/` with `--file`, as users do, and returns the CSV rows.
pub fn query_file_csv(catalog: &Path, name: &str) -> Vec<HashMap<String, String>> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql").join(name);
    let out = run_ok(&[
        "query",
        "--catalog",
        catalog.to_str().unwrap(),
        "--format",
        "csv",
        "--file",
        file.to_str().unwrap(),
    ]);
    csv_rows(&out)
}

/// The value of `key = N` in the ingest report's accounting line
/// `measurements read: R = written W + missing (99.999) M + rejected X`.
pub fn accounting(stdout: &str) -> (u64, u64, u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("measurements read:"))
        .expect("accounting line");
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .filter(|n| *n != 99 && *n != 999)
        .collect();
    (nums[0], nums[1], nums[2], nums[3])
}

/// Haversine separation in degrees: an independent formula for the brute-force checks
/// (skyql's `ang_sep` uses Vincenty's).
pub fn haversine_deg(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (p1, p2) = (dec1.to_radians(), dec2.to_radians());
    let h = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((ra2 - ra1).to_radians() / 2.0).sin().powi(2);
    2.0 * h.sqrt().asin().to_degrees()
}

/// A demo survey generated with `generate_args` (after `--out RAW`) and ingested, in a
/// temporary directory: (the directory, RAW, the catalogue).
pub fn generated_survey(generate_args: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let raw = tmp.path().join("raw");
    let cat = tmp.path().join("catalog");
    let mut args = vec!["generate", "--out", raw.to_str().unwrap()];
    args.extend_from_slice(generate_args);
    run_ok(&args);
    run_ok(&[
        "ingest",
        raw.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    (tmp, raw, cat)
}
