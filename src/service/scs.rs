//! Simple Cone Search 1.03 at `/scs/TABLE` for the tables with a main position (`stars`):
//! `RA`, `DEC` and `SR` in degrees, `VERB` 1 (id and position), 2 (and the survey's
//! columns of interest) or 3 (every column); `SR=0` gives the metadata. The cone runs as
//! `cone_contains`, pruned by HEALPix. SCS 1.03 clients find the id and position by their
//! UCD1 (`ID_MAIN`, `POS_EQ_RA_MAIN`, `POS_EQ_DEC_MAIN`): those replace the UCD1+ of the
//! three fields. Errors are VOTables with `<INFO name="Error" .../>`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use super::params::Params;
use super::{AppState, QueryError, result_path, run_query, xml_escape};
use crate::export::OutputFormat;

/// Largest radius, in degrees.
const MAX_SR: f64 = 10.0;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/scs/{table}", get(cone).post(cone))
}

fn scs_error(message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<DESCRIPTION>skyql cone search</DESCRIPTION>\n<INFO name=\"Error\" value=\"{}\"/>\n<RESOURCE type=\"results\">\n<INFO name=\"QUERY_STATUS\" value=\"ERROR\">{0}</INFO>\n</RESOURCE>\n</VOTABLE>\n",
        xml_escape(message)
    );
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;content=x-votable"),
    );
    r
}

/// The columns returned at each verbosity.
fn columns(verb: u32) -> &'static str {
    match verb {
        1 => "star_id, ra, dec",
        2 => "star_id, ra, dec, field, ccd, quarter, n_r, n_b, mean_mag_r, mean_mag_b",
        _ => "*",
    }
}

fn number(params: &Params, name: &str) -> Result<f64, String> {
    let v = params
        .get(name)
        .ok_or_else(|| format!("{name} is missing (RA, DEC and SR in degrees are required)"))?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{name}={v} is not a number"))
}

async fn cone(
    State(state): State<Arc<AppState>>,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if table != "stars" {
        let mut r = scs_error(&format!("no cone search on {table}: /scs/stars is served"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    }
    let params = Params::from_request(query.as_deref(), &body);
    let (ra, dec, sr) = match (
        number(&params, "RA"),
        number(&params, "DEC"),
        number(&params, "SR"),
    ) {
        (Ok(ra), Ok(dec), Ok(sr)) => (ra, dec, sr),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return scs_error(&e),
    };
    if !(0.0..=360.0).contains(&ra) || !(-90.0..=90.0).contains(&dec) {
        return scs_error(&format!(
            "RA={ra} DEC={dec}: RA must be in 0..360 and DEC in -90..90 degrees"
        ));
    }
    if !(0.0..=MAX_SR).contains(&sr) {
        return scs_error(&format!(
            "SR={sr}: the radius must be between 0 and {MAX_SR} degrees"
        ));
    }
    let verb = params
        .get("VERB")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(2)
        .clamp(1, 3);
    let schema = &state.schema;
    let sql = if sr == 0.0 {
        format!("SELECT {} FROM {schema}.stars WHERE false", columns(verb))
    } else {
        format!(
            "SELECT {}, ang_sep(ra, dec, {ra}, {dec}) AS distance FROM {schema}.stars \
             WHERE cone_contains(ra, dec, {ra}, {dec}, {sr}) ORDER BY distance",
            columns(verb)
        )
    };
    let path = result_path(&state, "vot");
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    let limit = state.config.hard_maxrec;
    match run_query(&state, &sql, OutputFormat::Votable, limit, timeout, &path).await {
        Ok(summary) => scs_response(path, summary.rows).await,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            let mut r = scs_error(&e.message());
            if matches!(e, QueryError::Busy) {
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            r
        }
    }
}

/// The VOTable of a cone with the SCS 1.03 UCD1s: its header (the first block; a few
/// kilobytes) rewritten, the data streamed from the file as written.
async fn scs_response(path: std::path::PathBuf, rows: u64) -> Response {
    super::streamed_file(path, "text/xml;content=x-votable", rows, Some(ucd1), true).await
}

fn ucd1(block: Vec<u8>) -> Vec<u8> {
    let end = block
        .windows(6)
        .position(|w| w == b"<DATA>")
        .unwrap_or(block.len());
    let header = String::from_utf8_lossy(&block[..end])
        .replacen("ucd=\"meta.id;meta.main\"", "ucd=\"ID_MAIN\"", 1)
        .replacen("ucd=\"pos.eq.ra;meta.main\"", "ucd=\"POS_EQ_RA_MAIN\"", 1)
        .replacen("ucd=\"pos.eq.dec;meta.main\"", "ucd=\"POS_EQ_DEC_MAIN\"", 1);
    let mut out = header.into_bytes();
    out.extend_from_slice(&block[end..]);
    out
}
