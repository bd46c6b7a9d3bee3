//! `skyql bench cluster`: survey workloads on one catalogue, embedded and on a loopback
//! Ballista cluster of one and of two executors (or on a running cluster), each query a
//! whole `skyql query` process (what a user waits for), the same rows checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{BenchOptions, summary, time};
use crate::cluster::loopback::LoopbackCluster;

/// The binary, the catalogue, the workloads (name, SQL) and the repetitions.
struct Runs<'a> {
    binary: PathBuf,
    catalog: &'a Path,
    workloads: Vec<(&'static str, String)>,
    reps: usize,
}

/// One workload's median seconds and its output lines, sorted (to compare the modes).
struct Timed {
    secs: f64,
    rows: Vec<String>,
}

impl Runs<'_> {
    fn run(&self, cluster: Option<&str>, sql: &str) -> Result<String> {
        let mut c = Command::new(&self.binary);
        c.args(["query", "--format", "csv", "--catalog"])
            .arg(self.catalog);
        if let Some(url) = cluster {
            c.args(["--cluster", url]);
        }
        let out = c.arg(sql).output().context("cannot run skyql query")?;
        if !out.status.success() {
            bail!("{sql}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Every workload, embedded (`None`) or on the cluster at `url`.
    fn all(&self, cluster: Option<&str>) -> Result<Vec<Timed>> {
        let mut out = Vec::new();
        for (_, sql) in &self.workloads {
            let (times, text) = time(self.reps, || self.run(cluster, sql))?;
            let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
            rows.sort();
            out.push(Timed {
                secs: summary(times).0,
                rows,
            });
        }
        Ok(out)
    }

    /// Every workload on the cluster at `url`, its rows checked against `embedded`.
    fn on_cluster(&self, url: &str, embedded: &[Timed]) -> Result<Vec<f64>> {
        let timed = self.all(Some(url))?;
        for ((name, _), (c, e)) in self.workloads.iter().zip(timed.iter().zip(embedded)) {
            if c.rows != e.rows {
                bail!("{name}: the cluster's rows differ from the embedded engine's");
            }
        }
        Ok(timed.iter().map(|t| t.secs).collect())
    }

    /// Loopback clusters of one and two executors, each with as many tasks as cores.
    fn on_loopback(&self, embedded: &[Timed]) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
        let tasks = std::thread::available_parallelism().map_or(2, |n| n.get());
        super::in_scratch_dir("cluster", |dir| {
            let mut columns = Vec::new();
            for executors in [1, 2] {
                let logs = dir.join(format!("{executors}-executors"));
                let products = dir.join("products");
                let cluster =
                    LoopbackCluster::start(&self.binary, &logs, executors, tasks, &products)?;
                columns.push(self.on_cluster(&cluster.url, embedded)?);
            }
            Ok((vec!["1 executor s".into(), "2 executors s".into()], columns))
        })
    }
}

/// The survey's workloads around a star with a position (its light curve, the
/// 1-arcminute cone around it), from the catalogue.
fn workloads(runs: &Runs) -> Result<Vec<(&'static str, String)>> {
    let out = runs.run(
        None,
        "SELECT star_id, ra, dec FROM stars WHERE ra IS NOT NULL ORDER BY healpix LIMIT 1",
    )?;
    let line = out.lines().nth(1).context("no star with a position")?;
    let f: Vec<&str> = line.split(',').collect();
    let (star, centre) = (f[0], format!("{}, {}", f[1], f[2]));
    let quarters = crate::named_queries::named_query("quarters_most_measurements")
        .context("no quarters query")?;
    let candidates = crate::named_queries::named_query("microlensing_candidates")
        .context("no candidate query")?;
    Ok(vec![
        ("quarters_most_measurements", quarters.to_string()),
        (
            "lc_stats_per_star_whole_survey",
            "SELECT count(*) AS stars, sum(s['n']) AS points FROM (SELECT star_id, colour, \
             lc_stats(mjd, mag, mag_err) AS s FROM measurements GROUP BY star_id, colour)"
                .to_string(),
        ),
        ("microlensing_candidates", candidates.to_string()),
        (
            "one_light_curve",
            format!("SELECT mjd, mag, mag_err, colour FROM measurements WHERE star_id = '{star}'"),
        ),
        (
            "cone_1arcmin",
            format!("SELECT star_id FROM stars WHERE cone_contains(ra, dec, {centre}, 1.0 / 60)"),
        ),
    ])
}

/// Runs the workloads and prints one line each: embedded, then each cluster.
pub fn bench_cluster(opts: &BenchOptions, catalog: &Path) -> Result<()> {
    let mut runs = Runs {
        binary: std::env::current_exe().context("cannot find the skyql binary")?,
        catalog,
        workloads: Vec::new(),
        reps: opts.repetitions,
    };
    runs.workloads = workloads(&runs)?;
    let embedded = runs.all(None)?;
    let (labels, columns) = match &opts.cluster {
        Some(url) => (vec![url.clone()], vec![runs.on_cluster(url, &embedded)?]),
        None => runs.on_loopback(&embedded)?,
    };
    print!("{:<32} {:>12}", "workload", "embedded s");
    for l in &labels {
        print!(" {l:>14}");
    }
    println!("   (median of {}, whole process, same rows)", runs.reps);
    for (k, ((name, _), e)) in runs.workloads.iter().zip(&embedded).enumerate() {
        print!("{name:<32} {:>12.3}", e.secs);
        for column in &columns {
            print!(" {:>14.3}", column[k]);
        }
        println!();
    }
    Ok(())
}
