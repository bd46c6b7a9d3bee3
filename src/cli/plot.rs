//! `skyql plot lightcurve STAR_ID --output lc.svg`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::engine::{Engine, EngineOptions};

/// What `skyql plot` draws.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlotKind {
    /// A star's light curve, both colours, with error bars (SVG).
    Lightcurve,
}

/// Arguments of `skyql plot`.
#[derive(Debug, Args)]
pub(crate) struct PlotArgs {
    /// What to draw.
    #[arg(value_enum)]
    kind: PlotKind,
    /// The star.
    star_id: String,
    /// Catalogue directory.
    #[arg(long, env = "SKYQL_CATALOG")]
    catalog: Option<PathBuf>,
    /// Output file (.svg).
    #[arg(long)]
    output: PathBuf,
}

pub(crate) async fn run(args: PlotArgs) -> Result<()> {
    let options = EngineOptions {
        one_query: true,
        ..EngineOptions::default()
    };
    let engine = Engine::open(args.catalog.as_deref(), options)?;
    let ctx = engine.session(&[]).await?;
    match args.kind {
        PlotKind::Lightcurve => {
            let n = crate::plot::plot_lightcurve(&ctx, &args.star_id, &args.output).await?;
            eprintln!(
                "{n} measurements of {} drawn in {}",
                args.star_id,
                args.output.display()
            );
        }
    }
    Ok(())
}
