//! `skyql hats export TABLE --out HATS_DIR`: a table as a HATS collection for LSDB.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::OptionalCatalog;
use crate::engine::{Engine, EngineOptions, ExtraTable};
use crate::hats::upload::S3Export;
use crate::hats::{HatsOptions, export_hats};

/// Arguments of `skyql hats`.
#[derive(Debug, Args)]
pub(crate) struct HatsArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Write TABLE (a catalogue table or a --table file) as a HATS collection: the
    /// catalogue, one Parquet file per HEALPix pixel, and its margin catalogue.
    /// Measurements take the position of their star.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The table to export.
    table: String,
    #[command(flatten)]
    catalog: OptionalCatalog,
    /// The new directory of the HATS collection, or a new `s3://BUCKET/PREFIX` (written
    /// in a scratch directory under TMPDIR, then put there, its `collection.properties`
    /// last).
    #[arg(long)]
    out: PathBuf,
    /// Most rows per HEALPix pixel (hats_max_rows); denser pixels split, down to order 10.
    #[arg(long, default_value_t = 1_000_000)]
    max_rows: u64,
    /// Width of the margin catalogue, arcsec (hats_margin_threshold).
    #[arg(long, default_value_t = 10.0)]
    margin_arcsec: f64,
}

pub(crate) async fn run(args: HatsArgs) -> Result<()> {
    let Action::Export(args) = args.action;
    if !(args.margin_arcsec > 0.0 && args.margin_arcsec <= 3600.0) {
        anyhow::bail!("--margin-arcsec must be above 0 and at most 3600");
    }
    let options = EngineOptions {
        bad_lines: args.catalog.bad_lines,
        read_only: true,
        ..EngineOptions::default()
    };
    let engine = Engine::open(args.catalog.catalog.as_deref(), options)?;
    let extra = ExtraTable::parse_all(&args.catalog.tables)?;
    let ctx = engine.session(&extra).await?;
    let source = crate::engine::positioned_table(&ctx, &args.table).await?;
    let opts = HatsOptions {
        name: args.table.clone(),
        max_rows: args.max_rows.max(1),
        margin_arcsec: args.margin_arcsec,
    };
    let summary = match crate::object_stores::remote_url(&args.out) {
        None => export_hats(&ctx, source, &args.out, &opts).await?,
        Some(url) => {
            let upload = S3Export::begin(&url).await?;
            let scratch = crate::object_stores::scratch_dir::ScratchDir::new("hats-export")?;
            let local = scratch.path().join("collection");
            match export_hats(&ctx, source, &local, &opts).await {
                Ok(summary) => {
                    upload.finish(&local).await?;
                    summary
                }
                Err(e) => {
                    upload.abandon().await;
                    return Err(e);
                }
            }
        }
    };
    println!(
        "{}: {} rows read, {} written in {} HEALPix pixels, {} rejected (no position on the sky); margin of {} arcsec: {} rows; positions from {} and {}; HATS collection in {}",
        args.table,
        summary.read,
        summary.written,
        summary.pixels,
        summary.rejected,
        args.margin_arcsec,
        summary.margin_rows,
        summary.position.0,
        summary.position.1,
        args.out.display()
    );
    Ok(())
}
