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
    /// `skyql serve` on a catalogue (--catalog) under many cone-search clients (SCS and TAP
    /// sync) on loopback, then DataLink links and star pages; with --against, another VO
    /// server on the same stars (DaCHS).
    Service,
    /// Full scans of a catalogue (--catalog) with and without the block-checksum checks
    /// every read makes.
    Checksums,
    /// Publishing beside a catalogue (--catalog): an upload of 10^4 positions
    /// cross-matched with its stars through TAP, and 1-arcminute cones on its stars, on
    /// them as a HATS collection and on an ingested reference table of --rows rows.
    Publish,
    /// Two-colour microlensing fits and periodograms of every star of a catalogue
    /// (--catalog), and of a sample of --rows stars (default 100) beside MulensModel and
    /// astropy on one core.
    Science,
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
    /// (cutout, default 1000), epochs per light curve (ingest, default 400), sources per
    /// catalogue (xmatch, default 1000000), rows of the reference table (publish,
    /// default: as many as the stars) or stars of the sample (science, default 100).
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
    /// Concurrent clients of the service's load runs (service).
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Seconds of each load run (service).
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Another VO server loaded the same way in the same run (service), e.g. DaCHS.
    #[arg(long, value_name = "http://HOST:PORT")]
    against: Option<String>,
    /// The other server's cone search path (service).
    #[arg(long, default_value = "/q/q/scs/scs.xml")]
    against_scs: String,
    /// The other server's table of the same stars (service).
    #[arg(long, default_value = "q.stars")]
    against_table: String,
    /// Text of the other server's command line: those processes' CPU is counted, with
    /// PostgreSQL's (service).
    #[arg(long, default_value = "dachs serve")]
    against_process: String,
    /// A new s3://BUCKET/PREFIX where `bench publish` puts its HATS collection, to time a
    /// cone there beside local disk, cold and warm (AWS_* variables as for --table).
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    s3: Option<String>,
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
        WorkloadArg::Service => Workload::Service,
        WorkloadArg::Checksums => Workload::Checksums,
        WorkloadArg::Publish => Workload::Publish,
        WorkloadArg::Science => Workload::Science,
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
        clients: args.clients.max(1),
        seconds: args.seconds,
        against: args.against,
        against_scs: args.against_scs,
        against_table: args.against_table,
        against_process: args.against_process,
        s3: args.s3,
    })
}
