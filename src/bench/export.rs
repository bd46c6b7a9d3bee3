//! `skyql bench export`: a light-curve-shaped result (star_id, field, ccd, quarter,
//! colour, mjd, mag, mag_err, ra, dec; 300,000 rows by default) written as VOTable
//! TABLEDATA and BINARY2, CSV, FITS and Parquet by skyql, then the same rows by astropy's
//! VOTable writer and by `stilts tcopy` from the CSV, in the same run.
//!
//! skyql's timings are in-process (query stream to a closed, synced file), and for
//! TABLEDATA also whole `skyql query` processes reading the rows from the Parquet file
//! written before; astropy's cover only `to_xml` (the table is read from the CSV before
//! the clock starts); STILTS's are the whole command, JVM start included, as a user runs
//! it. Every timed run writes a file that does not exist yet: the previous run's is
//! removed before the clock starts, for every tool (replacing a file also pays for
//! freeing its blocks).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use crate::engine::{Engine, EngineOptions};
use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{
    ArrayRef, Float32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::{BenchOptions, peak_rss_bytes, run_python, run_skyql, summary, time_after_setup};
use crate::demo::rng::Rng;
use crate::export::{ExportOptions, OutputFormat, write_result};
use crate::schema::column_metadata;

/// The result's columns: (name, type, the catalogue table whose metadata it carries).
const COLUMNS: [(&str, DataType, &str); 10] = [
    ("star_id", DataType::Utf8, "measurements"),
    ("field", DataType::Utf8, "measurements"),
    ("ccd", DataType::Int32, "measurements"),
    ("quarter", DataType::Utf8, "measurements"),
    ("colour", DataType::Utf8, "measurements"),
    ("mjd", DataType::Float64, "measurements"),
    ("mag", DataType::Float32, "measurements"),
    ("mag_err", DataType::Float32, "measurements"),
    ("ra", DataType::Float64, "stars"),
    ("dec", DataType::Float64, "stars"),
];

fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|(name, dt, table)| {
                Field::new(*name, dt.clone(), false)
                    .with_metadata(column_metadata(table, name).unwrap_or_default())
            })
            .collect::<Vec<_>>(),
    ))
}

/// Deterministic rows shaped like EROS light curves: 100 measurements per star.
fn synthetic_result(rows: usize) -> Result<Vec<RecordBatch>> {
    let schema = schema();
    let mut rng = Rng::new(20_260_101, &[rows as u64]);
    let fields = ["lm001", "lm035", "lm055", "lm088"];
    let mut batches = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = (rows - start).min(65_536);
        let (mut star_id, mut field_col, mut ccd_col, mut quarter, mut colour) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut mjd, mut mag, mut err, mut ra, mut dec) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for i in start..start + n {
            let star = i / 100;
            let field = fields[star % fields.len()];
            let ccd = (star / 4 % 8) as i32;
            star_id.push(format!("{field}{ccd}k{star:05}"));
            field_col.push(field);
            ccd_col.push(ccd);
            let day = 50_000.0 + (i % 100) as f64 * 27.3 + rng.uniform();
            quarter.push(format!(
                "{}Q{}",
                1996 + (day - 50_000.0) as i32 / 365,
                1 + (day as i32 / 91) % 4
            ));
            colour.push(if i % 2 == 0 { "R" } else { "B" });
            mjd.push(day);
            mag.push(rng.range(15.0, 21.0) as f32);
            err.push(rng.range(0.01, 0.2) as f32);
            ra.push(80.0 + (star % 997) as f64 * 1e-3 + rng.uniform() * 1e-6);
            dec.push(-69.0 - (star % 991) as f64 * 1e-3 - rng.uniform() * 1e-6);
        }
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(star_id)),
            Arc::new(StringArray::from(field_col)),
            Arc::new(Int32Array::from(ccd_col)),
            Arc::new(StringArray::from(quarter)),
            Arc::new(StringArray::from(colour)),
            Arc::new(Float64Array::from(mjd)),
            Arc::new(Float32Array::from(mag)),
            Arc::new(Float32Array::from(err)),
            Arc::new(Float64Array::from(ra)),
            Arc::new(Float64Array::from(dec)),
        ];
        batches.push(RecordBatch::try_new(schema.clone(), arrays)?);
        start += n;
    }
    Ok(batches)
}

/// One line of the results table.
struct Line {
    tool: &'static str,
    format: &'static str,
    median: f64,
    min: f64,
    max: f64,
    bytes: u64,
}

/// Runs the export benchmark.
pub fn bench_export(opts: &BenchOptions) -> Result<()> {
    let rows = opts.rows.unwrap_or(300_000);
    super::in_scratch_dir("export", |dir| run(opts, rows, dir))
}

fn run(opts: &BenchOptions, rows: usize, dir: &Path) -> Result<()> {
    println!(
        "export: {rows} rows x 10 columns, {} repetitions after a warm-up (astropy and STILTS: {})",
        opts.repetitions,
        opts.repetitions.min(3)
    );
    let mut lines = time_skyql(opts, rows, dir)?;
    let peak = peak_rss_bytes().unwrap_or(0);
    lines.push(time_whole_process(opts, rows, dir)?);
    let csv = dir.join("skyql.csv");
    let reference_reps = opts.repetitions.clamp(1, 3);
    match astropy(opts, &csv, dir, reference_reps) {
        Ok(mut l) => lines.append(&mut l),
        Err(e) => println!("astropy: not run ({e:#})"),
    }
    match stilts(opts, &csv, dir, reference_reps) {
        Ok(mut l) => lines.append(&mut l),
        Err(e) => println!("stilts: not run ({e:#})"),
    }
    print_lines(&lines, rows);
    println!("skyql peak resident memory: {:.0} MB", peak as f64 / 1e6);
    Ok(())
}

/// skyql's exports of the synthetic result in every format.
fn time_skyql(opts: &BenchOptions, rows: usize, dir: &Path) -> Result<Vec<Line>> {
    let batches = synthetic_result(rows)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let engine = Engine::open(None, EngineOptions::default())?;
    let ctx = rt.block_on(engine.session(&[]))?;
    let mut lines = Vec::new();
    let formats = [
        (OutputFormat::Votable, "votable-tabledata", "vot"),
        (OutputFormat::VotableBinary2, "votable-binary2", "b2.vot"),
        (OutputFormat::Csv, "csv", "csv"),
        (OutputFormat::Fits, "fits", "fits"),
        (OutputFormat::Parquet, "parquet", "parquet"),
    ];
    for (format, label, ext) in formats {
        let path = dir.join(format!("skyql.{ext}"));
        let (times, written) = time_after_setup(
            opts.repetitions,
            || remove(&path),
            || {
                let df = ctx.read_batches(batches.clone())?;
                let summary = rt.block_on(write_result(
                    df,
                    format,
                    Some(&path),
                    &ExportOptions::default(),
                ))?;
                Ok(summary.rows)
            },
        )?;
        if written != rows as u64 {
            bail!("{label}: {written} rows written, {rows} expected");
        }
        let (median, min, max) = summary(times);
        lines.push(Line {
            tool: "skyql",
            format: label,
            median,
            min,
            max,
            bytes: std::fs::metadata(&path)?.len(),
        });
    }
    Ok(lines)
}

/// Removes `path`, the file the next timed run writes anew.
fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))
}

/// TABLEDATA written by whole `skyql query` processes (this executable) from the Parquet
/// file of the in-process runs: start-up, reading and writing, as a user runs it.
fn time_whole_process(opts: &BenchOptions, rows: usize, dir: &Path) -> Result<Line> {
    let mut table = std::ffi::OsString::from("result=");
    table.push(dir.join("skyql.parquet"));
    let output = dir.join("whole-process.vot");
    let arg = std::ffi::OsStr::new;
    let args = [
        arg("query"),
        arg("--table"),
        &table,
        arg("--format"),
        arg("votable"),
        arg("--output"),
        output.as_os_str(),
        arg("SELECT * FROM result"),
    ];
    let (times, _) = time_after_setup(opts.repetitions, || remove(&output), || run_skyql(&args))?;
    let text = std::fs::read_to_string(&output)?;
    let written = text.matches("<TR>").count();
    if written != rows {
        bail!("whole process: {written} rows written, {rows} expected");
    }
    let (median, min, max) = summary(times);
    Ok(Line {
        tool: "skyql",
        format: WHOLE_PROCESS,
        median,
        min,
        max,
        bytes: text.len() as u64,
    })
}

/// The label of the whole-process TABLEDATA line.
const WHOLE_PROCESS: &str = "tabledata-process";

/// The table of timings, then the reference tools' ratios to skyql.
fn print_lines(lines: &[Line], rows: usize) {
    println!(
        "{:<8} {:<18} {:>10} {:>22} {:>12} {:>14}",
        "tool", "format", "median", "min - max", "MB", "rows/s"
    );
    for l in lines {
        println!(
            "{:<8} {:<18} {:>9.3}s {:>10.3}s - {:>7.3}s {:>12.1} {:>14.0}",
            l.tool,
            l.format,
            l.median,
            l.min,
            l.max,
            l.bytes as f64 / 1e6,
            rows as f64 / l.median
        );
    }
    let median = |tool: &str, format: &str| {
        lines
            .iter()
            .find(|l| l.tool == tool && l.format == format)
            .map(|l| l.median)
    };
    for format in ["votable-tabledata", "votable-binary2", "csv"] {
        for tool in ["astropy", "stilts"] {
            if let (Some(ours), Some(theirs)) = (median("skyql", format), median(tool, format)) {
                println!("ratio {tool} / skyql, {format}: {:.0}x", theirs / ours);
            }
        }
    }
    for tool in ["astropy", "stilts"] {
        let theirs = median(tool, "votable-tabledata");
        if let (Some(ours), Some(theirs)) = (median("skyql", WHOLE_PROCESS), theirs) {
            println!(
                "ratio {tool} / skyql, votable-tabledata, skyql's whole process: {:.0}x",
                theirs / ours
            );
        }
    }
}

fn astropy(opts: &BenchOptions, csv: &Path, dir: &Path, reps: usize) -> Result<Vec<Line>> {
    let script = format!(
        r#"
import os, time
from astropy.table import Table
from astropy.io.votable import from_table
t = Table.read({csv:?}, format="ascii.csv")
for fmt in ("tabledata", "binary2"):
    path = os.path.join({dir:?}, "astropy." + fmt + ".vot")
    times = []
    for _ in range({reps}):
        if os.path.exists(path):
            os.remove(path)
        start = time.perf_counter()
        from_table(t).to_xml(path, tabledata_format=fmt)
        times.append(time.perf_counter() - start)
    times.sort()
    print(fmt, times[len(times) // 2], times[0], times[-1], os.path.getsize(path))
"#,
        csv = csv.display().to_string(),
        dir = dir.display().to_string(),
    );
    let stdout = run_python(&opts.python, &script, b"")?;
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 5 {
            continue;
        }
        let num = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
        lines.push(Line {
            tool: "astropy",
            format: if f[0] == "tabledata" {
                "votable-tabledata"
            } else {
                "votable-binary2"
            },
            median: num(1),
            min: num(2),
            max: num(3),
            bytes: num(4) as u64,
        });
    }
    if lines.len() != 2 {
        bail!("unexpected output from the astropy script");
    }
    Ok(lines)
}

fn stilts(opts: &BenchOptions, csv: &Path, dir: &Path, reps: usize) -> Result<Vec<Line>> {
    let mut lines = Vec::new();
    for (format, ofmt, ext) in [
        ("votable-tabledata", "votable-tabledata", "vot"),
        ("votable-binary2", "votable-binary2-inline", "b2.vot"),
        ("csv", "csv", "csv"),
    ] {
        let out: PathBuf = dir.join(format!("stilts.{ext}"));
        // Every run starts a new JVM, as a user's does: no warm-up.
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            if out.exists() {
                std::fs::remove_file(&out)?;
            }
            let start = Instant::now();
            let run = Command::new(&opts.stilts)
                .arg("tcopy")
                .arg(format!("in={}", csv.display()))
                .arg("ifmt=csv")
                .arg(format!("out={}", out.display()))
                .arg(format!("ofmt={ofmt}"))
                .output()
                .with_context(|| format!("cannot run {}", opts.stilts.display()))?;
            times.push(start.elapsed().as_secs_f64());
            if !run.status.success() {
                bail!("stilts failed: {}", String::from_utf8_lossy(&run.stderr));
            }
        }
        let (median, min, max) = summary(times);
        lines.push(Line {
            tool: "stilts",
            format,
            median,
            min,
            max,
            bytes: std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0),
        });
    }
    Ok(lines)
}
