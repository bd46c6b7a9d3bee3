//! `skyql describe TABLE`: columns with types, units, UCDs and descriptions.

use anyhow::{Context, Result};
use clap::Args;
use datafusion::arrow::datatypes::DataType;

use super::OptionalCatalog;
use crate::engine::{Engine, EngineOptions, ExtraTable};

/// Arguments of `skyql describe`.
#[derive(Debug, Args)]
pub(crate) struct DescribeArgs {
    /// Table name.
    table: String,
    #[command(flatten)]
    catalog: OptionalCatalog,
}

pub(crate) async fn run(args: DescribeArgs) -> Result<()> {
    let engine = Engine::open(args.catalog.catalog.as_deref(), EngineOptions::default())?;
    let ctx = engine
        .session(&ExtraTable::parse_all(&args.catalog.tables)?)
        .await?;
    let table = &args.table;
    let provider = ctx
        .table_provider(table)
        .await
        .with_context(|| format!("no table '{table}'"))?;
    let schema = provider.schema();
    println!(
        "{:<16} {:<28} {:<8} {:<14} {:<30} description",
        "column", "type", "null", "unit", "ucd"
    );
    for f in schema.fields() {
        let md =
            crate::schema::column_metadata(table, f.name()).unwrap_or_else(|| f.metadata().clone());
        let get = |k: &str| md.get(k).cloned().unwrap_or_default();
        let dtype = match f.data_type() {
            DataType::Struct(_) => "Struct".to_string(),
            DataType::Map(..) => "Map(Utf8, Utf8)".to_string(),
            d => d.to_string(),
        };
        println!(
            "{:<16} {:<28} {:<8} {:<14} {:<30} {}",
            f.name(),
            dtype,
            if f.is_nullable() { "yes" } else { "no" },
            get("unit"),
            get("ucd"),
            get("description")
        );
    }
    Ok(())
}
