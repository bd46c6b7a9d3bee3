//! `skyql bench pix2sky`: pixel-to-sky transforms against astropy.

use std::sync::Arc;

use crate::engine::{Engine, EngineOptions};
use anyhow::{Result, bail};
use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::datasource::MemTable;
use skyql_udfs::fits_card::parse_header_text;
use skyql_udfs::wcs::Wcs;

use super::{BenchOptions, run_python, summary, time};

/// The TAN-SIP header of the benchmark (a real CCD, from astropy's test data).
const SIP_HEADER: &str = include_str!("../../udfs/tests/data/wcs/ApogeeAlta_SIP.hdr");

/// The benchmark points: a low-discrepancy sequence over the 100 x 50 image.
fn points(n: usize) -> (Vec<f64>, Vec<f64>) {
    let x = (0..n)
        .map(|i| 1.0 + 99.0 * (i as f64 * 0.618_033_988_749_894_9).fract())
        .collect();
    let y = (0..n)
        .map(|i| 1.0 + 49.0 * (i as f64 * 0.754_877_666_246_692_7).fract())
        .collect();
    (x, y)
}

/// `skyql bench pix2sky`: 10^6 points through a real TAN-SIP header, by the prepared
/// transform, through SQL, and by astropy's `all_pix2world` in the same run.
pub fn bench_pix2sky(opts: &BenchOptions) -> Result<()> {
    let n = opts.points;
    let wcs = Wcs::from_cards(&parse_header_text(SIP_HEADER))?;
    let prepared = wcs.prepare()?;
    let (xs, ys) = points(n);
    println!(
        "pix2sky: {n} points through the Apogee Alta TAN-SIP header, {} repetitions after a warm-up",
        opts.repetitions
    );

    // 1. The transform itself, one core.
    let (t_core, sum_core) = time(opts.repetitions, || {
        let mut s = 0.0;
        for (x, y) in xs.iter().zip(&ys) {
            if let Some((ra, _)) = prepared.pix2sky(*x, *y) {
                s += ra;
            }
        }
        Ok(s)
    })?;

    // 2. Through SQL, one partition (one core): SELECT sum(pix2sky(x, y, wcs)['ra']).
    let (t_sql, sum_sql) = time_sql(opts, &xs, &ys)?;

    let rate = |t: f64| n as f64 / t / 1e6;
    let (m1, _, _) = summary(t_core.clone());
    let (m2, _, _) = summary(t_sql.clone());
    println!(
        "{:<34} {:>10} {:>22} {:>14}",
        "implementation", "median", "min - max", "Mpoints/s"
    );
    print_row("skyql PreparedWcs::pix2sky", summary(t_core), rate(m1));
    print_row("skyql SQL pix2sky, 1 partition", summary(t_sql), rate(m2));

    // 3. astropy on the same points, in the same run.
    match astropy_pix2sky(opts, n) {
        Ok((median, lo, hi, sum_astropy)) => {
            print_row("astropy all_pix2world", (median, lo, hi), rate(median));
            println!(
                "ratio astropy / skyql: {:.1} (transform), {:.1} (SQL); sum of RA: skyql {sum_core:.6}, SQL {sum_sql:.6}, astropy {sum_astropy:.6}",
                median / m1,
                median / m2
            );
        }
        Err(e) => println!("astropy: not run ({e:#})"),
    }
    Ok(())
}

fn print_row(label: &str, (median, lo, hi): (f64, f64, f64), rate: f64) {
    println!("{label:<34} {median:>9.3}s {lo:>10.3}s - {hi:>7.3}s {rate:>14.2}");
}

/// `SELECT sum(pix2sky(x, y, wcs)['ra'])` over the points, in a one-partition session of
/// the engine: the timings and the sum.
fn time_sql(opts: &BenchOptions, xs: &[f64], ys: &[f64]) -> Result<(Vec<f64>, f64)> {
    let n = xs.len();
    let engine = Engine::open(
        None,
        EngineOptions {
            target_partitions: Some(1),
            ..EngineOptions::default()
        },
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ctx = rt.block_on(engine.session(&[]))?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
    ]));
    let batches: Vec<RecordBatch> = (0..n)
        .step_by(65_536)
        .map(|start| {
            let end = (start + 65_536).min(n);
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Float64Array::from(xs[start..end].to_vec())),
                    Arc::new(Float64Array::from(ys[start..end].to_vec())),
                ],
            )
        })
        .collect::<Result<_, _>>()?;
    ctx.register_table(
        "points",
        Arc::new(MemTable::try_new(schema, vec![batches])?),
    )?;
    let sql = format!(
        "SELECT sum(pix2sky(x, y, wcs_from_header('{}'))['ra']) AS s FROM points",
        SIP_HEADER.replace('\'', "''")
    );
    time(opts.repetitions, || {
        rt.block_on(async {
            let out = ctx.sql(&sql).await?.collect().await?;
            let col = out[0].column(0).as_primitive::<Float64Type>();
            Ok(if col.is_null(0) {
                f64::NAN
            } else {
                col.value(0)
            })
        })
    })
}

/// Times astropy's `all_pix2world` on the same points; (median, min, max, sum of RA).
fn astropy_pix2sky(opts: &BenchOptions, n: usize) -> Result<(f64, f64, f64, f64)> {
    let script = format!(
        r#"
import time, numpy as np
from astropy.io import fits
from astropy.wcs import WCS
header = fits.Header.fromstring(open({hdr:?}).read(), sep="\n")
w = WCS(header)
i = np.arange({n}, dtype=np.float64)
x = 1.0 + 99.0 * np.modf(i * 0.6180339887498949)[0]
y = 1.0 + 49.0 * np.modf(i * 0.7548776662466927)[0]
ra, dec = w.all_pix2world(x, y, 1)
times = []
for _ in range({reps}):
    t = time.perf_counter(); ra, dec = w.all_pix2world(x, y, 1); times.append(time.perf_counter() - t)
times.sort()
print(times[len(times) // 2], times[0], times[-1], float(np.nansum(ra)))
"#,
        hdr = std::env::temp_dir()
            .join("skyql-bench-sip.hdr")
            .display()
            .to_string(),
        n = n,
        reps = opts.repetitions
    );
    std::fs::write(std::env::temp_dir().join("skyql-bench-sip.hdr"), SIP_HEADER)?;
    let text = run_python(&opts.python, &script, b"")?;
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    if v.len() != 4 {
        bail!("unexpected output from the astropy script: {text}");
    }
    Ok((v[0], v[1], v[2], v[3]))
}
