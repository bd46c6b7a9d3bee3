//! `skyql functions` and `skyql describe-function NAME`: the engine's functions with the
//! documentation they give DataFusion (the same text as `information_schema.routines`).

use anyhow::{Result, bail};
use clap::Args;
use datafusion::logical_expr::Documentation;

use crate::engine::{Engine, EngineOptions};

/// Arguments of `skyql describe-function`.
#[derive(Debug, Args)]
pub(crate) struct DescribeFunctionArgs {
    /// Function name.
    name: String,
}

/// (name, documentation) of every skyql function a session has.
fn documented() -> Result<Vec<(String, Documentation)>> {
    let engine = Engine::open(None, EngineOptions::default())?;
    let scalar = engine
        .scalar_functions()
        .into_iter()
        .map(|f| (f.name().to_string(), f.documentation().cloned()));
    let aggregate = engine
        .aggregate_functions()
        .into_iter()
        .map(|f| (f.name().to_string(), f.documentation().cloned()));
    let table = skyql_udfs::TABLE_FUNCTIONS.iter().map(|name| {
        (
            name.to_string(),
            skyql_udfs::docs::documentation(name).cloned(),
        )
    });
    Ok(scalar
        .chain(aggregate)
        .chain(table)
        .filter_map(|(name, doc)| doc.map(|d| (name, d)))
        .collect())
}

pub(crate) fn list() -> Result<()> {
    for (_, d) in documented()? {
        println!("{:<55} {}", d.syntax_example, d.description);
    }
    Ok(())
}

pub(crate) fn describe(args: DescribeFunctionArgs) -> Result<()> {
    match documented()?
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&args.name))
    {
        Some((_, d)) => {
            println!("{}\n\n{}", d.syntax_example, d.description);
            Ok(())
        }
        None => bail!(
            "no skyql function '{}' (skyql functions lists them; DataFusion's own are in its documentation)",
            args.name
        ),
    }
}
