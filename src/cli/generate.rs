//! `skyql generate`: the demo survey's raw files, or a synthetic catalogue written directly.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::SizeArgs;
use crate::conventions::Conventions;
use crate::demo::bulk::{BulkConfig, generate_catalog};

/// Arguments of `skyql generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
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
}

pub(crate) fn run(args: GenerateArgs) -> Result<()> {
    if let Some(catalog) = &args.catalog {
        let config = BulkConfig {
            measurements: args.measurements,
            stars: args.stars,
            fields: args.field_count,
            seed: args.size.seed,
            events_per_field: args.size.events.map(u64::from),
            periodic_fraction: args.size.periodic_fraction,
        };
        let r = generate_catalog(catalog, &config)?;
        let rate = if r.measurements > 0 {
            format!(
                "{:.2} million measurements/s",
                r.measurements as f64 / r.seconds / 1e6
            )
        } else {
            format!("{:.2} million stars/s", r.stars as f64 / r.seconds / 1e6)
        };
        eprintln!(
            "generated {} fields, {} stars, {} measurements in {} ({:.1} s, {rate}); {} microlensing events and {} periodic variables injected, their truth in {}",
            r.fields,
            r.stars,
            r.measurements,
            catalog.display(),
            r.seconds,
            r.events,
            r.periodic,
            catalog.join("truth").display(),
        );
        if r.measurements != args.measurements {
            eprintln!(
                "({} measurements asked: each star gets the same epochs and 5% of its points are drawn missing, so the count is close to, not exactly, the one asked)",
                args.measurements
            );
        }
        return Ok(());
    }
    let out = args.out.context("--out or --catalog is required")?;
    let config = args.size.config();
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
