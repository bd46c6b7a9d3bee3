//! `skyql query`: SQL on a catalogue and/or files, written in any export format.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::OptionalCatalog;
use crate::engine::parameters::{self, Param};
use crate::engine::{Engine, EngineOptions, ExtraTable};
use crate::export::{ExportOptions, OutputFormat, write_result};

/// Arguments of `skyql query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// SQL text (or use --file); may start with a `--` comment.
    #[arg(allow_hyphen_values = true)]
    sql: Option<String>,
    /// File holding the SQL (e.g. sql/quarters_most_measurements.sql).
    #[arg(long)]
    file: Option<PathBuf>,
    /// A named query, from any directory (`skyql queries` lists them), e.g.
    /// quarters_most_measurements.
    #[arg(long, conflicts_with_all = ["sql", "file"])]
    named: Option<String>,
    /// A value for a `:NAME` placeholder of the query, NAME=VALUE (repeatable), typed as
    /// the query uses it and bound as a value, e.g. --named lightcurve --param
    /// star=lm0010n22323.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// The statement is ADQL, read as the VO service reads it (TOP, POINT, CIRCLE,
    /// CONTAINS, DISTANCE; the catalogue's tables also under the survey's schema, e.g.
    /// eros2.stars, and TAP_SCHEMA), translated to SQL first.
    #[arg(long)]
    adql: bool,
    #[command(flatten)]
    catalog: OptionalCatalog,
    /// Output format [default: from the --output extension, else table].
    #[arg(long)]
    format: Option<OutputFormat>,
    /// Output file (`-` or absent: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// CSV field delimiter (one ASCII character; `tab` for a tab).
    #[arg(long, default_value = ",")]
    csv_delimiter: String,
    /// CSV line ends: `crlf` (RFC 4180) or `lf` [default: crlf in files, lf on standard
    /// output].
    #[arg(long, value_parser = ["crlf", "lf"])]
    csv_line_end: Option<String>,
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
    /// Directory for spill files [default: the system's temporary directory].
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Most disk space spill files may take, e.g. 10G [default: 100G].
    #[arg(long)]
    spill_limit: Option<String>,
    /// Run on a cluster: the scheduler's URL, df://HOST:PORT (a build with the `cluster`
    /// feature; the catalogue and files at the same path on every node; memory, spill and
    /// image output are then the executors' settings).
    #[arg(long, value_name = "df://HOST:PORT", conflicts_with_all = ["memory_limit", "spill_dir", "spill_limit", "output_root", "overwrite"])]
    cluster: Option<String>,
}

/// `--format` takes the names of the format table (`export::output_format`).
impl clap::ValueEnum for OutputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &crate::export::output_format::ALL_FORMATS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// Runs the query until it ends or SIGINT/SIGTERM arrives; then the query is dropped,
/// which cancels it and removes its partial output file and spill files.
pub(crate) async fn run(args: QueryArgs) -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    // A write to a FIFO whose reader stopped reading holds this thread: a task of the
    // runtime's own tells it to give up.
    let mut terminate_too =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch SIGTERM")?;
    let stopper = tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate_too.recv() => {}
        }
        crate::export::special_file::request_stop();
    });
    let result = tokio::select! {
        result = query(args) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (SIGINT): query cancelled, partial output removed")),
        _ = terminate.recv() => Err(anyhow::anyhow!("terminated (SIGTERM): query cancelled, partial output removed")),
    };
    stopper.abort();
    result
}

/// The catalogue's tables under the survey's schema (`eros2.stars`) and TAP_SCHEMA, as
/// the VO service publishes them, for ADQL written for the service.
pub(crate) async fn publish_as_the_service(
    engine: &Engine,
    ctx: &datafusion::prelude::SessionContext,
) -> Result<()> {
    use crate::service::tap_schema;
    tap_schema::register(ctx, engine, &tap_schema::schema_name(engine), &[]).await?;
    Ok(())
}

/// The statements before the last, each result on standard output; DDL (CREATE VIEW,
/// SET ...) has run when planned and shows nothing.
async fn run_leading(
    engine: &Engine,
    ctx: &datafusion::prelude::SessionContext,
    statements: &[String],
    format: OutputFormat,
) -> Result<()> {
    for statement in statements {
        let df = engine.sql(ctx, statement).await?;
        if !df.schema().fields().is_empty() {
            write_result(df, format, None, &ExportOptions::default()).await?;
        }
    }
    Ok(())
}

async fn query(args: QueryArgs) -> Result<()> {
    let sql = match (&args.sql, &args.file, &args.named) {
        (_, _, Some(name)) => crate::named_queries::named_query(name)
            .with_context(|| format!("no named query '{name}' (skyql queries lists them)"))?
            .to_string(),
        (Some(s), None, None) => s.clone(),
        (None, Some(f), None) => {
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        (Some(_), Some(_), _) => bail!("give the SQL as an argument or with --file, not both"),
        (None, None, None) => {
            bail!("no SQL: give it as an argument, with --file FILE or with --named NAME")
        }
    };
    let sql = if args.adql {
        crate::service::adql::translate(&sql)?
    } else {
        sql
    };
    let format = output_format(args.format, args.output.as_deref())?;
    let to_stdout = args.output.as_ref().is_none_or(|o| o.as_os_str() == "-");
    if to_stdout && format.is_binary() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        bail!(
            "--format {} is binary: give --output FILE, or send standard output to a file or a program",
            format.name()
        );
    }
    let options = EngineOptions {
        memory_limit: args.memory_limit.as_deref().map(parse_size).transpose()?,
        spill_dir: args.spill_dir.clone(),
        spill_limit: args
            .spill_limit
            .as_deref()
            .map(parse_size)
            .transpose()?
            .map(|n| n as u64),
        output_root: args.output_root.clone(),
        overwrite: args.overwrite,
        read_only: false,
        target_partitions: None,
        cluster: args.cluster.clone(),
        one_query: true,
        unchecked_reads: false,
        bad_lines: args.catalog.bad_lines,
    };
    let engine = Engine::open(args.catalog.catalog.as_deref(), options)?;
    if let Some(out) = &args.output {
        refuse_catalogue_path(&engine, out)?;
    }
    let extra = ExtraTable::parse_all(&args.catalog.tables)?;
    let ctx = engine.session(&extra).await?;
    if args.adql {
        publish_as_the_service(&engine, &ctx).await?;
    }
    let statements = crate::engine::split_statements(&sql);
    if statements.len() > 1 {
        if args.output.as_ref().is_some_and(|o| o.as_os_str() != "-") {
            bail!(
                "{} statements given with --output: write one statement per output file",
                statements.len()
            );
        }
        run_leading(&engine, &ctx, &statements[..statements.len() - 1], format).await?;
    }
    let sql = statements.last().cloned().unwrap_or(sql);
    let params = args
        .params
        .iter()
        .map(|p| Param::parse(p))
        .collect::<Result<Vec<_>>>()?;
    let df = parameters::bind(engine.sql(&ctx, &sql).await?, &sql, &params)?;
    let copy = crate::engine::copy_target(&df).filter(|t| !t.exists());
    let export = ExportOptions {
        csv_delimiter: parse_delimiter(&args.csv_delimiter)?,
        csv_crlf: args.csv_line_end.as_deref().map(|e| e == "crlf"),
        max_rows: args.max_rows,
        query: Some(sql.trim().to_string()),
        ..ExportOptions::default()
    };
    let summary = match write_result(df, format, args.output.as_deref(), &export).await {
        Ok(s) => s,
        Err(e) => {
            if let Some(words) = crate::engine::tables::explain_read_error(&ctx, &extra, &e).await {
                match args.output.as_ref().filter(|o| o.as_os_str() != "-") {
                    Some(out) => bail!("{words}\n{} was not written", out.display()),
                    None => bail!("{words}"),
                }
            }
            return Err(damaged_files(copy_failed(e, copy.as_deref()), &engine));
        }
    };
    if to_stdout && summary.overflow {
        eprintln!(
            "{} rows written; more rows exist (cut at --max-rows)",
            summary.rows
        );
    }
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

/// The error of a failed `COPY` into a new file: the partial file removed, and a full
/// disk named (DataFusion's own writers report it only as "error while finalizing
/// writes").
fn copy_failed(e: anyhow::Error, target: Option<&Path>) -> anyhow::Error {
    let Some(target) = target else { return e };
    let mut e = e;
    if target.is_file() && std::fs::remove_file(target).is_ok() {
        e = e.context(format!(
            "COPY failed; the partial {} was removed",
            target.display()
        ));
    }
    let dir = crate::catalog::durable::parent_dir(target);
    match skyql_udfs::images::output::free_bytes(&dir) {
        Some(free) if free < 1 << 20 && !format!("{e:#}").contains("No space left") => {
            e.context(format!(
                "No space left on device: {free} bytes free on the disk of {}",
                dir.display()
            ))
        }
        _ => e,
    }
}

/// A query that failed decoding its data: the catalogue's files are checked (size and
/// CRC-32; only then, so a typo costs nothing) and the damaged ones named with their
/// table.
fn damaged_files(e: anyhow::Error, engine: &Engine) -> anyhow::Error {
    let text = format!("{e:#}");
    let decoding = [
        "Parquet error",
        "Arrow error",
        "out of bounds",
        "Corrupt",
        "corrupt",
    ]
    .iter()
    .any(|k| text.contains(k));
    let Some(catalog) = engine.catalog().filter(|_| decoding) else {
        return e;
    };
    match crate::catalog::verify::verify(&catalog.dir) {
        Ok(report) if !report.problems.is_empty() => {
            let named: Vec<String> = report
                .problems
                .iter()
                .map(|p| format!("{} (table {}): {}", p.path.display(), p.table, p.reason))
                .collect();
            e.context(format!(
                "the catalogue is damaged: {}; restore these files or re-ingest their inputs",
                named.join("; ")
            ))
        }
        _ => e,
    }
}

/// `--format`, else the format the `--output` extension names, else a table.
fn output_format(format: Option<OutputFormat>, output: Option<&Path>) -> Result<OutputFormat> {
    if let Some(f) = format {
        return Ok(f);
    }
    match output {
        Some(p) if p.as_os_str() != "-" && p.extension().is_some() => {
            OutputFormat::from_extension(p).with_context(|| {
                format!(
                    "cannot tell the format of {} from its extension: give --format ({}) or use {}",
                    p.display(),
                    crate::export::output_format::format_names(),
                    crate::export::output_format::announcing_extensions()
                )
            })
        }
        _ => Ok(OutputFormat::Table),
    }
}

/// Refuses an output path inside the catalogue directory: a query never writes into
/// the catalogue it reads.
fn refuse_catalogue_path(engine: &Engine, output: &Path) -> Result<()> {
    if let Some(c) = engine.catalog()
        && crate::engine::is_inside(output, &c.dir)
    {
        bail!(
            "--output {} is inside the catalogue {}: write results elsewhere",
            output.display(),
            c.dir.display()
        );
    }
    Ok(())
}

/// Parses a size such as `512M` or `2G` (binary multiples).
pub(crate) fn parse_size(text: &str) -> Result<usize> {
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
