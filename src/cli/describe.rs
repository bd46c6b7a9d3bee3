//! `skyql describe TABLE`: columns with types, units, UCDs and descriptions.

use anyhow::{Result, bail};
use clap::Args;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

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
    let engine = Engine::open(
        args.catalog.catalog.as_deref(),
        EngineOptions {
            bad_lines: args.catalog.bad_lines,
            ..EngineOptions::default()
        },
    )?;
    let ctx = engine
        .session(&ExtraTable::parse_all(&args.catalog.tables)?)
        .await?;
    print!("{}", describe_table(&ctx, &args.table).await?);
    Ok(())
}

/// A table's columns with types, units, UCDs and descriptions, one line each (what
/// `skyql describe` and the shell's `\d TABLE` print).
pub(crate) async fn describe_table(ctx: &SessionContext, table: &str) -> Result<String> {
    let Ok(provider) = ctx.table_provider(table).await else {
        let no_table = crate::engine::user_error::no_table_message(ctx, table, false);
        bail!("{no_table}");
    };
    let schema = provider.schema();
    let mut out = format!(
        "{:<16} {:<28} {:<8} {:<14} {:<30} description\n",
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
        out.push_str(&format!(
            "{:<16} {:<28} {:<8} {:<14} {:<30} {}\n",
            f.name(),
            dtype,
            if f.is_nullable() { "yes" } else { "no" },
            get("unit"),
            get("ucd"),
            get("description")
        ));
    }
    Ok(out)
}

/// The session's tables, sorted, with the catalogue's row counts (what the shell's `\d`
/// prints).
pub(crate) fn list_tables(engine: &Engine, ctx: &SessionContext) -> String {
    let mut out = String::new();
    for name in crate::engine::user_error::table_names(ctx) {
        let rows = engine
            .catalog()
            .and_then(|c| c.manifest.tables.get(&name))
            .map(|t| format!("{:>14} rows", t.rows))
            .unwrap_or_default();
        out.push_str(&format!("{name:<24}{rows}\n"));
    }
    if out.is_empty() {
        out.push_str("no tables: give --catalog or --table NAME=PATH\n");
    }
    out
}
