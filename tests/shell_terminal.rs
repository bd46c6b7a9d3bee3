//! The shell on a real terminal (a pseudo-terminal made by `script`, from util-linux):
//! Ctrl-C cancels the running query and returns to the prompt, as in psql and duckdb;
//! history is saved after every statement; several statements on one line run in turn.

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
    assert!(out.contains("42") && out.contains("two"), "{out}");
    let history = std::fs::read_to_string(home.path().join(".skyql_history")).unwrap();
    assert!(
        history.contains("generate_series") && history.contains("6 * 7"),
        "{history}"
    );
}
