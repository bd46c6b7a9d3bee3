//! `skyql plot lightcurve STAR_ID --output lc.svg` (or `.png`; `--period`, `--dark`,
//! `--width`, `--height`).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::engine::{Engine, EngineOptions};

/// What `skyql plot` draws.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlotKind {
    /// A star's light curve, both colours, with error bars (SVG or PNG).
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
    /// Output file: .svg or .png.
    #[arg(long)]
    output: PathBuf,
    /// Fold the light curve on this period (days): phase 0 to 2 on the x axis.
    #[arg(long)]
    period: Option<f64>,
    /// The MJD of phase 0 when folding [default: the brightest measurement's].
    #[arg(long, requires = "period")]
    epoch: Option<f64>,
    /// Width in pixels.
    #[arg(long, default_value_t = 900)]
    width: u32,
    /// Height in pixels.
    #[arg(long, default_value_t = 480)]
    height: u32,
    /// Light text on a dark background (slides).
    #[arg(long)]
    dark: bool,
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
            let style = crate::plot::PlotStyle {
                width: f64::from(args.width),
                height: f64::from(args.height),
                dark: args.dark,
                period: args.period,
                epoch: args.epoch,
            };
            let n = crate::plot::plot_lightcurve(&ctx, &args.star_id, &args.output, &style).await?;
            eprintln!(
                "{n} measurements of {} drawn in {}",
                args.star_id,
                args.output.display()
            );
        }
    }
    Ok(())
}
