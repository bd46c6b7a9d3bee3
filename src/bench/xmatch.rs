//! `skyql bench xmatch`: two synthetic catalogues of `--rows` sources (default 10^6) at a
//! realistic density (400,000 per square degree, around the LMC), about half of the right
//! ones a counterpart of a left one within 0.5 arcsec, matched at 1 arcsec: every pair and
//! the nearest match, each tool's whole command or call (skyql's whole `skyql query`
//! process; `stilts tmatch2 matcher=sky`; LSDB's `from_dataframe` and `crossmatch`, which
//! is its whole job on data that is not HATS yet), with the pair counts side by side.
//! With `--catalog`, also every star of the catalogue against `--rows` external sources
//! (half of them counterparts of stars), with skyql's peak memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;

use super::{BenchOptions, compared, run_python, run_skyql, summary};
use crate::demo::rng::Rng;

/// Sources per square degree.
const DENSITY: f64 = 400_000.0;
/// The centre of the synthetic sky (the LMC bar).
const CENTRE: (f64, f64) = (80.9, -69.7);
/// The matching radius, arcsec.
const RADIUS_ARCSEC: f64 = 1.0;

/// One tool's figures for one mode.
struct Line {
    tool: &'static str,
    mode: &'static str,
    pairs: u64,
    times: Vec<f64>,
    peak: Option<u64>,
}

pub fn bench_xmatch(opts: &BenchOptions) -> Result<()> {
    let rows = opts.rows.unwrap_or(1_000_000);
    super::in_scratch_dir("xmatch", |dir| run(opts, rows, dir))
}

fn run(opts: &BenchOptions, rows: usize, dir: &Path) -> Result<()> {
    let skyql = std::env::current_exe()?;
    let (a, b) = synthetic_pair(rows, dir)?;
    for (name, path) in [("a", &a), ("b", &b)] {
        let fits = dir.join(format!("{name}.fits"));
        let table = format!("{name}={}", path.display());
        let sql = format!("SELECT * FROM {name}");
        let arg = std::ffi::OsStr::new;
        run_skyql(&[
            arg("query"),
            arg("--table"),
            arg(&table),
            arg(&sql),
            arg("--output"),
            fits.as_os_str(),
        ])?;
    }
    let reps = opts.repetitions.max(1);
    println!(
        "xmatch: {rows} x {rows} synthetic sources ({DENSITY} per square degree), radius {RADIUS_ARCSEC} arcsec, {reps} repetition(s) after a warm-up"
    );
    let tables = [format!("a={}", a.display()), format!("b={}", b.display())];
    let mut lines = vec![
        skyql_line(&skyql, &tables, "all", reps)?,
        skyql_line(&skyql, &tables, "best", reps)?,
    ];
    for mode in ["all", "best"] {
        match stilts(opts, dir, mode, reps) {
            Ok(line) => lines.push(line),
            Err(e) => println!("stilts {mode}: not run ({e:#})"),
        }
    }
    match lsdb(opts, &a, &b, reps) {
        Ok(line) => lines.push(line),
        Err(e) => println!("lsdb: not run ({e:#})"),
    }
    print_lines(&lines);
    if let Some(catalog) = &opts.catalog {
        catalogue_scale(&skyql, catalog, &b, reps)?;
    }
    Ok(())
}

/// The left catalogue and a right one where every second source is a left source moved
/// by up to 0.5 arcsec, written as Parquet (`id`, `ra`, `dec`).
fn synthetic_pair(rows: usize, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let side = (rows as f64 / DENSITY).sqrt();
    let mut rng = Rng::new(42, &[]);
    let random_position = |rng: &mut Rng| {
        let dec = CENTRE.1 + side * (rng.uniform() - 0.5);
        let ra = CENTRE.0 + side * (rng.uniform() - 0.5) / CENTRE.1.to_radians().cos();
        (ra, dec)
    };
    let left: Vec<(f64, f64)> = (0..rows).map(|_| random_position(&mut rng)).collect();
    let right: Vec<(f64, f64)> = (0..rows)
        .map(|i| match i % 2 {
            0 => {
                let (ra, dec) = left[(i * 7919) % rows];
                let (r, angle) = (
                    0.5 / 3600.0 * rng.uniform(),
                    std::f64::consts::TAU * rng.uniform(),
                );
                let dec2 = dec + r * angle.sin();
                (ra + r * angle.cos() / dec.to_radians().cos(), dec2)
            }
            _ => random_position(&mut rng),
        })
        .collect();
    let (a, b) = (dir.join("a.parquet"), dir.join("b.parquet"));
    write_positions(&a, &left)?;
    write_positions(&b, &right)?;
    Ok((a, b))
}

fn write_positions(path: &Path, positions: &[(f64, f64)]) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("ra", DataType::Float64, false),
        Field::new("dec", DataType::Float64, false),
    ]));
    let file = std::fs::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None)?;
    for (n, chunk) in positions.chunks(131_072).enumerate() {
        let first = (n * 131_072) as i64;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    first..first + chunk.len() as i64,
                )),
                Arc::new(Float64Array::from_iter_values(chunk.iter().map(|p| p.0))),
                Arc::new(Float64Array::from_iter_values(chunk.iter().map(|p| p.1))),
            ],
        )?;
        writer.write(&batch)?;
    }
    writer.close()?;
    Ok(())
}

/// Runs `command` to its end; its wall time, standard output and peak resident memory
/// (of the process and the children it waited for: `wait4`).
fn timed(command: &mut Command) -> Result<(f64, String, Option<u64>)> {
    use std::io::Read;
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {command:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut out = String::new();
    child
        .stdout
        .take()
        .context("no stdout")?
        .read_to_string(&mut out)?;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child, which Child never
    // waits for afterwards (it is dropped without wait).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = start.elapsed().as_secs_f64();
    drop(child);
    let errors = errors.join().unwrap_or_default();
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{}", errors.lines().last().unwrap_or("failed"));
    }
    Ok((seconds, out, Some(usage.ru_maxrss as u64 * 1024)))
}

/// The last integer of the last line of `text` holding one (`pairs` from skyql's CSV,
/// `columns: 7   rows: 1000` from `stilts omode=count`).
fn last_count(text: &str) -> Option<u64> {
    text.lines().rev().find_map(|l| {
        l.split(|c: char| !c.is_ascii_digit())
            .rfind(|w| !w.is_empty())
            .and_then(|w| w.parse().ok())
    })
}

/// One tool's whole process, run `reps` times after a warm-up ([`super::time`]); the pairs
/// are the count the last run printed.
fn process_line(
    tool: &'static str,
    mode: &'static str,
    reps: usize,
    mut command: impl FnMut() -> Command,
) -> Result<Line> {
    let (times, (out, peak)) = super::time(reps, || {
        let (_, out, peak) = timed(&mut command())?;
        Ok((out, peak))
    })?;
    let pairs = last_count(&out).with_context(|| format!("no count from {tool}"))?;
    Ok(Line {
        tool,
        mode,
        pairs,
        times,
        peak,
    })
}

fn skyql_line(skyql: &Path, tables: &[String; 2], mode: &'static str, reps: usize) -> Result<Line> {
    let sql = format!("SELECT count(*) AS pairs FROM xmatch(a, b, {RADIUS_ARCSEC}, '{mode}')");
    process_line("skyql", mode, reps, || {
        let mut c = Command::new(skyql);
        c.args([
            "query", "--format", "csv", "--table", &tables[0], "--table", &tables[1],
        ])
        .arg(&sql);
        c
    })
}

fn stilts(opts: &BenchOptions, dir: &Path, mode: &'static str, reps: usize) -> Result<Line> {
    let find = if mode == "all" { "all" } else { "best1" };
    process_line("stilts", mode, reps, || {
        let mut c = Command::new(&opts.stilts);
        c.arg("tmatch2")
            .arg(format!("in1={}", dir.join("a.fits").display()))
            .arg(format!("in2={}", dir.join("b.fits").display()))
            .args(["matcher=sky", &format!("params={RADIUS_ARCSEC}")])
            .args(["values1=ra dec", "values2=ra dec"])
            .args([format!("find={find}").as_str(), "join=1and2", "omode=count"]);
        c
    })
}

/// LSDB 0.11+: `from_dataframe` of both tables and `crossmatch(n_neighbors=1)` (the
/// nearest within the radius), computed.
fn lsdb(opts: &BenchOptions, a: &Path, b: &Path, reps: usize) -> Result<Line> {
    let script = r#"
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import lsdb
p = json.load(sys.stdin)
def once():
    a = lsdb.from_dataframe(pd.read_parquet(p["a"]), ra_column="ra", dec_column="dec", catalog_name="a")
    b = lsdb.from_dataframe(pd.read_parquet(p["b"]), ra_column="ra", dec_column="dec", catalog_name="b")
    return len(a.crossmatch(b, n_neighbors=1, radius_arcsec=p["radius"], suffixes=("_a", "_b")).compute())
once()
times = []
for _ in range(p["reps"]):
    t = time.perf_counter(); n = once(); times.append(time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"pairs": n, "times": times, "peak": peak}))
"#;
    let input = serde_json::json!({
        "a": a.display().to_string(), "b": b.display().to_string(),
        "radius": RADIUS_ARCSEC, "reps": reps,
    });
    let stdout = run_python(&opts.python, script, input.to_string().as_bytes())?;
    let last = stdout.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(last).context("no result from lsdb")?;
    let times = v["times"]
        .as_array()
        .context("no times")?
        .iter()
        .filter_map(|t| t.as_f64())
        .collect();
    Ok(Line {
        tool: "lsdb",
        mode: "best",
        pairs: v["pairs"].as_u64().unwrap_or(0),
        times,
        peak: v["peak"].as_u64(),
    })
}

fn print_lines(lines: &[Line]) {
    println!(
        "{:<8} {:<6} {:>10} {:>9} {:>20} {:>8} {:>22}",
        "tool", "mode", "pairs", "median s", "min - max", "peak MB", "skyql is"
    );
    for line in lines {
        let (median, min, max) = summary(line.times.clone());
        let skyql = lines
            .iter()
            .find(|l| l.tool == "skyql" && l.mode == line.mode)
            .map(|l| summary(l.times.clone()).0);
        let ratio = match (line.tool, skyql) {
            ("skyql", _) | (_, None) => String::new(),
            (_, Some(s)) => compared(median / s),
        };
        let peak = line.peak.map_or("-".to_string(), |p| (p >> 20).to_string());
        println!(
            "{:<8} {:<6} {:>10} {:>9.3} {:>20} {:>8} {:>22}",
            line.tool,
            line.mode,
            line.pairs,
            median,
            format!("{min:.3} - {max:.3}"),
            peak,
            ratio
        );
    }
}

/// Every star of the catalogue against external sources: a tenth of the stars, half of
/// them moved by 0.3 arcsec (counterparts), half by 5 arcsec (no counterpart); then the
/// same external sources against a tenth of the stars, to show how memory follows the
/// left table.
fn catalogue_scale(skyql: &Path, catalog: &Path, dir_hint: &Path, reps: usize) -> Result<()> {
    let dir = dir_hint.parent().context("no directory")?;
    let external = dir.join("external.parquet");
    let copy = format!(
        "COPY (SELECT star_id, ra + CASE WHEN healpix % 20 = 0 THEN 0.3 ELSE 5.0 END / 3600 \
         / cos(radians(dec)) AS ra, dec FROM stars WHERE healpix % 10 = 0) TO '{}' STORED AS PARQUET",
        external.display()
    );
    let catalog_arg = catalog.display().to_string();
    timed(Command::new(skyql).args(["query", "--catalog", &catalog_arg, &copy]))?;
    let table = format!("ext={}", external.display());
    println!(
        "catalogue: {catalog_arg}, stars against a tenth of them moved (half by 0.3\", half by 5\")"
    );
    println!(
        "{:<40} {:>10} {:>9} {:>8}",
        "left", "pairs", "median s", "peak MB"
    );
    for (label, left) in [
        ("every star", "stars"),
        ("a tenth of the stars (healpix % 10 = 1)", "tenth"),
    ] {
        let sql = format!(
            "CREATE VIEW tenth AS SELECT * FROM stars WHERE healpix % 10 = 1; \
             SELECT count(*) AS pairs FROM xmatch({left}, ext, {RADIUS_ARCSEC})"
        );
        let mut runs = Vec::new();
        for _ in 0..reps {
            runs.push(timed(
                Command::new(skyql)
                    .args([
                        "query",
                        "--format",
                        "csv",
                        "--catalog",
                        &catalog_arg,
                        "--table",
                        &table,
                    ])
                    .arg(&sql),
            )?);
        }
        let pairs = last_count(&runs[0].1).context("no count")?;
        let peak = runs.iter().filter_map(|r| r.2).max().unwrap_or(0);
        let (median, _, _) = summary(runs.iter().map(|r| r.0).collect());
        println!("{label:<40} {pairs:>10} {median:>9.3} {:>8}", peak >> 20);
    }
    Ok(())
}
