//! `skyql ingest`: files and directories into a catalogue, with a progress bar and the
//! end-of-ingest accounting.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::conventions::Conventions;
use crate::ingest::{IngestOptions, IngestReport, InputFormat, Progress, ingest};

/// Arguments of `skyql ingest`.
#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
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
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Auto,
    Fits,
    Eros,
    Macho,
}

pub(crate) fn run(args: IngestArgs) -> Result<()> {
    let conventions = match &args.conventions {
        Some(p) => Conventions::from_file(p)?,
        None => Conventions::eros2()?,
    };
    let format = match args.format {
        FormatArg::Auto => None,
        FormatArg::Fits => Some(InputFormat::Fits),
        FormatArg::Eros => Some(InputFormat::Eros),
        FormatArg::Macho => Some(InputFormat::Macho),
    };
    let report = ingest(&IngestOptions {
        inputs: args.inputs,
        catalog: args.catalog,
        format,
        jobs: args.jobs,
        conventions,
        progress: Some(progress_bar()),
    })?;
    print_report(&report);
    Ok(())
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
