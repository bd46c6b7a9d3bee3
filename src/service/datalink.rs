//! DataLink 1.1: what belongs to a star or an image, one call away from any TAP or cone
//! search result (their VOTables carry a service descriptor on `star_id` or `file_name`).
//!
//! `/datalink/links?ID=...` (repeatable, at most [`MAX_IDS`] per call; more end the table
//! with an OVERFLOW INFO, never in the middle of one ID's rows) answers a links table.
//! IDs are bare star ids and image file names, or publisher DIDs
//! (`ivo://AUTHORITY/SCHEMA?star_id`), read by their part after `?`.
//! - a star: its light curve (`#coderived`; VOTable, CSV and FITS: the rows of
//!   `sql/lightcurve.sql`, each with its exact size), its plot (`#preview`; PNG and SVG, the drawing of `skyql plot
//!   lightcurve`), the reference images of its field, CCD and quarter (`#auxiliary`), and
//!   a cutout of each around it (`#cutout`: a `service_def` naming a SODA descriptor after
//!   the table, its ID and a 30 arcsec CIRCLE pre-filled);
//! - an image: its FITS file (`#this`, with its size), its quick-look PNG (`#preview`,
//!   the `quicklook()` drawing, zscale, longer side 1024 pixels at most) and, when the
//!   release holds it, its public image (`#derivation`, `sql/public_images.sql`'s file);
//! - anything else: a `NotFoundFault` row; no ID at all: a `UsageFault` document.
//!
//! The links point at this module's own endpoints: `/datalink/lightcurve`,
//! `/datalink/plot`, `/datalink/image` and `/datalink/preview`, which read only what the catalogue lists (an
//! image is served from the path its `images` row holds, never from a path a client
//! gives).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use tokio::sync::OwnedSemaphorePermit;

use super::params::Params;
use super::snapshot::Snapshot;
use super::star_path::StarLookup;
use super::{AppState, Caller, Query, QueryError, run_query_spooled, spooled_response, xml_escape};
use crate::export::{ExportOptions, OutputFormat, ServiceDescriptor, export_stream_to};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

pub use super::vosi::LINKS_STANDARD;
/// The MIME type of a links document.
const LINKS_MIME: &str = "application/x-votable+xml;content=datalink";
/// IDs answered in one call.
pub const MAX_IDS: usize = 100;
/// Longest ID read.
const MAX_ID_BYTES: usize = 256;
/// Largest image file served whole.
const MAX_IMAGE_BYTES: u64 = 512 << 20;
/// Largest image file drawn as a quick-look (its pixels are held as 8-byte numbers: a
/// 16-bit image of 32 MiB takes 128 MiB while it is drawn; EROS-2's take 8 MiB).
const MAX_PREVIEW_BYTES: u64 = 32 << 20;
/// The longer side of a quick-look, in pixels.
const PREVIEW_SIZE: i64 = 1024;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/datalink/links", get(links).post(links))
        .route("/datalink/lightcurve", get(lightcurve))
        .route("/datalink/plot", get(plot))
        .route("/datalink/image", get(image))
        .route("/datalink/preview", get(preview))
        .route("/datalink/public", get(public))
}

/// The descriptors every VOTable result of the service carries: rows with a `star_id`
/// link to their star, else rows with a `file_name` to their image.
pub fn descriptors(base_url: &str) -> Vec<ServiceDescriptor> {
    ["star_id", "file_name"]
        .into_iter()
        .map(|column| ServiceDescriptor {
            standard_id: LINKS_STANDARD.to_string(),
            access_url: format!("{base_url}/datalink/links"),
            parameter: "ID".to_string(),
            column: column.to_string(),
            description: format!(
                "DataLink: what belongs to each row's {column} (light curve, plot, images)"
            ),
        })
        .collect()
}

/// The local id of a publisher DID (`ivo://AUTH/SCHEMA?ID`), or the text itself.
fn local_id(id: &str) -> &str {
    match id.strip_prefix("ivo://") {
        Some(rest) => rest.split_once('?').map_or(rest, |(_, local)| local),
        None => id,
    }
}

/// The local id an ID names in a catalogue whose DIDs begin with `did_prefix`: a bare id
/// itself, a DID of this catalogue its part after `?` (the authority compared without
/// regard to case, as IVOA identifiers are), and `None` for another publisher's DID.
fn own_local_id<'a>(id: &'a str, did_prefix: &str) -> Option<&'a str> {
    if !id.starts_with("ivo://") {
        return Some(id);
    }
    let (head, local) = id.split_once('?')?;
    let (own_authority, own_path) = did_prefix.trim_end_matches('?').rsplit_once('/')?;
    let (authority, path) = head.rsplit_once('/')?;
    (authority.eq_ignore_ascii_case(own_authority) && path == own_path).then_some(local)
}

/// A text as a SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Every value of the parameter `name` (any case) in the query string and a form body.
fn all_values(query: Option<&str>, body: &Bytes, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for source in [query.unwrap_or("").as_bytes(), body.as_ref()] {
        for (k, v) in form_urlencoded::parse(source) {
            if k.eq_ignore_ascii_case(name) {
                out.push(v.into_owned());
            }
        }
    }
    out
}

/// What an ID names.
pub(super) enum Target {
    Star {
        id: String,
        field: Option<String>,
        ccd: Option<i32>,
        quarter: Option<String>,
        position: Option<(f64, f64)>,
    },
    Image {
        file_name: String,
        path: String,
        size: Option<i64>,
        /// Its public image and that file's size, when the release holds one.
        public: Option<(PathBuf, u64)>,
        description: String,
    },
    Nothing,
}

fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let array = cast(batch.column_by_name(column)?, &DataType::Utf8).ok()?;
    let array = array.as_string::<i32>();
    (!array.is_null(row)).then(|| array.value(row).to_string())
}

fn int(batch: &RecordBatch, column: &str, row: usize) -> Option<i64> {
    let array = cast(batch.column_by_name(column)?, &DataType::Int64).ok()?;
    let array = array.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    (!array.is_null(row)).then(|| array.value(row))
}

fn float(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    let array = cast(batch.column_by_name(column)?, &DataType::Float64).ok()?;
    let array = array.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    (!array.is_null(row)).then(|| array.value(row))
}

/// The rows of `sql` that `caller` may see.
async fn rows(snap: &Snapshot, sql: &str, caller: &Caller) -> Result<Vec<RecordBatch>> {
    // The service's own SQL on the full session: a table the caller may not read gives
    // no row (its scans are empty), as a row a rule hides.
    let view = snap.view(&caller.tables).await?;
    let rows = caller.rows.hiding_tables(Arc::clone(&view.hidden_tables));
    let df = rows.restrict_frame(snap.ctx.sql(sql).await?)?;
    Ok(df.collect().await?)
}

/// The local id an ID names in `snap`'s catalogue, if it can name anything there.
fn usable_local_id<'a>(snap: &Snapshot, id: &'a str) -> Option<&'a str> {
    own_local_id(id, &snap.did_prefix).filter(|local| {
        !local.is_empty() && local.len() <= MAX_ID_BYTES && !local.chars().any(char::is_control)
    })
}

/// The star or image an ID names in the version `snap` serves, among the rows `caller`
/// may see (`Nothing` for the others, as for an id that names nothing).
pub(super) async fn resolve(snap: &Snapshot, id: &str, caller: &Caller) -> Result<Target> {
    let Some(local) = usable_local_id(snap, id) else {
        return Ok(Target::Nothing);
    };
    // The fixed plan with the caller's row rules checked on the star's row, when they
    // can be (no table hidden, the rules' columns in the stars view).
    let stars = format!("{}.stars", snap.schema);
    let view = snap.view(&caller.tables).await?;
    let fixed = snap
        .star_path
        .as_ref()
        .filter(|_| !view.hides(&stars))
        .and_then(|p| {
            p.row_check(&caller.rows, &snap.state)
                .ok()
                .map(|check| (p, check))
        });
    let stars = match fixed {
        // Without SQL planning (a star page asks for the same star three times).
        Some((path, check)) => vec![path.lookup(
            &StarLookup {
                star_id: local.to_string(),
                columns: ["star_id", "field", "ccd", "quarter", "ra", "dec"]
                    .map(String::from)
                    .to_vec(),
                limit: Some(1),
            },
            check.as_deref(),
        )?],
        None => {
            rows(
                snap,
                &format!(
                    "SELECT star_id, field, ccd, quarter, ra, dec FROM stars WHERE star_id = {} LIMIT 1",
                    literal(local)
                ),
                caller,
            )
            .await?
        }
    };
    if let Some(b) = stars.iter().find(|b| b.num_rows() > 0) {
        return Ok(Target::Star {
            id: local.to_string(),
            field: text(b, "field", 0),
            ccd: int(b, "ccd", 0).and_then(|c| i32::try_from(c).ok()),
            quarter: text(b, "quarter", 0),
            position: float(b, "ra", 0).zip(float(b, "dec", 0)),
        });
    }
    resolve_image(snap, local, caller).await
}

/// The images of `names` that `caller` may see (all of them when no row is hidden).
async fn visible_images<'a>(
    snap: &Snapshot,
    caller: &Caller,
    names: impl Iterator<Item = &'a str>,
) -> Result<std::collections::HashSet<String>> {
    let names: Vec<&str> = names.collect();
    if caller.sees_everything() || names.is_empty() {
        return Ok(names.into_iter().map(str::to_string).collect());
    }
    let list = names
        .iter()
        .map(|n| literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT file_name FROM images WHERE file_name IN ({list})");
    let mut out = std::collections::HashSet::new();
    for b in rows(snap, &sql, caller).await? {
        for row in 0..b.num_rows() {
            out.extend(text(&b, "file_name", row));
        }
    }
    Ok(out)
}

/// The image a local id names in the version `snap` serves, when `caller` may see it.
async fn resolve_image(snap: &Snapshot, local: &str, caller: &Caller) -> Result<Target> {
    if !caller.sees_everything() {
        let sql = format!(
            "SELECT file_name FROM images WHERE file_name = {} LIMIT 1",
            literal(local)
        );
        if !rows(snap, &sql, caller)
            .await?
            .iter()
            .any(|b| b.num_rows() > 0)
        {
            return Ok(Target::Nothing);
        }
    }
    Ok(match snap.images().await?.get(local) {
        Some(image) => Target::Image {
            file_name: local.to_string(),
            path: image.path.clone(),
            size: image.size,
            public: image
                .field
                .as_deref()
                .and_then(|field| public_image(snap, field, local)),
            description: image.description.clone(),
        },
        None => Target::Nothing,
    })
}

/// The public image of the image `file_name` of `field` (`PUBLIC/<field>/<file name>`, as
/// `sql/public_images.sql` writes it) and its size, when the release holds it: a regular
/// file, both names plain (no separator, not `..`), so that nothing outside the
/// directory is ever named.
fn public_image(snap: &Snapshot, field: &str, file_name: &str) -> Option<(PathBuf, u64)> {
    let plain = |n: &str| !n.is_empty() && n != ".." && n != "." && !n.contains(['/', '\\']);
    if !plain(field) || !plain(file_name) {
        return None;
    }
    let dir = match &snap.public_images_dir {
        Some(d) => d.clone(),
        None => snap.engine.catalog()?.dir.join("products").join("public"),
    };
    let path = dir.join(field).join(file_name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    meta.is_file().then_some((path, meta.len()))
}

/// One row of a links table.
#[derive(Debug, Default)]
struct Link {
    id: String,
    access_url: Option<String>,
    service_def: Option<String>,
    error_message: Option<String>,
    description: Option<String>,
    semantics: String,
    content_type: Option<String>,
    content_length: Option<i64>,
    local_semantics: Option<String>,
}

fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A SODA cutout a links row points at through its `service_def`: the image and the
/// circle, pre-filled.
#[derive(Debug)]
struct SodaCall {
    image: String,
    circle: (f64, f64, f64),
}

/// The radius of the cutouts a star's links offer, in degrees (30 arcsec).
const CUTOUT_RADIUS_DEG: f64 = 30.0 / 3600.0;

/// The links of one ID, and the SODA calls their `service_def`s name (`soda_N`, N from
/// `first_soda` on).
async fn links_of(
    state: &AppState,
    snap: &Snapshot,
    id: &str,
    first_soda: usize,
    caller: &Caller,
) -> Result<(Vec<Link>, Vec<SodaCall>)> {
    let mut soda = Vec::new();
    let base = &state.base_url;
    let did = id.to_string();
    let links = match resolve(snap, id, caller).await? {
        Target::Star {
            id: star,
            field,
            ccd,
            quarter,
            position,
        } => {
            let q = url_encode(&star);
            let mut out = Vec::new();
            let curves = reads_light_curves(state, caller).await;
            let formats = [
                ("votable", "application/x-votable+xml", "VOTable"),
                ("csv", "text/csv", "CSV"),
                ("fits", "application/fits", "FITS table"),
            ];
            // A caller from whom the measurements are hidden is offered no light curve.
            if curves {
                let lengths = lightcurve_lengths(
                    state,
                    snap,
                    caller,
                    &star,
                    &formats.map(|(f, _, _)| {
                        OutputFormat::from_response_format(f).unwrap_or(OutputFormat::Votable)
                    }),
                )
                .await?;
                for (i, (format, mime, name)) in formats.into_iter().enumerate() {
                    out.push(Link {
                        id: did.clone(),
                        access_url: Some(format!(
                            "{base}/datalink/lightcurve?ID={q}&RESPONSEFORMAT={format}"
                        )),
                        description: Some(format!("light curve of {star}, both colours ({name})")),
                        semantics: "#coderived".into(),
                        content_type: Some(mime.into()),
                        content_length: lengths.as_ref().map(|l| l[i]),
                        local_semantics: Some("lightcurve".into()),
                        ..Link::default()
                    });
                }
                for (format, mime) in [("png", "image/png"), ("svg", "image/svg+xml")] {
                    out.push(Link {
                        id: did.clone(),
                        access_url: Some(format!("{base}/datalink/plot?ID={q}&FORMAT={format}")),
                        description: Some(format!(
                            "plot of the light curve of {star} ({})",
                            format.to_uppercase()
                        )),
                        semantics: "#preview".into(),
                        content_type: Some(mime.into()),
                        local_semantics: Some("lightcurve-plot".into()),
                        ..Link::default()
                    });
                }
            }
            if let (Some(field), Some(ccd), Some(quarter)) = (field, ccd, quarter) {
                let references = snap.references.of(&field, ccd.into(), &quarter);
                // The references were read for everyone: a caller from whom rows are
                // hidden is offered those of the images they may see only.
                let visible = visible_images(
                    snap,
                    caller,
                    references.iter().map(|r| r.file_name.as_str()),
                )
                .await?;
                for reference in references.iter().filter(|r| visible.contains(&r.file_name)) {
                    let name = &reference.file_name;
                    out.push(Link {
                        id: did.clone(),
                        access_url: Some(format!("{base}/datalink/image?ID={}", url_encode(name))),
                        description: Some(format!(
                            "reference image {name} of {star}'s field {field}, CCD {ccd}, quarter {quarter} (colour {})",
                            reference.colour.as_deref().unwrap_or_default()
                        )),
                        semantics: "#auxiliary".into(),
                        content_type: Some("application/fits".into()),
                        content_length: reference.file_size,
                        local_semantics: Some("reference-image".into()),
                        ..Link::default()
                    });
                    if let Some((ra, dec)) = position {
                        out.push(Link {
                            id: did.clone(),
                            service_def: Some(format!("soda_{}", first_soda + soda.len())),
                            description: Some(format!(
                                "cutout of {name} around {star} (SODA; a 30 arcsec radius, to change)"
                            )),
                            semantics: "#cutout".into(),
                            content_type: Some("application/fits".into()),
                            local_semantics: Some("cutout".into()),
                            ..Link::default()
                        });
                        soda.push(SodaCall {
                            image: name.clone(),
                            circle: (ra, dec, CUTOUT_RADIUS_DEG),
                        });
                    }
                }
            }
            out
        }
        Target::Image {
            file_name,
            size,
            public,
            description,
            ..
        } => {
            let mut links = vec![
                Link {
                    id: did.clone(),
                    access_url: Some(format!(
                        "{base}/datalink/image?ID={}",
                        url_encode(&file_name)
                    )),
                    description: Some(format!("the FITS file of the {description}")),
                    semantics: "#this".into(),
                    content_type: Some("application/fits".into()),
                    content_length: size,
                    local_semantics: Some("image".into()),
                    ..Link::default()
                },
                Link {
                    id: did.clone(),
                    access_url: Some(format!(
                        "{base}/datalink/preview?ID={}",
                        url_encode(&file_name)
                    )),
                    description: Some(format!(
                        "quick-look PNG of the {description} (zscale, {PREVIEW_SIZE} pixels at most)"
                    )),
                    semantics: "#preview".into(),
                    content_type: Some("image/png".into()),
                    local_semantics: Some("quicklook".into()),
                    ..Link::default()
                },
            ];
            if let Some((_, bytes)) = public {
                links.push(Link {
                    id: did,
                    access_url: Some(format!(
                        "{base}/datalink/public?ID={}",
                        url_encode(&file_name)
                    )),
                    description: Some(format!(
                        "the public image of the {description}: its pixels with the release's propagated WCS"
                    )),
                    semantics: "#derivation".into(),
                    content_type: Some("application/fits".into()),
                    content_length: i64::try_from(bytes).ok(),
                    local_semantics: Some("public-image".into()),
                    ..Link::default()
                });
            }
            links
        }
        Target::Nothing => vec![Link {
            id: did,
            error_message: Some(format!(
                "NotFoundFault: {} is neither a star nor an image of this catalogue",
                local_id(id)
            )),
            semantics: "#this".into(),
            ..Link::default()
        }],
    };
    Ok((links, soda))
}

/// The SODA service descriptors of a links document, one per call its rows name.
fn soda_resources(base: &str, calls: &[SodaCall]) -> String {
    let mut x = String::new();
    for (i, c) in calls.iter().enumerate() {
        let (ra, dec, r) = c.circle;
        x.push_str(&format!(
            "<RESOURCE type=\"meta\" utype=\"adhoc:service\" ID=\"soda_{i}\">\n\
             <DESCRIPTION>SODA cutout of {image}</DESCRIPTION>\n\
             <PARAM name=\"standardID\" datatype=\"char\" arraysize=\"*\" value=\"{standard}\"/>\n\
             <PARAM name=\"accessURL\" datatype=\"char\" arraysize=\"*\" value=\"{url}\"/>\n\
             <GROUP name=\"inputParams\">\n\
             <PARAM name=\"ID\" datatype=\"char\" arraysize=\"*\" ucd=\"meta.id;meta.dataset\" value=\"{image}\"/>\n\
             <PARAM name=\"CIRCLE\" datatype=\"double\" arraysize=\"3\" xtype=\"circle\" unit=\"deg\" ucd=\"obs.field\" value=\"{ra} {dec} {r}\"/>\n\
             </GROUP>\n</RESOURCE>\n",
            image = xml_escape(&c.image),
            standard = super::vosi::SODA_STANDARD,
            url = xml_escape(&format!("{base}/soda/sync")),
        ));
    }
    x
}

/// The links table as a DataLink VOTable, then the SODA descriptors (`resources`).
fn links_document(links: &[Link], overflow: bool, resources: &str) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n");
    x.push_str("<RESOURCE type=\"results\">\n");
    x.push_str(&format!(
        "<INFO name=\"standardID\" value=\"{LINKS_STANDARD}\"/>\n"
    ));
    x.push_str("<INFO name=\"QUERY_STATUS\" value=\"OK\"/>\n<TABLE>\n");
    for (name, datatype, ucd, extra) in [
        ("ID", "char", "meta.id;meta.main", ""),
        ("access_url", "char", "meta.ref.url", ""),
        ("service_def", "char", "meta.ref", ""),
        ("error_message", "char", "meta.code.error", ""),
        ("description", "char", "meta.note", ""),
        ("semantics", "char", "meta.code", ""),
        ("content_type", "char", "meta.code.mime", ""),
        (
            "content_length",
            "long",
            "phys.size;meta.file",
            " unit=\"byte\"",
        ),
        ("local_semantics", "char", "meta.code", ""),
    ] {
        let size = if datatype == "char" {
            " arraysize=\"*\""
        } else {
            ""
        };
        x.push_str(&format!(
            "<FIELD name=\"{name}\" datatype=\"{datatype}\"{size} ucd=\"{ucd}\"{extra}/>\n"
        ));
    }
    x.push_str("<DATA><TABLEDATA>\n");
    let cell = |v: &Option<String>| v.as_deref().map(xml_escape).unwrap_or_default();
    for l in links {
        x.push_str(&format!(
            "<TR><TD>{}</TD><TD>{}</TD><TD>{}</TD><TD>{}</TD><TD>{}</TD><TD>{}</TD><TD>{}</TD><TD>{}</TD><TD>{}</TD></TR>\n",
            xml_escape(&l.id),
            cell(&l.access_url),
            cell(&l.service_def),
            cell(&l.error_message),
            cell(&l.description),
            xml_escape(&l.semantics),
            cell(&l.content_type),
            l.content_length.map(|n| n.to_string()).unwrap_or_default(),
            cell(&l.local_semantics),
        ));
    }
    x.push_str("</TABLEDATA></DATA>\n</TABLE>\n");
    if overflow {
        x.push_str(&format!(
            "<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\">At most {MAX_IDS} IDs are answered per call: ask again for the others</INFO>\n"
        ));
    }
    x.push_str("</RESOURCE>\n");
    x.push_str(resources);
    x.push_str("</VOTABLE>\n");
    x
}

fn response(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A DALI error document for the links endpoint.
fn links_error(status: StatusCode, message: &str) -> Response {
    response(status, LINKS_MIME, super::error_votable(message))
}

/// A plain-text error of the link and SODA endpoints (`NotFoundFault: ...`,
/// `UsageFault: ...`).
pub(super) fn text_error(status: StatusCode, message: String) -> Response {
    super::text_response(status, message)
}

/// A slot among the service's running queries for a link's or a cutout's work (the same
/// `max_concurrent_queries` and queue as TAP's), or the refusal as plain text: a 503 with
/// Retry-After when the queue is full.
pub(super) async fn slot(state: &AppState) -> Result<OwnedSemaphorePermit, Response> {
    state.admission.admit().await.map_err(|e| {
        let mut r = text_error(e.status(), format!("Error: {}", e.message()));
        if matches!(e, QueryError::Busy(_)) {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        r
    })
}

/// The server's fault `e` as a plain-text `Error: ...` (500), without the server's paths.
fn server_error(state: &AppState, e: &anyhow::Error) -> Response {
    text_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Error: {}", state.public_message(&format!("{e:#}"))),
    )
}

async fn links(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let ids = all_values(query.as_deref(), &body, "ID");
    if ids.is_empty() {
        return links_error(
            StatusCode::BAD_REQUEST,
            "UsageFault: ID is missing (a star id, an image file name or a publisher DID)",
        );
    }
    if let Some(f) = Params::from_request(query.as_deref(), &body).get("RESPONSEFORMAT")
        && OutputFormat::from_response_format(f) != Some(OutputFormat::Votable)
        && !f.replace(' ', "").eq_ignore_ascii_case(LINKS_MIME)
    {
        return links_error(
            StatusCode::BAD_REQUEST,
            &format!("UsageFault: RESPONSEFORMAT={f} is not offered (a links table is a VOTable)"),
        );
    }
    // The lookups and the light curves' sizes are work: a slot, as for a query.
    let _permit = match slot(&state).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let snap = state.versions.current().await;
    let overflow = ids.len() > MAX_IDS;
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    let work = async {
        let (mut all, mut calls) = (Vec::new(), Vec::new());
        for id in ids.iter().take(MAX_IDS) {
            let (links, soda) = links_of(&state, &snap, id, calls.len(), &caller).await?;
            all.extend(links);
            calls.extend(soda);
        }
        Ok::<_, anyhow::Error>((all, calls))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok((all, calls))) => response(
            StatusCode::OK,
            LINKS_MIME,
            links_document(&all, overflow, &soda_resources(&state.base_url, &calls)),
        ),
        Ok(Err(e)) => links_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("Error: {}", state.public_message(&format!("{e:#}"))),
        ),
        Err(_) => links_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "Error: the links were not found within {} s",
                timeout.as_secs()
            ),
        ),
    }
}

/// What `id` names in the version served now, or the error response.
async fn resolved(state: &AppState, id: &str, caller: &Caller) -> Result<Target, Response> {
    let snap = state.versions.current().await;
    resolve(&snap, id, caller)
        .await
        .map_err(|e| server_error(state, &e))
}

/// The image an ID names (its file name and path), or the error response.
pub(super) async fn one_image(
    state: &AppState,
    id: &str,
    caller: &Caller,
) -> Result<(String, String), Response> {
    match image_target(state, id, caller).await? {
        Target::Image {
            file_name, path, ..
        } => Ok((file_name, path)),
        _ => Err(text_error(
            StatusCode::NOT_FOUND,
            format!("NotFoundFault: no image {} in this catalogue", local_id(id)),
        )),
    }
}

/// The image an ID names in the version served now (or `Nothing`), or the error response.
async fn image_target(state: &AppState, id: &str, caller: &Caller) -> Result<Target, Response> {
    let snap = state.versions.current().await;
    let found = match usable_local_id(&snap, id) {
        Some(local) => resolve_image(&snap, local, caller).await,
        None => Ok(Target::Nothing),
    };
    found.map_err(|e| server_error(state, &e))
}

/// The `ID` of a link endpoint's request.
fn requested_id(query: Option<&str>) -> Option<String> {
    Params::from_request(query, &Bytes::new())
        .get("ID")
        .map(str::to_string)
}

/// The answer to a link request without an `ID`.
fn missing_id() -> Response {
    text_error(StatusCode::BAD_REQUEST, "UsageFault: ID is missing".into())
}

/// The one ID of a link endpoint, resolved to a star (or the error response).
async fn one_star(state: &AppState, params: &Params, caller: &Caller) -> Result<String, Response> {
    let Some(id) = params.get("ID") else {
        return Err(missing_id());
    };
    match resolved(state, id, caller).await? {
        Target::Star { id, .. } if reads_light_curves(state, caller).await => Ok(id),
        _ => Err(text_error(
            StatusCode::NOT_FOUND,
            format!("NotFoundFault: no star {}", local_id(id)),
        )),
    }
}

/// Whether `caller` may read light curves: the measurements are not hidden from them
/// by a read grant.
async fn reads_light_curves(state: &AppState, caller: &Caller) -> bool {
    if caller.tables.is_empty() {
        return true;
    }
    let snap = state.versions.current().await;
    let measurements = format!("{}.measurements", snap.schema);
    snap.view(&caller.tables)
        .await
        .is_ok_and(|v| !v.hides(&measurements))
}

/// The named query of a star's light curve, and the export options its link answers with.
fn lightcurve_query(state: &AppState, star: &str) -> (String, ExportOptions) {
    let sql = crate::named_queries::named_query("lightcurve")
        .unwrap_or_default()
        .to_string();
    let options = ExportOptions {
        max_rows: Some(state.config.hard_maxrec),
        query: Some(sql.clone()),
        table_name: Some(format!("lightcurve_{star}")),
        services: descriptors(&state.base_url),
        ..ExportOptions::default()
    };
    (sql, options)
}

/// A sink that counts the bytes written to it.
struct ByteCount(Arc<AtomicU64>);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The sizes of a star's light curve in each of `formats`, exactly as its link answers
/// them (the same rows, written by the same writers with the same options), when the
/// light curve is read without SQL planning; `None` otherwise (a catalogue whose
/// manifest lacks the files' ranges: the size stays unknown rather than cost a query).
async fn lightcurve_lengths(
    state: &AppState,
    snap: &Snapshot,
    caller: &Caller,
    star: &str,
    formats: &[OutputFormat],
) -> Result<Option<Vec<i64>>> {
    // The fixed path, with the caller's row rules checked on the points it reads (none
    // for a caller from whom tables are hidden).
    let Some(path) = snap
        .lightcurve_path
        .as_ref()
        .filter(|_| caller.tables.is_empty())
    else {
        return Ok(None);
    };
    let Ok(check) = path.row_check(&caller.rows, &snap.state) else {
        return Ok(None);
    };
    let batch = path.read(star, check.as_deref())?;
    let (_, options) = lightcurve_query(state, star);
    let mut lengths = Vec::with_capacity(formats.len());
    for &format in formats {
        let count = Arc::new(AtomicU64::new(0));
        let rows = Box::pin(RecordBatchStreamAdapter::new(
            batch.schema(),
            futures::stream::iter([Ok(batch.clone())]),
        ));
        let sink = Box::new(ByteCount(Arc::clone(&count)));
        export_stream_to(rows, format, sink, state.jobs_dir.path(), &options).await?;
        lengths.push(i64::try_from(count.load(Ordering::Relaxed))?);
    }
    Ok(Some(lengths))
}

async fn lightcurve(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::from_request(query.as_deref(), &Bytes::new());
    let star = match one_star(&state, &params, &caller).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let format = match params.get("RESPONSEFORMAT") {
        None => OutputFormat::Votable,
        Some(f) => match OutputFormat::from_response_format(f) {
            Some(f) => f,
            None => {
                return text_error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "UsageFault: RESPONSEFORMAT={f} is not offered: {}",
                        crate::export::output_format::service_aliases()
                    ),
                );
            }
        },
    };
    let (sql, options) = lightcurve_query(&state, &star);
    let query = Query::LightCurve { star, sql };
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    match run_query_spooled(&state, &caller, &query, format, options, timeout).await {
        Ok(result) => spooled_response(result, format.mime()),
        Err(e) => super::error_response(&e),
    }
}

async fn plot(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::from_request(query.as_deref(), &Bytes::new());
    let star = match one_star(&state, &params, &caller).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let png = match params.get("FORMAT").map(str::to_ascii_lowercase).as_deref() {
        None | Some("png") | Some("image/png") => true,
        Some("svg") | Some("image/svg+xml") => false,
        Some(other) => {
            return text_error(
                StatusCode::BAD_REQUEST,
                format!("UsageFault: FORMAT={other}: png or svg"),
            );
        }
    };
    let number = |name: &str| -> Result<Option<f64>, String> {
        match params.get(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && (name != "PERIOD" || x > 0.0) => Ok(Some(x)),
                _ => Err(format!(
                    "UsageFault: {name}={v}: give a number (PERIOD in days, greater than 0; EPOCH an MJD)"
                )),
            },
        }
    };
    let (period, epoch) = match (number("PERIOD"), number("EPOCH")) {
        (Ok(p), Ok(e)) => (p, e),
        (Err(m), _) | (_, Err(m)) => return text_error(StatusCode::BAD_REQUEST, m),
    };
    let style = crate::plot::PlotStyle {
        period,
        epoch,
        ..Default::default()
    };
    let permit = match slot(&state).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let snap = state.versions.current().await;
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    let work = async {
        let _permit = permit;
        let points = rows(&snap, &crate::plot::lightcurve_sql(&star), &caller).await?;
        let (red, blue) = crate::plot::lightcurve_points(&star, &points)?;
        let svg = crate::plot::lightcurve_svg(&star, &red, &blue, &style);
        if png {
            tokio::task::spawn_blocking(move || crate::plot::svg_to_png(&svg)).await?
        } else {
            Ok(svg.into_bytes())
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(bytes)) => response(
            StatusCode::OK,
            if png { "image/png" } else { "image/svg+xml" },
            bytes,
        ),
        Ok(Err(e)) => server_error(&state, &e),
        Err(_) => text_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Error: the plot was not drawn within {} s",
                timeout.as_secs()
            ),
        ),
    }
}

/// The image the request's `ID` names (its file name and path), or the error response.
async fn requested_image(
    state: &AppState,
    query: Option<&str>,
    caller: &Caller,
) -> Result<(String, String), Response> {
    let Some(id) = requested_id(query) else {
        return Err(missing_id());
    };
    one_image(state, &id, caller).await
}

/// That `path` is a regular file of at most `max` bytes.
async fn regular_file_of_at_most(path: &str, max: u64) -> Result<()> {
    let meta = tokio::fs::metadata(path).await?;
    if !meta.is_file() || meta.len() > max {
        anyhow::bail!("the image file is not a regular file of at most {max} bytes");
    }
    Ok(())
}

async fn image(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> Response {
    match requested_image(&state, query.as_deref(), &caller).await {
        Ok((file_name, path)) => fits_file(&state, &file_name, &path).await,
        Err(r) => r,
    }
}

/// The public image of the image the request's `ID` names, when the release holds one.
async fn public(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(id) = requested_id(query.as_deref()) else {
        return missing_id();
    };
    match image_target(&state, &id, &caller).await {
        Ok(Target::Image {
            file_name,
            public: Some((path, _)),
            ..
        }) => fits_file(&state, &file_name, &path.to_string_lossy()).await,
        Ok(_) => text_error(
            StatusCode::NOT_FOUND,
            format!(
                "NotFoundFault: no public image of {} in this release",
                local_id(&id)
            ),
        ),
        Err(r) => r,
    }
}

/// A FITS file of the catalogue or its release, sent whole as `file_name`.
async fn fits_file(state: &AppState, file_name: &str, path: &str) -> Response {
    let read = async {
        regular_file_of_at_most(path, MAX_IMAGE_BYTES).await?;
        Ok::<_, anyhow::Error>(tokio::fs::read(&path).await?)
    };
    match read.await {
        Ok(bytes) => {
            let mut r = response(StatusCode::OK, "application/fits", bytes);
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"{}\"",
                file_name.replace(['"', '\\'], "_")
            )) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => text_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Error: the image {file_name} cannot be read: {}",
                state.public_message(&format!("{e:#}"))
            ),
        ),
    }
}

/// The quick-look PNG of an image of the catalogue (drawn on each call, not written).
async fn preview(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> Response {
    let (file_name, path) = match requested_image(&state, query.as_deref(), &caller).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let permit = match slot(&state).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let draw = async {
        regular_file_of_at_most(&path, MAX_PREVIEW_BYTES).await?;
        // The slot goes with the drawing, which a timeout does not stop.
        let drawn = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let path = std::path::Path::new(&path);
            let image = skyql_udfs::images::fits_io::SourceImage::open(path)?;
            let longer = image.naxis[0].max(image.naxis[1]);
            skyql_udfs::images::quicklook_png(path, "zscale", Some(PREVIEW_SIZE.min(longer)))
        })
        .await?;
        drawn.map_err(|e| anyhow::anyhow!(e))
    };
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    match tokio::time::timeout(timeout, draw).await {
        Ok(Ok((bytes, _))) => response(StatusCode::OK, "image/png", bytes),
        Ok(Err(e)) => text_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Error: the quick-look of {file_name} cannot be drawn: {}",
                state.public_message(&format!("{e:#}"))
            ),
        ),
        Err(_) => text_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Error: the quick-look was not drawn within {} s",
                timeout.as_secs()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_dids_and_bare_ids() {
        assert_eq!(
            local_id("ivo://skyql.invalid/eros2?lm0010n346"),
            "lm0010n346"
        );
        assert_eq!(local_id("lm0010n346"), "lm0010n346");
        let own = "ivo://skyql.invalid/eros2?";
        assert_eq!(
            own_local_id("ivo://SKYQL.invalid/eros2?lm1", own),
            Some("lm1")
        );
        assert_eq!(own_local_id("lm1", own), Some("lm1"));
        assert_eq!(own_local_id("ivo://other.org/eros2?lm1", own), None);
        assert_eq!(own_local_id("ivo://skyql.invalid/macho?lm1", own), None);
        assert_eq!(own_local_id("ivo://skyql.invalid/eros2", own), None);
        assert_eq!(literal("a'b"), "'a''b'");
    }

    #[test]
    fn repeated_ids_are_all_read() {
        let ids = all_values(Some("ID=a&id=b"), &Bytes::from_static(b"ID=c"), "ID");
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
