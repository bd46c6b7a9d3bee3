//! Asynchronous TAP queries: UWS 1.1 jobs under `/tap/async`.
//!
//! A job is created PENDING (`POST /tap/async`, answered by a 303 to the job), runs on
//! `PHASE=RUN`, and ends COMPLETED (its result under the jobs directory), ERROR or
//! ABORTED. Every resource of the job is served: phase, quote, executionduration,
//! destruction, owner, error, parameters, results; `ACTION=DELETE` and HTTP DELETE remove
//! it (and its result) with a 303 to the job list; `WAIT` blocks until the phase changes.
//! Jobs past their destruction time are removed by a reaper task.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use super::job_store::{self, JobRecord, JobResult, Phase, millis, time_of};
use super::params::Params;
use super::tap::TapRequest;
use super::{AppState, Caller, QueryError, run_query_to_file, streamed_file, xml_escape};

/// One job: its record (kept on disk) and its running task.
#[derive(Debug)]
pub struct Job {
    record: JobRecord,
    task: Option<JoinHandle<()>>,
}

impl Job {
    /// Stops its task, if any; an active job becomes ABORTED.
    fn abort(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if self.record.phase.is_active() {
            self.record.phase = Phase::Aborted;
            self.record.ended_ms = Some(millis(SystemTime::now()));
        }
    }
}

/// Every job, and a notification when one changes phase.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Mutex<BTreeMap<String, Job>>,
    changed: Notify,
}

impl Jobs {
    /// The jobs a previous run of the service left in `dir`, checked (job_store).
    pub fn restore(dir: &std::path::Path) -> Jobs {
        let (records, problems) = job_store::load(dir, SystemTime::now());
        for p in problems {
            eprintln!("skyql serve: {p}");
        }
        let jobs = records
            .into_iter()
            .map(|(id, record)| (id, Job { record, task: None }))
            .collect();
        Jobs {
            jobs: Mutex::new(jobs),
            changed: Notify::new(),
        }
    }

    /// At the stop: running jobs end in ERROR, saying why (kept for the next start).
    pub async fn stop_all(&self, state: &AppState) {
        let mut jobs = self.jobs.lock().await;
        for (id, job) in jobs.iter_mut() {
            if let Some(t) = job.task.take() {
                t.abort();
            }
            if job.record.phase == Phase::Executing {
                job_store::stopped(&mut job.record, SystemTime::now());
                keep(state, id, &job.record);
            }
        }
        self.changed.notify_waiters();
    }
}

/// Writes a job's record durably; a failure is logged (the job goes on in memory).
fn keep(state: &AppState, id: &str, record: &JobRecord) {
    if let Err(e) = job_store::save(state.jobs_dir.path(), id, record) {
        eprintln!("skyql serve: {e:#}");
    }
}

/// The routes; every route of one job answers its owner only ([`owner_only`]).
pub(super) fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let one_job = Router::new()
        .route("/tap/async/{id}", get(job).post(job_post).delete(delete))
        .route("/tap/async/{id}/phase", get(phase).post(phase_post))
        .route("/tap/async/{id}/quote", get(quote))
        .route(
            "/tap/async/{id}/executionduration",
            get(duration).post(duration_post),
        )
        .route(
            "/tap/async/{id}/destruction",
            get(destruction).post(destruction_post),
        )
        .route("/tap/async/{id}/owner", get(owner))
        .route("/tap/async/{id}/error", get(error))
        .route(
            "/tap/async/{id}/parameters",
            get(parameters).post(parameters_post),
        )
        .route("/tap/async/{id}/results", get(results))
        .route("/tap/async/{id}/results/result", get(result))
        .route_layer(axum::middleware::from_fn_with_state(state, owner_only));
    Router::new()
        .route("/tap/async", get(list).post(create))
        .merge(one_job)
}

/// Whether `caller` may see job `j`: its owner, or for a job made without credentials,
/// a caller without credentials who knows its id (ids are 128 random bits).
fn owned_by(j: &Job, caller: &Caller) -> bool {
    caller
        .identity
        .same_user(j.record.owner.as_deref(), j.record.owner_from_provider)
}

/// Another caller's job is answered as if it did not exist (404), whatever the route.
async fn owner_only(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(params): Path<std::collections::HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(id) = params.get("id") {
        let jobs = state.jobs.jobs.lock().await;
        if !jobs.get(id).is_some_and(|j| owned_by(j, &caller)) {
            return not_found(id);
        }
    }
    next.run(request).await
}

const UWS_NS: &str = "xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" version=\"1.1\"";

/// ISO 8601 UTC with a Z.
fn iso(t: SystemTime) -> String {
    crate::access::clock::iso(crate::access::clock::mjd_of(t))
}

fn parse_iso(text: &str) -> Option<SystemTime> {
    let mjd = skyql_udfs::time::iso_to_mjd(text.trim().trim_end_matches('Z'))?;
    let secs = (mjd - 40_587.0) * 86_400.0;
    (secs >= 0.0).then(|| UNIX_EPOCH + Duration::from_secs_f64(secs))
}

fn text(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn xml(body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r
}

fn see_other(location: String) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn not_found(id: &str) -> Response {
    text(StatusCode::NOT_FOUND, format!("no job {id}"))
}

fn job_url(state: &AppState, id: &str) -> String {
    format!("{}/tap/async/{id}", state.base_url)
}

/// A job id: 128 random bits, so that nobody reaches a job by guessing.
fn new_id() -> String {
    crate::access::secrets::random_id(16)
}

/// The caller's jobs: a user's own; for a caller without credentials, the jobs made
/// without credentials from the same address.
async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    RawQuery(query): RawQuery,
) -> Response {
    let client = caller.address.to_string();
    let phases: Vec<String> = query
        .as_deref()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k.eq_ignore_ascii_case("PHASE"))
                .map(|(_, v)| v.to_ascii_uppercase())
                .collect()
        })
        .unwrap_or_default();
    let jobs = state.jobs.jobs.lock().await;
    let mut x = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:jobs {UWS_NS}>\n");
    let mine = jobs.iter().filter(|(_, j)| {
        owned_by(j, &caller)
            && (caller.identity.user.is_some()
                || j.record.client.as_deref() == Some(client.as_str()))
    });
    for (id, j) in mine {
        if !phases.is_empty() && !phases.iter().any(|p| p == j.record.phase.name()) {
            continue;
        }
        let _ = write!(
            x,
            "  <uws:jobref id=\"{id}\" xlink:href=\"{}\">\n    <uws:phase>{}</uws:phase>\n    <uws:creationTime>{}</uws:creationTime>\n  </uws:jobref>\n",
            job_url(&state, id),
            j.record.phase.name(),
            iso(time_of(j.record.created_ms))
        );
    }
    x.push_str("</uws:jobs>\n");
    xml(x)
}

async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    request: axum::extract::Request,
) -> Response {
    let parts = match super::upload::read_request(request, &state.config).await {
        Ok(p) => p,
        Err(e) => return super::error_response(&e),
    };
    // Uploads are read (and refused) when the job is created, not when it runs.
    let uploads = match super::upload::uploaded_tables(&parts, &state.config).await {
        Ok(u) => u,
        Err(e) => return super::error_response(&e),
    };
    let params = parts.params;
    // Behind a trusted proxy, the address it forwarded (`trusted_proxies`).
    let client = caller.address.to_string();
    let id;
    {
        let mut jobs = state.jobs.jobs.lock().await;
        let per_client = state.config.max_async_jobs_per_client;
        let mine = jobs
            .values()
            .filter(|j| j.record.client.as_deref() == Some(client.as_str()))
            .count();
        if mine >= per_client {
            return super::error_response(&QueryError::Busy(format!(
                "this client ({client}) keeps {mine} jobs, the most one client may keep ({per_client}): delete finished ones (DELETE on the job), or wait until they are destroyed"
            )));
        }
        if jobs.len() >= state.config.max_async_jobs {
            return super::error_response(&QueryError::Busy(format!(
                "the service keeps {} jobs at most and has that many: delete finished jobs, or try again once older ones are destroyed",
                state.config.max_async_jobs
            )));
        }
        id = loop {
            let candidate = new_id();
            if !jobs.contains_key(&candidate) {
                break candidate;
            }
        };
        let now = SystemTime::now();
        let record = JobRecord {
            phase: Phase::Pending,
            params: params
                .0
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "PHASE" | "ACTION"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            owner: caller.identity.user.clone(),
            owner_from_provider: caller.identity.from_provider,
            client: Some(client),
            created_ms: millis(now),
            started_ms: None,
            ended_ms: None,
            execution_duration: state.config.async_timeout_s,
            destruction_ms: millis(now + Duration::from_secs(state.config.retention_s)),
            error: None,
            result: None,
            uploads: uploads.iter().map(|u| u.name.clone()).collect(),
        };
        for u in &uploads {
            if let Err(e) = super::job_store::save_upload(state.jobs_dir.path(), &id, u) {
                return super::error_response(&QueryError::Internal(format!("{e:#}")));
            }
        }
        keep(&state, &id, &record);
        jobs.insert(id.clone(), Job { record, task: None });
    }
    if params
        .get("PHASE")
        .is_some_and(|p| p.eq_ignore_ascii_case("RUN"))
    {
        start(&state, &id, &caller).await;
    }
    see_other(job_url(&state, &id))
}

/// Starts a PENDING job, on the rows `caller` (its owner, asking now) may see.
async fn start(state: &Arc<AppState>, id: &str, caller: &Caller) {
    let mut jobs = state.jobs.jobs.lock().await;
    let Some(job) = jobs.get_mut(id) else { return };
    if job.record.phase != Phase::Pending {
        return;
    }
    job.record.phase = Phase::Executing;
    job.record.started_ms = Some(millis(SystemTime::now()));
    keep(state, id, &job.record);
    let params = Params(job.record.params.clone().into_iter().collect());
    let timeout = Duration::from_secs(job.record.execution_duration.max(1));
    let record = job.record.clone();
    let (task_state, task_id, caller) = (state.clone(), id.to_string(), caller.clone());
    job.task = Some(tokio::spawn(async move {
        let outcome = execute(&task_state, &caller, &task_id, &params, &record, timeout).await;
        let mut jobs = task_state.jobs.jobs.lock().await;
        if let Some(job) = jobs.get_mut(&task_id)
            && job.record.phase == Phase::Executing
        {
            job.record.ended_ms = Some(millis(SystemTime::now()));
            match outcome {
                Ok(r) => {
                    job.record.phase = Phase::Completed;
                    job.record.result = Some(r);
                }
                Err(e) => {
                    job.record.phase = Phase::Error;
                    job.record.error = Some(e.message());
                }
            }
            job.task = None;
            keep(&task_state, &task_id, &job.record);
        }
        task_state.jobs.changed.notify_waiters();
    }));
    state.jobs.changed.notify_waiters();
}

async fn execute(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
    params: &Params,
    record: &JobRecord,
    timeout: Duration,
) -> Result<JobResult, QueryError> {
    let request = TapRequest::parse(params, state)?;
    let uploads = super::job_store::load_uploads(state.jobs_dir.path(), id, record)
        .map_err(|e| QueryError::Internal(format!("{e:#}")))?;
    let query = if uploads.is_empty() {
        super::Query::Sql(request.sql.clone())
    } else {
        super::Query::WithUploads {
            sql: request.sql.clone(),
            uploads: Arc::new(uploads),
        }
    };
    let file = format!("job-{id}.{}", request.format.extension());
    let path = state.jobs_dir.path().join(&file);
    // Jobs wait for a free query slot rather than failing, even when the queue is full.
    let summary = loop {
        match run_query_to_file(
            state,
            caller,
            &query,
            request.format,
            request.maxrec,
            timeout,
            &path,
        )
        .await
        {
            Err(e) if e.retry() => tokio::time::sleep(Duration::from_millis(500)).await,
            other => break other?,
        }
    };
    let bytes = std::fs::metadata(&path)
        .map(|m| m.len())
        .map_err(|_| QueryError::Internal("the job's result file was not written".into()))?;
    Ok(JobResult {
        file,
        format: request.format.name().to_string(),
        rows: summary.rows,
        bytes,
    })
}

/// Waits (up to `WAIT` seconds; -1 for the longest, 60 s) while the job is active.
async fn wait_for_change(state: &AppState, id: &str, wait: Option<&str>) {
    let Some(w) = wait.and_then(|w| w.trim().parse::<i64>().ok()) else {
        return;
    };
    let seconds = if w < 0 { 60 } else { w.min(60) } as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let initial = {
        let jobs = state.jobs.jobs.lock().await;
        match jobs.get(id) {
            Some(j) if j.record.phase.is_active() => j.record.phase,
            _ => return,
        }
    };
    loop {
        let notified = state.jobs.changed.notified();
        {
            let jobs = state.jobs.jobs.lock().await;
            match jobs.get(id) {
                Some(j) if j.record.phase == initial => {}
                _ => return,
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return;
        }
    }
}

fn job_document(state: &AppState, id: &str, j: &Job) -> String {
    let nil = |t: Option<SystemTime>, tag: &str| match t {
        Some(t) => format!("  <uws:{tag}>{}</uws:{tag}>\n", iso(t)),
        None => format!("  <uws:{tag} xsi:nil=\"true\"/>\n"),
    };
    let mut x = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:job {UWS_NS}>\n");
    let _ = write!(
        x,
        "  <uws:jobId>{id}</uws:jobId>\n{}  <uws:phase>{}</uws:phase>\n",
        match &j.record.owner {
            Some(o) => format!("  <uws:ownerId>{}</uws:ownerId>\n", xml_escape(o)),
            None => "  <uws:ownerId xsi:nil=\"true\"/>\n".to_string(),
        },
        j.record.phase.name()
    );
    x.push_str("  <uws:quote xsi:nil=\"true\"/>\n");
    let _ = writeln!(
        x,
        "  <uws:creationTime>{}</uws:creationTime>",
        iso(time_of(j.record.created_ms))
    );
    x.push_str(&nil(j.record.started_ms.map(time_of), "startTime"));
    x.push_str(&nil(j.record.ended_ms.map(time_of), "endTime"));
    let _ = writeln!(
        x,
        "  <uws:executionDuration>{}</uws:executionDuration>",
        j.record.execution_duration
    );
    let _ = writeln!(
        x,
        "  <uws:destruction>{}</uws:destruction>",
        iso(time_of(j.record.destruction_ms))
    );
    x.push_str("  <uws:parameters>\n");
    x.push_str(&parameter_lines(j));
    x.push_str("  </uws:parameters>\n  <uws:results>\n");
    x.push_str(&result_lines(state, id, j, "    "));
    x.push_str("  </uws:results>\n");
    if let Some(e) = &j.record.error {
        let _ = write!(
            x,
            "  <uws:errorSummary type=\"fatal\" hasDetail=\"true\">\n    <uws:message>{}</uws:message>\n  </uws:errorSummary>\n",
            xml_escape(e)
        );
    }
    x.push_str("</uws:job>\n");
    x
}

/// The job's `<uws:parameter>` lines.
fn parameter_lines(j: &Job) -> String {
    let mut x = String::new();
    for (k, v) in &j.record.params {
        let _ = writeln!(
            x,
            "    <uws:parameter id=\"{}\">{}</uws:parameter>",
            xml_escape(&k.to_ascii_lowercase()),
            xml_escape(v)
        );
    }
    x
}

/// The job's `<uws:result>` line, if it has a result, indented by `indent`.
fn result_lines(state: &AppState, id: &str, j: &Job, indent: &str) -> String {
    match j.record.result {
        Some(_) => format!(
            "{indent}<uws:result id=\"result\" xlink:href=\"{}/results/result\"/>\n",
            job_url(state, id)
        ),
        None => String::new(),
    }
}

/// The job's document, after an optional WAIT.
async fn job(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::from_request(query.as_deref(), &Bytes::new());
    wait_for_change(&state, &id, params.get("WAIT")).await;
    with_job(&state, &id, |j| xml(job_document(&state, &id, j))).await
}

async fn job_post(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::from_request(query.as_deref(), &body);
    match params.get("ACTION") {
        Some(a) if a.eq_ignore_ascii_case("DELETE") => remove(&state, &id).await,
        Some(a) => text(
            StatusCode::BAD_REQUEST,
            format!("ACTION={a} is not known (DELETE is)"),
        ),
        None => {
            if let Some(p) = params.get("PHASE") {
                return set_phase(&state, &id, p, &caller).await;
            }
            text(
                StatusCode::BAD_REQUEST,
                "POST to a job takes ACTION=DELETE or PHASE=RUN|ABORT".into(),
            )
        }
    }
}

async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    remove(&state, &id).await
}

async fn remove(state: &AppState, id: &str) -> Response {
    let removed = state.jobs.jobs.lock().await.remove(id);
    match removed {
        Some(mut j) => {
            j.abort();
            if let Err(e) = job_store::remove(state.jobs_dir.path(), id, &j.record) {
                eprintln!("skyql serve: {e:#}");
            }
            state.jobs.changed.notify_waiters();
            see_other(format!("{}/tap/async", state.base_url))
        }
        None => not_found(id),
    }
}

/// `answer` for job `id`, or 404.
async fn with_job(state: &AppState, id: &str, answer: impl FnOnce(&Job) -> Response) -> Response {
    match state.jobs.jobs.lock().await.get(id) {
        Some(j) => answer(j),
        None => not_found(id),
    }
}

async fn phase(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |j| {
        text(StatusCode::OK, j.record.phase.name().to_string())
    })
    .await
}

async fn phase_post(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::from_request(query.as_deref(), &body);
    match params.get("PHASE") {
        Some(p) => set_phase(&state, &id, p, &caller).await,
        None => text(
            StatusCode::BAD_REQUEST,
            "PHASE is missing (RUN or ABORT)".into(),
        ),
    }
}

async fn set_phase(state: &Arc<AppState>, id: &str, phase: &str, caller: &Caller) -> Response {
    if !state.jobs.jobs.lock().await.contains_key(id) {
        return not_found(id);
    }
    if phase.eq_ignore_ascii_case("RUN") {
        start(state, id, caller).await;
    } else if phase.eq_ignore_ascii_case("ABORT") {
        let mut jobs = state.jobs.jobs.lock().await;
        if let Some(j) = jobs.get_mut(id) {
            j.abort();
            keep(state, id, &j.record);
        }
        state.jobs.changed.notify_waiters();
    } else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("PHASE={phase}: RUN or ABORT"),
        );
    }
    see_other(job_url(state, id))
}

async fn quote(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |_| text(StatusCode::OK, String::new())).await
}

async fn duration(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |j| {
        text(StatusCode::OK, j.record.execution_duration.to_string())
    })
    .await
}

async fn duration_post(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::from_request(query.as_deref(), &body);
    let hard = state.config.async_timeout_s;
    let mut jobs = state.jobs.jobs.lock().await;
    let Some(j) = jobs.get_mut(&id) else {
        return not_found(&id);
    };
    match params
        .get("EXECUTIONDURATION")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(v) => {
            if j.record.phase == Phase::Pending {
                j.record.execution_duration = if v == 0 { hard } else { v.min(hard) };
                keep(&state, &id, &j.record);
            }
            see_other(job_url(&state, &id))
        }
        None => text(
            StatusCode::BAD_REQUEST,
            "EXECUTIONDURATION must be a number of seconds".into(),
        ),
    }
}

async fn destruction(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |j| {
        text(StatusCode::OK, iso(time_of(j.record.destruction_ms)))
    })
    .await
}

async fn destruction_post(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::from_request(query.as_deref(), &body);
    let latest = SystemTime::now() + Duration::from_secs(state.config.retention_s);
    let mut jobs = state.jobs.jobs.lock().await;
    let Some(j) = jobs.get_mut(&id) else {
        return not_found(&id);
    };
    match params.get("DESTRUCTION").and_then(parse_iso) {
        Some(t) => {
            j.record.destruction_ms = millis(t.min(latest));
            keep(&state, &id, &j.record);
            see_other(job_url(&state, &id))
        }
        None => text(
            StatusCode::BAD_REQUEST,
            "DESTRUCTION must be an ISO 8601 time".into(),
        ),
    }
}

async fn owner(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |j| {
        text(StatusCode::OK, j.record.owner.clone().unwrap_or_default())
    })
    .await
}

async fn error(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |j| match &j.record.error {
        Some(e) => super::xml_response(StatusCode::OK, super::error_votable(e)),
        None => text(StatusCode::OK, String::new()),
    })
    .await
}

async fn parameters(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |j| {
        xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:parameters {UWS_NS}>\n{}</uws:parameters>\n",
            parameter_lines(j)
        ))
    })
    .await
}

async fn parameters_post(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::from_request(query.as_deref(), &body);
    let mut jobs = state.jobs.jobs.lock().await;
    let Some(j) = jobs.get_mut(&id) else {
        return not_found(&id);
    };
    if j.record.phase != Phase::Pending {
        return text(
            StatusCode::BAD_REQUEST,
            "parameters can change only while the job is PENDING".into(),
        );
    }
    for (k, v) in params.0 {
        j.record.params.insert(k, v);
    }
    keep(&state, &id, &j.record);
    see_other(job_url(&state, &id))
}

async fn results(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |j| {
        xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:results {UWS_NS}>\n{}</uws:results>\n",
            result_lines(&state, &id, j, "  ")
        ))
    })
    .await
}

async fn result(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let found = state
        .jobs
        .jobs
        .lock()
        .await
        .get(&id)
        .map(|j| j.record.result.clone());
    match found {
        // The job keeps its result until it is destroyed (then an open stream still
        // reads the unlinked file to its end).
        Some(Some(r)) => {
            let path = state.jobs_dir.path().join(&r.file);
            streamed_file(&path, r.output_format().mime(), r.rows)
        }
        Some(None) => text(
            StatusCode::NOT_FOUND,
            format!("job {id} has no result (yet)"),
        ),
        None => not_found(&id),
    }
}

/// Removes jobs past their destruction time, every 10 seconds.
pub async fn reap_expired(state: Arc<AppState>) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let now = SystemTime::now();
        let expired: Vec<String> = state
            .jobs
            .jobs
            .lock()
            .await
            .iter()
            .filter(|(_, j)| time_of(j.record.destruction_ms) <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let _ = remove(&state, &id).await;
        }
    }
}
