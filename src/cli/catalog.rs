//! `skyql catalog verify` and `skyql catalog repair`; the row rules and read grants:
//! `skyql catalog protect`, `grant`, `rules`, `unprotect` (docs/ACCESS.md).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use datafusion::arrow::datatypes::Schema;
use datafusion::execution::SessionState;

use crate::access::clock;
use crate::access::row_filter::rule_columns;
use crate::access::row_rules::{Removed, RowRules};
use crate::access::table_grants::table_pattern;
use crate::catalog::verify::{repair, verify};
use crate::engine::{Engine, EngineOptions};

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
    /// Hide the rows matching a condition from everyone outside some groups until a
    /// release date (the service enforces it; every table with the condition's columns).
    Protect {
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: PathBuf,
        /// The rows protected, as a SQL condition on their columns (`field = 'lm001'`).
        #[arg(long = "where", value_name = "CONDITION")]
        condition: String,
        /// The release date (UTC, YYYY-MM-DD): from then on, everyone sees the rows.
        #[arg(long)]
        until: String,
        /// The groups that see the rows before the release date, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        groups: Vec<String>,
    },
    /// Let only some groups read a table, or every table of a schema (the service hides
    /// it, name included, from everyone else).
    Grant {
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: PathBuf,
        /// The table as TAP names it (`eros2.images`), or `SCHEMA.*` for every table of a
        /// schema.
        #[arg(long)]
        table: String,
        /// The groups that may read it, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        groups: Vec<String>,
        /// A release date (UTC, YYYY-MM-DD): from then on, everyone reads the table.
        /// Without it, the grant holds until `unprotect` removes it.
        #[arg(long)]
        until: Option<String>,
    },
    /// List the row rules and the read grants.
    Rules {
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: PathBuf,
    },
    /// Remove a row rule or a read grant.
    Unprotect {
        /// Catalogue directory.
        #[arg(long, env = "SKYQL_CATALOG")]
        catalog: PathBuf,
        /// The rule's or grant's id (`skyql catalog rules` lists them).
        #[arg(long)]
        id: u64,
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
        Action::Protect {
            catalog,
            condition,
            until,
            groups,
        } => {
            let (state, tables) = super::runtime()?.block_on(table_schemas(&catalog))?;
            let (columns, applies_to) = rule_columns(&state, &condition, &tables)?;
            let now = clock::system_mjd();
            let id = RowRules::change(&catalog, |r| {
                r.add(&condition, columns, &until, &groups, now)
            })?;
            println!(
                "rule {id}: rows where {condition} of {} hidden from all but {} until {until}",
                applies_to.join(", "),
                groups.join(", ")
            );
            // Summaries of the rows it hides that it cannot filter: their columns are
            // withheld (docs/ACCESS.md).
            let has = |t: &str| applies_to.iter().any(|a| a == t);
            for (summary, _) in &tables {
                let Some((of, columns)) = crate::schema::summary_columns(summary) else {
                    continue;
                };
                if has(of) && !has(summary) {
                    eprintln!(
                        "skyql catalog protect: {summary} summarizes {of} without the rule's columns: its {} are withheld (null) from those the rule hides rows from",
                        columns.join(", ")
                    );
                }
            }
            Ok(())
        }
        Action::Grant {
            catalog,
            table,
            groups,
            until,
        } => {
            let pattern = table_pattern(&table)?;
            check_granted_table(&catalog, &pattern)?;
            let now = clock::system_mjd();
            let id = RowRules::change(&catalog, |r| {
                r.grant(&pattern, &groups, until.as_deref(), now)
            })?;
            let until = until.map(|u| format!(" until {u}")).unwrap_or_default();
            println!(
                "grant {id}: {pattern} read by {} only{until}",
                groups.join(", ")
            );
            Ok(())
        }
        Action::Rules { catalog } => {
            let rules = RowRules::read(&catalog)?;
            if rules.rules.is_empty() {
                println!(
                    "catalogue {}: no row rules (every row public)",
                    catalog.display()
                );
            }
            if rules.grants.is_empty() {
                println!(
                    "catalogue {}: no read grants (every table public)",
                    catalog.display()
                );
            }
            let now = clock::system_mjd();
            for r in &rules.rules {
                println!(
                    "{:>3}  where {}  until {}{}  groups {}  (columns {})",
                    r.id,
                    r.condition,
                    r.until,
                    if now >= r.until_mjd() {
                        " (released)"
                    } else {
                        ""
                    },
                    r.groups.join(","),
                    r.columns.join(",")
                );
            }
            for g in &rules.grants {
                let until = match &g.until {
                    Some(u) if now >= g.until_mjd() => format!("  until {u} (released)"),
                    Some(u) => format!("  until {u}"),
                    None => String::new(),
                };
                println!(
                    "{:>3}  grant {}  groups {}{until}",
                    g.id,
                    g.table,
                    g.groups.join(",")
                );
            }
            Ok(())
        }
        Action::Unprotect { catalog, id } => {
            match RowRules::change(&catalog, |rules| rules.remove(id))? {
                Removed::Rule(r) => println!(
                    "rule {id} removed: rows where {} are visible to everyone",
                    r.condition
                ),
                Removed::Grant(g) => println!(
                    "grant {id} removed: {} no longer read by {} only",
                    g.table,
                    g.groups.join(", ")
                ),
            }
            Ok(())
        }
    }
}

/// Refuses a grant naming a table of the catalogue's published schema that the
/// catalogue does not have (a misspelt grant would protect nothing). Other schemas
/// (`ivoa`, the tables `skyql serve` publishes beside the catalogue) are the service's,
/// and taken as given.
fn check_granted_table(catalog: &std::path::Path, pattern: &str) -> Result<()> {
    let engine = read_only(catalog)?;
    let schema = crate::service::tap_schema::schema_name(&engine);
    let (granted_schema, table) = pattern.split_once('.').unwrap_or((pattern, ""));
    if granted_schema == "public" {
        bail!(
            "--table {pattern}: the service publishes the catalogue's tables as {schema}.TABLE (a grant on {schema}.TABLE hides every name of that table)"
        );
    }
    if granted_schema != schema {
        if granted_schema != crate::service::tap_schema::IVOA_SCHEMA {
            eprintln!(
                "skyql catalog grant: {granted_schema} is not the catalogue's schema ({schema}): the grant holds for a table the service publishes beside the catalogue under that name, and for nothing else"
            );
        }
        return Ok(());
    }
    if table == "*" {
        return Ok(());
    }
    let tables: Vec<String> = engine
        .catalog()
        .map(|c| c.manifest.tables.keys().cloned().collect())
        .unwrap_or_default();
    if !tables.iter().any(|t| t.eq_ignore_ascii_case(table)) {
        bail!(
            "--table {pattern}: the catalogue publishes no such table in {schema} (its tables: {})",
            tables.join(", ")
        );
    }
    Ok(())
}

/// A session on the catalogue (for skyql's functions) and every table of the catalogue
/// with its schema, as queries see it.
async fn table_schemas(catalog: &std::path::Path) -> Result<(SessionState, Vec<(String, Schema)>)> {
    let engine = read_only(catalog)?;
    let ctx = engine.session(&[]).await?;
    let names: Vec<String> = engine
        .catalog()
        .map(|c| c.manifest.tables.keys().cloned().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for name in names {
        let schema = ctx.table(name.as_str()).await?.schema().as_arrow().clone();
        out.push((name, schema));
    }
    Ok((ctx.state(), out))
}

/// The engine on the catalogue at `catalog`, read-only.
fn read_only(catalog: &std::path::Path) -> Result<Engine> {
    Engine::open(
        Some(catalog),
        EngineOptions {
            read_only: true,
            ..EngineOptions::default()
        },
    )
}
