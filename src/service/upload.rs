//! TAP_UPLOAD (TAP 1.1 section 4, DALI 1.1 `UPLOAD`): tables a client sends with its
//! query, read as `TAP_UPLOAD.name` by that query only.
//!
//! `UPLOAD=name,param:part` names a part of the request's `multipart/form-data` body;
//! several uploads are separated by `;`. A part is a VOTable (TABLEDATA, BINARY or
//! BINARY2; its first table) or CSV with a header row. `name,URL` is fetched only from
//! the hosts the configuration allows ([`super::upload_fetch`]; none by default).
//! The parts together may hold `upload_max_bytes` bytes and each table `upload_max_rows`
//! rows (the configuration; advertised in the capabilities); beyond, the request gets
//! HTTP 400 naming the limit. Column names are in lower case, as the published tables'
//! are.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema};

use super::QueryError;
use super::config::ServiceConfig;
use super::params::Params;

/// A table uploaded with a query.
#[derive(Debug, Clone)]
pub struct UploadedTable {
    /// Its name in the `TAP_UPLOAD` schema (lower case).
    pub name: String,
    /// Its rows.
    pub batch: RecordBatch,
}

/// A request's parameters (query string, form or multipart fields) and its multipart
/// file parts by name.
pub struct RequestParts {
    /// The parameters.
    pub params: Params,
    /// The parts that are not parameters (those with a file name), by part name.
    pub parts: HashMap<String, Bytes>,
}

/// Reads a DALI request: parameters from the query string and a form body, or from a
/// `multipart/form-data` body whose parts with a file name are kept as uploads.
pub async fn read_request(
    request: Request,
    config: &ServiceConfig,
) -> Result<RequestParts, QueryError> {
    let bad = QueryError::BadRequest;
    let query = request.uri().query().map(str::to_string);
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        // The extractor keeps to the route's body limit.
        let body = Bytes::from_request(request, &())
            .await
            .map_err(|e| bad(format!("cannot read the request body: {e}")))?;
        return Ok(RequestParts {
            params: Params::from_request(query.as_deref(), &body),
            parts: HashMap::new(),
        });
    }
    let mut params = Params::from_request(query.as_deref(), &Bytes::new());
    let mut parts = HashMap::new();
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(format!("bad multipart/form-data body: {e}")))?;
    let mut total = 0usize;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("bad multipart/form-data body: {e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        let is_file = field.file_name().is_some();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad(format!("cannot read the part '{name}': {e}")))?;
        total += bytes.len();
        if total > config.upload_max_bytes {
            return Err(bad(format!(
                "the uploads hold more than {} bytes, the most this service takes (upload_max_bytes)",
                config.upload_max_bytes
            )));
        }
        if is_file {
            parts.insert(name, bytes);
        } else {
            params.0.insert(
                name.to_ascii_uppercase(),
                String::from_utf8_lossy(&bytes).into_owned(),
            );
        }
    }
    Ok(RequestParts { params, parts })
}

/// The tables the `UPLOAD` parameter names, read from the request's parts.
pub async fn uploaded_tables(
    request: &RequestParts,
    config: &ServiceConfig,
) -> Result<Vec<UploadedTable>, QueryError> {
    let bad = QueryError::BadRequest;
    let Some(upload) = request
        .params
        .get("UPLOAD")
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(Vec::new());
    };
    let mut tables: Vec<UploadedTable> = Vec::new();
    // Fetched uploads count against the same byte limit as the request's parts.
    let mut held: usize = request.parts.values().map(Bytes::len).sum();
    for item in upload.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, source) = item
            .split_once(',')
            .ok_or_else(|| bad(format!("UPLOAD={item}: expected name,param:part")))?;
        let name = name.trim();
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(bad(format!(
                "UPLOAD={item}: the table name must start with a letter and hold letters, digits and _"
            )));
        }
        let name = name.to_ascii_lowercase();
        if tables.iter().any(|t| t.name == name) {
            return Err(bad(format!("UPLOAD: the table {name} is uploaded twice")));
        }
        let source = source.trim();
        let bytes = match source.strip_prefix("param:") {
            Some(part) => request.parts.get(part).cloned().ok_or_else(|| {
                bad(format!(
                    "UPLOAD={item}: the request has no part named '{part}' (send it in a multipart/form-data body)"
                ))
            })?,
            None => {
                let room = config.upload_max_bytes.saturating_sub(held);
                let fetched = super::upload_fetch::fetch(source, &config.upload_url_hosts, room)
                    .await
                    .map(Bytes::from)
                    .map_err(|e| bad(format!("UPLOAD={item}: {e}")))?;
                held += fetched.len();
                fetched
            }
        };
        let bytes = &bytes;
        let batch =
            read_table(bytes, &name).map_err(|e| bad(format!("TAP_UPLOAD.{name}: {e:#}")))?;
        if batch.num_rows() as u64 > config.upload_max_rows {
            return Err(bad(format!(
                "TAP_UPLOAD.{name} holds {} rows, more than this service takes ({}, upload_max_rows)",
                batch.num_rows(),
                config.upload_max_rows
            )));
        }
        tables.push(UploadedTable { name, batch });
    }
    Ok(tables)
}

/// A VOTable or CSV table, its column names in lower case (kept when two would collide).
fn read_table(bytes: &Bytes, name: &str) -> anyhow::Result<RecordBatch> {
    let label = Path::new(name);
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_uppercase();
    let batch = if head.trim_start().starts_with('<') || head.contains("<VOTABLE") {
        let table =
            crate::formats::votable::read::read_votable_from(Cursor::new(bytes.clone()), label)?;
        if let Some(first) = table.rejected_cells.first() {
            anyhow::bail!(
                "{} cell(s) cannot be read as their FIELD says, the first: {first}",
                table.rejected_cells.len()
            );
        }
        table.batch
    } else {
        read_csv(bytes)?
    };
    Ok(lower_case_names(batch))
}

/// A CSV table with a header row, its types inferred from its first 1000 rows.
fn read_csv(bytes: &Bytes) -> anyhow::Result<RecordBatch> {
    use datafusion::arrow::csv::{ReaderBuilder, reader::Format};
    let format = Format::default().with_header(true);
    let (schema, _) = format.infer_schema(Cursor::new(bytes.clone()), Some(1000))?;
    let schema = Arc::new(schema);
    let reader = ReaderBuilder::new(Arc::clone(&schema))
        .with_format(format)
        .build(Cursor::new(bytes.clone()))?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(datafusion::arrow::compute::concat_batches(
        &schema, &batches,
    )?)
}

fn lower_case_names(batch: RecordBatch) -> RecordBatch {
    let schema = batch.schema();
    let lower: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().to_ascii_lowercase())
        .collect();
    let mut seen = std::collections::HashSet::new();
    if !lower.iter().all(|n| seen.insert(n.clone())) {
        return batch;
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(lower)
        .map(|(f, n)| f.as_ref().clone().with_name(n))
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap_or(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(upload: &str, parts: &[(&str, &str)]) -> RequestParts {
        let mut params = Params::default();
        params.0.insert("UPLOAD".into(), upload.into());
        RequestParts {
            params,
            parts: parts
                .iter()
                .map(|(k, v)| (k.to_string(), Bytes::from(v.to_string())))
                .collect(),
        }
    }

    #[test]
    fn csv_and_votable_parts_become_tables() {
        let votable = r#"<?xml version="1.0"?><VOTABLE><RESOURCE><TABLE>
<FIELD name="ID" datatype="char" arraysize="*"/><FIELD name="RA" datatype="double"/>
<DATA><TABLEDATA><TR><TD>a</TD><TD>10.5</TD></TR><TR><TD>b</TD><TD>11</TD></TR></TABLEDATA></DATA>
</TABLE></RESOURCE></VOTABLE>"#;
        let r = request(
            "List,param:one; other,param:two",
            &[("one", "Ra,Dec\n1.5,2\n3,4\n5,6\n"), ("two", votable)],
        );
        let tables =
            futures::executor::block_on(uploaded_tables(&r, &ServiceConfig::default())).unwrap();
        assert_eq!(tables[0].name, "list");
        assert_eq!(tables[0].batch.num_rows(), 3);
        assert_eq!(tables[0].batch.schema().field(0).name(), "ra");
        assert_eq!(tables[1].batch.num_rows(), 2);
        assert_eq!(tables[1].batch.schema().field(1).name(), "ra");
    }

    #[test]
    fn bad_uploads_are_refused_in_words() {
        let config = ServiceConfig {
            upload_max_rows: 2,
            ..ServiceConfig::default()
        };
        for (upload, parts, words) in [
            ("t,http://example.org/x.vot", vec![], "upload_url_hosts"),
            ("t,param:missing", vec![], "no part named 'missing'"),
            (
                "1t,param:p",
                vec![("p", "a\n1\n")],
                "must start with a letter",
            ),
            (
                "t,param:p;t,param:p",
                vec![("p", "a\n1\n")],
                "uploaded twice",
            ),
            ("t,param:p", vec![("p", "a\n1\n2\n3\n")], "upload_max_rows"),
            ("t", vec![], "expected name,param:part"),
            (
                "t,param:p",
                vec![("p", "<VOTABLE><RESOURCE>")],
                "TAP_UPLOAD.t",
            ),
        ] {
            let e = futures::executor::block_on(uploaded_tables(&request(upload, &parts), &config))
                .unwrap_err();
            assert!(e.message().contains(words), "{upload}: {}", e.message());
        }
    }
}
