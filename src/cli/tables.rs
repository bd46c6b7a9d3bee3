//! `skyql tables`: the catalogue's tables and row counts.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::catalog::Catalog;

/// Arguments of `skyql tables`.
#[derive(Debug, Args)]
pub(crate) struct TablesArgs {
    /// Catalogue directory.
    #[arg(long, env = "SKYQL_CATALOG")]
    catalog: PathBuf,
}

pub(crate) fn run(args: TablesArgs) -> Result<()> {
    let c = Catalog::open(&args.catalog)?;
    println!(
        "catalogue {} (version {}, schema {})",
        args.catalog.display(),
        c.manifest.version,
        c.manifest.schema_version
    );
    for (name, t) in &c.manifest.tables {
        println!("{name:<20} {:>12} rows  {:>5} files", t.rows, t.files);
    }
    Ok(())
}
