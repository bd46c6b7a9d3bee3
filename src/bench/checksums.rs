//! `skyql bench checksums --catalog CAT`: what checking every read against the manifest's
//! block checksums costs. The same queries run on two engines over the same catalogue,
//! one reading through the checks (as every session does) and one without them, in
//! alternation so that both see the same page cache: a full scan of the measurements
//! (`SUM(mag)`), a scan of the stars, and the mean magnitude of every star.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use datafusion::prelude::SessionContext;

use super::{BenchOptions, summary};
use crate::catalog::Catalog;
use crate::engine::{Engine, EngineOptions};

/// The queries timed: name and SQL.
const QUERIES: &[(&str, &str)] = &[
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
        for (name, sql) in QUERIES {
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
