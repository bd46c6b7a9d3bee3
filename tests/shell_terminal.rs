//! The shell on a real terminal (a pseudo-terminal made by `script`, from util-linux):
//! Ctrl-C cancels the running query and returns to the prompt, as in psql and duckdb; a
//! query longer than a second shows a progress line;
//! history is saved after every statement; several statements on one line run in turn.
//! A shell left open follows the catalogue: after an ingest, its next statement runs on
//! the new version, and the version it read stays on disk until then.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn ctrl_c_cancels_the_query_and_the_shell_goes_on() {
    let probe = Command::new("script").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("SKYQL_CI").is_none(),
            "CI asked for the terminal test but `script` (util-linux) is missing"
        );
        eprintln!("skipped: no `script` command for a pseudo-terminal");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    // `exec`: whatever shell `script` starts ($SHELL, or dash as /bin/sh) is replaced by
    // skyql, so Ctrl-C reaches skyql alone and does not kill a waiting `sh -c`.
    let shell = format!("exec '{}' shell", env!("CARGO_BIN_EXE_skyql"));
    let mut child = Command::new("script")
        .args(["-q", "-f", "-e", "-c", &shell, "/dev/null"])
        .env("HOME", home.path())
        .env("SHELL", "/bin/sh")
        .env_remove("SKYQL_CATALOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let pause = |ms| std::thread::sleep(Duration::from_millis(ms));
    pause(1500);
    // A query that would run for minutes, then Ctrl-C while it runs.
    stdin
        .write_all(b"SELECT count(*) FROM generate_series(1, 100000000000) a;\n")
        .unwrap();
    pause(2000);
    stdin.write_all(b"\x03").unwrap();
    pause(1500);
    stdin
        .write_all(b"SELECT 6 * 7 AS answer; SELECT 'two' AS second;\n")
        .unwrap();
    pause(1500);
    stdin.write_all(b"\\q\n").unwrap();
    drop(stdin);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the shell did not end");
        }
        pause(100);
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "{status:?}\n{out}");
    assert!(out.contains("cancelled"), "{out}");
    // The query ran two seconds before Ctrl-C: its progress line was shown.
    assert!(
        out.contains("running: 1.") && out.contains("rows so far (Ctrl-C cancels)"),
        "{out}"
    );
    assert!(out.contains("42") && out.contains("two"), "{out}");
    let history = std::fs::read_to_string(home.path().join(".skyql_history")).unwrap();
    assert!(
        history.contains("generate_series") && history.contains("6 * 7"),
        "{history}"
    );
}

#[test]
fn a_shell_left_open_follows_ingests() {
    let (tmp, cat) = common::server::served_catalog();
    let count = || {
        common::Skyql::new([
            "query",
            "--format",
            "csv",
            "SELECT COUNT(*) AS n FROM measurements",
        ])
        .catalog(&cat)
        .ok()
        .lines()
        .nth(1)
        .unwrap()
        .to_string()
    };
    let before = count();
    let mut shell = piped_shell(&cat, tmp.path());
    let mut stdin = shell.stdin.take().unwrap();
    stdin
        .write_all(b"SELECT COUNT(*) AS n FROM measurements;\n")
        .unwrap();
    // The first answer is there before the ingest starts.
    let mut stdout = std::io::BufReader::new(shell.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains(&format!("| {before} ")) {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0,
            "{seen}"
        );
        seen.push_str(&line);
    }
    // The version the shell reads is leased: the ingest leaves it in place.
    let raw = tmp.path().join("raw2");
    common::generate_small(&raw, "lm036", 1, 6, &[]);
    common::Skyql::new(["ingest"])
        .args([&raw])
        .catalog(&cat)
        .ok();
    let after = count();
    assert_ne!(before, after);
    assert!(
        cat.join("v000001").is_dir(),
        "the shell's version was removed"
    );
    stdin
        .write_all(b"SELECT COUNT(*) AS n FROM measurements;\n\\q\n")
        .unwrap();
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut err = String::new();
    shell
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(shell.wait().unwrap().success(), "{err}");
    assert!(rest.contains(&format!("| {after} ")), "{rest}\n{err}");
    assert!(err.contains("catalogue version 2"), "{err}");
    // Once the shell let it go, the next write removes the old version.
    let raw = tmp.path().join("raw3");
    common::generate_small(&raw, "lm037", 1, 6, &[]);
    common::Skyql::new(["ingest"])
        .args([&raw])
        .catalog(&cat)
        .ok();
    assert!(!cat.join("v000001").exists());
}

#[test]
fn the_shell_lists_tables_with_rows_describes_columns_times_and_reads_adql() {
    let (tmp, cat) = common::server::served_catalog();
    let mut shell = piped_shell(&cat, tmp.path());
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"\\d\n\\d stars\n\\d star\n\\timing\nSELECT 1 AS x;\n\\adql\nSELECT TOP 1 star_id FROM eros2.stars ORDER BY star_id;\n\\q\n",
        )
        .unwrap();
    let out = shell.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let rows = common::Skyql::new(["tables"]).catalog(&cat).ok();
    let stars = rows.lines().find(|l| l.starts_with("stars ")).unwrap();
    let count = stars.split_whitespace().nth(1).unwrap();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("stars ") && l.contains(&format!("{count} rows"))),
        "{stdout}"
    );
    assert!(!stdout.contains("information_schema"), "{stdout}");
    assert!(
        stdout.contains("pos.eq.ra;meta.main") && stdout.contains("Right ascension"),
        "{stdout}"
    );
    assert!(
        stderr.contains("no table star; did you mean stars?"),
        "{stderr}"
    );
    assert!(stdout.contains("time: "), "{stdout}");
    assert!(stdout.contains("statements are read as ADQL"), "{stdout}");
    assert!(stdout.contains(&common::first_star(&cat)), "{stdout}");
}

/// `skyql shell` on `cat` with its three streams piped, its history under `home`.
fn piped_shell(cat: &std::path::Path, home: &std::path::Path) -> std::process::Child {
    common::skyql()
        .args(["shell", "--catalog"])
        .arg(cat)
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}
