//! Command-line interface: argument parsing and dispatch to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::Catalog;
use crate::catalog::session::{SessionOptions, new_session, register_file};
use crate::conventions::Conventions;
use crate::demo::DemoConfig;
use crate::export::{ExportOptions, OutputFormat, write_result};
use crate::ingest::{IngestOptions, IngestReport, InputFormat, ingest};

/// skyql: SQL over survey catalogues (FITS images and light curves as Parquet).
#[derive(Debug, Parser)]
#[command(name = "skyql", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the demo survey's raw files (FITS images, EROS light curves, truth).
    Generate {
        /// Raw files (FITS images, EROS light curves) to write: a directory that must not
        /// exist or be empty.
        #[arg(long, required_unless_present = "catalog", conflicts_with = "catalog")]
        out: Option<PathBuf>,
        /// Instead of raw files, a catalogue written directly (Parquet), for surveys of
        /// 10^8 measurements and more; with --measurements, --stars, --field-count.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// Measurements of the catalogue (--catalog).
        #[arg(long, default_value_t = 1_000_000)]
        measurements: u64,
        /// Stars of the catalogue (--catalog; default measurements / 200).
        #[arg(long)]
        stars: Option<u64>,
        /// Fields of the catalogue (--catalog; default one per 10^7 measurements).
        #[arg(long)]
        field_count: Option<u32>,
        #[command(flatten)]
        size: SizeArgs,
    },
    /// Generate the demo survey (if absent), ingest it, run the named queries, export CSV.
    Demo {
        /// Demo directory: raw/, catalog/, exports/ inside.
        #[arg(long, default_value = "skyql-demo")]
        out: PathBuf,
        #[command(flatten)]
        size: SizeArgs,
    },
    /// Ingest FITS images and light curves into a catalogue.
    Ingest {
        /// Files or directories (searched recursively).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Catalogue directory (created if absent).
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: PathBuf,
        /// Input format; `auto` decides by file name (.fits, .time, .mjd).
        #[arg(long, value_enum, default_value = "auto")]
        format: FormatArg,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Survey conventions table (default: the compiled-in EROS-2 one).
        #[arg(long)]
        conventions: Option<PathBuf>,
    },
    /// Run SQL on a catalogue and/or files.
    Query(QueryArgs),
    /// List the catalogue's tables and row counts.
    Tables {
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: PathBuf,
    },
    /// Show a table's columns with types, units, UCDs and descriptions.
    Describe {
        /// Table name.
        table: String,
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: Option<PathBuf>,
        /// Extra tables, NAME=PATH.
        #[arg(long = "table", value_name = "NAME=PATH")]
        tables: Vec<String>,
    },
    /// Run a benchmark workload, beside the reference tool when it is installed.
    Bench {
        /// Workload: survey (needs --catalog), ingest, pix2sky, export or cutout.
        #[arg(default_value = "pix2sky")]
        workload: String,
        /// Points to transform (pix2sky).
        #[arg(long, default_value_t = 1_000_000)]
        points: usize,
        /// Rows of the exported result (export, default 300000), number of cutouts
        /// (cutout, default 1000) or epochs per light curve (ingest, default 400).
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
    },
    /// Draw a plot: `skyql plot lightcurve STAR_ID --output lc.svg`.
    Plot {
        /// What to draw: lightcurve.
        #[arg(value_parser = ["lightcurve"])]
        kind: String,
        /// The star.
        star_id: String,
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: Option<PathBuf>,
        /// Output file (.svg).
        #[arg(long)]
        output: PathBuf,
    },
    /// List skyql's SQL functions.
    Functions,
    /// Show a function's usage and description.
    DescribeFunction {
        /// Function name.
        name: String,
    },
    /// Interactive SQL shell with history and multi-line statements.
    Shell {
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: Option<PathBuf>,
        /// Extra tables, NAME=PATH.
        #[arg(long = "table", value_name = "NAME=PATH")]
        tables: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Auto,
    Fits,
    Eros,
    Macho,
}

/// Size of the demo survey.
#[derive(Debug, Args)]
struct SizeArgs {
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
        }
    }
}

/// Arguments of `skyql query`.
#[derive(Debug, Args)]
struct QueryArgs {
    /// SQL text (or use --file); may start with a `--` comment.
    #[arg(allow_hyphen_values = true)]
    sql: Option<String>,
    /// File holding the SQL (e.g. sql/quarters_most_measurements.sql).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Catalogue directory.
    #[arg(long, env = "SKYQL_CATALOG")]
    catalog: Option<PathBuf>,
    /// Extra tables, NAME=PATH (CSV with a header row, TSV, Parquet or VOTable).
    #[arg(long = "table", value_name = "NAME=PATH")]
    tables: Vec<String>,
    /// Output format (`votable` is VOTable TABLEDATA).
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Output file (`-` or absent: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// CSV field delimiter (one ASCII character; `tab` for a tab).
    #[arg(long, default_value = ",")]
    csv_delimiter: String,
    /// Write at most this many rows; a VOTable then ends with an OVERFLOW INFO.
    #[arg(long)]
    max_rows: Option<u64>,
    /// Directory under which image functions (cutout, public_image, quicklook) write
    /// [default: products/ in the catalogue directory].
    #[arg(long)]
    output_root: Option<PathBuf>,
    /// Let image functions replace existing files.
    #[arg(long)]
    overwrite: bool,
    /// Memory limit for the query, e.g. 2G or 512M (spills or fails cleanly beyond it).
    #[arg(long)]
    memory_limit: Option<String>,
}

/// Entry point used by `main.rs`: runs the command, prints errors, returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate {
            out: None,
            catalog: Some(catalog),
            measurements,
            stars,
            field_count,
            size,
        } => {
            let config = crate::demo::bulk::BulkConfig {
                measurements,
                stars,
                fields: field_count,
                seed: size.seed,
            };
            let r = crate::demo::bulk::generate_catalog(&catalog, &config)?;
            eprintln!(
                "generated {} fields, {} stars, {} measurements in {} ({:.1} s, {:.2} million measurements/s)",
                r.fields,
                r.stars,
                r.measurements,
                catalog.display(),
                r.seconds,
                r.measurements as f64 / r.seconds / 1e6
            );
            Ok(())
        }
        Command::Generate { out, size, .. } => {
            let out = out.context("--out or --catalog is required")?;
            let config = size.config();
            let started = std::time::Instant::now();
            let truth = crate::demo::generate(&config, &out, &Conventions::eros2()?)?;
            eprintln!(
                "generated {} reference and {} current images, {} light curves ({} measurements) in {} ({:.1} s)",
                truth.n_reference_images,
                truth.n_current_images,
                truth.n_stars,
                truth.n_measurements,
                out.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Demo { out, size } => crate::demo_run::run_demo(&out, &size.config()),
        Command::Ingest {
            inputs,
            catalog,
            format,
            jobs,
            conventions,
        } => {
            let conventions = match conventions {
                Some(p) => Conventions::from_file(&p)?,
                None => Conventions::eros2()?,
            };
            let format = match format {
                FormatArg::Auto => None,
                FormatArg::Fits => Some(InputFormat::Fits),
                FormatArg::Eros => Some(InputFormat::Eros),
                FormatArg::Macho => Some(InputFormat::Macho),
            };
            let report = ingest(&IngestOptions {
                inputs,
                catalog: catalog.clone(),
                format,
                jobs,
                conventions,
                progress: true,
            })?;
            print_ingest_report(&report, &catalog);
            Ok(())
        }
        Command::Query(args) => runtime()?.block_on(query(args)),
        Command::Tables { catalog } => {
            let c = Catalog::open(&catalog)?;
            println!(
                "catalogue {} (version {}, schema {})",
                catalog.display(),
                c.manifest.version,
                c.manifest.schema_version
            );
            for (name, t) in &c.manifest.tables {
                println!("{name:<14} {:>12} rows  {:>5} files", t.rows, t.files);
            }
            Ok(())
        }
        Command::Describe {
            table,
            catalog,
            tables,
        } => runtime()?.block_on(describe(&table, catalog.as_deref(), &tables)),
        Command::Bench {
            workload,
            points,
            rows,
            repetitions,
            python,
            stilts,
            catalog,
        } => crate::bench::run_bench(&crate::bench::BenchOptions {
            workload,
            points,
            rows,
            repetitions: repetitions.max(1),
            python,
            stilts,
            catalog,
        }),
        Command::Plot {
            kind: _,
            star_id,
            catalog,
            output,
        } => runtime()?.block_on(async {
            let ctx = session_for(catalog.as_deref(), &[], &SessionOptions::default()).await?;
            let n = crate::plot::plot_lightcurve(&ctx, &star_id, &output).await?;
            eprintln!(
                "{n} measurements of {star_id} drawn in {}",
                output.display()
            );
            Ok(())
        }),
        Command::Functions => {
            for d in skyql_udfs::docs::FUNCTION_DOCS {
                println!("{:<55} {}", d.usage, d.description);
            }
            Ok(())
        }
        Command::DescribeFunction { name } => match skyql_udfs::docs::function_doc(&name) {
            Some(d) => {
                println!(
                    "{}

{}",
                    d.usage, d.description
                );
                Ok(())
            }
            None => bail!(
                "no skyql function '{name}' (skyql functions lists them; DataFusion's own are in its documentation)"
            ),
        },
        Command::Shell { catalog, tables } => {
            runtime()?.block_on(crate::shell::run_shell(catalog.as_deref(), &tables))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints the end-of-ingest accounting.
pub fn print_ingest_report(r: &IngestReport, catalog: &Path) {
    println!(
        "catalogue {} version {} ({:.1} s)",
        catalog.display(),
        r.version,
        r.seconds
    );
    println!(
        "files: {} read, {} rejected, {} skipped (unknown format); {:.1} MB",
        r.files_read,
        r.files_rejected,
        r.files_skipped,
        r.bytes_read as f64 / 1e6
    );
    println!("images written: {}", r.images_written);
    let v = r.values;
    println!(
        "measurements read: {} = written {} + missing (99.999) {} + rejected {}",
        v.read, v.written, v.missing, v.rejected
    );
    println!(
        "stars: {} placed by their reference image, {} without a position",
        r.stars_located, r.stars_without_position
    );
    for (t, n) in &r.table_rows {
        println!("  {t:<14} {n:>12} rows");
    }
    let shown = 10;
    for reject in r.rejects.iter().take(shown) {
        eprintln!("{reject}");
    }
    if r.rejects.len() > shown {
        eprintln!("... and {} more", r.rejects.len() - shown);
    }
    if !r.rejects.is_empty() {
        eprintln!(
            "{} rejected, {} warnings: see {}",
            r.rejected_count(),
            r.rejects.len() - r.rejected_count(),
            r.rejects_file.display()
        );
    }
}

/// Parses `NAME=PATH` pairs.
pub fn parse_table_args(tables: &[String]) -> Result<Vec<(String, PathBuf)>> {
    tables
        .iter()
        .map(|t| {
            let (name, path) = t
                .split_once('=')
                .with_context(|| format!("--table expects NAME=PATH, got '{t}'"))?;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("--table name '{name}' must be letters, digits and _");
            }
            Ok((name.to_string(), PathBuf::from(path)))
        })
        .collect()
}

/// A session with the catalogue (if any) and the extra tables.
pub async fn session_for(
    catalog: Option<&Path>,
    tables: &[String],
    options: &SessionOptions,
) -> Result<datafusion::prelude::SessionContext> {
    let catalog = catalog.map(Catalog::open).transpose()?;
    let ctx = new_session(catalog.as_ref(), options)?;
    for (name, path) in parse_table_args(tables)? {
        register_file(&ctx, &name, &path).await?;
    }
    Ok(ctx)
}

fn parse_size(text: &str) -> Result<usize> {
    let t = text.trim().to_ascii_uppercase();
    let (num, mult) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1usize << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t.as_str(), 1),
    };
    let v: f64 = num
        .parse()
        .with_context(|| format!("bad size '{text}' (e.g. 512M, 2G)"))?;
    Ok((v * mult as f64) as usize)
}

/// Parses `--csv-delimiter`: one ASCII character, or `tab`.
fn parse_delimiter(text: &str) -> Result<u8> {
    match text {
        "tab" | "\\t" => Ok(b'\t'),
        t if t.len() == 1 && t.is_ascii() && !matches!(t, "\"" | "\r" | "\n") => {
            Ok(t.as_bytes()[0])
        }
        _ => bail!(
            "--csv-delimiter must be one ASCII character other than a quote or a line end (or 'tab'), got '{text}'"
        ),
    }
}

async fn query(args: QueryArgs) -> Result<()> {
    let sql = match (&args.sql, &args.file) {
        (Some(s), None) => s.clone(),
        (None, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        (Some(_), Some(_)) => bail!("give the SQL as an argument or with --file, not both"),
        (None, None) => bail!("no SQL: give it as an argument or with --file"),
    };
    let options = SessionOptions {
        memory_limit: args.memory_limit.as_deref().map(parse_size).transpose()?,
        output_root: args.output_root.clone(),
        overwrite: args.overwrite,
    };
    let csv_delimiter = parse_delimiter(&args.csv_delimiter)?;
    let ctx = session_for(args.catalog.as_deref(), &args.tables, &options).await?;
    let df = ctx.sql(&sql).await?;
    let export = ExportOptions {
        csv_delimiter,
        max_rows: args.max_rows,
        query: Some(sql.trim().to_string()),
        table_name: None,
    };
    let summary = write_result(df, args.format, args.output.as_deref(), &export).await?;
    if let Some(out) = &args.output
        && out.as_os_str() != "-"
    {
        eprintln!(
            "{} rows written to {}{}",
            summary.rows,
            out.display(),
            if summary.overflow {
                " (cut at --max-rows)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

async fn describe(table: &str, catalog: Option<&Path>, tables: &[String]) -> Result<()> {
    let ctx = session_for(catalog, tables, &SessionOptions::default()).await?;
    let provider = ctx
        .table_provider(table)
        .await
        .with_context(|| format!("no table '{table}'"))?;
    let schema = provider.schema();
    println!(
        "{:<16} {:<28} {:<8} {:<14} {:<30} description",
        "column", "type", "null", "unit", "ucd"
    );
    for f in schema.fields() {
        let md =
            crate::schema::column_metadata(table, f.name()).unwrap_or_else(|| f.metadata().clone());
        let get = |k: &str| md.get(k).cloned().unwrap_or_default();
        let dtype = match f.data_type() {
            datafusion::arrow::datatypes::DataType::Struct(_) => "Struct".to_string(),
            datafusion::arrow::datatypes::DataType::Map(..) => "Map(Utf8, Utf8)".to_string(),
            d => d.to_string(),
        };
        println!(
            "{:<16} {:<28} {:<8} {:<14} {:<30} {}",
            f.name(),
            dtype,
            if f.is_nullable() { "yes" } else { "no" },
            get("unit"),
            get("ucd"),
            get("description")
        );
    }
    Ok(())
}
