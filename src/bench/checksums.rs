//! `skyql bench checksums --catalog CAT`: what checking every read against the manifest's
//! block checksums costs. The same queries run on two engines over the same catalogue,
//! one reading through the checks (as every session does) and one without them, in
//! alternation so that both see the same page cache: a full scan of the measurements
//! (`SUM(mag)`), a scan of the stars, the mean magnitude of every star, and the reads
//! that touch a few pages (where checking whole 64 KiB blocks reads more than the pages):
//! a 1-arcminute cone on the stars and the light curve of one star.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use datafusion::prelude::SessionContext;

use super::{BenchOptions, summary};
use crate::catalog::Catalog;
use crate::engine::{Engine, EngineOptions};

/// The scans timed: name and SQL.
const SCANS: &[(&str, &str)] = &[
    (
        "measurements full scan",
        "SELECT SUM(mag), COUNT(*) FROM measurements",
    ),
    ("stars full scan", "SELECT SUM(ra), SUM(dec) FROM stars"),
    (
        "mean magnitude per star",
        "SELECT star_id, AVG(mag) FROM measurements GROUP BY star_id",
    ),
];

/// The scans, then a cone and a light curve around the catalogue's first placed star.
async fn queries(ctx: &SessionContext) -> Result<Vec<(String, String)>> {
    let mut all: Vec<(String, String)> = SCANS
        .iter()
        .map(|(n, q)| (n.to_string(), q.to_string()))
        .collect();
    let first = ctx
        .sql("SELECT star_id, ra, dec FROM stars WHERE ra IS NOT NULL ORDER BY star_id LIMIT 1")
        .await?
        .collect()
        .await?;
    let Some(batch) = first.first().filter(|b| b.num_rows() == 1) else {
        return Ok(all);
    };
    let text = |i: usize| -> Result<String> {
        Ok(datafusion::arrow::util::display::array_value_to_string(
            batch.column(i),
            0,
        )?)
    };
    let (star, ra, dec) = (text(0)?, text(1)?, text(2)?);
    all.push((
        "stars cone 1 arcmin".into(),
        format!("SELECT star_id FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, 0.0166667)"),
    ));
    all.push((
        "light curve of one star".into(),
        format!("SELECT mjd, mag, mag_err FROM measurements WHERE star_id = '{star}'"),
    ));
    Ok(all)
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<f64> {
    let start = Instant::now();
    ctx.sql(sql).await?.collect().await?;
    Ok(start.elapsed().as_secs_f64())
}

/// Runs the comparison and prints one line per query.
pub fn bench_checksums(opts: &BenchOptions, catalog_dir: &Path) -> Result<()> {
    let catalog = Catalog::open(catalog_dir)?;
    let files: Vec<_> = (catalog.manifest.tables.values())
        .flat_map(|t| &t.data_files)
        .collect();
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let unchecked_files = files
        .iter()
        .filter(|f| f.block_checksums().is_none())
        .count();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let checked = Engine::new(Some(catalog.clone()), EngineOptions::default())?;
    let plain = Engine::new(
        Some(catalog),
        EngineOptions {
            unchecked_reads: true,
            ..EngineOptions::default()
        },
    )?;
    let reps = opts.repetitions.max(3);
    println!(
        "checksums: {} ({:.1} MB of data files{}), {reps} repetitions of each query, alternated",
        catalog_dir.display(),
        bytes as f64 / 1e6,
        if unchecked_files > 0 {
            format!(", {unchecked_files} files without block checksums")
        } else {
            String::new()
        }
    );
    println!(
        "{:<26} {:>12} {:>12} {:>9}",
        "query", "checked s", "unchecked s", "cost"
    );
    rt.block_on(async {
        let (a, b) = (checked.session(&[]).await?, plain.session(&[]).await?);
        for (name, sql) in queries(&a).await? {
            let sql = sql.as_str();
            run(&a, sql).await?;
            run(&b, sql).await?;
            let (mut with, mut without) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                with.push(run(&a, sql).await?);
                without.push(run(&b, sql).await?);
            }
            let (w, _, _) = summary(with);
            let (wo, _, _) = summary(without);
            println!(
                "{name:<26} {w:>12.4} {wo:>12.4} {:>8.1}%",
                (w / wo - 1.0) * 100.0
            );
        }
        Ok::<(), anyhow::Error>(())
    })
}
