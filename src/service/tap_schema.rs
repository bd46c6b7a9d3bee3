//! TAP_SCHEMA and the published tables.
//!
//! The catalogue's tables are published under a schema named after the survey (`eros2`
//! for EROS-2), as views of their columns that VOTable can carry (the `images.wcs` struct
//! and `images.header` map stay out: query `images` directly for them). TAP_SCHEMA's five
//! tables describe those and themselves; their column types are those the result
//! VOTables actually have, since both come from the same column model
//! (`formats::columns`).

use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::engine::Engine;
use crate::formats::columns::{ExportColumn, ExportLayout};

/// A published table: qualified name, description, columns.
#[derive(Debug, Clone)]
pub struct PublishedTable {
    /// Schema name.
    pub schema: String,
    /// Table name without the schema.
    pub name: String,
    /// What a row is.
    pub description: String,
    /// Its columns as VOTable FIELDs.
    pub columns: Vec<ExportColumn>,
}

impl PublishedTable {
    /// `schema.table`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// The schema of the catalogue's tables: the survey's name, lower case, letters and
/// digits (`EROS-2` -> `eros2`).
pub fn schema_name(engine: &Engine) -> String {
    let survey = engine
        .catalog()
        .map(|c| c.manifest.survey.clone())
        .unwrap_or_else(|| "skyql".into());
    let name: String = survey
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("s{name}")
    } else {
        name
    }
}

/// The schema of the IVOA data models' tables (`ivoa.obscore`).
pub const IVOA_SCHEMA: &str = "ivoa";

/// What a row of each published table is.
pub fn description(table: &str) -> &'static str {
    match table {
        "obscore" => {
            "ObsCore 1.1: one row per image (dataproduct_type image) and one per star's light curve (timeseries), with links to their data through DataLink"
        }
        "images" => {
            "One row per FITS image file: file name parts, dates, exposure, size, sky centre (the WCS and full header are in the images table outside this schema)"
        }
        "measurements" => {
            "One row per photometric measurement: star, colour, MJD, magnitude and error"
        }
        "stars" => {
            "One row per star: identifiers, pixel and sky positions, HEALPix index, counts and mean magnitudes per colour"
        }
        "fields" => "One row per survey field: image counts, centre and extent",
        "quarters" => {
            "One row per CCD quarter of the survey's mosaic: offsets and the central quarter (empty while the catalogue holds nothing of the survey)"
        }
        "inputs" => "One row per ingested input file, with its accounting",
        "measurement_counts" => {
            "Counts of measurements per field, colour, CCD and quarter, written with each catalogue version"
        }
        _ => "",
    }
}

/// Registers the published schema (views of the catalogue's tables) and TAP_SCHEMA, which
/// also describes the `extra` tables registered before (`ivoa.obscore`, the tables
/// published beside the catalogue). Returns the catalogue's published tables.
pub async fn register(
    ctx: &SessionContext,
    engine: &Engine,
    schema: &str,
    extra: &[PublishedTable],
) -> Result<Vec<PublishedTable>> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| anyhow::anyhow!("no default catalog"))?;
    if catalog.schema(schema).is_none() {
        catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
    }
    catalog.register_schema("tap_schema", Arc::new(MemorySchemaProvider::new()))?;
    let mut published = Vec::new();
    if let Some(c) = engine.catalog() {
        for name in c.manifest.tables.keys() {
            if extra.iter().any(|t| t.schema == schema && t.name == *name) {
                continue;
            }
            let df = ctx.table(name.as_str()).await?;
            let keep: Vec<String> = df
                .schema()
                .fields()
                .iter()
                .filter(|f| !matches!(f.data_type(), DataType::Struct(_) | DataType::Map(..)))
                .map(|f| f.name().clone())
                .collect();
            let view = df.select(lower_case_columns(&keep))?.into_view();
            let arrow: Schema = view.schema().as_ref().clone();
            ctx.register_table(format!("{schema}.{name}").as_str(), view)?;
            published.push(PublishedTable {
                schema: schema.to_string(),
                name: name.clone(),
                description: description(name).to_string(),
                columns: ExportLayout::new(&arrow).columns,
            });
        }
    }
    let catalogue = published.clone();
    published.extend(extra.iter().cloned());
    for (name, batch) in tap_schema_batches(schema, &published)? {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(format!("tap_schema.{name}").as_str(), Arc::new(table))?;
    }
    Ok(catalogue)
}

/// The columns `names` as ADQL sees them, in lower case (a table ingested from a VOTable
/// has VizieR's `RAJ2000`, which ADQL's case-insensitive `RAJ2000` would not reach);
/// the names stay as they are when two would collide.
pub fn lower_case_columns(names: &[String]) -> Vec<datafusion::prelude::Expr> {
    let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let distinct = lower.iter().collect::<std::collections::HashSet<_>>().len() == lower.len();
    names
        .iter()
        .zip(lower)
        .map(|(name, l)| {
            let column = datafusion::prelude::col(format!("\"{}\"", name.replace('"', "\"\"")));
            if distinct && *name != l {
                column.alias(l)
            } else {
                column
            }
        })
        .collect()
}

/// The tables a client sees: the catalogue's and the data models' (read from `ctx`), the
/// `extra` ones published beside them, and TAP_SCHEMA's.
pub async fn published_tables(
    ctx: &SessionContext,
    schema: &str,
    extra: &[PublishedTable],
) -> Result<Vec<PublishedTable>> {
    let mut out = Vec::new();
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| anyhow::anyhow!("no default catalog"))?;
    for s in [schema, IVOA_SCHEMA] {
        let Some(provider) = catalog.schema(s) else {
            continue;
        };
        let mut names = provider.table_names();
        names.sort();
        for name in names {
            let given = extra.iter().any(|t| t.schema == s && t.name == name);
            let Some(table) = provider.table(&name).await? else {
                continue;
            };
            if given && s != IVOA_SCHEMA {
                continue;
            }
            out.push(PublishedTable {
                schema: s.to_string(),
                name: name.clone(),
                description: description(&name).to_string(),
                columns: ExportLayout::new(&table.schema()).columns,
            });
        }
    }
    out.extend(extra.iter().filter(|t| t.schema != IVOA_SCHEMA).cloned());
    out.extend(tap_schema_tables());
    Ok(out)
}

/// TAP_SCHEMA's own five tables, as published tables.
fn tap_schema_tables() -> Vec<PublishedTable> {
    ["schemas", "tables", "columns", "keys", "key_columns"]
        .iter()
        .map(|name| {
            let fields: Vec<Field> = tap_schema_columns(name)
                .iter()
                .map(|&(n, int, d)| {
                    let t = if int { DataType::Int32 } else { DataType::Utf8 };
                    Field::new(bare(n), t, true).with_metadata(
                        [("description".to_string(), d.to_string())]
                            .into_iter()
                            .collect(),
                    )
                })
                .collect();
            PublishedTable {
                schema: "TAP_SCHEMA".into(),
                name: name.to_string(),
                description: tap_schema_description(name).to_string(),
                columns: ExportLayout::new(&Schema::new(fields)).columns,
            }
        })
        .collect()
}

fn tap_schema_description(name: &str) -> &'static str {
    match name {
        "schemas" => "The schemas of this service",
        "tables" => "The tables of this service",
        "columns" => "The columns of every table of this service",
        "keys" => "Foreign keys between tables",
        "key_columns" => "The columns of the foreign keys",
        _ => "",
    }
}

/// A table of text and integer columns (TAP_SCHEMA's tables are small).
struct Builder {
    fields: Vec<Field>,
    texts: Vec<Vec<Option<String>>>,
    ints: Vec<Vec<Option<i32>>>,
    kinds: Vec<bool>,
}

impl Builder {
    /// Columns: (name, is_integer, description).
    fn new(columns: &[(&str, bool, &str)]) -> Self {
        let fields = columns
            .iter()
            .map(|(n, int, d)| {
                let t = if *int {
                    DataType::Int32
                } else {
                    DataType::Utf8
                };
                Field::new(*n, t, true).with_metadata(
                    [("description".to_string(), d.to_string())]
                        .into_iter()
                        .collect(),
                )
            })
            .collect();
        Builder {
            fields,
            texts: columns.iter().map(|_| Vec::new()).collect(),
            ints: columns.iter().map(|_| Vec::new()).collect(),
            kinds: columns.iter().map(|c| c.1).collect(),
        }
    }

    fn row(&mut self, values: &[Value]) {
        for (k, v) in values.iter().enumerate() {
            match v {
                Value::Text(t) => self.texts[k].push(Some(t.clone())),
                Value::Int(i) => self.ints[k].push(Some(*i)),
                Value::Null => {
                    self.texts[k].push(None);
                    self.ints[k].push(None);
                }
            }
        }
    }

    fn finish(self) -> Result<RecordBatch> {
        let schema: SchemaRef = Arc::new(Schema::new(self.fields));
        let columns: Vec<ArrayRef> = self
            .kinds
            .iter()
            .enumerate()
            .map(|(k, int)| -> ArrayRef {
                if *int {
                    Arc::new(Int32Array::from(self.ints[k].clone()))
                } else {
                    Arc::new(StringArray::from(self.texts[k].clone()))
                }
            })
            .collect();
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

enum Value {
    Text(String),
    Int(i32),
    Null,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn opt(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |v| Value::Text(v.clone()))
}

/// A TAP_SCHEMA column: name (`"size"` quoted, as TAP 1.1 lists it), integer, description.
type TapColumn = (&'static str, bool, &'static str);

#[rustfmt::skip]
const SCHEMAS: &[TapColumn] = &[
    ("schema_name", false, "schema name for reference to tap_schema.schemas"),
    ("utype", false, "lists the utypes of schemas in the tableset"),
    ("description", false, "describes schemas in the tableset"),
    ("schema_index", true, "recommended sort order when listing schemas"),
];

#[rustfmt::skip]
const TABLES: &[TapColumn] = &[
    ("schema_name", false, "the schema this table belongs to"),
    ("table_name", false, "the fully qualified table name"),
    ("table_type", false, "one of: table view"),
    ("utype", false, "lists the utype of tables in the tableset"),
    ("description", false, "describes tables in the tableset"),
    ("table_index", true, "recommended sort order when listing tables"),
];

#[rustfmt::skip]
const COLUMNS: &[TapColumn] = &[
    ("table_name", false, "the table this column belongs to"),
    ("column_name", false, "the column name"),
    ("datatype", false, "lists the ADQL datatype of columns in the tableset"),
    ("arraysize", false, "lists the size of variable-length columns in the tableset"),
    ("xtype", false, "a DALI or custom extended type annotation"),
    ("\"size\"", true, "deprecated: use arraysize"),
    ("description", false, "describes the columns in the tableset"),
    ("utype", false, "lists the utypes of columns in the tableset"),
    ("unit", false, "lists the unit used for column values in the tableset"),
    ("ucd", false, "lists the UCDs of columns in the tableset"),
    ("indexed", true, "an indexed column; 1 means true, 0 means false"),
    ("principal", true, "a principal column; 1 means true, 0 means false"),
    ("std", true, "a standard column; 1 means true, 0 means false"),
    ("column_index", true, "recommended sort order when listing columns"),
];

#[rustfmt::skip]
const KEYS: &[TapColumn] = &[
    ("key_id", false, "unique key identifier"),
    ("from_table", false, "fully qualified table name"),
    ("target_table", false, "fully qualified table name"),
    ("description", false, "description of this key"),
    ("utype", false, "utype of this key"),
];

#[rustfmt::skip]
const KEY_COLUMNS: &[TapColumn] = &[
    ("key_id", false, "key identifier from TAP_SCHEMA.keys"),
    ("from_column", false, "key column name in the from_table"),
    ("target_column", false, "key column name in the target_table"),
];

/// The columns of a TAP_SCHEMA table, as TAP 1.1 defines them.
fn tap_schema_columns(table: &str) -> &'static [TapColumn] {
    match table {
        "schemas" => SCHEMAS,
        "tables" => TABLES,
        "columns" => COLUMNS,
        "keys" => KEYS,
        _ => KEY_COLUMNS,
    }
}

/// The unquoted name of a TAP_SCHEMA column (`"size"` is quoted in TAP_SCHEMA only).
fn bare(name: &str) -> &str {
    name.trim_matches('"')
}

/// TAP_SCHEMA's five tables for the published tables and for themselves.
pub fn tap_schema_batches(
    schema: &str,
    published: &[PublishedTable],
) -> Result<Vec<(String, RecordBatch)>> {
    let mut schemas = builder("schemas");
    schemas.row(&[
        text("TAP_SCHEMA"),
        Value::Null,
        text("Metadata of this TAP service"),
        Value::Int(0),
    ]);
    schemas.row(&[
        text(schema),
        Value::Null,
        text("The survey catalogue"),
        Value::Int(1),
    ]);
    if published.iter().any(|t| t.schema == IVOA_SCHEMA) {
        schemas.row(&[
            text(IVOA_SCHEMA),
            Value::Null,
            text("IVOA data models: ObsCore"),
            Value::Int(2),
        ]);
    }
    let mut others: Vec<&str> = published
        .iter()
        .map(|t| t.schema.as_str())
        .filter(|s| *s != schema && *s != IVOA_SCHEMA)
        .collect();
    others.sort_unstable();
    others.dedup();
    for (i, s) in others.into_iter().enumerate() {
        schemas.row(&[
            text(s),
            Value::Null,
            text("Catalogues published beside the survey"),
            Value::Int(3 + i as i32),
        ]);
    }
    let mut tables = builder("tables");
    let mut columns = builder("columns");
    describe_tap_schema(&mut tables, &mut columns);
    describe_published(published, &mut tables, &mut columns);
    let mut keys = builder("keys");
    let mut key_columns = builder("key_columns");
    let has = |n: &str| published.iter().any(|t| t.schema == schema && t.name == n);
    for k in foreign_keys(schema, has("measurements") && has("stars")) {
        let description = if k.from_table.starts_with("TAP_SCHEMA") {
            Value::Null
        } else {
            text("the star of a measurement")
        };
        keys.row(&[
            text(&k.id),
            text(&k.from_table),
            text(&k.target_table),
            description,
            Value::Null,
        ]);
        key_columns.row(&[text(&k.id), text(&k.from_column), text(&k.target_column)]);
    }
    Ok(vec![
        ("schemas".into(), schemas.finish()?),
        ("tables".into(), tables.finish()?),
        ("columns".into(), columns.finish()?),
        ("keys".into(), keys.finish()?),
        ("key_columns".into(), key_columns.finish()?),
    ])
}

/// An empty TAP_SCHEMA table (its columns unquoted).
fn builder(table: &str) -> Builder {
    let cols: Vec<(&str, bool, &str)> = tap_schema_columns(table)
        .iter()
        .map(|&(n, i, d)| (bare(n), i, d))
        .collect();
    Builder::new(&cols)
}

/// TAP_SCHEMA's rows about its own five tables.
fn describe_tap_schema(tables: &mut Builder, columns: &mut Builder) {
    let names = ["schemas", "tables", "columns", "keys", "key_columns"];
    for (i, t) in names.iter().enumerate() {
        let qualified = format!("TAP_SCHEMA.{t}");
        let description = text(tap_schema_description(t));
        tables.row(&[
            text("TAP_SCHEMA"),
            text(&qualified),
            text("table"),
            Value::Null,
            description,
            Value::Int(i as i32),
        ]);
        for (k, &(name, int, d)) in tap_schema_columns(t).iter().enumerate() {
            let (datatype, arraysize) = if int {
                ("int", Value::Null)
            } else {
                ("char", text("*"))
            };
            #[rustfmt::skip]
            columns.row(&[
                text(&qualified), text(name), text(datatype), arraysize, Value::Null, Value::Null,
                text(d), Value::Null, Value::Null, Value::Null,
                Value::Int(0), Value::Int(1), Value::Int(1), Value::Int(k as i32),
            ]);
        }
    }
}

/// TAP_SCHEMA's rows about the published tables.
fn describe_published(published: &[PublishedTable], tables: &mut Builder, columns: &mut Builder) {
    for (i, t) in published.iter().enumerate() {
        let q = t.qualified();
        tables.row(&[
            text(&t.schema),
            text(&q),
            text("view"),
            Value::Null,
            text(&t.description),
            Value::Int(10 + i as i32),
        ]);
        for (k, c) in t.columns.iter().enumerate() {
            let (datatype, arraysize) = field_type(c);
            let indexed = i32::from(matches!(c.name.as_str(), "star_id" | "healpix" | "field"));
            #[rustfmt::skip]
            columns.row(&[
                text(&q), text(&adql_name(&c.name)), text(datatype), opt(&arraysize), opt(&c.xtype), Value::Null,
                opt(&c.description), opt(&c.utype), opt(&c.unit), opt(&c.ucd),
                Value::Int(indexed), Value::Int(1), Value::Int(0), Value::Int(k as i32),
            ]);
        }
    }
}

/// A column's name as TAP_SCHEMA and `/tap/tables` give it: as it is when it is an ADQL
/// regular identifier, else delimited (`"_healpix_29"`, `"s/n"`), as a query must write it.
pub fn adql_name(name: &str) -> String {
    let regular = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if regular {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A foreign key of one column.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    /// Key id.
    pub id: String,
    /// Qualified table holding the key.
    pub from_table: String,
    /// Qualified table it refers to.
    pub target_table: String,
    /// Its column.
    pub from_column: String,
    /// The column it refers to.
    pub target_column: String,
}

/// TAP_SCHEMA's own five foreign keys and, when both are published, measurements -> stars.
pub fn foreign_keys(schema: &str, measurements_and_stars: bool) -> Vec<ForeignKey> {
    let mut keys: Vec<ForeignKey> = [
        (
            "tables_schema",
            "tables",
            "schemas",
            "schema_name",
            "schema_name",
        ),
        (
            "columns_table",
            "columns",
            "tables",
            "table_name",
            "table_name",
        ),
        ("keys_from", "keys", "tables", "from_table", "table_name"),
        (
            "keys_target",
            "keys",
            "tables",
            "target_table",
            "table_name",
        ),
        ("key_columns_key", "key_columns", "keys", "key_id", "key_id"),
    ]
    .iter()
    .map(|(id, from, target, fc, tc)| ForeignKey {
        id: id.to_string(),
        from_table: format!("TAP_SCHEMA.{from}"),
        target_table: format!("TAP_SCHEMA.{target}"),
        from_column: fc.to_string(),
        target_column: tc.to_string(),
    })
    .collect();
    if measurements_and_stars {
        keys.push(ForeignKey {
            id: "measurements_star".into(),
            from_table: format!("{schema}.measurements"),
            target_table: format!("{schema}.stars"),
            from_column: "star_id".into(),
            target_column: "star_id".into(),
        });
    }
    keys
}

/// The VOTable datatype and arraysize of a column, as the result writers produce them.
pub fn field_type(c: &ExportColumn) -> (&'static str, Option<String>) {
    let arraysize = (c.kind.is_text() || c.is_array).then(|| "*".to_string());
    (c.kind.name(), arraysize)
}
