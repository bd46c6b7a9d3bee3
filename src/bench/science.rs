//! `skyql bench science --catalog DIR`: the survey's science functions over a catalogue,
//! beside the tools astronomers use for one star at a time, on the same light curves in
//! the same run.
//!
//! - Whole catalogue, every core: two-colour `paczynski_fit` of every star, `lomb_scargle`
//!   (astropy's default grid) of every star and colour, and `sql/microlensing_candidates.sql`.
//! - A sample of `--rows` stars (default 100, the first by id), one core on each side,
//!   the points in memory on both: skyql's fits and periodograms (one partition, a table
//!   in memory), MulensModel's two-colour point-lens fit of each star (its `Event` chi2
//!   with fluxes solved linearly, minimised by scipy's Nelder-Mead from one start: the
//!   brightest point, u0 = 0.3, tE = 30 d) and astropy's `LombScargle(t, mag,
//!   mag_err).autopower()` of each star and colour.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::{BenchOptions, compared, run_python};
use crate::catalog::Catalog;
use crate::engine::{Engine, EngineOptions};
use crate::named_queries::named_query;

/// The reference side: reads `star_id,colour,mjd,mag,mag_err` rows (CSV, by star) on
/// standard input, prints `mulensmodel SECONDS STARS` and `astropy SECONDS CURVES`.
const REFERENCE: &str = r#"
import sys, time, warnings
import numpy as np, pandas as pd
warnings.filterwarnings("ignore")
points = pd.read_csv(sys.stdin)
from astropy.timeseries import LombScargle
started, curves = time.perf_counter(), 0
for _, g in points.groupby(["star_id", "colour"]):
    LombScargle(g.mjd.to_numpy(), g.mag.to_numpy(), g.mag_err.to_numpy()).autopower()
    curves += 1
print("astropy", time.perf_counter() - started, curves)
try:
    import MulensModel as mm
    from scipy.optimize import minimize
except ImportError as e:
    print("mulensmodel not-run", e)
    sys.exit(0)
started, stars = time.perf_counter(), 0
for _, star in points.groupby("star_id"):
    data = [mm.MulensData([g.mjd.to_numpy() + 2400000.5, g.mag.to_numpy(), g.mag_err.to_numpy()],
                          phot_fmt="mag") for _, g in star.groupby("colour")]
    brightest = star.loc[star.mag.idxmin(), "mjd"] + 2400000.5
    event = mm.Event(datasets=data, model=mm.Model({"t_0": brightest, "u_0": 0.3, "t_E": 30.0}))
    def chi2(x):
        if x[2] <= 0.01:
            return 1e300
        event.model.parameters.t_0, event.model.parameters.u_0, event.model.parameters.t_E = x
        return event.get_chi2()
    minimize(chi2, [brightest, 0.3, 30.0], method="Nelder-Mead")
    stars += 1
print("mulensmodel", time.perf_counter() - started, stars)
"#;

/// Seconds of one run of `sql` (all its rows collected), and its row count.
async fn timed(ctx: &SessionContext, sql: &str) -> Result<(f64, usize)> {
    let start = Instant::now();
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok((
        start.elapsed().as_secs_f64(),
        batches.iter().map(|b| b.num_rows()).sum(),
    ))
}

/// The two-colour fit of every star of `table`.
fn fits(table: &str) -> String {
    format!(
        "SELECT star_id, paczynski_fit(mjd, mag, mag_err, colour) AS f FROM {table} GROUP BY star_id"
    )
}

/// The periodogram of every star and colour of `table`.
fn periods(table: &str) -> String {
    format!(
        "SELECT star_id, colour, lomb_scargle(mjd, mag, mag_err) AS p FROM {table} \
         GROUP BY star_id, colour"
    )
}

/// Runs the science benchmark on `catalog_dir`.
pub fn bench_science(opts: &BenchOptions, catalog_dir: &Path) -> Result<()> {
    let catalog = Catalog::open(catalog_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let engine = Engine::new(Some(catalog), EngineOptions::default())?;
    let ctx = rt.block_on(engine.session(&[]))?;
    let sample = opts.rows.unwrap_or(100).max(1);
    rt.block_on(async {
        let cores = ctx.state().config().target_partitions();
        let (_, stars) = timed(&ctx, "SELECT DISTINCT star_id FROM measurements").await?;
        println!(
            "science: {} ({stars} stars with measurements), {cores} cores; sample: the first {sample} stars, one core each side",
            catalog_dir.display()
        );
        println!(
            "{:<34} {:>10} {:>10} {:>14}",
            "whole catalogue (every core)", "seconds", "rows", "ms per star"
        );
        let candidates = named_query("microlensing_candidates").context("no candidate query")?;
        for (name, sql) in [
            ("paczynski_fit, two colours", fits("measurements")),
            ("lomb_scargle, per colour", periods("measurements")),
            ("microlensing_candidates.sql", candidates.to_string()),
        ] {
            let (seconds, rows) = timed(&ctx, &sql).await?;
            println!(
                "{name:<34} {seconds:>10.2} {rows:>10} {:>14.2}",
                1e3 * seconds / stars.max(1) as f64
            );
        }
        // The sample, on one partition.
        ctx.sql("SET datafusion.execution.target_partitions = 1")
            .await?
            .collect()
            .await?;
        let ids = ctx
            .sql(&format!(
                "SELECT DISTINCT star_id FROM measurements ORDER BY star_id LIMIT {sample}"
            ))
            .await?
            .collect()
            .await?;
        let mut list = Vec::new();
        for b in &ids {
            let col = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
            let col = col.as_string::<i32>();
            list.extend((0..col.len()).map(|i| format!("'{}'", col.value(i).replace('\'', "''"))));
        }
        let within = format!("WHERE star_id IN ({})", list.join(","));
        let points = ctx
            .sql(&format!(
                "SELECT star_id, colour, mjd, mag, mag_err FROM measurements {within} \
                 AND mag IS NOT NULL AND mag_err > 0 ORDER BY star_id, colour, mjd"
            ))
            .await?
            .collect()
            .await?;
        // The sample's points in memory, so that both sides time the fits and periodograms
        // alone (the reference reads its points before its clock starts).
        let schema = points.first().context("no sample points")?.schema();
        ctx.register_table("sample", Arc::new(MemTable::try_new(schema, vec![points.clone()])?))?;
        let (fit_s, _) = timed(&ctx, &fits("sample")).await?;
        let (ls_s, curves) = timed(&ctx, &periods("sample")).await?;
        let mut csv = String::from("star_id,colour,mjd,mag,mag_err\n");
        for b in &points {
            let text: Vec<_> = (0..5)
                .map(|k| datafusion::arrow::compute::cast(b.column(k), &DataType::Utf8))
                .collect::<std::result::Result<_, _>>()?;
            let mjd = datafusion::arrow::compute::cast(b.column(2), &DataType::Float64)?;
            let mjd = mjd.as_primitive::<Float64Type>();
            for i in 0..b.num_rows() {
                csv.push_str(&format!(
                    "{},{},{},{},{}\n",
                    text[0].as_string::<i32>().value(i),
                    text[1].as_string::<i32>().value(i),
                    mjd.value(i),
                    text[3].as_string::<i32>().value(i),
                    text[4].as_string::<i32>().value(i)
                ));
            }
        }
        let reference = run_python(&opts.python, REFERENCE, csv.as_bytes());
        println!(
            "{:<34} {:>16} {:>18} {:>20}",
            "sample (one core)", "skyql ms/star", "reference ms/star", "skyql"
        );
        let per = |seconds: f64, n: usize| 1e3 * seconds / n.max(1) as f64;
        let line = |name: &str, ours: f64, theirs: Option<f64>, tool: &str| match theirs {
            Some(t) => println!(
                "{name:<34} {ours:>16.2} {t:>18.2} {:>20}",
                compared(t / ours)
            ),
            None => println!("{name:<34} {ours:>16.2} {:>18} ({tool}: not run)", "-"),
        };
        let figure = |text: &str, tool: &str| -> Option<(f64, usize)> {
            let l = text.lines().find(|l| l.starts_with(tool))?;
            let mut w = l.split_whitespace().skip(1);
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        };
        match &reference {
            Ok(text) => {
                let mm = figure(text, "mulensmodel").map(|(s, n)| per(s, n));
                let ap = figure(text, "astropy").map(|(s, n)| per(s, n));
                line("fit per star (MulensModel)", per(fit_s, list.len()), mm, "MulensModel");
                line("periodogram per curve (astropy)", per(ls_s, curves), ap, "astropy");
            }
            Err(e) => {
                line("fit per star (MulensModel)", per(fit_s, list.len()), None, "MulensModel");
                line("periodogram per curve (astropy)", per(ls_s, curves), None, "astropy");
                println!("reference: not run ({e:#})");
            }
        }
        Ok::<(), anyhow::Error>(())
    })
}
