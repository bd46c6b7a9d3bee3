//! `skyql functions` and `skyql describe-function NAME`.

use anyhow::{Result, bail};
use clap::Args;

/// Arguments of `skyql describe-function`.
#[derive(Debug, Args)]
pub(crate) struct DescribeFunctionArgs {
    /// Function name.
    name: String,
}

pub(crate) fn list() -> Result<()> {
    for d in skyql_udfs::docs::FUNCTION_DOCS {
        println!("{:<55} {}", d.usage, d.description);
    }
    Ok(())
}

pub(crate) fn describe(args: DescribeFunctionArgs) -> Result<()> {
    match skyql_udfs::docs::function_doc(&args.name) {
        Some(d) => {
            println!("{}\n\n{}", d.usage, d.description);
            Ok(())
        }
        None => bail!(
            "no skyql function '{}' (skyql functions lists them; DataFusion's own are in its documentation)",
            args.name
        ),
    }
}
