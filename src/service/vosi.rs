//! VOSI: `/tap/capabilities` (with TAPRegExt), `/tap/availability`, `/tap/tables`
//! (VODataService, full detail whatever `detail` asks), and `/tap/tables/NAME`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use super::tap_schema::{ForeignKey, PublishedTable, field_type, foreign_keys, published_tables};
use datafusion::prelude::SessionContext;

use super::{AppState, Caller, ServiceConfig, xml_escape};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/tap", get(root))
        .route("/tap/capabilities", get(capabilities))
        .route("/tap/availability", get(availability))
        .route("/tap/tables", get(tables))
        .route("/tap/tables/{name}", get(table))
}

/// The VOSI documents that do not change while the service runs, rendered once at start.
pub struct Documents {
    capabilities: Bytes,
    tableset: Bytes,
    /// Each table's document, by its qualified name in lower case.
    tables: BTreeMap<String, Bytes>,
}

impl Documents {
    /// Renders the capabilities, the tableset and each table's document.
    pub async fn render(
        ctx: &SessionContext,
        schema: &str,
        extra: &[PublishedTable],
        base: &str,
        config: &ServiceConfig,
    ) -> anyhow::Result<Documents> {
        let all = published_tables(ctx, schema, extra).await?;
        let keys = keys(&all, schema);
        let tables = all
            .iter()
            .map(|t| {
                let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
                x.push_str(&table_element(t, &keys, "vosi:table", " xmlns:vosi=\"http://www.ivoa.net/xml/VOSITables/v1.0\" xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""));
                (t.qualified().to_ascii_lowercase(), Bytes::from(x))
            })
            .collect();
        Ok(Documents {
            capabilities: Bytes::from(capabilities_document(
                base,
                config,
                all.iter().any(|t| t.qualified() == "ivoa.obscore"),
            )),
            tableset: Bytes::from(tableset(&all, &keys)),
            tables,
        })
    }
}

fn xml(body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r
}

async fn root(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Response {
    // The cone search on the stars is named only to a caller who may read them.
    let snap = state.versions.current().await;
    let stars = format!("{}.stars", snap.schema);
    let cone = match snap.view(&caller.tables).await {
        Ok(view) if !view.hides(&stars) => format!("; cone search at {}/scs/stars", state.base_url),
        _ => String::new(),
    };
    let mut r = Response::new(Body::from(format!(
        "<html><body><h1>skyql TAP service</h1><p>TAP 1.1 at {0}/tap: \
         <a href=\"{0}/tap/capabilities\">capabilities</a>, <a href=\"{0}/tap/tables\">tables</a>, \
         <a href=\"{0}/tap/availability\">availability</a>{cone}.</p></body></html>",
        state.base_url
    )));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

async fn availability(State(state): State<Arc<AppState>>) -> Response {
    let note = format!(
        "skyql serve is accepting queries ({} waiting for a slot; {} may wait); queries hold {} bytes of memory ({} MiB in all)",
        state.admission.waiting(),
        state.config.queue_depth,
        state.memory.reserved(),
        state.config.memory_mb
    );
    xml(Bytes::from(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:availability xmlns:vosi=\"http://www.ivoa.net/xml/VOSIAvailability/v1.0\">\n  <vosi:available>true</vosi:available>\n  <vosi:note>{}</vosi:note>\n</vosi:availability>\n",
        xml_escape(&note)
    )))
}

/// The service's limits in words, for the TAP capability's description.
fn limits_text(c: &ServiceConfig) -> String {
    format!(
        "Queries run {} at once; up to {} more wait at most {} s for a slot (then HTTP 503 with Retry-After). \
         A synchronous query may run {} s, a job {} s; queries share {} MiB of memory, {} MiB at most each. \
         The service keeps {} jobs, {} per client. Uploaded tables (TAP_UPLOAD, sent with the request) hold {} bytes together at most, {} rows each.",
        c.max_concurrent_queries,
        c.queue_depth,
        c.queue_wait_s,
        c.sync_timeout_s,
        c.async_timeout_s,
        c.memory_mb,
        c.query_memory_bytes() >> 20,
        c.max_async_jobs,
        c.max_async_jobs_per_client,
        c.upload_max_bytes,
        c.upload_max_rows
    )
}

async fn capabilities(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Response {
    // IVOA AuthVO: a client probes the capabilities to learn whether it may sign in; a
    // service with users answers them with its challenges (and 200, since anonymous
    // callers read them too).
    let mut r = document_of(&state, &caller, |d| &d.capabilities).await;
    super::authentication::add_challenges(&state, r.headers_mut());
    r
}

/// The DataLink links capability (`/datalink/links`).
pub const LINKS_STANDARD: &str = "ivo://ivoa.net/std/DataLink#links-1.1";
/// The SODA synchronous capability (`/soda/sync`).
pub const SODA_STANDARD: &str = "ivo://ivoa.net/std/SODA#sync-1.0";

/// The VOSI capabilities with TAPRegExt, the limits included.
fn capabilities_document(base: &str, c: &ServiceConfig, obscore: bool) -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" xmlns:vr=\"http://www.ivoa.net/xml/VOResource/v1.0\" xmlns:tr=\"http://www.ivoa.net/xml/TAPRegExt/v1.0\">\n");
    for (id, path) in [
        ("ivo://ivoa.net/std/VOSI#capabilities", "capabilities"),
        ("ivo://ivoa.net/std/VOSI#availability", "availability"),
        ("ivo://ivoa.net/std/VOSI#tables-1.1", "tables"),
    ] {
        let _ = write!(
            x,
            "  <capability standardID=\"{id}\">\n    <interface xsi:type=\"vs:ParamHTTP\" role=\"std\">\n      <accessURL use=\"full\">{base}/tap/{path}</accessURL>\n    </interface>\n  </capability>\n"
        );
    }
    for (id, path) in [
        (LINKS_STANDARD, "datalink/links"),
        (SODA_STANDARD, "soda/sync"),
    ] {
        let _ = write!(
            x,
            "  <capability standardID=\"{id}\">\n    <interface xsi:type=\"vs:ParamHTTP\" role=\"std\">\n      <accessURL use=\"base\">{base}/{path}</accessURL>\n    </interface>\n  </capability>\n"
        );
    }
    let _ = write!(
        x,
        "  <capability standardID=\"{}\">\n    <interface xsi:type=\"vr:WebBrowser\">\n      <accessURL use=\"full\">{base}/tap/examples</accessURL>\n    </interface>\n  </capability>\n",
        super::examples::EXAMPLES_STANDARD
    );
    let _ = write!(
        x,
        "  <capability standardID=\"ivo://ivoa.net/std/TAP\" xsi:type=\"tr:TableAccess\">\n    <description>{}</description>\n    <interface xsi:type=\"vs:ParamHTTP\" role=\"std\" version=\"1.1\">\n      <accessURL use=\"base\">{base}/tap</accessURL>\n    </interface>\n",
        xml_escape(&limits_text(c))
    );
    if obscore {
        x.push_str("    <dataModel ivo-id=\"ivo://ivoa.net/std/ObsCore#core-1.1\">ObsCore-1.1</dataModel>\n");
    }
    x.push_str("    <language>\n      <name>ADQL</name>\n");
    x.push_str("      <version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.0\">2.0</version>\n");
    x.push_str("      <version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.1\">2.1</version>\n");
    x.push_str("      <description>ADQL translated to Apache DataFusion SQL; skyql's astronomy functions are available too</description>\n");
    x.push_str("      <languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#features-adqlgeo\">\n");
    for f in [
        "POINT",
        "CIRCLE",
        "BOX",
        "POLYGON",
        "CONTAINS",
        "INTERSECTS",
        "DISTANCE",
        "COORD1",
        "COORD2",
    ] {
        let _ = writeln!(x, "        <feature><form>{f}</form></feature>");
    }
    x.push_str("      </languageFeatures>\n");
    x.push_str("      <languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#features-adql-common-table\">\n        <feature><form>WITH</form></feature>\n      </languageFeatures>\n");
    x.push_str("      <languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#features-adql-offset\">\n        <feature><form>OFFSET</form></feature>\n      </languageFeatures>\n");
    x.push_str("    </language>\n");
    for spec in &crate::export::output_format::FORMATS {
        let Some(alias) = spec.service_alias else {
            continue;
        };
        let (mime, id) = (spec.mime, spec.tapregext_id);
        match id {
            Some(id) => {
                let _ = writeln!(x, "    <outputFormat ivo-id=\"{id}\">");
            }
            None => x.push_str("    <outputFormat>\n"),
        }
        let _ = write!(
            x,
            "      <mime>{}</mime>\n      <alias>{alias}</alias>\n    </outputFormat>\n",
            xml_escape(mime)
        );
    }
    // Tables sent with the request, or fetched by URL from the allowed hosts.
    x.push_str("    <uploadMethod ivo-id=\"ivo://ivoa.net/std/TAPRegExt#upload-inline\"/>\n");
    x.push_str("    <uploadMethod ivo-id=\"ivo://ivoa.net/std/TAPRegExt#upload-http\"/>\n");
    let _ = write!(
        x,
        "    <retentionPeriod>\n      <default>{r}</default>\n      <hard>{r}</hard>\n    </retentionPeriod>\n    <executionDuration>\n      <default>{a}</default>\n      <hard>{a}</hard>\n    </executionDuration>\n    <outputLimit>\n      <default unit=\"row\">{d}</default>\n      <hard unit=\"row\">{h}</hard>\n    </outputLimit>\n    <uploadLimit>\n      <hard unit=\"byte\">{u}</hard>\n    </uploadLimit>\n  </capability>\n",
        r = c.retention_s,
        a = c.async_timeout_s,
        d = c.default_maxrec,
        h = c.hard_maxrec,
        u = c.upload_max_bytes
    );
    x.push_str("</vosi:capabilities>\n");
    with_security_methods(x, c)
}

/// The capabilities with the ways to sign in on every interface (IVOA SSO 2.0):
/// anonymous (a `securityMethod` without a standard) when allowed; HTTP Basic and the
/// cookie of `/login` when the service has users; OAuth when it takes an OpenID Connect
/// provider's tokens. The service's own API tokens are accepted too, but SSO 2.0 names
/// no standard for them (taplint warns on any other), so they are not declared. Without
/// users or a provider, the document is left as it is (anonymous only).
fn with_security_methods(x: String, c: &ServiceConfig) -> String {
    if c.users_file.is_none() && c.jwt.is_none() {
        return x;
    }
    let mut methods = String::new();
    if c.anonymous {
        methods.push_str("      <securityMethod/>\n");
    }
    if c.users_file.is_some() {
        methods.push_str("      <securityMethod standardID=\"ivo://ivoa.net/sso#BasicAA\"/>\n");
        methods.push_str("      <securityMethod standardID=\"ivo://ivoa.net/sso#cookie\"/>\n");
    }
    if c.jwt.is_some() {
        methods.push_str("      <securityMethod standardID=\"ivo://ivoa.net/sso#OAuth\"/>\n");
    }
    x.replace(
        "</accessURL>\n    </interface>",
        &format!("</accessURL>\n{methods}    </interface>"),
    )
}

/// The documents `caller` may read (without the tables hidden from them).
async fn documents(state: &AppState, caller: &Caller) -> Result<Arc<Documents>, Response> {
    let (_, view) = super::current_view(state, caller).await?;
    Ok(Arc::clone(&view.documents))
}

/// One of the documents `caller` may read, as XML.
async fn document_of(
    state: &AppState,
    caller: &Caller,
    pick: impl FnOnce(&Documents) -> &Bytes,
) -> Response {
    match documents(state, caller).await {
        Ok(d) => xml(pick(&d).clone()),
        Err(r) => r,
    }
}

async fn tables(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Response {
    document_of(&state, &caller, |d| &d.tableset).await
}

async fn table(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(name): Path<String>,
) -> Response {
    let documents = match documents(&state, &caller).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    match documents.tables.get(&name.to_ascii_lowercase()) {
        Some(doc) => xml(doc.clone()),
        None => {
            let mut r = Response::new(Body::from(format!("no table {name}")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
    }
}

fn keys(tables: &[PublishedTable], schema: &str) -> Vec<ForeignKey> {
    let has = |n: &str| tables.iter().any(|t| t.name == n && t.schema == schema);
    foreign_keys(schema, has("measurements") && has("stars"))
}

/// The VODataService tableset of every published table.
fn tableset(tables: &[PublishedTable], keys: &[ForeignKey]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:tableset xmlns:vosi=\"http://www.ivoa.net/xml/VOSITables/v1.0\" xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
    );
    // Each schema once, in the order its first table comes.
    let mut schemas: Vec<&str> = Vec::new();
    for t in tables {
        if !schemas.contains(&t.schema.as_str()) {
            schemas.push(&t.schema);
        }
    }
    for s in schemas {
        let _ = write!(x, "  <schema>\n    <name>{}</name>\n", xml_escape(s));
        for t in tables.iter().filter(|t| t.schema == s) {
            x.push_str(&table_element(t, keys, "table", ""));
        }
        x.push_str("  </schema>\n");
    }
    x.push_str("</vosi:tableset>\n");
    x
}

fn table_element(t: &PublishedTable, keys: &[ForeignKey], tag: &str, namespaces: &str) -> String {
    let mut x = String::new();
    let kind = if t.schema == "TAP_SCHEMA" {
        "table"
    } else {
        "view"
    };
    let _ = write!(
        x,
        "    <{tag}{namespaces} type=\"{kind}\">\n      <name>{}</name>\n",
        xml_escape(&t.qualified())
    );
    if !t.description.is_empty() {
        let _ = writeln!(
            x,
            "      <description>{}</description>",
            xml_escape(&t.description)
        );
    }
    for c in &t.columns {
        let name = if t.schema == "TAP_SCHEMA" && c.name == "size" {
            "\"size\"".to_string()
        } else {
            super::tap_schema::adql_name(&c.name)
        };
        let _ = write!(
            x,
            "      <column>\n        <name>{}</name>\n",
            xml_escape(&name)
        );
        if let Some(d) = &c.description {
            let _ = writeln!(x, "        <description>{}</description>", xml_escape(d));
        }
        if let Some(u) = &c.unit {
            let _ = writeln!(x, "        <unit>{}</unit>", xml_escape(u));
        }
        if let Some(u) = &c.ucd {
            let _ = writeln!(x, "        <ucd>{}</ucd>", xml_escape(u));
        }
        if let Some(u) = &c.utype {
            let _ = writeln!(x, "        <utype>{}</utype>", xml_escape(u));
        }
        let (datatype, arraysize) = field_type(c);
        let size = arraysize
            .map(|a| format!(" arraysize=\"{a}\""))
            .unwrap_or_default();
        let xtype = c
            .xtype
            .as_ref()
            .map(|x| format!(" extendedType=\"{x}\""))
            .unwrap_or_default();
        let _ = writeln!(
            x,
            "        <dataType xsi:type=\"vs:VOTableType\"{size}{xtype}>{datatype}</dataType>"
        );
        if matches!(c.name.as_str(), "star_id" | "healpix" | "field") {
            x.push_str("        <flag>indexed</flag>\n");
        }
        x.push_str("      </column>\n");
    }
    for k in keys.iter().filter(|k| k.from_table == t.qualified()) {
        let _ = write!(
            x,
            "      <foreignKey>\n        <targetTable>{}</targetTable>\n        <fkColumn>\n          <fromColumn>{}</fromColumn>\n          <targetColumn>{}</targetColumn>\n        </fkColumn>\n      </foreignKey>\n",
            xml_escape(&k.target_table),
            xml_escape(&k.from_column),
            xml_escape(&k.target_column)
        );
    }
    let _ = writeln!(x, "    </{tag}>");
    x
}
