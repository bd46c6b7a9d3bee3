//! `skyql bench pix2sky`: pixel-to-sky and sky-to-pixel transforms against astropy, on real
//! TAN-SIP headers of order 2 and 4.

use std::sync::Arc;

use crate::engine::{Engine, EngineOptions};
use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::datasource::MemTable;
use skyql_udfs::fits_card::{Card, parse_header_text};
use skyql_udfs::wcs::{PreparedWcs, Wcs};

use super::{BenchOptions, compared, run_python, run_skyql, summary, time};

/// A real header of the benchmark.
struct Case {
    label: &'static str,
    file: &'static str,
    header: &'static str,
}

const CASES: [Case; 2] = [
    Case {
        label: "Apogee Alta CCD, TAN-SIP of order 2, 100 x 50 pixels",
        file: "ApogeeAlta_SIP.hdr",
        header: include_str!("../../udfs/tests/data/wcs/ApogeeAlta_SIP.hdr"),
    },
    Case {
        label: "PTF survey CCD, TAN-SIP of order 4, 2048 x 4096 pixels",
        file: "PTF_SIP4.hdr",
        header: include_str!("../../udfs/tests/data/wcs/PTF_SIP4.hdr"),
    },
];

/// The two low-discrepancy sequences of the points (fractional parts of i x these).
const STEP_X: f64 = 0.618_033_988_749_894_9;
const STEP_Y: f64 = 0.754_877_666_246_692_7;

/// Where the points lie: pixels `1..=naxis` on each axis, and on the sky the box of RA
/// and Dec that the image's corners span.
struct Footprint {
    naxis: [f64; 2],
    ra: [f64; 2],
    dec: [f64; 2],
}

impl Footprint {
    fn of(case: &Case, cards: &[Card], wcs: &PreparedWcs) -> Result<Self> {
        let axis = |k: &str| {
            cards
                .iter()
                .find(|c| c.keyword == k)
                .and_then(|c| c.value.as_f64())
                .with_context(|| format!("{}: no {k}", case.file))
        };
        let naxis = [axis("NAXIS1")?, axis("NAXIS2")?];
        let corners = [
            (1.0, 1.0),
            (naxis[0], 1.0),
            (1.0, naxis[1]),
            (naxis[0], naxis[1]),
        ]
        .map(|(x, y)| wcs.pix2sky(x, y));
        let corners: Vec<(f64, f64)> = corners.into_iter().flatten().collect();
        if corners.len() != 4 {
            bail!("{}: a corner of the image is off the sky", case.file);
        }
        // RA relative to the first corner, so that a box across RA 0 stays one box.
        let ra0 = corners[0].0;
        let rel: Vec<f64> = corners
            .iter()
            .map(|(ra, _)| (ra - ra0 + 180.0).rem_euclid(360.0) - 180.0 + ra0)
            .collect();
        let span = |v: &mut dyn Iterator<Item = f64>| {
            v.fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], x| {
                [lo.min(x), hi.max(x)]
            })
        };
        Ok(Footprint {
            naxis,
            ra: span(&mut rel.into_iter()),
            dec: span(&mut corners.iter().map(|c| c.1)),
        })
    }

    /// Pixel i (1-based FITS pixels).
    fn pixel(&self, i: usize) -> (f64, f64) {
        let (fx, fy) = fractions(i);
        (
            1.0 + (self.naxis[0] - 1.0) * fx,
            1.0 + (self.naxis[1] - 1.0) * fy,
        )
    }

    /// Sky position i, degrees.
    fn sky(&self, i: usize) -> (f64, f64) {
        let (fx, fy) = fractions(i);
        (
            self.ra[0] + (self.ra[1] - self.ra[0]) * fx,
            self.dec[0] + (self.dec[1] - self.dec[0]) * fy,
        )
    }

    /// The same points as SQL expressions over `range(n)`'s `value`.
    fn sql_points(&self, sky: bool) -> (String, String) {
        let frac = |step: f64| format!("(value * {step:?} - floor(value * {step:?}))");
        let (base, width) = if sky {
            (
                [self.ra[0], self.dec[0]],
                [self.ra[1] - self.ra[0], self.dec[1] - self.dec[0]],
            )
        } else {
            ([1.0, 1.0], [self.naxis[0] - 1.0, self.naxis[1] - 1.0])
        };
        (
            format!("{:?} + {:?} * {}", base[0], width[0], frac(STEP_X)),
            format!("{:?} + {:?} * {}", base[1], width[1], frac(STEP_Y)),
        )
    }

    /// The same points as numpy expressions over `i = np.arange(n)`.
    fn numpy_points(&self, sky: bool) -> (String, String) {
        let (x, y) = self.sql_points(sky);
        let numpy = |e: String| e.replace("floor(", "np.floor(").replace("value", "i");
        (numpy(x), numpy(y))
    }
}

fn fractions(i: usize) -> (f64, f64) {
    let v = i as f64;
    (
        v * STEP_X - (v * STEP_X).floor(),
        v * STEP_Y - (v * STEP_Y).floor(),
    )
}

/// `skyql bench pix2sky`: for each header, 10^6 points by the prepared transform, through
/// SQL in this process, by a whole `skyql query` process, and by astropy in the same run.
pub fn bench_pix2sky(opts: &BenchOptions) -> Result<()> {
    if opts.points == 0 {
        bail!("--points must be at least 1");
    }
    super::in_scratch_dir("pix2sky", |dir| {
        for case in &CASES {
            bench_case(opts, case, dir)?;
            println!();
        }
        Ok(())
    })
}

fn bench_case(opts: &BenchOptions, case: &Case, dir: &std::path::Path) -> Result<()> {
    let n = opts.points;
    let cards = parse_header_text(case.header);
    let wcs = Wcs::from_cards(&cards)?.prepare()?;
    let footprint = Footprint::of(case, &cards, &wcs)?;
    println!(
        "{}: {n} points, {} repetitions after a warm-up",
        case.label, opts.repetitions
    );
    let pixels: Vec<(f64, f64)> = (0..n).map(|i| footprint.pixel(i)).collect();
    let skies: Vec<(f64, f64)> = (0..n).map(|i| footprint.sky(i)).collect();
    let rate = |t: f64| n as f64 / t / 1e6;
    println!(
        "{:<46} {:>9} {:>22} {:>10}",
        "implementation", "median", "min - max", "Mpoints/s"
    );
    let row = |label: &str, times: Vec<f64>| {
        let (m, lo, hi) = summary(times);
        println!(
            "{label:<46} {m:>8.3}s {lo:>10.3}s - {hi:>7.3}s {:>10.2}",
            rate(m)
        );
        m
    };

    // Pixel to sky.
    let (t, sum_core) = time_transform(opts, &pixels, |x, y| wcs.pix2sky(x, y))?;
    let core = row("skyql pix2sky, the transform (1 core)", t);
    let (t, sum_sql) = time_sql(opts, case, &pixels)?;
    let sql = row("skyql SQL pix2sky in-process, 1 partition", t);
    let query = process_query("pix2sky", "ra", footprint.sql_points(false), case, n);
    // `skyql query` runs on every core (DataFusion's partitions); astropy on one.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (t, sum_process) = time_process(opts, &query)?;
    let process = row(&format!("skyql query process, pix2sky ({cores} cores)"), t);

    // Sky to pixel.
    let (t, sum_core_inv) = time_transform(opts, &skies, |ra, dec| wcs.sky2pix(ra, dec))?;
    let core_inv = row("skyql sky2pix, the transform (1 core)", t);
    let query = process_query("sky2pix", "x", footprint.sql_points(true), case, n);
    let (t, sum_process_inv) = time_process(opts, &query)?;
    let process_inv = row(&format!("skyql query process, sky2pix ({cores} cores)"), t);

    match astropy(opts, case, &footprint, n, dir) {
        Ok(a) => {
            let m_fwd = row("astropy all_pix2world (the call, 1 core)", a.pix2world);
            let m_inv = row("astropy all_world2pix (the call, 1 core)", a.world2pix);
            println!(
                "pix2sky against astropy: the transform (1 core) {}, SQL in-process (1 partition) {}, whole process ({cores} cores) {}",
                compared(m_fwd / core),
                compared(m_fwd / sql),
                compared(m_fwd / process)
            );
            println!(
                "sky2pix against astropy: the transform (1 core) {}, whole process ({cores} cores) {}",
                compared(m_inv / core_inv),
                compared(m_inv / process_inv)
            );
            println!(
                "sum of RA: skyql {sum_core:.6}, SQL {sum_sql:.6}, process {sum_process:.6}, astropy {:.6}",
                a.sum_ra
            );
            println!(
                "sum of x: skyql {sum_core_inv:.6}, process {sum_process_inv:.6}, astropy {:.6}",
                a.sum_x
            );
        }
        Err(e) => println!("astropy: not run ({e:#})"),
    }
    Ok(())
}

/// The transform on every point, one core: the timings and the sum of the first
/// coordinate of the results.
fn time_transform(
    opts: &BenchOptions,
    points: &[(f64, f64)],
    transform: impl Fn(f64, f64) -> Option<(f64, f64)>,
) -> Result<(Vec<f64>, f64)> {
    time(opts.repetitions, || {
        Ok(points
            .iter()
            .filter_map(|(a, b)| transform(*a, *b))
            .map(|(first, _)| first)
            .sum::<f64>())
    })
}

/// The whole-process query: `function` over the points computed in SQL from
/// `range(n)`, summed over the result's `field`.
fn process_query(
    function: &str,
    field: &str,
    (a, b): (String, String),
    case: &Case,
    n: usize,
) -> String {
    format!(
        "SELECT sum(p['{field}']) AS s FROM (SELECT {function}({a}, {b}, wcs_from_header('{}')) AS p FROM range({n}))",
        case.header.replace('\'', "''")
    )
}

/// `SELECT sum(pix2sky(x, y, wcs)['ra'])` over the points, in a one-partition session of
/// the engine: the timings and the sum.
fn time_sql(opts: &BenchOptions, case: &Case, pixels: &[(f64, f64)]) -> Result<(Vec<f64>, f64)> {
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
    let batches: Vec<RecordBatch> = pixels
        .chunks(65_536)
        .map(|chunk| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Float64Array::from_iter_values(chunk.iter().map(|p| p.0))),
                    Arc::new(Float64Array::from_iter_values(chunk.iter().map(|p| p.1))),
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
        case.header.replace('\'', "''")
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

/// Runs `skyql query` (this executable) on `sql` in a new process each time: the
/// timings of the whole processes and the one value the query prints.
fn time_process(opts: &BenchOptions, sql: &str) -> Result<(Vec<f64>, f64)> {
    time(opts.repetitions, || {
        let stdout = run_skyql(&["query", "--format", "csv", sql])?;
        let text = String::from_utf8_lossy(&stdout);
        text.lines()
            .last()
            .and_then(|l| l.trim().parse::<f64>().ok())
            .with_context(|| format!("unexpected output of skyql query: {text}"))
    })
}

/// astropy's timings on the same points, and its sums to compare.
struct Astropy {
    pix2world: Vec<f64>,
    world2pix: Vec<f64>,
    sum_ra: f64,
    sum_x: f64,
}

/// Times astropy's `all_pix2world` and `all_world2pix` (its default tolerance) on the
/// same points, the calls alone.
fn astropy(
    opts: &BenchOptions,
    case: &Case,
    footprint: &Footprint,
    n: usize,
    dir: &std::path::Path,
) -> Result<Astropy> {
    let path = dir.join(case.file);
    std::fs::write(&path, case.header)?;
    let (x, y) = footprint.numpy_points(false);
    let (ra, dec) = footprint.numpy_points(true);
    let script = format!(
        r#"
import time, warnings, numpy as np
from astropy.io import fits
from astropy.wcs import WCS
warnings.simplefilter("ignore")
header = fits.Header.fromstring(open({path:?}).read(), sep="\n")
w = WCS(header)
i = np.arange({n}, dtype=np.float64)
x = {x}
y = {y}
ra = {ra}
dec = {dec}
def timed(f):
    f()
    times = []
    for _ in range({reps}):
        t = time.perf_counter(); out = f(); times.append(time.perf_counter() - t)
    return times, out
t1, (r, d) = timed(lambda: w.all_pix2world(x, y, 1))
t2, (px, py) = timed(lambda: w.all_world2pix(ra, dec, 1))
print(" ".join(map(repr, t1)))
print(" ".join(map(repr, t2)))
print(float(np.nansum(r)), float(np.nansum(px)))
"#,
        path = path.display().to_string(),
        reps = opts.repetitions
    );
    let text = run_python(&opts.python, &script, b"")?;
    let lines: Vec<Vec<f64>> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .collect();
    match lines.as_slice() {
        [t1, t2, sums] if sums.len() == 2 && !t1.is_empty() && !t2.is_empty() => Ok(Astropy {
            pix2world: t1.clone(),
            world2pix: t2.clone(),
            sum_ra: sums[0],
            sum_x: sums[1],
        }),
        _ => bail!("unexpected output from the astropy script: {text}"),
    }
}
