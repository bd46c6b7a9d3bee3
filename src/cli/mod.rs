//! The `skyql` command line: clap types and one file per verb, each with a `run`. The
//! verbs only parse, call the library and print; sessions come from `crate::engine`.

mod bench;
mod catalog;
mod cluster;
mod demo;
mod describe;
mod functions;
mod generate;
mod hats;
mod ingest;
mod plot;
mod progress_line;
mod query;
mod serve;
mod shell;
mod tables;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::demo::DemoConfig;

/// The version, and the optional parts this build has.
const VERSION: &str = if cfg!(feature = "cluster") {
    concat!(env!("CARGO_PKG_VERSION"), " (built with: cluster)")
} else {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (built without cluster mode: cargo build --release --features cluster)"
    )
};

/// skyql: SQL over survey catalogues (FITS images and light curves as Parquet).
#[derive(Debug, Parser)]
#[command(name = "skyql", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the demo survey's raw files (FITS images, EROS light curves, truth), or a
    /// large synthetic catalogue directly (--catalog).
    Generate(generate::GenerateArgs),
    /// Generate the demo survey (if absent), ingest it, run the named queries, export.
    Demo(demo::DemoArgs),
    /// Ingest FITS images, FITS tables and light curves (any described format) into a catalogue.
    Ingest(ingest::IngestArgs),
    /// Run SQL on a catalogue and/or files.
    Query(query::QueryArgs),
    /// List the catalogue's tables and row counts.
    Tables(tables::TablesArgs),
    /// Show a table's columns with types, units, UCDs and descriptions.
    Describe(describe::DescribeArgs),
    /// Run a benchmark workload, beside the reference tool when it is installed.
    Bench(bench::BenchArgs),
    /// Draw a plot: `skyql plot lightcurve STAR_ID --output lc.png` (or .svg).
    Plot(plot::PlotArgs),
    /// List skyql's SQL functions.
    Functions,
    /// List the named queries (`skyql query --named NAME` runs one).
    Queries,
    /// Show a function's usage and description.
    DescribeFunction(functions::DescribeFunctionArgs),
    /// Interactive SQL shell with history and multi-line statements.
    Shell(shell::ShellArgs),
    /// Catalogue maintenance: verify every file, repair after an interrupted write; row
    /// rules (protect, rules, unprotect).
    Catalog(catalog::CatalogArgs),
    /// The service's users and API tokens (docs/ACCESS.md).
    Users(users::UsersArgs),
    /// Serve the catalogue to VO clients and people: TAP 1.1 (ADQL), Simple Cone Search, DataLink, SODA, ObsCore, and a web page at /.
    Serve(serve::ServeArgs),
    /// HATS catalogues (HEALPix-partitioned Parquet, as LSDB reads them): `export`.
    Hats(hats::HatsArgs),
    /// Cluster mode on Apache Ballista: `scheduler` and `executor` processes (built with
    /// the `cluster` feature).
    Cluster(cluster::ClusterArgs),
}

/// Size of the demo survey.
#[derive(Debug, Args)]
pub(crate) struct SizeArgs {
    /// Seed of the generator.
    #[arg(long, default_value_t = DemoConfig::default().seed)]
    seed: u64,
    /// Fields, comma-separated, from the EROS-2 LMC image-count table.
    #[arg(long, value_delimiter = ',', default_values_t = DemoConfig::default().fields)]
    fields: Vec<String>,
    /// CCDs per camera.
    #[arg(long, default_value_t = DemoConfig::default().ccds)]
    ccds: u32,
    /// CCD side in pixels (EROS-2: 2048).
    #[arg(long, default_value_t = DemoConfig::default().ccd_size)]
    ccd_size: u32,
    /// Exposures per field.
    #[arg(long, default_value_t = DemoConfig::default().epochs)]
    epochs: u32,
    /// Mean stars per CCD quarter.
    #[arg(long, default_value_t = DemoConfig::default().stars_per_quarter)]
    stars_per_quarter: u32,
    /// Microlensing events injected per field (default: 2 in the demo, one per 1,000
    /// stars with --catalog); their truth is written to truth/events.csv.
    #[arg(long)]
    events: Option<u32>,
    /// Fraction of the other stars made periodic variables (truth/periodic.csv).
    #[arg(long, default_value_t = crate::demo::default_periodic_fraction())]
    periodic_fraction: f64,
}

impl SizeArgs {
    fn config(&self) -> DemoConfig {
        DemoConfig {
            seed: self.seed,
            fields: self.fields.clone(),
            ccds: self.ccds,
            ccd_size: self.ccd_size,
            epochs: self.epochs,
            stars_per_quarter: self.stars_per_quarter,
            events_per_field: self
                .events
                .unwrap_or(DemoConfig::default().events_per_field),
            periodic_fraction: self.periodic_fraction,
        }
    }
}

/// A catalogue directory (`--catalog` or `SKYQL_CATALOG`) that may be absent.
#[derive(Debug, Args)]
pub(crate) struct OptionalCatalog {
    /// Catalogue directory, or an s3:// or http(s):// URL of one.
    #[arg(long, env = "SKYQL_CATALOG")]
    catalog: Option<PathBuf>,
    /// Extra tables, NAME=PATH: CSV/TSV with a header row, text catalogues (.txt, .dat, .tbl;
    /// .gz, .bz2, .zst; # comments), Parquet, VOTable, FITS tables (file.fits: the first
    /// table HDU; file.fits#HDU: an HDU number or EXTNAME), a CDS .dat with its ReadMe
    /// beside it, or a HATS catalogue or collection directory. PATH may be an s3:// or
    /// http(s):// URL of a HATS catalogue, a Parquet or a CSV file (S3 settings from the
    /// AWS_* variables).
    #[arg(long = "table", value_name = "NAME=PATH")]
    tables: Vec<String>,
    /// A line of a --table text file (CSV, TSV, text catalogue) with another number of
    /// fields than the header, or a word in a column of numbers: `error` names it and
    /// stops; `skip` leaves such lines out (the file is then read whole) and says how many.
    #[arg(long, value_enum, default_value = "error")]
    bad_lines: crate::formats::text_lines::BadLines,
}

/// Stack of the threads that plan and run queries: a deeply nested expression (a chain of
/// thousands of `OR`s) is planned recursively; beyond this it is refused by the parser's
/// depth limit, never a stack overflow.
const STACK_BYTES: usize = 256 << 20;

/// Entry point used by `main.rs`: runs the command, prints errors, returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    quiet_on_closed_stdout();
    let worker = std::thread::Builder::new()
        .name("skyql".into())
        .stack_size(STACK_BYTES)
        .spawn(move || run(cli));
    let result = match worker.map(|w| w.join()) {
        Ok(Ok(r)) => r,
        Ok(Err(payload)) if panic_text(&*payload).is_some_and(is_closed_stdout) => Ok(()),
        Ok(Err(_)) => Err(anyhow::anyhow!("internal error: the command panicked")),
        Err(e) => Err(anyhow::anyhow!("cannot start the main thread: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", user_facing(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// `println!` panics when the reader of stdout has gone (`skyql describe t | head`): that is
/// the reader's choice, not an error, so the panic is not reported and the exit code is 0.
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !panic_text(info.payload()).is_some_and(is_closed_stdout) {
            default_hook(info);
        }
    }));
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}

fn is_closed_stdout(text: &str) -> bool {
    text.starts_with("failed printing to stdout") && text.contains("Broken pipe")
}

/// An error chain as a user should read it: each cause once (DataFusion repeats a cause
/// through every layer it crosses), DataFusion's configuration keys replaced by the
/// options that set them, and without DataFusion's advice to file a bug report with it
/// (most internal errors reach users through skyql's functions or their input).
fn user_facing(text: &str) -> String {
    const ADVICE: &str = "This issue was likely caused by a bug in DataFusion's code. Please help us to resolve this by filing a bug report in our issue tracker: https://github.com/apache/datafusion/issues";
    let text = text
        .replace(&format!(".\n{ADVICE}"), "")
        .replace(ADVICE, "")
        .replace(
            "increasing the config: `datafusion.runtime.max_temp_directory_size`",
            "a larger --spill-limit",
        )
        .replace(
            "increase datafusion.runtime.memory_limit",
            "give a larger --memory-limit",
        )
        .replace("`datafusion.runtime.memory_limit`", "--memory-limit");
    if let Some(usage) = crate::engine::user_error::function_usage(&text)
        .or_else(|| crate::engine::user_error::signature_message(&text))
    {
        return usage;
    }
    crate::engine::user_error::each_cause_once(&text)
}

/// Whether the error is a closed standard output (`skyql query ... | head`): the reader
/// wanted no more, which is no failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe (os error 32)")
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Query(args) => runtime()?.block_on(query::run(args)),
        Command::Tables(args) => tables::run(args),
        Command::Describe(args) => runtime()?.block_on(describe::run(args)),
        Command::Bench(args) => bench::run(args),
        Command::Plot(args) => runtime()?.block_on(plot::run(args)),
        Command::Functions => functions::list(),
        Command::Queries => {
            for (name, sql) in crate::named_queries::all() {
                println!("{name:<28} {}", crate::named_queries::summary(sql));
            }
            Ok(())
        }
        Command::DescribeFunction(args) => functions::describe(args),
        Command::Shell(args) => runtime()?.block_on(shell::run(args)),
        Command::Catalog(args) => catalog::run(args),
        Command::Users(args) => users::run(args),
        Command::Serve(args) => runtime()?.block_on(serve::run(args)),
        Command::Hats(args) => runtime()?.block_on(hats::run(args)),
        Command::Cluster(args) => runtime()?.block_on(cluster::run(args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(STACK_BYTES)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
