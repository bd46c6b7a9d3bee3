//! SQL-level tests of skyql's functions: every `tests/sql/*.slt` file (the sqllogictest
//! format DataFusion uses for its own functions) run against a session of the engine, and
//! every `tests/sql/adql/*.slt` file as ADQL, translated by the service before planning
//! (`CREATE` statements, which set the tables up, run as they are).

use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use skyql::engine::{Engine, EngineOptions};
use sqllogictest::{DBOutput, DefaultColumnType};

/// A session of the engine, as sqllogictest's database.
struct Skyql {
    engine: Engine,
    ctx: SessionContext,
    adql: bool,
}

#[derive(Debug)]
struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() || matches!(t, DataType::Decimal128(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, Error> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .map_err(|e| Error(e.to_string()))?;
        let floats: Vec<bool> = b
            .columns()
            .iter()
            .map(|c| c.data_type().is_floating())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                formatters
                    .iter()
                    .zip(&floats)
                    .map(|(f, &float)| {
                        let text = f.value(i).to_string();
                        // Whole floats as integers (16.0 -> 16), as DataFusion's own tests.
                        match text.strip_suffix(".0") {
                            Some(whole) if float => whole.to_string(),
                            _ => text,
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Skyql {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Error> {
        let setup = sql.trim_start().to_ascii_uppercase().starts_with("CREATE");
        let sql = if self.adql && !setup {
            skyql::service::adql::translate(sql).map_err(|e| Error(format!("{e:#}")))?
        } else {
            sql.to_string()
        };
        let df = self
            .engine
            .sql(&self.ctx, &sql)
            .await
            .map_err(|e| Error(format!("{e:#}")))?;
        let types = df
            .schema()
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let batches = df.collect().await.map_err(|e| Error(e.to_string()))?;
        Ok(DBOutput::Rows {
            types,
            rows: rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "skyql"
    }
}

/// Every `.slt` file: SQL ones as they are, ADQL ones translated.
fn slt_files() -> Vec<(std::path::PathBuf, bool)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let slt = |dir: &Path| {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "slt"))
            .collect();
        files.sort();
        files
    };
    let sql_files = slt(&dir);
    let adql_files = slt(&dir.join("adql"));
    assert!(sql_files.len() >= 4 && !adql_files.is_empty());
    sql_files
        .into_iter()
        .map(|f| (f, false))
        .chain(adql_files.into_iter().map(|f| (f, true)))
        .collect()
}

/// Runs every file in sessions of the engine, embedded or on the cluster at `cluster`
/// (there without the ADQL files: their `CREATE TABLE ... AS VALUES` tables live in the
/// client's memory, which Ballista does not ship to executors, and the service that
/// speaks ADQL does not run on a cluster; docs/CLUSTER.md).
fn run_all(cluster: Option<String>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let files = slt_files()
        .into_iter()
        .filter(|(_, adql)| cluster.is_none() || !adql);
    for (file, adql) in files {
        let cluster = cluster.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let cluster = cluster.clone();
            async move {
                let options = EngineOptions {
                    cluster,
                    ..EngineOptions::default()
                };
                let engine = Engine::open(None, options).map_err(|e| Error(e.to_string()))?;
                let ctx = engine
                    .session(&[])
                    .await
                    .map_err(|e| Error(e.to_string()))?;
                Ok(Skyql { engine, ctx, adql })
            }
        });
        if let Err(e) = runtime.block_on(runner.run_file_async(&file)) {
            panic!("{}: {e}", file.display());
        }
    }
}

#[test]
fn sql_logic_tests() {
    run_all(None);
}

/// The same files on a Ballista cluster (a scheduler and two executors as processes on
/// loopback): every function gives the embedded answers.
#[cfg(feature = "cluster")]
#[test]
fn sql_logic_tests_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = skyql::cluster::loopback::LoopbackCluster::start(
        Path::new(env!("CARGO_BIN_EXE_skyql")),
        dir.path(),
        2,
        2,
        &dir.path().join("products"),
    )
    .unwrap();
    run_all(Some(cluster.url.clone()));
}
