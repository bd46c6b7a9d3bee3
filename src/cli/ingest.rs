//! `skyql ingest`: files and directories into a catalogue, with a progress bar and the
//! end-of-ingest accounting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::conventions::Conventions;
use crate::ingest::{IngestOptions, IngestReport, InputFormat, Progress, described, ingest};

/// Arguments of `skyql ingest`.
#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Files or directories (searched recursively).
    #[arg(required_unless_present_any = ["detect", "tables"])]
    inputs: Vec<PathBuf>,
    /// Catalogue directory (created if absent), or s3://BUCKET/PREFIX (docs/PUBLISH.md).
    #[arg(long, env = "SKYQL_CATALOG")]
    catalog: Option<PathBuf>,
    /// Input format: auto (by file name, each shipped description's patterns: `skyql
    /// ingest --detect FILE` says which reads a file), fits, or a shipped light-curve
    /// format description: eros, macho, ogle, moa, kmtnet, asas, ipac.
    #[arg(long, default_value = "auto")]
    format: String,
    /// A light-curve format description (TOML, see docs/FORMATS.md): every input is read
    /// with it.
    #[arg(long, value_name = "FILE.toml", conflicts_with = "format")]
    format_file: Option<PathBuf>,
    /// Prints which format description reads FILE (or why none does), and ingests nothing.
    #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
    detect: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Survey conventions table (default: the compiled-in EROS-2 one).
    #[arg(long)]
    conventions: Option<PathBuf>,
    /// Ingest a table file as the catalogue table NAME (repeatable): a VOTable, CSV/TSV,
    /// text or CDS catalogue, Parquet or FITS table, as `skyql query --table` reads it;
    /// written in HEALPix order (with `_healpix_29`) when it has positions.
    #[arg(long = "table", value_name = "NAME=PATH")]
    tables: Vec<String>,
}

fn input_format(args: &IngestArgs) -> Result<Option<InputFormat>> {
    if let Some(path) = &args.format_file {
        return Ok(Some(InputFormat::Lightcurve(described::load_file(path)?)));
    }
    Ok(match args.format.as_str() {
        "auto" => None,
        "fits" => Some(InputFormat::Fits),
        name => Some(InputFormat::Lightcurve(described::shipped_named(name)?)),
    })
}

pub(crate) fn run(args: IngestArgs) -> Result<()> {
    let conventions = match &args.conventions {
        Some(p) => Conventions::from_file(p)?,
        None => Conventions::eros2()?,
    };
    let format = input_format(&args)?;
    if let Some(file) = &args.detect {
        return detect(file, format, &conventions);
    }
    let tables = args
        .tables
        .iter()
        .map(|t| {
            let (name, path) = t
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--table expects NAME=PATH, got '{t}'"))?;
            Ok((name.to_string(), PathBuf::from(path)))
        })
        .collect::<Result<Vec<_>>>()?;
    let Some(catalog) = args.catalog else {
        bail!("give --catalog DIR (or set SKYQL_CATALOG): the catalogue to ingest into");
    };
    let remote = crate::object_stores::remote_url(&catalog);
    let new = remote.is_none() && std::fs::symlink_metadata(&catalog).is_err();
    if new
        && args
            .inputs
            .iter()
            .all(|i| std::fs::symlink_metadata(i).is_ok())
    {
        eprintln!("creating the catalogue {}", catalog.display());
    }
    let options = IngestOptions {
        inputs: args.inputs,
        catalog,
        format,
        jobs: args.jobs,
        conventions,
        progress: Some(progress_bar()),
        tables,
    };
    let report = match remote {
        Some(url) => crate::ingest::into_store::ingest_into_store(&url, &options)?,
        None => ingest(&options)?,
    };
    print_report(&report);
    Ok(())
}

/// `--detect FILE`: one line per description, the best first; an error when none fits.
fn detect(file: &Path, format: Option<InputFormat>, conventions: &Conventions) -> Result<()> {
    let extra: Vec<_> = match format {
        Some(InputFormat::Lightcurve(d)) => vec![d],
        _ => vec![],
    };
    let verdicts = described::detect::detect(file, &extra, conventions)?;
    println!("{}:", file.display());
    println!("  {:<8} {:<4} what it reads", "format", "fits");
    for v in &verdicts {
        println!("  {v}");
    }
    match verdicts.iter().find(|v| v.fits) {
        Some(best) => {
            println!("best: --format {}", best.format);
            Ok(())
        }
        None => bail!(
            "no format description reads {} (see above why); write one (docs/FORMATS.md) and pass it with --format-file",
            file.display()
        ),
    }
}

/// Prints the accounting (standard output) and the first rejections (standard error).
pub(crate) fn print_report(report: &IngestReport) {
    print!("{report}");
    eprint!("{}", report.rejects_summary(10));
}

/// A progress bar on standard error (hidden when it is not a terminal).
#[derive(Debug)]
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, files: u64) {
        self.0.set_length(files);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// The ingest's progress bar.
pub(crate) fn progress_bar() -> Arc<dyn Progress> {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} ingest [{bar:40}] {pos}/{len} files ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Arc::new(Bar(bar))
}
