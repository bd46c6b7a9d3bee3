//! Every `skyql` command of the README, run as written after `skyql demo` in a scratch
//! directory (not the repository): each must succeed and answer (rows on standard output,
//! or the file it writes). Commands that run for minutes or forever (`bench`, `serve`,
//! `shell`, `generate --catalog` at survey scale) are left to their own tests.

mod common;

use std::path::Path;
use std::process::Command;

/// The shell commands of the README's `sh` blocks, continuation lines and quoted
/// newlines joined.
fn readme_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = line.trim() == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        if current.is_empty() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        current.push_str(line.trim_end_matches('\\'));
        current.push(if line.ends_with('\\') { ' ' } else { '\n' });
        let open_quotes = current.matches('"').count() - current.matches("\\\"").count();
        if line.ends_with('\\') || open_quotes % 2 == 1 {
            continue;
        }
        out.push(std::mem::take(&mut current).trim().to_string());
    }
    out.into_iter()
        .filter(|c| c.starts_with("skyql "))
        .collect()
}

/// The command without its trailing `# comment` (outside quotes).
fn without_comment(command: &str) -> String {
    let (mut single, mut double) = (false, false);
    for (i, c) in command.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && command[..i].ends_with(' ') => {
                return command[..i].trim().to_string();
            }
            _ => {}
        }
    }
    command.to_string()
}

fn long_running(command: &str) -> bool {
    [
        "skyql bench",
        "skyql serve",
        "skyql shell",
        "skyql generate --catalog",
    ]
    .iter()
    .any(|p| command.starts_with(p))
}

fn setup(dir: &Path) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let link = |from: &Path, to: &str| std::os::unix::fs::symlink(from, dir.join(to)).unwrap();
    link(&dir.join("skyql-demo/catalog"), "cat");
    link(&dir.join("skyql-demo/raw"), "raw");
    link(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sql"), "sql");
    link(
        &data.join("catalogues/ogle3_lmc_within_1.5deg_of_80_-69.tsv"),
        "ogle.tsv",
    );
    link(&data.join("votable/vizier_b2_votable.xml"), "vizier.vot");
    link(
        &data.join("lightcurves/eros2/lm0010n22323.time"),
        "lm0010n22323.time",
    );
    link(&data.join("lightcurves/macho"), "macho");
    link(&data.join("lightcurves"), "lightcurves");
    link(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets"),
        "datasets",
    );
}

#[test]
fn every_readme_example_answers_after_the_demo() {
    let commands = readme_commands();
    assert!(commands.len() > 30, "{commands:#?}");
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_skyql"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let demo = Command::new(bin)
        .arg("demo")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    setup(dir.path());
    let mut ran = 0;
    for command in commands.iter().map(|c| without_comment(c)) {
        if long_running(&command) {
            continue;
        }
        let listing_before: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let out = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("SKYQL_CATALOG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "`{command}` failed:\n{stderr}");
        let wrote = std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| !listing_before.contains(&e.unwrap().file_name()));
        let answered = !stdout.trim().is_empty() || wrote || stderr.contains("written to");
        assert!(answered, "`{command}` gave nothing:\n{stderr}");
        assert!(
            !stdout.contains("\n0 rows"),
            "`{command}` found no row:\n{stdout}"
        );
        ran += 1;
    }
    assert!(ran > 30, "only {ran} examples ran");
}
