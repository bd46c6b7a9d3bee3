//! `skyql bench cutout`: 64 x 64 cutouts from 2048 x 2048 16-bit images (the EROS-2 CCD
//! size) and public images of the whole CCD, through SQL as users call them, with the
//! bytes read per cutout (`rchar` of /proc/self/io) to show that only the region is read;
//! then the same cutouts through the service's SODA (`/soda/sync`), one client on
//! loopback: the latency of each, first cut (and kept in the SODA cache), then served again
//! from the cache.

use std::path::Path;
use std::sync::Arc;

use crate::engine::{Engine, EngineOptions};
use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use skyql_udfs::images::fits_io::{KeyValue, Pixels, write_image};

use super::service::{exchange, percentile_ms, start_skyql};
use super::{BenchOptions, run_skyql, summary, time};
use crate::demo::rng::Rng;

/// Side of the benchmark images (an EROS-2 CCD).
const SIDE: i64 = 2048;
/// Side of the cutouts.
const CUT: i64 = 64;

/// Bytes read by this process so far (`rchar`: every read call, cached or not).
fn bytes_read() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find(|l| l.starts_with("rchar:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Writes a 2048 x 2048 unsigned 16-bit image with a TAN WCS (0.6 arcsec pixels).
fn write_source(path: &Path, seed: u64) -> Result<()> {
    let mut rng = Rng::new(seed, &[]);
    let n = (SIDE * SIDE) as usize;
    let values: Vec<i16> = (0..n)
        .map(|_| (1000.0 + 30.0 * rng.normal() - 32768.0) as i16)
        .collect();
    let mut pixels = Pixels::I16(values);
    let s = 0.6 / 3600.0;
    let keys: Vec<(String, KeyValue, String)> = vec![
        ("BZERO".into(), KeyValue::Real(32768.0), "".into()),
        ("BSCALE".into(), KeyValue::Real(1.0), "".into()),
        (
            "CTYPE1".into(),
            KeyValue::Text("RA---TAN".into()),
            "".into(),
        ),
        (
            "CTYPE2".into(),
            KeyValue::Text("DEC--TAN".into()),
            "".into(),
        ),
        ("CRVAL1".into(), KeyValue::Real(80.0), "".into()),
        ("CRVAL2".into(), KeyValue::Real(-69.0), "".into()),
        ("CRPIX1".into(), KeyValue::Real(1024.5), "".into()),
        ("CRPIX2".into(), KeyValue::Real(1024.5), "".into()),
        ("CD1_1".into(), KeyValue::Real(-s), "".into()),
        ("CD1_2".into(), KeyValue::Real(0.0), "".into()),
        ("CD2_1".into(), KeyValue::Real(0.0), "".into()),
        ("CD2_2".into(), KeyValue::Real(s), "".into()),
        ("EXPTIME".into(), KeyValue::Real(300.0), "".into()),
    ];
    write_image(path, [SIDE, SIDE], &mut pixels, &[], &keys).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs the benchmark.
pub fn bench_cutout(opts: &BenchOptions) -> Result<()> {
    super::in_scratch_dir("cutout", |dir| run(opts, dir))
}

fn run(opts: &BenchOptions, dir: &Path) -> Result<()> {
    let n_images = 4;
    let n_cutouts = opts.rows.unwrap_or(1000).clamp(1, 100_000);
    let mut sources = Vec::new();
    for k in 0..n_images {
        let p = dir.join(format!("ccd{k}.fits"));
        write_source(&p, k as u64)?;
        sources.push(p);
    }
    let file_size = std::fs::metadata(&sources[0])?.len();
    println!(
        "cutout: {n_cutouts} cutouts of {CUT} x {CUT} pixels from {n_images} images of {SIDE} x {SIDE} \
         (16-bit, {:.1} MB each), {} repetitions after a warm-up, 2 threads",
        file_size as f64 / 1e6,
        opts.repetitions
    );
    let engine = Engine::open(
        None,
        EngineOptions {
            output_root: Some(dir.join("out")),
            overwrite: true,
            ..EngineOptions::default()
        },
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ctx = rt.block_on(engine.session(&[]))?;
    ctx.register_batch("targets", targets(&sources, n_cutouts)?)?;
    let count = |sql: String| -> Result<usize> {
        rt.block_on(async {
            let batches = ctx.sql(&sql).await?.collect().await?;
            Ok::<usize, anyhow::Error>(
                batches
                    .iter()
                    .map(|b| b.column(0).len() - b.column(0).null_count())
                    .sum(),
            )
        })
    };
    bench_cutouts(opts, &count, n_cutouts, file_size)?;
    bench_public_images(opts, &count, n_images)?;
    bench_soda(&rt, dir, &sources, n_cutouts.min(500))?;
    let check = dir.join("out/cut/1.fits");
    std::fs::metadata(&check).with_context(|| format!("no cutout at {}", check.display()))?;
    Ok(())
}

/// Random centres, anywhere on the images (some cutouts cross an edge).
fn targets(sources: &[std::path::PathBuf], n_cutouts: usize) -> Result<RecordBatch> {
    let n_images = sources.len();
    let mut rng = Rng::new(7, &[]);
    let s = 0.6 / 3600.0;
    let (mut paths, mut ras, mut decs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n_cutouts {
        paths.push(sources[i % n_images].display().to_string());
        let (x, y) = (rng.range(0.0, SIDE as f64), rng.range(0.0, SIDE as f64));
        // Small offsets from the tangent point: plane coordinates are nearly degrees.
        let dec = -69.0 + (y - 1024.5) * s;
        let ra = 80.0 - (x - 1024.5) * s / (-69.0f64).to_radians().cos();
        ras.push(ra);
        decs.push(dec);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("ra", DataType::Float64, false),
        Field::new("dec", DataType::Float64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(paths)),
            Arc::new(Float64Array::from(ras)),
            Arc::new(Float64Array::from(decs)),
        ],
    )?)
}

/// Times the cutouts and measures the bytes they read.
fn bench_cutouts(
    opts: &BenchOptions,
    count: &dyn Fn(String) -> Result<usize>,
    n_cutouts: usize,
    file_size: u64,
) -> Result<()> {
    let cut_sql = format!(
        "SELECT cutout(path, ra, dec, {CUT}, 'cut/' || CAST(ROW_NUMBER() OVER () AS VARCHAR) || '.fits') FROM targets"
    );
    let before = bytes_read().unwrap_or(0);
    let (times, written) = time(opts.repetitions, || count(cut_sql.clone()))?;
    let read = bytes_read().unwrap_or(0) - before;
    if written != n_cutouts {
        bail!("{written} cutouts written, {n_cutouts} expected");
    }
    let per_cutout = read as f64 / ((opts.repetitions + 1) * n_cutouts) as f64;
    let (median, lo, hi) = summary(times);
    println!(
        "cutouts: median {median:.3} s ({lo:.3} - {hi:.3} s), {:.0} cutouts/s; {:.0} bytes read \
         per cutout ({:.2}% of the {:.1} MB image; the region itself is {} bytes)",
        n_cutouts as f64 / median,
        per_cutout,
        100.0 * per_cutout / file_size as f64,
        file_size as f64 / 1e6,
        CUT * CUT * 2
    );

    Ok(())
}

/// Public images: the whole CCD rewritten with a WCS.
fn bench_public_images(
    opts: &BenchOptions,
    count: &dyn Fn(String) -> Result<usize>,
    n_images: usize,
) -> Result<()> {
    let public_sql = "SELECT public_image(path, wcs_from_fits(path), 'public/' || \
        regexp_replace(path, '.*/', '')) FROM (SELECT DISTINCT path FROM targets)"
        .to_string();
    let before = bytes_read().unwrap_or(0);
    let (times, written) = time(opts.repetitions, || count(public_sql.clone()))?;
    let read = bytes_read().unwrap_or(0) - before;
    if written != n_images {
        bail!("{written} public images written, {n_images} expected");
    }
    let (median, lo, hi) = summary(times);
    println!(
        "public images: median {median:.3} s ({lo:.3} - {hi:.3} s) for {n_images}, {:.1} images/s, \
         {:.1} MB read per image",
        n_images as f64 / median,
        read as f64 / ((opts.repetitions + 1) * n_images) as f64 / 1e6
    );
    Ok(())
}

/// SODA cutouts of `n` random 64 x 64 pixel boxes of the `sources`, ingested into a
/// catalogue served on loopback: the latency of each request, cut then cached.
fn bench_soda(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    sources: &[std::path::PathBuf],
    n: usize,
) -> Result<()> {
    let catalog = dir.join("catalog");
    let mut args: Vec<std::ffi::OsString> = vec!["ingest".into()];
    args.extend(sources.iter().map(|s| s.as_os_str().to_owned()));
    args.extend(["--catalog".into(), catalog.as_os_str().to_owned()]);
    run_skyql(&args)?;
    let mut server = start_skyql(&catalog)?;
    let mut rng = Rng::new(11, &[]);
    let requests: Vec<String> = (0..n)
        .map(|i| {
            let name = sources[i % sources.len()]
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let x = 1 + (rng.range(0.0, (SIDE - CUT) as f64) as i64);
            let y = 1 + (rng.range(0.0, (SIDE - CUT) as f64) as i64);
            format!(
                "GET /soda/sync?ID={name}&PIXEL_1={x}%20{}&PIXEL_2={y}%20{} HTTP/1.1\r\nHost: {}\r\n\r\n",
                x + CUT - 1,
                y + CUT - 1,
                server.addr
            )
        })
        .collect();
    let addr = server.addr.clone();
    let run = |label: &str| -> Result<()> {
        let latencies = rt.block_on(async {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let mut conn = tokio::io::BufReader::with_capacity(64 * 1024, stream);
            let mut out = Vec::with_capacity(requests.len());
            for r in &requests {
                let t = std::time::Instant::now();
                let (status, body, _) = exchange(&mut conn, r).await?;
                out.push(t.elapsed().as_secs_f64());
                if status != 200 || !body.starts_with(b"SIMPLE  =") {
                    bail!(
                        "SODA answered {status} to {}",
                        r.lines().next().unwrap_or("")
                    );
                }
            }
            Ok::<_, anyhow::Error>(out)
        })?;
        let mut sorted = latencies;
        sorted.sort_by(f64::total_cmp);
        let pct = |p: f64| percentile_ms(&sorted, p * 100.0);
        println!(
            "SODA {CUT} x {CUT} cutouts, {label}: {} requests, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms (one client, loopback)",
            sorted.len(),
            pct(0.5),
            pct(0.9),
            pct(0.99)
        );
        Ok(())
    };
    let outcome = run("cut and cached").and_then(|()| run("from the cache"));
    server.stop();
    outcome
}
