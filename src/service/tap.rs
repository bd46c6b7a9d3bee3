//! TAP 1.1 synchronous queries: `/tap/sync`, GET or POST (form-encoded or
//! multipart/form-data), with `LANG` (ADQL, ADQL-2.0, ADQL-2.1), `QUERY`, `MAXREC`,
//! `RESPONSEFORMAT` (or `FORMAT`), `UPLOAD` ([`super::upload`]) and the optional
//! `REQUEST=doQuery`; other parameters are ignored, as DALI asks.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, Request, State};
use axum::response::Response;
use axum::routing::get;

use super::params::Params;
use super::upload;
use super::{
    AppState, Query, QueryError, error_response, result_options, run_query_spooled,
    spooled_response,
};
use crate::export::OutputFormat;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/tap/sync", get(sync).post(sync))
}

async fn sync(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<super::Caller>>,
    request: Request,
) -> Response {
    let parts = match upload::read_request(request, &state.config).await {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let request = match TapRequest::parse(&parts.params, &state) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let uploads = match upload::uploaded_tables(&parts, &state.config).await {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    let options = result_options(&request.sql, request.maxrec);
    let query = if uploads.is_empty() {
        Query::Sql(request.sql.clone())
    } else {
        Query::WithUploads {
            sql: request.sql.clone(),
            uploads: Arc::new(uploads),
        }
    };
    match run_query_spooled(&state, &caller, &query, request.format, options, timeout).await {
        Ok(result) => spooled_response(result, request.format.mime()),
        Err(e) => error_response(&e),
    }
}

/// A TAP query request, checked and translated.
#[derive(Debug, Clone)]
pub struct TapRequest {
    /// Its DataFusion SQL.
    pub sql: String,
    /// The result format.
    pub format: OutputFormat,
    /// Rows at most.
    pub maxrec: u64,
}

impl TapRequest {
    /// Checks the parameters of a TAP query and translates its ADQL.
    pub fn parse(params: &Params, state: &AppState) -> Result<TapRequest, QueryError> {
        let bad = |m: String| QueryError::BadRequest(m);
        if let Some(r) = params.get("REQUEST")
            && !r.eq_ignore_ascii_case("doQuery")
        {
            return Err(bad(format!("REQUEST={r} is not supported (doQuery is)")));
        }
        match params.get("LANG") {
            Some(l)
                if ["ADQL", "ADQL-2.0", "ADQL-2.1"]
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(l)) => {}
            Some(l) => {
                return Err(bad(format!(
                    "LANG={l} is not supported: use ADQL (2.0 or 2.1)"
                )));
            }
            None => return Err(bad("LANG is missing: use LANG=ADQL".into())),
        }
        let adql = params
            .get("QUERY")
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| bad("QUERY is missing".into()))?
            .to_string();
        let format = match params
            .get("RESPONSEFORMAT")
            .or_else(|| params.get("FORMAT"))
        {
            Some(f) => OutputFormat::from_response_format(f).ok_or_else(|| {
                bad(format!(
                    "RESPONSEFORMAT={f} is not offered: {} (see /tap/capabilities)",
                    crate::export::output_format::service_aliases()
                ))
            })?,
            None => OutputFormat::Votable,
        };
        let maxrec = match params.get("MAXREC") {
            Some(m) => m
                .trim()
                .parse::<u64>()
                .map_err(|_| bad(format!("MAXREC={m} is not a non-negative integer")))?,
            None => state.config.default_maxrec,
        }
        .min(state.config.hard_maxrec);
        let sql = super::adql::translate_with(&adql, state.versions.obscore_margin())
            .map_err(|e| bad(format!("{e:#}")))?;
        Ok(TapRequest {
            sql,
            format,
            maxrec,
        })
    }
}
