//! `skyql bench`: named workloads, timed with warm-up and repetitions, and the reference
//! tool on the same input in the same run where there is one.
//!
//! Workloads: `pix2sky` (10^6 points through a real TAN-SIP header, against astropy's
//! `all_pix2world`), `export` (a 300,000-row result written as VOTable TABLEDATA and
//! BINARY2, CSV, FITS and Parquet, against astropy's VOTable writer and `stilts tcopy`),
//! `cutout` (64 x 64 cutouts and public images from 2048 x 2048 images, with the bytes
//! read per cutout), `survey` (light curves, the quarters query, per-star statistics,
//! cone searches and a memory limit on a catalogue, beside DuckDB on the same files) and
//! `ingest` (EROS text light curves, measurements per second and peak memory), `xmatch`
//! (beside STILTS and LSDB), `cluster` (survey queries embedded and on a loopback Ballista
//! cluster of one and two executors) and `service` (`skyql serve` under many VO clients,
//! beside another VO server such as DaCHS).

mod checksums;
#[cfg(feature = "cluster")]
mod cluster;
mod export;
mod images;
mod ingest;
mod pix2sky;
mod publish;
mod science;
mod service;
mod survey;
mod xmatch;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};

/// The benchmark workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Light curves, the quarters query, statistics, cones on a catalogue, beside DuckDB.
    Survey,
    /// EROS text light curves ingested: measurements per second, peak memory.
    Ingest,
    /// 10^6 points through a TAN-SIP WCS, beside astropy.
    Pix2sky,
    /// A 300,000-row result in every export format, beside astropy and STILTS.
    Export,
    /// Cutouts and public images from 2048 x 2048 images.
    Cutout,
    /// Cross-matches of synthetic catalogues, beside STILTS and LSDB.
    Xmatch,
    /// Survey queries embedded and on a loopback cluster of one and two executors.
    Cluster,
    /// `skyql serve` under many cone-search clients, beside another VO server, then
    /// DataLink links and star pages.
    Service,
    /// Queries with and without the block-checksum checks on reads.
    Checksums,
    /// Tables published beside the catalogue: uploads, HATS and ingested tables' cones.
    Publish,
    /// Microlensing fits and periodograms over a catalogue, beside MulensModel and astropy.
    Science,
}

/// Options of `skyql bench`.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The workload.
    pub workload: Workload,
    /// Points (pix2sky).
    pub points: usize,
    /// Rows of the exported result (export, default 300,000) or cutouts (cutout,
    /// default 1,000).
    pub rows: Option<usize>,
    /// Timed repetitions after one warm-up.
    pub repetitions: usize,
    /// Python interpreter for the reference tool.
    pub python: PathBuf,
    /// The STILTS command.
    pub stilts: PathBuf,
    /// Catalogue of the survey workloads.
    pub catalog: Option<PathBuf>,
    /// A running cluster for `bench cluster` (else loopback clusters are started).
    pub cluster: Option<String>,
    /// Concurrent clients of the service's load runs.
    pub clients: usize,
    /// Seconds of each load run of the service.
    pub seconds: f64,
    /// Another VO server to load the same way (`http://HOST:PORT`).
    pub against: Option<String>,
    /// Its cone search's path.
    pub against_scs: String,
    /// Its table of the same stars, for ADQL.
    pub against_table: String,
    /// A text of its processes' command lines (their CPU counts, with PostgreSQL's).
    pub against_process: String,
    /// A new `s3://` prefix for the HATS copy of `bench publish`'s cold and warm cones.
    pub s3: Option<String>,
}

/// Runs a workload and prints its figures.
pub fn run_bench(opts: &BenchOptions) -> Result<()> {
    match opts.workload {
        Workload::Pix2sky => pix2sky::bench_pix2sky(opts),
        Workload::Export => export::bench_export(opts),
        Workload::Cutout => images::bench_cutout(opts),
        Workload::Ingest => ingest::bench_ingest(opts),
        Workload::Xmatch => xmatch::bench_xmatch(opts),
        Workload::Cluster => match &opts.catalog {
            #[cfg(feature = "cluster")]
            Some(c) => cluster::bench_cluster(opts, c),
            #[cfg(not(feature = "cluster"))]
            Some(_) => bail!("{}", crate::engine::NO_CLUSTER),
            None => bail!("bench cluster needs --catalog (e.g. from skyql generate --catalog)"),
        },
        Workload::Service => match &opts.catalog {
            Some(c) => service::bench_service(opts, c),
            None => bail!("bench service needs --catalog (e.g. from skyql generate --catalog)"),
        },
        Workload::Checksums => match &opts.catalog {
            Some(c) => checksums::bench_checksums(opts, c),
            None => {
                bail!("bench checksums needs --catalog (a catalogue, e.g. from `skyql generate`)")
            }
        },
        Workload::Publish => match &opts.catalog {
            Some(c) => publish::bench_publish(opts, c),
            None => bail!("bench publish needs --catalog (e.g. from skyql generate --catalog)"),
        },
        Workload::Science => match &opts.catalog {
            Some(c) => science::bench_science(opts, c),
            None => bail!("bench science needs --catalog (e.g. from skyql generate --catalog)"),
        },
        Workload::Survey => match &opts.catalog {
            Some(c) => survey::bench_survey(opts, c),
            None => bail!("bench survey needs --catalog (e.g. from skyql generate --catalog)"),
        },
    }
}

/// A speed ratio in words: "76 times faster", "1.4 times faster", "as fast",
/// "2.0 times slower".
pub fn compared(ratio: f64) -> String {
    if !ratio.is_finite() {
        "not comparable".to_string()
    } else if ratio >= 10.0 {
        format!("{ratio:.0} times faster")
    } else if ratio >= 1.05 {
        format!("{ratio:.1} times faster")
    } else if ratio > 0.95 {
        "as fast".to_string()
    } else {
        format!("{:.1} times slower", 1.0 / ratio)
    }
}

/// Runs `f` in a scratch directory `skyql-bench-NAME-PID` of the system's temporary
/// directory, removed afterwards whatever `f` returns.
fn in_scratch_dir<T>(name: &str, f: impl FnOnce(&std::path::Path) -> Result<T>) -> Result<T> {
    use anyhow::Context;
    let dir = std::env::temp_dir().join(format!("skyql-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = f(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs this skyql executable with `args` and waits for it: its standard output, or an
/// error with the command and its standard error when it fails.
fn run_skyql<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<Vec<u8>> {
    use anyhow::Context;
    let binary = std::env::current_exe().context("cannot find the skyql binary")?;
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    let out = std::process::Command::new(binary)
        .args(args)
        .output()
        .with_context(|| format!("cannot run skyql {}", shown.join(" ")))?;
    if !out.status.success() {
        anyhow::bail!(
            "skyql {} failed: {}",
            shown.first().map_or("", |a| a.as_ref()),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Median and spread (min, max) of timings in seconds.
fn summary(mut t: Vec<f64>) -> (f64, f64, f64) {
    t.sort_by(f64::total_cmp);
    (t[t.len() / 2], t[0], t[t.len() - 1])
}

/// Runs `f` once to warm up, then `reps` times; returns the timings and the last result.
fn time<T, F: FnMut() -> Result<T>>(reps: usize, f: F) -> Result<(Vec<f64>, T)> {
    time_after_setup(reps, || Ok(()), f)
}

/// Like [`time`], running `setup` before each timed run, outside the clock.
fn time_after_setup<T, F: FnMut() -> Result<T>>(
    reps: usize,
    mut setup: impl FnMut() -> Result<()>,
    mut f: F,
) -> Result<(Vec<f64>, T)> {
    let mut check = f()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        setup()?;
        let start = Instant::now();
        check = f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok((times, check))
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `python -c script` (one thread for numpy's libraries) with `stdin`; returns its
/// standard output, or an error with the last line of its standard error.
fn run_python(python: &std::path::Path, script: &str, stdin: &[u8]) -> Result<String> {
    use anyhow::Context;
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(python)
        .args(["-c", script])
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    child.stdin.take().context("no stdin")?.write_all(stdin)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("python failed")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
