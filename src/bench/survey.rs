//! `skyql bench survey --catalog DIR`: the survey-scale workloads, each run by skyql and,
//! when Python with `duckdb` is available, by DuckDB over the same Parquet files in the
//! same run.
//!
//! Workloads (warm cache, one warm-up, then repetitions; median and spread):
//! - `lightcurve`: one star's light curve, a different random star each time;
//! - `lightcurves_1000`: the light curves of 1,000 stars listed in a table;
//! - `quarters`: `sql/quarters_most_measurements.sql`;
//! - `cone_1arcmin`, `cone_10arcmin`: stars in a cone, against the same count by a full
//!   scan (`ang_sep` filter: no HEALPix pruning) and DuckDB's haversine;
//! - `xmatch_1arcsec`: one field's stars against a tenth of them shifted by 0.3 arcsec, all
//!   pairs within 1 arcsec (a spatial join), beside DuckDB's declination-band join;
//! - `field_by_subquery`: per-star count and mean over the field a scalar subquery names
//!   (`field = (SELECT min(field) FROM measurements)`);
//! - `lc_stats_field`: per-star statistics over one field (skyql `lc_stats`; DuckDB the
//!   same statistics with its own aggregates, `MEDIAN` and `MAD` included), last because
//!   of its memory;
//! - `lc_stats_top20`: per-star statistics over the whole catalogue, the 20 stars of
//!   largest scatter (DuckDB without `MEDIAN` and `MAD`);
//! - `memory_limit`: the quarters query under a 16 MB memory limit: it spills or fails
//!   with an error, the process is never killed.
//!
//! Peak memory per workload: VmHWM of the process (skyql, and DuckDB's Python process),
//! reset before each workload through /proc/self/clear_refs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::prelude::SessionContext;

use super::{BenchOptions, peak_rss_bytes, run_python, summary};
use crate::catalog::Catalog;
use crate::demo::rng::Rng;
use crate::engine::{Engine, EngineOptions};
use crate::named_queries::named_query;

/// One workload: its name and the SQL of each repetition for skyql and for DuckDB.
struct Workload {
    name: &'static str,
    skyql: Vec<String>,
    duckdb: Vec<String>,
}

/// Times of one engine on one workload.
#[derive(Debug, Clone, Copy)]
struct Timing {
    median: f64,
    min: f64,
    max: f64,
    rows: usize,
    /// Peak resident memory of the process during the workload, bytes.
    peak: u64,
}

async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<usize> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(batches.iter().map(RecordBatch::num_rows).sum())
}

/// Resets this process's peak resident memory (VmHWM), so that it measures one workload.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs `sqls` once as a warm-up, then each as one timed repetition; the peak memory is
/// that of the workload alone.
async fn time_sqls(ctx: &SessionContext, sqls: &[String]) -> Result<Timing> {
    reset_peak();
    run_sql(ctx, &sqls[0]).await?;
    let mut times = Vec::with_capacity(sqls.len());
    let mut rows = 0;
    for sql in sqls {
        let start = Instant::now();
        rows = run_sql(ctx, sql).await?;
        times.push(start.elapsed().as_secs_f64());
    }
    let (median, min, max) = summary(times);
    Ok(Timing {
        median,
        min,
        max,
        rows,
        peak: peak_rss_bytes().unwrap_or(0),
    })
}

async fn scalar_f64(ctx: &SessionContext, sql: &str) -> Result<f64> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let b = batches.first().context("no result")?;
    let col = datafusion::arrow::compute::cast(b.column(0), &DataType::Float64)?;
    Ok(col.as_primitive::<Float64Type>().value(0))
}

/// Runs the survey benchmark on `catalog`.
pub fn bench_survey(opts: &BenchOptions, catalog_dir: &Path) -> Result<()> {
    let catalog = Catalog::open(catalog_dir)?;
    let version_dir = catalog.version_dir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let engine = Engine::new(Some(catalog.clone()), EngineOptions::default())?;
    let ctx = rt.block_on(engine.session(&[]))?;
    let reps = opts.repetitions.max(1);
    rt.block_on(async {
        let n_meas = scalar_f64(&ctx, "SELECT COUNT(*) FROM measurements").await?;
        let n_stars = scalar_f64(&ctx, "SELECT COUNT(*) FROM stars").await?;
        println!(
            "survey: {} ({} measurements, {} stars), repetitions: 100 light curves, {reps} otherwise",
            catalog_dir.display(),
            n_meas as u64,
            n_stars as u64
        );
        let workloads = workloads(&ctx, n_meas > 0.0, reps).await?;
        let mut lines = Vec::new();
        for w in &workloads {
            let t = time_sqls(&ctx, &w.skyql).await?;
            lines.push((w.name, t));
        }
        let duck = duckdb(opts, &version_dir, &workloads);
        print_results(&lines, &duck);
        if let Some(Err(e)) = &duck {
            println!("duckdb: not run ({e:#})");
        }
        Ok::<(), anyhow::Error>(())
    })?;
    if let Ok(binary) = std::env::current_exe() {
        memory_limit(&binary, catalog_dir)?;
    }
    Ok(())
}

async fn workloads(
    ctx: &SessionContext,
    with_measurements: bool,
    reps: usize,
) -> Result<Vec<Workload>> {
    let mut out = Vec::new();
    // Stars with light curves, in a deterministic random order.
    let ids = if with_measurements {
        star_ids(ctx).await?
    } else {
        Vec::new()
    };
    if !ids.is_empty() {
        out.extend(light_curve_workloads(ctx, &ids, reps)?);
    }
    out.extend(cone_workloads(ctx, reps).await?);
    out.extend(xmatch_workload(ctx, reps).await?);
    // Run last: their samples raise the process's resident memory for what follows.
    if let Some(first) = ids.first() {
        out.push(field_subquery_workload(reps));
        out.push(lc_stats_workload(first.get(..5).unwrap_or("lm001"), reps));
        out.push(lc_stats_top_workload(reps));
    }
    Ok(out)
}

/// The ids of the stars with light curves, in id order.
async fn star_ids(ctx: &SessionContext) -> Result<Vec<String>> {
    let batches = ctx
        .sql("SELECT star_id FROM stars WHERE n_r + n_b > 0 ORDER BY star_id")
        .await?
        .collect()
        .await?;
    let mut ids: Vec<String> = Vec::new();
    for b in &batches {
        let col = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let s = col.as_string::<i32>();
        ids.extend((0..s.len()).map(|i| s.value(i).to_string()));
    }
    Ok(ids)
}

/// One light curve (100 random stars), the light curves of 1,000 stars listed in a table,
/// and the quarters query.
fn light_curve_workloads(
    ctx: &SessionContext,
    ids: &[String],
    reps: usize,
) -> Result<Vec<Workload>> {
    let mut out = Vec::new();
    let mut rng = Rng::new(42, &[]);
    let pick: Vec<&String> = (0..100).map(|_| &ids[rng.below(ids.len())]).collect();
    let lc = |id: &str| {
        format!(
            "SELECT mjd, colour, mag, mag_err FROM measurements WHERE star_id = '{id}' ORDER BY mjd, colour"
        )
    };
    let sqls: Vec<String> = pick.iter().map(|id| lc(id)).collect();
    out.push(Workload {
        name: "lightcurve",
        skyql: sqls.clone(),
        duckdb: sqls,
    });
    let targets: Vec<String> = (0..1000.min(ids.len()))
        .map(|_| ids[rng.below(ids.len())].clone())
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "star_id",
            DataType::Utf8,
            false,
        )])),
        vec![Arc::new(StringArray::from(targets.clone()))],
    )?;
    ctx.register_batch("targets", batch)?;
    // The same ids for DuckDB, as a literal table.
    let values = targets
        .iter()
        .map(|t| format!("('{t}')"))
        .collect::<Vec<_>>()
        .join(",");
    let sql = "SELECT m.star_id, m.mjd, m.colour, m.mag, m.mag_err FROM measurements m \
               JOIN targets t ON m.star_id = t.star_id"
        .to_string();
    out.push(Workload {
        name: "lightcurves_1000",
        skyql: vec![sql.clone(); reps],
        duckdb: std::iter::once(format!(
            "CREATE OR REPLACE TEMP TABLE targets AS SELECT * FROM (VALUES {values}) v(star_id)"
        ))
        .chain(std::iter::repeat_n(sql, reps))
        .collect(),
    });
    let quarters = named_query("quarters_most_measurements")
        .context("no quarters query")?
        .to_string();
    out.push(Workload {
        name: "quarters",
        skyql: vec![quarters.clone(); reps],
        duckdb: vec![quarters; reps],
    });
    Ok(out)
}

/// Cones of 1 and 10 arcminutes around a star of the catalogue (a deterministic choice),
/// each also as a full scan.
async fn cone_workloads(ctx: &SessionContext, reps: usize) -> Result<Vec<Workload>> {
    let mut out = Vec::new();
    let centre = ctx
        .sql("SELECT ra, dec FROM stars ORDER BY star_id LIMIT 1 OFFSET 7")
        .await?
        .collect()
        .await?;
    if let Some(b) = centre.first().filter(|b| b.num_rows() > 0) {
        let ra = b.column(0).as_primitive::<Float64Type>().value(0);
        let dec = b.column(1).as_primitive::<Float64Type>().value(0);
        for (name, arcmin) in [("cone_1arcmin", 1.0), ("cone_10arcmin", 10.0)] {
            let r = arcmin / 60.0;
            let cone = format!(
                "SELECT star_id, ra, dec FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, {r})"
            );
            let scan = format!(
                "SELECT star_id, ra, dec FROM stars WHERE ang_sep(ra, dec, {ra}, {dec}) <= {r}"
            );
            let haversine = format!(
                "SELECT star_id, ra, dec FROM stars WHERE 2 * asin(sqrt(pow(sin(radians(dec - {dec}) / 2), 2) \
                 + cos(radians(dec)) * cos(radians({dec})) * pow(sin(radians(ra - {ra}) / 2), 2))) \
                 <= radians({r})"
            );
            out.push(Workload {
                name,
                skyql: vec![cone; reps],
                duckdb: vec![haversine; reps],
            });
            out.push(Workload {
                name: if arcmin == 1.0 {
                    "cone_1arcmin_full_scan"
                } else {
                    "cone_10arcmin_full_scan"
                },
                skyql: vec![scan; reps],
                duckdb: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// A cross-match at 1 arcsec: one field's stars against a tenth of them shifted by 0.3
/// arcsec (the spatial join); DuckDB with a declination band and the haversine.
async fn xmatch_workload(ctx: &SessionContext, reps: usize) -> Result<Option<Workload>> {
    let first = ctx
        .sql("SELECT min(field) FROM stars")
        .await?
        .collect()
        .await?;
    let Some(field) = first
        .first()
        .filter(|b| b.num_rows() > 0 && b.column(0).is_valid(0))
        .map(|b| datafusion::arrow::util::display::array_value_to_string(b.column(0), 0))
        .transpose()?
    else {
        return Ok(None);
    };
    let r = 1.0 / 3600.0;
    let sides = format!(
        "WITH a AS (SELECT star_id, ra, dec FROM stars WHERE field = '{field}'), \
         b AS (SELECT star_id, ra + 0.3 / 3600 AS ra, dec FROM stars \
         WHERE field = '{field}' AND healpix % 10 = 0) SELECT count(*) AS pairs FROM a JOIN b ON "
    );
    let skyql = format!("{sides} ang_sep(a.ra, a.dec, b.ra, b.dec) < {r}");
    let duckdb = format!(
        "{sides} b.dec BETWEEN a.dec - {r} AND a.dec + {r} AND 2 * asin(sqrt(pow(sin(radians(b.dec - a.dec) / 2), 2) \
         + cos(radians(a.dec)) * cos(radians(b.dec)) * pow(sin(radians(b.ra - a.ra) / 2), 2))) < radians({r})"
    );
    Ok(Some(Workload {
        name: "xmatch_1arcsec",
        skyql: vec![skyql; reps],
        duckdb: vec![duckdb; reps],
    }))
}

/// Per-star mean and count over the field a scalar subquery names (the first field):
/// answered from the manifest by `partition_scalars_rule`, then pruned to that field.
fn field_subquery_workload(reps: usize) -> Workload {
    let sql = "SELECT star_id, colour, count(*) AS n, avg(mag) AS mean_mag FROM measurements \
               WHERE field = (SELECT min(field) FROM measurements) \
               GROUP BY star_id, colour ORDER BY 1, 2"
        .to_string();
    Workload {
        name: "field_by_subquery",
        skyql: vec![sql.clone(); reps],
        duckdb: vec![sql; reps],
    }
}

/// The 20 stars of largest scatter over the whole catalogue: per-star `lc_stats` (median
/// and MAD included) beside DuckDB's own aggregates without its `MEDIAN` and `MAD`, which
/// hold every sample of the survey at once (1.8 GB at 10^8).
fn lc_stats_top_workload(reps: usize) -> Workload {
    Workload {
        name: "lc_stats_top20",
        skyql: vec![
            "SELECT star_id, colour, s.n, s.std FROM (SELECT star_id, colour, \
             lc_stats(mjd, mag, mag_err) AS s FROM measurements GROUP BY star_id, colour) \
             ORDER BY s.std DESC, star_id, colour LIMIT 20"
                .to_string();
            reps
        ],
        duckdb: vec![
            "SELECT star_id, colour, COUNT(*) AS n, STDDEV_SAMP(mag) AS sd, AVG(mag), \
             SUM(mag / (mag_err * mag_err)) / SUM(1 / (mag_err * mag_err)), \
             MAX(mag) - MIN(mag), MIN(mjd), MAX(mjd) FROM measurements \
             GROUP BY star_id, colour ORDER BY sd DESC, star_id, colour LIMIT 20"
                .to_string();
            reps
        ],
    }
}

/// Per-star `lc_stats` over one field, beside DuckDB's own aggregates.
fn lc_stats_workload(field: &str, reps: usize) -> Workload {
    Workload {
        name: "lc_stats_field",
        skyql: vec![
            format!(
                "SELECT star_id, colour, lc_stats(mjd, mag, mag_err) AS s FROM measurements \
                 WHERE field = '{field}' GROUP BY star_id, colour"
            );
            reps
        ],
        duckdb: vec![
            format!(
                "SELECT star_id, colour, COUNT(*), AVG(mag), STDDEV_SAMP(mag), \
                 SUM(mag / (mag_err * mag_err)) / SUM(1 / (mag_err * mag_err)), MEDIAN(mag), \
                 MAD(mag), MAX(mag) - MIN(mag), MIN(mjd), MAX(mjd) FROM measurements \
                 WHERE field = '{field}' GROUP BY star_id, colour"
            );
            reps
        ],
    }
}

type DuckResults = std::result::Result<Vec<(String, Timing)>, anyhow::Error>;

/// Runs the workloads with DuckDB (Python) over the catalogue's Parquet files.
fn duckdb(opts: &BenchOptions, version_dir: &Path, workloads: &[Workload]) -> Option<DuckResults> {
    let spec: Vec<serde_json::Value> = workloads
        .iter()
        .filter(|w| !w.duckdb.is_empty())
        .map(|w| serde_json::json!({"name": w.name, "sqls": w.duckdb}))
        .collect();
    let dir = version_dir.display().to_string();
    let script = format!(
        r#"
import glob, json, sys, time
import duckdb
def peak():
    # VmHWM: this process's peak resident memory since the last reset (clear_refs 5).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
def reset_peak():
    try:
        open("/proc/self/clear_refs", "w").write("5")
    except OSError:
        pass
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET enable_progress_bar = false")
d = {dir:?}
for table in ("measurements", "stars"):
    if glob.glob(f"{{d}}/{{table}}/*/*.parquet"):
        con.execute(f"CREATE VIEW {{table}} AS SELECT * FROM read_parquet('{{d}}/{{table}}/*/*.parquet', hive_partitioning = true)")
con.execute(f"CREATE VIEW quarters AS SELECT * FROM read_parquet('{{d}}/quarters.parquet')")
out = []
for w in json.load(sys.stdin):
    reset_peak()
    sqls = [s for s in w["sqls"] if not s.startswith("CREATE")]
    for s in w["sqls"]:
        if s.startswith("CREATE"):
            con.execute(s)
    con.execute(sqls[0]).fetchall()
    times, rows = [], 0
    for s in sqls:
        t = time.perf_counter(); rows = len(con.execute(s).fetchall()); times.append(time.perf_counter() - t)
    times.sort()
    out.append({{"name": w["name"], "median": times[len(times) // 2], "min": times[0], "max": times[-1], "rows": rows, "peak": peak()}})
print(json.dumps({{"results": out}}))
"#
    );
    let run = || -> Result<Vec<(String, Timing)>> {
        let stdout = run_python(
            &opts.python,
            &script,
            serde_json::to_string(&spec)?.as_bytes(),
        )?;
        // The results are the last line (anything a library prints comes before).
        let last = stdout.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(last)?;
        let mut results = Vec::new();
        for r in v["results"].as_array().context("no results")? {
            results.push((
                r["name"].as_str().unwrap_or("").to_string(),
                Timing {
                    median: r["median"].as_f64().unwrap_or(f64::NAN),
                    min: r["min"].as_f64().unwrap_or(f64::NAN),
                    max: r["max"].as_f64().unwrap_or(f64::NAN),
                    rows: r["rows"].as_u64().unwrap_or(0) as usize,
                    peak: r["peak"].as_u64().unwrap_or(0),
                },
            ));
        }
        Ok(results)
    };
    Some(run())
}

fn print_results(lines: &[(&str, Timing)], duck: &Option<DuckResults>) {
    println!(
        "{:<24} {:>9} {:>20} {:>8} {:>8} {:>10} {:>8} {:>7}",
        "workload", "skyql", "min - max", "rows", "peak MB", "duckdb", "peak MB", "ratio"
    );
    for (name, t) in lines {
        let d = match duck {
            Some(Ok(results)) => results.iter().find(|(n, _)| n == name).map(|(_, t)| *t),
            _ => None,
        };
        let (dtext, dpeak, ratio) = match d {
            Some(d) => (
                format!("{:.4}s", d.median),
                format!("{:.0}", d.peak as f64 / 1e6),
                format!("{:.2}", d.median / t.median),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<24} {:>8.4}s {:>9.4}s - {:>7.4}s {:>8} {:>8.0} {:>10} {:>8} {:>7}",
            name,
            t.median,
            t.min,
            t.max,
            t.rows,
            t.peak as f64 / 1e6,
            dtext,
            dpeak,
            ratio
        );
        if let Some(d) = d
            && d.rows != t.rows
        {
            println!("  (row counts differ: skyql {}, duckdb {})", t.rows, d.rows);
        }
    }
    let find = |n: &str| {
        lines
            .iter()
            .find(|(name, _)| *name == n)
            .map(|(_, t)| t.median)
    };
    for (cone, scan) in [
        ("cone_1arcmin", "cone_1arcmin_full_scan"),
        ("cone_10arcmin", "cone_10arcmin_full_scan"),
    ] {
        if let (Some(c), Some(s)) = (find(cone), find(scan)) {
            println!("{cone}: {} than the full scan", super::compared(s / c));
        }
    }
}

/// Runs the quarters query in a child process under a 16 MB memory limit and reports
/// whether it spilled and succeeded or failed with an error (never killed).
fn memory_limit(binary: &PathBuf, catalog: &Path) -> Result<()> {
    let start = Instant::now();
    let out = Command::new(binary)
        .args(["query", "--catalog"])
        .arg(catalog)
        .args([
            "--memory-limit",
            "16M",
            "--format",
            "csv",
            "--output",
            "/dev/null",
            "SELECT star_id, colour, COUNT(*) AS n, AVG(mag) AS m FROM measurements GROUP BY star_id, colour ORDER BY m",
        ])
        .output()?;
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match (out.status.success(), out.status.code()) {
        (true, _) => println!(
            "memory_limit (16 MB, group by star + sort): completed in {secs:.2} s (spilled to disk)"
        ),
        (false, Some(code)) => println!(
            "memory_limit (16 MB, group by star + sort): failed cleanly in {secs:.2} s, exit {code}: {}",
            stderr.lines().last().unwrap_or("")
        ),
        (false, None) => bail!("memory_limit: the query process was killed by a signal"),
    }
    Ok(())
}
