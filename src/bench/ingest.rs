//! `skyql bench ingest`: EROS text light curves written by `skyql generate`, then ingested
//! by `skyql ingest` in a child process whose peak memory is sampled; measurements per
//! second written and peak resident memory.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{BenchOptions, run_skyql};

/// Peak resident memory (VmHWM) of a running process, in bytes.
fn peak_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// Runs the ingest benchmark: `epochs` per light curve (default 400, as the EROS-2 LMC
/// light curves), 150 stars per CCD quarter, 3 fields.
pub fn bench_ingest(opts: &BenchOptions) -> Result<()> {
    let binary = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("skyql-bench-ingest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = run(opts, &binary, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(opts: &BenchOptions, binary: &Path, dir: &Path) -> Result<()> {
    let epochs = opts.rows.unwrap_or(400).to_string();
    let raw = dir.join("raw");
    let arg = std::ffi::OsStr::new;
    run_skyql(&[
        arg("generate"),
        arg("--out"),
        raw.as_os_str(),
        arg("--ccd-size"),
        arg("16"),
        arg("--epochs"),
        arg(&epochs),
        arg("--stars-per-quarter"),
        arg("150"),
    ])?;
    let bytes: u64 = walk_size(&raw.join("lightcurves"));
    let mut results = Vec::new();
    for rep in 0..opts.repetitions.max(1) {
        let cat = dir.join(format!("cat{rep}"));
        let start = Instant::now();
        let mut child = Command::new(binary)
            .arg("ingest")
            .arg(raw.join("lightcurves"))
            .arg("--catalog")
            .arg(&cat)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let pid = child.id();
        let mut peak = 0;
        let status = loop {
            if let Some(p) = peak_of(pid) {
                peak = peak.max(p);
            }
            if let Some(s) = child.try_wait()? {
                break s;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let secs = start.elapsed().as_secs_f64();
        let mut stdout = String::new();
        if let Some(mut s) = child.stdout.take() {
            use std::io::Read;
            s.read_to_string(&mut stdout)?;
        }
        if !status.success() {
            bail!("ingest failed: {stdout}");
        }
        let written: u64 = stdout
            .lines()
            .find(|l| l.starts_with("measurements read:"))
            .and_then(|l| l.split("written ").nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .context("no measurement count in the ingest report")?;
        results.push((secs, written, peak));
        let _ = std::fs::remove_dir_all(&cat);
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (secs, written, _) = results[results.len() / 2];
    let peak = results.iter().map(|r| r.2).max().unwrap_or(0);
    println!(
        "ingest: {written} measurements from {:.0} MB of EROS text light curves: median {secs:.2} s \
         ({:.2} - {:.2} s), {:.2} million measurements/s, peak resident memory {:.0} MB",
        bytes as f64 / 1e6,
        results[0].0,
        results[results.len() - 1].0,
        written as f64 / secs / 1e6,
        peak as f64 / 1e6
    );
    Ok(())
}

fn walk_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
