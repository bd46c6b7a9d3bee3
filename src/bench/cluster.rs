//! `skyql bench cluster`: survey workloads on one catalogue, embedded and on a loopback
//! Ballista cluster of one and of two executors, each query a whole `skyql query`
//! process (what a user waits for), the same rows checked.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{BenchOptions, summary, time};
use crate::cluster::loopback::LoopbackCluster;

/// A star with a position and the 1-arcminute cone around it, from the catalogue.
fn probe(binary: &Path, catalog: &Path) -> Result<(String, String)> {
    let out = run(
        binary,
        catalog,
        None,
        "SELECT star_id, ra, dec FROM stars WHERE ra IS NOT NULL ORDER BY healpix LIMIT 1",
    )?;
    let line = out.lines().nth(1).context("no star with a position")?;
    let f: Vec<&str> = line.split(',').collect();
    Ok((f[0].to_string(), format!("{}, {}", f[1], f[2])))
}

fn run(binary: &Path, catalog: &Path, cluster: Option<&str>, sql: &str) -> Result<String> {
    let mut c = Command::new(binary);
    c.args(["query", "--format", "csv", "--catalog"])
        .arg(catalog);
    if let Some(url) = cluster {
        c.args(["--cluster", url]);
    }
    let out = c.arg(sql).output().context("cannot run skyql query")?;
    if !out.status.success() {
        bail!("{sql}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Median seconds of `sql`, and its sorted output (to compare the modes).
fn timed(
    binary: &Path,
    catalog: &Path,
    cluster: Option<&str>,
    sql: &str,
    reps: usize,
) -> Result<(f64, Vec<String>)> {
    let (times, out) = time(reps, || run(binary, catalog, cluster, sql))?;
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    Ok((summary(times).0, lines))
}

/// Runs the workloads and prints one line each: embedded, 1 executor, 2 executors.
pub fn bench_cluster(opts: &BenchOptions, catalog: &Path) -> Result<()> {
    let binary = std::env::current_exe().context("cannot find the skyql binary")?;
    let (star, centre) = probe(&binary, catalog)?;
    let quarters = crate::named_queries::named_query("quarters_most_measurements")
        .context("no quarters query")?;
    let workloads: Vec<(&str, String)> = vec![
        ("quarters_most_measurements", quarters.to_string()),
        (
            "lc_stats_per_star_whole_survey",
            "SELECT count(*) AS stars, sum(s['n']) AS points FROM (SELECT star_id, colour, \
             lc_stats(mjd, mag, mag_err) AS s FROM measurements GROUP BY star_id, colour)"
                .to_string(),
        ),
        (
            "one_light_curve",
            format!("SELECT mjd, mag, mag_err, colour FROM measurements WHERE star_id = '{star}'"),
        ),
        (
            "cone_1arcmin",
            format!("SELECT star_id FROM stars WHERE cone_contains(ra, dec, {centre}, 1.0 / 60)"),
        ),
    ];
    let reps = opts.repetitions;
    let mut embedded = Vec::new();
    for (name, sql) in &workloads {
        embedded.push((name, timed(&binary, catalog, None, sql, reps)?));
    }
    let (labels, on_cluster) = match &opts.cluster {
        Some(url) => (
            vec![url.clone()],
            vec![run_on(&binary, catalog, url, &workloads, &embedded, reps)?],
        ),
        None => loopback(&binary, catalog, &workloads, &embedded, reps)?,
    };
    print!("{:<32} {:>12}", "workload", "embedded s");
    for l in &labels {
        print!(" {l:>14}");
    }
    println!("   (median of {reps}, whole process, same rows)");
    for (k, (name, (secs, _))) in embedded.iter().enumerate() {
        print!("{name:<32} {secs:>12.3}");
        for column in &on_cluster {
            print!(" {:>14.3}", column[k]);
        }
        println!();
    }
    Ok(())
}

/// The workloads' rows as embedded, and their median seconds.
type Embedded<'a> = [(&'a &'a str, (f64, Vec<String>))];

/// Seconds of each workload on the cluster at `url`, its rows checked.
fn run_on(
    binary: &Path,
    catalog: &Path,
    url: &str,
    workloads: &[(&str, String)],
    embedded: &Embedded,
    reps: usize,
) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for (k, (name, sql)) in workloads.iter().enumerate() {
        let (secs, rows) = timed(binary, catalog, Some(url), sql, reps)?;
        if rows != embedded[k].1.1 {
            bail!("{name}: the cluster's rows differ from the embedded engine's");
        }
        out.push(secs);
    }
    Ok(out)
}

/// Loopback clusters of one and two executors, each with as many tasks as cores.
fn loopback(
    binary: &Path,
    catalog: &Path,
    workloads: &[(&str, String)],
    embedded: &Embedded,
    reps: usize,
) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let tasks = std::thread::available_parallelism().map_or(2, |n| n.get());
    super::in_scratch_dir("cluster", |dir| {
        let mut columns = Vec::new();
        for executors in [1, 2] {
            let logs = dir.join(format!("{executors}-executors"));
            let cluster =
                LoopbackCluster::start(binary, &logs, executors, tasks, &dir.join("products"))?;
            columns.push(run_on(
                binary,
                catalog,
                &cluster.url,
                workloads,
                embedded,
                reps,
            )?);
        }
        Ok((vec!["1 executor s".into(), "2 executors s".into()], columns))
    })
}
