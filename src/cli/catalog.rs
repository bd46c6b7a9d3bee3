//! `skyql catalog verify` and `skyql catalog repair`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use crate::catalog::verify::{repair, verify};

/// Arguments of `skyql catalog`.
#[derive(Debug, Args)]
pub(crate) struct CatalogArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Read every data file and check it against the manifest (size, CRC-32, rows).
    Verify {
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: PathBuf,
    },
    /// Remove what interrupted writes left (what every ingest does first).
    Repair {
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: PathBuf,
    },
}

pub(crate) fn run(args: CatalogArgs) -> Result<()> {
    match args.action {
        Action::Verify { catalog } => {
            let report = verify(&catalog)?;
            println!("{report}");
            if !report.problems.is_empty() {
                bail!("catalogue {} is damaged", catalog.display());
            }
            Ok(())
        }
        Action::Repair { catalog } => {
            let removed = repair(&catalog)?;
            for p in &removed {
                println!("removed {}", p.display());
            }
            println!(
                "catalogue {}: {} leftover(s) of interrupted writes removed",
                catalog.display(),
                removed.len()
            );
            Ok(())
        }
    }
}
