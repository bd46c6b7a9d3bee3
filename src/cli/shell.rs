//! `skyql shell`: an interactive SQL prompt with history and multi-line statements.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::OptionalCatalog;
use crate::engine::following::FollowingSession;
use crate::engine::{EngineOptions, ExtraTable};

/// Arguments of `skyql shell`.
#[derive(Debug, Args)]
pub(crate) struct ShellArgs {
    #[command(flatten)]
    catalog: OptionalCatalog,
}

const HELP: &str = "End statements with ';'. Commands:
  \\d          the tables, with the catalogue's row counts
  \\d TABLE    a table's columns: types, units, UCDs, descriptions
  \\timing     show each statement's time (again: stop)
  \\adql       read statements as ADQL (TOP, POINT, CIRCLE, CONTAINS; eros2.stars), as the VO service does
  \\sql        read statements as SQL again (the default)
  \\h          this help
  \\q          quit
A statement longer than a second shows its time and rows on a progress line; Ctrl-C cancels it.";

/// Runs the shell until end of input or `\q`.
pub(crate) async fn run(args: ShellArgs) -> Result<()> {
    // The shell follows the catalogue: each statement runs on the version published last.
    let mut session = FollowingSession::open(
        args.catalog.catalog.clone(),
        EngineOptions {
            bad_lines: args.catalog.bad_lines,
            ..EngineOptions::default()
        },
        ExtraTable::parse_all(&args.catalog.tables)?,
    )
    .await?;
    let mut editor = DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| Path::new(&h).join(".skyql_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("skyql shell. {HELP}");
    let mut buffer = String::new();
    let mut adql = false;
    let mut timing = false;
    loop {
        let prompt = if buffer.is_empty() {
            "skyql> "
        } else {
            "   ..> "
        };
        let line = match editor.readline(prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match trimmed {
                "\\q" => break,
                "\\h" | "\\?" => {
                    println!("{HELP}");
                }
                "\\adql" => {
                    adql = true;
                    println!("statements are read as ADQL (\\sql to go back)");
                }
                "\\sql" => {
                    adql = false;
                    println!("statements are read as SQL");
                }
                "\\timing" => {
                    timing = !timing;
                    println!("timing is {}", if timing { "on" } else { "off" });
                }
                "\\d" => {
                    follow(&mut session).await;
                    print!(
                        "{}",
                        super::describe::list_tables(session.engine(), session.ctx())
                    );
                }
                t if t.starts_with("\\d ") => {
                    follow(&mut session).await;
                    match super::describe::describe_table(session.ctx(), t[3..].trim()).await {
                        Ok(text) => print!("{text}"),
                        Err(e) => eprintln!("error: {e:#}"),
                    }
                }
                other => eprintln!("unknown command {other}; {HELP}"),
            }
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            let statement = std::mem::take(&mut buffer);
            let _ = editor.add_history_entry(statement.trim());
            if let Some(h) = &history {
                let _ = editor.save_history(h);
            }
            let started = std::time::Instant::now();
            run_statement(&mut session, statement.trim(), adql).await;
            if timing {
                println!("time: {:.3} s", started.elapsed().as_secs_f64());
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// Opens the version an ingest published since the last statement, and says so.
async fn follow(session: &mut FollowingSession) {
    match session.follow().await {
        Ok(Some(version)) => eprintln!("(catalogue version {version}, published by an ingest)"),
        Ok(None) => {}
        Err(e) => eprintln!(
            "the catalogue changed but cannot be opened ({e:#}); staying on the version read so far"
        ),
    }
}

/// Runs the statements of `sql` in turn, each on the catalogue's latest version; Ctrl-C
/// cancels them and returns to the prompt.
async fn run_statement(session: &mut FollowingSession, sql: &str, adql: bool) {
    let run = async {
        for statement in crate::engine::split_statements(sql) {
            follow(session).await;
            let statement = if adql {
                // The survey's schema and TAP_SCHEMA, once per version followed.
                let published = session
                    .ctx()
                    .catalog("datafusion")
                    .and_then(|c| c.schema("tap_schema"))
                    .is_some();
                if !published {
                    crate::cli::query::publish_as_the_service(session.engine(), session.ctx())
                        .await?;
                }
                crate::service::adql::translate(&statement)?
            } else {
                statement
            };
            let df = session.engine().sql(session.ctx(), &statement).await?;
            super::progress_line::print_with_progress(df).await?;
        }
        Ok::<(), anyhow::Error>(())
    };
    tokio::select! {
        result = run => {
            if let Err(e) = result {
                match crate::engine::tables::explain_read_error(session.ctx(), session.extra(), &e).await {
                    Some(words) => eprintln!("error: {words}"),
                    None => eprintln!("error: {e:#}"),
                }
            }
        }
        _ = tokio::signal::ctrl_c() => eprintln!("cancelled"),
    }
}
