//! `skyql bench WORKLOAD`: figures beside the reference tools.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::bench::{BenchOptions, Workload, run_bench};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WorkloadArg {
    /// Light curves, quarters, statistics, cones on a catalogue (--catalog), beside DuckDB.
    Survey,
    /// EROS text light curves: measurements per second, peak memory.
    Ingest,
    /// 10^6 points through real TAN-SIP headers (orders 2 and 4), both ways, beside astropy.
    Pix2sky,
    /// A 300,000-row result in every export format, beside astropy and STILTS.
    Export,
    /// Cutouts and public images from 2048 x 2048 images.
    Cutout,
    /// 10^6 x 10^6 synthetic sources cross-matched at 1 arcsec (--rows), beside STILTS and
    /// LSDB; with --catalog, every star of the catalogue against external sources.
    Xmatch,
    /// Survey queries on a catalogue (--catalog) embedded and on a loopback Ballista
    /// cluster of one and two executors (a build with the `cluster` feature).
    Cluster,
}

/// Arguments of `skyql bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Workload.
    #[arg(value_enum, default_value = "pix2sky")]
    workload: WorkloadArg,
    /// Points to transform (pix2sky).
    #[arg(long, default_value_t = 1_000_000)]
    points: usize,
    /// Rows of the exported result (export, default 300000), number of cutouts
    /// (cutout, default 1000), epochs per light curve (ingest, default 400) or sources per
    /// catalogue (xmatch, default 1000000).
    #[arg(long)]
    rows: Option<usize>,
    /// Timed repetitions after one warm-up.
    #[arg(long, default_value_t = 5)]
    repetitions: usize,
    /// Python with astropy, for the side-by-side comparison.
    #[arg(long, env = "SKYQL_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// The STILTS command, for the side-by-side comparison (export).
    #[arg(long, env = "SKYQL_STILTS", default_value = "stilts")]
    stilts: PathBuf,
    /// Catalogue of the survey workloads.
    #[arg(long, env = "SKYQL_CATALOG")]
    catalog: Option<PathBuf>,
    /// `bench cluster` on a running cluster (df://HOST:PORT) instead of the loopback
    /// clusters of one and two executors it starts itself.
    #[arg(long, value_name = "df://HOST:PORT")]
    cluster: Option<String>,
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    let workload = match args.workload {
        WorkloadArg::Survey => Workload::Survey,
        WorkloadArg::Ingest => Workload::Ingest,
        WorkloadArg::Pix2sky => Workload::Pix2sky,
        WorkloadArg::Export => Workload::Export,
        WorkloadArg::Cutout => Workload::Cutout,
        WorkloadArg::Xmatch => Workload::Xmatch,
        WorkloadArg::Cluster => Workload::Cluster,
    };
    run_bench(&BenchOptions {
        workload,
        points: args.points,
        rows: args.rows,
        repetitions: args.repetitions.max(1),
        python: args.python,
        stilts: args.stilts,
        catalog: args.catalog,
        cluster: args.cluster,
    })
}
