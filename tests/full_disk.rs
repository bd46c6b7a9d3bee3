//! A full disk, on a small tmpfs (mounting needs root, as CI runs; elsewhere the test says
//! it was skipped, and fails when CI asked for it): ingest, export, COPY and cutouts end
//! with an error naming the cause, leave no partial file, and the catalogue intact.

mod common;

use std::path::{Path, PathBuf};

use common::{Skyql, data};

/// A tmpfs of `kib` KiB mounted on a new directory, unmounted when dropped.
struct SmallDisk {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(kib: u64) -> Option<SmallDisk> {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("disk");
        std::fs::create_dir(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            assert!(
                std::env::var_os("SKYQL_CI").is_none(),
                "CI asked for the full-disk tests but a tmpfs cannot be mounted here"
            );
            eprintln!("skipped: mounting a tmpfs needs root (CI runs it)");
            return None;
        }
        Some(SmallDisk { dir, _tmp: tmp })
    }

    /// Fills the disk, leaving about `left` bytes free.
    fn fill(&self, left: u64) {
        let free = free_bytes(&self.dir);
        if free > left {
            std::fs::write(self.dir.join("ballast"), vec![0u8; (free - left) as usize]).unwrap();
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Names of the files below `dir`.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push(e.file_name().to_string_lossy().to_string());
        }
    }
    out
}

#[test]
fn an_ingest_on_a_full_disk_fails_cleanly_and_the_catalogue_stays() {
    let Some(disk) = SmallDisk::mount(4096) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    common::generate_small(&raw, "lm035", 2, 60, &[]);
    let cat = disk.dir.join("cat");
    Skyql::new(["ingest"])
        .args([raw.join("images")])
        .catalog(&cat)
        .ok();
    let count_images = || {
        Skyql::new([
            "query",
            "--format",
            "csv",
            "SELECT COUNT(*) AS n FROM images",
        ])
        .catalog(&cat)
        .ok()
    };
    let before = count_images();
    disk.fill(16 * 1024);
    let err = Skyql::new(["ingest"])
        .args([raw.join("lightcurves")])
        .catalog(&cat)
        .fails();
    assert!(err.contains("No space left on device"), "{err}");
    let after = count_images();
    assert_eq!(before, after);
    Skyql::new(["catalog", "verify"]).catalog(&cat).ok();
    std::fs::remove_file(disk.dir.join("ballast")).unwrap();
    Skyql::new(["ingest"])
        .args([raw.join("lightcurves")])
        .catalog(&cat)
        .ok();
    Skyql::new(["catalog", "verify"]).catalog(&cat).ok();
}

#[test]
fn exports_and_copy_on_a_full_disk_leave_no_file() {
    let Some(disk) = SmallDisk::mount(1024) else {
        return;
    };
    disk.fill(64 * 1024);
    let big = "SELECT value, value * 2 AS twice FROM generate_series(1, 200000)";
    for format in [
        "csv",
        "votable",
        "votable-binary2",
        "fits",
        "parquet",
        "json",
    ] {
        let out = disk.dir.join(format!("out.{format}"));
        let err = Skyql::new(["query", big, "--format", format, "--output"])
            .args([&out])
            .fails();
        assert!(err.contains("No space left on device"), "{format}: {err}");
        assert!(!err.contains("bug in DataFusion"), "{format}: {err}");
    }
    for stored in ["VOTABLE", "FITS", "CSV", "PARQUET"] {
        let out = disk.dir.join(format!("copy.{}", stored.to_lowercase()));
        let err = Skyql::new(["query"])
            .args([format!(
                "COPY ({big}) TO '{}' STORED AS {stored}",
                out.display()
            )])
            .fails();
        assert!(err.contains("No space left on device"), "{stored}: {err}");
        assert!(!err.contains("bug in DataFusion"), "{stored}: {err}");
    }
    assert_eq!(files(&disk.dir), vec!["ballast".to_string()]);
}

#[test]
fn a_cutout_on_a_full_disk_is_null_with_the_cause() {
    let Some(disk) = SmallDisk::mount(512) else {
        return;
    };
    disk.fill(4 * 1024);
    let fits = data("fits/apogee_alta_sip.fits");
    let out = Skyql::new(["query", "--format", "csv", "--output-root"])
        .args([&disk.dir])
        .args([format!(
            "SELECT cutout(p, s['ra'], s['dec'], 64, 'c.fits') AS c FROM \
             (SELECT '{0}' AS p, pix2sky(40.0, 40.0, wcs_from_fits('{0}')) AS s)",
            fits.display()
        )])
        .output();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "c\n\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("No space left on device") || stderr.contains("disk is full"),
        "{stderr}"
    );
    assert_eq!(files(&disk.dir), vec!["ballast".to_string()]);
}
