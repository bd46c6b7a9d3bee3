//! `skyql serve`: the catalogue behind IVOA services, on axum, with the queries on a
//! runtime of their own ([`query_runtime`]). TAP 1.1 under `/tap` (sync and async, VOSI capabilities,
//! availability and tables, TAP_SCHEMA), Simple Cone Search 1.03 under `/scs/TABLE`.
//!
//! Every query runs in the engine's read-only mode, under the limits of
//! [`config::ServiceConfig`]: a bounded number at once and a bounded queue behind them
//! ([`admission`]; HTTP 503 with Retry-After only when the queue is full), a time limit
//! covering planning and execution after which the query is cancelled, a shared memory
//! pool, MAXREC. A synchronous result is written by the streaming export writers to a
//! [`spool`] (memory, then an unlinked file) and sent from there once the query has given
//! its slot back; asynchronous results are durable files of the jobs directory
//! ([`jobs_dir`], [`job_store`]).

pub mod admission;
pub mod adql;
pub mod audit_log;
pub mod authentication;
pub mod batch_columns;
pub mod caller_view;
pub mod catalog_file;
pub mod cone_path;
pub mod config;
pub mod datalink;
pub mod default_catalog;
pub mod examples;
pub mod image_index;
pub mod job_store;
pub mod jobs_dir;
pub mod kept_row_checks;
pub mod lightcurve_path;
pub mod login;
pub mod login_sessions;
pub mod obscore;
pub mod params;
pub mod portal;
pub mod query_memory;
pub mod query_runtime;
pub mod reference_images;
pub mod scs;
pub mod snapshot;
pub mod soda;
pub mod spool;
pub mod star_path;
pub mod table_files;
pub mod table_sources;
pub mod tap;
pub mod tap_schema;
pub mod tls;
pub mod token_provider;
pub mod upload;
pub mod upload_fetch;
pub mod upload_schema;
pub mod uws;
pub mod vosi;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::ListenerExt;
use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

use crate::engine::parameters::Param;
use crate::export::{ExportOptions, ExportSummary, OutputFormat, export_stream, export_stream_to};
pub use authentication::Caller;
pub use config::ServiceConfig;
use query_runtime::Outcome;
use spool::{Spool, Spooled};

/// What `skyql serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The catalogue.
    pub catalog: PathBuf,
    /// Address to listen on (loopback by default).
    pub bind: SocketAddr,
    /// Limits and places.
    pub config: ServiceConfig,
    /// The configuration file (read again on SIGHUP for its `[[tables]]`).
    pub config_path: Option<PathBuf>,
    /// Tables published from the command line (`--table`).
    pub tables: Vec<table_sources::TableSource>,
    /// A Ballista cluster for the queries on the catalogue's tables.
    pub cluster: Option<String>,
    /// HTTPS served directly: the certificate chain and the private key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Shared by every request.
pub struct AppState {
    /// The catalogue as it is served now, followed across ingests.
    pub versions: snapshot::Versions,
    /// Limits.
    pub config: ServiceConfig,
    /// The base URL clients use (`http://HOST:PORT`).
    pub base_url: String,
    /// The running-query slots and their queue (a slot is held until the query's work
    /// has stopped, not only until its client has its answer).
    pub admission: admission::Admission,
    /// The runtime the queries run on, apart from the front's.
    pub queries: query_runtime::QueryRuntime,
    /// The service's own directory (jobs, spilled results).
    pub jobs_dir: jobs_dir::JobsDir,
    /// The asynchronous jobs.
    pub jobs: uws::Jobs,
    /// The memory every query's pool takes from (`memory_mb`), across catalogue versions.
    pub memory: Arc<dyn MemoryPool>,
    /// The catalogue directory (its row rules are read from it).
    pub catalog: PathBuf,
    /// Who each request speaks for, and the row rules that apply to them.
    pub authenticator: authentication::Authenticator,
    /// The audit log, when configured.
    pub audit: Option<audit_log::AuditLog>,
    /// Server paths never shown to a client (the catalogue's, the jobs directory's), each
    /// with the name shown instead.
    private_paths: Vec<(String, &'static str)>,
}

/// Runs the service until SIGINT or SIGTERM.
pub async fn serve(options: ServeOptions) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    let local = listener.local_addr()?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls::server_config(cert, key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let state = Arc::new(build_state(&options, local, scheme).await?);
    // Behind a proxy (`public_url`), the address the service itself listens on too.
    let listening = format!("{scheme}://{local}");
    let behind = if state.base_url.starts_with(&listening) {
        String::new()
    } else {
        format!(" (listening on {listening})")
    };
    println!(
        "skyql serve: {} at {}/tap and {}/scs/stars; the web page at {}/{behind}",
        options.catalog.display(),
        state.base_url,
        state.base_url,
        state.base_url
    );
    let reaper = tokio::spawn(uws::reap_expired(state.clone()));
    let reloader = tokio::spawn(reload_on_hangup(
        state.clone(),
        options.config_path.clone(),
        options.tables.clone(),
    ));
    let app = router(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;
    let server: Serving = match tls {
        Some(config) => Box::pin(
            // `tap_io` (doing nothing: the listener set TCP_NODELAY) gives the
            // connections their peer address as axum's ConnectInfo.
            axum::serve(tls::TlsListener::new(listener, config)?.tap_io(|_| {}), app)
                .with_graceful_shutdown(signal)
                .into_future(),
        ),
        None => {
            // Small answers go out at once, not after the peer's delayed acknowledgement.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .into_future(),
            )
        }
    };
    // Requests get GRACE to finish after the signal; a query that does not yield
    // (a nested-loop join in one step) does not hold the stop any longer.
    let deadline = async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stop| *stop).await;
        tokio::time::sleep(GRACE).await;
    };
    let forced = tokio::select! {
        r = server => {
            r.context("the server stopped")?;
            false
        }
        _ = deadline => true,
    };
    reaper.abort();
    reloader.abort();
    state.jobs.stop_all(&state).await;
    if forced {
        println!(
            "skyql serve: stopped after {} s with requests still running",
            GRACE.as_secs()
        );
        state.jobs_dir.close();
        // Their threads may be inside a step that does not yield: leave without them.
        std::process::exit(0);
    }
    state.jobs_dir.close();
    println!("skyql serve: stopped");
    Ok(())
}

/// On each SIGHUP, reads the configuration file's `[[tables]]` again and publishes them
/// (with the command line's `--table`s): running queries finish on the tables they
/// started with. A configuration that cannot be read or tables that cannot be opened
/// change nothing; the log says why.
async fn reload_on_hangup(
    state: Arc<AppState>,
    config_path: Option<PathBuf>,
    command_line: Vec<table_sources::TableSource>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        eprintln!("skyql serve: SIGHUP cannot be caught; tables are read at the start only");
        return;
    };
    while hangups.recv().await.is_some() {
        let tables = match &config_path {
            Some(p) => ServiceConfig::from_file(p)
                .and_then(|c| table_sources::sources(&c.tables, p.parent(), &command_line)),
            None => Ok(command_line.clone()),
        };
        let outcome = match tables {
            Ok(tables) => {
                let names: Vec<String> = tables.iter().map(|t| t.qualified()).collect();
                state.versions.reload(tables).await.map(|_| names)
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(names) if names.is_empty() => {
                println!("skyql serve: reloaded; no table published beside the catalogue")
            }
            Ok(names) => println!("skyql serve: reloaded; publishing {}", names.join(", ")),
            Err(e) => println!(
                "skyql serve: reload refused, the tables stay as they were: {}",
                crate::engine::user_error::each_cause_once(&format!("{e:#}"))
            ),
        }
    }
}

/// How long running requests may take to finish after SIGINT or SIGTERM.
const GRACE: Duration = Duration::from_secs(5);

async fn build_state(options: &ServeOptions, local: SocketAddr, scheme: &str) -> Result<AppState> {
    options.config.s3.apply()?;
    let base_url = options
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}"))
        .trim_end_matches('/')
        .to_string();
    let versions = snapshot::Versions::open(snapshot::Source {
        catalog: options.catalog.clone(),
        config: options.config.clone(),
        base_url: base_url.clone(),
        cluster: options.cluster.clone(),
        tables: table_sources::sources(
            &options.config.tables,
            options.config_path.as_deref().and_then(Path::parent),
            &options.tables,
        )?,
    })
    .await?;
    let (dir, ephemeral) = options.config.jobs_dir();
    let jobs_dir = jobs_dir::JobsDir::claim(&dir, ephemeral)?;
    let jobs = uws::Jobs::restore(jobs_dir.path());
    let mut private_paths = Vec::new();
    for (p, stand_in) in [
        (options.catalog.as_path(), "<catalog>"),
        (jobs_dir.path(), "<jobs>"),
    ] {
        private_paths.push((p.display().to_string(), stand_in));
        if let Ok(c) = p.canonicalize() {
            private_paths.push((c.display().to_string(), stand_in));
        }
    }
    // The longest first, so that a path is hidden whole rather than in part.
    private_paths.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    private_paths.retain(|(p, _)| p.len() > 1);
    let c = &options.config;
    let sessions = login_sessions::LoginSessions::new(
        Duration::from_secs(c.session_hours.saturating_mul(3600)),
        &base_url,
    );
    let authenticator = authentication::Authenticator::new(
        c.users_file.clone(),
        c.jwt.clone(),
        &options.catalog,
        sessions,
    )
    .await?;
    let audit = match &c.audit_log {
        Some(path) => Some(audit_log::AuditLog::open(path, c.audit_log_mb)?),
        None => None,
    };
    Ok(AppState {
        catalog: options.catalog.clone(),
        authenticator,
        audit,
        versions,
        admission: admission::Admission::new(
            c.max_concurrent_queries,
            c.queue_depth,
            Duration::from_secs(c.queue_wait_s),
        ),
        queries: query_runtime::QueryRuntime::new().context("cannot start the query runtime")?,
        jobs_dir,
        jobs,
        memory: Arc::new(FairSpillPool::new(c.memory_mb as usize * (1 << 20))),
        config: options.config.clone(),
        base_url,
        private_paths,
    })
}

fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_request_bytes;
    // TAP queries may carry uploads (multipart/form-data).
    let tap_limit = limit.max(state.config.upload_max_bytes.saturating_add(1 << 20));
    Router::new()
        .merge(tap::routes().layer(axum::extract::DefaultBodyLimit::max(tap_limit)))
        .merge(vosi::routes())
        .merge(examples::routes())
        .merge(uws::routes(state.clone()).layer(axum::extract::DefaultBodyLimit::max(tap_limit)))
        .merge(scs::routes())
        .merge(datalink::routes())
        .merge(soda::routes())
        .merge(portal::routes())
        .merge(login::routes())
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authentication::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            log_request,
        ))
        .with_state(state)
}

/// Header through which handlers tell the log how many rows they sent.
pub const ROWS_HEADER: &str = "x-skyql-rows";

/// Header through which handlers tell the log where a query's time went ([`Stages`]).
pub const STAGES_HEADER: &str = "x-skyql-stages";

/// The SHA-256 (hexadecimal) of the SQL a request ran: a response extension for the
/// audit log, never sent.
#[derive(Debug, Clone)]
pub struct QueryDigest(pub String);

/// One line per request: method, path, status, rows, duration; and the audit log's line.
async fn log_request(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::SERVER,
        HeaderValue::from_static(concat!("skyql/", env!("CARGO_PKG_VERSION"))),
    );
    let rows = response
        .headers_mut()
        .remove(ROWS_HEADER)
        .and_then(|v| v.to_str().ok().map(str::to_string))
        .unwrap_or_else(|| "-".into());
    let stages = response
        .headers_mut()
        .remove(STAGES_HEADER)
        .and_then(|v| v.to_str().ok().map(|s| format!(" ({s})")))
        .unwrap_or_default();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "{method} {path} {} rows={rows} {ms:.1} ms{stages}",
        response.status().as_u16(),
    );
    if let Some(audit) = &state.audit {
        let origin = response.extensions().get::<authentication::RequestOrigin>();
        audit.record(&audit_log::AuditEntry {
            time: crate::access::clock::iso(crate::access::clock::system_mjd()),
            user: origin.and_then(|o| o.user.as_deref()),
            address: origin.map(|o| o.address.to_string()).unwrap_or_default(),
            method: method.as_str(),
            path: &path,
            query_sha256: response
                .extensions()
                .get::<QueryDigest>()
                .map(|d| d.0.as_str()),
            status: response.status().as_u16(),
            rows: rows.parse().ok(),
            bytes: response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
            ms,
        });
    }
    response
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Why a query failed, and so which HTTP status it gets (DALI: 400 for the user's
/// mistakes, 500 for the server's faults, 503 for overload).
#[derive(Debug)]
pub enum QueryError {
    /// The request is wrong (syntax, unknown table or column, bad parameter, a value the
    /// query cannot compute): 400.
    BadRequest(String),
    /// The time limit passed: the query was cancelled (500, the limit named).
    Timeout(u64),
    /// Every slot busy and the queue full, or the wait in the queue ran out: 503 with
    /// Retry-After, the reason said.
    Busy(String),
    /// The caller runs as many queries as one caller may (`queries_per_caller`): 429
    /// with Retry-After.
    TooMany(String),
    /// The server failed (an I/O error, memory exhausted, a fault): 500.
    Internal(String),
}

impl QueryError {
    /// The message a user can act on.
    pub fn message(&self) -> String {
        match self {
            QueryError::BadRequest(m)
            | QueryError::Internal(m)
            | QueryError::Busy(m)
            | QueryError::TooMany(m) => m.clone(),
            QueryError::Timeout(s) => {
                format!(
                    "the query ran longer than its {s} s limit and was cancelled; ask for fewer rows or use /tap/async"
                )
            }
        }
    }

    /// Whether the client should try again later (503 and 429: with Retry-After).
    pub fn retry(&self) -> bool {
        matches!(self, QueryError::Busy(_) | QueryError::TooMany(_))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            QueryError::BadRequest(_) => StatusCode::BAD_REQUEST,
            QueryError::Timeout(_) | QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            QueryError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// The innermost DataFusion error of one cause of an error, if it is one.
fn datafusion_root<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a DataFusionError> {
    cause
        .downcast_ref::<DataFusionError>()
        .map(|d| d.find_root())
}

/// Which of the user's mistakes or the server's faults an error of planning or execution
/// is: DataFusion's I/O, object-store, resource and internal errors (and any I/O error of
/// the writers) are the server's; the rest are the query's.
fn classify(state: &AppState, e: &anyhow::Error) -> QueryError {
    let message = state.public_message(&crate::engine::user_error::each_cause_once(&format!(
        "{e:#}"
    )));
    let exhausted = e.chain().any(|c| {
        matches!(
            datafusion_root(c),
            Some(DataFusionError::ResourcesExhausted(_))
        )
    });
    if exhausted {
        return QueryError::Internal(format!(
            "the query needed more memory than the service gives it (query_memory_mb = {} per query, memory_mb = {} for all): {message}",
            state.config.query_memory_bytes() >> 20,
            state.config.memory_mb
        ));
    }
    let server_fault = e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some()
            || match datafusion_root(cause) {
                Some(
                    DataFusionError::IoError(_)
                    | DataFusionError::ObjectStore(_)
                    | DataFusionError::Internal(_)
                    | DataFusionError::ParquetError(_),
                ) => true,
                Some(DataFusionError::External(inner)) => {
                    inner.downcast_ref::<std::io::Error>().is_some()
                }
                _ => false,
            }
    });
    if let Some(words) = crate::engine::user_error::signature_message(&message) {
        return QueryError::BadRequest(words);
    }
    if server_fault {
        QueryError::Internal(format!("the service failed to run the query: {message}"))
    } else {
        QueryError::BadRequest(message)
    }
}

impl AppState {
    /// `text` with the server's own paths (the catalogue's, the jobs directory's) replaced
    /// by names that tell nothing of the host.
    pub fn public_message(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (path, stand_in) in &self.private_paths {
            out = out.replace(path.as_str(), stand_in);
        }
        out
    }
}

/// What a request runs: SQL (already translated from ADQL; a cone of the fixed shape
/// takes the fixed cone plan, [`cone_path`]), or a cone search with the SQL that answers
/// it when the fixed plan cannot.
#[derive(Debug, Clone)]
pub enum Query {
    /// DataFusion SQL.
    Sql(String),
    /// DataFusion SQL with `:name` placeholders, bound as values.
    Bound {
        /// The SQL.
        sql: String,
        /// The values.
        params: Vec<crate::engine::parameters::Param>,
    },
    /// One star's light curve: the rows of `sql` (`sql/lightcurve.sql`) for `star`.
    LightCurve {
        /// The star.
        star: String,
        /// The named query, `:star` its parameter.
        sql: String,
    },
    /// DataFusion SQL reading tables uploaded with it (`TAP_UPLOAD.name`).
    WithUploads {
        /// The SQL.
        sql: String,
        /// The uploaded tables.
        uploads: Arc<Vec<upload::UploadedTable>>,
    },
    /// A cone search.
    Cone {
        /// The table (qualified, lower case).
        table: String,
        /// The cone.
        cone: cone_path::Cone,
        /// Its SQL.
        sql: String,
    },
}

impl Query {
    /// Its SQL.
    pub fn sql(&self) -> &str {
        match self {
            Query::Sql(sql)
            | Query::Bound { sql, .. }
            | Query::WithUploads { sql, .. }
            | Query::LightCurve { sql, .. }
            | Query::Cone { sql, .. } => sql,
        }
    }
}

/// Where a query's result goes.
enum Destination {
    /// A durable file (an asynchronous job's result).
    File(PathBuf),
    /// The spool of a synchronous response.
    Spool(Spool),
}

/// Where a query's time went, in seconds: SQL to a logical plan, optimization and
/// physical planning, execution with the encoding of the result. The request log shows
/// them (`plan`, `optimize`, `run`), a profile of every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stages {
    /// `cone` or `star` for the fixed plans, else empty (SQL).
    pub path: &'static str,
    /// Parsing and the logical plan.
    pub plan: f64,
    /// Optimizer rules and the physical plan.
    pub optimize: f64,
    /// Execution and the result's encoding.
    pub run: f64,
}

impl Stages {
    /// The stages as the request log shows them.
    fn header(&self) -> String {
        if !self.path.is_empty() {
            return format!("{} path, run={:.1}ms", self.path, self.run * 1e3);
        }
        format!(
            "plan={:.1}ms optimize={:.1}ms run={:.1}ms",
            self.plan * 1e3,
            self.optimize * 1e3,
            self.run * 1e3
        )
    }
}

/// The rows a fixed plan answered, and its name (`cone`, `star`, `lightcurve`).
type FixedRows = Option<(&'static str, RecordBatch)>;

/// The rows of `query` by a fixed plan when one answers it (a cone, one star, one light
/// curve), with the SQL and parameters that answer it otherwise.
fn fixed_plan(
    snap: &snapshot::Snapshot,
    view: &caller_view::CallerView,
    query: Query,
    caller: &Caller,
) -> Result<(FixedRows, String, Vec<Param>)> {
    // The fixed plans read files without a plan for the row rules to filter. None is
    // taken on a table hidden from the caller; a caller from whom rows are hidden takes
    // the cone plans (the stars' and the HATS tables'), the star plan and the light-curve
    // plan with the rules checked on the rows they read (`RowCheck`, the same condition
    // the SQL plan's scans get).
    let stars_hidden = view.hides(&format!("{}.stars", snap.schema));
    let measurements_hidden = view.hides(&format!("{}.measurements", snap.schema));
    let cone_rows = |path: &cone_path::ConePath, cone: &cone_path::Cone| -> Result<FixedRows> {
        if view.hides(path.name()) {
            return Ok(None);
        }
        let Ok(check) = path.row_check(&caller.rows, &snap.state) else {
            return Ok(None);
        };
        Ok(path.search(cone, check.as_deref())?.map(|b| ("cone", b)))
    };
    let star_rows =
        |path: &star_path::StarPath, star: &star_path::StarLookup| -> Result<FixedRows> {
            if stars_hidden {
                return Ok(None);
            }
            let Ok(check) = path.row_check(&caller.rows, &snap.state) else {
                return Ok(None);
            };
            Ok(Some(("star", path.lookup(star, check.as_deref())?)))
        };
    let light_curve = |star: String, sql: String| {
        (
            None,
            sql,
            vec![Param {
                name: "star".into(),
                value: star,
            }],
        )
    };
    Ok(match query {
        Query::Sql(sql) => {
            // Parsed once; each fixed plan then checks its table and condition.
            let plain = table_files::PlainQuery::parse(&sql);
            let cone = plain.as_ref().and_then(|q| {
                snap.cone_paths
                    .iter()
                    .find_map(|p| p.recognize(q).map(|c| (p, c)))
            });
            let star = plain.as_ref().and_then(|q| {
                snap.star_path
                    .as_ref()
                    .and_then(|p| p.recognize(q).map(|s| (p, s)))
            });
            let fixed = match (cone, star) {
                (Some((path, cone)), _) => cone_rows(path, &cone)?,
                (None, Some((path, star))) => star_rows(path, &star)?,
                (None, None) => None,
            };
            (fixed, sql, Vec::new())
        }
        Query::Bound { sql, params } => (None, sql, params),
        Query::WithUploads { sql, .. } => (None, sql, Vec::new()),
        Query::Cone { table, cone, sql } => {
            let fixed = match snap.cone_path(&table) {
                Some(path) => cone_rows(path, &cone)?,
                None => None,
            };
            (fixed, sql, Vec::new())
        }
        Query::LightCurve { star, sql } => match &snap.lightcurve_path {
            Some(path) if !measurements_hidden => match path.row_check(&caller.rows, &snap.state) {
                Ok(check) => (
                    Some(("lightcurve", path.read(&star, check.as_deref())?)),
                    sql,
                    Vec::new(),
                ),
                Err(_) => light_curve(star, sql),
            },
            _ => light_curve(star, sql),
        },
    })
}

/// Plans and runs `sql` (DataFusion SQL, already translated) within the service's
/// limits: a slot from the admission queue, then planning and execution on the query
/// runtime under `timeout`, the result written to `destination`.
async fn run_limited(
    state: &Arc<AppState>,
    caller: &Caller,
    query: &Query,
    options: ExportOptions,
    format: OutputFormat,
    timeout: Duration,
    destination: Destination,
) -> Result<(ExportSummary, Stages), QueryError> {
    // The caller's own limit first: one caller's queries never fill the queue.
    let slot = state
        .authenticator
        .query_slot(caller, state.config.queries_per_caller)?;
    let permit = state.admission.admit().await?;
    // Every VOTable row with a star id or an image file name links to its DataLink.
    let mut options = options;
    if options.services.is_empty() {
        options.services = datalink::descriptors(&state.base_url);
    }
    let (st, query, work_caller) = (Arc::clone(state), query.clone(), caller.clone());
    // The permit goes with the work: an aborted query that has not reached its next yield
    // still counts against max_concurrent_queries.
    let work = async move {
        let _permit = permit;
        let _slot = slot;
        let mut stages = Stages::default();
        let started = Instant::now();
        // The catalogue version this query runs on, to its end.
        let snap = st.versions.current().await;
        let uploads = match &query {
            Query::WithUploads { uploads, .. } => Some(Arc::clone(uploads)),
            _ => None,
        };
        // The session without the tables the caller may not read.
        let view = snap.view(&work_caller.tables).await?;
        let (fixed, sql, params) = fixed_plan(&snap, &view, query, &work_caller)?;
        let stream: SendableRecordBatchStream = match fixed {
            Some((path, batch)) => {
                stages.path = path;
                Box::pin(RecordBatchStreamAdapter::new(
                    batch.schema(),
                    futures::stream::iter([Ok(batch)]),
                ))
            }
            None => {
                let df = match &uploads {
                    Some(u) => {
                        let ctx = upload_schema::session_with_uploads(&view.ctx, u)?;
                        snap.engine.sql(&ctx, &sql).await?
                    }
                    None => plan(&snap, &view, &sql).await?,
                };
                // The row rules, on every scan, before any optimisation.
                let rows = work_caller
                    .rows
                    .hiding_tables(Arc::clone(&view.hidden_tables));
                let df = rows.restrict_frame(df)?;
                let df = if params.is_empty() {
                    df
                } else {
                    crate::engine::parameters::bind(df, &sql, &params)?
                };
                stages.plan = started.elapsed().as_secs_f64();
                let df = match options.max_rows {
                    // One row more than the limit tells whether the limit cut the result.
                    Some(max) => df.limit(0, Some(max as usize + 1))?,
                    None => df,
                };
                // The query's own pool, in front of the service's.
                let task = df.task_ctx();
                let mut runtime = task.runtime_env().as_ref().clone();
                runtime.memory_pool = Arc::new(query_memory::QueryMemoryPool::new(
                    st.memory.clone(),
                    st.config.query_memory_bytes(),
                ));
                let task = Arc::new(task.with_runtime(Arc::new(runtime)));
                let physical = df.create_physical_plan().await?;
                stages.optimize = started.elapsed().as_secs_f64() - stages.plan;
                datafusion::physical_plan::execute_stream(physical, task)?
            }
        };
        let summary = match destination {
            Destination::File(path) => export_stream(stream, format, Some(&path), &options).await?,
            Destination::Spool(spool) => {
                let out = Box::new(std::io::BufWriter::with_capacity(64 * 1024, spool));
                export_stream_to(stream, format, out, st.jobs_dir.path(), &options).await?
            }
        };
        stages.run = started.elapsed().as_secs_f64() - stages.plan - stages.optimize;
        Ok::<_, anyhow::Error>((summary, stages))
    };
    match state.queries.run(timeout, work).await {
        Outcome::Finished(Ok(done)) => Ok(done),
        Outcome::Finished(Err(e)) => Err(classify(state, &e)),
        Outcome::Failed(e) => Err(QueryError::Internal(format!("the query stopped: {e}"))),
        Outcome::TimedOut => Err(QueryError::Timeout(timeout.as_secs())),
    }
}

/// The DataFrame of `sql` in the caller's session (or the cluster's, for a query that
/// reads only the catalogue's files).
async fn plan(
    snap: &snapshot::Snapshot,
    view: &caller_view::CallerView,
    sql: &str,
) -> Result<DataFrame> {
    let df = snap.engine.sql(&view.ctx, sql).await?;
    if let Some((engine, _)) = &snap.cluster
        && let Some(ctx) = &view.cluster
        && reads_only_files(df.logical_plan())
    {
        // A table published beside the catalogue is not in the cluster's session: a
        // query on it that does not plan there runs here.
        if let Ok(remote) = engine.sql(ctx, sql).await {
            return Ok(remote);
        }
    }
    Ok(df)
}

/// The export options of a service result.
pub fn result_options(sql: &str, maxrec: u64) -> ExportOptions {
    ExportOptions {
        max_rows: Some(maxrec),
        query: Some(sql.to_string()),
        table_name: Some("result".into()),
        ..ExportOptions::default()
    }
}

/// Runs a query into a durable file at `path` (an asynchronous job's result).
pub async fn run_query_to_file(
    state: &Arc<AppState>,
    caller: &Caller,
    query: &Query,
    format: OutputFormat,
    maxrec: u64,
    timeout: Duration,
    path: &Path,
) -> Result<ExportSummary, QueryError> {
    let options = result_options(query.sql(), maxrec);
    let destination = Destination::File(path.to_path_buf());
    let (summary, _) =
        run_limited(state, caller, query, options, format, timeout, destination).await?;
    Ok(summary)
}

/// A synchronous result ready to be sent.
pub struct SpooledResult {
    /// Rows and overflow.
    pub summary: ExportSummary,
    /// Where the time went.
    pub stages: Stages,
    /// The bytes.
    pub spooled: Spooled,
    /// SHA-256 of the SQL that ran (for the audit log).
    pub query_digest: String,
}

/// Runs a query into a spool for a synchronous response: the query's slot is free again
/// once the result is written, whatever the pace of the client that reads it.
pub async fn run_query_spooled(
    state: &Arc<AppState>,
    caller: &Caller,
    query: &Query,
    format: OutputFormat,
    options: ExportOptions,
    timeout: Duration,
) -> Result<SpooledResult, QueryError> {
    let spool = Spool::new(state.jobs_dir.path());
    let destination = Destination::Spool(spool.clone());
    let (summary, stages) =
        run_limited(state, caller, query, options, format, timeout, destination).await?;
    let spooled = spool
        .finish()
        .map_err(|e| QueryError::Internal(format!("the result was lost: {e}")))?;
    Ok(SpooledResult {
        summary,
        stages,
        spooled,
        query_digest: crate::access::secrets::sha256_hex(query.sql()),
    })
}

/// The response of a spooled result.
pub fn spooled_response(result: SpooledResult, content_type: &'static str) -> Response {
    let rows = result.summary.rows;
    let digest = QueryDigest(result.query_digest);
    let mut response = body_response(result.spooled.into_body(), content_type, rows);
    response.extensions_mut().insert(digest);
    if let Ok(v) = HeaderValue::from_str(&result.stages.header()) {
        response.headers_mut().insert(STAGES_HEADER, v);
    }
    response
}

/// Whether every table `plan` reads is a listing table of files (what a cluster's
/// executors can open themselves), not an in-memory one such as TAP_SCHEMA's.
fn reads_only_files(plan: &datafusion::logical_expr::LogicalPlan) -> bool {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::datasource::listing::ListingTable;
    use datafusion::logical_expr::LogicalPlan;
    let mut files = true;
    let _ = plan.apply(|p| {
        if let LogicalPlan::TableScan(scan) = p {
            let provider = datafusion::datasource::source_as_provider(&scan.source);
            let any: Option<&dyn std::any::Any> = provider.as_ref().ok().map(|t| t.as_ref() as _);
            files &= any.is_some_and(|a| a.downcast_ref::<ListingTable>().is_some());
        }
        Ok(if files {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    files
}

/// A response streaming the file at `path` (an asynchronous job's result), read as a
/// spilled synchronous result is.
pub fn streamed_file(path: &Path, content_type: &'static str, rows: u64) -> Response {
    match std::fs::File::open(path) {
        Ok(f) => body_response(Spooled::File(f).into_body(), content_type, rows),
        Err(_) => error_response(&QueryError::Internal(
            "the job's result file is no longer readable".into(),
        )),
    }
}

/// A response of `body` with its media type and, for the log, its rows.
fn body_response(body: Body, content_type: &'static str, rows: u64) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&rows.to_string()) {
        headers.insert(ROWS_HEADER, v);
    }
    response
}

/// A VOTable with QUERY_STATUS=ERROR and the message, with the error's HTTP status
/// (`Retry-After` on 503).
/// The catalogue version served now and what `caller` may see of it; the 500 answer when
/// that view cannot be built.
pub(super) async fn current_view(
    state: &AppState,
    caller: &Caller,
) -> std::result::Result<(Arc<snapshot::Snapshot>, Arc<caller_view::CallerView>), Response> {
    let snap = state.versions.current().await;
    match snap.view(&caller.tables).await {
        Ok(view) => Ok((snap, view)),
        Err(e) => {
            let mut r = Response::new(axum::body::Body::from(
                state.public_message(&format!("{e:#}")),
            ));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            Err(r)
        }
    }
}

pub fn error_response(e: &QueryError) -> Response {
    let mut response = xml_response(e.status(), error_votable(&e.message()));
    if e.retry() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    response
}

/// The VOTable of an error (DALI).
pub fn error_votable(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<RESOURCE type=\"results\">\n<INFO name=\"QUERY_STATUS\" value=\"ERROR\">{}</INFO>\n</RESOURCE>\n</VOTABLE>\n",
        xml_escape(message)
    )
}

/// A plain-text response.
pub fn text_response(status: StatusCode, body: String) -> Response {
    typed_response(status, "text/plain; charset=utf-8", body)
}

/// An XML response.
pub fn xml_response(status: StatusCode, body: String) -> Response {
    typed_response(status, "application/x-votable+xml", body)
}

fn typed_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Text escaped for XML content and attributes.
pub fn xml_escape(text: &str) -> String {
    let mut out = Vec::new();
    crate::formats::votable::write::escape_xml(text, &mut out);
    // Valid UTF-8: the text's own bytes and ASCII entities.
    String::from_utf8(out).unwrap_or_default()
}
