//! The tables a service publishes beside its catalogue: reference catalogues and HATS
//! collections given as `skyql serve --table [SCHEMA.]NAME=PATH` or as `[[tables]]`
//! entries of the configuration (docs/PUBLISH.md).
//!
//! Each is read as `skyql query --table` reads it (HATS, Parquet, CSV/TSV, text and CDS
//! catalogues, VOTable, FITS tables) and published as `SCHEMA.NAME` (the schema `ref`
//! when none is given), a view whose column names are in lower case (ADQL names are
//! case-insensitive; the file's own names stay when two would collide). Its description,
//! units, UCDs and column descriptions come from the file (FITS TUNIT/TUCD/TCOMM, the
//! VOTable's FIELDs, the CDS ReadMe, HATS properties) and go to TAP_SCHEMA and
//! `/tap/tables`. A table with a position (found by [`ConeColumns::find`]) also gets a
//! Simple Cone Search at `/scs/SCHEMA.NAME`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::metadata::FieldMetadata;
use datafusion::prelude::{SessionContext, col};
use serde::Deserialize;
use skyql_udfs::table_functions::positions::position_columns;

use super::tap_schema::PublishedTable;
use crate::formats::columns::{ExportColumn, ExportLayout};
use crate::formats::text_lines::BadLines;

/// The schema of a published table given without one.
pub const DEFAULT_SCHEMA: &str = "ref";

/// A `[[tables]]` entry of the configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    /// `SCHEMA.NAME` or `NAME` (schema `ref`).
    pub name: String,
    /// The file or directory (relative to the configuration file's directory).
    pub path: PathBuf,
    /// What a row is (default: the file's own description, if any).
    #[serde(default)]
    pub description: Option<String>,
}

/// A table to publish, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSource {
    /// Its schema (lower case).
    pub schema: String,
    /// Its name in the schema (lower case).
    pub name: String,
    /// The file or directory.
    pub path: PathBuf,
    /// What a row is, when the configuration says.
    pub description: Option<String>,
}

impl TableSource {
    /// Parses `[SCHEMA.]NAME=PATH` (the `--table` option).
    pub fn parse(text: &str) -> Result<TableSource> {
        let (name, path) = text
            .split_once('=')
            .with_context(|| format!("--table expects [SCHEMA.]NAME=PATH, got '{text}'"))?;
        Self::from_entry(&TableEntry {
            name: name.to_string(),
            path: PathBuf::from(path),
            description: None,
        })
    }

    /// A configuration entry checked.
    pub fn from_entry(entry: &TableEntry) -> Result<TableSource> {
        let (schema, name) = match entry.name.split_once('.') {
            Some((s, n)) => (s, n),
            None => (DEFAULT_SCHEMA, entry.name.as_str()),
        };
        for part in [schema, name] {
            let ok = part.starts_with(|c: char| c.is_ascii_alphabetic())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                bail!(
                    "table name '{}': schema and name must start with a letter and hold letters, digits and _",
                    entry.name
                );
            }
        }
        if matches!(
            schema.to_ascii_lowercase().as_str(),
            "tap_schema" | "ivoa" | "tap_upload"
        ) {
            bail!(
                "table name '{}': the schema {schema} is the service's own",
                entry.name
            );
        }
        Ok(TableSource {
            schema: schema.to_ascii_lowercase(),
            name: name.to_ascii_lowercase(),
            path: entry.path.clone(),
            description: entry.description.clone(),
        })
    }

    /// `schema.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// The tables of the configuration (paths relative to `config_dir`) and of the command
/// line, checked: one table per qualified name.
pub fn sources(
    entries: &[TableEntry],
    config_dir: Option<&Path>,
    command_line: &[TableSource],
) -> Result<Vec<TableSource>> {
    let mut out = Vec::new();
    for e in entries {
        let mut s = TableSource::from_entry(e)?;
        if let Some(dir) = config_dir
            && s.path.is_relative()
            && !crate::object_stores::is_remote(&s.path)
        {
            s.path = dir.join(&s.path);
        }
        out.push(s);
    }
    out.extend(command_line.iter().cloned());
    let mut seen = HashSet::new();
    for s in &out {
        if !seen.insert(s.qualified()) {
            bail!("the table {} is given twice", s.qualified());
        }
    }
    Ok(out)
}

/// The columns of a table's cone search: its identifier (if any) and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct ConeColumns {
    /// The main identifier column.
    pub id: Option<String>,
    /// Right ascension, degrees.
    pub ra: String,
    /// Declination, degrees.
    pub dec: String,
}

impl ConeColumns {
    /// The main position of a table as `xmatch` and `skyql hats export` find it
    /// (`position_columns`: the numeric columns in degrees with UCD `pos.eq.ra`/`pos.eq.dec`,
    /// `meta.main` first, else named `ra`/`dec`, `RAJ2000`/`DEJ2000`, ...); the identifier
    /// is the `meta.id;meta.main` column, else the first `meta.id` one.
    pub fn find(columns: &[ExportColumn]) -> Option<ConeColumns> {
        let schema = Schema::new(
            columns
                .iter()
                .map(ExportColumn::arrow_field)
                .collect::<Vec<_>>(),
        );
        let (ra, dec) = position_columns(&schema, "").ok()?;
        let with_ucd = |exact: bool| {
            columns
                .iter()
                .find(|c| {
                    c.ucd.as_deref().is_some_and(|u| {
                        let u = u.to_ascii_lowercase();
                        if exact {
                            u == "meta.id;meta.main"
                        } else {
                            u.split(';').next() == Some("meta.id")
                        }
                    })
                })
                .map(|c| c.name.clone())
        };
        let id = with_ucd(true).or_else(|| with_ucd(false));
        Some(ConeColumns { id, ra, dec })
    }
}

/// A published table as it was registered.
#[derive(Debug, Clone)]
pub struct Registered {
    /// Its TAP_SCHEMA description.
    pub published: PublishedTable,
    /// Its cone search's columns, when it has a position.
    pub cone: Option<ConeColumns>,
    /// Whether its rows are files a cluster's executors can read (Parquet, CSV).
    pub files: bool,
    /// Its leaf files, when it is a HATS table on a local disk (for the fixed cone plan).
    pub hats: Option<crate::hats::table::HatsFiles>,
}

/// Reads every source and registers it in `ctx` as `schema.name` (creating the schema).
/// An error names the table and its path.
pub async fn register(ctx: &SessionContext, sources: &[TableSource]) -> Result<Vec<Registered>> {
    let catalog = ctx
        .catalog("datafusion")
        .context("the session has no default catalog")?;
    let mut out = Vec::new();
    for source in sources {
        let view = SourceView::read(ctx, source)
            .await
            .with_context(|| format!("table {} ({})", source.qualified(), source.path.display()))?;
        if catalog.schema(&source.schema).is_none() {
            catalog.register_schema(&source.schema, Arc::new(MemorySchemaProvider::new()))?;
        }
        ctx.register_table(source.qualified().as_str(), view.provider)?;
        let description = source
            .description
            .clone()
            .or(view.description)
            .unwrap_or_else(|| format!("Published from {}", file_name(&source.path)));
        out.push(Registered {
            cone: ConeColumns::find(&view.columns),
            files: view.files,
            hats: view.hats,
            published: PublishedTable {
                schema: source.schema.clone(),
                name: source.name.clone(),
                description,
                columns: view.columns,
            },
        });
    }
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "a file".into())
}

/// A source read: its view with lower-case column names, what the file says of it.
struct SourceView {
    provider: Arc<dyn datafusion::catalog::TableProvider>,
    /// The file's own description (HATS `obs_description` or `obs_title`, the schema's
    /// `description` metadata).
    description: Option<String>,
    /// The view's columns with their metadata (HATS position columns given their UCDs).
    columns: Vec<ExportColumn>,
    /// Whether the rows are read from files a cluster's executors can open.
    files: bool,
    /// A local HATS table's leaf files.
    hats: Option<crate::hats::table::HatsFiles>,
}

impl SourceView {
    /// Reads a source in a session of its own (the file registered there as `--table`
    /// registers it), then builds its view in `ctx`.
    async fn read(ctx: &SessionContext, source: &TableSource) -> Result<SourceView> {
        let scratch = crate::object_stores::plain_session()?;
        crate::engine::tables::register_file(
            &scratch,
            &source.name,
            &source.path,
            false,
            BadLines::Error,
        )
        .await?;
        let provider = scratch
            .table_provider(source.name.as_str())
            .await
            .context("the table was not registered")?;
        let files = {
            let any: &dyn std::any::Any = provider.as_ref();
            any.downcast_ref::<datafusion::datasource::listing::ListingTable>()
                .is_some()
        };
        let (hats_description, position) =
            crate::hats::table::hats_described(provider.as_ref()).unwrap_or_default();
        let hats = crate::hats::table::hats_local_files(provider.as_ref());
        let schema: Schema = provider.schema().as_ref().clone();
        let lower: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name().to_ascii_lowercase())
            .collect();
        let distinct = lower.iter().collect::<HashSet<_>>().len() == lower.len();
        let columns = schema.fields().iter().zip(&lower).map(|(f, l)| {
            let name = if distinct {
                l.as_str()
            } else {
                f.name().as_str()
            };
            let mut metadata = f.metadata().clone();
            // HATS properties name the position columns: they get their UCDs.
            let ucd = match &position {
                Some([ra, _]) if ra.eq_ignore_ascii_case(f.name()) => Some("pos.eq.ra;meta.main"),
                Some([_, dec]) if dec.eq_ignore_ascii_case(f.name()) => {
                    Some("pos.eq.dec;meta.main")
                }
                _ => None,
            };
            if let Some(ucd) = ucd.filter(|_| !metadata.contains_key("ucd")) {
                metadata.insert("ucd".into(), ucd.into());
                metadata
                    .entry("unit".into())
                    .or_insert_with(|| "deg".into());
            }
            col(format!("\"{}\"", f.name().replace('"', "\"\"")))
                .alias_with_metadata(name, Some(FieldMetadata::from(metadata)))
        });
        let df = ctx
            .read_table(provider)?
            .select(columns.collect::<Vec<_>>())?;
        let columns = ExportLayout::new(df.schema().as_arrow()).columns;
        Ok(SourceView {
            provider: df.into_view(),
            description: hats_description.or_else(|| schema.metadata().get("description").cloned()),
            columns,
            files,
            hats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_the_default_schema_and_lower_case() {
        let s = TableSource::parse("Gaia=/data/gaia").unwrap();
        assert_eq!(s.qualified(), "ref.gaia");
        let s = TableSource::parse("xid.EROS_OGLE=x.csv").unwrap();
        assert_eq!(s.qualified(), "xid.eros_ogle");
        for bad in ["gaia", "=x", "a.b.c=x", "1a=x", "tap_schema.x=y", "a-b=x"] {
            assert!(TableSource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_paths_follow_the_configuration_and_names_are_unique() {
        let entry = TableEntry {
            name: "ref.gaia".into(),
            path: "gaia".into(),
            description: Some("Gaia".into()),
        };
        let got = sources(
            std::slice::from_ref(&entry),
            Some(Path::new("/etc/skyql")),
            &[],
        )
        .unwrap();
        assert_eq!(got[0].path, Path::new("/etc/skyql/gaia"));
        let twice = TableSource::parse("ref.gaia=/other").unwrap();
        let e = sources(&[entry], None, &[twice]).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn positions_by_ucd_then_by_name() {
        let column = |name: &str, ucd: Option<&str>| {
            let field = datafusion::arrow::datatypes::Field::new(
                name,
                datafusion::arrow::datatypes::DataType::Float64,
                true,
            );
            let mut c = ExportLayout::new(&Schema::new(vec![field]))
                .columns
                .remove(0);
            c.ucd = ucd.map(str::to_string);
            c
        };
        let by_ucd = [
            column("src", Some("meta.id;meta.main")),
            column("ra_other", Some("pos.eq.ra")),
            column("alpha", Some("pos.eq.ra;meta.main")),
            column("delta", Some("pos.eq.dec;meta.main")),
        ];
        let got = ConeColumns::find(&by_ucd).unwrap();
        assert_eq!(
            (got.id.as_deref(), got.ra.as_str(), got.dec.as_str()),
            (Some("src"), "alpha", "delta")
        );
        let by_name = [column("RAJ2000", None), column("DEJ2000", None)];
        let got = ConeColumns::find(&by_name).unwrap();
        assert_eq!((got.id, got.ra.as_str()), (None, "RAJ2000"));
        // Hours are no position in degrees.
        let mut hours = column("rah", Some("pos.eq.ra;meta.main"));
        hours.unit = Some("h".into());
        assert!(ConeColumns::find(&[hours, column("de", Some("pos.eq.dec;meta.main"))]).is_none());
        assert!(ConeColumns::find(&[column("x", None)]).is_none());
    }
}
