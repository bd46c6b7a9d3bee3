//! A catalogue that survives crashes, races and hostile manifests (as SQLite's crash tests
//! do): an ingest aborted at every numbered step, killed at random times, raced by a
//! second writer (also from another PID namespace); manifests that point outside the
//! catalogue; missing, truncated and corrupted data files. Afterwards the catalogue
//! answers exactly the old or exactly the new counts, nothing outside it is touched, and
//! the next ingest works without manual steps.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Skyql, copy_tree};

/// A small demo survey's raw files, and a catalogue holding its images only (version 1):
/// the next ingest (its light curves) is the write under test.
struct Fixture {
    tmp: tempfile::TempDir,
    lightcurves: PathBuf,
    baseline: PathBuf,
}

fn fixture(epochs: u32) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    common::generate_small(&raw, "lm035", 1, epochs, &["--stars-per-quarter", "20"]);
    let baseline = tmp.path().join("baseline");
    Skyql::new(["ingest"])
        .args([raw.join("images")])
        .catalog(&baseline)
        .ok();
    Fixture {
        lightcurves: raw.join("lightcurves"),
        baseline,
        tmp,
    }
}

impl Fixture {
    /// A fresh copy of the baseline catalogue.
    fn copy(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(&self.baseline, &dir);
        dir
    }

    fn ingest(&self, cat: &Path) -> Skyql {
        Skyql::new(["ingest"])
            .args([&self.lightcurves])
            .catalog(cat)
    }
}

/// (measurements, stars, images) as the catalogue answers them.
fn counts(cat: &Path) -> (u64, u64, u64) {
    let out = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT (SELECT COUNT(*) FROM measurements) AS m, (SELECT COUNT(*) FROM stars) AS s, \
         (SELECT COUNT(*) FROM images) AS i",
    ])
    .catalog(cat)
    .ok();
    let row = out.lines().nth(1).expect("a row");
    let v: Vec<u64> = row.split(',').map(|x| x.parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

fn verify(cat: &Path) {
    let out = Skyql::new(["catalog", "verify"]).catalog(cat).ok();
    assert!(out.contains("the catalogue is intact"), "{out}");
}

/// Names in the catalogue directory other than the manifest, lock, rejects and the
/// current version: leftovers.
fn leftovers(cat: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(cat.join("manifest.json")).unwrap();
    std::fs::read_dir(cat)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| {
            !matches!(
                n.as_str(),
                "manifest.json" | ".write.lock" | "rejects" | "products"
            ) && !manifest.contains(&format!("\"version_dir\": \"{n}\""))
        })
        .collect()
}

#[test]
fn an_ingest_aborted_at_every_step_leaves_the_old_or_the_new_catalogue() {
    let f = fixture(6);
    let old = counts(&f.baseline);
    // The new state, and the number of crash points of this ingest.
    let reference = f.copy("reference");
    let traced = f.ingest(&reference).env("SKYQL_CRASH_TRACE", "1").output();
    assert!(traced.status.success());
    let points = String::from_utf8_lossy(&traced.stderr)
        .lines()
        .filter(|l| l.starts_with("crash point "))
        .count();
    assert!(points >= 15, "only {points} crash points");
    let new = counts(&reference);
    assert_ne!(old, new);
    for k in 1..=points {
        let cat = f.copy("crashed");
        let out = f
            .ingest(&cat)
            .env("SKYQL_CRASH_AT", &k.to_string())
            .output();
        assert!(!out.status.success(), "crash point {k} did not abort");
        let after = counts(&cat);
        assert!(
            after == old || after == new,
            "crash point {k}: {after:?} is neither {old:?} nor {new:?}"
        );
        // The next ingest recovers without help and ends in the new state.
        f.ingest(&cat).ok();
        assert_eq!(counts(&cat), new, "after crash point {k}");
        assert!(leftovers(&cat).is_empty(), "{:?}", leftovers(&cat));
        verify(&cat);
    }
}

#[test]
fn an_ingest_killed_at_random_times_never_leaves_a_mixture() {
    let f = fixture(40);
    let old = counts(&f.baseline);
    let reference = f.copy("reference");
    let started = std::time::Instant::now();
    f.ingest(&reference).ok();
    let duration = started.elapsed();
    let new = counts(&reference);
    let mut seed: u64 = 0x5eed_cafe;
    let mut outcomes = [0usize; 2];
    for round in 0..50 {
        let cat = f.copy("killed");
        let mut child = f.ingest(&cat).spawn();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = duration.mul_f64((seed >> 33) as f64 / (1u64 << 31) as f64 * 1.2);
        std::thread::sleep(wait);
        let _ = child.kill();
        let _ = child.wait();
        let after = counts(&cat);
        assert!(
            after == old || after == new,
            "round {round} (killed after {wait:?}): {after:?}"
        );
        outcomes[usize::from(after == new)] += 1;
        f.ingest(&cat).ok();
        assert_eq!(counts(&cat), new);
        assert!(leftovers(&cat).is_empty(), "{:?}", leftovers(&cat));
    }
    eprintln!(
        "killed before the switch {} times, after {}",
        outcomes[0], outcomes[1]
    );
}

/// A second writer while the first holds the lock fails at once with a clear message;
/// the first completes; no row is lost.
fn race(f: &Fixture, second: impl Fn(&Path) -> std::process::Output) {
    let cat = f.copy("raced");
    let first = f
        .ingest(&cat)
        .env("SKYQL_TEST_PAUSE_AFTER_LOCK_MS", "1500")
        .spawn();
    std::thread::sleep(Duration::from_millis(500));
    let out = second(&cat);
    assert_eq!(out.status.code(), Some(1), "the second writer must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another skyql process is writing the catalogue"),
        "{stderr}"
    );
    let done = first.wait_with_output().unwrap();
    assert!(done.status.success());
    let reference = f.copy("reference");
    f.ingest(&reference).ok();
    assert_eq!(counts(&cat), counts(&reference));
    verify(&cat);
}

#[test]
fn two_writers_never_write_at_once() {
    let f = fixture(6);
    race(&f, |cat| f.ingest(cat).output());
    // Started together, repeatedly: whatever the order, one writes at a time.
    for _ in 0..10 {
        let cat = f.copy("together");
        let a = f.ingest(&cat).spawn();
        let b = f.ingest(&cat).spawn();
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(a.status.success() || b.status.success());
        for o in [&a, &b] {
            if !o.status.success() {
                assert!(String::from_utf8_lossy(&o.stderr).contains("another skyql process"));
            }
        }
        verify(&cat);
    }
}

#[test]
fn the_lock_holds_across_pid_namespaces() {
    let probe = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("SKYQL_CI").is_none(),
            "CI asked for the PID-namespace test but `unshare --pid --fork` does not work here"
        );
        eprintln!("skipped: `unshare --pid --fork` needs root (CI runs it)");
        return;
    }
    let f = fixture(6);
    race(&f, |cat| {
        std::process::Command::new("unshare")
            .args(["--pid", "--fork"])
            .arg(env!("CARGO_BIN_EXE_skyql"))
            .arg("ingest")
            .arg(&f.lightcurves)
            .arg("--catalog")
            .arg(cat)
            .output()
            .unwrap()
    });
}

#[test]
fn a_stale_lock_file_blocks_nothing() {
    let f = fixture(6);
    let cat = f.copy("stale");
    std::fs::write(cat.join(".write.lock"), "1\n").unwrap();
    std::fs::write(cat.join(".ingest.lock"), "1\n").unwrap();
    f.ingest(&cat).ok();
}

fn set_manifest(cat: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = cat.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

#[test]
fn a_hostile_manifest_touches_nothing_outside_the_catalogue() {
    let f = fixture(6);
    let victim = f.tmp.path().join("victim");
    let other = f.copy("other");
    copy_tree(&other, &victim);
    for version_dir in [
        victim.join("v000001").to_string_lossy().to_string(),
        "../victim/v000001".to_string(),
        "v000001/../../victim/v000001".to_string(),
    ] {
        let cat = f.copy("evil");
        set_manifest(&cat, |m| m["version_dir"] = version_dir.clone().into());
        let err = f.ingest(&cat).fails();
        assert!(err.contains("version_dir"), "{err}");
        let err = Skyql::new(["query", "SELECT COUNT(*) FROM stars"])
            .catalog(&cat)
            .fails();
        assert!(err.contains("version_dir"), "{err}");
        assert!(victim.join("v000001/images.parquet").exists());
    }
    // The version directory replaced by a link to another catalogue's version.
    let cat = f.copy("linked");
    std::fs::remove_dir_all(cat.join("v000001")).unwrap();
    std::os::unix::fs::symlink(victim.join("v000001"), cat.join("v000001")).unwrap();
    let err = f.ingest(&cat).fails();
    assert!(err.contains("not a directory of the catalogue"), "{err}");
    assert!(victim.join("v000001/images.parquet").exists());
    // A table path that leaves the version.
    let cat = f.copy("table-path");
    set_manifest(&cat, |m| {
        m["tables"]["images"]["path"] = "../../victim".into()
    });
    let err = f.ingest(&cat).fails();
    assert!(err.contains("not a plain name"), "{err}");
    // An unknown schema version is refused by every command.
    let cat = f.copy("schema");
    set_manifest(&cat, |m| m["schema_version"] = 99.into());
    for err in [
        f.ingest(&cat).fails(),
        Skyql::new(["tables"]).catalog(&cat).fails(),
        Skyql::new(["query", "SELECT 1"]).catalog(&cat).fails(),
    ] {
        assert!(err.contains("schema version 99"), "{err}");
    }
    // A deleted manifest: no fresh catalogue started beside the old version.
    let cat = f.copy("no-manifest");
    std::fs::remove_file(cat.join("manifest.json")).unwrap();
    let err = f.ingest(&cat).fails();
    assert!(err.contains("no manifest.json"), "{err}");
    assert!(cat.join("v000001/images.parquet").exists());
}

/// The first measurements file of a catalogue.
fn a_measurements_file(cat: &Path) -> PathBuf {
    let dir = cat.join("v000002/measurements");
    let field = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_dir(field)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

#[test]
fn missing_truncated_and_corrupted_files_are_named_never_half_answered() {
    let f = fixture(6);
    let good = f.copy("good");
    f.ingest(&good).ok();
    let name_of = |p: &Path| p.file_name().unwrap().to_string_lossy().to_string();

    // Missing: every command that opens the catalogue names the file and the table.
    let cat = f.tmp.path().join("missing");
    copy_tree(&good, &cat);
    let file = a_measurements_file(&cat);
    std::fs::remove_file(&file).unwrap();
    for err in [
        Skyql::new(["tables"]).catalog(&cat).fails(),
        Skyql::new(["query", "SELECT COUNT(*) FROM measurements"])
            .catalog(&cat)
            .fails(),
        f.ingest(&cat).fails(),
    ] {
        assert!(
            err.contains(&name_of(&file)) && err.contains("measurements"),
            "{err}"
        );
    }

    // Truncated.
    let cat = f.tmp.path().join("truncated");
    copy_tree(&good, &cat);
    let file = a_measurements_file(&cat);
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = Skyql::new(["query", "SELECT AVG(mag) FROM measurements"])
        .catalog(&cat)
        .fails();
    assert!(
        err.contains(&name_of(&file)) && err.contains("bytes"),
        "{err}"
    );

    // Corrupted in place (same size): verify names it, the next ingest refuses to carry it.
    let cat = f.tmp.path().join("corrupted");
    copy_tree(&good, &cat);
    let file = a_measurements_file(&cat);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    let span = (bytes.len() / 4).min(2048);
    for b in &mut bytes[mid - span..mid + span] {
        *b ^= 0x5a;
    }
    std::fs::write(&file, &bytes).unwrap();
    let out = Skyql::new(["catalog", "verify"]).catalog(&cat).output();
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(&name_of(&file)) && report.contains("CRC-32"),
        "{report}"
    );
    let err = f.ingest(&cat).fails();
    assert!(
        err.contains(&name_of(&file)) && err.contains("checksum"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "the damaged file is left as found"
    );
}

#[test]
fn a_flipped_bit_is_an_error_naming_the_file_never_another_answer() {
    let f = fixture(6);
    let cat = f.copy("flips");
    f.ingest(&cat).ok();
    let file = a_measurements_file(&cat);
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let original = std::fs::read(&file).unwrap();
    let sql = "SELECT * FROM measurements ORDER BY star_id, colour, mjd";
    let answer = |cat: &Path| {
        Skyql::new(["query", "--format", "csv", sql])
            .catalog(cat)
            .output()
    };
    let baseline = answer(&cat);
    assert!(baseline.status.success());
    // Offsets from a fixed linear congruential sequence over the whole file.
    let mut x: u64 = 0x5eed;
    let (mut errors, mut same) = (0, 0);
    for _ in 0..24 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let offset = (x >> 33) as usize % original.len();
        let mut damaged = original.clone();
        damaged[offset] ^= 1 << (x % 8);
        std::fs::write(&file, &damaged).unwrap();
        let out = answer(&cat);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            assert_eq!(
                out.stdout, baseline.stdout,
                "a flip at byte {offset} gave another answer with exit 0"
            );
            same += 1;
        } else {
            assert!(
                stderr.contains(&name) && stderr.contains("checksum"),
                "byte {offset}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            errors += 1;
        }
    }
    std::fs::write(&file, &original).unwrap();
    // The query reads every column of every row group and the footer: only bytes it never
    // reads (page indexes) may be flipped without an error.
    assert!(
        errors >= 18,
        "{errors} errors, {same} unchanged answers of 24 flips"
    );
    assert_eq!(answer(&cat).stdout, baseline.stdout);
}

#[test]
fn repair_removes_only_the_leftovers_of_interrupted_writes() {
    let f = fixture(6);
    let cat = f.copy("repair");
    std::fs::create_dir(cat.join(".v000002.partial")).unwrap();
    std::fs::create_dir(cat.join("v000007")).unwrap();
    std::fs::write(cat.join(".manifest.json.partial-123"), "{").unwrap();
    std::fs::write(cat.join("notes.txt"), "mine").unwrap();
    std::fs::create_dir(cat.join("vacation")).unwrap();
    let out = Skyql::new(["catalog", "repair"]).catalog(&cat).ok();
    assert!(out.contains("3 leftover(s)"), "{out}");
    assert!(cat.join("notes.txt").exists() && cat.join("vacation").exists());
    assert!(!cat.join("v000007").exists());
    verify(&cat);
}

#[test]
fn with_many_files_the_first_damaged_one_in_manifest_order_is_named() {
    // 40 fields: 80 data files and the small tables, checked on two threads.
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    Skyql::new(["generate", "--measurements", "40000", "--field-count", "40"])
        .catalog(&cat)
        .ok();
    let catalog = skyql::catalog::Catalog::open(&cat).unwrap();
    let files: Vec<PathBuf> = (catalog.manifest.tables.values())
        .flat_map(|e| e.data_files.iter().map(|f| catalog.data_file_path(e, f)))
        .collect();
    assert!(files.len() >= 80, "{} data files", files.len());

    // The last file of the manifest (the second thread's) missing: it is named.
    let last = files.last().unwrap();
    std::fs::remove_file(last).unwrap();
    let err = Skyql::new(["query", "SELECT 1"]).catalog(&cat).fails();
    assert!(
        err.contains(&last.display().to_string()) && err.contains("is missing"),
        "{err}"
    );

    // A file of the first half truncated as well: that one comes first, so it is named.
    let early = &files[files.len() / 4];
    std::fs::write(early, b"PAR1").unwrap();
    let err = Skyql::new(["query", "SELECT 1"]).catalog(&cat).fails();
    assert!(
        err.contains(&early.display().to_string())
            && err.contains("4 bytes where the manifest records")
            && !err.contains(&last.display().to_string()),
        "{err}"
    );
}
