//! Every `skyql` command of the README, run as written after `skyql demo` and
//! `scripts/example-names.sh` in a scratch directory (not the repository): each must
//! succeed and answer (rows on standard output, or the file it writes), and the ten-minute
//! tour's answers are checked for what the README says they are. Commands that run for
//! minutes or forever (`bench`, `serve`, `shell`, `generate --catalog` at survey scale)
//! are left to their own tests (the tour's pyvo lines run in CI against `skyql serve`:
//! tests/validation/check_readme_python.py). Commands on `s3://` URLs need an S3 server:
//! CI runs them against a local one (tests/validation/check_object_stores.py); those on
//! the example web server (`data.example.org`) are tested on a loopback one
//! (tests/object_stores.rs).

mod common;

use std::path::Path;
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The README's section from the heading `## title` to the next.
fn section(readme: &str, title: &str) -> String {
    let start = readme
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end].to_string()
}

/// The shell commands of `sh` blocks, continuation lines and quoted newlines joined.
fn readme_commands(readme: &str) -> Vec<String> {
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

/// Whether a command is left to other tests: it runs for minutes or forever, or needs an
/// S3 server or a web server.
fn run_elsewhere(command: &str) -> bool {
    command.contains("s3://")
        || command.contains("://data.example.org")
        || [
            "skyql bench",
            "skyql serve",
            "skyql shell",
            "skyql generate --catalog",
        ]
        .iter()
        .any(|p| command.starts_with(p))
}

/// A scratch directory where the demo ran and the tour's set-up script made the names the
/// examples use; the examples run in its `skyql-demo/`.
struct Scratch {
    _tmp: tempfile::TempDir,
    demo: std::path::PathBuf,
    path: String,
}

impl Scratch {
    fn new() -> Scratch {
        let tmp = tempfile::tempdir().unwrap();
        let bin = Path::new(env!("CARGO_BIN_EXE_skyql"));
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let demo = Command::new(bin)
            .arg("demo")
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            demo.status.success(),
            "{}",
            String::from_utf8_lossy(&demo.stderr)
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/example-names.sh");
        let setup = Command::new("sh")
            .arg(script)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            setup.status.success(),
            "{}",
            String::from_utf8_lossy(&setup.stderr)
        );
        let demo = tmp.path().join("skyql-demo");
        Scratch {
            _tmp: tmp,
            demo,
            path,
        }
    }

    /// Runs a README command in `skyql-demo/`: its standard output and error, after
    /// checking that it succeeded.
    fn run(&self, command: &str) -> (String, String) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&self.demo)
            .env("PATH", &self.path)
            .env_remove("SKYQL_CATALOG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "`{command}` failed:\n{stderr}");
        (stdout, stderr)
    }
}

#[test]
fn every_readme_example_answers_after_the_demo() {
    let commands = readme_commands(&readme());
    assert!(commands.len() > 30, "{commands:#?}");
    let scratch = Scratch::new();
    let dir = scratch.demo.clone();
    let mut ran = 0;
    for command in commands.iter().map(|c| without_comment(c)) {
        if run_elsewhere(&command) {
            continue;
        }
        let listing_before: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let (stdout, stderr) = scratch.run(&command);
        let wrote = std::fs::read_dir(&dir)
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

/// The rows of a table printed for people (`| a | b |` lines), without the header.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The tour, step by step, as a new user meets it: each command of its `sh` blocks, run
/// in order, answers what the README says it does.
#[test]
fn the_ten_minute_tour_answers_what_it_says() {
    let tour = section(&readme(), "A ten-minute tour");
    let commands: Vec<String> = readme_commands(&tour)
        .iter()
        .map(|c| without_comment(c))
        .filter(|c| !run_elsewhere(c))
        .collect();
    assert_eq!(commands.len(), 6, "{commands:#?}");
    let scratch = Scratch::new();
    let run = |i: usize| scratch.run(&commands[i]);
    // Find a star: the first variable star, the star of the tour.
    let (out, err) = run(0);
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 5, "{out}");
    assert_eq!(rows[0][0], "lm0353k532", "{out}");
    assert!(err.contains("cut at --max-rows"), "{err}");
    // Its light curve: both colours, the star's rows in time order.
    let (out, _) = run(1);
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r[0] == "lm0353k532"));
    assert!(rows.iter().any(|r| r[2] == "R") && rows.iter().any(|r| r[2] == "B"));
    let mjds: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(mjds.windows(2).all(|w| w[0] <= w[1]), "{mjds:?}");
    // The plot: a PNG of the default size.
    let (_, err) = run(2);
    assert!(err.contains("117 measurements of lm0353k532"), "{err}");
    let png = std::fs::read(scratch.demo.join("lm0353k532.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The cone: the star itself first, every other within 2 arcminutes, nearest first.
    let (out, _) = run(3);
    let rows = table_rows(&out);
    assert!(rows.len() >= 3, "{out}");
    assert_eq!(
        (rows[0][0].as_str(), rows[0][1].as_str()),
        ("lm0353k532", "0.0")
    );
    let arcsec: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(arcsec.windows(2).all(|w| w[0] <= w[1]) && arcsec.iter().all(|a| *a <= 120.0));
    // The cross-match: every truth star of the CCD found, as itself, within 1 arcsec.
    let (out, _) = run(4);
    let truth_rows = std::fs::read_to_string(scratch.demo.join("raw/truth/stars/lm0353.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    let rows = table_rows(&out);
    assert_eq!(rows[0][0], truth_rows.to_string(), "{out}");
    assert_eq!(rows[0][1], truth_rows.to_string(), "{out}");
    assert!(rows[0][2].parse::<f64>().unwrap() < 1.0, "{out}");
    // To TOPCAT: a VOTable with every measurement of the star, units included.
    let (_, err) = run(5);
    assert!(err.contains("117 rows written to lm0353k532.vot"), "{err}");
    let vot = std::fs::read_to_string(scratch.demo.join("lm0353k532.vot")).unwrap();
    assert_eq!(vot.matches("<TR>").count(), 117);
    assert!(
        vot.contains(r#"name="mjd""#) && vot.contains(r#"unit="mag""#),
        "{vot}"
    );
}
