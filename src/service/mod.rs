//! `skyql serve`: the catalogue behind IVOA services, on axum, with the queries on a
//! runtime of their own ([`query_runtime`]). TAP 1.1 under `/tap` (sync and async, VOSI capabilities,
//! availability and tables, TAP_SCHEMA), Simple Cone Search 1.03 under `/scs/TABLE`.
//!
//! Every query runs in the engine's read-only mode, under the limits of
//! [`config::ServiceConfig`]: a bounded number at once (then HTTP 503 with Retry-After),
//! a time limit after which the query is cancelled, a shared memory pool, MAXREC. Results
//! are written by the streaming export writers to a file under the jobs directory and
//! streamed from it, never held whole in memory.

pub mod adql;
pub mod config;
pub mod params;
pub mod query_runtime;
pub mod scs;
pub mod tap;
pub mod tap_schema;
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
use datafusion::prelude::SessionContext;
use tokio::sync::Semaphore;

use crate::engine::{Engine, EngineOptions};
use crate::export::{ExportOptions, ExportSummary, OutputFormat, write_result};
pub use config::ServiceConfig;
use query_runtime::Outcome;

/// What `skyql serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The catalogue.
    pub catalog: PathBuf,
    /// Address to listen on (loopback by default).
    pub bind: SocketAddr,
    /// Limits and places.
    pub config: ServiceConfig,
    /// A Ballista cluster for the queries on the catalogue's tables.
    pub cluster: Option<String>,
}

/// Shared by every request.
pub struct AppState {
    /// The engine (read-only).
    pub engine: Engine,
    /// The session every query runs in (the catalogue, TAP_SCHEMA, the functions).
    pub ctx: SessionContext,
    /// Limits.
    pub config: ServiceConfig,
    /// The base URL clients use (`http://HOST:PORT`).
    pub base_url: String,
    /// Queries running at once (a permit is held until the query's work has stopped, not
    /// only until its client has its answer).
    pub running: Arc<Semaphore>,
    /// The runtime the queries run on, apart from the front's.
    pub queries: query_runtime::QueryRuntime,
    /// Where results are written.
    pub jobs_dir: PathBuf,
    /// The asynchronous jobs.
    pub jobs: uws::Jobs,
    /// The schema the catalogue's tables are published under (the survey's name).
    pub schema: String,
    /// With `--cluster`: the engine and session whose queries run on the cluster (the same
    /// tables and views; TAP_SCHEMA, in memory here, stays with `ctx`).
    pub cluster: Option<(Engine, SessionContext)>,
}

/// Runs the service until SIGINT or SIGTERM.
pub async fn serve(options: ServeOptions) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    let local = listener.local_addr()?;
    let state = Arc::new(build_state(&options, local).await?);
    std::fs::create_dir_all(&state.jobs_dir)
        .with_context(|| format!("cannot create {}", state.jobs_dir.display()))?;
    println!(
        "skyql serve: {} at {}/tap and {}/scs/stars",
        options.catalog.display(),
        state.base_url,
        state.base_url
    );
    let reaper = tokio::spawn(uws::reap_expired(state.clone()));
    let app = router(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
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
    state.jobs.abort_all().await;
    let _ = std::fs::remove_dir_all(&state.jobs_dir);
    if forced {
        println!(
            "skyql serve: stopped after {} s with requests still running",
            GRACE.as_secs()
        );
        // Their threads may be inside a step that does not yield: leave without them.
        std::process::exit(0);
    }
    println!("skyql serve: stopped");
    Ok(())
}

/// How long running requests may take to finish after SIGINT or SIGTERM.
const GRACE: Duration = Duration::from_secs(5);

async fn build_state(options: &ServeOptions, local: SocketAddr) -> Result<AppState> {
    let engine = Engine::open(
        Some(&options.catalog),
        EngineOptions {
            memory_limit: Some(options.config.memory_mb as usize * (1 << 20)),
            read_only: true,
            ..EngineOptions::default()
        },
    )?;
    let ctx = engine.session(&[]).await?;
    let schema = tap_schema::schema_name(&engine);
    tap_schema::register(&ctx, &engine, &schema).await?;
    let cluster = match &options.cluster {
        None => None,
        Some(url) => {
            let remote = Engine::open(
                Some(&options.catalog),
                EngineOptions {
                    read_only: true,
                    cluster: Some(url.clone()),
                    ..EngineOptions::default()
                },
            )?;
            let remote_ctx = remote.session(&[]).await?;
            tap_schema::register(&remote_ctx, &remote, &schema).await?;
            Some((remote, remote_ctx))
        }
    };
    let base_url = options
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_string();
    Ok(AppState {
        engine,
        ctx,
        running: Arc::new(Semaphore::new(options.config.max_concurrent_queries)),
        queries: query_runtime::QueryRuntime::new().context("cannot start the query runtime")?,
        jobs_dir: options.config.jobs_dir(),
        jobs: uws::Jobs::default(),
        config: options.config.clone(),
        base_url,
        schema,
        cluster,
    })
}

fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_request_bytes;
    Router::new()
        .merge(tap::routes())
        .merge(vosi::routes())
        .merge(uws::routes())
        .merge(scs::routes())
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Header through which handlers tell the log how many rows they sent.
pub const ROWS_HEADER: &str = "x-skyql-rows";

/// One line per request: method, path, status, rows, duration.
async fn log_request(request: Request, next: Next) -> Response {
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
    println!(
        "{method} {path} {} rows={rows} {:.1} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1e3
    );
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

/// Why a query failed, and so which HTTP status it gets.
#[derive(Debug)]
pub enum QueryError {
    /// The request is wrong (syntax, unknown table or column, bad parameter): 400.
    BadRequest(String),
    /// The time limit passed: the query was cancelled.
    Timeout(u64),
    /// Too many queries at once: 503.
    Busy,
    /// Anything else: 500.
    Internal(String),
}

impl QueryError {
    /// The message a user can act on.
    pub fn message(&self) -> String {
        match self {
            QueryError::BadRequest(m) | QueryError::Internal(m) => m.clone(),
            QueryError::Timeout(s) => {
                format!(
                    "the query ran longer than its {s} s limit and was cancelled; ask for fewer rows or use /tap/async"
                )
            }
            QueryError::Busy => "too many queries are running; try again in a few seconds".into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            QueryError::BadRequest(_) => StatusCode::BAD_REQUEST,
            QueryError::Timeout(_) => StatusCode::BAD_REQUEST,
            QueryError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Runs `sql` (DataFusion SQL, already translated) into a file at `path`, within the
/// concurrency, time and row limits.
pub async fn run_query(
    state: &AppState,
    sql: &str,
    format: OutputFormat,
    maxrec: u64,
    timeout: Duration,
    path: &Path,
) -> Result<ExportSummary, QueryError> {
    let permit = Arc::clone(&state.running)
        .try_acquire_owned()
        .map_err(|_| QueryError::Busy)?;
    let bad = |e: anyhow::Error| QueryError::BadRequest(format!("{e:#}"));
    let mut df = state.engine.sql(&state.ctx, sql).await.map_err(bad)?;
    if let Some((engine, ctx)) = &state.cluster
        && reads_only_files(df.logical_plan())
    {
        df = engine.sql(ctx, sql).await.map_err(bad)?;
    }
    let options = ExportOptions {
        max_rows: Some(maxrec),
        query: Some(sql.to_string()),
        table_name: Some("result".into()),
        ..ExportOptions::default()
    };
    let path = path.to_path_buf();
    // The permit goes with the work: an aborted query that has not reached its next yield
    // still counts against max_concurrent_queries.
    let work = async move {
        let _permit = permit;
        write_result(df, format, Some(&path), &options).await
    };
    match state.queries.run(timeout, work).await {
        Outcome::Finished(Ok(summary)) => Ok(summary),
        Outcome::Finished(Err(e)) => Err(QueryError::BadRequest(format!("{e:#}"))),
        Outcome::Failed(e) => Err(QueryError::Internal(format!("the query stopped: {e}"))),
        Outcome::TimedOut => Err(QueryError::Timeout(timeout.as_secs())),
    }
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

/// The MIME type of a result format.
pub fn mime(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Votable => "application/x-votable+xml",
        OutputFormat::VotableBinary2 => "application/x-votable+xml;serialization=BINARY2",
        OutputFormat::Csv => "text/csv",
        OutputFormat::Fits => "application/fits",
        OutputFormat::Parquet => "application/vnd.apache.parquet",
        OutputFormat::Json => "application/json",
        OutputFormat::Table => "text/plain",
    }
}

/// A response streaming `path`, removed once sent (or when the client goes away).
pub async fn file_response(path: PathBuf, format: OutputFormat, rows: u64) -> Response {
    streamed_file(path, mime(format), rows, None, true).await
}

/// Rewrites the first block of a file (a VOTable header) before it is sent.
pub type FirstBlock = fn(Vec<u8>) -> Vec<u8>;

/// A response streaming `path` in blocks of 64 KiB (the first passed through `first`);
/// with `remove`, the file is removed once sent or when the client goes away.
pub async fn streamed_file(
    path: PathBuf,
    content_type: &'static str,
    rows: u64,
    first: Option<FirstBlock>,
    remove: bool,
) -> Response {
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return error_response(&QueryError::Internal(format!("result lost: {e}"))),
    };
    let guard = RemoveOnDrop(remove.then_some(path));
    let stream = futures::stream::unfold(
        (file, guard, first),
        |(mut file, guard, first)| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 64 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    let block = match first {
                        Some(f) => f(buf),
                        None => buf,
                    };
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from(block)),
                        (file, guard, None),
                    ))
                }
                Err(e) => Some((Err(e), (file, guard, None))),
            }
        },
    );
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&rows.to_string()) {
        response.headers_mut().insert(ROWS_HEADER, v);
    }
    response
}

struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A VOTable with QUERY_STATUS=ERROR and the message, with the error's HTTP status
/// (`Retry-After` on 503).
pub fn error_response(e: &QueryError) -> Response {
    let mut response = xml_response(e.status(), error_votable(&e.message()));
    if matches!(e, QueryError::Busy) {
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

/// An XML response.
pub fn xml_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-votable+xml"),
    );
    response
}

/// Text escaped for XML content and attributes.
pub fn xml_escape(text: &str) -> String {
    let mut out = Vec::new();
    crate::formats::votable::write::escape_xml(text, &mut out);
    // Valid UTF-8: the text's own bytes and ASCII entities.
    String::from_utf8(out).unwrap_or_default()
}

/// A fresh result file name under the jobs directory.
pub fn result_path(state: &AppState, extension: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    state
        .jobs_dir
        .join(format!("sync-{}-{n}.{extension}", std::process::id()))
}
