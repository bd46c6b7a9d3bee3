//! Helpers shared by the integration tests: run the `skyql` binary, read CSV output.

#![allow(dead_code)]

pub mod leak_suite;
pub mod server;
pub mod static_files;

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
    ingest(input, &cat);
    (tmp, cat)
}

/// Ingests `input` into the catalogue `cat` (created or extended).
pub fn ingest(input: &Path, cat: &Path) -> String {
    run_ok(&[
        "ingest",
        input.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ])
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
/// `measurements read: R = written W + missing M + rejected X`.
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

/// Writes a small demo survey to `raw`: `field`, `ccds` CCDs of 64 x 64 pixels, `epochs`
/// epochs, and any further `generate` arguments.
pub fn generate_small(raw: &Path, field: &str, ccds: u32, epochs: u32, more: &[&str]) {
    Skyql::new(["generate", "--out"])
        .args([raw])
        .args([
            "--fields",
            field,
            "--ccds",
            &ccds.to_string(),
            "--ccd-size",
            "64",
        ])
        .args(["--epochs", &epochs.to_string()])
        .args(more)
        .ok();
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

/// A small survey of two fields, lm001 and lm035 (2 CCDs of 64 pixels, 3 epochs),
/// generated and ingested: (the directory, RAW, the catalogue). Cones and regions around
/// one field can then be seen to skip the other.
pub fn two_field_survey() -> (tempfile::TempDir, PathBuf, PathBuf) {
    generated_survey(&[
        "--fields",
        "lm001,lm035",
        "--ccds",
        "2",
        "--ccd-size",
        "64",
        "--epochs",
        "3",
    ])
}

/// A `skyql` command line being built: `Skyql::new(["query", sql]).catalog(c).ok()`.
pub struct Skyql {
    cmd: Command,
    shown: String,
}

impl Skyql {
    /// `skyql ARGS...`.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(args: I) -> Self {
        let mut cmd = skyql();
        let mut shown = String::from("skyql");
        for a in args {
            shown.push(' ');
            shown.push_str(&a.as_ref().to_string_lossy());
            cmd.arg(a);
        }
        Skyql { cmd, shown }
    }

    /// Adds `--catalog DIR`.
    pub fn catalog(mut self, dir: &Path) -> Self {
        self.cmd.arg("--catalog").arg(dir);
        self.shown
            .push_str(&format!(" --catalog {}", dir.display()));
        self
    }

    /// Adds more arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Self {
        for a in args {
            self.shown.push(' ');
            self.shown.push_str(&a.as_ref().to_string_lossy());
            self.cmd.arg(a);
        }
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Runs it.
    pub fn output(mut self) -> Output {
        self.cmd.output().expect("skyql binary runs")
    }

    /// Starts it without waiting.
    pub fn spawn(mut self) -> std::process::Child {
        self.cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("skyql binary starts")
    }

    /// Runs it, asserting success; returns standard output.
    pub fn ok(self) -> String {
        let shown = self.shown.clone();
        let out = self.output();
        assert!(
            out.status.success(),
            "{shown} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Runs it, asserting a failure with exit status 1 (an error, not a crash); returns
    /// standard error.
    pub fn fails(self) -> String {
        let shown = self.shown.clone();
        let out = self.output();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{shown} should fail with an error:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

/// Copies a directory tree (files and directories; links copied as links).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        let kind = e.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&e.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A catalogue written by `skyql generate --catalog` with `args`, in a temporary directory.
pub fn generated_catalog(args: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    let mut argv = vec!["generate", "--catalog", cat.to_str().unwrap()];
    argv.extend_from_slice(args);
    run_ok(&argv);
    (tmp, cat)
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// The first star of the catalogue by id (the CSV answer's value).
pub fn first_star(cat: &Path) -> String {
    Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT star_id FROM stars ORDER BY star_id LIMIT 1",
    ])
    .catalog(cat)
    .ok()
    .lines()
    .nth(1)
    .unwrap()
    .to_string()
}
